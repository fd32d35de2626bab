/* The speech models that `qwglm serve` runs beside the language model: Parakeet handles for
 * /v1/audio/transcriptions, Piper voices for /v1/audio/speech, and the voice activity detector sessions
 * behind /api/vad. A Parakeet handle or a voice is used by one thread at a time, so the server loads
 * `workers` of each and lends them to requests; requests beyond them wait (up to a bound) for one to come
 * back. */
#ifndef QW_SERVER_AUDIO_H
#define QW_SERVER_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/str.h"
#include "qwglm_asr.h"
#include "qwglm_tts.h"
#include "server/api.h"

#define AUDIO_MAX_VOICES  8
#define AUDIO_MAX_WAITING 64 /* requests that may wait for a free handle; beyond it, 503 */
#define VAD_MAX_SESSIONS  64
#define VAD_MAX_SAMPLES   (1 << 20) /* per /api/vad call */

struct audio_config {
    const char *asr_model;                /* NULL: no speech recognition */
    const char *asr_dtype;                /* its weights: auto, f32, bf16, q8, q4; NULL: auto */
    const char *voices[AUDIO_MAX_VOICES]; /* Piper .onnx files; the first is the default voice */
    int n_voices;
    int workers;           /* handles of each kind (>= 1) */
    int n_threads;         /* engine threads per handle; 0: one per core */
    double max_seconds;    /* longest transcribed audio */
    size_t max_file_bytes; /* largest uploaded audio file */
};

struct audio_engines;
struct srv_progress;

/* Loads what c names, reporting to progress. Without models it still serves the VAD. */
qwglm_status audio_open(const struct audio_config *c, struct srv_progress *progress, qwglm_log_fn log,
                        struct audio_engines **out, struct qw_err *e);
/* Frees everything; NULL is a no-op. No handle may be lent out. */
void audio_free(struct audio_engines *a);

bool audio_has_asr(const struct audio_engines *a);
bool audio_has_tts(const struct audio_engines *a);
/* Appends {"asr_model": name|null, "voices": [{"name", "sample_rate", "speakers": [...]}, ...]}. */
void audio_json(const struct audio_engines *a, struct qw_str *s);

/* Whether the client of a waiting request went away (polled while it waits). */
typedef bool (*audio_gone_fn)(void *user);

/* Borrows a Parakeet handle, waiting while all are lent. NULL with err filled (503) when too many wait or the
 * server stops; NULL with err->status 499 when gone() says the client left. */
qwglm_asr *audio_asr_acquire(struct audio_engines *a, audio_gone_fn gone, void *user, struct api_error *err);
void audio_asr_release(struct audio_engines *a, qwglm_asr *h);

/* The voice a request names: one of the loaded voices by name (the file name without .onnx), a speaker name
 * of a multi-speaker voice (*speaker set), or empty / one of OpenAI's voice names for the default voice. -1
 * with err filled (400, listing the voices) otherwise. */
int audio_voice_find(const struct audio_engines *a, const char *name, int *speaker, struct api_error *err);
/* Borrows worker k's set of voices (like audio_asr_acquire); returns k or -1. */
int audio_tts_acquire(struct audio_engines *a, audio_gone_fn gone, void *user, struct api_error *err);
qwglm_voice *audio_tts_voice(struct audio_engines *a, int worker, int voice);
void audio_tts_release(struct audio_engines *a, int worker);

/* Refuses new waiters and wakes the waiting ones (server shutdown). */
void audio_stop(struct audio_engines *a);

/* Feeds n samples to the VAD session id (created, or re-created with reset, at sample_rate) and appends
 * {"events": [{"type": "speech_start"|"speech_end", "sample": N}], "in_speech": b, "position": N, "new": b}.
 * false with err filled (400) for a bad id or rate, (503) when every session is busy. */
bool audio_vad_feed(struct audio_engines *a, const char *id, int sample_rate, bool reset, const float *pcm,
                    size_t n, struct qw_str *out, struct api_error *err);

#endif
