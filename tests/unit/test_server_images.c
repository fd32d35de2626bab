/* image_url content parts of /v1/chat/completions: data: URLs decoded into images, a placeholder left in the
 * message text at the part's place, and one clear 400 for everything else. */
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/str.h"
#include "server/api.h"
#include "test.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_b64(struct qw_str *s, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v =
            (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        qw_str_append(s, q, 4);
    }
}

/* {"messages":[{"role":"user","content":[text "Look: ", image(url), text " ok"]}]} */
static char *request(const char *url_prefix, const uint8_t *data, size_t n, int n_images)
{
    struct qw_str s = {0};
    qw_str_puts(&s, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Look: \"}");
    for (int i = 0; i < n_images; i++) {
        qw_str_puts(&s, ",{\"type\":\"image_url\",\"image_url\":{\"url\":\"");
        qw_str_puts(&s, url_prefix);
        if (data) put_b64(&s, data, n);
        qw_str_puts(&s, "\"}}");
    }
    qw_str_puts(&s, ",{\"type\":\"text\",\"text\":\" ok\"}]}]}");
    return qw_str_take(&s);
}

static void expect_fail(const char *json, const char *param, const char *what)
{
    struct api_request r;
    struct api_error err;
    bool ok = api_parse(API_CHAT, json, strlen(json), &r, &err);
    CHECKF(!ok && err.status == 400 && strcmp(err.param, param) == 0 && strstr(err.message, what),
           "wanted 400 %s '%s', got ok=%d %d %s '%s'", param, what, ok, err.status, err.param, err.message);
    if (ok) api_request_free(&r);
}

int main(void)
{
    char *png;
    size_t n;
    REQUIRE(qw_read_file("tests/fixtures/images/rgb.png", 1 << 20, &png, &n, NULL) == QWGLM_OK);
    struct api_request r;
    struct api_error err;
    char *json = request("data:image/png;base64,", (const uint8_t *)png, n, 2);
    CHECKF(api_parse(API_CHAT, json, strlen(json), &r, &err), "%s: %s", err.param, err.message);
    CHECK(r.n_images == 2 && r.images[0] && r.images[1]);
    CHECK(strcmp(r.messages[0].content, "Look: " API_IMAGE_PLACEHOLDER API_IMAGE_PLACEHOLDER " ok") == 0);
    int w = 0, h = 0;
    if (r.n_images) qwglm_image_get_size(r.images[0], &w, &h);
    CHECK(w == 23 && h == 17);
    api_request_free(&r);
    qw_free(json);
    /* the URL as a plain string, URL-safe alphabet without padding */
    json = request("data:image/png;base64,", (const uint8_t *)png, n, 1);
    char *url = strstr(json, "\"image_url\":{\"url\":");
    REQUIRE(url);
    memmove(url + 12, url + 19, strlen(url + 19) + 1); /* {"url": "..."} -> "..." */
    char *end = strstr(url + 12, "\"}");
    memmove(end + 1, end + 2, strlen(end + 2) + 1);
    for (char *p = url + 12; *p && *p != '"'; p++) {
        if (*p == '+') *p = '-';
        if (*p == '/') *p = '_';
    }
    CHECKF(api_parse(API_CHAT, json, strlen(json), &r, &err), "%s", err.message);
    CHECK(r.n_images == 1);
    api_request_free(&r);
    qw_free(json);

    const char *p0 = "messages[0].content[1]";
    json = request("https://example.invalid/a.png", NULL, 0, 1);
    expect_fail(json, p0, "only data: URLs");
    qw_free(json);
    json = request("data:image/png,rawbytes", NULL, 0, 1);
    expect_fail(json, p0, "base64");
    qw_free(json);
    json = request("data:image/png;base64,@@@@", NULL, 0, 1);
    expect_fail(json, p0, "not valid base64");
    qw_free(json);
    json = request("data:text/plain;base64,", (const uint8_t *)"hello world", 11, 1);
    expect_fail(json, p0, "not a PNG, JPEG, WebP, GIF or BMP");
    qw_free(json);
    json = request("data:image/png;base64,", (const uint8_t *)png, n / 2, 1);
    expect_fail(json, p0, "PNG");
    qw_free(json);
    json = request("data:image/png;base64,", (const uint8_t *)png, n, API_MAX_IMAGES + 1);
    expect_fail(json, "messages[0].content[33]", "more than 32 images");
    qw_free(json);
    expect_fail("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}",
                "messages[0].content[0]", "input_audio");
    /* allocation failures while decoding images: clean errors, no leaks */
    json = request("data:image/png;base64,", (const uint8_t *)png, n, 2);
    for (long k = 0; k < 40; k++) {
        qw_mem_fail_after(k);
        bool ok = api_parse(API_CHAT, json, strlen(json), &r, &err);
        qw_mem_fail_after(-1);
        if (ok)
            api_request_free(&r);
        else
            CHECK(err.status == 500);
    }
    qw_free(json);
    qw_free(png);
    return test_report("test_server_images");
}
