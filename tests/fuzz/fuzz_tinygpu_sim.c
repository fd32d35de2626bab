/* libFuzzer target: the tiny-gpu simulator on arbitrary machines, programs, data and thread counts (the first
 * 8 bytes choose the parameters and the thread count, then up to 256 program words and 256 data bytes). Runs
 * a bounded number of cycles twice, once fast and once step by step, and demands the same result. */
#include <stdlib.h>
#include <string.h>

#include "qwglm_tinygpu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8) return 0;
    qwglm_tinygpu_params p = qwglm_tinygpu_default_params();
    if (data[0] & 1) {
        p.n_cores = 1 + data[1] % 8;
        p.threads_per_block = 1 + data[2] % 8;
        p.data_channels = 1 + data[3] % 8;
        p.program_channels = 1 + data[4] % 4;
        p.memory_latency = 1 + data[5] % 4;
        p.fix_cmp = data[0] >> 1 & 1;
        p.fix_divergence = data[0] >> 2 & 1;
    }
    int threads = data[6];
    const uint64_t limit = 64 + data[7] * 4u;
    data += 8, size -= 8;
    uint16_t prog[QWGLM_TINYGPU_PROGRAM_WORDS] = {0};
    uint8_t mem[QWGLM_TINYGPU_DATA_BYTES] = {0};
    size_t n_words = size / 2 > 256 ? 256 : size / 2;
    for (size_t i = 0; i < n_words; i++) prog[i] = (uint16_t)(data[2 * i] << 8 | data[2 * i + 1]);
    if (size > 512) memcpy(mem, data + 512, size - 512 > 256 ? 256 : size - 512);

    qwglm_tinygpu *g;
    if (qwglm_tinygpu_create(&p, &g, NULL) != QWGLM_OK) abort();
    qwglm_tinygpu_launch(g, prog, mem, threads, NULL);
    int done = qwglm_tinygpu_run(g, limit);
    uint64_t cycles = qwglm_tinygpu_cycles(g);
    uint8_t out[QWGLM_TINYGPU_DATA_BYTES];
    memcpy(out, qwglm_tinygpu_data_memory(g), sizeof out);
    qwglm_tinygpu_launch(g, prog, mem, threads, NULL);
    char line[4096];
    while (!qwglm_tinygpu_done(g) && qwglm_tinygpu_cycles(g) < limit) {
        qwglm_tinygpu_step(g);
        if (qwglm_tinygpu_cycles(g) < 128) qwglm_tinygpu_trace_line(g, line, sizeof line); /* slow: a few */
    }
    if (qwglm_tinygpu_done(g) != done || qwglm_tinygpu_cycles(g) != cycles ||
        memcmp(out, qwglm_tinygpu_data_memory(g), sizeof out) != 0)
        abort();
    qwglm_tinygpu_free(g);
    return 0;
}
