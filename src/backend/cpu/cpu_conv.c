/* Convolutions over time on time-major activations. Each output step is a sum over kernel taps of dot products
 * between a contiguous slice of a weight row and a contiguous slice of an input row, so the weight kernels of
 * linear serve here too (any weight dtype whose block divides C_in / groups). */
#include <string.h>

#include "cpu_impl.h"

struct conv_job {
    struct qw_tensor y, x, w, b;
    struct qw_conv1d_params p;
    cpu_dot_fn dot;
};

/* Depthwise (groups == C_in == C_out, f32 weights): y[t][c] = b[c] + sum_k w[c][k] x[t s + k d - pad][c]. */
static void depthwise_rows(void *arg, int64_t t0, int64_t t1)
{
    const struct conv_job *j = arg;
    const int64_t C = j->y.cols, T_in = j->x.rows;
    const float *w = cpu_ptr(j->w), *b = qw_tensor_present(j->b) ? cpu_row(j->b, 0) : NULL;
    const int K = j->p.kernel;
    for (int64_t t = t0; t < t1; t++) {
        float *y = cpu_row(j->y, t);
        for (int64_t c = 0; c < C; c++) y[c] = b ? b[c] : 0.0f;
        for (int k = 0; k < K; k++) {
            int64_t ti = t * j->p.stride + (int64_t)k * j->p.dilation - j->p.pad_left;
            if (ti < 0 || ti >= T_in) continue;
            const float *x = cpu_row(j->x, ti);
            for (int64_t c = 0; c < C; c++) y[c] += w[c * K + k] * x[c];
        }
    }
}

static void conv_rows(void *arg, int64_t t0, int64_t t1)
{
    const struct conv_job *j = arg;
    const int64_t C_out = j->y.cols, T_in = j->x.rows;
    const int64_t cg = j->x.cols / j->p.groups, og = C_out / j->p.groups;
    const int K = j->p.kernel;
    const uint8_t *w = cpu_ptr(j->w);
    const size_t w_row = qw_row_bytes(j->w.dtype, j->w.stride), tap = qw_row_bytes(j->w.dtype, cg);
    const float *b = qw_tensor_present(j->b) ? cpu_row(j->b, 0) : NULL;
    for (int64_t t = t0; t < t1; t++) {
        float *y = cpu_row(j->y, t);
        for (int64_t o = 0; o < C_out; o++) y[o] = b ? b[o] : 0.0f;
        for (int k = 0; k < K; k++) {
            int64_t ti = t * j->p.stride + (int64_t)k * j->p.dilation - j->p.pad_left;
            if (ti < 0 || ti >= T_in) continue;
            const float *x = cpu_row(j->x, ti);
            for (int64_t o = 0; o < C_out; o++)
                y[o] += j->dot(w + (size_t)o * w_row + (size_t)k * tap, x + (o / og) * cg, cg);
        }
    }
}

void cpu_conv1d(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                const struct qw_conv1d_params *p)
{
    cpu_conv1d_fused(ctx, y, x, w, b, p, NULL);
}

void cpu_conv1d_fused(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                      const struct qw_conv1d_params *p, const struct qw_conv_epilogue *ep)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "conv1d", "y") || !cpu_check_f32(c, x, "conv1d", "x") ||
        !cpu_check_bounds(c, w, "conv1d", "w"))
        return;
    if (!cpu_check(c, p->kernel > 0 && p->stride > 0 && p->dilation > 0 && p->groups > 0 && p->pad_left >= 0 &&
                          p->pad_right >= 0 && x.cols % p->groups == 0 && y.cols % p->groups == 0,
                   "conv1d: bad parameters"))
        return;
    int64_t cg = x.cols / p->groups;
    if (!cpu_check(c, y.rows == qw_conv1d_out_len(x.rows, p) && w.rows == y.cols && w.cols == p->kernel * cg,
                   "conv1d: y %lldx%lld, x %lldx%lld, w %lldx%lld, kernel %d, groups %d", (long long)y.rows,
                   (long long)y.cols, (long long)x.rows, (long long)x.cols, (long long)w.rows, (long long)w.cols,
                   p->kernel, p->groups) ||
        !cpu_check(c, cg % qw_dtype_block(w.dtype) == 0 && c->k.dot[w.dtype] != NULL,
                   "conv1d: %s weights need C_in / groups to be a multiple of %d", qw_dtype_name(w.dtype),
                   qw_dtype_block(w.dtype)))
        return;
    if (qw_tensor_present(b) && (!cpu_check_f32(c, b, "conv1d", "b") || !cpu_check(c, b.cols == y.cols, "conv1d: b")))
        return;
    if (ep && !cpu_conv_epilogue_ok(c, y, ep, "conv1d")) return;
    if (cpu_conv1d_packed(c, y, x, w, b, p, ep)) return;
    struct conv_job j = {y, x, w, b, *p, c->k.dot[w.dtype]};
    bool depthwise = cg == 1 && p->groups == y.cols && w.dtype == QW_DTYPE_F32;
    cpu_parallel(c, y.rows, y.cols * w.cols, depthwise ? depthwise_rows : conv_rows, &j);
    if (ep) cpu_conv_epilogue(c, y, ep);
}
