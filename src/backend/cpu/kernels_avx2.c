/* AVX2 kernels (with FMA and F16C: Haswell, Zen 1 and later). This file alone is built with those -m flags.
 *
 * Q8/Q4 products: a group of 16 blocks is taken as two halves of 8 blocks, one per 32-bit lane of a YMM register:
 * VPMADDWD multiplies the 16-bit pairs and adds each pair into its block's lane. Tiles are 2 weight rows x 2
 * activation rows (AVX2 has 16 vector registers: 4 integer and 4 float accumulators, weights and scales). A row's
 * last group, when it holds fewer than 16 blocks, is done by the scalar code: reading its pairs with full-width
 * loads could run past the row. Float products use tiles of 4 x 2. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "base/fp.h"
#include "kernels.h"
#include "ops/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define ACT_BLOCK 262144

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE int32_t hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* ---- Q8 / Q4 ---- */

#define QR 2
#define QT 2

/* Blocks [16 g + 8 h, + 8) of R rows x T activation rows (a full group). */
INLINE void quant_half(const uint8_t *const w[QR], const int16_t *const x[QT], const float *const xd[QT],
                       const int32_t *const xs[QT], int64_t g, int h, int64_t k, int T, bool q4, __m256 facc[QR][QT])
{
    __m256i iacc[QR][QT];
    for (int i = 0; i < QR; i++)
        for (int j = 0; j < T; j++) iacc[i][j] = _mm256_setzero_si256();
    const int64_t xoff = 512 * g + 16 * h;
    if (q4) {
        const __m256i low = _mm256_set1_epi16(15);
        for (int c = 0; c < 8; c++)
            for (int i = 0; i < QR; i++) {
                __m256i wide = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w[i] + 256 * g + 32 * c + 16 * h)));
                __m256i lo = _mm256_and_si256(wide, low), hi = _mm256_srli_epi16(wide, 4);
                for (int j = 0; j < T; j++) {
                    __m256i xl = _mm256_loadu_si256((const __m256i *)(x[j] + xoff + 32 * c));
                    __m256i xh = _mm256_loadu_si256((const __m256i *)(x[j] + xoff + 32 * (c + 8)));
                    iacc[i][j] = _mm256_add_epi32(iacc[i][j], _mm256_madd_epi16(lo, xl));
                    iacc[i][j] = _mm256_add_epi32(iacc[i][j], _mm256_madd_epi16(hi, xh));
                }
            }
    } else {
        for (int c = 0; c < 16; c++)
            for (int i = 0; i < QR; i++) {
                __m256i wide = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w[i] + 512 * g + 32 * c + 16 * h)));
                for (int j = 0; j < T; j++) {
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(x[j] + xoff + 32 * c));
                    iacc[i][j] = _mm256_add_epi32(iacc[i][j], _mm256_madd_epi16(wide, xv));
                }
            }
    }
    const int64_t sc = (q4 ? k / 2 : k) + 32 * g + 16 * h;
    for (int i = 0; i < QR; i++) {
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w[i] + sc)));
        for (int j = 0; j < T; j++) {
            __m256i v = iacc[i][j];
            if (q4) v = _mm256_sub_epi32(v, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(xs[j] + 16 * g + 8 * h)), 3));
            __m256 s = _mm256_mul_ps(dw, _mm256_loadu_ps(xd[j] + 16 * g + 8 * h));
            facc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), s, facc[i][j]);
        }
    }
}

/* Blocks [b0, nb) the scalar way, as the reference computes each block. */
static float quant_tail(const uint8_t *row, const int16_t *xq, const float *xd, int64_t k, int64_t b0, bool q4)
{
    const int64_t nb = k / QW_QBLOCK;
    int8_t wq[QW_QBLOCK];
    float sum = 0;
    for (int64_t b = b0; b < nb; b++) {
        float dw = q4 ? qw_q4_block(row, k, b, wq) : qw_q8_block(row, k, b, wq);
        int32_t dot = 0;
        for (int c = 0; c < QW_QBLOCK / 2; c++) {
            const int16_t *xp = xq + 2 * qw_pair_index(nb, b, c, 16);
            dot += wq[2 * c] * xp[0] + wq[2 * c + 1] * xp[1];
        }
        sum += (float)dot * (dw * xd[b]);
    }
    return sum;
}

INLINE void quant_tile(const struct cpu_gemm *g, const uint8_t *const w[QR], int64_t t, int T, bool q4, float out[QR][QT])
{
    const int64_t k = g->k, nb = k / QW_QBLOCK, n_groups = nb / QW_QGROUP;
    const int16_t *x[QT];
    const float *xd[QT];
    const int32_t *xs[QT];
    for (int j = 0; j < T; j++) {
        x[j] = g->a.q + (t + j) * k;
        xd[j] = g->a.d + (t + j) * nb;
        xs[j] = g->a.s + (t + j) * nb;
    }
    __m256 facc[QR][QT];
    for (int i = 0; i < QR; i++)
        for (int j = 0; j < T; j++) facc[i][j] = _mm256_setzero_ps();
    for (int64_t gi = 0; gi < n_groups; gi++)
        for (int h = 0; h < 2; h++) quant_half(w, x, xd, xs, gi, h, k, T, q4, facc);
    for (int i = 0; i < QR; i++)
        for (int j = 0; j < T; j++) {
            out[i][j] = hsum8(facc[i][j]);
            if (nb % QW_QGROUP) out[i][j] += quant_tail(w[i], x[j], xd[j], k, n_groups * QW_QGROUP, q4);
        }
}

INLINE void gemm_quant(const struct cpu_gemm *g, int64_t r0, int64_t r1, bool q4)
{
    int64_t chunk = ACT_BLOCK / (g->k * 2);
    chunk = chunk < QT ? QT : chunk - chunk % QT;
    float out[QR][QT];
    const uint8_t *w[QR];
    for (int64_t t0 = 0; t0 < g->n; t0 += chunk) {
        const int64_t t1 = min64(g->n, t0 + chunk);
        for (int64_t r = r0; r < r1; r += QR) {
            for (int i = 0; i < QR; i++) w[i] = g->w + (size_t)min64(r + i, r1 - 1) * g->w_stride;
            for (int64_t t = t0; t < t1; t += QT) {
                int nt = (int)min64(QT, t1 - t);
                if (nt == 2) quant_tile(g, w, t, 2, q4, out);
                else quant_tile(g, w, t, 1, q4, out);
                for (int i = 0; i < QR && r + i < r1; i++)
                    for (int j = 0; j < nt; j++) g->y[(t + j) * g->y_stride + r + i] = out[i][j];
            }
        }
    }
}

static void gemm_q8_avx2(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, false); }
static void gemm_q4_avx2(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, true); }

/* Vector max-abs, then the reference's scalar rounding (bit-exact by construction). */
static void quantize_act16_avx2(const float *x, int64_t k, int16_t *q, float *d, int32_t *s)
{
    const int64_t nb = k / QW_QBLOCK;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const float *v = x + 32 * b;
        __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(v));
        for (int i = 8; i < 32; i += 8) a = _mm256_max_ps(a, _mm256_andnot_ps(sign, _mm256_loadu_ps(v + i)));
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        float amax = _mm_cvtss_f32(m), db = amax / 32767.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        __m256 vid = _mm256_set1_ps(id);
        __m256i lim = _mm256_set1_epi32(32767), nlim = _mm256_set1_epi32(-32767), sum = _mm256_setzero_si256();
        int32_t qv[32];
        for (int i = 0; i < 32; i += 8) {
            __m256i qi = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + i), vid));
            qi = _mm256_max_epi32(_mm256_min_epi32(qi, lim), nlim);
            sum = _mm256_add_epi32(sum, qi);
            _mm256_storeu_si256((__m256i *)(qv + i), qi);
        }
        d[b] = db;
        s[b] = hsum8i(sum);
        for (int c = 0; c < 16; c++) {
            int16_t *dst = q + 2 * qw_pair_index(nb, b, c, 16);
            dst[0] = (int16_t)qv[2 * c];
            dst[1] = (int16_t)qv[2 * c + 1];
        }
    }
}

/* ---- f32 / f16 / bf16 weights x f32 activations ---- */

#define FR 4
#define FT 2

enum ftype { FT_F32, FT_F16, FT_BF16 };

INLINE __m256 load_w8(const uint8_t *row, int64_t i, enum ftype ft)
{
    switch (ft) {
    case FT_F32: return _mm256_loadu_ps((const float *)row + i);
    case FT_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    case FT_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i))), 16));
    }
    return _mm256_setzero_ps();
}

INLINE float w_at(const uint8_t *row, int64_t i, enum ftype ft)
{
    uint16_t h;
    switch (ft) {
    case FT_F32: return ((const float *)row)[i];
    case FT_F16: memcpy(&h, row + 2 * i, 2); return f16_to_f32(h);
    case FT_BF16: memcpy(&h, row + 2 * i, 2); return bf16_to_f32(h);
    }
    return 0;
}

INLINE void float_tile(const struct cpu_gemm *g, const uint8_t *const w[FR], int64_t t, int T, enum ftype ft,
                       float out[FR][FT])
{
    const int64_t k = g->k;
    const float *x[FT];
    for (int j = 0; j < T; j++) x[j] = g->x + (t + j) * g->x_stride;
    __m256 acc[FR][FT];
    for (int i = 0; i < FR; i++)
        for (int j = 0; j < T; j++) acc[i][j] = _mm256_setzero_ps();
    int64_t i0 = 0;
    for (; i0 + 8 <= k; i0 += 8)
        for (int i = 0; i < FR; i++) {
            __m256 wv = load_w8(w[i], i0, ft);
            for (int j = 0; j < T; j++) acc[i][j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x[j] + i0), acc[i][j]);
        }
    for (int i = 0; i < FR; i++)
        for (int j = 0; j < T; j++) {
            float s = hsum8(acc[i][j]);
            for (int64_t c = i0; c < k; c++) s += w_at(w[i], c, ft) * x[j][c];
            out[i][j] = s;
        }
}

INLINE void gemm_float(const struct cpu_gemm *g, int64_t r0, int64_t r1, enum ftype ft)
{
    int64_t chunk = ACT_BLOCK / (g->k * 4 > 0 ? g->k * 4 : 1);
    chunk = chunk < FT ? FT : chunk - chunk % FT;
    float out[FR][FT];
    const uint8_t *w[FR];
    for (int64_t t0 = 0; t0 < g->n; t0 += chunk) {
        const int64_t t1 = min64(g->n, t0 + chunk);
        for (int64_t r = r0; r < r1; r += FR) {
            for (int i = 0; i < FR; i++) w[i] = g->w + (size_t)min64(r + i, r1 - 1) * g->w_stride;
            for (int64_t t = t0; t < t1; t += FT) {
                int nt = (int)min64(FT, t1 - t);
                if (nt == 2) float_tile(g, w, t, 2, ft, out);
                else float_tile(g, w, t, 1, ft, out);
                for (int i = 0; i < FR && r + i < r1; i++)
                    for (int j = 0; j < nt; j++) g->y[(t + j) * g->y_stride + r + i] = out[i][j];
            }
        }
    }
}

static void gemm_f32_avx2(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, FT_F32); }
static void gemm_f16_avx2(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, FT_F16); }
static void gemm_bf16_avx2(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, FT_BF16); }

INLINE float dot_float(const void *w, const float *x, int64_t k, enum ftype ft)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        a0 = _mm256_fmadd_ps(load_w8(w, i, ft), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(load_w8(w, i + 8, ft), _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= k; i += 8) a0 = _mm256_fmadd_ps(load_w8(w, i, ft), _mm256_loadu_ps(x + i), a0);
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < k; i++) s += w_at(w, i, ft) * x[i];
    return s;
}

static float dot_f32_avx2(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, FT_F32); }
static float dot_f16_avx2(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, FT_F16); }
static float dot_bf16_avx2(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, FT_BF16); }

/* ---- conversions ---- */

static void to_f16_avx2(const float *x, uint16_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = f32_to_f16(x[i]);
}

static void from_f16_avx2(const uint16_t *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++) y[i] = f16_to_f32(x[i]);
}

/* ---- exp and the element-wise rows ---- */

/* As exp512 in kernels_avx512.c: 2^n e^r, degree-7 Taylor polynomial; 2^n built in the exponent bits in two
 * halves so that n down to -252 (subnormal results) stays exact. */
INLINE __m256 exp256(__m256 x)
{
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.8f)), _mm256_set1_ps(-103.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606820309417232e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    __m256 res = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    return _mm256_blendv_ps(res, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(88.72284f), _CMP_GT_OQ));
}

static float exp_sum_avx2(float *x, int n, float m)
{
    __m256 vm = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    float s = hsum8(sum);
    for (; i < n; i++) s += x[i] = expf(x[i] - m);
    return s;
}

static void swiglu_avx2(float *y, const float *gate, const float *up, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(gate + i);
        __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), gv))));
        _mm256_storeu_ps(y + i, up ? _mm256_mul_ps(s, _mm256_loadu_ps(up + i)) : s);
    }
    for (; i < n; i++) y[i] = gate[i] / (1.0f + expf(-gate[i])) * (up ? up[i] : 1.0f);
}

/* As tanh_sigmoid_avx512: tanh a = 1 - 2 / (e^2a + 1), sigmoid b = 1 / (1 + e^-b). */
static void tanh_sigmoid_avx2(float *y, const float *a, const float *b, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 av = _mm256_loadu_ps(a + i), bv = _mm256_loadu_ps(b + i);
        __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(exp256(_mm256_add_ps(av, av)), one)));
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), bv))));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(t, s));
    }
    for (; i < n; i++) y[i] = tanhf(a[i]) * (1.0f / (1.0f + expf(-b[i])));
}

static void leaky_relu_avx2(float *y, const float *x, int64_t n, float slope)
{
    const __m256 sv = _mm256_set1_ps(slope), zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(v, _mm256_mul_ps(v, sv), _mm256_cmp_ps(v, zero, _CMP_LT_OQ)));
    }
    for (; i < n; i++) y[i] = x[i] >= 0.0f ? x[i] : x[i] * slope;
}

static void add_avx2(float *y, const float *a, const float *b, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

/* ---- attention tiles ---- */

/* 8 values of a key or value row at element o, and one value: f32 as stored, or f16 widened as loaded. */
INLINE __m256 kv_load8(const void *row, int o, const bool f16)
{
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + o)));
    return _mm256_loadu_ps((const float *)row + o);
}

INLINE float kv_load1(const void *row, int o, const bool f16)
{
    return f16 ? _cvtsh_ss(((const uint16_t *)row)[o]) : ((const float *)row)[o];
}

INLINE const void *kv_row(const void *base, int64_t j, int64_t stride, const bool f16)
{
    return (const uint8_t *)base + (size_t)(j * stride) * (f16 ? 2 : 4);
}

INLINE void attn_scores_rows(const float *q, int n_q, const void *k, int64_t k_stride, int n_k, int hd, float *s,
                             int s_stride, const bool f16)
{
    for (int j = 0; j < n_k; j++) {
        const void *kj = kv_row(k, j, k_stride, f16);
        for (int i = 0; i < n_q; i++) {
            const float *qi = q + (size_t)i * hd;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            int d = 0;
            for (; d + 16 <= hd; d += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + d), kv_load8(kj, d, f16), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + d + 8), kv_load8(kj, d + 8, f16), a1);
            }
            for (; d + 8 <= hd; d += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + d), kv_load8(kj, d, f16), a0);
            float sum = hsum8(_mm256_add_ps(a0, a1));
            for (; d < hd; d++) sum += qi[d] * kv_load1(kj, d, f16);
            s[(size_t)i * s_stride + j] = sum;
        }
    }
}

INLINE void attn_accum_rows(float *acc, int n_q, const float *p, int p_stride, const void *v, int64_t v_stride,
                            int n_k, int hd, const bool f16)
{
    for (int i = 0; i < n_q; i++) {
        float *ai = acc + (size_t)i * hd;
        const float *pi = p + (size_t)i * p_stride;
        int d = 0;
        for (; d + 32 <= hd; d += 32) {
            __m256 a0 = _mm256_loadu_ps(ai + d), a1 = _mm256_loadu_ps(ai + d + 8), a2 = _mm256_loadu_ps(ai + d + 16),
                   a3 = _mm256_loadu_ps(ai + d + 24);
            for (int j = 0; j < n_k; j++) {
                __m256 pj = _mm256_set1_ps(pi[j]);
                const void *vj = kv_row(v, j, v_stride, f16);
                a0 = _mm256_fmadd_ps(pj, kv_load8(vj, d, f16), a0);
                a1 = _mm256_fmadd_ps(pj, kv_load8(vj, d + 8, f16), a1);
                a2 = _mm256_fmadd_ps(pj, kv_load8(vj, d + 16, f16), a2);
                a3 = _mm256_fmadd_ps(pj, kv_load8(vj, d + 24, f16), a3);
            }
            _mm256_storeu_ps(ai + d, a0);
            _mm256_storeu_ps(ai + d + 8, a1);
            _mm256_storeu_ps(ai + d + 16, a2);
            _mm256_storeu_ps(ai + d + 24, a3);
        }
        for (; d < hd; d++)
            for (int j = 0; j < n_k; j++) ai[d] += pi[j] * kv_load1(kv_row(v, j, v_stride, f16), d, f16);
    }
}

static void attn_scores_avx2(const float *q, int n_q, const float *k, int64_t k_stride, int n_k, int hd, float *s,
                             int s_stride)
{
    attn_scores_rows(q, n_q, k, k_stride, n_k, hd, s, s_stride, false);
}

static void attn_accum_avx2(float *acc, int n_q, const float *p, int p_stride, const float *v, int64_t v_stride,
                            int n_k, int hd)
{
    attn_accum_rows(acc, n_q, p, p_stride, v, v_stride, n_k, hd, false);
}

static void attn_scores_f16_avx2(const float *q, int n_q, const uint16_t *k, int64_t k_stride, int n_k, int hd,
                                 float *s, int s_stride)
{
    attn_scores_rows(q, n_q, k, k_stride, n_k, hd, s, s_stride, true);
}

static void attn_accum_f16_avx2(float *acc, int n_q, const float *p, int p_stride, const uint16_t *v,
                                int64_t v_stride, int n_k, int hd)
{
    attn_accum_rows(acc, n_q, p, p_stride, v, v_stride, n_k, hd, true);
}

/* Four streams a quarter of the buffer apart, as read_bytes_avx512. */
static uint64_t read_bytes_avx2(const void *p, size_t n)
{
    const uint8_t *b = p;
    const size_t q = n / 4 & ~(size_t)31;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < q; i += 32) {
        a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)(b + i)));
        a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(b + q + i)));
        a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(b + 2 * q + i)));
        a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(b + 3 * q + i)));
    }
    __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, a);
    return out[0] | out[1] | out[2] | out[3];
}

void cpu_kernels_avx2(struct cpu_kernels *k)
{
    k->isa = "avx2";
    k->gemm[QW_DTYPE_F32] = gemm_f32_avx2;
    k->gemm[QW_DTYPE_F16] = gemm_f16_avx2;
    k->gemm[QW_DTYPE_BF16] = gemm_bf16_avx2;
    k->gemm[QW_DTYPE_Q8] = gemm_q8_avx2;
    k->gemm[QW_DTYPE_Q4] = gemm_q4_avx2;
    k->dot[QW_DTYPE_F32] = dot_f32_avx2;
    k->dot[QW_DTYPE_F16] = dot_f16_avx2;
    k->dot[QW_DTYPE_BF16] = dot_bf16_avx2;
    k->quantize_act16 = quantize_act16_avx2;
    k->to_f16 = to_f16_avx2;
    k->from_f16 = from_f16_avx2;
    k->attn_scores = attn_scores_avx2;
    k->attn_accum = attn_accum_avx2;
    k->attn_scores_f16 = attn_scores_f16_avx2;
    k->attn_accum_f16 = attn_accum_f16_avx2;
    k->exp_sum = exp_sum_avx2;
    k->swiglu = swiglu_avx2;
    k->add = add_avx2;
    k->read_bytes = read_bytes_avx2;
    k->conv = conv_avx2; /* kernels_conv_avx2.c */
    k->conv_rows = 6;
    k->leaky_relu = leaky_relu_avx2;
    k->tanh_sigmoid = tanh_sigmoid_avx2;
}
#endif
