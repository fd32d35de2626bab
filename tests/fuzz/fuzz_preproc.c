/* libFuzzer target: preprocessor_config.json parsing, then smart_resize over a few sizes with what it read.
 */
#include <stdint.h>

#include "vision/vl_preprocess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vl_preproc p = vl_preproc_default();
    if (vl_preproc_parse(&p, (const char *)data, size, "fuzz", NULL) != QWGLM_OK) return 0;
    static const int sizes[][2] = {{1, 1}, {720, 1280}, {1, 200}, {32768, 32768}, {17, 3001}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int h, w;
        vl_smart_resize(&p, sizes[i][0], sizes[i][1], &h, &w, NULL);
    }
    return 0;
}
