/* Simulated tiny-gpu cycles per second: the NOP kernel (one `0000` word; both cores fetch NOPs until the
 * cycle limit) and every reference case in tests/fixtures/tinygpu, each run repeatedly in one process for at
 * least
 * --seconds and reported as the best sample (see bench()). The peer is the RTL under Verilator (about 1.1 M
 * cycles/s on the team's machine for the NOP kernel). Times are the thread's CPU time (the machine is
 * shared). A hash of the final data memory guards against a speedup that changes results.
 *
 * Usage: bench_tinygpu [--seconds S] [--nop-cycles N]   (run from the repository root) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qwglm_tinygpu.h"

/* CPU time of this thread: the machine is shared, and wall time would count other people's work. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Best cycles/s over samples of launch + run, for at least `seconds`. A sample repeats the run until it has
 * simulated 500,000 cycles (at least once), so that short cases are not timed at the clock's granularity. */
static void bench(const char *name, qwglm_tinygpu *g, const uint16_t *prog, const uint8_t *data, int threads,
                  uint64_t max_cycles, double seconds)
{
    double best = 0, start = now();
    long reps = 0;
    uint64_t cycles = 0;
    do {
        uint64_t total = 0;
        double t0 = now();
        do {
            qwglm_tinygpu_launch(g, prog, data, threads, NULL);
            qwglm_tinygpu_run(g, max_cycles);
            cycles = qwglm_tinygpu_cycles(g);
            total += cycles;
            reps++;
        } while (total < 500000);
        double rate = (double)total / (now() - t0);
        if (rate > best) best = rate;
    } while (now() - start < seconds);
    printf("%-22s threads %3d  %8llu cycles  %s  %7.1f M cycles/s  %5.1fx peer  runs %7ld  mem #%08x\n", name,
           threads, (unsigned long long)cycles, qwglm_tinygpu_done(g) ? "done " : "limit", best / 1e6,
           best / 1.1e6, reps, fnv(qwglm_tinygpu_data_memory(g), QWGLM_TINYGPU_DATA_BYTES));
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    uint64_t nop_cycles = 2000000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0) seconds = atof(argv[i + 1]);
        if (strcmp(argv[i], "--nop-cycles") == 0) nop_cycles = strtoull(argv[i + 1], NULL, 10);
    }
    qwglm_tinygpu *g;
    char err[QWGLM_ERR_SIZE];
    if (qwglm_tinygpu_create(NULL, &g, err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static uint16_t prog[256];
    static uint8_t data[256];
    bench("nop (kernel 0000)", g, prog, data, 8, nop_cycles, seconds);

    const char *root = "tests/fixtures/tinygpu";
    DIR *d = opendir(root);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[1024];
        size_t len;
        char *text;
        int n, threads = 0;
        uint64_t max_cycles = 10000000;
        snprintf(path, sizeof path, "%s/%s/kernel.hex", root, de->d_name);
        if (!(text = slurp(path, &len))) {
            snprintf(path, sizeof path, "%s/%s/kernel.bin", root, de->d_name);
            if (!(text = slurp(path, &len))) continue;
        }
        if (qwglm_tinygpu_parse_kernel(text, len, prog, &n, err)) continue;
        snprintf(path, sizeof path, "%s/%s/data.txt", root, de->d_name);
        if (!(text = slurp(path, &len)) || qwglm_tinygpu_parse_data(text, len, data, &n, err)) continue;
        snprintf(path, sizeof path, "%s/%s/threads", root, de->d_name);
        if ((text = slurp(path, &len))) threads = atoi(text);
        snprintf(path, sizeof path, "%s/%s/args", root, de->d_name);
        if ((text = slurp(path, &len))) sscanf(text, "--max-cycles %llu", (unsigned long long *)&max_cycles);
        bench(de->d_name, g, prog, data, threads, max_cycles, seconds / 4);
    }
    if (d) closedir(d);
    qwglm_tinygpu_free(g);
    return 0;
}
