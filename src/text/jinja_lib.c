/* Jinja built-ins: globals (range, namespace, dict, transformers' raise_exception and strftime_now), filters,
 * tests, the loop object, and the Python str / dict / list methods templates call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "text/jinja_impl.h"
#include "text/unicode.h"

#define MAX_RANGE 100000 /* jinja2's sandbox limit */

/* ---- arguments ---- */

/* The argument at position pos or named name, or NULL. */
const struct jv *jl_arg(const struct jargs *a, int pos, const char *name)
{
    if (pos >= 0 && pos < a->n_pos) return &a->pos[pos];
    for (int i = 0; i < a->n_kw; i++)
        if (name && !strcmp(a->kw_names[i], name)) return &a->kw[i];
    return NULL;
}

struct jv jl_str_of(struct jrender *r, struct jv v)
{
    if (v.t == JT_STR) return v;
    struct qw_str s = {0};
    if (!jv_print(r, &s, v)) {
        qw_str_free(&s);
        return jv_undef();
    }
    return jv_from_qstr(r, &s);
}

struct jv jl_mkstr(struct jrender *r, const char *s, size_t n)
{
    struct jv v = jv_str(&r->arena, s, n);
    if (v.t != JT_STR) jr_nomem(r);
    return v;
}

bool jl_need_str(struct jrender *r, const struct jv *v, const char *what)
{
    if (v && v->t == JT_STR) return true;
    return jr_fail(r, QWGLM_ERR_FORMAT, "%s must be a string, not %s", what, v ? jv_type_name(*v) : "nothing");
}

bool jl_as_int(const struct jv *v, int64_t *out)
{
    if (!v || (v->t != JT_INT && v->t != JT_BOOL)) return false;
    *out = v->t == JT_INT ? v->u.i : v->u.b;
    return true;
}

/* ---- methods ---- */

static const char *const str_methods[] = {
    "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "replace", "lower",
    "upper", "title", "capitalize", "find", "rfind", "index", "rindex", "count", "join", "removeprefix",
    "removesuffix", "partition", "rpartition", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum",
    "isspace", "islower", "isupper", "format", "encode", "casefold", "swapcase", "center", "ljust", "rjust",
    "zfill", "expandtabs", "istitle", "isidentifier", "isprintable", "isascii", "translate", "maketrans",
    "format_map", NULL};
static const char *const dict_methods[] = {"get", "items", "keys", "values", "copy", NULL};
static const char *const dict_unsafe[] = {"update", "pop", "popitem", "clear", "setdefault", "fromkeys", NULL};
static const char *const list_methods[] = {"index", "count", "copy", NULL};
static const char *const list_unsafe[] = {"append", "extend", "insert", "pop", "remove", "clear", "sort",
                                          "reverse", NULL};

static bool in_list(const char *const *names, const char *name)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], name)) return true;
    return false;
}

bool jlib_get_method(struct jrender *r, struct jv self, const char *name, struct jv *out)
{
    const char *const *ok = NULL, *const *unsafe = NULL;
    if (self.t == JT_STR) ok = str_methods;
    else if (self.t == JT_DICT) ok = dict_methods, unsafe = dict_unsafe;
    else if (jv_is_seq(self)) ok = list_methods, unsafe = self.t == JT_LIST ? list_unsafe : NULL;
    if (unsafe && in_list(unsafe, name))
        return jr_fail(r, QWGLM_ERR_FORMAT, "access to attribute '%s' of '%s' object is unsafe", name,
                       jv_type_name(self));
    if (!ok || !in_list(ok, name)) return false;
    struct jmethod *m = ja_alloc(&r->arena, sizeof *m);
    if (!m) return jr_nomem(r);
    m->self = self;
    m->name = name;
    for (int i = 0; ok[i]; i++)
        if (!strcmp(ok[i], name)) m->name = ok[i];
    *out = (struct jv){.t = JT_METHOD, .u.meth = m};
    return true;
}

static bool dict_items(struct jrender *r, const struct jdict *d, int which, struct jv *out)
{
    *out = jv_list(&r->arena, d->n, false);
    if (out->t == JT_UNDEF) return jr_nomem(r);
    for (size_t i = 0; i < d->n; i++) {
        if (which == 0) out->u.l->v[i] = d->keys[i];
        else if (which == 1) out->u.l->v[i] = d->vals[i];
        else {
            struct jv t = jv_list(&r->arena, 2, true);
            if (t.t == JT_UNDEF) return jr_nomem(r);
            t.u.l->v[0] = d->keys[i];
            t.u.l->v[1] = d->vals[i];
            out->u.l->v[i] = t;
        }
    }
    return true;
}

bool jlib_method(struct jrender *r, const struct jmethod *m, const struct jargs *a, struct jv *out)
{
    struct jv self = m->self;
    const struct jv *x = jl_arg(a, 0, NULL);
    if (self.t == JT_LOOP) { /* loop.cycle */
        if (a->n_pos == 0) return jr_fail(r, QWGLM_ERR_FORMAT, "no items for cycling given");
        *out = a->pos[self.u.loop->index0 % (size_t)a->n_pos];
        return true;
    }
    if (self.t == JT_STR) return jl_str_method(r, self, m->name, a, out);
    if (self.t == JT_DICT) {
        if (!strcmp(m->name, "get")) {
            const struct jv *v = x ? jdict_get(self.u.d, *x) : NULL, *d = jl_arg(a, 1, NULL);
            *out = v ? *v : d ? *d : jv_none();
            return true;
        }
        if (!strcmp(m->name, "copy")) return *out = self, true;
        return dict_items(r, self.u.d, !strcmp(m->name, "keys") ? 0 : !strcmp(m->name, "values") ? 1 : 2, out);
    }
    if (jv_is_seq(self)) {
        if (!strcmp(m->name, "copy")) return *out = self, true;
        if (!x) return jr_fail(r, QWGLM_ERR_FORMAT, "%s() takes exactly one argument", m->name);
        int64_t k = 0;
        for (size_t i = 0; i < self.u.l->n; i++) {
            if (!jv_equal(self.u.l->v[i], *x)) continue;
            if (m->name[0] == 'i') return *out = jv_int((int64_t)i), true;
            k++;
        }
        if (m->name[0] == 'i') return jr_fail(r, QWGLM_ERR_FORMAT, "value is not in list");
        return *out = jv_int(k), true;
    }
    return jr_fail(r, QWGLM_ERR_FORMAT, "%s() is not supported", m->name);
}

/* ---- loop ---- */

bool jlib_loop_attr(struct jrender *r, struct jloop *loop, const char *name, struct jv *out)
{
    size_t i = loop->index0, n = loop->items->n;
    if (!strcmp(name, "index")) *out = jv_int((int64_t)i + 1);
    else if (!strcmp(name, "index0")) *out = jv_int((int64_t)i);
    else if (!strcmp(name, "revindex")) *out = jv_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0")) *out = jv_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first")) *out = jv_bool(i == 0);
    else if (!strcmp(name, "last")) *out = jv_bool(i + 1 == n);
    else if (!strcmp(name, "length")) *out = jv_int((int64_t)n);
    else if (!strcmp(name, "depth")) *out = jv_int(1);
    else if (!strcmp(name, "depth0")) *out = jv_int(0);
    else if (!strcmp(name, "previtem")) *out = i > 0 ? loop->items->v[i - 1] : jv_undef();
    else if (!strcmp(name, "nextitem")) *out = i + 1 < n ? loop->items->v[i + 1] : jv_undef();
    else if (!strcmp(name, "cycle")) {
        struct jmethod *m = ja_alloc(&r->arena, sizeof *m);
        if (!m) return jr_nomem(r);
        m->self = (struct jv){.t = JT_LOOP, .u.loop = loop};
        m->name = "cycle";
        *out = (struct jv){.t = JT_METHOD, .u.meth = m};
    } else if (!strcmp(name, "changed")) {
        return jr_fail(r, QWGLM_ERR_FORMAT, "loop.changed is not supported");
    } else {
        *out = jv_undef();
    }
    return true;
}

/* ---- globals ---- */

static const char *const global_names[JF_COUNT] = {"range", "namespace", "dict", "raise_exception", "strftime_now",
                                                   "cycler", "joiner"};

bool jlib_global(const char *name, struct jv *out)
{
    for (int i = 0; i < JF_COUNT; i++)
        if (!strcmp(global_names[i], name)) {
            *out = (struct jv){.t = JT_FUNC, .u.fn = i};
            return true;
        }
    return false;
}

static bool kwargs_into(struct jrender *r, const struct jargs *a, struct jdict *d)
{
    for (int i = 0; i < a->n_kw; i++) {
        struct jv k = jl_mkstr(r, a->kw_names[i], strlen(a->kw_names[i]));
        if (k.t != JT_STR || !jdict_set(&r->arena, d, k, a->kw[i])) return jr_nomem(r);
    }
    return true;
}

bool jlib_call_func(struct jrender *r, int fn, const struct jargs *a, struct jv *out)
{
    switch (fn) {
    case JF_RANGE: {
        int64_t v[3] = {0, 0, 1}, start, stop, stp;
        if (a->n_pos < 1 || a->n_pos > 3 || a->n_kw) return jr_fail(r, QWGLM_ERR_FORMAT, "range expects 1 to 3 arguments");
        for (int i = 0; i < a->n_pos; i++)
            if (!jl_as_int(&a->pos[i], &v[i])) return jr_fail(r, QWGLM_ERR_FORMAT, "range arguments must be integers");
        if (a->n_pos == 1) start = 0, stop = v[0], stp = 1;
        else start = v[0], stop = v[1], stp = a->n_pos == 3 ? v[2] : 1;
        if (stp == 0) return jr_fail(r, QWGLM_ERR_FORMAT, "range() arg 3 must not be zero");
        double count = stp > 0 ? ceil(((double)stop - (double)start) / (double)stp)
                               : ceil(((double)start - (double)stop) / (double)-stp);
        if (count < 0) count = 0;
        if (count > MAX_RANGE) return jr_fail(r, QWGLM_ERR_FORMAT, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        *out = jv_list(&r->arena, (size_t)count, false);
        if (out->t == JT_UNDEF) return jr_nomem(r);
        for (size_t i = 0; i < (size_t)count; i++) out->u.l->v[i] = jv_int(start + (int64_t)i * stp);
        return true;
    }
    case JF_NAMESPACE:
    case JF_DICT: {
        *out = jv_dict(&r->arena);
        if (out->t == JT_UNDEF) return jr_nomem(r);
        if (a->n_pos > 1) return jr_fail(r, QWGLM_ERR_FORMAT, "%s() takes at most one positional argument", global_names[fn]);
        if (a->n_pos == 1) {
            if (a->pos[0].t != JT_DICT) return jr_fail(r, QWGLM_ERR_FORMAT, "%s() argument must be a dict", global_names[fn]);
            const struct jdict *src = a->pos[0].u.d;
            for (size_t i = 0; i < src->n; i++)
                if (!jdict_set(&r->arena, out->u.d, src->keys[i], src->vals[i])) return jr_nomem(r);
        }
        if (!kwargs_into(r, a, out->u.d)) return false;
        if (fn == JF_NAMESPACE) out->t = JT_NS;
        return true;
    }
    case JF_RAISE: {
        struct jv msg = a->n_pos ? jl_str_of(r, a->pos[0]) : jl_mkstr(r, "", 0);
        if (msg.t != JT_STR) return false;
        return jr_fail(r, QWGLM_ERR_FORMAT, "raise_exception: %.*s", (int)(msg.u.s->len > 150 ? 150 : msg.u.s->len),
                       msg.u.s->p);
    }
    case JF_STRFTIME: {
        const struct jv *f = jl_arg(a, 0, NULL);
        if (!jl_need_str(r, f, "strftime_now format")) return false;
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char buf[256];
        size_t n = strftime(buf, sizeof buf, f->u.s->p, &tm);
        *out = jl_mkstr(r, buf, n);
        return r->st == QWGLM_OK;
    }
    default:
        return jr_fail(r, QWGLM_ERR_FORMAT, "%s() is not supported", global_names[fn]);
    }
}

/* ---- filters ---- */

/* Follows a dotted attribute path ("a.b.0") with jinja's getitem rules. */
static bool attr_path(struct jrender *r, struct jv v, const struct jv *path, struct jv *out)
{
    if (!path || path->t == JT_INT) {
        if (path) return jeval_getitem(r, v, *path, out);
        return *out = v, true;
    }
    if (!jl_need_str(r, path, "attribute")) return false;
    const char *p = path->u.s->p, *end = p + path->u.s->len;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
        struct jv key = jl_mkstr(r, p, n);
        bool digits = n > 0;
        int64_t idx = 0;
        for (size_t i = 0; i < n; i++) {
            digits &= p[i] >= '0' && p[i] <= '9';
            if (digits) idx = idx * 10 + (p[i] - '0');
        }
        if (digits && n < 18) key = jv_int(idx);
        if (!jeval_getitem(r, v, key, &v)) return false;
        if (!dot) break;
        p = dot + 1;
    }
    *out = v;
    return true;
}

static struct jv fold_key(struct jrender *r, struct jv v, bool case_sensitive)
{
    if (case_sensitive || v.t != JT_STR) return v;
    return jl_change_case(r, v.u.s, CASE_LOWER);
}

/* stable merge sort of v by key (precomputed) */
static bool sort_values(struct jrender *r, struct jv *v, struct jv *keys, size_t n, bool reverse)
{
    if (n < 2) return true;
    struct jv *tv = ja_alloc(&r->arena, n * sizeof *tv), *tk = ja_alloc(&r->arena, n * sizeof *tk);
    if (!tv || !tk) return jr_nomem(r);
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int c;
                if (!jv_compare(r, keys[j], keys[i], &c)) return false;
                bool take_right = reverse ? c > 0 : c < 0;
                if (take_right) tv[k] = v[j], tk[k++] = keys[j++];
                else tv[k] = v[i], tk[k++] = keys[i++];
            }
            while (i < mid) tv[k] = v[i], tk[k++] = keys[i++];
            while (j < hi) tv[k] = v[j], tk[k++] = keys[j++];
        }
        memcpy(v, tv, n * sizeof *v);
        memcpy(keys, tk, n * sizeof *keys);
    }
    return true;
}

static bool copy_items(struct jrender *r, struct jv in, struct jv *out)
{
    struct jlist items;
    if (!jv_iterate(r, in, &items)) return false;
    *out = jv_list(&r->arena, items.n, false);
    if (out->t == JT_UNDEF) return jr_nomem(r);
    if (items.n) memcpy(out->u.l->v, items.v, items.n * sizeof *items.v);
    return true;
}

static bool select_filter(struct jrender *r, const char *name, struct jv in, const struct jargs *a, struct jv *out)
{
    bool by_attr = strstr(name, "attr") != NULL, reject = name[0] == 'r';
    struct jlist items;
    if (!jv_iterate(r, in, &items)) return false;
    *out = jv_list(&r->arena, items.n, false);
    if (out->t == JT_UNDEF) return jr_nomem(r);
    out->u.l->n = 0;
    int first_test_arg = by_attr ? 1 : 0;
    const struct jv *test = jl_arg(a, first_test_arg, NULL);
    if (by_attr && !jl_arg(a, 0, NULL)) return jr_fail(r, QWGLM_ERR_FORMAT, "%s needs an attribute", name);
    if (test && !jl_need_str(r, test, "test name")) return false;
    struct jargs targs = {0};
    if (a->n_pos > first_test_arg + 1) {
        targs.pos = a->pos + first_test_arg + 1;
        targs.n_pos = a->n_pos - first_test_arg - 1;
    }
    for (size_t i = 0; i < items.n; i++) {
        struct jv v = items.v[i];
        if (by_attr && !attr_path(r, v, jl_arg(a, 0, NULL), &v)) return false;
        bool t;
        if (test) {
            if (!jlib_test(r, test->u.s->p, v, &targs, &t)) return false;
        } else {
            t = jv_truthy(v);
        }
        if (t != reject) out->u.l->v[out->u.l->n++] = items.v[i];
    }
    return true;
}

static bool html_escape(struct jrender *r, struct jv in, struct jv *out)
{
    struct jv s = jl_str_of(r, in);
    if (s.t != JT_STR) return false;
    struct qw_str o = {0};
    for (size_t i = 0; i < s.u.s->len; i++) {
        char c = s.u.s->p[i];
        switch (c) {
        case '&': qw_str_puts(&o, "&amp;"); break;
        case '<': qw_str_puts(&o, "&lt;"); break;
        case '>': qw_str_puts(&o, "&gt;"); break;
        case '"': qw_str_puts(&o, "&#34;"); break;
        case '\'': qw_str_puts(&o, "&#39;"); break;
        default: qw_str_putc(&o, c);
        }
    }
    *out = jv_from_qstr(r, &o);
    return out->t == JT_STR;
}

static bool do_indent(struct jrender *r, struct jv in, const struct jargs *a, struct jv *out)
{
    const struct jv *w = jl_arg(a, 0, "width"), *first = jl_arg(a, 1, "first"), *blank = jl_arg(a, 2, "blank");
    struct jv s = jl_str_of(r, in), lines;
    if (s.t != JT_STR) return false;
    struct qw_str ind = {0}, o = {0}, tmp = {0};
    int64_t width = 4;
    if (w && w->t == JT_STR) qw_str_append(&ind, w->u.s->p, w->u.s->len);
    else if (w && !jl_as_int(w, &width)) return jr_fail(r, QWGLM_ERR_FORMAT, "indent width must be an integer or string");
    else
        for (int64_t k = 0; k < width && k < 1000; k++) qw_str_putc(&ind, ' ');
    qw_str_append(&tmp, s.u.s->p, s.u.s->len);
    qw_str_putc(&tmp, '\n'); /* jinja's trick for splitlines */
    struct jv t = jv_from_qstr(r, &tmp);
    if (t.t != JT_STR || !jl_splitlines(r, t.u.s, false, &lines)) return false;
    const char *in_s = ind.data ? ind.data : "";
    for (size_t i = 0; i < lines.u.l->n; i++) {
        const struct jstr *line = lines.u.l->v[i].u.s;
        if (i) qw_str_putc(&o, '\n');
        if (i && (line->len || (blank && jv_truthy(*blank)))) qw_str_puts(&o, in_s);
        qw_str_append(&o, line->p, line->len);
    }
    struct qw_str res = {0};
    if (first && jv_truthy(*first)) qw_str_puts(&res, in_s);
    qw_str_append(&res, o.data ? o.data : "", o.len);
    qw_str_free(&o);
    qw_str_free(&ind);
    *out = jv_from_qstr(r, &res);
    return out->t == JT_STR;
}

static bool do_tojson(struct jrender *r, struct jv in, const struct jargs *a, struct jv *out)
{
    /* transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) */
    const struct jv *ea = jl_arg(a, 0, "ensure_ascii"), *ind = jl_arg(a, 1, "indent"), *sep = jl_arg(a, 2, "separators"),
                    *sk = jl_arg(a, 3, "sort_keys");
    int indent = -1;
    const char *indent_str = NULL, *item_sep = NULL, *key_sep = NULL;
    int64_t iv;
    if (ind && ind->t != JT_NONE) {
        if (ind->t == JT_STR) indent_str = ind->u.s->p;
        else if (jl_as_int(ind, &iv)) indent = iv < 0 ? 0 : iv > 1000 ? 1000 : (int)iv;
        else return jr_fail(r, QWGLM_ERR_FORMAT, "tojson indent must be an integer or string");
    }
    if (sep && sep->t != JT_NONE) {
        if (!jv_is_seq(*sep) || sep->u.l->n != 2 || sep->u.l->v[0].t != JT_STR || sep->u.l->v[1].t != JT_STR)
            return jr_fail(r, QWGLM_ERR_FORMAT, "tojson separators must be two strings");
        item_sep = sep->u.l->v[0].u.s->p;
        key_sep = sep->u.l->v[1].u.s->p;
    }
    struct qw_str o = {0};
    if (!jv_json(r, &o, in, ea && jv_truthy(*ea), indent, indent_str, item_sep, key_sep, sk && jv_truthy(*sk))) {
        qw_str_free(&o);
        return r->st ? false : jr_nomem(r);
    }
    *out = jv_from_qstr(r, &o);
    return out->t == JT_STR;
}

static bool to_number(struct jrender *r, struct jv in, bool want_int, const struct jargs *a, struct jv *out)
{
    const struct jv *dflt = jl_arg(a, 0, "default");
    struct jv d = dflt ? *dflt : want_int ? jv_int(0) : jv_float(0.0);
    double f;
    switch (in.t) {
    case JT_INT: *out = want_int ? in : jv_float((double)in.u.i); return true;
    case JT_BOOL: *out = want_int ? jv_int(in.u.b) : jv_float(in.u.b); return true;
    case JT_FLOAT:
        if (!want_int) return *out = in, true;
        if (!isfinite(in.u.f) || fabs(in.u.f) > 9.2e18) return *out = d, true;
        return *out = jv_int((int64_t)in.u.f), true;
    case JT_STR: {
        struct jv t = jl_strip(r, in.u.s, NULL, true, true);
        if (t.t != JT_STR) return false;
        char *end;
        const char *p = t.u.s->p;
        if (want_int) {
            long long v = strtoll(p, &end, 10);
            if (*p && !*end) return *out = jv_int(v), true;
        }
        f = strtod(p, &end);
        if (!*p || *end || (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))) return *out = d, true;
        if (!want_int) return *out = jv_float(f), true;
        if (!isfinite(f) || fabs(f) > 9.2e18) return *out = d, true;
        return *out = jv_int((int64_t)f), true;
    }
    default: *out = d; return true;
    }
}

static bool do_round(struct jrender *r, struct jv in, const struct jargs *a, struct jv *out)
{
    const struct jv *prec = jl_arg(a, 0, "precision"), *method = jl_arg(a, 1, "method");
    int64_t p = 0;
    if (prec && !jl_as_int(prec, &p)) return jr_fail(r, QWGLM_ERR_FORMAT, "round precision must be an integer");
    if (!jv_is_num(in)) return jr_fail(r, QWGLM_ERR_FORMAT, "round needs a number, not %s", jv_type_name(in));
    double x = in.t == JT_FLOAT ? in.u.f : in.t == JT_INT ? (double)in.u.i : in.u.b, m = pow(10.0, (double)p);
    const char *how = method && method->t == JT_STR ? method->u.s->p : "common";
    if (!strcmp(how, "ceil")) return *out = jv_float(ceil(x * m) / m), true;
    if (!strcmp(how, "floor")) return *out = jv_float(floor(x * m) / m), true;
    if (strcmp(how, "common")) return jr_fail(r, QWGLM_ERR_FORMAT, "method must be common, ceil or floor");
    /* Python's round(): to nearest, ties to even, on the decimal value; go through the shortest decimal form */
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", p < 0 ? 0 : p > 30 ? 30 : (int)p, x);
    double y = strtod(buf, NULL);
    if (p < 0) y = nearbyint(x * m) / m;
    return *out = jv_float(y), true;
}

static bool minmax(struct jrender *r, struct jv in, const struct jargs *a, bool want_max, struct jv *out)
{
    struct jlist items;
    const struct jv *cs = jl_arg(a, 0, "case_sensitive"), *attr = jl_arg(a, 1, "attribute");
    if (!jv_iterate(r, in, &items)) return false;
    if (items.n == 0) return *out = jv_undef(), true;
    struct jv best = items.v[0], bk;
    if (attr && !attr_path(r, best, attr, &bk)) return false;
    if (!attr) bk = best;
    bk = fold_key(r, bk, cs && jv_truthy(*cs));
    for (size_t i = 1; i < items.n; i++) {
        struct jv k = items.v[i];
        if (attr && !attr_path(r, k, attr, &k)) return false;
        k = fold_key(r, k, cs && jv_truthy(*cs));
        int c;
        if (!jv_compare(r, k, bk, &c)) return false;
        if (want_max ? c > 0 : c < 0) best = items.v[i], bk = k;
    }
    *out = best;
    return true;
}

bool jlib_filter(struct jrender *r, const char *name, struct jv in, const struct jargs *a, struct jv *out)
{
    const struct jv *x = jl_arg(a, 0, NULL);
    if (!strcmp(name, "tojson")) return do_tojson(r, in, a, out);
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        const struct jv *dv = jl_arg(a, 0, "default_value"), *boolean = jl_arg(a, 1, "boolean");
        bool use = in.t == JT_UNDEF || (boolean && jv_truthy(*boolean) && !jv_truthy(in));
        *out = use ? (dv ? *dv : jl_mkstr(r, "", 0)) : in;
        return r->st == QWGLM_OK;
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        switch (in.t) {
        case JT_STR: *out = jv_int((int64_t)utf8_count(in.u.s->p, in.u.s->len)); return true;
        case JT_LIST: case JT_TUPLE: *out = jv_int((int64_t)in.u.l->n); return true;
        case JT_DICT: case JT_NS: *out = jv_int((int64_t)in.u.d->n); return true;
        case JT_UNDEF: *out = jv_int(0); return true;
        default: return jr_fail(r, QWGLM_ERR_FORMAT, "object of type '%s' has no len()", jv_type_name(in));
        }
    }
    if (!strcmp(name, "trim")) {
        struct jv s = jl_str_of(r, in);
        const struct jv *chars = jl_arg(a, 0, "chars");
        if (s.t != JT_STR) return false;
        if (chars && chars->t != JT_NONE && !jl_need_str(r, chars, "trim chars")) return false;
        *out = jl_strip(r, s.u.s, chars && chars->t == JT_STR ? chars->u.s : NULL, true, true);
        return r->st == QWGLM_OK;
    }
    if (!strcmp(name, "string")) return (*out = jl_str_of(r, in)).t == JT_STR;
    if (!strcmp(name, "safe")) return *out = in, true;
    if (!strcmp(name, "escape") || !strcmp(name, "e") || !strcmp(name, "forceescape")) return html_escape(r, in, out);
    if (!strcmp(name, "lower") || !strcmp(name, "upper") || !strcmp(name, "title") || !strcmp(name, "capitalize")) {
        struct jv s = jl_str_of(r, in);
        if (s.t != JT_STR) return false;
        int mode = name[0] == 'l' ? CASE_LOWER : name[0] == 'u' ? CASE_UPPER : name[0] == 't' ? CASE_TITLE
                                                                                             : CASE_CAPITALIZE;
        *out = jl_change_case(r, s.u.s, mode);
        return r->st == QWGLM_OK;
    }
    if (!strcmp(name, "replace")) {
        struct jv s = jl_str_of(r, in);
        const struct jv *new_ = jl_arg(a, 1, "new"), *old = jl_arg(a, 0, "old"), *cnt = jl_arg(a, 2, "count");
        int64_t count = -1;
        if (s.t != JT_STR) return false;
        if (!old || !new_) return jr_fail(r, QWGLM_ERR_FORMAT, "replace needs old and new");
        struct jv os = jl_str_of(r, *old), ns = jl_str_of(r, *new_);
        if (os.t != JT_STR || ns.t != JT_STR) return false;
        if (cnt && cnt->t != JT_NONE && !jl_as_int(cnt, &count)) return jr_fail(r, QWGLM_ERR_FORMAT, "count must be an integer");
        *out = jl_replace(r, s.u.s, os.u.s, ns.u.s, count);
        return r->st == QWGLM_OK;
    }
    if (!strcmp(name, "join")) {
        const struct jv *sep = jl_arg(a, 0, "d"), *attr = jl_arg(a, 1, "attribute");
        struct jlist items;
        if (!jv_iterate(r, in, &items)) return false;
        struct jv sv = sep ? jl_str_of(r, *sep) : jl_mkstr(r, "", 0);
        if (sv.t != JT_STR) return false;
        struct qw_str o = {0};
        for (size_t i = 0; i < items.n; i++) {
            struct jv v = items.v[i];
            if (attr && !attr_path(r, v, attr, &v)) {
                qw_str_free(&o);
                return false;
            }
            if (i) qw_str_append(&o, sv.u.s->p, sv.u.s->len);
            if (!jv_print(r, &o, v)) {
                qw_str_free(&o);
                return false;
            }
        }
        *out = jv_from_qstr(r, &o);
        return out->t == JT_STR;
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        struct jlist items;
        if (in.t == JT_DICT && name[0] == 'l') return jr_fail(r, QWGLM_ERR_FORMAT, "'dict' object is not reversible");
        if (!jv_iterate(r, in, &items)) return false;
        *out = items.n ? items.v[name[0] == 'f' ? 0 : items.n - 1] : jv_undef();
        return true;
    }
    if (!strcmp(name, "list")) return copy_items(r, in, out);
    if (!strcmp(name, "items")) {
        if (in.t == JT_UNDEF) return (*out = jv_list(&r->arena, 0, false)).t == JT_LIST || jr_nomem(r);
        if (in.t != JT_DICT) return jr_fail(r, QWGLM_ERR_FORMAT, "can only get item pairs from a mapping");
        return dict_items(r, in.u.d, 2, out);
    }
    if (!strcmp(name, "reverse")) {
        if (in.t == JT_STR) {
            struct jlist chars;
            struct qw_str o = {0};
            if (!jv_iterate(r, in, &chars)) return false;
            for (size_t i = chars.n; i-- > 0;) qw_str_append(&o, chars.v[i].u.s->p, chars.v[i].u.s->len);
            *out = jv_from_qstr(r, &o);
            return out->t == JT_STR;
        }
        if (!copy_items(r, in, out)) return false;
        for (size_t i = 0, j = out->u.l->n; i + 1 < j; i++, j--) {
            struct jv t = out->u.l->v[i];
            out->u.l->v[i] = out->u.l->v[j - 1];
            out->u.l->v[j - 1] = t;
        }
        return true;
    }
    if (!strcmp(name, "sort")) {
        const struct jv *rev = jl_arg(a, 0, "reverse"), *cs = jl_arg(a, 1, "case_sensitive"), *attr = jl_arg(a, 2, "attribute");
        if (!copy_items(r, in, out)) return false;
        size_t n = out->u.l->n;
        struct jv *keys = n ? ja_alloc(&r->arena, n * sizeof *keys) : NULL;
        if (n && !keys) return jr_nomem(r);
        for (size_t i = 0; i < n; i++) {
            struct jv k = out->u.l->v[i];
            if (attr && !attr_path(r, k, attr, &k)) return false;
            keys[i] = fold_key(r, k, cs && jv_truthy(*cs));
        }
        return sort_values(r, out->u.l->v, keys, n, rev && jv_truthy(*rev));
    }
    if (!strcmp(name, "dictsort")) {
        const struct jv *cs = jl_arg(a, 0, "case_sensitive"), *by = jl_arg(a, 1, "by"), *rev = jl_arg(a, 2, "reverse");
        if (in.t != JT_DICT) return jr_fail(r, QWGLM_ERR_FORMAT, "dictsort needs a mapping");
        if (!dict_items(r, in.u.d, 2, out)) return false;
        bool by_value = by && by->t == JT_STR && !strcmp(by->u.s->p, "value");
        size_t n = out->u.l->n;
        struct jv *keys = n ? ja_alloc(&r->arena, n * sizeof *keys) : NULL;
        if (n && !keys) return jr_nomem(r);
        for (size_t i = 0; i < n; i++) keys[i] = fold_key(r, out->u.l->v[i].u.l->v[by_value], cs && jv_truthy(*cs));
        return sort_values(r, out->u.l->v, keys, n, rev && jv_truthy(*rev));
    }
    if (!strcmp(name, "unique")) {
        const struct jv *cs = jl_arg(a, 0, "case_sensitive"), *attr = jl_arg(a, 1, "attribute");
        struct jlist items;
        if (!jv_iterate(r, in, &items)) return false;
        *out = jv_list(&r->arena, items.n, false);
        struct jv *seen = items.n ? ja_alloc(&r->arena, items.n * sizeof *seen) : NULL;
        if (out->t == JT_UNDEF || (items.n && !seen)) return jr_nomem(r);
        out->u.l->n = 0;
        for (size_t i = 0; i < items.n; i++) {
            struct jv k = items.v[i];
            if (attr && !attr_path(r, k, attr, &k)) return false;
            k = fold_key(r, k, cs && jv_truthy(*cs));
            bool dup = false;
            for (size_t j = 0; j < out->u.l->n && !dup; j++) dup = jv_equal(seen[j], k);
            if (!dup) seen[out->u.l->n] = k, out->u.l->v[out->u.l->n++] = items.v[i];
        }
        return true;
    }
    if (!strcmp(name, "map")) {
        struct jlist items;
        const struct jv *attr = jl_arg(a, -1, "attribute"), *dflt = jl_arg(a, -1, "default");
        if (!jv_iterate(r, in, &items)) return false;
        *out = jv_list(&r->arena, items.n, false);
        if (out->t == JT_UNDEF) return jr_nomem(r);
        if (!attr && !(x && x->t == JT_STR)) return jr_fail(r, QWGLM_ERR_FORMAT, "map needs a filter name or attribute");
        struct jargs rest = {0};
        if (!attr && a->n_pos > 1) rest.pos = a->pos + 1, rest.n_pos = a->n_pos - 1;
        for (size_t i = 0; i < items.n; i++) {
            struct jv v;
            if (attr) {
                if (!attr_path(r, items.v[i], attr, &v)) return false;
                if (v.t == JT_UNDEF && dflt) v = *dflt;
            } else if (!jlib_filter(r, x->u.s->p, items.v[i], &rest, &v)) {
                return false;
            }
            out->u.l->v[i] = v;
        }
        return true;
    }
    if (!strcmp(name, "select") || !strcmp(name, "reject") || !strcmp(name, "selectattr") || !strcmp(name, "rejectattr"))
        return select_filter(r, name, in, a, out);
    if (!strcmp(name, "attr")) {
        if (!jl_need_str(r, x, "attribute name")) return false;
        return jeval_getattr(r, in, x->u.s->p, x->u.s->len, out);
    }
    if (!strcmp(name, "abs")) {
        if (in.t == JT_INT) return in.u.i == INT64_MIN ? jr_fail(r, QWGLM_ERR_FORMAT, "integer overflow")
                                                      : (*out = jv_int(in.u.i < 0 ? -in.u.i : in.u.i), true);
        if (in.t == JT_FLOAT) return *out = jv_float(fabs(in.u.f)), true;
        if (in.t == JT_BOOL) return *out = jv_int(in.u.b), true;
        return jr_fail(r, QWGLM_ERR_FORMAT, "bad operand type for abs(): '%s'", jv_type_name(in));
    }
    if (!strcmp(name, "int") || !strcmp(name, "float")) return to_number(r, in, name[0] == 'i', a, out);
    if (!strcmp(name, "round")) return do_round(r, in, a, out);
    if (!strcmp(name, "max") || !strcmp(name, "min")) return minmax(r, in, a, name[1] == 'a', out);
    if (!strcmp(name, "sum")) {
        const struct jv *attr = jl_arg(a, 0, "attribute"), *start = jl_arg(a, 1, "start");
        struct jlist items;
        if (!jv_iterate(r, in, &items)) return false;
        struct jv acc = start ? *start : jv_int(0);
        for (size_t i = 0; i < items.n; i++) {
            struct jv v = items.v[i];
            if (attr && !attr_path(r, v, attr, &v)) return false;
            if (!jv_is_num(acc) || !jv_is_num(v))
                return jr_fail(r, QWGLM_ERR_FORMAT, "unsupported operand type(s) for +: '%s' and '%s'",
                               jv_type_name(acc), jv_type_name(v));
            if (acc.t == JT_FLOAT || v.t == JT_FLOAT) {
                double fa = acc.t == JT_FLOAT ? acc.u.f : acc.t == JT_INT ? (double)acc.u.i : acc.u.b;
                double fv = v.t == JT_FLOAT ? v.u.f : v.t == JT_INT ? (double)v.u.i : v.u.b;
                acc = jv_float(fa + fv);
            } else {
                int64_t s, ia = acc.t == JT_INT ? acc.u.i : acc.u.b, iv = v.t == JT_INT ? v.u.i : v.u.b;
                if (__builtin_add_overflow(ia, iv, &s)) return jr_fail(r, QWGLM_ERR_FORMAT, "integer overflow");
                acc = jv_int(s);
            }
        }
        return *out = acc, true;
    }
    if (!strcmp(name, "indent")) return do_indent(r, in, a, out);
    if (!strcmp(name, "center")) {
        struct jv s = jl_str_of(r, in);
        int64_t w = 80;
        const struct jv *wv = jl_arg(a, 0, "width");
        if (s.t != JT_STR || (wv && !jl_as_int(wv, &w))) return r->st ? false : jr_fail(r, QWGLM_ERR_FORMAT, "bad width");
        int64_t n = (int64_t)utf8_count(s.u.s->p, s.u.s->len), pad = w > n ? w - n : 0;
        if (pad > 100000) return jr_fail(r, QWGLM_ERR_FORMAT, "center width too large");
        int64_t left = pad / 2 + (pad & w & 1);
        struct qw_str o = {0};
        for (int64_t k = 0; k < left; k++) qw_str_putc(&o, ' ');
        qw_str_append(&o, s.u.s->p, s.u.s->len);
        for (int64_t k = 0; k < pad - left; k++) qw_str_putc(&o, ' ');
        *out = jv_from_qstr(r, &o);
        return out->t == JT_STR;
    }
    if (!strcmp(name, "wordcount")) {
        struct jv s = jl_str_of(r, in);
        if (s.t != JT_STR) return false;
        int64_t k = 0;
        bool in_word = false;
        for (size_t i = 0; i < s.u.s->len;) {
            uint32_t cp;
            i += uni_next(s.u.s->p + i, s.u.s->len - i, &cp);
            int c = cp <= UNI_MAX ? uni_cat(cp) : UNI_CN;
            bool w = (c >= UNI_LU && c <= UNI_NO) || c == UNI_PC;
            if (w && !in_word) k++;
            in_word = w;
        }
        return *out = jv_int(k), true;
    }
    return jr_fail(r, QWGLM_ERR_FORMAT, "filter '%s' is not supported", name);
}

/* ---- tests ---- */

bool jlib_test(struct jrender *r, const char *name, struct jv in, const struct jargs *a, bool *out)
{
    const struct jv *x = jl_arg(a, 0, NULL);
    int c;
    if (!strcmp(name, "defined")) return *out = in.t != JT_UNDEF, true;
    if (!strcmp(name, "undefined")) return *out = in.t == JT_UNDEF, true;
    if (!strcmp(name, "none")) return *out = in.t == JT_NONE, true;
    if (!strcmp(name, "string")) return *out = in.t == JT_STR, true;
    if (!strcmp(name, "number")) return *out = jv_is_num(in), true;
    if (!strcmp(name, "integer")) return *out = in.t == JT_INT, true;
    if (!strcmp(name, "float")) return *out = in.t == JT_FLOAT, true;
    if (!strcmp(name, "boolean")) return *out = in.t == JT_BOOL, true;
    if (!strcmp(name, "true")) return *out = in.t == JT_BOOL && in.u.b, true;
    if (!strcmp(name, "false")) return *out = in.t == JT_BOOL && !in.u.b, true;
    if (!strcmp(name, "mapping")) return *out = in.t == JT_DICT, true;
    if (!strcmp(name, "iterable"))
        return *out = in.t == JT_STR || jv_is_seq(in) || in.t == JT_DICT || in.t == JT_UNDEF, true;
    if (!strcmp(name, "sequence")) return *out = in.t == JT_STR || jv_is_seq(in) || in.t == JT_DICT, true;
    if (!strcmp(name, "callable")) return *out = in.t == JT_MACRO || in.t == JT_FUNC || in.t == JT_METHOD, true;
    if (!strcmp(name, "escaped")) return *out = false, true;
    if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        int64_t v;
        if (!jl_as_int(&in, &v)) return jr_fail(r, QWGLM_ERR_FORMAT, "%s test needs an integer", name);
        return *out = ((v % 2 != 0) == (name[0] == 'o')), true;
    }
    if (!strcmp(name, "divisibleby")) {
        int64_t v, d;
        if (!jl_as_int(&in, &v) || !jl_as_int(x, &d) || d == 0) return jr_fail(r, QWGLM_ERR_FORMAT, "divisibleby needs integers");
        return *out = v % d == 0, true;
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (in.t != JT_STR) return jr_fail(r, QWGLM_ERR_FORMAT, "%s test needs a string", name);
        return *out = jl_case_test(in.u.s, name[0] == 'u'), true;
    }
    if (!x && (!strcmp(name, "eq") || !strcmp(name, "sameas") || !strcmp(name, "in")))
        return jr_fail(r, QWGLM_ERR_FORMAT, "test '%s' needs an argument", name);
    if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==")) return *out = x && jv_equal(in, *x), true;
    if (!strcmp(name, "ne") || !strcmp(name, "!=")) return *out = !x || !jv_equal(in, *x), true;
    if (!strcmp(name, "sameas")) {
        bool same = in.t == x->t && (in.t == JT_NONE || in.t == JT_UNDEF || (in.t == JT_BOOL && in.u.b == x->u.b) ||
                                     (in.t != JT_BOOL && in.t != JT_NONE && jv_equal(in, *x) &&
                                      (in.t == JT_INT || in.u.l == x->u.l)));
        return *out = same, true;
    }
    if (!strcmp(name, "in")) {
        if (x->t == JT_STR) {
            if (in.t != JT_STR) return jr_fail(r, QWGLM_ERR_FORMAT, "'in <string>' requires string as left operand");
            return *out = in.u.s->len == 0 || memmem(x->u.s->p, x->u.s->len, in.u.s->p, in.u.s->len), true;
        }
        if (jv_is_seq(*x)) {
            *out = false;
            for (size_t i = 0; i < x->u.l->n && !*out; i++) *out = jv_equal(x->u.l->v[i], in);
            return true;
        }
        if (x->t == JT_DICT) return *out = jdict_get(x->u.d, in) != NULL, true;
        return jr_fail(r, QWGLM_ERR_FORMAT, "argument of type '%s' is not iterable", jv_type_name(*x));
    }
    static const char *const cmp_names[] = {"lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=",
                                            NULL};
    for (int i = 0; cmp_names[i]; i++) {
        if (strcmp(name, cmp_names[i])) continue;
        if (!x) return jr_fail(r, QWGLM_ERR_FORMAT, "test '%s' needs an argument", name);
        if (!jv_compare(r, in, *x, &c)) return false;
        *out = i < 3 ? c < 0 : i < 5 ? c <= 0 : i < 8 ? c > 0 : c >= 0;
        return true;
    }
    return jr_fail(r, QWGLM_ERR_FORMAT, "test '%s' is not supported", name);
}
