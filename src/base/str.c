#include "str.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "utf8.h"

static bool reserve(struct qw_str *s, size_t extra)
{
    if (s->failed) return false;
    size_t need;
    if (!size_add_ok(s->len, extra, &need) || !size_add_ok(need, 1, &need) || (s->max && need - 1 > s->max)) {
        s->failed = true;
        return false;
    }
    if (need <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = qw_realloc(s->data, cap);
    if (!p) {
        s->failed = true;
        return false;
    }
    s->data = p;
    s->cap = cap;
    return true;
}

bool qw_str_append(struct qw_str *s, const void *p, size_t n)
{
    if (!reserve(s, n)) return false;
    if (n) memcpy(s->data + s->len, p, n);
    s->len += n;
    s->data[s->len] = '\0';
    return true;
}

bool qw_str_puts(struct qw_str *s, const char *z) { return qw_str_append(s, z, strlen(z)); }
bool qw_str_putc(struct qw_str *s, char c) { return qw_str_append(s, &c, 1); }

bool qw_str_printf(struct qw_str *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(s, (size_t)n)) return false;
    va_start(ap, fmt);
    vsnprintf(s->data + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
    return true;
}

bool qw_str_json(struct qw_str *s, const char *z, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    bool ok = qw_str_putc(s, '"');
    size_t i = 0;
    while (ok && i < n) {
        unsigned char c = (unsigned char)z[i];
        if (c >= 0x80) {
            uint32_t cp;
            size_t len = utf8_decode(z + i, n - i, &cp);
            if (len == 0) {
                ok = qw_str_append(s, "\xef\xbf\xbd", 3);
                i++;
            } else {
                ok = qw_str_append(s, z + i, len);
                i += len;
            }
            continue;
        }
        i++;
        switch (c) {
        case '"': ok = qw_str_append(s, "\\\"", 2); break;
        case '\\': ok = qw_str_append(s, "\\\\", 2); break;
        case '\n': ok = qw_str_append(s, "\\n", 2); break;
        case '\r': ok = qw_str_append(s, "\\r", 2); break;
        case '\t': ok = qw_str_append(s, "\\t", 2); break;
        case '\b': ok = qw_str_append(s, "\\b", 2); break;
        case '\f': ok = qw_str_append(s, "\\f", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                ok = qw_str_append(s, u, 6);
            } else {
                ok = qw_str_putc(s, (char)c);
            }
        }
    }
    return ok && qw_str_putc(s, '"');
}

void qw_str_clear(struct qw_str *s)
{
    s->len = 0;
    s->failed = false;
    if (s->data) s->data[0] = '\0';
}

void qw_str_free(struct qw_str *s)
{
    qw_free(s->data);
    size_t max = s->max;
    memset(s, 0, sizeof *s);
    s->max = max;
}

char *qw_str_take(struct qw_str *s)
{
    if (!s->data && !reserve(s, 0)) return NULL;
    if (!s->data) return NULL;
    s->data[s->len] = '\0';
    char *p = s->data;
    s->data = NULL;
    s->len = s->cap = 0;
    return p;
}
