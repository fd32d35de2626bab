/* bench section "asr": real-time factor of Parakeet TDT speech recognition on the CPU backend.
 *
 * --asr-config CONFIG.json builds the model with random weights at a real checkpoint's shapes
 * (bench/configs/parakeet-tdt-0.6b-v3.json: 24 Conformer blocks of width 1024, 0.6 B parameters) and transcribes
 * --asr-seconds of synthetic voiced audio (harmonics of a gliding 120-160 Hz pitch under a syllable-rate envelope,
 * plus a little noise). Each repetition runs the front end, the encoder and the greedy TDT decoder after one
 * warm-up pass; the figures are medians. RTF here is audio seconds per compute second (higher is faster; the
 * target is 20x real time), as speech recognisers report it.
 *
 * Also reported: the first transcription (scratch allocation and the projected positions, which a session keeps),
 * the RTF by CPU time (the process's CPU seconds divided by the threads: what the run gives on
 * cores of its own when a shared machine's neighbours stretch the wall clock), the encoder's GFLOP/s (2 x the
 * multiply-adds of its linear layers, convolutions and attention, counted from the shapes), and a hash of the
 * encoder output with the low mantissa bits dropped, so a speed-up that changes results shows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "base/mem.h"
#include "bench.h"
#include "cli.h"
#include "engine/asr_impl.h"

#define MAX_REPS 1000

static struct {
    const char *config;
    long seconds;
} aopt = {.seconds = 20};

static int asr_section_flag(int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (strcmp(a, "--asr-config") == 0) return (aopt.config = cli_value("bench", argc, argv, i)) ? 1 : -1;
    if (strcmp(a, "--asr-seconds") != 0) return 0;
    if (!(v = cli_value("bench", argc, argv, i))) return -1;
    if (!cli_parse_int(v, 1, 600, &aopt.seconds)) {
        cli_usage_error("bench", "--asr-seconds: a duration from 1 to 600 s, not '%s'", v);
        return -1;
    }
    return 1;
}

static bool asr_section_wanted(const struct bench_opts *o)
{
    (void)o;
    return aopt.config != NULL;
}

/* GFLOP of one encoder pass over F feature frames: linear layers (the feed-forward pair, q/k/v/out, the conv
 * module's pointwise pair), scores + position terms + values, the depthwise conv, the subsampling convolutions
 * and the projection into the joint. The projected positions are left out: a session computes them once (the
 * first pass) and keeps them. */
static double encoder_gflop(const struct parakeet_config *c, int64_t F)
{
    const double T = (double)parakeet_sub_len(c, F), D = c->d_model, FF = c->d_ff, C = c->sub_channels;
    double per_layer = T * (4 * D * FF + 4 * D * D + 3 * D * D) + T * T * D * 3 + T * D * c->conv_kernel;
    double t1 = (double)F / 2, t2 = t1 / 2, t3 = t2 / 2;
    double sub = t1 * 64 * C * 9 + t2 * 32 * C * (9 + C) + t3 * 16 * C * (9 + C) + T * 16 * C * D;
    return 2.0 * (c->n_layers * per_layer + sub + T * D * c->joint_hidden) / 1e9;
}

/* Speech-like audio: deterministic, so every run and every build transcribes the same samples. */
static float *synth_audio(int sample_rate, size_t n)
{
    float *pcm = qw_malloc(n * sizeof(float));
    if (!pcm) return NULL;
    uint32_t s = 7;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / sample_rate, f0 = 120 + 40 * sin(t * 1.7), env = 0.5 + 0.5 * sin(t * 6.0), v = 0;
        for (int h = 1; h <= 8; h++) v += sin(2 * M_PI * f0 * h * t) / h;
        s = s * 1664525u + 1013904223u;
        pcm[i] = (float)(0.1 * env * v + 0.002 * ((double)(s >> 8) / 16777216.0 - 0.5));
    }
    return pcm;
}

static uint32_t encoder_hash(struct qwglm_asr *a, struct qw_tensor enc)
{
    size_t n = (size_t)(enc.rows * enc.cols);
    float *h = qw_malloc(n * sizeof(float));
    if (!h || qw_tensor_read(&a->be, enc, h, NULL)) {
        qw_free(h);
        return 0;
    }
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &h[i], 4);
        hash = (hash ^ (u >> 8)) * 16777619u; /* low mantissa bits dropped: sums split by thread count differ */
    }
    qw_free(h);
    return hash;
}

struct pass {
    double front, encoder, decoder, wall, cpu;
    int tokens;
    uint32_t hash;
};

static qwglm_status transcribe(struct qwglm_asr *a, const float *pcm, size_t n, float *feats, int64_t frames,
                               struct pass *p, struct qw_err *e)
{
    double c0 = bench_cpu_seconds(), t0 = bench_now();
    qwglm_status rc = qw_mel_compute(&a->mel, pcm, n, feats, e);
    if (rc) return rc;
    double t1 = bench_now();
    struct qw_tensor enc;
    int64_t valid;
    rc = parakeet_encode(&a->model, &a->state, feats, frames, (int64_t)n / a->mel.hop, &enc, &valid, NULL, NULL, e);
    if (rc) return rc;
    double t2 = bench_now();
    struct parakeet_token *toks = NULL;
    int nt = 0, cap = 0;
    rc = parakeet_greedy(&a->model, &a->state, enc, valid, a->max_symbols, &toks, &nt, &cap, NULL, NULL, e);
    qw_free(toks);
    if (rc) return rc;
    double t3 = bench_now();
    *p = (struct pass){t1 - t0, t2 - t1, t3 - t2, t3 - t0, bench_cpu_seconds() - c0, nt, encoder_hash(a, enc)};
    return QWGLM_OK;
}

static int asr_section_run(const struct bench_opts *o, struct bench_out *out)
{
    if (!o->random) return cli_usage_error("bench", "--asr-config benchmarks random weights: add --random");
    qwglm_asr_params p = qwglm_asr_default_params();
    p.n_threads = o->n_threads;
    p.dtype = o->dtype == QWGLM_DTYPE_AUTO ? QWGLM_DTYPE_F32 : o->dtype;
    struct qw_err e = {0};
    struct qwglm_asr *a = NULL;
    float *pcm = NULL, *feats = NULL;
    int rc = 1, reps = o->reps < MAX_REPS ? o->reps : MAX_REPS;
    static double front[MAX_REPS], encoder[MAX_REPS], decoder[MAX_REPS], wall[MAX_REPS], cpu[MAX_REPS];
    double t0 = bench_now();
    if (asr_open_random(&a, aopt.config, &p, o->seed, &e)) goto fail;
    const double load_s = bench_now() - t0;
    const size_t n = (size_t)aopt.seconds * (size_t)a->model.cfg.sample_rate;
    const int64_t frames = qw_mel_frames(&a->mel, (int64_t)n);
    pcm = synth_audio(a->model.cfg.sample_rate, n);
    feats = qw_malloc((size_t)frames * a->mel.n_mels * sizeof(float));
    if (!pcm || !feats) {
        qw_fail(&e, QWGLM_ERR_NOMEM, "audio buffers");
        goto fail;
    }
    struct pass first, r;
    if (transcribe(a, pcm, n, feats, frames, &first, &e)) goto fail; /* warm-up: scratch, packed weights */
    bool same = true;
    for (int i = 0; i < reps; i++) {
        if (transcribe(a, pcm, n, feats, frames, &r, &e)) goto fail;
        front[i] = r.front, encoder[i] = r.encoder, decoder[i] = r.decoder, wall[i] = r.wall, cpu[i] = r.cpu;
        same &= r.hash == first.hash && r.tokens == first.tokens;
    }
    struct cpu_profile prof;
    if (o->profile) {
        if (cpu_profile_begin(&a->be, &e)) goto fail;
        int prc = transcribe(a, pcm, n, feats, frames, &r, &e);
        cpu_profile_end(&a->be, &prof);
        if (prc) goto fail;
    }

    const struct parakeet_config *c = &a->model.cfg;
    const int threads = cpu_backend_threads(&a->be);
    const double secs = (double)aopt.seconds, gf = encoder_gflop(c, frames);
    const double w = bench_median(wall, reps), cs = bench_median(cpu, reps) / threads;
    const double tf = bench_median(front, reps), te = bench_median(encoder, reps), td = bench_median(decoder, reps);
    bench_line(out, "asr %s: random weights, %d blocks of width %d, %.0f MB of %s weights (built in %.1f s); "
                    "%.0f s of audio, %lld frames",
               aopt.config, c->n_layers, c->d_model, (double)a->model.weight_bytes / 1e6,
               qw_dtype_name(a->model.layers[0].ff1_w1.dtype), load_s, secs, (long long)frames);
    bench_line(out, "asr cpu/%s t=%d  %.3f s  RTF %.1fx real time (by CPU time %.1fx)  front end %.1f ms, "
                    "encoder %.3f s (%.0f GFLOP/s), decoder %.1f ms (%d tokens)  #%08x%s",
               cpu_backend_isa(&a->be), threads, w, secs / w, secs / cs, tf * 1e3, te, gf / te, td * 1e3,
               first.tokens, first.hash, same ? "" : " (differs between runs!)");
    bench_line(out, "asr first transcription (allocating, projecting positions) %.3f s: RTF %.1fx", first.wall,
               secs / first.wall);
    bench_line(out, "asr peer: parakeet.cpp, about 46x real time on 8 AVX-512 threads (f32); target 20x on 2 cores");
    bench_begin(out, "asr");
    bench_str(out, "config", aopt.config);
    bench_str(out, "dtype", qw_dtype_name(a->model.layers[0].ff1_w1.dtype));
    bench_num(out, "audio_s", secs);
    bench_num(out, "wall_s", w);
    bench_num(out, "rtf", secs / w);
    bench_num(out, "rtf_cpu", secs / cs);
    bench_num(out, "front_ms", tf * 1e3);
    bench_num(out, "encoder_s", te);
    bench_num(out, "encoder_gflop", gf);
    bench_num(out, "encoder_gflops", gf / te);
    bench_num(out, "decoder_ms", td * 1e3);
    bench_num(out, "first_s", first.wall);
    bench_int(out, "tokens", first.tokens);
    char h[16];
    snprintf(h, sizeof h, "%08x", first.hash);
    bench_str(out, "encoder_hash", h);
    if (o->profile) bench_profile(out, "asr (one transcription)", &prof);
    bench_end(out);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "qwglm bench: asr: %s\n", e.msg);
done:
    qw_free(pcm);
    qw_free(feats);
    qwglm_asr_free(a);
    return rc;
}

const struct bench_section bench_asr = {
    .name = "asr",
    .flags_help = "  --asr-config FILE     speech recognition with random weights at a Parakeet config's shapes\n"
                  "                        (bench/configs/parakeet-tdt-0.6b-v3.json; needs --random)\n"
                  "  --asr-seconds N       seconds of audio per transcription (default 20)\n",
    .flag = asr_section_flag,
    .wanted = asr_section_wanted,
    .run = asr_section_run,
};
