/* libFuzzer target: the JSON parser on arbitrary bytes. */
#include "format/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_doc d;
    if (json_parse((const char *)data, size, &d, NULL) == QWGLM_OK) json_doc_free(&d);
    return 0;
}
