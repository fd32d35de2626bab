#include "strmap.h"

#include <string.h>

#include "mem.h"

uint32_t strmap_hash(const char *key, size_t len)
{
    /* FNV-1a with a final avalanche (murmur3's fmix32), so short keys spread over the low bits */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static bool rehash(struct strmap *m, size_t cap)
{
    struct strmap_slot *slots = qw_calloc(cap, sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < m->cap; i++) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key) continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key) j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    qw_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

bool strmap_init(struct strmap *m, size_t n)
{
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    return rehash(m, cap);
}

void strmap_free(struct strmap *m)
{
    qw_free(m->slots);
    memset(m, 0, sizeof *m);
}

bool strmap_put(struct strmap *m, const char *key, size_t len, int32_t value)
{
    if (len > UINT32_MAX) return false;
    if (2 * (m->count + 1) > m->cap && !rehash(m, m->cap ? m->cap * 2 : 16)) return false;
    uint32_t h = strmap_hash(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        struct strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            s->value = value;
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (struct strmap_slot){key, (uint32_t)len, h, value};
    m->count++;
    return true;
}

int32_t strmap_get(const struct strmap *m, const char *key, size_t len)
{
    if (!m->cap) return -1;
    uint32_t h = strmap_hash(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        const struct strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s->value;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}
