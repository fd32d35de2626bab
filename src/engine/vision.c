/* Images in prompts: decoding handles, the vision encoder of a Qwen3-VL model, and prompts with image pads
 * evaluated with the images' features and 3D positions. */
#include "vision.h"

#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "engine.h"
#include "format/image.h"
#include "format/json.h"

struct qwglm_image {
    struct qw_image im;
};

/* ---- image handles ---- */

static qwglm_status wrap(struct qw_image *im, qwglm_image **out, struct qw_err *e)
{
    if (!(*out = qw_malloc(sizeof **out))) {
        qw_image_free(im);
        return qw_fail(e, QWGLM_ERR_NOMEM, "image: no memory");
    }
    (*out)->im = *im;
    return QWGLM_OK;
}

qwglm_status qwglm_image_decode(const void *data, size_t n, qwglm_image **out, char *err)
{
    struct qw_err e = {0};
    struct qw_image im;
    *out = NULL;
    if (qw_image_decode(data, n, "image", NULL, &im, &e) == QWGLM_OK) wrap(&im, out, &e);
    qw_err_copy(err, &e);
    return e.status;
}

qwglm_status qwglm_image_load(const char *path, qwglm_image **out, char *err)
{
    struct qw_err e = {0};
    struct qw_image im;
    *out = NULL;
    if (qw_image_load(path, NULL, &im, &e) == QWGLM_OK) wrap(&im, out, &e);
    qw_err_copy(err, &e);
    return e.status;
}

qwglm_status qwglm_image_from_pixels(const uint8_t *pixels, int width, int height, int channels,
                                     size_t stride, qwglm_image **out, char *err)
{
    struct qw_err e = {0};
    struct qw_image im = {0};
    *out = NULL;
    if (!pixels || (channels != 3 && channels != 4) || width <= 0 || height <= 0 ||
        stride < (size_t)width * (size_t)channels) {
        qw_fail(&e, QWGLM_ERR_ARG, "image: %d x %d pixels of %d channels, stride %zu", width, height,
                channels, stride);
    } else if (qw_image_from_rgb(NULL, width, height, NULL, &im, &e) == QWGLM_OK) {
        for (int y = 0; y < height; y++) {
            const uint8_t *src = pixels + (size_t)y * stride;
            uint8_t *dst = im.rgb + (size_t)y * width * 3;
            for (int x = 0; x < width; x++) memcpy(dst + 3 * x, src + (size_t)x * channels, 3);
        }
        wrap(&im, out, &e);
    }
    qw_err_copy(err, &e);
    return e.status;
}

void qwglm_image_free(qwglm_image *im)
{
    if (!im) return;
    qw_image_free(&im->im);
    qw_free(im);
}

void qwglm_image_get_size(const qwglm_image *im, int *width, int *height)
{
    *width = im->im.width;
    *height = im->im.height;
}

/* ---- prompt assembly ---- */

int mm_count_pad_runs(const int32_t *ids, int n, int32_t pad)
{
    int runs = 0;
    for (int i = 0; i < n; i++) runs += ids[i] == pad && (i == 0 || ids[i - 1] != pad);
    return runs;
}

void mm_plan_free(struct mm_plan *p)
{
    qw_free(p->ids);
    for (int a = 0; a < 3; a++) qw_free(p->pos[a]);
    qw_free(p->row0);
    qw_free(p->n_tokens);
    memset(p, 0, sizeof *p);
}

qwglm_status mm_plan_build(const int32_t *ids, int n, int32_t pad, const struct mm_grid *grids, int n_images,
                           int merge, int32_t pos0, struct mm_plan *p, struct qw_err *e)
{
    memset(p, 0, sizeof *p);
    int runs = mm_count_pad_runs(ids, n, pad);
    if (runs != n_images)
        return qw_fail(e, QWGLM_ERR_ARG, "the prompt has %d image placeholder%s but %d image%s given", runs,
                       runs == 1 ? "" : "s", n_images, n_images == 1 ? " was" : "s were");
    /* the expanded length, checked before anything is sized from it */
    int64_t total = n;
    for (int i = 0; i < n_images; i++) {
        const struct mm_grid *g = &grids[i];
        if (g->t != 1 || g->h <= 0 || g->w <= 0 || g->h % merge || g->w % merge)
            return qw_fail(e, QWGLM_ERR_ARG, "image %d: patch grid %d x %d x %d", i + 1, g->t, g->h, g->w);
        total += (int64_t)(g->h / merge) * (g->w / merge);
    }
    if (total > (1 << 26))
        return qw_fail(e, QWGLM_ERR_CONTEXT, "the prompt expands to %lld tokens", (long long)total);
    p->ids = qw_malloc((size_t)total * sizeof *p->ids);
    for (int a = 0; a < 3; a++) p->pos[a] = qw_malloc((size_t)total * sizeof *p->pos[a]);
    p->row0 = qw_calloc((size_t)(n_images ? n_images : 1), sizeof *p->row0);
    p->n_tokens = qw_calloc((size_t)(n_images ? n_images : 1), sizeof *p->n_tokens);
    if (!p->ids || !p->pos[0] || !p->pos[1] || !p->pos[2] || !p->row0 || !p->n_tokens) {
        mm_plan_free(p);
        return qw_fail(e, QWGLM_ERR_NOMEM, "prompt of %lld tokens", (long long)total);
    }
    p->n_images = n_images;
    int out = 0, img = 0;
    int32_t cur = pos0;
    for (int i = 0; i < n;) {
        if (ids[i] != pad) {
            p->ids[out] = ids[i];
            p->pos[0][out] = p->pos[1][out] = p->pos[2][out] = cur++;
            out++;
            i++;
            continue;
        }
        int run = 0;
        while (i + run < n && ids[i + run] == pad) run++;
        const int rows = grids[img].h / merge, cols = grids[img].w / merge, count = rows * cols;
        if (run != 1 && run != count) {
            mm_plan_free(p);
            return qw_fail(e, QWGLM_ERR_ARG,
                           "image %d: %d placeholder tokens, but the image takes %d (or give one)", img + 1,
                           run, count);
        }
        p->row0[img] = out;
        p->n_tokens[img] = count;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++, out++) {
                p->ids[out] = pad;
                p->pos[0][out] = cur;
                p->pos[1][out] = cur + r;
                p->pos[2][out] = cur + c;
            }
        cur += rows > cols ? rows : cols;
        i += run;
        img++;
    }
    p->n = out;
    p->next_pos = cur;
    return QWGLM_OK;
}

/* ---- the model's encoder ---- */

/* The vision tower's weight dtype for a model loaded as wt: Q4 costs the image features 19 % relative error on
 * the qwen3-vl-micro fixture (Q8: 1.2 %), so a Q4 model keeps its tower in Q8 (tests/golden/test_vl_vision.c). */
static enum qw_dtype vision_dtype(enum qw_dtype wt)
{
    return wt == QW_DTYPE_Q4 ? QW_DTYPE_Q8 : wt;
}

/* The vision_config of the config.json at path, checked against m's text model. *found: whether there is one. */
static qwglm_status vision_config(qwglm_model *m, const char *path, struct vl_vision_config *vc, bool *found,
                                  struct qw_err *e)
{
    char *text;
    size_t n;
    *found = false;
    qwglm_status rc = qw_read_file(path, 16 << 20, &text, &n, e);
    if (rc) return rc;
    struct json_doc doc;
    rc = json_parse(text, n, &doc, e);
    qw_free(text);
    if (rc) return rc;
    const struct json_value *j = json_get(&doc.root, "vision_config");
    if (json_is_null(j)) {
        json_doc_free(&doc);
        return QWGLM_OK;
    }
    *found = true;
    rc = vl_vision_config_parse(j, vc, e);
    json_doc_free(&doc);
    if (rc) return rc;
    if (vc->out_hidden != m->cfg.n_embd)
        return qw_fail(e, QWGLM_ERR_FORMAT,
                       "%s: vision out_hidden_size %d differs from the text hidden size %d", path,
                       vc->out_hidden, m->cfg.n_embd);
    const int max_ds = (int)(sizeof((struct qwen3_inject *)0)->deepstack / sizeof(struct qw_tensor));
    if (vc->n_deepstack > max_ds || vc->n_deepstack > m->cfg.n_layers)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: %d DeepStack layers (at most %d)", path, vc->n_deepstack,
                       max_ds);
    if (m->cfg.image_token_id < 0 || m->cfg.image_token_id >= m->cfg.n_vocab)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: no valid image_token_id", path);
    return QWGLM_OK;
}

qwglm_status qw_model_vision_load(qwglm_model *m, enum qw_dtype wt, struct qw_err *e)
{
    m->preproc = vl_preproc_default();
    if (m->cfg.arch != QW_ARCH_QWEN3_VL || !st_set_find(&m->st, "model.visual.patch_embed.proj.weight")) {
        if (m->cfg.arch == QW_ARCH_QWEN3_VL) qw_log(&m->log, QWGLM_LOG_WARN, "no vision weights: text only");
        return QWGLM_OK;
    }
    char path[4096];
    if (!qw_path_join(path, sizeof path, m->dir, "config.json"))
        return qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", m->dir);
    struct vl_vision_config vc;
    bool found;
    qwglm_status rc = vision_config(m, path, &vc, &found, e);
    if (!rc && !found) rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: no vision_config object", path);
    if (rc) return rc;
    if ((rc = vl_preproc_load(&m->preproc, m->dir, e))) return rc;
    if (m->preproc.patch != vc.patch || m->preproc.merge != vc.merge ||
        m->preproc.temporal_patch != vc.temporal_patch)
        return qw_fail(e, QWGLM_ERR_FORMAT,
                       "%s: preprocessor patch/merge sizes differ from the vision config", m->dir);
    if ((rc = vl_vision_load(&vc, &m->be, &m->st, vision_dtype(wt), &m->vision, e))) return rc;
    qw_log(&m->log, QWGLM_LOG_INFO, "vision encoder: %d blocks, hidden %d, %d DeepStack layers", vc.depth,
           vc.hidden, vc.n_deepstack);
    return QWGLM_OK;
}

qwglm_status qw_model_vision_random(qwglm_model *m, const char *config, enum qw_dtype wt, uint64_t seed,
                                    int max_blocks, struct qw_err *e)
{
    m->preproc = vl_preproc_default();
    if (m->cfg.arch != QW_ARCH_QWEN3_VL) return QWGLM_OK;
    struct vl_vision_config vc;
    bool found;
    qwglm_status rc = vision_config(m, config, &vc, &found, e);
    if (rc || !found) return rc;
    if (vc.patch != m->preproc.patch || vc.merge != m->preproc.merge ||
        vc.temporal_patch != m->preproc.temporal_patch)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: patch/merge sizes differ from Qwen3-VL's preprocessor", config);
    if (max_blocks > 0 && max_blocks < vc.depth) { /* a shorter tower; DeepStack taps move into it */
        vc.depth = max_blocks;
        for (int k = 0; k < vc.n_deepstack; k++)
            if (vc.deepstack_layers[k] >= vc.depth) vc.deepstack_layers[k] = vc.depth - 1;
    }
    if ((rc = vl_vision_load_random(&vc, &m->be, vision_dtype(wt), seed, &m->vision, e))) return rc;
    qw_log(&m->log, QWGLM_LOG_INFO, "vision encoder (random): %d blocks, hidden %d, %d DeepStack layers",
           vc.depth, vc.hidden, vc.n_deepstack);
    return QWGLM_OK;
}

void qw_model_vision_free(qwglm_model *m)
{
    vl_vision_free(m->vision);
    m->vision = NULL;
}

void qw_session_vision_free(qwglm_session *s)
{
    if (s->m->vision) vl_work_free(s->m->vision, &s->vision_work);
}

int qwglm_model_has_vision(const qwglm_model *m)
{
    return m->vision != NULL;
}

static struct vl_preproc budgeted(const qwglm_model *m, const qwglm_image_budget *b)
{
    struct vl_preproc p = m->preproc;
    if (b)
        vl_preproc_set_tokens(&p, b->min_tokens > 0 ? b->min_tokens : 0,
                              b->max_tokens > 0 ? b->max_tokens : 0);
    return p;
}

int qwglm_model_image_tokens(const qwglm_model *m, const qwglm_image *im, const qwglm_image_budget *b)
{
    if (!m->vision || !im) return -1;
    struct vl_preproc p = budgeted(m, b);
    int h, w;
    if (vl_smart_resize(&p, im->im.height, im->im.width, &h, &w, NULL)) return -1;
    const int unit = p.patch * p.merge;
    return (h / unit) * (w / unit);
}

/* ---- evaluation ---- */

struct mm_eval {
    struct vl_pixels *px;
    struct mm_grid *grids;
    struct mm_plan plan;
    struct qw_buf *features;
    struct qwen3_inject *inject;
};

static void mm_eval_free(qwglm_session *s, struct mm_eval *x, int n_images)
{
    for (int i = 0; x->px && i < n_images; i++) vl_pixels_free(&x->px[i]);
    qw_free(x->px);
    qw_free(x->grids);
    mm_plan_free(&x->plan);
    if (x->features) s->m->be.ops->buf_free(s->m->be.ctx, x->features);
    qw_free(x->inject);
}

/* Encodes every image into one backend buffer: per image its features [tokens, D] then each DeepStack level.
 */
static qwglm_status encode_all(qwglm_session *s, struct mm_eval *x, int n_images)
{
    qwglm_model *m = s->m;
    const struct vl_vision_config *vc = vl_vision_get_config(m->vision);
    const int D = m->cfg.n_embd, levels = 1 + vc->n_deepstack;
    size_t total = 0;
    for (int i = 0; i < n_images; i++) total += (size_t)x->plan.n_tokens[i] * D * levels * sizeof(float);
    qwglm_status rc = m->be.ops->buf_alloc(m->be.ctx, total, &x->features, &s->err);
    if (rc) return rc;
    size_t off = 0;
    for (int i = 0; i < n_images && !rc; i++) {
        const int nt = x->plan.n_tokens[i];
        struct qw_tensor out[1 + VL_MAX_DEEPSTACK];
        for (int k = 0; k < levels; k++) {
            out[k] = (struct qw_tensor){x->features, off, QW_DTYPE_F32, nt, D, D};
            off += (size_t)nt * D * sizeof(float);
        }
        struct qwen3_inject *in = &x->inject[i];
        *in = (struct qwen3_inject){
            .row0 = x->plan.row0[i], .n = nt, .embeds = out[0], .n_deepstack = levels - 1};
        for (int k = 1; k < levels; k++) in->deepstack[k - 1] = out[k];
        rc = vl_vision_encode(m->vision, &s->vision_work, &x->px[i], out, &s->err);
        if (!rc) rc = qw_sync(&m->be, &s->err); /* the work memory is reused by the next image */
    }
    return rc;
}

qwglm_status qwglm_session_eval_images(qwglm_session *s, const int32_t *ids, int n,
                                       qwglm_image *const *images, int n_images, const qwglm_image_budget *b,
                                       float *logits)
{
    memset(&s->err, 0, sizeof s->err);
    qwglm_model *m = s->m;
    const struct qw_llm_config *c = &m->cfg;
    if (n <= 0 || !ids) return qw_fail(&s->err, QWGLM_ERR_ARG, "nothing to evaluate");
    if (n_images < 0 || (n_images > 0 && !images))
        return qw_fail(&s->err, QWGLM_ERR_ARG, "%d images", n_images);
    if (n_images > 0 && !m->vision)
        return qw_fail(&s->err, QWGLM_ERR_ARG, "this model has no vision encoder");
    for (int i = 0; i < n; i++)
        if (c->video_token_id >= 0 && ids[i] == c->video_token_id)
            return qw_fail(&s->err, QWGLM_ERR_ARG, "token %d at %d: video input is not supported", ids[i], i);
    const int32_t pad = m->vision ? c->image_token_id : -1;
    struct mm_eval x = {0};
    qwglm_status rc = QWGLM_OK;
    struct vl_preproc pp = budgeted(m, b);
    if (n_images > 0) {
        x.px = qw_calloc((size_t)n_images, sizeof *x.px);
        x.grids = qw_calloc((size_t)n_images, sizeof *x.grids);
        x.inject = qw_calloc((size_t)n_images, sizeof *x.inject);
        if (!x.px || !x.grids || !x.inject) rc = qw_fail(&s->err, QWGLM_ERR_NOMEM, "images");
    }
    for (int i = 0; i < n_images && !rc; i++) {
        if (!images[i]) {
            rc = qw_fail(&s->err, QWGLM_ERR_ARG, "image %d is NULL", i + 1);
            break;
        }
        struct qw_err ie = {0};
        if ((rc = vl_preprocess(&pp, &images[i]->im, &x.px[i], &ie))) {
            qw_fail(&s->err, rc, "image %d: %s", i + 1, ie.msg);
            break;
        }
        x.grids[i] = (struct mm_grid){x.px[i].grid_t, x.px[i].grid_h, x.px[i].grid_w};
    }
    if (!rc) rc = mm_plan_build(ids, n, pad, x.grids, n_images, pp.merge, s->next_pos, &x.plan, &s->err);
    if (!rc && x.plan.n > s->n_ctx - s->n_past)
        rc = qw_fail(&s->err, QWGLM_ERR_CONTEXT,
                     "the prompt of %d tokens (with images) does not fit: %d of the %d "
                     "context tokens are in use",
                     x.plan.n, s->n_past, s->n_ctx);
    if (!rc && n_images > 0) rc = encode_all(s, &x, n_images);
    if (!rc)
        rc = qw_session_eval_batch(s, x.plan.ids, x.plan.n, (const int32_t *const *)x.plan.pos, x.inject,
                                   n_images, true);
    if (!rc && logits) memcpy(logits, s->logits, (size_t)c->n_vocab * sizeof *logits);
    mm_eval_free(s, &x, n_images);
    return rc;
}
