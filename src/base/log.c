#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void qw_log(const struct qw_log *log, qwglm_log_level level, const char *fmt, ...)
{
    if (!log || !log->fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log->fn(level, msg, log->user);
}

int64_t qw_time_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
