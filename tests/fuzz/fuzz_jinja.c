/* libFuzzer target: a Jinja template (the bytes before the first NUL) parsed, then rendered with the JSON object
 * after it (or a small chat when there is none), under tight limits so that loops cannot run for long. */
#include <string.h>

#include "format/json.h"
#include "text/jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char default_vars[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"Hi <b>\"},"
    " {\"role\": \"assistant\", \"content\": \"<think>\\nr\\n</think>\\n\\nA\", \"tool_calls\": [{\"function\":"
    " {\"name\": \"f\", \"arguments\": {\"x\": [1, 2.5, null, true]}}}]}], \"tools\": [{\"type\": \"function\"}],"
    " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *nul = memchr(s, 0, size);
    size_t src_n = nul ? (size_t)(nul - s) : size;
    struct jinja_template *t;
    if (jinja_parse(s, src_n, &t, NULL) != QWGLM_OK) return 0;
    struct json_doc vars;
    bool own = nul && json_parse(nul + 1, size - src_n - 1, &vars, NULL) == QWGLM_OK;
    if (!own && json_parse(default_vars, sizeof default_vars - 1, &vars, NULL) != QWGLM_OK) {
        jinja_free(t);
        return 0;
    }
    const struct json_value *layers[1] = {&vars.root};
    struct jinja_limits lim = {.max_output = 1 << 20, .max_memory = 16 << 20, .max_steps = 200000};
    struct qw_str out = {0};
    jinja_render(t, layers, 1, &lim, &out, NULL);
    qw_str_free(&out);
    json_doc_free(&vars);
    jinja_free(t);
    return 0;
}
