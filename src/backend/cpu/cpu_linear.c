/* Embedding lookups and linear layers: y = x @ w^T + b.
 *
 * A linear layer converts its activations once (16-bit blocks for Q8/Q4 weights, bf16 rows for BF16 weights
 * when the CPU has bf16 dot products and there are enough rows to pay for it), then splits the weight rows into
 * one contiguous range per thread: each thread streams its own part of the matrix once, whatever the number of
 * activation rows (the kernels keep activations in cache and walk weights in tiles, see kernels.h). */
#include <stdatomic.h>
#include <string.h>

#include "base/mem.h"
#include "cpu_impl.h"
#include "ops/quant.h"

#define BF16X_MIN_ROWS 4   /* below this, bf16 products are memory-bound: keep f32 activations */
#define SPLIT_ALIGN 8      /* weight rows per thread: a multiple of the kernels' 4-row tiles */
#define CHUNKS_PER_THREAD 4 /* rows are handed out in this many pieces per thread, first come first served */
#define INLINE_WORK 32768  /* multiply-adds below which waking threads costs more than it saves */

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
                   (long long)y.rows, (long long)y.cols, (long long)n, (long long)table.cols) ||
        !cpu_check(c, qw_dtype_block(table.dtype) == 1 || table.stride == table.cols,
                   "get_rows: a %s table cannot be a column slice", qw_dtype_name(table.dtype)))
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

/* One call: up to QW_MULTI_MAX products that share their input (q, k, v; gate, up), whose weight rows are handed
 * out as one range: rows [first[i], first[i + 1]) belong to product i. */
struct linear_job {
    _Atomic long next; /* next piece of rows to hand out */
    long piece;        /* rows per piece */
    int n_prod;
    struct cpu_gemm g[QW_MULTI_MAX];
    cpu_gemm_fn fn;
    const float *bias; /* of product 0 (linear has one product) */
    int64_t first[QW_MULTI_MAX + 1];
    const struct cpu_kernels *k;
    const float *x; /* f32 input rows, for the conversion step */
    int64_t x_stride;
};

static void linear_rows(struct linear_job *j, int64_t r0, int64_t r1)
{
    for (int i = 0; i < j->n_prod && r0 < r1; i++) {
        int64_t lo = r0 > j->first[i] ? r0 : j->first[i], hi = r1 < j->first[i + 1] ? r1 : j->first[i + 1];
        if (hi <= lo) continue;
        lo -= j->first[i];
        hi -= j->first[i];
        j->fn(&j->g[i], lo, hi);
        if (j->bias && i == 0)
            for (int64_t t = 0; t < j->g[0].n; t++) {
                float *y = j->g[0].y + t * j->g[0].y_stride;
                for (int64_t r = lo; r < hi; r++) y[r] += j->bias[r];
            }
    }
}

/* Threads take pieces of contiguous rows until none are left: each piece is a long sequential stream of weights,
 * and a thread that loses its core for a while (a shared machine) leaves its share to the others instead of
 * holding everyone up. */
static void linear_thunk(void *arg, int ith, int nth)
{
    (void)ith;
    (void)nth;
    struct linear_job *j = arg;
    const int64_t m = j->first[j->n_prod];
    for (;;) {
        long p = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed), lo = p * j->piece;
        if (lo >= m) break;
        linear_rows(j, lo, lo + j->piece < m ? lo + j->piece : m);
    }
}

/* Activation rows [t0, t1) into the form the kernel reads. */
static void convert_rows(struct linear_job *j, int64_t t0, int64_t t1)
{
    const int64_t k = j->g[0].k, nb = k / QW_QBLOCK;
    for (int64_t t = t0; t < t1; t++) {
        const float *x = j->x + t * j->x_stride;
        if (j->g[0].xb) j->k->to_bf16(x, (uint16_t *)j->g[0].xb + t * k, k);
        else j->k->quantize_act16(x, k, j->g[0].a.q + t * k, j->g[0].a.d + t * nb, j->g[0].a.s + t * nb);
    }
}

static void convert_thunk(void *arg, int ith, int nth)
{
    struct linear_job *j = arg;
    long lo, hi;
    qw_split_rows((long)j->g[0].n, ith, nth, 1, &lo, &hi);
    if (hi > lo) convert_rows(j, lo, hi);
}

/* Points the activations of j's products into the context's scratch and converts x into them. False when out of
 * memory. */
static bool convert_activations(struct cpu_ctx *c, struct linear_job *j, bool bf16)
{
    const int64_t n = j->g[0].n, k = j->g[0].k, nb = k / QW_QBLOCK;
    size_t per_row = bf16 ? (size_t)k * 2 : (size_t)k * 2 + (size_t)nb * 8, bytes;
    if (!size_mul_ok(per_row, (size_t)n, &bytes) || !size_add_ok(bytes, 256, &bytes)) bytes = SIZE_MAX;
    uint8_t *p = cpu_scratch_get(c, &c->act, bytes);
    if (!p) return false;
    if (bf16) {
        j->g[0].xb = (const uint16_t *)p;
    } else {
        j->g[0].a.q = (int16_t *)p;
        j->g[0].a.d = (float *)(p + (((size_t)n * (size_t)k * 2 + 63) & ~(size_t)63));
        j->g[0].a.s = (int32_t *)(j->g[0].a.d + n * nb);
    }
    if (c->n_threads > 1 && n >= 2 * c->n_threads) qw_pool_run(c->pool, convert_thunk, j);
    else convert_rows(j, 0, n);
    for (int i = 1; i < j->n_prod; i++) {
        j->g[i].xb = j->g[0].xb;
        j->g[i].a = j->g[0].a;
    }
    return true;
}

/* Checks one product of a call: false (error recorded) when it does not fit. */
static bool check_product(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w)
{
    if (!cpu_check_f32(c, y, "linear", "y") || !cpu_check_f32(c, x, "linear", "x") ||
        !cpu_check_bounds(c, w, "linear", "w"))
        return false;
    if (!cpu_check(c, x.cols == w.cols && y.rows == x.rows && y.cols == w.rows,
                   "linear: y %lldx%lld = x %lldx%lld @ w %lldx%lld^T does not fit", (long long)y.rows,
                   (long long)y.cols, (long long)x.rows, (long long)x.cols, (long long)w.rows, (long long)w.cols) ||
        !cpu_check(c, c->k.gemm[w.dtype] != NULL, "linear: no kernel for %s weights", qw_dtype_name(w.dtype)))
        return false;
    bool quant = w.dtype == QW_DTYPE_Q8 || w.dtype == QW_DTYPE_Q4;
    return !quant || cpu_check(c, w.stride == w.cols && w.cols % QW_QBLOCK == 0,
                               "linear: %s weights must be whole rows of a multiple of %d values",
                               qw_dtype_name(w.dtype), QW_QBLOCK);
}

/* Runs the products of j (checked, all of one weight dtype) on x. */
static void run_products(struct cpu_ctx *c, struct linear_job *j, struct qw_tensor x, enum qw_dtype wt)
{
    const bool quant = wt == QW_DTYPE_Q8 || wt == QW_DTYPE_Q4;
    const bool bf16x = wt == QW_DTYPE_BF16 && c->k.gemm_bf16x && x.rows >= BF16X_MIN_ROWS;
    const int64_t m = j->first[j->n_prod];
    j->fn = c->k.gemm[wt];
    j->k = &c->k;
    j->x = cpu_row(x, 0);
    j->x_stride = x.stride;
    pthread_mutex_lock(&c->lock);
    if (quant || bf16x) {
        if (!convert_activations(c, j, bf16x)) goto done;
        if (bf16x) j->fn = c->k.gemm_bf16x;
    }
    if (c->n_threads == 1 || m < 2 * SPLIT_ALIGN || m * x.rows * x.cols < INLINE_WORK) {
        linear_rows(j, 0, m);
    } else {
        long pieces = (long)c->n_threads * CHUNKS_PER_THREAD;
        j->piece = ((m + pieces - 1) / pieces + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN;
        atomic_init(&j->next, 0);
        qw_pool_run(c->pool, linear_thunk, j);
    }
done:
    pthread_mutex_unlock(&c->lock);
}

static struct cpu_gemm product(struct qw_tensor y, struct qw_tensor x, struct qw_tensor w)
{
    return (struct cpu_gemm){.wtype = w.dtype, .w = cpu_ptr(w), .w_stride = qw_row_bytes(w.dtype, w.stride),
                             .k = w.cols, .n = x.rows, .x = cpu_row(x, 0), .x_stride = x.stride,
                             .y = cpu_row(y, 0), .y_stride = y.stride};
}

void cpu_linear(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b)
{
    struct cpu_ctx *c = ctx;
    if (!check_product(c, y, x, w)) return;
    if (qw_tensor_present(b) &&
        (!cpu_check_f32(c, b, "linear", "b") || !cpu_check(c, b.cols == w.rows, "linear: bias has %lld values",
                                                           (long long)b.cols)))
        return;
    if (x.rows == 0 || w.rows == 0) return;
    struct linear_job j = {.n_prod = 1, .g = {product(y, x, w)}, .bias = qw_tensor_present(b) ? cpu_row(b, 0) : NULL,
                           .first = {0, w.rows}};
    run_products(c, &j, x, w.dtype);
}

void cpu_matmul_multi(void *ctx, int n, const struct qw_tensor *y, struct qw_tensor x, const struct qw_tensor *w)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check(c, n >= 1 && n <= QW_MULTI_MAX, "matmul_multi: %d products", n)) return;
    bool same = true;
    for (int i = 0; i < n; i++) {
        if (!check_product(c, y[i], x, w[i])) return;
        same &= w[i].dtype == w[0].dtype;
    }
    if (!same || x.rows == 0) { /* mixed dtypes: one call each */
        for (int i = 0; i < n; i++) cpu_linear(ctx, y[i], x, w[i], (struct qw_tensor){0});
        return;
    }
    struct linear_job j = {.n_prod = n};
    for (int i = 0; i < n; i++) {
        j.g[i] = product(y[i], x, w[i]);
        j.first[i + 1] = j.first[i] + w[i].rows;
    }
    run_products(c, &j, x, w[0].dtype);
}
