/* Convolution tiles with AVX-512 (built with the flags of kernels_avx512.c, called only where those run).
 *
 * A tile is MR = 14 output rows x 32 outputs (one packed weight block): 28 accumulators, 2 weight vectors and a
 * broadcast fill the 32 registers. Per input channel of a tap it loads the block's two weight vectors and
 * broadcasts one value of each of the 14 input rows, for 28 FMAs: 16 loads per 28 FMAs keeps the two load ports
 * below the two FMA ports, so the tile is FMA-bound as long as the weight block (n_taps c_in x 128 bytes, 112 KiB
 * at 7 taps x 128 channels) streams from L2 and the input rows from L1. Measured on one Sapphire Rapids core:
 * 139-165 GFLOP/s for C 32..256, K 2..7 (12 rows: 136-157). A block whose outputs end within its first 16 (C_out
 * 1 ... 16, or a narrow last block) runs with 14 accumulators and skips the empty half. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels.h"

#define INLINE static inline __attribute__((always_inline))
#define MR 14
#define NR CPU_CONV_NR

static inline __mmask16 lanes(int64_t n) { return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

INLINE __m512 lrelu(__m512 v, __m512 slope)
{
    return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, slope);
}

/* Rows q .. q + nq - 1 (nq <= MR; the missing rows repeat the last and are not stored), outputs o0 .. o0 + NR of
 * block wb; H = 1 or 2 halves of 16 outputs. */
INLINE void tile(const struct cpu_conv *cv, int64_t q, int nq, const float *wb, int64_t o0, const int H)
{
    __m512 acc[MR][2];
    for (int a = 0; a < MR; a++) acc[a][0] = acc[a][1] = _mm512_setzero_ps();
    const int64_t c_in = cv->c_in;
    for (int j = 0; j < cv->n_taps; j++) {
        const float *xr[MR];
        for (int a = 0; a < MR; a++) {
            int64_t r = (q + (a < nq ? a : nq - 1)) * cv->x_step + cv->tap[j];
            xr[a] = r >= 0 && r < cv->x_rows ? cv->x + r * cv->x_stride : cv->zero;
        }
        const float *w = wb + j * c_in * NR;
        for (int64_t c = 0; c < c_in; c++, w += NR) {
            __m512 w0 = _mm512_load_ps(w), w1 = H == 2 ? _mm512_load_ps(w + 16) : w0;
            for (int a = 0; a < MR; a++) {
                __m512 xv = _mm512_set1_ps(xr[a][c]);
                acc[a][0] = _mm512_fmadd_ps(xv, w0, acc[a][0]);
                if (H == 2) acc[a][1] = _mm512_fmadd_ps(xv, w1, acc[a][1]);
            }
        }
    }
    const __mmask16 m[2] = {lanes(cv->n_out - o0), lanes(cv->n_out - o0 - 16)};
    const __m512 slope = _mm512_set1_ps(cv->slope), scale = _mm512_set1_ps(cv->scale);
    __m512 bias[2];
    for (int h = 0; h < H; h++)
        bias[h] = cv->bias ? _mm512_maskz_loadu_ps(m[h], cv->bias + o0 + 16 * h) : _mm512_setzero_ps();
    for (int a = 0; a < nq; a++) {
        float *y = cv->y + (q + a) * cv->y_stride + o0;
        const float *res = cv->res ? cv->res + (q + a) * cv->res_stride + o0 : NULL;
        const float *res2 = cv->res2 ? cv->res2 + (q + a) * cv->res2_stride + o0 : NULL;
        float *act = cv->act ? cv->act + (q + a) * cv->act_stride + o0 : NULL;
        for (int h = 0; h < H; h++) {
            __m512 v = _mm512_add_ps(acc[a][h], bias[h]);
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m[h], res + 16 * h));
            if (res2) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m[h], res2 + 16 * h));
            v = _mm512_mul_ps(v, scale);
            _mm512_mask_storeu_ps(y + 16 * h, m[h], v);
            if (act) _mm512_mask_storeu_ps(act + 16 * h, m[h], lrelu(v, slope));
        }
    }
}

void conv_avx512(const struct cpu_conv *cv, int64_t q0, int64_t q1)
{
    const int64_t kc = (int64_t)cv->n_taps * cv->c_in;
    for (int64_t q = q0; q < q1; q += MR) {
        const int nq = q1 - q < MR ? (int)(q1 - q) : MR;
        for (int64_t o0 = 0; o0 < cv->n_out; o0 += NR) {
            const float *wb = cv->w + (o0 / NR) * kc * NR;
            if (cv->n_out - o0 > 16) tile(cv, q, nq, wb, o0, 2);
            else tile(cv, q, nq, wb, o0, 1);
        }
    }
}
#endif
