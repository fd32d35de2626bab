/* Tokenizer encode throughput on one thread: bench_tokenizer MODEL_DIR CORPUS [REPEATS]
 * Encodes the whole corpus in one call REPEATS times (default 3) and prints the best time, MB/s, the id count and
 * an FNV-1a hash of the ids, so a faster run that changes the result is caught (tokenizer-peer.mjs prints the
 * same hash for @lenml/tokenizers). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "qwglm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenizer MODEL_DIR CORPUS [REPEATS]\n");
        return 2;
    }
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    char err[QWGLM_ERR_SIZE];
    qwglm_tokenizer *tok;
    double t0 = now_s();
    if (qwglm_tokenizer_load(argv[1], &tok, err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t_load = now_s() - t0, best = 1e30;
    size_t n_ids = 0;
    uint32_t hash = 0;
    for (int r = 0; r < repeats; r++) {
        int32_t *ids;
        t0 = now_s();
        if (qwglm_tokenize(tok, text, (size_t)size, &ids, &n_ids, err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
        hash = 2166136261u;
        for (size_t i = 0; i < n_ids; i++) hash = (hash ^ (uint32_t)ids[i]) * 16777619u;
        qwglm_free(ids);
    }
    printf("qwglm encode: %.2f MB in %.3f s = %.2f MB/s (best of %d, 1 thread), %zu ids, #%08" PRIx32
           ", load %.3f s\n",
           size / 1e6, best, size / 1e6 / best, repeats, n_ids, hash, t_load);
    qwglm_tokenizer_free(tok);
    free(text);
    return 0;
}
