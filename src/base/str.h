/* A growable byte string with a hard size limit (input can grow it, so it must have one). */
#ifndef QW_STR_H
#define QW_STR_H

#include <stdbool.h>
#include <stddef.h>

struct qw_str {
    char *data; /* always NUL-terminated once anything was appended; NULL when empty and never grown */
    size_t len, cap;
    size_t max;  /* 0: no limit beyond memory */
    bool failed; /* an append ran out of memory or past max; the string keeps what fit before */
};

/* Appenders return false (and set failed) when out of memory or past max. */
bool qw_str_append(struct qw_str *s, const void *p, size_t n);
bool qw_str_puts(struct qw_str *s, const char *z);
bool qw_str_putc(struct qw_str *s, char c);
bool qw_str_printf(struct qw_str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends z as a JSON string literal (quotes included). Invalid UTF-8 bytes become U+FFFD. */
bool qw_str_json(struct qw_str *s, const char *z, size_t n);
void qw_str_clear(struct qw_str *s);
void qw_str_free(struct qw_str *s);
/* Hands the buffer to the caller (free with qw_free) and leaves s empty. Never NULL unless out of memory. */
char *qw_str_take(struct qw_str *s);

#endif
