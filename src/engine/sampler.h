/* Token sampling: penalties, top-k, temperature, top-p, min-p, seeded draws. One sampler per session; its buffers
 * are sized once for the vocabulary so sampling never allocates. */
#ifndef QW_SAMPLER_H
#define QW_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "qwglm.h"

struct qw_cand {
    float p; /* unnormalised probability */
    int32_t id;
};

struct qw_sampler {
    int n_vocab;
    uint64_t rng[4];      /* xoshiro256** state */
    float *logits;        /* [V] working copy */
    struct qw_cand *cand; /* [V] candidates */
    int32_t *counts;      /* [V] occurrences in the penalty window */
};

qwglm_status qw_sampler_init(struct qw_sampler *s, int n_vocab, struct qw_err *e);
void qw_sampler_free(struct qw_sampler *s);
void qw_sampler_seed(struct qw_sampler *s, uint64_t seed);

/* Picks the next token from logits (not modified) given the tokens so far (history[0..n_history)). */
int32_t qw_sampler_sample(struct qw_sampler *s, const qwglm_sampling *p, const float *logits,
                          const int32_t *history, int n_history);

/* Uniform double in [0, 1) from the sampler's generator. */
double qw_sampler_uniform(struct qw_sampler *s);

#endif
