/* qwglm: a private multimodal assistant engine. Public C API.
 *
 * Usage:
 *     qwglm_model_params mp = qwglm_model_default_params();
 *     char err[QWGLM_ERR_SIZE];
 *     qwglm_model *m;
 *     if (qwglm_model_load("Qwen3-0.6B/", &mp, &m, err)) { fprintf(stderr, "%s\n", err); return 1; }
 *     qwglm_session_params sp = qwglm_session_default_params();
 *     qwglm_session *s;
 *     if (qwglm_session_open(m, &sp, &s, err)) { ... }
 *     qwglm_generate_params gp = qwglm_generate_default_params(m);
 *     qwglm_session_generate(s, ids, n_ids, &gp, on_token, user);
 *     qwglm_session_close(s);
 *     qwglm_model_free(m);
 *
 * Threads: a model is immutable once loaded and may be shared by sessions on several threads; a session is used
 * by one thread at a time. The library never prints (logging is a callback), never exits and keeps no globals.
 */
#ifndef QWGLM_H
#define QWGLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define QWGLM_API __attribute__((visibility("default")))
#else
#define QWGLM_API
#endif

#define QWGLM_ERR_SIZE 256 /* bytes of every caller-provided error buffer */

typedef enum qwglm_status { /* stable numbers: append, never renumber */
    QWGLM_OK = 0,
    QWGLM_ERR_IO = 1,        /* file missing or unreadable */
    QWGLM_ERR_FORMAT = 2,    /* malformed or unsupported input */
    QWGLM_ERR_NOMEM = 3,     /* host or device memory */
    QWGLM_ERR_ARG = 4,       /* caller error */
    QWGLM_ERR_BACKEND = 5,   /* device lost, driver error */
    QWGLM_ERR_CANCELLED = 6, /* a callback returned nonzero */
    QWGLM_ERR_CONTEXT = 7,   /* the prompt or the reply does not fit the context */
} qwglm_status;

/* A short English name of st ("format error"). Never NULL. */
QWGLM_API const char *qwglm_status_str(qwglm_status st);

typedef enum qwglm_log_level { QWGLM_LOG_ERROR, QWGLM_LOG_WARN, QWGLM_LOG_INFO, QWGLM_LOG_DEBUG } qwglm_log_level;
typedef void (*qwglm_log_fn)(qwglm_log_level level, const char *msg, void *user);

/* Precision of the weights once loaded. AUTO keeps bf16/f16 checkpoints in bf16 and f32 ones in f32. */
typedef enum qwglm_dtype {
    QWGLM_DTYPE_AUTO = 0,
    QWGLM_DTYPE_F32 = 1,
    QWGLM_DTYPE_BF16 = 2,
    QWGLM_DTYPE_Q8 = 3,
    QWGLM_DTYPE_Q4 = 4,
} qwglm_dtype;

/* Parses "f32", "bf16", "q8", "q4" or "auto"; returns -1 for anything else. */
QWGLM_API int qwglm_dtype_parse(const char *s);

/* ---- model ---- */

typedef struct qwglm_model qwglm_model;

typedef struct qwglm_model_params {
    qwglm_dtype dtype; /* weight precision after loading */
    int n_threads;     /* CPU threads; 0 = one per core */
    qwglm_log_fn log;  /* NULL: silent */
    void *log_user;
} qwglm_model_params;

QWGLM_API qwglm_model_params qwglm_model_default_params(void);

/* Loads a Hugging Face model directory (config.json, *.safetensors, optional generation_config.json). On failure
 * *out is NULL and err (NULL or QWGLM_ERR_SIZE bytes) says why in one line. */
QWGLM_API qwglm_status qwglm_model_load(const char *dir, const qwglm_model_params *p, qwglm_model **out,
                                        char *err);
/* Frees m. NULL is a no-op. Close its sessions first. */
QWGLM_API void qwglm_model_free(qwglm_model *m);

typedef struct qwglm_model_info {
    const char *arch;      /* "qwen3" or "qwen3_vl"; owned by the model */
    int n_vocab, n_layers, n_embd, n_heads, n_kv_heads, head_dim, n_ff;
    int n_ctx_train;       /* max_position_embeddings */
    qwglm_dtype dtype;     /* precision of the loaded layer weights */
    size_t weight_bytes;   /* bytes of weights the backend holds */
    int n_eos;             /* end-of-sequence ids from generation_config.json / config.json */
    int32_t eos[8];
} qwglm_model_info;

QWGLM_API void qwglm_model_get_info(const qwglm_model *m, qwglm_model_info *info);

/* ---- sampling ---- */

/* Applied in this order: repetition / presence / frequency penalties over the last penalty_last_n tokens, top-k,
 * temperature, top-p, min-p, then a draw from the seeded generator. temperature <= 0 is greedy. */
typedef struct qwglm_sampling {
    float temperature;        /* 0: greedy */
    int top_k;                /* 0: off */
    float top_p;              /* 1: off */
    float min_p;              /* 0: off */
    float repetition_penalty; /* 1: off; as transformers: divide positive logits, multiply negative ones */
    float presence_penalty;   /* 0: off; subtracted once per seen token */
    float frequency_penalty;  /* 0: off; subtracted per occurrence */
    int penalty_last_n;       /* tokens the penalties look back over; -1: the whole context */
    uint64_t seed;            /* same seed, same prompt, same settings: same tokens */
} qwglm_sampling;

/* Greedy decoding, all filters off. */
QWGLM_API qwglm_sampling qwglm_sampling_greedy(void);
/* The model's own defaults from generation_config.json (greedy when it sets none). */
QWGLM_API qwglm_sampling qwglm_model_sampling_defaults(const qwglm_model *m);

/* ---- session ---- */

typedef struct qwglm_session qwglm_session;

typedef struct qwglm_session_params {
    int n_ctx; /* tokens of KV cache; 0 = min(model's max_position_embeddings, 4096) */
} qwglm_session_params;

QWGLM_API qwglm_session_params qwglm_session_default_params(void);

/* Opens a session (KV cache, scratch, sampler state) on m. m must outlive it. */
QWGLM_API qwglm_status qwglm_session_open(qwglm_model *m, const qwglm_session_params *p, qwglm_session **out,
                                          char *err);
/* Frees s. NULL is a no-op. */
QWGLM_API void qwglm_session_close(qwglm_session *s);
/* Why the last failed call on s failed; owned by s, valid until the next call on s. */
QWGLM_API const char *qwglm_session_error(const qwglm_session *s);
/* Tokens in the KV cache. */
QWGLM_API int qwglm_session_n_past(const qwglm_session *s);
/* Context size in tokens. */
QWGLM_API int qwglm_session_n_ctx(const qwglm_session *s);
/* Forgets everything after the first n tokens (n <= n_past), so a new prompt can reuse a shared prefix. */
QWGLM_API qwglm_status qwglm_session_truncate(qwglm_session *s, int n);

/* Appends ids to the context in one batched forward pass. When logits is non-NULL it receives the n_vocab
 * logits of the last id. Fails with QWGLM_ERR_CONTEXT when the ids do not fit, QWGLM_ERR_ARG for an id outside
 * the vocabulary; the session is unchanged on failure. */
QWGLM_API qwglm_status qwglm_session_eval(qwglm_session *s, const int32_t *ids, int n, float *logits);

/* Called once per generated token with the logits that chose it (n_vocab floats, valid during the call).
 * Return nonzero to stop. */
typedef int (*qwglm_token_fn)(int32_t id, const float *logits, void *user);

typedef struct qwglm_generate_params {
    qwglm_sampling sampling;
    int max_tokens;      /* -1: until an end id or the context is full */
    int n_stop_ids;      /* ids that end generation (emitted to the callback, then stop) */
    const int32_t *stop_ids;
} qwglm_generate_params;

/* Model's default sampling, unlimited length, the model's eos ids as stop ids. */
QWGLM_API qwglm_generate_params qwglm_generate_default_params(const qwglm_model *m);

/* Evaluates prompt (appended to what the session holds), then samples tokens until a stop id, max_tokens, a full
 * context or fn returning nonzero (QWGLM_ERR_CANCELLED). A full context ends generation with QWGLM_OK. */
QWGLM_API qwglm_status qwglm_session_generate(qwglm_session *s, const int32_t *prompt, int n_prompt,
                                              const qwglm_generate_params *p, qwglm_token_fn fn, void *user);

/* ---- images (Qwen3-VL models) ----
 *
 * Usage:
 *     qwglm_image *im;
 *     if (qwglm_image_load("screen.png", &im, err)) { ... }
 *     // prompt ids hold <|vision_start|><|image_pad|><|vision_end|> (151652, 151655, 151653) where the image goes
 *     qwglm_session_eval_images(s, ids, n_ids, &im, 1, NULL, NULL);
 *     qwglm_session_generate(s, NULL, 0, &gp, on_token, user);   // continues after the prompt
 *     qwglm_image_free(im);
 */

typedef struct qwglm_image qwglm_image; /* decoded 8-bit RGB pixels */

/* Decodes PNG, JPEG, WebP, GIF (first frame) or BMP bytes and applies the EXIF orientation. Alpha is dropped
 * without compositing, as the reference processor's RGB conversion does. Fails with QWGLM_ERR_FORMAT for corrupt,
 * truncated or unsupported data and for images past 64 Mi pixels or 32768 pixels per side. */
QWGLM_API qwglm_status qwglm_image_decode(const void *data, size_t n, qwglm_image **out, char *err);
/* Reads and decodes a file. */
QWGLM_API qwglm_status qwglm_image_load(const char *path, qwglm_image **out, char *err);
/* Copies width x height pixels of channels 3 (RGB) or 4 (RGBA, alpha dropped) bytes, rows stride bytes apart
 * (a canvas's ImageData, a captured screen frame). */
QWGLM_API qwglm_status qwglm_image_from_pixels(const uint8_t *pixels, int width, int height, int channels,
                                               size_t stride, qwglm_image **out, char *err);
/* Frees im. NULL is a no-op. */
QWGLM_API void qwglm_image_free(qwglm_image *im);
QWGLM_API void qwglm_image_get_size(const qwglm_image *im, int *width, int *height);

/* Bounds on the tokens one image may take (one token per 32 x 32 pixels after resizing); 0 keeps the model's
 * preprocessor_config.json bound (Qwen3-VL: 64 to 16384 tokens). Images outside the bounds are resized to fit,
 * keeping their aspect ratio. A 1280 x 720 screen takes 880 tokens unbounded. */
typedef struct qwglm_image_budget {
    int min_tokens;
    int max_tokens;
} qwglm_image_budget;

/* Nonzero when m has a vision encoder (a Qwen3-VL checkpoint with its model.visual weights). */
QWGLM_API int qwglm_model_has_vision(const qwglm_model *m);
/* Tokens im takes in a prompt under budget b (NULL: the model's); -1 when m has no vision encoder or the image
 * cannot be used (aspect ratio above 200). */
QWGLM_API int qwglm_model_image_tokens(const qwglm_model *m, const qwglm_image *im, const qwglm_image_budget *b);

/* qwglm_session_eval for a prompt with images. Each run of <|image_pad|> ids takes the next of the n_images
 * images, in order: a run of one pad is expanded to the image's token count (a run of exactly that count is used
 * as it is). The images are encoded, their features replace the pads' embeddings (and the DeepStack features
 * join the first decoder layers), and positions follow Qwen3-VL's 3D M-RoPE, so text after an image and later
 * turns continue from the right position. QWGLM_ERR_ARG when the number of pad runs and images differ. The
 * session is unchanged on failure. */
QWGLM_API qwglm_status qwglm_session_eval_images(qwglm_session *s, const int32_t *ids, int n,
                                                 qwglm_image *const *images, int n_images,
                                                 const qwglm_image_budget *b, float *logits);
/* ---- text: tokenizer, chat template, streaming output ----
 *
 * Usage:
 *     qwglm_tokenizer *tok;
 *     if (qwglm_tokenizer_load("Qwen3-0.6B/", &tok, err)) { ... }
 *     char *prompt; size_t len;
 *     qwglm_chat_render(tok, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], "
 *                            "\"add_generation_prompt\": true}", (size_t)-1, &prompt, &len, err);
 *     int32_t *ids; size_t n;
 *     qwglm_tokenize(tok, prompt, len, &ids, &n, err);
 *     ... generate; feed each new id to a qwglm_stream for text with reasoning separated ...
 *     qwglm_free(ids); qwglm_free(prompt); qwglm_tokenizer_free(tok);
 *
 * A tokenizer is immutable once loaded and may be shared by threads; a stream is used by one thread. */

typedef struct qwglm_tokenizer qwglm_tokenizer;

/* Loads DIR/tokenizer.json (byte-level BPE), DIR/tokenizer_config.json and the chat template (chat_template.jinja,
 * chat_template.json or tokenizer_config.json) when present. */
QWGLM_API qwglm_status qwglm_tokenizer_load(const char *dir, qwglm_tokenizer **out, char *err);
/* Frees t. NULL is a no-op. */
QWGLM_API void qwglm_tokenizer_free(qwglm_tokenizer *t);
/* Frees memory the text functions returned. NULL is a no-op. */
QWGLM_API void qwglm_free(void *p);
/* One past the largest token id. */
QWGLM_API int32_t qwglm_tokenizer_n_vocab(const qwglm_tokenizer *t);
/* The id of the token whose text is exactly text ("<|im_end|>"), or -1. */
QWGLM_API int32_t qwglm_token_id(const qwglm_tokenizer *t, const char *text);

/* Encodes text[0..len) (len (size_t)-1: NUL-terminated) exactly as Hugging Face tokenizers do with no special
 * tokens added; special tokens written in the text are matched. *ids (free with qwglm_free) gets *n_ids ids. */
QWGLM_API qwglm_status qwglm_tokenize(const qwglm_tokenizer *t, const char *text, size_t len, int32_t **ids,
                                      size_t *n_ids, char *err);
/* Decodes ids to UTF-8 (invalid sequences become U+FFFD). *text is NUL-terminated, *len bytes (len may be NULL);
 * free with qwglm_free. skip_special drops special tokens. Unknown ids are skipped. */
QWGLM_API qwglm_status qwglm_detokenize(const qwglm_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                                        char **text, size_t *len, char *err);

/* Whether the model has a chat template. */
QWGLM_API int qwglm_tokenizer_has_chat_template(const qwglm_tokenizer *t);
/* Renders the chat template as transformers' apply_chat_template(tokenize=False) does. request[0..len) (len
 * (size_t)-1: NUL-terminated) is a JSON object: {"messages": [...], "add_generation_prompt": bool,
 * "enable_thinking": bool, "tools": [...], ...}; every member is a template variable. *text: free with
 * qwglm_free. */
QWGLM_API qwglm_status qwglm_chat_render(const qwglm_tokenizer *t, const char *request, size_t len, char **text,
                                         size_t *text_len, char *err);
/* The token ids that end a reply: the template's eos_token and those of <|im_end|>, <|endoftext|>, <|eot_id|>,
 * <|end_of_text|>, <end_of_turn> that exist. Returns the count (at most cap written). */
QWGLM_API int qwglm_tokenizer_stop_ids(const qwglm_tokenizer *t, int32_t *ids, int cap);

typedef enum qwglm_text_kind {
    QWGLM_TEXT_ANSWER = 0,    /* the reply */
    QWGLM_TEXT_REASONING = 1, /* a thinking model's <think> ... </think> part */
} qwglm_text_kind;

/* Receives text as it becomes complete (never a split UTF-8 character). Nonzero stops. */
typedef int (*qwglm_text_fn)(qwglm_text_kind kind, const char *text, size_t len, void *user);

typedef struct qwglm_stream qwglm_stream;

typedef struct qwglm_stream_params {
    int skip_special;       /* drop special tokens (<|im_end|>, ...) from the text; <think> tags are kept */
    int separate_reasoning; /* report <think> ... </think> as QWGLM_TEXT_REASONING, without the tags */
    int start_in_reasoning; /* the prompt already opened <think>: the reply starts inside it */
} qwglm_stream_params;

/* skip_special and separate_reasoning on. */
QWGLM_API qwglm_stream_params qwglm_stream_default_params(void);
/* Opens a detokenizing stream over t (t must outlive it). */
QWGLM_API qwglm_status qwglm_stream_open(const qwglm_tokenizer *t, const qwglm_stream_params *p, qwglm_stream **out,
                                         char *err);
/* Feeds one generated id; calls fn with the text it completes. Returns fn's nonzero result, or 0. */
QWGLM_API int qwglm_stream_push(qwglm_stream *s, int32_t id, qwglm_text_fn fn, void *user);
/* Flushes what is held back (an incomplete character becomes U+FFFD) and resets s for a new reply. */
QWGLM_API int qwglm_stream_flush(qwglm_stream *s, qwglm_text_fn fn, void *user);
/* Frees s. NULL is a no-op. */
QWGLM_API void qwglm_stream_free(qwglm_stream *s);

#ifdef __cplusplus
}
#endif
#endif
