/* Errors as values: a status plus the first message that explains it. */
#ifndef QW_ERR_H
#define QW_ERR_H

#include "qwglm.h"

struct qw_err {
    qwglm_status status; /* QWGLM_OK until the first failure */
    char msg[QWGLM_ERR_SIZE];
};

/* Records the failure in e (when e is non-NULL and holds none yet: the first message wins, later ones are
 * consequences) and returns st, so callers write `return qw_fail(e, QWGLM_ERR_FORMAT, "...", ...)`. */
qwglm_status qw_fail(struct qw_err *e, qwglm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies e's message into a caller's QWGLM_ERR_SIZE buffer (no-op for NULL dst). */
void qw_err_copy(char *dst, const struct qw_err *e);

#endif
