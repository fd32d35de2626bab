#include <string.h>

#include "base/mem.h"
#include "format/safetensors.h"
#include "test.h"

static unsigned char file_buf[4096];

/* Builds a safetensors image: 8-byte length, header, then data_len bytes of 0..255. */
static size_t make_file(const char *header, size_t data_len)
{
    size_t n = strlen(header);
    for (int i = 0; i < 8; i++) file_buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(file_buf + 8, header, n);
    for (size_t i = 0; i < data_len; i++) file_buf[8 + n + i] = (unsigned char)i;
    return 8 + n + data_len;
}

static qwglm_status open_header(const char *header, size_t data_len, struct qw_err *e)
{
    struct st_file f;
    size_t n = make_file(header, data_len);
    qwglm_status rc = st_open_memory(&f, file_buf, n, "t.safetensors", e);
    if (!rc) st_close(&f);
    return rc;
}

static void test_valid(void)
{
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                    "\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                    "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]},"
                    "\"z\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[28,28]}}";
    size_t n = make_file(h, 28);
    struct st_file f;
    struct qw_err e = {0};
    REQUIRE(st_open_memory(&f, file_buf, n, "t.safetensors", &e) == QWGLM_OK);
    CHECK(f.n_tensors == 4);
    const struct st_tensor *a = st_find(&f, "a"), *b = st_find(&f, "b"), *s = st_find(&f, "s");
    REQUIRE(a && b && s);
    CHECK(a->dtype == ST_F32 && a->n_dims == 2 && a->shape[1] == 2 && a->numel == 4 && a->size == 16);
    CHECK(((const unsigned char *)b->data)[0] == 16);
    CHECK(s->n_dims == 0 && s->numel == 1);
    CHECK(strcmp(st_metadata(&f, "format"), "pt") == 0);
    CHECK(st_find(&f, "nope") == NULL);
    st_close(&f);
}

static void test_invalid(void)
{
    struct {
        const char *header;
        size_t data;
        const char *expect;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "out of range"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, "bytes of data"},
        {"{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "bad dimension"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "out of range"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "bad dimension"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "no dtype"},
        {"[1]", 0, "not a JSON object"},
        {"{\"a\":1", 0, "JSON"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct qw_err e = {0};
        qwglm_status rc = open_header(cases[i].header, cases[i].data, &e);
        CHECKF(rc == QWGLM_ERR_FORMAT && strstr(e.msg, cases[i].expect), "case %zu: %s", i, e.msg);
    }
    /* header length larger than the file, and files too short to hold one */
    struct st_file f;
    struct qw_err e = {0};
    size_t n = make_file("{}", 0);
    file_buf[0] = 200;
    CHECK(st_open_memory(&f, file_buf, n, "t", &e) == QWGLM_ERR_FORMAT && strstr(e.msg, "runs past"));
    struct qw_err e2 = {0};
    CHECK(st_open_memory(&f, file_buf, 5, "t", &e2) == QWGLM_ERR_FORMAT);
    struct qw_err e3 = {0};
    CHECK(st_open(&f, "tests/fixtures/does-not-exist.safetensors", &e3) == QWGLM_ERR_IO);
}

static void test_fixture_set(void)
{
    struct st_set s;
    struct qw_err e = {0};
    REQUIRE(st_set_open(&s, "tests/fixtures/qwen3-small", &e) == QWGLM_OK);
    const struct st_tensor *t = st_set_find(&s, "model.layers.0.self_attn.q_proj.weight");
    REQUIRE(t);
    CHECK(t->dtype == ST_BF16 && t->shape[0] == 512 && t->shape[1] == 256);
    CHECK(st_set_find(&s, "lm_head.weight") != NULL);
    st_set_close(&s);
    struct qw_err e2 = {0};
    CHECK(st_set_open(&s, "tests/fixtures", &e2) == QWGLM_ERR_IO);
}

static void test_alloc_failures(void)
{
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    size_t n = make_file(h, 16);
    int failed = 0;
    for (long k = 0; k < 100; k++) {
        struct st_file f;
        struct qw_err e = {0};
        qw_mem_fail_after(k);
        qwglm_status rc = st_open_memory(&f, file_buf, n, "t", &e);
        qw_mem_fail_after(-1);
        if (rc == QWGLM_OK) {
            st_close(&f);
            break;
        }
        CHECK(rc == QWGLM_ERR_NOMEM);
        failed++;
    }
    CHECK(failed > 0);
}

int main(void)
{
    test_valid();
    test_invalid();
    test_fixture_set();
    test_alloc_failures();
    return test_report("test_safetensors");
}
