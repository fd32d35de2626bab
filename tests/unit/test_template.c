/* Chat templates against jinja2 as transformers configures it: tests/fixtures/text/template-cases.json (made by
 * gen_template_cases.py) holds the Qwen3, Qwen3-VL, Llama 3, Mistral and Gemma 3 templates and one snippet per
 * construct, each with jinja2's output or the fact that it fails. Also tokenizer-cases.json's chat renders. */
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/json.h"
#include "test.h"
#include "text/jinja.h"
#include "text/template.h"

static char *config;
static size_t config_n;

static void show_diff(const char *got, size_t gn, const char *want, size_t wn)
{
    size_t i = 0;
    while (i < gn && i < wn && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  first difference at byte %zu\n  got:  %.*s\n  want: %.*s\n", i, (int)((gn - from) > 120 ? 120 : gn - from),
            got + from, (int)((wn - from) > 120 ? 120 : wn - from), want + from);
}

static void run_case(const struct json_value *c)
{
    const char *name = json_string(json_get(c, "name"));
    const char *file = json_string(json_get(c, "template"));
    const struct json_value *src = json_get(c, "source");
    char *text = NULL;
    size_t n = 0;
    struct qw_err e = {0};
    if (file) {
        char path[512];
        snprintf(path, sizeof path, "tests/fixtures/text/templates/%s", file);
        REQUIRE(qw_read_file(path, 1 << 20, &text, &n, &e) == QWGLM_OK);
    }
    struct chat_template *t = NULL;
    qwglm_status st = chat_template_load(config, config_n, file ? text : src->u.str, file ? n : src->n, &t, &e);
    const struct json_value *want = json_get(c, "rendered");
    bool want_error = json_get(c, "error") != NULL;
    struct qw_str out = {0};
    if (!st) st = chat_template_render(t, json_get(c, "request"), &out, &e);
    if (want_error) {
        CHECKF(st != QWGLM_OK, "case %s should fail", name);
        if (st) CHECKF(strstr(e.msg, "line ") != NULL, "case %s: error names no line: %s", name, e.msg);
    } else {
        CHECKF(st == QWGLM_OK, "case %s: %s", name, e.msg);
        bool same = st == QWGLM_OK && out.len == want->n && memcmp(out.data ? out.data : "", want->u.str, want->n) == 0;
        CHECKF(same, "case %s renders differently", name);
        if (!same && st == QWGLM_OK) show_diff(out.data ? out.data : "", out.len, want->u.str, want->n);
    }
    qw_str_free(&out);
    chat_template_free(t);
    qw_free(text);
}

static void test_reference_cases(void)
{
    char *text;
    size_t n;
    struct qw_err e = {0};
    REQUIRE(qw_read_file("tests/fixtures/text/template-cases.json", 1 << 24, &text, &n, &e) == QWGLM_OK);
    struct json_doc doc;
    REQUIRE(json_parse(text, n, &doc, &e) == QWGLM_OK);
    const struct json_value *cases = json_get(&doc.root, "cases");
    REQUIRE(cases && cases->n > 50);
    for (uint32_t i = 0; i < cases->n; i++) run_case(&cases->u.items[i]);
    json_doc_free(&doc);
    qw_free(text);
}

/* tokenizer-cases.json's chat renders, through the template found in the model directory */
static void test_fixture_chats(void)
{
    char *text;
    size_t n;
    struct qw_err e = {0};
    REQUIRE(qw_read_file("tests/fixtures/text/tokenizer-cases.json", 1 << 24, &text, &n, &e) == QWGLM_OK);
    struct json_doc doc;
    REQUIRE(json_parse(text, n, &doc, &e) == QWGLM_OK);
    struct chat_template *t;
    REQUIRE(chat_template_load_dir("tests/fixtures/qwen3-micro", &t, &e) == QWGLM_OK && t);
    const struct json_value *chats = json_get(&doc.root, "chat");
    REQUIRE(chats && chats->n >= 6);
    for (uint32_t i = 0; i < chats->n; i++) {
        const struct json_value *c = &chats->u.items[i], *opts = json_get(c, "options");
        /* request = {"messages": ..., **options} */
        struct qw_str req = {0};
        qw_str_puts(&req, "{\"messages\": ");
        const struct json_value *m = json_get(c, "messages");
        qw_str_putc(&req, '[');
        for (uint32_t k = 0; k < m->n; k++) {
            const struct json_value *msg = &m->u.items[k];
            const char *role = json_string(json_get(msg, "role")), *content = json_string(json_get(msg, "content"));
            qw_str_printf(&req, "%s{\"role\": ", k ? ", " : "");
            qw_str_json(&req, role, strlen(role));
            qw_str_puts(&req, ", \"content\": ");
            qw_str_json(&req, content, strlen(content));
            qw_str_putc(&req, '}');
        }
        qw_str_putc(&req, ']');
        for (uint32_t k = 0; opts && k < opts->n; k++)
            qw_str_printf(&req, ", \"%s\": %s", opts->u.members[k].key, opts->u.members[k].value.b ? "true" : "false");
        qw_str_putc(&req, '}');
        struct json_doc rd;
        REQUIRE(json_parse(req.data, req.len, &rd, &e) == QWGLM_OK);
        struct qw_str out = {0};
        const struct json_value *want = json_get(c, "rendered");
        CHECK(chat_template_render(t, &rd.root, &out, &e) == QWGLM_OK);
        CHECKF(out.len == want->n && memcmp(out.data, want->u.str, want->n) == 0, "chat case %u", i);
        qw_str_free(&out);
        qw_str_free(&req);
        json_doc_free(&rd);
    }
    chat_template_free(t);
    json_doc_free(&doc);
    qw_free(text);
}

static void render_dir(const char *dir, const char *request, const char *want)
{
    struct qw_err e = {0};
    struct chat_template *t = NULL;
    struct json_doc req;
    REQUIRE(json_parse(request, strlen(request), &req, &e) == QWGLM_OK);
    CHECKF(chat_template_load_dir(dir, &t, &e) == QWGLM_OK && t, "%s: %s", dir, e.msg);
    struct qw_str out = {0};
    if (t) CHECKF(chat_template_render(t, &req.root, &out, &e) == QWGLM_OK, "%s: %s", dir, e.msg);
    CHECKF(out.len == strlen(want) && !memcmp(out.data ? out.data : "", want, out.len), "%s: got '%.*s'", dir,
           (int)out.len, out.data ? out.data : "");
    qw_str_free(&out);
    chat_template_free(t);
    json_doc_free(&req);
}

/* Where the template comes from, as transformers looks: chat_template.jinja, chat_template.json, then
 * tokenizer_config.json (a string, or named templates: tool_use when tools are given, else default). */
static void test_template_sources(void)
{
    const char *one = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}";
    render_dir("tests/fixtures/text/template-dirs/jinja", one, "JINJA <|im_end|> user:a;");
    render_dir("tests/fixtures/text/template-dirs/json", one, "JSON aFalse");
    render_dir("tests/fixtures/text/template-dirs/named", one, "DEFAULT None");
    render_dir("tests/fixtures/text/template-dirs/named",
               "{\"messages\": [], \"tools\": [{\"type\": \"function\"}, {\"type\": \"function\"}]}", "TOOLS 2");
    struct chat_template *t = (struct chat_template *)1;
    struct qw_err e = {0};
    CHECK(chat_template_load_dir("tests/fixtures/qwen3-small", &t, &e) == QWGLM_OK && t == NULL); /* none there */
}

int main(void)
{
    struct qw_err e = {0};
    REQUIRE(qw_read_file("tests/fixtures/qwen3-micro/tokenizer_config.json", 1 << 20, &config, &config_n, &e) == 0);
    test_reference_cases();
    test_fixture_chats();
    test_template_sources();
    qw_free(config);
    return test_report("test_template");
}
