/* bench section "tts": real-time factor of Piper speech synthesis (VITS) on the CPU backend.
 *
 * --tts-config SHAPES.json [--random] builds a voice in memory with random weights at the shapes of a real one
 * (bench/piper-medium.shapes.json: the medium network, 15.65 M parameters) and loads it through the normal ONNX
 * loader; --tts-voice VOICE.onnx loads a downloaded voice. Each repetition synthesises one sentence of --tts-ids
 * phoneme ids (default 101: about 5.9 s of audio with the random medium voice) after one warm-up sentence, as a
 * reply's later sentences run. RTF = synthesis seconds / audio seconds (lower is faster; 0.05 is 20x real time).
 *
 * Also reported: the process's CPU seconds per repetition divided by the threads (the RTF the run would have on
 * cores of its own, when a shared machine's neighbours stretch the wall clock), the time of each stage (text
 * encoder with the duration predictor, flow, HiFi-GAN decoder), and GFLOP/s: 2 x the multiply-adds of every
 * convolution, linear layer and attention of one sentence, counted by the profiler over one extra run. The audio's
 * FNV-1a hash shows a change that alters results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "base/file.h"
#include "base/mem.h"
#include "bench.h"
#include "cli.h"
#include "format/json.h"
#include "format/onnx.h"
#include "model/vits.h"

#define MAX_REPS 1000

static struct {
    const char *config, *voice;
    long n_ids;
} topt = {.n_ids = 101};

static int tts_flag(int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (strcmp(a, "--tts-config") == 0) return (topt.config = cli_value("bench", argc, argv, i)) ? 1 : -1;
    if (strcmp(a, "--tts-voice") == 0) return (topt.voice = cli_value("bench", argc, argv, i)) ? 1 : -1;
    if (strcmp(a, "--tts-ids") != 0) return 0;
    if (!(v = cli_value("bench", argc, argv, i))) return -1;
    if (!cli_parse_int(v, 3, VITS_MAX_IDS, &topt.n_ids)) {
        cli_usage_error("bench", "--tts-ids: a count from 3 to %d, not '%s'", VITS_MAX_IDS, v);
        return -1;
    }
    return 1;
}

static bool tts_wanted(const struct bench_opts *o)
{
    (void)o;
    return topt.config || topt.voice;
}

/* ---- a voice with random weights: a minimal ONNX (protobuf) writer ---- */

struct pb {
    unsigned char *p;
    size_t n, cap;
    bool failed;
};

static void put(struct pb *b, const void *d, size_t n)
{
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 1024;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void varint(struct pb *b, uint64_t v)
{
    unsigned char c[10];
    int n = 0;
    do {
        c[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, c, (size_t)n);
}

static void field_varint(struct pb *b, int f, uint64_t v) { varint(b, (uint64_t)f << 3), varint(b, v); }
static void field_bytes(struct pb *b, int f, const void *d, size_t n)
{
    varint(b, (uint64_t)f << 3 | 2), varint(b, n), put(b, d, n);
}
static void field_str(struct pb *b, int f, const char *s) { field_bytes(b, f, s, strlen(s)); }
/* Appends message m as field f of b and frees m. */
static void field_msg(struct pb *b, int f, struct pb *m)
{
    b->failed |= m->failed;
    field_bytes(b, f, m->p, m->n);
    free(m->p);
    *m = (struct pb){0};
}

static float gauss(uint64_t *s)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        u[k] = ((double)(*s >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

static void tensor(struct pb *graph, const char *name, const int64_t *dims, int nd, float scale, float offset,
                   uint64_t *rng)
{
    struct pb t = {0};
    int64_t n = 1;
    for (int i = 0; i < nd; i++) field_varint(&t, 1, (uint64_t)dims[i]), n *= dims[i];
    field_varint(&t, 2, 1); /* FLOAT */
    field_str(&t, 8, name);
    float *v = malloc((size_t)n * 4 + 4);
    if (!v) t.failed = true;
    else {
        for (int64_t i = 0; i < n; i++) v[i] = offset + scale * gauss(rng);
        field_bytes(&t, 9, v, (size_t)n * 4);
    }
    free(v);
    field_msg(graph, 5, &t);
}

static void attr_ints(struct pb *node, const char *name, const int64_t *v, int n, bool list)
{
    struct pb a = {0};
    field_str(&a, 1, name);
    field_varint(&a, 20, list ? 7 : 2); /* INTS or INT */
    for (int i = 0; i < n; i++) field_varint(&a, list ? 8 : 3, (uint64_t)v[i]);
    field_msg(node, 5, &a);
}

/* A Conv / ConvTranspose node for module with the attributes Piper's export gives it (found by module name). */
static void conv_node(struct pb *graph, const char *module, const int64_t *wd, bool has_bias)
{
    char w[300], b[300], nm[300];
    snprintf(w, sizeof w, "%s.weight", module);
    snprintf(b, sizeof b, "%s.bias", module);
    bool transposed = strstr(module, "dec.ups.") != NULL;
    int64_t k = wd[2], stride = 1, dil = 1, group = 1, pad = (k - 1) / 2;
    if (transposed) stride = k / 2, pad = (k - stride) / 2;
    const char *sep = strstr(module, "convs_sep.");
    if (sep) dil = (int64_t)pow(3, atoi(sep + 10)), group = wd[0], pad = dil;
    const char *rb = strstr(module, "dec.resblocks.");
    if (rb) { /* resblock "2" (medium voices): kernels 3, 5, 7 with dilations (1, 2), (2, 6), (3, 12); resblock "1"
               * (high voices): convs1 with dilations 1, 3, 5, convs2 with 1 */
        static const int dils[3][2] = {{1, 2}, {2, 6}, {3, 12}};
        int i = atoi(rb + 14), j = atoi(strrchr(module, '.') + 1);
        if (strstr(module, ".convs1.")) dil = j == 1 ? 3 : j == 2 ? 5 : 1;
        else if (strstr(module, ".convs2.")) dil = 1;
        else dil = dils[i % 3][j % 2];
        pad = dil * (k - 1) / 2;
    }
    struct pb n = {0};
    field_str(&n, 1, "x");
    field_str(&n, 1, w);
    if (has_bias) field_str(&n, 1, b);
    field_str(&n, 2, "y");
    snprintf(nm, sizeof nm, "/%s/Conv", module);
    for (char *p = nm + 1; *p; p++)
        if (*p == '.' && !(p[1] >= '0' && p[1] <= '9')) *p = '/';
    field_str(&n, 3, nm);
    field_str(&n, 4, transposed ? "ConvTranspose" : "Conv");
    int64_t pads[2] = {pad, pad};
    attr_ints(&n, "kernel_shape", &k, 1, true);
    attr_ints(&n, "strides", &stride, 1, true);
    attr_ints(&n, "dilations", &dil, 1, true);
    attr_ints(&n, "pads", pads, 2, true);
    attr_ints(&n, "group", &group, 1, false);
    field_msg(graph, 1, &n);
}

/* The ONNX model of a voice with random weights at shapes (an object of name: [dims]). Weights are scaled by
 * 1/sqrt(fan-in) so activations keep their size, and the duration predictor's last affine is set for about 5
 * frames per phoneme id, as a real voice speaks. */
static struct pb build_voice(const struct json_value *shapes, uint64_t seed)
{
    struct pb graph = {0};
    uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1;
    for (uint32_t i = 0; i < shapes->n; i++) {
        const struct json_member *m = &shapes->u.members[i];
        int64_t d[8] = {0};
        int nd = m->value.type == JSON_ARRAY && m->value.n <= 8 ? (int)m->value.n : 0;
        for (int k = 0; k < nd; k++)
            if (!json_int(&m->value.u.items[k], &d[k]) || d[k] < 1 || d[k] > 1 << 16) nd = 0, graph.failed = true;
        size_t len = strlen(m->key);
        float scale = 0.1f, offset = 0.0f;
        if (nd == 3 && len > 7 && strcmp(m->key + len - 7, ".weight") == 0) {
            char module[256], bias[300];
            snprintf(module, sizeof module, "%.*s", (int)len - 7, m->key);
            snprintf(bias, sizeof bias, "%s.bias", module);
            bool has_bias = false;
            for (uint32_t k = 0; k < shapes->n; k++) has_bias |= strcmp(shapes->u.members[k].key, bias) == 0;
            conv_node(&graph, module, d, has_bias);
            int64_t fan_in = strstr(module, "dec.ups.") ? d[0] * 2 : d[1] * d[2];
            scale = (float)(1.0 / sqrt((double)fan_in));
        }
        if (strstr(m->key, "gamma")) scale = 0.05f, offset = 1.0f;
        if (strstr(m->key, "beta") || strstr(m->key, ".bias")) scale = 0.02f;
        /* logw = (z - m) exp(-logs): exp(-logs) tiny and -m exp(-logs) = 1.6, i.e. exp(1.6) = 5 frames per id */
        if (strcmp(m->key, "dp.flows.0.logs") == 0) scale = 0.0f, offset = 6.9f;
        if (strcmp(m->key, "dp.flows.0.m") == 0) scale = 0.0f, offset = -1.6f * 992.0f;
        if (nd > 0) tensor(&graph, m->key, d, nd, scale, offset, &rng);
    }
    struct pb model = {0}, op = {0};
    field_varint(&model, 1, 8); /* ir_version */
    field_msg(&model, 7, &graph);
    field_varint(&op, 2, 15);   /* opset 15 */
    field_msg(&model, 8, &op);
    return model;
}

/* ---- measuring ---- */

static uint32_t fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
    return h;
}

static double profile_flops(const struct cpu_profile *p)
{
    double f = 0;
    for (int i = 0; i < p->n; i++) f += p->e[i].flops;
    return f;
}

struct tts_state {
    int sample_rate; /* 22050 for the random voice; a voice's from its .onnx.json */
    struct pb onnx_bytes;
    struct onnx_model onnx;
    struct qw_backend be;
    struct vits_model m;
    bool have_onnx, have_be, have_m;
    char *text;
    struct json_doc doc;
    bool have_doc;
};

static int load(const struct bench_opts *o, struct tts_state *t, struct qw_err *e)
{
    if (topt.config) {
        size_t n;
        if (qw_read_file(topt.config, 1 << 24, &t->text, &n, e) || json_parse(t->text, n, &t->doc, e)) return 1;
        t->have_doc = true;
        const struct json_value *shapes = json_get(json_get(&t->doc.root, "single_speaker"), "shapes");
        if (!shapes || shapes->type != JSON_OBJECT) {
            qw_fail(e, QWGLM_ERR_FORMAT, "%s: no object single_speaker.shapes", topt.config);
            return 1;
        }
        t->onnx_bytes = build_voice(shapes, o->seed);
        if (t->onnx_bytes.failed) {
            qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad shapes, or out of memory", topt.config);
            return 1;
        }
        if (onnx_open_memory(&t->onnx, t->onnx_bytes.p, t->onnx_bytes.n, "random voice", e)) return 1;
    } else {
        if (onnx_open(&t->onnx, topt.voice, e)) return 1;
        char path[4096];
        size_t n;
        int64_t rate;
        snprintf(path, sizeof path, "%s.json", topt.voice);
        if (qw_read_file(path, 1 << 24, &t->text, &n, e) || json_parse(t->text, n, &t->doc, e)) return 1;
        t->have_doc = true;
        if (json_int(json_get(json_get(&t->doc.root, "audio"), "sample_rate"), &rate) && rate > 0 && rate < 1000000)
            t->sample_rate = (int)rate;
    }
    t->have_onnx = true;
    if (cpu_backend_create_isa(o->n_threads, o->isa, &t->be, e)) return 1;
    t->have_be = true;
    if (vits_load(&t->m, &t->onnx, &t->be, e)) return 1;
    t->have_m = true;
    return 0;
}

static void unload(struct tts_state *t)
{
    if (t->have_m) vits_free(&t->m);
    if (t->have_be) t->be.ops->free(t->be.ctx);
    if (t->have_onnx) onnx_close(&t->onnx);
    free(t->onnx_bytes.p);
    if (t->have_doc) json_doc_free(&t->doc);
    qw_free(t->text);
}

/* One sentence; *secs its wall time, *cpu the process's CPU seconds. */
static int speak(struct tts_state *t, const int32_t *ids, int n, float **audio, int64_t *ns, double *secs,
                 double *cpu, struct qw_err *e)
{
    const struct vits_synth_params sp = {0.667f, 1.0f, 0.8f, 0};
    struct vits_noise noise = {.seed = 1};
    double c0 = bench_cpu_seconds(), t0 = bench_now();
    qwglm_status rc = vits_synth(&t->m, ids, n, &sp, &noise, audio, ns, NULL, e);
    *secs = bench_now() - t0;
    *cpu = bench_cpu_seconds() - c0;
    return rc != QWGLM_OK;
}

static int tts_run(const struct bench_opts *o, struct bench_out *out)
{
    if (topt.config && topt.voice) return cli_usage_error("bench", "give --tts-config or --tts-voice, not both");
    struct tts_state t = {.sample_rate = 22050};
    struct qw_err e = {0};
    int rc = 1, reps = o->reps < MAX_REPS ? o->reps : MAX_REPS, n = (int)topt.n_ids;
    static double wall[MAX_REPS], cpu[MAX_REPS], enc[MAX_REPS], flow[MAX_REPS], dec[MAX_REPS];
    int32_t *ids = NULL;
    float *audio = NULL;
    if (load(o, &t, &e)) {
        fprintf(stderr, "qwglm bench: %s\n", e.msg);
        goto done;
    }
    /* ids as the phonemizer lays them out: BOS, then each phoneme followed by the pad id 0, then EOS */
    ids = malloc((size_t)n * sizeof *ids);
    if (!ids) goto done;
    for (int i = 0; i < n; i++) ids[i] = i % 2 ? 0 : 14 + (i * 7) % (t.m.n_vocab > 114 ? 100 : t.m.n_vocab - 14);
    ids[0] = 1, ids[n - 1] = 2;
    int64_t ns = 0;
    double wu, wc;
    if (speak(&t, ids, n, &audio, &ns, &wu, &wc, &e)) goto fail; /* warm-up */
    uint32_t hash = fnv1a(audio, (size_t)ns * sizeof(float));
    bool same = true;
    for (int r = 0; r < reps; r++) {
        qw_free(audio);
        audio = NULL;
        if (speak(&t, ids, n, &audio, &ns, &wall[r], &cpu[r], &e)) goto fail;
        same &= fnv1a(audio, (size_t)ns * sizeof(float)) == hash;
        enc[r] = (double)t.m.t_encode_us * 1e-6;
        flow[r] = (double)t.m.t_flow_us * 1e-6;
        dec[r] = (double)t.m.t_decode_us * 1e-6;
    }
    /* the multiply-adds of the network, counted with the decoder in one piece (its chunks recompute a few rows at
     * their edges), then, with --profile, the ops of a normal run */
    struct cpu_profile prof;
    double pw, pc, flops = 0;
    for (int pass = 0; pass < (o->profile ? 2 : 1); pass++) {
        qw_free(audio);
        audio = NULL;
        t.m.dec_chunk = pass == 0 ? 1 << 30 : 0;
        if (cpu_profile_begin(&t.be, &e)) goto fail;
        int prc = speak(&t, ids, n, &audio, &ns, &pw, &pc, &e);
        cpu_profile_end(&t.be, &prof);
        t.m.dec_chunk = 0;
        if (prc) goto fail;
        if (pass == 0) flops = profile_flops(&prof);
    }

    const int threads = cpu_backend_threads(&t.be);
    const double audio_s = (double)ns / t.sample_rate;
    const double w = bench_median(wall, reps), c = bench_median(cpu, reps) / threads;
    const double te = bench_median(enc, reps), tf = bench_median(flow, reps), td = bench_median(dec, reps);
    bench_line(out, "tts %s: hidden %d, %zu weights, %d ids -> %.2f s of audio (%lld samples at %d Hz)",
               topt.config ? "random voice" : topt.voice, t.m.hidden, t.m.weight_bytes / 4, n, audio_s,
               (long long)ns, t.sample_rate);
    bench_line(out, "tts cpu/%s t=%d  %7.1f ms  RTF %.4f (%.1fx real time)  by CPU time %.4f  %6.1f GFLOP/s  "
                    "encoder %.1f ms, flow %.1f ms, decoder %.1f ms  #%08x%s",
               cpu_backend_isa(&t.be), threads, w * 1e3, w / audio_s, audio_s / w, c / audio_s, flops / w / 1e9,
               te * 1e3, tf * 1e3, td * 1e3, hash, same ? "" : " (differs between runs!)");
    bench_line(out, "tts first sentence (allocating its memory) %.1f ms: RTF %.4f", wu * 1e3, wu / audio_s);
    bench_line(out, "tts peer: Piper with ONNX Runtime, RTF 0.03-0.23 on desktop CPUs; target RTF <= 0.05");
    bench_begin(out, "tts");
    bench_str(out, "voice", topt.config ? topt.config : topt.voice);
    bench_int(out, "ids", n);
    bench_num(out, "audio_s", audio_s);
    bench_num(out, "synth_ms", w * 1e3);
    bench_num(out, "rtf", w / audio_s);
    bench_num(out, "rtf_cpu", c / audio_s);
    bench_num(out, "cpu_ms", c * threads * 1e3);
    bench_num(out, "first_ms", wu * 1e3);
    bench_num(out, "gflop", flops / 1e9);
    bench_num(out, "gflops", flops / w / 1e9);
    bench_num(out, "encoder_ms", te * 1e3);
    bench_num(out, "flow_ms", tf * 1e3);
    bench_num(out, "decoder_ms", td * 1e3);
    char h[16];
    snprintf(h, sizeof h, "%08x", hash);
    bench_str(out, "audio_hash", h);
    if (o->profile) bench_profile(out, "tts (one sentence)", &prof);
    bench_end(out);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "qwglm bench: tts: %s\n", e.msg);
done:
    qw_free(audio);
    free(ids);
    unload(&t);
    return rc;
}

const struct bench_section bench_tts = {
    .name = "tts",
    .flags_help = "  --tts-config FILE     speech synthesis with random weights at a voice's shapes\n"
                  "                        (bench/piper-medium.shapes.json)\n"
                  "  --tts-voice FILE      speech synthesis with a Piper voice (.onnx)\n"
                  "  --tts-ids N           phoneme ids per sentence (default 101, about 5.9 s of audio)\n",
    .flag = tts_flag,
    .wanted = tts_wanted,
    .run = tts_run,
};
