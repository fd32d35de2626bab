/* The Qwen3 decoder: embedding, then per layer RMSNorm -> attention with per-head q/k RMSNorm and rotary
 * embedding -> residual, RMSNorm -> SwiGLU MLP -> residual; final RMSNorm and the LM head. */
#include "qwen3.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"

/* ---- loading ---- */

struct loader {
    struct qwen3 *m;
    const struct st_set *st;
    enum qw_dtype dtype;
    struct qw_err *e;
};

static int qw_dtype_from_st(enum st_dtype t)
{
    switch (t) {
    case ST_F32: return QW_DTYPE_F32;
    case ST_F16: return QW_DTYPE_F16;
    case ST_BF16: return QW_DTYPE_BF16;
    default: return -1;
    }
}

/* Loads name as a [rows, cols] matrix (cols == 0: a vector of rows values, kept f32 as [1, rows]). */
static qwglm_status load(struct loader *L, const char *name, int64_t rows, int64_t cols, struct qw_tensor *out)
{
    const struct st_tensor *t = st_set_find(L->st, name);
    if (!t) return qw_fail(L->e, QWGLM_ERR_FORMAT, "checkpoint has no tensor '%s'", name);
    bool vector = cols == 0;
    if (vector ? (t->n_dims != 1 || t->shape[0] != rows) : (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols)) {
        char got[64] = "";
        for (int i = 0, w = 0; i < t->n_dims && w < (int)sizeof got - 24; i++)
            w += snprintf(got + w, sizeof got - (size_t)w, i ? ", %lld" : "%lld", (long long)t->shape[i]);
        return vector ? qw_fail(L->e, QWGLM_ERR_FORMAT, "tensor '%s' has shape [%s], config says [%lld]", name, got,
                                (long long)rows)
                      : qw_fail(L->e, QWGLM_ERR_FORMAT, "tensor '%s' has shape [%s], config says [%lld, %lld]", name,
                                got, (long long)rows, (long long)cols);
    }
    int src = qw_dtype_from_st(t->dtype);
    if (src < 0)
        return qw_fail(L->e, QWGLM_ERR_FORMAT, "tensor '%s' has dtype %s; qwglm reads F32, F16 and BF16", name,
                       st_dtype_name(t->dtype));
    enum qw_dtype dst = vector ? QW_DTYPE_F32 : L->dtype;
    if (!vector && cols % qw_dtype_block(dst) != 0) dst = QW_DTYPE_BF16; /* too narrow to quantize */
    int64_t r = vector ? 1 : rows, c = vector ? rows : cols;
    qwglm_status rc = L->m->be->ops->weight_upload(L->m->be->ctx, t->data, (enum qw_dtype)src, r, c, dst, out, L->e);
    if (rc) return qw_fail(L->e, rc, "tensor '%s'", name);
    L->m->weight_bytes += (size_t)r * qw_row_bytes(dst, c);
    return QWGLM_OK;
}

static qwglm_status load_layer(struct loader *L, int l, struct qwen3_layer *ly)
{
    const struct qw_llm_config *c = &L->m->cfg;
    const int64_t D = c->n_embd, hd = c->head_dim, qd = (int64_t)c->n_heads * hd, kd = (int64_t)c->n_kv_heads * hd;
    char name[256];
    qwglm_status rc = QWGLM_OK;
#define LOAD(field, suffix, r, cols)                                                                               \
    do {                                                                                                           \
        snprintf(name, sizeof name, "%slayers.%d.%s", c->prefix, l, suffix);                                       \
        if ((rc = load(L, name, r, cols, &ly->field))) return rc;                                                 \
    } while (0)
    LOAD(attn_norm, "input_layernorm.weight", D, 0);
    LOAD(wq, "self_attn.q_proj.weight", qd, D);
    LOAD(wk, "self_attn.k_proj.weight", kd, D);
    LOAD(wv, "self_attn.v_proj.weight", kd, D);
    LOAD(wo, "self_attn.o_proj.weight", D, qd);
    LOAD(q_norm, "self_attn.q_norm.weight", hd, 0);
    LOAD(k_norm, "self_attn.k_norm.weight", hd, 0);
    LOAD(mlp_norm, "post_attention_layernorm.weight", D, 0);
    LOAD(w_gate, "mlp.gate_proj.weight", c->n_ff, D);
    LOAD(w_up, "mlp.up_proj.weight", c->n_ff, D);
    LOAD(w_down, "mlp.down_proj.weight", D, c->n_ff);
#undef LOAD
    return rc;
}

static void free_tensor(struct qwen3 *m, struct qw_tensor *t)
{
    if (t->buf) m->be->ops->buf_free(m->be->ctx, t->buf);
    memset(t, 0, sizeof *t);
}

void qwen3_free(struct qwen3 *m)
{
    if (!m->be) return;
    if (m->layers) {
        for (int l = 0; l < m->cfg.n_layers; l++) {
            struct qw_tensor *t = (struct qw_tensor *)&m->layers[l];
            for (size_t i = 0; i < sizeof(struct qwen3_layer) / sizeof(struct qw_tensor); i++) free_tensor(m, &t[i]);
        }
    }
    if (!m->lm_head_is_embed) free_tensor(m, &m->lm_head);
    free_tensor(m, &m->embed);
    free_tensor(m, &m->final_norm);
    qw_free(m->layers);
    qw_free(m->inv_freq);
    memset(m, 0, sizeof *m);
}

qwglm_status qwen3_load(struct qwen3 *m, const struct qw_llm_config *cfg, const struct st_set *st,
                        struct qw_backend *be, enum qw_dtype dtype, struct qw_err *e)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->be = be;
    struct loader L = {m, st, dtype, e};
    char name[256];
    const int64_t D = cfg->n_embd, V = cfg->n_vocab;
    qwglm_status rc;
    m->layers = qw_calloc((size_t)cfg->n_layers, sizeof *m->layers);
    m->inv_freq = qw_malloc((size_t)cfg->head_dim / 2 * sizeof *m->inv_freq);
    if (!m->layers || !m->inv_freq) {
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "model tables");
        goto fail;
    }
    snprintf(name, sizeof name, "%sembed_tokens.weight", cfg->prefix);
    if ((rc = load(&L, name, V, D, &m->embed))) goto fail;
    snprintf(name, sizeof name, "%snorm.weight", cfg->prefix);
    if ((rc = load(&L, name, D, 0, &m->final_norm))) goto fail;
    for (int l = 0; l < cfg->n_layers; l++)
        if ((rc = load_layer(&L, l, &m->layers[l]))) goto fail;
    if (st_set_find(st, "lm_head.weight")) {
        if ((rc = load(&L, "lm_head.weight", V, D, &m->lm_head))) goto fail;
    } else {
        m->lm_head = m->embed; /* tied */
        m->lm_head_is_embed = true;
    }
    /* inv_freq[j] = 1 / theta^(2j / hd), each step an f32 operation as the reference performs it */
    for (int j = 0; j < cfg->head_dim / 2; j++) {
        float expo = (float)(2 * j) / (float)cfg->head_dim;
        m->inv_freq[j] = 1.0f / powf((float)cfg->rope_theta, expo);
    }
    return QWGLM_OK;
fail:
    qwen3_free(m);
    return rc;
}

/* ---- KV cache ---- */

qwglm_status qwen3_kv_init(struct qwen3_kv *kv, const struct qwen3 *m, int n_ctx, struct qw_err *e)
{
    memset(kv, 0, sizeof *kv);
    const int L = m->cfg.n_layers;
    const int64_t kd = (int64_t)m->cfg.n_kv_heads * m->cfg.head_dim;
    size_t per = qw_scratch_bytes(QW_DTYPE_F32, n_ctx, kd), total;
    if (n_ctx <= 0 || !size_mul_ok(per, 2 * (size_t)L, &total))
        return qw_fail(e, QWGLM_ERR_ARG, "KV cache of %d tokens is too large", n_ctx);
    kv->k = qw_calloc((size_t)L, sizeof *kv->k);
    kv->v = qw_calloc((size_t)L, sizeof *kv->v);
    if (!kv->k || !kv->v) {
        qwen3_kv_free(kv, m);
        return qw_fail(e, QWGLM_ERR_NOMEM, "KV cache tables");
    }
    qwglm_status rc = m->be->ops->buf_alloc(m->be->ctx, total, &kv->buf, e);
    if (rc) {
        qwen3_kv_free(kv, m);
        return qw_fail(e, rc, "KV cache of %d tokens (%zu MiB)", n_ctx, total >> 20);
    }
    for (int l = 0; l < L; l++) {
        kv->k[l] = (struct qw_tensor){kv->buf, (size_t)(2 * l) * per, QW_DTYPE_F32, n_ctx, kd, kd};
        kv->v[l] = (struct qw_tensor){kv->buf, (size_t)(2 * l + 1) * per, QW_DTYPE_F32, n_ctx, kd, kd};
    }
    kv->n_ctx = n_ctx;
    return QWGLM_OK;
}

void qwen3_kv_free(struct qwen3_kv *kv, const struct qwen3 *m)
{
    if (kv->buf) m->be->ops->buf_free(m->be->ctx, kv->buf);
    qw_free(kv->k);
    qw_free(kv->v);
    memset(kv, 0, sizeof *kv);
}

/* ---- forward ---- */

/* Which position axis (0 t, 1 h, 2 w) frequency j takes. */
static int rope_axis(const struct qw_llm_config *c, int j)
{
    const int *s = c->mrope_section;
    if (s[0] + s[1] + s[2] == 0) return 0;
    if (c->mrope_interleaved) {
        if (j % 3 == 1 && j < 3 * s[1]) return 1;
        if (j % 3 == 2 && j < 3 * s[2]) return 2;
        return 0;
    }
    return j < s[0] ? 0 : j < s[0] + s[1] ? 1 : 2;
}

void qwen3_rope_table(const struct qwen3 *m, int n, const int32_t *const pos[3], float *cs)
{
    const int half = m->cfg.head_dim / 2;
    for (int i = 0; i < n; i++) {
        float *row = cs + (size_t)i * m->cfg.head_dim;
        for (int j = 0; j < half; j++) {
            float ang = (float)pos[rope_axis(&m->cfg, j)][i] * m->inv_freq[j];
            row[j] = cosf(ang);
            row[half + j] = sinf(ang);
        }
    }
}

size_t qwen3_scratch_bytes(const struct qwen3 *m, int n, int n_logits)
{
    const struct qw_llm_config *c = &m->cfg;
    const int64_t qd = (int64_t)c->n_heads * c->head_dim, kd = (int64_t)c->n_kv_heads * c->head_dim;
    return 2 * qw_scratch_bytes(QW_DTYPE_F32, n, c->n_embd) + 2 * qw_scratch_bytes(QW_DTYPE_F32, n, qd) +
           2 * qw_scratch_bytes(QW_DTYPE_F32, n, kd) + 2 * qw_scratch_bytes(QW_DTYPE_F32, n, c->n_ff) +
           qw_scratch_bytes(QW_DTYPE_I32, 1, n) + qw_scratch_bytes(QW_DTYPE_F32, n, c->head_dim) +
           qw_scratch_bytes(QW_DTYPE_F32, n_logits, c->n_vocab);
}

qwglm_status qwen3_forward(struct qwen3 *m, struct qwen3_kv *kv, struct qw_scratch *s, struct qw_arena *host,
                           const struct qwen3_batch *b, struct qw_err *e)
{
    const struct qw_llm_config *c = &m->cfg;
    struct qw_backend *be = m->be;
    const int n = b->n, L = c->n_layers, H = c->n_heads, Hk = c->n_kv_heads, hd = c->head_dim;
    const int64_t D = c->n_embd;
    if (n <= 0 || b->n_logits < 0 || b->n_logits > n || b->kv_pos0 < 0 || b->kv_pos0 > kv->n_ctx - n)
        return qw_fail(e, QWGLM_ERR_ARG, "batch of %d tokens at %d does not fit a context of %d", n, b->kv_pos0,
                       kv->n_ctx);
    qw_scratch_reset(s);
    struct qw_tensor x = qw_scratch_tensor(s, QW_DTYPE_F32, n, D), h = qw_scratch_tensor(s, QW_DTYPE_F32, n, D);
    struct qw_tensor q = qw_scratch_tensor(s, QW_DTYPE_F32, n, (int64_t)H * hd);
    struct qw_tensor att = qw_scratch_tensor(s, QW_DTYPE_F32, n, (int64_t)H * hd);
    struct qw_tensor k = qw_scratch_tensor(s, QW_DTYPE_F32, n, (int64_t)Hk * hd);
    struct qw_tensor v = qw_scratch_tensor(s, QW_DTYPE_F32, n, (int64_t)Hk * hd);
    struct qw_tensor gate = qw_scratch_tensor(s, QW_DTYPE_F32, n, c->n_ff);
    struct qw_tensor up = qw_scratch_tensor(s, QW_DTYPE_F32, n, c->n_ff);
    struct qw_tensor ids = qw_scratch_tensor(s, QW_DTYPE_I32, 1, n);
    struct qw_tensor cs = qw_scratch_tensor(s, QW_DTYPE_F32, n, hd);
    struct qw_tensor logits = qw_scratch_tensor(s, QW_DTYPE_F32, b->n_logits ? b->n_logits : 1, c->n_vocab);
    if (s->overflow) return qw_fail(e, QWGLM_ERR_NOMEM, "scratch too small for a batch of %d tokens", n);

    qwglm_status rc = qw_tensor_write(be, ids, b->ids, e);
    if (rc) return rc;
    /* the rotary table is built on the host (n x hd floats) and uploaded */
    qw_arena_reset(host);
    float *table = qw_arena_alloc(host, (size_t)n * (size_t)hd * sizeof *table, 64);
    if (!table) return qw_fail(e, QWGLM_ERR_NOMEM, "host scratch too small for a batch of %d tokens", n);
    qwen3_rope_table(m, n, b->pos, table);
    if ((rc = qw_tensor_write(be, cs, table, e))) return rc;

    qw_get_rows(be, x, m->embed, ids);
    for (int i = 0; i < b->n_inject; i++) {
        const struct qwen3_inject *in = &b->inject[i];
        if (in->row0 < 0 || in->n < 0 || in->row0 > n - in->n)
            return qw_fail(e, QWGLM_ERR_ARG, "injected rows [%d, %d) outside the batch of %d", in->row0,
                           in->row0 + in->n, n);
        qw_copy(be, qw_rows(x, in->row0, in->n), in->embeds);
    }
    size_t plane = (size_t)n * (size_t)D;
    if (b->hidden && (rc = qw_tensor_read(be, x, b->hidden, e))) return rc;

    struct qw_attn_params ap = {H, Hk, hd, b->kv_pos0 + n, b->kv_pos0, true, 1.0f / sqrtf((float)hd)};
    for (int l = 0; l < L; l++) {
        const struct qwen3_layer *ly = &m->layers[l];
        /* attention */
        qw_rmsnorm(be, h, x, ly->attn_norm, c->norm_eps);
        qw_matmul(be, q, h, ly->wq);
        qw_matmul(be, k, h, ly->wk);
        qw_matmul(be, v, h, ly->wv);
        qw_rmsnorm(be, qw_reshape(q, (int64_t)n * H, hd), qw_reshape(q, (int64_t)n * H, hd), ly->q_norm, c->norm_eps);
        qw_rmsnorm(be, qw_reshape(k, (int64_t)n * Hk, hd), qw_reshape(k, (int64_t)n * Hk, hd), ly->k_norm, c->norm_eps);
        qw_rope(be, q, cs, H, hd);
        qw_rope(be, k, cs, Hk, hd);
        qw_copy(be, qw_rows(kv->k[l], b->kv_pos0, n), k);
        qw_copy(be, qw_rows(kv->v[l], b->kv_pos0, n), v);
        qw_attention(be, att, q, kv->k[l], kv->v[l], &ap);
        qw_matmul(be, h, att, ly->wo);
        qw_add(be, x, x, h);
        /* MLP */
        qw_rmsnorm(be, h, x, ly->mlp_norm, c->norm_eps);
        qw_matmul(be, gate, h, ly->w_gate);
        qw_matmul(be, up, h, ly->w_up);
        qw_swiglu(be, gate, gate, up);
        qw_matmul(be, h, gate, ly->w_down);
        qw_add(be, x, x, h);
        /* DeepStack: visual features join the first layers' outputs at their rows */
        for (int i = 0; i < b->n_inject; i++) {
            const struct qwen3_inject *in = &b->inject[i];
            if (l < in->n_deepstack) {
                struct qw_tensor xr = qw_rows(x, in->row0, in->n);
                qw_add(be, xr, xr, in->deepstack[l]);
            }
        }
        if (b->hidden && l < L - 1 && (rc = qw_tensor_read(be, x, b->hidden + (size_t)(l + 1) * plane, e))) return rc;
    }
    /* final norm: every row when the caller wants all hidden states, else only the rows that need logits */
    int first = b->hidden ? 0 : n - b->n_logits;
    if (n - first > 0) {
        qw_rmsnorm(be, qw_rows(h, first, n - first), qw_rows(x, first, n - first), m->final_norm, c->norm_eps);
        if (b->hidden && (rc = qw_tensor_read(be, h, b->hidden + (size_t)L * plane, e))) return rc;
    }
    if (b->n_logits > 0) {
        qw_matmul(be, logits, qw_rows(h, n - b->n_logits, b->n_logits), m->lm_head);
        if ((rc = qw_tensor_read(be, logits, b->logits, e))) return rc;
    }
    return qw_sync(be, e);
}
