/* Every op of the CPU backend against a plain double-precision reference written here, on odd sizes. */
#include <string.h>

#include "base/fp.h"
#include "base/mem.h"
#include "ops/quant.h"

#define OP_TEST_SEED 88172645463325252ull
#include "op_test.h"

static void test_linear(void)
{
    const int n = 3, k = 96, m = 37;
    static float x[3 * 96], w[37 * 96], b[37], ref[3 * 37];
    fill(x, sizeof x / 4);
    fill(w, sizeof w / 4);
    fill(b, sizeof b / 4);
    for (enum qw_dtype dt = QW_DTYPE_F32; dt <= QW_DTYPE_Q4; dt++) {
        /* reference on the dequantized weights, so the test measures the kernel, not the format */
        static float wq[37 * 96];
        struct qw_tensor wt;
        REQUIRE(be.ops->weight_upload(be.ctx, w, QW_DTYPE_F32, m, k, dt, &wt, NULL) == QWGLM_OK);
        for (int j = 0; j < m; j++) {
            const uint8_t *row = (const uint8_t *)wt.buf->data + (size_t)j * qw_row_bytes(dt, k);
            cpu_row_to_f32(dt, row, wq + j * k, k);
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) {
                double s = b[j];
                for (int t = 0; t < k; t++) s += (double)x[i * k + t] * wq[j * k + t];
                ref[i * m + j] = (float)s;
            }
        struct qw_tensor xt = make(n, k, x), yt = make(n, m, NULL), bt = make(1, m, b);
        qw_linear(&be, yt, xt, wt, bt);
        check_synced("linear");
        double err = rel_err(host(yt), ref, (size_t)n * m);
        /* Q8/Q4 products take 16-bit activations (a step of 1/32767 of each block's maximum) */
        bool quant = dt == QW_DTYPE_Q8 || dt == QW_DTYPE_Q4;
        CHECKF(err < (quant ? 1e-4 : 1e-5), "linear %s: rel err %g", qw_dtype_name(dt), err);
        /* quantization error itself stays small against the f32 weights */
        if (dt == QW_DTYPE_Q8 || dt == QW_DTYPE_Q4) {
            double qerr = rel_err(wq, w, (size_t)m * k);
            CHECKF(qerr < (dt == QW_DTYPE_Q8 ? 0.01 : 0.15), "%s round trip error %g", qw_dtype_name(dt), qerr);
        }
        drop(xt);
        drop(yt);
        drop(bt);
        drop(wt);
    }
}

/* Products sharing their input give exactly what separate linear calls give, for one dtype and for mixed ones. */
static void test_matmul_multi(void)
{
    const int n = 3, k = 64;
    static const int m[3] = {40, 16, 24};
    static float x[3 * 64], w[3][40 * 64];
    fill(x, sizeof x / 4);
    for (int mixed = 0; mixed < 2; mixed++) {
        struct qw_tensor wt[3], y[3], y1[3], xt = make(n, k, x);
        for (int i = 0; i < 3; i++) {
            fill(w[i], (size_t)m[i] * k);
            enum qw_dtype dt = mixed && i == 1 ? QW_DTYPE_BF16 : QW_DTYPE_Q4;
            REQUIRE(be.ops->weight_upload(be.ctx, w[i], QW_DTYPE_F32, m[i], k, dt, &wt[i], NULL) == QWGLM_OK);
            y[i] = make(n, m[i], NULL);
            y1[i] = make(n, m[i], NULL);
            qw_matmul(&be, y1[i], xt, wt[i]);
        }
        qw_matmul_multi(&be, 3, y, xt, wt);
        check_synced("matmul_multi");
        for (int i = 0; i < 3; i++) {
            static float a[3 * 40];
            memcpy(a, host(y[i]), sizeof(float) * (size_t)(n * m[i]));
            CHECKF(memcmp(a, host(y1[i]), sizeof(float) * (size_t)(n * m[i])) == 0, "matmul_multi mixed=%d product %d",
                   mixed, i);
            drop(wt[i]), drop(y[i]), drop(y1[i]);
        }
        drop(xt);
    }
}

static void test_norms(void)
{
    const int r = 5, c = 33;
    static float x[5 * 33], w[33], b[33], ref[5 * 33];
    fill(x, sizeof x / 4);
    fill(w, sizeof w / 4);
    fill(b, sizeof b / 4);
    for (int i = 0; i < r; i++) {
        double ss = 0;
        for (int j = 0; j < c; j++) ss += (double)x[i * c + j] * x[i * c + j];
        double inv = 1.0 / sqrt(ss / c + 1e-6);
        for (int j = 0; j < c; j++) ref[i * c + j] = (float)(x[i * c + j] * inv * w[j]);
    }
    struct qw_tensor xt = make(r, c, x), wt = make(1, c, w), bt = make(1, c, b), yt = make(r, c, NULL);
    qw_rmsnorm(&be, yt, xt, wt, 1e-6f);
    check_synced("rmsnorm");
    CHECK(rel_err(host(yt), ref, (size_t)r * c) < 1e-6);
    for (int i = 0; i < r; i++) {
        double mean = 0, var = 0;
        for (int j = 0; j < c; j++) mean += x[i * c + j];
        mean /= c;
        for (int j = 0; j < c; j++) var += (x[i * c + j] - mean) * (x[i * c + j] - mean);
        double inv = 1.0 / sqrt(var / c + 1e-5);
        for (int j = 0; j < c; j++) ref[i * c + j] = (float)((x[i * c + j] - mean) * inv * w[j] + b[j]);
    }
    qw_layernorm(&be, xt, xt, wt, bt, 1e-5f); /* in place */
    check_synced("layernorm");
    CHECK(rel_err(host(xt), ref, (size_t)r * c) < 1e-6);
    drop(xt);
    drop(wt);
    drop(bt);
    drop(yt);
}

static void test_rope(void)
{
    const int n = 3, heads = 2, hd = 8, rot = 6;
    static float x[3 * 16], cs[3 * 6], ref[3 * 16];
    fill(x, sizeof x / 4);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < rot / 2; j++) {
            cs[i * rot + j] = cosf(0.3f * (float)(i + 1) * (float)(j + 1));
            cs[i * rot + rot / 2 + j] = sinf(0.3f * (float)(i + 1) * (float)(j + 1));
        }
    memcpy(ref, x, sizeof x);
    for (int i = 0; i < n; i++)
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < rot / 2; j++) {
                float *v = ref + i * heads * hd + h * hd;
                double a = x[i * heads * hd + h * hd + j], b = x[i * heads * hd + h * hd + j + rot / 2];
                double co = cs[i * rot + j], si = cs[i * rot + rot / 2 + j];
                v[j] = (float)(a * co - b * si);
                v[j + rot / 2] = (float)(b * co + a * si);
            }
    struct qw_tensor xt = make(n, heads * hd, x), ct = make(n, rot, cs);
    qw_rope(&be, xt, ct, heads, hd);
    check_synced("rope");
    CHECK(rel_err(host(xt), ref, sizeof x / 4) < 1e-6);
    drop(xt);
    drop(ct);
}

static void attention_ref(float *y, const float *q, const float *k, const float *v, int nq, int nkv, int heads,
                          int kv_heads, int hd, int pos0, bool causal, float scale)
{
    for (int i = 0; i < nq; i++)
        for (int h = 0; h < heads; h++) {
            int kh = h / (heads / kv_heads), nk = causal ? pos0 + i + 1 : nkv;
            double s[2048], m = -1e30, sum = 0; /* keys: at most the largest case's */
            for (int j = 0; j < nk; j++) {
                double d = 0;
                for (int t = 0; t < hd; t++)
                    d += (double)q[(i * heads + h) * hd + t] * k[(j * kv_heads + kh) * hd + t];
                s[j] = d * scale;
                m = s[j] > m ? s[j] : m;
            }
            for (int j = 0; j < nk; j++) sum += (s[j] = exp(s[j] - m));
            for (int t = 0; t < hd; t++) {
                double acc = 0;
                for (int j = 0; j < nk; j++) acc += s[j] / sum * v[(j * kv_heads + kh) * hd + t];
                y[(i * heads + h) * hd + t] = (float)acc;
            }
        }
}

/* Short and long (several key tiles, several query tiles, odd head size) cases, with f32 and f16 keys/values. */
static void test_attention(void)
{
    /* {8, 2, 40, 250, 1}: one query row over many keys, the path that splits the keys between threads; with 1300
     * keys each thread's share spans several chunks of scores, and three heads per KV head take the odd query
     * vector's path; {3, 3, 36, 200, 200} and {6, 2, 20, 300, 70}: many queries (an image's patches, a prompt),
     * the path with the queries in vector lanes, with a head size that is no multiple of 8, and three heads per KV
     * head (30 of the 32 lanes used) */
    static const struct { int heads, kv_heads, hd, nkv, nq; } cases[] = {
        {4, 2, 16, 11, 5},     {8, 2, 40, 150, 40},  {8, 2, 40, 250, 1},
        {6, 2, 40, 1300, 1},   {3, 3, 36, 200, 200}, {6, 2, 20, 300, 70}};
    enum { MAXKV = 1300 * 108 };
    static float q[200 * 108], k[MAXKV], v[MAXKV], kr[MAXKV], vr[MAXKV], ref[200 * 108];
    static uint16_t kh[MAXKV], vh[MAXKV];
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int heads = cases[ci].heads, kv_heads = cases[ci].kv_heads, hd = cases[ci].hd, nkv = cases[ci].nkv;
        const int kvn = nkv * kv_heads * hd;
        fill(q, sizeof q / 4);
        fill(k, (size_t)kvn);
        fill(v, (size_t)kvn);
        for (int f16 = 0; f16 < 2; f16++) {
            for (int i = 0; i < kvn; i++) {
                kh[i] = f32_to_f16(k[i]);
                vh[i] = f32_to_f16(v[i]);
                kr[i] = f16 ? f16_to_f32(kh[i]) : k[i];
                vr[i] = f16 ? f16_to_f32(vh[i]) : v[i];
            }
            for (int causal = 0; causal < 2; causal++) {
                int nq = causal || cases[ci].nq < 3 ? cases[ci].nq : cases[ci].nq - 2, pos0 = causal ? nkv - nq : 0;
                struct qw_tensor qt = make(nq, heads * hd, q), yt = make(nq, heads * hd, NULL);
                struct qw_tensor kt = make(nkv, kv_heads * hd, f16 ? NULL : k), vt = make(nkv, kv_heads * hd, f16 ? NULL : v);
                if (f16) {
                    kt.dtype = vt.dtype = QW_DTYPE_F16;
                    REQUIRE(qw_tensor_write(&be, kt, kh, NULL) == QWGLM_OK);
                    REQUIRE(qw_tensor_write(&be, vt, vh, NULL) == QWGLM_OK);
                }
                struct qw_attn_params p = {heads, kv_heads, hd, nkv, pos0, causal, 0.25f};
                qw_attention(&be, yt, qt, kt, vt, &p);
                check_synced("attention");
                attention_ref(ref, q, kr, vr, nq, nkv, heads, kv_heads, hd, pos0, causal, 0.25f);
                double err = rel_err(host(yt), ref, (size_t)nq * heads * hd);
                CHECKF(err < 1e-5, "attention case %zu f16=%d causal=%d: %g", ci, f16, causal, err);
                drop(qt);
                drop(kt);
                drop(vt);
                drop(yt);
            }
        }
    }
}

static void test_elementwise(void)
{
    const int r = 4, c = 19;
    static float a[4 * 19], b[4 * 19], ref[4 * 19];
    fill(a, sizeof a / 4);
    fill(b, sizeof b / 4);
    struct qw_tensor at = make(r, c, a), bt = make(r, c, b), brow = make(1, c, b), yt = make(r, c, NULL);
    qw_add(&be, yt, at, brow);
    for (int i = 0; i < r * c; i++) ref[i] = a[i] + b[i % c];
    check_synced("add");
    CHECK(rel_err(host(yt), ref, (size_t)r * c) < 1e-7);
    qw_mul(&be, yt, at, bt);
    for (int i = 0; i < r * c; i++) ref[i] = a[i] * b[i];
    check_synced("mul");
    CHECK(rel_err(host(yt), ref, (size_t)r * c) < 1e-7);
    qw_affine(&be, yt, at, 2.0f, -1.0f);
    for (int i = 0; i < r * c; i++) ref[i] = a[i] * 2.0f - 1.0f;
    CHECK(rel_err(host(yt), ref, (size_t)r * c) < 1e-7);
    qw_swiglu(&be, yt, at, bt);
    for (int i = 0; i < r * c; i++) ref[i] = (float)(a[i] / (1 + exp(-a[i])) * b[i]);
    CHECK(rel_err(host(yt), ref, (size_t)r * c) < 1e-6);
    for (enum qw_unary op = 0; op < QW_UNARY_COUNT; op++) {
        qw_unary(&be, yt, at, op);
        for (int i = 0; i < r * c; i++) {
            double x = a[i], v = 0;
            switch (op) {
            case QW_UNARY_SILU: v = x / (1 + exp(-x)); break;
            case QW_UNARY_GELU_TANH: v = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); break;
            case QW_UNARY_GELU_ERF: v = 0.5 * x * (1 + erf(x / sqrt(2))); break;
            case QW_UNARY_RELU: v = x > 0 ? x : 0; break;
            case QW_UNARY_TANH: v = tanh(x); break;
            case QW_UNARY_SIGMOID: v = 1 / (1 + exp(-x)); break;
            case QW_UNARY_EXP: v = exp(x); break;
            case QW_UNARY_COUNT: break;
            }
            ref[i] = (float)v;
        }
        CHECKF(rel_err(host(yt), ref, (size_t)r * c) < 1e-6, "unary %d", op);
    }
    memcpy(ref, a, sizeof a);
    for (int i = 0; i < r; i++) {
        double m = -1e30, s = 0;
        for (int j = 0; j < c; j++) m = ref[i * c + j] > m ? ref[i * c + j] : m;
        for (int j = 0; j < c; j++) s += exp(ref[i * c + j] - m);
        for (int j = 0; j < c; j++) ref[i * c + j] = (float)(exp(a[i * c + j] - m) / s);
    }
    qw_softmax(&be, at);
    CHECK(rel_err(host(at), ref, (size_t)r * c) < 1e-6);
    /* copy into a strided view, converting to bf16 */
    struct qw_buf *wide;
    REQUIRE(be.ops->buf_alloc(be.ctx, (size_t)r * 2 * c * 2, &wide, NULL) == QWGLM_OK);
    struct qw_tensor dst = {wide, (size_t)c * 2, QW_DTYPE_BF16, r, c, 2 * c};
    qw_copy(&be, dst, bt);
    check_synced("copy");
    int bad = 0;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            uint16_t h;
            memcpy(&h, wide->data + ((size_t)i * 2 * c + c + j) * 2, 2);
            bad += h != f32_to_bf16(b[i * c + j]);
        }
    CHECK(bad == 0);
    be.ops->buf_free(be.ctx, wide);
    drop(at);
    drop(bt);
    drop(brow);
    drop(yt);
}

static void test_get_rows_and_errors(void)
{
    static float table[6 * 8];
    fill(table, sizeof table / 4);
    struct qw_tensor tt;
    REQUIRE(be.ops->weight_upload(be.ctx, table, QW_DTYPE_F32, 6, 8, QW_DTYPE_BF16, &tt, NULL) == QWGLM_OK);
    struct qw_buf *ib;
    int32_t ids[3] = {5, 0, 2};
    REQUIRE(be.ops->buf_alloc(be.ctx, sizeof ids, &ib, NULL) == QWGLM_OK);
    struct qw_tensor it = {ib, 0, QW_DTYPE_I32, 1, 3, 3};
    REQUIRE(qw_tensor_write(&be, it, ids, NULL) == QWGLM_OK);
    struct qw_tensor yt = make(3, 8, NULL);
    qw_get_rows(&be, yt, tt, it);
    check_synced("get_rows");
    float *y = host(yt);
    int bad = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 8; j++) bad += y[i * 8 + j] != bf16_to_f32(f32_to_bf16(table[ids[i] * 8 + j]));
    CHECK(bad == 0);
    /* an id out of range and a shape mismatch are reported by sync, not a crash */
    ids[1] = 6;
    REQUIRE(qw_tensor_write(&be, it, ids, NULL) == QWGLM_OK);
    qw_get_rows(&be, yt, tt, it);
    struct qw_err e = {0};
    CHECK(qw_sync(&be, &e) == QWGLM_ERR_ARG && strstr(e.msg, "id 6"));
    qw_matmul(&be, yt, yt, tt);
    struct qw_err e2 = {0};
    CHECK(qw_sync(&be, &e2) == QWGLM_ERR_ARG && strstr(e2.msg, "linear"));
    CHECK(qw_sync(&be, NULL) == QWGLM_OK); /* errors are cleared once reported */
    be.ops->buf_free(be.ctx, ib);
    drop(yt);
    drop(tt);
}

static void test_conv1d(void)
{
    /* [c_out, cg, k] weights as a checkpoint stores them, against a direct evaluation of the definition */
    struct {
        int t_in, c_in, c_out, k, stride, dil, groups, pl, pr;
    } cases[] = {{17, 6, 4, 3, 1, 1, 1, 1, 1}, {20, 8, 8, 9, 1, 1, 8, 4, 4}, {23, 6, 9, 5, 2, 3, 3, 6, 2},
                 {9, 64, 32, 2, 2, 1, 1, 0, 0}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int T = cases[ci].t_in, Ci = cases[ci].c_in, Co = cases[ci].c_out, K = cases[ci].k, G = cases[ci].groups;
        int cg = Ci / G;
        struct qw_conv1d_params p = {K, cases[ci].stride, cases[ci].dil, G, cases[ci].pl, cases[ci].pr};
        int To = (int)qw_conv1d_out_len(T, &p);
        static float x[64 * 64], w[64 * 64 * 9], wp[64 * 64 * 9], b[64], ref[64 * 64];
        fill(x, (size_t)T * Ci);
        fill(w, (size_t)Co * cg * K);
        fill(b, (size_t)Co);
        for (int t = 0; t < To; t++)
            for (int o = 0; o < Co; o++) {
                double s = b[o];
                int g = o / (Co / G);
                for (int c = 0; c < cg; c++)
                    for (int k = 0; k < K; k++) {
                        int ti = t * p.stride + k * p.dilation - p.pad_left;
                        if (ti >= 0 && ti < T) s += (double)w[(o * cg + c) * K + k] * x[ti * Ci + g * cg + c];
                    }
                ref[t * Co + o] = (float)s;
            }
        qw_conv1d_weight(w, wp, Co, cg, K);
        struct qw_tensor wt;
        REQUIRE(be.ops->weight_upload(be.ctx, wp, QW_DTYPE_F32, Co, (int64_t)K * cg, QW_DTYPE_F32, &wt, NULL) ==
                QWGLM_OK);
        struct qw_tensor xt = make(T, Ci, x), yt = make(To, Co, NULL), bt = make(1, Co, b);
        qw_conv1d(&be, yt, xt, wt, bt, &p);
        check_synced("conv1d");
        double err = rel_err(host(yt), ref, (size_t)To * Co);
        CHECKF(err < 1e-5, "conv1d case %zu: %g", ci, err);
        drop(xt);
        drop(yt);
        drop(bt);
        drop(wt);
    }
}

int main(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        REQUIRE(cpu_backend_create(threads, &be, NULL) == QWGLM_OK);
        test_linear();
        test_norms();
        test_rope();
        test_attention();
        test_matmul_multi();
        test_elementwise();
        test_get_rows_and_errors();
        test_conv1d();
        be.ops->free(be.ctx);
    }
    /* attention reads f16 caches in place where a variant's kernels can, else converts them: every variant */
    const char *names[8];
    bool usable[8];
    int nv = cpu_kernels_variants(names, usable, 8);
    for (int v = 0; v < nv; v++) {
        if (!usable[v]) continue;
        REQUIRE(cpu_backend_create_isa(2, names[v], &be, NULL) == QWGLM_OK);
        test_attention();
        be.ops->free(be.ctx);
    }
    return test_report("test_ops");
}
