/* VITS inference (SynthesizerTrn.infer of Piper's training code) on the op interface, batch 1, no padding.
 * Shapes in comments are time-major: [T, C]. */
#include "vits.h"

#include <math.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"

struct run {
    struct vits_model *m;
    struct qw_backend *be;
    struct qw_scratch s;
    struct qw_tensor g; /* [1, gin] speaker embedding, absent for single-speaker voices */
};

static struct qw_tensor new_t(struct run *r, int64_t rows, int64_t cols)
{
    return qw_scratch_tensor(&r->s, QW_DTYPE_F32, rows, cols);
}

/* 1x1 convolutions too: over [T, C] activations they are linear layers, and conv1d's kernels serve both. */
static void conv_into(struct run *r, struct qw_tensor y, struct qw_tensor x, const struct vits_conv *c)
{
    qw_conv1d(r->be, y, x, c->w, c->b, &c->p);
}

static struct qw_tensor conv(struct run *r, struct qw_tensor x, const struct vits_conv *c)
{
    struct qw_tensor y = new_t(r, qw_conv1d_out_len(x.rows, &c->p), c->c_out);
    conv_into(r, y, x, c);
    return y;
}

/* x += cond(g), broadcast over time (multi-speaker voices). */
static void add_cond(struct run *r, struct qw_tensor x, const struct vits_conv *cond)
{
    if (!qw_tensor_present(r->g)) return;
    struct qw_tensor c = conv(r, r->g, cond);
    qw_add(r->be, x, x, c);
}

/* ---- text encoder ---- */

static struct qw_tensor text_encoder(struct run *r, struct qw_tensor ids, struct qw_tensor *stats)
{
    struct vits_model *m = r->m;
    const int64_t T = ids.rows;
    struct qw_tensor x = new_t(r, T, m->hidden);
    qw_get_rows(r->be, x, m->emb, ids);
    qw_affine(r->be, x, x, sqrtf((float)m->hidden), 0.0f);
    struct qw_rel_attn_params ap = {m->n_heads, m->head_dim, m->window, 1.0f / sqrtf((float)m->head_dim)};
    size_t mark = r->s.used;
    for (int l = 0; l < m->n_layers; l++) {
        const struct vits_enc_layer *L = &m->enc[l];
        struct qw_tensor q = conv(r, x, &L->q), k = conv(r, x, &L->k), v = conv(r, x, &L->v);
        struct qw_tensor a = new_t(r, T, m->hidden);
        qw_attention_rel(r->be, a, q, k, v, L->ek, L->ev, &ap);
        struct qw_tensor o = conv(r, a, &L->o);
        qw_add(r->be, x, x, o);
        qw_layernorm(r->be, x, x, L->ln1g, L->ln1b, 1e-5f);
        struct qw_tensor f = new_t(r, T, L->ffn1.c_out); /* ReLU as the fused leaky ReLU of slope 0 */
        struct qw_conv_epilogue relu = {.scale = 1.0f, .act = f, .slope = 0.0f};
        qw_conv1d_fused(r->be, f, x, L->ffn1.w, L->ffn1.b, &L->ffn1.p, &relu);
        struct qw_tensor f2 = conv(r, f, &L->ffn2);
        qw_add(r->be, x, x, f2);
        qw_layernorm(r->be, x, x, L->ln2g, L->ln2b, 1e-5f);
        r->s.used = mark;
    }
    *stats = conv(r, x, &m->enc_proj); /* [T, 2 inter]: m_p | logs_p */
    return x;
}

/* ---- stochastic duration predictor (reverse) ---- */

/* x += gelu(LN(pw(gelu(LN(sep(x)))))) per layer, dilations from the graph. */
static void dds(struct run *r, struct qw_tensor x, const struct vits_dds *d)
{
    size_t mark = r->s.used;
    for (int i = 0; i < d->n_layers; i++) {
        struct qw_tensor y = conv(r, x, &d->sep[i]);
        qw_layernorm(r->be, y, y, d->n1g[i], d->n1b[i], 1e-5f);
        qw_unary(r->be, y, y, QW_UNARY_GELU_ERF);
        struct qw_tensor y2 = conv(r, y, &d->pw[i]);
        qw_layernorm(r->be, y2, y2, d->n2g[i], d->n2b[i], 1e-5f);
        qw_unary(r->be, y2, y2, QW_UNARY_GELU_ERF);
        qw_add(r->be, x, x, y2);
        r->s.used = mark;
    }
}

/* Turns the noise z [T, 2] (already scaled by noise_w) into [logw, unused] given the encoder output x [T, H]. The channel
 * flips between the flows are tracked as which column holds logical channel 0. */
static void duration_predictor(struct run *r, struct qw_tensor x, struct qw_tensor z)
{
    struct vits_model *m = r->m;
    struct qw_tensor h = conv(r, x, &m->dp_pre);
    add_cond(r, h, &m->dp_cond);
    dds(r, h, &m->dp_dds);
    struct qw_tensor hp = conv(r, h, &m->dp_proj);
    int first = 0;
    for (int f = m->n_cflows - 1; f >= 0; f--) {
        first ^= 1; /* Flip */
        size_t mark = r->s.used;
        struct qw_tensor x0 = qw_cols(z, first, 1), x1 = qw_cols(z, first ^ 1, 1);
        struct qw_tensor c = conv(r, x0, &m->cflow[f].pre);
        qw_add(r->be, c, c, hp);
        dds(r, c, &m->cflow[f].dds);
        struct qw_tensor sp = conv(r, c, &m->cflow[f].proj);
        struct qw_spline_params p = {(m->cflow[f].proj.c_out + 1) / 3, 5.0f, sqrtf((float)m->cflow[f].pre.c_out)};
        qw_spline_inverse(r->be, x1, sp, &p);
        r->s.used = mark;
    }
    /* one more Flip (first returns to 0: the flow count is odd), then the ElementwiseAffine */
    qw_add(r->be, z, z, m->dp_neg_m);
    qw_mul(r->be, z, z, m->dp_scale);
}

/* ---- flow (reverse) ---- */

/* WaveNet of a coupling layer: returns its output [T, H]; x is modified. */
static struct qw_tensor wavenet(struct run *r, struct qw_tensor x, const struct vits_coupling *cp)
{
    struct vits_model *m = r->m;
    const int H = m->hidden;
    const int64_t T = x.rows;
    struct qw_tensor out = new_t(r, T, H), gc = {0};
    if (qw_tensor_present(r->g)) gc = conv(r, r->g, &cp->cond);
    size_t mark = r->s.used;
    for (int i = 0; i < cp->n_layers; i++) {
        struct qw_tensor a = conv(r, x, &cp->in[i]); /* [T, 2H] */
        if (qw_tensor_present(gc)) qw_add(r->be, a, a, qw_cols(gc, (int64_t)2 * H * i, 2 * H));
        struct qw_tensor acts = new_t(r, T, H);
        qw_tanh_sigmoid_mul(r->be, acts, qw_cols(a, 0, H), qw_cols(a, H, H));
        struct qw_tensor rs = conv(r, acts, &cp->rs[i]);
        if (i < cp->n_layers - 1) {
            qw_add(r->be, x, x, qw_cols(rs, 0, H));
            if (i == 0) qw_copy(r->be, out, qw_cols(rs, H, H));
            else qw_add(r->be, out, out, qw_cols(rs, H, H));
        } else if (i == 0) {
            qw_copy(r->be, out, rs);
        } else {
            qw_add(r->be, out, out, rs);
        }
        r->s.used = mark;
    }
    return out;
}

static void flow_reverse(struct run *r, struct qw_tensor z)
{
    struct vits_model *m = r->m;
    const int64_t half = m->inter / 2;
    for (int c = m->n_couplings - 1; c >= 0; c--) {
        const struct vits_coupling *cp = &m->coupling[c];
        bool reversed = (m->n_couplings - c) % 2; /* see load_flow */
        struct qw_tensor x0 = qw_cols(z, reversed ? half : 0, half), x1 = qw_cols(z, reversed ? 0 : half, half);
        size_t mark = r->s.used;
        struct qw_tensor h = conv(r, x0, &cp->pre);
        struct qw_tensor w = wavenet(r, h, cp);
        struct qw_tensor mean = conv(r, w, &cp->post);
        qw_affine(r->be, mean, mean, -1.0f, 0.0f);
        qw_add(r->be, x1, x1, mean);
        r->s.used = mark;
    }
}

/* ---- HiFi-GAN decoder ----
 *
 * A stage (upsampling, then the mean of the resblocks) runs in chunks of output rows, so that its ten or so
 * intermediate tensors stay small (in cache, and no memory that grows with the sentence) and only the stage's
 * output is whole. A chunk [o0, o1) is computed over [e0, e1), extended by the reach of the longest resblock chain
 * on each side, from the input rows the upsampling needs for it; every convolution of the chunk pads with zeros
 * at the chunk's edges, which leaves the rows near an inner edge wrong but those are outside [o0, o1), within
 * the reach. Rows [o0, o1) come out exactly as without chunks (each output sums the same terms in the same
 * order), which test_vits checks. */

/* Output rows of a stage per chunk: 256 Ki floats (1 MiB) of each intermediate. Measured on the medium voice
 * (2-core Sapphire Rapids, RTF by CPU time per thread, 1 / 2 threads): 64 Ki floats 0.045 / 0.030, 256 Ki
 * 0.043 / 0.023, 1 Mi 0.045 / 0.027; with two threads, small chunks mean many short jobs to hand out and wait for,
 * large ones leave the caches. */
static int64_t dec_chunk_rows(const struct vits_model *m, int stage)
{
    if (m->dec_chunk > 0) return m->dec_chunk;
    int64_t rows = ((int64_t)1 << 18) / m->ups[stage].c_out;
    return rows < 256 ? 256 : rows;
}

/* Rows a resblock chain reaches to the left (*left) and right (*right) of an output row, the longest chain's. */
static void dec_reach(const struct vits_model *m, int stage, int64_t *left, int64_t *right)
{
    *left = *right = 0;
    for (int j = 0; j < m->n_kernels; j++) {
        int64_t l = 0, r = 0;
        for (int k = 0; k < m->rb_convs; k++)
            for (int pass = 0; pass < (m->rb_type == 1 ? 2 : 1); pass++) {
                const struct qw_conv1d_params *p = &(pass ? m->rb2 : m->rb1)[stage * m->n_kernels + j][k].p;
                l += p->pad_left;
                r += (int64_t)p->dilation * (p->kernel - 1) - p->pad_left;
            }
        if (l > *left) *left = l;
        if (r > *right) *right = r;
    }
}

/* y = rows [a, b) of conv(x) (stride 1, zeros outside x), then the epilogue: x is taken from a - pad_left to
 * b + the right reach, as far as it goes, and the padding makes up the rest. */
static void conv_rows(struct run *r, struct qw_tensor y, struct qw_tensor x, int64_t a, int64_t b,
                      const struct vits_conv *c, struct qw_conv_epilogue ep)
{
    struct qw_conv1d_params p = c->p;
    int64_t left = p.pad_left, right = (int64_t)p.dilation * (p.kernel - 1) - p.pad_left;
    int64_t x0 = a - left > 0 ? a - left : 0, x1 = b + right < x.rows ? b + right : x.rows;
    p.pad_left = (int)(left - (a - x0));
    p.pad_right = (int)(right - (x1 - b));
    qw_conv1d_fused(r->be, y, qw_rows(x, x0, x1 - x0), c->w, c->b, &p, &ep);
}

static bool same_tensor(struct qw_tensor a, struct qw_tensor b) { return a.buf == b.buf && a.offset == b.offset; }

/* Input rows [*s0, *s1) of the upsampling that give its output rows [e0, e1) exactly, and the output row of the
 * first: the transposed convolution of those input rows starts at output row *s0 stride. */
static void ups_inputs(const struct qw_conv1d_params *p, int64_t t_in, int64_t e0, int64_t e1, int64_t *s0,
                       int64_t *s1)
{
    const int64_t S = p->stride, K = p->kernel, pl = p->pad_left, pr = p->pad_right;
    int64_t lo = e0 + pl - K + 1, a = lo > 0 ? (lo + S - 1) / S : 0;
    if (a > e0 / S) a = e0 / S; /* its first output row must not come after e0 */
    int64_t b = (e1 - 1 + pl) / S + 1, need = e1 + pl + pr - K; /* ... nor its last before e1 - 1 */
    if (need > 0 && (need + S - 1) / S + 1 > b) b = (need + S - 1) / S + 1;
    *s0 = a;
    *s1 = b < t_in ? b : t_in;
}

/* Output rows [o0, o1) of stage i: x [T_in, C_in], already activated, -> out = leaky_relu(mean of the resblocks,
 * out_slope), the activated input of what follows. Every convolution is y = conv(act) + residual with the
 * activation of y for the next convolution written in the same pass (fused epilogue); a resblock's last
 * convolution also adds the running sum over the resblocks (ping-ponging between sum[0] and sum[1]), and the last
 * resblock's takes the mean and activates it into out. Buffers: u and its activation tu, the chain's sums (a, b)
 * and activations (ta, tb), t2 for resblock "1"'s inner convolution. */
static void dec_chunk(struct run *r, int i, struct qw_tensor x, struct qw_tensor out, int64_t o0, int64_t o1,
                      float out_slope)
{
    struct vits_model *m = r->m;
    const struct vits_conv *up = &m->ups[i];
    const int64_t C = out.cols;
    int64_t left, right, s0, s1;
    dec_reach(m, i, &left, &right);
    const int64_t e0 = o0 - left > 0 ? o0 - left : 0, e1 = o1 + right < out.rows ? o1 + right : out.rows, n = e1 - e0;
    ups_inputs(&up->p, x.rows, e0, e1, &s0, &s1);
    const struct qw_tensor none = {0};
    int64_t tl = qw_conv_transpose1d_out_len(s1 - s0, &up->p), off = e0 - s0 * up->p.stride;
    struct qw_tensor ul = new_t(r, tl, C), tul = new_t(r, tl, C);
    struct qw_conv_epilogue ep = {.scale = 1.0f, .act = tul, .slope = 0.1f};
    qw_conv_transpose1d_fused(r->be, ul, qw_rows(x, s0, s1 - s0), up->w, up->b, &up->p, &ep);
    struct qw_tensor u = qw_rows(ul, off, n), tu = qw_rows(tul, off, n), a = new_t(r, n, C), ta = new_t(r, n, C);
    struct qw_tensor b = m->rb_convs > 2 ? new_t(r, n, C) : none, tb = m->rb_convs > 2 ? new_t(r, n, C) : none;
    struct qw_tensor t2 = m->rb_type == 1 ? new_t(r, n, C) : none;
    struct qw_tensor sum[2] = {m->n_kernels > 1 ? new_t(r, n, C) : none, m->n_kernels > 2 ? new_t(r, n, C) : none};
    struct qw_tensor prev = none;
    for (int j = 0; j < m->n_kernels; j++) {
        const int rb = i * m->n_kernels + j;
        const bool last_rb = j == m->n_kernels - 1;
        struct qw_tensor cur = u, tcur = tu;
        for (int k = 0; k < m->rb_convs; k++) {
            ep = (struct qw_conv_epilogue){.res = cur, .scale = 1.0f, .slope = 0.1f};
            if (m->rb_type == 1) {
                conv_rows(r, t2, tcur, 0, n, &m->rb1[rb][k],
                          (struct qw_conv_epilogue){.scale = 1.0f, .act = t2, .slope = 0.1f});
                tcur = t2;
            }
            const struct vits_conv *cv = m->rb_type == 1 ? &m->rb2[rb][k] : &m->rb1[rb][k];
            if (k < m->rb_convs - 1) { /* inside the chain: y and its activation for the next convolution */
                bool in_a = !same_tensor(cur, a);
                ep.act = in_a ? ta : tb;
                conv_rows(r, in_a ? a : b, tcur, 0, n, cv, ep);
                cur = in_a ? a : b;
            } else if (!last_rb) { /* the resblock's output, added to the running sum */
                ep.res2 = prev;
                conv_rows(r, sum[j % 2], tcur, 0, n, cv, ep);
                prev = cur = sum[j % 2];
            } else { /* the last: rows [o0, o1) of the mean of all, activated */
                struct qw_tensor y = qw_rows(out, o0, o1 - o0);
                ep.res = qw_rows(cur, o0 - e0, o1 - o0);
                if (qw_tensor_present(prev)) ep.res2 = qw_rows(prev, o0 - e0, o1 - o0);
                ep.scale = 1.0f / (float)m->n_kernels;
                ep.act = y;
                ep.slope = out_slope;
                conv_rows(r, y, tcur, o0 - e0, o1 - e0, cv, ep);
            }
            tcur = ep.act;
        }
    }
}

/* Floats of scratch one chunk of stage i (t_out output rows) takes, with room for the alignment of each tensor. */
static int64_t dec_chunk_floats(const struct vits_model *m, int i, int64_t t_out)
{
    int64_t left, right, s0, s1, rows = dec_chunk_rows(m, i) < t_out ? dec_chunk_rows(m, i) : t_out;
    dec_reach(m, i, &left, &right);
    int64_t n = rows + left + right;
    ups_inputs(&m->ups[i].p, INT64_MAX / 4, 0, n, &s0, &s1);
    int64_t tl = qw_conv_transpose1d_out_len(s1 - s0 + 2, &m->ups[i].p);
    return (2 * tl + 7 * n + 7 * 16) * m->ups[i].c_out;
}

static struct qw_tensor decoder(struct run *r, struct qw_tensor z)
{
    struct vits_model *m = r->m;
    struct qw_tensor x = new_t(r, qw_conv1d_out_len(z.rows, &m->conv_pre.p), m->conv_pre.c_out);
    if (qw_tensor_present(r->g)) {
        qw_conv1d(r->be, x, z, m->conv_pre.w, m->conv_pre.b, &m->conv_pre.p);
        add_cond(r, x, &m->dec_cond);
        qw_leaky_relu(r->be, x, x, 0.1f);
    } else {
        struct qw_conv_epilogue ep = {.scale = 1.0f, .act = x, .slope = 0.1f};
        qw_conv1d_fused(r->be, x, z, m->conv_pre.w, m->conv_pre.b, &m->conv_pre.p, &ep);
    }
    for (int i = 0; i < m->n_ups; i++) {
        struct qw_tensor out = new_t(r, qw_conv_transpose1d_out_len(x.rows, &m->ups[i].p), m->ups[i].c_out);
        const int64_t rows = dec_chunk_rows(m, i);
        for (int64_t o0 = 0; o0 < out.rows; o0 += rows) {
            size_t mark = r->s.used;
            dec_chunk(r, i, x, out, o0, o0 + rows < out.rows ? o0 + rows : out.rows,
                      i == m->n_ups - 1 ? 0.01f : 0.1f);
            r->s.used = mark; /* the chunk's buffers; out stays */
        }
        x = out;
    }
    struct qw_tensor y = conv(r, x, &m->conv_post);
    qw_unary(r->be, y, y, QW_UNARY_TANH);
    return y;
}

/* ---- scratch sizing, noise, host copies ---- */

static size_t floats_bound(const struct vits_model *m, int64_t t_ph, int64_t t_y)
{
    int64_t H = m->hidden, I = m->inter;
    int64_t a = t_ph * (10 * H + m->filter + 2 * I + 3 * 64 + 8);
    int64_t b = t_y * (6 * I + 8 * H);
    int64_t d = t_y * (m->conv_pre.c_out + 2), T = t_y, chunk = 0;
    for (int i = 0; i < m->n_ups; i++) { /* every stage's output, and the largest chunk's buffers */
        T = qw_conv_transpose1d_out_len(T, &m->ups[i].p);
        d += T * m->ups[i].c_out + 16;
        if (dec_chunk_floats(m, i, T) > chunk) chunk = dec_chunk_floats(m, i, T);
    }
    d += chunk + 2 * T;
    return (size_t)(a + b + d) + 16 * 1024 * 4;
}

/* Standard normal draws: splitmix64 into Box-Muller. */
static void gaussian(uint64_t *state, float *out, size_t n)
{
    for (size_t i = 0; i < n; i += 2) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            z ^= z >> 31;
            u[k] = ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        }
        double rad = sqrt(-2.0 * log(u[0])), th = 6.283185307179586 * u[1];
        out[i] = (float)(rad * cos(th));
        if (i + 1 < n) out[i + 1] = (float)(rad * sin(th));
    }
}

/* Channel-major [C, T] host data into a time-major tensor [T, C] through tmp. */
static qwglm_status write_cm(struct run *r, struct qw_tensor t, const float *cm, float *tmp, struct qw_err *e)
{
    for (int64_t c = 0; c < t.cols; c++)
        for (int64_t i = 0; i < t.rows; i++) tmp[i * t.cols + c] = cm[c * t.rows + i];
    return qw_tensor_write(r->be, t, tmp, e);
}

/* Columns [c0, c0 + n) of a time-major tensor as a new channel-major host array [n, T]. */
static qwglm_status read_cm(struct run *r, struct qw_tensor t, int64_t c0, int64_t n, float **out, struct qw_err *e)
{
    float *all = qw_malloc((size_t)t.rows * (size_t)t.cols * sizeof(float) + 4);
    float *cm = qw_malloc((size_t)t.rows * (size_t)n * sizeof(float) + 4);
    qwglm_status rc = all && cm ? qw_tensor_read(r->be, t, all, e) : qw_fail(e, QWGLM_ERR_NOMEM, "vits trace");
    if (!rc)
        for (int64_t c = 0; c < n; c++)
            for (int64_t i = 0; i < t.rows; i++) cm[c * t.rows + i] = all[i * t.cols + c0 + c];
    qw_free(all);
    if (rc) qw_free(cm);
    else *out = cm;
    return rc;
}

void vits_trace_free(struct vits_trace *t)
{
    if (!t) return;
    qw_free(t->m_p);
    qw_free(t->logs_p);
    qw_free(t->logw);
    qw_free(t->w_ceil);
    qw_free(t->z_p);
    qw_free(t->z);
    memset(t, 0, sizeof *t);
}

/* ---- synthesis ---- */

static qwglm_status check_inputs(const struct vits_model *m, const int32_t *ids, int n_ids,
                                 const struct vits_synth_params *p, struct qw_err *e)
{
    if (n_ids < 1 || n_ids > VITS_MAX_IDS)
        return qw_fail(e, QWGLM_ERR_ARG, "vits: %d phoneme ids (1 to %d per sentence)", n_ids, VITS_MAX_IDS);
    for (int i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= m->n_vocab)
            return qw_fail(e, QWGLM_ERR_ARG, "vits: phoneme id %d at position %d outside [0, %d)", ids[i], i,
                           m->n_vocab);
    if (p->speaker < 0 || p->speaker >= m->n_speakers)
        return qw_fail(e, QWGLM_ERR_ARG, "vits: speaker %d outside [0, %d)", p->speaker, m->n_speakers);
    if (!(p->length_scale > 0 && p->length_scale <= 100) || !(p->noise_scale >= 0 && p->noise_scale <= 100) ||
        !(p->noise_w >= 0 && p->noise_w <= 100))
        return qw_fail(e, QWGLM_ERR_ARG, "vits: scales %g, %g, %g out of range", p->noise_scale, p->length_scale,
                       p->noise_w);
    return QWGLM_OK;
}

/* Frames per phoneme id from logw (host, [T]): ceil(exp(logw) length_scale), as the reference; the total T_y is
 * at least 1 and *t_y > VITS_MAX_FRAMES reports a sentence too long to decode. */
static void durations(const float *logw, int64_t T, float length_scale, int64_t *w_ceil, int64_t *t_y)
{
    *t_y = 0;
    for (int64_t i = 0; i < T; i++) {
        double c = ceil((double)(expf(logw[i]) * length_scale));
        w_ceil[i] = c > VITS_MAX_FRAMES ? VITS_MAX_FRAMES + 1 : (int64_t)c;
        if (*t_y <= VITS_MAX_FRAMES) *t_y += w_ceil[i];
    }
    if (*t_y < 1) *t_y = 1;
}

/* Scratch buffer i (0: encoder, 1: flow and decoder) of at least bytes, kept in the model from one sentence to
 * the next: a fresh buffer per sentence costs a page fault per 4 KiB touched. */
static qwglm_status scratch_get(struct vits_model *m, int i, size_t bytes, struct qw_scratch *s, struct qw_err *e)
{
    struct qw_backend *be = m->be;
    if (m->scratch_cap[i] < bytes) {
        be->ops->buf_free(be->ctx, m->scratch[i]);
        m->scratch[i] = NULL;
        m->scratch_cap[i] = 0;
        size_t cap = bytes + bytes / 8; /* a slightly longer sentence next time fits */
        qwglm_status rc = be->ops->buf_alloc(be->ctx, cap, &m->scratch[i], e);
        if (rc) return rc;
        m->scratch_cap[i] = cap;
    }
    *s = (struct qw_scratch){.buf = m->scratch[i], .cap = m->scratch_cap[i]};
    return QWGLM_OK;
}

/* Buffers past VITS_SCRATCH_KEEP (a very long sentence's) are not kept. */
static void scratch_trim(struct vits_model *m)
{
    for (int i = 0; i < 2; i++)
        if (m->scratch_cap[i] > VITS_SCRATCH_KEEP) {
            m->be->ops->buf_free(m->be->ctx, m->scratch[i]);
            m->scratch[i] = NULL;
            m->scratch_cap[i] = 0;
        }
}

/* Everything one synthesis allocates on the host, released in one place. */
struct synth_state {
    float *eps, *tmp, *logw, *audio;
    int64_t *w_ceil;
    int32_t *frame_ids;
};

static qwglm_status alloc_host(void **p, size_t n, struct qw_err *e)
{
    qw_free(*p);
    *p = qw_malloc(n ? n : 1);
    return *p ? QWGLM_OK : qw_fail(e, QWGLM_ERR_NOMEM, "vits: host buffer of %zu bytes", n);
}

/* Phase 1: encoder and duration predictor in scratch s1; fills st->logw, st->w_ceil and *stats. */
static qwglm_status encode(struct run *r, struct synth_state *st, const int32_t *ids, int64_t T,
                           const struct vits_synth_params *p, const struct vits_noise *noise, uint64_t *seed,
                           struct qw_tensor *stats, int64_t *t_y, struct qw_err *e)
{
    struct vits_model *m = r->m;
    struct qw_backend *be = r->be;
    qwglm_status rc;
    struct qw_tensor idt = qw_scratch_tensor(&r->s, QW_DTYPE_I32, T, 1);
    if ((rc = qw_tensor_write(be, idt, ids, e))) return rc;
    if (m->n_speakers > 1) {
        struct qw_tensor sid = qw_scratch_tensor(&r->s, QW_DTYPE_I32, 1, 1);
        int32_t s = p->speaker;
        if ((rc = qw_tensor_write(be, sid, &s, e))) return rc;
        r->g = new_t(r, 1, m->gin);
        qw_get_rows(be, r->g, m->emb_g, sid);
    }
    struct qw_tensor x = text_encoder(r, idt, stats);
    struct qw_tensor z = new_t(r, T, 2);
    size_t n = (size_t)T * 2 * sizeof(float);
    if ((rc = alloc_host((void **)&st->eps, n, e)) || (rc = alloc_host((void **)&st->tmp, n, e)) ||
        (rc = alloc_host((void **)&st->logw, n, e)) ||
        (rc = alloc_host((void **)&st->w_ceil, (size_t)T * sizeof(int64_t), e)))
        return rc;
    if (noise && noise->eps_dp) memcpy(st->eps, noise->eps_dp, n);
    else gaussian(seed, st->eps, (size_t)T * 2);
    if ((rc = write_cm(r, z, st->eps, st->tmp, e))) return rc;
    qw_affine(be, z, z, p->noise_w, 0.0f);
    duration_predictor(r, x, z);
    if (r->s.overflow) return qw_fail(e, QWGLM_ERR_NOMEM, "vits: scratch of %zu bytes too small", r->s.cap);
    if ((rc = qw_sync(be, e)) || (rc = qw_tensor_read(be, z, st->tmp, e))) return rc;
    for (int64_t i = 0; i < T; i++) st->logw[i] = st->tmp[2 * i];
    durations(st->logw, T, p->length_scale, st->w_ceil, t_y);
    return QWGLM_OK;
}

/* Phase 2: prior sample, reverse flow and decoder in scratch s2 (r->s). */
static qwglm_status decode(struct run *r, struct synth_state *st, struct qw_tensor stats, int64_t T, int64_t t_y,
                           const struct vits_synth_params *p, const struct vits_noise *noise, uint64_t *seed,
                           int64_t *n_samples, struct vits_trace *trace, struct qw_err *e)
{
    struct vits_model *m = r->m;
    struct qw_backend *be = r->be;
    const int64_t I = m->inter, t0 = qw_time_us();
    qwglm_status rc;
    if ((rc = alloc_host((void **)&st->frame_ids, (size_t)t_y * sizeof(int32_t), e))) return rc;
    int64_t f = 0;
    for (int64_t i = 0; i < T; i++)
        for (int64_t k = 0; k < st->w_ceil[i]; k++) st->frame_ids[f++] = (int32_t)i;
    if (f == 0) st->frame_ids[0] = 0; /* all durations 0: the reference clamps T_y to 1 */
    struct qw_tensor fid = qw_scratch_tensor(&r->s, QW_DTYPE_I32, t_y, 1);
    struct qw_tensor sy = new_t(r, t_y, 2 * I);
    if ((rc = qw_tensor_write(be, fid, st->frame_ids, e))) return rc;
    qw_get_rows(be, sy, stats, fid); /* m_p, logs_p expanded to frames */
    struct qw_tensor g1 = r->g;
    if (qw_tensor_present(g1)) {
        r->g = new_t(r, 1, m->gin);
        qw_copy(be, r->g, g1);
    }
    if ((rc = qw_sync(be, e))) return rc;

    size_t n = (size_t)t_y * (size_t)I * sizeof(float);
    if ((rc = alloc_host((void **)&st->eps, n, e)) || (rc = alloc_host((void **)&st->tmp, n, e))) return rc;
    if (noise && noise->eps_z) memcpy(st->eps, noise->eps_z, n);
    else gaussian(seed, st->eps, (size_t)t_y * (size_t)I);
    struct qw_tensor zp = new_t(r, t_y, I), ez = new_t(r, t_y, I), ex = new_t(r, t_y, I);
    if ((rc = write_cm(r, ez, st->eps, st->tmp, e))) return rc;
    qw_unary(be, ex, qw_cols(sy, I, I), QW_UNARY_EXP);
    qw_mul(be, ez, ez, ex);
    qw_affine(be, ez, ez, p->noise_scale, 0.0f);
    qw_add(be, zp, qw_cols(sy, 0, I), ez);
    if (trace && ((rc = qw_sync(be, e)) || (rc = read_cm(r, zp, 0, I, &trace->z_p, e)))) return rc;
    flow_reverse(r, zp);
    if ((rc = qw_sync(be, e))) return rc;
    int64_t t1 = qw_time_us();
    m->t_flow_us = t1 - t0;
    if (trace && (rc = read_cm(r, zp, 0, I, &trace->z, e))) return rc;
    struct qw_tensor y = decoder(r, zp);
    if (r->s.overflow) return qw_fail(e, QWGLM_ERR_NOMEM, "vits: scratch of %zu bytes too small", r->s.cap);
    rc = qw_sync(be, e);
    m->t_decode_us = qw_time_us() - t1;
    if (rc || (rc = alloc_host((void **)&st->audio, (size_t)y.rows * sizeof(float), e)) ||
        (rc = qw_tensor_read(be, y, st->audio, e)))
        return rc;
    *n_samples = y.rows;
    return QWGLM_OK;
}

qwglm_status vits_synth(struct vits_model *m, const int32_t *ids, int n_ids, const struct vits_synth_params *p,
                        const struct vits_noise *noise, float **audio, int64_t *n_samples, struct vits_trace *trace,
                        struct qw_err *e)
{
    *audio = NULL;
    *n_samples = 0;
    if (trace) memset(trace, 0, sizeof *trace);
    qwglm_status rc = check_inputs(m, ids, n_ids, p, e);
    if (rc) return rc;
    struct qw_backend *be = m->be;
    struct run r = {.m = m, .be = be};
    struct synth_state st = {0};
    const int64_t T = n_ids;
    uint64_t seed = noise ? noise->seed : 0;
    int64_t t_y = 0;
    struct qw_tensor stats;

    m->t_encode_us = m->t_flow_us = m->t_decode_us = 0;
    int64_t t0 = qw_time_us();
    if ((rc = scratch_get(m, 0, floats_bound(m, T, 0) * sizeof(float), &r.s, e))) goto done;
    rc = encode(&r, &st, ids, T, p, noise, &seed, &stats, &t_y, e);
    m->t_encode_us = qw_time_us() - t0;
    if (rc) goto done;
    if (trace) {
        trace->t_ph = n_ids;
        if ((rc = read_cm(&r, stats, 0, m->inter, &trace->m_p, e)) ||
            (rc = read_cm(&r, stats, m->inter, m->inter, &trace->logs_p, e)))
            goto done;
        trace->logw = st.logw;
        trace->w_ceil = st.w_ceil;
        trace->t_y = (int)t_y;
    }
    if (t_y > VITS_MAX_FRAMES) {
        rc = qw_fail(e, QWGLM_ERR_ARG, "vits: the sentence lasts more than %d frames (split it)", VITS_MAX_FRAMES);
        goto done;
    }
    if ((rc = scratch_get(m, 1, floats_bound(m, T, t_y) * sizeof(float), &r.s, e))) goto done;
    rc = decode(&r, &st, stats, T, t_y, p, noise, &seed, n_samples, trace, e);
    if (!rc) {
        *audio = st.audio;
        st.audio = NULL;
    }
done:
    scratch_trim(m);
    qw_free(st.eps);
    qw_free(st.tmp);
    qw_free(st.audio);
    qw_free(st.frame_ids);
    if (trace && trace->logw) st.logw = NULL, st.w_ceil = NULL; /* owned by the trace now */
    qw_free(st.logw);
    qw_free(st.w_ceil);
    if (rc && trace) vits_trace_free(trace);
    return rc;
}
