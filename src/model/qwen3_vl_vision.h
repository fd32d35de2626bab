/* The Qwen3-VL vision encoder on the op interface: Conv3d patch embedding (a matmul), learned position
 * embedding interpolated bilinearly from its square grid, 2D rotary embedding, pre-norm ViT blocks with a
 * tanh-GELU MLP, the 2x2 patch merger and the DeepStack mergers (erf GELU) that project to the LLM width. */
#ifndef QW_QWEN3_VL_VISION_H
#define QW_QWEN3_VL_VISION_H

#include "format/json.h"
#include "format/safetensors.h"
#include "ops/ops.h"
#include "vision/vl_preprocess.h"

#define VL_MAX_DEEPSTACK 8

struct vl_vision_config {
    int depth, hidden, n_heads, head_dim, intermediate, out_hidden;
    int patch, temporal_patch, merge, in_channels;
    int pos_side; /* sqrt(num_position_embeddings): 48 */
    int n_deepstack, deepstack_layers[VL_MAX_DEEPSTACK];
    float rope_theta, eps;
};

/* Reads config.json's vision_config object (checked: sizes positive and consistent, known activation). */
qwglm_status vl_vision_config_parse(const struct json_value *vc, struct vl_vision_config *c,
                                    struct qw_err *e);

struct vl_vision;

/* Uploads the model.visual.* tensors of w to be. Linear weights become wdtype (F32, BF16, F16, Q8 or Q4);
 * norms, biases and the position table stay f32. w must outlive the encoder when the backend keeps mapped
 * weights. */
qwglm_status vl_vision_load(const struct vl_vision_config *c, struct qw_backend *be, const struct st_set *w,
                            enum qw_dtype wdtype, struct vl_vision **out, struct qw_err *e);
/* The same shapes with random weights (benchmarks: no checkpoint); seed picks them. */
qwglm_status vl_vision_load_random(const struct vl_vision_config *c, struct qw_backend *be, enum qw_dtype wdtype,
                                   uint64_t seed, struct vl_vision **out, struct qw_err *e);
void vl_vision_free(struct vl_vision *v);
const struct vl_vision_config *vl_vision_get_config(const struct vl_vision *v);
/* The dtype of the blocks' linear weights. */
enum qw_dtype vl_vision_weight_dtype(const struct vl_vision *v);

/* Work memory of encoding passes (backend scratch and host tables), grown to the largest image seen. One per
 * thread that encodes: the encoder itself is immutable once loaded and may be shared. Zero-initialise it. */
struct vl_work {
    struct qw_scratch scratch;
    float *host; /* pos [N][hidden] then cos/sin [N][head_dim] */
    size_t host_len;
    struct vl_times *times; /* optional (benchmarks): each pass syncs between its phases and adds their times */
};

/* Seconds spent per phase, added up over passes: patch embedding with the position table (host tables and
 * uploads included), the blocks, and the merger with the DeepStack mergers. */
struct vl_times {
    double embed_s, blocks_s, mergers_s;
};
void vl_work_free(const struct vl_vision *v, struct vl_work *w);

/* LLM tokens (merged patches) of an image with pixel_values px. */
int64_t vl_vision_tokens(const struct vl_vision *v, const struct vl_pixels *px);

/* Encodes one image's pixel_values. out[0] [tokens, out_hidden] receives the merger's output and out[1 + k]
 * the k-th DeepStack merger's (absent tensors are skipped); all are f32 backend tensors, tokens = n_patches /
 * merge^2. Runs the ops; the results are there after the next sync. */
qwglm_status vl_vision_encode(const struct vl_vision *v, struct vl_work *w, const struct vl_pixels *px,
                              const struct qw_tensor *out, struct qw_err *e);

#endif
