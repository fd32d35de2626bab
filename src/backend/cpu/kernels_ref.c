#include <string.h>

#include "base/fp.h"
#include "kernels.h"
#include "ops/quant.h"

/* Four accumulators: the same association in every kernel variant keeps results close to each other. */
float dot_f32_ref(const void *w, const float *x, int64_t k)
{
    const float *a = w;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) {
        s0 += a[i] * x[i];
        s1 += a[i + 1] * x[i + 1];
        s2 += a[i + 2] * x[i + 2];
        s3 += a[i + 3] * x[i + 3];
    }
    for (; i < k; i++) s0 += a[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

float dot_bf16_ref(const void *w, const float *x, int64_t k)
{
    const uint16_t *a = w;
    float s0 = 0, s1 = 0;
    int64_t i = 0;
    for (; i + 2 <= k; i += 2) {
        s0 += bf16_to_f32(a[i]) * x[i];
        s1 += bf16_to_f32(a[i + 1]) * x[i + 1];
    }
    for (; i < k; i++) s0 += bf16_to_f32(a[i]) * x[i];
    return s0 + s1;
}

float dot_f16_ref(const void *w, const float *x, int64_t k)
{
    const uint16_t *a = w;
    float s = 0;
    for (int64_t i = 0; i < k; i++) s += f16_to_f32(a[i]) * x[i];
    return s;
}

float dot_q8_ref(const void *w, const float *x, int64_t k)
{
    const struct qw_block_q8 *b = w;
    float s = 0;
    for (int64_t j = 0; j < k / QW_QBLOCK; j++) {
        float acc = 0;
        for (int i = 0; i < QW_QBLOCK; i++) acc += (float)b[j].q[i] * x[j * QW_QBLOCK + i];
        s += acc * f16_to_f32(b[j].d);
    }
    return s;
}

float dot_q4_ref(const void *w, const float *x, int64_t k)
{
    const struct qw_block_q4 *b = w;
    float s = 0;
    for (int64_t j = 0; j < k / QW_QBLOCK; j++) {
        const float *xb = x + j * QW_QBLOCK;
        float acc = 0;
        for (int i = 0; i < QW_QBLOCK / 2; i++)
            acc += (float)((b[j].q[i] & 15) - 8) * xb[i] + (float)((b[j].q[i] >> 4) - 8) * xb[i + 16];
        s += acc * f16_to_f32(b[j].d);
    }
    return s;
}

void cpu_row_to_f32(enum qw_dtype t, const void *src, float *dst, int64_t n)
{
    switch (t) {
    case QW_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case QW_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case QW_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case QW_DTYPE_Q8: qw_dequantize_q8(src, dst, n); break;
    case QW_DTYPE_Q4: qw_dequantize_q4(src, dst, n); break;
    case QW_DTYPE_I32:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i];
        break;
    case QW_DTYPE_COUNT: break;
    }
}

void cpu_kernels_init(struct cpu_kernels *k, bool force_ref)
{
    memset(k, 0, sizeof *k);
    k->dot[QW_DTYPE_F32] = dot_f32_ref;
    k->dot[QW_DTYPE_F16] = dot_f16_ref;
    k->dot[QW_DTYPE_BF16] = dot_bf16_ref;
    k->dot[QW_DTYPE_Q8] = dot_q8_ref;
    k->dot[QW_DTYPE_Q4] = dot_q4_ref;
    k->isa = "scalar";
    if (force_ref) return;
#if defined(__x86_64__)
    /* __builtin_cpu_supports checks the OS's XCR0 state bits for AVX-512 as well as CPUID */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        k->dot[QW_DTYPE_F32] = dot_f32_avx512;
        k->gemm[QW_DTYPE_F32] = gemm_f32_avx512;
        k->isa = "avx512";
    }
#endif
}
