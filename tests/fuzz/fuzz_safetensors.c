/* libFuzzer target: the safetensors header validator, then a read of every tensor's bytes (ASan proves that
 * validated offsets stay inside the buffer). */
#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_file f;
    if (st_open_memory(&f, data, size, "fuzz", NULL) != QWGLM_OK) return 0;
    volatile unsigned char sink = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const unsigned char *p = f.tensors[i].data;
        for (size_t j = 0; j < f.tensors[i].size; j++) sink ^= p[j];
    }
    (void)sink;
    st_close(&f);
    return 0;
}
