/* The engine's handles, shared by its files and by the modules that extend a session (vision input, say). */
#ifndef QW_ENGINE_H
#define QW_ENGINE_H

#include "base/log.h"
#include "base/mem.h"
#include "format/config.h"
#include "format/safetensors.h"
#include "model/qwen3.h"
#include "model/qwen3_vl_vision.h"
#include "ops/ops.h"
#include "qwglm.h"
#include "sampler.h"

struct qwglm_model {
    char *dir;
    struct qw_log log;
    struct qw_llm_config cfg;
    struct st_set st; /* open for the model's life: weights may be read in place */
    struct qw_backend be;
    struct qwen3 net;
    qwglm_dtype dtype;
    struct vl_vision *vision; /* NULL: no images (see vision.c) */
    struct vl_preproc preproc;
};

/* Where qw_model_open takes its weights from: a Hugging Face directory, or random weights at the shapes of a
 * config.json (benchmarks). isa names the CPU kernels (NULL: the best this machine runs). */
struct qw_model_source {
    const char *dir;
    const char *config;
    bool random;
    uint64_t seed;
    const char *isa;
    int vision_blocks; /* random weights: vision blocks to build (0: the config's depth) */
    bool vision_only;  /* random weights: the vision encoder alone (no language model: no sessions) */
};

/* qwglm_model_load with the choices above. */
qwglm_status qw_model_open(const struct qw_model_source *src, const qwglm_model_params *p, qwglm_model **out,
                           struct qw_err *e);

/* Writes the checkpoint in dir converted to dtype (f32, bf16, q8 or q4) into directory out (created if missing):
 * out/model.safetensors, which loads by mmap without conversion, plus dir's config, tokenizer and template files.
 * Conversion runs on n_threads threads (0: one per core); progress goes to log (may be NULL). */
qwglm_status qw_quantize_checkpoint(const char *dir, const char *out, enum qw_dtype dtype, int n_threads,
                                    const struct qw_log *log, struct qw_err *e);

#define QW_MAX_BATCH 512 /* tokens per forward pass; longer prompts are evaluated in chunks */

struct qwglm_session {
    qwglm_model *m;
    int n_ctx, n_batch;
    struct qwen3_kv kv;
    struct qw_scratch scratch;
    struct qw_arena host;
    struct qw_sampler sampler;
    float *logits;     /* [V] logits after the last evaluated token */
    bool have_logits;
    int32_t *tokens;   /* [n_ctx] ids in the cache */
    int32_t *max_pos;  /* [n_ctx] largest rotary position of each cached token (M-RoPE continues after it) */
    int n_past;
    int32_t next_pos;  /* rotary position of the next text token */
    int32_t *pos[3];   /* [n_batch] per-pass position streams */
    struct vl_work vision_work; /* the vision encoder's memory, grown on the first image */
    struct qw_err err;
};

/* Evaluates n ids at the end of the context in chunks of n_batch, with given (t, h, w) positions (NULL: text
 * positions continuing from next_pos) and injected embeddings; keeps the last token's logits when want_logits.
 * On failure the context is unchanged. */
qwglm_status qw_session_eval_batch(qwglm_session *s, const int32_t *ids, int n, const int32_t *const pos[3],
                                   const struct qwen3_inject *inject, int n_inject, bool want_logits);

#endif
