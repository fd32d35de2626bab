/* qwglm run: generate a continuation of a prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"

static const char usage_text[] =
    "usage: qwglm run -m DIR|ORG/NAME[@REV] --prompt-ids 1,2,3 [options]\n"
    "\n"
    "Generates a continuation of the prompt and streams it to stdout.\n"
    "\n"
    "  --prompt-ids LIST     the prompt as comma-separated token ids\n"
    "  -n, --max-tokens N    stop after N tokens (default: until an end token or a full context)\n"
    "  --json                print one JSON object with prompt_ids, tokens, timings and stop_reason\n"
    "  --logits FILE         write float32 logits rows [tokens, vocab]: row i chose tokens[i]\n"
    "%s%s";

struct run_state {
    FILE *logits_file;
    int n_vocab;
    bool json, failed;
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
    if (!st->json) {
        printf("%s%d", st->n_tokens > 1 ? " " : "", id);
        fflush(stdout);
    }
    return 0;
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

int cmd_run(int argc, char **argv)
{
    const char *cmd = "run", *prompt_ids = NULL, *logits_path = NULL;
    struct cli_model_opts mo;
    cli_model_opts_init(&mo);
    long max_tokens = -1;
    bool json = false, seed_set = false, sampling_set = false;
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
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf(usage_text, cli_model_flags_help, cli_sampling_flags_help);
            return 0;
        } else if (strcmp(a, "--prompt-ids") == 0) {
            if (!(prompt_ids = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--max-tokens") == 0) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_int(v, -1, 1 << 24, &max_tokens))
                return cli_usage_error(cmd, "-n must be a number of tokens (-1 = unlimited)");
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--logits") == 0) {
            if (!(logits_path = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) {
            return cli_usage_error(cmd, "text prompts need the tokenizer; use --prompt-ids");
        } else {
            return cli_usage_error(cmd, "unknown option '%s' (see qwglm run --help)", a);
        }
    }
    if (!prompt_ids) return cli_usage_error(cmd, "no prompt: pass --prompt-ids");
    int32_t *ids;
    int n_ids;
    if (!cli_parse_ids(prompt_ids, &ids, &n_ids, 1 << 24))
        return cli_usage_error(cmd, "--prompt-ids must be comma-separated integers");

    qwglm_model *m = cli_load_model(cmd, &mo);
    if (!m) {
        free(ids);
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
    struct run_state st = {.n_vocab = info.n_vocab, .json = json};
    char err[QWGLM_ERR_SIZE];
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
    int64_t t0 = now_us();
    qwglm_status gs = qwglm_session_eval(s, ids, n_ids, NULL);
    int64_t t1 = now_us();
    if (gs == QWGLM_OK) gs = qwglm_session_generate(s, NULL, 0, &gp, on_token, &st);
    int64_t t2 = now_us();
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
        printf(", \"stop_reason\": \"%s\", \"seed\": %llu, \"timings\": {\"prompt_ms\": %.3f, "
               "\"prompt_tok_s\": %.2f, \"decode_ms\": %.3f, \"decode_tok_s\": %.2f}}\n",
               stop, (unsigned long long)gp.sampling.seed, prompt_ms, prompt_ms > 0 ? n_ids / prompt_ms * 1e3 : 0,
               decode_ms, decode_ms > 0 ? n_decoded / decode_ms * 1e3 : 0);
    } else {
        putchar('\n');
        fprintf(stderr, "qwglm: prompt %d tokens in %.1f ms (%.1f tok/s), generated %d tokens (%.1f tok/s), %s\n",
                n_ids, prompt_ms, prompt_ms > 0 ? n_ids / prompt_ms * 1e3 : 0, st.n_tokens,
                decode_ms > 0 ? n_decoded / decode_ms * 1e3 : 0, stop);
    }
    rc = 0;
done:
    if (st.logits_file && fclose(st.logits_file) != 0 && rc == 0) rc = cli_error(cmd, "%s: write failed", logits_path);
    free(st.tokens);
    free(ids);
    qwglm_session_close(s);
    qwglm_model_free(m);
    return rc;
}
