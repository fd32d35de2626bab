/* Allocation with a fault-injection hook, checked size arithmetic, and arenas for per-pass scratch. */
#ifndef QW_MEM_H
#define QW_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every library allocation goes through these, so tests can fail the Nth one (qw_mem_fail_after) and walk N over
 * a whole load to prove that no failure crashes or leaks. qw_free(NULL) is a no-op. */
void *qw_malloc(size_t n);
void *qw_calloc(size_t count, size_t size);
void *qw_realloc(void *p, size_t n);
void *qw_aligned_alloc(size_t align, size_t n); /* align: power of two >= sizeof(void *); free with qw_free */
void qw_free(void *p);
char *qw_strndup(const char *s, size_t n);

/* Test hook: the allocation after n more succeed fails, and all after it too; n < 0 disables injection.
 * Process-wide, so only single-threaded tests use it. Returns the number of allocations made since the last call. */
long qw_mem_fail_after(long n);

/* a * b or a + b into *out; false (and *out unchanged) on overflow. */
static inline bool size_mul_ok(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}
static inline bool size_add_ok(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

/* Bump allocator: sized once, reset before every pass, never grows. */
struct qw_arena {
    uint8_t *base;
    size_t cap, used, peak;
};

bool qw_arena_init(struct qw_arena *a, size_t cap);
void qw_arena_free(struct qw_arena *a);
/* NULL when the arena is too small: the caller sized it wrong, which it reports as QWGLM_ERR_NOMEM. */
void *qw_arena_alloc(struct qw_arena *a, size_t n, size_t align);
static inline void qw_arena_reset(struct qw_arena *a) { a->used = 0; }

#endif
