/* The audio endpoints: POST /v1/audio/transcriptions (a multipart upload, answered when transcribed),
 * POST /v1/audio/speech (audio streamed sentence by sentence while it is synthesized) and POST /api/vad (the
 * engine's voice activity detector, fed microphone blocks by the web app's hands-free mode).
 *
 * Speech is synthesized in the connection's own thread, from the content-reader callback: the text is turned
 * into phoneme ids at once (so bad input gets a JSON error before any audio), the first sentence is
 * synthesized before the response starts (its failure too is an error response), and each later sentence when
 * the client has read the one before. A client that stops reading stops the synthesis; one that hangs up ends
 * it. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "format/json.h"
#include "server/audio.h"
#include "server/http.h"
#include "server/srv.h"

#define SPEECH_BLOCK (32 * 1024) /* bytes MHD asks the reader for at a time */

static bool fd_gone(void *user)
{
    return http_peer_gone(*(int *)user);
}

/* 503 while the models load; 404 naming the flag when the server runs without the model the route needs. */
static bool audio_ready(struct srv *srv, bool need_asr, bool need_tts, struct api_error *err)
{
    enum srv_state state = (enum srv_state)atomic_load(&srv->state);
    if (state != SRV_READY || !srv->audio) {
        api_fail(err, 503, NULL, "the models are %s; watch GET /api/progress",
                 state == SRV_LOADING ? "still loading" : "not available (they failed to load)");
        err->code = "model_not_ready";
        return false;
    }
    if (need_asr && !audio_has_asr(srv->audio)) {
        api_fail(err, 404, "model",
                 "this server has no speech recognition model: start qwglm serve with "
                 "--asr-model DIR");
        err->code = "model_not_found";
        return false;
    }
    if (need_tts && !audio_has_tts(srv->audio)) {
        api_fail(err, 404, "model", "this server has no voice: start qwglm serve with --voice VOICE.onnx");
        err->code = "model_not_found";
        return false;
    }
    return true;
}

/* Closes the connection of a client that went away while its request waited. */
static MHD_RESULT client_gone(struct srv *srv, struct conn *cn)
{
    cn->status = 499;
    metrics_count(&srv->metrics, cn->route, 499);
    atomic_fetch_add_explicit(&srv->metrics.cancelled, 1, memory_order_relaxed);
    return MHD_NO;
}

/* ---- POST /v1/audio/transcriptions ---- */

/* The status for a failed transcription: the engine reports limits as QWGLM_ERR_ARG "... limit ...". */
static int transcribe_status(qwglm_status st, const char *msg)
{
    if (st == QWGLM_ERR_ARG) return strstr(msg, "limit") ? 413 : 400;
    return st == QWGLM_ERR_FORMAT ? 400 : 500;
}

MHD_RESULT http_transcriptions(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    if (cn->too_large) return http_too_large(srv, c, cn);
    struct api_error err;
    if (!audio_ready(srv, true, false, &err)) return http_send_error(srv, c, cn, &err);
    struct qw_err e = {0};
    char boundary[MP_MAX_BOUNDARY + 1];
    if (mp_boundary(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"), boundary, &e)) {
        api_fail(&err, 400, NULL, "%s", e.msg);
        return http_send_error(srv, c, cn, &err);
    }
    struct mp_form *form = qw_malloc(sizeof *form);
    if (!form) return http_fail(srv, c, cn, 500, NULL, "out of memory%s%s", "", "");
    struct api_transcription t;
    bool ok = true;
    if (mp_parse(boundary, (const uint8_t *)cn->body.data, cn->body.len, form, &e)) {
        api_fail(&err, 400, NULL, "%s", e.msg);
        ok = false;
    }
    ok = ok && api_parse_transcription(form, &t, &err); /* t points into the body, not into form */
    qw_free(form);
    if (!ok) return http_send_error(srv, c, cn, &err);
    if (t.file_size > srv->cfg->max_audio_bytes) {
        api_fail(&err, 413, "file",
                 "the audio file has %zu bytes; this server takes at most %zu (--max-audio-bytes)",
                 t.file_size, srv->cfg->max_audio_bytes);
        err.code = "file_too_large";
        return http_send_error(srv, c, cn, &err);
    }

    int fd = http_connection_fd(c);
    qwglm_asr *asr = audio_asr_acquire(srv->audio, fd_gone, &fd, &err);
    if (!asr) return err.status == 499 ? client_gone(srv, cn) : http_send_error(srv, c, cn, &err);
    qwglm_asr_result *r = NULL;
    char msg[QWGLM_ERR_SIZE];
    int64_t t0 = qw_time_us();
    qwglm_status st = qwglm_asr_transcribe_memory(asr, t.file, t.file_size, t.filename, &r, msg);
    audio_asr_release(srv->audio, asr);
    /* the wait counted as idleness to MHD: restart the connection's timeout before answering */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S);
    if (st) {
        api_fail(&err, transcribe_status(st, msg), "file", "%s", msg);
        if (err.status == 413) err.code = "audio_too_long";
        return http_send_error(srv, c, cn, &err);
    }
    atomic_fetch_add_explicit(&srv->metrics.audio_in_ms, (unsigned long long)llround(r->duration * 1000),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&srv->metrics.asr_us, (unsigned long long)(qw_time_us() - t0),
                              memory_order_relaxed);
    struct qw_str s = {0};
    const char *type;
    api_format_transcription(r, &t, &s, &type);
    qwglm_asr_result_free(r);
    return http_send_text(srv, c, cn, 200, &s, type);
}

/* ---- POST /v1/audio/speech ---- */

struct speech {
    struct srv *srv;
    int worker; /* the lent voice set, -1 once given back */
    qwglm_voice *voice;
    qwglm_speak_params params;
    uint64_t seed;       /* sentence k uses seed + k, as qwglm_voice_speak does */
    struct json_doc ids; /* [[1,0,...,2], ...]: the phoneme ids of each sentence */
    int32_t *sentence;   /* one sentence's ids, converted */
    uint32_t next, n_sentences;
    struct qw_str pending; /* encoded bytes not yet read */
    size_t off;
    int16_t *pcm; /* conversion scratch */
    size_t pcm_cap;
    int64_t samples;
    int64_t synth_us;
};

static int speech_audio(const float *x, size_t n, void *user)
{
    struct speech *sp = user;
    if (n > sp->pcm_cap) {
        size_t bytes;
        if (!size_mul_ok(n, sizeof *sp->pcm, &bytes)) return 1;
        int16_t *p = qw_realloc(sp->pcm, bytes);
        if (!p) return 1;
        sp->pcm = p;
        sp->pcm_cap = n;
    }
    qwglm_audio_to_pcm16(x, n, true, sp->pcm);
    for (size_t i = 0; i < n; i++) { /* little-endian on every host */
        uint8_t b[2] = {(uint8_t)((uint16_t)sp->pcm[i] & 0xff), (uint8_t)((uint16_t)sp->pcm[i] >> 8)};
        if (!qw_str_append(&sp->pending, b, 2)) return 1;
    }
    sp->samples += (int64_t)n;
    return 0;
}

/* Synthesizes the next sentence into pending. */
static qwglm_status speech_next(struct speech *sp, char *msg)
{
    const struct json_value *s = &sp->ids.root.u.items[sp->next];
    if (s->type != JSON_ARRAY || s->n == 0) {
        snprintf(msg, QWGLM_ERR_SIZE, "sentence %u: no phoneme ids", sp->next);
        return QWGLM_ERR_FORMAT;
    }
    int32_t *ids = qw_realloc(sp->sentence, (size_t)s->n * sizeof *ids);
    if (!ids) {
        snprintf(msg, QWGLM_ERR_SIZE, "out of memory");
        return QWGLM_ERR_NOMEM;
    }
    sp->sentence = ids;
    for (uint32_t i = 0; i < s->n; i++) {
        int64_t v = 0;
        json_int(&s->u.items[i], &v);
        ids[i] = (int32_t)v;
    }
    sp->params.seed = sp->seed + sp->next;
    sp->next++;
    qw_str_clear(&sp->pending);
    sp->off = 0;
    int64_t t0 = qw_time_us();
    qwglm_status st = qwglm_voice_speak_ids(sp->voice, ids, (int)s->n, &sp->params, speech_audio, sp, msg);
    sp->synth_us += qw_time_us() - t0;
    if (!st && sp->pending.failed) {
        snprintf(msg, QWGLM_ERR_SIZE, "out of memory");
        st = QWGLM_ERR_NOMEM;
    }
    return st;
}

static void speech_free(void *cls)
{
    struct speech *sp = cls;
    if (!sp) return;
    struct srv *srv = sp->srv;
    if (sp->worker >= 0) audio_tts_release(srv->audio, sp->worker);
    if (sp->samples > 0) {
        int rate = 0;
        if (sp->voice) {
            qwglm_voice_info info;
            qwglm_voice_get_info(sp->voice, &info);
            rate = info.sample_rate;
        }
        if (rate > 0)
            atomic_fetch_add_explicit(&srv->metrics.audio_out_ms,
                                      (unsigned long long)(sp->samples * 1000 / rate), memory_order_relaxed);
        atomic_fetch_add_explicit(&srv->metrics.tts_us, (unsigned long long)sp->synth_us,
                                  memory_order_relaxed);
    }
    json_doc_free(&sp->ids);
    qw_free(sp->sentence);
    qw_free(sp->pcm);
    qw_str_free(&sp->pending);
    qw_free(sp);
}

static ssize_t speech_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct speech *sp = cls;
    while (sp->off >= sp->pending.len) {
        if (sp->next >= sp->n_sentences) return MHD_CONTENT_READER_END_OF_STREAM;
        if (atomic_load(&sp->srv->stopping)) return MHD_CONTENT_READER_END_WITH_ERROR;
        char msg[QWGLM_ERR_SIZE];
        if (speech_next(sp, msg)) { /* the status line is out: all a client can see is a cut-off stream */
            fprintf(stderr, "qwglm serve: speech: %s\n", msg);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = sp->pending.len - sp->off < max ? sp->pending.len - sp->off : max;
    memcpy(buf, sp->pending.data + sp->off, n);
    sp->off += n;
    return (ssize_t)n;
}

/* Phonemizes req's text into sp->ids; false with err filled. */
static bool speech_phonemize(struct speech *sp, const char *text, struct api_error *err)
{
    char msg[QWGLM_ERR_SIZE];
    char *json = NULL;
    qwglm_status st = qwglm_voice_phoneme_ids_json(sp->voice, text, &json, msg);
    if (st) return api_fail(err, st == QWGLM_ERR_NOMEM ? 500 : 400, "input", "%s", msg);
    struct qw_err e = {0};
    st = json_parse(json, strlen(json), &sp->ids, &e);
    qwglm_tts_free(json);
    if (st) return api_fail(err, 500, NULL, "phoneme ids: %s", e.msg);
    if (sp->ids.root.type != JSON_ARRAY) return api_fail(err, 500, NULL, "phoneme ids: not an array");
    sp->n_sentences = sp->ids.root.n;
    if (sp->n_sentences == 0) return api_fail(err, 400, "input", "'input' holds nothing to speak");
    return true;
}

MHD_RESULT http_speech(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    if (cn->too_large) return http_too_large(srv, c, cn);
    struct api_error err;
    if (!audio_ready(srv, false, true, &err)) return http_send_error(srv, c, cn, &err);
    struct api_speech req;
    if (!api_parse_speech(cn->body.data ? cn->body.data : "", cn->body.len, &req, &err))
        return http_send_error(srv, c, cn, &err);
    int speaker = 0;
    int vi = audio_voice_find(srv->audio, req.voice, &speaker, &err);
    if (vi < 0) {
        api_speech_free(&req);
        return http_send_error(srv, c, cn, &err);
    }
    struct speech *sp = qw_calloc(1, sizeof *sp);
    if (!sp) {
        api_speech_free(&req);
        return http_fail(srv, c, cn, 500, NULL, "out of memory%s%s", "", "");
    }
    sp->srv = srv;
    sp->pending.max = 64u << 20; /* one sentence is at most 8192 frames (about 95 s) */
    int fd = http_connection_fd(c);
    sp->worker = audio_tts_acquire(srv->audio, fd_gone, &fd, &err);
    if (sp->worker < 0) {
        api_speech_free(&req);
        speech_free(sp);
        return err.status == 499 ? client_gone(srv, cn) : http_send_error(srv, c, cn, &err);
    }
    sp->voice = audio_tts_voice(srv->audio, sp->worker, vi);
    sp->params = qwglm_voice_default_speak_params(sp->voice);
    sp->params.speaker = speaker;
    sp->params.length_scale /= req.speed;
    if (req.noise_scale == req.noise_scale) sp->params.noise_scale = req.noise_scale;
    if (req.noise_w == req.noise_w) sp->params.noise_w = req.noise_w;
    sp->seed = req.has_seed ? req.seed : 0;
    bool ok = speech_phonemize(sp, req.input, &err);
    api_speech_free(&req);
    char msg[QWGLM_ERR_SIZE];
    qwglm_status st = ok ? speech_next(sp, msg) : QWGLM_OK;
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S);
    if (ok && st) ok = api_fail(&err, st == QWGLM_ERR_ARG ? 400 : 500, "input", "%s", msg);
    if (!ok) {
        speech_free(sp);
        return http_send_error(srv, c, cn, &err);
    }
    qwglm_voice_info info;
    qwglm_voice_get_info(sp->voice, &info);
    if (req.format == API_SPEECH_WAV) { /* the header goes before the first sentence's samples */
        uint8_t h[44];
        api_wav_header(h, info.sample_rate);
        struct qw_str all = {.max = sp->pending.max};
        qw_str_append(&all, h, sizeof h);
        qw_str_append(&all, sp->pending.data ? sp->pending.data : "", sp->pending.len);
        if (all.failed) {
            qw_str_free(&all);
            speech_free(sp);
            return http_fail(srv, c, cn, 500, NULL, "out of memory%s%s", "", "");
        }
        qw_str_free(&sp->pending);
        sp->pending = all;
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SPEECH_BLOCK, speech_read, sp, speech_free);
    if (!r) {
        speech_free(sp);
        return MHD_NO;
    }
    char rate[16];
    snprintf(rate, sizeof rate, "%d", info.sample_rate);
    MHD_add_response_header(r, "Content-Type", req.format == API_SPEECH_WAV ? "audio/wav" : "audio/pcm");
    MHD_add_response_header(r, "X-Sample-Rate", rate);
    MHD_add_response_header(r, "X-Audio-Format", "s16le; channels=1");
    if (srv->cfg->cors)
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "X-Sample-Rate, X-Audio-Format");
    http_add_common_headers(srv, r, true);
    return http_queue(srv, c, cn, 200, r);
}

/* ---- POST /api/vad?session=ID&rate=N[&reset=1] with little-endian float32 samples ---- */

MHD_RESULT http_vad(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    if (cn->too_large) return http_too_large(srv, c, cn);
    struct api_error err;
    if (!audio_ready(srv, false, false, &err)) return http_send_error(srv, c, cn, &err);
    const char *id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "session");
    const char *rate_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "rate");
    const char *reset = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "reset");
    char *end = NULL;
    long rate = rate_s ? strtol(rate_s, &end, 10) : 0;
    if (!rate_s || *end || rate < 8000 || rate > 192000) {
        api_fail(&err, 400, "rate", "'rate' must be the sample rate of the samples, 8000 to 192000");
        return http_send_error(srv, c, cn, &err);
    }
    size_t n_bytes = cn->body.len;
    if (n_bytes % 4 != 0) {
        api_fail(&err, 400, NULL,
                 "the body must be little-endian float32 samples: %zu bytes is not a multiple of 4", n_bytes);
        return http_send_error(srv, c, cn, &err);
    }
    size_t n = n_bytes / 4;
    float *pcm = qw_malloc(n ? n_bytes : 4);
    if (!pcm) return http_fail(srv, c, cn, 500, NULL, "out of memory%s%s", "", "");
    for (size_t i = 0; i < n; i++) {
        const uint8_t *b = (const uint8_t *)cn->body.data + 4 * i;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&pcm[i], &u, 4);
    }
    struct qw_str s = {0};
    bool ok = audio_vad_feed(srv->audio, id, (int)rate, reset && strcmp(reset, "0") != 0, pcm, n, &s, &err);
    qw_free(pcm);
    if (!ok) {
        qw_str_free(&s);
        return http_send_error(srv, c, cn, &err);
    }
    return http_send_json(srv, c, cn, 200, &s);
}
