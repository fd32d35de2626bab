/* bench section "llm": prefill and decode speed of the language model, against the machine's read bandwidth.
 *
 * Each repetition evaluates a prompt of -p random token ids in one call (prefill, batched in chunks of 512) and
 * then decodes -n tokens one at a time, each the argmax of the last logits (decode). Reported: the median prefill
 * time and the median time per decoded token over all repetitions.
 *
 * Bytes per decode token: every weight a decode step reads, i.e. all layer matrices and norm vectors, the final
 * norm and the LM head (the whole embedding table when the head is tied), plus one embedding row. The KV cache
 * read by attention is reported beside it (kv_bytes_per_token, at the mean context of the decode run) but not
 * counted in decode_gbps; decode_roofline_kv_pct is the share of the roofline with it counted. Roofline: machine
 * read bandwidth / bytes per token. On a shared machine the bandwidth moves from minute to minute (by up to 2x on
 * a cloud VM), so it is sampled where the decode tokens are timed: before the section, after every BW_EVERY
 * decoded tokens (the sampling itself untimed) and after the runs; the roofline is the median of those samples,
 * reported with their range.
 * Prefill FLOPs: 2 x (layer matrix elements) per token, plus attention (4 x heads x head_dim per query-key pair,
 * causal), plus the LM head for the one row whose logits are kept. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "bench.h"
#include "cli.h"
#include "engine/engine.h"

/* -p 0 -n 0: nothing to measure here (another section, --vision say, uses the model) */
static bool llm_wanted(const struct bench_opts *o)
{
    return (o->model || (o->config && o->random)) && (o->n_prompt > 0 || o->n_gen > 0);
}

static size_t tensor_bytes(struct qw_tensor t) { return t.buf ? (size_t)t.rows * qw_row_bytes(t.dtype, t.cols) : 0; }

static double decode_weight_bytes(const struct qwen3 *net)
{
    double b = (double)tensor_bytes(net->final_norm) + (double)tensor_bytes(net->lm_head) +
               (double)qw_row_bytes(net->embed.dtype, net->embed.cols);
    for (int l = 0; l < net->cfg.n_layers; l++) {
        const struct qw_tensor *t = (const struct qw_tensor *)&net->layers[l];
        for (size_t i = 0; i < sizeof(struct qwen3_layer) / sizeof(struct qw_tensor); i++) b += (double)tensor_bytes(t[i]);
    }
    return b;
}

static double layer_matrix_elements(const struct qwen3 *net)
{
    double n = 0;
    for (int l = 0; l < net->cfg.n_layers; l++) {
        const struct qwen3_layer *y = &net->layers[l];
        const struct qw_tensor m[] = {y->wq, y->wk, y->wv, y->wo, y->w_gate, y->w_up, y->w_down};
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) n += (double)m[i].rows * (double)m[i].cols;
    }
    return n;
}

static uint32_t fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
    return h;
}

static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

#define BW_EVERY 32

struct run_result {
    double prefill_s;
    double *token_s; /* [n_gen] */
    uint32_t hash;
    /* bandwidth samples between decode segments, appended (NULL: none taken) */
    const struct bench_opts *o;
    struct qw_backend *be;
    double *bw;
    int n_bw;
};

/* One prefill + decode run. */
static int run_once(qwglm_session *s, const int32_t *prompt, int n_prompt, int n_gen, float *logits, int V,
                    struct run_result *r)
{
    if (qwglm_session_truncate(s, 0)) return 1;
    double t0 = bench_now();
    if (n_prompt > 0 && qwglm_session_eval(s, prompt, n_prompt, logits)) return 1;
    r->prefill_s = bench_now() - t0;
    int32_t id = n_prompt > 0 ? argmax(logits, V) : 1;
    for (int i = 0; i < n_gen; i++) {
        t0 = bench_now();
        if (qwglm_session_eval(s, &id, 1, logits)) return 1;
        r->token_s[i] = bench_now() - t0;
        id = argmax(logits, V);
        if (r->bw && (i + 1) % BW_EVERY == 0) r->bw[r->n_bw++] = bench_bandwidth_sample(r->o, r->be);
    }
    r->hash = fnv1a(logits, (size_t)V * sizeof *logits);
    return 0;
}

static void print_profile(struct bench_out *out, const char *phase, const struct cpu_profile *p, int tokens)
{
    double total = 0;
    for (int i = 0; i < p->n; i++) total += p->e[i].seconds;
    int order[CPU_PROF_MAX];
    for (int i = 0; i < p->n; i++) order[i] = i;
    for (int i = 1; i < p->n; i++)
        for (int j = i; j > 0 && p->e[order[j]].seconds > p->e[order[j - 1]].seconds; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    bench_line(out, "profile %s (%d tokens): op, calls, ms per token, share, GB/s, GFLOP/s", phase, tokens);
    bench_begin(out, phase);
    for (int k = 0; k < p->n; k++) {
        const struct cpu_prof_entry *e = &p->e[order[k]];
        bench_line(out, "  %-14s %7lld %9.3f %6.1f%% %8.1f %8.1f", e->name, (long long)e->calls,
                   e->seconds * 1e3 / tokens, 100.0 * e->seconds / total, e->bytes / e->seconds / 1e9,
                   e->flops / e->seconds / 1e9);
        bench_begin(out, e->name);
        bench_int(out, "calls", e->calls);
        bench_num(out, "ms_per_token", e->seconds * 1e3 / tokens);
        bench_num(out, "gbps", e->bytes / e->seconds / 1e9);
        bench_num(out, "gflops", e->flops / e->seconds / 1e9);
        bench_end(out);
    }
    bench_end(out);
}

static int llm_run(const struct bench_opts *o, struct bench_out *out)
{
    struct qw_model_source src = {.dir = o->model, .config = o->config, .random = o->random, .seed = o->seed,
                                  .isa = o->isa};
    qwglm_model_params mp = qwglm_model_default_params();
    mp.dtype = (qwglm_dtype)o->dtype;
    mp.n_threads = o->n_threads;
    int verbosity = QWGLM_LOG_WARN;
    mp.log = cli_log;
    mp.log_user = &verbosity;
    qwglm_model *m;
    struct qw_err e = {0};
    double tl = bench_now();
    if (qw_model_open(&src, &mp, &m, &e)) {
        fprintf(stderr, "qwglm bench: %s\n", e.msg);
        return 1;
    }
    tl = bench_now() - tl;
    const struct qwen3 *net = &m->net;
    const struct qw_llm_config *c = &m->cfg;
    const int V = c->n_vocab, P = o->n_prompt, N = o->n_gen;
    int rc = 1;
    qwglm_session *s = NULL;
    int32_t *prompt = malloc((size_t)(P ? P : 1) * sizeof *prompt);
    float *logits = malloc((size_t)V * sizeof *logits);
    double *prefill = malloc((size_t)o->reps * sizeof *prefill);
    double *tokens = malloc((size_t)(o->reps * N + 1) * sizeof *tokens);
    struct run_result r = {.token_s = malloc((size_t)(N + 1) * sizeof(double)), .o = o, .be = &m->be};
    const int max_bw = o->reps * (N / BW_EVERY) + 2;
    r.bw = malloc((size_t)max_bw * sizeof *r.bw);
    char err[QWGLM_ERR_SIZE];
    qwglm_session_params sp = {.n_ctx = P + N + 1};
    if (!prompt || !logits || !prefill || !tokens || !r.token_s || !r.bw) {
        fprintf(stderr, "qwglm bench: out of memory\n");
        goto done;
    }
    if (qwglm_session_open(m, &sp, &s, err)) {
        fprintf(stderr, "qwglm bench: %s\n", err);
        goto done;
    }
    uint64_t st = o->seed * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 0; i < P; i++) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        prompt[i] = (int32_t)(st % (uint64_t)V);
    }
    uint32_t hash = 0;
    bool same_hash = true;
    for (int rep = 0; rep < o->reps; rep++) {
        if (run_once(s, prompt, P, N, logits, V, &r)) {
            fprintf(stderr, "qwglm bench: %s\n", qwglm_session_error(s));
            goto done;
        }
        prefill[rep] = r.prefill_s;
        memcpy(tokens + (size_t)rep * N, r.token_s, (size_t)N * sizeof(double));
        if (rep > 0 && r.hash != hash) same_hash = false;
        hash = r.hash;
    }
    /* the bandwidth again, now that the model has run; the roofline is the median of every sample */
    r.bw[r.n_bw++] = o->machine_gbps;
    r.bw[r.n_bw++] = bench_bandwidth(o, &m->be);
    const int n_bw = r.n_bw;
    const double bw = bench_median(r.bw, n_bw), bw_lo = r.bw[0], bw_hi = r.bw[n_bw - 1]; /* sorted */
    const double t_prefill = bench_median(prefill, o->reps), t_token = bench_median(tokens, o->reps * N);
    const double bytes = decode_weight_bytes(net), kd = (double)c->n_kv_heads * c->head_dim;
    const double kv_bytes = 2.0 * c->n_layers * (P + N / 2.0) * kd * (double)qw_dtype_block_bytes(net->kv_dtype);
    const double flops = 2.0 * layer_matrix_elements(net) * P + 2.0 * V * (double)c->n_embd +
                         4.0 * c->n_layers * (double)c->n_heads * c->head_dim * P * (P + 1) / 2.0;
    const double prefill_tok_s = P / t_prefill, decode_tok_s = 1.0 / t_token, gbps = bytes * decode_tok_s / 1e9;
    char what[64];
    snprintf(what, sizeof what, "%s%s", o->random ? "random " : "", qw_dtype_name(net->layers[0].w_up.dtype));
    bench_line(out, "model %s: %s, %d layers, hidden %d, vocab %d, %.1f MiB of weights, loaded in %.1f s", m->dir,
               what, c->n_layers, c->n_embd, V, (double)net->weight_bytes / (1 << 20), tl);
    if (P > 0)
        bench_line(out, "prefill %-4s cpu/%s t=%d  %5d tokens %9.1f ms  %8.1f tok/s  %7.1f GFLOP/s",
                   qw_dtype_name(net->layers[0].w_up.dtype), cpu_backend_isa(&m->be), cpu_backend_threads(&m->be), P,
                   t_prefill * 1e3, prefill_tok_s, flops / t_prefill / 1e9);
    if (N > 0)
        bench_line(out, "decode  %-4s cpu/%s t=%d  %5d tokens %9.2f ms/tok %6.1f tok/s  %6.1f MB/tok  %5.1f GB/s  "
                   "roofline %.1f GB/s (%d samples, %.1f-%.1f)  %5.1f%%  (with KV %.1f MB/tok: %.1f%%)  #%08x%s",
                   qw_dtype_name(net->layers[0].w_up.dtype), cpu_backend_isa(&m->be), cpu_backend_threads(&m->be), N,
                   t_token * 1e3, decode_tok_s, bytes / 1e6, gbps, bw, n_bw, bw_lo, bw_hi, 100.0 * gbps / bw,
                   kv_bytes / 1e6,
                   100.0 * (bytes + kv_bytes) * decode_tok_s / 1e9 / bw, hash, same_hash ? "" : " (differs between runs!)");
    bench_str(out, "model", m->dir);
    bench_str(out, "dtype", qw_dtype_name(net->layers[0].w_up.dtype));
    bench_str(out, "head_dtype", qw_dtype_name(net->lm_head.dtype));
    bench_num(out, "weight_bytes", (double)net->weight_bytes);
    bench_int(out, "n_prompt", P);
    bench_int(out, "n_gen", N);
    bench_num(out, "prefill_ms", t_prefill * 1e3);
    bench_num(out, "prefill_tok_s", prefill_tok_s);
    bench_num(out, "prefill_gflops", flops / t_prefill / 1e9);
    bench_num(out, "decode_ms_per_token", t_token * 1e3);
    bench_num(out, "decode_tok_s", decode_tok_s);
    bench_num(out, "decode_bytes_per_token", bytes);
    bench_num(out, "decode_kv_bytes_per_token", kv_bytes);
    bench_num(out, "decode_gbps", gbps);
    bench_num(out, "decode_machine_read_gbps", bw);
    bench_num(out, "decode_machine_read_gbps_min", bw_lo);
    bench_num(out, "decode_machine_read_gbps_max", bw_hi);
    bench_int(out, "decode_bandwidth_samples", n_bw);
    bench_num(out, "decode_roofline_pct", 100.0 * gbps / bw);
    bench_num(out, "decode_roofline_kv_pct", 100.0 * (bytes + kv_bytes) * decode_tok_s / 1e9 / bw);
    char h[16];
    snprintf(h, sizeof h, "%08x", hash);
    bench_str(out, "logits_hash", h);

    if (o->profile) {
        struct cpu_profile pp, pd;
        if (qwglm_session_truncate(s, 0) || cpu_profile_begin(&m->be, &e)) goto done;
        if (P > 0 && qwglm_session_eval(s, prompt, P, logits)) goto done;
        cpu_profile_end(&m->be, &pp);
        int32_t id = argmax(logits, V);
        if (cpu_profile_begin(&m->be, &e)) goto done;
        for (int i = 0; i < N; i++) {
            if (qwglm_session_eval(s, &id, 1, logits)) break;
            id = argmax(logits, V);
        }
        cpu_profile_end(&m->be, &pd);
        bench_begin(out, "profile");
        if (P > 0) print_profile(out, "prefill", &pp, P);
        if (N > 0) print_profile(out, "decode", &pd, N);
        bench_end(out);
    }
    rc = 0;
done:
    qwglm_session_close(s);
    qwglm_model_free(m);
    free(prompt);
    free(logits);
    free(prefill);
    free(tokens);
    free(r.token_s);
    free(r.bw);
    return rc;
}

const struct bench_section bench_llm = {
    .name = "llm",
    .flags_help = "",
    .flag = NULL,
    .wanted = llm_wanted,
    .run = llm_run,
};
