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
    cpu_conv_transpose1d_fused(ctx, y, x, w, b, p, NULL);
}

void cpu_conv_transpose1d_fused(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                                struct qw_tensor b, const struct qw_conv1d_params *p, const struct qw_conv_epilogue *ep)
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
    if (ep && !cpu_conv_epilogue_ok(c, y, ep, "conv_transpose1d")) return;
    if (cpu_conv_transpose1d_packed(c, y, x, w, b, p, ep)) return;
    struct convt_job j = {y, x, w, b, *p, c->k.dot[w.dtype]};
    cpu_parallel(c, y.rows, y.cols * x.cols * 2, convt_rows, &j);
    if (ep) cpu_conv_epilogue(c, y, ep);
}

/* ---- leaky ReLU ---- */

struct lrelu_job {
    struct qw_tensor y, x;
    float slope;
    const struct cpu_kernels *k;
};

/* Contiguous tensors are one long row. */
static void lrelu_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct lrelu_job *j = arg;
    if (j->x.stride == j->x.cols && j->y.stride == j->y.cols) {
        j->k->leaky_relu(cpu_row(j->y, r0), cpu_row(j->x, r0), (r1 - r0) * j->x.cols, j->slope);
        return;
    }
    for (int64_t r = r0; r < r1; r++) j->k->leaky_relu(cpu_row(j->y, r), cpu_row(j->x, r), j->x.cols, j->slope);
}

void cpu_leaky_relu(void *ctx, struct qw_tensor y, struct qw_tensor x, float slope)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "leaky_relu", "y") || !cpu_check_f32(c, x, "leaky_relu", "x") ||
        !cpu_check(c, y.rows == x.rows && y.cols == x.cols, "leaky_relu: shapes"))
        return;
    struct lrelu_job j = {y, x, slope, &c->k};
    cpu_parallel(c, x.rows, x.cols, lrelu_rows, &j);
}

/* ---- WaveNet's gate ---- */

struct gate_job {
    struct qw_tensor y, a, b;
    const struct cpu_kernels *k;
};

static void gate_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct gate_job *j = arg;
    for (int64_t r = r0; r < r1; r++)
        j->k->tanh_sigmoid(cpu_row(j->y, r), cpu_row(j->a, r), cpu_row(j->b, r), j->y.cols);
}

void cpu_tanh_sigmoid_mul(void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "tanh_sigmoid_mul", "y") || !cpu_check_f32(c, a, "tanh_sigmoid_mul", "a") ||
        !cpu_check_f32(c, b, "tanh_sigmoid_mul", "b") ||
        !cpu_check(c, a.rows == y.rows && a.cols == y.cols && b.rows == y.rows && b.cols == y.cols,
                   "tanh_sigmoid_mul: shapes"))
        return;
    struct gate_job j = {y, a, b, &c->k};
    cpu_parallel(c, y.rows, y.cols * 16, gate_rows, &j);
}

/* ---- relative-position attention ---- */

struct relattn_job {
    struct qw_tensor y, q, k, v, ek, ev;
    struct qw_rel_attn_params p;
    const struct cpu_kernels *kern;
};

#define REL_QB 4   /* query rows per work item */
#define REL_KB 256 /* keys per tile */

/* One work item: REL_QB query rows of one head, over tiles of REL_KB keys with a running maximum and sum (so the
 * memory does not grow with the sentence). Scores and value sums go through the attention tile kernels; the
 * window's relative terms are added per query: the keys' scores before the softmax, the relative values after. */
static void relattn_items(void *arg, int64_t i0, int64_t i1)
{
    const struct relattn_job *jb = arg;
    const struct cpu_kernels *K = jb->kern;
    const struct qw_rel_attn_params *p = &jb->p;
    const int hd = p->head_dim, W = p->window, R = 2 * W + 1;
    const int64_t T = jb->k.rows, n_blocks = (jb->q.rows + REL_QB - 1) / REL_QB;
    float qs[REL_QB][MAX_REL_HEAD_DIM], acc[REL_QB][MAX_REL_HEAD_DIM], rel[REL_QB][2 * MAX_REL_WINDOW + 1];
    float s[REL_QB][REL_KB], mx[REL_QB], l[REL_QB];
    for (int64_t it = i0; it < i1; it++) {
        const int h = (int)(it / n_blocks);
        const int64_t q0 = it % n_blocks * REL_QB;
        const int nq = jb->q.rows - q0 < REL_QB ? (int)(jb->q.rows - q0) : REL_QB;
        for (int a = 0; a < nq; a++) {
            const float *q = cpu_row(jb->q, q0 + a) + (size_t)h * hd;
            for (int d = 0; d < hd; d++) qs[a][d] = q[d] * p->scale;
            K->attn_scores(qs[a], 1, cpu_row(jb->ek, 0), jb->ek.stride, R, hd, rel[a], R);
            memset(acc[a], 0, (size_t)hd * sizeof(float));
            mx[a] = -INFINITY;
            l[a] = 0.0f;
        }
        for (int64_t j0 = 0; j0 < T; j0 += REL_KB) {
            const int nk = T - j0 < REL_KB ? (int)(T - j0) : REL_KB;
            for (int a = 0; a < nq; a++)
                K->attn_scores(qs[a], 1, cpu_row(jb->k, j0) + (size_t)h * hd, jb->k.stride, nk, hd, s[a], REL_KB);
            for (int a = 0; a < nq; a++) {
                const int64_t i = q0 + a;
                for (int r = 0; r < R; r++) {
                    int64_t j = i + r - W - j0;
                    if (j >= 0 && j < nk) s[a][j] += rel[a][r];
                }
                float m = mx[a];
                for (int j = 0; j < nk; j++) m = s[a][j] > m ? s[a][j] : m;
                const float c = mx[a] == -INFINITY ? 0.0f : expf(mx[a] - m);
                if (c != 1.0f)
                    for (int d = 0; d < hd; d++) acc[a][d] *= c;
                l[a] = l[a] * c + K->exp_sum(s[a], nk, m);
                mx[a] = m;
            }
            for (int a = 0; a < nq; a++)
                K->attn_accum(acc[a], 1, s[a], REL_KB, cpu_row(jb->v, j0) + (size_t)h * hd, jb->v.stride, nk, hd);
            for (int a = 0; a < nq; a++)
                for (int r = 0; r < R; r++) {
                    int64_t j = q0 + a + r - W - j0;
                    if (j < 0 || j >= nk) continue;
                    const float *evr = cpu_row(jb->ev, r);
                    for (int d = 0; d < hd; d++) acc[a][d] += s[a][j] * evr[d];
                }
        }
        for (int a = 0; a < nq; a++) {
            float *y = cpu_row(jb->y, q0 + a) + (size_t)h * hd, inv = 1.0f / l[a];
            for (int d = 0; d < hd; d++) y[d] = acc[a][d] * inv;
        }
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
    struct relattn_job jb = {y, q, k, v, ek, ev, *p, &c->k};
    cpu_parallel(c, (q.rows + REL_QB - 1) / REL_QB * p->n_heads, REL_QB * k.rows * p->head_dim * 3, relattn_items,
                 &jb);
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
