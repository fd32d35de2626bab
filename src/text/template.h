/* A model's chat template, as transformers finds and renders it (apply_chat_template(..., tokenize=False)).
 *
 * Source, first found: DIR/chat_template.jinja, DIR/chat_template.json ("chat_template"), tokenizer_config.json
 * "chat_template" (a string, or a list of {"name", "template"}: "tool_use" when tools are given and it exists,
 * else "default"). The variables are the special tokens of tokenizer_config.json (bos_token, eos_token, ...,
 * additional_special_tokens), tools = None and documents = None, add_generation_prompt = False, then every member
 * of the request, which override them. */
#ifndef QW_TEMPLATE_H
#define QW_TEMPLATE_H

#include <stdbool.h>

#include "base/err.h"
#include "base/str.h"
#include "format/json.h"

struct chat_template;

/* *out is NULL (and the status OK) when the directory has no chat template. */
qwglm_status chat_template_load_dir(const char *dir, struct chat_template **out, struct qw_err *e);
/* From texts: config is tokenizer_config.json (NULL: none); source (NULL: use config's chat_template). */
qwglm_status chat_template_load(const char *config, size_t config_n, const char *source, size_t source_n,
                                struct chat_template **out, struct qw_err *e);
void chat_template_free(struct chat_template *t);

/* Renders request (a JSON object: messages, and optionally add_generation_prompt, enable_thinking, tools, any
 * other template variable) and appends the text to out. */
qwglm_status chat_template_render(const struct chat_template *t, const struct json_value *request, struct qw_str *out,
                                  struct qw_err *e);

/* A special token's text from tokenizer_config.json ("eos_token", "bos_token", ...), or NULL. */
const char *chat_template_special(const struct chat_template *t, const char *name);

#endif
