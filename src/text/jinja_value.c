/* Jinja values: the arena they live in, and Python's semantics for them (truth, equality, ordering, str(),
 * repr(), json.dumps()). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "text/jinja_impl.h"
#include "text/unicode.h"

/* ---- arena ---- */

struct jblock {
    struct jblock *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

void *ja_alloc(struct jarena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (a->max && (n > a->max || a->total > a->max - n)) return NULL;
    struct jblock *b = a->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        if (b && b->cap * 2 > cap && b->cap < (1u << 22)) cap = b->cap * 2;
        b = qw_malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->blocks;
        a->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

void ja_free(struct jarena *a)
{
    while (a->blocks) {
        struct jblock *b = a->blocks;
        a->blocks = b->next;
        qw_free(b);
    }
    a->total = 0;
}

/* ---- construction ---- */

struct jv jv_str(struct jarena *a, const char *s, size_t n)
{
    struct jstr *p = ja_alloc(a, sizeof *p + n + 1);
    if (!p) return jv_undef();
    p->len = n;
    if (n) memcpy(p->p, s, n);
    return (struct jv){.t = JT_STR, .u.s = p};
}

struct jv jv_list(struct jarena *a, size_t n, bool tuple)
{
    struct jlist *l = ja_alloc(a, sizeof *l);
    size_t bytes;
    if (!l || !size_mul_ok(n, sizeof(struct jv), &bytes)) return jv_undef();
    l->n = n;
    if (n && !(l->v = ja_alloc(a, bytes))) return jv_undef();
    return (struct jv){.t = tuple ? JT_TUPLE : JT_LIST, .u.l = l};
}

struct jv jv_dict(struct jarena *a)
{
    struct jdict *d = ja_alloc(a, sizeof *d);
    if (!d) return jv_undef();
    return (struct jv){.t = JT_DICT, .u.d = d};
}

static bool hashable(struct jv k) { return k.t != JT_LIST && k.t != JT_DICT && k.t != JT_NS; }

const struct jv *jdict_get(const struct jdict *d, struct jv key)
{
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

const struct jv *jdict_get_str(const struct jdict *d, const char *key, size_t n)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].t == JT_STR && d->keys[i].u.s->len == n && memcmp(d->keys[i].u.s->p, key, n) == 0)
            return &d->vals[i];
    return NULL;
}

/* A key seen again keeps its place and takes the new value, as in Python. */
bool jdict_set(struct jarena *a, struct jdict *d, struct jv key, struct jv val)
{
    if (!hashable(key)) return false;
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) {
            d->vals[i] = val;
            return true;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct jv *k = ja_alloc(a, cap * sizeof *k), *v = ja_alloc(a, cap * sizeof *v);
        if (!k || !v) return false;
        if (d->n) {
            memcpy(k, d->keys, d->n * sizeof *k);
            memcpy(v, d->vals, d->n * sizeof *v);
        }
        d->keys = k;
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n++] = val;
    return true;
}

struct jv jv_from_json(struct jarena *a, const struct json_value *v, bool *ok)
{
    switch (v->type) {
    case JSON_NULL: return jv_none();
    case JSON_BOOL: return jv_bool(v->b);
    case JSON_NUMBER: return v->is_int ? jv_int(v->i) : jv_float(v->u.num);
    case JSON_STRING: {
        struct jv s = jv_str(a, v->u.str, v->n);
        if (s.t != JT_STR) *ok = false;
        return s;
    }
    case JSON_ARRAY: {
        struct jv l = jv_list(a, v->n, false);
        if (l.t != JT_LIST) {
            *ok = false;
            return l;
        }
        for (uint32_t i = 0; i < v->n && *ok; i++) l.u.l->v[i] = jv_from_json(a, &v->u.items[i], ok);
        return l;
    }
    default: {
        struct jv d = jv_dict(a);
        if (d.t != JT_DICT) {
            *ok = false;
            return d;
        }
        for (uint32_t i = 0; i < v->n && *ok; i++) {
            const struct json_member *m = &v->u.members[i];
            struct jv k = jv_str(a, m->key, m->key_len);
            if (k.t != JT_STR || !jdict_set(a, d.u.d, k, jv_from_json(a, &m->value, ok))) *ok = false;
        }
        return d;
    }
    }
}

struct jv jv_from_qstr(struct jrender *r, struct qw_str *s)
{
    struct jv v = s->failed ? jv_undef() : jv_str(&r->arena, s->data ? s->data : "", s->len);
    qw_str_free(s);
    if (v.t != JT_STR) jr_nomem(r);
    return v;
}

/* ---- Python semantics ---- */

bool jv_truthy(struct jv v)
{
    switch (v.t) {
    case JT_UNDEF: case JT_NONE: return false;
    case JT_BOOL: return v.u.b;
    case JT_INT: return v.u.i != 0;
    case JT_FLOAT: return v.u.f != 0;
    case JT_STR: return v.u.s->len != 0;
    case JT_LIST: case JT_TUPLE: return v.u.l->n != 0;
    case JT_DICT: return v.u.d->n != 0;
    default: return true;
    }
}

static double num(struct jv v) { return v.t == JT_FLOAT ? v.u.f : v.t == JT_INT ? (double)v.u.i : v.u.b; }
static int64_t inum(struct jv v) { return v.t == JT_INT ? v.u.i : v.u.b; }

bool jv_equal(struct jv a, struct jv b)
{
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.t != JT_FLOAT && b.t != JT_FLOAT) return inum(a) == inum(b);
        return num(a) == num(b);
    }
    if (a.t == JT_UNDEF || b.t == JT_UNDEF) return a.t == b.t;
    if (a.t != b.t) return false;
    switch (a.t) {
    case JT_NONE: return true;
    case JT_STR: return a.u.s->len == b.u.s->len && memcmp(a.u.s->p, b.u.s->p, a.u.s->len) == 0;
    case JT_LIST: case JT_TUPLE:
        if (a.u.l->n != b.u.l->n) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_equal(a.u.l->v[i], b.u.l->v[i])) return false;
        return true;
    case JT_DICT:
        if (a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            const struct jv *o = jdict_get(b.u.d, a.u.d->keys[i]);
            if (!o || !jv_equal(a.u.d->vals[i], *o)) return false;
        }
        return true;
    case JT_NS: return a.u.d == b.u.d;
    case JT_MACRO: return a.u.m == b.u.m;
    case JT_FUNC: return a.u.fn == b.u.fn;
    default: return false;
    }
}

const char *jv_type_name(struct jv v)
{
    static const char *names[] = {"Undefined", "NoneType", "bool", "int", "float", "str", "list", "tuple", "dict",
                                  "Namespace", "Macro", "function", "builtin_function_or_method", "LoopContext"};
    return v.t < JT_TYPE_COUNT ? names[v.t] : "?";
}

bool jv_compare(struct jrender *r, struct jv a, struct jv b, int *out)
{
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.t != JT_FLOAT && b.t != JT_FLOAT) *out = (inum(a) > inum(b)) - (inum(a) < inum(b));
        else *out = (num(a) > num(b)) - (num(a) < num(b));
        return true;
    }
    if (a.t == JT_STR && b.t == JT_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int c = memcmp(a.u.s->p, b.u.s->p, n); /* byte order of UTF-8 is code point order */
        *out = c ? (c > 0) - (c < 0) : (a.u.s->len > b.u.s->len) - (a.u.s->len < b.u.s->len);
        return true;
    }
    if (jv_is_seq(a) && a.t == b.t) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_equal(a.u.l->v[i], b.u.l->v[i])) continue;
            return jv_compare(r, a.u.l->v[i], b.u.l->v[i], out);
        }
        *out = (a.u.l->n > b.u.l->n) - (a.u.l->n < b.u.l->n);
        return true;
    }
    return jr_fail(r, QWGLM_ERR_FORMAT, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a),
                   jv_type_name(b));
}

size_t utf8_count(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += uni_next(s + i, n - i, &cp);
        k++;
    }
    return k;
}

size_t utf8_offset(const char *s, size_t n, size_t index)
{
    size_t i = 0;
    while (index > 0 && i < n) {
        uint32_t cp;
        i += uni_next(s + i, n - i, &cp);
        index--;
    }
    return i;
}

bool jv_iterate(struct jrender *r, struct jv v, struct jlist *out)
{
    switch (v.t) {
    case JT_UNDEF: out->n = 0; out->v = NULL; return true;
    case JT_LIST: case JT_TUPLE: *out = *v.u.l; return true;
    case JT_DICT: out->n = v.u.d->n; out->v = v.u.d->keys; return true;
    case JT_STR: {
        size_t n = utf8_count(v.u.s->p, v.u.s->len);
        out->n = n;
        out->v = n ? ja_alloc(&r->arena, n * sizeof *out->v) : NULL;
        if (n && !out->v) return jr_nomem(r);
        for (size_t i = 0, k = 0; k < n; k++) {
            uint32_t cp;
            size_t l = uni_next(v.u.s->p + i, v.u.s->len - i, &cp);
            out->v[k] = jv_str(&r->arena, v.u.s->p + i, l);
            if (out->v[k].t != JT_STR) return jr_nomem(r);
            i += l;
        }
        return true;
    }
    default:
        return jr_fail(r, QWGLM_ERR_FORMAT, "'%s' object is not iterable", jv_type_name(v));
    }
}

/* ---- printing ---- */

/* Python's repr of a float: the shortest digits that read back the same, in fixed notation for exponents
 * -4 .. 15 and scientific otherwise. */
void py_float_repr(double f, char buf[40])
{
    if (isnan(f)) {
        strcpy(buf, "nan");
        return;
    }
    if (isinf(f)) {
        strcpy(buf, f > 0 ? "inf" : "-inf");
        return;
    }
    char tmp[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp: [-]d.ddde[+-]xx */
    char digits[24];
    int nd = 0, exp10;
    const char *q = tmp;
    bool neg = *q == '-';
    if (neg) q++;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    exp10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char *o = buf;
    if (neg) *o++ = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int k = 0; k < -exp10 - 1; k++) *o++ = '0';
            for (int k = 0; k < nd; k++) *o++ = digits[k];
        } else {
            for (int k = 0; k <= exp10; k++) *o++ = k < nd ? digits[k] : '0';
            *o++ = '.';
            if (nd > exp10 + 1)
                for (int k = exp10 + 1; k < nd; k++) *o++ = digits[k];
            else
                *o++ = '0';
        }
        *o = '\0';
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int k = 1; k < nd; k++) *o++ = digits[k];
        }
        snprintf(o, 16, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
}

static bool py_printable(uint32_t cp)
{
    if (cp == ' ') return true;
    if (cp < 0x20 || cp == 0x7f) return false;
    if (cp < 0x7f) return true;
    if (cp > UNI_MAX) return false;
    int c = uni_cat(cp);
    return !(c == UNI_CC || c == UNI_CF || c == UNI_CS || c == UNI_CO || c == UNI_CN || c == UNI_ZL ||
             c == UNI_ZP || c == UNI_ZS);
}

static bool repr_str(struct qw_str *out, const char *s, size_t n)
{
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    qw_str_putc(out, q);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = uni_next(s + i, n - i, &cp);
        if (cp == (uint32_t)q || cp == '\\') {
            qw_str_putc(out, '\\');
            qw_str_putc(out, (char)cp);
        } else if (cp == '\n') {
            qw_str_puts(out, "\\n");
        } else if (cp == '\r') {
            qw_str_puts(out, "\\r");
        } else if (cp == '\t') {
            qw_str_puts(out, "\\t");
        } else if (cp >= UNI_BAD_BYTE) {
            qw_str_printf(out, "\\udc%02x", (unsigned)(cp - UNI_BAD_BYTE)); /* as surrogateescape shows it */
        } else if (py_printable(cp)) {
            qw_str_append(out, s + i, l);
        } else if (cp < 0x100) {
            qw_str_printf(out, "\\x%02x", (unsigned)cp);
        } else if (cp < 0x10000) {
            qw_str_printf(out, "\\u%04x", (unsigned)cp);
        } else {
            qw_str_printf(out, "\\U%08x", (unsigned)cp);
        }
        i += l;
    }
    return qw_str_putc(out, q);
}

static bool print_value(struct jrender *r, struct qw_str *out, struct jv v, bool repr, int depth)
{
    char buf[40];
    if (depth > 200) return jr_fail(r, QWGLM_ERR_FORMAT, "value nested too deeply to print");
    switch (v.t) {
    case JT_UNDEF: return true;
    case JT_NONE: return qw_str_puts(out, "None");
    case JT_BOOL: return qw_str_puts(out, v.u.b ? "True" : "False");
    case JT_INT: return qw_str_printf(out, "%lld", (long long)v.u.i);
    case JT_FLOAT: py_float_repr(v.u.f, buf); return qw_str_puts(out, buf);
    case JT_STR: return repr ? repr_str(out, v.u.s->p, v.u.s->len) : qw_str_append(out, v.u.s->p, v.u.s->len);
    case JT_LIST:
    case JT_TUPLE: {
        qw_str_putc(out, v.t == JT_LIST ? '[' : '(');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) qw_str_puts(out, ", ");
            if (!print_value(r, out, v.u.l->v[i], true, depth + 1)) return false;
        }
        if (v.t == JT_TUPLE && v.u.l->n == 1) qw_str_putc(out, ',');
        return qw_str_putc(out, v.t == JT_LIST ? ']' : ')');
    }
    case JT_DICT:
    case JT_NS: {
        if (v.t == JT_NS) qw_str_puts(out, "<Namespace ");
        qw_str_putc(out, '{');
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) qw_str_puts(out, ", ");
            if (!print_value(r, out, v.u.d->keys[i], true, depth + 1)) return false;
            qw_str_puts(out, ": ");
            if (!print_value(r, out, v.u.d->vals[i], true, depth + 1)) return false;
        }
        qw_str_putc(out, '}');
        return v.t == JT_NS ? qw_str_putc(out, '>') : !out->failed;
    }
    case JT_MACRO: return qw_str_puts(out, "<Macro>");
    default: return qw_str_puts(out, "<built-in function>");
    }
}

bool jv_print(struct jrender *r, struct qw_str *out, struct jv v) { return print_value(r, out, v, false, 0); }
bool jv_repr(struct jrender *r, struct qw_str *out, struct jv v) { return print_value(r, out, v, true, 0); }

/* ---- json.dumps ---- */

struct json_opts {
    bool ensure_ascii, sort_keys;
    int indent; /* < 0: none */
    const char *indent_str, *item_sep, *key_sep;
};

static bool json_string_py(struct qw_str *out, const char *s, size_t n, bool ensure_ascii)
{
    qw_str_putc(out, '"');
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = uni_next(s + i, n - i, &cp);
        switch (cp) {
        case '"': qw_str_puts(out, "\\\""); break;
        case '\\': qw_str_puts(out, "\\\\"); break;
        case '\n': qw_str_puts(out, "\\n"); break;
        case '\r': qw_str_puts(out, "\\r"); break;
        case '\t': qw_str_puts(out, "\\t"); break;
        case '\b': qw_str_puts(out, "\\b"); break;
        case '\f': qw_str_puts(out, "\\f"); break;
        default:
            if (cp < 0x20) {
                qw_str_printf(out, "\\u%04x", (unsigned)cp);
            } else if (cp >= UNI_BAD_BYTE) {
                qw_str_printf(out, "\\udc%02x", (unsigned)(cp - UNI_BAD_BYTE));
            } else if (ensure_ascii && cp >= 0x7f) {
                if (cp < 0x10000) {
                    qw_str_printf(out, "\\u%04x", (unsigned)cp);
                } else {
                    uint32_t c = cp - 0x10000;
                    qw_str_printf(out, "\\u%04x\\u%04x", (unsigned)(0xd800 + (c >> 10)), (unsigned)(0xdc00 + (c & 0x3ff)));
                }
            } else {
                qw_str_append(out, s + i, l);
            }
        }
        i += l;
    }
    return qw_str_putc(out, '"');
}

static void newline_indent(struct qw_str *out, const struct json_opts *o, int level)
{
    qw_str_putc(out, '\n');
    for (int k = 0; k < level; k++) {
        if (o->indent_str) qw_str_puts(out, o->indent_str);
        else
            for (int j = 0; j < o->indent; j++) qw_str_putc(out, ' ');
    }
}

static bool json_key(struct jrender *r, struct qw_str *out, struct jv k, const struct json_opts *o)
{
    char buf[40];
    switch (k.t) {
    case JT_STR: return json_string_py(out, k.u.s->p, k.u.s->len, o->ensure_ascii);
    case JT_BOOL: return qw_str_puts(out, k.u.b ? "\"true\"" : "\"false\"");
    case JT_NONE: return qw_str_puts(out, "\"null\"");
    case JT_INT: return qw_str_printf(out, "\"%lld\"", (long long)k.u.i);
    case JT_FLOAT: py_float_repr(k.u.f, buf); return qw_str_printf(out, "\"%s\"", buf);
    default:
        return jr_fail(r, QWGLM_ERR_FORMAT, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    }
}

static bool json_value(struct jrender *r, struct qw_str *out, struct jv v, const struct json_opts *o, int level)
{
    char buf[40];
    if (level > 200) return jr_fail(r, QWGLM_ERR_FORMAT, "value nested too deeply for tojson");
    switch (v.t) {
    case JT_NONE: return qw_str_puts(out, "null");
    case JT_BOOL: return qw_str_puts(out, v.u.b ? "true" : "false");
    case JT_INT: return qw_str_printf(out, "%lld", (long long)v.u.i);
    case JT_FLOAT:
        if (isnan(v.u.f)) return qw_str_puts(out, "NaN");
        if (isinf(v.u.f)) return qw_str_puts(out, v.u.f > 0 ? "Infinity" : "-Infinity");
        py_float_repr(v.u.f, buf);
        return qw_str_puts(out, buf);
    case JT_STR: return json_string_py(out, v.u.s->p, v.u.s->len, o->ensure_ascii);
    case JT_LIST:
    case JT_TUPLE: {
        if (v.u.l->n == 0) return qw_str_puts(out, "[]");
        qw_str_putc(out, '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) qw_str_puts(out, o->item_sep);
            if (o->indent >= 0) newline_indent(out, o, level + 1);
            if (!json_value(r, out, v.u.l->v[i], o, level + 1)) return false;
        }
        if (o->indent >= 0) newline_indent(out, o, level);
        return qw_str_putc(out, ']');
    }
    case JT_DICT: {
        const struct jdict *d = v.u.d;
        if (d->n == 0) return qw_str_puts(out, "{}");
        size_t *order = ja_alloc(&r->arena, d->n * sizeof *order);
        if (!order) return jr_nomem(r);
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        if (o->sort_keys) { /* insertion sort: stable, dicts are small */
            for (size_t i = 1; i < d->n; i++) {
                size_t x = order[i], j = i;
                int c = 0;
                while (j > 0) {
                    if (!jv_compare(r, d->keys[order[j - 1]], d->keys[x], &c)) return false;
                    if (c <= 0) break;
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = x;
            }
        }
        qw_str_putc(out, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) qw_str_puts(out, o->item_sep);
            if (o->indent >= 0) newline_indent(out, o, level + 1);
            if (!json_key(r, out, d->keys[order[i]], o)) return false;
            qw_str_puts(out, o->key_sep);
            if (!json_value(r, out, d->vals[order[i]], o, level + 1)) return false;
        }
        if (o->indent >= 0) newline_indent(out, o, level);
        return qw_str_putc(out, '}');
    }
    default:
        return jr_fail(r, QWGLM_ERR_FORMAT, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
}

bool jv_json(struct jrender *r, struct qw_str *out, struct jv v, bool ensure_ascii, int indent, const char *indent_str,
             const char *item_sep, const char *key_sep, bool sort_keys)
{
    bool pretty = indent >= 0 || indent_str;
    struct json_opts o = {ensure_ascii, sort_keys, pretty ? (indent < 0 ? 0 : indent) : -1, indent_str,
                          item_sep ? item_sep : pretty ? "," : ", ", key_sep ? key_sep : ": "};
    return json_value(r, out, v, &o, 0) && !out->failed;
}
