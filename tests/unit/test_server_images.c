/* image_url content parts of /v1/chat/completions: data: URLs decoded into images, a placeholder left in the
 * message text at the part's place, and one clear 400 for everything else; images named by file:// URL or path
 * read only inside the allowed folder (no traversal, no symbolic link out of it), and http(s) URLs only when
 * enabled (fetching itself: web/tests/vision.test.mjs). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Parses a request with one image named by url and fetches it from src: true when it decoded. */
static bool named(const char *url, const struct api_image_source *src, struct api_error *err)
{
    struct api_request r;
    char *json = request(url, NULL, 0, 1);
    bool ok = api_parse(API_CHAT, json, strlen(json), &r, err);
    qw_free(json);
    REQUIRE(ok && r.n_images == 1 && r.image_urls[0] && !r.images[0]);
    ok = api_fetch_images(&r, src, err);
    if (ok) CHECK(r.images[0] != NULL);
    api_request_free(&r);
    return ok;
}

static void expect_named_fail(const char *url, const struct api_image_source *src, const char *what)
{
    struct api_error err;
    bool ok = named(url, src, &err);
    CHECKF(!ok && err.status == 400 && strcmp(err.param, "messages[0].content[1]") == 0 && strstr(err.message, what),
           "%s: wanted 400 '%s', got ok=%d %d '%s'", url, what, ok, err.status, err.message);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f && fwrite(data, 1, n, f) == n && fclose(f) == 0);
}

/* Images named by URL or path. */
static void test_named(const char *png, size_t n)
{
    char root[] = "/tmp/qwglm-images-XXXXXX", dir[64], real[PATH_MAX], path[256], url[256];
    REQUIRE(mkdtemp(root));
    snprintf(dir, sizeof dir, "%s/allowed", root);
    REQUIRE(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/sub dir", dir);
    REQUIRE(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/sub dir/a.png", dir);
    write_file(path, png, n);
    snprintf(path, sizeof path, "%s/secret.png", root); /* beside the folder, not in it */
    write_file(path, png, n);
    snprintf(path, sizeof path, "%s/link.png", dir); /* a link out of the folder */
    REQUIRE(symlink("../secret.png", path) == 0);
    snprintf(path, sizeof path, "%s/inner.png", dir); /* a link that stays inside */
    REQUIRE(symlink("sub dir/a.png", path) == 0);
    snprintf(path, sizeof path, "%s/text.png", dir);
    write_file(path, "not an image", 12);
    REQUIRE(realpath(dir, real));
    struct api_image_source src = {.files_dir = real, .max_bytes = 1 << 20};
    struct api_error err;

    snprintf(url, sizeof url, "%s/sub dir/a.png", dir);
    CHECKF(named(url, &src, &err), "%s: %s", url, err.message);
    snprintf(url, sizeof url, "file://%s/sub%%20dir/a.png", dir);
    CHECKF(named(url, &src, &err), "%s: %s", url, err.message);
    snprintf(url, sizeof url, "file://localhost%s/sub%%20dir/a.png?x=1#y", dir);
    CHECKF(named(url, &src, &err), "%s: %s", url, err.message);
    snprintf(url, sizeof url, "%s/inner.png", dir);
    CHECKF(named(url, &src, &err), "%s: %s", url, err.message);
    const char *outside = "is not a file in the server's image folder";
    snprintf(url, sizeof url, "%s/../secret.png", dir); /* traversal */
    expect_named_fail(url, &src, outside);
    snprintf(url, sizeof url, "file://%s/sub%%20dir/..%%2F..%%2Fsecret.png", dir);
    expect_named_fail(url, &src, outside);
    snprintf(url, sizeof url, "%s/link.png", dir); /* a symbolic link out */
    expect_named_fail(url, &src, outside);
    snprintf(url, sizeof url, "%s/secret.png", root);
    expect_named_fail(url, &src, outside);
    snprintf(url, sizeof url, "%s/missing.png", dir);
    expect_named_fail(url, &src, outside);
    snprintf(url, sizeof url, "%s/sub dir", dir); /* a folder */
    expect_named_fail(url, &src, outside);
    expect_named_fail("/etc/passwd", &src, outside);
    snprintf(url, sizeof url, "%s", dir); /* the folder itself */
    expect_named_fail(url, &src, outside);
    snprintf(url, sizeof url, "%sx/a.png", dir); /* a sibling whose name starts with the folder's */
    expect_named_fail(url, &src, outside);
    snprintf(url, sizeof url, "file://%s/a%%00.png", dir);
    expect_named_fail(url, &src, "is not a local path");
    expect_named_fail("file://otherhost/a.png", &src, "is not a local path");
    snprintf(url, sizeof url, "%s/text.png", dir);
    expect_named_fail(url, &src, "not a PNG, JPEG, WebP, GIF or BMP");
    src.max_bytes = n - 1;
    snprintf(url, sizeof url, "%s/sub dir/a.png", dir);
    expect_named_fail(url, &src, "is larger than");
    src.max_bytes = 1 << 20;
    /* out of memory while reading and decoding: a clean 500 */
    for (long k = 0; k < 12; k++) {
        struct api_request r;
        char *json = request(url, NULL, 0, 1);
        REQUIRE(api_parse(API_CHAT, json, strlen(json), &r, &err));
        qw_mem_fail_after(k);
        bool ok = api_fetch_images(&r, &src, &err);
        qw_mem_fail_after(-1);
        CHECK(ok || err.status == 500);
        api_request_free(&r);
        qw_free(json);
    }
    /* not enabled: files without a folder, URLs without --allow-image-urls */
    struct api_image_source none = {.max_bytes = 1 << 20};
    expect_named_fail(url, &none, "does not read local image files");
    expect_named_fail("https://example.invalid/a.png", &none, "does not fetch image URLs");
    expect_named_fail("http://127.0.0.1:9/a.png", &src, "does not fetch image URLs");

    snprintf(path, sizeof path, "rm -rf '%s'", root);
    CHECK(system(path) == 0);
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
    json = request("ftp://example.invalid/a.png", NULL, 0, 1);
    expect_fail(json, p0, "must be data:, http(s)://, file:// or an absolute path");
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
    test_named(png, n);
    qw_free(png);
    return test_report("test_server_images");
}
