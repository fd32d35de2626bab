/* The conformer ops (conv2d, relative-position attention) against direct double-precision evaluations of
 * their definitions in ops.h, on odd sizes, with one and two threads. */
#include <stdlib.h>
#include <string.h>

#define OP_TEST_SEED 0x9e3779b97f4a7c15ull
#include "op_test.h"

static void test_conv2d(void)
{
    struct {
        int t, w, ci, co, kt, kw, st, sw, pt, pw, g;
    } cases[] = {{11, 13, 1, 5, 3, 3, 2, 2, 1, 1, 1}, {9, 8, 6, 6, 3, 3, 2, 2, 1, 1, 6},
                 {7, 5, 4, 6, 3, 1, 1, 2, 1, 0, 2}, {6, 7, 3, 4, 2, 3, 1, 1, 0, 1, 1}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int T = cases[ci].t, W = cases[ci].w, Ci = cases[ci].ci, Co = cases[ci].co, G = cases[ci].g;
        int kt = cases[ci].kt, kw = cases[ci].kw, cg = Ci / G;
        struct qw_conv2d_params p = {W, Ci, Co, kt, kw, cases[ci].st, cases[ci].sw, cases[ci].pt, cases[ci].pw, G};
        int To = (int)qw_conv2d_out_t(T, &p), Wo = (int)qw_conv2d_out_w(&p);
        static float x[4096], w[4096], wp[4096], b[64], ref[8192];
        fill(x, (size_t)(T * W * Ci));
        fill(w, (size_t)(Co * cg * kt * kw));
        fill(b, (size_t)Co);
        /* reference in the checkpoint's [C_out, cg, kt, kw] layout over a (T, W, C) input */
        for (int t = 0; t < To; t++)
            for (int u = 0; u < Wo; u++)
                for (int o = 0; o < Co; o++) {
                    double s = b[o];
                    int g = o / (Co / G);
                    for (int c = 0; c < cg; c++)
                        for (int i = 0; i < kt; i++)
                            for (int j = 0; j < kw; j++) {
                                int ti = t * p.stride_t + i - p.pad_t, wi = u * p.stride_w + j - p.pad_w;
                                if (ti < 0 || ti >= T || wi < 0 || wi >= W) continue;
                                s += (double)w[((o * cg + c) * kt + i) * kw + j] * x[(ti * W + wi) * Ci + g * cg + c];
                            }
                    ref[(t * Wo + u) * Co + o] = (float)s;
                }
        qw_conv2d_weight(w, wp, Co, cg, kt, kw);
        struct qw_tensor wt = make(Co, kt * kw * cg, wp), xt = make(T, W * Ci, x), yt = make(To, Wo * Co, NULL);
        struct qw_tensor bt = make(1, Co, b);
        qw_conv2d(&be, yt, xt, wt, bt, &p);
        check_synced("conv2d");
        double err = rel_err(host(yt), ref, (size_t)(To * Wo * Co));
        CHECKF(err < 1e-5, "conv2d case %zu: %g", ci, err);
        /* a shape that does not fit is an error, not a crash */
        struct qw_conv2d_params bad = p;
        bad.w_in++;
        qw_conv2d(&be, yt, xt, wt, bt, &bad);
        struct qw_err e = {0};
        CHECK(qw_sync(&be, &e) == QWGLM_ERR_ARG);
        drop(wt), drop(xt), drop(yt), drop(bt);
    }
}

/* Sizes that cover one item, several query blocks and key tiles with ragged ends, and more valid frames than the
 * whole-row path takes (the tiled path with its online softmax). */
static void relpos_case(int T, int H, int hd, int nv)
{
    const int D = H * hd;
    float *q = malloc((size_t)T * D * 4), *k = malloc((size_t)T * D * 4), *v = malloc((size_t)T * D * 4);
    float *p = malloc((size_t)(2 * T - 1) * D * 4), *u = malloc((size_t)D * 4), *vb = malloc((size_t)D * 4);
    float *ref = malloc((size_t)T * D * 4);
    double *s = malloc((size_t)T * sizeof(double));
    REQUIRE(q && k && v && p && u && vb && ref && s);
    fill(q, (size_t)T * D), fill(k, (size_t)T * D), fill(v, (size_t)T * D), fill(p, (size_t)(2 * T - 1) * D);
    fill(u, (size_t)D), fill(vb, (size_t)D);
    const float scale = 0.37f;
    for (int i = 0; i < T; i++)
        for (int h = 0; h < H; h++) {
            double m = -1e300, sum = 0;
            for (int j = 0; j < nv; j++) {
                double a = 0;
                for (int d = 0; d < hd; d++) {
                    int c = h * hd + d;
                    a += ((double)q[i * D + c] + u[c]) * k[j * D + c] +
                         ((double)q[i * D + c] + vb[c]) * p[(T - 1 - i + j) * D + c];
                }
                s[j] = a * scale;
                if (s[j] > m) m = s[j];
            }
            for (int j = 0; j < nv; j++) sum += (s[j] = exp(s[j] - m));
            for (int d = 0; d < hd; d++) {
                double acc = 0;
                for (int j = 0; j < nv; j++) acc += s[j] / sum * v[j * D + h * hd + d];
                ref[i * D + h * hd + d] = i < nv ? (float)acc : 0.0f;
            }
        }
    struct qw_tensor qt = make(T, D, q), kt = make(T, D, k), vt = make(T, D, v), pt = make(2 * T - 1, D, p);
    struct qw_tensor ut = make(1, D, u), vbt = make(1, D, vb), yt = make(T, D, NULL);
    struct qw_relattn_params prm = {H, hd, nv, scale};
    qw_attention_relpos(&be, yt, qt, kt, vt, pt, ut, vbt, &prm);
    check_synced("attention_relpos");
    double err = rel_err(host(yt), ref, (size_t)T * D);
    CHECKF(err < 1e-5, "attention_relpos T=%d, %d heads of %d, %d valid: %g", T, H, hd, nv, err);
    /* a position table of the wrong length is refused */
    qw_attention_relpos(&be, yt, qt, kt, vt, qw_rows(pt, 0, 2 * T - 2), ut, vbt, &prm);
    struct qw_err e = {0};
    CHECK(qw_sync(&be, &e) == QWGLM_ERR_ARG);
    drop(qt), drop(kt), drop(vt), drop(pt), drop(ut), drop(vbt), drop(yt);
    free(q), free(k), free(v), free(p), free(u), free(vb), free(ref), free(s);
}

static void test_attention_relpos(void)
{
    for (int nv = 7; nv >= 4; nv -= 3) relpos_case(7, 3, 5, nv);
    relpos_case(150, 2, 24, 150);
    relpos_case(211, 3, 17, 139);
    relpos_case(4200, 1, 4, 4133);
}

/* The batched linear path (several input rows) against a double-precision reference, and every SIMD dot / gemm
 * kernel against the scalar reference on odd sizes and tails. */
static void test_linear_batched(void)
{
    const int n = 9, k = 100, m = 37;
    static float x[9 * 100], w[37 * 100], b[37], ref[9 * 37];
    fill(x, sizeof x / 4), fill(w, sizeof w / 4), fill(b, sizeof b / 4);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double s = b[j];
            for (int t = 0; t < k; t++) s += (double)x[i * k + t] * w[j * k + t];
            ref[i * m + j] = (float)s;
        }
    struct qw_tensor xt = make(n, k, x), wt = make(m, k, w), bt = make(1, m, b), yt = make(n, m, NULL);
    qw_linear(&be, yt, xt, wt, bt);
    check_synced("linear batched");
    double err = rel_err(host(yt), ref, (size_t)n * m);
    CHECKF(err < 1e-5, "linear batched: %g", err);
    drop(xt), drop(wt), drop(bt), drop(yt);

    struct cpu_kernels best, ref_k;
    REQUIRE(cpu_kernels_init(&best, NULL));
    REQUIRE(cpu_kernels_init(&ref_k, "scalar"));
    for (int kk = 1; kk <= 70; kk += 3) {
        float a = best.dot[QW_DTYPE_F32](w, x, kk), r = ref_k.dot[QW_DTYPE_F32](w, x, kk);
        CHECKF(fabsf(a - r) <= 1e-5f * (1.0f + fabsf(r)), "dot %s k=%d: %g vs %g", best.isa, kk, a, r);
    }
    if (best.gemm[QW_DTYPE_F32]) {
        for (int kk = 5; kk <= 100; kk += 19) {
            static float y[9 * 37];
            struct cpu_gemm g = {.wtype = QW_DTYPE_F32, .w = (const uint8_t *)w, .w_stride = (size_t)k * 4, .k = kk,
                                 .n = 7, .x = x, .x_stride = k, .y = y, .y_stride = m};
            best.gemm[QW_DTYPE_F32](&g, 3, 30);
            bool ok = true;
            for (int i = 0; i < 7; i++)
                for (int j = 3; j < 30; j++) {
                    float r = ref_k.dot[QW_DTYPE_F32](w + j * k, x + i * k, kk);
                    ok &= fabsf(y[i * m + j] - r) <= 1e-5f * (1.0f + fabsf(r));
                }
            CHECKF(ok, "gemm %s k=%d", best.isa, kk);
        }
    }
}

int main(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        REQUIRE(cpu_backend_create(threads, &be, NULL) == QWGLM_OK);
        test_conv2d();
        test_attention_relpos();
        test_linear_batched();
        be.ops->free(be.ctx);
    }
    return test_report("test_ops_conformer");
}
