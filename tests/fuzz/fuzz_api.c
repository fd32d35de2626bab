/* libFuzzer target: the server's request handling on arbitrary bytes. The first byte picks the endpoint (chat or
 * text completions); a request that parses is rendered into a prompt by the mock engine, and the rendered text is
 * streamed back through the stop-string and <think> splitter in pieces of input-chosen sizes. */
#include <string.h>

#include "base/mem.h"
#include "server/api.h"
#include "server/engine.h"
#include "server/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void emit(enum text_kind kind, const char *text, size_t len, void *user)
{
    size_t *total = user;
    (void)kind;
    (void)text;
    *total += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    enum api_kind kind = data[0] & 1 ? API_COMPLETION : API_CHAT;
    struct api_request r;
    struct api_error err;
    if (!api_parse(kind, (const char *)data + 1, size - 1, &r, &err)) return 0;
    struct srv_engine eng;
    struct srv_prompt p;
    if (engine_mock_open(0, &eng, NULL) != QWGLM_OK) {
        api_request_free(&r);
        return 0;
    }
    if (eng.ops->encode(eng.ctx, &r, &p, NULL) == QWGLM_OK) {
        char *text = qw_malloc((size_t)p.n + 1);
        for (int i = 0; text && i < p.n; i++) text[i] = (char)p.ids[i];
        struct text_stream ts;
        size_t total = 0;
        text_stream_init(&ts, r.stop, r.n_stop, kind == API_CHAT, data[0] & 2, emit, &total);
        size_t step = 1 + (data[0] >> 2), off = 0;
        while (text && off < (size_t)p.n && text_stream_feed(&ts, text + off, step < (size_t)p.n - off ? step : (size_t)p.n - off))
            off += step;
        text_stream_finish(&ts);
        text_stream_free(&ts);
        qw_free(text);
        qw_free(p.ids);
    }
    eng.ops->free(eng.ctx);
    api_request_free(&r);
    return 0;
}
