#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

void cli_log(qwglm_log_level level, const char *msg, void *user)
{
    int verbosity = user ? *(const int *)user : QWGLM_LOG_INFO;
    if ((int)level > verbosity) return;
    static const char *const tags[] = {"error: ", "warning: ", "", "debug: "};
    fprintf(stderr, "qwglm: %s%s\n", tags[level], msg);
}

static int vreport(int status, const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "qwglm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    return status;
}

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vreport(1, cmd, fmt, ap);
    va_end(ap);
    return r;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vreport(2, cmd, fmt, ap);
    va_end(ap);
    return r;
}

bool cli_parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

bool cli_parse_ids(const char *s, int32_t **ids, int *n, int max)
{
    *ids = NULL;
    *n = 0;
    int cap = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX || (*end && *end != ',') || *n >= max) {
            free(*ids);
            *ids = NULL;
            *n = 0;
            return false;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            int32_t *grown = realloc(*ids, (size_t)cap * sizeof **ids);
            if (!grown) {
                free(*ids);
                *ids = NULL;
                *n = 0;
                return false;
            }
            *ids = grown;
        }
        (*ids)[(*n)++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    return *n > 0;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

void cli_model_opts_init(struct cli_model_opts *o)
{
    *o = (struct cli_model_opts){.model = NULL, .n_threads = 0, .dtype = QWGLM_DTYPE_AUTO, .n_ctx = 0,
                                 .verbosity = QWGLM_LOG_WARN};
}

const char cli_model_flags_help[] =
    "  -m, --model DIR|ORG/NAME[@REV]  model folder (Hugging Face layout), or a Hub model: taken from the\n"
    "                        Hugging Face cache, downloaded first when missing (see qwglm pull --help)\n"
    "  --dtype TYPE          weights: auto, f32, bf16, q8, q4 (default auto: the checkpoint's precision)\n"
    "  --threads N           CPU threads (default: one per core)\n"
    "  --ctx N               context size in tokens (default min(model maximum, 4096))\n"
    "  -v, --verbose         log progress to stderr; -q, --quiet: errors only\n";

int cli_model_flag(const char *cmd, struct cli_model_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    long n;
    if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        o->model = v;
    } else if (strcmp(a, "--dtype") == 0) {
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if ((o->dtype = qwglm_dtype_parse(v)) < 0) {
            cli_usage_error(cmd, "--dtype must be auto, f32, bf16, q8 or q4, not '%s'", v);
            return -1;
        }
    } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, 1, 1024, &n)) {
            cli_usage_error(cmd, "--threads must be 1 to 1024, not '%s'", v);
            return -1;
        }
        o->n_threads = (int)n;
    } else if (strcmp(a, "--ctx") == 0 || strcmp(a, "-c") == 0) {
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, 1, 1 << 24, &n)) {
            cli_usage_error(cmd, "--ctx must be a positive number of tokens, not '%s'", v);
            return -1;
        }
        o->n_ctx = (int)n;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
        o->verbosity = QWGLM_LOG_DEBUG;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
        o->verbosity = QWGLM_LOG_ERROR;
    } else {
        return 0;
    }
    return 1;
}

qwglm_model *cli_load_model(const char *cmd, struct cli_model_opts *o)
{
    if (!o->model) {
        cli_usage_error(cmd, "no model: pass -m DIR");
        return NULL;
    }
    char dir[QWGLM_HUB_PATH_MAX];
    if (cli_resolve_model(cmd, o->model, dir, sizeof dir)) return NULL; /* a folder, or ORG/NAME from the Hub */
    qwglm_model_params mp = qwglm_model_default_params();
    mp.dtype = (qwglm_dtype)o->dtype;
    mp.n_threads = o->n_threads;
    mp.log = cli_log;
    mp.log_user = &o->verbosity;
    qwglm_model *m;
    char err[QWGLM_ERR_SIZE];
    if (qwglm_model_load(dir, &mp, &m, err)) {
        cli_error(cmd, "%s", err);
        return NULL;
    }
    return m;
}

const char cli_sampling_flags_help[] =
    "  --temp T              temperature; 0 = greedy (default: the model's generation_config.json)\n"
    "  --top-k K             keep the K most likely tokens (0 = off)\n"
    "  --top-p P             keep the smallest set with probability mass P (1 = off)\n"
    "  --min-p P             drop tokens below P times the best one's probability (0 = off)\n"
    "  --repeat-penalty R    transformers' repetition penalty (1 = off)\n"
    "  --presence-penalty X  subtract X from tokens already present (0 = off)\n"
    "  --frequency-penalty X subtract X per occurrence (0 = off)\n"
    "  --penalty-last-n N    tokens the penalties look back over (-1 = all, default)\n"
    "  --seed N              random seed (default: a fresh one, reported with --json)\n";

int cli_sampling_flag(const char *cmd, qwglm_sampling *s, bool *seed_set, int argc, char **argv, int *i)
{
    static const struct {
        const char *flag;
        size_t offset;
        double lo, hi;
    } floats[] = {
        {"--temp", offsetof(qwglm_sampling, temperature), 0, 100},
        {"--top-p", offsetof(qwglm_sampling, top_p), 0, 1},
        {"--min-p", offsetof(qwglm_sampling, min_p), 0, 1},
        {"--repeat-penalty", offsetof(qwglm_sampling, repetition_penalty), 0.01, 100},
        {"--presence-penalty", offsetof(qwglm_sampling, presence_penalty), -100, 100},
        {"--frequency-penalty", offsetof(qwglm_sampling, frequency_penalty), -100, 100},
    };
    const char *a = argv[*i], *v;
    for (size_t k = 0; k < sizeof floats / sizeof floats[0]; k++) {
        if (strcmp(a, floats[k].flag) != 0) continue;
        double d;
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_float(v, floats[k].lo, floats[k].hi, &d)) {
            cli_usage_error(cmd, "%s must be a number in [%g, %g], not '%s'", a, floats[k].lo, floats[k].hi, v);
            return -1;
        }
        *(float *)((char *)s + floats[k].offset) = (float)d;
        return 1;
    }
    long n;
    if (strcmp(a, "--top-k") == 0 || strcmp(a, "--penalty-last-n") == 0) {
        bool k = a[2] == 't';
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, k ? 0 : -1, 1 << 24, &n)) {
            cli_usage_error(cmd, "%s must be an integer >= %d, not '%s'", a, k ? 0 : -1, v);
            return -1;
        }
        if (k) s->top_k = (int)n;
        else s->penalty_last_n = (int)n;
        return 1;
    }
    if (strcmp(a, "--seed") == 0) {
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_u64(v, &s->seed)) {
            cli_usage_error(cmd, "--seed must be a non-negative integer, not '%s'", v);
            return -1;
        }
        if (seed_set) *seed_set = true;
        return 1;
    }
    return 0;
}
