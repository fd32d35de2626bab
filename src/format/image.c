/* Image decoding front: format sniffing, limits, EXIF orientation, and the per-format decoders behind them.
 */
#include <string.h>

#include "../base/file.h"
#include "../base/mem.h"
#include "image_impl.h"

static const struct {
    const char *name;
    image_decode_fn decode; /* NULL: not built in */
} formats[] = {
    [QW_IMAGE_UNKNOWN] = {"unknown", NULL},
#ifdef QWGLM_HAVE_PNG
    [QW_IMAGE_PNG] = {"PNG", image_decode_png},
#else
    [QW_IMAGE_PNG] = {"PNG", NULL},
#endif
#ifdef QWGLM_HAVE_JPEG
    [QW_IMAGE_JPEG] = {"JPEG", image_decode_jpeg},
#else
    [QW_IMAGE_JPEG] = {"JPEG", NULL},
#endif
#ifdef QWGLM_HAVE_WEBP
    [QW_IMAGE_WEBP] = {"WebP", image_decode_webp},
#else
    [QW_IMAGE_WEBP] = {"WebP", NULL},
#endif
#ifdef QWGLM_HAVE_GIF
    [QW_IMAGE_GIF] = {"GIF", image_decode_gif},
#else
    [QW_IMAGE_GIF] = {"GIF", NULL},
#endif
    [QW_IMAGE_BMP] = {"BMP", image_decode_bmp},
};
_Static_assert(sizeof formats / sizeof formats[0] == QW_IMAGE_FORMAT_COUNT, "image format table");

struct qw_image_limits qw_image_default_limits(void)
{
    return (struct qw_image_limits){
        .max_pixels = 64ll << 20, .max_side = 32768, .max_file_bytes = 256u << 20};
}

const char *qw_image_format_name(enum qw_image_format f)
{
    return (unsigned)f < QW_IMAGE_FORMAT_COUNT ? formats[f].name : "unknown";
}

int qw_image_format_supported(enum qw_image_format f)
{
    return (unsigned)f < QW_IMAGE_FORMAT_COUNT && formats[f].decode != NULL;
}

enum qw_image_format qw_image_sniff(const void *data, size_t n)
{
    const uint8_t *p = data;
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return QW_IMAGE_PNG;
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return QW_IMAGE_JPEG;
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return QW_IMAGE_WEBP;
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return QW_IMAGE_GIF;
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return QW_IMAGE_BMP;
    return QW_IMAGE_UNKNOWN;
}

qwglm_status image_check_size(int64_t w, int64_t h, const struct image_src *s, struct qw_err *e)
{
    if (w <= 0 || h <= 0)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: image of %lld x %lld pixels", s->name, (long long)w,
                       (long long)h);
    if (w > s->lim->max_side || h > s->lim->max_side || w * h > s->lim->max_pixels)
        return qw_fail(e, QWGLM_ERR_FORMAT,
                       "%s: image of %lld x %lld pixels exceeds the limit (%d per side, %lld in all)",
                       s->name, (long long)w, (long long)h, s->lim->max_side, (long long)s->lim->max_pixels);
    return QWGLM_OK;
}

qwglm_status image_alloc(struct qw_image *im, int64_t w, int64_t h, const struct image_src *s,
                         struct qw_err *e)
{
    qwglm_status rc = image_check_size(w, h, s, e);
    if (rc) return rc;
    size_t bytes = (size_t)w * (size_t)h * 3;
    im->rgb = qw_calloc(bytes, 1);
    if (!im->rgb) return qw_fail(e, QWGLM_ERR_NOMEM, "%s: no memory for %zu bytes of pixels", s->name, bytes);
    im->width = (int)w;
    im->height = (int)h;
    return QWGLM_OK;
}

void qw_image_free(struct qw_image *im)
{
    if (!im) return;
    qw_free(im->rgb);
    memset(im, 0, sizeof *im);
}

qwglm_status qw_image_decode(const void *data, size_t n, const char *name, const struct qw_image_limits *lim,
                             struct qw_image *out, struct qw_err *e)
{
    memset(out, 0, sizeof *out);
    struct qw_image_limits def = qw_image_default_limits();
    struct image_src s = {data, n, name ? name : "image", lim ? lim : &def};
    if (n == 0) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: empty file", s.name);
    if (n > s.lim->max_file_bytes)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: %zu bytes exceeds the limit of %zu", s.name, n,
                       s.lim->max_file_bytes);
    enum qw_image_format f = qw_image_sniff(data, n);
    if (f == QW_IMAGE_UNKNOWN)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: not a PNG, JPEG, WebP, GIF or BMP image", s.name);
    if (!formats[f].decode)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: this build cannot decode %s images", s.name,
                       formats[f].name);
    int orientation = 1;
    qwglm_status rc = formats[f].decode(&s, out, &orientation, e);
    if (rc == QWGLM_OK) rc = qw_image_orient(out, orientation, e);
    if (rc) qw_image_free(out);
    return rc;
}

qwglm_status qw_image_load(const char *path, const struct qw_image_limits *lim, struct qw_image *out,
                           struct qw_err *e)
{
    memset(out, 0, sizeof *out);
    struct qw_image_limits def = qw_image_default_limits();
    if (!lim) lim = &def;
    char *data;
    size_t n;
    qwglm_status rc = qw_read_file(path, lim->max_file_bytes, &data, &n, e);
    if (rc) return rc;
    rc = qw_image_decode(data, n, path, lim, out, e);
    qw_free(data);
    return rc;
}

qwglm_status qw_image_from_rgb(const uint8_t *rgb, int width, int height, const struct qw_image_limits *lim,
                               struct qw_image *out, struct qw_err *e)
{
    memset(out, 0, sizeof *out);
    struct qw_image_limits def = qw_image_default_limits();
    struct image_src s = {NULL, 0, "image", lim ? lim : &def};
    qwglm_status rc = image_alloc(out, width, height, &s, e);
    if (rc) return rc;
    if (rgb) memcpy(out->rgb, rgb, (size_t)width * (size_t)height * 3);
    return QWGLM_OK;
}

/* ---- EXIF orientation ---- */

static uint32_t rd16(const uint8_t *p, int le)
{
    return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1];
}
static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads tag 0x0112 (Orientation, SHORT) of IFD0; everything is bounds-checked against n. */
int qw_exif_orientation(const uint8_t *d, size_t n)
{
    if (n >= 6 && memcmp(d, "Exif\0\0", 6) == 0) {
        d += 6;
        n -= 6;
    }
    if (n < 8) return 1;
    int le;
    if (d[0] == 'I' && d[1] == 'I')
        le = 1;
    else if (d[0] == 'M' && d[1] == 'M')
        le = 0;
    else
        return 1;
    if (rd16(d + 2, le) != 42) return 1;
    uint32_t ifd = rd32(d + 4, le);
    if (ifd > n - 2) return 1;
    uint32_t count = rd16(d + ifd, le);
    for (uint32_t i = 0; i < count; i++) {
        size_t at = (size_t)ifd + 2 + (size_t)i * 12;
        if (at + 12 > n) return 1;
        if (rd16(d + at, le) != 0x0112) continue;
        if (rd16(d + at + 2, le) != 3 || rd32(d + at + 4, le) != 1) return 1; /* SHORT, one value */
        uint32_t v = rd16(d + at + 8, le);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* Output pixel (x, y) of the oriented image (size ow x oh) reads source pixel (sx, sy) of a w x h image. The
 * cases are PIL's Image.Transpose operations that exif_transpose picks for each orientation value. */
qwglm_status qw_image_orient(struct qw_image *im, int orientation, struct qw_err *e)
{
    if (orientation < 2 || orientation > 8 || !im->rgb) return QWGLM_OK;
    const int w = im->width, h = im->height;
    const int swap = orientation >= 5;
    const int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *dst = qw_malloc((size_t)w * (size_t)h * 3);
    if (!dst) return qw_fail(e, QWGLM_ERR_NOMEM, "image: no memory to apply the EXIF orientation");
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (orientation) {
            case 2:
                sx = w - 1 - x;
                sy = y;
                break; /* mirror left-right */
            case 3:
                sx = w - 1 - x;
                sy = h - 1 - y;
                break; /* rotate 180 */
            case 4:
                sx = x;
                sy = h - 1 - y;
                break; /* mirror top-bottom */
            case 5:
                sx = y;
                sy = x;
                break; /* transpose */
            case 6:
                sx = y;
                sy = h - 1 - x;
                break; /* rotate 90 clockwise */
            case 7:
                sx = w - 1 - y;
                sy = h - 1 - x;
                break; /* transverse */
            default:
                sx = w - 1 - y;
                sy = x;
                break; /* 8: rotate 90 counter-clockwise */
            }
            memcpy(dst + ((size_t)y * ow + x) * 3, im->rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    qw_free(im->rgb);
    im->rgb = dst;
    im->width = ow;
    im->height = oh;
    return QWGLM_OK;
}
