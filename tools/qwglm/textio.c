#include "textio.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

void textio_add_message(struct qw_str *messages, const char *role, const char *text, size_t len)
{
    if (messages->len) qw_str_puts(messages, ", ");
    qw_str_puts(messages, "{\"role\": ");
    qw_str_json(messages, role, strlen(role));
    qw_str_puts(messages, ", \"content\": ");
    qw_str_json(messages, text, len);
    qw_str_putc(messages, '}');
}

void textio_add_user_with_images(struct qw_str *messages, const char *text, size_t len, int n_images)
{
    if (messages->len) qw_str_puts(messages, ", ");
    qw_str_puts(messages, "{\"role\": \"user\", \"content\": [");
    for (int i = 0; i < n_images; i++) qw_str_puts(messages, "{\"type\": \"image\"}, ");
    qw_str_puts(messages, "{\"type\": \"text\", \"text\": ");
    qw_str_json(messages, text, len);
    qw_str_puts(messages, "}]}");
}

int textio_prompt(const char *cmd, const qwglm_tokenizer *tok, const struct textio_opts *o, const char *messages,
                  const char *raw_text, int32_t **ids, size_t *n_ids, bool *in_reasoning)
{
    char err[QWGLM_ERR_SIZE];
    *in_reasoning = false;
    if (o->raw) {
        if (qwglm_tokenize(tok, raw_text, (size_t)-1, ids, n_ids, err)) return cli_error(cmd, "%s", err);
        return 0;
    }
    if (!qwglm_tokenizer_has_chat_template(tok))
        return cli_error(cmd, "the model has no chat template; use --raw to send the prompt as it is");
    struct qw_str req = {0};
    qw_str_printf(&req, "{\"messages\": [%s], \"add_generation_prompt\": true", messages);
    if (o->no_think) qw_str_puts(&req, ", \"enable_thinking\": false");
    qw_str_putc(&req, '}');
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    if (req.failed) rc = cli_error(cmd, "out of memory");
    else if (qwglm_chat_render(tok, req.data, req.len, &text, &len, err)) rc = cli_error(cmd, "%s", err);
    else if (qwglm_tokenize(tok, text, len, ids, n_ids, err)) rc = cli_error(cmd, "%s", err);
    /* a template that opens the reasoning itself ("...<think>\n") leaves the reply inside it */
    if (!rc) {
        size_t k = len;
        while (k > 0 && (text[k - 1] == '\n' || text[k - 1] == ' ')) k--;
        *in_reasoning = k >= 7 && memcmp(text + k - 7, "<think>", 7) == 0;
    }
    qwglm_free(text);
    qw_str_free(&req);
    return rc;
}

int textio_stop_ids(const qwglm_tokenizer *tok, const qwglm_generate_params *gp, int32_t *stop, int cap)
{
    int n = 0;
    for (int i = 0; i < gp->n_stop_ids && n < cap; i++) stop[n++] = gp->stop_ids[i];
    int32_t extra[16];
    int k = qwglm_tokenizer_stop_ids(tok, extra, 16);
    for (int i = 0; i < k && i < 16 && n < cap; i++) {
        bool dup = false;
        for (int j = 0; j < n; j++) dup |= stop[j] == extra[i];
        if (!dup) stop[n++] = extra[i];
    }
    return n;
}

int textio_print(qwglm_text_kind kind, const char *text, size_t len, void *user)
{
    struct textio_printer *p = user;
    if (kind == QWGLM_TEXT_REASONING) {
        qw_str_append(&p->reasoning, text, len);
        if (p->hide_reasoning || !p->echo) return 0;
        if (!p->in_reasoning) fputs("[thinking]\n", stderr);
        p->in_reasoning = true;
        fwrite(text, 1, len, stderr);
        fflush(stderr);
        return 0;
    }
    qw_str_append(&p->answer, text, len);
    if (p->in_reasoning) {
        fputs("\n[/thinking]\n", stderr);
        p->in_reasoning = false;
    }
    if (p->echo) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    return 0;
}

void textio_end(struct textio_printer *p)
{
    if (p->in_reasoning) fputs("\n[/thinking]\n", stderr);
    p->in_reasoning = false;
    if (p->echo) {
        putchar('\n');
        fflush(stdout);
    }
}
