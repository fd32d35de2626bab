/* A persistent thread pool. One job runs at a time; the calling thread takes part as thread 0, so a pool of one
 * thread runs jobs inline. Workers spin briefly between jobs (decode issues hundreds of small jobs per token, and a
 * sleeping worker costs microseconds to wake) and then sleep. */
#ifndef QW_POOL_H
#define QW_POOL_H

typedef void (*qw_pool_fn)(void *ctx, int ith, int nth);

struct qw_pool;

/* n_threads <= 0: one per online core. NULL when out of memory or threads cannot start. */
struct qw_pool *qw_pool_create(int n_threads);
void qw_pool_free(struct qw_pool *p);
int qw_pool_size(const struct qw_pool *p);
/* Calls fn(ctx, i, n) for every i in [0, n) on the pool's n threads and returns when all have finished.
 * Concurrent callers are serialised. */
void qw_pool_run(struct qw_pool *p, qw_pool_fn fn, void *ctx);

/* The rows [*lo, *hi) of n that thread ith of nth owns: contiguous, balanced, rounded to multiples of align. */
void qw_split_rows(long n, int ith, int nth, long align, long *lo, long *hi);

/* Online cores. */
int qw_cpu_count(void);

#endif
