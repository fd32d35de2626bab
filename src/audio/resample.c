/* Band-limited resampling, numerically the same as torchaudio.functional.resample's defaults (see audio.h). The
 * maths is done in double; torchaudio builds its kernel in float32, so the two agree to about 1e-7. */
#include <math.h>
#include <string.h>

#include "audio.h"
#include "base/mem.h"

#define LOWPASS_WIDTH 6.0
#define ROLLOFF 0.99
#define MAX_TABLE (1u << 22) /* floats: 16 MB */

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int64_t qw_resample_len(int64_t n_in, int rate_in, int rate_out)
{
    if (rate_in == rate_out) return n_in;
    int64_t g = gcd64(rate_in, rate_out), orig = rate_in / g, nw = rate_out / g;
    /* ceil(n_in * nw / orig) without overflow for any n_in below 2^40 */
    return (n_in / orig) * nw + ((n_in % orig) * nw + orig - 1) / orig;
}

/* The tap for offset k of output phase j, built in float32 step by step as torchaudio builds its kernel (so the
 * two agree to float rounding): t = ((k - width) / orig - j / new) * base, clamped to +-6, window cos^2(t pi / 12),
 * sinc(pi t) * window * base / orig. */
static double tap_at(const struct qw_resampler *r, int64_t k, int64_t j)
{
    float t = (float)(k - r->width) / (float)r->orig + (float)(-j) / (float)r->new_;
    t *= (float)r->base;
    if (t < -6.0f) t = -6.0f;
    if (t > 6.0f) t = 6.0f;
    float w = cosf(t * (float)M_PI / 6.0f / 2.0f);
    w *= w;
    t *= (float)M_PI;
    float s = t == 0.0f ? 1.0f : sinf(t) / t;
    return (double)(s * (w * (float)(r->base / (double)r->orig)));
}

qwglm_status qw_resampler_init(struct qw_resampler *r, int rate_in, int rate_out, struct qw_err *e)
{
    memset(r, 0, sizeof *r);
    if (rate_in < QW_AUDIO_MIN_RATE || rate_in > QW_AUDIO_MAX_RATE || rate_out < QW_AUDIO_MIN_RATE ||
        rate_out > QW_AUDIO_MAX_RATE)
        return qw_fail(e, QWGLM_ERR_ARG, "resampler: rates %d -> %d Hz outside [%d, %d]", rate_in, rate_out,
                       QW_AUDIO_MIN_RATE, QW_AUDIO_MAX_RATE);
    int64_t g = gcd64(rate_in, rate_out);
    r->orig = rate_in / g;
    r->new_ = rate_out / g;
    r->passthrough = rate_in == rate_out;
    r->base = (double)(r->orig < r->new_ ? r->orig : r->new_) * ROLLOFF;
    r->width = (int64_t)ceil(LOWPASS_WIDTH * (double)r->orig / r->base);
    r->n_taps = 2 * r->width + r->orig;
    if (!r->passthrough && (uint64_t)r->new_ * (uint64_t)r->n_taps <= MAX_TABLE) {
        r->table = qw_malloc((size_t)(r->new_ * r->n_taps) * sizeof(float));
        if (!r->table) return qw_fail(e, QWGLM_ERR_NOMEM, "resampler: table of %lld taps",
                                      (long long)(r->new_ * r->n_taps));
        for (int64_t j = 0; j < r->new_; j++)
            for (int64_t k = 0; k < r->n_taps; k++) r->table[j * r->n_taps + k] = (float)tap_at(r, k, j);
    }
    return QWGLM_OK;
}

void qw_resampler_free(struct qw_resampler *r)
{
    qw_free(r->table);
    qw_free(r->hist);
    memset(r, 0, sizeof *r);
}

qwglm_status qw_resampler_push(struct qw_resampler *r, const float *x, size_t n, struct qw_err *e)
{
    if (r->finished) return qw_fail(e, QWGLM_ERR_ARG, "resampler: push after finish");
    if (n == 0) return QWGLM_OK;
    /* drop what no future output reads */
    int64_t keep_from = r->passthrough ? r->n_out : (r->n_out / r->new_) * r->orig - r->width;
    if (keep_from > r->hist_pos) {
        int64_t drop = keep_from - r->hist_pos;
        if ((size_t)drop > r->hist_len) drop = (int64_t)r->hist_len;
        memmove(r->hist, r->hist + drop, (r->hist_len - (size_t)drop) * sizeof(float));
        r->hist_len -= (size_t)drop;
        r->hist_pos += drop;
    }
    size_t need;
    if (!size_add_ok(r->hist_len, n, &need)) return qw_fail(e, QWGLM_ERR_NOMEM, "resampler: input too long");
    if (need > r->hist_cap) {
        size_t cap = r->hist_cap ? r->hist_cap : 4096;
        while (cap < need) cap *= 2;
        float *h = qw_realloc(r->hist, cap * sizeof(float));
        if (!h) return qw_fail(e, QWGLM_ERR_NOMEM, "resampler: buffer of %zu samples", cap);
        r->hist = h;
        r->hist_cap = cap;
    }
    memcpy(r->hist + r->hist_len, x, n * sizeof(float));
    r->hist_len += n;
    r->n_in += (int64_t)n;
    return QWGLM_OK;
}

void qw_resampler_finish(struct qw_resampler *r) { r->finished = true; }

static inline float hist_at(const struct qw_resampler *r, int64_t m)
{
    int64_t i = m - r->hist_pos;
    return (i >= 0 && i < (int64_t)r->hist_len) ? r->hist[i] : 0.0f;
}

static float output(const struct qw_resampler *r, int64_t n)
{
    int64_t i = n / r->new_, j = n % r->new_, m0 = i * r->orig - r->width;
    if (r->table) {
        const float *h = r->table + j * r->n_taps;
        int64_t k0 = 0, k1 = r->n_taps;
        if (m0 < r->hist_pos) k0 = r->hist_pos - m0;
        if (m0 + k1 > r->hist_pos + (int64_t)r->hist_len) k1 = r->hist_pos + (int64_t)r->hist_len - m0;
        double s = 0.0;
        const float *x = r->hist + (m0 + k0 - r->hist_pos);
        for (int64_t k = k0; k < k1; k++) s += (double)h[k] * x[k - k0];
        return (float)s;
    }
    /* on the fly: only the taps inside the window */
    double span = LOWPASS_WIDTH / r->base * (double)r->orig;
    double centre = (double)r->width + (double)j * (double)r->orig / (double)r->new_;
    int64_t k0 = (int64_t)floor(centre - span), k1 = (int64_t)ceil(centre + span) + 1;
    if (k0 < 0) k0 = 0;
    if (k1 > r->n_taps) k1 = r->n_taps;
    double s = 0.0;
    for (int64_t k = k0; k < k1; k++) {
        float x = hist_at(r, m0 + k);
        if (x != 0.0f) s += tap_at(r, k, j) * x;
    }
    return (float)s;
}

size_t qw_resampler_pull(struct qw_resampler *r, float *out, size_t cap)
{
    size_t got = 0;
    if (r->passthrough) {
        while (got < cap && r->n_out < r->n_in) {
            out[got++] = hist_at(r, r->n_out);
            r->n_out++;
        }
        return got;
    }
    int64_t total = r->finished ? qw_resample_len(r->n_in, (int)r->orig, (int)r->new_) : INT64_MAX;
    while (got < cap && r->n_out < total) {
        int64_t last = (r->n_out / r->new_) * r->orig - r->width + r->n_taps - 1;
        if (!r->finished && last >= r->n_in) break; /* needs input not pushed yet */
        out[got++] = output(r, r->n_out);
        r->n_out++;
    }
    return got;
}
