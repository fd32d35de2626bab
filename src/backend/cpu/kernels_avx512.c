/* AVX-512 kernels (F, BW, VL, DQ and VNNI: Ice Lake, Sapphire Rapids, Zen 4 and later). This file alone is built
 * with those -m flags; cpu_kernels_init calls it only after checking CPUID and the OS's register state (XGETBV).
 *
 * Matrix products work on tiles of R = 4 weight rows x T <= 3 activation rows: each weight byte is widened once
 * per tile and meets T activation rows, each activation load feeds 4 rows. A decode product (T = 1) streams
 * 4 weight rows at a time and is bound by memory bandwidth: per 32 Q4 weights it issues one 32-byte load,
 * a widen, two logic ops and two VPDPWSSD, far below what a core can retire while DRAM delivers 18 bytes.
 * Prefill products (T = 3) reuse each widened weight vector three times and are bound by VPDPWSSD throughput.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "ops/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define TR 4             /* weight rows per tile */
#define DR 8             /* weight rows per decode tile (one activation row): more streams in flight */
#define TT 3             /* activation rows per tile (prefill) */
#define ACT_BLOCK 524288 /* bytes of activations kept hot in L2 while a stripe of weight rows passes */
#define KCQ 8            /* prefill: groups of 512 columns per pass of a Q8/Q4 product */
#ifndef PREFETCH
#define PREFETCH 1024    /* decode: bytes ahead in each weight row, so new pages are requested before they are due */
#endif


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

/* out[i][j] = sum of acc[i][j] for the 4 x T accumulators of a tile, four at a time down each column. */
#define REDUCE_TILE(acc, out, T)                                                                                   \
    do {                                                                                                           \
        for (int j_ = 0; j_ < (T); j_++) {                                                                         \
            float s_[4];                                                                                           \
            _mm_storeu_ps(s_, reduce4(acc[0][j_], acc[1][j_], acc[2][j_], acc[3][j_]));                            \
            for (int i_ = 0; i_ < 4; i_++) out[i_][j_] = s_[i_];                                                   \
        }                                                                                                          \
    } while (0)

/* Rows [r, r + TR) clipped to r1: missing rows repeat the last one (their results are dropped). */
INLINE void tile_rows(const struct cpu_gemm *g, int64_t r, int64_t r1, const uint8_t *w[TR])
{
    for (int i = 0; i < TR; i++) w[i] = g->w + (size_t)min64(r + i, r1 - 1) * g->w_stride;
}

/* Activation rows per L2-sized chunk, a multiple of TT. */
static int64_t act_chunk(int64_t row_bytes)
{
    int64_t n = ACT_BLOCK / (row_bytes > 0 ? row_bytes : 1);
    n -= n % TT;
    return n < TT ? TT : n;
}

/* ---- Q8 / Q4 x 16-bit activations ---- */

/* One group of m blocks (m = 16 except in a row's last group) for R rows x T activation rows. Weight pair c
 * (Q8: 2m bytes, sign-extended; Q4: 2m bytes whose low nibbles are pair c and high nibbles pair c + 8) meets
 * activation pair c at 16-bit offset 2mc in the group; lane L accumulates block L. */
INLINE void quant_group(const uint8_t *const *w, const int16_t *const x[TT], const float *const xd[TT],
                        const int32_t *const xs[TT], int64_t g, int m, int64_t k, int R, int T, bool q4,
                        int64_t pf, int64_t pf_scales, __m512 (*facc)[TT])
{
    const __mmask32 m2 = m == 16 ? 0xffffffffu : (__mmask32)((1u << (2 * m)) - 1);
    const __mmask16 m1 = m == 16 ? 0xffff : (__mmask16)((1u << m) - 1);
    const int64_t wq_off = q4 ? 256 * g : 512 * g, xq_off = 512 * g;
    if (T == 1) /* the scales are a second, slower stream at the end of each row: ask for them early too */
        for (int i = 0; i < R; i++) _mm_prefetch((const char *)w[i] + (q4 ? k / 2 : k) + 32 * g + pf_scales, _MM_HINT_T0);
    /* decode (T = 1) splits each row's sum into two chains (even / odd products) so the VPDPWSSD latency
     * overlaps; prefill tiles have enough independent accumulators already */
    __m512i iacc[DR][TT], iacc2[DR];
    for (int i = 0; i < R; i++) {
        iacc2[i] = _mm512_setzero_si512();
        for (int j = 0; j < T; j++) iacc[i][j] = _mm512_setzero_si512();
    }
    if (q4) {
        const __m512i low = _mm512_set1_epi16(15);
        for (int c = 0; c < 8; c++) {
            for (int i = 0; i < R; i++) {
                const uint8_t *p = w[i] + wq_off + 2 * m * c;
                if (T == 1 && c % 2 == 0) _mm_prefetch((const char *)p + pf, _MM_HINT_T0);
                __m256i raw = m == 16 ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi8(m2, p);
                __m512i wide = _mm512_cvtepu8_epi16(raw);
                __m512i lo = _mm512_and_si512(wide, low), hi = _mm512_srli_epi16(wide, 4);
                for (int j = 0; j < T; j++) {
                    const int16_t *xp = x[j] + xq_off + 2 * m * c, *xh = x[j] + xq_off + 2 * m * (c + 8);
                    __m512i xl = m == 16 ? _mm512_loadu_si512(xp) : _mm512_maskz_loadu_epi16(m2, xp);
                    __m512i xu = m == 16 ? _mm512_loadu_si512(xh) : _mm512_maskz_loadu_epi16(m2, xh);
                    iacc[i][j] = _mm512_dpwssd_epi32(iacc[i][j], lo, xl);
                    if (T == 1) iacc2[i] = _mm512_dpwssd_epi32(iacc2[i], hi, xu);
                    else iacc[i][j] = _mm512_dpwssd_epi32(iacc[i][j], hi, xu);
                }
            }
        }
    } else {
        for (int c = 0; c < 16; c++) {
            for (int i = 0; i < R; i++) {
                const uint8_t *p = w[i] + wq_off + 2 * m * c;
                if (T == 1 && c % 2 == 0) _mm_prefetch((const char *)p + pf, _MM_HINT_T0);
                __m256i raw = m == 16 ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi8(m2, p);
                __m512i wide = _mm512_cvtepi8_epi16(raw);
                for (int j = 0; j < T; j++) {
                    const int16_t *xp = x[j] + xq_off + 2 * m * c;
                    __m512i xv = m == 16 ? _mm512_loadu_si512(xp) : _mm512_maskz_loadu_epi16(m2, xp);
                    if (T == 1 && c % 2) iacc2[i] = _mm512_dpwssd_epi32(iacc2[i], wide, xv);
                    else iacc[i][j] = _mm512_dpwssd_epi32(iacc[i][j], wide, xv);
                }
            }
        }
    }
    /* lanes past m hold zeros in weights, activations and scales, so they add nothing */
    __m512 dx[TT];
    __m512i off[TT];
    for (int j = 0; j < T; j++) {
        dx[j] = _mm512_maskz_loadu_ps(m1, xd[j] + 16 * g);
        if (q4) off[j] = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m1, xs[j] + 16 * g), 3);
    }
    const int64_t sc_off = (q4 ? k / 2 : k) + 32 * g;
    if (T == 1)
        for (int i = 0; i < R; i++) iacc[i][0] = _mm512_add_epi32(iacc[i][0], iacc2[i]);
    for (int i = 0; i < R; i++) {
        __m512 dw = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m1, w[i] + sc_off));
        for (int j = 0; j < T; j++) {
            __m512i v = q4 ? _mm512_sub_epi32(iacc[i][j], off[j]) : iacc[i][j];
            facc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(dw, dx[j]), facc[i][j]);
        }
    }
}

/* Groups [g0, g1) of a tile of R weight rows (g1 may include the row's short last group). */
INLINE void quant_tile(const struct cpu_gemm *g, const uint8_t *const *w, int R, int64_t t, int T, int64_t g0,
                       int64_t g1, bool q4, float (*out)[TT])
{
    /* decode prefetch distance: within the row for long rows; for short ones (a tile of R rows spans a few KiB),
     * the same place R rows on, i.e. in the next tile */
    const int64_t span = (int64_t)g->w_stride * R;
    const int64_t pf = span <= 32768 ? span : PREFETCH, pf_scales = span <= 32768 ? span : 256;
    const int64_t k = g->k, nb = k / QW_QBLOCK, n_groups = nb / QW_QGROUP;
    const int tail = (int)(nb % QW_QGROUP);
    const int16_t *x[TT];
    const float *xd[TT];
    const int32_t *xs[TT];
    for (int j = 0; j < T; j++) {
        x[j] = g->a.q + (t + j) * k;
        xd[j] = g->a.d + (t + j) * nb;
        xs[j] = g->a.s + (t + j) * nb;
    }
    __m512 facc[DR][TT];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++) facc[i][j] = _mm512_setzero_ps();
    for (int64_t gi = g0; gi < g1 && gi < n_groups; gi++)
        quant_group(w, x, xd, xs, gi, 16, k, R, T, q4, pf, pf_scales, facc);
    if (tail && g1 > n_groups) quant_group(w, x, xd, xs, n_groups, tail, k, R, T, q4, pf, pf_scales, facc);
    for (int i0 = 0; i0 < R; i0 += 4) REDUCE_TILE((facc + i0), (out + i0), T);
}

/* One activation row: tiles of DR weight rows, the whole row at once. */
INLINE void quant_decode(const struct cpu_gemm *g, int64_t r0, int64_t r1, bool q4)
{
    const int64_t n_all = (g->k / QW_QBLOCK + QW_QGROUP - 1) / QW_QGROUP;
    float out[DR][TT];
    const uint8_t *w[DR];
    for (int64_t r = r0; r < r1; r += DR) {
        for (int i = 0; i < DR; i++) w[i] = g->w + (size_t)min64(r + i, r1 - 1) * g->w_stride;
        quant_tile(g, w, DR, 0, 1, 0, n_all, q4, out);
        for (int i = 0; i < DR && r + i < r1; i++) g->y[r + i] = out[i][0];
    }
}

/* As gemm_float: activation rows in L2-sized chunks and, with several rows, columns KCQ groups at a time so
 * the weight tile stays in L1 and a chunk holds many rows (each pass over the weights then serves more rows).
 * Partial sums accumulate in y. */
INLINE void gemm_quant(const struct cpu_gemm *g, int64_t r0, int64_t r1, bool q4)
{
    if (g->n == 1) {
        quant_decode(g, r0, r1, q4);
        return;
    }
    const int64_t nb = g->k / QW_QBLOCK, n_all = (nb + QW_QGROUP - 1) / QW_QGROUP;
    const int64_t gc = g->n <= TT ? n_all : KCQ;
    const int64_t chunk = act_chunk(min64(gc * QW_QGROUP * QW_QBLOCK, g->k) * 2);
    float out[TR][TT];
    const uint8_t *w[TR];
    for (int64_t t0 = 0; t0 < g->n; t0 += chunk) {
        const int64_t t1 = min64(g->n, t0 + chunk);
        for (int64_t g0 = 0; g0 < n_all; g0 += gc) {
            const int64_t g1 = min64(n_all, g0 + gc);
            for (int64_t r = r0; r < r1; r += TR) {
                tile_rows(g, r, r1, w);
                for (int64_t t = t0; t < t1; t += TT) {
                    int nt = (int)min64(TT, t1 - t);
                    if (nt == 3) quant_tile(g, w, TR, t, 3, g0, g1, q4, out);
                    else if (nt == 2) quant_tile(g, w, TR, t, 2, g0, g1, q4, out);
                    else quant_tile(g, w, TR, t, 1, g0, g1, q4, out);
                    for (int i = 0; i < TR && r + i < r1; i++)
                        for (int j = 0; j < nt; j++) {
                            float *y = &g->y[(t + j) * g->y_stride + r + i];
                            *y = g0 ? *y + out[i][j] : out[i][j];
                        }
                }
            }
        }
    }
}

static void gemm_q8_avx512(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, false); }
static void gemm_q4_avx512(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, true); }

/* One block of 32 activations: the 16 pairs (one 32-bit unit each) go to their positions 4m bytes apart. */
static void quantize_act16_avx512(const float *x, int64_t k, int16_t *q, float *d, int32_t *s)
{
    const int64_t nb = k / QW_QBLOCK;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512i lim = _mm512_set1_epi32(32767), nlim = _mm512_set1_epi32(-32767);
    for (int64_t b = 0; b < nb; b++) {
        __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
        __m512 a = _mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1));
        float amax = _mm512_reduce_max_ps(a);
        float db = amax / 32767.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
        q0 = _mm512_max_epi32(_mm512_min_epi32(q0, lim), nlim);
        q1 = _mm512_max_epi32(_mm512_min_epi32(q1, lim), nlim);
        d[b] = db;
        s[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        __m512i pairs = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(q0)),
                                           _mm512_cvtepi32_epi16(q1), 1);
        int64_t g = b / QW_QGROUP, lane = b % QW_QGROUP, left = nb - g * QW_QGROUP;
        int m = (int)(left < QW_QGROUP ? left : QW_QGROUP);
        __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(m));
        _mm512_i32scatter_epi32(q + 512 * g + 2 * lane, idx, pairs, 4);
    }
}

/* ---- f32 / f16 / bf16 weights x f32 activations ---- */

enum ftype { FT_F32, FT_F16, FT_BF16 };

#define FT 4   /* activation rows per float tile (4 weight rows: 16 accumulators) */
#define KC 512 /* columns per pass when there are several activation rows */

/* 16 weights from column i of a row (masked: the first n, n < 16). */
INLINE __m512 load_w(const uint8_t *row, int64_t i, enum ftype ft, __mmask16 mask, bool masked)
{
    switch (ft) {
    case FT_F32: return masked ? _mm512_maskz_loadu_ps(mask, (const float *)row + i)
                               : _mm512_loadu_ps((const float *)row + i);
    case FT_F16: {
        const uint16_t *p = (const uint16_t *)row + i;
        return _mm512_cvtph_ps(masked ? _mm256_maskz_loadu_epi16(mask, p) : _mm256_loadu_si256((const __m256i *)p));
    }
    case FT_BF16: {
        const uint16_t *p = (const uint16_t *)row + i;
        __m256i h = masked ? _mm256_maskz_loadu_epi16(mask, p) : _mm256_loadu_si256((const __m256i *)p);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    }
    return _mm512_setzero_ps();
}

/* Columns [k0, k1) of a tile's dot products (k1 - k0 a multiple of 16 except at the end of the row). */
INLINE void float_tile(const struct cpu_gemm *g, const uint8_t *const w[TR], int64_t t, int T, int64_t k0, int64_t k1,
                       enum ftype ft, float out[TR][FT])
{
    const float *x[FT];
    for (int j = 0; j < T; j++) x[j] = g->x + (t + j) * g->x_stride;
    __m512 acc[TR][FT];
    for (int i = 0; i < TR; i++)
        for (int j = 0; j < T; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t i0 = k0;
    const int64_t esize = ft == FT_F32 ? 4 : 2;
    for (; i0 + 16 <= k1; i0 += 16)
        for (int i = 0; i < TR; i++) {
            if (T == 1 && (ft == FT_F32 || i0 % 32 == 0)) _mm_prefetch((const char *)w[i] + i0 * esize + PREFETCH, _MM_HINT_T0);
            __m512 wv = load_w(w[i], i0, ft, 0xffff, false);
            for (int j = 0; j < T; j++) acc[i][j] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x[j] + i0), acc[i][j]);
        }
    if (i0 < k1) {
        __mmask16 mask = (__mmask16)((1u << (k1 - i0)) - 1);
        for (int i = 0; i < TR; i++) {
            __m512 wv = load_w(w[i], i0, ft, mask, true);
            for (int j = 0; j < T; j++)
                acc[i][j] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask, x[j] + i0), acc[i][j]);
        }
    }
    REDUCE_TILE(acc, out, T);
}

/* ---- float prefill: outer products on a packed panel ----
 *
 * With many activation rows, dot products waste work on horizontal sums and load two vectors per FMA. Instead
 * PR = 32 weight rows are packed (widened to f32) column-major into an L1 panel P[k][32] for PKC columns, and
 * each activation value, broadcast, multiplies a column of the panel: a tile of 32 rows x PT activation rows keeps
 * 2 x PT accumulators, each lane one output, so a column step is 2 panel loads, PT broadcasts and 2 x PT FMAs
 * (FMA-bound), and results are stored straight into y rows. */
#define PR 32
#define PT 8
#define PKC 256

/* Panel of rows [r, r + nr) (nr <= PR; missing rows are zeros), columns [k0, k0 + kn). */
static void pack_panel(const struct cpu_gemm *g, int64_t r, int nr, int64_t k0, int kn, enum ftype ft, float *P)
{
    float row[16];
    for (int i = 0; i < PR; i++) {
        const uint8_t *w = g->w + (size_t)(r + (i < nr ? i : 0)) * g->w_stride;
        for (int c = 0; c < kn; c += 16) {
            __mmask16 m = kn - c >= 16 ? 0xffff : (__mmask16)((1u << (kn - c)) - 1);
            __m512 v = i < nr ? load_w(w, k0 + c, ft, m, true) : _mm512_setzero_ps();
            _mm512_storeu_ps(row, v);
            for (int l = 0; l < 16 && c + l < kn; l++) P[(size_t)(c + l) * PR + i] = row[l];
        }
    }
}

/* y[t][r .. r + nr) (+)= sum over the panel's kn columns, for activation rows t .. t + T. */
INLINE void outer_tile(const struct cpu_gemm *g, const float *P, int64_t r, int nr, int64_t t, int T, int64_t k0,
                       int kn, bool add)
{
    __m512 acc[PT][2];
    const float *x[PT];
    for (int j = 0; j < T; j++) {
        x[j] = g->x + (t + j) * g->x_stride + k0;
        acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    }
    for (int c = 0; c < kn; c++) {
        __m512 p0 = _mm512_load_ps(P + (size_t)c * PR), p1 = _mm512_load_ps(P + (size_t)c * PR + 16);
        for (int j = 0; j < T; j++) {
            __m512 xv = _mm512_set1_ps(x[j][c]);
            acc[j][0] = _mm512_fmadd_ps(xv, p0, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(xv, p1, acc[j][1]);
        }
    }
    const __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    for (int j = 0; j < T; j++) {
        float *y = g->y + (t + j) * g->y_stride + r;
        if (add) {
            acc[j][0] = _mm512_add_ps(acc[j][0], _mm512_maskz_loadu_ps(m0, y));
            acc[j][1] = _mm512_add_ps(acc[j][1], _mm512_maskz_loadu_ps(m1, y + 16));
        }
        _mm512_mask_storeu_ps(y, m0, acc[j][0]);
        _mm512_mask_storeu_ps(y + 16, m1, acc[j][1]);
    }
}

INLINE void gemm_float_outer(const struct cpu_gemm *g, int64_t r0, int64_t r1, enum ftype ft)
{
    float P[PKC * PR] __attribute__((aligned(64)));
    int64_t chunk = ACT_BLOCK / (PKC * 4);
    chunk -= chunk % PT;
    for (int64_t t0 = 0; t0 < g->n; t0 += chunk) {
        const int64_t t1 = min64(g->n, t0 + chunk);
        for (int64_t k0 = 0; k0 < g->k; k0 += PKC) {
            const int kn = (int)min64(PKC, g->k - k0);
            for (int64_t r = r0; r < r1; r += PR) {
                const int nr = (int)min64(PR, r1 - r);
                pack_panel(g, r, nr, k0, kn, ft, P);
                for (int64_t t = t0; t < t1; t += PT) {
                    switch ((int)min64(PT, t1 - t)) {
                    case 8: outer_tile(g, P, r, nr, t, 8, k0, kn, k0 > 0); break;
                    case 7: outer_tile(g, P, r, nr, t, 7, k0, kn, k0 > 0); break;
                    case 6: outer_tile(g, P, r, nr, t, 6, k0, kn, k0 > 0); break;
                    case 5: outer_tile(g, P, r, nr, t, 5, k0, kn, k0 > 0); break;
                    case 4: outer_tile(g, P, r, nr, t, 4, k0, kn, k0 > 0); break;
                    case 3: outer_tile(g, P, r, nr, t, 3, k0, kn, k0 > 0); break;
                    case 2: outer_tile(g, P, r, nr, t, 2, k0, kn, k0 > 0); break;
                    default: outer_tile(g, P, r, nr, t, 1, k0, kn, k0 > 0); break;
                    }
                }
            }
        }
    }
}

/* ---- bf16 decode: one activation row ----
 *
 * Widening bf16 weights one vector at a time (a zero-extending shuffle per 16 values) caps this product well below
 * the memory bandwidth on some cores. Instead each 512-bit load takes 32 weights and splits them into their even
 * and odd halves with a shift and a mask, as f32; the activations get the matching even / odd permutes once per 32
 * values for all the rows of a tile. Tiles of 8 rows: 16 accumulators, 8 streams. Each load also requests the
 * same place of the next tile (short rows) or PREFETCH bytes on (long ones): on Qwen3-0.6B's matrices (rows of
 * 2-6 KiB) the hardware prefetchers alone left the product at 43 GB/s, 48 GB/s with the requests (AMD EPYC). */
#define DR 8

INLINE void bf16_decode_tile(const struct cpu_gemm *g, int64_t r, int64_t r1, float out[DR])
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    const uint16_t *w[DR];
    for (int i = 0; i < DR; i++) w[i] = (const uint16_t *)(g->w + (size_t)min64(r + i, r1 - 1) * g->w_stride);
    const float *x = g->x;
    const int64_t k = g->k, span = (int64_t)g->w_stride * DR;
    const int64_t pf = span <= 32768 ? span : PREFETCH; /* as quant_tile's */
    __m512 ae[DR], ao[DR];
    for (int i = 0; i < DR; i++) ae[i] = ao[i] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 32 <= k; c += 32) {
        const __m512 x0 = _mm512_loadu_ps(x + c), x1 = _mm512_loadu_ps(x + c + 16);
        const __m512 xe = _mm512_permutex2var_ps(x0, even, x1), xo = _mm512_permutex2var_ps(x0, odd, x1);
        for (int i = 0; i < DR; i++) {
            _mm_prefetch((const char *)(w[i] + c) + pf, _MM_HINT_T0);
            const __m512i wv = _mm512_loadu_si512((const void *)(w[i] + c));
            ae[i] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(wv, 16)), xe, ae[i]);
            ao[i] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(wv, hi)), xo, ao[i]);
        }
    }
    for (; c < k; c += 16) {
        const __mmask16 m = k - c >= 16 ? 0xffff : (__mmask16)((1u << (k - c)) - 1);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + c);
        for (int i = 0; i < DR; i++) ae[i] = _mm512_fmadd_ps(load_w((const uint8_t *)w[i], c, FT_BF16, m, true), xv, ae[i]);
    }
    for (int i = 0; i < DR; i++) ae[i] = _mm512_add_ps(ae[i], ao[i]);
    _mm_storeu_ps(out, reduce4(ae[0], ae[1], ae[2], ae[3]));
    _mm_storeu_ps(out + 4, reduce4(ae[4], ae[5], ae[6], ae[7]));
}

static void gemm_bf16_decode(const struct cpu_gemm *g, int64_t r0, int64_t r1)
{
    float out[DR];
    for (int64_t r = r0; r < r1; r += DR) {
        bf16_decode_tile(g, r, r1, out);
        for (int i = 0; i < DR && r + i < r1; i++) g->y[r + i] = out[i];
    }
}

/* Blocked over rows of activations (chunks that stay in L2) and over columns (KC at a time, so the 4 weight rows
 * of a tile stay in L1 while every activation row of the chunk passes): partial sums accumulate in y. */
INLINE void gemm_float(const struct cpu_gemm *g, int64_t r0, int64_t r1, enum ftype ft)
{
    if (g->n >= 2 * PT) {
        gemm_float_outer(g, r0, r1, ft);
        return;
    }
    const int64_t k = g->k, kc = g->n <= FT ? k : KC;
    int64_t chunk = ACT_BLOCK / (kc * 4);
    chunk = chunk < FT ? FT : chunk - chunk % FT;
    float out[TR][FT];
    const uint8_t *w[TR];
    float wide[TR][KC] __attribute__((aligned(64)));
    for (int64_t t0 = 0; t0 < g->n; t0 += chunk) {
        const int64_t t1 = min64(g->n, t0 + chunk);
        for (int64_t k0 = 0; k0 < k; k0 += kc) {
            const int64_t k1 = min64(k, k0 + kc);
            for (int64_t r = r0; r < r1; r += TR) {
                tile_rows(g, r, r1, w);
                enum ftype tt = ft;
                int64_t tk0 = k0, tk1 = k1;
                if (ft != FT_F32 && t1 - t0 > FT) {
                    /* f16 / bf16 rows reused by many activation rows: widen them once into L1 */
                    for (int i = 0; i < TR; i++) {
                        for (int64_t c = k0; c < k1; c += 16) {
                            __mmask16 m = k1 - c >= 16 ? 0xffff : (__mmask16)((1u << (k1 - c)) - 1);
                            _mm512_mask_storeu_ps(wide[i] + (c - k0), m, load_w(w[i], c, ft, m, true));
                        }
                        w[i] = (const uint8_t *)(wide[i] - k0);
                    }
                    tt = FT_F32;
                }
                for (int64_t t = t0; t < t1; t += FT) {
                    int nt = (int)min64(FT, t1 - t);
                    switch (nt) {
                    case 4: float_tile(g, w, t, 4, tk0, tk1, tt, out); break;
                    case 3: float_tile(g, w, t, 3, tk0, tk1, tt, out); break;
                    case 2: float_tile(g, w, t, 2, tk0, tk1, tt, out); break;
                    default: float_tile(g, w, t, 1, tk0, tk1, tt, out); break;
                    }
                    for (int i = 0; i < TR && r + i < r1; i++)
                        for (int j = 0; j < nt; j++) {
                            float *y = &g->y[(t + j) * g->y_stride + r + i];
                            *y = k0 ? *y + out[i][j] : out[i][j];
                        }
                }
            }
        }
    }
}

static void gemm_f32_avx512(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, FT_F32); }
static void gemm_f16_avx512(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, FT_F16); }
static void gemm_bf16_avx512(const struct cpu_gemm *g, int64_t r0, int64_t r1)
{
    if (g->n == 1) gemm_bf16_decode(g, r0, r1);
    else gemm_float(g, r0, r1, FT_BF16);
}

INLINE float dot_float(const void *w, const float *x, int64_t k, enum ftype ft)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        a0 = _mm512_fmadd_ps(load_w(w, i, ft, 0xffff, false), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(load_w(w, i + 16, ft, 0xffff, false), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i < k; i += 16) {
        __mmask16 mask = k - i >= 16 ? 0xffff : (__mmask16)((1u << (k - i)) - 1);
        a0 = _mm512_fmadd_ps(load_w(w, i, ft, mask, true), _mm512_maskz_loadu_ps(mask, x + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

static float dot_f32_avx512(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, FT_F32); }
static float dot_f16_avx512(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, FT_F16); }
static float dot_bf16_avx512(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, FT_BF16); }

/* ---- conversions ---- */

static void to_f16_avx512(const float *x, uint16_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT));
    }
}

static void from_f16_avx512(const uint16_t *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

/* Round to nearest even in integer arithmetic (NaN kept quiet), as f32_to_bf16. */
INLINE __m256i bf16_round(__m512 v)
{
    __m512i u = _mm512_castps_si512(v);
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                                     _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

static void to_bf16_avx512(const float *x, uint16_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(y + i), bf16_round(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(y + i, m, bf16_round(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* ---- exp and the element-wise rows ---- */

/* e^x: 2^n e^r with n = round(x log2 e) and |r| <= ln2 / 2, e^r by its degree-7 Taylor polynomial (truncation
 * error below 1e-8, results within a few ulp of expf); overflow gives infinity, underflow 0, as expf. */
INLINE __m512 exp512(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-103.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606820309417232e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static float exp_sum_avx512(float *x, int n, float m)
{
    __m512 vm = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        _mm512_storeu_ps(x + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (i < n) {
        __mmask16 mask = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), vm));
        _mm512_mask_storeu_ps(x + i, mask, e);
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mask, e));
    }
    return _mm512_reduce_add_ps(sum);
}

static void swiglu_avx512(float *y, const float *gate, const float *up, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 gv = _mm512_maskz_loadu_ps(m, gate + i), uv = up ? _mm512_maskz_loadu_ps(m, up + i) : one;
        __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(s, uv));
    }
}

/* tanh a = 1 - 2 / (e^2a + 1), sigmoid b = 1 / (1 + e^-b): absolute error a few 1e-8 (tanh's relative error grows
 * only where |tanh a| is below about 1e-5). */
static void tanh_sigmoid_avx512(float *y, const float *a, const float *b, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 av = _mm512_maskz_loadu_ps(m, a + i), bv = _mm512_maskz_loadu_ps(m, b + i);
        __m512 t = _mm512_sub_ps(one, _mm512_div_ps(two, _mm512_add_ps(exp512(_mm512_add_ps(av, av)), one)));
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), bv))));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(t, s));
    }
}

static void leaky_relu_avx512(float *y, const float *x, int64_t n, float slope)
{
    const __m512 sv = _mm512_set1_ps(slope);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mask_mul_ps(v, neg, v, sv));
    }
}

static void rmsnorm_avx512(float *y, const float *x, const float *w, int64_t n, float eps)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        s0 = _mm512_fmadd_pd(lo, lo, s0);
        s1 = _mm512_fmadd_pd(hi, hi, s1);
    }
    double ss = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    __m512 inv = _mm512_set1_ps(1.0f / sqrtf((float)(ss / (double)n) + eps));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
    }
}

static void add_avx512(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

/* ---- attention tiles ---- */

/* Sixteen horizontal sums at once: lane i of the result is the sum of a[i] (45 shuffles and adds instead of 16
 * separate reductions of ~9 each). */
INLINE __m512 reduce16(const __m512 a[16])
{
    __m512 b[8], c[4];
    for (int i = 0; i < 8; i++)
        b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    for (int i = 0; i < 4; i++)
        c[i] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0x44), _mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0xee));
    __m512 e0 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xdd));
    __m512 e1 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88), _mm512_shuffle_f32x4(c[2], c[3], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(e0, e1, 0x88), _mm512_shuffle_f32x4(e0, e1, 0xdd));
}

/* 16 values of a key or value row at element o: f32 as stored, or f16 widened as loaded (f16 is a constant
 * wherever this is inlined, so each tile kernel below exists once per element type). */
INLINE __m512 kv_load(const void *row, int o, __mmask16 m, const bool f16)
{
    if (f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + o));
    return _mm512_maskz_loadu_ps(m, (const float *)row + o);
}

INLINE __m512 kv_load_full(const void *row, int o, const bool f16)
{
    if (f16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + o)));
    return _mm512_loadu_ps((const float *)row + o);
}

/* Row j of a key or value tile whose rows are stride elements apart. */
INLINE const void *kv_row(const void *base, int64_t j, int64_t stride, const bool f16)
{
    return (const uint8_t *)base + (size_t)(j * stride) * (f16 ? 2 : 4);
}

/* Two query vectors against up to 8 keys: each key vector is loaded once for both (16 partial vectors, lane 2j + i
 * for key j and query i after reduce16), 64 dimensions of the queries in registers at a time. Decode attention's
 * query groups (2 to 8 query heads per KV head) take this path pair by pair. */
INLINE void scores_pair(const float *q0, const float *q1, const void *k, int64_t k_stride, int j0, int nk, int hd,
                        float *s0, float *s1, const bool f16)
{
    __m512 acc[16];
    for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
    for (int d0 = 0; d0 < hd; d0 += 64) {
        __m512 a[4], b[4];
        __mmask16 m[4];
        for (int u = 0; u < 4; u++) {
            int left = hd - d0 - 16 * u;
            m[u] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            a[u] = _mm512_maskz_loadu_ps(m[u], q0 + d0 + 16 * u);
            b[u] = _mm512_maskz_loadu_ps(m[u], q1 + d0 + 16 * u);
        }
        if (nk == 8 && hd - d0 >= 64) /* the common case, unrolled so acc[] stays in registers */
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                const void *kj = kv_row(k, j0 + j, k_stride, f16);
#pragma GCC unroll 4
                for (int u = 0; u < 4; u++) {
                    const __m512 kv = kv_load_full(kj, d0 + 16 * u, f16);
                    acc[2 * j] = _mm512_fmadd_ps(a[u], kv, acc[2 * j]);
                    acc[2 * j + 1] = _mm512_fmadd_ps(b[u], kv, acc[2 * j + 1]);
                }
            }
        else
            for (int j = 0; j < nk; j++) {
                const void *kj = kv_row(k, j0 + j, k_stride, f16);
                for (int u = 0; u < 4 && m[u]; u++) {
                    const __m512 kv = kv_load(kj, d0 + 16 * u, m[u], f16);
                    acc[2 * j] = _mm512_fmadd_ps(a[u], kv, acc[2 * j]);
                    acc[2 * j + 1] = _mm512_fmadd_ps(b[u], kv, acc[2 * j + 1]);
                }
            }
    }
    float r[16];
    _mm512_storeu_ps(r, reduce16(acc));
    for (int j = 0; j < nk; j++) s0[j0 + j] = r[2 * j], s1[j0 + j] = r[2 * j + 1];
}

/* Scores of one query against up to 16 keys: 16 partial vectors, one per key, then reduce16. The query stays in
 * registers (head_dim <= 128; larger heads in 128-wide pieces). */
INLINE void attn_scores_rows(const float *q, int n_q, const void *k, int64_t k_stride, int n_k, int hd, float *s,
                             int s_stride, const bool f16)
{
    for (; n_q >= 2; n_q -= 2, q += 2 * (size_t)hd, s += 2 * (size_t)s_stride)
        for (int j0 = 0; j0 < n_k; j0 += 8)
            scores_pair(q, q + hd, k, k_stride, j0, n_k - j0 < 8 ? n_k - j0 : 8, hd, s, s + s_stride, f16);
    for (int i = 0; i < n_q; i++) {
        const float *qi = q + (size_t)i * hd;
        for (int j0 = 0; j0 < n_k; j0 += 16) {
            const int nk = n_k - j0 < 16 ? n_k - j0 : 16;
            __m512 acc[16];
            for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
            for (int d0 = 0; d0 < hd; d0 += 128) {
                __m512 qv[8];
                __mmask16 m[8];
                for (int u = 0; u < 8; u++) {
                    int left = hd - d0 - 16 * u;
                    m[u] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
                    qv[u] = _mm512_maskz_loadu_ps(m[u], qi + d0 + 16 * u);
                }
                if (nk == 16 && hd - d0 >= 128) /* the common case, unrolled so acc[] stays in registers */
                    for (int j = 0; j < 16; j++) {
                        const void *kj = kv_row(k, j0 + j, k_stride, f16);
                        for (int u = 0; u < 8; u++) acc[j] = _mm512_fmadd_ps(qv[u], kv_load_full(kj, d0 + 16 * u, f16), acc[j]);
                    }
                else
                    for (int j = 0; j < nk; j++) {
                        const void *kj = kv_row(k, j0 + j, k_stride, f16);
                        for (int u = 0; u < 8 && m[u]; u++)
                            acc[j] = _mm512_fmadd_ps(qv[u], kv_load(kj, d0 + 16 * u, m[u], f16), acc[j]);
                    }
            }
            _mm512_mask_storeu_ps(s + (size_t)i * s_stride + j0, (__mmask16)((1u << nk) - 1), reduce16(acc));
        }
    }
}

INLINE void attn_accum_rows(float *acc, int n_q, const float *p, int p_stride, const void *v, int64_t v_stride,
                            int n_k, int hd, const bool f16)
{
    /* pairs of query vectors share each value load: 2 x 8 accumulators over 128 dimensions at a time */
    for (; n_q >= 2; n_q -= 2, acc += 2 * (size_t)hd, p += 2 * (size_t)p_stride) {
        for (int d = 0; d < hd; d += 128) {
            __mmask16 m[8];
            __m512 a[8], b[8];
            for (int u = 0; u < 8; u++) {
                int left = hd - d - 16 * u;
                m[u] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
                a[u] = _mm512_maskz_loadu_ps(m[u], acc + d + 16 * u);
                b[u] = _mm512_maskz_loadu_ps(m[u], acc + hd + d + 16 * u);
            }
            for (int j = 0; j < n_k; j++) {
                const __m512 pa = _mm512_set1_ps(p[j]), pb = _mm512_set1_ps(p[p_stride + j]);
                const void *vj = kv_row(v, j, v_stride, f16);
                for (int u = 0; u < 8; u++) {
                    const __m512 vv = kv_load(vj, d + 16 * u, m[u], f16);
                    a[u] = _mm512_fmadd_ps(pa, vv, a[u]);
                    b[u] = _mm512_fmadd_ps(pb, vv, b[u]);
                }
            }
            for (int u = 0; u < 8; u++) {
                _mm512_mask_storeu_ps(acc + d + 16 * u, m[u], a[u]);
                _mm512_mask_storeu_ps(acc + hd + d + 16 * u, m[u], b[u]);
            }
        }
    }
    for (int i = 0; i < n_q; i++) {
        float *ai = acc + (size_t)i * hd;
        const float *pi = p + (size_t)i * p_stride;
        for (int d = 0; d < hd; d += 64) {
            __mmask16 m[4];
            __m512 a[4];
            for (int u = 0; u < 4; u++) {
                int left = hd - d - 16 * u;
                m[u] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
                a[u] = _mm512_maskz_loadu_ps(m[u], ai + d + 16 * u);
            }
            for (int j = 0; j < n_k; j++) {
                __m512 pj = _mm512_set1_ps(pi[j]);
                const void *vj = kv_row(v, j, v_stride, f16);
                for (int u = 0; u < 4; u++) a[u] = _mm512_fmadd_ps(pj, kv_load(vj, d + 16 * u, m[u], f16), a[u]);
            }
            for (int u = 0; u < 4; u++) _mm512_mask_storeu_ps(ai + d + 16 * u, m[u], a[u]);
        }
    }
}

static void attn_scores_avx512(const float *q, int n_q, const float *k, int64_t k_stride, int n_k, int hd, float *s,
                               int s_stride)
{
    attn_scores_rows(q, n_q, k, k_stride, n_k, hd, s, s_stride, false);
}

static void attn_accum_avx512(float *acc, int n_q, const float *p, int p_stride, const float *v, int64_t v_stride,
                              int n_k, int hd)
{
    attn_accum_rows(acc, n_q, p, p_stride, v, v_stride, n_k, hd, false);
}

static void attn_scores_f16_avx512(const float *q, int n_q, const uint16_t *k, int64_t k_stride, int n_k, int hd,
                                   float *s, int s_stride)
{
    attn_scores_rows(q, n_q, k, k_stride, n_k, hd, s, s_stride, true);
}

static void attn_accum_f16_avx512(float *acc, int n_q, const float *p, int p_stride, const uint16_t *v,
                                  int64_t v_stride, int n_k, int hd)
{
    attn_accum_rows(acc, n_q, p, p_stride, v, v_stride, n_k, hd, true);
}

/* ---- prefill attention with the queries in lanes (kernels.h, struct cpu_attn_tile) ----
 *
 * 32 lanes are two vectors. Scores: per dimension d, a broadcast key value meets the two query vectors qt[d], for
 * 8 keys at once (16 accumulators). Values: per key j, a broadcast value meets the two probability vectors s[j],
 * for 8 dimensions at once. No horizontal sums anywhere; the softmax bookkeeping is per lane. */

INLINE void lanes_scores(const struct cpu_attn_tile *t, int j, const int JB)
{
    __m512 a0[8], a1[8];
#pragma GCC unroll 8
    for (int u = 0; u < JB; u++) a0[u] = a1[u] = _mm512_setzero_ps();
    const float *kj = t->k + j * t->k_stride;
    for (int d = 0; d < t->hd; d++) {
        const __m512 q0 = _mm512_loadu_ps(t->qt + (size_t)d * 32), q1 = _mm512_loadu_ps(t->qt + (size_t)d * 32 + 16);
#pragma GCC unroll 8
        for (int u = 0; u < JB; u++) {
            const __m512 kb = _mm512_set1_ps(kj[u * t->k_stride + d]);
            a0[u] = _mm512_fmadd_ps(kb, q0, a0[u]);
            a1[u] = _mm512_fmadd_ps(kb, q1, a1[u]);
        }
    }
#pragma GCC unroll 8
    for (int u = 0; u < JB; u++) {
        _mm512_storeu_ps(t->s + (size_t)(j + u) * 32, a0[u]);
        _mm512_storeu_ps(t->s + (size_t)(j + u) * 32 + 16, a1[u]);
    }
}

INLINE void lanes_values(const struct cpu_attn_tile *t, int d, const int DB, __m512 c0, __m512 c1, int nv)
{
    __m512 o0[8], o1[8];
#pragma GCC unroll 8
    for (int u = 0; u < DB; u++) {
        o0[u] = _mm512_mul_ps(_mm512_loadu_ps(t->ot + (size_t)(d + u) * 32), c0);
        o1[u] = _mm512_mul_ps(_mm512_loadu_ps(t->ot + (size_t)(d + u) * 32 + 16), c1);
    }
    for (int j = 0; j < nv; j++) {
        const __m512 p0 = _mm512_loadu_ps(t->s + (size_t)j * 32), p1 = _mm512_loadu_ps(t->s + (size_t)j * 32 + 16);
        const float *vj = t->v + j * t->v_stride + d;
#pragma GCC unroll 8
        for (int u = 0; u < DB; u++) {
            const __m512 vb = _mm512_set1_ps(vj[u]);
            o0[u] = _mm512_fmadd_ps(vb, p0, o0[u]);
            o1[u] = _mm512_fmadd_ps(vb, p1, o1[u]);
        }
    }
#pragma GCC unroll 8
    for (int u = 0; u < DB; u++) {
        _mm512_storeu_ps(t->ot + (size_t)(d + u) * 32, o0[u]);
        _mm512_storeu_ps(t->ot + (size_t)(d + u) * 32 + 16, o1[u]);
    }
}

static void attn_tile_avx512(const struct cpu_attn_tile *t)
{
    _Static_assert(CPU_ATTN_LANES == 32, "two vectors of lanes");
    __m512i l0 = _mm512_set1_epi32(t->n_k), l1 = l0;
    int nv = t->n_k; /* keys any lane sees: the rest contribute nothing */
    if (t->limit) {
        l0 = _mm512_loadu_si512(t->limit);
        l1 = _mm512_loadu_si512(t->limit + 16);
        nv = _mm512_reduce_max_epi32(_mm512_max_epi32(l0, l1));
    }
    if (nv <= 0) return;
    int j = 0;
    for (; j + 8 <= nv; j += 8) lanes_scores(t, j, 8);
    for (; j < nv; j++) lanes_scores(t, j, 1);
    const __m512 ninf = _mm512_set1_ps(-INFINITY), mx0 = _mm512_loadu_ps(t->mx), mx1 = _mm512_loadu_ps(t->mx + 16);
    __m512 m0 = mx0, m1 = mx1;
    for (j = 0; j < nv; j++) {
        const __m512i jv = _mm512_set1_epi32(j);
        const __mmask16 v0 = _mm512_cmpgt_epi32_mask(l0, jv), v1 = _mm512_cmpgt_epi32_mask(l1, jv);
        m0 = _mm512_mask_max_ps(m0, v0, m0, _mm512_loadu_ps(t->s + (size_t)j * 32));
        m1 = _mm512_mask_max_ps(m1, v1, m1, _mm512_loadu_ps(t->s + (size_t)j * 32 + 16));
    }
    /* lanes with nothing visible yet keep -inf: exponents taken against 0 there, and masked */
    const __mmask16 live0 = _mm512_cmp_ps_mask(m0, ninf, _CMP_NEQ_OQ);
    const __mmask16 live1 = _mm512_cmp_ps_mask(m1, ninf, _CMP_NEQ_OQ);
    const __m512 ms0 = _mm512_maskz_mov_ps(live0, m0), ms1 = _mm512_maskz_mov_ps(live1, m1);
    const __mmask16 was0 = _mm512_cmp_ps_mask(mx0, ninf, _CMP_NEQ_OQ);
    const __mmask16 was1 = _mm512_cmp_ps_mask(mx1, ninf, _CMP_NEQ_OQ);
    const __m512 c0 = _mm512_maskz_mov_ps(was0, exp512(_mm512_sub_ps(mx0, ms0)));
    const __m512 c1 = _mm512_maskz_mov_ps(was1, exp512(_mm512_sub_ps(mx1, ms1)));
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (j = 0; j < nv; j++) {
        const __m512i jv = _mm512_set1_epi32(j);
        const __mmask16 v0 = _mm512_cmpgt_epi32_mask(l0, jv), v1 = _mm512_cmpgt_epi32_mask(l1, jv);
        float *sj = t->s + (size_t)j * 32;
        const __m512 e0 = _mm512_maskz_mov_ps(v0, exp512(_mm512_sub_ps(_mm512_loadu_ps(sj), ms0)));
        const __m512 e1 = _mm512_maskz_mov_ps(v1, exp512(_mm512_sub_ps(_mm512_loadu_ps(sj + 16), ms1)));
        _mm512_storeu_ps(sj, e0);
        _mm512_storeu_ps(sj + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    _mm512_storeu_ps(t->sum, _mm512_fmadd_ps(_mm512_loadu_ps(t->sum), c0, s0));
    _mm512_storeu_ps(t->sum + 16, _mm512_fmadd_ps(_mm512_loadu_ps(t->sum + 16), c1, s1));
    _mm512_storeu_ps(t->mx, m0);
    _mm512_storeu_ps(t->mx + 16, m1);
    int d = 0;
    for (; d + 8 <= t->hd; d += 8) lanes_values(t, d, 8, c0, c1, nv);
    for (; d < t->hd; d++) lanes_values(t, d, 1, c0, c1, nv);
}

/* gelu(x) = 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3): no cancellation near 0. */
static void gelu_tanh_avx512(float *y, const float *x, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f), a = _mm512_set1_ps(-2.0f * 0.7978845608028654f),
                 b = _mm512_set1_ps(0.044715f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 u = _mm512_mul_ps(_mm512_fmadd_ps(_mm512_mul_ps(b, v), _mm512_mul_ps(v, v), v), a);
        _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(v, _mm512_add_ps(one, exp512(u))));
    }
}

/* gelu(x) = x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2; erfc(z) for z >= 0 by the Chebyshev fit of Numerical
 * Recipes' erfcc (relative error below 1.2e-7 everywhere), erfc(-z) = 2 - erfc(z). */
static void gelu_erf_avx512(float *y, const float *x, int64_t n)
{
    static const float c[10] = {-1.26551223f, 1.00002368f, 0.37409196f,  0.09678418f, -0.18628806f,
                                0.27886807f,  -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f), two = _mm512_set1_ps(2.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 z = _mm512_mul_ps(v, _mm512_set1_ps(0.7071067811865476f));
        __m512 az = _mm512_abs_ps(z);
        __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(half, az, one));
        __m512 p = _mm512_set1_ps(c[9]);
        for (int k = 8; k >= 0; k--) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(c[k]));
        __m512 e = _mm512_mul_ps(t, exp512(_mm512_fnmadd_ps(az, az, p))); /* erfc(|z|) */
        __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 onep = _mm512_mask_mov_ps(_mm512_sub_ps(two, e), neg, e); /* 1 + erf(z) */
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_mul_ps(half, v), onep));
    }
}

/* ---- bandwidth ---- */

/* Four streams a quarter of the buffer apart: one sequential stream per thread reads about 15 % below what
 * several concurrent streams get (the matrix kernels read 4 rows at once), and the roofline must not be low. */
static uint64_t read_bytes_avx512(const void *p, size_t n)
{
    const uint8_t *b = p;
    const size_t q = n / 4 & ~(size_t)63;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < q; i += 64) {
        a0 = _mm512_xor_si512(a0, _mm512_load_si512(b + i));
        a1 = _mm512_xor_si512(a1, _mm512_load_si512(b + q + i));
        a2 = _mm512_xor_si512(a2, _mm512_load_si512(b + 2 * q + i));
        a3 = _mm512_xor_si512(a3, _mm512_load_si512(b + 3 * q + i));
    }
    __m512i a = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
    return (uint64_t)_mm512_reduce_or_epi64(a);
}

void cpu_kernels_avx512(struct cpu_kernels *k)
{
    k->isa = "avx512";
    k->gemm[QW_DTYPE_F32] = gemm_f32_avx512;
    k->gemm[QW_DTYPE_F16] = gemm_f16_avx512;
    k->gemm[QW_DTYPE_BF16] = gemm_bf16_avx512;
    k->gemm[QW_DTYPE_Q8] = gemm_q8_avx512;
    k->gemm[QW_DTYPE_Q4] = gemm_q4_avx512;
    k->dot[QW_DTYPE_F32] = dot_f32_avx512;
    k->dot[QW_DTYPE_F16] = dot_f16_avx512;
    k->dot[QW_DTYPE_BF16] = dot_bf16_avx512;
    k->quantize_act16 = quantize_act16_avx512;
    k->to_bf16 = to_bf16_avx512;
    k->to_f16 = to_f16_avx512;
    k->from_f16 = from_f16_avx512;
    k->attn_scores = attn_scores_avx512;
    k->attn_accum = attn_accum_avx512;
    k->attn_scores_f16 = attn_scores_f16_avx512;
    k->attn_accum_f16 = attn_accum_f16_avx512;
    k->exp_sum = exp_sum_avx512;
    k->attn_tile = attn_tile_avx512;
    k->gelu_tanh = gelu_tanh_avx512;
    k->gelu_erf = gelu_erf_avx512;
    k->rmsnorm = rmsnorm_avx512;
    k->swiglu = swiglu_avx512;
    k->add = add_avx512;
    k->read_bytes = read_bytes_avx512;
    k->conv = conv_avx512; /* kernels_conv_avx512.c */
    k->conv_rows = 14;
    k->leaky_relu = leaky_relu_avx512;
    k->tanh_sigmoid = tanh_sigmoid_avx512;
}
#endif
