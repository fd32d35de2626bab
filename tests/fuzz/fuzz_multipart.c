/* libFuzzer target: the audio endpoints' request layer on arbitrary bytes. The input is a Content-Type line,
 * a newline, and a body. A multipart/form-data type sends the body through the multipart parser and the
 * transcription form (and formats a response for the form that parsed); any other type sends it through the
 * speech request parser. */
#include <string.h>

#include "server/api.h"
#include "server/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mp_form form;

static void transcription(const char *type, const uint8_t *body, size_t n)
{
    char boundary[MP_MAX_BOUNDARY + 1];
    if (mp_boundary(type, boundary, NULL) || mp_parse(boundary, body, n, &form, NULL)) return;
    struct api_transcription t;
    struct api_error err;
    if (!api_parse_transcription(&form, &t, &err)) return;
    /* a result made of the file's own bytes, so that odd text reaches the formatters */
    char text[64];
    size_t tn = t.file_size < sizeof text - 1 ? t.file_size : sizeof text - 1;
    memcpy(text, t.file, tn);
    text[tn] = 0;
    qwglm_asr_token tok = {.id = 1, .start = 0.1, .end = (double)t.file_size, .text = text};
    qwglm_asr_span span = {0.1, (double)t.file_size, text, 0, 1};
    qwglm_asr_result r = {.text = text,
                          .n_tokens = 1,
                          .tokens = &tok,
                          .n_words = 1,
                          .words = &span,
                          .n_segments = 1,
                          .segments = &span,
                          .duration = (double)t.file_size};
    struct qw_str s = {0};
    const char *ct;
    api_format_transcription(&r, &t, &s, &ct);
    qw_str_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
    if (!nl) return 0;
    char type[256];
    size_t tn = (size_t)(nl - data);
    memcpy(type, data, tn);
    type[tn] = 0;
    const uint8_t *body = nl + 1;
    size_t n = size - tn - 1;
    if (strncmp(type, "multipart", 9) == 0) {
        transcription(type, body, n);
    } else {
        struct api_speech sp;
        struct api_error err;
        if (api_parse_speech((const char *)body, n, &sp, &err)) api_speech_free(&sp);
    }
    return 0;
}
