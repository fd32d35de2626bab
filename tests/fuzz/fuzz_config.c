/* libFuzzer target: config.json and generation_config.json parsing. The input is the config, optionally followed
 * by a NUL byte and a generation config. */
#include <string.h>

#include "format/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *gen = memchr(text, 0, size);
    size_t n = gen ? (size_t)(gen - text) : size, gen_n = gen ? size - n - 1 : 0;
    struct qw_llm_config c;
    qw_llm_config_parse(text, n, gen ? gen + 1 : NULL, gen_n, "fuzz", &c, NULL);
    return 0;
}
