/* Convolution tiles with AVX2 + FMA (built with the flags of kernels_avx2.c, called only where those run).
 *
 * AVX2 has 16 vector registers: a tile is MR = 6 output rows x 16 outputs (half a packed weight block, two YMM
 * vectors), 12 accumulators, 2 weight vectors and one broadcast; per input channel 2 loads and 6 broadcasts feed
 * 12 FMAs. A block's second half is skipped when its outputs end within the first. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels.h"

#define INLINE static inline __attribute__((always_inline))
#define MR 6
#define NR CPU_CONV_NR

INLINE __m256 mask8(int64_t n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > 8 ? 8 : n < 0 ? 0 : n)), idx));
}

/* Rows q .. q + nq - 1 (nq <= MR; missing rows repeat the last and are not stored), outputs o0 .. o0 + 16, whose
 * weights start at wb (a block, or its second half). */
INLINE void tile(const struct cpu_conv *cv, int64_t q, int nq, const float *wb, int64_t o0)
{
    __m256 acc[MR][2];
    for (int a = 0; a < MR; a++) acc[a][0] = acc[a][1] = _mm256_setzero_ps();
    const int64_t c_in = cv->c_in;
    for (int j = 0; j < cv->n_taps; j++) {
        const float *xr[MR];
        for (int a = 0; a < MR; a++) {
            int64_t r = (q + (a < nq ? a : nq - 1)) * cv->x_step + cv->tap[j];
            xr[a] = r >= 0 && r < cv->x_rows ? cv->x + r * cv->x_stride : cv->zero;
        }
        const float *w = wb + j * c_in * NR;
        for (int64_t c = 0; c < c_in; c++, w += NR) {
            __m256 w0 = _mm256_load_ps(w), w1 = _mm256_load_ps(w + 8);
            for (int a = 0; a < MR; a++) {
                __m256 xv = _mm256_broadcast_ss(xr[a] + c);
                acc[a][0] = _mm256_fmadd_ps(xv, w0, acc[a][0]);
                acc[a][1] = _mm256_fmadd_ps(xv, w1, acc[a][1]);
            }
        }
    }
    const __m256 m[2] = {mask8(cv->n_out - o0), mask8(cv->n_out - o0 - 8)};
    const __m256 slope = _mm256_set1_ps(cv->slope), scale = _mm256_set1_ps(cv->scale), zero = _mm256_setzero_ps();
    __m256 bias[2];
    for (int h = 0; h < 2; h++)
        bias[h] = cv->bias ? _mm256_maskload_ps(cv->bias + o0 + 8 * h, _mm256_castps_si256(m[h])) : zero;
    for (int a = 0; a < nq; a++) {
        float *y = cv->y + (q + a) * cv->y_stride + o0;
        const float *res = cv->res ? cv->res + (q + a) * cv->res_stride + o0 : NULL;
        const float *res2 = cv->res2 ? cv->res2 + (q + a) * cv->res2_stride + o0 : NULL;
        float *act = cv->act ? cv->act + (q + a) * cv->act_stride + o0 : NULL;
        for (int h = 0; h < 2; h++) {
            const __m256i mi = _mm256_castps_si256(m[h]);
            __m256 v = _mm256_add_ps(acc[a][h], bias[h]);
            if (res) v = _mm256_add_ps(v, _mm256_maskload_ps(res + 8 * h, mi));
            if (res2) v = _mm256_add_ps(v, _mm256_maskload_ps(res2 + 8 * h, mi));
            v = _mm256_mul_ps(v, scale);
            _mm256_maskstore_ps(y + 8 * h, mi, v);
            if (act) {
                __m256 neg = _mm256_cmp_ps(v, zero, _CMP_LT_OQ);
                _mm256_maskstore_ps(act + 8 * h, mi, _mm256_blendv_ps(v, _mm256_mul_ps(v, slope), neg));
            }
        }
    }
}

void conv_avx2(const struct cpu_conv *cv, int64_t q0, int64_t q1)
{
    const int64_t kc = (int64_t)cv->n_taps * cv->c_in;
    for (int64_t q = q0; q < q1; q += MR) {
        const int nq = q1 - q < MR ? (int)(q1 - q) : MR;
        for (int64_t o0 = 0; o0 < cv->n_out; o0 += NR) {
            const float *wb = cv->w + (o0 / NR) * kc * NR;
            tile(cv, q, nq, wb, o0);
            if (cv->n_out - o0 > 16) tile(cv, q, nq, wb + 16, o0 + 16);
        }
    }
}
#endif
