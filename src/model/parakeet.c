/* Parakeet TDT forward passes on the op interface: the FastConformer encoder over a whole utterance (or chunk) and
 * the step-wise prediction network, joint and greedy token-and-duration search. Padding follows the reference:
 * after every subsampling convolution the rows past the valid length are zeroed, attention sees only valid keys,
 * padded query rows attend to nothing, and the conv module zeroes padded rows before its depthwise convolution. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "parakeet.h"

int64_t parakeet_sub_len(const struct parakeet_config *c, int64_t t)
{
    for (int i = 0; i < c->sub_layers; i++) t = (t + 2 * (c->sub_kernel / 2) - c->sub_kernel) / c->sub_stride + 1;
    return t;
}

static int64_t sub_width(const struct parakeet_config *c, int stage)
{
    int64_t w = c->n_mels;
    for (int i = 0; i < stage; i++) w = (w + 2 * (c->sub_kernel / 2) - c->sub_kernel) / c->sub_stride + 1;
    return w;
}

/* Zeroes rows [from, rows) of t. */
static void zero_rows(struct qw_backend *be, struct qw_tensor t, int64_t from)
{
    if (from < t.rows) {
        struct qw_tensor r = qw_rows(t, from < 0 ? 0 : from, t.rows - (from < 0 ? 0 : from));
        qw_affine(be, r, r, 0.0f, 0.0f);
    }
}

/* Scratch bytes one pass over n_frames feature frames needs (a generous upper bound of what encode carves). */
static size_t encode_bytes(const struct parakeet_config *c, int64_t F)
{
    const int64_t C = c->sub_channels, T = parakeet_sub_len(c, F), D = c->d_model;
    size_t sub = 0, total = 0;
    int64_t t = F;
    sub += qw_scratch_bytes(QW_DTYPE_F32, F, c->n_mels);
    for (int i = 1; i <= c->sub_layers; i++) {
        t = (t + 2 * (c->sub_kernel / 2) - c->sub_kernel) / c->sub_stride + 1;
        sub += 2 * qw_scratch_bytes(QW_DTYPE_F32, t, sub_width(c, i) * C);
    }
    int64_t wide = c->d_ff > 2 * D ? c->d_ff : 2 * D;
    total += sub;
    total += 8 * qw_scratch_bytes(QW_DTYPE_F32, T, D);
    total += qw_scratch_bytes(QW_DTYPE_F32, T, wide);
    total += qw_scratch_bytes(QW_DTYPE_F32, T, c->joint_hidden);
    return total + 4096;
}

qwglm_status parakeet_state_init(struct parakeet_state *s, const struct parakeet_model *m, struct qw_err *e)
{
    memset(s, 0, sizeof *s);
    const struct parakeet_config *c = &m->cfg;
    const int64_t H = c->pred_hidden, J = c->joint_hidden, NO = c->vocab + c->n_durations;
    size_t bytes = 0;
    bytes += (size_t)c->pred_layers * (qw_scratch_bytes(QW_DTYPE_F32, 1, 2 * H) + qw_scratch_bytes(QW_DTYPE_F32, 1, H));
    bytes += qw_scratch_bytes(QW_DTYPE_F32, 1, 4 * H) + 2 * qw_scratch_bytes(QW_DTYPE_F32, 1, H);
    bytes += 2 * qw_scratch_bytes(QW_DTYPE_F32, 1, J) + qw_scratch_bytes(QW_DTYPE_F32, 1, NO) + 64;
    qwglm_status rc = m->be->ops->buf_alloc(m->be->ctx, bytes, &s->dec_buf, e);
    if (rc) return rc;
    struct qw_scratch sc = {s->dec_buf, bytes, 0, 0, false};
    for (int l = 0; l < c->pred_layers; l++) {
        s->cat[l] = qw_scratch_tensor(&sc, QW_DTYPE_F32, 1, 2 * H);
        s->c[l] = qw_scratch_tensor(&sc, QW_DTYPE_F32, 1, H);
    }
    s->gates = qw_scratch_tensor(&sc, QW_DTYPE_F32, 1, 4 * H);
    s->tmp1 = qw_scratch_tensor(&sc, QW_DTYPE_F32, 1, H);
    s->tmp2 = qw_scratch_tensor(&sc, QW_DTYPE_F32, 1, H);
    s->dec_out = qw_scratch_tensor(&sc, QW_DTYPE_F32, 1, J);
    s->joint = qw_scratch_tensor(&sc, QW_DTYPE_F32, 1, J);
    s->logits = qw_scratch_tensor(&sc, QW_DTYPE_F32, 1, NO);
    s->ids = qw_scratch_tensor(&sc, QW_DTYPE_I32, 1, 1);
    s->host_logits = qw_malloc((size_t)NO * sizeof(float));
    if (sc.overflow || !s->host_logits) {
        parakeet_state_free(s, m);
        return qw_fail(e, QWGLM_ERR_NOMEM, "decoder state");
    }
    return QWGLM_OK;
}

void parakeet_state_free(struct parakeet_state *s, const struct parakeet_model *m)
{
    if (m && m->be) {
        if (s->sc.buf) m->be->ops->buf_free(m->be->ctx, s->sc.buf);
        if (s->dec_buf) m->be->ops->buf_free(m->be->ctx, s->dec_buf);
        if (s->pos_buf) m->be->ops->buf_free(m->be->ctx, s->pos_buf);
    }
    qw_free(s->host_logits);
    memset(s, 0, sizeof *s);
}

static qwglm_status reserve(const struct parakeet_model *m, struct parakeet_state *s, size_t bytes,
                            struct qw_err *e)
{
    if (bytes <= s->cap) {
        qw_scratch_reset(&s->sc);
        s->sc.overflow = false;
        return QWGLM_OK;
    }
    if (s->sc.buf) m->be->ops->buf_free(m->be->ctx, s->sc.buf);
    memset(&s->sc, 0, sizeof s->sc);
    s->cap = 0;
    qwglm_status rc = m->be->ops->buf_alloc(m->be->ctx, bytes, &s->sc.buf, e);
    if (rc) return rc;
    s->sc.cap = s->cap = bytes;
    return QWGLM_OK;
}

/* Relative positions T-1 .. -(T-1), interleaved sin / cos, in float32 as the reference computes them. */
static qwglm_status positions(const struct parakeet_model *m, struct qw_tensor p, int64_t T, struct qw_err *e)
{
    const int64_t D = m->cfg.d_model, R = 2 * T - 1;
    float *h = qw_malloc((size_t)(R * D) * sizeof(float));
    if (!h) return qw_fail(e, QWGLM_ERR_NOMEM, "positions");
    for (int64_t i = 0; i < D / 2; i++) {
        float inv = 1.0f / powf(10000.0f, (float)(2 * i) / (float)D);
        for (int64_t r = 0; r < R; r++) {
            float a = inv * (float)(T - 1 - r);
            h[r * D + 2 * i] = sinf(a);
            h[r * D + 2 * i + 1] = cosf(a);
        }
    }
    qwglm_status rc = qw_tensor_write(m->be, p, h, e);
    qw_free(h);
    return rc;
}

/* The position table of layer l for a pass of T frames (T <= s->pos_T), or, for l < 0, the sinusoids. */
static struct qw_tensor pos_rows(const struct parakeet_model *m, const struct parakeet_state *s, int l, int64_t T)
{
    const int64_t D = m->cfg.d_model, R = 2 * s->pos_T - 1;
    const size_t layer_bytes = (size_t)(R * D) * sizeof(float);
    return (struct qw_tensor){s->pos_buf, (size_t)(l + 1) * layer_bytes + (size_t)((s->pos_T - T) * D) * sizeof(float),
                              QW_DTYPE_F32, 2 * T - 1, D, D};
}

/* Makes s hold the projected positions of every layer for passes of up to T frames: recomputed only when a
 * longer pass than any before comes (once per model for windowed recordings). */
static qwglm_status project_positions(const struct parakeet_model *m, struct parakeet_state *s, int64_t T,
                                      struct qw_err *e)
{
    if (T <= s->pos_T) return QWGLM_OK;
    const int64_t D = m->cfg.d_model, R = 2 * T - 1;
    if (s->pos_buf) m->be->ops->buf_free(m->be->ctx, s->pos_buf);
    s->pos_buf = NULL;
    s->pos_T = 0;
    qwglm_status rc = m->be->ops->buf_alloc(m->be->ctx, (size_t)(m->cfg.n_layers + 1) * (size_t)(R * D) * sizeof(float),
                                            &s->pos_buf, e);
    if (rc) return rc;
    s->pos_T = T;
    rc = positions(m, pos_rows(m, s, -1, T), T, e);
    if (rc) return rc;
    for (int l = 0; l < m->cfg.n_layers; l++) qw_matmul(m->be, pos_rows(m, s, l, T), pos_rows(m, s, -1, T), m->layers[l].wpos);
    rc = qw_sync(m->be, e);
    if (rc) {
        m->be->ops->buf_free(m->be->ctx, s->pos_buf);
        s->pos_buf = NULL;
        s->pos_T = 0;
    }
    return rc;
}

static void feed_forward(struct qw_backend *be, struct qw_tensor x, struct qw_tensor ln, struct qw_tensor wide,
                         struct qw_tensor out, struct qw_tensor lw, struct qw_tensor lb, struct qw_tensor w1,
                         struct qw_tensor b1, struct qw_tensor w2, struct qw_tensor b2)
{
    qw_layernorm(be, ln, x, lw, lb, 1e-5f);
    qw_linear(be, wide, ln, w1, b1);
    qw_unary(be, wide, wide, QW_UNARY_SILU);
    qw_linear(be, out, wide, w2, b2);
    qw_affine(be, out, out, 0.5f, 0.0f);
    qw_add(be, x, x, out);
}

qwglm_status parakeet_encode(const struct parakeet_model *m, struct parakeet_state *s, const float *feats,
                             int64_t n_frames, int64_t n_valid, struct qw_tensor *enc, int64_t *enc_valid,
                             parakeet_tap_fn tap, void *tap_user, struct qw_err *e)
{
    const struct parakeet_config *c = &m->cfg;
    struct qw_backend *be = m->be;
    if (n_frames < 1 || n_valid < 1 || n_valid > n_frames || n_frames > (1 << 24))
        return qw_fail(e, QWGLM_ERR_ARG, "encoder: %lld frames (%lld valid)", (long long)n_frames,
                       (long long)n_valid);
    qwglm_status rc = reserve(m, s, encode_bytes(c, n_frames), e);
    if (rc) return rc;
    struct qw_scratch *sc = &s->sc;
    const int64_t C = c->sub_channels, D = c->d_model, k = c->sub_kernel;

    /* ---- subsampling ---- */
    struct qw_tensor x = qw_scratch_tensor(sc, QW_DTYPE_F32, n_frames, c->n_mels);
    if (sc->overflow) return qw_fail(e, QWGLM_ERR_NOMEM, "encoder scratch");
    rc = qw_tensor_write(be, x, feats, e);
    if (rc) return rc;
    int64_t t = n_frames, len = n_valid;
    for (int i = 0; i < c->sub_layers; i++) {
        struct qw_conv2d_params p = {(int)sub_width(c, i), i == 0 ? 1 : (int)C, (int)C, (int)k, (int)k,
                                     c->sub_stride, c->sub_stride, (int)(k / 2), (int)(k / 2), i == 0 ? 1 : (int)C};
        int64_t t2 = qw_conv2d_out_t(t, &p), w2 = qw_conv2d_out_w(&p);
        len = (len + 2 * (k / 2) - k) / c->sub_stride + 1;
        struct qw_tensor y = qw_scratch_tensor(sc, QW_DTYPE_F32, t2, w2 * C);
        if (sc->overflow) return qw_fail(e, QWGLM_ERR_NOMEM, "encoder scratch");
        qw_conv2d(be, y, x, i == 0 ? m->sub_w0 : m->sub_dw[i - 1], i == 0 ? m->sub_b0 : m->sub_dwb[i - 1], &p);
        zero_rows(be, y, len);
        if (i > 0) {
            /* pointwise 1x1 conv: a linear layer over every (time, width) position */
            struct qw_tensor z = qw_scratch_tensor(sc, QW_DTYPE_F32, t2, w2 * C);
            if (sc->overflow) return qw_fail(e, QWGLM_ERR_NOMEM, "encoder scratch");
            qw_linear(be, qw_reshape(z, t2 * w2, C), qw_reshape(y, t2 * w2, C), m->sub_pw[i - 1], m->sub_pwb[i - 1]);
            zero_rows(be, z, len);
            y = z;
        }
        qw_unary(be, y, y, QW_UNARY_RELU);
        x = y;
        t = t2;
    }
    const int64_t T = t, nv = len;
    struct qw_tensor h = qw_scratch_tensor(sc, QW_DTYPE_F32, T, D);
    struct qw_tensor ln = qw_scratch_tensor(sc, QW_DTYPE_F32, T, D), out = qw_scratch_tensor(sc, QW_DTYPE_F32, T, D);
    struct qw_tensor q = qw_scratch_tensor(sc, QW_DTYPE_F32, T, D), kk = qw_scratch_tensor(sc, QW_DTYPE_F32, T, D);
    struct qw_tensor v = qw_scratch_tensor(sc, QW_DTYPE_F32, T, D), att = qw_scratch_tensor(sc, QW_DTYPE_F32, T, D);
    struct qw_tensor wide = qw_scratch_tensor(sc, QW_DTYPE_F32, T, c->d_ff > 2 * D ? c->d_ff : 2 * D);
    struct qw_tensor proj = qw_scratch_tensor(sc, QW_DTYPE_F32, T, c->joint_hidden);
    if (sc->overflow) return qw_fail(e, QWGLM_ERR_NOMEM, "encoder scratch");
    qw_linear(be, h, x, m->sub_lin_w, m->sub_lin_b);
    if (c->scale_input) qw_affine(be, h, h, sqrtf((float)D), 0.0f);
    rc = qw_sync(be, e);
    if (rc) return rc;
    if (tap) tap(tap_user, "subsampling", h);
    rc = project_positions(m, s, T, e);
    if (rc) return rc;

    /* ---- conformer blocks ---- */
    struct qw_relattn_params ap = {c->n_heads, c->head_dim, (int)nv, 1.0f / sqrtf((float)c->head_dim)};
    struct qw_conv1d_params cp = {c->conv_kernel, 1, 1, (int)D, c->conv_kernel / 2, c->conv_kernel / 2};
    struct qw_tensor wideff = qw_cols(wide, 0, c->d_ff), z = qw_cols(wide, 0, 2 * D);
    for (int l = 0; l < c->n_layers; l++) {
        const struct pk_layer *L = &m->layers[l];
        feed_forward(be, h, ln, wideff, out, L->ff1_ln_w, L->ff1_ln_b, L->ff1_w1, L->ff1_b1, L->ff1_w2, L->ff1_b2);

        qw_layernorm(be, ln, h, L->att_ln_w, L->att_ln_b, 1e-5f);
        qw_linear(be, q, ln, L->wq, L->bq);
        qw_linear(be, kk, ln, L->wk, L->bk);
        qw_linear(be, v, ln, L->wv, L->bv);
        qw_attention_relpos(be, att, q, kk, v, pos_rows(m, s, l, T), L->bias_u, L->bias_v, &ap);
        qw_linear(be, out, att, L->wo, L->bo);
        qw_add(be, h, h, out);

        qw_layernorm(be, ln, h, L->conv_ln_w, L->conv_ln_b, 1e-5f);
        qw_linear(be, z, ln, L->pw1_w, L->pw1_b);
        struct qw_tensor za = qw_cols(z, 0, D), zb = qw_cols(z, D, D);
        qw_unary(be, zb, zb, QW_UNARY_SIGMOID);
        qw_mul(be, att, za, zb);
        zero_rows(be, att, nv);
        qw_conv1d(be, out, att, L->dw_w, L->dw_b, &cp);
        qw_unary(be, out, out, QW_UNARY_SILU);
        qw_linear(be, att, out, L->pw2_w, L->pw2_b);
        qw_add(be, h, h, att);

        feed_forward(be, h, ln, wideff, out, L->ff2_ln_w, L->ff2_ln_b, L->ff2_w1, L->ff2_b1, L->ff2_w2, L->ff2_b2);
        qw_layernorm(be, h, h, L->out_ln_w, L->out_ln_b, 1e-5f);
        if (tap) {
            rc = qw_sync(be, e);
            if (rc) return rc;
            char name[32];
            snprintf(name, sizeof name, "encoder_hidden.%d", l + 1);
            tap(tap_user, name, h);
        }
    }
    if (tap) tap(tap_user, "encoder_output", h);
    qw_linear(be, proj, h, m->enc_proj_w, m->enc_proj_b);
    rc = qw_sync(be, e);
    if (rc) return rc;
    if (tap) tap(tap_user, "encoder_projected", proj);
    *enc = proj;
    *enc_valid = nv;
    return QWGLM_OK;
}

/* ---- prediction network and joint ---- */

/* One LSTM step per layer on the input already in cat[0][:, :H]; gate order i, f, g, o as PyTorch. */
static void lstm_step(const struct parakeet_model *m, struct parakeet_state *s)
{
    struct qw_backend *be = m->be;
    const int64_t H = m->cfg.pred_hidden;
    for (int l = 0; l < m->cfg.pred_layers; l++) {
        qw_linear(be, s->gates, s->cat[l], m->lstm_w[l], m->lstm_b[l]);
        struct qw_tensor gi = qw_cols(s->gates, 0, H), gf = qw_cols(s->gates, H, H);
        struct qw_tensor gg = qw_cols(s->gates, 2 * H, H), go = qw_cols(s->gates, 3 * H, H);
        qw_unary(be, gi, gi, QW_UNARY_SIGMOID);
        qw_unary(be, gf, gf, QW_UNARY_SIGMOID);
        qw_unary(be, gg, gg, QW_UNARY_TANH);
        qw_unary(be, go, go, QW_UNARY_SIGMOID);
        qw_mul(be, s->tmp1, gf, s->c[l]);
        qw_mul(be, s->tmp2, gi, gg);
        qw_add(be, s->c[l], s->tmp1, s->tmp2);
        qw_unary(be, s->tmp1, s->c[l], QW_UNARY_TANH);
        struct qw_tensor hnew = qw_cols(s->cat[l], H, H);
        qw_mul(be, hnew, go, s->tmp1);
        if (l + 1 < m->cfg.pred_layers) qw_copy(be, qw_cols(s->cat[l + 1], 0, H), hnew);
    }
    qw_linear(be, s->dec_out, qw_cols(s->cat[m->cfg.pred_layers - 1], H, H), m->dec_proj_w, m->dec_proj_b);
}

static qwglm_status push_token(const struct parakeet_model *m, struct parakeet_state *s, int token, struct qw_err *e)
{
    if (token < 0 || token >= m->cfg.vocab) return qw_fail(e, QWGLM_ERR_ARG, "decoder: token %d", token);
    int32_t id = token;
    qwglm_status rc = qw_tensor_write(m->be, s->ids, &id, e);
    if (rc) return rc;
    qw_get_rows(m->be, qw_cols(s->cat[0], 0, m->cfg.pred_hidden), m->embed, s->ids);
    lstm_step(m, s);
    return qw_sync(m->be, e);
}

qwglm_status parakeet_decoder_reset(const struct parakeet_model *m, struct parakeet_state *s, struct qw_err *e)
{
    for (int l = 0; l < m->cfg.pred_layers; l++) {
        qw_affine(m->be, s->cat[l], s->cat[l], 0.0f, 0.0f);
        qw_affine(m->be, s->c[l], s->c[l], 0.0f, 0.0f);
    }
    /* the start token is the blank, whose embedding row is the padding row (zero in every checkpoint) */
    return push_token(m, s, m->cfg.blank, e);
}

qwglm_status parakeet_decoder_push(const struct parakeet_model *m, struct parakeet_state *s, int token,
                                   struct qw_err *e)
{
    return push_token(m, s, token, e);
}

qwglm_status parakeet_joint(const struct parakeet_model *m, struct parakeet_state *s, struct qw_tensor enc,
                            int64_t t, const float **logits, struct qw_err *e)
{
    if (t < 0 || t >= enc.rows) return qw_fail(e, QWGLM_ERR_ARG, "joint: frame %lld", (long long)t);
    qw_add(m->be, s->joint, qw_rows(enc, t, 1), s->dec_out);
    qw_unary(m->be, s->joint, s->joint, QW_UNARY_RELU);
    qw_linear(m->be, s->logits, s->joint, m->head_w, m->head_b);
    qwglm_status rc = qw_tensor_read(m->be, s->logits, s->host_logits, e);
    if (!rc) rc = qw_sync(m->be, e);
    *logits = s->host_logits;
    return rc;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

qwglm_status parakeet_greedy(const struct parakeet_model *m, struct parakeet_state *s, struct qw_tensor enc,
                             int64_t n_frames, int max_symbols, struct parakeet_token **toks, int *n, int *cap,
                             parakeet_step_fn step, void *step_user, struct qw_err *e)
{
    const struct parakeet_config *c = &m->cfg;
    qwglm_status rc = parakeet_decoder_reset(m, s, e);
    if (rc) return rc;
    int64_t t = 0, last_t = -1;
    int count = 0, steps = 0;
    while (t < n_frames) {
        const float *lg;
        rc = parakeet_joint(m, s, enc, t, &lg, e);
        if (rc) return rc;
        if (step && step(step_user, steps, lg, c->vocab + c->n_durations)) break;
        steps++;
        int k = argmax(lg, c->vocab);
        int d = c->durations[argmax(lg + c->vocab, c->n_durations)];
        if (k == c->blank && d == 0) d = 1;
        if (k != c->blank) {
            if (*n == *cap) {
                int nc = *cap ? *cap * 2 : 256;
                struct parakeet_token *g = nc > (1 << 26) ? NULL : qw_realloc(*toks, (size_t)nc * sizeof **toks);
                if (!g) return qw_fail(e, QWGLM_ERR_NOMEM, "decoded tokens");
                *toks = g;
                *cap = nc;
            }
            (*toks)[(*n)++] = (struct parakeet_token){k, (int)t, d};
            count = last_t == t ? count + 1 : 1;
            last_t = t;
            rc = parakeet_decoder_push(m, s, k, e);
            if (rc) return rc;
        }
        t += d;
        if (max_symbols > 0 && k != c->blank && count >= max_symbols && t == last_t) t++;
        if (max_symbols <= 0 && steps > 64 * (n_frames + 1) + 1000000)
            return qw_fail(e, QWGLM_ERR_FORMAT, "decoder: no progress after %d steps", steps);
    }
    return QWGLM_OK;
}
