/* The speech ops of the CPU backend against plain double-precision references written here, on odd sizes. */
#include <math.h>
#include <string.h>

#define OP_TEST_SEED 0x243f6a8885a308d3ull
#include "op_test.h"

static void test_conv_transpose(void)
{
    struct {
        int t_in, c_in, c_out, k, stride, pad;
    } cases[] = {{7, 16, 8, 16, 8, 4}, {5, 6, 3, 4, 2, 1}, {9, 8, 5, 3, 1, 1}, {4, 3, 2, 5, 3, 0}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int T = cases[ci].t_in, Ci = cases[ci].c_in, Co = cases[ci].c_out, K = cases[ci].k;
        struct qw_conv1d_params p = {K, cases[ci].stride, 1, 1, cases[ci].pad, cases[ci].pad};
        int To = (int)qw_conv_transpose1d_out_len(T, &p);
        static float x[1024], w[4096], wp[4096], b[64], ref[4096];
        fill(x, (size_t)T * Ci);
        fill(w, (size_t)Ci * Co * K);
        fill(b, (size_t)Co);
        /* scatter form of the definition: each input step adds K taps */
        static double acc[4096];
        for (int t = 0; t < To; t++)
            for (int o = 0; o < Co; o++) acc[t * Co + o] = b[o];
        for (int s = 0; s < T; s++)
            for (int k = 0; k < K; k++) {
                int t = s * p.stride + k - p.pad_left;
                if (t < 0 || t >= To) continue;
                for (int o = 0; o < Co; o++)
                    for (int c = 0; c < Ci; c++) acc[t * Co + o] += (double)x[s * Ci + c] * w[(c * Co + o) * K + k];
            }
        for (int i = 0; i < To * Co; i++) ref[i] = (float)acc[i];
        qw_conv_transpose1d_weight(w, wp, Ci, Co, K);
        struct qw_tensor xt = make(T, Ci, x), wt = make(Co, (int64_t)K * Ci, wp), bt = make(1, Co, b),
                         yt = make(To, Co, NULL);
        qw_conv_transpose1d(&be, yt, xt, wt, bt, &p);
        check_synced("conv_transpose1d");
        double err = rel_err(host(yt), ref, (size_t)To * Co);
        CHECKF(err < 1e-5, "conv_transpose1d case %zu: %g", ci, err);
        drop(xt), drop(wt), drop(bt), drop(yt);
    }
    /* a wrong output length is reported, not written */
    struct qw_conv1d_params p = {4, 2, 1, 1, 1, 1};
    struct qw_tensor xt = make(5, 3, NULL), wt = make(2, 12, NULL), yt = make(9, 2, NULL);
    qw_conv_transpose1d(&be, yt, xt, wt, (struct qw_tensor){0}, &p);
    struct qw_err e = {0};
    CHECK(qw_sync(&be, &e) == QWGLM_ERR_ARG && strstr(e.msg, "conv_transpose1d"));
    drop(xt), drop(wt), drop(yt);
}

static void test_leaky_relu(void)
{
    static float x[7 * 13], ref[7 * 13];
    fill(x, sizeof x / 4);
    for (int i = 0; i < 7 * 13; i++) ref[i] = x[i] >= 0 ? x[i] : x[i] * 0.1f;
    struct qw_tensor xt = make(7, 13, x);
    qw_leaky_relu(&be, xt, xt, 0.1f);
    check_synced("leaky_relu");
    CHECK(rel_err(host(xt), ref, 7 * 13) == 0);
    drop(xt);
}

static void test_attention_rel(void)
{
    const int T = 11, nh = 2, hd = 6, W = 3, C = nh * hd, R = 2 * W + 1;
    static float q[11 * 12], k[11 * 12], v[11 * 12], ek[7 * 6], ev[7 * 6], ref[11 * 12];
    fill(q, sizeof q / 4), fill(k, sizeof k / 4), fill(v, sizeof v / 4), fill(ek, sizeof ek / 4),
        fill(ev, sizeof ev / 4);
    const double scale = 1.0 / sqrt(hd);
    for (int h = 0; h < nh; h++)
        for (int i = 0; i < T; i++) {
            double s[11], mx = -1e30, sum = 0;
            for (int j = 0; j < T; j++) {
                double d = 0;
                for (int c = 0; c < hd; c++) d += q[i * C + h * hd + c] * scale * k[j * C + h * hd + c];
                int r = j - i + W;
                if (r >= 0 && r < R)
                    for (int c = 0; c < hd; c++) d += q[i * C + h * hd + c] * scale * ek[r * hd + c];
                s[j] = d;
                if (d > mx) mx = d;
            }
            for (int j = 0; j < T; j++) sum += (s[j] = exp(s[j] - mx));
            for (int c = 0; c < hd; c++) {
                double o = 0;
                for (int j = 0; j < T; j++) {
                    o += s[j] / sum * v[j * C + h * hd + c];
                    int r = j - i + W;
                    if (r >= 0 && r < R) o += s[j] / sum * ev[r * hd + c];
                }
                ref[i * C + h * hd + c] = (float)o;
            }
        }
    struct qw_tensor qt = make(T, C, q), kt = make(T, C, k), vt = make(T, C, v), et = make(R, hd, ek),
                     evt = make(R, hd, ev), yt = make(T, C, NULL);
    struct qw_rel_attn_params p = {nh, hd, W, (float)scale};
    qw_attention_rel(&be, yt, qt, kt, vt, et, evt, &p);
    check_synced("attention_rel");
    double err = rel_err(host(yt), ref, (size_t)T * C);
    CHECKF(err < 1e-5, "attention_rel: %g", err);
    drop(qt), drop(kt), drop(vt), drop(et), drop(evt), drop(yt);
}

/* The forward spline in double, from the definition (Durkan et al. 2019, eq. 4): the inverse op must undo it. */
static double spline_forward(double x, const float *c, int K, double B, double div)
{
    if (x < -B || x > B) return x;
    double cw[65], ch[65], d[65];
    for (int pass = 0; pass < 2; pass++) {
        double *e = pass ? ch : cw, s[64], mx = -1e30, sum = 0, acc = 0;
        for (int i = 0; i < K; i++) s[i] = c[pass * K + i] / div, mx = s[i] > mx ? s[i] : mx;
        for (int i = 0; i < K; i++) sum += (s[i] = exp(s[i] - mx));
        e[0] = -B;
        for (int i = 0; i < K; i++) acc += 1e-3 + (1 - 1e-3 * K) * s[i] / sum, e[i + 1] = 2 * B * acc - B;
        e[K] = B;
    }
    d[0] = d[K] = 1.0;
    for (int i = 1; i < K; i++) d[i] = 1e-3 + log1p(exp(c[2 * K + i - 1]));
    int k = 0;
    while (k < K - 1 && x >= cw[k + 1]) k++;
    double w = cw[k + 1] - cw[k], h = ch[k + 1] - ch[k], delta = h / w, th = (x - cw[k]) / w;
    double num = h * (delta * th * th + d[k] * th * (1 - th));
    double den = delta + (d[k] + d[k + 1] - 2 * delta) * th * (1 - th);
    return ch[k] + num / den;
}

static void test_spline(void)
{
    const int T = 37, K = 10, P = 3 * K - 1;
    static float x[37], c[37 * 29], y[37];
    fill(c, sizeof c / 4);
    for (int i = 0; i < T * P; i++) c[i] *= 3.0f;
    for (int t = 0; t < T; t++) x[t] = 6.0f * frand(); /* some outside the tails */
    for (int t = 0; t < T; t++) y[t] = (float)spline_forward(x[t], c + t * P, K, 5.0, sqrt(32.0));
    /* x lives in column 1 of a [T, 2] tensor, as in the duration predictor */
    static float z[74];
    for (int t = 0; t < T; t++) z[2 * t] = 42.0f, z[2 * t + 1] = y[t];
    struct qw_tensor zt = make(T, 2, z), ct = make(T, P, c);
    struct qw_spline_params p = {K, 5.0f, sqrtf(32.0f)};
    qw_spline_inverse(&be, qw_cols(zt, 1, 1), ct, &p);
    check_synced("spline_inverse");
    const float *out = host(zt);
    double worst = 0;
    bool col0 = true;
    for (int t = 0; t < T; t++) {
        double d = fabs(out[2 * t + 1] - x[t]);
        if (d > worst) worst = d;
        col0 &= out[2 * t] == 42.0f;
    }
    CHECKF(worst < 1e-4, "spline inverse round trip: %g", worst);
    CHECK(col0);
    drop(zt), drop(ct);
}

int main(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        REQUIRE(cpu_backend_create(threads, &be, NULL) == QWGLM_OK);
        test_conv_transpose();
        test_leaky_relu();
        test_attention_rel();
        test_spline();
        be.ops->free(be.ctx);
    }
    return test_report("test_ops_speech");
}
