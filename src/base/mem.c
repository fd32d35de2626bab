#include "mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Fault injection state: the one process-wide variable of the library, inert unless a test arms it. */
static _Atomic long fail_countdown = -1;
static _Atomic long alloc_count;

static bool should_fail(void)
{
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (c < 0) return false;
    if (c == 0) return true;
    atomic_store_explicit(&fail_countdown, c - 1, memory_order_relaxed);
    return false;
}

long qw_mem_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
    return atomic_exchange(&alloc_count, 0);
}

void *qw_malloc(size_t n)
{
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *qw_calloc(size_t count, size_t size)
{
    if (should_fail()) return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *qw_realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void *qw_aligned_alloc(size_t align, size_t n)
{
    if (should_fail()) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, n ? n : 1) != 0) return NULL;
    return p;
}

void qw_free(void *p) { free(p); }

char *qw_strndup(const char *s, size_t n)
{
    char *d = qw_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

bool qw_arena_init(struct qw_arena *a, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->base = qw_aligned_alloc(64, cap);
    if (!a->base) return false;
    a->cap = cap;
    return true;
}

void qw_arena_free(struct qw_arena *a)
{
    qw_free(a->base);
    memset(a, 0, sizeof *a);
}

void *qw_arena_alloc(struct qw_arena *a, size_t n, size_t align)
{
    size_t p = (a->used + align - 1) & ~(align - 1);
    if (p > a->cap || n > a->cap - p) return NULL;
    a->used = p + n;
    if (a->used > a->peak) a->peak = a->used;
    return a->base + p;
}
