/* NEON kernels (AArch64 Advanced SIMD, always present). Tested under qemu-aarch64 in CI (.ci/run).
 *
 * Q8/Q4 products: a group of 16 blocks is taken as four quarters of 4 blocks, one per 32-bit lane. For each pair
 * position, SMLAL / SMLAL2 multiply-accumulate the 16-bit values (first and second of each pair into separate
 * accumulators) and one ADDP at the end of the quarter folds each pair into its block's lane. A row's last group,
 * when it holds fewer than 16 blocks, is done the scalar way. Tiles are 2 weight rows x 2 activation rows. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "base/fp.h"
#include "kernels.h"
#include "ops/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define ACT_BLOCK 262144
#define QR 2
#define QT 2

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- Q8 / Q4 ---- */

/* Blocks [16 g + 4 qtr, + 4) of QR rows x T activation rows. */
INLINE void quant_quarter(const uint8_t *const w[QR], const int16_t *const x[QT], const float *const xd[QT],
                          const int32_t *const xs[QT], int64_t g, int qtr, int64_t k, int T, bool q4,
                          float32x4_t facc[QR][QT])
{
    int32x4_t lo[QR][QT], hi[QR][QT];
    for (int i = 0; i < QR; i++)
        for (int j = 0; j < T; j++) lo[i][j] = hi[i][j] = vdupq_n_s32(0);
    const int64_t xoff = 512 * g + 8 * qtr;
    for (int c = 0; c < (q4 ? 8 : 16); c++)
        for (int i = 0; i < QR; i++) {
            int16x8_t w0, w1 = vdupq_n_s16(0);
            if (q4) {
                uint16x8_t b = vmovl_u8(vld1_u8(w[i] + 256 * g + 32 * c + 8 * qtr));
                w0 = vreinterpretq_s16_u16(vandq_u16(b, vdupq_n_u16(15)));
                w1 = vreinterpretq_s16_u16(vshrq_n_u16(b, 4));
            } else {
                w0 = vmovl_s8(vld1_s8((const int8_t *)w[i] + 512 * g + 32 * c + 8 * qtr));
            }
            for (int j = 0; j < T; j++) {
                int16x8_t xv = vld1q_s16(x[j] + xoff + 32 * c);
                lo[i][j] = vmlal_s16(lo[i][j], vget_low_s16(w0), vget_low_s16(xv));
                hi[i][j] = vmlal_high_s16(hi[i][j], w0, xv);
                if (q4) {
                    int16x8_t xh = vld1q_s16(x[j] + xoff + 32 * (c + 8));
                    lo[i][j] = vmlal_s16(lo[i][j], vget_low_s16(w1), vget_low_s16(xh));
                    hi[i][j] = vmlal_high_s16(hi[i][j], w1, xh);
                }
            }
        }
    const int64_t sc = (q4 ? k / 2 : k) + 32 * g + 8 * qtr;
    for (int i = 0; i < QR; i++) {
        float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(w[i] + sc)));
        for (int j = 0; j < T; j++) {
            int32x4_t v = vpaddq_s32(lo[i][j], hi[i][j]);
            if (q4) v = vsubq_s32(v, vshlq_n_s32(vld1q_s32(xs[j] + 16 * g + 4 * qtr), 3));
            float32x4_t s = vmulq_f32(dw, vld1q_f32(xd[j] + 16 * g + 4 * qtr));
            facc[i][j] = vfmaq_f32(facc[i][j], vcvtq_f32_s32(v), s);
        }
    }
}

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
    float32x4_t facc[QR][QT];
    for (int i = 0; i < QR; i++)
        for (int j = 0; j < T; j++) facc[i][j] = vdupq_n_f32(0);
    for (int64_t gi = 0; gi < n_groups; gi++)
        for (int qtr = 0; qtr < 4; qtr++) quant_quarter(w, x, xd, xs, gi, qtr, k, T, q4, facc);
    for (int i = 0; i < QR; i++)
        for (int j = 0; j < T; j++) {
            out[i][j] = vaddvq_f32(facc[i][j]);
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

static void gemm_q8_neon(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, false); }
static void gemm_q4_neon(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, true); }

/* ---- f32 / f16 / bf16 weights x f32 activations ---- */

#define FR 4
#define FT 2

enum ftype { FT_F32, FT_F16, FT_BF16 };

INLINE float32x4_t load_w4(const uint8_t *row, int64_t i, enum ftype ft)
{
    switch (ft) {
    case FT_F32: return vld1q_f32((const float *)row + i);
    case FT_F16: return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)row + i)));
    case FT_BF16: return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)row + i), 16));
    }
    return vdupq_n_f32(0);
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
    float32x4_t acc[FR][FT];
    for (int i = 0; i < FR; i++)
        for (int j = 0; j < T; j++) acc[i][j] = vdupq_n_f32(0);
    int64_t i0 = 0;
    for (; i0 + 4 <= k; i0 += 4)
        for (int i = 0; i < FR; i++) {
            float32x4_t wv = load_w4(w[i], i0, ft);
            for (int j = 0; j < T; j++) acc[i][j] = vfmaq_f32(acc[i][j], wv, vld1q_f32(x[j] + i0));
        }
    for (int i = 0; i < FR; i++)
        for (int j = 0; j < T; j++) {
            float s = vaddvq_f32(acc[i][j]);
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

static void gemm_f32_neon(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, FT_F32); }
static void gemm_f16_neon(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, FT_F16); }
static void gemm_bf16_neon(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, FT_BF16); }

INLINE float dot_float(const void *w, const float *x, int64_t k, enum ftype ft)
{
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        a0 = vfmaq_f32(a0, load_w4(w, i, ft), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, load_w4(w, i + 4, ft), vld1q_f32(x + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < k; i++) s += w_at(w, i, ft) * x[i];
    return s;
}

static float dot_f32_neon(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, FT_F32); }
static float dot_f16_neon(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, FT_F16); }
static float dot_bf16_neon(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, FT_BF16); }

/* ---- conversions, exp, rows ---- */

static void from_f16_neon(const uint16_t *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    for (; i < n; i++) y[i] = f16_to_f32(x[i]);
}

/* As exp512 in kernels_avx512.c; 2^n built in two halves so that subnormal results stay exact. */
INLINE float32x4_t exp4(float32x4_t x)
{
    x = vmaxq_f32(vminq_f32(x, vdupq_n_f32(88.8f)), vdupq_n_f32(-103.0f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
    r = vfmsq_f32(r, n, vdupq_n_f32(1.428606820309417232e-06f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 720), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    int32x4_t ni = vcvtq_s32_f32(n), n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    float32x4_t res = vmulq_f32(vmulq_f32(p, s1), s2);
    return vbslq_f32(vcgtq_f32(x, vdupq_n_f32(88.72284f)), vdupq_n_f32(INFINITY), res);
}

static float exp_sum_neon(float *x, int n, float m)
{
    float32x4_t vm = vdupq_n_f32(m), sum = vdupq_n_f32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vm));
        vst1q_f32(x + i, e);
        sum = vaddq_f32(sum, e);
    }
    float s = vaddvq_f32(sum);
    for (; i < n; i++) s += x[i] = expf(x[i] - m);
    return s;
}

static void swiglu_neon(float *y, const float *gate, const float *up, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t gv = vld1q_f32(gate + i);
        float32x4_t s = vdivq_f32(gv, vaddq_f32(vdupq_n_f32(1.0f), exp4(vnegq_f32(gv))));
        vst1q_f32(y + i, up ? vmulq_f32(s, vld1q_f32(up + i)) : s);
    }
    for (; i < n; i++) y[i] = gate[i] / (1.0f + expf(-gate[i])) * (up ? up[i] : 1.0f);
}

static void add_neon(float *y, const float *a, const float *b, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

/* 4 values of a key or value row at element o, and one value: f32 as stored, or f16 widened as loaded. */
INLINE float32x4_t kv_load4(const void *row, int o, const bool f16)
{
    if (f16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)row + o)));
    return vld1q_f32((const float *)row + o);
}

INLINE float kv_load1(const void *row, int o, const bool f16)
{
    return f16 ? f16_to_f32(((const uint16_t *)row)[o]) : ((const float *)row)[o];
}

INLINE const void *kv_row(const void *base, int64_t j, int64_t stride, const bool f16)
{
    return (const uint8_t *)base + (size_t)(j * stride) * (f16 ? 2 : 4);
}

INLINE void attn_scores_rows(const float *q, int n_q, const void *k, int64_t k_stride, int n_k, int hd, float *s,
                             int s_stride, const bool f16)
{
    for (int j = 0; j < n_k; j++)
        for (int i = 0; i < n_q; i++) {
            const float *qi = q + (size_t)i * hd;
            const void *kj = kv_row(k, j, k_stride, f16);
            float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
            int d = 0;
            for (; d + 8 <= hd; d += 8) {
                a0 = vfmaq_f32(a0, vld1q_f32(qi + d), kv_load4(kj, d, f16));
                a1 = vfmaq_f32(a1, vld1q_f32(qi + d + 4), kv_load4(kj, d + 4, f16));
            }
            float sum = vaddvq_f32(vaddq_f32(a0, a1));
            for (; d < hd; d++) sum += qi[d] * kv_load1(kj, d, f16);
            s[(size_t)i * s_stride + j] = sum;
        }
}

INLINE void attn_accum_rows(float *acc, int n_q, const float *p, int p_stride, const void *v, int64_t v_stride,
                            int n_k, int hd, const bool f16)
{
    for (int i = 0; i < n_q; i++) {
        float *ai = acc + (size_t)i * hd;
        const float *pi = p + (size_t)i * p_stride;
        int d = 0;
        for (; d + 16 <= hd; d += 16) {
            float32x4_t a0 = vld1q_f32(ai + d), a1 = vld1q_f32(ai + d + 4), a2 = vld1q_f32(ai + d + 8),
                        a3 = vld1q_f32(ai + d + 12);
            for (int j = 0; j < n_k; j++) {
                const void *vj = kv_row(v, j, v_stride, f16);
                a0 = vfmaq_n_f32(a0, kv_load4(vj, d, f16), pi[j]);
                a1 = vfmaq_n_f32(a1, kv_load4(vj, d + 4, f16), pi[j]);
                a2 = vfmaq_n_f32(a2, kv_load4(vj, d + 8, f16), pi[j]);
                a3 = vfmaq_n_f32(a3, kv_load4(vj, d + 12, f16), pi[j]);
            }
            vst1q_f32(ai + d, a0);
            vst1q_f32(ai + d + 4, a1);
            vst1q_f32(ai + d + 8, a2);
            vst1q_f32(ai + d + 12, a3);
        }
        for (; d < hd; d++)
            for (int j = 0; j < n_k; j++) ai[d] += pi[j] * kv_load1(kv_row(v, j, v_stride, f16), d, f16);
    }
}

static void attn_scores_neon(const float *q, int n_q, const float *k, int64_t k_stride, int n_k, int hd, float *s,
                             int s_stride)
{
    attn_scores_rows(q, n_q, k, k_stride, n_k, hd, s, s_stride, false);
}

static void attn_accum_neon(float *acc, int n_q, const float *p, int p_stride, const float *v, int64_t v_stride,
                            int n_k, int hd)
{
    attn_accum_rows(acc, n_q, p, p_stride, v, v_stride, n_k, hd, false);
}

static void attn_scores_f16_neon(const float *q, int n_q, const uint16_t *k, int64_t k_stride, int n_k, int hd,
                                 float *s, int s_stride)
{
    attn_scores_rows(q, n_q, k, k_stride, n_k, hd, s, s_stride, true);
}

static void attn_accum_f16_neon(float *acc, int n_q, const float *p, int p_stride, const uint16_t *v,
                                int64_t v_stride, int n_k, int hd)
{
    attn_accum_rows(acc, n_q, p, p_stride, v, v_stride, n_k, hd, true);
}

/* Four streams a quarter of the buffer apart, as read_bytes_avx512. */
static uint64_t read_bytes_neon(const void *p, size_t n)
{
    const uint8_t *b = p;
    const size_t q = n / 4 & ~(size_t)15;
    uint8x16_t a0 = vdupq_n_u8(0), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < q; i += 16) {
        a0 = veorq_u8(a0, vld1q_u8(b + i));
        a1 = veorq_u8(a1, vld1q_u8(b + q + i));
        a2 = veorq_u8(a2, vld1q_u8(b + 2 * q + i));
        a3 = veorq_u8(a3, vld1q_u8(b + 3 * q + i));
    }
    uint64x2_t a = vreinterpretq_u64_u8(veorq_u8(veorq_u8(a0, a1), veorq_u8(a2, a3)));
    return vgetq_lane_u64(a, 0) | vgetq_lane_u64(a, 1);
}

void cpu_kernels_neon(struct cpu_kernels *k)
{
    k->isa = "neon";
    k->gemm[QW_DTYPE_F32] = gemm_f32_neon;
    k->gemm[QW_DTYPE_F16] = gemm_f16_neon;
    k->gemm[QW_DTYPE_BF16] = gemm_bf16_neon;
    k->gemm[QW_DTYPE_Q8] = gemm_q8_neon;
    k->gemm[QW_DTYPE_Q4] = gemm_q4_neon;
    k->dot[QW_DTYPE_F32] = dot_f32_neon;
    k->dot[QW_DTYPE_F16] = dot_f16_neon;
    k->dot[QW_DTYPE_BF16] = dot_bf16_neon;
    k->from_f16 = from_f16_neon;
    k->attn_scores = attn_scores_neon;
    k->attn_accum = attn_accum_neon;
    k->attn_scores_f16 = attn_scores_f16_neon;
    k->attn_accum_f16 = attn_accum_f16_neon;
    k->exp_sum = exp_sum_neon;
    k->swiglu = swiglu_neon;
    k->add = add_neon;
    k->read_bytes = read_bytes_neon;
}
#endif
