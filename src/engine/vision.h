/* Images in prompts (Qwen3-VL): the vision encoder attached to a model, and the assembly of a prompt with
 * images: pad expansion, 3D M-RoPE positions (transformers' get_rope_index) and the injected features. */
#ifndef QW_ENGINE_VISION_H
#define QW_ENGINE_VISION_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct qwglm_model;
struct qwglm_session;
enum qw_dtype;

/* The patch grid of one image before merging (image_grid_thw). */
struct mm_grid {
    int t, h, w;
};

/* A prompt with its image pads expanded. */
struct mm_plan {
    int n;            /* ids */
    int32_t *ids;     /* [n] */
    int32_t *pos[3];  /* [n] each: (t, h, w) rotary positions */
    int32_t next_pos; /* position of the first token after the prompt: max position + 1 */
    int n_images;
    int *row0;     /* [n_images] first row of each image's tokens */
    int *n_tokens; /* [n_images] tokens of each image: t * (h / merge) * (w / merge) */
};

/* Runs of consecutive pad ids in ids: the number of images the prompt asks for. */
int mm_count_pad_runs(const int32_t *ids, int n, int32_t pad);

/* Expands ids: the i-th run of pads becomes image i's tokens (a run of one pad is expanded, a run of exactly
 * the image's count is kept, anything else is an error). Positions start at pos0: a text token takes the next
 * position on all three axes; an image's token at merged row r, column c takes (p, p + r, p + c) with p the
 * next position, and the text after it continues at p + max(rows, columns). Fails when runs and images
 * differ. */
qwglm_status mm_plan_build(const int32_t *ids, int n, int32_t pad, const struct mm_grid *grids, int n_images,
                           int merge, int32_t pos0, struct mm_plan *p, struct qw_err *e);
void mm_plan_free(struct mm_plan *p);

/* Loads the vision encoder and preprocessor settings of a Qwen3-VL checkpoint into m (a no-op for other
 * architectures and for checkpoints without model.visual weights). */
qwglm_status qw_model_vision_load(struct qwglm_model *m, enum qw_dtype wt, struct qw_err *e);
/* The same with random weights at the vision_config of the config.json at config (benchmarks; a no-op without
 * one), the tower cut to max_blocks blocks when 0 < max_blocks < depth. */
qwglm_status qw_model_vision_random(struct qwglm_model *m, const char *config, enum qw_dtype wt, uint64_t seed,
                                    int max_blocks, struct qw_err *e);
void qw_model_vision_free(struct qwglm_model *m);
void qw_session_vision_free(struct qwglm_session *s);

#endif
