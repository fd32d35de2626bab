/* bench section "kernels" (--matvec): one linear layer on its own, at a given shape (default 4096 x 14336, the
 * shape the ggml comparison uses), for each weight dtype.
 *
 *   matvec (one token): weight bytes / time. "cold" cycles through enough copies of the matrix (>= 1 GiB) that
 *                       none is in the last-level cache, so the weights come from DRAM as in a real decode; "hot"
 *                       repeats one matrix (it may sit in a large L3). Each repetition of the cold run follows its
 *                       own bandwidth test, and the share of the roofline is the median of those paired ratios.
 *   matmul (--matmul-tokens rows, default 512): 2 x rows x M x K / time, GFLOP/s, as prefill does it.
 * Times include converting the activations (quantizing them for Q8/Q4), as in the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "base/mem.h"
#include "bench.h"
#include "cli.h"
#include "ops/quant.h"

#define COLD_BYTES ((size_t)1 << 30)
#define MAX_COPIES 64

static struct {
    bool on;
    long m, k, tokens;
} kopt = {false, 4096, 14336, 512};

static int kernels_flag(int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (strcmp(a, "--matvec") == 0) {
        kopt.on = true;
    } else if (strcmp(a, "--matvec-shape") == 0) {
        if (!(v = cli_value("bench", argc, argv, i))) return -1;
        char *x = strchr(v, 'x');
        if (!x || !cli_parse_int(x + 1, 32, 1 << 20, &kopt.k) || kopt.k % 32) {
            cli_usage_error("bench", "--matvec-shape must be MxK with K a multiple of 32, not '%s'", v);
            return -1;
        }
        char m[32];
        snprintf(m, sizeof m, "%.*s", (int)(x - v), v);
        if (!cli_parse_int(m, 1, 1 << 20, &kopt.m)) {
            cli_usage_error("bench", "--matvec-shape must be MxK, not '%s'", v);
            return -1;
        }
        kopt.on = true;
    } else if (strcmp(a, "--matmul-tokens") == 0) {
        if (!(v = cli_value("bench", argc, argv, i))) return -1;
        if (!cli_parse_int(v, 0, 8192, &kopt.tokens)) {
            cli_usage_error("bench", "--matmul-tokens must be 0 to 8192, not '%s'", v);
            return -1;
        }
    } else {
        return 0;
    }
    return 1;
}

static bool kernels_wanted(const struct bench_opts *o)
{
    (void)o;
    return kopt.on;
}

static double time_linear(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w)
{
    double t0 = bench_now();
    be->ops->linear(be->ctx, y, x, w, (struct qw_tensor){0});
    return bench_now() - t0;
}

/* One dtype: matvec cold and hot, matmul. Returns 0, or 1 after printing why not. */
static int run_dtype(const struct bench_opts *o, struct bench_out *out, struct qw_backend *be, enum qw_dtype dt)
{
    const int64_t M = kopt.m, K = kopt.k, T = kopt.tokens > 0 ? kopt.tokens : 1;
    const size_t row = qw_row_bytes(dt, K), bytes = row * (size_t)M;
    int copies = (int)((COLD_BYTES + bytes - 1) / bytes);
    copies = copies < 1 ? 1 : copies > MAX_COPIES ? MAX_COPIES : copies;
    struct qw_tensor w[MAX_COPIES] = {{0}}, x = {0}, y = {0};
    struct qw_err e = {0};
    int rc = 1, n = 0;
    uint64_t state = o->seed;
    for (n = 0; n < copies; n++) {
        if (be->ops->buf_alloc(be->ctx, bytes, &w[n].buf, &e)) goto done;
        w[n] = (struct qw_tensor){w[n].buf, 0, dt, M, K, K};
    }
    /* copy 0 is random; the others are copies of it (the same results, different addresses) */
    uint8_t *chunk = qw_malloc(row * 64);
    if (!chunk) goto done;
    for (int64_t r = 0; r < M; r += 64) {
        int64_t nr = M - r < 64 ? M - r : 64;
        qw_random_rows(dt, chunk, nr, K, 1.0f / 64, &state);
        for (int c = 0; c < copies; c++) be->ops->buf_write(be->ctx, w[c].buf, (size_t)r * row, chunk, (size_t)nr * row, &e);
    }
    qw_free(chunk);
    struct qw_buf *xb, *yb;
    if (be->ops->buf_alloc(be->ctx, (size_t)(T * K) * 4, &xb, &e) || be->ops->buf_alloc(be->ctx, (size_t)(T * M) * 4, &yb, &e))
        goto done;
    x = (struct qw_tensor){xb, 0, QW_DTYPE_F32, T, K, K};
    y = (struct qw_tensor){yb, 0, QW_DTYPE_F32, T, M, M};
    float *xv = qw_malloc((size_t)K * 4);
    if (!xv) goto done;
    for (int64_t t = 0; t < T; t++) {
        qw_random_rows(QW_DTYPE_F32, xv, 1, K, 1.0f, &state);
        be->ops->buf_write(be->ctx, xb, (size_t)(t * K) * 4, xv, (size_t)K * 4, &e);
    }
    qw_free(xv);
    struct qw_tensor x1 = qw_rows(x, 0, 1), y1 = qw_rows(y, 0, 1);

    /* cold: each repetition is a bandwidth test, then one pass over every copy (at least 20 calls); the share of
     * the roofline is the median of the per-repetition ratios, each against the bandwidth measured beside it */
    const int n_calls = 20 * o->reps, per_rep = copies > 20 ? copies : 20;
    double *t = qw_malloc((size_t)(n_calls + per_rep + 3 * o->reps) * sizeof *t);
    if (!t) goto done;
    double *rt = t + n_calls + per_rep, *rbw = rt + o->reps, *ratio = rbw + o->reps;
    for (int c = 0; c < copies; c++) time_linear(be, y1, x1, w[c]); /* fault in, warm up */
    for (int r = 0; r < o->reps; r++) {
        rbw[r] = bench_bandwidth(o, be);
        for (int i = 0; i < per_rep; i++) t[i] = time_linear(be, y1, x1, w[i % copies]);
        rt[r] = bench_median(t, per_rep);
        ratio[r] = (double)bytes / rt[r] / 1e9 / rbw[r];
    }
    double cold = bench_median(rt, o->reps), bw = bench_median(rbw, o->reps), share = bench_median(ratio, o->reps);
    for (int i = 0; i < n_calls; i++) t[i] = time_linear(be, y1, x1, w[0]);
    double hot = bench_median(t, n_calls);
    double mm = 0;
    if (kopt.tokens > 0) {
        time_linear(be, y, x, w[0]);
        for (int i = 0; i < o->reps; i++) t[i] = time_linear(be, y, x, w[0]);
        mm = bench_median(t, o->reps);
    }
    qw_free(t);
    if (be->ops->sync(be->ctx, &e)) goto done;

    const double gb = (double)bytes / 1e9, cold_gbps = gb / cold, hot_gbps = gb / hot;
    bench_line(out, "matvec %-4s %lldx%lld cpu/%s t=%d  %7.3f ms %7.1f MB %6.1f GB/s  %5.1f%% of %.1f GB/s  "
               "(hot: %.3f ms, %.1f GB/s)", qw_dtype_name(dt), (long long)M, (long long)K, cpu_backend_isa(be),
               cpu_backend_threads(be), cold * 1e3, gb * 1e3, cold_gbps, 100.0 * share, bw, hot * 1e3, hot_gbps);
    bench_begin(out, qw_dtype_name(dt));
    bench_num(out, "matvec_ms", cold * 1e3);
    bench_num(out, "matvec_bytes", (double)bytes);
    bench_num(out, "matvec_gbps", cold_gbps);
    bench_num(out, "matvec_machine_read_gbps", bw);
    bench_num(out, "matvec_roofline_pct", 100.0 * share);
    bench_num(out, "matvec_hot_gbps", hot_gbps);
    if (kopt.tokens > 0) {
        double gflops = 2.0 * (double)M * (double)K * (double)T / mm / 1e9;
        bench_line(out, "matmul %-4s %lldx%lld x %lld rows cpu/%s t=%d  %8.2f ms  %6.1f GFLOP/s", qw_dtype_name(dt),
                   (long long)M, (long long)K, (long long)T, cpu_backend_isa(be), cpu_backend_threads(be), mm * 1e3,
                   gflops);
        bench_num(out, "matmul_rows", (double)T);
        bench_num(out, "matmul_ms", mm * 1e3);
        bench_num(out, "matmul_gflops", gflops);
    }
    bench_end(out);
    rc = 0;
done:
    if (rc) fprintf(stderr, "qwglm bench: matvec %s: %s\n", qw_dtype_name(dt), e.msg[0] ? e.msg : "out of memory");
    for (int c = 0; c < copies; c++)
        if (w[c].buf) be->ops->buf_free(be->ctx, w[c].buf);
    if (x.buf) be->ops->buf_free(be->ctx, x.buf);
    if (y.buf) be->ops->buf_free(be->ctx, y.buf);
    return rc;
}

static int kernels_run(const struct bench_opts *o, struct bench_out *out)
{
    struct qw_backend be;
    struct qw_err e = {0};
    if (cpu_backend_create_isa(o->n_threads, o->isa, &be, &e)) {
        fprintf(stderr, "qwglm bench: %s\n", e.msg);
        return 1;
    }
    static const enum qw_dtype all[] = {QW_DTYPE_F32, QW_DTYPE_BF16, QW_DTYPE_Q8, QW_DTYPE_Q4};
    enum qw_dtype one;
    const enum qw_dtype *list = all;
    int n = 4;
    switch (o->dtype) {
    case QWGLM_DTYPE_F32: one = QW_DTYPE_F32, list = &one, n = 1; break;
    case QWGLM_DTYPE_BF16: one = QW_DTYPE_BF16, list = &one, n = 1; break;
    case QWGLM_DTYPE_Q8: one = QW_DTYPE_Q8, list = &one, n = 1; break;
    case QWGLM_DTYPE_Q4: one = QW_DTYPE_Q4, list = &one, n = 1; break;
    default: break;
    }
    bench_begin(out, "kernels");
    bench_int(out, "m", kopt.m);
    bench_int(out, "k", kopt.k);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = run_dtype(o, out, &be, list[i]);
    bench_end(out);
    be.ops->free(be.ctx);
    return rc;
}

const struct bench_section bench_kernels = {
    .name = "kernels",
    .flags_help = "\n  kernels:\n"
                  "  --matvec              one linear layer of 4096x14336 (one token, and --matmul-tokens rows)\n"
                  "  --matvec-shape MxK    another shape (K a multiple of 32)\n"
                  "  --matmul-tokens N     rows of the matrix-matrix product (default 512; 0: none)\n",
    .flag = kernels_flag,
    .wanted = kernels_wanted,
    .run = kernels_run,
};
