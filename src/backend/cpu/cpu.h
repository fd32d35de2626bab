/* The CPU backend: plain host memory, a persistent thread pool, scalar reference kernels with SIMD variants
 * chosen at run time. */
#ifndef QW_CPU_H
#define QW_CPU_H

#include "ops/ops.h"

/* Creates a CPU backend with n_threads threads (<= 0: one per core). Free with be->ops->free(be->ctx). */
qwglm_status cpu_backend_create(int n_threads, struct qw_backend *out, struct qw_err *e);
/* The same with one kernel variant by name ("scalar", "avx2", "avx512", "neon", ...; NULL: the best this CPU
 * runs). Fails with QWGLM_ERR_ARG when this machine cannot run it. */
qwglm_status cpu_backend_create_isa(int n_threads, const char *isa, struct qw_backend *out, struct qw_err *e);

/* The number of threads and the name of the kernels a CPU backend runs. */
int cpu_backend_threads(const struct qw_backend *be);
const char *cpu_backend_isa(const struct qw_backend *be);

/* ---- measuring (qwglm bench) ---- */

#define CPU_PROF_MAX 48
struct cpu_profile {
    int n;
    struct cpu_prof_entry {
        char name[24];  /* op, or "linear DTYPE" */
        int64_t calls;
        double seconds;
        double bytes;   /* weights (linear) or keys and values (attention) read */
        double flops;   /* 2 x multiply-adds (linear, attention) */
    } e[CPU_PROF_MAX];
};

/* Times every op of be (a CPU backend) from now until cpu_profile_end, which copies the totals into out and
 * restores the untimed ops. Not for concurrent use. */
qwglm_status cpu_profile_begin(struct qw_backend *be, struct qw_err *e);
void cpu_profile_end(struct qw_backend *be, struct cpu_profile *out);

/* The machine's read bandwidth in GB/s: the backend's threads each stream their share of a fresh buffer of bytes
 * (make it several times the last-level cache), reps times; the median. 0 when out of memory. *sink receives
 * a value that depends on every byte read, so nothing can be optimised away. */
double cpu_read_gbps(struct qw_backend *be, size_t bytes, int reps, uint64_t *sink);

#endif
