/* WebAssembly SIMD128 kernels, for the browser build. WebAssembly has no run-time feature test: a module that
 * uses SIMD does not load on an engine without it, so the whole build opts in with -msimd128 and cpu_dispatch.c
 * then takes this variant. Tested under Node's WASI (scripts/test-wasm.sh).
 *
 * Q8/Q4 products: a group of 16 blocks is taken as four quarters of 4 blocks, one per 32-bit lane, and
 * i32x4.dot_i16x8_s adds each 16-bit pair into its block's lane: the instruction the interleaved layout
 * (ops/quant.h) was made for. Float products use f32x4 multiply and add (base SIMD128 has no fused form). */
#if defined(__wasm_simd128__)
#include <math.h>
#include <string.h>
#include <wasm_simd128.h>

#include "base/fp.h"
#include "kernels.h"
#include "ops/quant.h"

#define INLINE static inline __attribute__((always_inline))
#define ACT_BLOCK 262144
#define QR 2
#define QT 2

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

INLINE float hsum4(v128_t v)
{
    return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
           wasm_f32x4_extract_lane(v, 3);
}

/* ---- Q8 / Q4 ---- */

INLINE void quant_quarter(const uint8_t *const w[QR], const int16_t *const x[QT], const float *const xd[QT],
                          const int32_t *const xs[QT], int64_t g, int qtr, int64_t k, int T, bool q4,
                          v128_t facc[QR][QT])
{
    v128_t iacc[QR][QT];
    for (int i = 0; i < QR; i++)
        for (int j = 0; j < T; j++) iacc[i][j] = wasm_i32x4_splat(0);
    const int64_t xoff = 512 * g + 8 * qtr;
    for (int c = 0; c < (q4 ? 8 : 16); c++)
        for (int i = 0; i < QR; i++) {
            v128_t w0, w1 = wasm_i16x8_splat(0);
            if (q4) {
                v128_t b = wasm_u16x8_load8x8(w[i] + 256 * g + 32 * c + 8 * qtr);
                w0 = wasm_v128_and(b, wasm_i16x8_splat(15));
                w1 = wasm_u16x8_shr(b, 4);
            } else {
                w0 = wasm_i16x8_load8x8(w[i] + 512 * g + 32 * c + 8 * qtr);
            }
            for (int j = 0; j < T; j++) {
                iacc[i][j] = wasm_i32x4_add(iacc[i][j], wasm_i32x4_dot_i16x8(w0, wasm_v128_load(x[j] + xoff + 32 * c)));
                if (q4)
                    iacc[i][j] = wasm_i32x4_add(iacc[i][j],
                                                wasm_i32x4_dot_i16x8(w1, wasm_v128_load(x[j] + xoff + 32 * (c + 8))));
            }
        }
    const int64_t sc = (q4 ? k / 2 : k) + 32 * g + 8 * qtr;
    for (int i = 0; i < QR; i++) {
        uint16_t h[4];
        memcpy(h, w[i] + sc, 8);
        v128_t dw = wasm_f32x4_make(f16_to_f32(h[0]), f16_to_f32(h[1]), f16_to_f32(h[2]), f16_to_f32(h[3]));
        for (int j = 0; j < T; j++) {
            v128_t v = iacc[i][j];
            if (q4) v = wasm_i32x4_sub(v, wasm_i32x4_shl(wasm_v128_load(xs[j] + 16 * g + 4 * qtr), 3));
            v128_t s = wasm_f32x4_mul(dw, wasm_v128_load(xd[j] + 16 * g + 4 * qtr));
            facc[i][j] = wasm_f32x4_add(facc[i][j], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(v), s));
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
    v128_t facc[QR][QT];
    for (int i = 0; i < QR; i++)
        for (int j = 0; j < T; j++) facc[i][j] = wasm_f32x4_splat(0);
    for (int64_t gi = 0; gi < n_groups; gi++)
        for (int qtr = 0; qtr < 4; qtr++) quant_quarter(w, x, xd, xs, gi, qtr, k, T, q4, facc);
    for (int i = 0; i < QR; i++)
        for (int j = 0; j < T; j++) {
            out[i][j] = hsum4(facc[i][j]);
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

static void gemm_q8_wasm(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, false); }
static void gemm_q4_wasm(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, true); }

/* ---- f32 / bf16 weights x f32 activations ---- */

#define FR 4
#define FT 2

INLINE v128_t load_w4(const uint8_t *row, int64_t i, bool bf16)
{
    if (!bf16) return wasm_v128_load((const float *)row + i);
    return wasm_i32x4_shl(wasm_u32x4_load16x4((const uint16_t *)row + i), 16);
}

INLINE float w_at(const uint8_t *row, int64_t i, bool bf16)
{
    if (!bf16) return ((const float *)row)[i];
    uint16_t h;
    memcpy(&h, row + 2 * i, 2);
    return bf16_to_f32(h);
}

INLINE void float_tile(const struct cpu_gemm *g, const uint8_t *const w[FR], int64_t t, int T, bool bf16,
                       float out[FR][FT])
{
    const int64_t k = g->k;
    const float *x[FT];
    for (int j = 0; j < T; j++) x[j] = g->x + (t + j) * g->x_stride;
    v128_t acc[FR][FT];
    for (int i = 0; i < FR; i++)
        for (int j = 0; j < T; j++) acc[i][j] = wasm_f32x4_splat(0);
    int64_t i0 = 0;
    for (; i0 + 4 <= k; i0 += 4)
        for (int i = 0; i < FR; i++) {
            v128_t wv = load_w4(w[i], i0, bf16);
            for (int j = 0; j < T; j++) acc[i][j] = wasm_f32x4_add(acc[i][j], wasm_f32x4_mul(wv, wasm_v128_load(x[j] + i0)));
        }
    for (int i = 0; i < FR; i++)
        for (int j = 0; j < T; j++) {
            float s = hsum4(acc[i][j]);
            for (int64_t c = i0; c < k; c++) s += w_at(w[i], c, bf16) * x[j][c];
            out[i][j] = s;
        }
}

INLINE void gemm_float(const struct cpu_gemm *g, int64_t r0, int64_t r1, bool bf16)
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
                if (nt == 2) float_tile(g, w, t, 2, bf16, out);
                else float_tile(g, w, t, 1, bf16, out);
                for (int i = 0; i < FR && r + i < r1; i++)
                    for (int j = 0; j < nt; j++) g->y[(t + j) * g->y_stride + r + i] = out[i][j];
            }
        }
    }
}

static void gemm_f32_wasm(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, false); }
static void gemm_bf16_wasm(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_float(g, r0, r1, true); }

INLINE float dot_float(const void *w, const float *x, int64_t k, bool bf16)
{
    v128_t a0 = wasm_f32x4_splat(0), a1 = wasm_f32x4_splat(0);
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(load_w4(w, i, bf16), wasm_v128_load(x + i)));
        a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(load_w4(w, i + 4, bf16), wasm_v128_load(x + i + 4)));
    }
    float s = hsum4(wasm_f32x4_add(a0, a1));
    for (; i < k; i++) s += w_at(w, i, bf16) * x[i];
    return s;
}

static float dot_f32_wasm(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, false); }
static float dot_bf16_wasm(const void *w, const float *x, int64_t k) { return dot_float(w, x, k, true); }

/* ---- exp and the element-wise rows ---- */

/* As exp512 in kernels_avx512.c; 2^n built in two halves so that subnormal results stay exact. */
INLINE v128_t exp4(v128_t x)
{
    x = wasm_f32x4_max(wasm_f32x4_min(x, wasm_f32x4_splat(88.8f)), wasm_f32x4_splat(-103.0f));
    v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
    v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693145751953125f)));
    r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(1.428606820309417232e-06f)));
    static const float c[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
    v128_t p = wasm_f32x4_splat(c[0]);
    for (int i = 1; i < 8; i++) p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(c[i]));
    v128_t ni = wasm_i32x4_trunc_sat_f32x4(n), n1 = wasm_i32x4_shr(ni, 1), n2 = wasm_i32x4_sub(ni, n1);
    v128_t s1 = wasm_i32x4_shl(wasm_i32x4_add(n1, wasm_i32x4_splat(127)), 23);
    v128_t s2 = wasm_i32x4_shl(wasm_i32x4_add(n2, wasm_i32x4_splat(127)), 23);
    v128_t res = wasm_f32x4_mul(wasm_f32x4_mul(p, s1), s2);
    return wasm_v128_bitselect(wasm_f32x4_splat(INFINITY), res, wasm_f32x4_gt(x, wasm_f32x4_splat(88.72284f)));
}

static float exp_sum_wasm(float *x, int n, float m)
{
    v128_t vm = wasm_f32x4_splat(m), sum = wasm_f32x4_splat(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        v128_t e = exp4(wasm_f32x4_sub(wasm_v128_load(x + i), vm));
        wasm_v128_store(x + i, e);
        sum = wasm_f32x4_add(sum, e);
    }
    float s = hsum4(sum);
    for (; i < n; i++) s += x[i] = expf(x[i] - m);
    return s;
}

static void swiglu_wasm(float *y, const float *gate, const float *up, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v128_t gv = wasm_v128_load(gate + i);
        v128_t s = wasm_f32x4_div(gv, wasm_f32x4_add(wasm_f32x4_splat(1.0f), exp4(wasm_f32x4_neg(gv))));
        wasm_v128_store(y + i, up ? wasm_f32x4_mul(s, wasm_v128_load(up + i)) : s);
    }
    for (; i < n; i++) y[i] = gate[i] / (1.0f + expf(-gate[i])) * (up ? up[i] : 1.0f);
}

static void add_wasm(float *y, const float *a, const float *b, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

static void attn_scores_wasm(const float *q, int n_q, const float *k, int64_t k_stride, int n_k, int hd, float *s,
                             int s_stride)
{
    for (int j = 0; j < n_k; j++)
        for (int i = 0; i < n_q; i++) {
            const float *qi = q + (size_t)i * hd, *kj = k + j * k_stride;
            v128_t a = wasm_f32x4_splat(0);
            int d = 0;
            for (; d + 4 <= hd; d += 4) a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(qi + d), wasm_v128_load(kj + d)));
            float sum = hsum4(a);
            for (; d < hd; d++) sum += qi[d] * kj[d];
            s[(size_t)i * s_stride + j] = sum;
        }
}

static void attn_accum_wasm(float *acc, int n_q, const float *p, int p_stride, const float *v, int64_t v_stride,
                            int n_k, int hd)
{
    for (int i = 0; i < n_q; i++) {
        float *ai = acc + (size_t)i * hd;
        const float *pi = p + (size_t)i * p_stride;
        int d = 0;
        for (; d + 8 <= hd; d += 8) {
            v128_t a0 = wasm_v128_load(ai + d), a1 = wasm_v128_load(ai + d + 4);
            for (int j = 0; j < n_k; j++) {
                v128_t pj = wasm_f32x4_splat(pi[j]);
                const float *vj = v + j * v_stride + d;
                a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(pj, wasm_v128_load(vj)));
                a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(pj, wasm_v128_load(vj + 4)));
            }
            wasm_v128_store(ai + d, a0);
            wasm_v128_store(ai + d + 4, a1);
        }
        for (; d < hd; d++)
            for (int j = 0; j < n_k; j++) ai[d] += pi[j] * v[j * v_stride + d];
    }
}

static uint64_t read_bytes_wasm(const void *p, size_t n)
{
    const uint8_t *b = p;
    const size_t q = n / 4 & ~(size_t)15;
    v128_t a0 = wasm_i32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < q; i += 16) {
        a0 = wasm_v128_xor(a0, wasm_v128_load(b + i));
        a1 = wasm_v128_xor(a1, wasm_v128_load(b + q + i));
        a2 = wasm_v128_xor(a2, wasm_v128_load(b + 2 * q + i));
        a3 = wasm_v128_xor(a3, wasm_v128_load(b + 3 * q + i));
    }
    v128_t a = wasm_v128_xor(wasm_v128_xor(a0, a1), wasm_v128_xor(a2, a3));
    return (uint64_t)wasm_i64x2_extract_lane(a, 0) | (uint64_t)wasm_i64x2_extract_lane(a, 1);
}

void cpu_kernels_wasm(struct cpu_kernels *k)
{
    k->isa = "wasm";
    k->gemm[QW_DTYPE_F32] = gemm_f32_wasm;
    k->gemm[QW_DTYPE_BF16] = gemm_bf16_wasm;
    k->gemm[QW_DTYPE_Q8] = gemm_q8_wasm;
    k->gemm[QW_DTYPE_Q4] = gemm_q4_wasm;
    k->dot[QW_DTYPE_F32] = dot_f32_wasm;
    k->dot[QW_DTYPE_BF16] = dot_bf16_wasm;
    k->attn_scores = attn_scores_wasm;
    k->attn_accum = attn_accum_wasm;
    k->exp_sum = exp_sum_wasm;
    k->swiglu = swiglu_wasm;
    k->add = add_wasm;
    k->read_bytes = read_bytes_wasm;
}
#endif
