/* Unit tests of the server's request parsing, text streaming (stop strings, <think> splitting, UTF-8) and static
 * file resolution. The HTTP behaviour end to end is tested from web/tests (api, e2e, load). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/utf8.h"
#include "server/api.h"
#include "server/srv.h"
#include "server/stream.h"
#include "test.h"

/* ---- api_parse ---- */

static bool parse(enum api_kind kind, const char *json, struct api_request *r, struct api_error *err)
{
    return api_parse(kind, json, strlen(json), r, err);
}

static void test_api(void)
{
    struct api_request r;
    struct api_error err;
    CHECK(parse(API_CHAT,
                "{\"messages\":[{\"role\":\"developer\",\"content\":\"s\"},{\"role\":\"user\",\"content\":[{\"type\":"
                "\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],\"temperature\":0.5,\"top_k\":40,"
                "\"max_completion_tokens\":7,\"stop\":\"x\",\"seed\":5,\"stream\":true,"
                "\"chat_template_kwargs\":{\"enable_thinking\":false},\"unknown\":{\"deep\":[1]}}",
                &r, &err));
    CHECK(r.n_messages == 2 && r.messages[0].role == API_ROLE_SYSTEM && strcmp(r.messages[1].content, "ab") == 0);
    CHECK(r.temperature == 0.5f && r.top_k == 40 && r.max_tokens == 7 && isnan(r.top_p));
    CHECK(r.n_stop == 1 && strcmp(r.stop[0], "x") == 0 && r.has_seed && r.seed == 5 && r.stream);
    CHECK(r.enable_thinking == 0);
    api_request_free(&r);

    CHECK(parse(API_COMPLETION, "{\"prompt\":[\"p\"],\"max_tokens\":3.0}", &r, &err));
    CHECK(strcmp(r.prompt, "p") == 0 && r.max_tokens == 3 && r.enable_thinking == -1);
    api_request_free(&r);

    static const struct {
        const char *json, *param;
    } bad[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", "temperature"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}", "temperature"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-1}", "max_tokens"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",2]}", "stop"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true}", "logprobs"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{}]}", "tools"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", "messages[0].content[0]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"no type\"}]}]}", "messages[0].content[0]"},
        {"{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", "messages[0].role"},
        {"{\"messages\":[{\"content\":\"x\"}]}", "messages[0].role"},
        {"{\"messages\":[1]}", "messages[0]"},
        {"{\"messages\":{}}", "messages"},
        {"{}", "messages"},
        {"[]", ""},
        {"{\"messages\":", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool ok = parse(API_CHAT, bad[i].json, &r, &err);
        CHECKF(!ok && err.status == 400 && strcmp(err.param, bad[i].param) == 0, "%s: param '%s' (%s)", bad[i].json,
               ok ? "(parsed)" : err.param, ok ? "" : err.message);
    }
    CHECK(!parse(API_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", &r, &err) && strcmp(err.param, "prompt") == 0);

    struct qw_str s = {0};
    api_fail(&err, 401, NULL, "nope \"quoted\"");
    err.code = "invalid_api_key";
    api_error_json(&s, &err);
    CHECK(strcmp(s.data, "{\"error\":{\"message\":\"nope \\\"quoted\\\"\",\"type\":\"authentication_error\","
                         "\"param\":null,\"code\":\"invalid_api_key\"}}") == 0);
    qw_str_free(&s);
}

/* ---- text_stream ---- */

struct sink {
    char out[2][512];
    size_t n[2];
    int calls, bad_utf8;
};

static void sink_emit(enum text_kind kind, const char *text, size_t len, void *user)
{
    struct sink *k = user;
    CHECK(len > 0);
    if (k->n[kind] + len < sizeof k->out[kind]) {
        memcpy(k->out[kind] + k->n[kind], text, len);
        k->n[kind] += len;
    }
    k->calls++;
    for (size_t i = 0; i < len;) { /* every piece is whole UTF-8 */
        uint32_t cp;
        size_t l = utf8_decode(text + i, len - i, &cp);
        if (!l) {
            k->bad_utf8++;
            break;
        }
        i += l;
    }
}

/* Feeds text in pieces of `step` bytes; returns whether a stop string ended it. */
static bool run(const char *text, size_t step, char **stop, int n_stop, bool think, bool think_open, struct sink *k)
{
    memset(k, 0, sizeof *k);
    struct text_stream ts;
    text_stream_init(&ts, stop, n_stop, think, think_open, sink_emit, k);
    size_t n = strlen(text);
    bool stopped = false;
    for (size_t off = 0; off < n; off += step)
        if (!text_stream_feed(&ts, text + off, step < n - off ? step : n - off)) {
            stopped = true;
            break;
        }
    text_stream_finish(&ts);
    text_stream_free(&ts);
    return stopped;
}

static void test_stream(void)
{
    struct sink k;
    char *stop[] = {"STOP", "\n\nUser:"};
    for (size_t step = 1; step <= 7; step++) {
        CHECK(run("<think>\nhmm <b>\n</think>\n\nHello STOP never", step, stop, 2, true, false, &k));
        CHECKF(strcmp(k.out[TEXT_REASONING], "hmm <b>\n") == 0, "step %zu: reasoning '%s'", step, k.out[1]);
        CHECKF(strcmp(k.out[TEXT_CONTENT], "Hello ") == 0, "step %zu: content '%s'", step, k.out[0]);
        /* a prefix of a stop string that does not complete is ordinary text */
        CHECK(!run("a STO b\n\nUse", step, stop, 2, true, false, &k));
        CHECKF(strcmp(k.out[TEXT_CONTENT], "a STO b\n\nUse") == 0, "step %zu: '%s'", step, k.out[0]);
        /* reasoning from the start when the prompt opened the block */
        CHECK(!run("plan</think>answer", step, NULL, 0, true, true, &k));
        CHECK(strcmp(k.out[TEXT_REASONING], "plan") == 0 && strcmp(k.out[TEXT_CONTENT], "answer") == 0);
        /* completions do not split */
        CHECK(!run("<think>x</think>", step, NULL, 0, false, false, &k));
        CHECK(strcmp(k.out[TEXT_CONTENT], "<think>x</think>") == 0);
    }
    /* a UTF-8 sequence split across pieces is never emitted in halves */
    const char *utf = "caf\xc3\xa9 \xf0\x9f\x98\x80!";
    CHECK(!run(utf, 1, NULL, 0, true, false, &k));
    CHECK(strcmp(k.out[TEXT_CONTENT], utf) == 0);
    CHECK(k.bad_utf8 == 0 && k.calls > 3);
    /* an empty stop string matches nothing (and reads nothing past itself: found by fuzz_api) */
    char *empty[] = {""};
    CHECK(!run("abc", 1, empty, 1, true, false, &k));
    CHECK(strcmp(k.out[TEXT_CONTENT], "abc") == 0);
}

/* ---- static files ---- */

static void test_files(void)
{
    const char *root = "build/test_server_web";
    mkdir(root, 0755);
    char p[256];
    snprintf(p, sizeof p, "%s/index.html", root);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fputs("<html>", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/assets", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/assets/app.js", root);
    f = fopen(p, "w");
    REQUIRE(f);
    fputs("x", f);
    fclose(f);

    char out[4096];
    CHECK(files_resolve(root, "/", out, sizeof out) && strstr(out, "/index.html"));
    CHECK(files_resolve(root, "/assets/app.js", out, sizeof out) && strstr(out, "assets/app.js"));
    CHECK(files_resolve(root, "/chat/123", out, sizeof out) && strstr(out, "/index.html")); /* app route */
    CHECK(!files_resolve(root, "/missing.js", out, sizeof out));
    CHECK(!files_resolve(root, "/../CMakeLists.txt", out, sizeof out));
    CHECK(!files_resolve(root, "/assets/../../CMakeLists.txt", out, sizeof out));
    CHECK(!files_resolve(root, "/.hidden", out, sizeof out));
    CHECK(!files_resolve(root, "/a\\..\\b.js", out, sizeof out));
    CHECK(!files_resolve(root, "relative", out, sizeof out));
    CHECK(!files_resolve("", "/", out, sizeof out));
    CHECK(strcmp(files_content_type("a/b.js"), "text/javascript; charset=utf-8") == 0);
    CHECK(strcmp(files_content_type("a/b"), "application/octet-stream") == 0);
}

int main(void)
{
    test_api();
    test_stream();
    test_files();
    return test_report("test_server");
}
