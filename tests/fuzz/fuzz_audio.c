/* libFuzzer target: encoded audio of any format through libsndfile, down-mixing and resampling to 16 kHz, with
 * limits that keep each input cheap. */
#include "audio/audio.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qw_audio_limits lim = {20.0, 1 << 20};
    float *pcm;
    size_t n;
    if (qw_audio_decode_memory(data, size, "fuzz", 16000, &lim, &pcm, &n, NULL, NULL) == QWGLM_OK) qw_free(pcm);
    return 0;
}
