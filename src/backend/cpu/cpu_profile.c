/* Per-op timings and the machine's read bandwidth, for `qwglm bench`.
 *
 * Profiling swaps the backend's op table for one whose entries time the call to the original (the CPU backend
 * runs every op at once, so wall time per call is the op's cost) and add it to a row per op name, and per weight
 * dtype for linear, with the bytes of weights or keys/values it read and its multiply-adds. Ops that are not
 * wrapped here still run, untimed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "cpu.h"
#include "cpu_impl.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void record(struct cpu_ctx *c, const char *name, double t0, double bytes, double flops)
{
    struct cpu_profile *p = c->prof;
    double dt = now_s() - t0;
    int i = 0;
    while (i < p->n && strcmp(p->e[i].name, name) != 0) i++;
    if (i == p->n) {
        if (p->n == CPU_PROF_MAX) return;
        snprintf(p->e[p->n++].name, sizeof p->e[0].name, "%s", name);
    }
    p->e[i].calls++;
    p->e[i].seconds += dt;
    p->e[i].bytes += bytes;
    p->e[i].flops += flops;
}

#define ORIG(c) ((c)->prof_orig)

static void p_linear(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b)
{
    struct cpu_ctx *c = ctx;
    double t0 = now_s();
    ORIG(c)->linear(ctx, y, x, w, b);
    char name[32];
    snprintf(name, sizeof name, "linear %s", qw_dtype_name(w.dtype));
    record(c, name, t0, (double)w.rows * (double)qw_row_bytes(w.dtype, w.cols),
           2.0 * (double)x.rows * (double)w.rows * (double)w.cols);
}

static void p_matmul_multi(void *ctx, int n, const struct qw_tensor *y, struct qw_tensor x, const struct qw_tensor *w)
{
    struct cpu_ctx *c = ctx;
    double t0 = now_s(), bytes = 0, flops = 0;
    ORIG(c)->matmul_multi(ctx, n, y, x, w);
    for (int i = 0; i < n; i++) {
        bytes += (double)w[i].rows * (double)qw_row_bytes(w[i].dtype, w[i].cols);
        flops += 2.0 * (double)x.rows * (double)w[i].rows * (double)w[i].cols;
    }
    char name[32];
    snprintf(name, sizeof name, "linear %s", qw_dtype_name(w[0].dtype));
    record(c, name, t0, bytes, flops);
}

static void p_attention(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                        const struct qw_attn_params *p)
{
    struct cpu_ctx *c = ctx;
    double t0 = now_s();
    ORIG(c)->attention(ctx, y, q, k, v, p);
    double kv = 2.0 * p->n_kv * (double)qw_row_bytes(k.dtype, k.cols);
    double pairs = p->causal ? (double)q.rows * (p->q_pos0 + (q.rows + 1) / 2.0) : (double)q.rows * p->n_kv;
    record(c, "attention", t0, kv, 4.0 * pairs * p->n_heads * p->head_dim);
}

/* Convolutions: 2 x multiply-adds (conv1d: T_out C_out K C_in / groups; transposed: T_in C_in C_out K); bytes are
 * the weights'. */
static void conv_record(struct cpu_ctx *c, const char *name, double t0, struct qw_tensor w, double macs)
{
    record(c, name, t0, (double)w.rows * (double)qw_row_bytes(w.dtype, w.cols), 2.0 * macs);
}

static void p_conv1d(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                     const struct qw_conv1d_params *p)
{
    double t0 = now_s();
    ORIG((struct cpu_ctx *)ctx)->conv1d(ctx, y, x, w, b, p);
    conv_record(ctx, "conv1d", t0, w, (double)y.rows * (double)y.cols * (double)w.cols);
}

static void p_conv1d_fused(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                           const struct qw_conv1d_params *p, const struct qw_conv_epilogue *ep)
{
    double t0 = now_s();
    ORIG((struct cpu_ctx *)ctx)->conv1d_fused(ctx, y, x, w, b, p, ep);
    conv_record(ctx, "conv1d_fused", t0, w, (double)y.rows * (double)y.cols * (double)w.cols);
}

static void p_conv_transpose1d(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                               struct qw_tensor b, const struct qw_conv1d_params *p)
{
    double t0 = now_s();
    ORIG((struct cpu_ctx *)ctx)->conv_transpose1d(ctx, y, x, w, b, p);
    conv_record(ctx, "conv_transpose1d", t0, w, (double)x.rows * (double)y.cols * (double)w.cols);
}

static void p_conv_transpose1d_fused(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                                     struct qw_tensor b, const struct qw_conv1d_params *p,
                                     const struct qw_conv_epilogue *ep)
{
    double t0 = now_s();
    ORIG((struct cpu_ctx *)ctx)->conv_transpose1d_fused(ctx, y, x, w, b, p, ep);
    conv_record(ctx, "conv_transpose1d_fused", t0, w, (double)x.rows * (double)y.cols * (double)w.cols);
}

#define WRAP(op, params, args, label)                                                                              \
    static void p_##op params                                                                                      \
    {                                                                                                              \
        struct cpu_ctx *c = ctx;                                                                                   \
        double t0 = now_s();                                                                                       \
        ORIG(c)->op args;                                                                                          \
        record(c, label, t0, 0, 0);                                                                                \
    }

WRAP(get_rows, (void *ctx, struct qw_tensor y, struct qw_tensor t, struct qw_tensor ids), (ctx, y, t, ids), "get_rows")
WRAP(rmsnorm, (void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, float eps), (ctx, y, x, w, eps),
     "rmsnorm")
WRAP(rope, (void *ctx, struct qw_tensor x, struct qw_tensor cs, int nh, int hd), (ctx, x, cs, nh, hd), "rope")
WRAP(add, (void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b), (ctx, y, a, b), "add")
WRAP(mul, (void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b), (ctx, y, a, b), "mul")
WRAP(swiglu, (void *ctx, struct qw_tensor y, struct qw_tensor g, struct qw_tensor u), (ctx, y, g, u), "swiglu")
static void p_unary(void *ctx, struct qw_tensor y, struct qw_tensor x, enum qw_unary op)
{
    static const char *const names[] = {"unary silu", "unary gelu_tanh", "unary gelu_erf", "unary relu",
                                        "unary tanh", "unary sigmoid",   "unary exp"};
    _Static_assert(sizeof names / sizeof names[0] == QW_UNARY_COUNT, "unary names");
    double t0 = now_s();
    ORIG((struct cpu_ctx *)ctx)->unary(ctx, y, x, op);
    record(ctx, (unsigned)op < QW_UNARY_COUNT ? names[op] : "unary", t0, 0, 0);
}

WRAP(softmax, (void *ctx, struct qw_tensor x), (ctx, x), "softmax")
WRAP(copy, (void *ctx, struct qw_tensor y, struct qw_tensor x), (ctx, y, x), "copy")
WRAP(layernorm, (void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b, float eps),
     (ctx, y, x, w, b, eps), "layernorm")
WRAP(affine, (void *ctx, struct qw_tensor y, struct qw_tensor x, float s, float b), (ctx, y, x, s, b), "affine")
WRAP(tanh_sigmoid_mul, (void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b), (ctx, y, a, b),
     "tanh_sigmoid_mul")
WRAP(leaky_relu, (void *ctx, struct qw_tensor y, struct qw_tensor x, float s), (ctx, y, x, s), "leaky_relu")
WRAP(attention_rel,
     (void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v, struct qw_tensor ek,
      struct qw_tensor ev, const struct qw_rel_attn_params *p),
     (ctx, y, q, k, v, ek, ev, p), "attention_rel")
WRAP(spline_inverse, (void *ctx, struct qw_tensor x, struct qw_tensor sp, const struct qw_spline_params *p),
     (ctx, x, sp, p), "spline_inverse")

/* conv2d: 2 x T_out W_out C_out kt kw cg; relative-position attention: scores, position terms and values over the
 * valid rows, 2 x 3 x n^2 x width. */
static void p_conv2d(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                     const struct qw_conv2d_params *p)
{
    struct cpu_ctx *c = ctx;
    double t0 = now_s();
    ORIG(c)->conv2d(ctx, y, x, w, b, p);
    const double outs = (double)y.rows * (double)qw_conv2d_out_w(p) * p->c_out;
    record(c, "conv2d", t0, 4.0 * (double)w.rows * (double)w.cols,
           2.0 * outs * p->kernel_t * p->kernel_w * (p->c_in / p->groups));
}

static void p_attention_relpos(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k,
                               struct qw_tensor v, struct qw_tensor pos, struct qw_tensor u, struct qw_tensor vb,
                               const struct qw_relattn_params *prm)
{
    struct cpu_ctx *c = ctx;
    double t0 = now_s();
    ORIG(c)->attention_relpos(ctx, y, q, k, v, pos, u, vb, prm);
    const double n = prm->n_valid;
    record(c, "attention_relpos", t0, 0, 6.0 * n * n * prm->n_heads * prm->head_dim);
}

qwglm_status cpu_profile_begin(struct qw_backend *be, struct qw_err *e)
{
    struct cpu_ctx *c = be->ctx;
    if (c->prof) return QWGLM_OK;
    c->prof = qw_calloc(1, sizeof *c->prof);
    if (!c->prof) return qw_fail(e, QWGLM_ERR_NOMEM, "profile");
    c->prof_orig = be->ops;
    c->prof_ops = *be->ops;
    c->prof_ops.linear = p_linear;
    c->prof_ops.attention = p_attention;
    if (c->prof_ops.matmul_multi) c->prof_ops.matmul_multi = p_matmul_multi;
    c->prof_ops.get_rows = p_get_rows;
    c->prof_ops.rmsnorm = p_rmsnorm;
    c->prof_ops.rope = p_rope;
    c->prof_ops.add = p_add;
    c->prof_ops.mul = p_mul;
    c->prof_ops.swiglu = p_swiglu;
    c->prof_ops.unary = p_unary;
    c->prof_ops.softmax = p_softmax;
    c->prof_ops.copy = p_copy;
    c->prof_ops.layernorm = p_layernorm;
    c->prof_ops.affine = p_affine;
    c->prof_ops.leaky_relu = p_leaky_relu;
    if (c->prof_ops.tanh_sigmoid_mul) c->prof_ops.tanh_sigmoid_mul = p_tanh_sigmoid_mul;
    c->prof_ops.attention_rel = p_attention_rel;
    c->prof_ops.spline_inverse = p_spline_inverse;
    c->prof_ops.conv1d = p_conv1d;
    if (c->prof_ops.conv2d) c->prof_ops.conv2d = p_conv2d;
    if (c->prof_ops.attention_relpos) c->prof_ops.attention_relpos = p_attention_relpos;
    c->prof_ops.conv_transpose1d = p_conv_transpose1d;
    if (c->prof_ops.conv1d_fused) c->prof_ops.conv1d_fused = p_conv1d_fused;
    if (c->prof_ops.conv_transpose1d_fused) c->prof_ops.conv_transpose1d_fused = p_conv_transpose1d_fused;
    be->ops = &c->prof_ops;
    return QWGLM_OK;
}

void cpu_profile_end(struct qw_backend *be, struct cpu_profile *out)
{
    struct cpu_ctx *c = be->ctx;
    if (!c->prof) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = *c->prof;
    be->ops = c->prof_orig;
    qw_free(c->prof);
    c->prof = NULL;
}

/* ---- read bandwidth ---- */

struct read_job {
    const struct cpu_kernels *k;
    const uint8_t *buf;
    size_t bytes;
    uint64_t sink[64];
};

static void read_thunk(void *arg, int ith, int nth)
{
    struct read_job *j = arg;
    size_t part = j->bytes / (size_t)nth & ~(size_t)255;
    j->sink[ith % 64] ^= j->k->read_bytes(j->buf + (size_t)ith * part, part);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double cpu_read_gbps(struct qw_backend *be, size_t bytes, int reps, uint64_t *sink)
{
    struct cpu_ctx *c = be->ctx;
    bytes &= ~(size_t)255;
    if (reps < 1) reps = 1;
    if (reps > 64) reps = 64;
    uint8_t *buf = qw_aligned_alloc(64, bytes);
    if (!buf) return 0;
    for (size_t i = 0; i < bytes; i += 4096) buf[i] = (uint8_t)i; /* fault every page in before timing */
    memset(buf, 1, bytes);
    struct read_job j = {&c->k, buf, bytes, {0}};
    double t[64];
    qw_pool_run(c->pool, read_thunk, &j); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        qw_pool_run(c->pool, read_thunk, &j);
        t[r] = now_s() - t0;
    }
    qw_free(buf);
    for (int i = 0; i < 64; i++) *sink ^= j.sink[i];
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    size_t part = bytes / (size_t)c->n_threads & ~(size_t)255;
    return (double)(part * (size_t)c->n_threads) / t[reps / 2] / 1e9;
}
