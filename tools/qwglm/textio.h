/* Text prompts and streamed text output for the commands that talk (run, chat). */
#ifndef QWGLM_TEXTIO_H
#define QWGLM_TEXTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "qwglm.h"

struct textio_opts {
    const char *system; /* --system TEXT, NULL: none */
    bool no_think;      /* --no-think: enable_thinking = false */
    bool raw;           /* --raw: tokenize the prompt as it is, no template */
};

/* Appends {"role": ROLE, "content": TEXT} (with a leading ", " after the first) to a JSON messages list. */
void textio_add_message(struct qw_str *messages, const char *role, const char *text, size_t len);
/* Appends a user message whose content lists n_images {"type": "image"} parts, then the text (the order of
 * `qwglm run --image ... -p TEXT`); the template places each image's vision placeholder. */
void textio_add_user_with_images(struct qw_str *messages, const char *text, size_t len, int n_images);
/* Renders messages (a JSON list without brackets) through the chat template with add_generation_prompt, or
 * tokenizes text as it is with o->raw. *ids: free with qwglm_free. *in_reasoning: the prompt ends inside an
 * opened <think>. Prints the error and returns nonzero on failure. */
int textio_prompt(const char *cmd, const qwglm_tokenizer *tok, const struct textio_opts *o, const char *messages,
                  const char *raw_text, int32_t **ids, size_t *n_ids, bool *in_reasoning);
/* Stop ids of the model and of the chat template together, into stop (cap entries); returns the count. */
int textio_stop_ids(const qwglm_tokenizer *tok, const qwglm_generate_params *gp, int32_t *stop, int cap);

/* Prints streamed text: the answer to stdout, the reasoning to stderr between "[thinking]" lines (or nowhere with
 * hide_reasoning), and keeps both. */
struct textio_printer {
    bool hide_reasoning, echo, in_reasoning;
    struct qw_str answer, reasoning;
};
int textio_print(qwglm_text_kind kind, const char *text, size_t len, void *user);
/* Ends the reply's output (closes an open [thinking] block, ends the line). */
void textio_end(struct textio_printer *p);

#endif
