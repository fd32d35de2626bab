/* What the server needs from a model: turning a request into prompt token ids (chat template included),
 * sessions with a KV cache (one per slot), and generation that streams text pieces. engine_qwglm.c fills this
 * table with the real engine; the seam keeps the scheduler and the HTTP layer free of engine details. */
#ifndef QW_SERVER_ENGINE_H
#define QW_SERVER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "qwglm.h"
#include "server/api.h"

struct srv_model_info {
    char name[256];     /* what /v1/models lists */
    char arch[32];      /* "qwen3", "qwen3_vl" */
    char backend[32];   /* "cpu", "cuda", ... */
    char device[128];   /* "Intel Xeon ... (2 threads)" */
    char dtype[16];
    uint64_t weight_bytes;
    int n_ctx_train;
    int n_vocab;
    bool vision;        /* takes image parts (a Qwen3-VL checkpoint) */
};

/* A prompt ready to evaluate. think_open: the template left the reply inside a <think> block (the model's first
 * output is reasoning without an opening tag). */
struct srv_prompt {
    int32_t *ids; /* owned; free with qw_free */
    int n;
    bool think_open;
    qwglm_image *const *images; /* the request's images for the prompt's image placeholders (borrowed) */
    int n_images;
};

/* Called per generated token with its text (may be empty, may be part of a UTF-8 sequence). Nonzero stops. */
typedef int (*srv_piece_fn)(int32_t id, const char *piece, size_t len, void *user);

struct srv_engine_ops {
    void (*info)(void *ctx, struct srv_model_info *out);
    /* Renders r (chat template for API_CHAT, plain text for API_COMPLETION) into token ids. Thread-safe. */
    qwglm_status (*encode)(void *ctx, const struct api_request *r, struct srv_prompt *out, struct qw_err *e);
    /* The model's sampling defaults, before the request's own fields override them. */
    qwglm_sampling (*sampling_defaults)(void *ctx);
    qwglm_status (*session_open)(void *ctx, int n_ctx, void **out, struct qw_err *e);
    void (*session_close)(void *sess);
    int (*session_n_past)(void *sess);
    int (*session_n_ctx)(void *sess);
    qwglm_status (*session_truncate)(void *sess, int n);
    /* Appends ids[0..n) and samples until an end-of-sequence id (not passed to fn), max_tokens, a full context
     * (QWGLM_OK) or fn returning nonzero (QWGLM_ERR_CANCELLED). */
    qwglm_status (*generate)(void *sess, const int32_t *ids, int n, const qwglm_sampling *s, int max_tokens,
                             srv_piece_fn fn, void *user, struct qw_err *e);
    /* Optional (NULL: the engine takes no images). Appends a prompt whose image placeholders take images, in
     * order; generate(sess, NULL, 0, ...) then continues after it. */
    qwglm_status (*eval_images)(void *sess, const int32_t *ids, int n, qwglm_image *const *images, int n_images,
                                struct qw_err *e);
    void (*free)(void *ctx);
};

struct srv_engine {
    const struct srv_engine_ops *ops;
    void *ctx;
};

/* Progress of a model load, reported by whoever loads it (the hub client while downloading, the loader while
 * reading weights). Called from the loading thread. */
struct srv_progress;
void srv_progress_report(struct srv_progress *p, const char *phase, const char *file, uint64_t done,
                         uint64_t total);

struct engine_options {
    int n_threads;     /* 0: one per core */
    const char *dtype; /* NULL: auto */
    qwglm_log_fn log;
};

/* The real engine on a model directory or hub name, reporting load progress to progress. */
qwglm_status engine_qwglm_open(const char *model, const struct engine_options *o, struct srv_progress *progress,
                               struct srv_engine *out, struct qw_err *e);

#endif
