/* Ops the speech encoders use: 2-D convolution over (time, width, channels) activations and self-attention with
 * relative positions. */
#include <math.h>
#include <string.h>

#include "base/mem.h"
#include "cpu_impl.h"

#define MAX_HEAD_DIM 512

/* ---- conv2d ---- */

struct conv2d_job {
    struct qw_tensor y, x, w, b;
    struct qw_conv2d_params p;
    int64_t w_out;
    const float *wt; /* one input channel per group: weights as [tap][c_out], or NULL */
};

static void conv2d_rows(void *arg, int64_t t0, int64_t t1)
{
    const struct conv2d_job *j = arg;
    const struct qw_conv2d_params *p = &j->p;
    const int64_t cg = p->c_in / p->groups, og = p->c_out / p->groups, T_in = j->x.rows;
    const int kt = p->kernel_t, kw = p->kernel_w;
    const float *w = cpu_ptr(j->w), *b = qw_tensor_present(j->b) ? cpu_row(j->b, 0) : NULL;
    const int64_t w_row = j->w.stride;
    for (int64_t t = t0; t < t1; t++) {
        float *y = cpu_row(j->y, t);
        for (int64_t u = 0; u < j->w_out; u++) {
            float *yu = y + u * p->c_out;
            for (int64_t o = 0; o < p->c_out; o++) yu[o] = b ? b[o] : 0.0f;
            for (int i = 0; i < kt; i++) {
                int64_t ti = t * p->stride_t + i - p->pad_t;
                if (ti < 0 || ti >= T_in) continue;
                const float *x = cpu_row(j->x, ti);
                for (int jj = 0; jj < kw; jj++) {
                    int64_t wi = u * p->stride_w + jj - p->pad_w;
                    if (wi < 0 || wi >= p->w_in) continue;
                    const float *xw = x + wi * p->c_in;
                    const int64_t tap = (int64_t)(i * kw + jj) * cg;
                    if (j->wt && og == 1) {
                        /* depthwise: contiguous in channels, so the loop vectorises */
                        const float *wt = j->wt + tap * p->c_out;
                        for (int64_t o = 0; o < p->c_out; o++) yu[o] += wt[o] * xw[o];
                    } else if (j->wt && og == p->c_out) {
                        /* a single input channel feeding every output channel */
                        const float *wt = j->wt + tap * p->c_out, xv = xw[0];
                        for (int64_t o = 0; o < p->c_out; o++) yu[o] += wt[o] * xv;
                    } else if (cg == 1) {
                        for (int64_t o = 0; o < p->c_out; o++) yu[o] += w[o * w_row + tap] * xw[o / og];
                    } else {
                        for (int64_t o = 0; o < p->c_out; o++) {
                            const float *wo = w + o * w_row + tap, *xg = xw + (o / og) * cg;
                            float s = 0.0f;
                            for (int64_t c = 0; c < cg; c++) s += wo[c] * xg[c];
                            yu[o] += s;
                        }
                    }
                }
            }
        }
    }
}

void cpu_conv2d(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                const struct qw_conv2d_params *p)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "conv2d", "y") || !cpu_check_f32(c, x, "conv2d", "x") ||
        !cpu_check_f32(c, w, "conv2d", "w"))
        return;
    if (!cpu_check(c, p->kernel_t > 0 && p->kernel_w > 0 && p->stride_t > 0 && p->stride_w > 0 && p->pad_t >= 0 &&
                          p->pad_w >= 0 && p->groups > 0 && p->c_in > 0 && p->c_out > 0 && p->w_in > 0 &&
                          p->c_in % p->groups == 0 && p->c_out % p->groups == 0,
                   "conv2d: bad parameters"))
        return;
    int64_t w_out = qw_conv2d_out_w(p), cg = p->c_in / p->groups;
    if (!cpu_check(c, w_out > 0 && x.cols == (int64_t)p->w_in * p->c_in && y.cols == w_out * p->c_out &&
                          y.rows == qw_conv2d_out_t(x.rows, p) && w.rows == p->c_out &&
                          w.cols == (int64_t)p->kernel_t * p->kernel_w * cg,
                   "conv2d: y %lldx%lld, x %lldx%lld, w %lldx%lld do not fit the parameters", (long long)y.rows,
                   (long long)y.cols, (long long)x.rows, (long long)x.cols, (long long)w.rows, (long long)w.cols))
        return;
    if (qw_tensor_present(b) &&
        (!cpu_check_f32(c, b, "conv2d", "b") || !cpu_check(c, b.cols == p->c_out, "conv2d: b")))
        return;
    struct conv2d_job j = {y, x, w, b, *p, w_out, NULL};
    float *wt = NULL;
    if (cg == 1 && (wt = qw_malloc((size_t)(w.cols * p->c_out) * sizeof(float)))) {
        const float *src = cpu_ptr(w);
        for (int64_t o = 0; o < p->c_out; o++)
            for (int64_t t = 0; t < w.cols; t++) wt[t * p->c_out + o] = src[o * w.stride + t];
        j.wt = wt;
    }
    cpu_parallel(c, y.rows, y.cols * w.cols, conv2d_rows, &j);
    qw_free(wt);
}

/* ---- relative-position attention ---- */

struct relattn_job {
    struct qw_tensor y, q, k, v, p, u, vb;
    struct qw_relattn_params prm;
    int64_t T;
    cpu_dot_fn dot;
};

/* Work items are (query row, head) pairs. Online softmax over the keys: O(head_dim) memory per thread. */
static void relattn_items(void *arg, int64_t i0, int64_t i1)
{
    const struct relattn_job *jb = arg;
    const int hd = jb->prm.head_dim, H = jb->prm.n_heads, nv = jb->prm.n_valid;
    float qu[MAX_HEAD_DIM], qv[MAX_HEAD_DIM], acc[MAX_HEAD_DIM];
    for (int64_t it = i0; it < i1; it++) {
        int64_t i = it / H;
        int h = (int)(it % H);
        float *y = cpu_row(jb->y, i) + (size_t)h * hd;
        if (i >= nv) {
            memset(y, 0, (size_t)hd * sizeof(float));
            continue;
        }
        const float *q = cpu_row(jb->q, i) + (size_t)h * hd;
        const float *u = cpu_row(jb->u, 0) + (size_t)h * hd, *vb = cpu_row(jb->vb, 0) + (size_t)h * hd;
        for (int d = 0; d < hd; d++) {
            qu[d] = q[d] + u[d];
            qv[d] = q[d] + vb[d];
            acc[d] = 0.0f;
        }
        float m = -INFINITY, l = 0.0f;
        for (int j = 0; j < nv; j++) {
            const float *kj = cpu_row(jb->k, j) + (size_t)h * hd;
            const float *pj = cpu_row(jb->p, jb->T - 1 - i + j) + (size_t)h * hd;
            float s = (jb->dot(kj, qu, hd) + jb->dot(pj, qv, hd)) * jb->prm.scale;
            if (s > m) {
                float corr = expf(m - s);
                l *= corr;
                for (int d = 0; d < hd; d++) acc[d] *= corr;
                m = s;
            }
            float w = expf(s - m);
            l += w;
            const float *vj = cpu_row(jb->v, j) + (size_t)h * hd;
            for (int d = 0; d < hd; d++) acc[d] += w * vj[d];
        }
        float inv = l > 0 ? 1.0f / l : 0.0f;
        for (int d = 0; d < hd; d++) y[d] = acc[d] * inv;
    }
}

void cpu_attention_relpos(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                          struct qw_tensor p, struct qw_tensor u, struct qw_tensor v_bias,
                          const struct qw_relattn_params *prm)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "attention_relpos", "y") || !cpu_check_f32(c, q, "attention_relpos", "q") ||
        !cpu_check_f32(c, k, "attention_relpos", "k") || !cpu_check_f32(c, v, "attention_relpos", "v") ||
        !cpu_check_f32(c, p, "attention_relpos", "p") || !cpu_check_f32(c, u, "attention_relpos", "u") ||
        !cpu_check_f32(c, v_bias, "attention_relpos", "v_bias"))
        return;
    int64_t T = q.rows, D = (int64_t)prm->n_heads * prm->head_dim;
    if (!cpu_check(c, prm->head_dim > 0 && prm->head_dim <= MAX_HEAD_DIM && prm->n_heads > 0,
                   "attention_relpos: bad head layout") ||
        !cpu_check(c, q.cols == D && k.cols == D && v.cols == D && y.cols == D && p.cols == D && u.cols == D &&
                          v_bias.cols == D && k.rows == T && v.rows == T && y.rows == T && p.rows == 2 * T - 1 &&
                          prm->n_valid >= 0 && prm->n_valid <= T,
                   "attention_relpos: shapes (T %lld, p %lldx%lld, %d valid)", (long long)T, (long long)p.rows,
                   (long long)p.cols, prm->n_valid))
        return;
    struct relattn_job jb = {y, q, k, v, p, u, v_bias, *prm, T, c->k.dot[QW_DTYPE_F32]};
    cpu_parallel(c, T * prm->n_heads, (int64_t)prm->n_valid * prm->head_dim * 3, relattn_items, &jb);
}
