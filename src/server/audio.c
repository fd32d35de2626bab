/* Speech models for the server: loading, lending handles to requests, and the VAD sessions. */
#include "server/audio.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "server/engine.h"

#define WAIT_POLL_MS 250
#define VAD_BLOCK    4096 /* samples fed per qwglm_vad_feed call: at most 2 * 4096 / 20 + 2 events */

/* Handles of one kind lent to one request at a time. */
struct lender {
    pthread_cond_t cv; /* signalled when one comes back or the server stops */
    bool *busy;        /* [workers] */
    int waiting;
};

struct vad_session {
    char id[65]; /* empty: free */
    qwglm_vad *v;
    int rate;
    int64_t pos;     /* samples fed */
    int64_t last_us; /* last use, for least-recently-used eviction */
};

struct audio_engines {
    pthread_mutex_t mu;
    bool stopping;
    int workers;
    char asr_name[256];
    qwglm_asr **asr; /* [workers] or NULL */
    struct lender asr_lender, tts_lender;
    int n_voices;
    char voice_names[AUDIO_MAX_VOICES][128];
    qwglm_voice_info voice_info[AUDIO_MAX_VOICES];
    qwglm_voice **voices; /* [workers][n_voices] */
    struct vad_session vad[VAD_MAX_SESSIONS];
};

/* ---- loading ---- */

/* The last path component without a trailing slash or the given suffix. */
static void base_name(const char *path, const char *suffix, char *out, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t len = n - start, sl = suffix ? strlen(suffix) : 0;
    if (sl && len > sl && strncmp(path + start + len - sl, suffix, sl) == 0) len -= sl;
    snprintf(out, cap, "%.*s", (int)len, path + start);
}

static bool lender_init(struct lender *l, int workers)
{
    l->busy = qw_calloc((size_t)workers, sizeof *l->busy);
    if (!l->busy) return false;
    pthread_cond_init(&l->cv, NULL);
    return true;
}

qwglm_status audio_open(const struct audio_config *c, struct srv_progress *progress, qwglm_log_fn log,
                        struct audio_engines **out, struct qw_err *e)
{
    *out = NULL;
    struct audio_engines *a = qw_calloc(1, sizeof *a);
    if (!a) return qw_fail(e, QWGLM_ERR_NOMEM, "speech models: out of memory");
    pthread_mutex_init(&a->mu, NULL);
    a->workers = c->workers > 0 ? c->workers : 1;
    if (!lender_init(&a->asr_lender, a->workers) || !lender_init(&a->tts_lender, a->workers)) {
        audio_free(a);
        return qw_fail(e, QWGLM_ERR_NOMEM, "speech models: out of memory");
    }
    char err[QWGLM_ERR_SIZE];
    if (c->asr_model) {
        base_name(c->asr_model, NULL, a->asr_name, sizeof a->asr_name);
        a->asr = qw_calloc((size_t)a->workers, sizeof *a->asr);
        if (!a->asr) {
            audio_free(a);
            return qw_fail(e, QWGLM_ERR_NOMEM, "speech models: out of memory");
        }
        qwglm_asr_params p = qwglm_asr_default_params();
        if (c->asr_dtype) {
            int d = qwglm_dtype_parse(c->asr_dtype);
            if (d < 0) {
                audio_free(a);
                return qw_fail(e, QWGLM_ERR_ARG, "--asr-dtype %s: expected auto, f32, bf16, q8 or q4", c->asr_dtype);
            }
            p.dtype = (qwglm_dtype)d;
        }
        p.n_threads = c->n_threads;
        p.max_seconds = c->max_seconds;
        p.max_file_bytes = c->max_file_bytes;
        p.log = log;
        for (int k = 0; k < a->workers; k++) {
            srv_progress_report(progress, "load", "speech recognition model", (uint64_t)k,
                                (uint64_t)a->workers);
            qwglm_status st = qwglm_asr_load(c->asr_model, &p, &a->asr[k], err);
            if (st) {
                audio_free(a);
                return qw_fail(e, st, "--asr-model %s: %s", c->asr_model, err);
            }
        }
    }
    a->n_voices = c->n_voices < AUDIO_MAX_VOICES ? c->n_voices : AUDIO_MAX_VOICES;
    if (a->n_voices > 0) {
        a->voices = qw_calloc((size_t)a->workers * (size_t)a->n_voices, sizeof *a->voices);
        if (!a->voices) {
            a->n_voices = 0;
            audio_free(a);
            return qw_fail(e, QWGLM_ERR_NOMEM, "speech models: out of memory");
        }
    }
    qwglm_voice_params vp = qwglm_voice_default_params();
    vp.n_threads = c->n_threads;
    vp.log = log;
    for (int i = 0; i < a->n_voices; i++) {
        base_name(c->voices[i], ".onnx", a->voice_names[i], sizeof a->voice_names[i]);
        for (int k = 0; k < a->workers; k++) {
            srv_progress_report(progress, "load", a->voice_names[i], (uint64_t)k, (uint64_t)a->workers);
            qwglm_status st = qwglm_voice_load(c->voices[i], NULL, &vp, &a->voices[k * a->n_voices + i], err);
            if (st) {
                audio_free(a);
                return qw_fail(e, st, "--voice %s: %s", c->voices[i], err);
            }
        }
        qwglm_voice_get_info(a->voices[i], &a->voice_info[i]);
        if (!a->voice_info[i].espeak_version) {
            audio_free(a);
            return qw_fail(e, QWGLM_ERR_ARG,
                           "--voice %s: this build has no espeak-ng to turn text into phonemes",
                           c->voices[i]);
        }
    }
    *out = a;
    return QWGLM_OK;
}

void audio_free(struct audio_engines *a)
{
    if (!a) return;
    for (int k = 0; a->asr && k < a->workers; k++) qwglm_asr_free(a->asr[k]);
    qw_free(a->asr);
    for (int i = 0; a->voices && i < a->workers * a->n_voices; i++) qwglm_voice_free(a->voices[i]);
    qw_free(a->voices);
    struct lender *ls[2] = {&a->asr_lender, &a->tts_lender};
    for (int i = 0; i < 2; i++)
        if (ls[i]->busy) {
            qw_free(ls[i]->busy);
            pthread_cond_destroy(&ls[i]->cv);
        }
    for (int i = 0; i < VAD_MAX_SESSIONS; i++) qwglm_vad_free(a->vad[i].v);
    pthread_mutex_destroy(&a->mu);
    qw_free(a);
}

bool audio_has_asr(const struct audio_engines *a)
{
    return a && a->asr;
}
bool audio_has_tts(const struct audio_engines *a)
{
    return a && a->n_voices > 0;
}

void audio_json(const struct audio_engines *a, struct qw_str *s)
{
    qw_str_puts(s, "{\"asr_model\":");
    if (audio_has_asr(a))
        qw_str_json(s, a->asr_name, strlen(a->asr_name));
    else
        qw_str_puts(s, "null");
    qw_str_puts(s, ",\"voices\":[");
    for (int i = 0; a && i < a->n_voices; i++) {
        qw_str_puts(s, i ? ",{\"name\":" : "{\"name\":");
        qw_str_json(s, a->voice_names[i], strlen(a->voice_names[i]));
        qw_str_printf(s, ",\"sample_rate\":%d,\"n_speakers\":%d}", a->voice_info[i].sample_rate,
                      a->voice_info[i].n_speakers);
    }
    qw_str_puts(s, "]}");
}

/* ---- lending ---- */

static int lend(struct audio_engines *a, struct lender *l, audio_gone_fn gone, void *user,
                struct api_error *err)
{
    pthread_mutex_lock(&a->mu);
    int k = -1;
    for (;;) {
        if (a->stopping) break;
        for (int i = 0; i < a->workers && k < 0; i++)
            if (!l->busy[i]) k = i;
        if (k >= 0) break;
        if (l->waiting >= AUDIO_MAX_WAITING) {
            pthread_mutex_unlock(&a->mu);
            api_fail(err, 503, NULL, "the server is overloaded: %d audio requests are waiting; retry later",
                     AUDIO_MAX_WAITING);
            return -1;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WAIT_POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        l->waiting++;
        pthread_cond_timedwait(&l->cv, &a->mu, &ts);
        l->waiting--;
        if (gone && gone(user)) {
            pthread_mutex_unlock(&a->mu);
            api_fail(err, 499, NULL, "the client went away");
            return -1;
        }
    }
    if (k < 0) {
        pthread_mutex_unlock(&a->mu);
        api_fail(err, 503, NULL, "the server is shutting down");
        return -1;
    }
    l->busy[k] = true;
    pthread_mutex_unlock(&a->mu);
    return k;
}

static void give_back(struct audio_engines *a, struct lender *l, int k)
{
    pthread_mutex_lock(&a->mu);
    if (k >= 0 && k < a->workers) l->busy[k] = false;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&a->mu);
}

qwglm_asr *audio_asr_acquire(struct audio_engines *a, audio_gone_fn gone, void *user, struct api_error *err)
{
    int k = lend(a, &a->asr_lender, gone, user, err);
    return k < 0 ? NULL : a->asr[k];
}

void audio_asr_release(struct audio_engines *a, qwglm_asr *h)
{
    for (int k = 0; k < a->workers; k++)
        if (a->asr[k] == h) give_back(a, &a->asr_lender, k);
}

int audio_tts_acquire(struct audio_engines *a, audio_gone_fn gone, void *user, struct api_error *err)
{
    return lend(a, &a->tts_lender, gone, user, err);
}

qwglm_voice *audio_tts_voice(struct audio_engines *a, int worker, int voice)
{
    return a->voices[worker * a->n_voices + voice];
}

void audio_tts_release(struct audio_engines *a, int worker)
{
    give_back(a, &a->tts_lender, worker);
}

void audio_stop(struct audio_engines *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    pthread_cond_broadcast(&a->asr_lender.cv);
    pthread_cond_broadcast(&a->tts_lender.cv);
    pthread_mutex_unlock(&a->mu);
}

int audio_voice_find(const struct audio_engines *a, const char *name, int *speaker, struct api_error *err)
{
    *speaker = 0;
    static const char *const openai[] = {"alloy", "ash",     "ballad", "coral", "echo",  "fable", "onyx",
                                         "nova",  "shimmer", "sage",   "verse", "marin", "cedar"};
    if (!name[0]) return 0;
    for (int i = 0; i < a->n_voices; i++)
        if (strcmp(name, a->voice_names[i]) == 0) return i;
    for (int i = 0; i < a->n_voices; i++) {
        int id = qwglm_voice_speaker_id(a->voices[i], name);
        if (id >= 0) {
            *speaker = id;
            return i;
        }
    }
    for (size_t i = 0; i < sizeof openai / sizeof openai[0]; i++)
        if (strcmp(name, openai[i]) == 0) return 0;
    char list[512] = "";
    size_t len = 0;
    for (int i = 0; i < a->n_voices && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", a->voice_names[i]);
    api_fail(err, 400, "voice", "unknown voice '%.100s'; this server speaks with: %s", name, list);
    return -1;
}

/* ---- voice activity detection sessions ---- */

static bool vad_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n < 8 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return false;
    }
    return true;
}

/* The session named id, made (or remade) when needed; *made says so. Under a->mu. */
static struct vad_session *vad_session_locked(struct audio_engines *a, const char *id, int rate, bool reset,
                                              bool *made)
{
    struct vad_session *s = NULL, *lru = &a->vad[0];
    for (int i = 0; i < VAD_MAX_SESSIONS && !s; i++) {
        if (strcmp(a->vad[i].id, id) == 0) s = &a->vad[i];
        if (!a->vad[i].id[0] || (lru->id[0] && a->vad[i].last_us < lru->last_us)) lru = &a->vad[i];
    }
    *made = !s || reset || s->rate != rate;
    if (!*made) return s;
    if (!s) s = lru; /* a free one, or the least recently used one, whose client then starts over */
    qwglm_vad_free(s->v);
    memset(s, 0, sizeof *s);
    qwglm_vad_params p = qwglm_vad_default_params(rate);
    if (!(s->v = qwglm_vad_create(&p))) return NULL;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->rate = rate;
    return s;
}

bool audio_vad_feed(struct audio_engines *a, const char *id, int sample_rate, bool reset, const float *pcm,
                    size_t n, struct qw_str *out, struct api_error *err)
{
    if (!id || !vad_id_ok(id))
        return api_fail(err, 400, "session", "'session' must be 8 to 64 letters, digits, '-' or '_'");
    if (sample_rate < 8000 || sample_rate > 192000)
        return api_fail(err, 400, "rate", "'rate' is %d; it must be in [8000, 192000]", sample_rate);
    if (n > VAD_MAX_SAMPLES)
        return api_fail(err, 413, NULL, "%zu samples in one call; at most %d", n, VAD_MAX_SAMPLES);
    pthread_mutex_lock(&a->mu);
    bool made;
    struct vad_session *s = vad_session_locked(a, id, sample_rate, reset, &made);
    if (!s) {
        pthread_mutex_unlock(&a->mu);
        return api_fail(err, 500, NULL, "out of memory");
    }
    s->last_us = qw_time_us();
    qw_str_puts(out, "{\"events\":[");
    qwglm_vad_event ev[2 * VAD_BLOCK / 20 + 4];
    int n_out = 0;
    for (size_t off = 0; off < n; off += VAD_BLOCK) {
        size_t m = n - off < VAD_BLOCK ? n - off : VAD_BLOCK;
        int k = qwglm_vad_feed(s->v, pcm + off, m, ev, (int)(sizeof ev / sizeof ev[0]));
        for (int i = 0; i < k; i++, n_out++)
            qw_str_printf(out, "%s{\"type\":\"%s\",\"sample\":%lld}", n_out ? "," : "",
                          ev[i].type == QWGLM_VAD_SPEECH_START ? "speech_start" : "speech_end",
                          (long long)ev[i].sample);
    }
    s->pos += (int64_t)n;
    qw_str_printf(out, "],\"in_speech\":%s,\"position\":%lld,\"new\":%s}",
                  qwglm_vad_in_speech(s->v) ? "true" : "false", (long long)s->pos, made ? "true" : "false");
    pthread_mutex_unlock(&a->mu);
    return true;
}
