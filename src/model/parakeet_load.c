/* Parakeet TDT: configuration and weights from a transformers-format directory. Every shape is checked against the
 * configuration before anything is uploaded; layout changes (conv weights, the subsampling output's column order,
 * batch norm folded into the depthwise conv, the two LSTM matrices side by side) happen here, once. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/fp.h"
#include "base/mem.h"
#include "parakeet.h"

#define MAX_DIM 65536

/* ---- configuration ---- */

static qwglm_status read_json(const char *dir, const char *name, struct json_doc *doc, bool *found, struct qw_err *e)
{
    char path[4096];
    if (!qw_path_join(path, sizeof path, dir, name)) return qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", dir);
    *found = qw_file_exists(path);
    if (!*found) return QWGLM_OK;
    char *text;
    size_t n;
    qwglm_status rc = qw_read_file(path, 16u << 20, &text, &n, e);
    if (rc) return rc;
    rc = json_parse(text, n, doc, e);
    qw_free(text);
    if (rc) return qw_fail(e, rc, "%s: invalid JSON", path);
    return QWGLM_OK;
}

static bool get_int(const struct json_value *obj, const char *key, int lo, int hi, int *out)
{
    int64_t v;
    if (!json_int(json_get(obj, key), &v) || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static bool get_bool(const struct json_value *obj, const char *key, bool dflt)
{
    const struct json_value *v = json_get(obj, key);
    return v && v->type == JSON_BOOL ? v->b : dflt;
}

#define NEED_INT(obj, key, lo, hi, dst)                                                                            \
    do {                                                                                                           \
        if (!get_int(obj, key, lo, hi, dst))                                                                       \
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: '%s' missing or outside [%d, %d]", dir, key, lo,  \
                           hi);                                                                                    \
    } while (0)

static qwglm_status parse_config(struct parakeet_config *c, const char *dir, const struct json_value *root,
                                 struct qw_err *e)
{
    const struct json_value *arch = json_get(root, "architectures");
    bool tdt = false;
    if (arch && arch->type == JSON_ARRAY)
        for (uint32_t i = 0; i < arch->n; i++) {
            const char *s = json_string(&arch->u.items[i]);
            if (s && strcmp(s, "ParakeetForTDT") == 0) tdt = true;
        }
    const char *mt = json_string(json_get(root, "model_type"));
    if (!tdt && !(mt && strcmp(mt, "parakeet_tdt") == 0))
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: not a ParakeetForTDT checkpoint", dir);
    const struct json_value *enc = json_get(root, "encoder_config");
    if (!enc || enc->type != JSON_OBJECT)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: no encoder_config", dir);
    NEED_INT(enc, "hidden_size", 1, MAX_DIM, &c->d_model);
    NEED_INT(enc, "num_hidden_layers", 1, PK_MAX_LAYERS, &c->n_layers);
    NEED_INT(enc, "num_attention_heads", 1, 1024, &c->n_heads);
    NEED_INT(enc, "intermediate_size", 1, 4 * MAX_DIM, &c->d_ff);
    NEED_INT(enc, "conv_kernel_size", 1, 255, &c->conv_kernel);
    NEED_INT(enc, "num_mel_bins", 1, 1024, &c->n_mels);
    NEED_INT(enc, "subsampling_conv_channels", 1, 4096, &c->sub_channels);
    int factor = 8;
    if (!get_int(enc, "subsampling_conv_kernel_size", 1, 15, &c->sub_kernel)) c->sub_kernel = 3;
    if (!get_int(enc, "subsampling_conv_stride", 2, 2, &c->sub_stride)) c->sub_stride = 2;
    if (!get_int(enc, "subsampling_factor", 2, 1 << (PK_MAX_SUB + 1), &factor)) factor = 8;
    c->sub_layers = 0;
    while ((1 << c->sub_layers) < factor) c->sub_layers++;
    if ((1 << c->sub_layers) != factor || c->sub_layers < 1 || c->sub_layers > PK_MAX_SUB + 1)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: subsampling_factor %d unsupported", dir, factor);
    if (c->d_model % c->n_heads)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: hidden_size %d not divisible by %d heads", dir,
                       c->d_model, c->n_heads);
    if (c->conv_kernel % 2 == 0 || c->sub_kernel % 2 == 0)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: kernel sizes must be odd", dir);
    c->head_dim = c->d_model / c->n_heads;
    if (c->head_dim > 512) return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: head size %d", dir, c->head_dim);
    c->scale_input = get_bool(enc, "scale_input", false);
    c->attn_bias = get_bool(enc, "attention_bias", false);
    c->conv_bias = get_bool(enc, "convolution_bias", false);
    const char *act = json_string(json_get(enc, "hidden_act"));
    if (act && strcmp(act, "silu") != 0 && strcmp(act, "swish") != 0)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: encoder activation '%s' unsupported", dir, act);
    act = json_string(json_get(root, "hidden_act"));
    if (act && strcmp(act, "relu") != 0)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: joint activation '%s' unsupported", dir, act);

    NEED_INT(root, "vocab_size", 2, 1 << 20, &c->vocab);
    NEED_INT(root, "blank_token_id", 0, c->vocab - 1, &c->blank);
    NEED_INT(root, "decoder_hidden_size", 1, MAX_DIM, &c->pred_hidden);
    if (!get_int(root, "num_decoder_layers", 1, PK_MAX_LSTM, &c->pred_layers)) c->pred_layers = 2;
    if (!get_int(root, "max_symbols_per_step", 0, 1000, &c->max_symbols)) c->max_symbols = 10;
    const struct json_value *d = json_get(root, "durations");
    if (!d || d->type != JSON_ARRAY || d->n < 1 || d->n > PK_MAX_DURATIONS)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: 'durations' missing or longer than %d", dir,
                       PK_MAX_DURATIONS);
    c->n_durations = (int)d->n;
    for (uint32_t i = 0; i < d->n; i++) {
        int64_t v;
        if (!json_int(&d->u.items[i], &v) || v < 0 || v > 100)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s/config.json: duration %u invalid", dir, i);
        c->durations[i] = (int)v;
    }
    return QWGLM_OK;
}

static qwglm_status parse_preprocessor(struct parakeet_config *c, const char *dir, struct qw_err *e)
{
    /* defaults: the values every Parakeet checkpoint uses */
    c->sample_rate = 16000;
    c->n_fft = 512;
    c->hop = 160;
    c->win = 400;
    c->preemphasis = 0.97f;
    const char *names[] = {"processor_config.json", "preprocessor_config.json"};
    for (int i = 0; i < 2; i++) {
        struct json_doc doc;
        bool found;
        qwglm_status rc = read_json(dir, names[i], &doc, &found, e);
        if (rc) return rc;
        if (!found) continue;
        const struct json_value *fe = json_get(&doc.root, "feature_extractor");
        if (!fe) fe = &doc.root;
        int mels = c->n_mels;
        bool ok = true;
        if (json_get(fe, "sampling_rate")) ok &= get_int(fe, "sampling_rate", 1000, 192000, &c->sample_rate);
        if (json_get(fe, "n_fft")) ok &= get_int(fe, "n_fft", 16, 65536, &c->n_fft);
        if (json_get(fe, "hop_length")) ok &= get_int(fe, "hop_length", 1, 65536, &c->hop);
        if (json_get(fe, "win_length")) ok &= get_int(fe, "win_length", 2, 65536, &c->win);
        if (json_get(fe, "feature_size")) ok &= get_int(fe, "feature_size", 1, 1024, &mels);
        double pe;
        if (json_number(json_get(fe, "preemphasis"), &pe) && pe >= 0 && pe < 1) c->preemphasis = (float)pe;
        json_doc_free(&doc);
        if (!ok) return qw_fail(e, QWGLM_ERR_FORMAT, "%s/%s: invalid feature extractor settings", dir, names[i]);
        if (mels != c->n_mels)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s/%s: feature_size %d but the encoder takes %d mel bins", dir,
                           names[i], mels, c->n_mels);
        break;
    }
    return QWGLM_OK;
}

/* ---- weights ---- */

static float rand_unit(struct parakeet_model *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return (float)((m->rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* A made-up tensor of the expected shape: norm scales and variances near 1, small biases, matrices uniform with
 * variance 1 / fan_in, so activations stay O(1) through the layers. Owned by m->rand_t until released. */
static const struct st_tensor *make_random(struct parakeet_model *m, const char *name, int nd, const int64_t *shape,
                                           struct qw_err *e)
{
    struct st_tensor *t = &m->rand_t[m->n_rand++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = ST_F32;
    t->n_dims = nd;
    t->numel = 1;
    for (int i = 0; i < nd; i++) t->shape[i] = shape[i], t->numel *= shape[i];
    float *p = qw_malloc((size_t)t->numel * sizeof(float));
    if (!p) {
        qw_fail(e, QWGLM_ERR_NOMEM, "random tensor '%s'", name);
        return NULL;
    }
    int64_t fan_in = nd > 1 ? t->numel / shape[0] : 1;
    bool ones = strstr(name, "norm") && (strstr(name, ".weight") || strstr(name, "running_var"));
    bool small = nd == 1 || strstr(name, "bias_u") || strstr(name, "bias_v");
    float a = sqrtf(3.0f / (float)fan_in);
    for (int64_t i = 0; i < t->numel; i++) {
        float r = rand_unit(m);
        p[i] = ones ? 1.0f + 0.1f * r : small ? 0.02f * r : a * r;
    }
    if (strcmp(name, "decoder.embedding.weight") == 0) /* the blank's row is the zero padding row */
        memset(p + (shape[0] - 1) * shape[1], 0, (size_t)shape[1] * sizeof(float));
    t->data = p;
    t->size = (size_t)t->numel * 4;
    return t;
}

/* Frees the last made-up tensor unless the backend reads it in place (then the model keeps it). */
static void release_random(struct parakeet_model *m, bool keep);

static const struct st_tensor *find(struct parakeet_model *m, const char *name, int nd, const int64_t *shape,
                                    struct qw_err *e)
{
    if (m->random) {
        if (m->n_rand == 8) release_random(m, false);
        return make_random(m, name, nd, shape, e);
    }
    const struct st_tensor *t = st_set_find(&m->st, name);
    if (!t) {
        qw_fail(e, QWGLM_ERR_FORMAT, "checkpoint: tensor '%s' missing", name);
        return NULL;
    }
    if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16) {
        qw_fail(e, QWGLM_ERR_FORMAT, "checkpoint: tensor '%s' has dtype %s", name, st_dtype_name(t->dtype));
        return NULL;
    }
    bool ok = t->n_dims == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[96] = "", got[96] = "";
        for (int i = 0; i < nd; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "", (long long)shape[i]);
        for (int i = 0; i < t->n_dims && i < ST_MAX_DIMS; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        qw_fail(e, QWGLM_ERR_FORMAT, "checkpoint: tensor '%s' has shape [%s], expected [%s]", name, got, want);
        return NULL;
    }
    return t;
}

static enum qw_dtype st_to_qw(enum st_dtype t)
{
    return t == ST_F32 ? QW_DTYPE_F32 : t == ST_BF16 ? QW_DTYPE_BF16 : QW_DTYPE_F16;
}

static void to_f32(const struct st_tensor *t, float *dst)
{
    for (int64_t i = 0; i < t->numel; i++) {
        const uint8_t *p = (const uint8_t *)t->data;
        if (t->dtype == ST_F32) {
            memcpy(dst + i, p + i * 4, 4);
        } else {
            uint16_t h;
            memcpy(&h, p + i * 2, 2);
            dst[i] = t->dtype == ST_BF16 ? bf16_to_f32(h) : f16_to_f32(h);
        }
    }
}

/* A host f32 copy of a tensor (caller frees with qw_free). */
static float *host_copy(const struct st_tensor *t, struct qw_err *e)
{
    size_t bytes;
    if (!size_mul_ok((size_t)t->numel, sizeof(float), &bytes)) bytes = SIZE_MAX;
    float *p = qw_malloc(bytes);
    if (!p) {
        qw_fail(e, QWGLM_ERR_NOMEM, "tensor '%s': host copy", t->name);
        return NULL;
    }
    to_f32(t, p);
    return p;
}

static qwglm_status keep_host(struct parakeet_model *m, void *buf, struct qw_err *e)
{
    if (m->n_host == m->cap_host) {
        int cap = m->cap_host ? m->cap_host * 2 : 64;
        void **h = qw_realloc(m->host, (size_t)cap * sizeof *h);
        if (!h) {
            qw_free(buf);
            return qw_fail(e, QWGLM_ERR_NOMEM, "weights");
        }
        m->host = h;
        m->cap_host = cap;
    }
    m->host[m->n_host++] = buf;
    return QWGLM_OK;
}

static void release_random(struct parakeet_model *m, bool keep_last)
{
    for (int i = 0; i < m->n_rand; i++) {
        if (keep_last && i == m->n_rand - 1) keep_host(m, (void *)m->rand_t[i].data, NULL);
        else qw_free((void *)m->rand_t[i].data);
        m->rand_t[i].data = NULL;
    }
    m->n_rand = 0;
}

/* Uploads host f32 data; takes ownership of buf (kept alive when the backend reads it in place). */
static qwglm_status upload_host(struct parakeet_model *m, float *buf, int64_t rows, int64_t cols,
                                enum qw_dtype dst, struct qw_tensor *out, struct qw_err *e)
{
    if (dst != QW_DTYPE_F32 && cols % qw_dtype_block(dst)) dst = QW_DTYPE_F32;
    qwglm_status rc = m->be->ops->weight_upload(m->be->ctx, buf, QW_DTYPE_F32, rows, cols, dst, out, e);
    if (rc || dst != QW_DTYPE_F32) {
        qw_free(buf);
        return rc;
    }
    m->weight_bytes += (size_t)(rows * cols) * 4;
    return keep_host(m, buf, e);
}

/* A tensor viewed as rows x cols, uploaded as dst (f32 when the width does not fit dst's blocks). */
static qwglm_status load(struct parakeet_model *m, const char *name, int nd, const int64_t *shape, int64_t rows,
                         int64_t cols, enum qw_dtype dst, struct qw_tensor *out, struct qw_err *e)
{
    const struct st_tensor *t = find(m, name, nd, shape, e);
    if (!t) return e->status;
    if (dst != QW_DTYPE_F32 && cols % qw_dtype_block(dst)) dst = QW_DTYPE_F32;
    enum qw_dtype src = st_to_qw(t->dtype);
    if (src != QW_DTYPE_F32 && dst == QW_DTYPE_F32) {
        /* widen on the host: the backend cannot read bf16 in place as f32 */
        float *h = host_copy(t, e);
        if (!h) return e->status;
        return upload_host(m, h, rows, cols, dst, out, e);
    }
    qwglm_status rc = m->be->ops->weight_upload(m->be->ctx, t->data, src, rows, cols, dst, out, e);
    if (!rc) m->weight_bytes += qw_row_bytes(dst, cols) * (size_t)rows;
    if (m->random) release_random(m, !rc && dst == QW_DTYPE_F32);
    return rc;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define ND(...) (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define LOAD(name, rows, cols, dst, out, ...)                                                                      \
    do {                                                                                                           \
        qwglm_status rc_ = load(m, name, ND(__VA_ARGS__), SHAPE(__VA_ARGS__), rows, cols, dst, out, e);            \
        if (rc_) return rc_;                                                                                       \
    } while (0)
#define VEC(name, n, out) LOAD(name, 1, n, QW_DTYPE_F32, out, n)

static qwglm_status load_subsampling(struct parakeet_model *m, enum qw_dtype wt, struct qw_err *e)
{
    const struct parakeet_config *c = &m->cfg;
    const int64_t C = c->sub_channels, k = c->sub_kernel;
    char name[160];
    /* conv0: [C, 1, k, k] is already [C, k k] in the (t, w, c) order with one input channel */
    LOAD("encoder.subsampling.layers.0.weight", C, k * k, QW_DTYPE_F32, &m->sub_w0, C, 1, k, k);
    VEC("encoder.subsampling.layers.0.bias", C, &m->sub_b0);
    for (int i = 0; i < c->sub_layers - 1; i++) {
        int dw = 2 + 3 * i, pw = 3 + 3 * i;
        snprintf(name, sizeof name, "encoder.subsampling.layers.%d.weight", dw);
        LOAD(name, C, k * k, QW_DTYPE_F32, &m->sub_dw[i], C, 1, k, k);
        snprintf(name, sizeof name, "encoder.subsampling.layers.%d.bias", dw);
        VEC(name, C, &m->sub_dwb[i]);
        snprintf(name, sizeof name, "encoder.subsampling.layers.%d.weight", pw);
        LOAD(name, C, C, wt, &m->sub_pw[i], C, C, 1, 1);
        snprintf(name, sizeof name, "encoder.subsampling.layers.%d.bias", pw);
        VEC(name, C, &m->sub_pwb[i]);
    }
    /* the reference flattens (channel, width); our activations are (width, channel): reorder the columns */
    int64_t W = c->n_mels;
    for (int i = 0; i < c->sub_layers; i++) W = (W + 2 * (k / 2) - k) / c->sub_stride + 1;
    const int64_t D = c->d_model, in = C * W;
    const struct st_tensor *t = find(m, "encoder.subsampling.linear.weight", 2, SHAPE(D, in), e);
    if (!t) return e->status;
    float *src = host_copy(t, e), *dst = src ? qw_malloc((size_t)(D * in) * sizeof(float)) : NULL;
    if (!dst) {
        qw_free(src);
        return qw_fail(e, QWGLM_ERR_NOMEM, "subsampling weights");
    }
    for (int64_t o = 0; o < D; o++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t w = 0; w < W; w++) dst[o * in + w * C + ch] = src[o * in + ch * W + w];
    qw_free(src);
    release_random(m, false);
    qwglm_status rc = upload_host(m, dst, D, in, wt, &m->sub_lin_w, e);
    if (rc) return rc;
    VEC("encoder.subsampling.linear.bias", D, &m->sub_lin_b);
    return QWGLM_OK;
}

/* Depthwise conv weight [D, 1, K] with the eval-mode batch norm after it folded in:
 * w' = w g / sqrt(var + eps), b' = (b - mean) g / sqrt(var + eps) + beta. */
static qwglm_status load_dw_bn(struct parakeet_model *m, int l, struct pk_layer *L, struct qw_err *e)
{
    const int64_t D = m->cfg.d_model, K = m->cfg.conv_kernel;
    char name[160];
    const struct st_tensor *t[5];
    const char *parts[5] = {"depthwise_conv.weight", "norm.weight", "norm.bias", "norm.running_mean",
                            "norm.running_var"};
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "encoder.layers.%d.conv.%s", l, parts[i]);
        t[i] = i == 0 ? find(m, name, 3, SHAPE(D, 1, K), e) : find(m, name, 1, SHAPE(D), e);
        if (!t[i]) return e->status;
    }
    float *w = host_copy(t[0], e), *b = qw_calloc((size_t)D, sizeof(float));
    float *g = host_copy(t[1], e), *beta = host_copy(t[2], e), *mean = host_copy(t[3], e), *var = host_copy(t[4], e);
    qwglm_status rc = QWGLM_OK;
    if (!w || !b || !g || !beta || !mean || !var) {
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "conv weights");
        goto done;
    }
    if (m->cfg.conv_bias) {
        snprintf(name, sizeof name, "encoder.layers.%d.conv.depthwise_conv.bias", l);
        const struct st_tensor *tb = find(m, name, 1, SHAPE(D), e);
        if (!tb) {
            rc = e->status;
            goto done;
        }
        to_f32(tb, b);
    }
    for (int64_t c = 0; c < D; c++) {
        if (!(var[c] >= 0.0f)) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "checkpoint: layer %d batch norm variance %g is invalid", l, var[c]);
            goto done;
        }
        double s = (double)g[c] / sqrt((double)var[c] + 1e-5);
        for (int64_t k = 0; k < K; k++) w[c * K + k] = (float)(w[c * K + k] * s);
        b[c] = (float)(((double)b[c] - mean[c]) * s + beta[c]);
    }
    rc = upload_host(m, w, D, K, QW_DTYPE_F32, &L->dw_w, e);
    w = NULL;
    if (!rc) rc = upload_host(m, b, 1, D, QW_DTYPE_F32, &L->dw_b, e);
    b = NULL;
done:
    release_random(m, false);
    qw_free(w);
    qw_free(b);
    qw_free(g);
    qw_free(beta);
    qw_free(mean);
    qw_free(var);
    return rc;
}

static qwglm_status load_layer(struct parakeet_model *m, int l, enum qw_dtype wt, struct qw_err *e)
{
    const struct parakeet_config *c = &m->cfg;
    struct pk_layer *L = &m->layers[l];
    const int64_t D = c->d_model, F = c->d_ff;
    char n[160];
#define NAME(fmt) (snprintf(n, sizeof n, "encoder.layers.%d." fmt, l), n)
    VEC(NAME("norm_feed_forward1.weight"), D, &L->ff1_ln_w);
    VEC(NAME("norm_feed_forward1.bias"), D, &L->ff1_ln_b);
    LOAD(NAME("feed_forward1.linear1.weight"), F, D, wt, &L->ff1_w1, F, D);
    LOAD(NAME("feed_forward1.linear2.weight"), D, F, wt, &L->ff1_w2, D, F);
    VEC(NAME("norm_self_att.weight"), D, &L->att_ln_w);
    VEC(NAME("norm_self_att.bias"), D, &L->att_ln_b);
    LOAD(NAME("self_attn.q_proj.weight"), D, D, wt, &L->wq, D, D);
    LOAD(NAME("self_attn.k_proj.weight"), D, D, wt, &L->wk, D, D);
    LOAD(NAME("self_attn.v_proj.weight"), D, D, wt, &L->wv, D, D);
    LOAD(NAME("self_attn.o_proj.weight"), D, D, wt, &L->wo, D, D);
    LOAD(NAME("self_attn.relative_k_proj.weight"), D, D, wt, &L->wpos, D, D);
    LOAD(NAME("self_attn.bias_u"), 1, D, QW_DTYPE_F32, &L->bias_u, c->n_heads, c->head_dim);
    LOAD(NAME("self_attn.bias_v"), 1, D, QW_DTYPE_F32, &L->bias_v, c->n_heads, c->head_dim);
    VEC(NAME("norm_conv.weight"), D, &L->conv_ln_w);
    VEC(NAME("norm_conv.bias"), D, &L->conv_ln_b);
    LOAD(NAME("conv.pointwise_conv1.weight"), 2 * D, D, wt, &L->pw1_w, 2 * D, D, 1);
    LOAD(NAME("conv.pointwise_conv2.weight"), D, D, wt, &L->pw2_w, D, D, 1);
    qwglm_status rc = load_dw_bn(m, l, L, e);
    if (rc) return rc;
    VEC(NAME("norm_feed_forward2.weight"), D, &L->ff2_ln_w);
    VEC(NAME("norm_feed_forward2.bias"), D, &L->ff2_ln_b);
    LOAD(NAME("feed_forward2.linear1.weight"), F, D, wt, &L->ff2_w1, F, D);
    LOAD(NAME("feed_forward2.linear2.weight"), D, F, wt, &L->ff2_w2, D, F);
    VEC(NAME("norm_out.weight"), D, &L->out_ln_w);
    VEC(NAME("norm_out.bias"), D, &L->out_ln_b);
    if (c->attn_bias) {
        VEC(NAME("feed_forward1.linear1.bias"), F, &L->ff1_b1);
        VEC(NAME("feed_forward1.linear2.bias"), D, &L->ff1_b2);
        VEC(NAME("feed_forward2.linear1.bias"), F, &L->ff2_b1);
        VEC(NAME("feed_forward2.linear2.bias"), D, &L->ff2_b2);
        VEC(NAME("self_attn.q_proj.bias"), D, &L->bq);
        VEC(NAME("self_attn.k_proj.bias"), D, &L->bk);
        VEC(NAME("self_attn.v_proj.bias"), D, &L->bv);
        VEC(NAME("self_attn.o_proj.bias"), D, &L->bo);
    }
    if (c->conv_bias) {
        VEC(NAME("conv.pointwise_conv1.bias"), 2 * D, &L->pw1_b);
        VEC(NAME("conv.pointwise_conv2.bias"), D, &L->pw2_b);
    }
#undef NAME
    return QWGLM_OK;
}

static qwglm_status load_decoder(struct parakeet_model *m, enum qw_dtype wt, struct qw_err *e)
{
    struct parakeet_config *c = &m->cfg;
    const int64_t H = c->pred_hidden, V = c->vocab;
    if (m->random) {
        c->joint_hidden = c->pred_hidden;
    } else {
        const struct st_tensor *ep = st_set_find(&m->st, "encoder_projector.weight");
        if (!ep || ep->n_dims != 2 || ep->shape[0] < 1 || ep->shape[0] > MAX_DIM)
            return qw_fail(e, QWGLM_ERR_FORMAT, "checkpoint: encoder_projector.weight missing or malformed");
        c->joint_hidden = (int)ep->shape[0];
    }
    const int64_t J = c->joint_hidden, D = c->d_model;
    LOAD("encoder_projector.weight", J, D, wt, &m->enc_proj_w, J, D);
    VEC("encoder_projector.bias", J, &m->enc_proj_b);
    LOAD("decoder.embedding.weight", V, H, QW_DTYPE_F32, &m->embed, V, H);
    char n[96];
    for (int l = 0; l < c->pred_layers; l++) {
        const struct st_tensor *t[4];
        const char *parts[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        for (int i = 0; i < 4; i++) {
            snprintf(n, sizeof n, "decoder.lstm.%s_l%d", parts[i], l);
            t[i] = i < 2 ? find(m, n, 2, SHAPE(4 * H, H), e) : find(m, n, 1, SHAPE(4 * H), e);
            if (!t[i]) return e->status;
        }
        float *wi = host_copy(t[0], e), *wh = host_copy(t[1], e), *bi = host_copy(t[2], e), *bh = host_copy(t[3], e);
        float *w = qw_malloc((size_t)(4 * H * 2 * H) * sizeof(float));
        release_random(m, false);
        if (!wi || !wh || !bi || !bh || !w) {
            qw_free(wi), qw_free(wh), qw_free(bi), qw_free(bh), qw_free(w);
            return qw_fail(e, QWGLM_ERR_NOMEM, "LSTM weights");
        }
        for (int64_t r = 0; r < 4 * H; r++) {
            memcpy(w + r * 2 * H, wi + r * H, (size_t)H * sizeof(float));
            memcpy(w + r * 2 * H + H, wh + r * H, (size_t)H * sizeof(float));
            bi[r] += bh[r];
        }
        qw_free(wi), qw_free(wh), qw_free(bh);
        qwglm_status rc = upload_host(m, w, 4 * H, 2 * H, wt, &m->lstm_w[l], e);
        if (!rc) rc = upload_host(m, bi, 1, 4 * H, QW_DTYPE_F32, &m->lstm_b[l], e);
        else qw_free(bi);
        if (rc) return rc;
    }
    LOAD("decoder.decoder_projector.weight", J, H, wt, &m->dec_proj_w, J, H);
    VEC("decoder.decoder_projector.bias", J, &m->dec_proj_b);
    const int64_t NO = V + c->n_durations;
    LOAD("joint.head.weight", NO, J, wt, &m->head_w, NO, J);
    VEC("joint.head.bias", NO, &m->head_b);
    return QWGLM_OK;
}

static qwglm_status load_weights(struct parakeet_model *m, enum qw_dtype wtype, struct qw_err *e);

qwglm_status parakeet_load(struct parakeet_model *m, const char *dir, struct qw_backend *be, enum qw_dtype wtype,
                           struct qw_err *e)
{
    memset(m, 0, sizeof *m);
    m->be = be;
    struct json_doc doc;
    bool found;
    qwglm_status rc = read_json(dir, "config.json", &doc, &found, e);
    if (rc) return rc;
    if (!found) return qw_fail(e, QWGLM_ERR_IO, "%s: no config.json", dir);
    rc = parse_config(&m->cfg, dir, &doc.root, e);
    json_doc_free(&doc);
    if (!rc) rc = parse_preprocessor(&m->cfg, dir, e);
    if (!rc) rc = st_set_open(&m->st, dir, e);
    if (!rc) rc = load_weights(m, wtype, e);
    if (rc) parakeet_free(m);
    return rc;
}

qwglm_status parakeet_load_random(struct parakeet_model *m, const char *config_path, struct qw_backend *be,
                                  enum qw_dtype wtype, uint64_t seed, struct qw_err *e)
{
    memset(m, 0, sizeof *m);
    m->be = be;
    m->random = true;
    m->rng = seed * 2654435761u + 88172645463325252ull;
    struct json_doc doc;
    char *text;
    size_t n;
    qwglm_status rc = qw_read_file(config_path, 16u << 20, &text, &n, e);
    if (rc) return rc;
    rc = json_parse(text, n, &doc, e);
    qw_free(text);
    if (rc) return rc;
    rc = parse_config(&m->cfg, config_path, &doc.root, e);
    json_doc_free(&doc);
    if (!rc) rc = parse_preprocessor(&m->cfg, "", e);
    if (!rc) rc = load_weights(m, wtype, e);
    if (rc) parakeet_free(m);
    return rc;
}

static qwglm_status load_weights(struct parakeet_model *m, enum qw_dtype wtype, struct qw_err *e)
{
    qwglm_status rc;
    m->layers = qw_calloc((size_t)m->cfg.n_layers, sizeof *m->layers);
    if (!m->layers) return qw_fail(e, QWGLM_ERR_NOMEM, "layers");
    rc = load_subsampling(m, wtype, e);
    for (int l = 0; !rc && l < m->cfg.n_layers; l++) rc = load_layer(m, l, wtype, e);
    if (!rc) rc = load_decoder(m, wtype, e);
    release_random(m, false);
    return rc;
}

static void drop(struct parakeet_model *m, struct qw_tensor *t)
{
    if (t->buf) m->be->ops->buf_free(m->be->ctx, t->buf);
    memset(t, 0, sizeof *t);
}

void parakeet_free(struct parakeet_model *m)
{
    if (!m->be) {
        memset(m, 0, sizeof *m);
        return;
    }
    drop(m, &m->sub_w0), drop(m, &m->sub_b0), drop(m, &m->sub_lin_w), drop(m, &m->sub_lin_b);
    for (int i = 0; i < PK_MAX_SUB; i++)
        drop(m, &m->sub_dw[i]), drop(m, &m->sub_dwb[i]), drop(m, &m->sub_pw[i]), drop(m, &m->sub_pwb[i]);
    if (m->layers) {
        for (int l = 0; l < m->cfg.n_layers; l++) {
            struct qw_tensor *t = (struct qw_tensor *)&m->layers[l];
            for (size_t i = 0; i < sizeof(struct pk_layer) / sizeof(struct qw_tensor); i++) drop(m, &t[i]);
        }
        qw_free(m->layers);
    }
    drop(m, &m->enc_proj_w), drop(m, &m->enc_proj_b), drop(m, &m->embed);
    for (int l = 0; l < PK_MAX_LSTM; l++) drop(m, &m->lstm_w[l]), drop(m, &m->lstm_b[l]);
    drop(m, &m->dec_proj_w), drop(m, &m->dec_proj_b), drop(m, &m->head_w), drop(m, &m->head_b);
    for (int i = 0; i < m->n_host; i++) qw_free(m->host[i]);
    qw_free(m->host);
    st_set_close(&m->st);
    memset(m, 0, sizeof *m);
}
