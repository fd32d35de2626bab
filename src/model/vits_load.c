/* Maps a Piper ONNX export onto the VITS modules (voice spec A8). Convolution weights are found through the graph:
 * each Conv / ConvTranspose node names its weight and bias initializers, and the module it belongs to is the bias
 * name (flow weights with weight norm folded are anonymous `onnx::Conv_N` initializers, their biases keep the
 * module name) or the node's scoped name. The node's attributes give kernel, stride, dilation, padding and groups.
 * Other tensors are found by name; the text embedding of a single-speaker export is the initializer named `sid`. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "base/strmap.h"
#include "vits.h"

struct loader {
    struct vits_model *m;
    const struct onnx_model *onnx;
    struct qw_err *e;
    struct strmap convs; /* module name -> node index */
    char *names;         /* storage of the module names */
    float *tmp, *tmp2;   /* host staging, sized for the largest tensor */
    size_t tmp_cap;
};

#define FAIL(...) qw_fail(L->e, QWGLM_ERR_FORMAT, __VA_ARGS__)

/* ---- the module map ---- */

static bool anonymous(const char *s) { return strncmp(s, "onnx::", 6) == 0 || s[0] == 0; }

static bool ends_with(const char *s, const char *suffix, size_t *stem)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n < k || strcmp(s + n - k, suffix) != 0) return false;
    *stem = n - k;
    return true;
}

/* "/flow/flows.6/enc/in_layers.0/Conv" -> "flow.flows.6.enc.in_layers.0" into dst. */
static bool module_from_node_name(const char *name, char *dst, size_t cap)
{
    const char *last = strrchr(name, '/');
    if (name[0] != '/' || !last || last == name) return false;
    size_t n = (size_t)(last - name - 1);
    if (n + 1 > cap) return false;
    for (size_t i = 0; i < n; i++) dst[i] = name[i + 1] == '/' ? '.' : name[i + 1];
    dst[n] = 0;
    return true;
}

static qwglm_status build_module_map(struct loader *L)
{
    const struct onnx_model *o = L->onnx;
    size_t bytes = 0;
    for (int i = 0; i < o->n_nodes; i++) bytes += strlen(o->nodes[i].name) + 256;
    L->names = qw_malloc(bytes + 1);
    if (!L->names || !strmap_init(&L->convs, (size_t)o->n_nodes / 4 + 16))
        return qw_fail(L->e, QWGLM_ERR_NOMEM, "%s: module map", o->path);
    char *p = L->names;
    for (int i = 0; i < o->n_nodes; i++) {
        const struct onnx_node *n = &o->nodes[i];
        if (strcmp(n->op_type, "Conv") != 0 && strcmp(n->op_type, "ConvTranspose") != 0) continue;
        if (n->n_inputs < 2) return FAIL("%s: node '%s' (%s) has no weight input", o->path, n->name, n->op_type);
        size_t stem;
        const char *src = NULL;
        if (n->n_inputs >= 3 && !anonymous(n->inputs[2]) && ends_with(n->inputs[2], ".bias", &stem)) src = n->inputs[2];
        else if (!anonymous(n->inputs[1]) && ends_with(n->inputs[1], ".weight", &stem)) src = n->inputs[1];
        size_t room = (size_t)(L->names + bytes - p);
        if (src) {
            if (stem + 1 > room) continue;
            memcpy(p, src, stem);
            p[stem] = 0;
        } else if (!module_from_node_name(n->name, p, room)) {
            continue; /* not a module this loader looks for */
        }
        size_t len = strlen(p);
        if (!strmap_put(&L->convs, p, len, i)) return qw_fail(L->e, QWGLM_ERR_NOMEM, "%s: module map", o->path);
        p += len + 1;
    }
    return QWGLM_OK;
}

static const struct onnx_node *find_conv(struct loader *L, const char *module)
{
    int32_t i = strmap_get(&L->convs, module, strlen(module));
    return i < 0 ? NULL : &L->onnx->nodes[i];
}

/* ---- uploads ---- */

static float *staging(struct loader *L, int64_t n, bool second)
{
    if ((size_t)n > L->tmp_cap) {
        qw_free(L->tmp);
        qw_free(L->tmp2);
        L->tmp = qw_malloc((size_t)n * sizeof(float));
        L->tmp2 = qw_malloc((size_t)n * sizeof(float));
        L->tmp_cap = L->tmp && L->tmp2 ? (size_t)n : 0;
        if (!L->tmp_cap) return NULL;
    }
    return second ? L->tmp2 : L->tmp;
}

static qwglm_status upload(struct loader *L, const float *host, int64_t rows, int64_t cols, struct qw_tensor *out)
{
    struct vits_model *m = L->m;
    struct qw_backend *be = m->be;
    if (m->n_bufs == m->cap_bufs) {
        int nc = m->cap_bufs ? m->cap_bufs * 2 : 256;
        void *q = qw_realloc(m->bufs, (size_t)nc * sizeof *m->bufs);
        if (!q) return qw_fail(L->e, QWGLM_ERR_NOMEM, "weights");
        m->bufs = q;
        m->cap_bufs = nc;
    }
    size_t bytes = (size_t)rows * (size_t)cols * sizeof(float);
    struct qw_buf *b;
    qwglm_status rc = be->ops->buf_alloc(be->ctx, bytes ? bytes : 4, &b, L->e);
    if (rc) return rc;
    m->bufs[m->n_bufs++] = b;
    *out = (struct qw_tensor){b, 0, QW_DTYPE_F32, rows, cols, cols};
    m->weight_bytes += bytes;
    return be->ops->buf_write(be->ctx, b, 0, host, bytes, L->e);
}

static const struct onnx_tensor *tensor(struct loader *L, const char *name, bool required)
{
    const struct onnx_tensor *t = onnx_find(L->onnx, name);
    if (!t && required) FAIL("%s: no tensor '%s' (not a Piper VITS voice?)", L->onnx->path, name);
    return t;
}

/* A named vector of n values (n < 0: any length, returned in *n_out) as a [1, n] tensor. */
static qwglm_status load_vec(struct loader *L, const char *name, int64_t n, struct qw_tensor *out)
{
    const struct onnx_tensor *t = tensor(L, name, true);
    if (!t) return L->e->status;
    if (n >= 0 && t->numel != n)
        return FAIL("%s: '%s' has %lld values, expected %lld", L->onnx->path, name, (long long)t->numel, (long long)n);
    float *h = staging(L, t->numel, false);
    if (!h) return qw_fail(L->e, QWGLM_ERR_NOMEM, "weights");
    qwglm_status rc = onnx_tensor_f32(L->onnx, t, h, L->e);
    return rc ? rc : upload(L, h, 1, t->numel, out);
}

static qwglm_status load_vecf(struct loader *L, struct qw_tensor *out, int64_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static qwglm_status load_vecf(struct loader *L, struct qw_tensor *out, int64_t n, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return load_vec(L, name, n, out);
}

static int64_t attr_int(const struct onnx_node *n, const char *name, int idx, int64_t dflt)
{
    const struct onnx_attr *a = onnx_node_attr(n, name);
    if (!a) return dflt;
    if (a->n_ints > idx) return a->ints[idx];
    return a->n_ints == 0 && idx == 0 ? a->i : dflt;
}

/* Loads the conv of module (c_in / c_out < 0: any). Transposed convs keep the ONNX [c_in, c_out, k] meaning. */
static qwglm_status load_conv(struct loader *L, const char *module, int c_in, int c_out, struct vits_conv *cv)
{
    const char *path = L->onnx->path;
    const struct onnx_node *n = find_conv(L, module);
    if (!n) return FAIL("%s: no convolution '%s' (not a Piper VITS voice?)", path, module);
    bool transposed = strcmp(n->op_type, "ConvTranspose") == 0;
    const struct onnx_tensor *w = tensor(L, n->inputs[1], true);
    if (!w) return L->e->status;
    if (w->n_dims != 3 || w->dims[0] <= 0 || w->dims[1] <= 0 || w->dims[2] <= 0 || w->dims[2] > 64 ||
        w->dims[0] > 65536 || w->dims[1] > 65536)
        return FAIL("%s: weight of '%s' has shape of %d dims, expected [out, in, kernel]", path, module, w->n_dims);
    int64_t groups = attr_int(n, "group", 0, 1), K = w->dims[2];
    struct qw_conv1d_params p = {
        .kernel = (int)K,
        .stride = (int)attr_int(n, "strides", 0, 1),
        .dilation = (int)attr_int(n, "dilations", 0, 1),
        .groups = (int)groups,
        .pad_left = (int)attr_int(n, "pads", 0, 0),
        .pad_right = (int)attr_int(n, "pads", 1, 0),
    };
    if (attr_int(n, "kernel_shape", 0, K) != K || p.stride < 1 || p.stride > 64 || p.dilation < 1 ||
        p.dilation > 1024 || groups < 1 || groups > 65536 || p.pad_left < 0 || p.pad_left > 4096 ||
        p.pad_right < 0 || p.pad_right > 4096 || (transposed && (groups != 1 || p.dilation != 1)))
        return FAIL("%s: convolution '%s' has unsupported attributes", path, module);
    int64_t ci = transposed ? w->dims[0] : w->dims[1] * groups, co = transposed ? w->dims[1] : w->dims[0];
    if ((c_in >= 0 && ci != c_in) || (c_out >= 0 && co != c_out) || co % groups != 0)
        return FAIL("%s: '%s' maps %lld -> %lld channels, expected %d -> %d", path, module, (long long)ci,
                    (long long)co, c_in, c_out);
    float *h = staging(L, w->numel, false), *hp = staging(L, w->numel, true);
    if (!h || !hp) return qw_fail(L->e, QWGLM_ERR_NOMEM, "weights");
    qwglm_status rc = onnx_tensor_f32(L->onnx, w, h, L->e);
    if (rc) return rc;
    if (transposed) qw_conv_transpose1d_weight(h, hp, ci, co, (int)K);
    else qw_conv1d_weight(h, hp, co, ci / groups, (int)K);
    memset(cv, 0, sizeof *cv);
    cv->p = p;
    cv->c_in = (int)ci;
    cv->c_out = (int)co;
    rc = upload(L, hp, co, w->numel / co, &cv->w);
    if (rc || n->n_inputs < 3 || n->inputs[2][0] == 0) return rc;
    return load_vec(L, n->inputs[2], co, &cv->b);
}

static qwglm_status load_convf(struct loader *L, struct vits_conv *cv, int c_in, int c_out, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static qwglm_status load_convf(struct loader *L, struct vits_conv *cv, int c_in, int c_out, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return load_conv(L, name, c_in, c_out, cv);
}

static bool has_convf(struct loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool has_convf(struct loader *L, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return find_conv(L, name) != NULL;
}

/* ---- modules ---- */

static qwglm_status load_text_encoder(struct loader *L)
{
    struct vits_model *m = L->m;
    const char *path = L->onnx->path;
    const struct onnx_tensor *emb = tensor(L, "enc_p.emb.weight", false);
    if (!emb) emb = tensor(L, "sid", false);
    if (!emb || emb->n_dims != 2 || emb->dims[0] < 1 || emb->dims[1] < 1 || emb->dims[1] > 8192 ||
        emb->dims[0] > 1 << 20)
        return FAIL("%s: no text embedding ('enc_p.emb.weight' or 'sid' [symbols, hidden])", path);
    m->n_vocab = (int)emb->dims[0];
    m->hidden = (int)emb->dims[1];
    float *h = staging(L, emb->numel, false);
    if (!h) return qw_fail(L->e, QWGLM_ERR_NOMEM, "weights");
    qwglm_status rc = onnx_tensor_f32(L->onnx, emb, h, L->e);
    if (rc || (rc = upload(L, h, m->n_vocab, m->hidden, &m->emb))) return rc;

    const struct onnx_tensor *rk = tensor(L, "enc_p.encoder.attn_layers.0.emb_rel_k", true);
    if (!rk) return L->e->status;
    if (rk->n_dims != 3 || rk->dims[0] != 1 || rk->dims[1] % 2 != 1 || rk->dims[2] < 1 || rk->dims[2] > 512 ||
        m->hidden % rk->dims[2] != 0)
        return FAIL("%s: 'enc_p.encoder.attn_layers.0.emb_rel_k' has an unexpected shape", path);
    m->head_dim = (int)rk->dims[2];
    m->n_heads = m->hidden / m->head_dim;
    m->window = (int)(rk->dims[1] - 1) / 2;
    while (m->n_layers < VITS_MAX_LAYERS && has_convf(L, "enc_p.encoder.attn_layers.%d.conv_q", m->n_layers))
        m->n_layers++;
    int H = m->hidden, W = 2 * m->window + 1;
    for (int l = 0; l < m->n_layers; l++) {
        struct vits_enc_layer *y = &m->enc[l];
        const char *pre = "enc_p.encoder";
        if ((rc = load_convf(L, &y->q, H, H, "%s.attn_layers.%d.conv_q", pre, l)) ||
            (rc = load_convf(L, &y->k, H, H, "%s.attn_layers.%d.conv_k", pre, l)) ||
            (rc = load_convf(L, &y->v, H, H, "%s.attn_layers.%d.conv_v", pre, l)) ||
            (rc = load_convf(L, &y->o, H, H, "%s.attn_layers.%d.conv_o", pre, l)) ||
            (rc = load_convf(L, &y->ffn1, H, -1, "%s.ffn_layers.%d.conv_1", pre, l)))
            return rc;
        if (l == 0) m->filter = y->ffn1.c_out;
        if ((rc = load_convf(L, &y->ffn2, m->filter, H, "%s.ffn_layers.%d.conv_2", pre, l)) ||
            (rc = load_vecf(L, &y->ek, (int64_t)W * m->head_dim, "%s.attn_layers.%d.emb_rel_k", pre, l)) ||
            (rc = load_vecf(L, &y->ev, (int64_t)W * m->head_dim, "%s.attn_layers.%d.emb_rel_v", pre, l)) ||
            (rc = load_vecf(L, &y->ln1g, H, "%s.norm_layers_1.%d.gamma", pre, l)) ||
            (rc = load_vecf(L, &y->ln1b, H, "%s.norm_layers_1.%d.beta", pre, l)) ||
            (rc = load_vecf(L, &y->ln2g, H, "%s.norm_layers_2.%d.gamma", pre, l)) ||
            (rc = load_vecf(L, &y->ln2b, H, "%s.norm_layers_2.%d.beta", pre, l)))
            return rc;
        y->ek = qw_reshape(y->ek, W, m->head_dim);
        y->ev = qw_reshape(y->ev, W, m->head_dim);
        /* the FFN pads "same" itself (left (k-1)/2, right k/2) before an unpadded conv */
        for (struct vits_conv *c = &y->ffn1; c <= &y->ffn2; c++) {
            c->p.pad_left = (c->p.kernel - 1) / 2;
            c->p.pad_right = c->p.kernel / 2;
        }
    }
    if ((rc = load_conv(L, "enc_p.proj", H, -1, &m->enc_proj))) return rc;
    if (m->enc_proj.c_out % 2) return FAIL("%s: 'enc_p.proj' has an odd number of outputs", path);
    m->inter = m->enc_proj.c_out / 2;
    return QWGLM_OK;
}

static qwglm_status load_dds(struct loader *L, const char *prefix, struct vits_dds *d)
{
    int H = L->m->hidden;
    qwglm_status rc;
    while (d->n_layers < VITS_MAX_LAYERS && has_convf(L, "%s.convs_sep.%d", prefix, d->n_layers)) d->n_layers++;
    if (d->n_layers == 0) return FAIL("%s: no '%s.convs_sep.0'", L->onnx->path, prefix);
    for (int i = 0; i < d->n_layers; i++) {
        if ((rc = load_convf(L, &d->sep[i], H, H, "%s.convs_sep.%d", prefix, i)) ||
            (rc = load_convf(L, &d->pw[i], H, H, "%s.convs_1x1.%d", prefix, i)) ||
            (rc = load_vecf(L, &d->n1g[i], H, "%s.norms_1.%d.gamma", prefix, i)) ||
            (rc = load_vecf(L, &d->n1b[i], H, "%s.norms_1.%d.beta", prefix, i)) ||
            (rc = load_vecf(L, &d->n2g[i], H, "%s.norms_2.%d.gamma", prefix, i)) ||
            (rc = load_vecf(L, &d->n2b[i], H, "%s.norms_2.%d.beta", prefix, i)))
            return rc;
        if (d->sep[i].p.groups != H) return FAIL("%s: '%s.convs_sep.%d' is not depthwise", L->onnx->path, prefix, i);
    }
    return QWGLM_OK;
}

/* The ElementwiseAffine's log-scale is stored negated (constant folding) and unnamed: it is the initializer that
 * feeds an Exp node directly. */
static qwglm_status load_dp_logs(struct loader *L)
{
    struct vits_model *m = L->m;
    const struct onnx_tensor *t = tensor(L, "dp.flows.0.logs", false);
    bool negate = t != NULL;
    for (int i = 0; !t && i < L->onnx->n_nodes; i++) {
        const struct onnx_node *n = &L->onnx->nodes[i];
        if (strcmp(n->op_type, "Exp") == 0 && n->n_inputs == 1 && onnx_find(L->onnx, n->inputs[0]))
            t = onnx_find(L->onnx, n->inputs[0]);
    }
    if (!t || t->numel != 2) return FAIL("%s: no duration predictor log-scale (dp.flows.0.logs)", L->onnx->path);
    float v[2];
    qwglm_status rc = onnx_tensor_f32(L->onnx, t, v, L->e);
    if (rc) return rc;
    if (negate) v[0] = -v[0], v[1] = -v[1];
    /* the reverse affine is z = (z - m) exp(-logs): keep exp(-logs) and -m */
    v[0] = expf(v[0]);
    v[1] = expf(v[1]);
    if ((rc = upload(L, v, 1, 2, &m->dp_scale))) return rc;
    const struct onnx_tensor *mt = tensor(L, "dp.flows.0.m", true);
    if (!mt) return L->e->status;
    if (mt->numel != 2) return FAIL("%s: 'dp.flows.0.m' has %lld values, expected 2", L->onnx->path, (long long)mt->numel);
    if ((rc = onnx_tensor_f32(L->onnx, mt, v, L->e))) return rc;
    v[0] = -v[0];
    v[1] = -v[1];
    return upload(L, v, 1, 2, &m->dp_neg_m);
}

static qwglm_status load_duration_predictor(struct loader *L)
{
    struct vits_model *m = L->m;
    int H = m->hidden;
    qwglm_status rc;
    if (!has_convf(L, "dp.flows.3.proj"))
        return FAIL("%s: no stochastic duration predictor (dp.flows.3); other predictors are not supported",
                    L->onnx->path);
    if ((rc = load_conv(L, "dp.pre", H, H, &m->dp_pre)) || (rc = load_dds(L, "dp.convs", &m->dp_dds)) ||
        (rc = load_conv(L, "dp.proj", H, H, &m->dp_proj)))
        return rc;
    if (m->gin && (rc = load_conv(L, "dp.cond", m->gin, H, &m->dp_cond))) return rc;
    for (int k = 3; m->n_cflows < VITS_MAX_FLOWS && has_convf(L, "dp.flows.%d.proj", k); k += 2) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "dp.flows.%d.convs", k);
        if ((rc = load_convf(L, &m->cflow[m->n_cflows].pre, 1, H, "dp.flows.%d.pre", k)) ||
            (rc = load_dds(L, prefix, &m->cflow[m->n_cflows].dds)) ||
            (rc = load_convf(L, &m->cflow[m->n_cflows].proj, H, -1, "dp.flows.%d.proj", k)))
            return rc;
        if (m->cflow[m->n_cflows].proj.c_out % 3 != 2 || m->cflow[m->n_cflows].proj.c_out > 3 * 64)
            return FAIL("%s: 'dp.flows.%d.proj' has %d outputs, not 3 bins - 1", L->onnx->path, k,
                        m->cflow[m->n_cflows].proj.c_out);
        m->n_cflows++;
    }
    if (m->n_cflows % 2 == 0)
        return FAIL("%s: %d spline flows (the reverse pass expects an odd number)", L->onnx->path, m->n_cflows);
    return load_dp_logs(L);
}

/* Reverses the input columns [c0, c0 + n) of a [c_out, kernel c_in] weight... for 1x1 convs: reverses the order
 * of the c_in values of every row, or of the rows (and the bias). Used to absorb channel flips into weights. */
static qwglm_status reverse_conv(struct loader *L, struct vits_conv *c, bool inputs)
{
    struct qw_backend *be = L->m->be;
    int64_t rows = c->w.rows, cols = c->w.cols;
    float *h = staging(L, rows * cols, false), *o = staging(L, rows * cols, true);
    if (!h || !o) return qw_fail(L->e, QWGLM_ERR_NOMEM, "weights");
    qwglm_status rc = qw_tensor_read(be, c->w, h, L->e);
    if (rc) return rc;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            o[r * cols + j] = inputs ? h[r * cols + (cols - 1 - j)] : h[(rows - 1 - r) * cols + j];
    if ((rc = qw_tensor_write(be, c->w, o, L->e)) || inputs || !qw_tensor_present(c->b)) return rc;
    if ((rc = qw_tensor_read(be, c->b, h, L->e))) return rc;
    for (int64_t j = 0; j < rows; j++) o[j] = h[rows - 1 - j];
    return qw_tensor_write(be, c->b, o, L->e);
}

static qwglm_status load_flow(struct loader *L)
{
    struct vits_model *m = L->m;
    int H = m->hidden, h = m->inter / 2;
    qwglm_status rc;
    while (m->n_couplings < VITS_MAX_FLOWS && has_convf(L, "flow.flows.%d.pre", 2 * m->n_couplings))
        m->n_couplings++;
    if (m->n_couplings == 0 || m->n_couplings % 2 || m->inter % 2)
        return FAIL("%s: %d coupling layers over %d channels (expected an even number, flow.flows.0, 2, ...)",
                    L->onnx->path, m->n_couplings, m->inter);
    for (int c = 0; c < m->n_couplings; c++) {
        struct vits_coupling *cp = &m->coupling[c];
        int f = 2 * c;
        if ((rc = load_convf(L, &cp->pre, h, H, "flow.flows.%d.pre", f)) ||
            (rc = load_convf(L, &cp->post, H, h, "flow.flows.%d.post", f)))
            return rc;
        while (cp->n_layers < VITS_MAX_LAYERS && has_convf(L, "flow.flows.%d.enc.in_layers.%d", f, cp->n_layers))
            cp->n_layers++;
        if (cp->n_layers == 0) return FAIL("%s: no 'flow.flows.%d.enc.in_layers.0'", L->onnx->path, f);
        for (int i = 0; i < cp->n_layers; i++) {
            int rs_out = i < cp->n_layers - 1 ? 2 * H : H;
            if ((rc = load_convf(L, &cp->in[i], H, 2 * H, "flow.flows.%d.enc.in_layers.%d", f, i)) ||
                (rc = load_convf(L, &cp->rs[i], H, rs_out, "flow.flows.%d.enc.res_skip_layers.%d", f, i)))
                return rc;
        }
        if (m->gin && (rc = load_convf(L, &cp->cond, m->gin, 2 * H * cp->n_layers, "flow.flows.%d.enc.cond_layer",
                                       f)))
            return rc;
        /* In reverse order coupling c runs after n - c flips; when that count is odd the channels it sees are
         * the stored ones reversed, which reversing its input weights and its output rows absorbs. */
        if (cp->pre.p.kernel != 1 || cp->post.p.kernel != 1)
            return FAIL("%s: coupling flow.flows.%d has pre/post kernels wider than 1", L->onnx->path, f);
        if ((m->n_couplings - c) % 2 && ((rc = reverse_conv(L, &cp->pre, true)) || (rc = reverse_conv(L, &cp->post, false))))
            return rc;
    }
    return QWGLM_OK;
}

static qwglm_status load_decoder(struct loader *L)
{
    struct vits_model *m = L->m;
    qwglm_status rc;
    if ((rc = load_conv(L, "dec.conv_pre", m->inter, -1, &m->conv_pre))) return rc;
    if (m->gin && (rc = load_conv(L, "dec.cond", m->gin, m->conv_pre.c_out, &m->dec_cond))) return rc;
    int C = m->conv_pre.c_out;
    m->hop = 1;
    while (m->n_ups < VITS_MAX_UPS && has_convf(L, "dec.ups.%d", m->n_ups)) {
        if ((rc = load_convf(L, &m->ups[m->n_ups], C, -1, "dec.ups.%d", m->n_ups))) return rc;
        C = m->ups[m->n_ups].c_out;
        m->hop *= m->ups[m->n_ups].p.stride;
        m->n_ups++;
    }
    int n_rb = 0;
    while (n_rb < VITS_MAX_UPS * VITS_MAX_KERNELS + 1 &&
           (has_convf(L, "dec.resblocks.%d.convs.0", n_rb) || has_convf(L, "dec.resblocks.%d.convs1.0", n_rb)))
        n_rb++;
    if (m->n_ups == 0 || n_rb == 0 || n_rb % m->n_ups || n_rb / m->n_ups > VITS_MAX_KERNELS)
        return FAIL("%s: decoder with %d upsampling stages and %d resblocks", L->onnx->path, m->n_ups, n_rb);
    m->n_kernels = n_rb / m->n_ups;
    m->rb_type = has_convf(L, "dec.resblocks.0.convs1.0") ? 1 : 2;
    const char *a = m->rb_type == 1 ? "convs1" : "convs";
    while (m->rb_convs < VITS_MAX_RB_CONVS && has_convf(L, "dec.resblocks.0.%s.%d", a, m->rb_convs)) m->rb_convs++;
    for (int i = 0; i < n_rb; i++) {
        int ch = m->ups[i / m->n_kernels].c_out;
        for (int j = 0; j < m->rb_convs; j++) {
            if ((rc = load_convf(L, &m->rb1[i][j], ch, ch, "dec.resblocks.%d.%s.%d", i, a, j))) return rc;
            if (m->rb_type == 1 && (rc = load_convf(L, &m->rb2[i][j], ch, ch, "dec.resblocks.%d.convs2.%d", i, j)))
                return rc;
        }
    }
    if ((rc = load_conv(L, "dec.conv_post", C, 1, &m->conv_post))) return rc;
    /* every conv of the decoder keeps its length: padding must be "same" */
    if (m->conv_pre.p.pad_left + m->conv_pre.p.pad_right != m->conv_pre.p.kernel - 1)
        return FAIL("%s: 'dec.conv_pre' does not keep the length", L->onnx->path);
    return QWGLM_OK;
}

static qwglm_status load_speakers(struct loader *L)
{
    struct vits_model *m = L->m;
    const struct onnx_tensor *t = tensor(L, "emb_g.weight", false);
    m->n_speakers = 1;
    if (!t) return QWGLM_OK;
    if (t->n_dims != 2 || t->dims[0] < 1 || t->dims[1] < 1 || t->dims[0] > 1 << 20 || t->dims[1] > 8192)
        return FAIL("%s: 'emb_g.weight' has an unexpected shape", L->onnx->path);
    m->n_speakers = (int)t->dims[0];
    m->gin = (int)t->dims[1];
    float *h = staging(L, t->numel, false);
    if (!h) return qw_fail(L->e, QWGLM_ERR_NOMEM, "weights");
    qwglm_status rc = onnx_tensor_f32(L->onnx, t, h, L->e);
    return rc ? rc : upload(L, h, m->n_speakers, m->gin, &m->emb_g);
}

qwglm_status vits_load(struct vits_model *m, const struct onnx_model *onnx, struct qw_backend *be, struct qw_err *e)
{
    memset(m, 0, sizeof *m);
    m->be = be;
    struct loader L = {.m = m, .onnx = onnx, .e = e};
    qwglm_status rc;
    if ((rc = build_module_map(&L)) || (rc = load_speakers(&L)) || (rc = load_text_encoder(&L)) ||
        (rc = load_duration_predictor(&L)) || (rc = load_flow(&L)) || (rc = load_decoder(&L)))
        goto done;
    if (m->n_layers == 0 || m->n_cflows == 0)
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: %d encoder layers, %d spline flows", onnx->path, m->n_layers,
                     m->n_cflows);
done:
    strmap_free(&L.convs);
    qw_free(L.names);
    qw_free(L.tmp);
    qw_free(L.tmp2);
    if (rc) vits_free(m);
    return rc;
}

void vits_free(struct vits_model *m)
{
    if (!m) return;
    for (int i = 0; i < 2; i++)
        if (m->be) m->be->ops->buf_free(m->be->ctx, m->scratch[i]);
    for (int i = 0; i < m->n_bufs; i++) m->be->ops->buf_free(m->be->ctx, m->bufs[i]);
    qw_free(m->bufs);
    memset(m, 0, sizeof *m);
}
