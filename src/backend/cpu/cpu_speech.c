/* Ops of the speech synthesis models: transposed convolution, leaky ReLU, windowed relative-position attention
 * and the inverse rational-quadratic spline. All f32, time-major. */
#include <math.h>
#include <string.h>

#include "cpu_impl.h"

#define MAX_REL_HEAD_DIM 512
#define MAX_REL_WINDOW 64
#define MAX_SPLINE_BINS 64

/* ---- transposed convolution ---- */

struct convt_job {
    struct qw_tensor y, x, w, b;
    struct qw_conv1d_params p;
    cpu_dot_fn dot;
};

/* Output step t receives tap k from input step s = (t + pad_left - k) / stride when that division is exact: with
 * kernel = 2 stride (HiFi-GAN), two taps per output step. */
static void convt_rows(void *arg, int64_t t0, int64_t t1)
{
    const struct convt_job *j = arg;
    const int64_t C_out = j->y.cols, C_in = j->x.cols, T_in = j->x.rows;
    const int K = j->p.kernel, S = j->p.stride;
    const uint8_t *w = cpu_ptr(j->w);
    const size_t w_row = qw_row_bytes(j->w.dtype, j->w.stride), tap = qw_row_bytes(j->w.dtype, C_in);
    const float *b = qw_tensor_present(j->b) ? cpu_row(j->b, 0) : NULL;
    for (int64_t t = t0; t < t1; t++) {
        float *y = cpu_row(j->y, t);
        for (int64_t o = 0; o < C_out; o++) y[o] = b ? b[o] : 0.0f;
        int64_t u = t + j->p.pad_left;
        for (int k = (int)(u % S); k < K; k += S) {
            int64_t s = (u - k) / S;
            if (s < 0) break;
            if (s >= T_in) continue;
            const float *x = cpu_row(j->x, s);
            for (int64_t o = 0; o < C_out; o++) y[o] += j->dot(w + (size_t)o * w_row + (size_t)k * tap, x, C_in);
        }
    }
}

void cpu_conv_transpose1d(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                          const struct qw_conv1d_params *p)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "conv_transpose1d", "y") || !cpu_check_f32(c, x, "conv_transpose1d", "x") ||
        !cpu_check_bounds(c, w, "conv_transpose1d", "w"))
        return;
    if (!cpu_check(c, p->kernel > 0 && p->stride > 0 && p->dilation == 1 && p->groups == 1 && p->pad_left >= 0 &&
                          p->pad_right >= 0,
                   "conv_transpose1d: bad parameters") ||
        !cpu_check(c, y.rows == qw_conv_transpose1d_out_len(x.rows, p) && w.rows == y.cols &&
                          w.cols == p->kernel * x.cols,
                   "conv_transpose1d: y %lldx%lld, x %lldx%lld, w %lldx%lld, kernel %d", (long long)y.rows,
                   (long long)y.cols, (long long)x.rows, (long long)x.cols, (long long)w.rows, (long long)w.cols,
                   p->kernel) ||
        !cpu_check(c, x.cols % qw_dtype_block(w.dtype) == 0 && c->k.dot[w.dtype] != NULL,
                   "conv_transpose1d: no kernel for %s weights", qw_dtype_name(w.dtype)))
        return;
    if (qw_tensor_present(b) &&
        (!cpu_check_f32(c, b, "conv_transpose1d", "b") || !cpu_check(c, b.cols == y.cols, "conv_transpose1d: b")))
        return;
    struct convt_job j = {y, x, w, b, *p, c->k.dot[w.dtype]};
    cpu_parallel(c, y.rows, y.cols * x.cols * 2, convt_rows, &j);
}

/* ---- leaky ReLU ---- */

struct lrelu_job {
    struct qw_tensor y, x;
    float slope;
};

static void lrelu_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct lrelu_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = cpu_row(j->x, r);
        float *y = cpu_row(j->y, r);
        for (int64_t i = 0; i < j->x.cols; i++) y[i] = x[i] >= 0.0f ? x[i] : x[i] * j->slope;
    }
}

void cpu_leaky_relu(void *ctx, struct qw_tensor y, struct qw_tensor x, float slope)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "leaky_relu", "y") || !cpu_check_f32(c, x, "leaky_relu", "x") ||
        !cpu_check(c, y.rows == x.rows && y.cols == x.cols, "leaky_relu: shapes"))
        return;
    struct lrelu_job j = {y, x, slope};
    cpu_parallel(c, x.rows, x.cols, lrelu_rows, &j);
}

/* ---- relative-position attention ---- */

struct relattn_job {
    struct qw_tensor y, q, k, v, ek, ev;
    struct qw_rel_attn_params p;
};

static float dot_f32(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Two passes over the keys per (row, head): the maximum score, then the weighted sums. Scores inside the window
 * add the relative key term; their probabilities also weight the relative values. */
static void relattn_items(void *arg, int64_t i0, int64_t i1)
{
    const struct relattn_job *jb = arg;
    const struct qw_rel_attn_params *p = &jb->p;
    const int hd = p->head_dim, W = p->window;
    const int64_t T = jb->k.rows;
    float qs[MAX_REL_HEAD_DIM], acc[MAX_REL_HEAD_DIM], rel[2 * MAX_REL_WINDOW + 1];
    for (int64_t it = i0; it < i1; it++) {
        int64_t i = it / p->n_heads;
        int h = (int)(it % p->n_heads);
        const float *q = cpu_row(jb->q, i) + (size_t)h * hd;
        for (int d = 0; d < hd; d++) qs[d] = q[d] * p->scale;
        for (int r = 0; r <= 2 * W; r++) rel[r] = dot_f32(qs, cpu_row(jb->ek, r), hd);
        float m = -INFINITY;
        for (int64_t j = 0; j < T; j++) {
            float s = dot_f32(qs, cpu_row(jb->k, j) + (size_t)h * hd, hd);
            int64_t r = j - i + W;
            if (r >= 0 && r <= 2 * W) s += rel[r];
            if (s > m) m = s;
        }
        float l = 0.0f;
        memset(acc, 0, (size_t)hd * sizeof *acc);
        for (int64_t j = 0; j < T; j++) {
            float s = dot_f32(qs, cpu_row(jb->k, j) + (size_t)h * hd, hd);
            int64_t r = j - i + W;
            bool in = r >= 0 && r <= 2 * W;
            if (in) s += rel[r];
            float e = expf(s - m);
            l += e;
            const float *vj = cpu_row(jb->v, j) + (size_t)h * hd;
            for (int d = 0; d < hd; d++) acc[d] += e * vj[d];
            if (in) {
                const float *evr = cpu_row(jb->ev, r);
                for (int d = 0; d < hd; d++) acc[d] += e * evr[d];
            }
        }
        float *y = cpu_row(jb->y, i) + (size_t)h * hd, inv = 1.0f / l;
        for (int d = 0; d < hd; d++) y[d] = acc[d] * inv;
    }
}

void cpu_attention_rel(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                       struct qw_tensor ek, struct qw_tensor ev, const struct qw_rel_attn_params *p)
{
    struct cpu_ctx *c = ctx;
    const char *op = "attention_rel";
    if (!cpu_check_f32(c, y, op, "y") || !cpu_check_f32(c, q, op, "q") || !cpu_check_f32(c, k, op, "k") ||
        !cpu_check_f32(c, v, op, "v") || !cpu_check_f32(c, ek, op, "ek") || !cpu_check_f32(c, ev, op, "ev"))
        return;
    int64_t hc = (int64_t)p->n_heads * p->head_dim;
    if (!cpu_check(c, p->n_heads > 0 && p->head_dim > 0 && p->head_dim <= MAX_REL_HEAD_DIM && p->window >= 0 &&
                          p->window <= MAX_REL_WINDOW,
                   "attention_rel: %d heads of %d, window %d", p->n_heads, p->head_dim, p->window) ||
        !cpu_check(c, q.cols == hc && k.cols == hc && v.cols == hc && y.cols == hc && y.rows == q.rows &&
                          k.rows == v.rows && k.rows > 0,
                   "attention_rel: q/k/v/y shapes") ||
        !cpu_check(c, ek.rows == 2 * p->window + 1 && ev.rows == ek.rows && ek.cols == p->head_dim &&
                          ev.cols == p->head_dim,
                   "attention_rel: relative embeddings %lldx%lld", (long long)ek.rows, (long long)ek.cols))
        return;
    struct relattn_job jb = {y, q, k, v, ek, ev, *p};
    cpu_parallel(c, q.rows * p->n_heads, k.rows * p->head_dim * 3, relattn_items, &jb);
}

/* ---- inverse rational-quadratic spline ---- */

struct spline_job {
    struct qw_tensor x, c;
    struct qw_spline_params p;
};

static float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

/* Bin edges from unnormalised sizes u[0..K): softmax, a minimum size, cumulative sum mapped onto [-B, B]. The
 * arithmetic follows the reference's float32 order, so the edges match it to rounding. */
static void spline_edges(const float *u, int K, float div, float B, float *edges)
{
    const float min_size = 1e-3f;
    float s[MAX_SPLINE_BINS], m = -INFINITY, sum = 0.0f;
    for (int i = 0; i < K; i++) {
        s[i] = u[i] / div;
        if (s[i] > m) m = s[i];
    }
    for (int i = 0; i < K; i++) sum += (s[i] = expf(s[i] - m));
    float acc = 0.0f;
    edges[0] = -B;
    for (int i = 0; i < K; i++) {
        acc += min_size + (1.0f - min_size * (float)K) * (s[i] / sum);
        edges[i + 1] = 2.0f * B * acc - B;
    }
    edges[0] = -B;
    edges[K] = B;
}

static void spline_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct spline_job *j = arg;
    const int K = j->p.bins;
    const float B = j->p.tail_bound, min_d = 1e-3f;
    const float pad = (float)log(exp(1.0 - 1e-3) - 1.0);
    float cw[MAX_SPLINE_BINS + 1], ch[MAX_SPLINE_BINS + 1], d[MAX_SPLINE_BINS + 1];
    for (int64_t r = r0; r < r1; r++) {
        float *xp = cpu_row(j->x, r), y = *xp;
        if (!(y >= -B && y <= B)) continue;
        const float *c = cpu_row(j->c, r);
        spline_edges(c, K, j->p.wh_scale, B, cw);
        spline_edges(c + K, K, j->p.wh_scale, B, ch);
        d[0] = d[K] = min_d + softplus(pad);
        for (int i = 1; i < K; i++) d[i] = min_d + softplus(c[2 * K + i - 1]);
        int k = -1;
        for (int i = 0; i <= K; i++) k += y >= (i == K ? ch[K] + 1e-6f : ch[i]);
        if (k < 0) k = 0;
        if (k > K - 1) k = K - 1;
        float wk = cw[k + 1] - cw[k], hk = ch[k + 1] - ch[k], delta = hk / wk;
        float dy = y - ch[k], t = d[k] + d[k + 1] - 2.0f * delta;
        float a = dy * t + hk * (delta - d[k]);
        float b = hk * d[k] - dy * t;
        float cc = -delta * dy;
        float disc = b * b - 4.0f * a * cc;
        float root = (2.0f * cc) / (-b - sqrtf(disc));
        *xp = root * wk + cw[k];
    }
}

void cpu_spline_inverse(void *ctx, struct qw_tensor x, struct qw_tensor c, const struct qw_spline_params *p)
{
    struct cpu_ctx *cc = ctx;
    if (!cpu_check_f32(cc, x, "spline_inverse", "x") || !cpu_check_f32(cc, c, "spline_inverse", "c") ||
        !cpu_check(cc, p->bins > 0 && p->bins <= MAX_SPLINE_BINS && p->tail_bound > 0 && p->wh_scale > 0,
                   "spline_inverse: %d bins", p->bins) ||
        !cpu_check(cc, x.cols == 1 && c.rows == x.rows && c.cols == 3 * (int64_t)p->bins - 1,
                   "spline_inverse: x %lldx%lld, c %lldx%lld", (long long)x.rows, (long long)x.cols,
                   (long long)c.rows, (long long)c.cols))
        return;
    struct spline_job j = {x, c, *p};
    cpu_parallel(cc, x.rows, c.cols * 8, spline_rows, &j);
}
