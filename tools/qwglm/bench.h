/* qwglm bench: a table of sections (kernels, the language model, and whatever a model adds: image encoding,
 * speech recognition, speech synthesis), each with its own flags, its own human-readable lines and its own keys in
 * the one JSON object --json prints. Adding a section: a `const struct bench_section` in its own bench_<name>.c,
 * declared here and listed in sections[] in cmd_bench.c. See docs/performance.md. */
#ifndef QWGLM_BENCH_H
#define QWGLM_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/str.h"
#include "qwglm.h"

/* Options every section sees (flags shared by all sections). */
struct bench_opts {
    const char *model;     /* -m DIR */
    const char *config;    /* --config FILE (with --random) */
    bool random;           /* --random: random weights at the config's shapes */
    int dtype;             /* --dtype (qwglm_dtype); QWGLM_DTYPE_AUTO when not given */
    int n_prompt, n_gen;   /* -p, -n */
    int n_threads;         /* --threads (0: one per core) */
    int reps;              /* --reps: repetitions; sections report medians */
    bool json, profile;    /* --json, --profile */
    const char *isa;       /* --isa: CPU kernels by name (NULL: the best) */
    uint64_t seed;         /* --seed: random weights and prompts */
    double machine_gbps;   /* the machine's read bandwidth with n_threads threads, measured before the sections */
    size_t bw_bytes;       /* buffer of the bandwidth test (--bandwidth-mib) */
};

/* Output: human-readable lines go to stdout (to stderr with --json); JSON values go into one object. */
struct bench_out {
    bool json;
    struct qw_str obj;  /* the JSON text so far */
    int depth;
    bool need_comma;
};

void bench_line(struct bench_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bench_num(struct bench_out *o, const char *key, double v);
void bench_int(struct bench_out *o, const char *key, long long v);
void bench_str(struct bench_out *o, const char *key, const char *v);
/* A nested object under key, closed by bench_end. */
void bench_begin(struct bench_out *o, const char *key);
void bench_end(struct bench_out *o);

/* Helpers for sections: monotonic seconds, the median of n values (sorts v), the 1-minute load average. */
double bench_now(void);
/* CPU seconds of the whole process (user + system, every thread): wall time on a shared machine counts the
 * neighbours too. */
double bench_cpu_seconds(void);
/* The read bandwidth again (GB/s, one run) with backend be (a CPU backend): on a shared machine it moves within a
 * run, so a figure is best compared with the bandwidth measured beside it. */
struct qw_backend;
double bench_bandwidth(const struct bench_opts *o, struct qw_backend *be);
/* A quicker sample (at most 256 MiB, median of 3) taken between timed segments. */
double bench_bandwidth_sample(const struct bench_opts *o, struct qw_backend *be);
double bench_median(double *v, int n);
double bench_loadavg(void);
/* Prints a CPU backend's op profile, longest first: op, calls, ms, share and GFLOP/s (where the op counts FLOPs),
 * as lines headed by title and as the key "profile". */
struct cpu_profile;
void bench_profile(struct bench_out *o, const char *title, const struct cpu_profile *p);

struct bench_section {
    const char *name;
    const char *flags_help; /* lines for --help, or "" */
    /* Consumes a flag of this section at argv[*i] (and its value): 1, 0 when not its flag, -1 after a usage error.
     * NULL: the section has no flags. */
    int (*flag)(int argc, char **argv, int *i);
    /* Whether the flags ask for this section. */
    bool (*wanted)(const struct bench_opts *o);
    /* Runs it: 0 on success, 1 after printing why it failed. */
    int (*run)(const struct bench_opts *o, struct bench_out *out);
};

extern const struct bench_section bench_kernels; /* bench_kernels.c: --matvec */
extern const struct bench_section bench_attention; /* bench_attention.c: --attention */
extern const struct bench_section bench_llm;     /* bench_llm.c: -m DIR or --config FILE --random */
extern const struct bench_section bench_vision;  /* bench_vision.c: --vision */
extern const struct bench_section bench_tts;     /* bench_tts.c: --tts-config FILE --random, --tts-voice FILE */
extern const struct bench_section bench_asr;     /* bench_asr.c: --asr-config FILE --random */

#endif
