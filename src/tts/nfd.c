#include "nfd.h"

#include "base/utf8.h"

struct nfd_entry {
    uint32_t cp;
    uint16_t off;
    uint8_t len;
};
struct nfd_ccc {
    uint32_t cp;
    uint8_t ccc;
};

#include "nfd_table.h"

static const struct nfd_entry *find_decomp(uint32_t cp)
{
    size_t lo = 0, hi = sizeof nfd_table / sizeof nfd_table[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (nfd_table[mid].cp == cp) return &nfd_table[mid];
        if (nfd_table[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int combining_class(uint32_t cp)
{
    size_t lo = 0, hi = sizeof nfd_ccc_table / sizeof nfd_ccc_table[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (nfd_ccc_table[mid].cp == cp) return nfd_ccc_table[mid].ccc;
        if (nfd_ccc_table[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

static void put(uint32_t *out, size_t cap, size_t *n, uint32_t cp)
{
    if (*n < cap) out[*n] = cp;
    (*n)++;
}

size_t nfd_decompose(const char *s, size_t n, uint32_t *out, size_t cap)
{
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        if (len == 0) {
            cp = 0xfffd;
            len = 1;
        }
        i += len;
        if (cp >= 0xac00 && cp <= 0xd7a3) { /* Hangul syllable: L V (T) */
            uint32_t si = cp - 0xac00;
            put(out, cap, &count, 0x1100 + si / 588);
            put(out, cap, &count, 0x1161 + (si % 588) / 28);
            if (si % 28) put(out, cap, &count, 0x11a7 + si % 28);
            continue;
        }
        const struct nfd_entry *d = find_decomp(cp);
        if (!d) {
            put(out, cap, &count, cp);
            continue;
        }
        for (int k = 0; k < d->len; k++) put(out, cap, &count, nfd_pool[d->off + k]);
    }
    /* canonical ordering: a stable sort of each run of non-starters by combining class */
    size_t m = count < cap ? count : cap;
    for (size_t i = 1; i < m; i++) {
        int ci = combining_class(out[i]);
        if (ci == 0) continue;
        size_t j = i;
        uint32_t cp = out[i];
        while (j > 0) {
            int cj = combining_class(out[j - 1]);
            if (cj == 0 || cj <= ci) break;
            out[j] = out[j - 1];
            j--;
        }
        out[j] = cp;
    }
    return count;
}
