/* Internals of the speech recognition engine (include/qwglm_asr.h). */
#ifndef QW_ASR_IMPL_H
#define QW_ASR_IMPL_H

#include <stdbool.h>

#include "audio/audio.h"
#include "audio/mel.h"
#include "base/log.h"
#include "base/utf8.h"
#include "model/parakeet.h"
#include "qwglm_asr.h"

struct asr_vocab {
    int n;
    char **text;   /* [n] piece as text ("▁" already a space) */
    bool *special; /* [n] skipped in the transcript */
};

qwglm_status asr_vocab_load(struct asr_vocab *v, const char *dir, int n_vocab, struct qw_err *e);
void asr_vocab_free(struct asr_vocab *v);
/* Text made only of punctuation (after leading spaces), which takes its timestamp from the token before it. */
bool asr_text_is_punct(const char *s);

struct qwglm_asr {
    qwglm_asr_params p;
    struct qw_log log;
    struct qw_backend be;
    struct parakeet_model model;
    struct parakeet_state state;
    struct qw_mel mel;
    struct asr_vocab vocab;
    int max_symbols;
    double frame_seconds; /* one encoder frame: hop * 2^sub_layers / sample_rate */
    int frame_samples;
};

/* Recognises one utterance of n samples at the model rate: appends its tokens (frames counted from frame0) to
 * *toks. Exposed for the golden tests, which also observe the encoder through tap and the joint through step. */
qwglm_status asr_run(struct qwglm_asr *a, const float *pcm, size_t n, int64_t frame0, struct parakeet_token **toks,
                     int *n_toks, int *cap, parakeet_tap_fn tap, void *tap_user, parakeet_step_fn step,
                     void *step_user, struct qw_err *e);
/* Everything after the weights: decoder state, front end, frame geometry. */
qwglm_status asr_finish_init(struct qwglm_asr *a, struct qw_err *e);
/* A recogniser with random weights of the shapes in a config.json (benchmarks; no tokenizer). */
qwglm_status asr_open_random(struct qwglm_asr **out, const char *config_path, const qwglm_asr_params *p,
                             uint64_t seed, struct qw_err *e);
/* Builds a result (text, timestamps, words, segments) from tokens. */
qwglm_status asr_result_build(const struct qwglm_asr *a, const struct parakeet_token *toks, int n, double duration,
                              qwglm_asr_result **out, struct qw_err *e);

#endif
