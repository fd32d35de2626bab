/* The public speech API: a Piper voice = ONNX weights on a backend + the config's front end. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "format/onnx.h"
#include "model/vits.h"
#include "phonemes.h"
#include "qwglm_tts.h"

struct qwglm_voice {
    struct qw_backend be;
    struct vits_model model;
    struct piper_config cfg;
    struct qw_log log;
};

qwglm_voice_params qwglm_voice_default_params(void) { return (qwglm_voice_params){0}; }

/* The config must describe the model it came with. */
static qwglm_status check_match(const struct vits_model *m, const struct piper_config *c, const char *cpath,
                                struct qw_err *e)
{
    if (c->num_symbols && c->num_symbols != m->n_vocab)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: num_symbols %d, but the model embeds %d symbols", cpath,
                       c->num_symbols, m->n_vocab);
    if (c->max_id >= m->n_vocab)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: phoneme id %d, but the model embeds %d symbols", cpath, c->max_id,
                       m->n_vocab);
    if (c->num_speakers != m->n_speakers)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: num_speakers %d, but the model has %d", cpath, c->num_speakers,
                       m->n_speakers);
    return QWGLM_OK;
}

qwglm_status qwglm_voice_load(const char *onnx_path, const char *config_path, const qwglm_voice_params *p,
                              qwglm_voice **out, char *err)
{
    struct qw_err e = {0};
    qwglm_voice_params dp = qwglm_voice_default_params();
    if (!p) p = &dp;
    *out = NULL;
    char cpath[4096];
    if (!config_path) {
        if (snprintf(cpath, sizeof cpath, "%s.json", onnx_path) >= (int)sizeof cpath) {
            qw_fail(&e, QWGLM_ERR_ARG, "voice path too long");
            qw_err_copy(err, &e);
            return e.status;
        }
        config_path = cpath;
    }
    qwglm_voice *v = qw_calloc(1, sizeof *v);
    struct onnx_model onnx = {0};
    char *json = NULL;
    size_t json_n;
    qwglm_status rc;
    if (!v) {
        rc = qw_fail(&e, QWGLM_ERR_NOMEM, "voice");
        goto fail;
    }
    v->log = (struct qw_log){p->log, p->log_user};
    int64_t t0 = qw_time_us();
    if ((rc = qw_read_file(config_path, 16u << 20, &json, &json_n, &e)) ||
        (rc = piper_config_parse(&v->cfg, json, json_n, config_path, &e)) ||
        (rc = onnx_open(&onnx, onnx_path, &e)) || (rc = cpu_backend_create(p->n_threads, &v->be, &e)) ||
        (rc = vits_load(&v->model, &onnx, &v->be, &e)) || (rc = check_match(&v->model, &v->cfg, config_path, &e)))
        goto fail;
    onnx_close(&onnx);
    qw_free(json);
    qw_log(&v->log, QWGLM_LOG_INFO, "voice %s: hidden %d, %d layers, %d speakers, %d Hz, loaded in %.0f ms",
           onnx_path, v->model.hidden, v->model.n_layers, v->model.n_speakers, v->cfg.sample_rate,
           (double)(qw_time_us() - t0) / 1000.0);
    *out = v;
    return QWGLM_OK;
fail:
    onnx_close(&onnx);
    qw_free(json);
    qwglm_voice_free(v);
    qw_err_copy(err, &e);
    return rc;
}

void qwglm_voice_free(qwglm_voice *v)
{
    if (!v) return;
    vits_free(&v->model);
    if (v->be.ops) v->be.ops->free(v->be.ctx);
    piper_config_free(&v->cfg);
    qw_free(v);
}

void qwglm_voice_get_info(const qwglm_voice *v, qwglm_voice_info *info)
{
    memset(info, 0, sizeof *info);
    info->sample_rate = v->cfg.sample_rate;
    info->n_speakers = v->model.n_speakers;
    info->hidden = v->model.hidden;
    info->n_layers = v->model.n_layers;
    info->upsample_channels = v->model.conv_pre.c_out;
    info->hop = v->model.hop;
    info->weight_bytes = v->model.weight_bytes;
    info->espeak_voice = v->cfg.espeak_voice;
    info->espeak_version = piper_espeak_version();
}

int qwglm_voice_speaker_id(const qwglm_voice *v, const char *name) { return piper_speaker_id(&v->cfg, name); }

qwglm_speak_params qwglm_voice_default_speak_params(const qwglm_voice *v)
{
    return (qwglm_speak_params){.noise_scale = v->cfg.noise_scale,
                                .length_scale = v->cfg.length_scale,
                                .noise_w = v->cfg.noise_w};
}

/* ---- speaking ---- */

struct speak_job {
    qwglm_voice *v;
    const qwglm_speak_params *p;
    qwglm_audio_fn fn;
    void *user;
    int sentence;
    struct qw_err *e;
};

static qwglm_status speak_ids(struct speak_job *j, const int32_t *ids, int n)
{
    struct vits_synth_params sp = {j->p->noise_scale, j->p->length_scale, j->p->noise_w, j->p->speaker};
    struct vits_noise noise = {.seed = j->p->seed + (uint64_t)j->sentence++};
    float *audio;
    int64_t ns;
    int64_t t0 = qw_time_us();
    qwglm_status rc = vits_synth(&j->v->model, ids, n, &sp, &noise, &audio, &ns, NULL, j->e);
    if (rc) return rc;
    double secs = (double)ns / j->v->cfg.sample_rate;
    qw_log(&j->v->log, QWGLM_LOG_DEBUG, "sentence %d: %d ids, %.2f s of audio in %.0f ms", j->sentence, n, secs,
           (double)(qw_time_us() - t0) / 1000.0);
    int stop = j->fn(audio, (size_t)ns, j->user);
    qw_free(audio);
    if (stop) return qw_fail(j->e, QWGLM_ERR_CANCELLED, "stopped by the audio callback");
    size_t sil = (size_t)(j->p->sentence_silence > 0 ? j->p->sentence_silence * j->v->cfg.sample_rate : 0);
    if (sil > 0 && sil < (size_t)j->v->cfg.sample_rate * 60) {
        float *z = qw_calloc(sil, sizeof *z);
        if (!z) return qw_fail(j->e, QWGLM_ERR_NOMEM, "silence");
        stop = j->fn(z, sil, j->user);
        qw_free(z);
        if (stop) return qw_fail(j->e, QWGLM_ERR_CANCELLED, "stopped by the audio callback");
    }
    return QWGLM_OK;
}

/* Sentences are phonemized first (espeak-ng is held under a process-wide lock), then synthesized one by one. */
struct sentence_list {
    struct piper_ids *s;
    int n, cap;
    const struct piper_config *cfg;
    struct qw_err *e;
    qwglm_status rc;
    struct qw_log *log;
};

static int add_sentence(const uint32_t *cps, size_t n, void *user)
{
    struct sentence_list *l = user;
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 16;
        void *p = qw_realloc(l->s, (size_t)nc * sizeof *l->s);
        if (!p) {
            l->rc = qw_fail(l->e, QWGLM_ERR_NOMEM, "sentences");
            return 1;
        }
        l->s = p;
        l->cap = nc;
    }
    struct piper_ids *ids = &l->s[l->n];
    memset(ids, 0, sizeof *ids);
    ids->max = VITS_MAX_IDS;
    l->rc = piper_phonemes_to_ids(l->cfg, cps, n, ids, l->e);
    if (l->rc) {
        piper_ids_free(ids);
        return 1;
    }
    if (ids->missing)
        qw_log(l->log, QWGLM_LOG_WARN, "%d phonemes not in the voice's map (first U+%04X) were skipped", ids->missing,
               (unsigned)ids->first_missing);
    l->n++;
    return 0;
}

static void free_list(struct sentence_list *l)
{
    for (int i = 0; i < l->n; i++) piper_ids_free(&l->s[i]);
    qw_free(l->s);
}

static qwglm_status phonemize(qwglm_voice *v, const char *text, const qwglm_speak_params *p, struct sentence_list *l,
                              struct qw_err *e)
{
    memset(l, 0, sizeof *l);
    l->cfg = &v->cfg;
    l->e = e;
    l->log = &v->log;
    size_t max = p && p->max_text_bytes ? p->max_text_bytes : 1u << 20;
    qwglm_status rc = piper_phonemize(&v->cfg, text, max, add_sentence, l, e);
    if (l->rc) rc = l->rc;
    return rc;
}

qwglm_status qwglm_voice_speak(qwglm_voice *v, const char *text, const qwglm_speak_params *p, qwglm_audio_fn fn,
                               void *user, char *err)
{
    struct qw_err e = {0};
    struct sentence_list l;
    qwglm_status rc = phonemize(v, text, p, &l, &e);
    struct speak_job j = {v, p, fn, user, 0, &e};
    for (int i = 0; !rc && i < l.n; i++) rc = speak_ids(&j, l.s[i].v, l.s[i].n);
    free_list(&l);
    qw_err_copy(err, &e);
    return rc;
}

qwglm_status qwglm_voice_speak_ids(qwglm_voice *v, const int32_t *ids, int n_ids, const qwglm_speak_params *p,
                                   qwglm_audio_fn fn, void *user, char *err)
{
    struct qw_err e = {0};
    struct speak_job j = {v, p, fn, user, 0, &e};
    qwglm_status rc = speak_ids(&j, ids, n_ids);
    qw_err_copy(err, &e);
    return rc;
}

qwglm_status qwglm_voice_phoneme_ids_json(qwglm_voice *v, const char *text, char **json, char *err)
{
    struct qw_err e = {0};
    struct sentence_list l;
    *json = NULL;
    qwglm_status rc = phonemize(v, text, NULL, &l, &e);
    struct qw_str s = {0};
    qw_str_putc(&s, '[');
    for (int i = 0; !rc && i < l.n; i++) {
        qw_str_puts(&s, i ? ",[" : "[");
        for (int k = 0; k < l.s[i].n; k++) qw_str_printf(&s, k ? ",%d" : "%d", l.s[i].v[k]);
        qw_str_putc(&s, ']');
    }
    qw_str_putc(&s, ']');
    free_list(&l);
    if (!rc && s.failed) rc = qw_fail(&e, QWGLM_ERR_NOMEM, "phoneme ids");
    if (!rc) *json = qw_str_take(&s);
    qw_str_free(&s);
    qw_err_copy(err, &e);
    return rc;
}

void qwglm_tts_free(void *p) { qw_free(p); }

void qwglm_audio_to_pcm16(const float *x, size_t n, bool normalize, int16_t *out)
{
    float peak = 0.0f;
    if (normalize)
        for (size_t i = 0; i < n; i++) peak = fabsf(x[i]) > peak ? fabsf(x[i]) : peak;
    float scale = normalize ? 32767.0f / (peak > 0.01f ? peak : 0.01f) : 32767.0f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * scale;
        v = v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v;
        out[i] = v == v ? (int16_t)v : 0;
    }
}
