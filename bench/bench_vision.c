/* bench_vision: what a shared screen costs on the CPU.
 *
 *   bench_vision [-m QWEN3_VL_DIR] [--depth N] [--threads N]
 *
 * 1. preprocessing of a 1280 x 720 screen at the default budget (resize to 1280 x 704, normalize, patchify);
 * 2. the vision encoder on that screen (3520 patches, 880 tokens) with Qwen3-VL-2B/4B's vision shape (hidden
 * 1024, 16 heads, MLP 4096, merger 4096 -> 2048, 3 DeepStack mergers) and random bf16 weights, N blocks deep
 *    (default 2; the real tower has 24): reports per-block time and the 24-block estimate;
 * 3. prefill with image tokens through qwglm_session_eval_images on -m DIR (default the qwen3-vl-micro
 * fixture). FLOPs count 2 per multiply-add of the linear layers and attention (q.k and p.v).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "base/fp.h"
#include "base/log.h"
#include "base/mem.h"
#include "format/safetensors.h"
#include "model/qwen3_vl_vision.h"
#include "qwglm.h"
#include "vision/vl_preprocess.h"

#define W 1280
#define H 720

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* A screen-like picture: flat panels, text-like stripes, a gradient. */
static void make_screen(uint8_t *rgb)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + ((size_t)y * W + x) * 3;
            int panel = x < 240 ? 40 : 235;
            int text = (y % 18 < 11) && (x % 9 < 6) && ((x / 9 + y / 18) % 7 != 0) && x > 260 && y > 60;
            p[0] = (uint8_t)(text ? 20 : panel);
            p[1] = (uint8_t)(text ? 20 : panel - (y < 50 ? 60 : 0));
            p[2] = (uint8_t)(text ? 30 : (x * 255 / W + panel) / 2);
        }
}

/* ---- a synthetic checkpoint of the 2B vision shape ---- */

struct tensor_spec {
    char name[128];
    int64_t rows, cols; /* cols = fan_in */
};

static int add(struct tensor_spec *t, int n, const char *name, int64_t rows, int64_t cols)
{
    snprintf(t[n].name, sizeof t[n].name, "model.visual.%.96s", name);
    t[n].rows = rows;
    t[n].cols = cols;
    return n + 1;
}

static int write_checkpoint(const char *path, const struct vl_vision_config *c)
{
    static struct tensor_spec t[512];
    int n = 0;
    const int Hd = c->hidden, M4 = Hd * 4, K = 3 * 2 * 16 * 16;
    char k[96];
    n = add(t, n, "patch_embed.proj.weight", Hd, K);
    n = add(t, n, "patch_embed.proj.bias", 1, Hd);
    n = add(t, n, "pos_embed.weight", 2304, Hd);
    for (int l = 0; l < c->depth; l++) {
        static const char *names[] = {"norm1", "norm2"};
        for (int i = 0; i < 2; i++) {
            snprintf(k, sizeof k, "blocks.%d.%s.weight", l, names[i]), n = add(t, n, k, 1, Hd);
            snprintf(k, sizeof k, "blocks.%d.%s.bias", l, names[i]), n = add(t, n, k, 1, Hd);
        }
        snprintf(k, sizeof k, "blocks.%d.attn.qkv.weight", l), n = add(t, n, k, 3 * Hd, Hd);
        snprintf(k, sizeof k, "blocks.%d.attn.qkv.bias", l), n = add(t, n, k, 1, 3 * Hd);
        snprintf(k, sizeof k, "blocks.%d.attn.proj.weight", l), n = add(t, n, k, Hd, Hd);
        snprintf(k, sizeof k, "blocks.%d.attn.proj.bias", l), n = add(t, n, k, 1, Hd);
        snprintf(k, sizeof k, "blocks.%d.mlp.linear_fc1.weight", l), n = add(t, n, k, c->intermediate, Hd);
        snprintf(k, sizeof k, "blocks.%d.mlp.linear_fc1.bias", l), n = add(t, n, k, 1, c->intermediate);
        snprintf(k, sizeof k, "blocks.%d.mlp.linear_fc2.weight", l), n = add(t, n, k, Hd, c->intermediate);
        snprintf(k, sizeof k, "blocks.%d.mlp.linear_fc2.bias", l), n = add(t, n, k, 1, Hd);
    }
    for (int m = -1; m < c->n_deepstack; m++) {
        char pre[48];
        if (m < 0)
            snprintf(pre, sizeof pre, "merger");
        else
            snprintf(pre, sizeof pre, "deepstack_merger_list.%d", m);
        int nn = m < 0 ? Hd : M4;
        snprintf(k, sizeof k, "%s.norm.weight", pre), n = add(t, n, k, 1, nn);
        snprintf(k, sizeof k, "%s.norm.bias", pre), n = add(t, n, k, 1, nn);
        snprintf(k, sizeof k, "%s.linear_fc1.weight", pre), n = add(t, n, k, M4, M4);
        snprintf(k, sizeof k, "%s.linear_fc1.bias", pre), n = add(t, n, k, 1, M4);
        snprintf(k, sizeof k, "%s.linear_fc2.weight", pre), n = add(t, n, k, c->out_hidden, M4);
        snprintf(k, sizeof k, "%s.linear_fc2.bias", pre), n = add(t, n, k, 1, c->out_hidden);
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    char *hdr = malloc(1 << 20);
    size_t hl = 0, off = 0;
    hl += (size_t)sprintf(hdr + hl, "{");
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)t[i].rows * t[i].cols * 2;
        hl += (size_t)sprintf(
            hdr + hl, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}",
            i ? "," : "", t[i].name, (long long)t[i].rows, (long long)t[i].cols, off, off + bytes);
        off += bytes;
    }
    hl += (size_t)sprintf(hdr + hl, "}");
    while (hl % 8) hdr[hl++] = ' ';
    uint64_t hl64 = hl;
    fwrite(&hl64, 8, 1, f);
    fwrite(hdr, 1, hl, f);
    for (int i = 0; i < n; i++) {
        /* norms near 1, biases small, weights N(0, 1/fan_in)-ish, so activations stay O(1) */
        int is_norm = strstr(t[i].name, "norm") != NULL && strstr(t[i].name, "weight") != NULL;
        float scale = t[i].rows == 1 ? 0.02f : 1.7f / sqrtf((float)t[i].cols);
        size_t cnt = (size_t)t[i].rows * t[i].cols;
        uint16_t buf[4096];
        for (size_t j = 0; j < cnt; j += 4096) {
            size_t m = cnt - j < 4096 ? cnt - j : 4096;
            for (size_t q = 0; q < m; q++)
                buf[q] = f32_to_bf16(is_norm ? 1.0f + 0.1f * frand() : scale * frand());
            fwrite(buf, 2, m, f);
        }
    }
    free(hdr);
    return fclose(f) != 0;
}

static double flops_block(const struct vl_vision_config *c, double n)
{
    double Hd = c->hidden;
    return 2 * n * (3 * Hd * Hd + Hd * Hd + 2 * Hd * c->intermediate) + 2 * 2 * n * n * Hd;
}

int main(int argc, char **argv)
{
    const char *model = "tests/fixtures/qwen3-vl-micro";
    int depth = 2, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--depth") && i + 1 < argc)
            depth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_vision [-m QWEN3_VL_DIR] [--depth N] [--threads N]\n");
            return 2;
        }
    }
    if (depth < 1 || depth > 24) depth = 2;
    struct qw_err e = {0};
    uint8_t *rgb = malloc((size_t)W * H * 3);
    make_screen(rgb);
    struct qw_image im;
    if (qw_image_from_rgb(rgb, W, H, NULL, &im, &e)) return 1;

    /* 1. preprocessing */
    struct vl_preproc pp = vl_preproc_default();
    struct vl_pixels px;
    int64_t t0 = qw_time_us();
    const int reps = 5;
    for (int r = 0; r < reps; r++) {
        if (vl_preprocess(&pp, &im, &px, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
        if (r < reps - 1) vl_pixels_free(&px);
    }
    double pre_ms = (double)(qw_time_us() - t0) / 1e3 / reps;
    printf("preprocess  screen 1280x720 -> %dx%d  %lld patches %lld tokens  %.2f ms\n", px.grid_w * 16,
           px.grid_h * 16, (long long)px.n_patches, (long long)px.n_patches / 4, pre_ms);

    /* 2. encoder of the 2B/4B vision shape */
    struct vl_vision_config c = {.depth = depth,
                                 .hidden = 1024,
                                 .n_heads = 16,
                                 .head_dim = 64,
                                 .intermediate = 4096,
                                 .out_hidden = 2048,
                                 .patch = 16,
                                 .temporal_patch = 2,
                                 .merge = 2,
                                 .in_channels = 3,
                                 .pos_side = 48,
                                 .n_deepstack = 3,
                                 .rope_theta = 10000.0f,
                                 .eps = 1e-6f};
    for (int k = 0; k < 3; k++) c.deepstack_layers[k] = k < depth ? k : depth - 1;
    const char *dir = "/tmp/qwglm-bench-vision";
    char path[256];
    snprintf(path, sizeof path, "mkdir -p %s", dir);
    if (system(path) != 0) return 1;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (write_checkpoint(path, &c)) return fprintf(stderr, "cannot write %s\n", path), 1;
    struct st_set st;
    struct qw_backend be;
    struct vl_vision *v;
    if (st_set_open(&st, dir, &e) || cpu_backend_create(threads, &be, &e) ||
        vl_vision_load(&c, &be, &st, QW_DTYPE_BF16, &v, &e))
        return fprintf(stderr, "%s\n", e.msg), 1;
    const int64_t nt = px.n_patches / 4;
    struct qw_buf *ob;
    if (be.ops->buf_alloc(be.ctx, (size_t)nt * c.out_hidden * 4 * 4, &ob, &e)) return 1;
    struct qw_tensor out[4];
    for (int k = 0; k < 4; k++)
        out[k] = (struct qw_tensor){
            ob, (size_t)k * nt * c.out_hidden * 4, QW_DTYPE_F32, nt, c.out_hidden, c.out_hidden};
    struct vl_work work = {0};
    double times[2];
    for (int r = 0; r < 2; r++) { /* the first pass also sizes the work memory */
        t0 = qw_time_us();
        if (vl_vision_encode(v, &work, &px, out, &e) || qw_sync(&be, &e))
            return fprintf(stderr, "%s\n", e.msg), 1;
        times[r] = (double)(qw_time_us() - t0) / 1e6;
    }
    double fb = flops_block(&c, (double)px.n_patches);
    double fixed = 2.0 * px.n_patches * 1536 * c.hidden + 4 * 2.0 * nt * (4096.0 * 4096 + 4096.0 * 2048);
    double total = fixed + depth * fb;
    /* the fixed part (patch embed, mergers) measured apart would need another run: scale by FLOPs instead */
    double per_block = times[1] * (fb / total), est24 = times[1] * (fixed + 24 * fb) / total;
    printf("vision      2B shape bf16 depth %d  %.2f s  (%.1f GFLOP/s)  per block %.2f s  est. 24 blocks "
           "%.1f s\n",
           depth, times[1], total / times[1] / 1e9, per_block, est24);
    vl_work_free(v, &work);
    be.ops->buf_free(be.ctx, ob);
    vl_vision_free(v);
    be.ops->free(be.ctx);
    st_set_close(&st);
    remove(path);

    /* 3. prefill with image tokens on a real checkpoint's decoder */
    qwglm_model_params mp = qwglm_model_default_params();
    mp.n_threads = threads;
    qwglm_model *m;
    char err[QWGLM_ERR_SIZE];
    if (qwglm_model_load(model, &mp, &m, err)) return fprintf(stderr, "%s\n", err), 1;
    qwglm_session *s;
    qwglm_session_params sp = {.n_ctx = 2048};
    qwglm_image *qi;
    if (qwglm_session_open(m, &sp, &s, err) || qwglm_image_from_pixels(rgb, W, H, 3, W * 3, &qi, err))
        return fprintf(stderr, "%s\n", err), 1;
    int32_t ids[] = {151644, 872,  198, 151652, 151655, 151653, 3555,  374, 389,
                     279,    4171, 30,  151645, 198,    151644, 77091, 198};
    t0 = qw_time_us();
    if (qwglm_session_eval_images(s, ids, (int)(sizeof ids / sizeof ids[0]), &qi, 1, NULL, NULL))
        return fprintf(stderr, "%s\n", qwglm_session_error(s)), 1;
    double pf = (double)(qw_time_us() - t0) / 1e6;
    int n = qwglm_session_n_past(s);
    printf("prefill     %s  %d tokens (%d image) incl. preprocessing and encoding  %.3f s  %.1f tok/s\n",
           model, n, (int)nt, pf, n / pf);
    qwglm_image_free(qi);
    qwglm_session_close(s);
    qwglm_model_free(m);
    vl_pixels_free(&px);
    qw_image_free(&im);
    free(rgb);
    return 0;
}
