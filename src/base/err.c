#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
    "ok", "i/o error", "format error", "out of memory", "invalid argument", "backend error", "cancelled",
    "context full",
};
_Static_assert(sizeof status_names / sizeof status_names[0] == QWGLM_ERR_CONTEXT + 1, "status name table");

const char *qwglm_status_str(qwglm_status st)
{
    if ((unsigned)st < sizeof status_names / sizeof status_names[0]) return status_names[st];
    return "unknown error";
}

qwglm_status qw_fail(struct qw_err *e, qwglm_status st, const char *fmt, ...)
{
    if (!e || e->status != QWGLM_OK) return st;
    e->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return st;
}

void qw_err_copy(char *dst, const struct qw_err *e)
{
    if (!dst) return;
    if (e->status == QWGLM_OK) {
        dst[0] = '\0';
        return;
    }
    snprintf(dst, QWGLM_ERR_SIZE, "%s", e->msg[0] ? e->msg : qwglm_status_str(e->status));
}
