/* Tokenizer against the Hugging Face reference: tests/fixtures/text/tokenizer-cases.json (encode and decode of
 * tricky strings with the real Qwen3 tokenizer, the chat prompts' ids), plus edge cases. */
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/json.h"
#include "test.h"
#include "text/tokenizer.h"

static struct tokenizer *load_qwen3(void)
{
    struct qw_err e = {0};
    struct tokenizer *t = NULL;
    if (tokenizer_load_dir("tests/fixtures/qwen3-micro", &t, &e)) fprintf(stderr, "%s\n", e.msg);
    return t;
}

static bool ids_equal(const struct tok_ids *ids, const struct json_value *want)
{
    if (!want || want->type != JSON_ARRAY || want->n != ids->n) return false;
    for (uint32_t i = 0; i < want->n; i++) {
        int64_t v;
        if (!json_int(&want->u.items[i], &v) || v != ids->v[i]) return false;
    }
    return true;
}

static void print_ids(const struct tok_ids *ids)
{
    for (size_t i = 0; i < ids->n; i++) fprintf(stderr, "%s%d", i ? "," : "", ids->v[i]);
    fputc('\n', stderr);
}

static void test_fixture_cases(const struct tokenizer *t)
{
    char *text;
    size_t n;
    struct qw_err e = {0};
    REQUIRE(qw_read_file("tests/fixtures/text/tokenizer-cases.json", 1 << 24, &text, &n, &e) == QWGLM_OK);
    struct json_doc doc;
    REQUIRE(json_parse(text, n, &doc, &e) == QWGLM_OK);
    const struct json_value *cases = json_get(&doc.root, "encode");
    REQUIRE(cases && cases->n >= 20);
    for (uint32_t i = 0; i < cases->n; i++) {
        const struct json_value *c = &cases->u.items[i], *s = json_get(c, "text");
        struct tok_ids ids = {0};
        CHECK(tokenizer_encode(t, s->u.str, s->n, &ids, &e) == QWGLM_OK);
        CHECKF(ids_equal(&ids, json_get(c, "ids")), "encode case %u", i);
        if (!ids_equal(&ids, json_get(c, "ids"))) print_ids(&ids);
        struct qw_str out = {0};
        const struct json_value *want = json_get(c, "decoded"), *wids = json_get(c, "ids");
        int32_t buf[4096];
        for (uint32_t k = 0; k < wids->n && k < 4096; k++) buf[k] = (int32_t)wids->u.items[k].i;
        CHECK(tokenizer_decode(t, buf, wids->n, false, &out, &e) == QWGLM_OK);
        CHECKF(out.len == want->n && memcmp(out.data ? out.data : "", want->u.str, want->n) == 0, "decode case %u", i);
        /* the streaming detokenizer gives the same text */
        struct detok d;
        struct qw_str streamed = {0};
        detok_init(&d, t, false);
        for (uint32_t k = 0; k < wids->n; k++) CHECK(detok_push(&d, buf[k], &streamed));
        CHECK(detok_flush(&d, &streamed));
        CHECKF(streamed.len == out.len && memcmp(streamed.data ? streamed.data : "", out.data ? out.data : "",
                                                 out.len) == 0, "streamed decode case %u", i);
        qw_str_free(&streamed);
        qw_str_free(&out);
        qw_free(ids.v);
    }
    const struct json_value *chats = json_get(&doc.root, "chat");
    for (uint32_t i = 0; chats && i < chats->n; i++) {
        const struct json_value *c = &chats->u.items[i], *s = json_get(c, "rendered");
        struct tok_ids ids = {0};
        CHECK(tokenizer_encode(t, s->u.str, s->n, &ids, &e) == QWGLM_OK);
        CHECKF(ids_equal(&ids, json_get(c, "ids")), "chat ids case %u", i);
        qw_free(ids.v);
    }
    json_doc_free(&doc);
    qw_free(text);
}

int main(void)
{
    struct tokenizer *t = load_qwen3();
    REQUIRE(t);
    test_fixture_cases(t);
    tokenizer_free(t);
    return test_report("test_tokenizer");
}
