/* Image decoding against Pillow: every file of tests/fixtures/images decodes to exactly the RGB bytes that
 * PIL's exif_transpose + convert("RGB") gave (make_images.py there). Then damaged and oversized inputs. */
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/image.h"
#include "format/json.h"
#include "test.h"

#define DIR "tests/fixtures/images/"

static void test_against_pillow(void)
{
    char *text, *ref;
    size_t n, n_ref;
    REQUIRE(qw_read_file(DIR "expected.json", 1 << 20, &text, &n, NULL) == QWGLM_OK);
    struct json_doc doc;
    REQUIRE(json_parse(text, n, &doc, NULL) == QWGLM_OK);
    REQUIRE(doc.root.type == JSON_OBJECT && doc.root.n >= 30);
    for (uint32_t i = 0; i < doc.root.n; i++) {
        const struct json_member *m = &doc.root.u.members[i];
        char path[256];
        snprintf(path, sizeof path, DIR "%s", m->key);
        struct qw_err e = {0};
        struct qw_image im;
        qwglm_status rc = qw_image_load(path, NULL, &im, &e);
        CHECKF(rc == QWGLM_OK, "%s: %s", m->key, e.msg);
        if (rc) continue;
        int64_t w = 0, h = 0;
        json_int(&m->value.u.items[0], &w);
        json_int(&m->value.u.items[1], &h);
        CHECKF(im.width == w && im.height == h, "%s: %dx%d, PIL %lldx%lld", m->key, im.width, im.height,
               (long long)w, (long long)h);
        snprintf(path, sizeof path, DIR "%s.rgb", m->key);
        REQUIRE(qw_read_file(path, 1 << 20, &ref, &n_ref, NULL) == QWGLM_OK);
        if (im.width == w && im.height == h && n_ref == (size_t)w * h * 3) {
            size_t bad = 0;
            for (size_t k = 0; k < n_ref; k++) bad += im.rgb[k] != (uint8_t)ref[k];
            CHECKF(bad == 0, "%s: %zu of %zu bytes differ from PIL", m->key, bad, n_ref);
        }
        qw_free(ref);
        qw_image_free(&im);
    }
    json_doc_free(&doc);
    qw_free(text);
}

/* Every prefix of each file is either a clean error or (for a few bytes past the pixel data) an image. */
static void test_truncated(void)
{
    static const char *files[] = {"rgb.png",   "interlaced.png", "q.jpg",          "prog.jpg",  "lossy.webp",
                                  "anim.webp", "plain.gif",      "interlaced.gif", "rgb24.bmp", "pal8.bmp"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[256], *data;
        size_t n;
        snprintf(path, sizeof path, DIR "%s", files[f]);
        REQUIRE(qw_read_file(path, 1 << 20, &data, &n, NULL) == QWGLM_OK);
        int errors = 0;
        for (size_t cut = 0; cut < n; cut += 1 + cut / 16) {
            uint8_t *copy = qw_malloc(cut ? cut : 1); /* exact size, so ASan sees any overread */
            memcpy(copy, data, cut);
            struct qw_err e = {0};
            struct qw_image im;
            if (qw_image_decode(copy, cut, files[f], NULL, &im, &e) != QWGLM_OK) {
                errors++;
                CHECKF(e.msg[0] && strncmp(e.msg, files[f], strlen(files[f])) == 0, "%s: message '%s'",
                       files[f], e.msg);
                CHECK(im.rgb == NULL);
            }
            qw_image_free(&im);
            qw_free(copy);
        }
        CHECKF(errors > 0, "%s: no truncation detected", files[f]);
        /* half the file is always an error */
        struct qw_image im;
        CHECKF(qw_image_decode(data, n / 2, files[f], NULL, &im, NULL) != QWGLM_OK, "%s: half a file decoded",
               files[f]);
        qw_free(data);
    }
}

static void test_limits_and_garbage(void)
{
    struct qw_image im;
    struct qw_err e = {0};
    struct qw_image_limits lim = qw_image_default_limits();
    lim.max_pixels = 100;
    CHECK(qw_image_load(DIR "rgb.png", &lim, &im, &e) == QWGLM_ERR_FORMAT);
    CHECKF(strstr(e.msg, "exceeds the limit") != NULL, "%s", e.msg);
    lim = qw_image_default_limits();
    lim.max_side = 20;
    static const char *big[] = {"q.jpg", "lossy.webp", "plain.gif", "rgb24.bmp", "anim.webp"};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", big[i]);
        CHECKF(qw_image_load(path, &lim, &im, NULL) == QWGLM_ERR_FORMAT, "%s past max_side", big[i]);
    }
    /* a PNG header that claims 100000 x 100000 pixels: refused before any allocation of that size */
    static const uint8_t bomb[] = {0x89, 'P',  'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0,    0,
                                   13,   'I',  'H', 'D', 'R',  0,    1,    0x86, 0xa0, 0,    1,
                                   0x86, 0xa0, 8,   2,   0,    0,    0,    0x8a, 0x2c, 0x5c, 0x2f};
    memset(&e, 0, sizeof e);
    CHECK(qw_image_decode(bomb, sizeof bomb, "bomb.png", NULL, &im, &e) == QWGLM_ERR_FORMAT);
    CHECKF(e.msg[0] != 0, "bomb: no message");
    memset(&e, 0, sizeof e);
    CHECK(qw_image_decode("hello world", 11, "x.txt", NULL, &im, &e) == QWGLM_ERR_FORMAT);
    CHECKF(strstr(e.msg, "not a PNG") != NULL, "%s", e.msg);
    CHECK(qw_image_decode("", 0, "empty", NULL, &im, NULL) == QWGLM_ERR_FORMAT);
    CHECK(qw_image_load(DIR "missing.png", NULL, &im, NULL) == QWGLM_ERR_IO);
}

static void test_orient(void)
{
    /* 3 x 2 image, pixel value = index; orientation 6 (rotate 90 clockwise) gives 2 x 3 */
    uint8_t px[18];
    for (int i = 0; i < 18; i++) px[i] = (uint8_t)(i / 3);
    struct qw_image im;
    REQUIRE(qw_image_from_rgb(px, 3, 2, NULL, &im, NULL) == QWGLM_OK);
    REQUIRE(qw_image_orient(&im, 6, NULL) == QWGLM_OK);
    CHECK(im.width == 2 && im.height == 3);
    /* source rows: 0 1 2 / 3 4 5; rotated clockwise: 3 0 / 4 1 / 5 2 */
    static const uint8_t want[6] = {3, 0, 4, 1, 5, 2};
    for (int i = 0; i < 6; i++) CHECK(im.rgb[3 * i] == want[i]);
    qw_image_free(&im);
    static const uint8_t exif_be[] = {'E', 'x', 'i',  'f',  0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
                                      0,   1,   0x01, 0x12, 0, 3, 0,   0,   0, 1,  0, 6, 0, 0};
    CHECK(qw_exif_orientation(exif_be, sizeof exif_be) == 6);
    CHECK(qw_exif_orientation(exif_be, sizeof exif_be - 3) == 1);
}

static void test_alloc_failures(void)
{
    char *data;
    size_t n;
    static const char *files[] = {"rgb.png", "q.jpg", "lossy.webp", "trns.gif", "rgb24.bmp", "exif6.jpg"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", files[f]);
        REQUIRE(qw_read_file(path, 1 << 20, &data, &n, NULL) == QWGLM_OK);
        for (long k = 0; k < 8; k++) {
            struct qw_image im;
            qw_mem_fail_after(k);
            qwglm_status rc = qw_image_decode(data, n, files[f], NULL, &im, NULL);
            qw_mem_fail_after(-1);
            CHECK(rc == QWGLM_OK || rc == QWGLM_ERR_NOMEM);
            qw_image_free(&im);
        }
        qw_free(data);
    }
}

int main(void)
{
    test_against_pillow();
    test_truncated();
    test_limits_and_garbage();
    test_orient();
    test_alloc_failures();
    return test_report("test_image");
}
