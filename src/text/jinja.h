/* A Jinja2 template engine for chat templates, rendering exactly as transformers' apply_chat_template does
 * (jinja2's ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension, the
 * generation tag, and transformers' tojson / raise_exception / strftime_now).
 *
 * Supported: text, {{ }}, {% %} and {# #} with - and + whitespace control; statements if / elif / else, for
 * (tuple targets, loop filters, else, loop.*), set (names, tuples, namespace attributes, blocks), macro (defaults,
 * keyword arguments), filter blocks, with, break, continue, raw, generation; expressions with Python semantics:
 * literals, lists, tuples, dicts, attribute and item access, slices, calls, filters, tests, arithmetic,
 * comparisons (chained), in / not in, and / or / not, ~, conditional expressions; the str / dict / list methods
 * and the filters and tests chat templates use (see docs/tokenizer.md). Anything else fails with a message naming
 * the template line. Values print as Python prints them (repr of lists and dicts, float repr, True / None). */
#ifndef QW_JINJA_H
#define QW_JINJA_H

#include <stddef.h>

#include "base/err.h"
#include "base/str.h"
#include "format/json.h"

struct jinja_template;

struct jinja_limits {
    size_t max_output;  /* bytes of rendered text */
    size_t max_memory;  /* bytes of values built while rendering */
    long max_steps;     /* statements and loop iterations */
};

/* Parses template source. Syntax errors name the line. */
qwglm_status jinja_parse(const char *src, size_t n, struct jinja_template **out, struct qw_err *e);
void jinja_free(struct jinja_template *t);

/* Renders t with the members of the JSON objects vars[0..n_vars) as variables (a later object's member replaces an
 * earlier one of the same name), appending to out. limits may be NULL (64 MB output, 256 MB of values, 10^7
 * steps). Runtime errors (including raise_exception) name the line. */
qwglm_status jinja_render(const struct jinja_template *t, const struct json_value *const *vars, int n_vars,
                          const struct jinja_limits *limits, struct qw_str *out, struct qw_err *e);

#endif
