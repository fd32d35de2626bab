/* The audio endpoints' request layer: the multipart form of POST /v1/audio/transcriptions, the JSON body of
 * POST /v1/audio/speech, and the transcription response formats. Works on untrusted bytes and never aborts;
 * tests/fuzz/fuzz_multipart.c drives the form path, tests/fuzz/fuzz_api.c the speech body. */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "format/json.h"

/* ---- transcriptions ---- */

static const char *const transcript_formats[] = {"json", "text", "verbose_json", "srt", "vtt"};
_Static_assert(sizeof transcript_formats / sizeof transcript_formats[0] == API_TRANSCRIPT_FORMAT_COUNT,
               "one name per format");

/* A short text field into out; absent fields leave out as it is. */
static bool form_text(const struct mp_form *f, const char *name, char *out, size_t cap, struct api_error *err)
{
    const struct mp_part *p = mp_find(f, name);
    if (!p) return true;
    if (p->has_filename) return api_fail(err, 400, name, "'%s' must be a text field, not a file", name);
    if (!mp_text(p, out, cap))
        return api_fail(err, 400, name, "'%s' is longer than %zu bytes or holds a NUL byte", name, cap - 1);
    return true;
}

bool api_parse_transcription(const struct mp_form *f, struct api_transcription *t, struct api_error *err)
{
    memset(t, 0, sizeof *t);
    const struct mp_part *file = mp_find(f, "file");
    if (!file)
        return api_fail(err, 400, "file", "'file' is required: the audio to transcribe, as a file part");
    if (file->size == 0) return api_fail(err, 400, "file", "'file' is empty");
    t->file = file->data;
    t->file_size = file->size;
    snprintf(t->filename, sizeof t->filename, "%s", file->filename[0] ? file->filename : "file");

    char v[64] = "";
    if (!form_text(f, "model", t->model, sizeof t->model, err)) return false;
    if (!form_text(f, "language", t->language, sizeof t->language, err)) return false;
    if (!form_text(f, "response_format", v, sizeof v, err)) return false;
    t->format = API_TRANSCRIPT_JSON;
    if (v[0]) {
        int k = 0;
        while (k < API_TRANSCRIPT_FORMAT_COUNT && strcmp(v, transcript_formats[k]) != 0) k++;
        if (k == API_TRANSCRIPT_FORMAT_COUNT)
            return api_fail(
                err, 400, "response_format",
                "response_format '%.40s' is not supported; use json, text, verbose_json, srt or vtt", v);
        t->format = (enum api_transcript_format)k;
    }
    v[0] = 0;
    if (!form_text(f, "temperature", v, sizeof v, err)) return false;
    if (v[0]) {
        char *end;
        double d = strtod(v, &end);
        if (*end || !(d >= 0 && d <= 1))
            return api_fail(err, 400, "temperature",
                            "'temperature' is '%.40s'; it must be a number in [0, 1]", v);
    }
    v[0] = 0;
    if (!form_text(f, "stream", v, sizeof v, err)) return false;
    if (strcmp(v, "true") == 0)
        return api_fail(err, 400, "stream", "streamed transcriptions are not supported; leave 'stream' out");
    for (int i = 0; i < f->n_parts; i++) {
        const struct mp_part *p = &f->parts[i];
        if (strcmp(p->name, "timestamp_granularities[]") != 0 &&
            strcmp(p->name, "timestamp_granularities") != 0)
            continue;
        char g[16];
        if (!mp_text(p, g, sizeof g) || (strcmp(g, "word") != 0 && strcmp(g, "segment") != 0))
            return api_fail(err, 400, "timestamp_granularities",
                            "timestamp_granularities must be word or segment");
    }
    return true;
}

/* Seconds as SRT (00:00:01,234) or WebVTT (00:00:01.234) time. */
static void put_time(struct qw_str *s, double t, char sep)
{
    long long ms = t > 0 ? (long long)llround(t * 1000.0) : 0;
    qw_str_printf(s, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, sep,
                  ms % 1000);
}

static const char *skip_lead_space(const char *z)
{
    while (*z == ' ') z++;
    return z;
}

static void put_subtitles(const qwglm_asr_result *r, struct qw_str *s, bool vtt)
{
    if (vtt) qw_str_puts(s, "WEBVTT\n\n");
    for (int i = 0; i < r->n_segments; i++) {
        const qwglm_asr_span *sg = &r->segments[i];
        if (!vtt) qw_str_printf(s, "%d\n", i + 1);
        put_time(s, sg->start, vtt ? '.' : ',');
        qw_str_puts(s, " --> ");
        put_time(s, sg->end, vtt ? '.' : ',');
        qw_str_printf(s, "\n%s\n\n", skip_lead_space(sg->text));
    }
}

static void put_json_text(struct qw_str *s, const char *z)
{
    qw_str_json(s, z, strlen(z));
}

static void put_verbose(const qwglm_asr_result *r, const struct api_transcription *t, struct qw_str *s)
{
    qw_str_puts(s, "{\"task\":\"transcribe\",\"language\":");
    put_json_text(s, t->language[0] ? t->language : "unknown");
    qw_str_printf(s, ",\"duration\":%.3f,\"text\":", r->duration);
    put_json_text(s, r->text);
    qw_str_puts(s, ",\"segments\":[");
    for (int i = 0; i < r->n_segments; i++) {
        const qwglm_asr_span *sg = &r->segments[i];
        qw_str_printf(s, "%s{\"id\":%d,\"seek\":0,\"start\":%.3f,\"end\":%.3f,\"text\":", i ? "," : "", i,
                      sg->start, sg->end);
        put_json_text(s, sg->text);
        qw_str_puts(s, ",\"tokens\":[");
        for (int k = 0; k < sg->n_tokens; k++) {
            int ti = sg->first_token + k;
            if (ti >= 0 && ti < r->n_tokens) qw_str_printf(s, k ? ",%d" : "%d", r->tokens[ti].id);
        }
        qw_str_puts(s, "],\"temperature\":0.0}");
    }
    qw_str_puts(s, "],\"words\":[");
    for (int i = 0; i < r->n_words; i++) {
        const qwglm_asr_span *w = &r->words[i];
        qw_str_puts(s, i ? ",{\"word\":" : "{\"word\":");
        put_json_text(s, skip_lead_space(w->text));
        qw_str_printf(s, ",\"start\":%.3f,\"end\":%.3f}", w->start, w->end);
    }
    qw_str_printf(s, "],\"usage\":{\"type\":\"duration\",\"seconds\":%.0f}}", ceil(r->duration));
}

bool api_format_transcription(const qwglm_asr_result *r, const struct api_transcription *t, struct qw_str *s,
                              const char **content_type)
{
    *content_type = "application/json";
    switch (t->format) {
    case API_TRANSCRIPT_TEXT:
        *content_type = "text/plain; charset=utf-8";
        qw_str_puts(s, r->text);
        qw_str_putc(s, '\n');
        break;
    case API_TRANSCRIPT_VERBOSE_JSON:
        put_verbose(r, t, s);
        break;
    case API_TRANSCRIPT_SRT:
    case API_TRANSCRIPT_VTT:
        *content_type = t->format == API_TRANSCRIPT_SRT ? "application/x-subrip; charset=utf-8"
                                                        : "text/vtt; charset=utf-8";
        put_subtitles(r, s, t->format == API_TRANSCRIPT_VTT);
        break;
    default:
        qw_str_puts(s, "{\"text\":");
        put_json_text(s, r->text);
        qw_str_printf(s, ",\"usage\":{\"type\":\"duration\",\"seconds\":%.0f}}", ceil(r->duration));
        break;
    }
    return !s->failed;
}

/* ---- speech ---- */

/* Code points of a UTF-8 string (bytes that do not continue a sequence). */
static size_t utf8_count(const char *z, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)z[i] & 0xc0) != 0x80;
    return c;
}

/* A string field of at most cap - 1 bytes into out; absent or null leaves out empty. {"voice": {"id": ...}}
 * is how OpenAI's newer clients name custom voices. */
static bool short_string(const struct json_value *root, const char *key, char *out, size_t cap,
                         struct api_error *err)
{
    const struct json_value *v = json_get(root, key);
    if (json_is_null(v)) return true;
    if (v->type == JSON_OBJECT) v = json_get(v, "id");
    if (!v || v->type != JSON_STRING || v->n >= cap || memchr(v->u.str, 0, v->n))
        return api_fail(err, 400, key, "'%s' must be a string of at most %zu bytes", key, cap - 1);
    memcpy(out, v->u.str, (size_t)v->n + 1);
    return true;
}

bool api_parse_speech(const char *body, size_t n, struct api_speech *sp, struct api_error *err)
{
    memset(sp, 0, sizeof *sp);
    sp->speed = 1.0f;
    sp->noise_scale = sp->noise_w = NAN;
    struct json_doc doc;
    struct qw_err e = {0};
    if (json_parse(body, n, &doc, &e))
        return api_fail(err, e.status == QWGLM_ERR_NOMEM ? 500 : 400, NULL, "invalid JSON body: %s", e.msg);
    const struct json_value *root = &doc.root;
    bool ok = false;
    if (root->type != JSON_OBJECT) {
        api_fail(err, 400, NULL, "the request body must be a JSON object, not %s",
                 json_type_name(root->type));
        goto done;
    }
    const struct json_value *in = json_get(root, "input");
    if (!in) {
        api_fail(err, 400, "input", "'input' is required: the text to speak");
        goto done;
    }
    if (in->type != JSON_STRING) {
        api_fail(err, 400, "input", "'input' must be a string, not %s", json_type_name(in->type));
        goto done;
    }
    size_t chars = utf8_count(in->u.str, in->n), k = 0;
    while (k < in->n &&
           (in->u.str[k] == ' ' || in->u.str[k] == '\n' || in->u.str[k] == '\t' || in->u.str[k] == '\r'))
        k++;
    if (k == in->n) {
        api_fail(err, 400, "input", "'input' is empty");
        goto done;
    }
    if (chars > API_MAX_SPEECH_CHARS) {
        api_fail(err, 400, "input", "'input' has %zu characters; at most %d", chars, API_MAX_SPEECH_CHARS);
        goto done;
    }
    if (memchr(in->u.str, 0, in->n)) {
        api_fail(err, 400, "input", "'input' holds a NUL character");
        goto done;
    }
    if (!(sp->input = qw_strndup(in->u.str, in->n))) {
        api_fail(err, 500, NULL, "out of memory");
        goto done;
    }
    if (!short_string(root, "voice", sp->voice, sizeof sp->voice, err)) goto done;
    if (!short_string(root, "model", sp->model, sizeof sp->model, err)) goto done;
    const struct json_value *rf = json_get(root, "response_format");
    const char *fmt = json_string(rf);
    if (!json_is_null(rf) && !fmt) {
        api_fail(err, 400, "response_format", "'response_format' must be a string");
        goto done;
    }
    if (!fmt || strcmp(fmt, "wav") == 0)
        sp->format = API_SPEECH_WAV;
    else if (strcmp(fmt, "pcm") == 0)
        sp->format = API_SPEECH_PCM;
    else {
        api_fail(err, 400, "response_format", "response_format '%.40s' is not supported; use wav or pcm",
                 fmt);
        goto done;
    }
    const char *sf = json_string(json_get(root, "stream_format"));
    if (sf && strcmp(sf, "audio") != 0) {
        api_fail(err, 400, "stream_format", "stream_format '%.40s' is not supported; only 'audio'", sf);
        goto done;
    }
    if (!api_get_float(root, "speed", 0.25, 4.0, &sp->speed, err)) goto done;
    if (!api_get_float(root, "noise_scale", 0, 2, &sp->noise_scale, err)) goto done;
    if (!api_get_float(root, "noise_w", 0, 2, &sp->noise_w, err)) goto done;
    if (!json_is_null(json_get(root, "seed"))) {
        int64_t seed = 0;
        if (!api_get_int(root, "seed", INT64_MIN, INT64_MAX, &seed, err)) goto done;
        sp->has_seed = true;
        sp->seed = (uint64_t)seed;
    }
    ok = true;
done:
    json_doc_free(&doc);
    if (!ok) api_speech_free(sp);
    return ok;
}

void api_speech_free(struct api_speech *sp)
{
    qw_free(sp->input);
    sp->input = NULL;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void api_wav_header(uint8_t h[44], int sample_rate)
{
    uint32_t data =
        0xffffffffu - 36; /* a stream of unknown length: the largest sizes, as streaming tools write */
    memcpy(h, "RIFF", 4);
    put_u32(h + 4, data + 36);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_u32(h + 16, 16);
    h[20] = 1, h[21] = 0, h[22] = 1, h[23] = 0; /* PCM, mono */
    put_u32(h + 24, (uint32_t)sample_rate);
    put_u32(h + 28, (uint32_t)sample_rate * 2);
    h[32] = 2, h[33] = 0, h[34] = 16, h[35] = 0;
    memcpy(h + 36, "data", 4);
    put_u32(h + 40, data);
}
