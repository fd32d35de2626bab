/* Row-wise and element-wise ops: norms, rotary embedding, activations, arithmetic, copies. All f32. */
#include <math.h>
#include <string.h>

#include "base/fp.h"
#include "cpu_impl.h"

static bool same_shape(struct qw_tensor a, struct qw_tensor b) { return a.rows == b.rows && a.cols == b.cols; }

/* ---- norms ---- */

struct norm_job {
    struct qw_tensor y, x, w, b;
    float eps;
    const struct cpu_kernels *k;
};

static void rmsnorm_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct norm_job *j = arg;
    const float *w = cpu_row(j->w, 0);
    for (int64_t r = r0; r < r1; r++) j->k->rmsnorm(cpu_row(j->y, r), cpu_row(j->x, r), w, j->x.cols, j->eps);
}

void cpu_rmsnorm(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, float eps)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "rmsnorm", "y") || !cpu_check_f32(c, x, "rmsnorm", "x") ||
        !cpu_check_f32(c, w, "rmsnorm", "w") ||
        !cpu_check(c, same_shape(x, y) && w.cols == x.cols && x.cols > 0, "rmsnorm: shapes"))
        return;
    struct norm_job j = {y, x, w, {0}, eps, &c->k};
    cpu_parallel(c, x.rows, x.cols * 2, rmsnorm_rows, &j);
}

static void layernorm_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct norm_job *j = arg;
    const int64_t n = j->x.cols;
    const float *w = qw_tensor_present(j->w) ? cpu_row(j->w, 0) : NULL;
    const float *b = qw_tensor_present(j->b) ? cpu_row(j->b, 0) : NULL;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = cpu_row(j->x, r);
        float *y = cpu_row(j->y, r);
        /* double sums in 8 independent lanes: vectorised, and no longer one dependent add per value */
        double lane[8] = {0}, mean = 0, var = 0;
        int64_t n8 = n & ~(int64_t)7;
        for (int64_t i = 0; i < n8; i += 8)
            for (int l = 0; l < 8; l++) lane[l] += x[i + l];
        for (int64_t i = n8; i < n; i++) mean += x[i];
        for (int l = 0; l < 8; l++) mean += lane[l], lane[l] = 0;
        mean /= (double)n;
        for (int64_t i = 0; i < n8; i += 8)
            for (int l = 0; l < 8; l++) lane[l] += ((double)x[i + l] - mean) * ((double)x[i + l] - mean);
        for (int64_t i = n8; i < n; i++) var += ((double)x[i] - mean) * ((double)x[i] - mean);
        for (int l = 0; l < 8; l++) var += lane[l];
        float inv = 1.0f / sqrtf((float)(var / (double)n) + j->eps), m = (float)mean;
        for (int64_t i = 0; i < n; i++) {
            float v = (x[i] - m) * inv;
            if (w) v *= w[i];
            if (b) v += b[i];
            y[i] = v;
        }
    }
}

void cpu_layernorm(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                   float eps)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "layernorm", "y") || !cpu_check_f32(c, x, "layernorm", "x") ||
        !cpu_check(c, same_shape(x, y) && x.cols > 0, "layernorm: shapes"))
        return;
    if (qw_tensor_present(w) && (!cpu_check_f32(c, w, "layernorm", "w") || !cpu_check(c, w.cols == x.cols, "layernorm: w")))
        return;
    if (qw_tensor_present(b) && (!cpu_check_f32(c, b, "layernorm", "b") || !cpu_check(c, b.cols == x.cols, "layernorm: b")))
        return;
    struct norm_job j = {y, x, w, b, eps, &c->k};
    cpu_parallel(c, x.rows, x.cols * 3, layernorm_rows, &j);
}

/* ---- rotary embedding ---- */

struct rope_job {
    struct qw_tensor x, cs;
    int n_heads, head_dim;
};

static void rope_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct rope_job *j = arg;
    const int half = (int)j->cs.cols / 2;
    for (int64_t r = r0; r < r1; r++) {
        float *x = cpu_row(j->x, r);
        const float *cs = cpu_row(j->cs, r);
        for (int h = 0; h < j->n_heads; h++) {
            float *v = x + (size_t)h * j->head_dim;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half], co = cs[i], si = cs[half + i];
                v[i] = a * co - b * si;
                v[i + half] = b * co + a * si;
            }
        }
    }
}

void cpu_rope(void *ctx, struct qw_tensor x, struct qw_tensor cs, int n_heads, int head_dim)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, x, "rope", "x") || !cpu_check_f32(c, cs, "rope", "cs") ||
        !cpu_check(c, x.cols == (int64_t)n_heads * head_dim && cs.rows == x.rows && cs.cols % 2 == 0 &&
                          cs.cols <= head_dim,
                   "rope: x %lldx%lld, cs %lldx%lld, %d heads of %d", (long long)x.rows, (long long)x.cols,
                   (long long)cs.rows, (long long)cs.cols, n_heads, head_dim))
        return;
    struct rope_job j = {x, cs, n_heads, head_dim};
    cpu_parallel(c, x.rows, x.cols, rope_rows, &j);
}

/* ---- binary and unary ---- */

enum binop { BIN_ADD, BIN_MUL };

struct binary_job {
    struct qw_tensor y, a, b;
    enum binop op;
    const struct cpu_kernels *k;
};

static void binary_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct binary_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        const float *a = cpu_row(j->a, r), *b = cpu_row(j->b, j->b.rows == 1 ? 0 : r);
        float *y = cpu_row(j->y, r);
        if (j->op == BIN_ADD)
            j->k->add(y, a, b, j->a.cols);
        else
            for (int64_t i = 0; i < j->a.cols; i++) y[i] = a[i] * b[i];
    }
}

static void binary(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b, enum binop op,
                   const char *name)
{
    if (!cpu_check_f32(c, y, name, "y") || !cpu_check_f32(c, a, name, "a") || !cpu_check_f32(c, b, name, "b") ||
        !cpu_check(c, same_shape(y, a) && b.cols == a.cols && (b.rows == a.rows || b.rows == 1),
                   "%s: shapes %lldx%lld and %lldx%lld", name, (long long)a.rows, (long long)a.cols,
                   (long long)b.rows, (long long)b.cols))
        return;
    struct binary_job j = {y, a, b, op, &c->k};
    cpu_parallel(c, a.rows, a.cols, binary_rows, &j);
}

void cpu_add(void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b)
{
    binary(ctx, y, a, b, BIN_ADD, "add");
}

void cpu_mul(void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b)
{
    binary(ctx, y, a, b, BIN_MUL, "mul");
}

struct unary_job {
    struct qw_tensor y, x, g; /* g: second input of swiglu */
    enum qw_unary op;
    float scale, shift;
    int kind; /* 0 unary, 1 affine, 2 swiglu */
    const struct cpu_kernels *k;
};

static inline float silu(float x) { return x / (1.0f + expf(-x)); }

static inline float apply_unary(enum qw_unary op, float x)
{
    switch (op) {
    case QW_UNARY_SILU: return silu(x);
    case QW_UNARY_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case QW_UNARY_GELU_ERF: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case QW_UNARY_RELU: return x > 0 ? x : 0.0f;
    case QW_UNARY_TANH: return tanhf(x);
    case QW_UNARY_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case QW_UNARY_EXP: return expf(x);
    case QW_UNARY_COUNT: break;
    }
    return x;
}

static void unary_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct unary_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = cpu_row(j->x, r);
        float *y = cpu_row(j->y, r);
        if (j->kind == 0 && j->op == QW_UNARY_GELU_TANH && j->k->gelu_tanh) {
            j->k->gelu_tanh(y, x, j->x.cols);
        } else if (j->kind == 0 && j->op == QW_UNARY_GELU_ERF && j->k->gelu_erf) {
            j->k->gelu_erf(y, x, j->x.cols);
        } else if (j->kind == 0 && j->op == QW_UNARY_SILU) {
            j->k->swiglu(y, x, NULL, j->x.cols);
        } else if (j->kind == 0 && j->op == QW_UNARY_RELU) {
            for (int64_t i = 0; i < j->x.cols; i++) y[i] = x[i] > 0 ? x[i] : 0.0f; /* vectorised */
        } else if (j->kind == 0) {
            for (int64_t i = 0; i < j->x.cols; i++) y[i] = apply_unary(j->op, x[i]);
        } else if (j->kind == 1) {
            for (int64_t i = 0; i < j->x.cols; i++) y[i] = x[i] * j->scale + j->shift;
        } else {
            j->k->swiglu(y, x, cpu_row(j->g, r), j->x.cols);
        }
    }
}

void cpu_unary(void *ctx, struct qw_tensor y, struct qw_tensor x, enum qw_unary op)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "unary", "y") || !cpu_check_f32(c, x, "unary", "x") ||
        !cpu_check(c, same_shape(x, y) && (unsigned)op < QW_UNARY_COUNT, "unary: shapes or op"))
        return;
    struct unary_job j = {.y = y, .x = x, .op = op, .kind = 0, .k = &c->k};
    cpu_parallel(c, x.rows, x.cols * 8, unary_rows, &j);
}

void cpu_affine(void *ctx, struct qw_tensor y, struct qw_tensor x, float scale, float shift)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "affine", "y") || !cpu_check_f32(c, x, "affine", "x") ||
        !cpu_check(c, same_shape(x, y), "affine: shapes"))
        return;
    struct unary_job j = {.y = y, .x = x, .scale = scale, .shift = shift, .kind = 1};
    cpu_parallel(c, x.rows, x.cols, unary_rows, &j);
}

void cpu_swiglu(void *ctx, struct qw_tensor y, struct qw_tensor gate, struct qw_tensor up)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "swiglu", "y") || !cpu_check_f32(c, gate, "swiglu", "gate") ||
        !cpu_check_f32(c, up, "swiglu", "up") ||
        !cpu_check(c, same_shape(gate, y) && same_shape(up, y), "swiglu: shapes"))
        return;
    struct unary_job j = {.y = y, .x = gate, .g = up, .kind = 2, .k = &c->k};
    cpu_parallel(c, y.rows, y.cols * 8, unary_rows, &j);
}

static void softmax_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct qw_tensor *x = arg;
    for (int64_t r = r0; r < r1; r++) {
        float *v = cpu_row(*x, r), m = -INFINITY;
        double sum = 0;
        for (int64_t i = 0; i < x->cols; i++) m = v[i] > m ? v[i] : m;
        for (int64_t i = 0; i < x->cols; i++) {
            v[i] = expf(v[i] - m);
            sum += v[i];
        }
        float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
        for (int64_t i = 0; i < x->cols; i++) v[i] *= inv;
    }
}

void cpu_softmax(void *ctx, struct qw_tensor x)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, x, "softmax", "x")) return;
    cpu_parallel(c, x.rows, x.cols * 8, softmax_rows, &x);
}

/* ---- copies ---- */

struct copy_job {
    struct qw_tensor y, x;
    const struct cpu_kernels *k;
};

static void copy_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct copy_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = cpu_row(j->x, r);
        uint8_t *y = (uint8_t *)cpu_ptr(j->y) + (size_t)r * qw_row_bytes(j->y.dtype, j->y.stride);
        switch (j->y.dtype) {
        case QW_DTYPE_F32: memcpy(y, x, (size_t)j->x.cols * 4); break;
        case QW_DTYPE_F16: j->k->to_f16(x, (uint16_t *)y, j->x.cols); break;
        case QW_DTYPE_BF16: j->k->to_bf16(x, (uint16_t *)y, j->x.cols); break;
        default: break;
        }
    }
}

void cpu_copy(void *ctx, struct qw_tensor y, struct qw_tensor x)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, x, "copy", "x") || !cpu_check_bounds(c, y, "copy", "y") ||
        !cpu_check(c, same_shape(x, y) && (y.dtype == QW_DTYPE_F32 || y.dtype == QW_DTYPE_F16 ||
                                           y.dtype == QW_DTYPE_BF16),
                   "copy: shapes or dtype"))
        return;
    struct copy_job j = {y, x, &c->k};
    cpu_parallel(c, x.rows, x.cols, copy_rows, &j);
}
