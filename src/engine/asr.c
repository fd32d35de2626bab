/* Speech recognition engine: audio in, text and timestamps out (include/qwglm_asr.h).
 *
 * Inputs up to chunk_seconds go through the model in one pass, exactly as the reference does. Longer ones are cut
 * into windows of chunk_seconds that overlap by overlap_seconds, each recognised on its own (its own feature
 * normalisation and decoder state); a token is kept from the window whose centre region holds its frame, the
 * boundary between two windows lying in the middle of their overlap. Windows start on encoder-frame boundaries so
 * frames stay aligned across windows. Memory: one window of samples, its features and its encoder activations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr_impl.h"
#include "backend/cpu/cpu.h"
#include "base/mem.h"
#include "base/str.h"

#define READ_BLOCK 8192

qwglm_asr_params qwglm_asr_default_params(void)
{
    return (qwglm_asr_params){
        .dtype = QWGLM_DTYPE_AUTO,
        .n_threads = 0,
        .max_symbols = -1,
        .chunk_seconds = 30.0f,
        .overlap_seconds = 4.0f,
        .max_seconds = 0,
        .max_file_bytes = 0,
    };
}

static enum qw_dtype weight_dtype(qwglm_dtype d, const struct st_set *st)
{
    switch (d) {
    case QWGLM_DTYPE_F32: return QW_DTYPE_F32;
    case QWGLM_DTYPE_BF16: return QW_DTYPE_BF16;
    case QWGLM_DTYPE_Q8: return QW_DTYPE_Q8;
    case QWGLM_DTYPE_Q4: return QW_DTYPE_Q4;
    case QWGLM_DTYPE_AUTO: break;
    }
    (void)st;
    return QW_DTYPE_F32; /* decided again after the checkpoint is open: see qwglm_asr_load */
}

static int first_dtype(const struct st_tensor *t, void *user)
{
    *(enum st_dtype *)user = t->dtype;
    return 1;
}

qwglm_status qwglm_asr_load(const char *dir, const qwglm_asr_params *p, qwglm_asr **out, char *err)
{
    struct qw_err e = {0};
    *out = NULL;
    qwglm_asr *a = qw_calloc(1, sizeof *a);
    if (!a) {
        qw_fail(&e, QWGLM_ERR_NOMEM, "speech recogniser");
        qw_err_copy(err, &e);
        return e.status;
    }
    a->p = p ? *p : qwglm_asr_default_params();
    a->log = (struct qw_log){a->p.log, a->p.log_user};
    qwglm_status rc = cpu_backend_create(a->p.n_threads, &a->be, &e);
    if (rc) goto fail;
    enum qw_dtype wt = weight_dtype(a->p.dtype, NULL);
    if (a->p.dtype == QWGLM_DTYPE_AUTO) {
        /* keep the checkpoint's precision: bf16 / f16 stay 16-bit, f32 stays f32 */
        struct st_set probe;
        if (st_set_open(&probe, dir, NULL) == QWGLM_OK) {
            enum st_dtype d = ST_F32;
            st_set_each(&probe, first_dtype, &d);
            if (d == ST_BF16 || d == ST_F16) wt = QW_DTYPE_BF16;
            st_set_close(&probe);
        }
    }
    int64_t t0 = qw_time_us();
    rc = parakeet_load(&a->model, dir, &a->be, wt, &e);
    if (rc) goto fail;
    const struct parakeet_config *c = &a->model.cfg;
    rc = asr_finish_init(a, &e);
    if (!rc) rc = asr_vocab_load(&a->vocab, dir, c->vocab, &e);
    if (rc) goto fail;
    qw_log(&a->log, QWGLM_LOG_INFO, "parakeet: %d layers, width %d, vocabulary %d, %.1f MB of %s weights, %.0f ms",
           c->n_layers, c->d_model, c->vocab - 1, (double)a->model.weight_bytes / 1e6, qw_dtype_name(wt),
           (double)(qw_time_us() - t0) / 1000.0);
    *out = a;
    return QWGLM_OK;
fail:
    qw_err_copy(err, &e);
    qwglm_asr_free(a);
    return e.status;
}

qwglm_status asr_finish_init(struct qwglm_asr *a, struct qw_err *e)
{
    const struct parakeet_config *c = &a->model.cfg;
    qwglm_status rc = parakeet_state_init(&a->state, &a->model, e);
    if (!rc) rc = qw_mel_init(&a->mel, c->sample_rate, c->n_fft, c->hop, c->win, c->n_mels, c->preemphasis, e);
    if (rc) return rc;
    a->max_symbols = a->p.max_symbols < 0 ? c->max_symbols : a->p.max_symbols;
    a->frame_samples = c->hop << c->sub_layers;
    a->frame_seconds = (double)c->hop * (double)(1 << c->sub_layers) / (double)c->sample_rate;
    return QWGLM_OK;
}

qwglm_status asr_open_random(struct qwglm_asr **out, const char *config_path, const qwglm_asr_params *p,
                             uint64_t seed, struct qw_err *e)
{
    *out = NULL;
    qwglm_asr *a = qw_calloc(1, sizeof *a);
    if (!a) return qw_fail(e, QWGLM_ERR_NOMEM, "speech recogniser");
    a->p = *p;
    a->log = (struct qw_log){a->p.log, a->p.log_user};
    qwglm_status rc = cpu_backend_create(a->p.n_threads, &a->be, e);
    if (!rc) rc = parakeet_load_random(&a->model, config_path, &a->be, weight_dtype(a->p.dtype, NULL), seed, e);
    if (!rc) rc = asr_finish_init(a, e);
    if (rc) {
        qwglm_asr_free(a);
        return rc;
    }
    *out = a;
    return QWGLM_OK;
}

void qwglm_asr_free(qwglm_asr *a)
{
    if (!a) return;
    parakeet_state_free(&a->state, &a->model);
    parakeet_free(&a->model);
    qw_mel_free(&a->mel);
    asr_vocab_free(&a->vocab);
    if (a->be.ops) a->be.ops->free(a->be.ctx);
    qw_free(a);
}

int qwglm_asr_sample_rate(const qwglm_asr *a) { return a->model.cfg.sample_rate; }

qwglm_status asr_run(struct qwglm_asr *a, const float *pcm, size_t n, int64_t frame0, struct parakeet_token **toks,
                     int *n_toks, int *cap, parakeet_tap_fn tap, void *tap_user, parakeet_step_fn step,
                     void *step_user, struct qw_err *e)
{
    if (n < (size_t)(2 * a->mel.hop)) return QWGLM_OK; /* under two feature frames: nothing to hear */
    int64_t frames = qw_mel_frames(&a->mel, (int64_t)n), valid = (int64_t)n / a->mel.hop;
    size_t bytes;
    if (!size_mul_ok((size_t)frames * (size_t)a->mel.n_mels, sizeof(float), &bytes))
        return qw_fail(e, QWGLM_ERR_NOMEM, "features");
    float *feats = qw_malloc(bytes);
    if (!feats) return qw_fail(e, QWGLM_ERR_NOMEM, "features of %lld frames", (long long)frames);
    qwglm_status rc = qw_mel_compute(&a->mel, pcm, n, feats, e);
    if (!rc && tap) {
        /* the features live on the host; show them to the observer through a host-wrapping tensor */
        struct qw_buf *b;
        if (a->be.ops->buf_alloc(a->be.ctx, bytes, &b, NULL) == QWGLM_OK) {
            struct qw_tensor t = {b, 0, QW_DTYPE_F32, frames, a->mel.n_mels, a->mel.n_mels};
            if (qw_tensor_write(&a->be, t, feats, NULL) == QWGLM_OK) tap(tap_user, "input_features", t);
            a->be.ops->buf_free(a->be.ctx, b);
        }
    }
    struct qw_tensor enc;
    int64_t enc_valid;
    if (!rc) rc = parakeet_encode(&a->model, &a->state, feats, frames, valid, &enc, &enc_valid, tap, tap_user, e);
    qw_free(feats);
    if (rc) return rc;
    int first = *n_toks;
    rc = parakeet_greedy(&a->model, &a->state, enc, enc_valid, a->max_symbols, toks, n_toks, cap, step, step_user, e);
    for (int i = first; i < *n_toks; i++) (*toks)[i].frame += (int)frame0;
    return rc;
}

/* ---- sources of model-rate mono samples ---- */

struct source {
    struct qw_audio_reader *file; /* or: */
    const float *pcm;
    size_t frames, pos;
    int channels;
    struct qw_resampler rs;
    float *block;
};

static qwglm_status source_read(struct source *s, float *dst, size_t cap, size_t *got, struct qw_err *e)
{
    if (s->file) return qw_audio_read(s->file, dst, cap, got, e);
    *got = 0;
    while (*got < cap) {
        size_t n = qw_resampler_pull(&s->rs, dst + *got, cap - *got);
        *got += n;
        if (*got == cap || s->rs.finished) break;
        size_t take = s->frames - s->pos < READ_BLOCK ? s->frames - s->pos : READ_BLOCK;
        if (take == 0) {
            qw_resampler_finish(&s->rs);
            continue;
        }
        qw_audio_downmix(s->pcm + s->pos * (size_t)s->channels, take, s->channels, s->block);
        for (size_t i = 0; i < take; i++)
            if (!(s->block[i] >= -1e6f && s->block[i] <= 1e6f)) s->block[i] = 0.0f;
        s->pos += take;
        qwglm_status rc = qw_resampler_push(&s->rs, s->block, take, e);
        if (rc) return rc;
    }
    return QWGLM_OK;
}

/* Fills buf[*len..cap) from the source; *ended when it ran dry. */
static qwglm_status fill(struct source *s, float *buf, size_t cap, size_t *len, bool *ended, int64_t *total,
                         double max_samples, struct qw_err *e)
{
    while (*len < cap && !*ended) {
        size_t got;
        qwglm_status rc = source_read(s, buf + *len, cap - *len, &got, e);
        if (rc) return rc;
        if (got == 0) *ended = true;
        *len += got;
        *total += (int64_t)got;
        if (max_samples > 0 && (double)*total > max_samples)
            return qw_fail(e, QWGLM_ERR_ARG, "audio longer than the limit of %.0f s", max_samples / 16000.0);
    }
    return QWGLM_OK;
}

static qwglm_status transcribe(qwglm_asr *a, struct source *s, qwglm_asr_result **out, struct qw_err *e)
{
    const int sr = a->model.cfg.sample_rate, fs = a->frame_samples;
    size_t chunk = a->p.chunk_seconds > 0 ? (size_t)llround(a->p.chunk_seconds * sr / fs) * (size_t)fs : 0;
    size_t overlap = a->p.overlap_seconds > 0 ? (size_t)llround(a->p.overlap_seconds * sr / fs) * (size_t)fs : 0;
    if (chunk && chunk < 4 * (size_t)fs) chunk = 4 * (size_t)fs;
    if (overlap >= chunk / 2) overlap = chunk / 2 / fs * fs;
    double max_samples = a->p.max_seconds > 0 ? a->p.max_seconds * sr : 0;
    size_t cap = chunk ? chunk + 1 : 1 << 20, len = 0;
    float *buf = qw_malloc(cap * sizeof(float));
    struct parakeet_token *toks = NULL;
    int n = 0, tcap = 0;
    int64_t total = 0, base = 0; /* base: absolute sample index of buf[0] */
    bool ended = false;
    qwglm_status rc = buf ? QWGLM_OK : qw_fail(e, QWGLM_ERR_NOMEM, "audio buffer");
    if (!chunk) {
        /* no windows: the whole input at once, in a growing buffer */
        while (!rc && !ended) {
            rc = fill(s, buf, cap, &len, &ended, &total, max_samples, e);
            if (!rc && !ended && len == cap) {
                float *g = cap > SIZE_MAX / 8 ? NULL : qw_realloc(buf, cap * 2 * sizeof(float));
                if (!g) rc = qw_fail(e, QWGLM_ERR_NOMEM, "audio buffer");
                else buf = g, cap *= 2;
            }
        }
        if (!rc) rc = asr_run(a, buf, len, 0, &toks, &n, &tcap, NULL, NULL, NULL, NULL, e);
    } else {
        rc = rc ? rc : fill(s, buf, cap, &len, &ended, &total, max_samples, e);
        if (!rc && ended) {
            rc = asr_run(a, buf, len, 0, &toks, &n, &tcap, NULL, NULL, NULL, NULL, e); /* one pass */
        } else {
            const size_t step = chunk - overlap;
            for (bool first = true; !rc; first = false) {
                size_t win = len < chunk ? len : chunk;
                bool last = ended && len <= chunk;
                int keep_from = n;
                int64_t f0 = base / fs;
                rc = asr_run(a, buf, win, f0, &toks, &n, &tcap, NULL, NULL, NULL, NULL, e);
                if (rc) break;
                /* keep tokens whose frame lies in this window's own region */
                int64_t own_lo = first ? 0 : (base + (int64_t)overlap / 2) / fs;
                int64_t own_hi = last ? INT64_MAX : (base + (int64_t)(chunk - overlap / 2)) / fs;
                int w = keep_from;
                for (int i = keep_from; i < n; i++)
                    if (toks[i].frame >= own_lo && toks[i].frame < own_hi) toks[w++] = toks[i];
                n = w;
                qw_log(&a->log, QWGLM_LOG_DEBUG, "window at %.1f s: %d tokens kept", (double)base / sr, n - keep_from);
                if (last) break;
                memmove(buf, buf + step, (len - step) * sizeof(float));
                len -= step;
                base += (int64_t)step;
                rc = fill(s, buf, chunk, &len, &ended, &total, max_samples, e);
                if (!rc && len <= overlap) break; /* the rest was already covered by the previous window */
            }
        }
    }
    if (!rc && total == 0) rc = qw_fail(e, QWGLM_ERR_FORMAT, "no audio samples");
    if (!rc) rc = asr_result_build(a, toks, n, (double)total / sr, out, e);
    qw_free(buf);
    qw_free(toks);
    return rc;
}

qwglm_status qwglm_asr_transcribe_pcm(qwglm_asr *a, const float *pcm, size_t n_frames, int sample_rate,
                                      int channels, qwglm_asr_result **out, char *err)
{
    struct qw_err e = {0};
    *out = NULL;
    struct source s = {0};
    qwglm_status rc = QWGLM_OK;
    if (channels < 1 || channels > QW_AUDIO_MAX_CHANNELS)
        rc = qw_fail(&e, QWGLM_ERR_ARG, "pcm: %d channels (1 to %d)", channels, QW_AUDIO_MAX_CHANNELS);
    else if (!pcm && n_frames)
        rc = qw_fail(&e, QWGLM_ERR_ARG, "pcm: no samples");
    else if (n_frames == 0)
        rc = qw_fail(&e, QWGLM_ERR_FORMAT, "pcm: no audio samples");
    else if (a->p.max_seconds > 0 && (double)n_frames / sample_rate > a->p.max_seconds)
        rc = qw_fail(&e, QWGLM_ERR_ARG, "pcm: %.1f s of audio, more than the limit of %.0f s",
                     (double)n_frames / sample_rate, a->p.max_seconds);
    if (!rc) rc = qw_resampler_init(&s.rs, sample_rate, a->model.cfg.sample_rate, &e);
    if (!rc) {
        s.pcm = pcm;
        s.frames = n_frames;
        s.channels = channels;
        s.block = qw_malloc(READ_BLOCK * sizeof(float));
        rc = s.block ? transcribe(a, &s, out, &e) : qw_fail(&e, QWGLM_ERR_NOMEM, "pcm block");
    }
    qw_free(s.block);
    qw_resampler_free(&s.rs);
    qw_err_copy(err, &e);
    return rc;
}

static qwglm_status transcribe_reader(qwglm_asr *a, struct qw_audio_reader *r, qwglm_asr_result **out,
                                      struct qw_err *e)
{
    struct source s = {0};
    s.file = r;
    const struct qw_audio_info *info = qw_audio_reader_info(r);
    qw_log(&a->log, QWGLM_LOG_DEBUG, "%s, %d Hz, %d channels", info->format, info->sample_rate, info->channels);
    qwglm_status rc = transcribe(a, &s, out, e);
    qw_audio_close(r);
    return rc;
}

qwglm_status qwglm_asr_transcribe_file(qwglm_asr *a, const char *path, qwglm_asr_result **out, char *err)
{
    struct qw_err e = {0};
    *out = NULL;
    struct qw_audio_reader *r;
    struct qw_audio_limits lim = {a->p.max_seconds, a->p.max_file_bytes};
    qwglm_status rc = qw_audio_open_file(&r, path, a->model.cfg.sample_rate, &lim, &e);
    if (!rc) rc = transcribe_reader(a, r, out, &e);
    qw_err_copy(err, &e);
    return rc;
}

qwglm_status qwglm_asr_transcribe_memory(qwglm_asr *a, const void *data, size_t n, const char *name,
                                         qwglm_asr_result **out, char *err)
{
    struct qw_err e = {0};
    *out = NULL;
    struct qw_audio_reader *r;
    struct qw_audio_limits lim = {a->p.max_seconds, a->p.max_file_bytes};
    qwglm_status rc = qw_audio_open_memory(&r, data, n, name, a->model.cfg.sample_rate, &lim, &e);
    if (!rc) rc = transcribe_reader(a, r, out, &e);
    qw_err_copy(err, &e);
    return rc;
}

/* ---- results ---- */

static char *span_text(const qwglm_asr_token *t, int n)
{
    struct qw_str s = {0};
    for (int i = 0; i < n; i++) qw_str_puts(&s, t[i].text);
    if (s.failed) {
        qw_str_free(&s);
        return NULL;
    }
    char *z = qw_str_take(&s);
    if (!z) return NULL;
    size_t lead = 0;
    while (z[lead] == ' ') lead++;
    memmove(z, z + lead, strlen(z + lead) + 1);
    return z;
}

static bool ends_sentence(const char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ') n--;
    return n && (s[n - 1] == '.' || s[n - 1] == '?' || s[n - 1] == '!');
}

qwglm_status asr_result_build(const struct qwglm_asr *a, const struct parakeet_token *toks, int n, double duration,
                              qwglm_asr_result **out, struct qw_err *e)
{
    qwglm_asr_result *r = qw_calloc(1, sizeof *r);
    if (!r) return qw_fail(e, QWGLM_ERR_NOMEM, "result");
    r->duration = duration;
    r->tokens = qw_calloc((size_t)(n ? n : 1), sizeof *r->tokens);
    r->words = qw_calloc((size_t)(n ? n : 1), sizeof *r->words);
    r->segments = qw_calloc((size_t)(n ? n : 1), sizeof *r->segments);
    struct qw_str text = {0};
    if (!r->tokens || !r->words || !r->segments) goto nomem;
    const double fs = a->frame_seconds;
    for (int i = 0; i < n; i++) {
        int id = toks[i].id;
        if (id < 0 || id >= a->vocab.n || a->vocab.special[id]) continue;
        qwglm_asr_token *t = &r->tokens[r->n_tokens];
        const char *piece = a->vocab.text[id];
        if (r->n_tokens == 0 && piece[0] == ' ') piece++; /* Metaspace: the first token's space is dropped */
        if (!(t->text = qw_strndup(piece, strlen(piece)))) goto nomem;
        qw_str_puts(&text, piece);
        t->id = id;
        t->frame = toks[i].frame;
        t->duration = toks[i].duration;
        t->start = t->frame * fs;
        t->end = (t->frame + t->duration) * fs;
        if (r->n_tokens > 0 && asr_text_is_punct(piece)) t->start = t->end = r->tokens[r->n_tokens - 1].end;
        r->n_tokens++;
    }
    if (text.failed) goto nomem;
    r->text = text.data ? qw_str_take(&text) : qw_strndup("", 0);
    if (!r->text) goto nomem;
    /* words: a token starting with a space opens one; punctuation joins the word before it */
    for (int i = 0; i < r->n_tokens;) {
        int j = i + 1;
        while (j < r->n_tokens && r->tokens[j].text[0] != ' ') j++;
        qwglm_asr_span *w = &r->words[r->n_words++];
        w->first_token = i;
        w->n_tokens = j - i;
        w->start = r->tokens[i].start;
        w->end = r->tokens[j - 1].end;
        if (!(w->text = span_text(&r->tokens[i], j - i))) goto nomem;
        i = j;
    }
    for (int i = 0; i < r->n_words;) {
        int j = i;
        while (j < r->n_words - 1 && !ends_sentence(r->words[j].text)) j++;
        qwglm_asr_span *sg = &r->segments[r->n_segments++];
        sg->first_token = r->words[i].first_token;
        sg->n_tokens = r->words[j].first_token + r->words[j].n_tokens - sg->first_token;
        sg->start = r->words[i].start;
        sg->end = r->words[j].end;
        if (!(sg->text = span_text(&r->tokens[sg->first_token], sg->n_tokens))) goto nomem;
        i = j + 1;
    }
    *out = r;
    return QWGLM_OK;
nomem:
    qw_str_free(&text);
    qwglm_asr_result_free(r);
    return qw_fail(e, QWGLM_ERR_NOMEM, "result");
}

void qwglm_asr_result_free(qwglm_asr_result *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_tokens; i++) qw_free((void *)r->tokens[i].text);
    for (int i = 0; i < r->n_words; i++) qw_free((void *)r->words[i].text);
    for (int i = 0; i < r->n_segments; i++) qw_free((void *)r->segments[i].text);
    qw_free(r->tokens);
    qw_free(r->words);
    qw_free(r->segments);
    qw_free(r->text);
    qw_free(r);
}

/* Shortest decimal that reads back as the same double (as Python's repr prints it). */
static void put_num(struct qw_str *s, double v)
{
    char b[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    qw_str_puts(s, b);
}

char *qwglm_asr_result_json(const qwglm_asr_result *r, int flags)
{
    struct qw_str s = {0};
    qw_str_puts(&s, "{\"text\":");
    qw_str_json(&s, r->text, strlen(r->text));
    qw_str_puts(&s, ",\"duration\":");
    put_num(&s, r->duration);
    const char *arrays[3] = {"tokens", "token_frames", "token_durations"};
    for (int k = 0; k < 3; k++) {
        qw_str_printf(&s, ",\"%s\":[", arrays[k]);
        for (int i = 0; i < r->n_tokens; i++) {
            const qwglm_asr_token *t = &r->tokens[i];
            qw_str_printf(&s, "%s%d", i ? "," : "", k == 0 ? t->id : k == 1 ? t->frame : t->duration);
        }
        qw_str_putc(&s, ']');
    }
    if (flags & QWGLM_ASR_JSON_TIMESTAMPS) {
        qw_str_puts(&s, ",\"timestamps\":[");
        for (int i = 0; i < r->n_tokens; i++) {
            qw_str_puts(&s, i ? ",{\"token\":" : "{\"token\":");
            qw_str_json(&s, r->tokens[i].text, strlen(r->tokens[i].text));
            qw_str_puts(&s, ",\"start\":");
            put_num(&s, r->tokens[i].start);
            qw_str_puts(&s, ",\"end\":");
            put_num(&s, r->tokens[i].end);
            qw_str_putc(&s, '}');
        }
        qw_str_putc(&s, ']');
    }
    if (flags & QWGLM_ASR_JSON_WORDS) {
        for (int k = 0; k < 2; k++) {
            const qwglm_asr_span *sp = k ? r->segments : r->words;
            int cnt = k ? r->n_segments : r->n_words;
            qw_str_puts(&s, k ? ",\"segments\":[" : ",\"words\":[");
            for (int i = 0; i < cnt; i++) {
                if (k) qw_str_printf(&s, "%s{\"id\":%d,\"text\":", i ? "," : "", i);
                else qw_str_puts(&s, i ? ",{\"word\":" : "{\"word\":");
                qw_str_json(&s, sp[i].text, strlen(sp[i].text));
                qw_str_puts(&s, ",\"start\":");
                put_num(&s, sp[i].start);
                qw_str_puts(&s, ",\"end\":");
                put_num(&s, sp[i].end);
                qw_str_putc(&s, '}');
            }
            qw_str_putc(&s, ']');
        }
    }
    qw_str_putc(&s, '}');
    if (s.failed) {
        qw_str_free(&s);
        return NULL;
    }
    return qw_str_take(&s);
}

void qwglm_asr_json_free(char *json) { qw_free(json); }
