#include <string.h>

#include "base/mem.h"
#include "format/json.h"
#include "test.h"

static bool parses(const char *s)
{
    struct json_doc d;
    struct qw_err e = {0};
    if (json_parse(s, strlen(s), &d, &e)) return false;
    json_doc_free(&d);
    return true;
}

static void test_valid(void)
{
    const char *text = "{\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"], \"b\": {\"c\": "
                       "9007199254740993}, \"a\": 3}";
    struct json_doc d;
    struct qw_err e = {0};
    REQUIRE(json_parse(text, strlen(text), &d, &e) == QWGLM_OK);
    const struct json_value *a = json_get(&d.root, "a");
    int64_t i;
    CHECK(json_int(a, &i) && i == 3); /* last duplicate wins, as in Python */
    const struct json_value *arr = &d.root.u.members[0].value;
    CHECK(arr->type == JSON_ARRAY && arr->n == 6);
    CHECK(json_int(&arr->u.items[0], &i) && i == 1);
    double x;
    CHECK(json_number(&arr->u.items[1], &x) && x == -2500.0);
    CHECK(json_int(&arr->u.items[1], &i) && i == -2500);
    CHECK(arr->u.items[2].type == JSON_BOOL && arr->u.items[2].b);
    CHECK(json_is_null(&arr->u.items[4]));
    CHECK(strcmp(json_string(&arr->u.items[5]), "x\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
    CHECK(json_int(json_get(json_get(&d.root, "b"), "c"), &i) && i == 9007199254740993LL);
    CHECK(json_get(&d.root, "zz") == NULL && json_get(NULL, "a") == NULL);
    json_doc_free(&d);
    CHECK(parses(" [ ] "));
    CHECK(parses("{}"));
    CHECK(parses("\"\\u0000\""));
    CHECK(parses("0"));
    CHECK(parses("-0.0e+1"));
}

static void test_invalid(void)
{
    const char *bad[] = {"", "[", "[1,]", "{\"a\"}", "{\"a\":}", "01", "1.", ".5", "-", "tru", "nul", "\"abc",
                         "\"\\x\"", "\"\\u12\"", "{} x", "[1 2]", "{1:2}", "\"\x01\"", "+1", "1e", "[\"a\",]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECKF(!parses(bad[i]), "accepted '%s'", bad[i]);
    /* errors name the position */
    struct json_doc d;
    struct qw_err e = {0};
    CHECK(json_parse("{\n  \"a\": x}", 11, &d, &e) == QWGLM_ERR_FORMAT);
    CHECKF(strstr(e.msg, "line 2 column 8") != NULL, "%s", e.msg);
    /* depth limit instead of a stack overflow */
    static char deep[100001];
    memset(deep, '[', sizeof deep - 1);
    CHECK(!parses(deep));
}

static void test_alloc_failures(void)
{
    /* every allocation failing in turn gives an error, never a crash or a leak (ASan checks the leaks) */
    const char *text = "{\"k\": [\"a\\n\", {\"x\": [1, 2, 3]}, \"long string without escapes\"], \"m\": null}";
    int failures_seen = 0;
    for (long n = 0; n < 64; n++) {
        qw_mem_fail_after(n);
        struct json_doc d;
        struct qw_err e = {0};
        qwglm_status rc = json_parse(text, strlen(text), &d, &e);
        qw_mem_fail_after(-1);
        if (rc == QWGLM_OK) {
            json_doc_free(&d);
            break;
        }
        CHECK(rc == QWGLM_ERR_NOMEM);
        failures_seen++;
    }
    CHECK(failures_seen > 0);
}

int main(void)
{
    test_valid();
    test_invalid();
    test_alloc_failures();
    return test_report("test_json");
}
