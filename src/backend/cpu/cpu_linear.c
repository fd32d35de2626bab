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

struct linear_job {
    _Atomic long next; /* next piece of rows to hand out */
    long piece;        /* rows per piece */
    struct cpu_gemm g;
    cpu_gemm_fn fn;
    const float *bias;
    int64_t m;
    const struct cpu_kernels *k;
    const float *x; /* f32 input rows, for the conversion step */
    int64_t x_stride;
};

static void linear_rows(struct linear_job *j, int64_t r0, int64_t r1)
{
    if (r1 <= r0) return;
    j->fn(&j->g, r0, r1);
    if (j->bias)
        for (int64_t t = 0; t < j->g.n; t++) {
            float *y = j->g.y + t * j->g.y_stride;
            for (int64_t r = r0; r < r1; r++) y[r] += j->bias[r];
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
    for (;;) {
        long p = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed), lo = p * j->piece;
        if (lo >= j->m) break;
        linear_rows(j, lo, lo + j->piece < j->m ? lo + j->piece : j->m);
    }
}

/* Activation rows [t0, t1) into the form the kernel reads. */
static void convert_rows(struct linear_job *j, int64_t t0, int64_t t1)
{
    const int64_t k = j->g.k, nb = k / QW_QBLOCK;
    for (int64_t t = t0; t < t1; t++) {
        const float *x = j->x + t * j->x_stride;
        if (j->g.xb) j->k->to_bf16(x, (uint16_t *)j->g.xb + t * k, k);
        else j->k->quantize_act16(x, k, j->g.a.q + t * k, j->g.a.d + t * nb, j->g.a.s + t * nb);
    }
}

static void convert_thunk(void *arg, int ith, int nth)
{
    struct linear_job *j = arg;
    long lo, hi;
    qw_split_rows((long)j->g.n, ith, nth, 1, &lo, &hi);
    if (hi > lo) convert_rows(j, lo, hi);
}

/* Points j's activations into the context's scratch and converts x into them. False when out of memory. */
static bool convert_activations(struct cpu_ctx *c, struct linear_job *j, bool bf16)
{
    const int64_t n = j->g.n, k = j->g.k, nb = k / QW_QBLOCK;
    size_t per_row = bf16 ? (size_t)k * 2 : (size_t)k * 2 + (size_t)nb * 8, bytes;
    if (!size_mul_ok(per_row, (size_t)n, &bytes) || !size_add_ok(bytes, 256, &bytes)) bytes = SIZE_MAX;
    uint8_t *p = cpu_scratch_get(c, &c->act, bytes);
    if (!p) return false;
    if (bf16) {
        j->g.xb = (const uint16_t *)p;
    } else {
        j->g.a.q = (int16_t *)p;
        j->g.a.d = (float *)(p + (((size_t)n * (size_t)k * 2 + 63) & ~(size_t)63));
        j->g.a.s = (int32_t *)(j->g.a.d + n * nb);
    }
    if (c->n_threads > 1 && n >= 2 * c->n_threads) qw_pool_run(c->pool, convert_thunk, j);
    else convert_rows(j, 0, n);
    return true;
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
        !cpu_check(c, c->k.gemm[w.dtype] != NULL, "linear: no kernel for %s weights", qw_dtype_name(w.dtype)))
        return;
    bool quant = w.dtype == QW_DTYPE_Q8 || w.dtype == QW_DTYPE_Q4;
    if (quant && !cpu_check(c, w.stride == w.cols && w.cols % QW_QBLOCK == 0,
                            "linear: %s weights must be whole rows of a multiple of %d values",
                            qw_dtype_name(w.dtype), QW_QBLOCK))
        return;
    if (qw_tensor_present(b) &&
        (!cpu_check_f32(c, b, "linear", "b") || !cpu_check(c, b.cols == w.rows, "linear: bias has %lld values",
                                                           (long long)b.cols)))
        return;
    if (x.rows == 0 || w.rows == 0) return;
    struct linear_job j = {
        .g = {.wtype = w.dtype, .w = cpu_ptr(w), .w_stride = qw_row_bytes(w.dtype, w.stride), .k = w.cols,
              .n = x.rows, .x = cpu_row(x, 0), .x_stride = x.stride, .y = cpu_row(y, 0), .y_stride = y.stride},
        .fn = c->k.gemm[w.dtype],
        .bias = qw_tensor_present(b) ? cpu_row(b, 0) : NULL,
        .m = w.rows,
        .k = &c->k,
        .x = cpu_row(x, 0),
        .x_stride = x.stride,
    };
    bool bf16x = w.dtype == QW_DTYPE_BF16 && c->k.gemm_bf16x && x.rows >= BF16X_MIN_ROWS;
    pthread_mutex_lock(&c->lock);
    if (quant || bf16x) {
        if (!convert_activations(c, &j, bf16x)) goto done;
        if (bf16x) j.fn = c->k.gemm_bf16x;
    }
    if (c->n_threads == 1 || w.rows < 2 * SPLIT_ALIGN || w.rows * x.rows * x.cols < INLINE_WORK) {
        linear_rows(&j, 0, w.rows);
    } else {
        long pieces = (long)c->n_threads * CHUNKS_PER_THREAD;
        j.piece = ((w.rows + pieces - 1) / pieces + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN;
        atomic_init(&j.next, 0);
        qw_pool_run(c->pool, linear_thunk, &j);
    }
done:
    pthread_mutex_unlock(&c->lock);
}
