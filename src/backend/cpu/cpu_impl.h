/* Internals shared by the CPU backend's files. */
#ifndef QW_CPU_IMPL_H
#define QW_CPU_IMPL_H

#include <pthread.h>
#include <stdarg.h>

#include "base/pool.h"
#include "cpu.h"
#include "kernels.h"
#include "ops/ops.h"

struct qw_buf {
    uint8_t *data;
    size_t size;
    bool owned; /* false: wraps caller memory (an mmapped checkpoint) */
    bool packed; /* convolution weights in it have a packed copy (cpu_conv_packed.c) */
};

/* Memory an op reuses from call to call: grown when a larger request comes (so a decode loop, once warm, never
 * allocates), freed with the backend. */
struct cpu_scratch {
    void *p;
    size_t cap;
};

struct cpu_ctx {
    struct qw_pool *pool;
    int n_threads;
    struct qw_err err; /* first failure since the last sync */
    struct cpu_kernels k;
    /* Ops that use the scratch below hold this lock: sessions on several threads may share one backend. */
    pthread_mutex_t lock;
    struct cpu_scratch act;     /* activations converted for a product (struct cpu_act16 or bf16 rows) */
    struct cpu_scratch *thread; /* [n_threads] per-thread tiles (attention) */
    struct cpu_scratch conv_w;  /* convolution weights packed per call when the cache is full */
    struct cpu_conv_cache *conv_cache; /* packed convolution weights (cpu_conv_packed.c) */
    /* profiling (cpu_profile.c): the table installed while it runs and the one it wraps */
    struct cpu_profile *prof;
    struct qw_backend_ops prof_ops;
    const struct qw_backend_ops *prof_orig;
};

static inline void *cpu_ptr(struct qw_tensor t) { return t.buf->data + t.offset; }
static inline float *cpu_row(struct qw_tensor t, int64_t r)
{
    return (float *)(t.buf->data + t.offset) + r * t.stride;
}
/* Row r of a tensor of any row-addressable dtype. */
static inline void *cpu_row_bytes(struct qw_tensor t, int64_t r)
{
    return t.buf->data + t.offset + (size_t)r * qw_row_bytes(t.dtype, t.stride);
}

/* Records a failed precondition (a bug in the calling model) and returns false. */
bool cpu_check(struct cpu_ctx *c, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The tensor is present, f32, and lies within its buffer. */
bool cpu_check_f32(struct cpu_ctx *c, struct qw_tensor t, const char *op, const char *name);
bool cpu_check_bounds(struct cpu_ctx *c, struct qw_tensor t, const char *op, const char *name);

/* At least bytes of s, 64-byte aligned, or NULL (recorded as QWGLM_ERR_NOMEM in c) when memory runs out. */
void *cpu_scratch_get(struct cpu_ctx *c, struct cpu_scratch *s, size_t bytes);

/* Runs fn(arg, r0, r1) over [0, n) split into contiguous ranges, one per thread (inline when work is small). */
typedef void (*cpu_rows_fn)(void *arg, int64_t r0, int64_t r1);
void cpu_parallel(struct cpu_ctx *c, int64_t n, int64_t work_per_row, cpu_rows_fn fn, void *arg);

/* Op entry points (the backend table points at these). */
void cpu_get_rows(void *ctx, struct qw_tensor y, struct qw_tensor table, struct qw_tensor ids);
void cpu_linear(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b);
void cpu_matmul_multi(void *ctx, int n, const struct qw_tensor *y, struct qw_tensor x, const struct qw_tensor *w);
void cpu_attention(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                   const struct qw_attn_params *p);
/* Prefill attention with the queries in vector lanes (cpu_attention_lanes.c), for checked arguments: false when it
 * does not apply (no attn_tile kernel, too few queries). */
bool cpu_attention_lanes(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k,
                         struct qw_tensor v, const struct qw_attn_params *p);
void cpu_rmsnorm(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, float eps);
void cpu_layernorm(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                   float eps);
void cpu_rope(void *ctx, struct qw_tensor x, struct qw_tensor cs, int n_heads, int head_dim);
void cpu_add(void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b);
void cpu_mul(void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b);
void cpu_affine(void *ctx, struct qw_tensor y, struct qw_tensor x, float scale, float shift);
void cpu_unary(void *ctx, struct qw_tensor y, struct qw_tensor x, enum qw_unary op);
void cpu_swiglu(void *ctx, struct qw_tensor y, struct qw_tensor gate, struct qw_tensor up);
void cpu_softmax(void *ctx, struct qw_tensor x);
void cpu_copy(void *ctx, struct qw_tensor y, struct qw_tensor x);
void cpu_conv1d(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                const struct qw_conv1d_params *p);
void cpu_conv1d_fused(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                      const struct qw_conv1d_params *p, const struct qw_conv_epilogue *ep);
void cpu_conv_transpose1d(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                          const struct qw_conv1d_params *p);
void cpu_conv_transpose1d_fused(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                                struct qw_tensor b, const struct qw_conv1d_params *p, const struct qw_conv_epilogue *ep);
/* The packed f32 paths (cpu_conv_packed.c), after the shapes are checked; ep may be NULL. false when they do not
 * apply (weights not f32, groups > 1, too many channels or taps). */
bool cpu_conv1d_packed(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                       struct qw_tensor b, const struct qw_conv1d_params *p, const struct qw_conv_epilogue *ep);
bool cpu_conv_transpose1d_packed(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                                 struct qw_tensor b, const struct qw_conv1d_params *p,
                                 const struct qw_conv_epilogue *ep);
/* Drops the packed copies of weights in b (written or freed); frees the cache (backend teardown). */
void cpu_conv_cache_drop(struct cpu_ctx *c, struct qw_buf *b);
void cpu_conv_cache_free(struct cpu_ctx *c);
/* The epilogue as separate passes over y, for the paths without a fused one. */
void cpu_conv_epilogue(struct cpu_ctx *c, struct qw_tensor y, const struct qw_conv_epilogue *ep);
/* The epilogue's tensors match y (op names the op in the message). */
bool cpu_conv_epilogue_ok(struct cpu_ctx *c, struct qw_tensor y, const struct qw_conv_epilogue *ep, const char *op);
void cpu_leaky_relu(void *ctx, struct qw_tensor y, struct qw_tensor x, float slope);
void cpu_tanh_sigmoid_mul(void *ctx, struct qw_tensor y, struct qw_tensor a, struct qw_tensor b);
void cpu_attention_rel(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                       struct qw_tensor ek, struct qw_tensor ev, const struct qw_rel_attn_params *p);
void cpu_spline_inverse(void *ctx, struct qw_tensor x, struct qw_tensor c, const struct qw_spline_params *p);
void cpu_conv2d(void *ctx, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w, struct qw_tensor b,
                const struct qw_conv2d_params *p);
void cpu_attention_relpos(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                          struct qw_tensor p, struct qw_tensor u, struct qw_tensor v_bias,
                          const struct qw_relattn_params *prm);

#endif
