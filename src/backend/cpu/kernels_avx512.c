/* AVX-512 kernels (compiled with -mavx512f -mfma; chosen at run time when the CPU and OS support them).
 *
 * gemm_f32: y[i][j] = x[i] . w[j] (+ b[j]) for a block of input rows and a range of output features, with f32
 * weights in their checkpoint layout ([m][k], row-major: no repacking). Tiles of 4 input rows x 4 weight rows keep
 * 16 accumulators of 16 lanes in registers; each 16-value step loads 8 vectors and issues 16 FMAs, so the loop is
 * FMA-bound. Input rows are taken in blocks that fit the L2 cache (about 1 MB) and every weight row of the range
 * streams past each block once: weights are read ceil(n / block) times per call. */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

static inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

float dot_f32_avx512(const void *w, const float *x, int64_t k)
{
    const float *a = w;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= k; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(x + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(x + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(x + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(x + i + 48), s3);
    }
    for (; i + 16 <= k; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(x + i), s0);
    if (i < k) {
        __mmask16 m = (__mmask16)((1u << (k - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, x + i), s1);
    }
    return hsum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* One 4 x 4 tile: rows x[0..3] (pointers may repeat for a partial tile) against weight rows w[0..3]. */
static inline void tile4x4(const float *const x[4], const float *const w[4], int64_t k, float out[4][4])
{
    __m512 acc[4][4];
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) acc[a][b] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        __m512 w0 = _mm512_loadu_ps(w[0] + i), w1 = _mm512_loadu_ps(w[1] + i);
        __m512 w2 = _mm512_loadu_ps(w[2] + i), w3 = _mm512_loadu_ps(w[3] + i);
        for (int a = 0; a < 4; a++) {
            __m512 xa = _mm512_loadu_ps(x[a] + i);
            acc[a][0] = _mm512_fmadd_ps(xa, w0, acc[a][0]);
            acc[a][1] = _mm512_fmadd_ps(xa, w1, acc[a][1]);
            acc[a][2] = _mm512_fmadd_ps(xa, w2, acc[a][2]);
            acc[a][3] = _mm512_fmadd_ps(xa, w3, acc[a][3]);
        }
    }
    if (i < k) {
        __mmask16 m = (__mmask16)((1u << (k - i)) - 1);
        __m512 w0 = _mm512_maskz_loadu_ps(m, w[0] + i), w1 = _mm512_maskz_loadu_ps(m, w[1] + i);
        __m512 w2 = _mm512_maskz_loadu_ps(m, w[2] + i), w3 = _mm512_maskz_loadu_ps(m, w[3] + i);
        for (int a = 0; a < 4; a++) {
            __m512 xa = _mm512_maskz_loadu_ps(m, x[a] + i);
            acc[a][0] = _mm512_fmadd_ps(xa, w0, acc[a][0]);
            acc[a][1] = _mm512_fmadd_ps(xa, w1, acc[a][1]);
            acc[a][2] = _mm512_fmadd_ps(xa, w2, acc[a][2]);
            acc[a][3] = _mm512_fmadd_ps(xa, w3, acc[a][3]);
        }
    }
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) out[a][b] = hsum(acc[a][b]);
}

void gemm_f32_avx512(const struct cpu_gemm *g, int64_t j0, int64_t j1)
{
    const int64_t n = g->n, k = g->k;
    int64_t block = (int64_t)(1 << 20) / (k * 4);
    if (block < 8) block = 8;
    block = (block + 3) & ~(int64_t)3;
    for (int64_t i0 = 0; i0 < n; i0 += block) {
        int64_t i1 = i0 + block < n ? i0 + block : n;
        for (int64_t j = j0; j < j1; j += 4) {
            const float *w[4];
            for (int b = 0; b < 4; b++) {
                int64_t jj = j + b < j1 ? j + b : j1 - 1;
                w[b] = (const float *)((const uint8_t *)g->w + (size_t)jj * g->w_row);
            }
            for (int64_t i = i0; i < i1; i += 4) {
                const float *x[4];
                for (int a = 0; a < 4; a++) x[a] = g->x + (i + a < i1 ? i + a : i1 - 1) * g->x_stride;
                float out[4][4];
                tile4x4(x, w, k, out);
                for (int a = 0; a < 4 && i + a < i1; a++) {
                    float *y = g->y + (i + a) * g->y_stride;
                    for (int b = 0; b < 4 && j + b < j1; b++) y[j + b] = out[a][b] + (g->bias ? g->bias[j + b] : 0.0f);
                }
            }
        }
    }
}
