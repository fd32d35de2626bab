#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "mem.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ITERS 20000 /* about 0.1-1 ms of pause instructions before a worker sleeps */

/* Each job has one slot per thread index. A slot holds the job's generation (upper bits) and its state: a worker
 * claims its own slot when it wakes, but the caller, once its own share is done, claims every slot still unclaimed
 * and runs that share itself. So every fn(ctx, i, n) still runs exactly once, and a worker that has lost its core
 * (more threads than cores on a busy machine) delays nothing: the caller only waits for shares already started.
 * The generation in each slot keeps a worker that wakes late from claiming a slot of a newer job. */
enum { SLOT_FREE, SLOT_RUNNING, SLOT_DONE, SLOT_TAKEN };

struct qw_pool {
    int n_threads;
    pthread_t *threads;
    _Atomic uint64_t *slots;  /* [n_threads]: generation << 2 | state */
    pthread_mutex_t run_lock; /* one job at a time */
    pthread_mutex_t lock;     /* guards sleeping workers */
    pthread_cond_t wake;
    _Atomic uint64_t generation; /* bumped once per job */
    _Atomic int sleepers;
    _Atomic bool stop;
    qw_pool_fn fn;
    void *ctx;
};

struct worker_arg {
    struct qw_pool *pool;
    int ith;
};

int qw_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static uint64_t wait_for_job(struct qw_pool *p, uint64_t seen)
{
    for (int i = 0; i < SPIN_ITERS; i++) {
        uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->sleepers, 1);
    uint64_t g;
    while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
    return g;
}

/* Claims slot i of job g for state `as`; false when someone else has it or the job is not g. */
static bool claim(struct qw_pool *p, int i, uint64_t g, unsigned as)
{
    uint64_t expect = g << 2 | SLOT_FREE;
    return atomic_compare_exchange_strong_explicit(&p->slots[i], &expect, g << 2 | as, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

static void *worker_main(void *arg)
{
    struct worker_arg a = *(struct worker_arg *)arg;
    qw_free(arg);
    struct qw_pool *p = a.pool;
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load(&p->stop)) break;
        if (!claim(p, a.ith, seen, SLOT_RUNNING)) continue; /* the caller took this share, or a newer job began */
        p->fn(p->ctx, a.ith, p->n_threads);
        atomic_store_explicit(&p->slots[a.ith], seen << 2 | SLOT_DONE, memory_order_release);
    }
    return NULL;
}

struct qw_pool *qw_pool_create(int n_threads)
{
    if (n_threads <= 0) n_threads = qw_cpu_count();
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
    n_threads = 1;
#endif
    struct qw_pool *p = qw_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (n_threads > 1) {
        p->threads = qw_calloc((size_t)n_threads, sizeof *p->threads);
        p->slots = qw_calloc((size_t)n_threads, sizeof *p->slots);
        if (!p->threads || !p->slots) goto fail;
        for (int i = 1; i < n_threads; i++) {
            struct worker_arg *a = qw_malloc(sizeof *a);
            if (!a) goto fail_started;
            *a = (struct worker_arg){p, i};
            if (pthread_create(&p->threads[i], NULL, worker_main, a) != 0) {
                qw_free(a);
                goto fail_started;
            }
            continue;
        fail_started:
            p->n_threads = i; /* join only the ones that started */
            qw_pool_free(p);
            return NULL;
        }
    }
    return p;
fail:
    qw_free(p->threads);
    qw_free((void *)p->slots);
    qw_free(p);
    return NULL;
}

void qw_pool_free(struct qw_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->run_lock);
    qw_free(p->threads);
    qw_free((void *)p->slots);
    qw_free(p);
}

int qw_pool_size(const struct qw_pool *p) { return p->n_threads; }

void qw_pool_run(struct qw_pool *p, qw_pool_fn fn, void *ctx)
{
    if (p->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->run_lock);
    const int n = p->n_threads;
    const uint64_t g = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
    p->fn = fn;
    p->ctx = ctx;
    for (int i = 1; i < n; i++) atomic_store_explicit(&p->slots[i], g << 2 | SLOT_FREE, memory_order_release);
    atomic_store_explicit(&p->generation, g, memory_order_release);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    fn(ctx, 0, n);
    /* shares no worker has started yet are ours */
    for (int i = 1; i < n; i++)
        if (claim(p, i, g, SLOT_TAKEN)) fn(ctx, i, n);
    /* wait for the shares workers did start; spin, then give the core up so they can finish */
    for (int i = 1; i < n; i++)
        for (int spin = 0; (atomic_load_explicit(&p->slots[i], memory_order_acquire) & 3) == SLOT_RUNNING; spin++) {
            if (spin < SPIN_ITERS) cpu_relax();
            else sched_yield();
        }
    pthread_mutex_unlock(&p->run_lock);
}

void qw_split_rows(long n, int ith, int nth, long align, long *lo, long *hi)
{
    if (align < 1) align = 1;
    long blocks = (n + align - 1) / align;
    long per = blocks / nth, extra = blocks % nth;
    long b0 = ith * per + (ith < extra ? ith : extra);
    long b1 = b0 + per + (ith < extra ? 1 : 0);
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}
