/* The CPU backend's memory, weights and op table. Ops run at once on the calling thread and the pool. */
#include <stdio.h>
#include <string.h>
#if !defined(__EMSCRIPTEN__) && !defined(_WIN32)
#include <sys/mman.h>
#endif

#include "base/fp.h"
#include "base/mem.h"
#include "cpu.h"
#include "cpu_impl.h"
#include "ops/quant.h"

bool cpu_check(struct cpu_ctx *c, bool ok, const char *fmt, ...)
{
    if (ok) return true;
    if (c->err.status == QWGLM_OK) {
        c->err.status = QWGLM_ERR_ARG;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool cpu_check_bounds(struct cpu_ctx *c, struct qw_tensor t, const char *op, const char *name)
{
    if (!cpu_check(c, t.buf != NULL, "%s: %s is absent", op, name)) return false;
    if (!cpu_check(c, t.rows >= 0 && t.cols >= 0 && t.stride >= t.cols, "%s: %s has a bad shape", op, name))
        return false;
    if (t.rows == 0 || t.cols == 0) return true;
    size_t end = t.offset + (size_t)(t.rows - 1) * qw_row_bytes(t.dtype, t.stride) + qw_row_bytes(t.dtype, t.cols);
    return cpu_check(c, end <= t.buf->size, "%s: %s runs past its buffer", op, name);
}

bool cpu_check_f32(struct cpu_ctx *c, struct qw_tensor t, const char *op, const char *name)
{
    return cpu_check_bounds(c, t, op, name) &&
           cpu_check(c, t.dtype == QW_DTYPE_F32, "%s: %s is %s, not f32", op, name, qw_dtype_name(t.dtype));
}

void *cpu_scratch_get(struct cpu_ctx *c, struct cpu_scratch *s, size_t bytes)
{
    if (bytes <= s->cap) return s->p;
    void *p = bytes < SIZE_MAX - 63 ? qw_aligned_alloc(64, (bytes + 63) & ~(size_t)63) : NULL;
    if (!p) {
        if (c->err.status == QWGLM_OK) {
            c->err.status = QWGLM_ERR_NOMEM;
            snprintf(c->err.msg, sizeof c->err.msg, "cpu: scratch of %zu bytes", bytes);
        }
        return NULL;
    }
    qw_free(s->p);
    s->p = p;
    s->cap = bytes;
    return p;
}

struct parallel_job {
    int64_t n;
    cpu_rows_fn fn;
    void *arg;
};

static void parallel_thunk(void *ctx, int ith, int nth)
{
    struct parallel_job *j = ctx;
    long lo, hi;
    qw_split_rows((long)j->n, ith, nth, 1, &lo, &hi);
    if (hi > lo) j->fn(j->arg, lo, hi);
}

void cpu_parallel(struct cpu_ctx *c, int64_t n, int64_t work_per_row, cpu_rows_fn fn, void *arg)
{
    /* below ~16k multiply-adds, waking a thread costs more than it saves */
    if (c->n_threads == 1 || n < 2 || n * work_per_row < 16384) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    struct parallel_job j = {n, fn, arg};
    qw_pool_run(c->pool, parallel_thunk, &j);
}

/* ---- memory ---- */

/* Buffers of a few MiB and more (weights, KV caches) sit on 2 MiB boundaries and ask for transparent huge pages:
 * decode streams every weight once per token, and with 4 KiB pages that is a TLB miss and a page walk per 4 KiB
 * plus a restart of the hardware prefetcher at every page boundary. */
#define HUGE_PAGE ((size_t)2 << 20)

static qwglm_status cpu_buf_alloc(void *ctx, size_t bytes, struct qw_buf **out, struct qw_err *e)
{
    (void)ctx;
    *out = NULL;
    struct qw_buf *b = qw_calloc(1, sizeof *b);
    if (!b) return qw_fail(e, QWGLM_ERR_NOMEM, "cpu: buffer of %zu bytes", bytes);
    bool huge = bytes >= 2 * HUGE_PAGE;
    b->data = qw_aligned_alloc(huge ? HUGE_PAGE : 64, bytes);
#if defined(MADV_HUGEPAGE)
    if (huge && b->data) madvise(b->data, bytes & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    if (!b->data) {
        qw_free(b);
        return qw_fail(e, QWGLM_ERR_NOMEM, "cpu: buffer of %zu bytes", bytes);
    }
    b->size = bytes;
    b->owned = true;
    *out = b;
    return QWGLM_OK;
}

static void cpu_buf_free(void *ctx, struct qw_buf *b)
{
    if (!b) return;
    if (b->packed) cpu_conv_cache_drop(ctx, b);
    if (b->owned) qw_free(b->data);
    qw_free(b);
}

static qwglm_status cpu_buf_write(void *ctx, struct qw_buf *b, size_t off, const void *src, size_t n,
                                  struct qw_err *e)
{
    if (!b || off > b->size || n > b->size - off) return qw_fail(e, QWGLM_ERR_ARG, "cpu: write out of bounds");
    if (b->packed) cpu_conv_cache_drop(ctx, b);
    if (n) memcpy(b->data + off, src, n);
    return QWGLM_OK;
}

static qwglm_status cpu_buf_read(void *ctx, struct qw_buf *b, size_t off, void *dst, size_t n, struct qw_err *e)
{
    (void)ctx;
    if (!b || off > b->size || n > b->size - off) return qw_fail(e, QWGLM_ERR_ARG, "cpu: read out of bounds");
    if (n) memcpy(dst, b->data + off, n);
    return QWGLM_OK;
}

static qwglm_status cpu_sync(void *ctx, struct qw_err *e)
{
    struct cpu_ctx *c = ctx;
    qwglm_status st = c->err.status;
    if (st) {
        qw_fail(e, st, "%s", c->err.msg);
        memset(&c->err, 0, sizeof c->err);
    }
    return st;
}

/* ---- weights ---- */

struct convert_job {
    const uint8_t *src;
    enum qw_dtype src_dtype, dst_dtype;
    int64_t rows, cols;
    uint8_t *dst;
    float *tmp; /* one row of f32 per thread */
};

static void convert_rows(void *arg, int ith, int nth)
{
    struct convert_job *j = arg;
    long lo, hi;
    qw_split_rows((long)j->rows, ith, nth, 1, &lo, &hi);
    size_t src_row = qw_row_bytes(j->src_dtype, j->cols), dst_row = qw_row_bytes(j->dst_dtype, j->cols);
    float *tmp = j->tmp + (size_t)ith * (size_t)j->cols;
    for (long r = lo; r < hi; r++) {
        const uint8_t *s = j->src + (size_t)r * src_row;
        uint8_t *d = j->dst + (size_t)r * dst_row;
        cpu_row_to_f32(j->src_dtype, s, tmp, j->cols);
        switch (j->dst_dtype) {
        case QW_DTYPE_F32: memcpy(d, tmp, dst_row); break;
        case QW_DTYPE_BF16:
            for (int64_t i = 0; i < j->cols; i++) ((uint16_t *)d)[i] = f32_to_bf16(tmp[i]);
            break;
        case QW_DTYPE_F16:
            for (int64_t i = 0; i < j->cols; i++) ((uint16_t *)d)[i] = f32_to_f16(tmp[i]);
            break;
        case QW_DTYPE_Q8: qw_quantize_row_q8(tmp, d, j->cols); break;
        case QW_DTYPE_Q4: qw_quantize_row_q4(tmp, d, j->cols); break;
        default: break;
        }
    }
}

static qwglm_status cpu_weight_upload(void *ctx, const void *src, enum qw_dtype src_dtype, int64_t rows,
                                      int64_t cols, enum qw_dtype dst_dtype, struct qw_tensor *out,
                                      struct qw_err *e)
{
    struct cpu_ctx *c = ctx;
    memset(out, 0, sizeof *out);
    if (src_dtype != QW_DTYPE_F32 && src_dtype != QW_DTYPE_F16 && src_dtype != QW_DTYPE_BF16 &&
        src_dtype != dst_dtype)
        return qw_fail(e, QWGLM_ERR_ARG, "cpu: weights of dtype %s cannot be converted", qw_dtype_name(src_dtype));
    if (dst_dtype == QW_DTYPE_I32 || dst_dtype >= QW_DTYPE_COUNT)
        return qw_fail(e, QWGLM_ERR_ARG, "cpu: %s is not a weight dtype", qw_dtype_name(dst_dtype));
    int block = qw_dtype_block(dst_dtype);
    if (cols % block != 0)
        return qw_fail(e, QWGLM_ERR_ARG, "cpu: %lld columns are not a multiple of the %s block (%d)",
                       (long long)cols, qw_dtype_name(dst_dtype), block);
    size_t row_bytes = qw_row_bytes(dst_dtype, cols), bytes;
    if (rows < 0 || !size_mul_ok((size_t)rows, row_bytes, &bytes))
        return qw_fail(e, QWGLM_ERR_ARG, "cpu: weight too large");
    struct qw_buf *b;
    /* typed rows must be aligned for their element; quantized rows are read with unaligned loads and memcpy */
    size_t align = dst_dtype == QW_DTYPE_F32 ? 4 : qw_dtype_block(dst_dtype) > 1 ? 1 : 2;
    if (dst_dtype == src_dtype && ((uintptr_t)src % align) == 0) {
        /* already in the right form: read it where it lies (an mmapped checkpoint) */
        b = qw_calloc(1, sizeof *b);
        if (!b) return qw_fail(e, QWGLM_ERR_NOMEM, "cpu: weight");
        b->data = (uint8_t *)src;
        b->size = bytes;
    } else {
        qwglm_status rc = cpu_buf_alloc(ctx, bytes, &b, e);
        if (rc) return rc;
        size_t tmp_bytes;
        if (!size_mul_ok((size_t)c->n_threads * (size_t)cols, sizeof(float), &tmp_bytes)) tmp_bytes = SIZE_MAX;
        float *tmp = qw_malloc(tmp_bytes);
        if (!tmp) {
            cpu_buf_free(ctx, b);
            return qw_fail(e, QWGLM_ERR_NOMEM, "cpu: conversion row");
        }
        struct convert_job j = {src, src_dtype, dst_dtype, rows, cols, b->data, tmp};
        qw_pool_run(c->pool, convert_rows, &j);
        qw_free(tmp);
    }
    *out = (struct qw_tensor){b, 0, dst_dtype, rows, cols, cols};
    return QWGLM_OK;
}

/* ---- the backend ---- */

static void cpu_free(void *ctx)
{
    struct cpu_ctx *c = ctx;
    if (!c) return;
    qw_pool_free(c->pool);
    if (c->thread)
        for (int i = 0; i < c->n_threads; i++) qw_free(c->thread[i].p);
    qw_free(c->thread);
    qw_free(c->act.p);
    qw_free(c->conv_w.p);
    cpu_conv_cache_free(c);
    qw_free(c->prof);
    pthread_mutex_destroy(&c->lock);
    qw_free(c);
}

static const struct qw_backend_ops cpu_ops = {
    .name = "cpu",
    .free = cpu_free,
    .buf_alloc = cpu_buf_alloc,
    .buf_free = cpu_buf_free,
    .buf_write = cpu_buf_write,
    .buf_read = cpu_buf_read,
    .weight_upload = cpu_weight_upload,
    .sync = cpu_sync,
    .get_rows = cpu_get_rows,
    .linear = cpu_linear,
    .matmul_multi = cpu_matmul_multi,
    .rmsnorm = cpu_rmsnorm,
    .layernorm = cpu_layernorm,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .add = cpu_add,
    .mul = cpu_mul,
    .affine = cpu_affine,
    .unary = cpu_unary,
    .swiglu = cpu_swiglu,
    .softmax = cpu_softmax,
    .copy = cpu_copy,
    .conv1d = cpu_conv1d,
    .conv_transpose1d = cpu_conv_transpose1d,
    .leaky_relu = cpu_leaky_relu,
    .attention_rel = cpu_attention_rel,
    .spline_inverse = cpu_spline_inverse,
    .conv2d = cpu_conv2d,
    .attention_relpos = cpu_attention_relpos,
    .conv1d_fused = cpu_conv1d_fused,
    .conv_transpose1d_fused = cpu_conv_transpose1d_fused,
    .tanh_sigmoid_mul = cpu_tanh_sigmoid_mul,
};

qwglm_status cpu_backend_create_isa(int n_threads, const char *isa, struct qw_backend *out, struct qw_err *e)
{
    memset(out, 0, sizeof *out);
    struct cpu_kernels k;
    if (!cpu_kernels_init(&k, isa))
        return qw_fail(e, QWGLM_ERR_ARG, "cpu: kernels '%s' are not available on this machine", isa ? isa : "?");
    struct cpu_ctx *c = qw_calloc(1, sizeof *c);
    if (!c) return qw_fail(e, QWGLM_ERR_NOMEM, "cpu backend");
    pthread_mutex_init(&c->lock, NULL);
    c->k = k;
    c->pool = qw_pool_create(n_threads);
    if (!c->pool) {
        pthread_mutex_destroy(&c->lock);
        qw_free(c);
        return qw_fail(e, QWGLM_ERR_NOMEM, "cpu backend: could not start %d threads", n_threads);
    }
    c->n_threads = qw_pool_size(c->pool);
    c->thread = qw_calloc((size_t)c->n_threads, sizeof *c->thread);
    if (!c->thread) {
        cpu_free(c);
        return qw_fail(e, QWGLM_ERR_NOMEM, "cpu backend");
    }
    out->ops = &cpu_ops;
    out->ctx = c;
    return QWGLM_OK;
}

int cpu_backend_threads(const struct qw_backend *be) { return ((const struct cpu_ctx *)be->ctx)->n_threads; }
const char *cpu_backend_isa(const struct qw_backend *be) { return ((const struct cpu_ctx *)be->ctx)->k.isa; }

qwglm_status cpu_backend_create(int n_threads, struct qw_backend *out, struct qw_err *e)
{
    return cpu_backend_create_isa(n_threads, NULL, out, e);
}
