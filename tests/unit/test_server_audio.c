/* Unit tests of the audio endpoints' request layer: multipart/form-data parsing, the transcription form and
 * its response formats, the speech request, the WAV stream header and the VAD sessions. The endpoints end to
 * end (with the parakeet-micro and piper-micro fixtures) are tested from web/tests/audio.test.mjs. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "server/api.h"
#include "server/audio.h"
#include "server/multipart.h"
#include "test.h"

/* ---- multipart ---- */

static qwglm_status parse_form(const char *ct, const char *body, struct mp_form *f, struct qw_err *e)
{
    char b[MP_MAX_BOUNDARY + 1];
    qwglm_status st = mp_boundary(ct, b, e);
    return st ? st : mp_parse(b, (const uint8_t *)body, strlen(body), f, e);
}

static bool part_is(const struct mp_part *p, const char *data)
{
    return p && p->size == strlen(data) && memcmp(p->data, data, p->size) == 0;
}

static void test_boundary(void)
{
    char b[MP_MAX_BOUNDARY + 1];
    struct qw_err e = {0};
    CHECK(mp_boundary("multipart/form-data; boundary=abc", b, &e) == QWGLM_OK && strcmp(b, "abc") == 0);
    CHECK(mp_boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\"", b, &e) == QWGLM_OK &&
          strcmp(b, "a b:c") == 0);
    CHECK(mp_boundary("multipart/form-data; boundary=\"q\\\"x\"", b, &e) == QWGLM_OK &&
          strcmp(b, "q\"x") == 0);
    const char *bad[] = {
        NULL,
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"unterminated",
        "multipart/form-data; boundary=\"ends in space \"",
        "multipart/mixed; boundary=x",
        "multipart/form-data; boundary=01234567890123456789012345678901234567890123456789012345678901234"
        "567890"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct qw_err e2 = {0};
        CHECKF(mp_boundary(bad[i], b, &e2) == QWGLM_ERR_FORMAT && e2.msg[0], "case %zu", i);
    }
}

static void test_multipart(void)
{
    static struct mp_form f;
    struct qw_err e = {0};
    const char *ct = "multipart/form-data; boundary=XyZ";
    const char *body = "preamble\r\n--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
                       "parakeet\r\n"
                       "--XyZ  \r\n"
                       "content-disposition: form-data; name=file; filename=\"a \\\"b\\\".wav\"\r\n"
                       "Content-Type: audio/wav\r\n\r\n"
                       "RIFF\r\n--XyZx\r\n\0bytes\r\n"
                       "--XyZ--\r\nepilogue";
    size_t n = strlen(body) + strlen(body + strlen(body) + 1) + 1; /* the body holds a NUL byte */
    char bnd[MP_MAX_BOUNDARY + 1];
    CHECK(mp_boundary(ct, bnd, &e) == QWGLM_OK);
    CHECKF(mp_parse(bnd, (const uint8_t *)body, n, &f, &e) == QWGLM_OK, "%s", e.msg);
    CHECK(f.n_parts == 2);
    CHECK(part_is(mp_find(&f, "model"), "parakeet") && !mp_find(&f, "model")->has_filename);
    const struct mp_part *file = mp_find(&f, "file");
    CHECK(file && file->has_filename && strcmp(file->filename, "a \"b\".wav") == 0);
    CHECK(file && strcmp(file->content_type, "audio/wav") == 0);
    CHECK(file && file->size == 20 && memcmp(file->data, "RIFF\r\n--XyZx\r\n\0bytes", 20) == 0);
    char text[16];
    CHECK(mp_text(mp_find(&f, "model"), text, sizeof text) && strcmp(text, "parakeet") == 0);
    CHECK(!mp_text(mp_find(&f, "model"), text, 8)); /* does not fit */
    char wide[32];
    CHECK(!mp_text(file, wide, sizeof wide)); /* holds a NUL byte */
    CHECK(mp_find(&f, "nothing") == NULL);

    /* bare LF line ends, an empty part, filename* */
    CHECK(
        parse_form(
            ct,
            "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\n\n--XyZ\n"
            "Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''r%C3%A9sum%C3%A9.wav\n\nx\n--XyZ--",
            &f, &e) == QWGLM_OK);
    CHECK(f.n_parts == 2 && mp_find(&f, "a")->size == 0 && part_is(mp_find(&f, "f"), "x"));
    CHECK(strcmp(mp_find(&f, "f")->filename, "r%C3%A9sum%C3%A9.wav") == 0);
    CHECK(parse_form(ct, "--XyZ--", &f, &e) == QWGLM_OK && f.n_parts == 0);

    const char *bad[] = {
        "no boundary at all",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue without an end",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--XyZ",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"",
        "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nNoColonHere\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZjunk",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZ\r",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: \x01\r\n\r\nx\r\n--XyZ--",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct qw_err e2 = {0};
        CHECKF(parse_form(ct, bad[i], &f, &e2) == QWGLM_ERR_FORMAT && e2.msg[0], "case %zu", i);
    }

    /* bounds: parts, header bytes, name length */
    struct qw_str s = {0};
    for (int i = 0; i <= MP_MAX_PARTS; i++)
        qw_str_printf(&s, "--XyZ\r\nContent-Disposition: form-data; name=p%d\r\n\r\n\r\n", i);
    qw_str_puts(&s, "--XyZ--");
    struct qw_err e3 = {0};
    CHECK(parse_form(ct, s.data, &f, &e3) == QWGLM_ERR_FORMAT && strstr(e3.msg, "parts"));
    qw_str_clear(&s);
    qw_str_puts(&s, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n");
    for (int i = 0; i < 400; i++) qw_str_puts(&s, "X-Padding: 0123456789012345678901234\r\n");
    qw_str_puts(&s, "\r\nx\r\n--XyZ--");
    struct qw_err e4 = {0};
    CHECK(parse_form(ct, s.data, &f, &e4) == QWGLM_ERR_FORMAT && strstr(e4.msg, "headers longer"));
    qw_str_clear(&s);
    qw_str_puts(&s, "--XyZ\r\nContent-Disposition: form-data; name=\"");
    for (int i = 0; i < 200; i++) qw_str_putc(&s, 'n');
    qw_str_puts(&s, "\"\r\n\r\nx\r\n--XyZ--");
    struct qw_err e5 = {0};
    CHECK(parse_form(ct, s.data, &f, &e5) == QWGLM_ERR_FORMAT && strstr(e5.msg, "field name"));
    qw_str_free(&s);
}

/* ---- transcriptions ---- */

static void test_transcription_form(void)
{
    static struct mp_form f;
    struct qw_err e = {0};
    struct api_transcription t;
    struct api_error err;
    const char *ct = "multipart/form-data; boundary=b";
    CHECK(
        parse_form(ct,
                   "--b\r\nContent-Disposition: form-data; name=file; filename=x.wav\r\n\r\nRIFFdata\r\n"
                   "--b\r\nContent-Disposition: form-data; name=response_format\r\n\r\nverbose_json\r\n"
                   "--b\r\nContent-Disposition: form-data; name=language\r\n\r\nde\r\n"
                   "--b\r\nContent-Disposition: form-data; name=temperature\r\n\r\n0.0\r\n"
                   "--b\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n"
                   "--b\r\nContent-Disposition: form-data; name=unknown\r\n\r\nignored\r\n--b--",
                   &f, &e) == QWGLM_OK);
    CHECK(api_parse_transcription(&f, &t, &err));
    CHECK(t.file_size == 8 && memcmp(t.file, "RIFFdata", 8) == 0 && strcmp(t.filename, "x.wav") == 0);
    CHECK(t.format == API_TRANSCRIPT_VERBOSE_JSON && strcmp(t.language, "de") == 0);

    static const struct {
        const char *body, *param;
    } bad[] = {
        {"--b\r\nContent-Disposition: form-data; name=model\r\n\r\nm\r\n--b--", "file"},
        {"--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\n\r\n--b--", "file"},
        {"--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\nA\r\n--b\r\n"
         "Content-Disposition: form-data; name=response_format\r\n\r\nmp3\r\n--b--",
         "response_format"},
        {"--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\nA\r\n--b\r\n"
         "Content-Disposition: form-data; name=stream\r\n\r\ntrue\r\n--b--",
         "stream"},
        {"--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\nA\r\n--b\r\n"
         "Content-Disposition: form-data; name=temperature\r\n\r\nhot\r\n--b--",
         "temperature"},
        {"--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\nA\r\n--b\r\n"
         "Content-Disposition: form-data; name=model; filename=m\r\n\r\nm\r\n--b--",
         "model"},
        {"--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\nA\r\n--b\r\n"
         "Content-Disposition: form-data; name=timestamp_granularities[]\r\n\r\nchar\r\n--b--",
         "timestamp_granularities"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse_form(ct, bad[i].body, &f, &e) == QWGLM_OK);
        CHECKF(!api_parse_transcription(&f, &t, &err) && err.status == 400 &&
                   strcmp(err.param, bad[i].param) == 0,
               "case %zu: %s", i, err.message);
    }
}

static void test_transcription_format(void)
{
    qwglm_asr_token tokens[3] = {{.id = 5, .start = 0.4, .end = 0.5, .text = " Hi"},
                                 {.id = 6, .start = 0.5, .end = 0.5, .text = "."},
                                 {.id = 7, .start = 3725.25, .end = 3726.5, .text = " Yes"}};
    qwglm_asr_span words[2] = {{0.4, 0.5, "Hi.", 0, 2}, {3725.25, 3726.5, "Yes", 2, 1}};
    qwglm_asr_span segs[2] = {{0.4, 0.5, "Hi.", 0, 2}, {3725.25, 3726.5, "Yes", 2, 1}};
    qwglm_asr_result r = {.text = "Hi. Yes",
                          .n_tokens = 3,
                          .tokens = tokens,
                          .n_words = 2,
                          .words = words,
                          .n_segments = 2,
                          .segments = segs,
                          .duration = 3727.2};
    struct api_transcription t = {.format = API_TRANSCRIPT_JSON};
    static const char *const want[] = {
        "{\"text\":\"Hi. Yes\",\"usage\":{\"type\":\"duration\",\"seconds\":3728}}",
        "Hi. Yes\n",
        "{\"task\":\"transcribe\",\"language\":\"unknown\",\"duration\":3727.200,\"text\":\"Hi. "
        "Yes\",\"segments\":["
        "{\"id\":0,\"seek\":0,\"start\":0.400,\"end\":0.500,\"text\":\"Hi.\",\"tokens\":[5,6],"
        "\"temperature\":0.0},"
        "{\"id\":1,\"seek\":0,\"start\":3725.250,\"end\":3726.500,\"text\":\"Yes\",\"tokens\":[7],"
        "\"temperature\":0.0}"
        "],\"words\":[{\"word\":\"Hi.\",\"start\":0.400,\"end\":0.500},{\"word\":\"Yes\",\"start\":3725.250,"
        "\"end\":3726.500}],\"usage\":{\"type\":\"duration\",\"seconds\":3728}}",
        "1\n00:00:00,400 --> 00:00:00,500\nHi.\n\n2\n01:02:05,250 --> 01:02:06,500\nYes\n\n",
        "WEBVTT\n\n00:00:00.400 --> 00:00:00.500\nHi.\n\n01:02:05.250 --> 01:02:06.500\nYes\n\n",
    };
    static const char *const types[] = {"application/json", "text/plain; charset=utf-8", "application/json",
                                        "application/x-subrip; charset=utf-8", "text/vtt; charset=utf-8"};
    for (int k = 0; k < API_TRANSCRIPT_FORMAT_COUNT; k++) {
        t.format = (enum api_transcript_format)k;
        struct qw_str s = {0};
        const char *type;
        CHECK(api_format_transcription(&r, &t, &s, &type));
        CHECKF(s.data && strcmp(s.data, want[k]) == 0, "format %d: %s", k, s.data);
        CHECK(strcmp(type, types[k]) == 0);
        qw_str_free(&s);
    }
}

/* ---- speech ---- */

static bool speech(const char *json, struct api_speech *sp, struct api_error *err)
{
    return api_parse_speech(json, strlen(json), sp, err);
}

static void test_speech(void)
{
    struct api_speech sp;
    struct api_error err;
    CHECK(speech("{\"model\":\"tts-1\",\"input\":\"Hi.\",\"voice\":\"alloy\",\"extra\":1}", &sp, &err));
    CHECK(strcmp(sp.input, "Hi.") == 0 && strcmp(sp.voice, "alloy") == 0 && strcmp(sp.model, "tts-1") == 0);
    CHECK(sp.format == API_SPEECH_WAV && sp.speed == 1.0f && isnan(sp.noise_scale) && isnan(sp.noise_w) &&
          !sp.has_seed);
    api_speech_free(&sp);
    CHECK(speech("{\"input\":\"x\",\"voice\":{\"id\":\"v\"},\"response_format\":\"pcm\",\"speed\":1.3,"
                 "\"noise_scale\":0,\"noise_w\":0,\"seed\":-1,\"stream_format\":\"audio\"}",
                 &sp, &err));
    CHECK(strcmp(sp.voice, "v") == 0 && sp.format == API_SPEECH_PCM && fabsf(sp.speed - 1.3f) < 1e-6f);
    CHECK(sp.noise_scale == 0 && sp.noise_w == 0 && sp.has_seed && sp.seed == UINT64_MAX);
    api_speech_free(&sp);

    struct qw_str big = {0};
    qw_str_puts(&big, "{\"input\":\"");
    for (int i = 0; i < API_MAX_SPEECH_CHARS; i++) qw_str_puts(&big, "\xc3\xa9"); /* 2 bytes, 1 character */
    qw_str_puts(&big, "\"}");
    CHECK(speech(big.data, &sp, &err)); /* at the limit */
    api_speech_free(&sp);
    big.len -= 2;
    big.data[big.len] = 0;
    qw_str_puts(&big, "e\"}");
    CHECK(!speech(big.data, &sp, &err) && strcmp(err.param, "input") == 0 && strstr(err.message, "4097"));
    qw_str_free(&big);

    static const struct {
        const char *json, *param;
    } bad[] = {
        {"[1]", ""},
        {"{\"input\":", ""},
        {"{}", "input"},
        {"{\"input\":5}", "input"},
        {"{\"input\":\" \\n \"}", "input"},
        {"{\"input\":\"a\\u0000b\"}", "input"},
        {"{\"input\":\"a\",\"voice\":7}", "voice"},
        {"{\"input\":\"a\",\"response_format\":\"mp3\"}", "response_format"},
        {"{\"input\":\"a\",\"response_format\":1}", "response_format"},
        {"{\"input\":\"a\",\"speed\":5}", "speed"},
        {"{\"input\":\"a\",\"speed\":\"fast\"}", "speed"},
        {"{\"input\":\"a\",\"noise_w\":-1}", "noise_w"},
        {"{\"input\":\"a\",\"seed\":1.5}", "seed"},
        {"{\"input\":\"a\",\"stream_format\":\"sse\"}", "stream_format"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        CHECKF(!speech(bad[i].json, &sp, &err) && err.status == 400 && strcmp(err.param, bad[i].param) == 0,
               "case %zu: %s", i, err.message);
        CHECK(sp.input == NULL);
    }

    uint8_t h[44];
    api_wav_header(h, 22050);
    CHECK(memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WAVEfmt ", 8) == 0 && memcmp(h + 36, "data", 4) == 0);
    CHECK(h[24] == (22050 & 0xff) && h[25] == (22050 >> 8) && h[22] == 1 && h[34] == 16);
    CHECK(h[40] == 0xdb && h[41] == 0xff && h[42] == 0xff && h[43] == 0xff); /* 0xffffffff - 36 */
}

/* ---- VAD sessions ---- */

static void test_vad_sessions(void)
{
    struct audio_config c = {.workers = 1};
    struct audio_engines *a;
    struct qw_err e = {0};
    REQUIRE(audio_open(&c, NULL, NULL, &a, &e) == QWGLM_OK);
    CHECK(!audio_has_asr(a) && !audio_has_tts(a));
    /* 0.5 s of silence, 1 s of a tone, 1 s of silence at 16 kHz, fed in 100 ms blocks, beside the engine's
     * VAD */
    enum { RATE = 16000, N = RATE * 5 / 2, BLOCK = RATE / 10 };
    static float pcm[N];
    for (int i = RATE / 2; i < RATE * 3 / 2; i++) pcm[i] = 0.3f * sinf(2 * 3.14159265f * 220 * i / RATE);
    qwglm_vad_params p = qwglm_vad_default_params(RATE);
    qwglm_vad *ref = qwglm_vad_create(&p);
    REQUIRE(ref);
    struct qw_str want = {0}, got = {0};
    for (int off = 0; off < N; off += BLOCK) {
        qwglm_vad_event ev[16];
        int k = qwglm_vad_feed(ref, pcm + off, BLOCK, ev, 16);
        for (int i = 0; i < k; i++)
            qw_str_printf(&want, "{\"type\":\"%s\",\"sample\":%lld}",
                          ev[i].type == QWGLM_VAD_SPEECH_START ? "speech_start" : "speech_end",
                          (long long)ev[i].sample);
        struct qw_str out = {0};
        struct api_error err;
        CHECK(audio_vad_feed(a, "session-1", RATE, off == 0, pcm + off, BLOCK, &out, &err));
        CHECK(strstr(out.data, off == 0 ? "\"new\":true" : "\"new\":false") != NULL);
        const char *evs = strstr(out.data, "[") + 1, *end = strstr(out.data, "]");
        if (end > evs) qw_str_append(&got, evs, (size_t)(end - evs));
        if (off + BLOCK >= N) CHECK(strstr(out.data, "\"position\":40000"));
        qw_str_free(&out);
    }
    CHECK(want.data && strstr(want.data, "speech_start") && strstr(want.data, "speech_end"));
    /* the server's concatenated events, with their separating commas removed, are the engine's */
    struct qw_str flat = {0};
    for (size_t i = 0; got.data && i < got.len; i++)
        if (!(got.data[i] == ',' && i > 0 && got.data[i - 1] == '}')) qw_str_putc(&flat, got.data[i]);
    CHECKF(flat.data && want.data && strcmp(flat.data, want.data) == 0, "%s vs %s", flat.data, want.data);
    qw_str_free(&want);
    qw_str_free(&got);
    qw_str_free(&flat);
    qwglm_vad_free(ref);

    struct qw_str out = {0};
    struct api_error err;
    CHECK(!audio_vad_feed(a, "short", RATE, false, pcm, 10, &out, &err) && err.status == 400);
    CHECK(!audio_vad_feed(a, "bad id with spaces", RATE, false, pcm, 10, &out, &err) && err.status == 400);
    CHECK(!audio_vad_feed(a, "session-1", 100, false, pcm, 10, &out, &err) && err.status == 400);
    /* more sessions than the table holds: the least recently used one starts over */
    for (int i = 0; i <= VAD_MAX_SESSIONS; i++) {
        char id[32];
        snprintf(id, sizeof id, "session-%03d", i);
        qw_str_clear(&out);
        CHECK(audio_vad_feed(a, id, RATE, false, pcm, 160, &out, &err));
    }
    qw_str_clear(&out);
    CHECK(audio_vad_feed(a, "session-000", RATE, false, pcm, 160, &out, &err) &&
          strstr(out.data, "\"new\":true"));
    qw_str_free(&out);

    struct api_error verr;
    int speaker;
    CHECK(audio_voice_find(a, "nobody", &speaker, &verr) < 0 && verr.status == 400);
    audio_free(a);
}

int main(void)
{
    test_boundary();
    test_multipart();
    test_transcription_form();
    test_transcription_format();
    test_speech();
    test_vad_sessions();
    return test_report("test_server_audio");
}
