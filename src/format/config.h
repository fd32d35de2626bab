/* Model configuration: config.json (Qwen3ForCausalLM, or the text_config of Qwen3VLForConditionalGeneration) and
 * generation_config.json, checked for sane values before anything is sized from them. */
#ifndef QW_CONFIG_H
#define QW_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

enum qw_arch { QW_ARCH_QWEN3, QW_ARCH_QWEN3_VL, QW_ARCH_COUNT };

#define QW_MAX_EOS 8

struct qw_llm_config {
    enum qw_arch arch;
    const char *arch_name;   /* "qwen3" or "qwen3_vl" */
    const char *prefix;      /* tensor name prefix of the decoder: "model." or "model.language_model." */
    int n_vocab, n_embd, n_layers, n_heads, n_kv_heads, head_dim, n_ff;
    int n_ctx_train;         /* max_position_embeddings */
    float norm_eps;
    double rope_theta;
    int mrope_section[3];    /* frequencies per (t, h, w) axis; all zero for plain RoPE */
    bool mrope_interleaved;
    bool tie_embeddings;     /* informative only: lm_head.weight is used whenever the checkpoint has it */
    int image_token_id, video_token_id, vision_start_token_id, vision_end_token_id; /* -1 when absent */
    /* generation_config.json */
    int n_eos;
    int32_t eos[QW_MAX_EOS];
    bool do_sample;
    float temperature, top_p, min_p, repetition_penalty;
    int top_k;
};

/* Reads dir/config.json and, when present, dir/generation_config.json. */
qwglm_status qw_llm_config_load(const char *dir, struct qw_llm_config *c, struct qw_err *e);
/* The same from JSON texts (gen may be NULL); name is used in messages. */
qwglm_status qw_llm_config_parse(const char *config, size_t n, const char *gen, size_t gen_n, const char *name,
                                 struct qw_llm_config *c, struct qw_err *e);

#endif
