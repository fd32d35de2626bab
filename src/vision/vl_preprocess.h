/* The Qwen2-VL / Qwen3-VL image processor (transformers' Qwen2VLImageProcessor, torchvision backend):
 * smart_resize to a multiple of patch * merge pixels within a pixel budget, antialiased bicubic resize,
 * rescale + normalize, and the patch layout of pixel_values. */
#ifndef QW_VL_PREPROCESS_H
#define QW_VL_PREPROCESS_H

#include <stdint.h>

#include "base/err.h"
#include "format/image.h"

#define VL_MAX_RESIZED_PIXELS (64 << 20) /* 65536 tokens */

struct vl_preproc {
    int patch;          /* patch_size: 16 */
    int temporal_patch; /* temporal_patch_size: 2 */
    int merge;          /* merge_size: 2 */
    int64_t min_pixels; /* size.shortest_edge: 65536 (64 tokens) */
    int64_t max_pixels; /* size.longest_edge: 16777216 (16384 tokens) */
    float mean[3], std[3];
    double rescale; /* 1 / 255 */
};

/* Qwen3-VL's preprocessor_config.json values. */
struct vl_preproc vl_preproc_default(void);
/* Reads dir/preprocessor_config.json over the defaults (a missing file keeps them). */
qwglm_status vl_preproc_load(struct vl_preproc *p, const char *dir, struct qw_err *e);
/* Parses the text of a preprocessor_config.json over the defaults. */
qwglm_status vl_preproc_parse(struct vl_preproc *p, const char *text, size_t n, const char *name,
                              struct qw_err *e);
/* Bounds the budget in LLM tokens (one per merged patch); 0 leaves a bound as it is. */
void vl_preproc_set_tokens(struct vl_preproc *p, int64_t min_tokens, int64_t max_tokens);

/* transformers' smart_resize: the size (multiple of patch * merge) an h x w image is resized to. Fails for an
 * aspect ratio above 200 and for results above VL_MAX_RESIZED_PIXELS. */
qwglm_status vl_smart_resize(const struct vl_preproc *p, int h, int w, int *out_h, int *out_w,
                             struct qw_err *e);

/* One image, ready for the vision encoder. */
struct vl_pixels {
    int grid_t, grid_h, grid_w; /* image_grid_thw: patches in time, rows, columns */
    int64_t n_patches;          /* grid_t * grid_h * grid_w rows of pixel_values */
    int patch_dim;              /* 3 * temporal_patch * patch^2 columns: 1536 */
    float *values;              /* [n_patches][patch_dim]; owned, free with vl_pixels_free */
};

/* LLM tokens of the image: n_patches / merge^2. */
static inline int64_t vl_pixels_tokens(const struct vl_pixels *px, int merge)
{
    return px->n_patches / ((int64_t)merge * merge);
}

/* Resizes, normalizes and patchifies im. */
qwglm_status vl_preprocess(const struct vl_preproc *p, const struct qw_image *im, struct vl_pixels *out,
                           struct qw_err *e);
void vl_pixels_free(struct vl_pixels *px);

#endif
