/* libFuzzer target: the tiny-gpu kernel and data file parsers on arbitrary text. */
#include "qwglm_tinygpu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t words[QWGLM_TINYGPU_PROGRAM_WORDS];
    uint8_t bytes[QWGLM_TINYGPU_DATA_BYTES];
    int n;
    qwglm_tinygpu_parse_kernel((const char *)data, size, words, &n, NULL);
    qwglm_tinygpu_parse_data((const char *)data, size, bytes, &n, NULL);
    return 0;
}
