/* The OpenAI-compatible request layer: parses and validates the JSON bodies of /v1/chat/completions and
 * /v1/completions into plain structs, and writes OpenAI's error shape. Everything here works on untrusted bytes
 * and never aborts; tests/fuzz/fuzz_api.c drives api_parse with arbitrary input. */
#ifndef QW_SERVER_API_H
#define QW_SERVER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "qwglm.h"

#define API_MAX_STOP 16        /* stop strings per request (OpenAI allows 4; other servers more) */
#define API_MAX_STOP_LEN 256   /* bytes of one stop string */
#define API_MAX_MESSAGES 4096
#define API_MAX_IMAGES 32      /* image_url parts per request */

/* What an image_url part becomes in the message text: the Qwen3-VL chat template's placeholder, which the engine
 * expands to the image's tokens. */
#define API_IMAGE_PLACEHOLDER "<|vision_start|><|image_pad|><|vision_end|>"

enum api_kind { API_CHAT, API_COMPLETION, API_KIND_COUNT };

enum api_role { API_ROLE_SYSTEM, API_ROLE_USER, API_ROLE_ASSISTANT, API_ROLE_TOOL, API_ROLE_COUNT };

/* Why a request failed: the HTTP status and OpenAI's error fields. message is one line. */
struct api_error {
    int status;       /* 400, 401, 404, 413, 429, 500, 503 */
    const char *type; /* "invalid_request_error", "server_error", ... (static) */
    const char *code; /* NULL or "context_length_exceeded", "invalid_api_key", ... (static) */
    char param[64];   /* the offending field ("messages[2].content") or empty */
    char message[256];
};

struct api_message {
    enum api_role role;
    char *content;   /* text parts joined; never NULL (may be empty) */
    char *reasoning; /* an assistant turn's reasoning_content, or NULL */
};

/* A parsed request. Sampling fields the client did not send hold their "unset" value (NAN, or -1 for the
 * integers), so that the model's own defaults from generation_config.json apply to them. */
struct api_request {
    enum api_kind kind;
    char *model;                   /* NULL: the served model */
    struct api_message *messages;  /* API_CHAT */
    int n_messages;
    char *prompt;                  /* API_COMPLETION */
    bool stream, include_usage;
    float temperature, top_p, min_p, presence_penalty, frequency_penalty, repetition_penalty; /* NAN: unset */
    int top_k;                     /* -1: unset */
    int max_tokens;                /* -1: until the end or the context is full */
    bool has_seed;
    uint64_t seed;
    int enable_thinking;           /* -1: the template's default, 0 off, 1 on */
    char *stop[API_MAX_STOP];
    int n_stop;
    qwglm_image *images[API_MAX_IMAGES]; /* image_url parts (data: URLs), decoded, in message order; owned */
    int n_images;
};

/* Parses body[0..n) as a request of the given kind. On failure fills err (status 400 with the field named) and
 * returns false; r is then empty. Unknown fields are ignored, as other OpenAI-compatible servers do. */
bool api_parse(enum api_kind kind, const char *body, size_t n, struct api_request *r, struct api_error *err);
void api_request_free(struct api_request *r);

/* Fills err and returns false, so callers write `return api_fail(err, 400, ...)`. */
bool api_fail(struct api_error *err, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends {"error":{"message":...,"type":...,"param":...,"code":...}} to s. */
bool api_error_json(struct qw_str *s, const struct api_error *err);

const char *api_role_name(enum api_role r);

#endif
