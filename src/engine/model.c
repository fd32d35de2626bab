/* Loading models: configuration, checkpoint, backend, weights. */
#include <string.h>

#include "backend/cpu/cpu.h"
#include "engine.h"
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
    for (int i = 0; i < st->n_files; i++)
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

qwglm_status qwglm_model_load(const char *dir, const qwglm_model_params *p, qwglm_model **out, char *err)
{
    struct qw_err e = {0};
    *out = NULL;
    qwglm_model_params defaults = qwglm_model_default_params();
    if (!p) p = &defaults;
    qwglm_model *m = qw_calloc(1, sizeof *m);
    if (!m || !(m->dir = qw_strndup(dir, strlen(dir)))) {
        qw_free(m);
        qw_fail(&e, QWGLM_ERR_NOMEM, "model");
        qw_err_copy(err, &e);
        return e.status;
    }
    m->log = (struct qw_log){p->log, p->log_user};
    int64_t t0 = qw_time_us();
    qwglm_status rc = qw_llm_config_load(dir, &m->cfg, &e);
    if (!rc) rc = st_set_open(&m->st, dir, &e);
    if (!rc) rc = cpu_backend_create(p->n_threads, &m->be, &e);
    if (!rc) {
        enum qw_dtype wt = weight_dtype(p->dtype, &m->st);
        qw_log(&m->log, QWGLM_LOG_INFO, "loading %s: %s, %d layers, hidden %d, vocab %d, weights %s", dir,
               m->cfg.arch_name, m->cfg.n_layers, m->cfg.n_embd, m->cfg.n_vocab, qw_dtype_name(wt));
        rc = qwen3_load(&m->net, &m->cfg, &m->st, &m->be, wt, &e);
        m->dtype = public_dtype(wt);
        if (!rc) rc = qw_model_vision_load(m, wt, &e);
    }
    if (rc) {
        qw_err_copy(err, &e);
        qwglm_model_free(m);
        return rc;
    }
    qw_log(&m->log, QWGLM_LOG_INFO, "loaded in %.2f s: %.1f MiB of weights", (double)(qw_time_us() - t0) / 1e6,
           (double)m->net.weight_bytes / (1 << 20));
    *out = m;
    return QWGLM_OK;
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
