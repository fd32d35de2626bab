/* qwglm speech synthesis: Piper voices (VITS) as users download them (VOICE.onnx + VOICE.onnx.json).
 *
 * Usage:
 *     qwglm_voice_params vp = qwglm_voice_default_params();
 *     char err[QWGLM_ERR_SIZE];
 *     qwglm_voice *v;
 *     if (qwglm_voice_load("en_US-lessac-medium.onnx", NULL, &vp, &v, err)) { fprintf(stderr, "%s\n", err); ... }
 *     qwglm_speak_params sp = qwglm_voice_default_speak_params(v);
 *     qwglm_voice_speak(v, "Hello. How are you?", &sp, on_audio, user, err);   // on_audio once per sentence
 *     qwglm_voice_free(v);
 *
 * Text is split into sentences (espeak-ng, Piper's rules) and each sentence is synthesized and handed to the
 * callback as soon as it is ready, so playback can start after the first one. Samples are float in [-1, 1] at the
 * voice's sample rate, mono, exactly as the model produces them (Piper's WAV output peak-normalises each
 * sentence: qwglm_audio_to_pcm16 does that).
 *
 * Threads: a voice is used by one thread at a time; load one voice per thread for parallel synthesis.
 */
#ifndef QWGLM_TTS_H
#define QWGLM_TTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qwglm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qwglm_voice qwglm_voice;

typedef struct qwglm_voice_params {
    int n_threads;    /* CPU threads; 0 = one per core */
    qwglm_log_fn log; /* NULL: silent */
    void *log_user;
} qwglm_voice_params;

QWGLM_API qwglm_voice_params qwglm_voice_default_params(void);

/* Loads a Piper voice. config_path NULL means onnx_path + ".json". Fails with QWGLM_ERR_IO (missing file),
 * QWGLM_ERR_FORMAT (corrupt ONNX, a config that does not match the model) or QWGLM_ERR_NOMEM; err (NULL or
 * QWGLM_ERR_SIZE bytes) says why in one line. */
QWGLM_API qwglm_status qwglm_voice_load(const char *onnx_path, const char *config_path, const qwglm_voice_params *p,
                                        qwglm_voice **out, char *err);
/* Frees v. NULL is a no-op. */
QWGLM_API void qwglm_voice_free(qwglm_voice *v);

typedef struct qwglm_voice_info {
    int sample_rate;
    int n_speakers;
    int hidden, n_layers, upsample_channels, hop; /* network size, read from the weights */
    size_t weight_bytes;
    const char *espeak_voice; /* owned by the voice */
    const char *espeak_version; /* espeak-ng built in, or NULL: then only phoneme ids can be spoken */
} qwglm_voice_info;

QWGLM_API void qwglm_voice_get_info(const qwglm_voice *v, qwglm_voice_info *info);
/* The id of a speaker name in a multi-speaker voice (speaker_id_map), or -1. */
QWGLM_API int qwglm_voice_speaker_id(const qwglm_voice *v, const char *name);

typedef struct qwglm_speak_params {
    float noise_scale;      /* prior noise (voice default, usually 0.667) */
    float length_scale;     /* > 1 speaks slower (voice default, usually 1) */
    float noise_w;          /* duration noise (voice default, usually 0.8) */
    int speaker;            /* 0 for single-speaker voices */
    uint64_t seed;          /* noise seed: same seed, same text, same audio; sentence k uses seed + k */
    float sentence_silence; /* seconds of silence passed to the callback after each sentence (0: none) */
    size_t max_text_bytes;  /* longer texts are refused (0: 1 MiB) */
} qwglm_speak_params;

/* The voice's inference defaults from its config, speaker 0, seed 0. */
QWGLM_API qwglm_speak_params qwglm_voice_default_speak_params(const qwglm_voice *v);

/* Receives one sentence's samples (valid during the call). Return nonzero to stop (QWGLM_ERR_CANCELLED). */
typedef int (*qwglm_audio_fn)(const float *samples, size_t n, void *user);

/* Speaks text sentence by sentence. QWGLM_ERR_ARG for a bad speaker or scale, a sentence too long for the model,
 * text past max_text_bytes, or no espeak-ng in this build. */
QWGLM_API qwglm_status qwglm_voice_speak(qwglm_voice *v, const char *text, const qwglm_speak_params *p,
                                         qwglm_audio_fn fn, void *user, char *err);
/* Speaks one sentence given as phoneme ids (the model's input, e.g. [1, 0, p1, 0, ..., 2]). */
QWGLM_API qwglm_status qwglm_voice_speak_ids(qwglm_voice *v, const int32_t *ids, int n_ids,
                                             const qwglm_speak_params *p, qwglm_audio_fn fn, void *user, char *err);
/* The phoneme ids of each sentence of text, as JSON: [[1,0,...,2], ...]. Caller frees with qwglm_tts_free. */
QWGLM_API qwglm_status qwglm_voice_phoneme_ids_json(qwglm_voice *v, const char *text, char **json, char *err);
QWGLM_API void qwglm_tts_free(void *p);

/* float samples -> 16-bit PCM as Piper writes WAV files: with normalize, scaled by 32767 / max(0.01, max|x|);
 * otherwise by 32767; clamped to [-32768, 32767] and truncated. */
QWGLM_API void qwglm_audio_to_pcm16(const float *x, size_t n, bool normalize, int16_t *out);

#ifdef __cplusplus
}
#endif
#endif
