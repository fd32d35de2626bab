/* Qwen3-VL end to end against transformers on qwen3-vl-micro: 3D position ids and rope_delta, the prompt's
 * final hidden states, its last logits, greedy tokens and decode-step logits, starting from the PNG files
 * through the public API; images in a later turn; and the errors of badly formed image prompts. */
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "engine/engine.h"
#include "engine/vision.h"
#include "format/image.h"
#include "format/json.h"
#include "format/safetensors.h"
#include "qwglm.h"
#include "test.h"

#define FIX "tests/fixtures/qwen3-vl-micro/"
#define PAD 151655

static struct st_file ref;
static int32_t ids[512]; /* the reference prompt, images expanded */
static int n_ids;
static int32_t short_ids[64]; /* the same with one pad per image */
static int n_short;
static int32_t greedy[16];
static int n_greedy;
static int64_t rope_delta;

static const float *ref_tensor(const char *name, int64_t numel)
{
    const struct st_tensor *t = st_find(&ref, name);
    REQUIRE(t && t->dtype == ST_F32 && t->numel == numel);
    return t->data;
}

static void load_reference(void)
{
    char *text;
    size_t n;
    REQUIRE(qw_read_file(FIX "reference.json", 1 << 20, &text, &n, NULL) == QWGLM_OK);
    struct json_doc doc;
    REQUIRE(json_parse(text, n, &doc, NULL) == QWGLM_OK);
    const struct json_value *c0 = &json_get(&doc.root, "cases")->u.items[0];
    const struct json_value *in = json_get(c0, "input_ids"), *gr = json_get(c0, "greedy");
    REQUIRE(in && in->n <= 512 && gr && gr->n <= 16);
    for (uint32_t i = 0; i < in->n; i++) {
        int64_t v;
        REQUIRE(json_int(&in->u.items[i], &v));
        ids[n_ids++] = (int32_t)v;
        if (v != PAD || ids[n_ids - 2] != PAD) short_ids[n_short++] = (int32_t)v;
    }
    for (uint32_t i = 0; i < gr->n; i++) {
        int64_t v;
        REQUIRE(json_int(&gr->u.items[i], &v));
        greedy[n_greedy++] = (int32_t)v;
    }
    REQUIRE(json_int(json_get(c0, "rope_delta"), &rope_delta));
    json_doc_free(&doc);
    qw_free(text);
}

static const struct mm_grid grids[2] = {{1, 14, 20}, {1, 20, 14}};

static void test_positions(void)
{
    const float *want = ref_tensor("position_ids", 3 * (int64_t)n_ids);
    for (int variant = 0; variant < 2; variant++) {
        struct mm_plan p;
        struct qw_err e = {0};
        const int32_t *src = variant ? short_ids : ids;
        REQUIRE(mm_plan_build(src, variant ? n_short : n_ids, PAD, grids, 2, 2, 0, &p, &e) == QWGLM_OK);
        CHECK(p.n == n_ids && memcmp(p.ids, ids, sizeof(int32_t) * (size_t)n_ids) == 0);
        int bad = 0;
        for (int a = 0; a < 3; a++)
            for (int i = 0; i < n_ids; i++) bad += p.pos[a][i] != (int32_t)want[a * n_ids + i];
        CHECKF(bad == 0, "%d position ids differ", bad);
        CHECKF(p.next_pos - n_ids == rope_delta, "rope_delta %d, want %lld", p.next_pos - n_ids,
               (long long)rope_delta);
        CHECK(p.row0[0] == 7 && p.n_tokens[0] == 70 && p.n_tokens[1] == 70);
        mm_plan_free(&p);
    }
    /* starting later in a conversation shifts every position by the same amount */
    struct mm_plan p;
    REQUIRE(mm_plan_build(short_ids, n_short, PAD, grids, 2, 2, 100, &p, NULL) == QWGLM_OK);
    CHECK(p.pos[1][8] == 100 + (int32_t)want[n_ids + 8] && p.next_pos == 100 + n_ids + rope_delta);
    mm_plan_free(&p);
    /* malformed prompts */
    struct qw_err e = {0};
    CHECK(mm_plan_build(short_ids, n_short, PAD, grids, 1, 2, 0, &p, &e) == QWGLM_ERR_ARG);
    CHECKF(strstr(e.msg, "2 image placeholders but 1 image was given") != NULL, "%s", e.msg);
    int32_t three[] = {1, PAD, PAD, PAD, 2};
    memset(&e, 0, sizeof e);
    CHECK(mm_plan_build(three, 5, PAD, grids, 1, 2, 0, &p, &e) == QWGLM_ERR_ARG);
    CHECKF(strstr(e.msg, "3 placeholder tokens, but the image takes 70") != NULL, "%s", e.msg);
    CHECK(mm_count_pad_runs(short_ids, n_short, PAD) == 2);
}

struct gen {
    int n;
    int32_t tokens[16];
    float *step_logits; /* [2][V] */
    int V;
};

static int on_token(int32_t id, const float *logits, void *user)
{
    struct gen *g = user;
    if (g->n < 2) memcpy(g->step_logits + (size_t)g->n * g->V, logits, (size_t)g->V * sizeof *logits);
    g->tokens[g->n++] = id;
    return 0;
}

/* The prompt from the PNG files through the public API: last logits, greedy tokens, decode-step logits. */
static void test_end_to_end(qwglm_model *m, qwglm_image *im[2])
{
    qwglm_model_info info;
    qwglm_model_get_info(m, &info);
    const int V = info.n_vocab;
    CHECK(qwglm_model_has_vision(m));
    CHECK(qwglm_model_image_tokens(m, im[0], NULL) == 70 && qwglm_model_image_tokens(m, im[1], NULL) == 70);
    qwglm_image_budget small = {0, 16};
    CHECK(qwglm_model_image_tokens(m, im[0], &small) <= 16);
    qwglm_session *s;
    char err[QWGLM_ERR_SIZE];
    REQUIRE(qwglm_session_open(m, NULL, &s, err) == QWGLM_OK);
    float *logits = qw_malloc((size_t)V * sizeof *logits);
    CHECKF(qwglm_session_eval_images(s, short_ids, n_short, im, 2, NULL, logits) == QWGLM_OK, "%s",
           qwglm_session_error(s));
    CHECK(qwglm_session_n_past(s) == n_ids);
    double err_l = rel_err(logits, ref_tensor("last_logits", V), (size_t)V);
    CHECKF(err_l < 1e-4, "last_logits rel err %g", err_l);
    fprintf(stderr, "end to end from PNG: last_logits rel err %.3g\n", err_l);

    struct gen g = {.V = V, .step_logits = qw_malloc(2 * (size_t)V * sizeof(float))};
    qwglm_generate_params gp = qwglm_generate_default_params(m);
    gp.sampling = qwglm_sampling_greedy();
    gp.max_tokens = n_greedy;
    gp.n_stop_ids = 0;
    REQUIRE(qwglm_session_generate(s, NULL, 0, &gp, on_token, &g) == QWGLM_OK);
    CHECK(g.n == n_greedy && memcmp(g.tokens, greedy, sizeof(int32_t) * (size_t)n_greedy) == 0);
    double err_d = rel_err(g.step_logits, ref_tensor("decode_logits", 2 * (int64_t)V), 2 * (size_t)V);
    CHECKF(err_d < 1e-4, "decode_logits rel err %g", err_d);

    /* images in a later turn: the text before them first, then the rest with both images */
    REQUIRE(qwglm_session_truncate(s, 0) == QWGLM_OK);
    REQUIRE(qwglm_session_eval(s, short_ids, 6, NULL) == QWGLM_OK);
    CHECKF(qwglm_session_eval_images(s, short_ids + 6, n_short - 6, im, 2, NULL, logits) == QWGLM_OK, "%s",
           qwglm_session_error(s));
    err_l = rel_err(logits, ref_tensor("last_logits", V), (size_t)V);
    CHECKF(err_l < 1e-4, "images in a later turn: last_logits rel err %g", err_l);

    /* the same image as RGBA rows with padding (a canvas frame) gives the same result */
    struct qw_image raw;
    REQUIRE(qw_image_load(FIX "image1.png", NULL, &raw, NULL) == QWGLM_OK);
    const size_t stride = (size_t)raw.width * 4 + 12;
    uint8_t *rgba = qw_calloc((size_t)raw.height, stride);
    for (int y = 0; y < raw.height; y++)
        for (int x = 0; x < raw.width; x++) {
            memcpy(rgba + y * stride + 4 * x, raw.rgb + ((size_t)y * raw.width + x) * 3, 3);
            rgba[y * stride + 4 * x + 3] = (uint8_t)(x * 7); /* alpha is ignored */
        }
    qwglm_image *frame[2] = {im[0], NULL};
    REQUIRE(qwglm_image_from_pixels(rgba, raw.width, raw.height, 4, stride, &frame[1], err) == QWGLM_OK);
    REQUIRE(qwglm_session_truncate(s, 0) == QWGLM_OK);
    CHECK(qwglm_session_eval_images(s, short_ids, n_short, frame, 2, NULL, logits) == QWGLM_OK);
    err_l = rel_err(logits, ref_tensor("last_logits", V), (size_t)V);
    CHECKF(err_l < 1e-4, "RGBA frame: last_logits rel err %g", err_l);
    qwglm_image_free(frame[1]);
    CHECK(qwglm_image_from_pixels(rgba, raw.width, raw.height, 4, 8, &frame[1], err) == QWGLM_ERR_ARG);
    CHECK(frame[1] == NULL && strstr(err, "stride") != NULL);
    qw_free(rgba);
    qw_image_free(&raw);

    /* bad prompts leave the session as it was */
    int n_past = qwglm_session_n_past(s);
    CHECK(qwglm_session_eval_images(s, short_ids, n_short, im, 1, NULL, NULL) == QWGLM_ERR_ARG);
    CHECK(strstr(qwglm_session_error(s), "placeholder") != NULL);
    int32_t video[] = {151652, 151656, 151653};
    CHECK(qwglm_session_eval_images(s, video, 3, NULL, 0, NULL, NULL) == QWGLM_ERR_ARG);
    CHECK(qwglm_session_n_past(s) == n_past);
    qwglm_session_params sp = {.n_ctx = 100};
    qwglm_session *tiny;
    REQUIRE(qwglm_session_open(m, &sp, &tiny, err) == QWGLM_OK);
    CHECK(qwglm_session_eval_images(tiny, short_ids, n_short, im, 2, NULL, NULL) == QWGLM_ERR_CONTEXT);
    /* a small budget still works, with fewer tokens */
    qwglm_image_budget b = {0, 16};
    CHECKF(qwglm_session_eval_images(tiny, short_ids, n_short, im, 2, &b, NULL) == QWGLM_OK, "%s",
           qwglm_session_error(tiny));
    CHECK(qwglm_session_n_past(tiny) < 60);
    qwglm_session_close(tiny);
    qw_free(g.step_logits);
    qw_free(logits);
    qwglm_session_close(s);
}

/* Final hidden states of the prompt: the decoder run directly with the reference pixel_values' features. */
static void test_last_hidden(qwglm_model *m)
{
    struct qw_err e = {0};
    const int D = m->cfg.n_embd, L = m->cfg.n_layers, levels = 4;
    struct mm_plan p;
    REQUIRE(mm_plan_build(ids, n_ids, PAD, grids, 2, 2, 0, &p, &e) == QWGLM_OK);
    struct qw_buf *feat;
    REQUIRE(m->be.ops->buf_alloc(m->be.ctx, (size_t)140 * D * levels * 4, &feat, NULL) == QWGLM_OK);
    struct vl_work work = {0};
    struct qwen3_inject inj[2];
    for (int i = 0; i < 2; i++) {
        char name[64];
        snprintf(name, sizeof name, "image%d.pixel_values", i);
        struct vl_pixels px = {1, grids[i].h, grids[i].w, 280, 1536, (float *)ref_tensor(name, 280 * 1536)};
        struct qw_tensor out[4];
        for (int k = 0; k < levels; k++)
            out[k] = (struct qw_tensor){feat, ((size_t)i * levels + k) * 70 * D * 4, QW_DTYPE_F32, 70, D, D};
        REQUIRE(vl_vision_encode(m->vision, &work, &px, out, &e) == QWGLM_OK);
        REQUIRE(qw_sync(&m->be, &e) == QWGLM_OK);
        inj[i] = (struct qwen3_inject){.row0 = p.row0[i],
                                       .n = 70,
                                       .embeds = out[0],
                                       .n_deepstack = 3,
                                       .deepstack = {out[1], out[2], out[3]}};
    }
    struct qwen3_kv kv;
    REQUIRE(qwen3_kv_init(&kv, &m->net, n_ids, &e) == QWGLM_OK);
    struct qw_scratch sc = {0};
    sc.cap = qwen3_scratch_bytes(&m->net, n_ids, 1);
    REQUIRE(m->be.ops->buf_alloc(m->be.ctx, sc.cap, &sc.buf, NULL) == QWGLM_OK);
    struct qw_arena host;
    REQUIRE(qw_arena_init(&host, qwen3_host_bytes(&m->net, n_ids)));
    float *hidden = qw_malloc((size_t)(L + 1) * n_ids * D * sizeof(float));
    struct qwen3_batch b = {.n = n_ids,
                            .ids = p.ids,
                            .pos = {p.pos[0], p.pos[1], p.pos[2]},
                            .kv_pos0 = 0,
                            .n_inject = 2,
                            .inject = inj,
                            .n_logits = 0,
                            .hidden = hidden};
    CHECKF(qwen3_forward(&m->net, &kv, &sc, &host, &b, &e) == QWGLM_OK, "%s", e.msg);
    double err_h = rel_err(hidden + (size_t)L * n_ids * D, ref_tensor("last_hidden", (int64_t)n_ids * D),
                           (size_t)n_ids * D);
    CHECKF(err_h < 1e-4, "last_hidden rel err %g", err_h);
    fprintf(stderr, "last_hidden rel err %.3g\n", err_h);
    qw_free(hidden);
    qw_arena_free(&host);
    m->be.ops->buf_free(m->be.ctx, sc.buf);
    qwen3_kv_free(&kv, &m->net);
    vl_work_free(m->vision, &work);
    m->be.ops->buf_free(m->be.ctx, feat);
    mm_plan_free(&p);
}

/* KL(p || q) of the softmaxes of two logit rows, in nats. */
static double kl(const float *p, const float *q, int V)
{
    double mp = -INFINITY, mq = -INFINITY, sp = 0, sq = 0, k = 0;
    for (int i = 0; i < V; i++) mp = fmax(mp, p[i]), mq = fmax(mq, q[i]);
    for (int i = 0; i < V; i++) sp += exp(p[i] - mp), sq += exp(q[i] - mq);
    for (int i = 0; i < V; i++) {
        double lp = p[i] - mp - log(sp), lq = q[i] - mq - log(sq);
        k += exp(lp) * (lp - lq);
    }
    return k;
}

/* Quantized weights (the vision tower too: Q8 for both Q8 and Q4 models) end to end from the PNG files: the last
 * logits against the float32 reference, as KL (the budgets of the text models in test_quant.c: measured 3.5e-4
 * for Q8 and 0.063 for Q4) and, for Q8, the same top token. */
static void test_quantized(qwglm_dtype dt, const char *name, double max_kl, bool same_top, qwglm_image *im[2])
{
    qwglm_model_params mp = qwglm_model_default_params();
    mp.dtype = dt;
    mp.n_threads = 2;
    qwglm_model *m;
    qwglm_session *s;
    char err[QWGLM_ERR_SIZE];
    REQUIRE(qwglm_model_load(FIX, &mp, &m, err) == QWGLM_OK);
    REQUIRE(qwglm_session_open(m, NULL, &s, err) == QWGLM_OK);
    qwglm_model_info info;
    qwglm_model_get_info(m, &info);
    const int V = info.n_vocab;
    float *logits = qw_malloc((size_t)V * sizeof *logits);
    REQUIRE(logits);
    CHECKF(qwglm_session_eval_images(s, short_ids, n_short, im, 2, NULL, logits) == QWGLM_OK, "%s",
           qwglm_session_error(s));
    const float *want = ref_tensor("last_logits", V);
    int top = 0, top_ref = 0;
    for (int i = 1; i < V; i++) {
        top = logits[i] > logits[top] ? i : top;
        top_ref = want[i] > want[top_ref] ? i : top_ref;
    }
    const double k = kl(want, logits, V);
    fprintf(stderr, "end to end from PNG, %s weights: KL %.3g, top-1 %d (reference %d)\n", name, k, top, top_ref);
    CHECKF(k < max_kl && (!same_top || top == top_ref), "%s: KL %.3g (bound %.3g), top-1 %d vs %d", name, k,
           max_kl, top, top_ref);
    qw_free(logits);
    qwglm_session_close(s);
    qwglm_model_free(m);
}

int main(void)
{
    REQUIRE(st_open(&ref, FIX "reference.safetensors", NULL) == QWGLM_OK);
    load_reference();
    REQUIRE(n_ids == 161 && n_short == 23);
    test_positions();
    qwglm_model_params mp = qwglm_model_default_params();
    mp.dtype = QWGLM_DTYPE_F32;
    mp.n_threads = 2;
    qwglm_model *m;
    char err[QWGLM_ERR_SIZE];
    REQUIRE(qwglm_model_load(FIX, &mp, &m, err) == QWGLM_OK);
    qwglm_image *im[2];
    REQUIRE(qwglm_image_load(FIX "image0.png", &im[0], err) == QWGLM_OK);
    REQUIRE(qwglm_image_load(FIX "image1.png", &im[1], err) == QWGLM_OK);
    test_end_to_end(m, im);
    test_last_hidden(m);
    test_quantized(QWGLM_DTYPE_Q8, "q8", 1e-3, true, im);
    test_quantized(QWGLM_DTYPE_Q4, "q4", 0.2, false, im);
    qwglm_image_free(im[0]);
    qwglm_image_free(im[1]);
    qwglm_model_free(m);
    /* a text model has no encoder: images are refused with a clear message */
    REQUIRE(qwglm_model_load("tests/fixtures/qwen3-micro", &mp, &m, err) == QWGLM_OK);
    CHECK(!qwglm_model_has_vision(m));
    qwglm_session *s;
    REQUIRE(qwglm_session_open(m, NULL, &s, err) == QWGLM_OK);
    qwglm_image *one;
    REQUIRE(qwglm_image_load(FIX "image1.png", &one, err) == QWGLM_OK);
    CHECK(qwglm_session_eval_images(s, short_ids, n_short, &one, 1, NULL, NULL) == QWGLM_ERR_ARG);
    CHECK(strstr(qwglm_session_error(s), "no vision encoder") != NULL);
    CHECK(qwglm_session_eval_images(s, short_ids, 6, NULL, 0, NULL, NULL) ==
          QWGLM_OK); /* text only is fine */
    qwglm_image_free(one);
    qwglm_session_close(s);
    qwglm_model_free(m);
    st_close(&ref);
    return test_report("test_vl_model");
}
