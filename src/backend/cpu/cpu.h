/* The CPU backend: plain host memory, a persistent thread pool, scalar reference kernels with SIMD variants
 * chosen at run time. */
#ifndef QW_CPU_H
#define QW_CPU_H

#include "ops/ops.h"

/* Creates a CPU backend with n_threads threads (<= 0: one per core). Free with be->ops->free(be->ctx). */
qwglm_status cpu_backend_create(int n_threads, struct qw_backend *out, struct qw_err *e);

#endif
