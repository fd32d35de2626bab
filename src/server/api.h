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
#include "qwglm_asr.h"
#include "server/multipart.h"

struct json_value;

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
    qwglm_image *images[API_MAX_IMAGES]; /* image_url parts, decoded, in message order; owned */
    int n_images;
    /* Parts that name their image (an http(s) URL, a file:// URL or an absolute path): api_parse records them with
     * images[i] NULL, api_fetch_images fetches and decodes them. NULL for data: URLs. Owned. */
    char *image_urls[API_MAX_IMAGES];
    char image_params[API_MAX_IMAGES][64]; /* the part, for errors: "messages[0].content[1]" */
};

/* Parses body[0..n) as a request of the given kind. On failure fills err (status 400 with the field named) and
 * returns false; r is then empty. Unknown fields are ignored, as other OpenAI-compatible servers do. */
bool api_parse(enum api_kind kind, const char *body, size_t n, struct api_request *r, struct api_error *err);
void api_request_free(struct api_request *r);

/* Where images named by URL or path may come from (qwglm serve --allow-image-urls, --allow-image-files DIR). */
#define API_URL_TIMEOUT_S 30     /* the whole fetch of one image, connecting included */
#define API_URL_MAX_REDIRECTS 5
struct api_image_source {
    bool allow_urls;       /* fetch http:// and https:// URLs */
    const char *files_dir; /* the real path (realpath) of the folder file URLs and paths may name; NULL: none */
    size_t max_bytes;      /* the largest image fetched or read (the server's --max-body) */
    int timeout_s;         /* 0: API_URL_TIMEOUT_S */
};

/* Fetches or reads every image of r that api_parse left as a URL or path, and decodes it into r->images. Fails
 * with a 400 naming the part, the URL and the reason (not enabled, HTTP status, too large, timed out, outside the
 * folder, undecodable). Blocks for the network: call it with no lock held. */
bool api_fetch_images(struct api_request *r, const struct api_image_source *src, struct api_error *err);
/* Whether an image URL is http(s), or a file:// URL / absolute path. */
bool api_is_http_url(const char *u);
bool api_is_file_url(const char *u);

/* Fills err and returns false, so callers write `return api_fail(err, 400, ...)`. */
bool api_fail(struct api_error *err, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends {"error":{"message":...,"type":...,"param":...,"code":...}} to s. */
bool api_error_json(struct qw_str *s, const struct api_error *err);

const char *api_role_name(enum api_role r);

/* ---- audio: POST /v1/audio/transcriptions and POST /v1/audio/speech (api_audio.c) ---- */

#define API_MAX_SPEECH_CHARS 4096 /* characters of one speech request's input, as OpenAI allows */

enum api_transcript_format {
    API_TRANSCRIPT_JSON,
    API_TRANSCRIPT_TEXT,
    API_TRANSCRIPT_VERBOSE_JSON,
    API_TRANSCRIPT_SRT,
    API_TRANSCRIPT_VTT,
    API_TRANSCRIPT_FORMAT_COUNT
};

/* A transcription request: its fields point into the multipart form (the file's bytes stay in the body). */
struct api_transcription {
    const uint8_t *file;
    size_t file_size;
    char filename[256];
    char model[128];
    char language[32];  /* as given (Parakeet finds the language itself); echoed by verbose_json */
    enum api_transcript_format format;
};

/* Reads the form fields file (required), model, language, response_format, temperature (accepted, decoding is
 * greedy), timestamp_granularities[] (both are always in verbose_json) and stream (only false). */
bool api_parse_transcription(const struct mp_form *f, struct api_transcription *t, struct api_error *err);
/* The response body for t's format into s and its Content-Type (static). false when out of memory. */
bool api_format_transcription(const qwglm_asr_result *r, const struct api_transcription *t, struct qw_str *s,
                              const char **content_type);

enum api_speech_format { API_SPEECH_WAV, API_SPEECH_PCM, API_SPEECH_FORMAT_COUNT };

struct api_speech {
    char *input;        /* owned */
    char voice[128];    /* empty: the default voice */
    char model[128];
    enum api_speech_format format;
    float speed;        /* 0.25..4; the voice's length scale is divided by it */
    float noise_scale, noise_w; /* NAN: the voice's defaults (extensions to OpenAI's fields) */
    bool has_seed;
    uint64_t seed;
};

/* Parses the JSON body of a speech request; on failure fills err (400 naming the field) and leaves sp empty. */
bool api_parse_speech(const char *body, size_t n, struct api_speech *sp, struct api_error *err);
void api_speech_free(struct api_speech *sp);
/* A 44-byte header of a 16-bit mono PCM WAV stream of unknown length. */
void api_wav_header(uint8_t h[44], int sample_rate);

/* Field readers for the parsers (api.c, api_audio.c): an absent or null field leaves *out as it is; a present one
 * of the wrong type or out of [lo, hi] fails with err naming it. */
bool api_get_float(const struct json_value *obj, const char *key, double lo, double hi, float *out,
                   struct api_error *err);
bool api_get_int(const struct json_value *obj, const char *key, int64_t lo, int64_t hi, int64_t *out,
                 struct api_error *err);
bool api_get_bool(const struct json_value *obj, const char *key, bool *out, struct api_error *err);

#endif
