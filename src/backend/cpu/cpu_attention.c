/* Attention over keys and values (f32, or f16 as a KV cache keeps them), tiled with an online softmax.
 *
 * A work item is one KV head and a tile of query rows: the query vectors of all the heads that share that KV head
 * (grouped-query attention) for those rows, at most MAX_QV of them. The item walks the keys in tiles of TILE_K:
 * scores for the tile (n_q x TILE_K), a running maximum and sum per query vector, and the weighted values added
 * to an accumulator. So each key and value row is read (and converted from f16) once per item, no score matrix
 * beyond one tile exists, and memory stays O(MAX_QV x head_dim) per thread at any context length. Causal items
 * stop at the last key their rows may see. A single query row (decode) splits the keys between the threads
 * instead (below). */
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

/* Rows [j0, j0 + n) of a K or V cache, columns [c0, c0 + width), as f32 rows: in place for f32, converted into buf
 * for f16. Meanwhile the same columns of the rows `ahead` further on (up to n_keys) are requested: decode reads the
 * cache from DRAM, and a head's columns are a piece of each row, a pattern the hardware prefetchers follow
 * poorly. */
static const float *kv_tile(const struct cpu_kernels *k, struct qw_tensor t, int64_t c0, int64_t width, int j0, int n,
                            int n_keys, int ahead, float *buf, int64_t *stride)
{
    const size_t esize = qw_dtype_block_bytes(t.dtype), row = esize * (size_t)t.stride, bytes = esize * (size_t)width;
    const uint8_t *base = (const uint8_t *)cpu_ptr(t) + esize * (size_t)c0;
    for (int j = 0; j < n; j++) {
        if (ahead && j0 + j + ahead < n_keys)
            for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(base + (size_t)(j0 + j + ahead) * row + b, 0, 3);
        if (t.dtype == QW_DTYPE_F16)
            k->from_f16((const uint16_t *)(base + (size_t)(j0 + j) * row), buf + (size_t)j * width, width);
    }
    if (t.dtype == QW_DTYPE_F32) {
        *stride = t.stride;
        return (const float *)(base + (size_t)j0 * row);
    }
    *stride = width;
    return buf;
}

/* The running state of n_q query vectors against the keys seen so far: query vectors (pre-scaled), unnormalised
 * value sums, running maxima and sums of exponentials. */
struct attn_state {
    float *q, *acc, *mx, *sum;
    int n_q;
};

/* One query vector's running softmax takes n more scores s (n >= 0): the maximum *mx moves up to theirs (the sum
 * and the value accumulator acc [hd] rescaled to it), s becomes exp(s - *mx) and its sum is added to *sum. */
static void softmax_step(const struct cpu_kernels *kn, float *s, int n, float *mx, float *sum, float *acc, int hd)
{
    if (n <= 0) return;
    float lane[16], m = *mx; /* 16 independent maxima, so that the loop vectorises */
    for (int u = 0; u < 16; u++) lane[u] = -INFINITY;
    for (int j = 0; j < n; j++) lane[j % 16] = s[j] > lane[j % 16] ? s[j] : lane[j % 16];
    for (int u = 0; u < 16; u++) m = lane[u] > m ? lane[u] : m;
    if (m > *mx) {
        const float corr = *mx == -INFINITY ? 0.0f : expf(*mx - m);
        *sum *= corr;
        for (int d = 0; d < hd; d++) acc[d] *= corr;
        *mx = m;
    }
    *sum += kn->exp_sum(s, n, *mx);
}

/* Keys [j0, j0 + nk) for the query vectors of st, whose row (for the causal mask) is row0 + i / group: keys
 * and values as f32 rows at kp and vp; s: score scratch. */
static void tile_rows_update(const struct attn_job *jb, int row0, int j0, int nk, const struct attn_state *st,
                             float *s, const float *kp, int64_t ks, const float *vp, int64_t vs)
{
    const struct qw_attn_params *p = &jb->p;
    const struct cpu_kernels *kn = &jb->c->k;
    const int hd = p->head_dim, group = p->n_heads / p->n_kv_heads;
    kn->attn_scores(st->q, st->n_q, kp, ks, nk, hd, s, TILE_K);
    for (int i = 0; i < st->n_q; i++) {
        float *si = s + (size_t)i * TILE_K;
        int valid = nk;
        if (p->causal) {
            int limit = p->q_pos0 + row0 + i / group + 1 - j0; /* keys this row may see in the tile */
            valid = limit < 0 ? 0 : limit < nk ? limit : nk;
        }
        softmax_step(kn, si, valid, &st->mx[i], &st->sum[i], st->acc + (size_t)i * hd, hd);
        for (int j = valid; j < nk; j++) si[j] = 0.0f;
    }
    kn->attn_accum(st->acc, st->n_q, s, TILE_K, vp, vs, nk, hd);
}

/* Keys [j0, j0 + nk) of head kvh for the query vectors of st; kt, vt: tiles for f16 caches. */
static void tile_update(const struct attn_job *jb, int kvh, int row0, int j0, int nk, int n_keys,
                        const struct attn_state *st, float *s, float *kt, float *vt)
{
    int64_t ks, vs;
    const int hd = jb->p.head_dim;
    const float *kp = kv_tile(&jb->c->k, jb->k, (int64_t)kvh * hd, hd, j0, nk, n_keys, PREFETCH_ROWS, kt, &ks);
    const float *vp = kv_tile(&jb->c->k, jb->v, (int64_t)kvh * hd, hd, j0, nk, n_keys, PREFETCH_ROWS, vt, &vs);
    tile_rows_update(jb, row0, j0, nk, st, s, kp, ks, vp, vs);
}

/* Query vectors i < n_q of head group kvh, rows from row0, into st (scaled), with an empty running state. */
static void state_init(const struct attn_job *jb, int kvh, int row0, const struct attn_state *st)
{
    const int hd = jb->p.head_dim, group = jb->p.n_heads / jb->p.n_kv_heads;
    for (int i = 0; i < st->n_q; i++) {
        const float *src = cpu_row(jb->q, row0 + i / group) + (size_t)(kvh * group + i % group) * hd;
        for (int d = 0; d < hd; d++) st->q[(size_t)i * hd + d] = src[d] * jb->p.scale;
        st->mx[i] = -INFINITY;
        st->sum[i] = 0.0f;
    }
    memset(st->acc, 0, (size_t)st->n_q * hd * sizeof *st->acc);
}

static void attn_item(const struct attn_job *jb, int64_t item, float *scratch)
{
    const struct qw_attn_params *p = &jb->p;
    const int hd = p->head_dim, group = p->n_heads / p->n_kv_heads;
    const int kvh = (int)(item / jb->n_row_tiles), tile = (int)(item % jb->n_row_tiles);
    const int row0 = tile * jb->rows_per_item;
    const int n_rows = (int)(jb->q.rows - row0 < jb->rows_per_item ? jb->q.rows - row0 : jb->rows_per_item);
    float *qb = scratch, *acc = qb + (size_t)MAX_QV * hd, *s = acc + (size_t)MAX_QV * hd;
    float *mx = s + (size_t)MAX_QV * TILE_K, *sum = mx + MAX_QV;
    float *kt = sum + MAX_QV, *vt = kt + (size_t)TILE_K * hd;
    const struct attn_state st = {qb, acc, mx, sum, n_rows * group};
    state_init(jb, kvh, row0, &st);
    int n_keys = p->causal ? p->q_pos0 + row0 + n_rows : p->n_kv;
    if (n_keys > p->n_kv) n_keys = p->n_kv;
    for (int j0 = 0; j0 < n_keys; j0 += TILE_K)
        tile_update(jb, kvh, row0, j0, n_keys - j0 < TILE_K ? n_keys - j0 : TILE_K, n_keys, &st, s, kt, vt);
    for (int i = 0; i < st.n_q; i++) {
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

/* ---- one query row: the keys split between the threads ----
 *
 * With a single query row there are only n_kv_heads items (8 for Qwen3), and two threads would each stream only
 * their heads' pieces of the cache. Instead each thread takes a range of the keys for every head, and the
 * per-thread results (running max, sum and unnormalised values per query head) are merged at the end.
 *
 * A thread reads its range in chunks of up to SPLIT_CHUNK keys, each in two passes over blocks of SPLIT_ROWS whole
 * cache rows: all heads' scores for the chunk (kept, n_heads x SPLIT_CHUNK), one softmax step per query head, then
 * the weighted values. So the softmax bookkeeping happens once per chunk, not per tile, and the cache is read in
 * order, block after block. The kernels read f16 rows in place where they can (attn_scores_f16). A head's columns
 * are a piece of each row, a pattern that the hardware prefetchers follow poorly from DRAM, so each block requests
 * the block SPLIT_AHEAD further on in the thread's reading order, spread over its heads' kernel calls: issued in
 * one burst, the requests stall the core (Qwen3-0.6B's 576-key decode call from DRAM, 2 threads on the AMD EPYC:
 * 164 us converting tiles, 88 us with bursts of 32 rows ahead, 53-57 us with 8-row blocks one block ahead spread
 * over the heads, against 47 us with the cache in L3). Scratch per thread: queries and values of all heads, their
 * maxima and sums, the chunk's scores and, for caches the kernels cannot read in place, a converted block of keys
 * and one of values. */
#define SPLIT_ROWS 8
#define SPLIT_CHUNK 512
#define SPLIT_AHEAD 1

static size_t split_floats(int n_heads, int n_kv_heads, int hd)
{
    return 2 * (size_t)n_heads * hd + 2 * (size_t)n_heads + (size_t)n_heads * SPLIT_CHUNK +
           2 * (size_t)SPLIT_ROWS * n_kv_heads * hd;
}

struct split_layout {
    float *q, *acc, *mx, *sum, *s, *kt, *vt;
};

static struct split_layout split_at(float *scratch, int n_heads, int64_t kd, int hd)
{
    struct split_layout l;
    l.q = scratch;
    l.acc = l.q + (size_t)n_heads * hd;
    l.mx = l.acc + (size_t)n_heads * hd;
    l.sum = l.mx + n_heads;
    l.s = l.sum + n_heads;
    l.kt = l.s + (size_t)n_heads * SPLIT_CHUNK;
    l.vt = l.kt + (size_t)SPLIT_ROWS * kd;
    return l;
}

/* A thread's keys [k0, k1) are read chunk by chunk, each chunk's key rows, then its value rows: this requests
 * part p of n parts of the n_rows rows from step i of that order on (nothing past the end). A block's heads each
 * request one part, so that the requests are spread over the block's work rather than issued in a burst. */
static void split_prefetch(const struct attn_job *jb, long k0, long k1, long i, long n_rows, int p, int n)
{
    if (SPLIT_AHEAD == 0) return;
    const long e = i + n_rows * (p + 1) / n;
    for (i += n_rows * p / n; i < e; i++) {
        const long c = i / (2 * SPLIT_CHUNK), c0 = k0 + c * SPLIT_CHUNK;
        const long len = k1 - c0 < SPLIT_CHUNK ? k1 - c0 : SPLIT_CHUNK, r = i - c * 2 * SPLIT_CHUNK;
        if (len <= 0 || r >= 2 * len) return;
        const struct qw_tensor *t = r < len ? &jb->k : &jb->v;
        const size_t bytes = qw_row_bytes(t->dtype, t->cols);
        const uint8_t *row = (const uint8_t *)cpu_row_bytes(*t, c0 + r % len);
        for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b, 0, 3);
    }
}

/* Rows [j0, j0 + n) of a K or V cache as the tile kernels take them: in place (f32, and f16 where the kernels
 * widen it themselves), or converted into buf. */
static const void *split_block(const struct cpu_kernels *kn, struct qw_tensor t, bool in_place, long j0, int n,
                               float *buf, int64_t *stride)
{
    if (t.dtype == QW_DTYPE_F32 || in_place) {
        *stride = t.stride;
        return cpu_row_bytes(t, j0);
    }
    for (int j = 0; j < n; j++) kn->from_f16(cpu_row_bytes(t, j0 + j), buf + (size_t)j * t.cols, t.cols);
    *stride = t.cols;
    return buf;
}

/* Keys [c0, c0 + n) against every query head: scores into l->s (SPLIT_CHUNK apart per head), then the running
 * maxima, sums and value accumulators of l take them in. */
static void split_chunk(const struct attn_job *jb, const struct split_layout *l, long k0, long k1, long c0, int n)
{
    const struct qw_attn_params *p = &jb->p;
    const struct cpu_kernels *kn = &jb->c->k;
    const int hd = p->head_dim, group = p->n_heads / p->n_kv_heads;
    const bool f16 = jb->k.dtype == QW_DTYPE_F16 && kn->attn_scores_f16 && kn->attn_accum_f16;
    const long order0 = (c0 - k0) * 2; /* this chunk's first step in the thread's reading order */
    for (int j = 0; j < n; j += SPLIT_ROWS) {
        const int nk = n - j < SPLIT_ROWS ? n - j : SPLIT_ROWS;
        int64_t ks;
        const void *kp = split_block(kn, jb->k, f16, c0 + j, nk, l->kt, &ks);
        for (int h = 0; h < p->n_kv_heads; h++) {
            split_prefetch(jb, k0, k1, order0 + j + SPLIT_AHEAD * SPLIT_ROWS, nk, h, p->n_kv_heads);
            const float *q = l->q + (size_t)h * group * hd;
            float *s = l->s + (size_t)h * group * SPLIT_CHUNK + j;
            if (f16)
                kn->attn_scores_f16(q, group, (const uint16_t *)kp + (size_t)h * hd, ks, nk, hd, s, SPLIT_CHUNK);
            else
                kn->attn_scores(q, group, (const float *)kp + (size_t)h * hd, ks, nk, hd, s, SPLIT_CHUNK);
        }
    }
    for (int i = 0; i < p->n_heads; i++)
        softmax_step(kn, l->s + (size_t)i * SPLIT_CHUNK, n, &l->mx[i], &l->sum[i], l->acc + (size_t)i * hd, hd);
    for (int j = 0; j < n; j += SPLIT_ROWS) {
        const int nk = n - j < SPLIT_ROWS ? n - j : SPLIT_ROWS;
        int64_t vs;
        const void *vp = split_block(kn, jb->v, f16, c0 + j, nk, l->vt, &vs);
        for (int h = 0; h < p->n_kv_heads; h++) {
            split_prefetch(jb, k0, k1, order0 + n + j + SPLIT_AHEAD * SPLIT_ROWS, nk, h, p->n_kv_heads);
            float *acc = l->acc + (size_t)h * group * hd;
            const float *s = l->s + (size_t)h * group * SPLIT_CHUNK + j;
            if (f16)
                kn->attn_accum_f16(acc, group, s, SPLIT_CHUNK, (const uint16_t *)vp + (size_t)h * hd, vs, nk, hd);
            else
                kn->attn_accum(acc, group, s, SPLIT_CHUNK, (const float *)vp + (size_t)h * hd, vs, nk, hd);
        }
    }
}

static void split_thunk(void *arg, int ith, int nth)
{
    const struct attn_job *jb = arg;
    const struct qw_attn_params *p = &jb->p;
    const int hd = p->head_dim, group = p->n_heads / p->n_kv_heads;
    const int n_keys = p->causal ? p->q_pos0 + 1 : p->n_kv;
    long k0, k1;
    qw_split_rows(n_keys, ith, nth, SPLIT_ROWS, &k0, &k1);
    struct split_layout l = split_at(jb->c->thread[ith].p, p->n_heads, (int64_t)p->n_kv_heads * hd, hd);
    for (int h = 0; h < p->n_kv_heads; h++) {
        const size_t o = (size_t)h * group;
        state_init(jb, h, 0, &(struct attn_state){l.q + o * hd, l.acc + o * hd, l.mx + o, l.sum + o, group});
    }
    split_prefetch(jb, k0, k1, 0, SPLIT_AHEAD * SPLIT_ROWS, 0, 1);
    for (long c0 = k0; c0 < k1; c0 += SPLIT_CHUNK)
        split_chunk(jb, &l, k0, k1, c0, (int)(k1 - c0 < SPLIT_CHUNK ? k1 - c0 : SPLIT_CHUNK));
}

/* y = the softmax-weighted sum of every split's values, each rescaled to the largest maximum. */
static void split_merge(const struct attn_job *jb, int nth)
{
    const struct qw_attn_params *p = &jb->p;
    const int hd = p->head_dim;
    float *y = cpu_row(jb->y, 0);
    for (int h = 0; h < p->n_heads; h++) {
        float m = -INFINITY, sum = 0.0f;
        for (int t = 0; t < nth; t++) {
            struct split_layout l = split_at(jb->c->thread[t].p, p->n_heads, (int64_t)p->n_kv_heads * hd, hd);
            m = l.mx[h] > m ? l.mx[h] : m;
        }
        float *dst = y + (size_t)h * hd;
        memset(dst, 0, (size_t)hd * sizeof *dst);
        for (int t = 0; t < nth && m > -INFINITY; t++) {
            struct split_layout l = split_at(jb->c->thread[t].p, p->n_heads, (int64_t)p->n_kv_heads * hd, hd);
            if (l.mx[h] == -INFINITY) continue;
            float f = expf(l.mx[h] - m);
            sum += l.sum[h] * f;
            for (int d = 0; d < hd; d++) dst[d] += l.acc[(size_t)h * hd + d] * f;
        }
        float inv = sum > 0 ? 1.0f / sum : 0.0f;
        for (int d = 0; d < hd; d++) dst[d] *= inv;
    }
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
    const int n_keys = p->causal ? p->q_pos0 + 1 : p->n_kv;
    const bool split = q.rows == 1 && n_keys >= 2 * TILE_K;
    if (!split && cpu_attention_lanes(c, y, q, k, v, p)) return; /* many queries: cpu_attention_lanes.c */
    pthread_mutex_lock(&c->lock);
    int nth = c->n_threads;
    if (!split && (jb.n_items < 2 || (int64_t)p->n_kv * q.rows * p->n_heads * p->head_dim < 16384)) nth = 1;
    size_t floats = split ? split_floats(p->n_heads, p->n_kv_heads, p->head_dim) : tile_floats(p->head_dim);
    for (int i = 0; i < nth; i++)
        if (!cpu_scratch_get(c, &c->thread[i], floats * sizeof(float))) goto done;
    if (split) {
        qw_pool_run(c->pool, split_thunk, &jb);
        split_merge(&jb, nth);
    } else if (nth == 1) {
        for (int64_t it = 0; it < jb.n_items; it++) attn_item(&jb, it, c->thread[0].p);
    } else {
        qw_pool_run(c->pool, attn_thunk, &jb);
    }
done:
    pthread_mutex_unlock(&c->lock);
}
