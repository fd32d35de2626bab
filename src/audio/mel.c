/* Log-mel features (see mel.h): a radix-2 FFT per frame, a sparse mel filterbank, per-feature normalisation. */
#include "mel.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "base/mem.h"

#define LOG_GUARD 5.9604644775390625e-08 /* 2^-24 */
#define NORM_EPS 1e-5

/* ---- librosa's Slaney mel scale ---- */

static double hz_to_mel(double f)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return f >= min_log_hz ? min_log_mel + log(f / min_log_hz) / logstep : f / f_sp;
}

static double mel_to_hz(double m)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return m >= min_log_mel ? min_log_hz * exp(logstep * (m - min_log_mel)) : f_sp * m;
}

/* librosa.filters.mel(sr, n_fft, n_mels, fmin=0, fmax=sr/2, norm="slaney"), rounded to float32 as it returns. */
static bool build_filters(struct qw_mel *m)
{
    const int nb = m->n_bins, nm = m->n_mels;
    double mel_lo = hz_to_mel(0.0), mel_hi = hz_to_mel(m->sample_rate / 2.0);
    double *pts = qw_malloc((size_t)(nm + 2) * sizeof(double));
    if (!pts) return false;
    for (int i = 0; i < nm + 2; i++) pts[i] = mel_to_hz(mel_lo + (mel_hi - mel_lo) * i / (nm + 1));
    for (int i = 0; i < nm; i++) {
        double enorm = 2.0 / (pts[i + 2] - pts[i]);
        double fd0 = pts[i + 1] - pts[i], fd1 = pts[i + 2] - pts[i + 1];
        m->f_lo[i] = nb;
        m->f_hi[i] = 0;
        for (int k = 0; k < nb; k++) {
            double f = (double)m->sample_rate / 2.0 * k / (nb - 1);
            double lower = (f - pts[i]) / fd0, upper = (pts[i + 2] - f) / fd1;
            double w = lower < upper ? lower : upper;
            if (w < 0) w = 0;
            float v = (float)(w * enorm);
            m->filters[(size_t)i * nb + k] = v;
            if (v != 0.0f) {
                if (k < m->f_lo[i]) m->f_lo[i] = k;
                m->f_hi[i] = k + 1;
            }
        }
        if (m->f_hi[i] == 0) m->f_lo[i] = 0;
    }
    qw_free(pts);
    return true;
}

qwglm_status qw_mel_init(struct qw_mel *m, int sample_rate, int n_fft, int hop, int win, int n_mels,
                         float preemphasis, struct qw_err *e)
{
    memset(m, 0, sizeof *m);
    if (n_fft < 16 || n_fft > 65536 || (n_fft & (n_fft - 1)) || win < 2 || win > n_fft || hop < 1 ||
        n_mels < 1 || n_mels > 1024 || sample_rate < 1000)
        return qw_fail(e, QWGLM_ERR_FORMAT, "mel front end: unsupported n_fft %d, win %d, hop %d, %d mels", n_fft,
                       win, hop, n_mels);
    m->sample_rate = sample_rate;
    m->n_fft = n_fft;
    m->hop = hop;
    m->win = win;
    m->n_mels = n_mels;
    m->n_bins = n_fft / 2 + 1;
    m->preemphasis = preemphasis;
    m->window = qw_calloc((size_t)n_fft, sizeof(double));
    m->filters = qw_calloc((size_t)n_mels * (size_t)m->n_bins, sizeof(float));
    m->f_lo = qw_calloc((size_t)n_mels, sizeof(int));
    m->f_hi = qw_calloc((size_t)n_mels, sizeof(int));
    m->cos_t = qw_malloc((size_t)n_fft / 2 * sizeof(double));
    m->sin_t = qw_malloc((size_t)n_fft / 2 * sizeof(double));
    m->bitrev = qw_malloc((size_t)n_fft * sizeof(int));
    if (!m->window || !m->filters || !m->f_lo || !m->f_hi || !m->cos_t || !m->sin_t || !m->bitrev) {
        qw_mel_free(m);
        return qw_fail(e, QWGLM_ERR_NOMEM, "mel front end tables");
    }
    /* torch.hann_window(win, periodic=False), zero-padded to n_fft on both sides as torch.stft does */
    int off = (n_fft - win) / 2;
    for (int i = 0; i < win; i++) m->window[off + i] = 0.5 - 0.5 * cos(2.0 * M_PI * i / (win - 1));
    for (int i = 0; i < n_fft / 2; i++) {
        m->cos_t[i] = cos(2.0 * M_PI * i / n_fft);
        m->sin_t[i] = -sin(2.0 * M_PI * i / n_fft);
    }
    int bits = 0;
    while ((1 << bits) < n_fft) bits++;
    for (int i = 0; i < n_fft; i++) {
        int r = 0;
        for (int b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
        m->bitrev[i] = r;
    }
    if (!build_filters(m)) {
        qw_mel_free(m);
        return qw_fail(e, QWGLM_ERR_NOMEM, "mel front end tables");
    }
    return QWGLM_OK;
}

void qw_mel_free(struct qw_mel *m)
{
    qw_free(m->window);
    qw_free(m->filters);
    qw_free(m->f_lo);
    qw_free(m->f_hi);
    qw_free(m->cos_t);
    qw_free(m->sin_t);
    qw_free(m->bitrev);
    memset(m, 0, sizeof *m);
}

/* In-place iterative radix-2 FFT of re/im (n_fft points, input already in bit-reversed order). */
static void fft(const struct qw_mel *m, double *re, double *im)
{
    const int n = m->n_fft;
    for (int len = 2; len <= n; len <<= 1) {
        int half = len >> 1, step = n / len;
        for (int s = 0; s < n; s += len)
            for (int k = 0; k < half; k++) {
                double wr = m->cos_t[k * step], wi = m->sin_t[k * step];
                int a = s + k, b = a + half;
                double tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
    }
}

qwglm_status qw_mel_compute(const struct qw_mel *m, const float *x, size_t n, float *out, struct qw_err *e)
{
    const int64_t frames = qw_mel_frames(m, (int64_t)n), valid = (int64_t)n / m->hop;
    if (valid < 2) return qw_fail(e, QWGLM_ERR_ARG, "mel: %zu samples are too few (need %d)", n, 2 * m->hop);
    const int nf = m->n_fft, half = nf / 2, nb = m->n_bins;
    double *buf = qw_malloc((size_t)(2 * nf + nb) * sizeof(double));
    if (!buf) return qw_fail(e, QWGLM_ERR_NOMEM, "mel: frame buffers");
    double *re = buf, *im = buf + nf, *power = buf + 2 * nf;
    const float a = m->preemphasis;
    for (int64_t f = 0; f < frames; f++) {
        int64_t start = f * m->hop - half; /* first sample of the frame in the unpadded signal */
        for (int i = 0; i < nf; i++) {
            int64_t s = start + i;
            double v = 0.0;
            if (s >= 0 && s < (int64_t)n && m->window[i] != 0.0) {
                /* pre-emphasis in float32, as the reference computes it */
                float p = s == 0 ? x[0] : x[s] - a * x[s - 1];
                v = (double)p * m->window[i];
            }
            re[m->bitrev[i]] = v;
            im[m->bitrev[i]] = 0.0;
        }
        fft(m, re, im);
        for (int k = 0; k < nb; k++) power[k] = re[k] * re[k] + im[k] * im[k];
        float *o = out + f * m->n_mels;
        for (int j = 0; j < m->n_mels; j++) {
            const float *w = m->filters + (size_t)j * nb;
            double s = 0.0;
            for (int k = m->f_lo[j]; k < m->f_hi[j]; k++) s += (double)w[k] * power[k];
            o[j] = (float)log(s + LOG_GUARD);
        }
    }
    /* per-feature normalisation over the valid frames */
    for (int j = 0; j < m->n_mels; j++) {
        double mean = 0.0, var = 0.0;
        for (int64_t f = 0; f < valid; f++) mean += out[f * m->n_mels + j];
        mean /= (double)valid;
        for (int64_t f = 0; f < valid; f++) {
            double d = out[f * m->n_mels + j] - mean;
            var += d * d;
        }
        double sd = sqrt(var / (double)(valid - 1));
        for (int64_t f = 0; f < frames; f++)
            out[f * m->n_mels + j] = f < valid ? (float)((out[f * m->n_mels + j] - mean) / (sd + NORM_EPS)) : 0.0f;
    }
    qw_free(buf);
    return QWGLM_OK;
}
