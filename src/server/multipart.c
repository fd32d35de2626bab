#include "server/multipart.h"

#include <string.h>
#include <strings.h>

/* ---- small lexers over [p, end) ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && is_space(*p)) p++;
    return p;
}

/* Copies [s, s + n) into out[cap] as a C string; false when it does not fit or holds a control character. */
static bool copy_value(const char *s, size_t n, char *out, size_t cap, bool truncate)
{
    if (n >= cap) {
        if (!truncate) return false;
        n = cap - 1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t') return false;
    memcpy(out, s, n);
    out[n] = 0;
    return true;
}

/* One `; name=value` parameter of a header value starting at *pp (before the ';'). The value is a token or a
 * quoted string whose backslash escapes are undone into val (cap bytes). false at the end or on malformed
 * input
 * (*bad set). */
static bool next_param(const char **pp, const char *end, char *key, size_t key_cap, char *val, size_t val_cap,
                       bool *bad)
{
    const char *p = skip_space(*pp, end);
    while (p < end && (*p == ';' || is_space(*p))) p++;
    if (p >= end) return false;
    const char *k = p;
    while (p < end && *p != '=' && *p != ';' && !is_space(*p)) p++;
    size_t kn = (size_t)(p - k);
    p = skip_space(p, end);
    if (kn == 0 || kn >= key_cap || p >= end || *p != '=') {
        *bad = true;
        return false;
    }
    memcpy(key, k, kn);
    key[kn] = 0;
    p = skip_space(p + 1, end);
    size_t vn = 0;
    if (p < end && *p == '"') {
        for (p++;; p++) {
            if (p >= end) {
                *bad = true; /* unterminated quoted string */
                return false;
            }
            if (*p == '"') break;
            if (*p == '\\' && p + 1 < end) p++;
            if ((unsigned char)*p < 0x20 && *p != '\t') {
                *bad = true;
                return false;
            }
            if (vn + 1 < val_cap)
                val[vn++] = *p; /* long values are truncated; callers check what they need */
        }
        p++;
    } else {
        const char *v = p;
        while (p < end && *p != ';') p++;
        const char *ve = p;
        while (ve > v && is_space(ve[-1])) ve--;
        for (const char *q = v; q < ve; q++) {
            if ((unsigned char)*q < 0x20 && *q != '\t') {
                *bad = true;
                return false;
            }
            if (vn + 1 < val_cap) val[vn++] = *q;
        }
    }
    val[vn] = 0;
    *pp = p;
    return true;
}

/* ---- Content-Type: multipart/form-data; boundary=... ---- */

qwglm_status mp_boundary(const char *content_type, char *out, struct qw_err *e)
{
    out[0] = 0;
    if (!content_type)
        return qw_fail(e, QWGLM_ERR_FORMAT, "the request has no Content-Type; expected multipart/form-data");
    const char *p = content_type, *end = p + strlen(p);
    p = skip_space(p, end);
    static const char want[] = "multipart/form-data";
    size_t wn = sizeof want - 1;
    const char *t = p;
    while (p < end && *p != ';' && !is_space(*p)) p++;
    if ((size_t)(p - t) != wn || strncasecmp(t, want, wn) != 0)
        return qw_fail(e, QWGLM_ERR_FORMAT, "Content-Type is '%.80s'; expected multipart/form-data",
                       content_type);
    char key[32], val[MP_MAX_BOUNDARY + 2];
    bool bad = false;
    while (next_param(&p, end, key, sizeof key, val, sizeof val, &bad)) {
        if (strcasecmp(key, "boundary") != 0) continue;
        size_t n = strlen(val);
        if (n == 0 || n > MP_MAX_BOUNDARY || val[n - 1] == ' ')
            return qw_fail(e, QWGLM_ERR_FORMAT,
                           "the multipart boundary must be 1 to %d characters, not ending in a "
                           "space",
                           MP_MAX_BOUNDARY);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)val[i] < 0x20 || (unsigned char)val[i] > 0x7e)
                return qw_fail(e, QWGLM_ERR_FORMAT, "the multipart boundary holds a byte 0x%02x",
                               (unsigned char)val[i]);
        memcpy(out, val, n + 1);
        return QWGLM_OK;
    }
    if (bad)
        return qw_fail(e, QWGLM_ERR_FORMAT, "malformed parameters in Content-Type '%.80s'", content_type);
    return qw_fail(e, QWGLM_ERR_FORMAT, "Content-Type multipart/form-data without a boundary parameter");
}

/* ---- the body ---- */

struct scan {
    const uint8_t *b;
    size_t n;
    char delim[MP_MAX_BOUNDARY + 3]; /* "--" boundary */
    size_t dlen;
};

/* Whether the delimiter at i ends its line: "--" (the closing one), or padding and a line end. Content may
 * hold lines that merely start with the delimiter ("--BOUNDARYx"); those are not boundaries. */
static bool delim_ends_line(const struct scan *s, size_t i)
{
    size_t p = i + s->dlen;
    if (s->n - p >= 2 && s->b[p] == '-' && s->b[p + 1] == '-') return true;
    while (p < s->n && is_space((char)s->b[p])) p++;
    return p >= s->n || s->b[p] == '\r' || s->b[p] == '\n';
}

/* The next delimiter at or after from that starts a line (or the body, when at_start): its index, or n. */
static size_t find_delim(const struct scan *s, size_t from, bool at_start)
{
    while (from < s->n && s->n - from >= s->dlen) {
        const uint8_t *hit = memmem(s->b + from, s->n - from, s->delim, s->dlen);
        if (!hit) break;
        size_t i = (size_t)(hit - s->b);
        if (((i == 0 && at_start) || (i > 0 && s->b[i - 1] == '\n')) && delim_ends_line(s, i)) return i;
        from = i + 1;
    }
    return s->n;
}

/* Reads the part's header lines starting at *pos, up to the empty line; *pos ends after it. */
static qwglm_status read_headers(const struct scan *s, size_t *pos, struct mp_part *part, int index,
                                 struct qw_err *e)
{
    size_t p = *pos, start = p;
    bool disposition = false;
    for (;;) {
        if (p - start > MP_MAX_HEADER_BYTES)
            return qw_fail(e, QWGLM_ERR_FORMAT, "multipart part %d: headers longer than %d bytes", index,
                           MP_MAX_HEADER_BYTES);
        const uint8_t *nl = p < s->n ? memchr(s->b + p, '\n', s->n - p) : NULL;
        if (!nl)
            return qw_fail(e, QWGLM_ERR_FORMAT, "multipart part %d: the body ends inside its headers", index);
        size_t line_end = (size_t)(nl - s->b), next = line_end + 1;
        if (line_end > p && s->b[line_end - 1] == '\r') line_end--;
        if (line_end == p) {
            *pos = next;
            break;
        }
        const char *l = (const char *)s->b + p, *le = (const char *)s->b + line_end;
        p = next;
        if (is_space(*l)) continue; /* obsolete folded continuation: nothing we read spans lines */
        const char *colon = memchr(l, ':', (size_t)(le - l));
        if (!colon)
            return qw_fail(e, QWGLM_ERR_FORMAT, "multipart part %d: a header line without ':'", index);
        size_t kn = (size_t)(colon - l);
        const char *v = skip_space(colon + 1, le), *ve = le;
        while (ve > v && is_space(ve[-1])) ve--;
        if (kn == 19 && strncasecmp(l, "Content-Disposition", kn) == 0) {
            const char *q = v;
            while (q < ve && *q != ';' && !is_space(*q)) q++;
            if ((size_t)(q - v) != 9 || strncasecmp(v, "form-data", 9) != 0)
                return qw_fail(e, QWGLM_ERR_FORMAT, "multipart part %d: Content-Disposition is not form-data",
                               index);
            char key[32], val[512], star[512] = "";
            bool bad = false;
            while (next_param(&q, ve, key, sizeof key, val, sizeof val, &bad)) {
                if (strcasecmp(key, "name") == 0) {
                    if (!copy_value(val, strlen(val), part->name, sizeof part->name, false))
                        return qw_fail(e, QWGLM_ERR_FORMAT,
                                       "multipart part %d: a field name longer than %zu bytes", index,
                                       sizeof part->name - 1);
                } else if (strcasecmp(key, "filename") == 0) {
                    copy_value(val, strlen(val), part->filename, sizeof part->filename, true);
                    part->has_filename = true;
                } else if (strcasecmp(key, "filename*") == 0) {
                    memcpy(star, val, sizeof star);
                }
            }
            if (bad)
                return qw_fail(e, QWGLM_ERR_FORMAT,
                               "multipart part %d: malformed Content-Disposition parameters", index);
            if (!part->has_filename && star[0]) { /* RFC 5987 charset'lang'value: keep the value as it is */
                const char *tick = strchr(star, '\'');
                const char *tick2 = tick ? strchr(tick + 1, '\'') : NULL;
                const char *fn = tick2 ? tick2 + 1 : star;
                copy_value(fn, strlen(fn), part->filename, sizeof part->filename, true);
                part->has_filename = true;
            }
            disposition = true;
        } else if (kn == 12 && strncasecmp(l, "Content-Type", kn) == 0) {
            if (!copy_value(v, (size_t)(ve - v), part->content_type, sizeof part->content_type, false))
                return qw_fail(e, QWGLM_ERR_FORMAT, "multipart part %d: Content-Type longer than %zu bytes",
                               index, sizeof part->content_type - 1);
        }
    }
    if (!disposition || !part->name[0])
        return qw_fail(e, QWGLM_ERR_FORMAT, "multipart part %d has no Content-Disposition: form-data name",
                       index);
    return QWGLM_OK;
}

qwglm_status mp_parse(const char *boundary, const uint8_t *body, size_t n, struct mp_form *f,
                      struct qw_err *e)
{
    memset(f, 0, sizeof *f);
    struct scan s = {.b = body, .n = n};
    size_t blen = boundary ? strlen(boundary) : 0;
    if (blen == 0 || blen > MP_MAX_BOUNDARY) return qw_fail(e, QWGLM_ERR_FORMAT, "bad multipart boundary");
    memcpy(s.delim, "--", 2);
    memcpy(s.delim + 2, boundary, blen);
    s.dlen = blen + 2;
    if (!body) n = s.n = 0;

    size_t d = find_delim(&s, 0, true);
    if (d == n) return qw_fail(e, QWGLM_ERR_FORMAT, "the multipart body holds no boundary line");
    for (int index = 0;; index++) {
        size_t p = d + s.dlen;
        if (n - p >= 2 && body[p] == '-' && body[p + 1] == '-') return QWGLM_OK; /* the closing delimiter */
        while (p < n && is_space((char)body[p])) p++;
        if (p < n && body[p] == '\r') p++;
        if (p >= n || body[p] != '\n') /* delim_ends_line() let nothing else through */
            return qw_fail(e, QWGLM_ERR_FORMAT, "the multipart body ends before its closing boundary");
        p++;
        if (index == MP_MAX_PARTS)
            return qw_fail(e, QWGLM_ERR_FORMAT, "more than %d parts in the multipart body", MP_MAX_PARTS);
        struct mp_part *part = &f->parts[index];
        qwglm_status st = read_headers(&s, &p, part, index, e);
        if (st) return st;
        size_t next = find_delim(&s, p, false);
        if (next == n)
            return qw_fail(e, QWGLM_ERR_FORMAT,
                           "multipart part %d ('%s'): the body ends before its closing boundary", index,
                           part->name);
        size_t end = next - 1; /* the '\n' before the delimiter belongs to it, and a '\r' before that */
        if (end > p && body[end - 1] == '\r') end--;
        part->data = body + p;
        part->size = end >= p ? end - p : 0;
        f->n_parts = index + 1;
        d = next;
    }
}

const struct mp_part *mp_find(const struct mp_form *f, const char *name)
{
    for (int i = 0; i < f->n_parts; i++)
        if (strcmp(f->parts[i].name, name) == 0) return &f->parts[i];
    return NULL;
}

bool mp_text(const struct mp_part *p, char *out, size_t cap)
{
    if (cap == 0 || p->size >= cap || memchr(p->data, 0, p->size)) return false;
    memcpy(out, p->data, p->size);
    out[p->size] = 0;
    return true;
}
