/* The public text API (include/qwglm.h): tokenizer, chat template and streaming output over the internal
 * tokenizer.h, template.h and think.h. */
#include <string.h>

#include "base/mem.h"
#include "qwglm.h"
#include "text/template.h"
#include "text/think.h"
#include "text/tokenizer.h"

struct qwglm_tokenizer {
    struct tokenizer *tok;
    struct chat_template *tmpl; /* NULL: none */
};

struct qwglm_stream {
    const qwglm_tokenizer *t;
    qwglm_stream_params p;
    struct detok detok;
    struct think think;
    struct qw_str buf;
};

static size_t text_len(const char *s, size_t len) { return len == (size_t)-1 ? strlen(s) : len; }

void qwglm_free(void *p) { qw_free(p); }

qwglm_status qwglm_tokenizer_load(const char *dir, qwglm_tokenizer **out, char *err)
{
    struct qw_err e = {0};
    *out = NULL;
    qwglm_tokenizer *t = qw_calloc(1, sizeof *t);
    if (!t) {
        qw_fail(&e, QWGLM_ERR_NOMEM, "out of memory");
        qw_err_copy(err, &e);
        return e.status;
    }
    qwglm_status st = tokenizer_load_dir(dir, &t->tok, &e);
    if (!st) st = chat_template_load_dir(dir, &t->tmpl, &e);
    if (st) {
        qwglm_tokenizer_free(t);
        qw_err_copy(err, &e);
        return st;
    }
    *out = t;
    return QWGLM_OK;
}

void qwglm_tokenizer_free(qwglm_tokenizer *t)
{
    if (!t) return;
    tokenizer_free(t->tok);
    chat_template_free(t->tmpl);
    qw_free(t);
}

int32_t qwglm_tokenizer_n_vocab(const qwglm_tokenizer *t) { return tokenizer_n_vocab(t->tok); }

int32_t qwglm_token_id(const qwglm_tokenizer *t, const char *text)
{
    return tokenizer_token_id(t->tok, text, strlen(text));
}

qwglm_status qwglm_tokenize(const qwglm_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n_ids,
                            char *err)
{
    struct qw_err e = {0};
    struct tok_ids v = {0};
    *ids = NULL;
    *n_ids = 0;
    qwglm_status st = tokenizer_encode(t->tok, text, text_len(text, len), &v, &e);
    if (st) {
        qw_free(v.v);
        qw_err_copy(err, &e);
        return st;
    }
    if (!v.v && !(v.v = qw_malloc(sizeof *v.v))) { /* an empty result is still a buffer to free */
        qw_fail(&e, QWGLM_ERR_NOMEM, "out of memory");
        qw_err_copy(err, &e);
        return e.status;
    }
    *ids = v.v;
    *n_ids = v.n;
    return QWGLM_OK;
}

static qwglm_status take(struct qw_str *s, char **text, size_t *len, char *err)
{
    size_t n = s->len;
    char *p = qw_str_take(s);
    if (!p) {
        struct qw_err e = {0};
        qw_fail(&e, QWGLM_ERR_NOMEM, "out of memory");
        qw_err_copy(err, &e);
        return e.status;
    }
    *text = p;
    if (len) *len = n;
    return QWGLM_OK;
}

qwglm_status qwglm_detokenize(const qwglm_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **text,
                              size_t *len, char *err)
{
    struct qw_err e = {0};
    struct qw_str s = {0};
    *text = NULL;
    qwglm_status st = tokenizer_decode(t->tok, ids, n, skip_special != 0, &s, &e);
    if (st) {
        qw_str_free(&s);
        qw_err_copy(err, &e);
        return st;
    }
    return take(&s, text, len, err);
}

int qwglm_tokenizer_has_chat_template(const qwglm_tokenizer *t) { return t->tmpl != NULL; }

qwglm_status qwglm_chat_render(const qwglm_tokenizer *t, const char *request, size_t len, char **text,
                               size_t *text_len_out, char *err)
{
    struct qw_err e = {0};
    *text = NULL;
    if (!t->tmpl) {
        qw_fail(&e, QWGLM_ERR_ARG, "the model has no chat template");
        qw_err_copy(err, &e);
        return e.status;
    }
    struct json_doc doc;
    qwglm_status st = json_parse(request, text_len(request, len), &doc, &e);
    struct qw_str s = {0};
    if (!st) {
        st = chat_template_render(t->tmpl, &doc.root, &s, &e);
        json_doc_free(&doc);
    }
    if (st) {
        qw_str_free(&s);
        qw_err_copy(err, &e);
        return st;
    }
    return take(&s, text, text_len_out, err);
}

int qwglm_tokenizer_stop_ids(const qwglm_tokenizer *t, int32_t *ids, int cap)
{
    static const char *const names[] = {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>",
                                        "<end_of_turn>", "<|eom_id|>"};
    int n = 0;
    const char *eos = t->tmpl ? chat_template_special(t->tmpl, "eos_token") : NULL;
    for (int i = -1; i < (int)(sizeof names / sizeof names[0]); i++) {
        const char *name = i < 0 ? eos : names[i];
        if (!name) continue;
        int32_t id = tokenizer_token_id(t->tok, name, strlen(name));
        bool dup = id < 0;
        for (int k = 0; k < n && k < cap && !dup; k++) dup = ids[k] == id;
        if (dup) continue;
        if (n < cap) ids[n] = id;
        n++;
    }
    return n;
}

/* ---- streams ---- */

qwglm_stream_params qwglm_stream_default_params(void)
{
    return (qwglm_stream_params){.skip_special = 1, .separate_reasoning = 1, .start_in_reasoning = 0};
}

qwglm_status qwglm_stream_open(const qwglm_tokenizer *t, const qwglm_stream_params *p, qwglm_stream **out, char *err)
{
    struct qw_err e = {0};
    qwglm_stream *s = qw_calloc(1, sizeof *s);
    *out = NULL;
    if (!s) {
        qw_fail(&e, QWGLM_ERR_NOMEM, "out of memory");
        qw_err_copy(err, &e);
        return e.status;
    }
    s->t = t;
    s->p = p ? *p : qwglm_stream_default_params();
    detok_init(&s->detok, t->tok, s->p.skip_special != 0);
    think_init(&s->think, s->p.start_in_reasoning != 0);
    *out = s;
    return QWGLM_OK;
}

struct relay {
    qwglm_text_fn fn;
    void *user;
};

static int relay_fn(int kind, const char *text, size_t len, void *user)
{
    const struct relay *r = user;
    return r->fn((qwglm_text_kind)kind, text, len, r->user);
}

static int deliver(qwglm_stream *s, qwglm_text_fn fn, void *user)
{
    if (!s->buf.len) return 0;
    int rc;
    if (s->p.separate_reasoning) {
        struct relay r = {fn, user};
        rc = think_feed(&s->think, s->buf.data, s->buf.len, relay_fn, &r);
    } else {
        rc = fn(QWGLM_TEXT_ANSWER, s->buf.data, s->buf.len, user);
    }
    qw_str_clear(&s->buf);
    return rc;
}

int qwglm_stream_push(qwglm_stream *s, int32_t id, qwglm_text_fn fn, void *user)
{
    /* <think> and </think> are special tokens in some vocabularies: skip_special never drops them, since they
     * delimit the reasoning (which the separator, or the caller, removes) */
    size_t len;
    const char *b = tokenizer_token_bytes(s->t->tok, id, &len);
    bool tag = b && ((len == 7 && !memcmp(b, "<think>", 7)) || (len == 8 && !memcmp(b, "</think>", 8)));
    if (tag) {
        if (!detok_flush(&s->detok, &s->buf) || !qw_str_append(&s->buf, b, len)) return -1;
    } else if (!detok_push(&s->detok, id, &s->buf)) {
        return -1;
    }
    return deliver(s, fn, user);
}

int qwglm_stream_flush(qwglm_stream *s, qwglm_text_fn fn, void *user)
{
    if (!detok_flush(&s->detok, &s->buf)) return -1;
    int rc = deliver(s, fn, user);
    if (!rc && s->p.separate_reasoning) {
        struct relay r = {fn, user};
        rc = think_flush(&s->think, relay_fn, &r);
    }
    think_init(&s->think, s->p.start_in_reasoning != 0);
    return rc;
}

void qwglm_stream_free(qwglm_stream *s)
{
    if (!s) return;
    qw_str_free(&s->buf);
    qw_free(s);
}
