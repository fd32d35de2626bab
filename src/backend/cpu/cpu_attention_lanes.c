/* Prefill attention with the query vectors in vector lanes: many queries against many keys (a prompt, an
 * image's patches), tiled over queries and keys with an online softmax.
 *
 * A work item is one KV head and CPU_ATTN_LANES query vectors (the rows of a query tile times the heads that
 * share that KV head). The item transposes its queries once (qt [head_dim][lanes], pre-scaled) and walks the
 * keys in tiles of CPU_ATTN_TILE: the kernel (kernels.h, attn_tile) computes the tile's scores with a lane
 * per query, updates the running maximum and sum per lane, and adds the weighted values into the transposed
 * accumulator. Keys and values are read once per item (f16 ones converted a tile at a time); the largest
 * thing an item holds is one tile of scores, whatever the number of keys. Causal items stop at their last
 * row's key and mask only the tiles that cross the diagonal. Items go to the threads first come first served,
 * the longest (last rows) first. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "cpu_impl.h"

#define L CPU_ATTN_LANES
#define T CPU_ATTN_TILE

#define G 8 /* lane groups per item: each key and value tile, once converted, serves G x L query vectors */

struct lanes_job {
    struct cpu_ctx *c;
    struct qw_tensor y, q, k, v;
    struct qw_attn_params p;
    int group, rows_per_lanes, n_row_tiles; /* a row tile: G x rows_per_lanes rows */
    long n_items;
    _Atomic long next;
};

/* Per-thread floats: per lane group qt and ot [hd][L], max, sum, limits [L]; scores [T][L]; key and value
 * tiles [T][hd]. */
static size_t group_floats(int hd)
{
    return 2 * (size_t)hd * L + 3 * (size_t)L;
}
static size_t lanes_floats(int hd)
{
    return G * group_floats(hd) + (size_t)T * L + 2 * (size_t)T * hd;
}

/* Rows [j0, j0 + n) of a K or V tensor, columns [c0, c0 + hd), as contiguous f32 rows in buf: the kernel
 * reads each row many times, and rows of a fused QKV activation lie pages apart. */
static const float *kv_rows(const struct cpu_kernels *kn, struct qw_tensor t, int64_t c0, int hd, int j0,
                            int n, float *buf)
{
    if (t.dtype == QW_DTYPE_F32) {
        for (int j = 0; j < n; j++)
            memcpy(buf + (size_t)j * hd, cpu_row(t, j0 + j) + c0, (size_t)hd * sizeof *buf);
        return buf;
    }
    const uint16_t *base = (const uint16_t *)cpu_ptr(t) + c0;
    for (int j = 0; j < n; j++) kn->from_f16(base + (size_t)(j0 + j) * t.stride, buf + (size_t)j * hd, hd);
    return buf;
}

/* One lane group: rows [row0, row0 + n_rows) of the queries of KV head kvh. */
struct lane_group {
    int row0, n_rows, n_keys; /* n_keys: keys the group sees (causal: up to its last row) */
    float *qt, *ot, *mx, *sum;
    int32_t *limit;
};

static void group_init(const struct lanes_job *jb, int kvh, struct lane_group *lg)
{
    const struct qw_attn_params *p = &jb->p;
    const int hd = p->head_dim, g = jb->group, n_lanes = lg->n_rows * g;
    for (int i = 0; i < L; i++) {
        const float *src =
            i < n_lanes ? cpu_row(jb->q, lg->row0 + i / g) + (size_t)(kvh * g + i % g) * hd : NULL;
        for (int d = 0; d < hd; d++) lg->qt[(size_t)d * L + i] = src ? src[d] * p->scale : 0.0f;
        lg->mx[i] = -INFINITY;
        lg->sum[i] = 0.0f;
    }
    memset(lg->ot, 0, (size_t)hd * L * sizeof *lg->ot);
    lg->n_keys = p->causal ? p->q_pos0 + lg->row0 + lg->n_rows : p->n_kv;
    if (lg->n_keys > p->n_kv) lg->n_keys = p->n_kv;
}

/* Keys [j0, j0 + n) at kt, vt (converted) for one lane group. */
static void group_tile(const struct lanes_job *jb, struct lane_group *lg, int j0, const float *kt,
                       const float *vt, float *s)
{
    const int hd = jb->p.head_dim, g = jb->group, first = jb->p.q_pos0 + lg->row0;
    if (j0 >= lg->n_keys) return;
    struct cpu_attn_tile t = {.qt = lg->qt,
                              .hd = hd,
                              .n_k = lg->n_keys - j0 < T ? lg->n_keys - j0 : T,
                              .k = kt,
                              .v = vt,
                              .k_stride = hd,
                              .v_stride = hd,
                              .ot = lg->ot,
                              .mx = lg->mx,
                              .sum = lg->sum,
                              .s = s};
    if (jb->p.causal && j0 + t.n_k - 1 > first) { /* the tile crosses the diagonal */
        for (int i = 0; i < L; i++) {
            int lim = i < lg->n_rows * g ? first + i / g + 1 - j0 : 0;
            lg->limit[i] = lim < 0 ? 0 : lim > t.n_k ? t.n_k : lim;
        }
        t.limit = lg->limit;
    }
    jb->c->k.attn_tile(&t);
}

static void group_store(const struct lanes_job *jb, int kvh, const struct lane_group *lg)
{
    const int hd = jb->p.head_dim, g = jb->group;
    for (int i = 0; i < lg->n_rows * g; i++) {
        float *dst = cpu_row(jb->y, lg->row0 + i / g) + (size_t)(kvh * g + i % g) * hd;
        const float inv = lg->sum[i] > 0 ? 1.0f / lg->sum[i] : 0.0f;
        for (int d = 0; d < hd; d++) dst[d] = lg->ot[(size_t)d * L + i] * inv;
    }
}

static void lanes_item(const struct lanes_job *jb, long item, float *scratch)
{
    const int hd = jb->p.head_dim;
    /* head by head, so that the threads share one head's keys and values in the caches; within a head the
     * longest items (causal: the last rows) first */
    const int kvh = (int)(item / jb->n_row_tiles), tile = jb->n_row_tiles - 1 - (int)(item % jb->n_row_tiles);
    struct lane_group lg[G];
    int n_groups = 0, n_keys = 0;
    for (int gi = 0; gi < G; gi++) {
        const int row0 = (tile * G + gi) * jb->rows_per_lanes;
        if (row0 >= jb->q.rows) break;
        float *b = scratch + (size_t)gi * group_floats(hd);
        lg[gi] = (struct lane_group){
            .row0 = row0, .qt = b, .ot = b + (size_t)hd * L, .mx = b + 2 * (size_t)hd * L};
        lg[gi].n_rows =
            (int)(jb->q.rows - row0 < jb->rows_per_lanes ? jb->q.rows - row0 : jb->rows_per_lanes);
        lg[gi].sum = lg[gi].mx + L;
        lg[gi].limit = (int32_t *)(lg[gi].sum + L);
        group_init(jb, kvh, &lg[gi]);
        n_keys = lg[gi].n_keys > n_keys ? lg[gi].n_keys : n_keys;
        n_groups++;
    }
    float *s = scratch + G * group_floats(hd), *kt = s + (size_t)T * L, *vt = kt + (size_t)T * hd;
    for (int j0 = 0; j0 < n_keys; j0 += T) {
        const int nk = n_keys - j0 < T ? n_keys - j0 : T;
        kv_rows(&jb->c->k, jb->k, (int64_t)kvh * hd, hd, j0, nk, kt);
        kv_rows(&jb->c->k, jb->v, (int64_t)kvh * hd, hd, j0, nk, vt);
        for (int gi = 0; gi < n_groups; gi++) group_tile(jb, &lg[gi], j0, kt, vt, s);
    }
    for (int gi = 0; gi < n_groups; gi++) group_store(jb, kvh, &lg[gi]);
}

static void lanes_thunk(void *arg, int ith, int nth)
{
    (void)nth;
    struct lanes_job *jb = arg;
    float *scratch = jb->c->thread[ith].p;
    for (;;) {
        long it = atomic_fetch_add_explicit(&jb->next, 1, memory_order_relaxed);
        if (it >= jb->n_items) break;
        lanes_item(jb, it, scratch);
    }
}

bool cpu_attention_lanes(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k,
                         struct qw_tensor v, const struct qw_attn_params *p)
{
    const int group = p->n_heads / p->n_kv_heads;
    /* worth it when an item fills at least half its lanes */
    if (!c->k.attn_tile || group > L || q.rows * group < L / 2) return false;
    struct lanes_job jb = {
        .c = c, .y = y, .q = q, .k = k, .v = v, .p = *p, .group = group, .rows_per_lanes = L / group};
    const int64_t rows_per_tile = (int64_t)G * jb.rows_per_lanes;
    jb.n_row_tiles = (int)((q.rows + rows_per_tile - 1) / rows_per_tile);
    jb.n_items = (long)jb.n_row_tiles * p->n_kv_heads;
    atomic_init(&jb.next, 0);
    pthread_mutex_lock(&c->lock);
    const int nth = jb.n_items < 2 ? 1 : c->n_threads;
    bool ok = true;
    for (int i = 0; i < nth && ok; i++)
        ok = cpu_scratch_get(c, &c->thread[i], lanes_floats(p->head_dim) * sizeof(float));
    if (ok && nth == 1)
        for (long it = 0; it < jb.n_items; it++) lanes_item(&jb, it, c->thread[0].p);
    else if (ok)
        qw_pool_run(c->pool, lanes_thunk, &jb);
    pthread_mutex_unlock(&c->lock);
    return true; /* done, or out of memory (recorded in c) */
}
