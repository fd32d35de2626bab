/* The server's text layer over the public text API (qwglm_tokenizer_load, qwglm_chat_render, qwglm_tokenize,
 * qwglm_stream). Reasoning is not separated here: the detokenizer keeps <think> and </think> in the text, and
 * stream.c splits them together with the stop strings. */
#include "server/chat_text.h"

#include <stdio.h>
#include <string.h>

#include "base/mem.h"

struct chat_text {
    qwglm_tokenizer *tok;
    char dir[1024];
};

struct chat_detok {
    qwglm_stream *s;
};

qwglm_status chat_text_open(const char *dir, struct chat_text **out, struct qw_err *e)
{
    *out = NULL;
    struct chat_text *t = qw_calloc(1, sizeof *t);
    if (!t) return qw_fail(e, QWGLM_ERR_NOMEM, "tokenizer: out of memory");
    char err[QWGLM_ERR_SIZE];
    qwglm_status st = qwglm_tokenizer_load(dir, &t->tok, err);
    if (st) {
        qw_free(t);
        return qw_fail(e, st, "%s", err);
    }
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    *out = t;
    return QWGLM_OK;
}

void chat_text_free(struct chat_text *t)
{
    if (!t) return;
    qwglm_tokenizer_free(t->tok);
    qw_free(t);
}

int chat_text_stop_ids(const struct chat_text *t, int32_t *ids, int cap)
{
    return qwglm_tokenizer_stop_ids(t->tok, ids, cap);
}

/* The template's variables: {"messages": [...], "add_generation_prompt": true[, "enable_thinking": b]}. */
static bool render_vars(const struct api_request *r, struct qw_str *s)
{
    qw_str_puts(s, "{\"messages\":[");
    for (int i = 0; i < r->n_messages; i++) {
        const struct api_message *m = &r->messages[i];
        qw_str_printf(s, "%s{\"role\":\"%s\",\"content\":", i ? "," : "", api_role_name(m->role));
        qw_str_json(s, m->content, strlen(m->content));
        if (m->reasoning) {
            qw_str_puts(s, ",\"reasoning_content\":");
            qw_str_json(s, m->reasoning, strlen(m->reasoning));
        }
        qw_str_putc(s, '}');
    }
    qw_str_puts(s, "],\"add_generation_prompt\":true");
    if (r->enable_thinking >= 0) qw_str_printf(s, ",\"enable_thinking\":%s", r->enable_thinking ? "true" : "false");
    return qw_str_putc(s, '}');
}

/* Whether the rendered prompt leaves the reply inside an open <think> block. */
static bool ends_in_think(const char *text, size_t n)
{
    const char *open = NULL, *close = NULL;
    for (size_t i = 0; i + 7 <= n; i++) {
        if (memcmp(text + i, "<think>", 7) == 0) open = text + i;
        if (i + 8 <= n && memcmp(text + i, "</think>", 8) == 0) close = text + i;
    }
    const char *last_turn = NULL;
    for (size_t i = 0; i + 12 <= n; i++)
        if (memcmp(text + i, "<|im_start|>", 12) == 0) last_turn = text + i;
    return open && (!close || close < open) && (!last_turn || open > last_turn);
}

qwglm_status chat_text_encode(const struct chat_text *t, const struct api_request *r, struct srv_prompt *out,
                              struct qw_err *e)
{
    memset(out, 0, sizeof *out);
    char err[QWGLM_ERR_SIZE];
    char *text = NULL;
    size_t len = 0;
    qwglm_status st;
    if (r->kind == API_CHAT) {
        if (!qwglm_tokenizer_has_chat_template(t->tok))
            return qw_fail(e, QWGLM_ERR_ARG, "%s has no chat template: use /v1/completions", t->dir);
        struct qw_str vars = {.max = 256u << 20};
        if (!render_vars(r, &vars)) {
            qw_str_free(&vars);
            return qw_fail(e, QWGLM_ERR_NOMEM, "prompt: out of memory");
        }
        st = qwglm_chat_render(t->tok, vars.data, vars.len, &text, &len, err);
        qw_str_free(&vars);
        if (st) return qw_fail(e, st, "chat template: %s", err);
        out->think_open = ends_in_think(text, len);
    }
    size_t n_ids = 0;
    st = r->kind == API_CHAT ? qwglm_tokenize(t->tok, text, len, &out->ids, &n_ids, err)
                             : qwglm_tokenize(t->tok, r->prompt, strlen(r->prompt), &out->ids, &n_ids, err);
    qwglm_free(text);
    if (st) return qw_fail(e, st, "tokenizer: %s", err);
    if (n_ids > (1u << 30)) {
        qwglm_free(out->ids);
        out->ids = NULL;
        return qw_fail(e, QWGLM_ERR_CONTEXT, "the prompt has %zu tokens", n_ids);
    }
    /* the ids were allocated by the text API: copy them to our allocator, which the server frees */
    int32_t *ids = qw_malloc((n_ids ? n_ids : 1) * sizeof *ids);
    if (!ids) {
        qwglm_free(out->ids);
        out->ids = NULL;
        return qw_fail(e, QWGLM_ERR_NOMEM, "prompt: out of memory");
    }
    if (n_ids) memcpy(ids, out->ids, n_ids * sizeof *ids);
    qwglm_free(out->ids);
    out->ids = ids;
    out->n = (int)n_ids;
    return QWGLM_OK;
}

struct chat_detok *chat_detok_new(const struct chat_text *t)
{
    struct chat_detok *d = qw_calloc(1, sizeof *d);
    if (!d) return NULL;
    qwglm_stream_params p = qwglm_stream_default_params();
    p.skip_special = 1;
    p.separate_reasoning = 0; /* stream.c splits reasoning and stop strings in one pass */
    if (qwglm_stream_open(t->tok, &p, &d->s, NULL)) {
        qw_free(d);
        return NULL;
    }
    return d;
}

void chat_detok_free(struct chat_detok *d)
{
    if (!d) return;
    qwglm_stream_free(d->s);
    qw_free(d);
}

static int append(qwglm_text_kind kind, const char *text, size_t len, void *user)
{
    (void)kind;
    return qw_str_append(user, text, len) ? 0 : 1;
}

void chat_detok_reset(struct chat_detok *d)
{
    struct qw_str sink = {0};
    qwglm_stream_flush(d->s, append, &sink);
    qw_str_free(&sink);
}

bool chat_detok_push(struct chat_detok *d, int32_t id, struct qw_str *out)
{
    return qwglm_stream_push(d->s, id, append, out) == 0;
}
