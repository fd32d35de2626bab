/* CPU kernels behind function pointers chosen once, when the backend starts: a scalar reference for every
 * kernel (the spec) and SIMD variants that must agree with it. */
#ifndef QW_CPU_KERNELS_H
#define QW_CPU_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/ops.h"

/* dot(w, x) over k values: w is one weight row of the given dtype, x is f32. */
typedef float (*cpu_dot_fn)(const void *w, const float *x, int64_t k);

/* A batched linear layer: y[i][j] = x[i] . w[j] (+ bias[j]) for i < n; a gemm kernel computes it for the output
 * features [j0, j1). */
struct cpu_gemm {
    const float *x;
    int64_t x_stride, n, k;
    const void *w;
    size_t w_row; /* bytes between weight rows */
    float *y;
    int64_t y_stride;
    const float *bias; /* or NULL */
};
typedef void (*cpu_gemm_fn)(const struct cpu_gemm *g, int64_t j0, int64_t j1);

struct cpu_kernels {
    cpu_dot_fn dot[QW_DTYPE_COUNT]; /* NULL for dtypes that are not weights */
    cpu_gemm_fn gemm[QW_DTYPE_COUNT]; /* batched form for several input rows; NULL: dot per element */
    const char *isa;                /* "scalar", "avx2", "avx512", ... */
};

/* Fills k with the best kernels for this CPU (or only the references when force_ref). */
void cpu_kernels_init(struct cpu_kernels *k, bool force_ref);

float dot_f32_ref(const void *w, const float *x, int64_t k);
float dot_f16_ref(const void *w, const float *x, int64_t k);
float dot_bf16_ref(const void *w, const float *x, int64_t k);
float dot_q8_ref(const void *w, const float *x, int64_t k);
float dot_q4_ref(const void *w, const float *x, int64_t k);

#if defined(__x86_64__)
float dot_f32_avx512(const void *w, const float *x, int64_t k);
void gemm_f32_avx512(const struct cpu_gemm *g, int64_t j0, int64_t j1);
#endif

/* Row conversion to f32 (embedding lookups, dequantization): n values. */
void cpu_row_to_f32(enum qw_dtype t, const void *src, float *dst, int64_t n);

#endif
