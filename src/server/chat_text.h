/* The text side of a model for the server: its tokenizer and chat template turn a request into prompt ids, and
 * a streaming detokenizer turns generated ids back into text. A thin layer over src/text, so the server does not
 * depend on the tokenizer's internals. */
#ifndef QW_SERVER_CHAT_TEXT_H
#define QW_SERVER_CHAT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/str.h"
#include "server/engine.h"

struct chat_text;
struct chat_detok;

/* Loads tokenizer.json, tokenizer_config.json and the chat template of a model directory. */
qwglm_status chat_text_open(const char *dir, struct chat_text **out, struct qw_err *e);
void chat_text_free(struct chat_text *t);
/* Chat requests through the chat template (with enable_thinking), completions as plain text. Thread-safe. */
qwglm_status chat_text_encode(const struct chat_text *t, const struct api_request *r, struct srv_prompt *out,
                              struct qw_err *e);

/* The ids that end a reply besides the model's end-of-sequence ids (<|im_end|>, ...); returns the count. */
int chat_text_stop_ids(const struct chat_text *t, int32_t *ids, int cap);

/* A detokenizer for one generation: ids in, UTF-8 text out (special tokens such as <think> as their text). */
struct chat_detok *chat_detok_new(const struct chat_text *t);
void chat_detok_free(struct chat_detok *d);
void chat_detok_reset(struct chat_detok *d);
/* Appends the text that id completes to out; false when out of memory. */
bool chat_detok_push(struct chat_detok *d, int32_t id, struct qw_str *out);

#endif
