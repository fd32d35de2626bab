/* bench section "vision": what an image costs. A 1280 x 720 screen (a synthetic one: panels, text-like
 * stripes, a gradient) at the model's default budget (1280 x 704: 3520 patches, 880 tokens for Qwen3-VL):
 *
 *   preprocessing  resize, rescale + normalize, patch layout (vl_preprocess)
 *   encoder        patch embedding + position table, the vision blocks, the merger and the DeepStack mergers
 *                  (each phase timed apart: vl_work.times), on the model's backend
 *   prefill        a short chat prompt with the screen through qwglm_session_eval_images: preprocessing,
 *                  encoding and the language model's prefill of every token, image tokens included
 *
 * FLOPs count 2 per multiply-add: the linear layers, and attention's q.k and p.v (4 n^2 hidden per block for
 * n patches; the tower attends over the whole image). --image-max-tokens N resizes the screen to fit N tokens
 * first. With --vision-blocks N (random weights) the tower is
 * built N blocks deep and the config's depth is estimated as embed + depth x (measured time per block) +
 * mergers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "bench.h"
#include "cli.h"
#include "engine/engine.h"
#include "format/image.h"

#define SCREEN_W 1280
#define SCREEN_H 720

static struct {
    bool on, no_prefill;
    long blocks, max_tokens;
} vopt;

static int vision_flag(int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strcmp(a, "--vision") == 0) {
        vopt.on = true;
    } else if (strcmp(a, "--vision-no-prefill") == 0) {
        vopt.on = vopt.no_prefill = true;
    } else if (strcmp(a, "--image-max-tokens") == 0) {
        const char *v = cli_value("bench", argc, argv, i);
        if (!v || !cli_parse_int(v, 1, 1 << 20, &vopt.max_tokens)) {
            if (v) cli_usage_error("bench", "--image-max-tokens: a number of tokens, not '%s'", v);
            return -1;
        }
        vopt.on = true;
    } else if (strcmp(a, "--vision-blocks") == 0) {
        const char *v = cli_value("bench", argc, argv, i);
        if (!v || !cli_parse_int(v, 1, 256, &vopt.blocks)) {
            if (v) cli_usage_error("bench", "--vision-blocks: a number of blocks, not '%s'", v);
            return -1;
        }
        vopt.on = true;
    } else {
        return 0;
    }
    return 1;
}

static bool vision_wanted(const struct bench_opts *o)
{
    (void)o;
    return vopt.on;
}

/* A screen-like picture: a dark side panel, a title bar, text-like stripes, a gradient. */
static void make_screen(uint8_t *rgb)
{
    for (int y = 0; y < SCREEN_H; y++)
        for (int x = 0; x < SCREEN_W; x++) {
            uint8_t *p = rgb + ((size_t)y * SCREEN_W + x) * 3;
            int panel = x < 240 ? 40 : 235;
            int text = (y % 18 < 11) && (x % 9 < 6) && ((x / 9 + y / 18) % 7 != 0) && x > 260 && y > 60;
            p[0] = (uint8_t)(text ? 20 : panel);
            p[1] = (uint8_t)(text ? 20 : panel - (y < 50 ? 60 : 0));
            p[2] = (uint8_t)(text ? 30 : (x * 255 / SCREEN_W + panel) / 2);
        }
}

struct vflops {
    double embed, block, mergers;
};

static struct vflops count_flops(const struct vl_vision_config *c, double n)
{
    const double H = c->hidden, M4 = H * c->merge * c->merge, nm = n / (c->merge * c->merge);
    const double K = (double)c->in_channels * c->temporal_patch * c->patch * c->patch;
    return (struct vflops){
        .embed = 2 * n * K * H,
        .block = 2 * n * (4 * H * H + 2 * H * c->intermediate) + 4 * n * n * H,
        .mergers = (1 + c->n_deepstack) * 2 * nm * (M4 * M4 + M4 * c->out_hidden),
    };
}

/* The depth of the tower the config describes (the built one may be shorter: --vision-blocks). */
static int config_depth(const struct bench_opts *o, int built)
{
    if (!o->config) return built;
    char *text;
    size_t n;
    struct qw_err e = {0};
    if (qw_read_file(o->config, 16 << 20, &text, &n, &e)) return built;
    struct json_doc doc;
    int depth = built;
    if (!json_parse(text, n, &doc, &e)) {
        struct vl_vision_config vc;
        if (!vl_vision_config_parse(json_get(&doc.root, "vision_config"), &vc, &e)) depth = vc.depth;
        json_doc_free(&doc);
    }
    qw_free(text);
    return depth;
}

static int vision_run(const struct bench_opts *o, struct bench_out *out)
{
    if (!o->model && !(o->config && o->random)) {
        fprintf(stderr, "qwglm bench: --vision needs a Qwen3-VL model: -m DIR or --config FILE --random\n");
        return 1;
    }
    struct qw_model_source src = {.dir = o->model,
                                  .config = o->config,
                                  .random = o->random,
                                  .seed = o->seed,
                                  .isa = o->isa,
                                  .vision_blocks = (int)vopt.blocks,
                                  .vision_only = o->random && vopt.no_prefill};
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
    if (!m->vision) {
        fprintf(stderr, "qwglm bench: %s has no vision encoder\n", m->dir);
        qwglm_model_free(m);
        return 1;
    }
    const struct vl_vision_config *vc = vl_vision_get_config(m->vision);
    const int reps = o->reps, depth = config_depth(o, vc->depth);
    int rc = 1;
    uint8_t *rgb = malloc((size_t)SCREEN_W * SCREEN_H * 3);
    double *t_pre = calloc((size_t)reps, sizeof(double)), *t_emb = calloc((size_t)reps, sizeof(double));
    double *t_blk = calloc((size_t)reps, sizeof(double)), *t_mrg = calloc((size_t)reps, sizeof(double));
    double *t_enc = calloc((size_t)reps, sizeof(double)), *t_pf = calloc((size_t)reps, sizeof(double));
    double *t_llm = calloc((size_t)reps, sizeof(double));
    struct qw_image im = {0};
    struct vl_pixels px = {0};
    struct vl_work work = {0};
    struct qw_buf *ob = NULL;
    qwglm_session *s = NULL;
    qwglm_image *qi = NULL;
    char err[QWGLM_ERR_SIZE];
    if (!rgb || !t_pre || !t_emb || !t_blk || !t_mrg || !t_enc || !t_pf || !t_llm) {
        fprintf(stderr, "qwglm bench: out of memory\n");
        goto done;
    }
    make_screen(rgb);
    if (qw_image_from_rgb(rgb, SCREEN_W, SCREEN_H, NULL, &im, &e)) goto fail;

    /* preprocessing, within the token budget */
    struct vl_preproc pp = m->preproc;
    const qwglm_image_budget budget = {0, (int)vopt.max_tokens};
    if (vopt.max_tokens) vl_preproc_set_tokens(&pp, 0, vopt.max_tokens);
    for (int r = 0; r < reps; r++) {
        vl_pixels_free(&px);
        double t0 = bench_now();
        if (vl_preprocess(&pp, &im, &px, &e)) goto fail;
        t_pre[r] = bench_now() - t0;
    }
    const int64_t n = px.n_patches, nt = vl_vision_tokens(m->vision, &px);

    /* the encoder on its own, into one buffer of the merger's and DeepStack mergers' outputs */
    const int levels = 1 + vc->n_deepstack;
    if (m->be.ops->buf_alloc(m->be.ctx, (size_t)nt * vc->out_hidden * levels * sizeof(float), &ob, &e))
        goto fail;
    struct qw_tensor outs[1 + VL_MAX_DEEPSTACK];
    for (int k = 0; k < levels; k++)
        outs[k] = (struct qw_tensor){ob,
                                     (size_t)k * nt * vc->out_hidden * sizeof(float),
                                     QW_DTYPE_F32,
                                     nt,
                                     vc->out_hidden,
                                     vc->out_hidden};
    struct vl_times tm;
    work.times = &tm;
    for (int r = -1; r < reps; r++) { /* a first pass sizes the work memory and warms the caches */
        memset(&tm, 0, sizeof tm);
        double t0 = bench_now();
        if (vl_vision_encode(m->vision, &work, &px, outs, &e) || qw_sync(&m->be, &e)) goto fail;
        if (r < 0) continue;
        t_enc[r] = bench_now() - t0;
        t_emb[r] = tm.embed_s;
        t_blk[r] = tm.blocks_s;
        t_mrg[r] = tm.mergers_s;
    }
    struct cpu_profile prof;
    if (o->profile) {
        work.times = NULL;
        if (cpu_profile_begin(&m->be, &e)) goto fail;
        qwglm_status st = vl_vision_encode(m->vision, &work, &px, outs, &e);
        cpu_profile_end(&m->be, &prof);
        if (st || qw_sync(&m->be, &e)) goto fail;
    }
    const struct vflops f = count_flops(vc, (double)n);
    const double pre = bench_median(t_pre, reps), emb = bench_median(t_emb, reps),
                 blk = bench_median(t_blk, reps);
    const double mrg = bench_median(t_mrg, reps), enc = bench_median(t_enc, reps);
    const double per_block = blk / vc->depth, enc_full = emb + per_block * depth + mrg;
    const double flops = f.embed + vc->depth * f.block + f.mergers,
                 flops_full = f.embed + depth * f.block + f.mergers;
    const char *wdt = qw_dtype_name(vl_vision_weight_dtype(m->vision));
    bench_line(out,
               "vision %s: %s%s tower, %d blocks%s, hidden %d, %d heads, MLP %d, out %d; loaded in %.1f s",
               m->dir, o->random ? "random " : "", wdt, vc->depth,
               depth != vc->depth ? " built (estimating the rest)" : "", vc->hidden, vc->n_heads,
               vc->intermediate, vc->out_hidden, tl);
    bench_line(out, "vision preprocess  screen %dx%d -> %dx%d  %lld patches, %lld tokens  %8.1f ms", SCREEN_W,
               SCREEN_H, px.grid_w * vc->patch, px.grid_h * vc->patch, (long long)n, (long long)nt,
               pre * 1e3);
    bench_line(out,
               "vision encoder %-4s cpu/%s t=%d  embed %.1f ms (%.1f GFLOP/s)  blocks %.2f s = %.3f s/block "
               "(%.1f GFLOP/s)  mergers %.1f ms (%.1f GFLOP/s)  total %.2f s (%.1f GFLOP/s)",
               wdt, cpu_backend_isa(&m->be), cpu_backend_threads(&m->be), emb * 1e3, f.embed / emb / 1e9, blk,
               per_block, f.block / per_block / 1e9, mrg * 1e3, f.mergers / mrg / 1e9, enc,
               flops / enc / 1e9);
    if (depth != vc->depth)
        bench_line(out, "vision encoder %d blocks (estimated from %d measured)  %.2f s (%.1f GFLOP/s)", depth,
                   vc->depth, enc_full, flops_full / enc_full / 1e9);
    bench_begin(out, "vision");
    bench_str(out, "model", m->dir);
    bench_str(out, "dtype", wdt);
    bench_int(out, "image_width", SCREEN_W);
    bench_int(out, "image_height", SCREEN_H);
    bench_int(out, "patches", n);
    bench_int(out, "image_tokens", nt);
    bench_int(out, "blocks_measured", vc->depth);
    bench_int(out, "blocks", depth);
    bench_num(out, "preprocess_ms", pre * 1e3);
    bench_num(out, "embed_ms", emb * 1e3);
    bench_num(out, "block_ms", per_block * 1e3);
    bench_num(out, "block_gflops", f.block / per_block / 1e9);
    bench_num(out, "mergers_ms", mrg * 1e3);
    bench_num(out, "mergers_gflops", f.mergers / mrg / 1e9);
    bench_num(out, "encoder_ms", enc_full * 1e3);
    bench_num(out, "encoder_gflops", flops_full / enc_full / 1e9);
    bench_num(out, "encoder_estimated", depth != vc->depth);
    bench_num(out, "encoder_gflop", flops_full / 1e9);
    if (o->profile) bench_profile(out, "vision encoder (one image)", &prof);

    /* prefill of a chat prompt with the screen */
    if (!vopt.no_prefill) {
        const struct qw_llm_config *c = &m->cfg;
        const int32_t text[] = {151644, 872, 198,    -1,  3555,   374,   389, 279,
                                4171,   30,  151645, 198, 151644, 77091, 198};
        int32_t ids[3 + sizeof text / sizeof text[0]];
        int ni = 0;
        for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
            if (text[i] >= 0) {
                ids[ni++] = text[i] % c->n_vocab;
                continue;
            }
            ids[ni++] = c->vision_start_token_id >= 0 ? c->vision_start_token_id : 151652 % c->n_vocab;
            ids[ni++] = c->image_token_id;
            ids[ni++] = c->vision_end_token_id >= 0 ? c->vision_end_token_id : 151653 % c->n_vocab;
        }
        qwglm_session_params sp = {.n_ctx = (int)nt + ni + 16};
        if (qwglm_session_open(m, &sp, &s, err) ||
            qwglm_image_from_pixels(rgb, SCREEN_W, SCREEN_H, 3, SCREEN_W * 3, &qi, err)) {
            fprintf(stderr, "qwglm bench: %s\n", err);
            goto done;
        }
        s->vision_work.times = &tm;
        int tokens = 0;
        for (int r = -1; r < reps; r++) {
            memset(&tm, 0, sizeof tm);
            if (qwglm_session_truncate(s, 0)) goto sfail;
            double t0 = bench_now();
            if (qwglm_session_eval_images(s, ids, ni, &qi, 1, &budget, NULL)) goto sfail;
            tokens = qwglm_session_n_past(s);
            if (r < 0) continue;
            t_pf[r] = bench_now() - t0;
            t_llm[r] = t_pf[r] - tm.embed_s - tm.blocks_s - tm.mergers_s - pre;
        }
        const double pf = bench_median(t_pf, reps), llm = bench_median(t_llm, reps);
        const double pf_full = pf - enc + enc_full; /* the whole tower when fewer blocks were built */
        bench_line(out,
                   "vision prefill %-4s cpu/%s t=%d  %d tokens (%lld of the image)  %.2f s = %.1f tok/s with "
                   "preprocessing and encoding%s; language model alone %.2f s = %.1f tok/s",
                   qw_dtype_name(m->net.layers[0].w_up.dtype), cpu_backend_isa(&m->be),
                   cpu_backend_threads(&m->be), tokens, (long long)nt, pf_full, tokens / pf_full,
                   depth != vc->depth ? " (estimated)" : "", llm, tokens / llm);
        bench_int(out, "prefill_tokens", tokens);
        bench_num(out, "prefill_ms", pf_full * 1e3);
        bench_num(out, "prefill_tok_s", tokens / pf_full);
        bench_num(out, "prefill_llm_ms", llm * 1e3);
        bench_num(out, "prefill_llm_tok_s", tokens / llm);
    }
    bench_end(out);
    rc = 0;
    goto done;
sfail:
    fprintf(stderr, "qwglm bench: %s\n", qwglm_session_error(s));
    goto done;
fail:
    fprintf(stderr, "qwglm bench: %s\n", e.msg);
done:
    qwglm_image_free(qi);
    qwglm_session_close(s);
    if (ob) m->be.ops->buf_free(m->be.ctx, ob);
    vl_work_free(m->vision, &work);
    vl_pixels_free(&px);
    qw_image_free(&im);
    qwglm_model_free(m);
    free(rgb);
    free(t_pre), free(t_emb), free(t_blk), free(t_mrg), free(t_enc), free(t_pf), free(t_llm);
    return rc;
}

const struct bench_section bench_vision = {
    .name = "vision",
    .flags_help =
        "  --vision              encode a 1280x720 screen (preprocessing, encoder, mergers) and prefill a\n"
        "                        prompt with it, on a Qwen3-VL model (-m DIR or --config FILE --random)\n"
        "  --vision-no-prefill   the same without the language model's prefill\n"
        "  --vision-blocks N     random weights: build N vision blocks, estimate the config's depth\n",
    .flag = vision_flag,
    .wanted = vision_wanted,
    .run = vision_run,
};
