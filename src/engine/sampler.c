#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

qwglm_status qw_sampler_init(struct qw_sampler *s, int n_vocab, struct qw_err *e)
{
    memset(s, 0, sizeof *s);
    s->n_vocab = n_vocab;
    s->logits = qw_malloc((size_t)n_vocab * sizeof *s->logits);
    s->cand = qw_malloc((size_t)n_vocab * sizeof *s->cand);
    s->counts = qw_calloc((size_t)n_vocab, sizeof *s->counts);
    if (!s->logits || !s->cand || !s->counts) {
        qw_sampler_free(s);
        return qw_fail(e, QWGLM_ERR_NOMEM, "sampler for %d tokens", n_vocab);
    }
    qw_sampler_seed(s, 0);
    return QWGLM_OK;
}

void qw_sampler_free(struct qw_sampler *s)
{
    qw_free(s->logits);
    qw_free(s->cand);
    qw_free(s->counts);
    memset(s, 0, sizeof *s);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void qw_sampler_seed(struct qw_sampler *s, uint64_t seed)
{
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

double qw_sampler_uniform(struct qw_sampler *s)
{
    uint64_t *r = s->rng;
    uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return (double)(out >> 11) * (1.0 / 9007199254740992.0);
}

/* repetition (transformers' rule), presence and frequency (OpenAI's rule) penalties, in place */
static void apply_penalties(struct qw_sampler *s, const qwglm_sampling *p, const int32_t *history, int n_history)
{
    bool rep = p->repetition_penalty != 1.0f && p->repetition_penalty > 0;
    if (!rep && p->presence_penalty == 0 && p->frequency_penalty == 0) return;
    int first = p->penalty_last_n < 0 || p->penalty_last_n >= n_history ? 0 : n_history - p->penalty_last_n;
    if (p->penalty_last_n == 0) return;
    for (int i = first; i < n_history; i++)
        if (history[i] >= 0 && history[i] < s->n_vocab) s->counts[history[i]]++;
    for (int i = first; i < n_history; i++) {
        int32_t t = history[i];
        if (t < 0 || t >= s->n_vocab || s->counts[t] == 0) continue; /* 0: already applied */
        float *l = &s->logits[t];
        if (rep) *l = *l < 0 ? *l * p->repetition_penalty : *l / p->repetition_penalty;
        *l -= p->presence_penalty + p->frequency_penalty * (float)s->counts[t];
        s->counts[t] = 0;
    }
}

static int cmp_cand(const void *a, const void *b)
{
    const struct qw_cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t qw_sampler_sample(struct qw_sampler *s, const qwglm_sampling *p, const float *logits,
                          const int32_t *history, int n_history)
{
    const int V = s->n_vocab;
    memcpy(s->logits, logits, (size_t)V * sizeof *logits);
    apply_penalties(s, p, history, n_history);
    float *l = s->logits;
    int best = 0;
    for (int i = 1; i < V; i++)
        if (l[i] > l[best]) best = i;
    if (p->temperature <= 0.0f || !isfinite(l[best])) return best;

    /* softmax at the temperature; tokens below 1e-12 of the best cannot survive any filter that matters */
    const float inv_t = 1.0f / p->temperature, max = l[best];
    struct qw_cand *pairs = s->cand;
    int n = 0;
    for (int i = 0; i < V; i++) {
        float z = (l[i] - max) * inv_t;
        if (z < -27.6f) continue; /* e^-27.6 ~ 1e-12 */
        pairs[n++] = (struct qw_cand){expf(z), i};
    }
    qsort(pairs, (size_t)n, sizeof *pairs, cmp_cand);
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += pairs[i].p;
    if (p->top_p > 0.0f && p->top_p < 1.0f) {
        /* keep the smallest prefix whose mass reaches top_p (at least one token) */
        double acc = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            acc += pairs[i].p / sum;
            if (acc >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0.0f) {
        float floor = pairs[0].p * p->min_p;
        int keep = 1;
        while (keep < n && pairs[keep].p >= floor) keep++;
        n = keep;
    }
    sum = 0;
    for (int i = 0; i < n; i++) sum += pairs[i].p;
    double r = qw_sampler_uniform(s) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += pairs[i].p;
        if (r < acc) return pairs[i].id;
    }
    return pairs[n - 1].id;
}
