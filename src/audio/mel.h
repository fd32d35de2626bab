/* The log-mel front end of NeMo / transformers' Parakeet feature extractor:
 *   pre-emphasis y[n] = x[n] - a x[n-1]; STFT with centre padding of n_fft / 2 zeros each side, a symmetric Hann
 *   window of win samples centred in n_fft, hop samples apart; power |X|^2; librosa's Slaney mel filterbank
 *   (0 .. sr / 2); ln(mel + 2^-24); per-mel normalisation over the n = L / hop valid frames (mean, unbiased std,
 *   (v - mean) / (std + 1e-5)); frames past n (the last of the L / hop + 1 computed) are 0.
 * Arithmetic is double inside; the outputs agree with the float32 reference to about 1e-6. */
#ifndef QW_MEL_H
#define QW_MEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct qw_mel {
    int sample_rate, n_fft, hop, win, n_mels, n_bins; /* n_bins = n_fft / 2 + 1 */
    float preemphasis;
    double *window;      /* [n_fft], zero outside the centred win samples */
    float *filters;      /* [n_mels][n_bins] */
    int *f_lo, *f_hi;    /* nonzero bins [f_lo, f_hi) of each filter */
    double *cos_t, *sin_t; /* FFT twiddles [n_fft / 2] */
    int *bitrev;         /* [n_fft] */
};

/* n_fft must be a power of two and win <= n_fft. */
qwglm_status qw_mel_init(struct qw_mel *m, int sample_rate, int n_fft, int hop, int win, int n_mels,
                         float preemphasis, struct qw_err *e);
void qw_mel_free(struct qw_mel *m);

/* Frames the front end makes from n samples: n / hop + 1 (of which n / hop are valid). */
static inline int64_t qw_mel_frames(const struct qw_mel *m, int64_t n) { return n / m->hop + 1; }

/* Features of x[0..n) into out [frames][n_mels] (frame-major, as the encoder reads them). n must give at least
 * two valid frames (n >= 2 hop). */
qwglm_status qw_mel_compute(const struct qw_mel *m, const float *x, size_t n, float *out, struct qw_err *e);

#endif
