#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
