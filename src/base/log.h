/* Logging through the caller's callback; silent when there is none. */
#ifndef QW_LOG_H
#define QW_LOG_H

#include "qwglm.h"

struct qw_log {
    qwglm_log_fn fn;
    void *user;
};

void qw_log(const struct qw_log *log, qwglm_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic microseconds. */
int64_t qw_time_us(void);

#endif
