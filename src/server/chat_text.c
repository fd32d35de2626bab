/* TODO(#5): the tokenizer and chat templates (src/text) are not in this build yet; until they land the real
 * engine cannot turn requests into ids, and qwglm serve needs --mock. */
#include "server/chat_text.h"

#include "base/mem.h"

qwglm_status chat_text_open(const char *dir, struct chat_text **out, struct qw_err *e)
{
    *out = NULL;
    return qw_fail(e, QWGLM_ERR_ARG, "%s: this build has no tokenizer yet, so the server cannot serve it "
                   "(qwglm serve --mock serves a stand-in model)", dir);
}

void chat_text_free(struct chat_text *t) { (void)t; }

qwglm_status chat_text_encode(const struct chat_text *t, const struct api_request *r, struct srv_prompt *out,
                              struct qw_err *e)
{
    (void)t;
    (void)r;
    (void)out;
    return qw_fail(e, QWGLM_ERR_ARG, "no tokenizer");
}

struct chat_detok *chat_detok_new(const struct chat_text *t)
{
    (void)t;
    return NULL;
}

void chat_detok_free(struct chat_detok *d) { (void)d; }
void chat_detok_reset(struct chat_detok *d) { (void)d; }

bool chat_detok_push(struct chat_detok *d, int32_t id, struct qw_str *out)
{
    (void)d;
    (void)id;
    (void)out;
    return false;
}
