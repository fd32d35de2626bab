/* Image resizing that reproduces PyTorch's uint8 antialiased bicubic kernel (what torchvision's
 * functional.resize(uint8, antialias=True) runs on the CPU, and so what the Hugging Face image processors
 * use): separable, horizontal pass first, 8-bit intermediate, int16 weights whose precision is chosen per
 * axis. */
#ifndef QW_RESIZE_H
#define QW_RESIZE_H

#include <stdint.h>

#include "base/err.h"

/* Resizes src (h x w pixels of channels interleaved uint8 values) to dst (oh x ow). Passes that keep an
 * axis's size are skipped, so an image of the target size is copied unchanged. Fails only when out of memory.
 */
qwglm_status qw_resize_bicubic_aa(const uint8_t *src, int w, int h, int channels, uint8_t *dst, int ow,
                                  int oh, struct qw_err *e);

#endif
