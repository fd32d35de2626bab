/* The sampler's rules one at a time on small hand-made logits: greedy, each penalty and its look-back window,
 * top-k, top-p and min-p (which tokens can ever be drawn, and in what proportion), temperature, and seeds. */
#include <string.h>

#include "engine/sampler.h"
#include "test.h"

#define V 5

static struct qw_sampler s;

static int pick(const qwglm_sampling *p, const float *logits, const int32_t *hist, int n_hist)
{
    return qw_sampler_sample(&s, p, logits, hist, n_hist);
}

/* Draws n tokens with seed 1 and counts them. */
static void histogram(const qwglm_sampling *p, const float *logits, int n, int counts[V])
{
    memset(counts, 0, V * sizeof counts[0]);
    qw_sampler_seed(&s, 1);
    for (int i = 0; i < n; i++) counts[pick(p, logits, NULL, 0)]++;
}

static void test_greedy_and_penalties(void)
{
    static const float logits[V] = {2.0f, 1.9f, 0.0f, -1.0f, 1.0f};
    qwglm_sampling p = qwglm_sampling_greedy();
    CHECK(pick(&p, logits, NULL, 0) == 0);

    /* presence: once per seen token, however often */
    static const int32_t seen_once[] = {0}, seen_thrice[] = {0, 0, 0};
    p.presence_penalty = 0.05f;
    CHECK(pick(&p, logits, seen_thrice, 3) == 0); /* 1.95 > 1.9 */
    p.presence_penalty = 0.2f;
    CHECK(pick(&p, logits, seen_once, 1) == 1); /* 1.8 < 1.9 */
    /* frequency: per occurrence */
    p = qwglm_sampling_greedy();
    p.frequency_penalty = 0.05f;
    CHECK(pick(&p, logits, seen_once, 1) == 0);   /* 1.95 */
    CHECK(pick(&p, logits, seen_thrice, 3) == 1); /* 1.85 */
    /* the window: only the last penalty_last_n tokens count */
    static const int32_t old_then_new[] = {0, 0, 0, 4};
    p.penalty_last_n = 1;
    CHECK(pick(&p, logits, old_then_new, 4) == 0);
    p.penalty_last_n = 4;
    CHECK(pick(&p, logits, old_then_new, 4) == 1);
    p.penalty_last_n = 0;
    CHECK(pick(&p, logits, old_then_new, 4) == 0);
    /* repetition as transformers: positive logits divided, negative ones multiplied */
    static const float neg[V] = {-1.0f, -1.1f, -5.0f, -5.0f, -5.0f};
    static const int32_t first[] = {0};
    p = qwglm_sampling_greedy();
    p.repetition_penalty = 1.2f;
    CHECK(pick(&p, neg, first, 1) == 1);     /* -1.2 < -1.1 */
    CHECK(pick(&p, logits, first, 1) == 1);  /* 1.667 < 1.9 */
    /* ids outside the vocabulary in the history are ignored, not an out-of-bounds write */
    static const int32_t junk[] = {-3, V, 1 << 30};
    CHECK(pick(&p, logits, junk, 3) == 0);
    /* the counts are cleared between calls: the same call gives the same answer */
    CHECK(pick(&p, logits, first, 1) == 1 && pick(&p, logits, first, 1) == 1);
}

static void test_filters(void)
{
    /* probabilities proportional to 1, e^-0.5 = 0.607, e^-3 = 0.050, e^-4, e^-6 */
    static const float logits[V] = {0.0f, -0.5f, -3.0f, -4.0f, -6.0f};
    qwglm_sampling p = qwglm_sampling_greedy();
    p.temperature = 1.0f;
    int c[V];
    const int n = 4000;
    histogram(&p, logits, n, c);
    CHECKF(c[0] > 0 && c[1] > 0 && c[2] > 0 && c[3] > 0, "plain sampling reaches the tail: %d %d %d %d %d", c[0],
           c[1], c[2], c[3], c[4]);
    /* share of token 0: 1 / (1 + 0.607 + 0.050 + 0.018 + 0.0025) = 0.596 */
    CHECKF(fabs(c[0] / (double)n - 0.596) < 0.03, "token 0 drawn %d of %d times", c[0], n);

    p.top_k = 2;
    histogram(&p, logits, n, c);
    CHECKF(c[2] + c[3] + c[4] == 0 && c[1] > 0, "top-k 2: %d %d %d", c[0], c[1], c[2]);
    CHECKF(fabs(c[0] / (double)n - 1 / 1.607) < 0.03, "top-k 2: token 0 drawn %d times", c[0]);
    p.top_k = 1;
    histogram(&p, logits, 50, c);
    CHECK(c[0] == 50);

    p.top_k = 0;
    p.min_p = 0.5f; /* keeps tokens with at least half the best one's probability: 0 and 1 */
    histogram(&p, logits, n, c);
    CHECKF(c[2] + c[3] + c[4] == 0 && c[1] > 0, "min-p 0.5: %d %d %d", c[0], c[1], c[2]);
    p.min_p = 0.7f; /* 0.607 < 0.7: only token 0 */
    histogram(&p, logits, 200, c);
    CHECK(c[0] == 200);
    p.min_p = 0.04f; /* 0.050 stays, 0.018 goes */
    histogram(&p, logits, n, c);
    CHECKF(c[2] > 0 && c[3] + c[4] == 0, "min-p 0.04: %d %d %d", c[2], c[3], c[4]);

    p.min_p = 0.0f;
    p.top_p = 0.9f; /* 0.596 + 0.362 = 0.958 >= 0.9: tokens 0 and 1 */
    histogram(&p, logits, n, c);
    CHECKF(c[2] + c[3] + c[4] == 0 && c[1] > 0, "top-p 0.9: %d %d %d", c[0], c[1], c[2]);
    p.top_p = 0.5f; /* token 0 alone reaches 0.5 */
    histogram(&p, logits, 200, c);
    CHECK(c[0] == 200);

    /* a low temperature sharpens: at 0.25, token 1 has e^-2 of token 0's weight */
    p = qwglm_sampling_greedy();
    p.temperature = 0.25f;
    histogram(&p, logits, n, c);
    CHECKF(fabs(c[1] / (double)n - 0.135 / 1.135) < 0.03, "temperature 0.25: token 1 drawn %d times", c[1]);
}

static void test_seeds(void)
{
    static const float logits[V] = {0.1f, 0.0f, -0.2f, 0.3f, -0.1f};
    qwglm_sampling p = qwglm_sampling_greedy();
    p.temperature = 1.0f;
    int a[64], b[64];
    qw_sampler_seed(&s, 42);
    for (int i = 0; i < 64; i++) a[i] = pick(&p, logits, NULL, 0);
    qw_sampler_seed(&s, 42);
    for (int i = 0; i < 64; i++) b[i] = pick(&p, logits, NULL, 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    qw_sampler_seed(&s, 43);
    for (int i = 0; i < 64; i++) b[i] = pick(&p, logits, NULL, 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

int main(void)
{
    REQUIRE(qw_sampler_init(&s, V, NULL) == QWGLM_OK);
    test_greedy_and_penalties();
    test_filters();
    test_seeds();
    qw_sampler_free(&s);
    return test_report("test_sampler");
}
