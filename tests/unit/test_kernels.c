/* Every kernel variant this machine runs (and this build has) against the scalar reference, on odd sizes and
 * tails: matrix products of every weight dtype over ranges of rows, activation quantization (bit-exact),
 * conversions, attention tiles, exp, the element-wise rows and the convolution tiles. Plus the quantized formats themselves: layout,
 * round trip and error bounds. */
#include <math.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "base/fp.h"
#include "base/mem.h"
#include "ops/quant.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* Values with a spread of magnitudes, some exact zeros and a whole zero block. */
static void fill(float *p, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++) {
        float v = frand() * scale;
        if (i % 97 == 5) v *= 20.0f;
        if (i % 131 == 7) v = 0.0f;
        p[i] = v;
    }
    if (n >= 96)
        for (int i = 64; i < 96; i++) p[i] = 0.0f;
}

/* ---- formats ---- */

static void test_layout(void)
{
    for (int64_t nb = 1; nb <= 40; nb++) {
        for (int ppb = 8; ppb <= 16; ppb += 8) {
            int64_t n = nb * ppb;
            unsigned char *seen = calloc((size_t)n, 1);
            bool ok = true;
            for (int64_t b = 0; b < nb; b++)
                for (int c = 0; c < ppb; c++) {
                    int64_t i = qw_pair_index(nb, b, c, ppb);
                    if (i < 0 || i >= n || seen[i]) ok = false;
                    else seen[i] = 1;
                }
            CHECKF(ok, "pair positions of %lld blocks (%d pairs each) are not a permutation", (long long)nb, ppb);
            free(seen);
        }
    }
    /* the documented positions: block 17 of 20 is lane 1 of the 4-block group at byte 512 */
    CHECK(qw_pair_index(20, 17, 3, 16) == 256 + 3 * 4 + 1);
    CHECK(qw_pair_index(20, 2, 5, 8) == 5 * 16 + 2);
}

static void test_formats(void)
{
    const int64_t k = 32 * 21;
    static float x[32 * 21], y[32 * 21];
    static uint8_t row[32 * 21 * 2];
    fill(x, k, 1.0f);
    for (int q4 = 0; q4 < 2; q4++) {
        if (q4) qw_quantize_row_q4(x, row, k);
        else qw_quantize_row_q8(x, row, k);
        if (q4) qw_dequantize_row_q4(row, y, k);
        else qw_dequantize_row_q8(row, y, k);
        double worst = 0;
        for (int64_t b = 0; b < k / 32; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[b * 32 + i]));
            for (int i = 0; i < 32; i++) {
                double e = fabs((double)y[b * 32 + i] - x[b * 32 + i]) / (amax > 0 ? amax : 1);
                if (e > worst) worst = e;
            }
        }
        /* half a step plus the f16 rounding of the scale: 1/254 for Q8; Q4's searched scale may clip the largest
         * value by up to 1/9 of it to fit the others better */
        CHECKF(worst < (q4 ? 0.12 : 0.0045), "%s: worst error %.4f of the block maximum", q4 ? "q4" : "q8", worst);
        /* quantizing the dequantized row reproduces it */
        static uint8_t row2[32 * 21 * 2];
        static float y2[32 * 21];
        if (q4) qw_quantize_row_q4(y, row2, k), qw_dequantize_row_q4(row2, y2, k);
        else qw_quantize_row_q8(y, row2, k), qw_dequantize_row_q8(row2, y2, k);
        CHECKF(rel_err(y2, y, (size_t)k) < 1e-6, "%s: requantizing changes the row", q4 ? "q4" : "q8");
    }
    /* a zero block quantizes to zeros with a zero scale */
    int8_t q[32];
    qw_quantize_row_q4(x, row, k);
    CHECK(qw_q4_block(row, k, 2, q) == 0.0f && q[0] == 0 && q[31] == 0);
}

/* ---- matrix products ---- */

struct problem {
    int64_t m, n, k;
    enum qw_dtype dt;
    uint8_t *w;
    size_t w_stride;
    float *x;
    uint16_t *xb;
    struct cpu_act16 a;
};

static void problem_init(struct problem *p, enum qw_dtype dt, int64_t m, int64_t n, int64_t k)
{
    memset(p, 0, sizeof *p);
    p->dt = dt;
    p->m = m;
    p->n = n;
    p->k = k;
    p->w_stride = qw_row_bytes(dt, k) + (dt == QW_DTYPE_F32 ? 12 : 0); /* a padded stride for f32 */
    p->w = qw_malloc(p->w_stride * (size_t)m + 64);
    float *row = qw_malloc((size_t)k * sizeof *row);
    for (int64_t r = 0; r < m; r++) {
        fill(row, k, 0.5f);
        uint8_t *dst = p->w + (size_t)r * p->w_stride;
        switch (dt) {
        case QW_DTYPE_F32: memcpy(dst, row, (size_t)k * 4); break;
        case QW_DTYPE_F16:
            for (int64_t i = 0; i < k; i++) ((uint16_t *)dst)[i] = f32_to_f16(row[i]);
            break;
        case QW_DTYPE_BF16:
            for (int64_t i = 0; i < k; i++) ((uint16_t *)dst)[i] = f32_to_bf16(row[i]);
            break;
        case QW_DTYPE_Q8: qw_quantize_row_q8(row, dst, k); break;
        case QW_DTYPE_Q4: qw_quantize_row_q4(row, dst, k); break;
        default: break;
        }
    }
    qw_free(row);
    p->x = qw_malloc((size_t)(n * k) * sizeof *p->x);
    fill(p->x, n * k, 2.0f);
    p->xb = qw_malloc((size_t)(n * k) * 2);
    for (int64_t i = 0; i < n * k; i++) p->xb[i] = f32_to_bf16(p->x[i]);
    if (dt == QW_DTYPE_Q8 || dt == QW_DTYPE_Q4) {
        int64_t nb = k / 32;
        p->a.q = qw_malloc((size_t)(n * k) * 2);
        p->a.d = qw_malloc((size_t)(n * nb) * 4 + 4);
        p->a.s = qw_malloc((size_t)(n * nb) * 4 + 4);
        for (int64_t t = 0; t < n; t++) quantize_act16_ref(p->x + t * k, k, p->a.q + t * k, p->a.d + t * nb, p->a.s + t * nb);
    }
}

static void problem_free(struct problem *p)
{
    qw_free(p->w);
    qw_free(p->x);
    qw_free(p->xb);
    qw_free(p->a.q);
    qw_free(p->a.d);
    qw_free(p->a.s);
}

/* y over rows [r0, r1) with y pre-filled by a sentinel: rows outside must stay untouched. */
static void run_gemm(const struct problem *p, cpu_gemm_fn fn, bool bf16x, int64_t r0, int64_t r1, float *y)
{
    const int64_t ys = p->m + 3;
    for (int64_t i = 0; i < p->n * ys; i++) y[i] = 12345.0f;
    struct cpu_gemm g = {.wtype = p->dt, .w = p->w, .w_stride = p->w_stride, .k = p->k, .n = p->n, .x = p->x,
                         .x_stride = p->k, .xb = bf16x ? p->xb : NULL, .a = p->a, .y = y, .y_stride = ys};
    fn(&g, r0, r1);
}

static void compare_gemm(const char *isa, const struct problem *p, cpu_gemm_fn fn, cpu_gemm_fn ref, bool bf16x)
{
    const int64_t ys = p->m + 3;
    float *y = qw_malloc((size_t)(p->n * ys) * 4), *yr = qw_malloc((size_t)(p->n * ys) * 4);
    float *wrow = qw_malloc((size_t)p->k * 4);
    int64_t ranges[3][2] = {{0, p->m}, {1, p->m - 1}, {p->m / 2, p->m / 2 + 1}};
    for (int ri = 0; ri < 3; ri++) {
        int64_t r0 = ranges[ri][0], r1 = ranges[ri][1];
        if (r1 <= r0) continue;
        run_gemm(p, fn, bf16x, r0, r1, y);
        run_gemm(p, ref, bf16x, r0, r1, yr);
        double worst = 0;
        bool untouched = true;
        for (int64_t t = 0; t < p->n; t++) {
            for (int64_t r = 0; r < ys; r++) {
                float a = y[t * ys + r], b = yr[t * ys + r];
                if (r < r0 || r >= r1) {
                    untouched &= a == 12345.0f;
                    continue;
                }
                /* rounding errors of any summation order scale with sum |w x| (about sqrt(k) ulp of it) */
                double scale = 0;
                cpu_row_to_f32(p->dt, p->w + (size_t)r * p->w_stride, wrow, p->k);
                for (int64_t i = 0; i < p->k; i++) scale += fabs((double)wrow[i] * p->x[t * p->k + i]);
                double e = fabs((double)a - b) / (scale > 0 ? scale : 1);
                if (!(e <= worst)) worst = e != e ? INFINITY : e;
            }
        }
        /* VDPBF16PS rounds its pair sums its own way (and flushes denormals): a looser bound */
        CHECKF(worst < (bf16x ? 3e-5 : 1e-5) && untouched, "%s gemm%s %s m=%lld n=%lld k=%lld rows [%lld,%lld): error %.3g%s", isa,
               bf16x ? "_bf16x" : "", qw_dtype_name(p->dt), (long long)p->m, (long long)p->n, (long long)p->k,
               (long long)r0, (long long)r1, worst, untouched ? "" : ", wrote outside its rows");
    }
    qw_free(y);
    qw_free(yr);
    qw_free(wrow);
}

static void test_gemm(const char *isa, const struct cpu_kernels *k)
{
    static const int64_t ms[] = {1, 3, 4, 5, 9, 37, 70}; /* 70: several 32-row panels and a tail */
    static const int64_t ns[] = {1, 2, 3, 4, 5, 7, 13, 17, 40}; /* >= 16: the outer-product float path */
    static const int64_t kq[] = {32, 96, 480, 512, 544, 1056, 1600};
    static const int64_t kf[] = {1, 3, 15, 16, 17, 33, 100, 512, 531};
    for (enum qw_dtype dt = QW_DTYPE_F32; dt <= QW_DTYPE_Q4; dt++) {
        bool quant = dt == QW_DTYPE_Q8 || dt == QW_DTYPE_Q4;
        const int64_t *ks = quant ? kq : kf;
        int nk = quant ? (int)(sizeof kq / sizeof kq[0]) : (int)(sizeof kf / sizeof kf[0]);
        cpu_gemm_fn ref = dt == QW_DTYPE_F32    ? gemm_f32_ref
                          : dt == QW_DTYPE_F16  ? gemm_f16_ref
                          : dt == QW_DTYPE_BF16 ? gemm_bf16_ref
                          : dt == QW_DTYPE_Q8   ? gemm_q8_ref
                                                : gemm_q4_ref;
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                for (int ki = 0; ki < nk; ki++) {
                    struct problem p;
                    problem_init(&p, dt, ms[mi], ns[ni], ks[ki]);
                    compare_gemm(isa, &p, k->gemm[dt], ref, false);
                    if (dt == QW_DTYPE_BF16 && k->gemm_bf16x) compare_gemm(isa, &p, k->gemm_bf16x, gemm_bf16x_ref, true);
                    problem_free(&p);
                }
    }
}

/* ---- the rest ---- */

static void test_rows(const char *isa, const struct cpu_kernels *k, const struct cpu_kernels *ref)
{
    static float x[2048], x2[2048], y[2048], yr[2048], w[2048];
    static uint16_t h[2048], hr[2048];
    static int16_t q[2048], qr[2048];
    static float d[64], dr[64];
    static int32_t s[64], sr[64];
    /* activation quantization: the same bits */
    for (int64_t n = 32; n <= 2048; n += 32 * (n < 640 ? 1 : 7)) {
        fill(x, n, n % 3 ? 3.0f : 1e-3f);
        k->quantize_act16(x, n, q, d, s);
        ref->quantize_act16(x, n, qr, dr, sr);
        CHECKF(memcmp(q, qr, (size_t)n * 2) == 0 && memcmp(d, dr, (size_t)n / 8) == 0 &&
                   memcmp(s, sr, (size_t)n / 8) == 0,
               "%s quantize_act16 k=%lld differs from the reference", isa, (long long)n);
    }
    for (int64_t n = 1; n <= 70; n += 3) {
        fill(x, n, 100.0f);
        k->to_bf16(x, h, n);
        ref->to_bf16(x, hr, n);
        CHECKF(memcmp(h, hr, (size_t)n * 2) == 0, "%s to_bf16 n=%lld", isa, (long long)n);
        k->to_f16(x, h, n);
        ref->to_f16(x, hr, n);
        CHECKF(memcmp(h, hr, (size_t)n * 2) == 0, "%s to_f16 n=%lld", isa, (long long)n);
        k->from_f16(h, y, n);
        ref->from_f16(h, yr, n);
        CHECKF(memcmp(y, yr, (size_t)n * 4) == 0, "%s from_f16 n=%lld", isa, (long long)n);
        /* dot products on plain rows */
        fill(x2, n, 1.0f);
        for (enum qw_dtype dt = QW_DTYPE_F32; dt <= QW_DTYPE_BF16; dt++) {
            const void *wr = dt == QW_DTYPE_F32 ? (const void *)x2 : (const void *)h;
            float a = k->dot[dt](wr, x, n), b = ref->dot[dt](wr, x, n);
            CHECKF(fabsf(a - b) <= 1e-5f * (fabsf(b) + 100.0f * (float)n), "%s dot %s n=%lld: %g vs %g", isa,
                   qw_dtype_name(dt), (long long)n, a, b);
        }
        /* exp: a few ulp of expf, over the range softmax meets */
        for (int64_t i = 0; i < n; i++) x2[i] = x[i] = frand() * 90.0f;
        float m = 3.0f, sa = k->exp_sum(x, (int)n, m), sb = ref->exp_sum(x2, (int)n, m);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double e = fabs((double)x[i] - x2[i]) / (x2[i] > 1e-30f ? x2[i] : 1e-30);
            if (x2[i] > 1e-37f && e > worst) worst = e;
        }
        CHECKF(worst < 1e-6 && fabsf(sa - sb) <= 1e-6f * sb, "%s exp_sum n=%lld: worst %.3g", isa, (long long)n, worst);
        /* element-wise rows */
        fill(x, n, 4.0f);
        fill(x2, n, 4.0f);
        fill(w, n, 1.0f);
        k->rmsnorm(y, x, w, n, 1e-6f);
        ref->rmsnorm(yr, x, w, n, 1e-6f);
        CHECKF(rel_err(y, yr, (size_t)n) < 1e-6, "%s rmsnorm n=%lld", isa, (long long)n);
        k->swiglu(y, x, x2, n);
        ref->swiglu(yr, x, x2, n);
        CHECKF(rel_err(y, yr, (size_t)n) < 1e-6, "%s swiglu n=%lld", isa, (long long)n);
        k->swiglu(y, x, NULL, n);
        ref->swiglu(yr, x, NULL, n);
        CHECKF(rel_err(y, yr, (size_t)n) < 1e-6, "%s silu n=%lld", isa, (long long)n);
        k->add(y, x, x2, n);
        ref->add(yr, x, x2, n);
        CHECKF(memcmp(y, yr, (size_t)n * 4) == 0, "%s add n=%lld", isa, (long long)n);
    }
    static uint8_t buf[4096] __attribute__((aligned(64)));
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 131 + 7);
    CHECKF(k->read_bytes(buf, sizeof buf) != 0 || ref->read_bytes(buf, sizeof buf) == 0, "%s read_bytes", isa);
}

static void test_attention_tiles(const char *isa, const struct cpu_kernels *k, const struct cpu_kernels *ref)
{
    static const int hds[] = {16, 32, 40, 64, 80, 128, 200};
    static float q[8 * 256], kv[33 * 300], s[8 * 40], sr[8 * 40], acc[8 * 256], accr[8 * 256];
    static uint16_t kvh[33 * 300];
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
        for (int nq = 1; nq <= 8; nq += nq < 4 ? 1 : 3) /* 1, 2, 3, 4, 7: pairs and an odd one out */
            for (int nk = 1; nk <= 33; nk += 8) {
                int hd = hds[hi];
                int64_t stride = hd + 3;
                fill(q, (int64_t)nq * hd, 1.0f);
                fill(kv, nk * stride, 1.0f);
                k->attn_scores(q, nq, kv, stride, nk, hd, s, 40);
                ref->attn_scores(q, nq, kv, stride, nk, hd, sr, 40);
                double worst = 0;
                for (int i = 0; i < nq; i++)
                    for (int j = 0; j < nk; j++) {
                        double mag = 0;
                        for (int d = 0; d < hd; d++) mag += fabs((double)q[i * hd + d] * kv[j * stride + d]);
                        double e = fabs((double)s[i * 40 + j] - sr[i * 40 + j]) / (mag > 0 ? mag : 1);
                        if (e > worst) worst = e;
                    }
                CHECKF(worst < 1e-6, "%s attn_scores hd=%d nq=%d nk=%d: %.3g", isa, hd, nq, nk, worst);
                fill(acc, (int64_t)nq * hd, 1.0f);
                memcpy(accr, acc, (size_t)nq * hd * 4);
                k->attn_accum(acc, nq, s, 40, kv, stride, nk, hd);
                ref->attn_accum(accr, nq, s, 40, kv, stride, nk, hd);
                CHECKF(rel_err(acc, accr, (size_t)nq * hd) < 1e-5, "%s attn_accum hd=%d nq=%d nk=%d", isa, hd, nq, nk);
                if (!k->attn_scores_f16) continue;
                /* f16 rows read in place: the same as the f32 kernels over the widened values */
                for (int i = 0; i < nk * stride; i++) kvh[i] = f32_to_f16(kv[i]), kv[i] = f16_to_f32(kvh[i]);
                k->attn_scores(q, nq, kv, stride, nk, hd, sr, 40);
                k->attn_scores_f16(q, nq, kvh, stride, nk, hd, s, 40);
                bool same = true;
                for (int i = 0; i < nq; i++) same &= memcmp(s + i * 40, sr + i * 40, (size_t)nk * 4) == 0;
                CHECKF(same, "%s attn_scores_f16 hd=%d nq=%d nk=%d", isa, hd, nq, nk);
                memcpy(acc, accr, (size_t)nq * hd * 4);
                k->attn_accum(accr, nq, s, 40, kv, stride, nk, hd);
                k->attn_accum_f16(acc, nq, s, 40, kvh, stride, nk, hd);
                CHECKF(memcmp(acc, accr, (size_t)nq * hd * 4) == 0, "%s attn_accum_f16 hd=%d nq=%d nk=%d", isa, hd, nq,
                       nk);
            }
}

/* Prefill attention tiles with the queries in lanes against attn_tile_ref: three consecutive tiles (so the running
 * maximum and sum are rescaled), without and with a causal limit per lane (0 for some lanes: nothing visible). */
static void test_attention_lanes(const char *isa, const struct cpu_kernels *k)
{
    if (!k->attn_tile) return;
    enum { LN = CPU_ATTN_LANES, TL = CPU_ATTN_TILE };
    static const int hds[] = {8, 36, 64, 72, 128};
    static const int nks[] = {1, 7, 33, TL};
    static float qt[128 * LN], kv[3 * TL * 140], vv[3 * TL * 140], s[TL * LN];
    static float ot[128 * LN], otr[128 * LN], mx[LN], mxr[LN], sum[LN], sumr[LN];
    static int32_t limit[LN];
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
        for (size_t ni = 0; ni < sizeof nks / sizeof nks[0]; ni++)
            for (int causal = 0; causal < 2; causal++) {
                const int hd = hds[hi], nk = nks[ni];
                const int64_t stride = hd + 5;
                fill(qt, (int64_t)hd * LN, 0.5f);
                fill(kv, 3 * TL * stride, 1.0f);
                fill(vv, 3 * TL * stride, 1.0f);
                for (int i = 0; i < LN; i++) {
                    mx[i] = mxr[i] = -INFINITY;
                    sum[i] = sumr[i] = 0.0f;
                }
                memset(ot, 0, sizeof ot);
                memset(otr, 0, sizeof otr);
                for (int tile = 0; tile < 3; tile++) {
                    for (int i = 0; i < LN; i++) limit[i] = (i * 7 + tile * 5) % (nk + 1);
                    if (tile == 2) limit[3] = 0; /* lane 3 saw keys before and none here */
                    struct cpu_attn_tile t = {.qt = qt, .hd = hd, .n_k = nk, .k = kv + tile * TL * stride,
                                              .v = vv + tile * TL * stride, .k_stride = stride, .v_stride = stride,
                                              .limit = causal ? limit : NULL, .ot = ot, .mx = mx, .sum = sum, .s = s};
                    k->attn_tile(&t);
                    t.ot = otr, t.mx = mxr, t.sum = sumr;
                    attn_tile_ref(&t);
                }
                double worst = 0;
                for (int i = 0; i < LN; i++) {
                    CHECKF(mx[i] == mxr[i] || fabsf(mx[i] - mxr[i]) <= 1e-5f * fabsf(mxr[i]) + 1e-6f,
                           "%s attn_tile hd=%d nk=%d causal=%d: max %g vs %g", isa, hd, nk, causal, mx[i], mxr[i]);
                    if (sumr[i] == 0.0f) {
                        CHECKF(sum[i] == 0.0f, "%s attn_tile: lane %d saw nothing, sum %g", isa, i, sum[i]);
                        continue;
                    }
                    worst = fmax(worst, fabs((double)sum[i] - sumr[i]) / sumr[i]);
                    for (int d = 0; d < hd; d++) /* relative to the sum of weights: |v| <= 20 */
                        worst = fmax(worst, fabs((double)ot[d * LN + i] - otr[d * LN + i]) / (20.0 * sumr[i]));
                }
                CHECKF(worst < 2e-6, "%s attn_tile hd=%d nk=%d causal=%d: %.3g", isa, hd, nk, causal, worst);
            }
}

/* GELU kernels against the definition in double precision, over the range activations meet and far into both
 * tails (where the float reference loses everything to cancellation: 1 + tanhf(u) is 0 below u = -9). */
static void test_gelu(const char *isa, const struct cpu_kernels *k)
{
    enum { N = 4099 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = i < 4000 ? (float)(i - 2000) / 150.0f : frand() * 60.0f;
    x[N - 1] = 1e-30f;
    x[N - 2] = -1e-30f;
    for (int form = 0; form < 2; form++) {
        if (!(form ? k->gelu_erf : k->gelu_tanh)) continue;
        (form ? k->gelu_erf : k->gelu_tanh)(y, x, N);
        double worst = 0, tail = 0;
        for (int i = 0; i < N; i++) {
            const double v = x[i], u = sqrt(2 / M_PI) * (v + 0.044715 * v * v * v);
            const double want = form ? 0.5 * v * erfc(-v / sqrt(2)) : v / (1 + exp(-2 * u));
            const double e = fabs(y[i] - want) / fabs(want);
            if (fabs(want) < 1e-30) /* past the normal floats */
                CHECKF(fabs(y[i]) < 1e-29, "%s gelu_%s(%g) = %g", isa, form ? "erf" : "tanh", x[i], y[i]);
            else if (fabs(v) <= 5) worst = fmax(worst, e);
            else tail = fmax(tail, e);
        }
        /* e^(-a) carries the rounding of its exponent a (about 2^-24 a, a = x^2 / 2 or 2u): the float reference is
         * within 2.5e-6 for |x| <= 5 and 1e-5 beyond */
        CHECKF(worst < 4e-6 && tail < 3e-5, "%s gelu_%s: worst relative error %.3g, %.3g in the tail", isa,
               form ? "erf" : "tanh", worst, tail);
    }
}

/* ---- convolution tiles and the speech rows ---- */

/* One conv call of a variant against the reference on the same packed weights: a range of output rows whose
 * inputs run past both ends of x (zero rows), every epilogue term, columns past n_out left alone. */
static void compare_conv(const char *isa, const struct cpu_kernels *k, int64_t c_in, int64_t n_out, int n_taps,
                         int64_t x_step, int dil, int64_t q0, int64_t q1, int ep)
{
    enum { T = 41, YS = 80 };
    static float x[T * 40], w[70 * 7 * 40], wp[3 * 7 * 40 * 32], bias[70], res[T * YS], res2[T * YS];
    static float y[T * YS], yr[T * YS], act[T * YS], actr[T * YS];
    static const float zero[40];
    fill(x, T * c_in, 1.0f);
    fill(w, n_out * n_taps * c_in, 0.5f);
    fill(bias, n_out, 1.0f);
    fill(res, T * YS, 1.0f);
    fill(res2, T * YS, 1.0f);
    int taps[8];
    int64_t tap[8];
    for (int j = 0; j < n_taps; j++) taps[j] = j, tap[j] = (int64_t)j * dil - (int64_t)dil * (n_taps - 1) / 2;
    cpu_conv_pack(w, n_taps * c_in, c_in, n_out, taps, n_taps, wp);
    for (int i = 0; i < T * YS; i++) y[i] = yr[i] = act[i] = actr[i] = 42.0f;
    struct cpu_conv cv = {.x = x, .x_rows = T / x_step, .x_stride = c_in, .x_step = x_step, .c_in = c_in,
                          .n_taps = n_taps, .tap = tap, .zero = zero, .w = wp, .n_out = n_out,
                          .bias = ep & 1 ? bias : NULL, .res = ep & 2 ? res : NULL, .res2 = ep & 4 ? res2 : NULL,
                          .y = y, .act = ep & 8 ? act : NULL, .y_stride = YS, .res_stride = YS, .res2_stride = YS,
                          .act_stride = YS, .scale = ep & 16 ? 0.25f : 1.0f, .slope = 0.1f};
    k->conv(&cv, q0, q1);
    cv.y = yr;
    cv.act = ep & 8 ? actr : NULL;
    conv_ref(&cv, q0, q1);
    double worst = 0;
    bool untouched = true;
    for (int64_t q = 0; q < T; q++)
        for (int64_t o = 0; o < YS; o++) {
            size_t i = (size_t)(q * YS + o);
            if (q < q0 || q >= q1 || o >= n_out) {
                untouched &= y[i] == 42.0f && act[i] == 42.0f;
                continue;
            }
            double d = fabs((double)y[i] - yr[i]) / (1.0 + fabs((double)yr[i]));
            if (ep & 8) d = fmax(d, fabs((double)act[i] - actr[i]) / (1.0 + fabs((double)actr[i])));
            if (!(d <= worst)) worst = d;
        }
    CHECKF(worst < 1e-5 && untouched, "%s conv c_in=%lld n_out=%lld taps=%d step=%lld dil=%d rows [%lld,%lld) ep=%d: "
           "error %.3g%s", isa, (long long)c_in, (long long)n_out, n_taps, (long long)x_step, dil, (long long)q0,
           (long long)q1, ep, worst, untouched ? "" : ", wrote outside its rows or columns");
}

static void test_conv(const char *isa, const struct cpu_kernels *k)
{
    static const int64_t c_ins[] = {1, 3, 16, 37};
    static const int64_t n_outs[] = {1, 5, 16, 17, 32, 33, 70};
    for (size_t a = 0; a < sizeof c_ins / sizeof c_ins[0]; a++)
        for (size_t b = 0; b < sizeof n_outs / sizeof n_outs[0]; b++) {
            compare_conv(isa, k, c_ins[a], n_outs[b], 3, 1, 1, 0, 41, 1 | 2 | 8);
            compare_conv(isa, k, c_ins[a], n_outs[b], 7, 1, 3, 5, 30, 31);
            compare_conv(isa, k, c_ins[a], n_outs[b], 2, 2, 1, 1, 20, 4 | 16);
            compare_conv(isa, k, c_ins[a], n_outs[b], 1, 1, 1, 13, 14, 0);
        }
}

static void test_speech_rows(const char *isa, const struct cpu_kernels *k, const struct cpu_kernels *ref)
{
    static float x[203], b[203], y[203], yr[203];
    for (int64_t n = 1; n <= 203; n += 17) {
        fill(x, n, 4.0f);
        fill(b, n, 8.0f);
        k->leaky_relu(y, x, n, 0.1f);
        ref->leaky_relu(yr, x, n, 0.1f);
        CHECKF(memcmp(y, yr, (size_t)n * 4) == 0, "%s leaky_relu n=%lld", isa, (long long)n);
        memcpy(y, x, (size_t)n * 4);
        k->leaky_relu(y, y, n, 0.01f); /* in place */
        ref->leaky_relu(yr, x, n, 0.01f);
        CHECKF(memcmp(y, yr, (size_t)n * 4) == 0, "%s leaky_relu in place n=%lld", isa, (long long)n);
        x[0] = 60.0f, b[0] = -100.0f; /* saturated tails */
        k->tanh_sigmoid(y, x, b, n);
        ref->tanh_sigmoid(yr, x, b, n);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)y[i] - yr[i]));
        CHECKF(worst < 1e-6, "%s tanh_sigmoid n=%lld: %.3g", isa, (long long)n, worst);
    }
}

int main(void)
{
    test_layout();
    test_formats();
    struct cpu_kernels ref;
    cpu_kernels_ref(&ref);
    const char *names[8];
    bool usable[8];
    int nv = cpu_kernels_variants(names, usable, 8);
    for (int v = 0; v < nv; v++) {
        struct cpu_kernels k;
        if (!usable[v]) {
            fprintf(stderr, "test_kernels: %s: not supported by this CPU, skipped\n", names[v]);
            continue;
        }
        REQUIRE(cpu_kernels_init(&k, names[v]));
        fprintf(stderr, "test_kernels: %s\n", names[v]);
        test_gemm(names[v], &k);
        test_rows(names[v], &k, &ref);
        test_attention_tiles(names[v], &k, &ref);
        test_attention_lanes(names[v], &k);
        test_gelu(names[v], &k);
        test_conv(names[v], &k);
        test_speech_rows(names[v], &k, &ref);
    }
    return test_report("test_kernels");
}
