/* A deterministic stand-in for a model, for tests of everything around the engine: the HTTP layer, streaming,
 * cancellation, prompt caching, the web app and the load test. Its "tokens" are the bytes of a ChatML rendering
 * of the request, and its replies are made of whole words: it echoes the last user message, shows a code block
 * and then writes filler until a length is reached. With thinking on it first writes a <think> block. A reply
 * is a pure function of the prompt, the seed and the temperature, so tests can compare two runs. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "base/str.h"
#include "server/engine.h"

#define MOCK_VOCAB 4096
#define MOCK_REPLY_TOKENS 48 /* a reply's length unless the user asks for a "long" one */

struct mock {
    int delay_us;
};

struct mock_session {
    struct mock *m;
    int32_t *ids; /* the simulated KV cache: every id evaluated so far */
    int n_past, n_ctx;
};

static void mock_info(void *ctx, struct srv_model_info *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    strcpy(out->name, "qwglm-mock");
    strcpy(out->arch, "mock");
    strcpy(out->backend, "cpu");
    strcpy(out->device, "mock device (no weights)");
    strcpy(out->dtype, "f32");
    out->n_ctx_train = 32768;
    out->n_vocab = MOCK_VOCAB;
}

static void render_turn(struct qw_str *s, const char *role, const char *text)
{
    qw_str_printf(s, "<|im_start|>%s\n%s<|im_end|>\n", role, text);
}

static qwglm_status mock_encode(void *ctx, const struct api_request *r, struct srv_prompt *out, struct qw_err *e)
{
    (void)ctx;
    struct qw_str s = {.max = 64u << 20};
    if (r->kind == API_COMPLETION) {
        qw_str_puts(&s, r->prompt);
    } else {
        for (int i = 0; i < r->n_messages; i++)
            render_turn(&s, api_role_name(r->messages[i].role), r->messages[i].content);
        qw_str_puts(&s, "<|im_start|>assistant\n");
        if (r->enable_thinking == 0) qw_str_puts(&s, "<think>\n\n</think>\n\n");
    }
    if (s.failed) {
        qw_str_free(&s);
        return qw_fail(e, QWGLM_ERR_NOMEM, "prompt: out of memory");
    }
    memset(out, 0, sizeof *out);
    out->ids = qw_malloc((s.len ? s.len : 1) * sizeof *out->ids);
    if (!out->ids) {
        qw_str_free(&s);
        return qw_fail(e, QWGLM_ERR_NOMEM, "prompt: out of memory");
    }
    for (size_t i = 0; i < s.len; i++) out->ids[i] = (unsigned char)s.data[i];
    out->n = (int)s.len;
    qw_str_free(&s);
    return QWGLM_OK;
}

static qwglm_sampling mock_sampling_defaults(void *ctx)
{
    (void)ctx;
    return (qwglm_sampling){.temperature = 0, .top_p = 1, .repetition_penalty = 1, .penalty_last_n = -1};
}

static qwglm_status mock_session_open(void *ctx, int n_ctx, void **out, struct qw_err *e)
{
    struct mock_session *s = qw_calloc(1, sizeof *s);
    if (s) s->ids = qw_malloc((size_t)(n_ctx > 0 ? n_ctx : 1) * sizeof *s->ids);
    if (!s || !s->ids) {
        qw_free(s);
        return qw_fail(e, QWGLM_ERR_NOMEM, "session: out of memory");
    }
    s->m = ctx;
    s->n_ctx = n_ctx;
    *out = s;
    return QWGLM_OK;
}

static void mock_session_close(void *sess)
{
    struct mock_session *s = sess;
    if (!s) return;
    qw_free(s->ids);
    qw_free(s);
}

static int mock_n_past(void *sess) { return ((struct mock_session *)sess)->n_past; }
static int mock_n_ctx(void *sess) { return ((struct mock_session *)sess)->n_ctx; }

static qwglm_status mock_truncate(void *sess, int n)
{
    struct mock_session *s = sess;
    if (n < 0 || n > s->n_past) return QWGLM_ERR_ARG;
    s->n_past = n;
    return QWGLM_OK;
}

/* The last user turn of the rendered history, and whether the reply starts with thinking. */
static void scan_history(const struct mock_session *s, char *user, size_t cap, bool *thinking)
{
    static const char tag[] = "<|im_start|>user\n";
    static const char off[] = "<think>\n\n</think>\n\n";
    size_t tl = sizeof tag - 1, ol = sizeof off - 1;
    int start = -1;
    for (int i = s->n_past - (int)tl; i >= 0 && start < 0; i--) {
        size_t k = 0;
        while (k < tl && s->ids[i + (int)k] == (unsigned char)tag[k]) k++;
        if (k == tl) start = i + (int)tl;
    }
    size_t n = 0;
    for (int i = start; start >= 0 && i < s->n_past && n + 1 < cap; i++) {
        if (s->ids[i] == '<' && i + 1 < s->n_past && s->ids[i + 1] == '|') break;
        user[n++] = (char)(s->ids[i] & 0xff);
    }
    user[n] = 0;
    size_t k = 0;
    if ((size_t)s->n_past >= ol)
        while (k < ol && s->ids[s->n_past - (int)ol + (int)k] == (unsigned char)off[k]) k++;
    *thinking = start >= 0 && k != ol;
}

static uint64_t next_rand(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull; /* splitmix64 */
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void sleep_us(int us)
{
    if (us <= 0) return;
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* The next word of the reply into w; false when the script is done. */
static bool next_word(int i, const char *user, bool thinking, uint64_t *rng, bool random, char *w, size_t cap)
{
    static const char *think[] = {"<think>", "\nThe", " user", " wrote", " something.", " I", " will", " answer",
                                  " briefly.\n", "</think>", "\n\n"};
    static const char *code[] = {"\n\n", "```c\n", "int", " main(void)\n", "{\n", "    return", " 0;\n", "}\n",
                                 "```\n\n"};
    static const char *filler[] = {" The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog."};
    int nt = thinking ? (int)(sizeof think / sizeof think[0]) : 0;
    if (i < nt) return snprintf(w, cap, "%s", think[i]) > 0;
    i -= nt;
    if (i == 0) return snprintf(w, cap, "You said: ") > 0;
    /* the user's words, one per token */
    const char *p = user;
    int k = 1;
    while (*p) {
        const char *q = p;
        while (*q == ' ') q++;
        while (*q && *q != ' ') q++;
        if (k == i) {
            snprintf(w, cap, "%.*s", (int)(q - p), p);
            return true;
        }
        k++;
        p = q;
    }
    i -= k;
    int nc = (int)(sizeof code / sizeof code[0]);
    if (i < nc) return snprintf(w, cap, "%s", code[i]) > 0;
    i -= nc;
    int nf = (int)(sizeof filler / sizeof filler[0]);
    int f = random ? (int)(next_rand(rng) % (uint64_t)nf) : i % nf;
    return snprintf(w, cap, "%s", filler[f]) > 0;
}

static qwglm_status mock_generate(void *sess, const int32_t *ids, int n, const qwglm_sampling *sp, int max_tokens,
                                  srv_piece_fn fn, void *user, struct qw_err *e)
{
    struct mock_session *s = sess;
    if (n > s->n_ctx - s->n_past)
        return qw_fail(e, QWGLM_ERR_CONTEXT, "prompt of %d tokens does not fit the %d left", n, s->n_ctx - s->n_past);
    memcpy(s->ids + s->n_past, ids, (size_t)n * sizeof *ids);
    s->n_past += n;
    sleep_us(n * 2); /* prefill costs something, so that prompt caching shows in the timings */

    char text[512], w[600];
    bool thinking;
    scan_history(s, text, sizeof text, &thinking);
    int limit = strstr(text, "long") ? 1 << 30 : MOCK_REPLY_TOKENS + (thinking ? 11 : 0);
    if (max_tokens >= 0 && max_tokens < limit) limit = max_tokens;
    uint64_t rng = sp->seed;
    bool random = sp->temperature > 0;
    for (int i = 0; i < limit; i++) {
        if (s->n_past >= s->n_ctx) return QWGLM_OK;
        next_word(i, text, thinking, &rng, random, w, sizeof w);
        int32_t id = 256 + (int32_t)(strlen(w) * 31 + (unsigned char)w[0]) % (MOCK_VOCAB - 256);
        s->ids[s->n_past++] = id;
        sleep_us(s->m->delay_us);
        if (fn(id, w, strlen(w), user)) return QWGLM_ERR_CANCELLED;
    }
    return QWGLM_OK;
}

static void mock_free(void *ctx) { qw_free(ctx); }

static const struct srv_engine_ops mock_ops = {
    .info = mock_info,
    .encode = mock_encode,
    .sampling_defaults = mock_sampling_defaults,
    .session_open = mock_session_open,
    .session_close = mock_session_close,
    .session_n_past = mock_n_past,
    .session_n_ctx = mock_n_ctx,
    .session_truncate = mock_truncate,
    .generate = mock_generate,
    .free = mock_free,
};

qwglm_status engine_mock_open(int delay_us, struct srv_engine *out, struct qw_err *e)
{
    struct mock *m = qw_calloc(1, sizeof *m);
    if (!m) return qw_fail(e, QWGLM_ERR_NOMEM, "mock engine: out of memory");
    m->delay_us = delay_us;
    out->ops = &mock_ops;
    out->ctx = m;
    return QWGLM_OK;
}
