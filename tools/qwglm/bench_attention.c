/* bench section "attention" (--attention): one decode step of attention on its own, one query row over an f16 KV
 * cache of --attention-keys rows, at Qwen3's head layout (default 16 query heads, 8 KV heads, head_dim 128: the
 * 0.6B model; --attention-heads 32x8 is the 8B one).
 *
 *   cold: each call reads another layer's cache, cycling through enough of them (>= 256 MiB) that none is in the
 *         last-level cache, as a decode step's 28-36 layers do; bytes = keys x 2 x KV heads x head_dim x 2 (keys
 *         and values), against the bandwidth measured before each repetition (median of the paired ratios).
 *   hot:  one cache again and again (it may sit in L2 or L3). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "base/fp.h"
#include "base/mem.h"
#include "bench.h"
#include "cli.h"
#include "ops/quant.h"

#define COLD_BYTES ((size_t)256 << 20)
#define MAX_LAYERS 512

static struct {
    bool on;
    long keys, heads, kv_heads, head_dim;
} aopt = {false, 576, 16, 8, 128};

static int attention_flag(int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (strcmp(a, "--attention") == 0) {
        aopt.on = true;
    } else if (strcmp(a, "--attention-keys") == 0) {
        if (!(v = cli_value("bench", argc, argv, i))) return -1;
        if (!cli_parse_int(v, 1, 1 << 20, &aopt.keys)) {
            cli_usage_error("bench", "--attention-keys must be 1 to 1048576, not '%s'", v);
            return -1;
        }
        aopt.on = true;
    } else if (strcmp(a, "--attention-heads") == 0) {
        if (!(v = cli_value("bench", argc, argv, i))) return -1;
        const char *x = strchr(v, 'x');
        char q[32];
        snprintf(q, sizeof q, "%.*s", x ? (int)(x - v) : 0, v);
        if (!x || !cli_parse_int(q, 1, 256, &aopt.heads) || !cli_parse_int(x + 1, 1, 256, &aopt.kv_heads) ||
            aopt.heads % aopt.kv_heads) {
            cli_usage_error("bench", "--attention-heads must be QxKV with KV dividing Q, not '%s'", v);
            return -1;
        }
        aopt.on = true;
    } else {
        return 0;
    }
    return 1;
}

static bool attention_wanted(const struct bench_opts *o)
{
    (void)o;
    return aopt.on;
}

static double time_call(struct qw_backend *be, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k,
                        struct qw_tensor v, const struct qw_attn_params *p)
{
    double t0 = bench_now();
    qw_attention(be, y, q, k, v, p);
    be->ops->sync(be->ctx, NULL);
    return bench_now() - t0;
}

static int attention_run(const struct bench_opts *o, struct bench_out *out)
{
    struct qw_backend be;
    struct qw_err e = {0};
    if (cpu_backend_create_isa(o->n_threads, o->isa, &be, &e)) {
        fprintf(stderr, "qwglm bench: %s\n", e.msg);
        return 1;
    }
    const int n = (int)aopt.keys, H = (int)aopt.heads, KV = (int)aopt.kv_heads, D = (int)aopt.head_dim;
    const size_t side = (size_t)n * KV * D * 2, bytes = 2 * side; /* f16 keys, and values */
    int layers = (int)((COLD_BYTES + bytes - 1) / bytes);
    layers = layers < 1 ? 1 : layers > MAX_LAYERS ? MAX_LAYERS : layers;
    struct qw_tensor *kv = qw_calloc((size_t)2 * layers, sizeof *kv), q = {0}, y = {0};
    uint16_t *rows = qw_malloc(side);
    float *qv = qw_malloc((size_t)H * D * sizeof *qv);
    double *t = NULL;
    int rc = 1, made = 0;
    uint64_t state = o->seed;
    if (!kv || !rows || !qv) goto done;
    qw_random_rows(QW_DTYPE_F32, qv, 1, (int64_t)H * D, 1.0f, &state);
    for (size_t i = 0; i < side / 2; i++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        rows[i] = f32_to_f16((float)(state >> 40) / (float)(1 << 24) - 0.5f);
    }
    for (made = 0; made < 2 * layers; made++) {
        if (be.ops->buf_alloc(be.ctx, side, &kv[made].buf, &e)) goto done;
        kv[made] = (struct qw_tensor){kv[made].buf, 0, QW_DTYPE_F16, n, (int64_t)KV * D, (int64_t)KV * D};
        if (be.ops->buf_write(be.ctx, kv[made].buf, 0, rows, side, &e)) goto done;
    }
    struct qw_buf *qb, *yb;
    if (be.ops->buf_alloc(be.ctx, (size_t)H * D * 4, &qb, &e)) goto done;
    q = (struct qw_tensor){qb, 0, QW_DTYPE_F32, 1, (int64_t)H * D, (int64_t)H * D};
    if (be.ops->buf_write(be.ctx, qb, 0, qv, (size_t)H * D * 4, &e)) goto done;
    if (be.ops->buf_alloc(be.ctx, (size_t)H * D * 4, &yb, &e)) goto done;
    y = (struct qw_tensor){yb, 0, QW_DTYPE_F32, 1, (int64_t)H * D, (int64_t)H * D};
    const struct qw_attn_params p = {H, KV, D, n, n - 1, true, 1.0f / sqrtf((float)D)};

    const int per_rep = layers > 20 ? layers : 20, n_hot = 20 * o->reps;
    t = qw_malloc((size_t)(per_rep + n_hot + 3 * o->reps) * sizeof *t);
    if (!t) goto done;
    double *rt = t + per_rep + n_hot, *rbw = rt + o->reps, *ratio = rbw + o->reps;
    for (int l = 0; l < layers; l++) time_call(&be, y, q, kv[2 * l], kv[2 * l + 1], &p); /* warm-up */
    for (int r = 0; r < o->reps; r++) {
        rbw[r] = bench_bandwidth(o, &be);
        for (int i = 0; i < per_rep; i++) {
            const int l = i % layers;
            t[i] = time_call(&be, y, q, kv[2 * l], kv[2 * l + 1], &p);
        }
        rt[r] = bench_median(t, per_rep);
        ratio[r] = (double)bytes / rt[r] / 1e9 / rbw[r];
    }
    const double cold = bench_median(rt, o->reps), bw = bench_median(rbw, o->reps), share = bench_median(ratio, o->reps);
    for (int i = 0; i < n_hot; i++) t[i] = time_call(&be, y, q, kv[0], kv[1], &p);
    const double hot = bench_median(t, n_hot);
    if (be.ops->sync(be.ctx, &e)) goto done;

    bench_line(out, "attention %dx%dx%d, %d keys (f16) cpu/%s t=%d  %7.1f us %6.2f MB %6.1f GB/s  %5.1f%% of %.1f GB/s  "
               "(hot: %.1f us, %.1f GB/s)",
               H, KV, D, n, cpu_backend_isa(&be), cpu_backend_threads(&be), cold * 1e6, (double)bytes / 1e6,
               (double)bytes / cold / 1e9, 100.0 * share, bw, hot * 1e6, (double)bytes / hot / 1e9);
    bench_begin(out, "attention");
    bench_int(out, "heads", H);
    bench_int(out, "kv_heads", KV);
    bench_int(out, "head_dim", D);
    bench_int(out, "keys", n);
    bench_num(out, "us", cold * 1e6);
    bench_num(out, "bytes", (double)bytes);
    bench_num(out, "gbps", (double)bytes / cold / 1e9);
    bench_num(out, "machine_read_gbps", bw);
    bench_num(out, "roofline_pct", 100.0 * share);
    bench_num(out, "hot_us", hot * 1e6);
    bench_end(out);
    rc = 0;
done:
    if (rc) fprintf(stderr, "qwglm bench: attention: %s\n", e.msg[0] ? e.msg : "out of memory");
    qw_free(t);
    for (int i = 0; i < made && kv; i++) be.ops->buf_free(be.ctx, kv[i].buf);
    if (q.buf) be.ops->buf_free(be.ctx, q.buf);
    if (y.buf) be.ops->buf_free(be.ctx, y.buf);
    qw_free(kv);
    qw_free(rows);
    qw_free(qv);
    be.ops->free(be.ctx);
    return rc;
}

const struct bench_section bench_attention = {
    .name = "attention",
    .flags_help = "\n  attention:\n"
                  "  --attention           one decode step of attention over an f16 KV cache (Qwen3-0.6B's heads)\n"
                  "  --attention-keys N    rows of the cache (default 576: a 512-token prompt, 64 tokens decoded)\n"
                  "  --attention-heads QxKV  query and KV heads (default 16x8; head_dim 128)\n",
    .flag = attention_flag,
    .wanted = attention_wanted,
    .run = attention_run,
};
