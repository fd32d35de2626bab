/* The Qwen3 decoder (also the language model of Qwen3-VL) on the op interface. */
#ifndef QW_QWEN3_H
#define QW_QWEN3_H

#include "format/config.h"
#include "format/safetensors.h"
#include "base/mem.h"
#include "ops/ops.h"

struct qwen3_layer {
    struct qw_tensor attn_norm, mlp_norm;  /* [1, D] */
    struct qw_tensor wq, wk, wv, wo;       /* [H hd, D], [Hk hd, D], [Hk hd, D], [D, H hd] */
    struct qw_tensor q_norm, k_norm;       /* [1, hd], shared by all heads */
    struct qw_tensor w_gate, w_up, w_down; /* [I, D], [I, D], [D, I] */
};

struct qwen3 {
    struct qw_llm_config cfg;
    struct qw_backend *be;
    struct qw_tensor embed;      /* [V, D] */
    struct qw_tensor final_norm; /* [1, D] */
    struct qw_tensor lm_head;    /* [V, D]: lm_head.weight, or the embedding when the checkpoint has none */
    bool lm_head_is_embed;
    struct qwen3_layer *layers;
    float *inv_freq; /* [hd / 2] rotary frequencies, computed as the reference computes them (f32) */
    size_t weight_bytes;
};

/* Loads the decoder's weights from st into be, converting to dtype (F32, BF16, F16, Q8 or Q4; norms stay f32).
 * Every tensor's shape and dtype is checked against cfg first. st must stay open as long as m (weights may be
 * read in place). */
qwglm_status qwen3_load(struct qwen3 *m, const struct qw_llm_config *cfg, const struct st_set *st,
                        struct qw_backend *be, enum qw_dtype dtype, struct qw_err *e);
void qwen3_free(struct qwen3 *m);

/* Keys and values of every layer: per layer [n_ctx, Hk hd] f32, post-RoPE keys. */
struct qwen3_kv {
    struct qw_buf *buf;
    struct qw_tensor *k, *v; /* [n_layers] */
    int n_ctx;
};

qwglm_status qwen3_kv_init(struct qwen3_kv *kv, const struct qwen3 *m, int n_ctx, struct qw_err *e);
void qwen3_kv_free(struct qwen3_kv *kv, const struct qwen3 *m);

/* Rows of precomputed input embeddings (an image's features) spliced into a batch: rows [row0, row0 + n) of the
 * batch take embeds' rows instead of the token embeddings, and deepstack[l] is added to the output of decoder
 * layer l at those rows. */
struct qwen3_inject {
    int row0, n;
    struct qw_tensor embeds;       /* [n, D] */
    int n_deepstack;
    struct qw_tensor deepstack[4]; /* [n, D] each */
};

struct qwen3_batch {
    int n;                   /* tokens */
    const int32_t *ids;      /* [n] (ignored at injected rows) */
    const int32_t *pos[3];   /* [n] each: (t, h, w) rotary positions; equal for text */
    int kv_pos0;             /* cache index of the first token: the batch attends to [0, kv_pos0 + n) */
    int n_inject;
    const struct qwen3_inject *inject;
    int n_logits;            /* logits of the last n_logits tokens (0..n) */
    float *logits;           /* [n_logits, V] host memory */
    float *hidden;           /* NULL, or [(L + 1), n, D] host memory: embeddings, each layer's output, final norm */
};

/* Backend scratch bytes a batch of n tokens needs (with n_logits rows of logits), and host scratch bytes. */
size_t qwen3_scratch_bytes(const struct qwen3 *m, int n, int n_logits);
static inline size_t qwen3_host_bytes(const struct qwen3 *m, int n)
{
    return (size_t)n * (size_t)m->cfg.head_dim * sizeof(float) + 64;
}

/* Runs the batch: writes its keys/values into kv at rows [kv_pos0, kv_pos0 + n) and fills the requested outputs.
 * s (backend) and host are reset and reused; neither allocates. */
qwglm_status qwen3_forward(struct qwen3 *m, struct qwen3_kv *kv, struct qw_scratch *s, struct qw_arena *host,
                           const struct qwen3_batch *b, struct qw_err *e);

/* The (cos, sin) table of the rotary embedding for n tokens: cs [n, hd] host memory, cos in [0, hd/2) and sin in
 * [hd/2, hd). Each frequency takes its position from the (t, h, w) axis that M-RoPE assigns it. */
void qwen3_rope_table(const struct qwen3 *m, int n, const int32_t *const pos[3], float *cs);

#endif
