/* libFuzzer target: the metadata of quantized checkpoints (ops/quant_file.c) on top of the safetensors reader.
 * A file that validates must describe every quantized tensor exactly: dequantizing each row then reads only the
 * tensor's own bytes (ASan checks). */
#include <stdlib.h>

#include "ops/quant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_file f;
    if (st_open_memory(&f, data, size, "fuzz", NULL) != QWGLM_OK) return 0;
    if (qw_qfile_validate(&f, NULL) == QWGLM_OK) {
        for (int i = 0; i < f.n_tensors; i++) {
            enum qw_dtype dt;
            int64_t rows, cols;
            if (qw_qfile_tensor(&f, &f.tensors[i], &dt, &rows, &cols, NULL) != QWGLM_OK) continue;
            if (qw_dtype_block(dt) == 1 || cols > 4096) continue;
            float *y = malloc((size_t)cols * sizeof *y);
            size_t row = qw_row_bytes(dt, cols);
            for (int64_t r = 0; y && r < rows && r < 64; r++) {
                const uint8_t *p = (const uint8_t *)f.tensors[i].data + (size_t)r * row;
                if (dt == QW_DTYPE_Q8) qw_dequantize_row_q8(p, y, cols);
                else qw_dequantize_row_q4(p, y, cols);
            }
            free(y);
        }
    }
    st_close(&f);
    return 0;
}
