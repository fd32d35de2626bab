/* qwglm bench: measures the machine's read bandwidth, then runs every section the flags ask for (bench.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "backend/cpu/cpu.h"
#include "bench.h"
#include "cli.h"
#include "commands.h"

/* The sections, in the order they run. */
static const struct bench_section *const sections[] = {
    &bench_kernels,
    &bench_attention,
    &bench_llm,
    &bench_tts,
    &bench_asr,
    &bench_vision,
};

#define BANDWIDTH_MIB 1024 /* 4x the 260 MiB last-level cache of the reference machine */

static const char usage_text[] =
    "usage: qwglm bench (-m DIR | --config FILE --random | --matvec | --attention | --tts-config FILE --random |\n"
    "                    --asr-config FILE --random) [options]\n"
    "\n"
    "Measures the machine's read bandwidth, then prefill and decode speed of a model (real weights, or random ones\n"
    "at the shapes of a config.json), and kernels on their own. Every figure is a median over --reps runs.\n"
    "\n"
    "  -m, --model DIR       model directory, or ORG/NAME[@REV] from the Hub (downloaded when missing)\n"
    "  --config FILE         config.json to benchmark with --random weights (no checkpoint needed)\n"
    "  --random              random weights at the config's shapes\n"
    "  --dtype TYPE          f32, bf16, q8 or q4 (default: the checkpoint's; --matvec: all four)\n"
    "  -p N                  prompt tokens for prefill (default 512)\n"
    "  -n N                  tokens to decode (default 128)\n"
    "  --threads N           CPU threads (default: one per core)\n"
    "  --reps N              repetitions (default 3)\n"
    "  --isa NAME            CPU kernels: scalar, avx2, avx512, avx512bf16, neon (default: the best available)\n"
    "  --seed N              seed of random weights and prompt (default 1)\n"
    "  --profile             per-op timings\n"
    "  --bandwidth-mib N     buffer of the read bandwidth test (default 1024; make it several times the L3)\n"
    "  --json                one JSON object on stdout (human-readable lines go to stderr)\n";

/* ---- output ---- */

void bench_line(struct bench_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->json ? stderr : stdout, fmt, ap);
    va_end(ap);
    fputc('\n', o->json ? stderr : stdout);
}

static void key(struct bench_out *o, const char *k)
{
    if (o->need_comma) qw_str_puts(&o->obj, ", ");
    qw_str_json(&o->obj, k, strlen(k));
    qw_str_puts(&o->obj, ": ");
    o->need_comma = true;
}

void bench_num(struct bench_out *o, const char *k, double v)
{
    key(o, k);
    if (isfinite(v)) qw_str_printf(&o->obj, "%.6g", v);
    else qw_str_puts(&o->obj, "null");
}

void bench_int(struct bench_out *o, const char *k, long long v)
{
    key(o, k);
    qw_str_printf(&o->obj, "%lld", v);
}

void bench_str(struct bench_out *o, const char *k, const char *v)
{
    key(o, k);
    qw_str_json(&o->obj, v, strlen(v));
}

void bench_begin(struct bench_out *o, const char *k)
{
    key(o, k);
    qw_str_putc(&o->obj, '{');
    o->need_comma = false;
    o->depth++;
}

void bench_end(struct bench_out *o)
{
    qw_str_putc(&o->obj, '}');
    o->need_comma = true;
    o->depth--;
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_cpu_seconds(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return NAN;
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec * 1e-6;
}

double bench_median(double *v, int n)
{
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_bandwidth(const struct bench_opts *o, struct qw_backend *be)
{
    uint64_t sink = 0;
    double gbps = cpu_read_gbps(be, o->bw_bytes, 1, &sink);
    if (sink == 1) fputc(' ', stderr); /* keeps the reads observable */
    return gbps;
}

double bench_bandwidth_sample(const struct bench_opts *o, struct qw_backend *be)
{
    uint64_t sink = 0;
    const size_t cap = (size_t)256 << 20; /* 8x the last-level cache of large server parts, and quick */
    double gbps = cpu_read_gbps(be, o->bw_bytes < cap ? o->bw_bytes : cap, 3, &sink);
    if (sink == 1) fputc(' ', stderr); /* keeps the reads observable */
    return gbps;
}

double bench_loadavg(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l = NAN;
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = NAN;
        fclose(f);
    }
    return l;
}

void bench_profile(struct bench_out *o, const char *title, const struct cpu_profile *p)
{
    double total = 0;
    int order[CPU_PROF_MAX];
    for (int i = 0; i < p->n; i++) total += p->e[i].seconds, order[i] = i;
    for (int i = 1; i < p->n; i++)
        for (int j = i; j > 0 && p->e[order[j]].seconds > p->e[order[j - 1]].seconds; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    bench_line(o, "profile %s: op, calls, ms, share, GFLOP/s", title);
    bench_begin(o, "profile");
    for (int k = 0; k < p->n; k++) {
        const struct cpu_prof_entry *e = &p->e[order[k]];
        const double gf = e->flops > 0 && e->seconds > 0 ? e->flops / e->seconds / 1e9 : 0;
        bench_line(o, "  %-24s %7lld %10.2f %6.1f%% %8.1f", e->name, (long long)e->calls, e->seconds * 1e3,
                   total > 0 ? 100.0 * e->seconds / total : 0, gf);
        bench_begin(o, e->name);
        bench_int(o, "calls", e->calls);
        bench_num(o, "ms", e->seconds * 1e3);
        if (e->flops > 0) bench_num(o, "gflops", gf);
        bench_end(o);
    }
    bench_end(o);
}

/* ---- flags ---- */

static int common_flag(const char *cmd, struct bench_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    long n;
    if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
        if (!(o->model = cli_value(cmd, argc, argv, i))) return -1;
    } else if (strcmp(a, "--config") == 0) {
        if (!(o->config = cli_value(cmd, argc, argv, i))) return -1;
    } else if (strcmp(a, "--random") == 0) {
        o->random = true;
    } else if (strcmp(a, "--dtype") == 0) {
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if ((o->dtype = qwglm_dtype_parse(v)) < 0) {
            cli_usage_error(cmd, "--dtype must be auto, f32, bf16, q8 or q4, not '%s'", v);
            return -1;
        }
    } else if (strcmp(a, "-p") == 0 || strcmp(a, "-n") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0 ||
               strcmp(a, "--reps") == 0) {
        bool prompt = strcmp(a, "-p") == 0, gen = strcmp(a, "-n") == 0, reps = strcmp(a, "--reps") == 0;
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, prompt || gen ? 0 : 1, prompt || gen ? 1 << 20 : reps ? 1000 : 1024, &n)) {
            cli_usage_error(cmd, "%s: '%s' is not a valid count", a, v);
            return -1;
        }
        if (prompt) o->n_prompt = (int)n;
        else if (gen) o->n_gen = (int)n;
        else if (reps) o->reps = (int)n;
        else o->n_threads = (int)n;
    } else if (strcmp(a, "--isa") == 0) {
        if (!(o->isa = cli_value(cmd, argc, argv, i))) return -1;
    } else if (strcmp(a, "--seed") == 0) {
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_u64(v, &o->seed) || o->seed == 0) {
            cli_usage_error(cmd, "--seed must be a positive integer, not '%s'", v);
            return -1;
        }
    } else if (strcmp(a, "--profile") == 0) {
        o->profile = true;
    } else if (strcmp(a, "--json") == 0) {
        o->json = true;
    } else {
        return 0;
    }
    return 1;
}

int cmd_bench(int argc, char **argv)
{
    const char *cmd = "bench";
    const int n_sections = (int)(sizeof sections / sizeof sections[0]);
    struct bench_opts o = {.dtype = QWGLM_DTYPE_AUTO, .n_prompt = 512, .n_gen = 128, .reps = 3, .seed = 1};
    long bw_mib = BANDWIDTH_MIB;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            for (int s = 0; s < n_sections; s++) fputs(sections[s]->flags_help, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--bandwidth-mib") == 0) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_int(v, 1, 1 << 20, &bw_mib)) return cli_usage_error(cmd, "--bandwidth-mib: a size in MiB");
            continue;
        }
        int r = common_flag(cmd, &o, argc, argv, &i);
        for (int s = 0; s < n_sections && r == 0; s++)
            if (sections[s]->flag) r = sections[s]->flag(argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) return cli_usage_error(cmd, "unknown option '%s' (see qwglm bench --help)", argv[i]);
    }
    if (o.config && !o.random) return cli_usage_error(cmd, "--config benchmarks random weights: add --random");
    if (o.random && !o.config && !bench_tts.wanted(&o) && !bench_asr.wanted(&o)) return cli_usage_error(cmd, "--random needs --config FILE");
    if (o.model && o.config) return cli_usage_error(cmd, "give -m DIR or --config FILE, not both");
    static char model_dir[4096];
    if (o.model) {
        if (cli_resolve_model(cmd, o.model, model_dir, sizeof model_dir)) return 1; /* a folder, or ORG/NAME */
        o.model = model_dir;
    }
    bool any = false;
    for (int s = 0; s < n_sections; s++) any |= sections[s]->wanted(&o);
    if (!any)
        return cli_usage_error(cmd, "nothing to measure: give -m DIR, --config FILE --random, --matvec, --attention, "
                                    "--tts-config FILE --random or --asr-config FILE --random");

    /* the roofline every section compares against, with the same threads and kernels */
    struct qw_backend be;
    struct qw_err e = {0};
    if (cpu_backend_create_isa(o.n_threads, o.isa, &be, &e)) return cli_error(cmd, "%s", e.msg);
    uint64_t sink = 0;
    double load0 = bench_loadavg();
    o.bw_bytes = (size_t)bw_mib << 20;
    o.machine_gbps = cpu_read_gbps(&be, o.bw_bytes, 2 * o.reps + 1, &sink);
    o.n_threads = cpu_backend_threads(&be);
    char isa[32];
    snprintf(isa, sizeof isa, "%s", cpu_backend_isa(&be));
    be.ops->free(be.ctx);
    if (o.machine_gbps <= 0) return cli_error(cmd, "out of memory measuring the read bandwidth");

    struct bench_out out = {.json = o.json};
    qw_str_putc(&out.obj, '{');
    bench_num(&out, "machine_read_gbps", o.machine_gbps);
    bench_int(&out, "threads", o.n_threads);
    bench_str(&out, "isa", isa);
    bench_num(&out, "load_avg", load0);
    bench_line(&out, "machine read bandwidth %.1f GB/s (cpu/%s, %d threads, %zu MiB, median of %d; load average %.2f)",
               o.machine_gbps, isa, o.n_threads, (size_t)bw_mib, 2 * o.reps + 1, load0);
    if (sink == 1) bench_line(&out, " "); /* keeps the reads observable */
    int rc = 0;
    for (int s = 0; s < n_sections && !rc; s++)
        if (sections[s]->wanted(&o)) rc = sections[s]->run(&o, &out);
    bench_num(&out, "load_avg_end", bench_loadavg());
    qw_str_putc(&out.obj, '}');
    if (o.json && !rc) {
        if (out.obj.failed) rc = cli_error(cmd, "out of memory");
        else printf("%s\n", out.obj.data);
    }
    qw_str_free(&out.obj);
    return rc;
}
