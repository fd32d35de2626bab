#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "../base/mem.h"
#include "../base/utf8.h"

/* ---- storage: a list of blocks, freed together ---- */

struct json_block {
    struct json_block *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

#define BLOCK_MIN (64 * 1024)

static void *doc_alloc(struct json_doc *d, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct json_block *b = d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
        if (b && b->cap * 2 > cap && b->cap < 16 * BLOCK_MIN) cap = b->cap * 2;
        b = qw_malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void json_doc_free(struct json_doc *doc)
{
    struct json_block *b = doc->blocks;
    while (b) {
        struct json_block *next = b->next;
        qw_free(b);
        b = next;
    }
    memset(doc, 0, sizeof *doc);
}

/* ---- parser ---- */

struct parser {
    const char *s, *end, *p;
    struct json_doc *doc;
    struct qw_err *e;
    qwglm_status status;
    /* scratch stacks for children of open arrays / objects, reused across the whole parse */
    struct json_value *vals;
    size_t n_vals, cap_vals;
    struct json_member *mems;
    size_t n_mems, cap_mems;
    char *sbuf; /* string unescape scratch */
    size_t cap_sbuf;
};

static qwglm_status fail_at(struct parser *ps, const char *at, const char *what)
{
    if (ps->status) return ps->status;
    int line = 1, col = 1;
    for (const char *q = ps->s; q < at && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    ps->status = qw_fail(ps->e, QWGLM_ERR_FORMAT, "JSON line %d column %d: %s", line, col, what);
    return ps->status;
}

static qwglm_status nomem(struct parser *ps)
{
    if (!ps->status) ps->status = qw_fail(ps->e, QWGLM_ERR_NOMEM, "JSON: out of memory");
    return ps->status;
}

static void skip_ws(struct parser *ps)
{
    const char *p = ps->p;
    while (p < ps->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    ps->p = p;
}

static bool grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap * 2 : 64, bytes;
    while (c < need) c *= 2;
    if (!size_mul_ok(c, elem, &bytes)) return false;
    void *p = qw_realloc(*buf, bytes);
    if (!p) return false;
    *buf = p;
    *cap = c;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(const char *p, const char *end, uint32_t *out)
{
    if (end - p < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return false;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return true;
}

/* Parses the string at ps->p (on the opening quote) into doc storage. */
static qwglm_status parse_string(struct parser *ps, const char **out, uint32_t *out_len)
{
    const char *p = ps->p + 1, *start = p;
    /* fast path: no escapes */
    while (p < ps->end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
    if (p < ps->end && *p == '"') {
        size_t n = (size_t)(p - start);
        if (n > UINT32_MAX) return fail_at(ps, start, "string too long");
        char *d = doc_alloc(ps->doc, n + 1);
        if (!d) return nomem(ps);
        memcpy(d, start, n);
        d[n] = '\0';
        *out = d;
        *out_len = (uint32_t)n;
        ps->p = p + 1;
        return QWGLM_OK;
    }
    size_t len = (size_t)(p - start);
    if (!grow((void **)&ps->sbuf, &ps->cap_sbuf, len + 64, 1)) return nomem(ps);
    memcpy(ps->sbuf, start, len);
    for (;;) {
        if (p >= ps->end) return fail_at(ps, p, "unterminated string");
        if (!grow((void **)&ps->sbuf, &ps->cap_sbuf, len + 8, 1)) return nomem(ps);
        unsigned char c = (unsigned char)*p;
        if (c == '"') break;
        if (c < 0x20) return fail_at(ps, p, "control character in string");
        if (c != '\\') {
            ps->sbuf[len++] = (char)c;
            p++;
            continue;
        }
        if (p + 1 >= ps->end) return fail_at(ps, p, "unterminated escape");
        char esc = p[1];
        p += 2;
        switch (esc) {
        case '"': ps->sbuf[len++] = '"'; break;
        case '\\': ps->sbuf[len++] = '\\'; break;
        case '/': ps->sbuf[len++] = '/'; break;
        case 'b': ps->sbuf[len++] = '\b'; break;
        case 'f': ps->sbuf[len++] = '\f'; break;
        case 'n': ps->sbuf[len++] = '\n'; break;
        case 'r': ps->sbuf[len++] = '\r'; break;
        case 't': ps->sbuf[len++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (!read_hex4(p, ps->end, &cp)) return fail_at(ps, p, "bad \\u escape");
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && ps->end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo;
                if (read_hex4(p + 2, ps->end, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            len += utf8_encode(cp, ps->sbuf + len);
            break;
        }
        default: return fail_at(ps, p - 1, "bad escape");
        }
    }
    if (len > UINT32_MAX) return fail_at(ps, start, "string too long");
    char *d = doc_alloc(ps->doc, len + 1);
    if (!d) return nomem(ps);
    memcpy(d, ps->sbuf, len);
    d[len] = '\0';
    *out = d;
    *out_len = (uint32_t)len;
    ps->p = p + 1;
    return QWGLM_OK;
}

static qwglm_status parse_number(struct parser *ps, struct json_value *v)
{
    const char *p = ps->p, *start = p;
    bool integral = true;
    if (p < ps->end && *p == '-') p++;
    if (p >= ps->end) return fail_at(ps, start, "bad number");
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    } else {
        return fail_at(ps, start, "bad number");
    }
    if (p < ps->end && *p == '.') {
        integral = false;
        p++;
        if (p >= ps->end || *p < '0' || *p > '9') return fail_at(ps, p, "bad number");
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-')) p++;
        if (p >= ps->end || *p < '0' || *p > '9') return fail_at(ps, p, "bad number");
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    size_t n = (size_t)(p - start);
    char tmp[64];
    char *buf = tmp;
    if (n >= sizeof tmp) {
        buf = qw_malloc(n + 1);
        if (!buf) return nomem(ps);
    }
    memcpy(buf, start, n);
    buf[n] = '\0';
    v->type = JSON_NUMBER;
    v->u.num = strtod(buf, NULL); /* the library runs in the "C" numeric locale */
    if (integral) {
        /* exact int64, when it fits */
        const char *q = buf;
        bool neg = *q == '-';
        if (neg) q++;
        uint64_t acc = 0;
        bool fits = true;
        for (; *q; q++) {
            uint64_t d = (uint64_t)(*q - '0');
            if (acc > (UINT64_MAX - d) / 10) {
                fits = false;
                break;
            }
            acc = acc * 10 + d;
        }
        if (fits && (neg ? acc <= (uint64_t)INT64_MAX + 1 : acc <= (uint64_t)INT64_MAX)) {
            v->is_int = true;
            v->i = neg ? (int64_t)(0 - acc) : (int64_t)acc;
        }
    }
    if (buf != tmp) qw_free(buf);
    ps->p = p;
    return QWGLM_OK;
}

static bool match_word(struct parser *ps, const char *w, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0) return false;
    ps->p += n;
    return true;
}

static qwglm_status parse_value(struct parser *ps, struct json_value *v, int depth);

static qwglm_status parse_array(struct parser *ps, struct json_value *v, int depth)
{
    size_t base = ps->n_vals;
    ps->p++; /* [ */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            struct json_value item;
            if (parse_value(ps, &item, depth + 1)) return ps->status;
            if (!grow((void **)&ps->vals, &ps->cap_vals, ps->n_vals + 1, sizeof *ps->vals)) return nomem(ps);
            ps->vals[ps->n_vals++] = item;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                break;
            }
            return fail_at(ps, ps->p, "expected ',' or ']'");
        }
    }
    size_t count = ps->n_vals - base;
    if (count > UINT32_MAX) return fail_at(ps, ps->p, "array too long");
    v->type = JSON_ARRAY;
    v->n = (uint32_t)count;
    v->u.items = NULL;
    if (count) {
        v->u.items = doc_alloc(ps->doc, count * sizeof *v->u.items);
        if (!v->u.items) return nomem(ps);
        memcpy(v->u.items, ps->vals + base, count * sizeof *v->u.items);
    }
    ps->n_vals = base;
    return QWGLM_OK;
}

static qwglm_status parse_object(struct parser *ps, struct json_value *v, int depth)
{
    size_t base = ps->n_mems;
    ps->p++; /* { */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            struct json_member m;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') return fail_at(ps, ps->p, "expected a string key");
            if (parse_string(ps, &m.key, &m.key_len)) return ps->status;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return fail_at(ps, ps->p, "expected ':'");
            ps->p++;
            if (parse_value(ps, &m.value, depth + 1)) return ps->status;
            if (!grow((void **)&ps->mems, &ps->cap_mems, ps->n_mems + 1, sizeof *ps->mems)) return nomem(ps);
            ps->mems[ps->n_mems++] = m;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                break;
            }
            return fail_at(ps, ps->p, "expected ',' or '}'");
        }
    }
    size_t count = ps->n_mems - base;
    if (count > UINT32_MAX) return fail_at(ps, ps->p, "object too long");
    v->type = JSON_OBJECT;
    v->n = (uint32_t)count;
    v->u.members = NULL;
    if (count) {
        v->u.members = doc_alloc(ps->doc, count * sizeof *v->u.members);
        if (!v->u.members) return nomem(ps);
        memcpy(v->u.members, ps->mems + base, count * sizeof *v->u.members);
    }
    ps->n_mems = base;
    return QWGLM_OK;
}

static qwglm_status parse_value(struct parser *ps, struct json_value *v, int depth)
{
    memset(v, 0, sizeof *v);
    if (depth > JSON_MAX_DEPTH) return fail_at(ps, ps->p, "nested too deeply");
    skip_ws(ps);
    if (ps->p >= ps->end) return fail_at(ps, ps->p, "unexpected end of input");
    switch (*ps->p) {
    case '{': return parse_object(ps, v, depth);
    case '[': return parse_array(ps, v, depth);
    case '"':
        v->type = JSON_STRING;
        return parse_string(ps, &v->u.str, &v->n);
    case 't':
        if (!match_word(ps, "true", 4)) break;
        v->type = JSON_BOOL;
        v->b = true;
        return QWGLM_OK;
    case 'f':
        if (!match_word(ps, "false", 5)) break;
        v->type = JSON_BOOL;
        return QWGLM_OK;
    case 'n':
        if (!match_word(ps, "null", 4)) break;
        v->type = JSON_NULL;
        return QWGLM_OK;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps, v);
    }
    return fail_at(ps, ps->p, "unexpected character");
}

qwglm_status json_parse(const char *text, size_t n, struct json_doc *doc, struct qw_err *e)
{
    memset(doc, 0, sizeof *doc);
    struct parser ps = {.s = text, .end = text + n, .p = text, .doc = doc, .e = e};
    if (parse_value(&ps, &doc->root, 0) == QWGLM_OK) {
        skip_ws(&ps);
        if (ps.p != ps.end) fail_at(&ps, ps.p, "trailing characters after the value");
    }
    qw_free(ps.vals);
    qw_free(ps.mems);
    qw_free(ps.sbuf);
    if (ps.status) json_doc_free(doc);
    return ps.status;
}

/* ---- access ---- */

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = obj->n; i-- > 0;) {
        const struct json_member *m = &obj->u.members[i];
        if (m->key_len == kl && memcmp(m->key, key, kl) == 0) return &m->value;
    }
    return NULL;
}

const char *json_string(const struct json_value *v)
{
    return v && v->type == JSON_STRING ? v->u.str : NULL;
}

bool json_number(const struct json_value *v, double *out)
{
    if (!v || v->type != JSON_NUMBER) return false;
    *out = v->u.num;
    return true;
}

bool json_int(const struct json_value *v, int64_t *out)
{
    if (!v || v->type != JSON_NUMBER) return false;
    if (v->is_int) {
        *out = v->i;
        return true;
    }
    /* 2.0 or 1e3 are integers too */
    double d = v->u.num;
    if (!(d >= -9.2e18 && d <= 9.2e18) || d != (double)(int64_t)d) return false;
    *out = (int64_t)d;
    return true;
}

const char *json_type_name(int type)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    _Static_assert(sizeof names / sizeof names[0] == JSON_TYPE_COUNT, "json type names");
    return type >= 0 && type < JSON_TYPE_COUNT ? names[type] : "?";
}
