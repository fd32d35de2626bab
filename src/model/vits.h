/* VITS, the network of Piper voices: text encoder with relative-position attention, stochastic duration
 * predictor, reverse normalising flow and HiFi-GAN decoder, on the op interface. Activations are time-major
 * ([T, C] rows); every dimension comes from the weights and the graph of the voice's ONNX file. */
#ifndef QW_VITS_H
#define QW_VITS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "format/onnx.h"
#include "ops/ops.h"

#define VITS_MAX_LAYERS 16   /* text encoder layers, WaveNet layers, DDS layers */
#define VITS_MAX_FLOWS 8     /* coupling layers; spline flows of the duration predictor */
#define VITS_MAX_UPS 6       /* HiFi-GAN upsampling stages */
#define VITS_MAX_KERNELS 4   /* resblocks per stage */
#define VITS_MAX_RB_CONVS 4  /* dilated convs per resblock */
#define VITS_MAX_IDS 4096    /* phoneme ids of one sentence */
#define VITS_MAX_FRAMES 8192 /* frames (256 samples each) of one sentence: about 95 s at 22050 Hz */
#define VITS_SCRATCH_KEEP ((size_t)256 << 20) /* bytes of scratch a voice keeps between sentences */

/* A Conv / ConvTranspose node: weights in the op layout, parameters from the node's attributes. */
struct vits_conv {
    struct qw_tensor w, b; /* w [c_out, kernel c_in / groups] (transposed: [c_out, kernel c_in]); b [1, c_out] */
    struct qw_conv1d_params p;
    int c_in, c_out;
};

struct vits_dds { /* dilated depthwise-separable conv stack */
    int n_layers;
    struct vits_conv sep[VITS_MAX_LAYERS], pw[VITS_MAX_LAYERS];
    struct qw_tensor n1g[VITS_MAX_LAYERS], n1b[VITS_MAX_LAYERS], n2g[VITS_MAX_LAYERS], n2b[VITS_MAX_LAYERS];
};

struct vits_enc_layer {
    struct vits_conv q, k, v, o, ffn1, ffn2;
    struct qw_tensor ek, ev;            /* [2 window + 1, head_dim] */
    struct qw_tensor ln1g, ln1b, ln2g, ln2b;
};

struct vits_coupling {
    struct vits_conv pre, post, cond, in[VITS_MAX_LAYERS], rs[VITS_MAX_LAYERS];
    int n_layers;
};

struct vits_model {
    int n_vocab, hidden, inter, filter, n_heads, head_dim, window, n_layers, gin, n_speakers;
    int n_cflows, n_couplings, n_ups, n_kernels, rb_type, rb_convs;
    int hop; /* samples per frame: product of the upsample strides */

    struct qw_tensor emb; /* [n_vocab, hidden] */
    struct vits_enc_layer enc[VITS_MAX_LAYERS];
    struct vits_conv enc_proj; /* hidden -> 2 inter: m_p | logs_p */

    struct vits_conv dp_pre, dp_proj, dp_cond;
    struct vits_dds dp_dds;
    struct {
        struct vits_conv pre, proj;
        struct vits_dds dds;
    } cflow[VITS_MAX_FLOWS];            /* dp.flows.3, 5, 7, ... in that order */
    struct qw_tensor dp_neg_m, dp_scale; /* [1, 2]: -m and exp(-logs) of the ElementwiseAffine dp.flows.0 */

    struct vits_coupling coupling[VITS_MAX_FLOWS]; /* flow.flows.0, 2, 4, ... */

    struct vits_conv conv_pre, dec_cond, conv_post, ups[VITS_MAX_UPS];
    struct vits_conv rb1[VITS_MAX_UPS * VITS_MAX_KERNELS][VITS_MAX_RB_CONVS];
    struct vits_conv rb2[VITS_MAX_UPS * VITS_MAX_KERNELS][VITS_MAX_RB_CONVS]; /* resblock "1" only */

    struct qw_tensor emb_g; /* [n_speakers, gin], multi-speaker voices */

    /* the last synthesis (vits_synth): microseconds of the text encoder with the duration predictor, the flow
     * (with the prior sample) and the decoder */
    int64_t t_encode_us, t_flow_us, t_decode_us;
    int dec_chunk; /* output rows of a decoder stage per chunk; 0: chosen by the stage's width (tests set it) */
    struct qw_buf *scratch[2]; /* activations, kept from one sentence to the next (up to VITS_SCRATCH_KEEP) */
    size_t scratch_cap[2];

    struct qw_backend *be;
    struct qw_buf **bufs;
    int n_bufs, cap_bufs;
    size_t weight_bytes;
};

/* Maps an ONNX Piper export onto m (weights uploaded to be). name is used in messages. */
qwglm_status vits_load(struct vits_model *m, const struct onnx_model *onnx, struct qw_backend *be,
                       struct qw_err *e);
void vits_free(struct vits_model *m);

/* Host copies of the intermediate results of one synthesis, channel-major as the reference stores them. */
struct vits_trace {
    int t_ph, t_y;
    float *m_p, *logs_p; /* [inter, t_ph] */
    float *logw;         /* [t_ph] */
    int64_t *w_ceil;     /* [t_ph] */
    float *z_p, *z;      /* [inter, t_y] */
};
void vits_trace_free(struct vits_trace *t);

/* Noise for one synthesis: eps_dp [2, t_ph] and eps_z [inter, t_y] channel-major standard normal draws. When a
 * pointer is NULL the draws come from a generator seeded with seed. */
struct vits_noise {
    const float *eps_dp, *eps_z;
    uint64_t seed;
};

struct vits_synth_params {
    float noise_scale, length_scale, noise_w;
    int speaker;
};

/* Synthesizes one sentence of phoneme ids. On success *audio (caller frees with qw_free) holds *n_samples float
 * samples in [-1, 1]; trace, when non-NULL, receives the intermediates. */
qwglm_status vits_synth(struct vits_model *m, const int32_t *ids, int n_ids, const struct vits_synth_params *p,
                        const struct vits_noise *noise, float **audio, int64_t *n_samples, struct vits_trace *trace,
                        struct qw_err *e);

#endif
