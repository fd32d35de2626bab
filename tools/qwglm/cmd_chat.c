/* qwglm chat: an interactive multi-turn chat in the terminal. Each turn renders the whole conversation through
 * the chat template, keeps the part of the KV cache that still matches, evaluates the rest and streams the reply.
 * Lines starting with / are commands: /reset forgets the conversation, /exit (or end of input) quits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "textio.h"

static const char usage_text[] =
    "usage: qwglm chat -m DIR|ORG/NAME[@REV] [options]\n"
    "\n"
    "Chats with the model: type a message, get the reply streamed; /reset starts over, /exit quits.\n"
    "\n"
    "  --system TEXT         a system message at the start of the conversation\n"
    "  --no-think            ask a thinking model not to think (enable_thinking = false)\n"
    "  --hide-reasoning      do not print the reasoning\n"
    "  -n, --max-tokens N    at most N tokens per reply (default: until an end token or a full context)\n"
    "%s%s";

struct chat {
    const char *cmd;
    qwglm_tokenizer *tok;
    qwglm_session *s;
    qwglm_stream *stream;
    struct textio_printer printer;
    int32_t *cache; /* the ids in the KV cache, in order */
    int n_cache, cap_cache;
    bool failed;
};

static bool cache_push(struct chat *c, int32_t id)
{
    if (c->n_cache == c->cap_cache) {
        int cap = c->cap_cache ? c->cap_cache * 2 : 1024;
        int32_t *v = realloc(c->cache, (size_t)cap * sizeof *v);
        if (!v) return false;
        c->cache = v;
        c->cap_cache = cap;
    }
    c->cache[c->n_cache++] = id;
    return true;
}

static int on_token(int32_t id, const float *logits, void *user)
{
    struct chat *c = user;
    (void)logits;
    if (!cache_push(c, id) || qwglm_stream_push(c->stream, id, textio_print, &c->printer)) c->failed = true;
    return c->failed;
}

/* One turn: prompt ids for the whole conversation; reuses the cached prefix. */
static int turn(struct chat *c, const int32_t *ids, int n, const qwglm_generate_params *gp)
{
    int keep = 0, n_past = qwglm_session_n_past(c->s);
    while (keep < n && keep < c->n_cache && keep < n_past && c->cache[keep] == ids[keep]) keep++;
    if (keep == n) keep--; /* something must be evaluated to get logits for the first reply token */
    if (keep < 0) keep = 0;
    if (qwglm_session_truncate(c->s, keep)) return cli_error(c->cmd, "%s", qwglm_session_error(c->s));
    c->n_cache = 0;
    for (int i = 0; i < n; i++)
        if (!cache_push(c, ids[i])) return cli_error(c->cmd, "out of memory");
    qwglm_status st = qwglm_session_generate(c->s, ids + keep, n - keep, gp, on_token, c);
    if (qwglm_stream_flush(c->stream, textio_print, &c->printer)) c->failed = true;
    textio_end(&c->printer);
    if (c->failed) return cli_error(c->cmd, "out of memory");
    if (st) return cli_error(c->cmd, "%s", qwglm_session_error(c->s));
    return 0;
}

static int chat_loop(struct chat *c, const struct textio_opts *to, qwglm_generate_params *gp)
{
    struct qw_str msgs = {0};
    char *line = NULL;
    size_t cap = 0;
    bool tty = isatty(0);
    int rc = 0;
    if (to->system) textio_add_message(&msgs, "system", to->system, strlen(to->system));
    size_t system_len = msgs.len;
    for (;;) {
        if (tty) fputs("> ", stderr);
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            msgs.len = system_len;
            if (msgs.data) msgs.data[msgs.len] = '\0';
            fputs("(conversation reset)\n", stderr);
            continue;
        }
        textio_add_message(&msgs, "user", line, (size_t)n);
        int32_t *ids;
        size_t n_ids;
        bool in_reasoning;
        if (msgs.failed) {
            rc = cli_error(c->cmd, "out of memory");
            break;
        }
        if ((rc = textio_prompt(c->cmd, c->tok, to, msgs.data, line, &ids, &n_ids, &in_reasoning))) break;
        qwglm_stream_params sp = qwglm_stream_default_params();
        sp.start_in_reasoning = in_reasoning;
        char err[QWGLM_ERR_SIZE];
        qwglm_stream_free(c->stream);
        c->stream = NULL;
        if (qwglm_stream_open(c->tok, &sp, &c->stream, err)) {
            qwglm_free(ids);
            rc = cli_error(c->cmd, "%s", err);
            break;
        }
        qw_str_clear(&c->printer.answer);
        qw_str_clear(&c->printer.reasoning);
        rc = turn(c, ids, (int)n_ids, gp);
        qwglm_free(ids);
        if (rc) break;
        /* the reply joins the conversation; templates drop the reasoning of earlier turns themselves */
        textio_add_message(&msgs, "assistant", c->printer.answer.data ? c->printer.answer.data : "",
                           c->printer.answer.len);
    }
    free(line);
    qw_str_free(&msgs);
    return rc;
}

int cmd_chat(int argc, char **argv)
{
    const char *cmd = "chat";
    struct cli_model_opts mo;
    cli_model_opts_init(&mo);
    struct textio_opts to = {0};
    bool seed_set = false, sampling_set = false, hide = false;
    long max_tokens = -1;
    qwglm_sampling sampling = qwglm_sampling_greedy();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_model_flag(cmd, &mo, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        r = cli_sampling_flag(cmd, &sampling, &seed_set, argc, argv, &i);
        if (r < 0) return 2;
        if (r) {
            sampling_set |= strcmp(a, "--seed") != 0;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf(usage_text, cli_model_flags_help, cli_sampling_flags_help);
            return 0;
        } else if (!strcmp(a, "--system")) {
            if (!(to.system = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--no-think")) {
            to.no_think = true;
        } else if (!strcmp(a, "--hide-reasoning")) {
            hide = true;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_int(v, -1, 1 << 24, &max_tokens))
                return cli_usage_error(cmd, "-n must be a number of tokens (-1 = unlimited)");
        } else {
            return cli_usage_error(cmd, "unknown option '%s' (see qwglm chat --help)", a);
        }
    }
    if (!mo.model) return cli_usage_error(cmd, "-m DIR is required");
    char model_dir[QWGLM_HUB_PATH_MAX]; /* a folder, or ORG/NAME[@REV] from the Hugging Face cache */
    if (cli_resolve_model(cmd, mo.model, model_dir, sizeof model_dir)) return 1;
    mo.model = model_dir;
    char err[QWGLM_ERR_SIZE];
    struct chat c = {.cmd = cmd};
    if (qwglm_tokenizer_load(mo.model, &c.tok, err)) return cli_error(cmd, "%s", err);
    if (!qwglm_tokenizer_has_chat_template(c.tok)) {
        qwglm_tokenizer_free(c.tok);
        return cli_error(cmd, "the model has no chat template");
    }
    int rc = 1;
    qwglm_model *m = cli_load_model(cmd, &mo);
    if (!m) goto done;
    qwglm_generate_params gp = qwglm_generate_default_params(m);
    if (sampling_set) {
        uint64_t seed = gp.sampling.seed;
        gp.sampling = sampling;
        gp.sampling.seed = seed;
    }
    if (seed_set) gp.sampling.seed = sampling.seed;
    else gp.sampling.seed ^= (uint64_t)time(NULL);
    gp.max_tokens = (int)max_tokens;
    int32_t stop[64];
    gp.n_stop_ids = textio_stop_ids(c.tok, &gp, stop, 64);
    gp.stop_ids = stop;
    qwglm_session_params sp = qwglm_session_default_params();
    sp.n_ctx = mo.n_ctx;
    if (qwglm_session_open(m, &sp, &c.s, err)) {
        cli_error(cmd, "%s", err);
        goto done;
    }
    c.printer.echo = true;
    c.printer.hide_reasoning = hide;
    rc = chat_loop(&c, &to, &gp);
done:
    qwglm_stream_free(c.stream);
    qw_str_free(&c.printer.answer);
    qw_str_free(&c.printer.reasoning);
    free(c.cache);
    qwglm_session_close(c.s);
    qwglm_model_free(m);
    qwglm_tokenizer_free(c.tok);
    return rc;
}
