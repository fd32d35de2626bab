/* Speech recognition speed at real model sizes with random weights: real-time factor (audio seconds per compute
 * second) of Parakeet TDT on synthetic speech-like audio, split into front end, encoder and decoder, with the
 * encoder's achieved GFLOP/s (multiply-adds of the linear layers, convolutions and attention, counted from the
 * shapes) and a hash of the encoder output so a speed-up that changes results shows.
 *   bench_asr --config parakeet-tdt-0.6b-v3.json [--seconds 20] [--threads 2] [--dtype f32|bf16|q8|q4] [--reps 2] */
#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "backend/cpu/kernels.h"
#include "engine/asr_impl.h"

/* CPU seconds of the whole process (all threads): on a shared machine, wall time measures the neighbours too. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double enc_gflop(const struct parakeet_config *c, int64_t frames)
{
    const double T = (double)parakeet_sub_len(c, frames), D = c->d_model, F = c->d_ff, C = c->sub_channels;
    double per_layer = T * (4 * D * F + 4 * D * D + 3 * D * D) + (2 * T - 1) * D * D /* positions */
                       + T * T * D * 3 /* scores, positions, values */ + T * D * c->conv_kernel;
    double t1 = (double)frames / 2, t2 = t1 / 2, t3 = t2 / 2;
    double sub = t1 * 64 * C * 9 + t2 * 32 * C * (9 + C) + t3 * 16 * C * (9 + C) + T * 16 * C * D;
    return 2.0 * (c->n_layers * per_layer + sub + T * D * c->joint_hidden) / 1e9;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *dtype = "f32";
    double seconds = 20;
    int threads = 2, reps = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) dtype = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_asr --config CONFIG.json [--seconds S] [--threads N] [--dtype T] [--reps R]\n");
            return 2;
        }
    }
    if (!config || seconds < 1 || seconds > 600 || reps < 1) {
        fprintf(stderr, "bench_asr: --config is required; --seconds 1..600\n");
        return 2;
    }
    qwglm_asr_params p = qwglm_asr_default_params();
    p.n_threads = threads;
    p.dtype = !strcmp(dtype, "bf16") ? QWGLM_DTYPE_BF16 : !strcmp(dtype, "q8") ? QWGLM_DTYPE_Q8
              : !strcmp(dtype, "q4") ? QWGLM_DTYPE_Q4 : QWGLM_DTYPE_F32;
    struct qw_err e = {0};
    qwglm_asr *a;
    int64_t t0 = qw_time_us();
    if (asr_open_random(&a, config, &p, 1, &e)) {
        fprintf(stderr, "bench_asr: %s\n", e.msg);
        return 1;
    }
    fprintf(stderr, "loaded random %s weights in %.1f s (%.0f MB)\n", dtype, (qw_time_us() - t0) / 1e6,
            a->model.weight_bytes / 1e6);
    const int sr = a->model.cfg.sample_rate;
    size_t n = (size_t)(seconds * sr);
    float *pcm = malloc(n * sizeof(float));
    uint32_t s = 7;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / sr, f0 = 120 + 40 * sin(t * 1.7), env = 0.5 + 0.5 * sin(t * 6.0);
        double v = 0;
        for (int h = 1; h <= 8; h++) v += sin(2 * M_PI * f0 * h * t) / h;
        s = s * 1664525u + 1013904223u;
        pcm[i] = (float)(0.1 * env * v + 0.002 * ((double)(s >> 8) / 16777216.0 - 0.5));
    }
    int64_t frames = qw_mel_frames(&a->mel, (int64_t)n), valid = (int64_t)n / a->mel.hop;
    float *feats = malloc((size_t)frames * a->mel.n_mels * sizeof(float));
    double best_fe = 1e30, best_enc = 1e30, best_dec = 1e30, best_cpu = 1e30;
    uint32_t hash = 0;
    int n_tok = 0;
    for (int r = 0; r < reps; r++) {
        double ca = cpu_seconds();
        int64_t ta = qw_time_us();
        if (qw_mel_compute(&a->mel, pcm, n, feats, &e)) break;
        int64_t tb = qw_time_us();
        struct qw_tensor enc;
        int64_t ev;
        if (parakeet_encode(&a->model, &a->state, feats, frames, valid, &enc, &ev, NULL, NULL, &e)) break;
        int64_t tc = qw_time_us();
        struct parakeet_token *toks = NULL;
        int nt = 0, cap = 0;
        if (parakeet_greedy(&a->model, &a->state, enc, ev, a->max_symbols, &toks, &nt, &cap, NULL, NULL, &e)) break;
        int64_t td = qw_time_us();
        double cd = cpu_seconds();
        if (cd - ca < best_cpu) best_cpu = cd - ca;
        float *h = malloc((size_t)(enc.rows * enc.cols) * sizeof(float));
        qw_tensor_read(&a->be, enc, h, NULL);
        hash = 2166136261u;
        for (int64_t i = 0; i < enc.rows * enc.cols; i++) {
            uint32_t u;
            memcpy(&u, &h[i], 4);
            hash = (hash ^ (u >> 8)) * 16777619u; /* drop the low mantissa bits: thread-count noise */
        }
        free(h);
        free(toks);
        n_tok = nt;
        if ((tb - ta) / 1e6 < best_fe) best_fe = (tb - ta) / 1e6;
        if ((tc - tb) / 1e6 < best_enc) best_enc = (tc - tb) / 1e6;
        if ((td - tc) / 1e6 < best_dec) best_dec = (td - tc) / 1e6;
    }
    if (e.status) {
        fprintf(stderr, "bench_asr: %s\n", e.msg);
        return 1;
    }
    struct cpu_kernels k;
    cpu_kernels_init(&k, false);
    double total = best_fe + best_enc + best_dec, gf = enc_gflop(&a->model.cfg, frames);
    /* RTF from wall time, and from CPU time per thread (what an idle machine would give) */
    printf("asr parakeet-tdt %dx%d %s cpu/%s t=%d  %.0f s audio  front %.3f s  encoder %.3f s (%.0f GFLOP/s)  "
           "decoder %.3f s (%d tokens)  RTF %.1fx wall, %.1fx cpu (%.1f cpu-s)  #%08x\n",
           a->model.cfg.n_layers, a->model.cfg.d_model, dtype, k.isa, threads, seconds, best_fe, best_enc,
           gf / best_enc, best_dec, n_tok, seconds / total, seconds / (best_cpu / threads), best_cpu, hash);
    free(pcm);
    free(feats);
    qwglm_asr_free(a);
    return 0;
}
