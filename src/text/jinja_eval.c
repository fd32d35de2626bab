/* Jinja evaluator: expressions with Python's semantics, statements with jinja2's scoping.
 *
 * Scopes are frames: the template's own, one per loop iteration (so a `set` inside a loop body is gone at the
 * next iteration and after the loop, as in jinja2), one per macro call (its parent is the frame the macro was
 * defined in, read at call time) and one per `with`. `if` opens none. Names not found in any frame come from the
 * render variables, then from the globals. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "text/jinja_impl.h"

#define MAX_CALL_DEPTH 100

enum flow { FLOW_OK, FLOW_BREAK, FLOW_CONTINUE, FLOW_ERROR };

struct ctx {
    struct jrender *r;
    struct qw_str *out;
    struct jframe *frame;
    int depth;
};

bool jr_fail(struct jrender *r, qwglm_status st, const char *fmt, ...)
{
    if (r->st == QWGLM_OK) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        r->st = qw_fail(r->e, st, "chat template line %d: %s", r->line, msg);
    }
    return false;
}

bool jr_nomem(struct jrender *r) { return jr_fail(r, QWGLM_ERR_NOMEM, "out of memory (or past the render's limit)"); }

static bool step(struct jrender *r)
{
    if (--r->steps < 0) return jr_fail(r, QWGLM_ERR_FORMAT, "template runs too long");
    return r->st == QWGLM_OK;
}

/* ---- names ---- */

static struct jv name_str(struct jrender *r, const char *name)
{
    struct jv s = jv_str(&r->arena, name, strlen(name));
    return s.t == JT_STR ? s : (jr_nomem(r), jv_undef());
}

static struct jv lookup(struct ctx *c, const char *name, size_t n)
{
    for (struct jframe *f = c->frame; f; f = f->parent) {
        const struct jv *v = jdict_get_str(&f->vars, name, n);
        if (v) return *v;
    }
    const struct jv *v = jdict_get_str(&c->r->globals->vars, name, n);
    if (v) return *v;
    struct jv g;
    if (jlib_global(name, &g)) return g;
    struct jv u = jv_undef();
    struct jv s = jv_str(&c->r->arena, name, n);
    if (s.t == JT_STR) u.u.s = s.u.s;
    return u;
}

static bool assign(struct ctx *c, const char *name, struct jv v)
{
    struct jv k = name_str(c->r, name);
    if (k.t != JT_STR || !jdict_set(&c->r->arena, &c->frame->vars, k, v)) return jr_nomem(c->r);
    return true;
}

static bool undefined_error(struct jrender *r, struct jv u)
{
    if (u.u.s) return jr_fail(r, QWGLM_ERR_FORMAT, "'%.*s' is undefined", (int)u.u.s->len, u.u.s->p);
    return jr_fail(r, QWGLM_ERR_FORMAT, "a value is undefined");
}

/* ---- attribute and item access (jinja2's sandboxed getattr / getitem) ---- */

static struct jv undef_named(struct jrender *r, const char *name, size_t n)
{
    struct jv u = jv_undef(), s = jv_str(&r->arena, name, n);
    if (s.t == JT_STR) u.u.s = s.u.s;
    return u;
}

bool jeval_getattr(struct jrender *r, struct jv obj, const char *name, size_t n, struct jv *out)
{
    if (obj.t == JT_UNDEF) return undefined_error(r, obj);
    if (obj.t == JT_LOOP) return jlib_loop_attr(r, obj.u.loop, name, out);
    if (obj.t == JT_NS) {
        const struct jv *v = jdict_get_str(obj.u.d, name, n);
        *out = v ? *v : undef_named(r, name, n);
        return true;
    }
    if (jlib_get_method(r, obj, name, out)) return true;
    if (r->st) return false;
    if (obj.t == JT_DICT) {
        const struct jv *v = jdict_get_str(obj.u.d, name, n);
        *out = v ? *v : undef_named(r, name, n);
        return true;
    }
    *out = undef_named(r, name, n);
    return true;
}

static bool index_of(struct jv key, int64_t len, int64_t *out)
{
    if (key.t != JT_INT && key.t != JT_BOOL) return false;
    int64_t i = key.t == JT_INT ? key.u.i : key.u.b;
    if (i < 0) i += len;
    if (i < 0 || i >= len) return false;
    *out = i;
    return true;
}

bool jeval_getitem(struct jrender *r, struct jv obj, struct jv key, struct jv *out)
{
    if (obj.t == JT_UNDEF) return undefined_error(r, obj);
    int64_t i;
    switch (obj.t) {
    case JT_DICT: {
        const struct jv *v = jdict_get(obj.u.d, key);
        if (v) {
            *out = *v;
            return true;
        }
        break;
    }
    case JT_LIST:
    case JT_TUPLE:
        if (index_of(key, (int64_t)obj.u.l->n, &i)) {
            *out = obj.u.l->v[i];
            return true;
        }
        break;
    case JT_STR: {
        size_t n = utf8_count(obj.u.s->p, obj.u.s->len);
        if (index_of(key, (int64_t)n, &i)) {
            size_t a = utf8_offset(obj.u.s->p, obj.u.s->len, (size_t)i);
            size_t b = utf8_offset(obj.u.s->p, obj.u.s->len, (size_t)i + 1);
            *out = jv_str(&r->arena, obj.u.s->p + a, b - a);
            return out->t == JT_STR || jr_nomem(r);
        }
        break;
    }
    default: break;
    }
    if (key.t == JT_STR) return jeval_getattr(r, obj, key.u.s->p, key.u.s->len, out);
    *out = jv_undef();
    return true;
}

/* Python slice indices for a sequence of n items. */
static bool slice_bounds(struct jrender *r, struct jv start, struct jv stop, struct jv stepv, int64_t n, int64_t *a,
                         int64_t *b, int64_t *st)
{
    *st = 1;
    if (stepv.t != JT_NONE && stepv.t != JT_UNDEF) {
        if (stepv.t != JT_INT && stepv.t != JT_BOOL)
            return jr_fail(r, QWGLM_ERR_FORMAT, "slice indices must be integers or None");
        *st = stepv.t == JT_INT ? stepv.u.i : stepv.u.b;
        if (*st == 0) return jr_fail(r, QWGLM_ERR_FORMAT, "slice step cannot be zero");
    }
    struct jv ends[2] = {start, stop};
    int64_t *outs[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        struct jv v = ends[k];
        if (v.t == JT_NONE || v.t == JT_UNDEF) {
            *outs[k] = k == 0 ? (*st > 0 ? 0 : n - 1) : (*st > 0 ? n : -1);
            continue;
        }
        if (v.t != JT_INT && v.t != JT_BOOL) return jr_fail(r, QWGLM_ERR_FORMAT, "slice indices must be integers or None");
        int64_t x = v.t == JT_INT ? v.u.i : v.u.b;
        if (x < 0) x += n;
        if (*st > 0) x = x < 0 ? 0 : x > n ? n : x;
        else x = x < -1 ? -1 : x > n - 1 ? n - 1 : x;
        *outs[k] = x;
    }
    return true;
}

static bool do_slice(struct jrender *r, struct jv obj, struct jv start, struct jv stop, struct jv stepv, struct jv *out)
{
    if (obj.t == JT_UNDEF) return undefined_error(r, obj);
    int64_t a, b, st;
    if (jv_is_seq(obj)) {
        int64_t n = (int64_t)obj.u.l->n;
        if (!slice_bounds(r, start, stop, stepv, n, &a, &b, &st)) return false;
        int64_t count = st > 0 ? (b > a ? (b - a + st - 1) / st : 0) : (a > b ? (a - b - st - 1) / -st : 0);
        *out = jv_list(&r->arena, (size_t)count, obj.t == JT_TUPLE);
        if (out->t == JT_UNDEF) return jr_nomem(r);
        for (int64_t k = 0; k < count; k++) out->u.l->v[k] = obj.u.l->v[a + k * st];
        return true;
    }
    if (obj.t == JT_STR) {
        struct jlist chars;
        if (!jv_iterate(r, obj, &chars)) return false;
        if (!slice_bounds(r, start, stop, stepv, (int64_t)chars.n, &a, &b, &st)) return false;
        struct qw_str s = {0};
        for (int64_t k = a; st > 0 ? k < b : k > b; k += st) qw_str_append(&s, chars.v[k].u.s->p, chars.v[k].u.s->len);
        *out = jv_from_qstr(r, &s);
        return out->t == JT_STR;
    }
    *out = jv_undef();
    return true;
}

/* ---- expressions ---- */

static bool eval(struct ctx *c, const struct jnode *x, struct jv *out);

static bool eval_args(struct ctx *c, const struct jnode *x, struct jargs *a)
{
    memset(a, 0, sizeof *a);
    a->n_pos = x->n_items;
    a->n_kw = x->n_kw;
    a->kw_names = x->kw_names;
    if (a->n_pos && !(a->pos = ja_alloc(&c->r->arena, (size_t)a->n_pos * sizeof *a->pos))) return jr_nomem(c->r);
    if (a->n_kw && !(a->kw = ja_alloc(&c->r->arena, (size_t)a->n_kw * sizeof *a->kw))) return jr_nomem(c->r);
    for (int i = 0; i < a->n_pos; i++)
        if (!eval(c, x->items[i], &a->pos[i])) return false;
    for (int i = 0; i < a->n_kw; i++)
        if (!eval(c, x->kw[i], &a->kw[i])) return false;
    return true;
}

static bool overflow(struct jrender *r) { return jr_fail(r, QWGLM_ERR_FORMAT, "integer overflow"); }

static bool type_error(struct jrender *r, const char *op, struct jv a, struct jv b)
{
    if (op[0] == '+' && a.t == JT_STR)
        return jr_fail(r, QWGLM_ERR_FORMAT, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
    return jr_fail(r, QWGLM_ERR_FORMAT, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a),
                   jv_type_name(b));
}

static bool repeat(struct jrender *r, struct jv seq, struct jv times, struct jv *out)
{
    int64_t k = times.t == JT_INT ? times.u.i : times.u.b;
    if (k < 0) k = 0;
    if (seq.t == JT_STR) {
        if (k && seq.u.s->len > ((size_t)1 << 28) / (size_t)k) return jr_nomem(r);
        struct qw_str s = {0};
        for (int64_t i = 0; i < k; i++) qw_str_append(&s, seq.u.s->p, seq.u.s->len);
        *out = jv_from_qstr(r, &s);
        return out->t == JT_STR;
    }
    size_t n = seq.u.l->n;
    if (k && n > ((size_t)1 << 24) / (size_t)k) return jr_nomem(r);
    *out = jv_list(&r->arena, n * (size_t)k, seq.t == JT_TUPLE);
    if (out->t == JT_UNDEF) return jr_nomem(r);
    for (int64_t i = 0; i < k; i++)
        if (n) memcpy(out->u.l->v + (size_t)i * n, seq.u.l->v, n * sizeof *seq.u.l->v);
    return true;
}

static bool arith(struct jrender *r, int op, struct jv a, struct jv b, struct jv *out)
{
    static const char *names[] = {[OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/",
                                  [OP_FLOORDIV] = "//", [OP_MOD] = "%", [OP_POW] = "**"};
    if (a.t == JT_UNDEF) return undefined_error(r, a);
    if (b.t == JT_UNDEF) return undefined_error(r, b);
    if (jv_is_num(a) && jv_is_num(b)) {
        bool ints = a.t != JT_FLOAT && b.t != JT_FLOAT;
        int64_t x = a.t == JT_INT ? a.u.i : a.t == JT_BOOL ? a.u.b : 0, y = b.t == JT_INT ? b.u.i : b.t == JT_BOOL ? b.u.b : 0;
        double fx = a.t == JT_FLOAT ? a.u.f : (double)x, fy = b.t == JT_FLOAT ? b.u.f : (double)y;
        int64_t ri;
        switch (op) {
        case OP_ADD:
            if (!ints) return *out = jv_float(fx + fy), true;
            if (__builtin_add_overflow(x, y, &ri)) return overflow(r);
            return *out = jv_int(ri), true;
        case OP_SUB:
            if (!ints) return *out = jv_float(fx - fy), true;
            if (__builtin_sub_overflow(x, y, &ri)) return overflow(r);
            return *out = jv_int(ri), true;
        case OP_MUL:
            if (!ints) return *out = jv_float(fx * fy), true;
            if (__builtin_mul_overflow(x, y, &ri)) return overflow(r);
            return *out = jv_int(ri), true;
        case OP_DIV:
            if (fy == 0) return jr_fail(r, QWGLM_ERR_FORMAT, "division by zero");
            return *out = jv_float(fx / fy), true;
        case OP_FLOORDIV:
        case OP_MOD:
            if (ints ? y == 0 : fy == 0) return jr_fail(r, QWGLM_ERR_FORMAT, "integer division or modulo by zero");
            if (ints) {
                if (x == INT64_MIN && y == -1) return overflow(r);
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) q--, m += y;
                return *out = jv_int(op == OP_FLOORDIV ? q : m), true;
            } else { /* CPython's float_divmod */
                double m = fmod(fx, fy), q = (fx - m) / fy;
                if (m != 0) {
                    if ((fy < 0) != (m < 0)) {
                        m += fy;
                        q -= 1.0;
                    }
                } else {
                    m = copysign(0.0, fy);
                }
                if (op == OP_MOD) return *out = jv_float(m), true;
                double fq;
                if (q != 0) {
                    fq = floor(q);
                    if (q - fq > 0.5) fq += 1.0;
                } else {
                    fq = copysign(0.0, fx / fy);
                }
                return *out = jv_float(fq), true;
            }
        default: /* OP_POW */
            if (ints && y >= 0) {
                int64_t acc = 1;
                for (int64_t k = 0; k < y; k++)
                    if (__builtin_mul_overflow(acc, x, &acc)) return overflow(r);
                return *out = jv_int(acc), true;
            }
            if (fx == 0 && fy < 0) return jr_fail(r, QWGLM_ERR_FORMAT, "0.0 cannot be raised to a negative power");
            return *out = jv_float(pow(fx, fy)), true;
        }
    }
    if (op == OP_ADD && a.t == JT_STR && b.t == JT_STR) {
        struct qw_str s = {0};
        qw_str_append(&s, a.u.s->p, a.u.s->len);
        qw_str_append(&s, b.u.s->p, b.u.s->len);
        *out = jv_from_qstr(r, &s);
        return out->t == JT_STR;
    }
    if (op == OP_ADD && jv_is_seq(a) && a.t == b.t) {
        *out = jv_list(&r->arena, a.u.l->n + b.u.l->n, a.t == JT_TUPLE);
        if (out->t == JT_UNDEF) return jr_nomem(r);
        if (a.u.l->n) memcpy(out->u.l->v, a.u.l->v, a.u.l->n * sizeof *a.u.l->v);
        if (b.u.l->n) memcpy(out->u.l->v + a.u.l->n, b.u.l->v, b.u.l->n * sizeof *b.u.l->v);
        return true;
    }
    if (op == OP_MUL && (a.t == JT_STR || jv_is_seq(a)) && (b.t == JT_INT || b.t == JT_BOOL)) return repeat(r, a, b, out);
    if (op == OP_MUL && (b.t == JT_STR || jv_is_seq(b)) && (a.t == JT_INT || a.t == JT_BOOL)) return repeat(r, b, a, out);
    if (op == OP_MOD && a.t == JT_STR)
        return jr_fail(r, QWGLM_ERR_FORMAT, "printf-style string formatting is not supported");
    return type_error(r, names[op], a, b);
}

static bool contains(struct jrender *r, struct jv item, struct jv container, bool *out)
{
    switch (container.t) {
    case JT_STR:
        if (item.t != JT_STR)
            return jr_fail(r, QWGLM_ERR_FORMAT, "'in <string>' requires string as left operand, not %s",
                           jv_type_name(item));
        *out = item.u.s->len == 0 ||
               memmem(container.u.s->p, container.u.s->len, item.u.s->p, item.u.s->len) != NULL;
        return true;
    case JT_LIST:
    case JT_TUPLE:
        *out = false;
        for (size_t i = 0; i < container.u.l->n && !*out; i++) *out = jv_equal(container.u.l->v[i], item);
        return true;
    case JT_DICT: *out = jdict_get(container.u.d, item) != NULL; return true;
    case JT_UNDEF: *out = false; return true;
    default:
        return jr_fail(r, QWGLM_ERR_FORMAT, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

static bool compare_op(struct jrender *r, int op, struct jv a, struct jv b, bool *out)
{
    int c;
    switch (op) {
    case OP_EQ: *out = jv_equal(a, b); return true;
    case OP_NE: *out = !jv_equal(a, b); return true;
    case OP_IN: return contains(r, a, b, out);
    case OP_NOTIN:
        if (!contains(r, a, b, out)) return false;
        *out = !*out;
        return true;
    default:
        if (a.t == JT_UNDEF) return undefined_error(r, a);
        if (b.t == JT_UNDEF) return undefined_error(r, b);
        if (!jv_compare(r, a, b, &c)) return false;
        *out = op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0;
        return true;
    }
}

static bool call_value(struct jrender *r, struct jv fn, const struct jargs *a, struct jv *out)
{
    switch (fn.t) {
    case JT_MACRO: return jeval_call_macro(r, fn.u.m, a, out);
    case JT_FUNC: return jlib_call_func(r, fn.u.fn, a, out);
    case JT_METHOD: return jlib_method(r, fn.u.meth, a, out);
    case JT_UNDEF: return undefined_error(r, fn);
    default: return jr_fail(r, QWGLM_ERR_FORMAT, "'%s' object is not callable", jv_type_name(fn));
    }
}

static struct ctx *current_ctx; /* the context a macro call renders into; set per render (see jinja_render) */

static bool eval(struct ctx *c, const struct jnode *x, struct jv *out)
{
    struct jrender *r = c->r;
    struct jv a, b;
    r->line = x->line;
    if (r->st) return false;
    switch (x->kind) {
    case JE_CONST: *out = x->value; return true;
    case JE_NAME: *out = lookup(c, x->name, x->name_len); return true;
    case JE_ATTR:
        if (!eval(c, x->a, &a)) return false;
        r->line = x->line;
        return jeval_getattr(r, a, x->name, x->name_len, out);
    case JE_ITEM:
        if (!eval(c, x->a, &a)) return false;
        if (x->b->kind == JE_SLICE) {
            struct jv s[3] = {jv_none(), jv_none(), jv_none()};
            const struct jnode *parts[3] = {x->b->a, x->b->b, x->b->c};
            for (int k = 0; k < 3; k++)
                if (parts[k] && !eval(c, parts[k], &s[k])) return false;
            r->line = x->line;
            return do_slice(r, a, s[0], s[1], s[2], out);
        }
        if (!eval(c, x->b, &b)) return false;
        r->line = x->line;
        return jeval_getitem(r, a, b, out);
    case JE_CALL: {
        struct jargs args;
        if (!eval(c, x->a, &a) || !eval_args(c, x, &args)) return false;
        r->line = x->line;
        struct ctx *saved = current_ctx;
        current_ctx = c;
        bool ok = call_value(r, a, &args, out);
        current_ctx = saved;
        return ok;
    }
    case JE_FILTER: {
        struct jargs args;
        if (!eval(c, x->a, &a) || !eval_args(c, x, &args)) return false;
        r->line = x->line;
        struct ctx *saved = current_ctx;
        current_ctx = c;
        bool ok = jlib_filter(r, x->name, a, &args, out);
        current_ctx = saved;
        return ok;
    }
    case JE_TEST: {
        struct jargs args;
        bool t;
        if (!eval(c, x->a, &a) || !eval_args(c, x, &args)) return false;
        r->line = x->line;
        if (!jlib_test(r, x->name, a, &args, &t)) return false;
        *out = jv_bool(t != x->flag);
        return true;
    }
    case JE_NEG:
    case JE_POS:
        if (!eval(c, x->a, &a)) return false;
        r->line = x->line;
        if (a.t == JT_UNDEF) return undefined_error(r, a);
        if (!jv_is_num(a))
            return jr_fail(r, QWGLM_ERR_FORMAT, "bad operand type for unary %s: '%s'", x->kind == JE_NEG ? "-" : "+",
                           jv_type_name(a));
        if (a.t == JT_FLOAT) *out = jv_float(x->kind == JE_NEG ? -a.u.f : a.u.f);
        else {
            int64_t v = a.t == JT_INT ? a.u.i : a.u.b;
            if (x->kind == JE_NEG && v == INT64_MIN) return overflow(r);
            *out = jv_int(x->kind == JE_NEG ? -v : v);
        }
        return true;
    case JE_NOT:
        if (!eval(c, x->a, &a)) return false;
        *out = jv_bool(!jv_truthy(a));
        return true;
    case JE_BINARY:
        if (!eval(c, x->a, &a) || !eval(c, x->b, &b)) return false;
        r->line = x->line;
        return arith(r, x->op, a, b, out);
    case JE_AND:
    case JE_OR:
        if (!eval(c, x->a, &a)) return false;
        if (jv_truthy(a) == (x->kind == JE_OR)) return *out = a, true;
        return eval(c, x->b, out);
    case JE_COMPARE: {
        if (!eval(c, x->a, &a)) return false;
        for (int i = 0; i < x->n_items; i++) {
            bool t;
            if (!eval(c, x->items[i]->a, &b)) return false;
            r->line = x->line;
            if (!compare_op(r, x->items[i]->op, a, b, &t)) return false;
            if (!t) return *out = jv_bool(false), true;
            a = b;
        }
        *out = jv_bool(true);
        return true;
    }
    case JE_CONCAT: {
        struct qw_str s = {0};
        for (int i = 0; i < x->n_items; i++) {
            if (!eval(c, x->items[i], &a) || !jv_print(r, &s, a)) {
                qw_str_free(&s);
                return false;
            }
        }
        *out = jv_from_qstr(r, &s);
        return out->t == JT_STR;
    }
    case JE_COND:
        if (!eval(c, x->a, &a)) return false;
        if (jv_truthy(a)) return eval(c, x->b, out);
        if (x->c) return eval(c, x->c, out);
        *out = jv_undef();
        return true;
    case JE_LIST:
    case JE_TUPLE:
        *out = jv_list(&r->arena, (size_t)x->n_items, x->kind == JE_TUPLE);
        if (out->t == JT_UNDEF) return jr_nomem(r);
        for (int i = 0; i < x->n_items; i++)
            if (!eval(c, x->items[i], &out->u.l->v[i])) return false;
        return true;
    case JE_DICT:
        *out = jv_dict(&r->arena);
        if (out->t == JT_UNDEF) return jr_nomem(r);
        for (int i = 0; i < x->n_items; i++) {
            if (!eval(c, x->items[i], &a) || !eval(c, x->kw[i], &b)) return false;
            if (!jdict_set(&r->arena, out->u.d, a, b))
                return jr_fail(r, QWGLM_ERR_FORMAT, "unhashable type: '%s'", jv_type_name(a));
        }
        return true;
    default:
        return jr_fail(r, QWGLM_ERR_FORMAT, "internal: not an expression");
    }
}

/* ---- statements ---- */

static enum flow exec(struct ctx *c, const struct jnode *x);

static enum flow exec_body(struct ctx *c, const struct jnode *body)
{
    if (!body) return FLOW_OK;
    for (int i = 0; i < body->n_items; i++) {
        enum flow f = exec(c, body->items[i]);
        if (f != FLOW_OK) return f;
    }
    return FLOW_OK;
}

static struct jframe *new_frame(struct jrender *r, struct jframe *parent)
{
    struct jframe *f = ja_alloc(&r->arena, sizeof *f);
    if (!f) {
        jr_nomem(r);
        return NULL;
    }
    f->parent = parent;
    return f;
}

static bool bind_target(struct ctx *c, const struct jnode *target, struct jv v)
{
    struct jrender *r = c->r;
    if (target->kind == JE_NAME) return assign(c, target->name, v);
    if (target->kind == JE_NSREF) {
        struct jv ns = lookup(c, target->name, strlen(target->name));
        if (ns.t != JT_NS) return jr_fail(r, QWGLM_ERR_FORMAT, "cannot assign attribute on non-namespace object");
        if (!jdict_set(&r->arena, ns.u.d, target->b->value, v)) return jr_nomem(r);
        return true;
    }
    /* a tuple of names: unpack */
    struct jlist items;
    if (v.t == JT_UNDEF) return undefined_error(r, v);
    if (!jv_iterate(r, v, &items)) return false;
    if ((int)items.n != target->n_items)
        return jr_fail(r, QWGLM_ERR_FORMAT, "%s values to unpack (expected %d, got %zu)",
                       (int)items.n > target->n_items ? "too many" : "not enough", target->n_items, items.n);
    for (int i = 0; i < target->n_items; i++)
        if (!bind_target(c, target->items[i], items.v[i])) return false;
    return true;
}

static enum flow exec_for(struct ctx *c, const struct jnode *x)
{
    struct jrender *r = c->r;
    struct jv seq;
    struct jlist items;
    if (!eval(c, x->b, &seq)) return FLOW_ERROR;
    r->line = x->line;
    if (!jv_iterate(r, seq, &items)) return FLOW_ERROR;
    struct jframe *outer = c->frame;
    if (x->n_items) { /* loop filter: evaluated with the target bound, before the loop runs */
        struct jlist kept = {0, items.n ? ja_alloc(&r->arena, items.n * sizeof *items.v) : NULL};
        if (items.n && !kept.v) return jr_nomem(r), FLOW_ERROR;
        for (size_t i = 0; i < items.n; i++) {
            struct jv t;
            if (!step(r) || !(c->frame = new_frame(r, outer))) return c->frame = outer, FLOW_ERROR;
            bool ok = bind_target(c, x->a, items.v[i]) && eval(c, x->items[0], &t);
            c->frame = outer;
            if (!ok) return FLOW_ERROR;
            if (jv_truthy(t)) kept.v[kept.n++] = items.v[i];
        }
        items = kept;
    }
    struct jlist *frozen = ja_alloc(&r->arena, sizeof *frozen);
    struct jloop *loop = ja_alloc(&r->arena, sizeof *loop);
    if (!frozen || !loop) return jr_nomem(r), FLOW_ERROR;
    *frozen = items;
    loop->items = frozen;
    enum flow result = FLOW_OK;
    for (size_t i = 0; i < items.n; i++) {
        loop->index0 = i;
        if (!step(r) || !(c->frame = new_frame(r, outer))) {
            result = FLOW_ERROR;
            break;
        }
        if (!bind_target(c, x->a, items.v[i]) || !assign(c, "loop", (struct jv){.t = JT_LOOP, .u.loop = loop})) {
            result = FLOW_ERROR;
            break;
        }
        enum flow f = exec_body(c, x->c);
        c->frame = outer;
        if (f == FLOW_ERROR) return FLOW_ERROR;
        if (f == FLOW_BREAK) break;
    }
    c->frame = outer;
    if (result == FLOW_OK && items.n == 0 && x->d) {
        if (!(c->frame = new_frame(r, outer))) return FLOW_ERROR;
        result = exec_body(c, x->d);
        c->frame = outer;
        if (result == FLOW_BREAK || result == FLOW_CONTINUE) result = FLOW_OK;
    }
    return result;
}

/* Renders body into a fresh string (set blocks, filter blocks, macro calls). */
static bool capture(struct ctx *c, const struct jnode *body, struct jv *out)
{
    struct qw_str s = {.max = c->r->max_output};
    struct qw_str *saved = c->out;
    c->out = &s;
    enum flow f = exec_body(c, body);
    c->out = saved;
    if (f == FLOW_ERROR || s.failed) {
        qw_str_free(&s);
        return f == FLOW_ERROR ? false : jr_fail(c->r, QWGLM_ERR_FORMAT, "rendered text too large");
    }
    if (f != FLOW_OK) {
        qw_str_free(&s);
        return jr_fail(c->r, QWGLM_ERR_FORMAT, "break or continue outside a loop");
    }
    *out = jv_from_qstr(c->r, &s);
    return out->t == JT_STR;
}

/* Applies a chain of JE_FILTER nodes whose innermost input is NULL to v. */
static bool apply_filters(struct ctx *c, const struct jnode *f, struct jv v, struct jv *out)
{
    if (!f) return *out = v, true;
    struct jv in;
    if (!apply_filters(c, f->a, v, &in)) return false;
    struct jargs args;
    if (!eval_args(c, f, &args)) return false;
    c->r->line = f->line;
    return jlib_filter(c->r, f->name, in, &args, out);
}

bool jeval_call_macro(struct jrender *r, const struct jmacro *m, const struct jargs *a, struct jv *out)
{
    struct ctx *caller = current_ctx;
    const struct jnode *x = m->node;
    if (!caller) return jr_fail(r, QWGLM_ERR_FORMAT, "internal: macro call without context");
    if (caller->depth >= MAX_CALL_DEPTH) return jr_fail(r, QWGLM_ERR_FORMAT, "macro calls nested too deeply");
    if (a->n_pos > x->n_kw)
        return jr_fail(r, QWGLM_ERR_FORMAT, "macro '%s' takes not more than %d argument(s)", x->name, x->n_kw);
    struct ctx c = {.r = r, .out = NULL, .frame = new_frame(r, m->closure), .depth = caller->depth + 1};
    if (!c.frame) return false;
    for (int k = 0; k < a->n_kw; k++) {
        int j = 0;
        while (j < x->n_kw && strcmp(x->kw_names[j], a->kw_names[k]) != 0) j++;
        if (j == x->n_kw)
            return jr_fail(r, QWGLM_ERR_FORMAT, "macro '%s' has no parameter '%s'", x->name, a->kw_names[k]);
        if (j < a->n_pos) return jr_fail(r, QWGLM_ERR_FORMAT, "macro '%s' got '%s' twice", x->name, a->kw_names[k]);
    }
    for (int j = 0; j < x->n_kw; j++) {
        struct jv v = jv_undef();
        bool given = false;
        if (j < a->n_pos) {
            v = a->pos[j];
            given = true;
        }
        for (int k = 0; k < a->n_kw && !given; k++)
            if (!strcmp(x->kw_names[j], a->kw_names[k])) v = a->kw[k], given = true;
        if (!given && x->kw[j] && !eval(&c, x->kw[j], &v)) return false;
        if (!given && !x->kw[j]) v = undef_named(r, x->kw_names[j], strlen(x->kw_names[j]));
        if (!assign(&c, x->kw_names[j], v)) return false;
    }
    return capture(&c, x->b, out);
}

static enum flow exec(struct ctx *c, const struct jnode *x)
{
    struct jrender *r = c->r;
    struct jv v;
    r->line = x->line;
    if (!step(r)) return FLOW_ERROR;
    switch (x->kind) {
    case JS_BODY: return exec_body(c, x);
    case JS_TEXT:
        if (!qw_str_append(c->out, x->name, x->name_len))
            return jr_fail(r, QWGLM_ERR_FORMAT, "rendered text too large"), FLOW_ERROR;
        return FLOW_OK;
    case JS_OUTPUT:
        if (!eval(c, x->a, &v)) return FLOW_ERROR;
        if (!jv_print(r, c->out, v) || c->out->failed)
            return r->st ? FLOW_ERROR : (jr_fail(r, QWGLM_ERR_FORMAT, "rendered text too large"), FLOW_ERROR);
        return FLOW_OK;
    case JS_IF:
        if (!eval(c, x->a, &v)) return FLOW_ERROR;
        if (jv_truthy(v)) return exec_body(c, x->b);
        return x->c ? exec(c, x->c) : FLOW_OK;
    case JS_FOR: return exec_for(c, x);
    case JS_SET:
        if (!eval(c, x->b, &v)) return FLOW_ERROR;
        r->line = x->line;
        return bind_target(c, x->a, v) ? FLOW_OK : FLOW_ERROR;
    case JS_SET_BLOCK: {
        struct jv body;
        if (!capture(c, x->b, &body) || !apply_filters(c, x->c, body, &v)) return FLOW_ERROR;
        return bind_target(c, x->a, v) ? FLOW_OK : FLOW_ERROR;
    }
    case JS_MACRO: {
        struct jmacro *m = ja_alloc(&r->arena, sizeof *m);
        if (!m) return jr_nomem(r), FLOW_ERROR;
        m->node = x;
        m->closure = c->frame;
        return assign(c, x->name, (struct jv){.t = JT_MACRO, .u.m = m}) ? FLOW_OK : FLOW_ERROR;
    }
    case JS_BREAK: return FLOW_BREAK;
    case JS_CONTINUE: return FLOW_CONTINUE;
    case JS_FILTER_BLOCK: {
        struct jv body;
        if (!capture(c, x->b, &body) || !apply_filters(c, x->a, body, &v) || !jv_print(r, c->out, v))
            return FLOW_ERROR;
        return FLOW_OK;
    }
    case JS_WITH: {
        struct jframe *outer = c->frame, *inner = new_frame(r, outer);
        if (!inner) return FLOW_ERROR;
        for (int i = 0; i < x->n_kw; i++) {
            if (!eval(c, x->kw[i], &v)) return FLOW_ERROR;
            c->frame = inner;
            bool ok = assign(c, x->kw_names[i], v);
            c->frame = outer;
            if (!ok) return FLOW_ERROR;
        }
        c->frame = inner;
        enum flow f = exec_body(c, x->b);
        c->frame = outer;
        return f;
    }
    default:
        jr_fail(r, QWGLM_ERR_FORMAT, "internal: not a statement");
        return FLOW_ERROR;
    }
}

qwglm_status jinja_render(const struct jinja_template *t, const struct json_value *const *vars, int n_vars,
                          const struct jinja_limits *limits, struct qw_str *out, struct qw_err *e)
{
    struct jrender r = {.e = e, .line = 1};
    r.arena.max = limits && limits->max_memory ? limits->max_memory : (size_t)256 << 20;
    r.steps = limits && limits->max_steps ? limits->max_steps : 10000000L;
    r.max_output = limits && limits->max_output ? limits->max_output : (size_t)64 << 20;
    size_t max_saved = out->max;
    if (!out->max || out->max > out->len + r.max_output) out->max = out->len + r.max_output;
    r.globals = ja_alloc(&r.arena, sizeof *r.globals);
    struct jframe *root = ja_alloc(&r.arena, sizeof *root);
    bool ok = r.globals && root;
    if (!ok) jr_nomem(&r);
    for (int layer = 0; ok && layer < n_vars; layer++) {
        const struct json_value *obj = vars[layer];
        if (!obj || obj->type != JSON_OBJECT) continue;
        for (uint32_t i = 0; i < obj->n && ok; i++) {
            const struct json_member *m = &obj->u.members[i];
            struct jv k = jv_str(&r.arena, m->key, m->key_len);
            struct jv v = jv_from_json(&r.arena, &m->value, &ok);
            ok = ok && k.t == JT_STR && jdict_set(&r.arena, &r.globals->vars, k, v);
            if (!ok) jr_nomem(&r);
        }
    }
    if (ok) {
        struct ctx c = {.r = &r, .out = out, .frame = root};
        struct ctx *saved = current_ctx;
        current_ctx = &c;
        enum flow f = exec_body(&c, t->root);
        current_ctx = saved;
        if (f == FLOW_BREAK || f == FLOW_CONTINUE) jr_fail(&r, QWGLM_ERR_FORMAT, "break or continue outside a loop");
    }
    out->max = max_saved;
    out->failed = false;
    ja_free(&r.arena);
    return r.st;
}
