/* libFuzzer target: the Hub's model-info answer (GET /api/models/REPO/revision/REV) and the shard index, as
 * the pull reads them: parse, choose files, then read the same bytes as a model.safetensors.index.json; also
 * the input as a model reference and as a file name. */
#include <stdint.h>
#include <string.h>

#include "base/mem.h"
#include "hub/hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hub_repo_info info;
    qwglm_hub_error why;
    if (hub_repo_info_parse((const char *)data, size, &info, NULL) == QWGLM_OK) {
        struct hub_select_opts so = {0};
        if (hub_select(&info, &so, NULL, 0, &why, NULL) == QWGLM_OK && hub_select_needs_index(&info))
            hub_select(&info, &so, (const char *)data, size, &why, NULL);
        const char *pats[] = {"*.json", "dir/"};
        struct hub_select_opts inc = {false, pats, 2};
        hub_select(&info, &inc, NULL, 0, &why, NULL);
        hub_repo_info_free(&info);
    }
    char *s = qw_strndup((const char *)data, size < 4096 ? size : 4096);
    if (s) {
        struct hub_ref r;
        hub_ref_parse(s, &r, NULL);
        hub_name_ok(s, strlen(s));
        char esc[256];
        hub_url_escape(esc, sizeof esc, s, true);
        qw_free(s);
    }
    return 0;
}
