/* qwglm run: generate a continuation of a prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "textio.h"
#if defined(QWGLM_HAVE_HUB)
#include "base/mem.h"
#include "hub/hub.h"
#endif

static const char usage_text[] =
    "usage: qwglm run -m DIR|ORG/NAME[@REV] (-p TEXT | --prompt-ids 1,2,3) [options]\n"
    "\n"
    "Generates a reply to the prompt and streams it to stdout.\n"
    "\n"
    "  -p, --prompt TEXT     a user message, put through the model's chat template (the reasoning of a\n"
    "                        thinking model goes to stderr between [thinking] lines)\n"
    "  --system TEXT         a system message before it\n"
    "  --no-think            ask a thinking model not to think (enable_thinking = false)\n"
    "  --raw                 tokenize TEXT as it is, without the chat template\n"
    "  --hide-reasoning      do not print the reasoning\n"
    "  --prompt-ids LIST     the prompt as comma-separated token ids (prints ids, not text)\n"
    "  --image FILE|URL      an image (PNG, JPEG, WebP, GIF, BMP) for the next <|image_pad|> run of the prompt:\n"
    "                        a file, a file:// URL or an http(s) URL (fetched: at most 256 MiB, 60 s)\n"
    "                        (151652,151655,151653 places one; repeat --image in prompt order)\n"
    "  --image-min-tokens N, --image-max-tokens N\n"
    "                        bound the tokens per image (default: the model's, 64 to 16384)\n"
    "  -n, --max-tokens N    stop after N tokens (default: until an end token or a full context)\n"
    "  --json                print one JSON object with prompt_ids, tokens, timings and stop_reason\n"
    "  --logits FILE         write float32 logits rows [tokens, vocab]: row i chose tokens[i]\n"
    "%s%s";

struct run_state {
    FILE *logits_file;
    int n_vocab;
    bool json, failed;
    qwglm_stream *stream; /* text prompts: detokenizes the reply */
    struct textio_printer printer;
    int32_t *tokens;
    int n_tokens, cap;
    int64_t t_first_us;
};

static int on_token(int32_t id, const float *logits, void *user)
{
    struct run_state *st = user;
    if (st->n_tokens == st->cap) {
        int cap = st->cap ? st->cap * 2 : 256;
        int32_t *t = realloc(st->tokens, (size_t)cap * sizeof *t);
        if (!t) {
            st->failed = true;
            return 1;
        }
        st->tokens = t;
        st->cap = cap;
    }
    st->tokens[st->n_tokens++] = id;
    if (st->logits_file && fwrite(logits, sizeof *logits, (size_t)st->n_vocab, st->logits_file) != (size_t)st->n_vocab) {
        st->failed = true;
        return 1;
    }
    if (st->stream) {
        if (qwglm_stream_push(st->stream, id, textio_print, &st->printer)) st->failed = true;
    } else if (!st->json) {
        printf("%s%d", st->n_tokens > 1 ? " " : "", id);
        fflush(stdout);
    }
    return st->failed;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void print_ids(const int32_t *ids, int n)
{
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    putchar(']');
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* --image: a file, a file:///PATH URL (percent-decoded), or an http(s) URL fetched with libcurl. */
static qwglm_status load_image(const char *arg, qwglm_image **out, char *err)
{
    if (strncmp(arg, "http://", 7) == 0 || strncmp(arg, "https://", 8) == 0) {
#if defined(QWGLM_HAVE_HUB)
        const struct hub_url_limits lim = {.max_bytes = 256u << 20, .max_redirects = 5, .timeout_s = 60};
        struct qw_err e = {0};
        char *body;
        size_t n;
        if (hub_url_get(arg, &lim, &body, &n, &e)) {
            snprintf(err, QWGLM_ERR_SIZE, "cannot fetch %.230s", e.msg);
            return e.status;
        }
        qwglm_status st = qwglm_image_decode(body, n, out, err);
        qw_free(body);
        return st;
#else
        snprintf(err, QWGLM_ERR_SIZE, "%.200s: this build cannot fetch URLs (no libcurl)", arg);
        return QWGLM_ERR_ARG;
#endif
    }
    if (strncmp(arg, "file://", 7) != 0) return qwglm_image_load(arg, out, err);
    const char *u = arg + 7;
    if (strncmp(u, "localhost/", 10) == 0) u += 9;
    char path[4096];
    size_t o = 0;
    bool ok = u[0] == '/';
    for (; ok && *u; u++) {
        int c = (unsigned char)*u;
        if (c == '%') {
            int hi = hex_digit(u[1]), lo = hi < 0 ? -1 : hex_digit(u[2]);
            c = hi < 0 || lo < 0 ? 0 : hi * 16 + lo;
            u += 2;
        }
        ok = c != 0 && o + 1 < sizeof path;
        if (ok) path[o++] = (char)c;
    }
    path[o] = '\0';
    if (!ok) {
        snprintf(err, QWGLM_ERR_SIZE, "%.200s: not a file:///PATH URL", arg);
        return QWGLM_ERR_ARG;
    }
    return qwglm_image_load(path, out, err);
}

int cmd_run(int argc, char **argv)
{
    const char *cmd = "run", *prompt_ids = NULL, *logits_path = NULL, *prompt = NULL;
    struct textio_opts to = {0};
    bool hide_reasoning = false;
    struct cli_model_opts mo;
    cli_model_opts_init(&mo);
    long max_tokens = -1;
    bool json = false, seed_set = false, sampling_set = false;
    qwglm_sampling sampling = qwglm_sampling_greedy();
    enum { MAX_IMAGES = 64 };
    const char *image_paths[MAX_IMAGES];
    int n_images = 0;
    qwglm_image_budget budget = {0, 0};
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
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf(usage_text, cli_model_flags_help, cli_sampling_flags_help);
            return 0;
        } else if (strcmp(a, "--prompt-ids") == 0) {
            if (!(prompt_ids = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--max-tokens") == 0) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_int(v, -1, 1 << 24, &max_tokens))
                return cli_usage_error(cmd, "-n must be a number of tokens (-1 = unlimited)");
        } else if (strcmp(a, "--image") == 0) {
            if (n_images == MAX_IMAGES) return cli_usage_error(cmd, "at most %d images", MAX_IMAGES);
            if (!(image_paths[n_images++] = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--image-min-tokens") == 0 || strcmp(a, "--image-max-tokens") == 0) {
            const char *v = cli_value(cmd, argc, argv, &i);
            long t;
            if (!v || !cli_parse_int(v, 1, 1 << 20, &t))
                return cli_usage_error(cmd, "%s must be a number of tokens", a);
            *(a[8] == 'i' ? &budget.min_tokens : &budget.max_tokens) = (int)t;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--logits") == 0) {
            if (!(logits_path = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) {
            if (!(prompt = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--system") == 0) {
            if (!(to.system = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--no-think") == 0) {
            to.no_think = true;
        } else if (strcmp(a, "--raw") == 0) {
            to.raw = true;
        } else if (strcmp(a, "--hide-reasoning") == 0) {
            hide_reasoning = true;
        } else {
            return cli_usage_error(cmd, "unknown option '%s' (see qwglm run --help)", a);
        }
    }
    if (!prompt_ids && !prompt) return cli_usage_error(cmd, "no prompt: pass -p TEXT or --prompt-ids");
    if (prompt_ids && prompt) return cli_usage_error(cmd, "pass either -p or --prompt-ids, not both");
    if (!mo.model) return cli_usage_error(cmd, "-m DIR is required");
    char model_dir[QWGLM_HUB_PATH_MAX]; /* a folder, or ORG/NAME[@REV] from the Hugging Face cache */
    if (cli_resolve_model(cmd, mo.model, model_dir, sizeof model_dir)) return 1;
    mo.model = model_dir;
    int32_t *ids = NULL;
    int n_ids = 0;
    qwglm_tokenizer *tok = NULL;
    bool in_reasoning = false;
    if (prompt_ids && !cli_parse_ids(prompt_ids, &ids, &n_ids, 1 << 24))
        return cli_usage_error(cmd, "--prompt-ids must be comma-separated integers");
    if (prompt) {
        char terr[QWGLM_ERR_SIZE];
        if (qwglm_tokenizer_load(mo.model, &tok, terr)) return cli_error(cmd, "%s", terr);
        struct qw_str msgs = {0};
        if (to.system) textio_add_message(&msgs, "system", to.system, strlen(to.system));
        if (n_images > 0) textio_add_user_with_images(&msgs, prompt, strlen(prompt), n_images);
        else textio_add_message(&msgs, "user", prompt, strlen(prompt));
        int32_t *tids;
        size_t n_tids;
        int prc = msgs.failed ? cli_error(cmd, "out of memory")
                              : textio_prompt(cmd, tok, &to, msgs.data, prompt, &tids, &n_tids, &in_reasoning);
        qw_str_free(&msgs);
        if (!prc && !(ids = malloc((n_tids ? n_tids : 1) * sizeof *ids))) prc = cli_error(cmd, "out of memory");
        if (prc) {
            qwglm_tokenizer_free(tok);
            return 1;
        }
        memcpy(ids, tids, n_tids * sizeof *ids);
        n_ids = (int)n_tids;
        qwglm_free(tids);
    }

    qwglm_model *m = cli_load_model(cmd, &mo);
    if (!m) {
        free(ids);
        qwglm_tokenizer_free(tok);
        return 1;
    }
    qwglm_generate_params gp = qwglm_generate_default_params(m);
    if (sampling_set) {
        uint64_t seed = gp.sampling.seed;
        gp.sampling = sampling;
        gp.sampling.seed = seed;
    }
    gp.sampling.seed = seed_set ? sampling.seed : (uint64_t)time(NULL) ^ ((uint64_t)now_us() << 20);
    gp.max_tokens = (int)max_tokens;
    qwglm_model_info info;
    qwglm_model_get_info(m, &info);

    int rc = 1;
    qwglm_session *s = NULL;
    qwglm_image *images[MAX_IMAGES] = {0};
    struct run_state st = {.n_vocab = info.n_vocab, .json = json};
    char err[QWGLM_ERR_SIZE];
    int32_t stop_ids[64];
    if (tok) {
        gp.n_stop_ids = textio_stop_ids(tok, &gp, stop_ids, 64);
        gp.stop_ids = stop_ids;
        qwglm_stream_params spar = qwglm_stream_default_params();
        spar.start_in_reasoning = in_reasoning;
        st.printer.echo = !json;
        st.printer.hide_reasoning = hide_reasoning;
        if (qwglm_stream_open(tok, &spar, &st.stream, err)) {
            cli_error(cmd, "%s", err);
            goto done;
        }
    }
    qwglm_session_params sp = qwglm_session_default_params();
    sp.n_ctx = mo.n_ctx;
    if (qwglm_session_open(m, &sp, &s, err)) {
        cli_error(cmd, "%s", err);
        goto done;
    }
    if (logits_path && !(st.logits_file = fopen(logits_path, "wb"))) {
        cli_error(cmd, "%s: cannot write", logits_path);
        goto done;
    }
    for (int i = 0; i < n_images; i++)
        if (load_image(image_paths[i], &images[i], err)) {
            cli_error(cmd, "%s", err);
            goto done;
        }
    int64_t t0 = now_us();
    /* with a vision model, pads without images (or the reverse) are an error rather than ordinary tokens */
    qwglm_status gs = n_images > 0 || qwglm_model_has_vision(m)
                          ? qwglm_session_eval_images(s, ids, n_ids, images, n_images, &budget, NULL)
                          : qwglm_session_eval(s, ids, n_ids, NULL);
    int n_prompt = qwglm_session_n_past(s); /* images expanded */
    int64_t t1 = now_us();
    if (gs == QWGLM_OK) gs = qwglm_session_generate(s, NULL, 0, &gp, on_token, &st);
    int64_t t2 = now_us();
    if (st.stream && qwglm_stream_flush(st.stream, textio_print, &st.printer)) st.failed = true;
    if (st.failed) {
        cli_error(cmd, "%s", logits_path ? "writing the logits failed" : "out of memory");
        goto done;
    }
    if (gs) {
        cli_error(cmd, "%s", qwglm_session_error(s));
        goto done;
    }
    const char *stop = "length";
    if (st.n_tokens > 0)
        for (int i = 0; i < gp.n_stop_ids; i++)
            if (st.tokens[st.n_tokens - 1] == gp.stop_ids[i]) stop = "eos";
    if (strcmp(stop, "length") == 0 && (gp.max_tokens < 0 || st.n_tokens < gp.max_tokens)) stop = "context";
    double prompt_ms = (double)(t1 - t0) / 1e3, decode_ms = (double)(t2 - t1) / 1e3;
    int n_decoded = st.n_tokens > 1 ? st.n_tokens - 1 : 0; /* the first token comes from the prompt's logits */
    if (json) {
        printf("{\"prompt_ids\": ");
        print_ids(ids, n_ids);
        printf(", \"tokens\": ");
        print_ids(st.tokens, st.n_tokens);
        if (st.stream) {
            struct qw_str j = {0};
            qw_str_puts(&j, ", \"text\": ");
            qw_str_json(&j, st.printer.answer.data ? st.printer.answer.data : "", st.printer.answer.len);
            qw_str_puts(&j, ", \"reasoning\": ");
            qw_str_json(&j, st.printer.reasoning.data ? st.printer.reasoning.data : "", st.printer.reasoning.len);
            fwrite(j.data, 1, j.len, stdout);
            qw_str_free(&j);
        }
        printf(", \"stop_reason\": \"%s\", \"seed\": %llu, \"timings\": {\"prompt_ms\": %.3f, "
               "\"prompt_tok_s\": %.2f, \"decode_ms\": %.3f, \"decode_tok_s\": %.2f}}\n",
               stop, (unsigned long long)gp.sampling.seed, prompt_ms, prompt_ms > 0 ? n_prompt / prompt_ms * 1e3 : 0,
               decode_ms, decode_ms > 0 ? n_decoded / decode_ms * 1e3 : 0);
    } else {
        if (st.stream) textio_end(&st.printer);
        else putchar('\n');
        fprintf(stderr, "qwglm: prompt %d tokens in %.1f ms (%.1f tok/s), generated %d tokens (%.1f tok/s), %s\n",
                n_prompt, prompt_ms, prompt_ms > 0 ? n_prompt / prompt_ms * 1e3 : 0, st.n_tokens,
                decode_ms > 0 ? n_decoded / decode_ms * 1e3 : 0, stop);
    }
    rc = 0;
done:
    if (st.logits_file && fclose(st.logits_file) != 0 && rc == 0) rc = cli_error(cmd, "%s: write failed", logits_path);
    free(st.tokens);
    free(ids);
    for (int i = 0; i < n_images; i++) qwglm_image_free(images[i]);
    qwglm_stream_free(st.stream);
    qw_str_free(&st.printer.answer);
    qw_str_free(&st.printer.reasoning);
    qwglm_session_close(s);
    qwglm_model_free(m);
    qwglm_tokenizer_free(tok);
    return rc;
}
