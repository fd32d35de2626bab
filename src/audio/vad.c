/* Voice activity detection: frame energy against an adaptive noise floor, with an onset confirmation time and a
 * silence hangover. Cheap enough to run on every microphone block in the browser; no model needed. */
#include <math.h>
#include <string.h>

#include "base/mem.h"
#include "qwglm_asr.h"

struct qwglm_vad {
    qwglm_vad_params p;
    int frame_len;
    float *frame;
    int fill;
    int64_t pos;          /* samples consumed */
    double floor_db;      /* noise floor estimate */
    bool speech;
    int run_speech, run_silence; /* consecutive frames */
    int need_speech, need_silence, pre_roll;
    int64_t onset;        /* first sample of the current loud run */
};

qwglm_vad_params qwglm_vad_default_params(int sample_rate)
{
    return (qwglm_vad_params){sample_rate, 20.0f, 12.0f, -50.0f, 120.0f, 700.0f, 250.0f};
}

qwglm_vad *qwglm_vad_create(const qwglm_vad_params *p)
{
    if (!p || p->sample_rate < 1000 || p->sample_rate > 768000 || !(p->frame_ms >= 5 && p->frame_ms <= 100) ||
        !(p->min_speech_ms >= 0 && p->min_speech_ms < 60000) || !(p->min_silence_ms >= 0 && p->min_silence_ms < 60000) ||
        !(p->pre_roll_ms >= 0 && p->pre_roll_ms < 10000) || !(p->threshold_db >= 0 && p->threshold_db < 100))
        return NULL;
    qwglm_vad *v = qw_calloc(1, sizeof *v);
    if (!v) return NULL;
    v->p = *p;
    v->frame_len = (int)(p->sample_rate * p->frame_ms / 1000.0f);
    if (v->frame_len < 1) v->frame_len = 1;
    v->frame = qw_malloc((size_t)v->frame_len * sizeof(float));
    if (!v->frame) {
        qw_free(v);
        return NULL;
    }
    v->need_speech = (int)ceilf(p->min_speech_ms / p->frame_ms);
    v->need_silence = (int)ceilf(p->min_silence_ms / p->frame_ms);
    if (v->need_speech < 1) v->need_speech = 1;
    if (v->need_silence < 1) v->need_silence = 1;
    v->pre_roll = (int)(p->pre_roll_ms * p->sample_rate / 1000.0f);
    qwglm_vad_reset(v);
    return v;
}

void qwglm_vad_free(qwglm_vad *v)
{
    if (!v) return;
    qw_free(v->frame);
    qw_free(v);
}

void qwglm_vad_reset(qwglm_vad *v)
{
    v->fill = 0;
    v->pos = 0;
    v->floor_db = -70.0;
    v->speech = false;
    v->run_speech = v->run_silence = 0;
    v->onset = 0;
}

int qwglm_vad_in_speech(const qwglm_vad *v) { return v->speech; }

/* One analysis frame ending at sample `end`; returns the number of events written. */
static int frame_done(qwglm_vad *v, int64_t end, qwglm_vad_event *ev, int cap, int n_ev)
{
    double e = 0;
    for (int i = 0; i < v->frame_len; i++) e += (double)v->frame[i] * v->frame[i];
    double db = 10.0 * log10(e / v->frame_len + 1e-12);
    bool loud = db > v->floor_db + v->p.threshold_db && db > v->p.min_level_db;
    /* the floor follows quiet frames quickly down and slowly up; loud frames barely move it */
    if (db < v->floor_db) v->floor_db = 0.7 * v->floor_db + 0.3 * db;
    else if (!loud) v->floor_db = 0.97 * v->floor_db + 0.03 * db;
    else v->floor_db += 0.001 * (db - v->floor_db);
    int64_t start = end - v->frame_len;
    if (loud) {
        if (v->run_speech == 0) v->onset = start;
        v->run_speech++;
        v->run_silence = 0;
        if (!v->speech && v->run_speech >= v->need_speech) {
            v->speech = true;
            int64_t s = v->onset - v->pre_roll;
            if (n_ev < cap) ev[n_ev] = (qwglm_vad_event){QWGLM_VAD_SPEECH_START, s < 0 ? 0 : s};
            n_ev++;
        }
    } else {
        v->run_speech = 0;
        v->run_silence++;
        if (v->speech && v->run_silence >= v->need_silence) {
            v->speech = false;
            if (n_ev < cap) ev[n_ev] = (qwglm_vad_event){QWGLM_VAD_SPEECH_END, end};
            n_ev++;
        }
    }
    return n_ev;
}

int qwglm_vad_feed(qwglm_vad *v, const float *pcm, size_t n, qwglm_vad_event *ev, int cap)
{
    int n_ev = 0;
    for (size_t i = 0; i < n; i++) {
        float x = pcm[i];
        v->frame[v->fill++] = (x >= -1e6f && x <= 1e6f) ? x : 0.0f;
        v->pos++;
        if (v->fill == v->frame_len) {
            n_ev = frame_done(v, v->pos, ev, cap, n_ev);
            v->fill = 0;
        }
    }
    return n_ev < cap ? n_ev : cap;
}
