/* Helpers shared by the subcommands: argument parsing, logging to stderr, numbers from flags. */
#ifndef QWGLM_CLI_H
#define QWGLM_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "qwglm.h"

/* Log callback that writes "qwglm: msg" lines to stderr; user points to an int verbosity (NULL: info). */
void cli_log(qwglm_log_level level, const char *msg, void *user);

/* Prints "qwglm CMD: message" to stderr and returns 1 (or 2 from cli_usage_error). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number within [lo, hi]. */
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *s, double lo, double hi, double *out);
bool cli_parse_u64(const char *s, uint64_t *out);

/* Parses "1,2,3" into a heap array of at most max ids (free with free()); false on a malformed list. */
bool cli_parse_ids(const char *s, int32_t **ids, int *n, int max);

/* The value of flag argv[*i] ("--name VALUE"), advancing *i, or NULL (with a usage error printed) when missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

#endif
