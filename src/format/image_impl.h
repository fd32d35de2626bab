/* Internal to the image decoders: one function per format, each filling an RGB image and the EXIF orientation
 * it found (1 when none). */
#ifndef QW_IMAGE_IMPL_H
#define QW_IMAGE_IMPL_H

#include "image.h"

struct image_src {
    const uint8_t *data;
    size_t n;
    const char *name; /* for messages */
    const struct qw_image_limits *lim;
};

/* Fails unless 0 < w, h and w x h is within the limits. */
qwglm_status image_check_size(int64_t w, int64_t h, const struct image_src *s, struct qw_err *e);
/* Checks w x h against the limits and allocates im's pixels (zeroed). */
qwglm_status image_alloc(struct qw_image *im, int64_t w, int64_t h, const struct image_src *s,
                         struct qw_err *e);

typedef qwglm_status (*image_decode_fn)(const struct image_src *s, struct qw_image *out, int *orientation,
                                        struct qw_err *e);

qwglm_status image_decode_png(const struct image_src *s, struct qw_image *out, int *orientation,
                              struct qw_err *e);
qwglm_status image_decode_jpeg(const struct image_src *s, struct qw_image *out, int *orientation,
                               struct qw_err *e);
qwglm_status image_decode_webp(const struct image_src *s, struct qw_image *out, int *orientation,
                               struct qw_err *e);
qwglm_status image_decode_gif(const struct image_src *s, struct qw_image *out, int *orientation,
                              struct qw_err *e);
qwglm_status image_decode_bmp(const struct image_src *s, struct qw_image *out, int *orientation,
                              struct qw_err *e);

#endif
