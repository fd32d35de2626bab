/* Loading models: configuration, checkpoint, backend, weights. */
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "base/file.h"
#include "engine.h"
#include "ops/quant.h"
#include "vision.h"

qwglm_model_params qwglm_model_default_params(void)
{
    return (qwglm_model_params){.dtype = QWGLM_DTYPE_AUTO, .n_threads = 0};
}

int qwglm_dtype_parse(const char *s)
{
    static const char *const names[] = {"auto", "f32", "bf16", "q8", "q4"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* The dtype a `qwglm quantize` checkpoint stores its layers in (the first layer's MLP), or -1 for a plain one. */
static int stored_quant_dtype(const struct st_set *st, const struct qw_llm_config *cfg)
{
    char name[256];
    snprintf(name, sizeof name, "%slayers.0.mlp.up_proj.weight", cfg->prefix);
    const struct st_tensor *t = st_set_find(st, name);
    enum qw_dtype dt;
    int64_t rows, cols;
    if (!t || qw_qfile_tensor(qw_qfile_of(st, t), t, &dt, &rows, &cols, NULL) != QWGLM_OK) return -1;
    return qw_dtype_block(dt) > 1 ? (int)dt : -1;
}

static enum qw_dtype weight_dtype(qwglm_dtype d, const struct st_set *st)
{
    switch (d) {
    case QWGLM_DTYPE_F32: return QW_DTYPE_F32;
    case QWGLM_DTYPE_BF16: return QW_DTYPE_BF16;
    case QWGLM_DTYPE_Q8: return QW_DTYPE_Q8;
    case QWGLM_DTYPE_Q4: return QW_DTYPE_Q4;
    case QWGLM_DTYPE_AUTO: break;
    }
    /* keep the checkpoint's precision: f32 stays f32, half types become bf16 */
    for (int i = 0; st && i < st->n_files; i++)
        for (int j = 0; j < st->files[i].n_tensors; j++)
            if (st->files[i].tensors[j].dtype == ST_F32 && st->files[i].tensors[j].n_dims == 2) return QW_DTYPE_F32;
    return QW_DTYPE_BF16;
}

static qwglm_dtype public_dtype(enum qw_dtype d)
{
    switch (d) {
    case QW_DTYPE_F32: return QWGLM_DTYPE_F32;
    case QW_DTYPE_Q8: return QWGLM_DTYPE_Q8;
    case QW_DTYPE_Q4: return QWGLM_DTYPE_Q4;
    default: return QWGLM_DTYPE_BF16;
    }
}

/* config.json text of a file (random weights: no directory around it). */
static qwglm_status config_from_file(const char *path, struct qw_llm_config *cfg, struct qw_err *e)
{
    char *text;
    size_t n;
    qwglm_status rc = qw_read_file(path, 16u << 20, &text, &n, e);
    if (rc) return rc;
    rc = qw_llm_config_parse(text, n, NULL, 0, path, cfg, e);
    qw_free(text);
    return rc;
}

qwglm_status qw_model_open(const struct qw_model_source *src, const qwglm_model_params *p, qwglm_model **out,
                           struct qw_err *e)
{
    *out = NULL;
    qwglm_model_params defaults = qwglm_model_default_params();
    if (!p) p = &defaults;
    const char *name = src->random ? src->config : src->dir;
    if (!name) return qw_fail(e, QWGLM_ERR_ARG, "model: no directory or config");
    qwglm_model *m = qw_calloc(1, sizeof *m);
    if (!m || !(m->dir = qw_strndup(name, strlen(name)))) {
        qw_free(m);
        return qw_fail(e, QWGLM_ERR_NOMEM, "model");
    }
    m->log = (struct qw_log){p->log, p->log_user};
    int64_t t0 = qw_time_us();
    qwglm_status rc = src->random ? config_from_file(src->config, &m->cfg, e) : qw_llm_config_load(src->dir, &m->cfg, e);
    if (!rc && !src->random) rc = st_set_open(&m->st, src->dir, e);
    if (!rc) rc = cpu_backend_create_isa(p->n_threads, src->isa, &m->be, e);
    if (!rc) {
        enum qw_dtype wt = weight_dtype(p->dtype, src->random ? NULL : &m->st);
        int stored = src->random ? -1 : stored_quant_dtype(&m->st, &m->cfg);
        if (stored >= 0 && p->dtype != QWGLM_DTYPE_AUTO && (int)wt != stored)
            rc = qw_fail(e, QWGLM_ERR_ARG, "%s is quantized to %s: load it with --dtype %s or auto", name,
                         qw_dtype_name((enum qw_dtype)stored), qw_dtype_name((enum qw_dtype)stored));
        if (stored >= 0) wt = (enum qw_dtype)stored;
        if (!rc) {
            qw_log(&m->log, QWGLM_LOG_INFO, "loading %s: %s, %d layers, hidden %d, vocab %d, weights %s%s", name,
                   m->cfg.arch_name, m->cfg.n_layers, m->cfg.n_embd, m->cfg.n_vocab, qw_dtype_name(wt),
                   src->random ? " (random)" : "");
            if (src->random && src->vision_only) rc = QWGLM_OK; /* no language model */
            else if (src->random) rc = qwen3_load_random(&m->net, &m->cfg, &m->be, wt, src->seed, e);
            else rc = qwen3_load(&m->net, &m->cfg, &m->st, &m->be, wt, e);
            m->dtype = public_dtype(wt);
            if (!rc && !src->random) rc = qw_model_vision_load(m, wt, e);
            if (!rc && src->random) rc = qw_model_vision_random(m, src->config, wt, src->seed, src->vision_blocks, e);
        }
    }
    if (rc) {
        qwglm_model_free(m);
        return rc;
    }
    qw_log(&m->log, QWGLM_LOG_INFO, "loaded in %.2f s: %.1f MiB of weights", (double)(qw_time_us() - t0) / 1e6,
           (double)m->net.weight_bytes / (1 << 20));
    *out = m;
    return QWGLM_OK;
}

qwglm_status qwglm_model_load(const char *dir, const qwglm_model_params *p, qwglm_model **out, char *err)
{
    struct qw_err e = {0};
    struct qw_model_source src = {.dir = dir};
    qwglm_status rc = qw_model_open(&src, p, out, &e);
    qw_err_copy(err, &e);
    return rc;
}

void qwglm_model_free(qwglm_model *m)
{
    if (!m) return;
    qw_model_vision_free(m);
    qwen3_free(&m->net);
    if (m->be.ops) m->be.ops->free(m->be.ctx);
    st_set_close(&m->st);
    qw_free(m->dir);
    qw_free(m);
}

void qwglm_model_get_info(const qwglm_model *m, qwglm_model_info *info)
{
    memset(info, 0, sizeof *info);
    const struct qw_llm_config *c = &m->cfg;
    info->arch = c->arch_name;
    info->n_vocab = c->n_vocab;
    info->n_layers = c->n_layers;
    info->n_embd = c->n_embd;
    info->n_heads = c->n_heads;
    info->n_kv_heads = c->n_kv_heads;
    info->head_dim = c->head_dim;
    info->n_ff = c->n_ff;
    info->n_ctx_train = c->n_ctx_train;
    info->dtype = m->dtype;
    info->weight_bytes = m->net.weight_bytes;
    info->n_eos = c->n_eos;
    memcpy(info->eos, c->eos, sizeof info->eos);
}

qwglm_sampling qwglm_sampling_greedy(void)
{
    return (qwglm_sampling){.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                            .repetition_penalty = 1.0f, .penalty_last_n = -1, .seed = 0};
}

qwglm_sampling qwglm_model_sampling_defaults(const qwglm_model *m)
{
    qwglm_sampling s = qwglm_sampling_greedy();
    const struct qw_llm_config *c = &m->cfg;
    if (c->do_sample) {
        s.temperature = c->temperature;
        s.top_k = c->top_k;
        s.top_p = c->top_p;
        s.min_p = c->min_p;
    }
    s.repetition_penalty = c->repetition_penalty;
    return s;
}

qwglm_generate_params qwglm_generate_default_params(const qwglm_model *m)
{
    return (qwglm_generate_params){.sampling = qwglm_model_sampling_defaults(m), .max_tokens = -1,
                                   .n_stop_ids = m->cfg.n_eos, .stop_ids = m->cfg.eos};
}
