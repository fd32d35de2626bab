/* Image files to 8-bit RGB: PNG, JPEG, WebP, GIF (first frame) and BMP, with EXIF orientation applied.
 *
 * The conversion follows what the Hugging Face processors see after PIL's `ImageOps.exif_transpose(img)` and
 * `img.convert("RGB")`: alpha is dropped without compositing, palettes are looked up (transparency ignored),
 * grayscale is replicated, 16-bit samples keep their high byte except 16-bit grayscale, which PIL clips to
 * 255. Every decoder checks the declared size against the limits before it allocates, so a small file cannot
 * ask for gigabytes (a decompression bomb); truncated or corrupt data is an error, never a crash.
 */
#ifndef QW_IMAGE_H
#define QW_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

enum qw_image_format {
    QW_IMAGE_UNKNOWN,
    QW_IMAGE_PNG,
    QW_IMAGE_JPEG,
    QW_IMAGE_WEBP,
    QW_IMAGE_GIF,
    QW_IMAGE_BMP,
    QW_IMAGE_FORMAT_COUNT
};

struct qw_image {
    int width, height;
    uint8_t *rgb; /* [height][width][3], row-major; owned, free with qw_image_free */
};

struct qw_image_limits {
    int64_t max_pixels; /* width * height of the decoded image (and of a GIF/WebP canvas) */
    int max_side;       /* width and height each */
    size_t max_file_bytes;
};

/* 64 Mi pixels (192 MiB of RGB), 32768 per side, 256 MiB files. */
struct qw_image_limits qw_image_default_limits(void);

/* The format named by the first bytes, or QW_IMAGE_UNKNOWN. */
enum qw_image_format qw_image_sniff(const void *data, size_t n);
const char *qw_image_format_name(enum qw_image_format f);
/* False when this build has no decoder for f (the browser build decodes images in JavaScript). */
int qw_image_format_supported(enum qw_image_format f);

/* Decodes n bytes into out (lim NULL: the defaults). name labels error messages ("photo.jpg: ..."). On
 * failure out is zeroed. */
qwglm_status qw_image_decode(const void *data, size_t n, const char *name, const struct qw_image_limits *lim,
                             struct qw_image *out, struct qw_err *e);
/* Reads and decodes a file. */
qwglm_status qw_image_load(const char *path, const struct qw_image_limits *lim, struct qw_image *out,
                           struct qw_err *e);
/* Wraps caller RGB pixels (copied; NULL: black) as an image, checking the limits. */
qwglm_status qw_image_from_rgb(const uint8_t *rgb, int width, int height, const struct qw_image_limits *lim,
                               struct qw_image *out, struct qw_err *e);
/* Frees the pixels; safe on a zeroed image. */
void qw_image_free(struct qw_image *im);

/* EXIF orientation (1..8) from a TIFF-structured EXIF block (with or without the "Exif\0\0" prefix); 1 when
 * absent or unreadable. */
int qw_exif_orientation(const uint8_t *data, size_t n);
/* Applies an EXIF orientation (as PIL's exif_transpose does); 1 or an invalid value leaves im unchanged. */
qwglm_status qw_image_orient(struct qw_image *im, int orientation, struct qw_err *e);

#endif
