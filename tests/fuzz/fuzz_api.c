/* libFuzzer target: the server's request handling on arbitrary bytes. The first byte picks the endpoint (chat or
 * text completions); the text of a request that parses (its messages, or its prompt) is streamed back through the
 * stop-string and <think> splitter in pieces of input-chosen sizes, as a model's reply would be. */
#include <string.h>

#include "server/api.h"
#include "server/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void emit(enum text_kind kind, const char *text, size_t len, void *user)
{
    size_t *total = user;
    (void)kind;
    (void)text;
    *total += len;
}

static void stream_text(const struct api_request *r, const char *text, uint8_t mode)
{
    size_t n = strlen(text), total = 0;
    struct text_stream ts;
    text_stream_init(&ts, r->stop, r->n_stop, r->kind == API_CHAT, mode & 2, emit, &total);
    size_t step = 1 + (mode >> 2), off = 0;
    while (off < n && text_stream_feed(&ts, text + off, step < n - off ? step : n - off)) off += step;
    text_stream_finish(&ts);
    text_stream_free(&ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    enum api_kind kind = data[0] & 1 ? API_COMPLETION : API_CHAT;
    struct api_request r;
    struct api_error err;
    if (!api_parse(kind, (const char *)data + 1, size - 1, &r, &err)) return 0;
    /* images named by URL or path: refused here (nothing enabled), never fetched */
    const struct api_image_source none = {.max_bytes = 1 << 20};
    if (!api_fetch_images(&r, &none, &err) && err.status != 400) __builtin_trap();
    if (kind == API_COMPLETION) stream_text(&r, r.prompt, data[0]);
    for (int i = 0; i < r.n_messages; i++) {
        stream_text(&r, r.messages[i].content, data[0]);
        if (r.messages[i].reasoning) stream_text(&r, r.messages[i].reasoning, data[0]);
    }
    api_request_free(&r);
    return 0;
}
