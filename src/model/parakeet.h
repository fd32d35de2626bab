/* NVIDIA Parakeet TDT (FastConformer encoder + token-and-duration transducer) on the op interface, loaded from a
 * transformers-format checkpoint (config.json "ParakeetForTDT", model.safetensors).
 *
 * Encoder: 8x dw-striding Conv2d subsampling, then blocks of
 *   x += 0.5 FF1(LN(x)); x += RelPosMHSA(LN(x)); x += Conv(LN(x)); x += 0.5 FF2(LN(x)); x = LN(x)
 * Decoder: embedding + LSTM prediction network, joint = head(relu(enc_proj(e_t) + dec_proj(g))) giving the token
 * logits (blank last) followed by one logit per duration. */
#ifndef QW_PARAKEET_H
#define QW_PARAKEET_H

#include <stdbool.h>

#include "format/safetensors.h"
#include "ops/ops.h"

#define PK_MAX_LAYERS 128
#define PK_MAX_DURATIONS 16
#define PK_MAX_SUB 4 /* depthwise + pointwise pairs in the subsampling */
#define PK_MAX_LSTM 8

struct parakeet_config {
    int n_mels, d_model, n_layers, n_heads, head_dim, d_ff, conv_kernel;
    int sub_channels, sub_kernel, sub_stride, sub_layers; /* sub_layers = log2(subsampling factor) */
    bool scale_input, attn_bias, conv_bias;
    int vocab;          /* token logits including the blank */
    int blank;
    int n_durations, durations[PK_MAX_DURATIONS];
    int pred_hidden, pred_layers, joint_hidden;
    int max_symbols;    /* per encoder frame (NeMo's rule); 0 = no limit */
    /* front end (preprocessor_config.json / processor_config.json) */
    int sample_rate, n_fft, hop, win;
    float preemphasis;
};

struct pk_layer {
    struct qw_tensor ff1_ln_w, ff1_ln_b, ff1_w1, ff1_b1, ff1_w2, ff1_b2;
    struct qw_tensor att_ln_w, att_ln_b, wq, bq, wk, bk, wv, bv, wo, bo, wpos, bias_u, bias_v;
    struct qw_tensor conv_ln_w, conv_ln_b, pw1_w, pw1_b, dw_w, dw_b, pw2_w, pw2_b; /* dw: batch norm folded in */
    struct qw_tensor ff2_ln_w, ff2_ln_b, ff2_w1, ff2_b1, ff2_w2, ff2_b2;
    struct qw_tensor out_ln_w, out_ln_b;
};

struct parakeet_model {
    struct parakeet_config cfg;
    struct qw_backend *be;
    struct st_set st;
    /* subsampling: conv0 [C, k k] (one input channel), then per pair a depthwise [C, k k] and a pointwise [C, C] */
    struct qw_tensor sub_w0, sub_b0, sub_dw[PK_MAX_SUB], sub_dwb[PK_MAX_SUB], sub_pw[PK_MAX_SUB], sub_pwb[PK_MAX_SUB];
    struct qw_tensor sub_lin_w, sub_lin_b; /* [D, W C]: columns reordered to (width, channel) */
    struct pk_layer *layers;
    struct qw_tensor enc_proj_w, enc_proj_b; /* [J, D] */
    struct qw_tensor embed;                  /* [vocab, H] */
    struct qw_tensor lstm_w[PK_MAX_LSTM];    /* [4H, in + H]: W_ih and W_hh side by side */
    struct qw_tensor lstm_b[PK_MAX_LSTM];    /* [1, 4H]: b_ih + b_hh */
    struct qw_tensor dec_proj_w, dec_proj_b; /* [J, H] */
    struct qw_tensor head_w, head_b;         /* [vocab + n_durations, J] */
    void **host;                             /* converted weights the backend reads in place */
    int n_host, cap_host;
    size_t weight_bytes;
    /* random weights (benchmarks at real sizes without a checkpoint) */
    bool random;
    uint64_t rng;
    struct st_tensor rand_t[8]; /* tensors find() made up and not yet released */
    int n_rand;
};

/* Reads dir/config.json, the preprocessor config and model.safetensors; uploads the weights to be, converting the
 * large matrices to wtype (F32, BF16, Q8 or Q4; matrices whose width is not a multiple of the block stay f32). */
qwglm_status parakeet_load(struct parakeet_model *m, const char *dir, struct qw_backend *be, enum qw_dtype wtype,
                           struct qw_err *e);
/* The same shapes from a config.json (and optional preprocessor_config.json beside it, same stem) with random
 * weights drawn from seed: for benchmarks at real sizes. */
qwglm_status parakeet_load_random(struct parakeet_model *m, const char *config_path, struct qw_backend *be,
                                  enum qw_dtype wtype, uint64_t seed, struct qw_err *e);
/* Safe on a zeroed or half-loaded m. */
void parakeet_free(struct parakeet_model *m);

/* Lengths through the subsampling: floor((t + 2 pad - k) / stride) + 1, sub_layers times. */
int64_t parakeet_sub_len(const struct parakeet_config *c, int64_t t);

/* Observer of intermediate results ("subsampling", "encoder_hidden.L", "encoder_output", "encoder_projected"):
 * t is valid during the call (read it with qw_tensor_read). */
typedef void (*parakeet_tap_fn)(void *user, const char *name, struct qw_tensor t);

/* Per-pass activations: one backend buffer, grown when a longer input comes. */
struct parakeet_state {
    struct qw_scratch sc;
    size_t cap;
    /* decoder state, sized once */
    struct qw_buf *dec_buf;
    struct qw_tensor cat[PK_MAX_LSTM]; /* [1, in + H]: layer input then its recurrent h */
    struct qw_tensor c[PK_MAX_LSTM];   /* [1, H] */
    struct qw_tensor gates, tmp1, tmp2, dec_out, joint, logits, ids;
    float *host_logits;                /* [vocab + n_durations] */
    /* Every layer's projected relative positions for distances -(pos_T - 1) .. pos_T - 1, kept between passes:
     * they depend only on the distance, so a pass of T <= pos_T frames reads rows [pos_T - T, pos_T + T - 1). */
    struct qw_buf *pos_buf;
    int64_t pos_T;
};

qwglm_status parakeet_state_init(struct parakeet_state *s, const struct parakeet_model *m, struct qw_err *e);
void parakeet_state_free(struct parakeet_state *s, const struct parakeet_model *m);

/* Runs the encoder on feats [n_frames, n_mels] (host memory) of which the first n_valid are real, and returns
 * the projected encoder output [T', J] in *enc (valid until the next call on s) and its real rows in *enc_valid. */
qwglm_status parakeet_encode(const struct parakeet_model *m, struct parakeet_state *s, const float *feats,
                             int64_t n_frames, int64_t n_valid, struct qw_tensor *enc, int64_t *enc_valid,
                             parakeet_tap_fn tap, void *tap_user, struct qw_err *e);

/* Decoder: resets the prediction network to its start state (the blank token, zero LSTM state). */
qwglm_status parakeet_decoder_reset(const struct parakeet_model *m, struct parakeet_state *s, struct qw_err *e);
/* Advances the prediction network by one emitted token. */
qwglm_status parakeet_decoder_push(const struct parakeet_model *m, struct parakeet_state *s, int token,
                                   struct qw_err *e);
/* Joint network for encoder row t of enc: returns the vocab + n_durations raw logits (owned by s). */
qwglm_status parakeet_joint(const struct parakeet_model *m, struct parakeet_state *s, struct qw_tensor enc,
                            int64_t t, const float **logits, struct qw_err *e);

/* One greedy TDT result token. */
struct parakeet_token {
    int id, frame, duration;
};

/* Called with each step's raw logits (step 0 first); nonzero stops decoding. */
typedef int (*parakeet_step_fn)(void *user, int step, const float *logits, int n);

/* Greedy token-and-duration decoding over enc rows [0, n_frames) (NeMo's label-looping rule: a blank advances at
 * least one frame; after max_symbols tokens on one frame the frame advances; max_symbols 0 = unlimited, as
 * transformers' generate). Appends to *toks (grown with qw_realloc; *n and *cap track it). */
qwglm_status parakeet_greedy(const struct parakeet_model *m, struct parakeet_state *s, struct qw_tensor enc,
                             int64_t n_frames, int max_symbols, struct parakeet_token **toks, int *n, int *cap,
                             parakeet_step_fn step, void *step_user, struct qw_err *e);

#endif
