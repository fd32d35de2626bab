/* Encoded audio through libsndfile (WAV, FLAC, OGG/Vorbis/Opus, MP3 and the rest it knows), from a file or from
 * memory (uploads), read in blocks, down-mixed and resampled as it goes so memory stays bounded. Builds without
 * libsndfile (the browser) keep the API and report that decoding is unavailable. */
#include <stdio.h>
#include <string.h>

#include "audio.h"
#include "base/mem.h"

#ifdef QWGLM_HAVE_SNDFILE
#include <sndfile.h>
#endif

#define BLOCK_FRAMES 4096

struct qw_audio_reader {
    struct qw_audio_info info;
    struct qw_audio_limits lim;
    char name[128];
#ifdef QWGLM_HAVE_SNDFILE
    SNDFILE *sf;
    /* memory source for the virtual I/O */
    const unsigned char *mem;
    sf_count_t mem_size, mem_pos;
#endif
    float *block;  /* BLOCK_FRAMES * channels interleaved */
    float *mono;   /* BLOCK_FRAMES */
    struct qw_resampler rs;
    int64_t frames_read;
    bool eof;
};

void qw_audio_downmix(const float *src, size_t frames, int channels, float *dst)
{
    if (channels == 1) {
        if (dst != src) memmove(dst, src, frames * sizeof(float));
        return;
    }
    for (size_t i = 0; i < frames; i++) {
        double s = 0;
        for (int c = 0; c < channels; c++) s += src[i * (size_t)channels + (size_t)c];
        dst[i] = (float)(s / channels);
    }
}

#ifdef QWGLM_HAVE_SNDFILE

bool qw_audio_have_decoder(void) { return true; }

static sf_count_t vio_len(void *u) { return ((struct qw_audio_reader *)u)->mem_size; }
static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
    struct qw_audio_reader *r = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? r->mem_pos : r->mem_size;
    sf_count_t p = base + off;
    if (p < 0 || p > r->mem_size) return -1;
    r->mem_pos = p;
    return p;
}
static sf_count_t vio_read(void *ptr, sf_count_t count, void *u)
{
    struct qw_audio_reader *r = u;
    if (count < 0) return 0;
    sf_count_t left = r->mem_size - r->mem_pos;
    if (count > left) count = left;
    memcpy(ptr, r->mem + r->mem_pos, (size_t)count);
    r->mem_pos += count;
    return count;
}
static sf_count_t vio_write(const void *ptr, sf_count_t count, void *u)
{
    (void)ptr, (void)count, (void)u;
    return 0;
}
static sf_count_t vio_tell(void *u) { return ((struct qw_audio_reader *)u)->mem_pos; }

static const char *major_name(int format)
{
    switch (format & SF_FORMAT_TYPEMASK) {
    case SF_FORMAT_WAV: return "WAV";
    case SF_FORMAT_WAVEX: return "WAV";
    case SF_FORMAT_RF64: return "RF64";
    case SF_FORMAT_AIFF: return "AIFF";
    case SF_FORMAT_AU: return "AU";
    case SF_FORMAT_FLAC: return "FLAC";
    case SF_FORMAT_OGG: return "OGG";
    case SF_FORMAT_MPEG: return "MP3";
    case SF_FORMAT_CAF: return "CAF";
    case SF_FORMAT_W64: return "W64";
    default: return "audio";
    }
}

static qwglm_status reader_start(struct qw_audio_reader *r, SF_INFO *si, int rate_out, struct qw_err *e)
{
    if (si->samplerate < QW_AUDIO_MIN_RATE || si->samplerate > QW_AUDIO_MAX_RATE)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: sample rate %d Hz outside [%d, %d]", r->name, si->samplerate,
                       QW_AUDIO_MIN_RATE, QW_AUDIO_MAX_RATE);
    if (si->channels < 1 || si->channels > QW_AUDIO_MAX_CHANNELS)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: %d channels (at most %d)", r->name, si->channels,
                       QW_AUDIO_MAX_CHANNELS);
    r->info.sample_rate = si->samplerate;
    r->info.channels = si->channels;
    r->info.frames = si->frames >= 0 && si->frames < ((sf_count_t)1 << 50) ? si->frames : -1;
    snprintf(r->info.format, sizeof r->info.format, "%s", major_name(si->format));
    if (r->lim.max_seconds > 0 && r->info.frames > 0 &&
        (double)r->info.frames / si->samplerate > r->lim.max_seconds)
        return qw_fail(e, QWGLM_ERR_ARG, "%s: %.1f s of audio, more than the limit of %.0f s", r->name,
                       (double)r->info.frames / si->samplerate, r->lim.max_seconds);
    /* integer formats read as floats are scaled by 1 / 2^(bits-1) (16-bit: x / 32768) */
    sf_command(r->sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);
    r->block = qw_malloc((size_t)BLOCK_FRAMES * (size_t)si->channels * sizeof(float));
    r->mono = qw_malloc(BLOCK_FRAMES * sizeof(float));
    if (!r->block || !r->mono) return qw_fail(e, QWGLM_ERR_NOMEM, "%s: decode buffers", r->name);
    return qw_resampler_init(&r->rs, si->samplerate, rate_out ? rate_out : si->samplerate, e);
}

static qwglm_status reader_new(struct qw_audio_reader **out, const char *name, const struct qw_audio_limits *lim,
                               struct qw_err *e)
{
    *out = qw_calloc(1, sizeof **out);
    if (!*out) return qw_fail(e, QWGLM_ERR_NOMEM, "audio reader");
    snprintf((*out)->name, sizeof (*out)->name, "%s", name ? name : "audio");
    if (lim) (*out)->lim = *lim;
    return QWGLM_OK;
}

qwglm_status qw_audio_open_file(struct qw_audio_reader **out, const char *path, int rate_out,
                                const struct qw_audio_limits *lim, struct qw_err *e)
{
    struct qw_audio_reader *r;
    qwglm_status rc = reader_new(&r, path, lim, e);
    if (rc) return rc;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        qw_audio_close(r);
        return qw_fail(e, QWGLM_ERR_IO, "%s: cannot open", path);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    if (r->lim.max_bytes && size > 0 && (size_t)size > r->lim.max_bytes) {
        qw_audio_close(r);
        return qw_fail(e, QWGLM_ERR_ARG, "%s: %ld bytes, more than the limit of %zu", path, size, r->lim.max_bytes);
    }
    SF_INFO si;
    memset(&si, 0, sizeof si);
    r->sf = sf_open(path, SFM_READ, &si);
    if (!r->sf) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: not a readable audio file (%s)", path, sf_strerror(NULL));
        qw_audio_close(r);
        return rc;
    }
    rc = reader_start(r, &si, rate_out, e);
    if (rc) {
        qw_audio_close(r);
        return rc;
    }
    *out = r;
    return QWGLM_OK;
}

qwglm_status qw_audio_open_memory(struct qw_audio_reader **out, const void *data, size_t n, const char *name,
                                  int rate_out, const struct qw_audio_limits *lim, struct qw_err *e)
{
    struct qw_audio_reader *r;
    *out = NULL;
    qwglm_status rc = reader_new(&r, name, lim, e);
    if (rc) return rc;
    if (n == 0) {
        qw_audio_close(r);
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: empty file", name ? name : "audio");
    }
    if (r->lim.max_bytes && n > r->lim.max_bytes) {
        rc = qw_fail(e, QWGLM_ERR_ARG, "%s: %zu bytes, more than the limit of %zu", r->name, n, r->lim.max_bytes);
        qw_audio_close(r);
        return rc;
    }
    r->mem = data;
    r->mem_size = (sf_count_t)n;
    SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    SF_INFO si;
    memset(&si, 0, sizeof si);
    r->sf = sf_open_virtual(&vio, SFM_READ, &si, r);
    if (!r->sf) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: not a readable audio file (%s)", r->name, sf_strerror(NULL));
        qw_audio_close(r);
        return rc;
    }
    rc = reader_start(r, &si, rate_out, e);
    if (rc) {
        qw_audio_close(r);
        return rc;
    }
    *out = r;
    return QWGLM_OK;
}

qwglm_status qw_audio_read(struct qw_audio_reader *r, float *dst, size_t cap, size_t *got, struct qw_err *e)
{
    *got = 0;
    while (*got < cap) {
        size_t n = qw_resampler_pull(&r->rs, dst + *got, cap - *got);
        *got += n;
        if (*got == cap) break;
        if (r->eof) break;
        sf_count_t fr = sf_readf_float(r->sf, r->block, BLOCK_FRAMES);
        if (fr < 0) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: decoding failed", r->name);
        if (fr == 0) {
            int err = sf_error(r->sf);
            if (err != SF_ERR_NO_ERROR)
                return qw_fail(e, QWGLM_ERR_FORMAT, "%s: decoding failed (%s)", r->name, sf_strerror(r->sf));
            r->eof = true;
            qw_resampler_finish(&r->rs);
            continue;
        }
        r->frames_read += fr;
        if (r->lim.max_seconds > 0 && (double)r->frames_read / r->info.sample_rate > r->lim.max_seconds)
            return qw_fail(e, QWGLM_ERR_ARG, "%s: more than the limit of %.0f s of audio", r->name,
                           r->lim.max_seconds);
        /* a NaN or infinity from a corrupt float file would poison every feature: treat it as silence */
        size_t vals = (size_t)fr * (size_t)r->info.channels;
        for (size_t i = 0; i < vals; i++)
            if (!(r->block[i] >= -1e6f && r->block[i] <= 1e6f)) r->block[i] = 0.0f;
        qw_audio_downmix(r->block, (size_t)fr, r->info.channels, r->mono);
        qwglm_status rc = qw_resampler_push(&r->rs, r->mono, (size_t)fr, e);
        if (rc) return rc;
    }
    return QWGLM_OK;
}

void qw_audio_close(struct qw_audio_reader *r)
{
    if (!r) return;
    if (r->sf) sf_close(r->sf);
    qw_free(r->block);
    qw_free(r->mono);
    qw_resampler_free(&r->rs);
    qw_free(r);
}

#else /* no libsndfile */

bool qw_audio_have_decoder(void) { return false; }

qwglm_status qw_audio_open_file(struct qw_audio_reader **out, const char *path, int rate_out,
                                const struct qw_audio_limits *lim, struct qw_err *e)
{
    (void)rate_out, (void)lim;
    *out = NULL;
    return qw_fail(e, QWGLM_ERR_ARG, "%s: this build has no audio file decoder (libsndfile); pass raw PCM", path);
}

qwglm_status qw_audio_open_memory(struct qw_audio_reader **out, const void *data, size_t n, const char *name,
                                  int rate_out, const struct qw_audio_limits *lim, struct qw_err *e)
{
    (void)data, (void)n, (void)rate_out, (void)lim;
    *out = NULL;
    return qw_fail(e, QWGLM_ERR_ARG, "%s: this build has no audio file decoder (libsndfile); pass raw PCM",
                   name ? name : "audio");
}

qwglm_status qw_audio_read(struct qw_audio_reader *r, float *dst, size_t cap, size_t *got, struct qw_err *e)
{
    (void)r, (void)dst, (void)cap;
    *got = 0;
    return qw_fail(e, QWGLM_ERR_ARG, "no audio decoder");
}

void qw_audio_close(struct qw_audio_reader *r) { qw_free(r); }

#endif

const struct qw_audio_info *qw_audio_reader_info(const struct qw_audio_reader *r) { return &r->info; }

static qwglm_status decode_all(struct qw_audio_reader *r, float **pcm, size_t *n, struct qw_audio_info *info,
                               struct qw_err *e)
{
    size_t cap = 1 << 16, len = 0;
    float *buf = qw_malloc(cap * sizeof(float));
    if (!buf) return qw_fail(e, QWGLM_ERR_NOMEM, "decoded audio");
    for (;;) {
        if (len == cap) {
            float *g = cap > SIZE_MAX / 8 ? NULL : qw_realloc(buf, cap * 2 * sizeof(float));
            if (!g) {
                qw_free(buf);
                return qw_fail(e, QWGLM_ERR_NOMEM, "decoded audio of %zu samples", cap * 2);
            }
            buf = g;
            cap *= 2;
        }
        size_t got;
        qwglm_status rc = qw_audio_read(r, buf + len, cap - len, &got, e);
        if (rc) {
            qw_free(buf);
            return rc;
        }
        if (got == 0) break;
        len += got;
    }
    if (info) *info = r->info;
    *pcm = buf;
    *n = len;
    return QWGLM_OK;
}

qwglm_status qw_audio_decode_file(const char *path, int rate_out, const struct qw_audio_limits *lim, float **pcm,
                                  size_t *n, struct qw_audio_info *info, struct qw_err *e)
{
    struct qw_audio_reader *r;
    *pcm = NULL;
    *n = 0;
    qwglm_status rc = qw_audio_open_file(&r, path, rate_out, lim, e);
    if (rc) return rc;
    rc = decode_all(r, pcm, n, info, e);
    qw_audio_close(r);
    return rc;
}

qwglm_status qw_audio_decode_memory(const void *data, size_t size, const char *name, int rate_out,
                                    const struct qw_audio_limits *lim, float **pcm, size_t *n,
                                    struct qw_audio_info *info, struct qw_err *e)
{
    struct qw_audio_reader *r;
    *pcm = NULL;
    *n = 0;
    qwglm_status rc = qw_audio_open_memory(&r, data, size, name, rate_out, lim, e);
    if (rc) return rc;
    rc = decode_all(r, pcm, n, info, e);
    qw_audio_close(r);
    return rc;
}
