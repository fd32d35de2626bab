/* The BPE model: a piece of text (one pre-token) becomes ids by starting from single bytes (or unknown-token
 * stand-ins) and repeatedly applying the merge of lowest rank, leftmost first, as `tokenizers` does.
 *
 * Short pieces (nearly all of them) use a scan over an array; long ones a binary heap over a linked list, so a
 * single 10 MB "word" stays O(n log n). Each encode call keeps a cache of the pieces it has already encoded:
 * natural text repeats its words, and a cache hit skips the merges entirely. */
#include <string.h>

#include "base/mem.h"
#include "text/tok_impl.h"

#define SMALL_WORD 16          /* pieces up to this many symbols use the array scan */
#define CACHE_MAX_PIECE 64     /* longer pieces are not cached */
#define CACHE_MAX_ENTRIES 65536

/* ---- merges: (left, right) -> (rank, merged id) ---- */

static inline uint64_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

bool bpe_merges_init(struct tokenizer *t, size_t n)
{
    size_t cap = 64;
    while (cap < 2 * n + 2) cap *= 2;
    t->merges = qw_malloc(cap * sizeof *t->merges);
    if (!t->merges) return false;
    for (size_t i = 0; i < cap; i++) t->merges[i].key = UINT64_MAX;
    t->merge_mask = cap - 1;
    return true;
}

/* A pair listed twice keeps the last rank, as building a HashMap from the list does. */
bool bpe_merges_put(struct tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t j = mix64(key) & t->merge_mask;
    while (t->merges[j].key != UINT64_MAX && t->merges[j].key != key) j = (j + 1) & t->merge_mask;
    t->merges[j] = (struct merge_slot){key, rank, id};
    return true;
}

static inline const struct merge_slot *merge_get(const struct tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t j = mix64(key) & t->merge_mask;
    for (;;) {
        const struct merge_slot *s = &t->merges[j];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
        j = (j + 1) & t->merge_mask;
    }
}

bool tok_ids_push(struct tok_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 256, bytes;
        if (!size_mul_ok(cap, sizeof *ids->v, &bytes)) return false;
        int32_t *v = qw_realloc(ids->v, bytes);
        if (!v) return false;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return true;
}

/* ---- the per-call cache ---- */

struct cache_slot {
    uint32_t hash, key_len; /* key_len 0: empty */
    uint32_t key_off, ids_off, n_ids;
};

struct bpe_cache {
    struct cache_slot *slots;
    size_t cap, count;
    char *keys;
    size_t keys_len, keys_cap;
    int32_t *ids;
    size_t ids_len, ids_cap;
};

static void cache_free(struct bpe_cache *c)
{
    if (!c) return;
    qw_free(c->slots);
    qw_free(c->keys);
    qw_free(c->ids);
    qw_free(c);
}

static const struct cache_slot *cache_get(const struct bpe_cache *c, const char *s, size_t n, uint32_t h)
{
    if (!c) return NULL;
    for (size_t j = h & (c->cap - 1);; j = (j + 1) & (c->cap - 1)) {
        const struct cache_slot *sl = &c->slots[j];
        if (!sl->key_len) return NULL;
        if (sl->hash == h && sl->key_len == n && memcmp(c->keys + sl->key_off, s, n) == 0) return sl;
    }
}

static bool grow_buf(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    void *q = qw_realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* Best effort: a cache that cannot grow just stops caching. */
static void cache_put(struct encoder *enc, const char *s, size_t n, uint32_t h, const int32_t *ids, size_t n_ids)
{
    struct bpe_cache *c = enc->cache;
    if (!c) {
        c = enc->cache = qw_calloc(1, sizeof *c);
        if (!c) return;
        c->cap = 1024;
        c->slots = qw_calloc(c->cap, sizeof *c->slots);
        if (!c->slots) {
            qw_free(c);
            enc->cache = NULL;
            return;
        }
    }
    if (c->count >= CACHE_MAX_ENTRIES) return;
    if (2 * (c->count + 1) > c->cap) {
        size_t cap = c->cap * 2;
        struct cache_slot *slots = qw_calloc(cap, sizeof *slots);
        if (!slots) return;
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->slots[i].key_len) continue;
            size_t j = c->slots[i].hash & (cap - 1);
            while (slots[j].key_len) j = (j + 1) & (cap - 1);
            slots[j] = c->slots[i];
        }
        qw_free(c->slots);
        c->slots = slots;
        c->cap = cap;
    }
    if (!grow_buf((void **)&c->keys, &c->keys_cap, c->keys_len + n, 1) ||
        !grow_buf((void **)&c->ids, &c->ids_cap, c->ids_len + n_ids, sizeof *c->ids))
        return;
    size_t j = h & (c->cap - 1);
    while (c->slots[j].key_len) j = (j + 1) & (c->cap - 1);
    c->slots[j] = (struct cache_slot){h, (uint32_t)n, (uint32_t)c->keys_len, (uint32_t)c->ids_len, (uint32_t)n_ids};
    memcpy(c->keys + c->keys_len, s, n);
    c->keys_len += n;
    memcpy(c->ids + c->ids_len, ids, n_ids * sizeof *ids);
    c->ids_len += n_ids;
    c->count++;
}

/* ---- word state ---- */

struct bpe_word {
    int32_t *ids;
    int32_t *prev, *next;
    uint64_t *heap; /* rank << 32 | position: pops the lowest rank, leftmost first */
    size_t cap, heap_cap, n_heap;
};

static bool word_reserve(struct bpe_word *w, size_t n)
{
    if (n <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < n) cap *= 2;
    size_t bytes;
    if (!size_mul_ok(cap, sizeof(int32_t), &bytes)) return false;
    int32_t *a = qw_realloc(w->ids, bytes);
    if (!a) return false;
    w->ids = a;
    if (!(a = qw_realloc(w->prev, bytes))) return false;
    w->prev = a;
    if (!(a = qw_realloc(w->next, bytes))) return false;
    w->next = a;
    w->cap = cap;
    return true;
}

void bpe_encoder_free(struct encoder *enc)
{
    struct bpe_word *w = enc->word;
    if (w) {
        qw_free(w->ids);
        qw_free(w->prev);
        qw_free(w->next);
        qw_free(w->heap);
        qw_free(w);
    }
    enc->word = NULL;
    cache_free(enc->cache);
    enc->cache = NULL;
}

/* Initial symbols: one per byte, or the unknown token (fused when fuse_unk), or <0xXX> with byte_fallback. */
static qwglm_status initial_symbols(struct encoder *enc, const char *s, size_t n, size_t *count)
{
    const struct tokenizer *t = enc->t;
    struct bpe_word *w = enc->word;
    size_t k = 0;
    if (!word_reserve(w, n)) return qw_fail(enc->e, QWGLM_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[(unsigned char)s[i]];
        if (id < 0) {
            if (t->unk_id < 0) continue; /* dropped, as the reference does without an unknown token */
            if (t->fuse_unk && k > 0 && w->ids[k - 1] == t->unk_id) continue;
            id = t->unk_id;
        }
        w->ids[k++] = id;
    }
    *count = k;
    return QWGLM_OK;
}

static void merge_small(const struct tokenizer *t, int32_t *ids, size_t *n_io)
{
    size_t n = *n_io;
    uint32_t rank[SMALL_WORD];
    int32_t to[SMALL_WORD];
    for (size_t i = 0; i + 1 < n; i++) {
        const struct merge_slot *m = merge_get(t, ids[i], ids[i + 1]);
        rank[i] = m ? m->rank : UINT32_MAX;
        to[i] = m ? m->id : -1;
    }
    while (n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == UINT32_MAX) break;
        ids[best] = to[best];
        memmove(ids + best + 1, ids + best + 2, (n - best - 2) * sizeof *ids);
        memmove(rank + best, rank + best + 1, (n - best - 2) * sizeof *rank);
        memmove(to + best, to + best + 1, (n - best - 2) * sizeof *to);
        n--;
        for (size_t i = best > 0 ? best - 1 : 0; i <= best && i + 1 < n; i++) {
            const struct merge_slot *m = merge_get(t, ids[i], ids[i + 1]);
            rank[i] = m ? m->rank : UINT32_MAX;
            to[i] = m ? m->id : -1;
        }
    }
    *n_io = n;
}

static bool heap_reserve(struct bpe_word *w, size_t n)
{
    if (n <= w->heap_cap) return true;
    size_t cap = w->heap_cap ? w->heap_cap : 256, bytes;
    while (cap < n) cap *= 2;
    if (!size_mul_ok(cap, sizeof *w->heap, &bytes)) return false;
    uint64_t *h = qw_realloc(w->heap, bytes);
    if (!h) return false;
    w->heap = h;
    w->heap_cap = cap;
    return true;
}

static void sift_down(uint64_t *h, size_t n, size_t i)
{
    uint64_t x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static bool heap_push(struct bpe_word *w, uint64_t key)
{
    if (!heap_reserve(w, w->n_heap + 1)) return false;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (w->heap[p] <= key) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = key;
    return true;
}

static uint64_t heap_pop(struct bpe_word *w)
{
    uint64_t top = w->heap[0];
    w->heap[0] = w->heap[--w->n_heap];
    if (w->n_heap) sift_down(w->heap, w->n_heap, 0);
    return top;
}

static bool push_pair(const struct tokenizer *t, struct bpe_word *w, int32_t pos)
{
    int32_t nx = w->next[pos];
    if (nx < 0) return true;
    const struct merge_slot *m = merge_get(t, w->ids[pos], w->ids[nx]);
    return !m || heap_push(w, (uint64_t)m->rank << 32 | (uint32_t)pos);
}

/* The heap version: ids stay in place, removed symbols are unlinked (prev/next) and marked with id -1. A heap entry
 * is stale when the pair at its position no longer has its rank (ranks name pairs one to one), and is dropped.
 * The first heap is built bottom-up in linear time. */
static bool merge_large(const struct tokenizer *t, struct bpe_word *w, size_t n)
{
    if (!heap_reserve(w, n)) return false;
    w->n_heap = 0;
    for (size_t i = 0; i < n; i++) {
        w->prev[i] = (int32_t)i - 1;
        w->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const struct merge_slot *m = merge_get(t, w->ids[i], w->ids[i + 1]);
        if (m) w->heap[w->n_heap++] = (uint64_t)m->rank << 32 | (uint32_t)i;
    }
    for (size_t i = w->n_heap / 2; i-- > 0;) sift_down(w->heap, w->n_heap, i);
    while (w->n_heap) {
        uint64_t top = heap_pop(w);
        int32_t pos = (int32_t)(uint32_t)top, nx = w->next[pos];
        if (w->ids[pos] < 0 || nx < 0) continue;
        const struct merge_slot *m = merge_get(t, w->ids[pos], w->ids[nx]);
        if (!m || m->rank != (uint32_t)(top >> 32)) continue;
        w->ids[pos] = m->id;
        w->ids[nx] = -1;
        w->next[pos] = w->next[nx];
        if (w->next[nx] >= 0) w->prev[w->next[nx]] = pos;
        if (w->prev[pos] >= 0 && !push_pair(t, w, w->prev[pos])) return false;
        if (!push_pair(t, w, pos)) return false;
    }
    return true;
}

qwglm_status bpe_encode_piece(struct encoder *enc, const char *s, size_t n)
{
    const struct tokenizer *t = enc->t;
    if (n == 0) return QWGLM_OK;
    if (t->ignore_merges) {
        int32_t id = strmap_get(&t->vocab, s, n);
        if (id >= 0) return tok_ids_push(enc->out, id) ? QWGLM_OK : qw_fail(enc->e, QWGLM_ERR_NOMEM, "out of memory");
    }
    uint32_t h = 0;
    if (n <= CACHE_MAX_PIECE) {
        h = strmap_hash(s, n);
        const struct cache_slot *c = cache_get(enc->cache, s, n, h);
        if (c) {
            for (uint32_t i = 0; i < c->n_ids; i++)
                if (!tok_ids_push(enc->out, enc->cache->ids[c->ids_off + i]))
                    return qw_fail(enc->e, QWGLM_ERR_NOMEM, "out of memory");
            return QWGLM_OK;
        }
    }
    if (!enc->word && !(enc->word = qw_calloc(1, sizeof *enc->word)))
        return qw_fail(enc->e, QWGLM_ERR_NOMEM, "tokenizer: out of memory");
    struct bpe_word *w = enc->word;
    size_t k = 0;
    qwglm_status st = initial_symbols(enc, s, n, &k);
    if (st) return st;
    size_t first = enc->out->n;
    if (k <= SMALL_WORD) {
        merge_small(t, w->ids, &k);
        for (size_t i = 0; i < k; i++)
            if (!tok_ids_push(enc->out, w->ids[i])) return qw_fail(enc->e, QWGLM_ERR_NOMEM, "out of memory");
    } else {
        if (!merge_large(t, w, k)) return qw_fail(enc->e, QWGLM_ERR_NOMEM, "tokenizer: out of memory");
        for (int32_t i = 0; i >= 0; i = w->next[i])
            if (!tok_ids_push(enc->out, w->ids[i])) return qw_fail(enc->e, QWGLM_ERR_NOMEM, "out of memory");
    }
    if (n <= CACHE_MAX_PIECE) cache_put(enc, s, n, h, enc->out->v + first, enc->out->n - first);
    return QWGLM_OK;
}
