/* Real-time factor of Piper TTS at a real voice's size: builds an ONNX voice in memory with random weights at the
 * shapes of bench/piper-medium.shapes.json (the medium network, 15.65 M parameters), loads it through the normal
 * loader and times synthesis of a sentence. RTF = synthesis time / audio duration.
 * Usage: bench_tts [SHAPES.json] [--threads N] [--ids N] [--reps N] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "format/json.h"
#include "format/onnx.h"
#include "model/vits.h"

/* ---- a minimal protobuf writer ---- */

struct buf {
    unsigned char *p;
    size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
        if (!b->p) exit(1);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void varint(struct buf *b, uint64_t v)
{
    unsigned char c[10];
    int n = 0;
    do {
        c[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, c, (size_t)n);
}

static void field_varint(struct buf *b, int f, uint64_t v) { varint(b, (uint64_t)f << 3), varint(b, v); }
static void field_bytes(struct buf *b, int f, const void *d, size_t n)
{
    varint(b, (uint64_t)f << 3 | 2), varint(b, n), put(b, d, n);
}
static void field_str(struct buf *b, int f, const char *s) { field_bytes(b, f, s, strlen(s)); }
static void field_msg(struct buf *b, int f, struct buf *m) { field_bytes(b, f, m->p, m->n), free(m->p), *m = (struct buf){0}; }

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float gauss(void)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        u[k] = ((rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307 * u[1]));
}

static void tensor(struct buf *graph, const char *name, const int64_t *dims, int nd, float scale, float offset)
{
    struct buf t = {0};
    int64_t n = 1;
    for (int i = 0; i < nd; i++) field_varint(&t, 1, (uint64_t)dims[i]), n *= dims[i];
    field_varint(&t, 2, 1);
    field_str(&t, 8, name);
    float *v = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) v[i] = offset + scale * gauss();
    field_bytes(&t, 9, v, (size_t)n * 4);
    free(v);
    field_msg(graph, 5, &t);
}

static void attr_ints(struct buf *node, const char *name, const int64_t *v, int n)
{
    struct buf a = {0};
    field_str(&a, 1, name);
    field_varint(&a, 20, 7);
    for (int i = 0; i < n; i++) field_varint(&a, 8, (uint64_t)v[i]);
    field_msg(node, 5, &a);
}

static void attr_int(struct buf *node, const char *name, int64_t v)
{
    struct buf a = {0};
    field_str(&a, 1, name);
    field_varint(&a, 20, 2);
    field_varint(&a, 3, (uint64_t)v);
    field_msg(node, 5, &a);
}

/* A Conv / ConvTranspose node for module with Piper's attributes (by module name, as the export has them). */
static void conv_node(struct buf *graph, const char *module, const int64_t *wd, bool has_bias)
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
    if (rb) {
        static const int dils[3][2] = {{1, 2}, {2, 6}, {3, 12}};
        int i = atoi(rb + 14), j = atoi(strrchr(module, '.') + 1);
        dil = dils[i % 3][j % 2];
        pad = dil * (k - 1) / 2;
    }
    struct buf n = {0};
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
    attr_ints(&n, "kernel_shape", &k, 1);
    attr_ints(&n, "strides", &stride, 1);
    attr_ints(&n, "dilations", &dil, 1);
    attr_ints(&n, "pads", pads, 2);
    attr_int(&n, "group", group);
    field_msg(graph, 1, &n);
}

static struct buf build_voice(const struct json_value *shapes)
{
    struct buf graph = {0};
    for (uint32_t i = 0; i < shapes->n; i++) {
        const struct json_member *m = &shapes->u.members[i];
        int64_t d[8];
        int nd = (int)m->value.n;
        for (int k = 0; k < nd && k < 8; k++) json_int(&m->value.u.items[k], &d[k]);
        size_t len = strlen(m->key);
        float scale = 0.1f, offset = 0.0f;
        if (nd == 3 && len > 7 && strcmp(m->key + len - 7, ".weight") == 0) {
            char module[256];
            snprintf(module, sizeof module, "%.*s", (int)len - 7, m->key);
            char bias[300];
            snprintf(bias, sizeof bias, "%s.bias", module);
            bool has_bias = false;
            for (uint32_t k = 0; k < shapes->n; k++) has_bias |= strcmp(shapes->u.members[k].key, bias) == 0;
            conv_node(&graph, module, d, has_bias);
            int64_t fan_in = strstr(module, "dec.ups.") ? d[0] * d[2] / (d[2] / 2) : d[1] * d[2];
            scale = (float)(1.0 / sqrt((double)fan_in));
        }
        if (strstr(m->key, "gamma")) scale = 0.05f, offset = 1.0f;
        if (strstr(m->key, "beta") || strstr(m->key, ".bias")) scale = 0.02f;
        /* durations of about 5 frames per id: logw = (z - m) exp(-logs) with exp(-logs) small */
        if (strcmp(m->key, "dp.flows.0.logs") == 0) scale = 0.0f, offset = 6.9f;
        if (strcmp(m->key, "dp.flows.0.m") == 0) scale = 0.0f, offset = -1.6f * 992.0f;
        tensor(&graph, m->key, d, nd, scale, offset);
    }
    struct buf model = {0};
    field_varint(&model, 1, 8);
    field_msg(&model, 7, &graph);
    struct buf op = {0};
    field_varint(&op, 2, 15);
    field_msg(&model, 8, &op);
    return model;
}

int main(int argc, char **argv)
{
    const char *path = "bench/piper-medium.shapes.json";
    int threads = 0, n_ids = 101, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ids") == 0 && i + 1 < argc) n_ids = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else path = argv[i];
    }
    char *text;
    size_t n;
    struct json_doc doc;
    struct qw_err e = {0};
    if (qw_read_file(path, 1 << 24, &text, &n, &e) || json_parse(text, n, &doc, &e)) {
        fprintf(stderr, "bench_tts: %s\n", e.msg);
        return 1;
    }
    const struct json_value *shapes = json_get(json_get(&doc.root, "single_speaker"), "shapes");
    if (!shapes) return fprintf(stderr, "bench_tts: %s: no single_speaker.shapes\n", path), 1;
    struct buf voice = build_voice(shapes);
    struct onnx_model onnx;
    struct qw_backend be;
    struct vits_model m;
    if (onnx_open_memory(&onnx, voice.p, voice.n, "random-medium.onnx", &e) ||
        cpu_backend_create(threads, &be, &e) || vits_load(&m, &onnx, &be, &e)) {
        fprintf(stderr, "bench_tts: %s\n", e.msg);
        return 1;
    }
    int32_t *ids = malloc((size_t)n_ids * sizeof *ids);
    for (int i = 0; i < n_ids; i++) ids[i] = i % 2 ? 0 : 14 + (i * 7) % 100;
    ids[0] = 1, ids[n_ids - 1] = 2;
    struct vits_synth_params sp = {0.667f, 1.0f, 0.8f, 0};
    double best = 1e30, secs = 0;
    for (int r = 0; r < reps; r++) {
        struct vits_noise noise = {.seed = 1};
        float *audio;
        int64_t ns;
        int64_t t0 = qw_time_us();
        if (vits_synth(&m, ids, n_ids, &sp, &noise, &audio, &ns, NULL, &e)) {
            fprintf(stderr, "bench_tts: %s\n", e.msg);
            return 1;
        }
        double dt = (double)(qw_time_us() - t0) / 1e6;
        secs = (double)ns / 22050.0;
        if (dt < best) best = dt;
        qw_free(audio);
    }
    printf("{\"bench\": \"tts\", \"voice\": \"piper medium (random weights)\", \"hidden\": %d, \"params\": %zu, "
           "\"threads\": %d, \"ids\": %d, \"audio_s\": %.3f, \"synth_s\": %.3f, \"rtf\": %.4f}\n",
           m.hidden, m.weight_bytes / 4, threads, n_ids, secs, best, best / secs);
    vits_free(&m);
    be.ops->free(be.ctx);
    onnx_close(&onnx);
    free(voice.p);
    free(ids);
    json_doc_free(&doc);
    qw_free(text);
    return 0;
}
