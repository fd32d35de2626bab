/* Embedding lookups and linear layers: y = x @ w^T + b. */
#include <string.h>

#include "cpu_impl.h"

void cpu_get_rows(void *ctx, struct qw_tensor y, struct qw_tensor table, struct qw_tensor ids)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "get_rows", "y") || !cpu_check_bounds(c, table, "get_rows", "table") ||
        !cpu_check_bounds(c, ids, "get_rows", "ids"))
        return;
    int64_t n = ids.rows * ids.cols;
    if (!cpu_check(c, ids.dtype == QW_DTYPE_I32 && (ids.rows == 1 || ids.cols == 1) && ids.stride == ids.cols,
                   "get_rows: ids must be a contiguous i32 vector") ||
        !cpu_check(c, y.rows == n && y.cols == table.cols, "get_rows: y is %lldx%lld, expected %lldx%lld",
                   (long long)y.rows, (long long)y.cols, (long long)n, (long long)table.cols))
        return;
    const int32_t *id = cpu_ptr(ids);
    size_t row_bytes = qw_row_bytes(table.dtype, table.stride);
    for (int64_t i = 0; i < n; i++) {
        float *dst = cpu_row(y, i);
        if (!cpu_check(c, id[i] >= 0 && id[i] < table.rows, "get_rows: id %d outside [0, %lld)", id[i],
                       (long long)table.rows)) {
            memset(dst, 0, (size_t)y.cols * sizeof(float));
            continue;
        }
        cpu_row_to_f32(table.dtype, (const uint8_t *)cpu_ptr(table) + (size_t)id[i] * row_bytes, dst, table.cols);
    }
}

struct linear_job {
    struct qw_tensor y, x, w, b;
    cpu_dot_fn dot;
    cpu_gemm_fn gemm;
};

/* Output features [j0, j1) for every input row. Weight rows are taken in groups of 4 and each group meets every
 * input row, so a weight row is streamed from memory once per call while the input stays in cache. */
static void linear_rows(void *arg, int64_t j0, int64_t j1)
{
    const struct linear_job *jb = arg;
    const int64_t n = jb->x.rows, k = jb->x.cols;
    if (jb->gemm) {
        struct cpu_gemm g = {cpu_row(jb->x, 0), jb->x.stride, n, k, cpu_ptr(jb->w), qw_row_bytes(jb->w.dtype, jb->w.stride),
                             cpu_row(jb->y, 0), jb->y.stride, qw_tensor_present(jb->b) ? cpu_row(jb->b, 0) : NULL};
        jb->gemm(&g, j0, j1);
        return;
    }
    const uint8_t *w = cpu_ptr(jb->w);
    const size_t w_row = qw_row_bytes(jb->w.dtype, jb->w.stride);
    const float *bias = qw_tensor_present(jb->b) ? cpu_row(jb->b, 0) : NULL;
    for (int64_t j = j0; j < j1; j += 4) {
        int64_t je = j + 4 < j1 ? j + 4 : j1;
        for (int64_t i = 0; i < n; i++) {
            const float *xi = cpu_row(jb->x, i);
            float *yi = cpu_row(jb->y, i);
            for (int64_t jj = j; jj < je; jj++) {
                float s = jb->dot(w + (size_t)jj * w_row, xi, k);
                yi[jj] = bias ? s + bias[jj] : s;
            }
        }
    }
}

void cpu_linear(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "linear", "y") || !cpu_check_f32(c, x, "linear", "x") ||
        !cpu_check_bounds(c, w, "linear", "w"))
        return;
    if (!cpu_check(c, x.cols == w.cols && y.rows == x.rows && y.cols == w.rows,
                   "linear: y %lldx%lld = x %lldx%lld @ w %lldx%lld^T does not fit", (long long)y.rows,
                   (long long)y.cols, (long long)x.rows, (long long)x.cols, (long long)w.rows, (long long)w.cols) ||
        !cpu_check(c, c->k.dot[w.dtype] != NULL, "linear: no kernel for %s weights", qw_dtype_name(w.dtype)))
        return;
    if (qw_tensor_present(b) &&
        (!cpu_check_f32(c, b, "linear", "b") || !cpu_check(c, b.cols == w.rows, "linear: bias has %lld values",
                                                           (long long)b.cols)))
        return;
    /* several input rows: the tiled kernel, which reads each weight row once per block of rows */
    struct linear_job jb = {y, x, w, b, c->k.dot[w.dtype], x.rows >= 4 ? c->k.gemm[w.dtype] : NULL};
    cpu_parallel(c, w.rows, x.rows * x.cols, linear_rows, &jb);
}
