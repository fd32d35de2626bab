/* The op interface: what every backend provides and every model uses.
 *
 * Tensors are 2D row-major views into backend buffers; higher dimensions fold into rows (a [seq, heads, dim]
 * activation is rows = seq, cols = heads * dim, or rows = seq * heads, cols = dim: the same bytes). Activations
 * are f32; weights may be f32, f16, bf16 or quantized. An op runs at once (CPU) or is recorded (GPU); results
 * are visible to the host only through buf_read or sync. Ops return nothing: a backend records its first error
 * (a shape mismatch is a bug in the model, reported as QWGLM_ERR_ARG) and sync returns it.
 *
 * Adding an op: a function pointer in struct qw_backend_ops (grouped by family below), an inline wrapper, a CPU
 * implementation beside a plain reference, and a unit test in tests/unit/test_ops.c against that reference.
 */
#ifndef QW_OPS_H
#define QW_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum qw_dtype {
    QW_DTYPE_F32,
    QW_DTYPE_F16,
    QW_DTYPE_BF16,
    QW_DTYPE_Q8, /* blocks of 32 int8 with one f16 scale, interleaved per row: see ops/quant.h */
    QW_DTYPE_Q4, /* blocks of 32 4-bit values with one f16 scale, interleaved per row: see ops/quant.h */
    QW_DTYPE_I32,
    QW_DTYPE_COUNT
};

/* Values per block and bytes per block: 1 and the element size for plain types. */
int qw_dtype_block(enum qw_dtype t);
size_t qw_dtype_block_bytes(enum qw_dtype t);
const char *qw_dtype_name(enum qw_dtype t);
/* Bytes of one row of cols values (cols a multiple of the block size). */
size_t qw_row_bytes(enum qw_dtype t, int64_t cols);

struct qw_buf; /* backend memory; opaque to models */

struct qw_tensor {
    struct qw_buf *buf; /* NULL: "no tensor" (an absent bias, say) */
    size_t offset;      /* bytes from the start of buf */
    enum qw_dtype dtype;
    int64_t rows, cols;
    int64_t stride; /* values between the starts of consecutive rows: cols, or more for a column slice */
};

static inline bool qw_tensor_present(struct qw_tensor t) { return t.buf != NULL; }

/* Rows [r0, r0 + n) of t. */
static inline struct qw_tensor qw_rows(struct qw_tensor t, int64_t r0, int64_t n)
{
    t.offset += (size_t)r0 * qw_row_bytes(t.dtype, t.stride);
    t.rows = n;
    return t;
}

/* Columns [c0, c0 + n) of every row of t (plain dtypes only: quantized rows are interleaved, see ops/quant.h). */
static inline struct qw_tensor qw_cols(struct qw_tensor t, int64_t c0, int64_t n)
{
    t.offset += qw_row_bytes(t.dtype, c0);
    t.cols = n;
    return t;
}

/* The same contiguous bytes seen as rows x cols (t must be contiguous: stride == cols). */
static inline struct qw_tensor qw_reshape(struct qw_tensor t, int64_t rows, int64_t cols)
{
    t.rows = rows;
    t.cols = cols;
    t.stride = cols;
    return t;
}

enum qw_unary {
    QW_UNARY_SILU,
    QW_UNARY_GELU_TANH, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    QW_UNARY_GELU_ERF,  /* 0.5 x (1 + erf(x / sqrt(2))) */
    QW_UNARY_RELU,
    QW_UNARY_TANH,
    QW_UNARY_SIGMOID,
    QW_UNARY_EXP,
    QW_UNARY_COUNT
};

/* Attention of q over keys/values, per query head h reading kv head h / (n_heads / n_kv_heads):
 * y[i] = softmax(scale * q[i] . k[j] over the allowed j) v. Query row i sits at position q_pos0 + i; with causal,
 * it sees the keys at positions 0 .. q_pos0 + i, otherwise all n_kv rows. */
struct qw_attn_params {
    int n_heads, n_kv_heads, head_dim;
    int n_kv;    /* valid rows of k and v */
    int q_pos0;  /* position of the first query row (causal masking) */
    bool causal;
    float scale; /* usually 1 / sqrt(head_dim) */
};

/* 1-D convolution over time on time-major activations: x [T_in, C_in] -> y [T_out, C_out] with
 * T_out = (T_in + pad_left + pad_right - dilation (kernel - 1) - 1) / stride + 1 and, for group g(o) = o / (C_out /
 * groups) and cg = C_in / groups,
 *   y[t][o] = b[o] + sum_k sum_c w[o][k cg + c] x[t stride + k dilation - pad_left][g(o) cg + c]   (0 outside x).
 * w [C_out, kernel cg] is the checkpoint's [C_out, cg, kernel] with its last two axes swapped (qw_conv1d_weight
 * does that on the host before upload). */
struct qw_conv1d_params {
    int kernel, stride, dilation, groups;
    int pad_left, pad_right;
};

/* Output length of a conv1d over t_in steps (<= 0 when the input is too short). */
static inline int64_t qw_conv1d_out_len(int64_t t_in, const struct qw_conv1d_params *p)
{
    return (t_in + p->pad_left + p->pad_right - (int64_t)p->dilation * (p->kernel - 1) - 1) / p->stride + 1;
}

/* Host-side layout change of conv weights: src [c_out, cg, kernel] -> dst [c_out, kernel, cg]. */
void qw_conv1d_weight(const float *src, float *dst, int64_t c_out, int64_t cg, int kernel);

/* Transposed 1-D convolution (groups 1, dilation 1) on time-major activations: x [T_in, C_in] -> y [T_out, C_out],
 * T_out = (T_in - 1) stride - pad_left - pad_right + kernel, and
 *   y[t][o] = b[o] + sum over (s, k) with s stride + k = t + pad_left of sum_c w[o][k C_in + c] x[s][c].
 * w [C_out, kernel C_in] is the checkpoint's [C_in, C_out, kernel] rearranged (qw_conv_transpose1d_weight). */
static inline int64_t qw_conv_transpose1d_out_len(int64_t t_in, const struct qw_conv1d_params *p)
{
    return (t_in - 1) * p->stride - p->pad_left - p->pad_right + p->kernel;
}

/* Host-side layout change for conv_transpose1d: src [c_in, c_out, kernel] -> dst [c_out, kernel, c_in]. */
void qw_conv_transpose1d_weight(const float *src, float *dst, int64_t c_in, int64_t c_out, int kernel);

/* Self-attention with relative positions inside a window (VITS text encoder), no masking: per head h,
 *   s[i][j] = qs_i . k_j + (|j - i| <= window ? qs_i . ek[j - i + window] : 0),   qs_i = scale q_i,
 *   y_i = sum_j p[i][j] v_j + sum_{|j - i| <= window} p[i][j] ev[j - i + window],   p = softmax_j(s).
 * q, k, v, y [T, n_heads head_dim]; ek, ev [2 window + 1, head_dim], shared by the heads. */
struct qw_rel_attn_params {
    int n_heads, head_dim, window;
    float scale;
};

/* Inverse of a monotonic rational-quadratic spline with linear tails (neural spline flows), in place on x [T, 1]
 * (a column view is fine): row t's parameters c [T, 3 bins - 1] are unnormalised widths (divided by wh_scale),
 * heights (divided by wh_scale) and inner derivatives; values outside [-tail_bound, tail_bound] pass unchanged.
 * Minimum bin width, height and derivative 1e-3, as in VITS. */
struct qw_spline_params {
    int bins;
    float tail_bound, wh_scale;
};

/* 2-D convolution over time-major activations with channels innermost: x [T_in, W_in * C_in] (row t holds W_in
 * positions of C_in channels: column w * C_in + c) -> y [T_out, W_out * C_out], with per-axis output sizes as for
 * conv1d (no dilation) and, for group g(o) = o / (C_out / groups), cg = C_in / groups,
 *   y[t][u][o] = b[o] + sum_{i,j,c} w[o][(i kernel_w + j) cg + c] x[t stride_t + i - pad_t][u stride_w + j - pad_w][g cg + c]
 * (0 outside x). w [C_out, kernel_t kernel_w cg] is the checkpoint's [C_out, cg, kt, kw] permuted by
 * qw_conv2d_weight. A 1x1 convolution is a linear layer on the [T * W, C] view and needs no op. */
struct qw_conv2d_params {
    int w_in, c_in, c_out;
    int kernel_t, kernel_w, stride_t, stride_w, pad_t, pad_w, groups;
};

static inline int64_t qw_conv2d_out_t(int64_t t_in, const struct qw_conv2d_params *p)
{
    return (t_in + 2 * p->pad_t - p->kernel_t) / p->stride_t + 1;
}
static inline int64_t qw_conv2d_out_w(const struct qw_conv2d_params *p)
{
    return ((int64_t)p->w_in + 2 * p->pad_w - p->kernel_w) / p->stride_w + 1;
}

/* Host-side layout change of conv2d weights: src [c_out, cg, kt, kw] -> dst [c_out, kt, kw, cg]. */
void qw_conv2d_weight(const float *src, float *dst, int64_t c_out, int64_t cg, int kt, int kw);

/* Self-attention with relative positions (Transformer-XL, as the Conformer uses it): for query row i < n_valid
 * and head h,
 *   s[j] = scale * ((q[i] + u) . k[j] + (q[i] + v_bias) . p[T - 1 - i + j])   for j < n_valid,
 *   y[i] = sum_j softmax(s)[j] v[j];   rows i >= n_valid of y are 0.
 * q, k, v, y [T, n_heads * head_dim]; p [2T - 1, n_heads * head_dim] (row r: relative position T - 1 - r, already
 * projected); u, v_bias [1, n_heads * head_dim]. */
struct qw_relattn_params {
    int n_heads, head_dim;
    int n_valid; /* rows of q, k, v that are real frames; the rest are padding */
    float scale;
};

/* What a fused convolution does after the sum: y = scale ((conv(x) + b + res) + res2), then act = leaky_relu(y,
 * slope). HiFi-GAN's residual blocks in one pass each: a block's sum, the running sum over the blocks of a stage
 * and its mean, and the activated input of the next convolution. */
struct qw_conv_epilogue {
    struct qw_tensor res, res2; /* [T_out, C_out] added, or absent; must not overlap y */
    float scale;                /* 1: none */
    struct qw_tensor act;       /* [T_out, C_out] written, or absent; either y itself or not overlapping it */
    float slope;
};

struct qw_backend_ops {
    const char *name;
    void (*free)(void *ctx);

    /* ---- memory ---- */
    /* Memory functions report failures in e (NULL allowed) as well as in their status. */
    qwglm_status (*buf_alloc)(void *ctx, size_t bytes, struct qw_buf **out, struct qw_err *e);
    void (*buf_free)(void *ctx, struct qw_buf *b); /* NULL is a no-op */
    qwglm_status (*buf_write)(void *ctx, struct qw_buf *b, size_t off, const void *src, size_t n,
                              struct qw_err *e);
    /* Waits for queued work, then copies. */
    qwglm_status (*buf_read)(void *ctx, struct qw_buf *b, size_t off, void *dst, size_t n, struct qw_err *e);
    /* Weights: converts rows x cols values of src (F32, F16 or BF16, row-major) to dst_dtype in new backend memory.
     * A backend may keep src itself when no conversion is needed and it can read host memory (CPU + mmap):
     * src must then outlive the tensor, unchanged. Weights change only through buf_write: a backend may keep a
     * rearranged copy of a weight (the CPU backend's packed convolution weights) until its buffer is written or
     * freed. */
    qwglm_status (*weight_upload)(void *ctx, const void *src, enum qw_dtype src_dtype, int64_t rows, int64_t cols,
                                  enum qw_dtype dst_dtype, struct qw_tensor *out, struct qw_err *e);
    /* Submits queued work, waits, and returns the first error since the last sync (copied into e). */
    qwglm_status (*sync)(void *ctx, struct qw_err *e);

    /* ---- transformer ops (activations f32) ---- */
    /* y[i] = table[ids[i]] converted to f32; ids is an I32 tensor (1 row of n, or n rows of 1). */
    void (*get_rows)(void *ctx, struct qw_tensor y, struct qw_tensor table, struct qw_tensor ids);
    /* y = x @ w^T (+ b): x [n, k], w [m, k] of any weight dtype, b [1, m] f32 or absent, y [n, m]. */
    void (*linear)(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b);
    /* y = x / sqrt(mean(x^2) + eps) * w per row; w [1, cols]. y may be x. */
    void (*rmsnorm)(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, float eps);
    /* y = (x - mean) / sqrt(var + eps) * w + b per row; w, b [1, cols] or absent. y may be x. */
    void (*layernorm)(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                      float eps);
    /* Rotate-half rotary embedding in place on x [n, n_heads * head_dim]: for each head and i < rot/2,
     * (a, b) = (x[i], x[i + rot/2]) -> (a c - b s, b c + a s) with c = cs[r][i], s = cs[r][rot/2 + i];
     * cs [n, rot] f32 (rot = cs.cols <= head_dim; dims past rot are untouched). */
    void (*rope)(void *ctx, struct qw_tensor x, struct qw_tensor cs, int n_heads, int head_dim);
    void (*attention)(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                      const struct qw_attn_params *p);

    /* ---- element-wise (f32) ---- */
    /* y = a + b; b has a's shape or is one row broadcast over a's rows. y may alias a. */
    void (*add)(void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b);
    /* y = a * b, same broadcasting as add. */
    void (*mul)(void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b);
    /* y = x * scale + shift. */
    void (*affine)(void *ctx, struct qw_tensor y, struct qw_tensor x, float scale, float shift);
    void (*unary)(void *ctx, struct qw_tensor y, struct qw_tensor x, enum qw_unary op);
    /* y = silu(gate) * up. */
    void (*swiglu)(void *ctx, struct qw_tensor y, struct qw_tensor gate, struct qw_tensor up);
    /* Softmax over each row, in place. */
    void (*softmax)(void *ctx, struct qw_tensor x);
    /* y = x, converting dtype (F32 -> F32/F16/BF16); y and x may be strided views (a KV cache slot, say). */
    void (*copy)(void *ctx, struct qw_tensor y, struct qw_tensor x);

    /* ---- convolutions (time-major activations) ---- */
    /* See struct qw_conv1d_params; b [1, C_out] f32 or absent. */
    void (*conv1d)(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                   const struct qw_conv1d_params *p);

    /* ---- speech synthesis ---- */
    /* See qw_conv_transpose1d_out_len; p->groups and p->dilation must be 1; b [1, C_out] f32 or absent. */
    void (*conv_transpose1d)(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                             struct qw_tensor b, const struct qw_conv1d_params *p);
    /* y = x >= 0 ? x : slope x. y may be x. */
    void (*leaky_relu)(void *ctx, struct qw_tensor y, struct qw_tensor x, float slope);
    void (*attention_rel)(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                          struct qw_tensor ek, struct qw_tensor ev, const struct qw_rel_attn_params *p);
    void (*spline_inverse)(void *ctx, struct qw_tensor x, struct qw_tensor c, const struct qw_spline_params *p);
    /* See struct qw_conv2d_params; b [1, C_out] f32 or absent; w f32. */
    void (*conv2d)(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                   const struct qw_conv2d_params *p);
    /* See struct qw_relattn_params. */
    void (*attention_relpos)(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k,
                             struct qw_tensor v, struct qw_tensor p, struct qw_tensor u, struct qw_tensor v_bias,
                             const struct qw_relattn_params *prm);

    /* ---- optional fused forms: NULL when a backend lacks them; the wrappers fall back to the plain ops ---- */
    /* y[i] = x @ w[i]^T for i < n <= QW_MULTI_MAX: products sharing their input (q, k, v; gate, up), so x is
     * converted once and the threads make one pass over all the weights. */
    void (*matmul_multi)(void *ctx, int n, const struct qw_tensor *y, struct qw_tensor x, const struct qw_tensor *w);
    /* conv1d / conv_transpose1d followed by the epilogue ep (see struct qw_conv_epilogue). */
    void (*conv1d_fused)(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                         const struct qw_conv1d_params *p, const struct qw_conv_epilogue *ep);
    void (*conv_transpose1d_fused)(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                                   struct qw_tensor b, const struct qw_conv1d_params *p,
                                   const struct qw_conv_epilogue *ep);
    /* y = tanh(a) * sigmoid(b) (WaveNet's gated activation); y, a, b of one shape. */
    void (*tanh_sigmoid_mul)(void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b);
};

struct qw_backend {
    const struct qw_backend_ops *ops;
    void *ctx;
};

/* ---- wrappers: models call these, never the table ---- */

static inline void qw_get_rows(struct qw_backend *be, struct qw_tensor y, struct qw_tensor table,
                               struct qw_tensor ids)
{
    be->ops->get_rows(be->ctx, y, table, ids);
}
static inline void qw_linear(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                             struct qw_tensor b)
{
    be->ops->linear(be->ctx, y, x, w, b);
}
static inline void qw_matmul(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w)
{
    be->ops->linear(be->ctx, y, x, w, (struct qw_tensor){0});
}
#define QW_MULTI_MAX 4
static inline void qw_matmul_multi(struct qw_backend *be, int n, const struct qw_tensor *y, struct qw_tensor x,
                                   const struct qw_tensor *w)
{
    if (be->ops->matmul_multi) be->ops->matmul_multi(be->ctx, n, y, x, w);
    else
        for (int i = 0; i < n; i++) qw_matmul(be, y[i], x, w[i]);
}
static inline void qw_rmsnorm(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                              float eps)
{
    be->ops->rmsnorm(be->ctx, y, x, w, eps);
}
static inline void qw_layernorm(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                                struct qw_tensor b, float eps)
{
    be->ops->layernorm(be->ctx, y, x, w, b, eps);
}
static inline void qw_rope(struct qw_backend *be, struct qw_tensor x, struct qw_tensor cs, int n_heads,
                           int head_dim)
{
    be->ops->rope(be->ctx, x, cs, n_heads, head_dim);
}
static inline void qw_attention(struct qw_backend *be, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k,
                                struct qw_tensor v, const struct qw_attn_params *p)
{
    be->ops->attention(be->ctx, y, q, k, v, p);
}
static inline void qw_add(struct qw_backend *be, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b)
{
    be->ops->add(be->ctx, y, a, b);
}
static inline void qw_mul(struct qw_backend *be, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b)
{
    be->ops->mul(be->ctx, y, a, b);
}
static inline void qw_affine(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, float scale,
                             float shift)
{
    be->ops->affine(be->ctx, y, x, scale, shift);
}
static inline void qw_unary(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, enum qw_unary op)
{
    be->ops->unary(be->ctx, y, x, op);
}
static inline void qw_swiglu(struct qw_backend *be, struct qw_tensor y, struct qw_tensor gate,
                             struct qw_tensor up)
{
    be->ops->swiglu(be->ctx, y, gate, up);
}
static inline void qw_softmax(struct qw_backend *be, struct qw_tensor x) { be->ops->softmax(be->ctx, x); }
static inline void qw_copy(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x)
{
    be->ops->copy(be->ctx, y, x);
}
static inline void qw_conv1d(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                             struct qw_tensor b, const struct qw_conv1d_params *p)
{
    be->ops->conv1d(be->ctx, y, x, w, b, p);
}
static inline void qw_conv_transpose1d(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x,
                                       struct qw_tensor w, struct qw_tensor b, const struct qw_conv1d_params *p)
{
    be->ops->conv_transpose1d(be->ctx, y, x, w, b, p);
}
static inline void qw_conv_epilogue_apply(struct qw_backend *be, struct qw_tensor y, const struct qw_conv_epilogue *ep)
{
    if (qw_tensor_present(ep->res)) qw_add(be, y, y, ep->res);
    if (qw_tensor_present(ep->res2)) qw_add(be, y, y, ep->res2);
    if (ep->scale != 1.0f) be->ops->affine(be->ctx, y, y, ep->scale, 0.0f);
    if (qw_tensor_present(ep->act)) be->ops->leaky_relu(be->ctx, ep->act, y, ep->slope);
}
static inline void qw_conv1d_fused(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                                   struct qw_tensor b, const struct qw_conv1d_params *p,
                                   const struct qw_conv_epilogue *ep)
{
    if (be->ops->conv1d_fused) {
        be->ops->conv1d_fused(be->ctx, y, x, w, b, p, ep);
        return;
    }
    be->ops->conv1d(be->ctx, y, x, w, b, p);
    qw_conv_epilogue_apply(be, y, ep);
}
static inline void qw_conv_transpose1d_fused(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x,
                                             struct qw_tensor w, struct qw_tensor b, const struct qw_conv1d_params *p,
                                             const struct qw_conv_epilogue *ep)
{
    if (be->ops->conv_transpose1d_fused) {
        be->ops->conv_transpose1d_fused(be->ctx, y, x, w, b, p, ep);
        return;
    }
    be->ops->conv_transpose1d(be->ctx, y, x, w, b, p);
    qw_conv_epilogue_apply(be, y, ep);
}
/* Without the fused op, a and b are overwritten by their activations. */
static inline void qw_tanh_sigmoid_mul(struct qw_backend *be, struct qw_tensor y, struct qw_tensor a,
                                       struct qw_tensor b)
{
    if (be->ops->tanh_sigmoid_mul) {
        be->ops->tanh_sigmoid_mul(be->ctx, y, a, b);
        return;
    }
    be->ops->unary(be->ctx, a, a, QW_UNARY_TANH);
    be->ops->unary(be->ctx, b, b, QW_UNARY_SIGMOID);
    be->ops->mul(be->ctx, y, a, b);
}
static inline void qw_leaky_relu(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, float slope)
{
    be->ops->leaky_relu(be->ctx, y, x, slope);
}
static inline void qw_attention_rel(struct qw_backend *be, struct qw_tensor y, struct qw_tensor q,
                                    struct qw_tensor k, struct qw_tensor v, struct qw_tensor ek, struct qw_tensor ev,
                                    const struct qw_rel_attn_params *p)
{
    be->ops->attention_rel(be->ctx, y, q, k, v, ek, ev, p);
}
static inline void qw_spline_inverse(struct qw_backend *be, struct qw_tensor x, struct qw_tensor c,
                                     const struct qw_spline_params *p)
{
    be->ops->spline_inverse(be->ctx, x, c, p);
}
static inline void qw_conv2d(struct qw_backend *be, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                             struct qw_tensor b, const struct qw_conv2d_params *p)
{
    be->ops->conv2d(be->ctx, y, x, w, b, p);
}
static inline void qw_attention_relpos(struct qw_backend *be, struct qw_tensor y, struct qw_tensor q,
                                       struct qw_tensor k, struct qw_tensor v, struct qw_tensor p, struct qw_tensor u,
                                       struct qw_tensor v_bias, const struct qw_relattn_params *prm)
{
    be->ops->attention_relpos(be->ctx, y, q, k, v, p, u, v_bias, prm);
}
static inline qwglm_status qw_sync(struct qw_backend *be, struct qw_err *e) { return be->ops->sync(be->ctx, e); }

/* ---- scratch: activations carved from one backend buffer per pass ---- */

struct qw_scratch {
    struct qw_buf *buf;
    size_t cap, used, peak;
    bool overflow; /* a request did not fit: the pass must fail with QWGLM_ERR_NOMEM */
};

/* A rows x cols tensor of dtype at the next 64-byte boundary. On overflow returns an absent tensor and sets
 * s->overflow (ops on absent tensors record an error instead of touching memory). */
struct qw_tensor qw_scratch_tensor(struct qw_scratch *s, enum qw_dtype dtype, int64_t rows, int64_t cols);
static inline void qw_scratch_reset(struct qw_scratch *s) { s->used = 0; }
/* Bytes qw_scratch_tensor consumes for such a tensor (for sizing). */
size_t qw_scratch_bytes(enum qw_dtype dtype, int64_t rows, int64_t cols);

/* Copies host data into a tensor / a tensor into host memory (contiguous tensors only). */
qwglm_status qw_tensor_write(struct qw_backend *be, struct qw_tensor t, const void *src, struct qw_err *e);
qwglm_status qw_tensor_read(struct qw_backend *be, struct qw_tensor t, void *dst, struct qw_err *e);

#endif
