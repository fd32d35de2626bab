/* Sessions: the KV cache, scratch memory, positions and sampler of one conversation, and the generation loop. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "vision.h"

qwglm_session_params qwglm_session_default_params(void) { return (qwglm_session_params){.n_ctx = 0}; }

void qwglm_session_close(qwglm_session *s)
{
    if (!s) return;
    qw_session_vision_free(s);
    qwen3_kv_free(&s->kv, &s->m->net);
    if (s->scratch.buf) s->m->be.ops->buf_free(s->m->be.ctx, s->scratch.buf);
    qw_arena_free(&s->host);
    qw_sampler_free(&s->sampler);
    qw_free(s->logits);
    qw_free(s->tokens);
    qw_free(s->max_pos);
    for (int i = 0; i < 3; i++) qw_free(s->pos[i]);
    qw_free(s);
}

qwglm_status qwglm_session_open(qwglm_model *m, const qwglm_session_params *p, qwglm_session **out, char *err)
{
    struct qw_err e = {0};
    *out = NULL;
    qwglm_session_params defaults = qwglm_session_default_params();
    if (!p) p = &defaults;
    int n_ctx = p->n_ctx > 0 ? p->n_ctx : (m->cfg.n_ctx_train < 4096 ? m->cfg.n_ctx_train : 4096);
    if (p->n_ctx < 0 || n_ctx > m->cfg.n_ctx_train) {
        qw_fail(&e, QWGLM_ERR_ARG, "context of %d tokens: the model supports 1 to %d", p->n_ctx, m->cfg.n_ctx_train);
        qw_err_copy(err, &e);
        return e.status;
    }
    qwglm_session *s = qw_calloc(1, sizeof *s);
    if (!s) {
        qw_fail(&e, QWGLM_ERR_NOMEM, "session");
        qw_err_copy(err, &e);
        return e.status;
    }
    s->m = m;
    s->n_ctx = n_ctx;
    s->n_batch = n_ctx < QW_MAX_BATCH ? n_ctx : QW_MAX_BATCH;
    const int V = m->cfg.n_vocab;
    size_t scratch = qwen3_scratch_bytes(&m->net, s->n_batch, 1);
    qwglm_status rc = qwen3_kv_init(&s->kv, &m->net, n_ctx, &e);
    if (!rc) rc = m->be.ops->buf_alloc(m->be.ctx, scratch, &s->scratch.buf, &e);
    if (!rc) {
        s->scratch.cap = scratch;
        if (!qw_arena_init(&s->host, qwen3_host_bytes(&m->net, s->n_batch))) rc = qw_fail(&e, QWGLM_ERR_NOMEM, "session");
    }
    if (!rc) rc = qw_sampler_init(&s->sampler, V, &e);
    if (!rc) {
        s->logits = qw_malloc((size_t)V * sizeof *s->logits);
        s->tokens = qw_malloc((size_t)n_ctx * sizeof *s->tokens);
        s->max_pos = qw_malloc((size_t)n_ctx * sizeof *s->max_pos);
        for (int i = 0; i < 3; i++) s->pos[i] = qw_malloc((size_t)s->n_batch * sizeof *s->pos[i]);
        if (!s->logits || !s->tokens || !s->max_pos || !s->pos[0] || !s->pos[1] || !s->pos[2])
            rc = qw_fail(&e, QWGLM_ERR_NOMEM, "session buffers");
    }
    if (rc) {
        qw_err_copy(err, &e);
        qwglm_session_close(s);
        return rc;
    }
    qw_log(&m->log, QWGLM_LOG_DEBUG, "session: context %d, KV cache %.1f MiB, scratch %.1f MiB", n_ctx,
           2.0 * m->cfg.n_layers * n_ctx * m->cfg.n_kv_heads * m->cfg.head_dim *
               (double)qw_dtype_block_bytes(m->net.kv_dtype) / (1 << 20),
           (double)scratch / (1 << 20));
    *out = s;
    return QWGLM_OK;
}

const char *qwglm_session_error(const qwglm_session *s) { return s->err.msg; }
int qwglm_session_n_past(const qwglm_session *s) { return s->n_past; }
int qwglm_session_n_ctx(const qwglm_session *s) { return s->n_ctx; }

/* Starts a public call: the previous call's error is forgotten. */
static void begin(qwglm_session *s) { memset(&s->err, 0, sizeof s->err); }

qwglm_status qwglm_session_truncate(qwglm_session *s, int n)
{
    begin(s);
    if (n < 0 || n > s->n_past)
        return qw_fail(&s->err, QWGLM_ERR_ARG, "cannot keep %d tokens of %d", n, s->n_past);
    s->n_past = n;
    s->next_pos = 0;
    for (int i = 0; i < n; i++)
        if (s->max_pos[i] + 1 > s->next_pos) s->next_pos = s->max_pos[i] + 1;
    s->have_logits = false;
    return QWGLM_OK;
}

/* The part of an injection that falls in rows [c0, c0 + cn) of the whole input, in chunk coordinates. */
static bool clip_inject(const struct qwen3_inject *in, int c0, int cn, struct qwen3_inject *out)
{
    int lo = in->row0 > c0 ? in->row0 : c0, hi = in->row0 + in->n < c0 + cn ? in->row0 + in->n : c0 + cn;
    if (lo >= hi) return false;
    *out = *in;
    out->row0 = lo - c0;
    out->n = hi - lo;
    out->embeds = qw_rows(in->embeds, lo - in->row0, hi - lo);
    for (int k = 0; k < in->n_deepstack; k++) out->deepstack[k] = qw_rows(in->deepstack[k], lo - in->row0, hi - lo);
    return true;
}

qwglm_status qw_session_eval_batch(qwglm_session *s, const int32_t *ids, int n, const int32_t *const pos[3],
                                   const struct qwen3_inject *inject, int n_inject, bool want_logits)
{
    const struct qw_llm_config *c = &s->m->cfg;
    if (n <= 0) return qw_fail(&s->err, QWGLM_ERR_ARG, "nothing to evaluate");
    if (n > s->n_ctx - s->n_past)
        return qw_fail(&s->err, QWGLM_ERR_CONTEXT, "%d more tokens do not fit: %d of the context's %d are in use", n,
                       s->n_past, s->n_ctx);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->n_vocab)
            return qw_fail(&s->err, QWGLM_ERR_ARG, "token id %d at %d is outside the vocabulary [0, %d)", ids[i], i,
                           c->n_vocab);
    const int n_past0 = s->n_past;
    const int32_t next_pos0 = s->next_pos;
    struct qwen3_inject *parts = NULL;
    if (n_inject > 0 && !(parts = qw_malloc((size_t)n_inject * sizeof *parts)))
        return qw_fail(&s->err, QWGLM_ERR_NOMEM, "injections");
    qwglm_status rc = QWGLM_OK;
    for (int c0 = 0; c0 < n && !rc; c0 += s->n_batch) {
        int cn = n - c0 < s->n_batch ? n - c0 : s->n_batch;
        for (int i = 0; i < cn; i++)
            for (int a = 0; a < 3; a++) s->pos[a][i] = pos ? pos[a][c0 + i] : s->next_pos + i;
        int n_parts = 0;
        for (int i = 0; i < n_inject; i++) n_parts += clip_inject(&inject[i], c0, cn, &parts[n_parts]);
        bool last = c0 + cn == n;
        struct qwen3_batch b = {
            .n = cn, .ids = ids + c0, .pos = {s->pos[0], s->pos[1], s->pos[2]}, .kv_pos0 = s->n_past,
            .n_inject = n_parts, .inject = parts, .n_logits = last && want_logits ? 1 : 0, .logits = s->logits,
        };
        rc = qwen3_forward(&s->m->net, &s->kv, &s->scratch, &s->host, &b, &s->err);
        if (rc) break;
        for (int i = 0; i < cn; i++) {
            int32_t mp = s->pos[0][i];
            if (s->pos[1][i] > mp) mp = s->pos[1][i];
            if (s->pos[2][i] > mp) mp = s->pos[2][i];
            s->tokens[s->n_past + i] = ids[c0 + i];
            s->max_pos[s->n_past + i] = mp;
            if (mp + 1 > s->next_pos) s->next_pos = mp + 1;
        }
        s->n_past += cn;
    }
    qw_free(parts);
    if (rc) {
        s->n_past = n_past0;
        s->next_pos = next_pos0;
        s->have_logits = false;
        return rc;
    }
    s->have_logits = want_logits;
    return QWGLM_OK;
}

qwglm_status qwglm_session_eval(qwglm_session *s, const int32_t *ids, int n, float *logits)
{
    begin(s);
    qwglm_status rc = qw_session_eval_batch(s, ids, n, NULL, NULL, 0, true);
    if (!rc && logits) memcpy(logits, s->logits, (size_t)s->m->cfg.n_vocab * sizeof *logits);
    return rc;
}

static bool is_stop(const qwglm_generate_params *p, int32_t id)
{
    for (int i = 0; i < p->n_stop_ids; i++)
        if (p->stop_ids[i] == id) return true;
    return false;
}

qwglm_status qwglm_session_generate(qwglm_session *s, const int32_t *prompt, int n_prompt,
                                    const qwglm_generate_params *p, qwglm_token_fn fn, void *user)
{
    begin(s);
    qwglm_generate_params defaults = qwglm_generate_default_params(s->m);
    if (!p) p = &defaults;
    qwglm_status rc;
    if (n_prompt > 0 && (rc = qw_session_eval_batch(s, prompt, n_prompt, NULL, NULL, 0, true))) return rc;
    if (!s->have_logits) return qw_fail(&s->err, QWGLM_ERR_ARG, "nothing to continue from: evaluate a prompt first");
    qw_sampler_seed(&s->sampler, p->sampling.seed);
    for (int produced = 0; p->max_tokens < 0 || produced < p->max_tokens; produced++) {
        int32_t id = qw_sampler_sample(&s->sampler, &p->sampling, s->logits, s->tokens, s->n_past);
        if (fn && fn(id, s->logits, user)) return qw_fail(&s->err, QWGLM_ERR_CANCELLED, "stopped by the caller");
        if (is_stop(p, id) || s->n_past >= s->n_ctx) break;
        if (p->max_tokens >= 0 && produced + 1 >= p->max_tokens) break; /* no need to evaluate the last one */
        if ((rc = qw_session_eval_batch(s, &id, 1, NULL, NULL, 0, true))) return rc;
    }
    return QWGLM_OK;
}
