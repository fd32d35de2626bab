#include "config.h"

#include <math.h>
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "json.h"

#define MAX_CONFIG_BYTES (4u << 20)

struct reader {
    const char *name;
    struct qw_err *e;
    qwglm_status rc;
};

/* An integer field within [lo, hi]; required unless def is given (has_def). */
static int read_int(struct reader *r, const struct json_value *obj, const char *key, long lo, long hi, bool has_def,
                    long def)
{
    const struct json_value *v = json_get(obj, key);
    int64_t x;
    if (json_is_null(v)) {
        if (has_def) return (int)def;
        if (!r->rc) r->rc = qw_fail(r->e, QWGLM_ERR_FORMAT, "%s: missing '%s'", r->name, key);
        return 0;
    }
    if (!json_int(v, &x) || x < lo || x > hi) {
        if (!r->rc) r->rc = qw_fail(r->e, QWGLM_ERR_FORMAT, "%s: '%s' must be an integer in [%ld, %ld]", r->name, key, lo, hi);
        return 0;
    }
    return (int)x;
}

static double read_num(struct reader *r, const struct json_value *obj, const char *key, double lo, double hi,
                       double def)
{
    const struct json_value *v = json_get(obj, key);
    double x;
    if (json_is_null(v)) return def;
    if (!json_number(v, &x) || !(x >= lo && x <= hi)) {
        if (!r->rc) r->rc = qw_fail(r->e, QWGLM_ERR_FORMAT, "%s: '%s' must be a number in [%g, %g]", r->name, key, lo, hi);
        return def;
    }
    return x;
}

/* eos_token_id: an integer or a list of them. */
static void read_eos(struct reader *r, const struct json_value *v, struct qw_llm_config *c)
{
    if (json_is_null(v)) return;
    const struct json_value *items = v->type == JSON_ARRAY ? v->u.items : v;
    uint32_t n = v->type == JSON_ARRAY ? v->n : 1;
    for (uint32_t i = 0; i < n; i++) {
        int64_t id;
        if (!json_int(&items[i], &id) || id < 0 || id > INT32_MAX) {
            if (!r->rc) r->rc = qw_fail(r->e, QWGLM_ERR_FORMAT, "%s: bad eos_token_id", r->name);
            return;
        }
        bool seen = false;
        for (int j = 0; j < c->n_eos; j++) seen |= c->eos[j] == id;
        if (!seen && c->n_eos < QW_MAX_EOS) c->eos[c->n_eos++] = (int32_t)id;
    }
}

static void read_rope(struct reader *r, const struct json_value *text, struct qw_llm_config *c)
{
    const struct json_value *rp = json_get(text, "rope_parameters");
    if (json_is_null(rp)) rp = json_get(text, "rope_scaling");
    c->rope_theta = read_num(r, text, "rope_theta", 1.0, 1e12, 10000.0);
    if (json_is_null(rp)) return;
    if (rp->type != JSON_OBJECT) {
        if (!r->rc) r->rc = qw_fail(r->e, QWGLM_ERR_FORMAT, "%s: rope_parameters is not an object", r->name);
        return;
    }
    c->rope_theta = read_num(r, rp, "rope_theta", 1.0, 1e12, c->rope_theta);
    const char *type = json_string(json_get(rp, "rope_type"));
    if (!type) type = json_string(json_get(rp, "type"));
    if (type && strcmp(type, "default") != 0 && strcmp(type, "mrope") != 0) {
        if (!r->rc) r->rc = qw_fail(r->e, QWGLM_ERR_FORMAT, "%s: rope_type '%s' is not supported", r->name, type);
        return;
    }
    const struct json_value *sec = json_get(rp, "mrope_section");
    if (json_is_null(sec)) return;
    int total = 0;
    if (sec->type != JSON_ARRAY || sec->n != 3) {
        if (!r->rc) r->rc = qw_fail(r->e, QWGLM_ERR_FORMAT, "%s: mrope_section must list 3 sizes", r->name);
        return;
    }
    for (int i = 0; i < 3; i++) {
        int64_t s;
        if (!json_int(&sec->u.items[i], &s) || s < 0 || s > 4096) {
            if (!r->rc) r->rc = qw_fail(r->e, QWGLM_ERR_FORMAT, "%s: bad mrope_section", r->name);
            return;
        }
        c->mrope_section[i] = (int)s;
        total += (int)s;
    }
    const struct json_value *il = json_get(rp, "mrope_interleaved");
    c->mrope_interleaved = il && il->type == JSON_BOOL && il->b;
    if (total > c->head_dim / 2 && !r->rc)
        r->rc = qw_fail(r->e, QWGLM_ERR_FORMAT, "%s: mrope_section covers %d frequencies, head_dim %d has %d", r->name,
                        total, c->head_dim, c->head_dim / 2);
}

static void read_generation(struct reader *r, const struct json_value *g, struct qw_llm_config *c)
{
    read_eos(r, json_get(g, "eos_token_id"), c);
    const struct json_value *ds = json_get(g, "do_sample");
    c->do_sample = ds && ds->type == JSON_BOOL && ds->b;
    c->temperature = (float)read_num(r, g, "temperature", 0.0, 100.0, c->temperature);
    c->top_p = (float)read_num(r, g, "top_p", 0.0, 1.0, c->top_p);
    c->min_p = (float)read_num(r, g, "min_p", 0.0, 1.0, c->min_p);
    c->repetition_penalty = (float)read_num(r, g, "repetition_penalty", 0.01, 100.0, c->repetition_penalty);
    c->top_k = read_int(r, g, "top_k", 0, 1 << 24, true, c->top_k);
}

qwglm_status qw_llm_config_parse(const char *config, size_t n, const char *gen, size_t gen_n, const char *name,
                                 struct qw_llm_config *c, struct qw_err *e)
{
    memset(c, 0, sizeof *c);
    c->temperature = 1.0f;
    c->top_p = 1.0f;
    c->repetition_penalty = 1.0f;
    struct json_doc doc = {0}, gdoc = {0};
    qwglm_status rc = json_parse(config, n, &doc, e);
    if (rc) return qw_fail(e, rc, "%s: not valid JSON", name);
    struct reader r = {name, e, QWGLM_OK};
    const struct json_value *root = &doc.root, *text = root;
    const char *model_type = json_string(json_get(root, "model_type"));
    const struct json_value *archs = json_get(root, "architectures");
    const char *arch = archs && archs->type == JSON_ARRAY && archs->n ? json_string(&archs->u.items[0]) : NULL;
    if (root->type != JSON_OBJECT) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: not a JSON object", name);
        goto done;
    }
    if ((arch && strcmp(arch, "Qwen3VLForConditionalGeneration") == 0) || (model_type && strcmp(model_type, "qwen3_vl") == 0)) {
        c->arch = QW_ARCH_QWEN3_VL;
        c->arch_name = "qwen3_vl";
        c->prefix = "model.language_model.";
        text = json_get(root, "text_config");
        if (!text || text->type != JSON_OBJECT) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: Qwen3-VL config without text_config", name);
            goto done;
        }
    } else if ((arch && strcmp(arch, "Qwen3ForCausalLM") == 0) || (model_type && strcmp(model_type, "qwen3") == 0)) {
        c->arch = QW_ARCH_QWEN3;
        c->arch_name = "qwen3";
        c->prefix = "model.";
    } else {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: unsupported architecture '%s' (qwglm runs Qwen3ForCausalLM and "
                     "Qwen3VLForConditionalGeneration)", name, arch ? arch : model_type ? model_type : "?");
        goto done;
    }
    c->n_vocab = read_int(&r, text, "vocab_size", 1, 1 << 24, false, 0);
    c->n_embd = read_int(&r, text, "hidden_size", 1, 1 << 16, false, 0);
    c->n_layers = read_int(&r, text, "num_hidden_layers", 1, 1024, false, 0);
    c->n_heads = read_int(&r, text, "num_attention_heads", 1, 1024, false, 0);
    c->n_kv_heads = read_int(&r, text, "num_key_value_heads", 1, 1024, true, c->n_heads);
    c->n_ff = read_int(&r, text, "intermediate_size", 1, 1 << 20, false, 0);
    c->head_dim = read_int(&r, text, "head_dim", 2, 512, true, c->n_heads ? c->n_embd / c->n_heads : 0);
    c->n_ctx_train = read_int(&r, text, "max_position_embeddings", 1, 1 << 24, true, 32768);
    c->norm_eps = (float)read_num(&r, text, "rms_norm_eps", 0.0, 1.0, 1e-6);
    const struct json_value *tie = json_get(text, "tie_word_embeddings");
    if (json_is_null(tie)) tie = json_get(root, "tie_word_embeddings");
    c->tie_embeddings = tie && tie->type == JSON_BOOL && tie->b;
    if (!r.rc && (c->n_heads % c->n_kv_heads != 0 || c->head_dim % 2 != 0))
        r.rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: %d heads cannot share %d KV heads of dim %d", name, c->n_heads,
                       c->n_kv_heads, c->head_dim);
    const struct json_value *bias = json_get(text, "attention_bias");
    if (!r.rc && bias && bias->type == JSON_BOOL && bias->b)
        r.rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: attention_bias is not supported by Qwen3", name);
    const char *act = json_string(json_get(text, "hidden_act"));
    if (!r.rc && act && strcmp(act, "silu") != 0)
        r.rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: hidden_act '%s' is not supported", name, act);
    if (!r.rc) read_rope(&r, text, c);
    c->image_token_id = read_int(&r, root, "image_token_id", 0, INT32_MAX, true, -1);
    c->video_token_id = read_int(&r, root, "video_token_id", 0, INT32_MAX, true, -1);
    c->vision_start_token_id = read_int(&r, root, "vision_start_token_id", 0, INT32_MAX, true, -1);
    c->vision_end_token_id = read_int(&r, root, "vision_end_token_id", 0, INT32_MAX, true, -1);
    read_eos(&r, json_get(root, "eos_token_id"), c);
    if (!r.rc && gen) {
        rc = json_parse(gen, gen_n, &gdoc, e);
        if (rc) {
            rc = qw_fail(e, rc, "generation_config.json: not valid JSON");
            goto done;
        }
        struct reader gr = {"generation_config.json", e, QWGLM_OK};
        if (gdoc.root.type == JSON_OBJECT) read_generation(&gr, &gdoc.root, c);
        r.rc = gr.rc;
    }
    rc = r.rc;
done:
    json_doc_free(&doc);
    json_doc_free(&gdoc);
    return rc;
}

qwglm_status qw_llm_config_load(const char *dir, struct qw_llm_config *c, struct qw_err *e)
{
    char path[4096], *text = NULL, *gen = NULL;
    size_t n = 0, gen_n = 0;
    if (!qw_path_join(path, sizeof path, dir, "config.json")) return qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", dir);
    qwglm_status rc = qw_read_file(path, MAX_CONFIG_BYTES, &text, &n, e);
    if (rc) return rc;
    if (qw_path_join(path, sizeof path, dir, "generation_config.json") && qw_file_exists(path)) {
        rc = qw_read_file(path, MAX_CONFIG_BYTES, &gen, &gen_n, e);
        if (rc) {
            qw_free(text);
            return rc;
        }
    }
    rc = qw_llm_config_parse(text, n, gen, gen_n, "config.json", c, e);
    qw_free(text);
    qw_free(gen);
    return rc;
}
