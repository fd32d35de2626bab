/* A map from byte strings to int32 values: open addressing, linear probing. Keys are not copied: they must
 * outlive the map (they usually live in a JSON document or a mapped file). */
#ifndef QW_STRMAP_H
#define QW_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
    const char *key; /* NULL: empty */
    uint32_t len;
    uint32_t hash;
    int32_t value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap, count; /* cap is a power of two, kept at most 1/2 full */
};

uint32_t strmap_hash(const char *key, size_t len);
/* Room for n keys without rehashing. false when out of memory. */
bool strmap_init(struct strmap *m, size_t n);
void strmap_free(struct strmap *m);
/* Inserts or replaces. false when out of memory. */
bool strmap_put(struct strmap *m, const char *key, size_t len, int32_t value);
/* The value, or -1 when absent (values are meant to be indices). */
int32_t strmap_get(const struct strmap *m, const char *key, size_t len);

#endif
