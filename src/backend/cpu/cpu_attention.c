/* Attention over keys and values (f32, or f16 as a KV cache keeps them), tiled with an online softmax.
 *
 * A work item is one KV head and a tile of query rows: the query vectors of all the heads that share that KV head
 * (grouped-query attention) for those rows, at most MAX_QV of them. The item walks the keys in tiles of TILE_K:
 * scores for the tile (n_q x TILE_K), a running maximum and sum per query vector, and the weighted values added
 * to an accumulator. So each key and value row is read (and converted from f16) once per item, no score matrix
 * beyond one tile exists, and memory stays O(MAX_QV x head_dim) per thread at any context length. Causal items
 * stop at the last key their rows may see. */
#include <math.h>
#include <string.h>

#include "cpu_impl.h"

#define MAX_HEAD_DIM 512
#define TILE_K 64
#define MAX_QV 32 /* query vectors per item */
#define PREFETCH_ROWS 32 /* cache rows requested ahead of the tile being read */

struct attn_job {
    struct cpu_ctx *c;
    struct qw_tensor y, q, k, v;
    struct qw_attn_params p;
    int rows_per_item, n_row_tiles;
    int64_t n_items;
};

/* Per-thread tiles: queries, accumulators, scores, running max and sum, converted keys and values. */
static size_t tile_floats(int hd) { return (size_t)MAX_QV * (2 * (size_t)hd + TILE_K + 2) + 2 * (size_t)TILE_K * hd; }

/* Asks for rows [j0, j0 + n) of head kvh of a cache ahead of use: a head's rows are short (head_dim values) and a
 * whole row of heads apart, a pattern the hardware prefetchers follow poorly, and decode reads the cache from
 * DRAM. */
static void kv_prefetch(struct qw_tensor t, int kvh, int hd, int j0, int n)
{
    const size_t row = qw_row_bytes(t.dtype, t.stride), bytes = qw_row_bytes(t.dtype, hd);
    const uint8_t *base = (const uint8_t *)cpu_ptr(t) + (size_t)kvh * bytes;
    for (int j = j0; j < j0 + n; j++)
        for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(base + (size_t)j * row + b, 0, 3);
}

/* Rows [j0, j0 + n) of a K or V cache as f32 rows: in place for f32, converted into buf for f16. Either way the
 * rows PREFETCH_ROWS further on (up to n_keys) are requested meanwhile, a few at a time. */
static const float *kv_tile(const struct cpu_kernels *k, struct qw_tensor t, int kvh, int hd, int j0, int n,
                            int n_keys, float *buf, int64_t *stride)
{
    for (int j = j0 + PREFETCH_ROWS; j < j0 + n + PREFETCH_ROWS && j < n_keys; j++) kv_prefetch(t, kvh, hd, j, 1);
    if (t.dtype == QW_DTYPE_F32) {
        *stride = t.stride;
        return cpu_row(t, j0) + (size_t)kvh * hd;
    }
    const uint16_t *base = (const uint16_t *)cpu_ptr(t) + (size_t)kvh * hd;
    for (int j = 0; j < n; j++) k->from_f16(base + (size_t)(j0 + j) * t.stride, buf + (size_t)j * hd, hd);
    *stride = hd;
    return buf;
}

static void attn_item(const struct attn_job *jb, int64_t item, float *scratch)
{
    const struct qw_attn_params *p = &jb->p;
    const struct cpu_kernels *kn = &jb->c->k;
    const int hd = p->head_dim, group = p->n_heads / p->n_kv_heads;
    const int kvh = (int)(item / jb->n_row_tiles), tile = (int)(item % jb->n_row_tiles);
    const int row0 = tile * jb->rows_per_item;
    const int n_rows = (int)(jb->q.rows - row0 < jb->rows_per_item ? jb->q.rows - row0 : jb->rows_per_item);
    const int n_q = n_rows * group;
    float *qb = scratch, *acc = qb + (size_t)MAX_QV * hd, *s = acc + (size_t)MAX_QV * hd;
    float *mx = s + (size_t)MAX_QV * TILE_K, *sum = mx + MAX_QV;
    float *kt = sum + MAX_QV, *vt = kt + (size_t)TILE_K * hd;
    /* query vector i = (row i / group, head kvh * group + i % group), pre-scaled */
    for (int i = 0; i < n_q; i++) {
        const float *src = cpu_row(jb->q, row0 + i / group) + (size_t)(kvh * group + i % group) * hd;
        for (int d = 0; d < hd; d++) qb[(size_t)i * hd + d] = src[d] * p->scale;
        mx[i] = -INFINITY;
        sum[i] = 0.0f;
    }
    memset(acc, 0, (size_t)n_q * hd * sizeof *acc);
    int n_keys = p->causal ? p->q_pos0 + row0 + n_rows : p->n_kv;
    if (n_keys > p->n_kv) n_keys = p->n_kv;
    kv_prefetch(jb->k, kvh, hd, 0, n_keys < PREFETCH_ROWS ? n_keys : PREFETCH_ROWS);
    kv_prefetch(jb->v, kvh, hd, 0, n_keys < PREFETCH_ROWS ? n_keys : PREFETCH_ROWS);
    for (int j0 = 0; j0 < n_keys; j0 += TILE_K) {
        const int nk = n_keys - j0 < TILE_K ? n_keys - j0 : TILE_K;
        int64_t ks, vs;
        const float *kp = kv_tile(kn, jb->k, kvh, hd, j0, nk, n_keys, kt, &ks);
        kn->attn_scores(qb, n_q, kp, ks, nk, hd, s, TILE_K);
        for (int i = 0; i < n_q; i++) {
            float *si = s + (size_t)i * TILE_K;
            int valid = nk;
            if (p->causal) {
                int limit = p->q_pos0 + row0 + i / group + 1 - j0; /* keys this row may see in the tile */
                valid = limit < 0 ? 0 : limit < nk ? limit : nk;
            }
            float m = mx[i];
            for (int j = 0; j < valid; j++) m = si[j] > m ? si[j] : m;
            if (valid > 0 && m > mx[i]) {
                float corr = mx[i] == -INFINITY ? 0.0f : expf(mx[i] - m);
                sum[i] *= corr;
                for (int d = 0; d < hd; d++) acc[(size_t)i * hd + d] *= corr;
                mx[i] = m;
            }
            sum[i] += valid > 0 ? kn->exp_sum(si, valid, mx[i]) : 0.0f;
            for (int j = valid; j < nk; j++) si[j] = 0.0f;
        }
        const float *vp = kv_tile(kn, jb->v, kvh, hd, j0, nk, n_keys, vt, &vs);
        kn->attn_accum(acc, n_q, s, TILE_K, vp, vs, nk, hd);
    }
    for (int i = 0; i < n_q; i++) {
        float *dst = cpu_row(jb->y, row0 + i / group) + (size_t)(kvh * group + i % group) * hd;
        float inv = sum[i] > 0 ? 1.0f / sum[i] : 0.0f;
        for (int d = 0; d < hd; d++) dst[d] = acc[(size_t)i * hd + d] * inv;
    }
}

static void attn_thunk(void *arg, int ith, int nth)
{
    const struct attn_job *jb = arg;
    float *scratch = jb->c->thread[ith].p;
    long lo, hi;
    qw_split_rows((long)jb->n_items, ith, nth, 1, &lo, &hi);
    for (long it = lo; it < hi; it++) attn_item(jb, it, scratch);
}

void cpu_attention(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                   const struct qw_attn_params *p)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "attention", "y") || !cpu_check_f32(c, q, "attention", "q") ||
        !cpu_check_bounds(c, k, "attention", "k") || !cpu_check_bounds(c, v, "attention", "v"))
        return;
    if (!cpu_check(c, (k.dtype == QW_DTYPE_F32 || k.dtype == QW_DTYPE_F16) && v.dtype == k.dtype,
                   "attention: keys and values must both be f32 or f16") ||
        !cpu_check(c, p->head_dim > 0 && p->head_dim <= MAX_HEAD_DIM && p->n_kv_heads > 0 &&
                          p->n_heads % p->n_kv_heads == 0 && p->n_heads / p->n_kv_heads <= MAX_QV,
                   "attention: bad head layout") ||
        !cpu_check(c, q.cols == (int64_t)p->n_heads * p->head_dim && y.cols == q.cols && y.rows == q.rows,
                   "attention: q/y shape") ||
        !cpu_check(c, k.cols == (int64_t)p->n_kv_heads * p->head_dim && v.cols == k.cols && p->n_kv <= k.rows &&
                          p->n_kv <= v.rows && p->n_kv >= 0,
                   "attention: k/v shape") ||
        !cpu_check(c, !p->causal || (p->q_pos0 >= 0 && p->q_pos0 + q.rows <= (int64_t)p->n_kv),
                   "attention: queries at positions %d.. see only %d keys", p->q_pos0, p->n_kv))
        return;
    if (q.rows == 0) return;
    const int group = p->n_heads / p->n_kv_heads;
    struct attn_job jb = {c, y, q, k, v, *p, MAX_QV / group, 0, 0};
    jb.n_row_tiles = (int)((q.rows + jb.rows_per_item - 1) / jb.rows_per_item);
    jb.n_items = (int64_t)jb.n_row_tiles * p->n_kv_heads;
    pthread_mutex_lock(&c->lock);
    int nth = c->n_threads;
    if (jb.n_items < 2 || (int64_t)p->n_kv * q.rows * p->n_heads * p->head_dim < 16384) nth = 1;
    for (int i = 0; i < nth; i++)
        if (!cpu_scratch_get(c, &c->thread[i], tile_floats(p->head_dim) * sizeof(float))) goto done;
    if (nth == 1) {
        for (int64_t it = 0; it < jb.n_items; it++) attn_item(&jb, it, c->thread[0].p);
    } else {
        qw_pool_run(c->pool, attn_thunk, &jb);
    }
done:
    pthread_mutex_unlock(&c->lock);
}
