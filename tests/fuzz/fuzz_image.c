/* libFuzzer target: image decoding (every format, EXIF orientation) under small limits, so the fuzzer
 * explores headers rather than spending its time on large canvases. */
#include <stdint.h>

#include "format/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qw_image_limits lim = qw_image_default_limits();
    lim.max_pixels = 1 << 20;
    lim.max_side = 4096;
    struct qw_image im;
    if (qw_image_decode(data, size, "fuzz", &lim, &im, NULL) == QWGLM_OK) qw_image_free(&im);
    return 0;
}
