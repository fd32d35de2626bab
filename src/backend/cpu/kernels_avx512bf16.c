/* BF16 matrix products with AVX512_BF16: VDPBF16PS multiplies 32 bf16 pairs and adds them to 16 f32 lanes, twice
 * the work of an FMA, with the activations rounded to bf16 once per product (cpu_linear). Whether that pays depends
 * on the core: on Sapphire Rapids VDPBF16PS issues at half the rate of FMA, so cpu_dispatch.c keeps the FMA path
 * there (and f32 activations); this variant is chosen by default on AMD cores, and by name (--isa avx512bf16).
 *
 * Tiles of 4 weight rows x 4 activation rows: per 32 values, 4 weight loads and 4 activation loads feed 16
 * VDPBF16PS. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels.h"

#define INLINE static inline __attribute__((always_inline))
#define TR 4
#define TT 4
#define ACT_BLOCK 262144

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Four horizontal sums at once: [sum a, sum b, sum c, sum d] (about half the work of four separate ones). */
INLINE __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(b), 1)));
    __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(c), 1)));
    __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(d), 1)));
    __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a8, b8), _mm256_hadd_ps(c8, d8));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* out[i][j] = sum of acc[i][j] for the R x T accumulators of a tile, four at a time down each column. */
#define REDUCE_TILE(acc, out, R, T)                                                                               \
    do {                                                                                                           \
        for (int j_ = 0; j_ < (T); j_++) {                                                                         \
            float s_[4];                                                                                           \
            _mm_storeu_ps(s_, reduce4(acc[0][j_], acc[1][j_], acc[2][j_], acc[3][j_]));                            \
            for (int i_ = 0; i_ < 4; i_++) out[i_][j_] = s_[i_];                                                   \
        }                                                                                                          \
    } while (0)

INLINE __m512bh load_bh(const uint16_t *p, __mmask32 m, bool masked)
{
    __m512i v = masked ? _mm512_maskz_loadu_epi16(m, p) : _mm512_loadu_si512(p);
    return (__m512bh)v;
}

INLINE void bf16_tile(const struct cpu_gemm *g, const uint16_t *const w[TR], int64_t t, int T, float out[TR][TT])
{
    const int64_t k = g->k;
    const uint16_t *x[TT];
    for (int j = 0; j < T; j++) x[j] = g->xb + (t + j) * k;
    __m512 acc[TR][TT];
    for (int i = 0; i < TR; i++)
        for (int j = 0; j < T; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t i0 = 0;
    for (; i0 + 32 <= k; i0 += 32) {
        __m512bh xv[TT];
        for (int j = 0; j < T; j++) xv[j] = load_bh(x[j] + i0, 0, false);
        for (int i = 0; i < TR; i++) {
            __m512bh wv = load_bh(w[i] + i0, 0, false);
            for (int j = 0; j < T; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], wv, xv[j]);
        }
    }
    if (i0 < k) {
        __mmask32 m = (__mmask32)((1ull << (k - i0)) - 1);
        __m512bh xv[TT];
        for (int j = 0; j < T; j++) xv[j] = load_bh(x[j] + i0, m, true);
        for (int i = 0; i < TR; i++) {
            __m512bh wv = load_bh(w[i] + i0, m, true);
            for (int j = 0; j < T; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], wv, xv[j]);
        }
    }
    REDUCE_TILE(acc, out, TR, T);
}

static void gemm_bf16x_avx512(const struct cpu_gemm *g, int64_t r0, int64_t r1)
{
    int64_t chunk = ACT_BLOCK / (g->k * 2 > 0 ? g->k * 2 : 1);
    chunk -= chunk % TT;
    if (chunk < TT) chunk = TT;
    float out[TR][TT];
    const uint16_t *w[TR];
    for (int64_t t0 = 0; t0 < g->n; t0 += chunk) {
        const int64_t t1 = min64(g->n, t0 + chunk);
        for (int64_t r = r0; r < r1; r += TR) {
            for (int i = 0; i < TR; i++) w[i] = (const uint16_t *)(g->w + (size_t)min64(r + i, r1 - 1) * g->w_stride);
            for (int64_t t = t0; t < t1; t += TT) {
                int nt = (int)min64(TT, t1 - t);
                switch (nt) {
                case 4: bf16_tile(g, w, t, 4, out); break;
                case 3: bf16_tile(g, w, t, 3, out); break;
                case 2: bf16_tile(g, w, t, 2, out); break;
                default: bf16_tile(g, w, t, 1, out); break;
                }
                for (int i = 0; i < TR && r + i < r1; i++)
                    for (int j = 0; j < nt; j++) g->y[(t + j) * g->y_stride + r + i] = out[i][j];
            }
        }
    }
}

void cpu_kernels_avx512bf16(struct cpu_kernels *k)
{
    k->gemm_bf16x = gemm_bf16x_avx512;
}
#endif
