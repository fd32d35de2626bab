/* Audio at the edge of the engine: decoding files (WAV, FLAC, OGG, MP3 through libsndfile), down-mixing,
 * resampling to the model's rate, and the sources the speech recogniser pulls 16 kHz mono samples from.
 *
 * Everything hands float samples in [-1, 1] inward; integer PCM is scaled by 1 / 2^(bits - 1) as libsndfile and
 * torchaudio do (16-bit: x / 32768). */
#ifndef QW_AUDIO_H
#define QW_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define QW_AUDIO_MIN_RATE 1000
#define QW_AUDIO_MAX_RATE 768000
#define QW_AUDIO_MAX_CHANNELS 64

/* ---- resampling ---- */

/* A streaming band-limited resampler that computes exactly what torchaudio.functional.resample computes with its
 * defaults (windowed sinc, Hann window, lowpass_filter_width 6, rolloff 0.99): with g = gcd(in, out),
 * orig = in / g, new = out / g, base = min(orig, new) * 0.99, output n is
 *     y[n] = sum_m x[m] * base / orig * sinc(pi t) * cos^2(pi t / 12),  t = base * (m / orig - n / new), |t| <= 6
 * and a signal of L samples gives ceil(L * new / orig) outputs. Taps are tabled per output phase when the table is
 * small (every common rate pair) and computed on the fly otherwise. Memory is bounded by the filter length. */
struct qw_resampler {
    int64_t orig, new_;   /* rates divided by their gcd */
    int64_t width;        /* ceil(6 orig / base): taps reach width input samples either side */
    int64_t n_taps;       /* 2 width + orig: inputs one output phase block reads */
    double base;
    float *table;         /* [new_][n_taps] or NULL (computed on the fly) */
    float *hist;          /* input samples [hist_pos, hist_pos + hist_len) */
    size_t hist_len, hist_cap;
    int64_t hist_pos;     /* absolute index of hist[0] */
    int64_t n_in;         /* inputs pushed so far */
    int64_t n_out;        /* outputs produced so far */
    bool finished;
    bool passthrough;     /* in == out */
};

qwglm_status qw_resampler_init(struct qw_resampler *r, int rate_in, int rate_out, struct qw_err *e);
void qw_resampler_free(struct qw_resampler *r);
/* Appends n input samples. */
qwglm_status qw_resampler_push(struct qw_resampler *r, const float *x, size_t n, struct qw_err *e);
/* Marks the end of the input: the remaining outputs see zeros past it. */
void qw_resampler_finish(struct qw_resampler *r);
/* Writes up to cap ready outputs to out; returns how many. */
size_t qw_resampler_pull(struct qw_resampler *r, float *out, size_t cap);
/* Outputs a whole signal of n_in samples gives: ceil(n_in * out / in). */
int64_t qw_resample_len(int64_t n_in, int rate_in, int rate_out);

/* ---- decoded audio ---- */

struct qw_audio_info {
    int sample_rate, channels;
    int64_t frames;      /* per channel; -1 when the container does not say */
    char format[32];     /* "WAV", "FLAC", "OGG", "MP3", ... */
};

/* Limits on what a caller accepts: inputs beyond them fail with a message naming the limit. */
struct qw_audio_limits {
    double max_seconds;  /* <= 0: no limit */
    size_t max_bytes;    /* encoded input size; 0: no limit */
};

/* A decoder reading an encoded file or memory block incrementally, down-mixing to mono (mean of channels) and
 * resampling to rate_out. */
struct qw_audio_reader;

/* Opens path / the n bytes at data (which must stay alive until close). rate_out 0 keeps the file's rate. */
qwglm_status qw_audio_open_file(struct qw_audio_reader **out, const char *path, int rate_out,
                                const struct qw_audio_limits *lim, struct qw_err *e);
qwglm_status qw_audio_open_memory(struct qw_audio_reader **out, const void *data, size_t n, const char *name,
                                  int rate_out, const struct qw_audio_limits *lim, struct qw_err *e);
const struct qw_audio_info *qw_audio_reader_info(const struct qw_audio_reader *r);
/* Reads up to cap mono samples at rate_out into dst; *got = 0 at the end. */
qwglm_status qw_audio_read(struct qw_audio_reader *r, float *dst, size_t cap, size_t *got, struct qw_err *e);
void qw_audio_close(struct qw_audio_reader *r);
/* Whether this build can decode files (it was built with libsndfile). */
bool qw_audio_have_decoder(void);

/* Decodes a whole file or memory block to mono at rate_out: *pcm (free with qw_free), *n samples. */
qwglm_status qw_audio_decode_file(const char *path, int rate_out, const struct qw_audio_limits *lim, float **pcm,
                                  size_t *n, struct qw_audio_info *info, struct qw_err *e);
qwglm_status qw_audio_decode_memory(const void *data, size_t size, const char *name, int rate_out,
                                    const struct qw_audio_limits *lim, float **pcm, size_t *n,
                                    struct qw_audio_info *info, struct qw_err *e);

/* Down-mixes interleaved frames (mean of the channels) into mono, in place allowed when dst == src. */
void qw_audio_downmix(const float *src, size_t frames, int channels, float *dst);

#endif
