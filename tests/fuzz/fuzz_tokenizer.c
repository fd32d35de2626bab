/* libFuzzer target: a tokenizer.json (the bytes before the first NUL) loaded, then the rest encoded and the ids
 * decoded, whole and through the streaming detokenizer. Exercises the loader, the regex compiler and matcher,
 * normalizers, added-token matching, BPE and the UTF-8 repair in decoding. */
#include <string.h>

#include "base/mem.h"
#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *nul = memchr(s, 0, size);
    size_t json_n = nul ? (size_t)(nul - s) : size;
    struct tokenizer *t;
    if (tokenizer_load(s, json_n, NULL, 0, "fuzz", &t, NULL) != QWGLM_OK) return 0;
    const char *text = nul ? nul + 1 : "";
    size_t text_n = nul ? size - json_n - 1 : 0;
    struct tok_ids ids = {0};
    if (tokenizer_encode(t, text, text_n, &ids, NULL) == QWGLM_OK) {
        struct qw_str out = {0}, streamed = {0};
        tokenizer_decode(t, ids.v, ids.n, false, &out, NULL);
        struct detok d;
        detok_init(&d, t, true);
        for (size_t i = 0; i < ids.n; i++) detok_push(&d, ids.v[i], &streamed);
        detok_flush(&d, &streamed);
        qw_str_free(&out);
        qw_str_free(&streamed);
    }
    qw_free(ids.v);
    tokenizer_free(t);
    return 0;
}
