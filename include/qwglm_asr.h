/* qwglm speech recognition: NVIDIA Parakeet TDT checkpoints (transformers format), audio decoding, and a voice
 * activity detector. Public C API.
 *
 * Usage:
 *     qwglm_asr_params p = qwglm_asr_default_params();
 *     char err[QWGLM_ERR_SIZE];
 *     qwglm_asr *asr;
 *     if (qwglm_asr_load("parakeet-tdt-0.6b-v3/", &p, &asr, err)) { fprintf(stderr, "%s\n", err); return 1; }
 *     qwglm_asr_result *r;
 *     if (qwglm_asr_transcribe_file(asr, "speech.flac", &r, err) == QWGLM_OK) {
 *         puts(r->text);
 *         qwglm_asr_result_free(r);
 *     }
 *     qwglm_asr_free(asr);
 *
 * Audio of any sample rate and channel count is down-mixed (mean of the channels) and resampled to the model's
 * 16 kHz with a band-limited windowed-sinc filter. Recordings longer than chunk_seconds are transcribed in
 * overlapping windows, so memory stays bounded however long the input is.
 *
 * Threads: a qwglm_asr handle holds the model and its working memory; use it from one thread at a time (load one
 * per thread to transcribe in parallel). Results are independent of the handle. The library never prints.
 */
#ifndef QWGLM_ASR_H
#define QWGLM_ASR_H

#include <stddef.h>
#include <stdint.h>

#include "qwglm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qwglm_asr qwglm_asr;

typedef struct qwglm_asr_params {
    qwglm_dtype dtype;       /* large matrices after loading: AUTO keeps f32 checkpoints f32, bf16 ones bf16 */
    int n_threads;           /* 0 = one per core */
    int max_symbols;         /* tokens per encoder frame before the frame advances; -1 = the checkpoint's
                                (max_symbols_per_step, NeMo's greedy rule), 0 = unlimited (transformers' generate) */
    float chunk_seconds;     /* longer inputs are cut into windows of this length; <= 0 = never */
    float overlap_seconds;   /* overlap between windows (tokens in it are taken from the nearer window) */
    double max_seconds;      /* reject longer inputs; <= 0 = no limit */
    size_t max_file_bytes;   /* reject larger encoded files / uploads; 0 = no limit */
    qwglm_log_fn log;
    void *log_user;
} qwglm_asr_params;

/* AUTO weights, all cores, the checkpoint's symbol limit, 30 s windows with 4 s overlap, no size limits. */
QWGLM_API qwglm_asr_params qwglm_asr_default_params(void);

/* Loads a transformers-format Parakeet TDT directory (config.json, model.safetensors, preprocessor or processor
 * config, tokenizer.json). On failure *out is NULL and err (NULL or QWGLM_ERR_SIZE bytes) says why. */
QWGLM_API qwglm_status qwglm_asr_load(const char *dir, const qwglm_asr_params *p, qwglm_asr **out, char *err);
/* Frees a. NULL is a no-op. */
QWGLM_API void qwglm_asr_free(qwglm_asr *a);
/* The sample rate the model takes (16000 for every Parakeet). */
QWGLM_API int qwglm_asr_sample_rate(const qwglm_asr *a);

typedef struct qwglm_asr_token {
    int32_t id;
    int32_t frame;        /* encoder frame (80 ms each) where it was emitted */
    int32_t duration;     /* frames the TDT duration head assigned */
    double start, end;    /* seconds; a punctuation token takes the end of the token before it */
    const char *text;     /* the piece as text ("▁" shown as a space); owned by the result */
} qwglm_asr_token;

typedef struct qwglm_asr_span {
    double start, end;
    const char *text;     /* owned by the result */
    int first_token, n_tokens;
} qwglm_asr_span;

typedef struct qwglm_asr_result {
    char *text;           /* the transcript, UTF-8 */
    int n_tokens;
    qwglm_asr_token *tokens;
    int n_words;
    qwglm_asr_span *words;    /* a word starts at a token beginning with a space */
    int n_segments;
    qwglm_asr_span *segments; /* split after tokens ending in . ? or ! */
    double duration;      /* seconds of audio */
} qwglm_asr_result;

/* Transcribes n mono or interleaved samples (float, [-1, 1]) at sample_rate Hz with the given channel count. */
QWGLM_API qwglm_status qwglm_asr_transcribe_pcm(qwglm_asr *a, const float *pcm, size_t n_frames, int sample_rate,
                                                int channels, qwglm_asr_result **out, char *err);
/* Transcribes an audio file (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...), decoded as it is read. */
QWGLM_API qwglm_status qwglm_asr_transcribe_file(qwglm_asr *a, const char *path, qwglm_asr_result **out,
                                                 char *err);
/* The same for an encoded file held in memory (an upload); name is used in messages. */
QWGLM_API qwglm_status qwglm_asr_transcribe_memory(qwglm_asr *a, const void *data, size_t n, const char *name,
                                                   qwglm_asr_result **out, char *err);
QWGLM_API void qwglm_asr_result_free(qwglm_asr_result *r);

enum {
    QWGLM_ASR_JSON_TIMESTAMPS = 1, /* token timestamps: "timestamps": [{"token", "start", "end"}] */
    QWGLM_ASR_JSON_WORDS = 2,      /* "words" and "segments" */
};
/* The result as one JSON object: text, duration, tokens, token_frames, token_durations, plus what flags ask for.
 * Caller frees with qwglm_asr_json_free. NULL when out of memory. */
QWGLM_API char *qwglm_asr_result_json(const qwglm_asr_result *r, int flags);
QWGLM_API void qwglm_asr_json_free(char *json);

/* ---- voice activity detection ----
 * An energy detector with an adaptive noise floor, fed blocks of mono samples as they arrive (the browser's
 * hands-free mode feeds microphone blocks through the WebAssembly build). It reports where speech starts and where
 * it ends after min_silence_ms of quiet; start positions include pre_roll_ms of audio before the onset. */
typedef struct qwglm_vad qwglm_vad;

typedef struct qwglm_vad_params {
    int sample_rate;
    float frame_ms;        /* analysis frame: 20 */
    float threshold_db;    /* speech is this far above the noise floor: 12 */
    float min_level_db;    /* and at least this loud (dBFS): -50 */
    float min_speech_ms;   /* speech must last this long to count: 120 */
    float min_silence_ms;  /* silence that ends an utterance: 700 */
    float pre_roll_ms;     /* audio kept before the detected onset: 250 */
} qwglm_vad_params;

typedef enum qwglm_vad_event_type { QWGLM_VAD_SPEECH_START = 1, QWGLM_VAD_SPEECH_END = 2 } qwglm_vad_event_type;

typedef struct qwglm_vad_event {
    qwglm_vad_event_type type;
    int64_t sample;        /* position in the stream (samples since creation or reset) */
} qwglm_vad_event;

QWGLM_API qwglm_vad_params qwglm_vad_default_params(int sample_rate);
/* NULL when out of memory or the parameters are out of range. */
QWGLM_API qwglm_vad *qwglm_vad_create(const qwglm_vad_params *p);
QWGLM_API void qwglm_vad_free(qwglm_vad *v);
QWGLM_API void qwglm_vad_reset(qwglm_vad *v);
/* Feeds n samples; writes up to cap events to ev and returns how many happened (at most one start and one end
 * per frame, so cap >= 2 n / frame + 2 never loses one). */
QWGLM_API int qwglm_vad_feed(qwglm_vad *v, const float *pcm, size_t n, qwglm_vad_event *ev, int cap);
/* Whether the detector is inside an utterance now. */
QWGLM_API int qwglm_vad_in_speech(const qwglm_vad *v);

#ifdef __cplusplus
}
#endif
#endif
