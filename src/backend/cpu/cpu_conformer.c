/* Ops the speech encoders use: 2-D convolution over (time, width, channels) activations and self-attention with
 * relative positions. */
#include <math.h>
#include <stdatomic.h>
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

/* ---- relative-position attention ----
 *
 * Items are (block of query rows, head), handed to the threads first come first served. Up to REL_FULL_MAX valid
 * frames an item holds whole rows of scores (relattn_full_item); beyond, it walks the valid keys in tiles of REL_TK
 * with an online softmax, as prefill attention does (relattn_item): the content scores (q + u) . k_j come from the attn_scores kernel, and so
 * do the position scores (q + v_bias) . p_r for the rows r = T - 1 - i + j the tile's queries and keys need
 * (REL_QB + REL_TK - 1 rows, a band shared by the whole block); query t then takes its diagonal of that band. */
#define REL_QB 32
#define REL_TK 128

struct relattn_job {
    struct cpu_ctx *c;
    struct qw_tensor y, q, k, v, p, u, vb;
    struct qw_relattn_params prm;
    int64_t T;
    void (*item)(const struct relattn_job *jb, long item, float *scratch);
    long n_items;
    atomic_long next;
};

/* Rows [i0, i0 + nq) of head h as (q + u) scale and (q + v_bias) scale, [nq][hd] each. */
static void relattn_queries(const struct relattn_job *jb, int h, int i0, int nq, float *qu, float *qv)
{
    const int hd = jb->prm.head_dim;
    const float *u = cpu_row(jb->u, 0) + (size_t)h * hd, *vb = cpu_row(jb->vb, 0) + (size_t)h * hd;
    for (int t = 0; t < nq; t++) {
        const float *q = cpu_row(jb->q, i0 + t) + (size_t)h * hd;
        for (int d = 0; d < hd; d++) {
            qu[(size_t)t * hd + d] = (q[d] + u[d]) * jb->prm.scale;
            qv[(size_t)t * hd + d] = (q[d] + vb[d]) * jb->prm.scale;
        }
    }
}

static size_t relattn_floats(int hd)
{
    return 3 * (size_t)REL_QB * hd + (size_t)REL_QB * REL_TK + (size_t)REL_QB * (REL_TK + REL_QB) + 2 * REL_QB;
}

static void relattn_item(const struct relattn_job *jb, long item, float *scratch)
{
    const struct cpu_kernels *kn = &jb->c->k;
    const int hd = jb->prm.head_dim, H = jb->prm.n_heads, nv = jb->prm.n_valid, BW = REL_TK + REL_QB;
    const int h = (int)(item % H), i0 = (int)(item / H) * REL_QB;
    const int nq = nv - i0 < REL_QB ? nv - i0 : REL_QB;
    float *qu = scratch, *qv = qu + (size_t)REL_QB * hd, *acc = qv + (size_t)REL_QB * hd;
    float *s = acc + (size_t)REL_QB * hd, *band = s + (size_t)REL_QB * REL_TK, *mx = band + (size_t)REL_QB * BW;
    float *sum = mx + REL_QB;
    relattn_queries(jb, h, i0, nq, qu, qv);
    for (int t = 0; t < nq; t++) mx[t] = -INFINITY, sum[t] = 0.0f;
    memset(acc, 0, (size_t)nq * hd * sizeof *acc);
    for (int j0 = 0; j0 < nv; j0 += REL_TK) {
        const int nk = nv - j0 < REL_TK ? nv - j0 : REL_TK;
        kn->attn_scores(qu, nq, cpu_row(jb->k, j0) + (size_t)h * hd, jb->k.stride, nk, hd, s, REL_TK);
        /* query t, key j0 + j reads position row r0 + (nq - 1 - t) + j */
        const int64_t r0 = jb->T - 1 - (i0 + nq - 1) + j0;
        kn->attn_scores(qv, nq, cpu_row(jb->p, r0) + (size_t)h * hd, jb->p.stride, nq + nk - 1, hd, band, BW);
        for (int t = 0; t < nq; t++) {
            float *st = s + (size_t)t * REL_TK;
            const float *bt = band + (size_t)t * BW + (nq - 1 - t);
            float m = mx[t];
            for (int j = 0; j < nk; j++) {
                st[j] += bt[j];
                m = st[j] > m ? st[j] : m;
            }
            if (m > mx[t]) {
                const float corr = mx[t] == -INFINITY ? 0.0f : expf(mx[t] - m);
                sum[t] *= corr;
                for (int d = 0; d < hd; d++) acc[(size_t)t * hd + d] *= corr;
                mx[t] = m;
            }
            sum[t] += kn->exp_sum(st, nk, mx[t]);
        }
        kn->attn_accum(acc, nq, s, REL_TK, cpu_row(jb->v, j0) + (size_t)h * hd, jb->v.stride, nk, hd);
    }
    for (int t = 0; t < nq; t++) {
        float *y = cpu_row(jb->y, i0 + t) + (size_t)h * hd;
        const float inv = sum[t] > 0 ? 1.0f / sum[t] : 0.0f;
        for (int d = 0; d < hd; d++) y[d] = acc[(size_t)t * hd + d] * inv;
    }
}

/* The same item as whole rows: up to REL_FULL_MAX valid keys, an item of REL_GB query rows holds all its scores,
 * and the three products run on the backend's f32 matrix kernel (gemm), which packs its operands into panels and
 * is several times faster than per-query dot products: content scores [nq, nv], the position band
 * [nq, nq + nv - 1], and the weighted values against V transposed [hd, nv]. */
#define REL_GB 128
#define REL_FULL_MAX 4096

static size_t relattn_full_floats(int hd, int nv)
{
    return 2 * (size_t)REL_GB * hd + (size_t)REL_GB * nv + (size_t)REL_GB * (REL_GB + nv) + (size_t)hd * nv + REL_GB;
}

static void relattn_full_item(const struct relattn_job *jb, long item, float *scratch)
{
    const struct cpu_kernels *kn = &jb->c->k;
    const cpu_gemm_fn gemm = kn->gemm[QW_DTYPE_F32];
    const int hd = jb->prm.head_dim, H = jb->prm.n_heads, nv = jb->prm.n_valid;
    const int h = (int)(item % H), i0 = (int)(item / H) * REL_GB;
    const int nq = nv - i0 < REL_GB ? nv - i0 : REL_GB, nb = nq + nv - 1;
    float *qu = scratch, *qv = qu + (size_t)REL_GB * hd, *s = qv + (size_t)REL_GB * hd;
    float *band = s + (size_t)REL_GB * nv, *vt = band + (size_t)REL_GB * (REL_GB + nv), *inv = vt + (size_t)hd * nv;
    relattn_queries(jb, h, i0, nq, qu, qv);
    struct cpu_gemm g = {.wtype = QW_DTYPE_F32, .k = hd, .n = nq, .x = qu, .x_stride = hd, .y = s, .y_stride = nv};
    g.w = (const uint8_t *)(cpu_row(jb->k, 0) + (size_t)h * hd);
    g.w_stride = (size_t)jb->k.stride * sizeof(float);
    gemm(&g, 0, nv);
    /* query t, key j reads position row r0 + (nq - 1 - t) + j */
    const int64_t r0 = jb->T - 1 - (i0 + nq - 1);
    g.w = (const uint8_t *)(cpu_row(jb->p, r0) + (size_t)h * hd);
    g.w_stride = (size_t)jb->p.stride * sizeof(float);
    g.x = qv, g.y = band, g.y_stride = nb;
    gemm(&g, 0, nb);
    for (int t = 0; t < nq; t++) {
        float *st = s + (size_t)t * nv;
        const float *bt = band + (size_t)t * nb + (nq - 1 - t);
        float m = -INFINITY;
        for (int j = 0; j < nv; j++) {
            st[j] += bt[j];
            m = st[j] > m ? st[j] : m;
        }
        const float sum = kn->exp_sum(st, nv, m);
        inv[t] = sum > 0 ? 1.0f / sum : 0.0f;
    }
    for (int j = 0; j < nv; j++) {
        const float *vj = cpu_row(jb->v, j) + (size_t)h * hd;
        for (int d = 0; d < hd; d++) vt[(size_t)d * nv + j] = vj[d];
    }
    float *y = cpu_row(jb->y, i0) + (size_t)h * hd;
    g = (struct cpu_gemm){.wtype = QW_DTYPE_F32, .w = (const uint8_t *)vt, .w_stride = (size_t)nv * sizeof(float),
                          .k = nv, .n = nq, .x = s, .x_stride = nv, .y = y, .y_stride = jb->y.stride};
    gemm(&g, 0, hd);
    for (int t = 0; t < nq; t++)
        for (int d = 0; d < hd; d++) y[(size_t)t * jb->y.stride + d] *= inv[t];
}

static void relattn_thunk(void *arg, int ith, int nth)
{
    (void)nth;
    struct relattn_job *jb = arg;
    float *scratch = jb->c->thread[ith].p;
    for (;;) {
        long it = atomic_fetch_add_explicit(&jb->next, 1, memory_order_relaxed);
        if (it >= jb->n_items) break;
        jb->item(jb, it, scratch);
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
    /* padded query rows attend to nothing */
    for (int64_t i = prm->n_valid; i < T; i++) memset(cpu_row(y, i), 0, (size_t)D * sizeof(float));
    if (prm->n_valid == 0) return;
    struct relattn_job jb = {.c = c, .y = y, .q = q, .k = k, .v = v, .p = p, .u = u, .vb = v_bias, .prm = *prm, .T = T};
    const bool full = prm->n_valid <= REL_FULL_MAX;
    const int rows_per_item = full ? REL_GB : REL_QB;
    jb.item = full ? relattn_full_item : relattn_item;
    jb.n_items = (long)((prm->n_valid + rows_per_item - 1) / rows_per_item) * prm->n_heads;
    const size_t floats = full ? relattn_full_floats(prm->head_dim, prm->n_valid) : relattn_floats(prm->head_dim);
    atomic_init(&jb.next, 0);
    pthread_mutex_lock(&c->lock);
    const int nth = jb.n_items < 2 ? 1 : c->n_threads;
    bool ok = true;
    for (int i = 0; i < nth && ok; i++) ok = cpu_scratch_get(c, &c->thread[i], floats * sizeof(float)) != NULL;
    if (ok && nth == 1)
        for (long it = 0; it < jb.n_items; it++) jb.item(&jb, it, c->thread[0].p);
    else if (ok)
        qw_pool_run(c->pool, relattn_thunk, &jb);
    pthread_mutex_unlock(&c->lock);
}
