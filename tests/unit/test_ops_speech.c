/* The speech ops of the CPU backend against plain double-precision references written here, on odd sizes, with
 * every kernel variant this machine runs. */
#include <math.h>
#include <string.h>

#define OP_TEST_SEED 0x243f6a8885a308d3ull
#include "op_test.h"

/* The fused epilogue in double: y = scale ((y + res) + res2), act = leaky_relu(y). */
static void epilogue_ref(double *acc, int n, const float *res, const float *res2, float scale)
{
    for (int i = 0; i < n; i++) acc[i] = ((acc[i] + (res ? res[i] : 0)) + (res2 ? res2[i] : 0)) * scale;
}

/* Runs the fused form with the epilogue variant ep (bit 0: res, 1: res2, 2: scale, 3: act into a tensor of its
 * own, 4: act in place) and checks y and act against ref (before the epilogue, in double). */
static void check_epilogue(const char *what, int ep, struct qw_tensor yt, const double *acc0, int n,
                           void (*run)(void *arg, struct qw_conv_epilogue *e), void *arg)
{
    static float res[16384], res2[16384], yref[16384], aref[16384];
    static double acc[16384];
    REQUIRE(n <= 16384);
    fill(res, (size_t)n), fill(res2, (size_t)n);
    struct qw_tensor rt = make(yt.rows, yt.cols, res), r2t = make(yt.rows, yt.cols, res2);
    struct qw_tensor at = make(yt.rows, yt.cols, NULL), none = {0};
    struct qw_conv_epilogue e = {ep & 1 ? rt : none, ep & 2 ? r2t : none, ep & 4 ? 0.375f : 1.0f,
                                 ep & 8 ? at : ep & 16 ? yt : none, 0.1f};
    memcpy(acc, acc0, (size_t)n * sizeof *acc);
    epilogue_ref(acc, n, ep & 1 ? res : NULL, ep & 2 ? res2 : NULL, e.scale);
    for (int i = 0; i < n; i++) {
        yref[i] = (float)acc[i];
        aref[i] = (float)(acc[i] >= 0 ? acc[i] : 0.1 * acc[i]);
    }
    run(arg, &e);
    check_synced(what);
    double err = rel_err(host(yt), ep & 16 ? aref : yref, (size_t)n);
    if (ep & 8) err = fmax(err, rel_err(host(at), aref, (size_t)n));
    CHECKF(err < 1e-5, "%s, epilogue %d: %g", what, ep, err);
    drop(rt), drop(r2t), drop(at);
}

struct convt_args {
    struct qw_tensor y, x, w, b;
    struct qw_conv1d_params p;
};

static void run_convt(void *arg, struct qw_conv_epilogue *e)
{
    struct convt_args *a = arg;
    qw_conv_transpose1d_fused(&be, a->y, a->x, a->w, a->b, &a->p, e);
}

static void test_conv_transpose(void)
{
    struct {
        int t_in, c_in, c_out, k, stride, pad;
    } cases[] = {{7, 16, 8, 16, 8, 4}, {5, 6, 3, 4, 2, 1},   {9, 8, 5, 3, 1, 1},
                 {4, 3, 2, 5, 3, 0},   {31, 20, 37, 8, 4, 2}, {13, 33, 64, 16, 8, 4}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int T = cases[ci].t_in, Ci = cases[ci].c_in, Co = cases[ci].c_out, K = cases[ci].k;
        struct qw_conv1d_params p = {K, cases[ci].stride, 1, 1, cases[ci].pad, cases[ci].pad};
        int To = (int)qw_conv_transpose1d_out_len(T, &p);
        static float x[1024], w[40000], wp[40000], b[64], ref[16384];
        fill(x, (size_t)T * Ci);
        fill(w, (size_t)Ci * Co * K);
        fill(b, (size_t)Co);
        /* scatter form of the definition: each input step adds K taps */
        static double acc[16384];
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
        struct convt_args args = {yt, xt, wt, bt, p};
        char what[64];
        snprintf(what, sizeof what, "conv_transpose1d_fused case %zu", ci);
        for (int ep = 0; ep < 32; ep += ci == 4 ? 1 : 9)
            if (!((ep & 8) && (ep & 16))) check_epilogue(what, ep, yt, acc, To * Co, run_convt, &args);
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

struct conv_args {
    struct qw_tensor y, x, w, b;
    struct qw_conv1d_params p;
};

static void run_conv(void *arg, struct qw_conv_epilogue *e)
{
    struct conv_args *a = arg;
    qw_conv1d_fused(&be, a->y, a->x, a->w, a->b, &a->p, e);
}

/* conv1d from the definition in double: x [T, Ci] (row stride xs), w [Co, Ci / G, K] as a checkpoint stores it. */
static void conv1d_ref(double *acc, const float *x, int xs, int T, int Ci, const float *w, const float *b, int Co,
                       const struct qw_conv1d_params *p)
{
    int To = (int)qw_conv1d_out_len(T, p), cg = Ci / p->groups;
    for (int t = 0; t < To; t++)
        for (int o = 0; o < Co; o++) {
            double s = b ? b[o] : 0;
            int g = o / (Co / p->groups);
            for (int c = 0; c < cg; c++)
                for (int k = 0; k < p->kernel; k++) {
                    int ti = t * p->stride + k * p->dilation - p->pad_left;
                    if (ti >= 0 && ti < T) s += (double)w[(o * cg + c) * p->kernel + k] * x[ti * xs + g * cg + c];
                }
            acc[t * Co + o] = s;
        }
}

/* The packed path (f32, groups 1) and the narrow one (1 or 2 outputs), every epilogue, a strided input. */
static void test_conv1d_fused(void)
{
    struct {
        int t_in, c_in, c_out, k, stride, dil, pl, pr;
    } cases[] = {{40, 32, 32, 7, 1, 3, 9, 9}, {29, 5, 17, 3, 1, 1, 1, 1},  {33, 16, 70, 5, 2, 2, 4, 3},
                 {50, 32, 1, 7, 1, 1, 3, 3},  {26, 7, 2, 4, 1, 1, 0, 3},   {3, 9, 40, 5, 1, 1, 2, 2},
                 {61, 24, 48, 1, 1, 1, 0, 0}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int T = cases[ci].t_in, Ci = cases[ci].c_in, Co = cases[ci].c_out, K = cases[ci].k;
        int xs = ci % 2 ? Ci : Ci + 3; /* whole rows (the narrow path for 1 or 2 outputs) or a column view */
        struct qw_conv1d_params p = {K, cases[ci].stride, cases[ci].dil, 1, cases[ci].pl, cases[ci].pr};
        int To = (int)qw_conv1d_out_len(T, &p);
        static float x[64 * 40], w[70 * 32 * 7], wp[70 * 32 * 7], b[70];
        static double acc[16384];
        fill(x, (size_t)T * xs);
        fill(w, (size_t)Co * Ci * K);
        fill(b, (size_t)Co);
        qw_conv1d_weight(w, wp, Co, Ci, K);
        struct qw_tensor xt = qw_cols(make(T, xs, x), xs - Ci, Ci), wt = make(Co, (int64_t)K * Ci, wp),
                         bt = make(1, Co, b), yt = make(To, Co, NULL);
        /* x is the last Ci columns of rows of xs values */
        static float xr[64 * 40];
        for (int t = 0; t < T; t++)
            for (int c = 0; c < Ci; c++) xr[t * xs + c] = x[t * xs + xs - Ci + c];
        conv1d_ref(acc, xr, xs, T, Ci, w, b, Co, &p);
        struct conv_args args = {yt, xt, wt, bt, p};
        char what[64];
        snprintf(what, sizeof what, "conv1d_fused case %zu", ci);
        for (int ep = 0; ep < 32; ep += ci == 0 ? 1 : 7)
            if (!((ep & 8) && (ep & 16))) check_epilogue(what, ep, yt, acc, To * Co, run_conv, &args);
        drop(xt), drop(wt), drop(bt), drop(yt);
    }
}

/* Packed weights are kept per weight tensor: new values written into the buffer, or a new buffer where a freed
 * one was, must be seen. */
static void test_conv_weights_change(void)
{
    const int T = 30, Ci = 16, Co = 24, K = 3;
    struct qw_conv1d_params p = {K, 1, 1, 1, 1, 1};
    static float x[30 * 16], w[24 * 16 * 3], wp[24 * 16 * 3], y[30 * 24];
    static double acc[30 * 24];
    fill(x, sizeof x / 4);
    struct qw_tensor xt = make(T, Ci, x), yt = make(T, Co, NULL), none = {0};
    for (int round = 0; round < 4; round++) {
        fill(w, sizeof w / 4);
        qw_conv1d_weight(w, wp, Co, Ci, K);
        conv1d_ref(acc, x, Ci, T, Ci, w, NULL, Co, &p);
        for (int i = 0; i < T * Co; i++) y[i] = (float)acc[i];
        static struct qw_tensor wt;
        if (round % 2 == 0) wt = make(Co, (int64_t)K * Ci, wp); /* a new buffer (maybe where the last one was) */
        else REQUIRE(qw_tensor_write(&be, wt, wp, NULL) == QWGLM_OK); /* new values in the same buffer */
        for (int rep = 0; rep < 2; rep++) {
            qw_conv1d(&be, yt, xt, wt, none, &p);
            check_synced("conv1d weights");
            double err = rel_err(host(yt), y, (size_t)T * Co);
            CHECKF(err < 1e-5, "conv1d after new weights (round %d, call %d): %g", round, rep, err);
        }
        if (round % 2 == 1) drop(wt);
    }
    /* an epilogue that overlaps y is refused */
    struct qw_tensor wt = make(Co, (int64_t)K * Ci, wp);
    struct qw_conv_epilogue e = {.res = qw_rows(yt, 1, T - 1), .scale = 1.0f};
    qw_conv1d_fused(&be, qw_rows(yt, 0, T - 1), qw_rows(xt, 0, T - 1), wt, none, &p, &e);
    struct qw_err err = {0};
    CHECK(qw_sync(&be, &err) == QWGLM_ERR_ARG && strstr(err.msg, "overlaps"));
    drop(xt), drop(yt), drop(wt);
}

static void test_tanh_sigmoid(void)
{
    static float a[9 * 70], b[9 * 70], ref[9 * 70];
    fill(a, sizeof a / 4), fill(b, sizeof b / 4);
    for (int i = 0; i < 9 * 70; i++) {
        a[i] *= 8.0f, b[i] *= 8.0f;
        ref[i] = (float)(tanh(a[i]) / (1.0 + exp(-(double)b[i])));
    }
    struct qw_tensor at = make(9, 70, a), bt = make(9, 70, b), yt = make(9, 70, NULL);
    qw_tanh_sigmoid_mul(&be, yt, at, bt);
    check_synced("tanh_sigmoid_mul");
    double err = rel_err(host(yt), ref, 9 * 70);
    CHECKF(err < 1e-6, "tanh_sigmoid_mul: %g", err);
    drop(at), drop(bt), drop(yt);
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

/* T = 601: three tiles of keys and a last block of one query. */
static void test_attention_rel(int T, int nh, int hd, int W)
{
    const int C = nh * hd, R = 2 * W + 1;
    static float q[601 * 40], k[601 * 40], v[601 * 40], ek[9 * 20], ev[9 * 20], ref[601 * 40];
    static double s[601];
    REQUIRE(T <= 601 && C <= 40 && R <= 9 && hd <= 20);
    fill(q, (size_t)T * C), fill(k, (size_t)T * C), fill(v, (size_t)T * C), fill(ek, (size_t)R * hd),
        fill(ev, (size_t)R * hd);
    for (int i = 0; i < T * C; i++) q[i] *= 3.0f; /* peaked softmax rows */
    const double scale = 1.0 / sqrt(hd);
    for (int h = 0; h < nh; h++)
        for (int i = 0; i < T; i++) {
            double mx = -1e30, sum = 0;
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
    CHECKF(err < 1e-5, "attention_rel T=%d: %g", T, err);
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
    const char *names[8];
    bool usable[8];
    int nv = cpu_kernels_variants(names, usable, 8);
    for (int v = 0; v < nv; v++) {
        if (!usable[v]) continue;
        for (int threads = 1; threads <= 2; threads++) {
            REQUIRE(cpu_backend_create_isa(threads, names[v], &be, NULL) == QWGLM_OK);
            test_conv_transpose();
            test_conv1d_fused();
            test_conv_weights_change();
            test_leaky_relu();
            test_tanh_sigmoid();
            test_attention_rel(11, 2, 6, 3);
            test_attention_rel(601, 2, 20, 4);
            test_spline();
            if (v == 0 && threads == 1) { /* the unfused forms a backend without the fused ops gets */
                struct qw_backend_ops plain = *be.ops;
                const struct qw_backend_ops *fused = be.ops;
                plain.conv1d_fused = NULL;
                plain.conv_transpose1d_fused = NULL;
                plain.tanh_sigmoid_mul = NULL;
                be.ops = &plain;
                test_conv_transpose();
                test_conv1d_fused();
                test_tanh_sigmoid();
                be.ops = fused;
            }
            be.ops->free(be.ctx);
        }
    }
    return test_report("test_ops_speech");
}
