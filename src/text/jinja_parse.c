/* Jinja parser: tokens -> syntax tree, with jinja2's grammar and precedence (parser.py): conditional
 * expressions, or, and, not, comparisons (chained, in, not in), + -, ~, * / // %, **, unary - +, then postfix
 * access, calls, filters and tests. Statements: if, for, set, macro, filter, with, break, continue, generation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "text/jinja_impl.h"

/* ---- parser ---- */

static struct token *cur(struct jparser *p) { return &p->toks[p->pos]; }
static struct token *peek(struct jparser *p, size_t k)
{
    return p->pos + k < p->n_toks ? &p->toks[p->pos + k] : &p->toks[p->n_toks - 1];
}
static void advance(struct jparser *p)
{
    if (p->pos + 1 < p->n_toks) p->pos++;
}
static bool is_op(struct jparser *p, int op) { return cur(p)->type == T_OP && cur(p)->op == op; }
static bool is_name(struct jparser *p, const char *name)
{
    return cur(p)->type == T_NAME && strcmp(cur(p)->s, name) == 0;
}
static bool accept_op(struct jparser *p, int op)
{
    if (!is_op(p, op)) return false;
    advance(p);
    return true;
}
static bool accept_name(struct jparser *p, const char *name)
{
    if (!is_name(p, name)) return false;
    advance(p);
    return true;
}

static const char *describe(struct token *t)
{
    switch (t->type) {
    case T_DATA: return "template data";
    case T_VAR_BEGIN: return "'{{'";
    case T_VAR_END: return "'}}'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_BLOCK_END: return "'%}'";
    case T_NAME: return t->s;
    case T_STRING: return "a string";
    case T_INT: case T_FLOAT: return "a number";
    case T_OP: {
        for (size_t k = 0; k < JINJA_N_OPERATORS; k++)
            if (jinja_operators[k].op == t->op) return jinja_operators[k].s;
        return "an operator";
    }
    default: return "end of template";
    }
}

static bool expect_op(struct jparser *p, int op, const char *what)
{
    if (accept_op(p, op)) return true;
    char msg[64];
    snprintf(msg, sizeof msg, "expected '%s', got '%%s'", what);
    return jp_fail(p, cur(p)->line, msg, describe(cur(p)));
}

static bool expect_end(struct jparser *p, int type)
{
    if (cur(p)->type == type) {
        advance(p);
        return true;
    }
    return jp_fail(p, cur(p)->line, "expected end of tag, got '%s'", describe(cur(p)));
}

static struct jnode *node(struct jparser *p, int kind, int line)
{
    struct jnode *n = ja_alloc(p->a, sizeof *n);
    if (!n) {
        jp_nomem(p);
        return NULL;
    }
    n->kind = (uint8_t)kind;
    n->line = line;
    return n;
}

/* a growable list of nodes, copied into the arena when done */
struct nlist {
    struct jnode **v;
    const char **names;
    int n, cap;
};

static bool nl_push(struct jparser *p, struct nlist *l, struct jnode *x, const char *name)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        struct jnode **v = qw_realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return jp_nomem(p);
        l->v = v;
        const char **nm = qw_realloc(l->names, (size_t)cap * sizeof *nm);
        if (!nm) return jp_nomem(p);
        l->names = nm;
        l->cap = cap;
    }
    l->v[l->n] = x;
    l->names[l->n++] = name;
    return true;
}

static bool nl_finish(struct jparser *p, struct nlist *l, struct jnode ***items, const char ***names, int *n)
{
    bool ok = p->st == QWGLM_OK;
    *n = l->n;
    *items = NULL;
    if (names) *names = NULL;
    if (ok && l->n) {
        *items = ja_alloc(p->a, (size_t)l->n * sizeof **items);
        if (names) *names = ja_alloc(p->a, (size_t)l->n * sizeof **names);
        if (!*items || (names && !*names)) ok = jp_nomem(p);
        else {
            memcpy(*items, l->v, (size_t)l->n * sizeof **items);
            if (names) memcpy(*names, l->names, (size_t)l->n * sizeof **names);
        }
    }
    qw_free(l->v);
    qw_free(l->names);
    memset(l, 0, sizeof *l);
    return ok;
}

static struct jnode *parse_expr(struct jparser *p, bool with_cond);
static struct jnode *parse_tuple(struct jparser *p, bool with_cond, const char *end_name, bool explicit_parens);
static struct jnode *parse_unary(struct jparser *p, bool with_filter);
static struct jnode *parse_primary(struct jparser *p);
static struct jnode *parse_postfix(struct jparser *p, struct jnode *x);

static bool enter(struct jparser *p)
{
    if (++p->depth > MAX_NESTING) return jp_fail(p, cur(p)->line, "%s", "expression or blocks nested too deeply");
    return true;
}

/* Call arguments "(a, b, k=v)" into positional items and keyword lists of n. */
static bool parse_args(struct jparser *p, struct jnode *n)
{
    struct nlist pos = {0}, kw = {0};
    if (!expect_op(p, OP_LPAREN, "(")) return false;
    bool ok = true;
    while (ok && !is_op(p, OP_RPAREN)) {
        if (pos.n + kw.n > 0) {
            ok = expect_op(p, OP_COMMA, ",");
            if (!ok || is_op(p, OP_RPAREN)) break;
        }
        if (is_op(p, OP_MUL) || is_op(p, OP_POW)) {
            ok = jp_fail(p, cur(p)->line, "%s", "*args and **kwargs in calls are not supported");
            break;
        }
        if (cur(p)->type == T_NAME && peek(p, 1)->type == T_OP && peek(p, 1)->op == OP_ASSIGN) {
            const char *name = cur(p)->s;
            p->pos += 2;
            struct jnode *v = parse_expr(p, true);
            ok = v && nl_push(p, &kw, v, name);
        } else {
            if (kw.n) {
                ok = jp_fail(p, cur(p)->line, "%s", "positional argument after keyword argument");
                break;
            }
            struct jnode *v = parse_expr(p, true);
            ok = v && nl_push(p, &pos, v, NULL);
        }
    }
    ok = ok && expect_op(p, OP_RPAREN, ")");
    bool ok2 = nl_finish(p, &pos, &n->items, NULL, &n->n_items);
    bool ok3 = nl_finish(p, &kw, &n->kw, &n->kw_names, &n->n_kw);
    return ok && ok2 && ok3;
}

/* "name" or "name.sub" after | or is */
static const char *dotted_name(struct jparser *p)
{
    if (cur(p)->type != T_NAME) {
        jp_fail(p, cur(p)->line, "expected a name, got '%s'", describe(cur(p)));
        return NULL;
    }
    const char *name = cur(p)->s;
    advance(p);
    if (is_op(p, OP_DOT)) {
        jp_fail(p, cur(p)->line, "%s", "dotted filter or test names are not supported");
        return NULL;
    }
    return name;
}

static struct jnode *parse_filter(struct jparser *p, struct jnode *input, bool start_inline)
{
    while (p->st == QWGLM_OK && (start_inline || is_op(p, OP_PIPE))) {
        if (!start_inline) advance(p);
        start_inline = false;
        int line = cur(p)->line;
        const char *name = dotted_name(p);
        struct jnode *f = name ? node(p, JE_FILTER, line) : NULL;
        if (!f) return NULL;
        f->a = input;
        f->name = name;
        if (is_op(p, OP_LPAREN) && !parse_args(p, f)) return NULL;
        input = f;
    }
    return p->st == QWGLM_OK ? input : NULL;
}

static struct jnode *parse_test(struct jparser *p, struct jnode *input)
{
    int line = cur(p)->line;
    advance(p); /* is */
    bool negated = accept_name(p, "not");
    const char *name = dotted_name(p);
    struct jnode *t = name ? node(p, JE_TEST, line) : NULL;
    if (!t) return NULL;
    t->a = input;
    t->name = name;
    t->flag = negated;
    struct token *c = cur(p);
    if (is_op(p, OP_LPAREN)) {
        if (!parse_args(p, t)) return NULL;
    } else if ((c->type == T_NAME || c->type == T_STRING || c->type == T_INT || c->type == T_FLOAT ||
                (c->type == T_OP && (c->op == OP_LBRACKET || c->op == OP_LBRACE))) &&
               !is_name(p, "else") && !is_name(p, "or") && !is_name(p, "and")) {
        if (is_name(p, "is")) return jp_fail(p, c->line, "%s", "tests cannot be chained with is"), NULL;
        struct jnode *arg = parse_primary(p);
        if (arg) arg = parse_postfix(p, arg);
        if (!arg) return NULL;
        t->items = ja_alloc(p->a, sizeof *t->items);
        if (!t->items) return jp_nomem(p), NULL;
        t->items[0] = arg;
        t->n_items = 1;
    }
    return t;
}

static struct jnode *parse_filter_expr(struct jparser *p, struct jnode *x)
{
    while (x && p->st == QWGLM_OK) {
        if (is_op(p, OP_PIPE)) {
            x = parse_filter(p, x, false);
        } else if (is_name(p, "is")) {
            x = parse_test(p, x);
        } else if (is_op(p, OP_LPAREN)) {
            struct jnode *c = node(p, JE_CALL, cur(p)->line);
            if (!c) return NULL;
            c->a = x;
            if (!parse_args(p, c)) return NULL;
            x = c;
        } else {
            break;
        }
    }
    return p->st == QWGLM_OK ? x : NULL;
}

/* The inside of [...]: an expression or a slice a:b:c. */
static struct jnode *parse_subscribed(struct jparser *p)
{
    int line = cur(p)->line;
    struct jnode *parts[3] = {NULL, NULL, NULL};
    if (!is_op(p, OP_COLON)) {
        parts[0] = parse_expr(p, true);
        if (!parts[0]) return NULL;
        if (!is_op(p, OP_COLON)) return parts[0];
    }
    advance(p); /* : */
    if (!is_op(p, OP_COLON) && !is_op(p, OP_RBRACKET) && !is_op(p, OP_COMMA)) {
        if (!(parts[1] = parse_expr(p, true))) return NULL;
    }
    if (accept_op(p, OP_COLON) && !is_op(p, OP_RBRACKET) && !is_op(p, OP_COMMA)) {
        if (!(parts[2] = parse_expr(p, true))) return NULL;
    }
    struct jnode *s = node(p, JE_SLICE, line);
    if (s) s->a = parts[0], s->b = parts[1], s->c = parts[2];
    return s;
}

static struct jnode *parse_postfix(struct jparser *p, struct jnode *x)
{
    while (x && p->st == QWGLM_OK) {
        int line = cur(p)->line;
        if (accept_op(p, OP_DOT)) {
            struct token *t = cur(p);
            if (t->type == T_NAME) {
                struct jnode *g = node(p, JE_ATTR, line);
                if (!g) return NULL;
                g->a = x;
                g->name = t->s;
                g->name_len = t->n;
                advance(p);
                x = g;
            } else if (t->type == T_INT) {
                struct jnode *k = node(p, JE_CONST, line), *g = node(p, JE_ITEM, line);
                if (!k || !g) return NULL;
                k->value = jv_int(t->i);
                g->a = x;
                g->b = k;
                advance(p);
                x = g;
            } else {
                return jp_fail(p, line, "expected name or number after '.', got '%s'", describe(t)), NULL;
            }
        } else if (accept_op(p, OP_LBRACKET)) {
            struct nlist args = {0};
            bool ok = true;
            while (ok && !is_op(p, OP_RBRACKET)) {
                if (args.n && !(ok = expect_op(p, OP_COMMA, ","))) break;
                struct jnode *a = parse_subscribed(p);
                ok = a && nl_push(p, &args, a, NULL);
            }
            ok = ok && expect_op(p, OP_RBRACKET, "]");
            struct jnode *g = node(p, JE_ITEM, line);
            if (!g) ok = false;
            if (ok && args.n == 1) {
                g->b = args.v[0];
            } else if (ok) {
                struct jnode *tup = node(p, JE_TUPLE, line);
                ok = tup != NULL;
                if (ok) {
                    ok = nl_finish(p, &args, &tup->items, NULL, &tup->n_items);
                    g->b = tup;
                }
            }
            qw_free(args.v);
            qw_free(args.names);
            if (!ok) return NULL;
            g->a = x;
            x = g;
        } else if (is_op(p, OP_LPAREN)) {
            struct jnode *c = node(p, JE_CALL, line);
            if (!c) return NULL;
            c->a = x;
            if (!parse_args(p, c)) return NULL;
            x = c;
        } else {
            break;
        }
    }
    return p->st == QWGLM_OK ? x : NULL;
}

static struct jnode *parse_list_or_dict(struct jparser *p, bool dict)
{
    int line = cur(p)->line;
    advance(p);
    struct nlist keys = {0}, vals = {0};
    int close = dict ? OP_RBRACE : OP_RBRACKET;
    bool ok = true;
    while (ok && !is_op(p, close)) {
        if (keys.n && !(ok = expect_op(p, OP_COMMA, ","))) break;
        if (is_op(p, close)) break;
        struct jnode *k = parse_expr(p, true);
        ok = k && nl_push(p, &keys, k, NULL);
        if (ok && dict) {
            ok = expect_op(p, OP_COLON, ":");
            struct jnode *v = ok ? parse_expr(p, true) : NULL;
            ok = v && nl_push(p, &vals, v, NULL);
        }
    }
    ok = ok && expect_op(p, close, dict ? "}" : "]");
    struct jnode *x = ok ? node(p, dict ? JE_DICT : JE_LIST, line) : NULL;
    struct jnode **kv = NULL, **vv = NULL;
    int nk = 0, nv = 0;
    bool ok1 = nl_finish(p, &keys, &kv, NULL, &nk), ok2 = nl_finish(p, &vals, &vv, NULL, &nv);
    if (!x || !ok1 || !ok2) return NULL;
    x->items = kv;
    x->n_items = nk;
    x->kw = vv;
    x->n_kw = nv;
    return x;
}

static struct jnode *parse_primary(struct jparser *p)
{
    struct token *t = cur(p);
    struct jnode *x = NULL;
    if (!enter(p)) return NULL;
    switch (t->type) {
    case T_NAME:
        x = node(p, JE_CONST, t->line);
        if (!x) break;
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True")) x->value = jv_bool(true);
        else if (!strcmp(t->s, "false") || !strcmp(t->s, "False")) x->value = jv_bool(false);
        else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) x->value = jv_none();
        else {
            x->kind = JE_NAME;
            x->name = t->s;
            x->name_len = t->n;
        }
        advance(p);
        break;
    case T_STRING: {
        /* adjacent string literals concatenate */
        struct qw_str buf = {0};
        int line = t->line;
        while (cur(p)->type == T_STRING) {
            qw_str_append(&buf, cur(p)->s, cur(p)->n);
            advance(p);
        }
        x = node(p, JE_CONST, line);
        if (x) {
            x->value = jv_str(p->a, buf.data ? buf.data : "", buf.len);
            if (x->value.t != JT_STR || buf.failed) x = NULL, jp_nomem(p);
        }
        qw_str_free(&buf);
        break;
    }
    case T_INT:
    case T_FLOAT:
        x = node(p, JE_CONST, t->line);
        if (x) x->value = t->type == T_INT ? jv_int(t->i) : jv_float(t->f);
        advance(p);
        break;
    case T_OP:
        if (t->op == OP_LPAREN) {
            advance(p);
            x = parse_tuple(p, true, NULL, true);
            if (x && !expect_op(p, OP_RPAREN, ")")) x = NULL;
            break;
        }
        if (t->op == OP_LBRACKET || t->op == OP_LBRACE) {
            x = parse_list_or_dict(p, t->op == OP_LBRACE);
            break;
        }
        /* fall through */
    default:
        jp_fail(p, t->line, "unexpected '%s'", describe(t));
    }
    p->depth--;
    return p->st == QWGLM_OK ? x : NULL;
}

static struct jnode *parse_unary(struct jparser *p, bool with_filter)
{
    struct jnode *x;
    int line = cur(p)->line;
    if (!enter(p)) return NULL;
    if (is_op(p, OP_SUB) || is_op(p, OP_ADD)) {
        int kind = is_op(p, OP_SUB) ? JE_NEG : JE_POS;
        advance(p);
        struct jnode *inner = parse_unary(p, false);
        x = inner ? node(p, kind, line) : NULL;
        if (x) x->a = inner;
    } else {
        x = parse_primary(p);
    }
    x = x ? parse_postfix(p, x) : NULL;
    if (x && with_filter) x = parse_filter_expr(p, x);
    p->depth--;
    return x;
}

static struct jnode *binary(struct jparser *p, int kind, int op, struct jnode *a, struct jnode *b, int line)
{
    if (!a || !b) return NULL;
    struct jnode *x = node(p, kind, line);
    if (x) x->op = (uint8_t)op, x->a = a, x->b = b;
    return x;
}

static struct jnode *parse_pow(struct jparser *p)
{
    struct jnode *x = parse_unary(p, true);
    while (x && is_op(p, OP_POW)) {
        int line = cur(p)->line;
        advance(p);
        x = binary(p, JE_BINARY, OP_POW, x, parse_unary(p, true), line);
    }
    return x;
}

static struct jnode *parse_math2(struct jparser *p)
{
    struct jnode *x = parse_pow(p);
    while (x && (is_op(p, OP_MUL) || is_op(p, OP_DIV) || is_op(p, OP_FLOORDIV) || is_op(p, OP_MOD))) {
        int op = cur(p)->op, line = cur(p)->line;
        advance(p);
        x = binary(p, JE_BINARY, op, x, parse_pow(p), line);
    }
    return x;
}

static struct jnode *parse_concat(struct jparser *p)
{
    int line = cur(p)->line;
    struct jnode *first = parse_math2(p);
    if (!first || !is_op(p, OP_TILDE)) return first;
    struct nlist parts = {0};
    bool ok = nl_push(p, &parts, first, NULL);
    while (ok && accept_op(p, OP_TILDE)) {
        struct jnode *x = parse_math2(p);
        ok = x && nl_push(p, &parts, x, NULL);
    }
    struct jnode *c = node(p, JE_CONCAT, line);
    struct jnode **items = NULL;
    int n = 0;
    ok = nl_finish(p, &parts, &items, NULL, &n) && ok && c;
    if (!ok) return NULL;
    c->items = items;
    c->n_items = n;
    return c;
}

static struct jnode *parse_math1(struct jparser *p)
{
    struct jnode *x = parse_concat(p);
    while (x && (is_op(p, OP_ADD) || is_op(p, OP_SUB))) {
        int op = cur(p)->op, line = cur(p)->line;
        advance(p);
        x = binary(p, JE_BINARY, op, x, parse_concat(p), line);
    }
    return x;
}

static struct jnode *parse_compare(struct jparser *p)
{
    int line = cur(p)->line;
    struct jnode *first = parse_math1(p);
    if (!first) return NULL;
    struct nlist ops = {0};
    bool ok = true;
    for (;;) {
        int op;
        struct token *t = cur(p);
        if (t->type == T_OP && t->op >= OP_EQ && t->op <= OP_GE) {
            op = t->op;
            advance(p);
        } else if (accept_name(p, "in")) {
            op = OP_IN;
        } else if (is_name(p, "not") && peek(p, 1)->type == T_NAME && !strcmp(peek(p, 1)->s, "in")) {
            p->pos += 2;
            op = OP_NOTIN;
        } else {
            break;
        }
        struct jnode *operand = parse_math1(p), *w = operand ? node(p, JE_BINARY, line) : NULL;
        if (!w) {
            ok = false;
            break;
        }
        w->op = (uint8_t)op;
        w->a = operand;
        if (!(ok = nl_push(p, &ops, w, NULL))) break;
    }
    if (ops.n == 0 && ok) {
        qw_free(ops.v);
        qw_free(ops.names);
        return first;
    }
    struct jnode *c = ok ? node(p, JE_COMPARE, line) : NULL;
    struct jnode **items = NULL;
    int n = 0;
    ok = nl_finish(p, &ops, &items, NULL, &n) && c;
    if (!ok) return NULL;
    c->a = first;
    c->items = items;
    c->n_items = n;
    return c;
}

static struct jnode *parse_not(struct jparser *p)
{
    if (is_name(p, "not")) {
        int line = cur(p)->line;
        advance(p);
        if (!enter(p)) return NULL;
        struct jnode *inner = parse_not(p), *x = inner ? node(p, JE_NOT, line) : NULL;
        p->depth--;
        if (x) x->a = inner;
        return x;
    }
    return parse_compare(p);
}

static struct jnode *parse_and(struct jparser *p)
{
    struct jnode *x = parse_not(p);
    while (x && is_name(p, "and")) {
        int line = cur(p)->line;
        advance(p);
        x = binary(p, JE_AND, 0, x, parse_not(p), line);
    }
    return x;
}

static struct jnode *parse_or(struct jparser *p)
{
    struct jnode *x = parse_and(p);
    while (x && is_name(p, "or")) {
        int line = cur(p)->line;
        advance(p);
        x = binary(p, JE_OR, 0, x, parse_and(p), line);
    }
    return x;
}

static struct jnode *parse_expr(struct jparser *p, bool with_cond)
{
    if (!enter(p)) return NULL;
    struct jnode *x = parse_or(p);
    while (with_cond && x && is_name(p, "if")) {
        int line = cur(p)->line;
        advance(p);
        struct jnode *c = node(p, JE_COND, line), *test = parse_or(p), *other = NULL;
        if (!c || !test) return NULL;
        if (accept_name(p, "else") && !(other = parse_expr(p, true))) return NULL;
        c->a = test;
        c->b = x;
        c->c = other;
        x = c;
    }
    p->depth--;
    return p->st == QWGLM_OK ? x : NULL;
}

static bool tuple_end(struct jparser *p, const char *end_name)
{
    struct token *t = cur(p);
    if (t->type == T_VAR_END || t->type == T_BLOCK_END || t->type == T_EOF) return true;
    if (t->type == T_OP && (t->op == OP_RPAREN || t->op == OP_RBRACKET || t->op == OP_RBRACE)) return true;
    return end_name && is_name(p, end_name);
}

/* Expressions separated by commas: a tuple when there is a comma, the expression itself otherwise. */
static struct jnode *parse_tuple(struct jparser *p, bool with_cond, const char *end_name, bool explicit_parens)
{
    int line = cur(p)->line;
    struct nlist items = {0};
    bool is_tuple = false, ok = true;
    for (;;) {
        if (items.n && !(ok = expect_op(p, OP_COMMA, ","))) break;
        if (tuple_end(p, end_name)) break;
        struct jnode *x = parse_expr(p, with_cond);
        if (!(ok = x && nl_push(p, &items, x, NULL))) break;
        if (is_op(p, OP_COMMA)) is_tuple = true;
        else break;
    }
    if (ok && !is_tuple && items.n == 1) {
        struct jnode *x = items.v[0];
        qw_free(items.v);
        qw_free(items.names);
        return x;
    }
    if (ok && !is_tuple && !explicit_parens) ok = jp_fail(p, line, "expected an expression, got '%s'", describe(cur(p)));
    struct jnode *t = ok ? node(p, JE_TUPLE, line) : NULL;
    struct jnode **v = NULL;
    int n = 0;
    ok = nl_finish(p, &items, &v, NULL, &n) && t;
    if (!ok) return NULL;
    t->items = v;
    t->n_items = n;
    return t;
}

/* An assignment target: a name, a tuple of names, or (with ns) name.attr. */
static struct jnode *parse_target(struct jparser *p, bool with_ns, const char *end_name)
{
    int line = cur(p)->line;
    if (with_ns && cur(p)->type == T_NAME && peek(p, 1)->type == T_OP && peek(p, 1)->op == OP_DOT) {
        struct jnode *x = node(p, JE_NSREF, line);
        if (!x) return NULL;
        x->name = cur(p)->s;
        p->pos += 2;
        if (cur(p)->type != T_NAME) return jp_fail(p, line, "expected attribute name, got '%s'", describe(cur(p))), NULL;
        struct jnode *attr = node(p, JE_CONST, line);
        if (!attr) return NULL;
        attr->value = jv_str(p->a, cur(p)->s, cur(p)->n);
        x->b = attr;
        advance(p);
        return x;
    }
    struct nlist names = {0};
    bool ok = true, is_tuple = false;
    for (;;) {
        if (names.n && !(ok = expect_op(p, OP_COMMA, ","))) break;
        if (names.n && (is_op(p, OP_ASSIGN) || tuple_end(p, end_name))) break;
        if (cur(p)->type != T_NAME) {
            ok = jp_fail(p, cur(p)->line, "can't assign to '%s'", describe(cur(p)));
            break;
        }
        struct jnode *x = node(p, JE_NAME, cur(p)->line);
        if (!x) {
            ok = false;
            break;
        }
        x->name = cur(p)->s;
        x->name_len = cur(p)->n;
        advance(p);
        if (!(ok = nl_push(p, &names, x, NULL))) break;
        if (is_op(p, OP_COMMA)) is_tuple = true;
        else break;
    }
    if (ok && !is_tuple) {
        struct jnode *x = names.v[0];
        qw_free(names.v);
        qw_free(names.names);
        return x;
    }
    struct jnode *t = ok ? node(p, JE_TUPLE, line) : NULL;
    struct jnode **v = NULL;
    int n = 0;
    ok = nl_finish(p, &names, &v, NULL, &n) && t;
    if (!ok) return NULL;
    t->items = v;
    t->n_items = n;
    return t;
}

static struct jnode *parse_body(struct jparser *p, const char *const *ends);

/* Parses "%}" then statements up to one of ends; leaves the end tag's name as the current token. */
static struct jnode *parse_block_body(struct jparser *p, const char *const *ends)
{
    accept_op(p, OP_COLON);
    if (!expect_end(p, T_BLOCK_END)) return NULL;
    struct jnode *b = parse_body(p, ends);
    if (b && cur(p)->type == T_EOF) {
        char msg[96];
        snprintf(msg, sizeof msg, "unexpected end of template, expected '%s'", ends[0]);
        jp_fail(p, cur(p)->line, "%s", msg);
        return NULL;
    }
    return b;
}

static bool end_tag(struct jparser *p, const char *name)
{
    if (!accept_name(p, name)) return jp_fail(p, cur(p)->line, "expected '%s'", name);
    return expect_end(p, T_BLOCK_END);
}

static struct jnode *parse_for(struct jparser *p, int line)
{
    static const char *const ends[] = {"endfor", "else", NULL}, *const ends2[] = {"endfor", NULL};
    struct jnode *f = node(p, JS_FOR, line);
    if (!f || !(f->a = parse_target(p, false, "in"))) return NULL;
    if (!accept_name(p, "in")) return jp_fail(p, cur(p)->line, "%s", "expected 'in' in for loop"), NULL;
    if (!(f->b = parse_tuple(p, false, "recursive", false))) return NULL;
    if (accept_name(p, "if")) {
        struct jnode *cond = parse_expr(p, true);
        if (!cond) return NULL;
        f->items = ja_alloc(p->a, sizeof *f->items);
        if (!f->items) return jp_nomem(p), NULL;
        f->items[0] = cond;
        f->n_items = 1;
    }
    if (is_name(p, "recursive")) return jp_fail(p, cur(p)->line, "%s", "recursive loops are not supported"), NULL;
    if (!(f->c = parse_block_body(p, ends))) return NULL;
    if (accept_name(p, "else")) {
        if (!(f->d = parse_block_body(p, ends2))) return NULL;
    }
    return end_tag(p, "endfor") ? f : NULL;
}

static struct jnode *parse_if(struct jparser *p, int line)
{
    static const char *const ends[] = {"endif", "elif", "else", NULL}, *const ends2[] = {"endif", NULL};
    struct jnode *first = NULL, *last = NULL;
    for (;;) {
        struct jnode *x = node(p, JS_IF, line);
        if (!x || !(x->a = parse_tuple(p, false, NULL, false)) || !(x->b = parse_block_body(p, ends))) return NULL;
        if (last) last->c = x;
        else first = x;
        last = x;
        line = cur(p)->line;
        if (accept_name(p, "elif")) continue;
        if (accept_name(p, "else") && !(last->c = parse_block_body(p, ends2))) return NULL;
        break;
    }
    return end_tag(p, "endif") ? first : NULL;
}

static struct jnode *parse_set(struct jparser *p, int line)
{
    static const char *const ends[] = {"endset", NULL};
    struct jnode *target = parse_target(p, true, NULL);
    if (!target) return NULL;
    if (accept_op(p, OP_ASSIGN)) {
        struct jnode *s = node(p, JS_SET, line);
        if (!s || !(s->b = parse_tuple(p, true, NULL, false))) return NULL;
        s->a = target;
        return expect_end(p, T_BLOCK_END) ? s : NULL;
    }
    struct jnode *s = node(p, JS_SET_BLOCK, line);
    if (!s) return NULL;
    s->a = target;
    if (is_op(p, OP_PIPE) && !(s->c = parse_filter(p, NULL, false))) return NULL;
    if (!(s->b = parse_block_body(p, ends))) return NULL;
    return end_tag(p, "endset") ? s : NULL;
}

static struct jnode *parse_macro(struct jparser *p, int line)
{
    static const char *const ends[] = {"endmacro", NULL};
    struct jnode *m = node(p, JS_MACRO, line);
    if (!m) return NULL;
    if (cur(p)->type != T_NAME) return jp_fail(p, line, "%s", "expected macro name"), NULL;
    m->name = cur(p)->s;
    advance(p);
    if (!expect_op(p, OP_LPAREN, "(")) return NULL;
    struct nlist params = {0};
    bool ok = true, any_default = false;
    while (ok && !is_op(p, OP_RPAREN)) {
        if (params.n && !(ok = expect_op(p, OP_COMMA, ","))) break;
        if (cur(p)->type != T_NAME) {
            ok = jp_fail(p, cur(p)->line, "%s", "expected parameter name");
            break;
        }
        const char *name = cur(p)->s;
        advance(p);
        struct jnode *dflt = NULL;
        if (accept_op(p, OP_ASSIGN)) {
            ok = (dflt = parse_expr(p, true)) != NULL;
            any_default = true;
        } else if (any_default) {
            ok = jp_fail(p, cur(p)->line, "%s", "non-default argument follows default argument");
        }
        ok = ok && nl_push(p, &params, dflt, name);
    }
    ok = ok && expect_op(p, OP_RPAREN, ")");
    if (!nl_finish(p, &params, &m->kw, &m->kw_names, &m->n_kw) || !ok) return NULL;
    if (!(m->b = parse_block_body(p, ends))) return NULL;
    return end_tag(p, "endmacro") ? m : NULL;
}

static struct jnode *parse_statement(struct jparser *p)
{
    struct token *t = cur(p);
    int line = t->line;
    if (t->type != T_NAME) return jp_fail(p, line, "%s", "tag name expected"), NULL;
    const char *name = t->s;
    advance(p);
    if (!enter(p)) return NULL;
    struct jnode *x = NULL;
    if (!strcmp(name, "for")) {
        x = parse_for(p, line);
    } else if (!strcmp(name, "if")) {
        x = parse_if(p, line);
    } else if (!strcmp(name, "set")) {
        x = parse_set(p, line);
    } else if (!strcmp(name, "macro")) {
        x = parse_macro(p, line);
    } else if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        x = node(p, name[0] == 'b' ? JS_BREAK : JS_CONTINUE, line);
        if (x && !expect_end(p, T_BLOCK_END)) x = NULL;
    } else if (!strcmp(name, "filter")) {
        static const char *const ends[] = {"endfilter", NULL};
        x = node(p, JS_FILTER_BLOCK, line);
        if (x && (!(x->a = parse_filter(p, NULL, true)) || !(x->b = parse_block_body(p, ends)) ||
                  !end_tag(p, "endfilter")))
            x = NULL;
    } else if (!strcmp(name, "generation")) { /* transformers' AssistantTracker: renders its body */
        static const char *const ends[] = {"endgeneration", NULL};
        x = parse_block_body(p, ends);
        if (x && !end_tag(p, "endgeneration")) x = NULL;
    } else if (!strcmp(name, "with")) {
        static const char *const ends[] = {"endwith", NULL};
        struct nlist vars = {0};
        bool ok = true;
        while (ok && cur(p)->type != T_BLOCK_END) {
            if (vars.n && !(ok = expect_op(p, OP_COMMA, ","))) break;
            if (cur(p)->type != T_NAME) {
                ok = jp_fail(p, cur(p)->line, "%s", "expected a name in with");
                break;
            }
            const char *var = cur(p)->s;
            advance(p);
            struct jnode *v = (ok = expect_op(p, OP_ASSIGN, "=")) ? parse_expr(p, true) : NULL;
            ok = v && nl_push(p, &vars, v, var);
        }
        struct jnode **vv = NULL;
        const char **names = NULL;
        int nv = 0;
        bool ok2 = nl_finish(p, &vars, &vv, &names, &nv);
        x = ok && ok2 ? node(p, JS_WITH, line) : NULL;
        if (x) {
            x->kw = vv;
            x->kw_names = names;
            x->n_kw = nv;
            if (!(x->b = parse_block_body(p, ends)) || !end_tag(p, "endwith")) x = NULL;
        }
    } else {
        static const char *const unsupported[] = {"call", "block", "extends", "include", "import", "from",
                                                  "autoescape", "do", "print", NULL};
        bool known = false;
        for (int i = 0; unsupported[i]; i++) known |= !strcmp(name, unsupported[i]);
        jp_fail(p, line, known ? "the '%s' tag is not supported" : "unknown tag '%s'", name);
    }
    p->depth--;
    return p->st == QWGLM_OK ? x : NULL;
}

static bool at_end_tag(struct jparser *p, const char *const *ends)
{
    if (cur(p)->type != T_BLOCK_BEGIN) return false;
    struct token *t = peek(p, 1);
    for (int i = 0; ends && ends[i]; i++)
        if (t->type == T_NAME && !strcmp(t->s, ends[i])) return true;
    return false;
}

static struct jnode *parse_body(struct jparser *p, const char *const *ends)
{
    int line = cur(p)->line;
    struct nlist stmts = {0};
    bool ok = true;
    while (ok && cur(p)->type != T_EOF) {
        struct token *t = cur(p);
        struct jnode *x = NULL;
        if (t->type == T_DATA) {
            if ((x = node(p, JS_TEXT, t->line))) {
                x->name = t->s;
                x->name_len = t->n;
            }
            advance(p);
        } else if (t->type == T_VAR_BEGIN) {
            advance(p);
            struct jnode *e = parse_tuple(p, true, NULL, false);
            if (e && expect_end(p, T_VAR_END) && (x = node(p, JS_OUTPUT, t->line))) x->a = e;
        } else if (t->type == T_BLOCK_BEGIN) {
            if (at_end_tag(p, ends)) {
                advance(p); /* leave the end name current */
                break;
            }
            advance(p);
            x = parse_statement(p);
        } else {
            jp_fail(p, t->line, "unexpected '%s'", describe(t));
        }
        ok = x && nl_push(p, &stmts, x, NULL);
    }
    struct jnode *b = ok ? node(p, JS_BODY, line) : NULL;
    struct jnode **items = NULL;
    int n = 0;
    ok = nl_finish(p, &stmts, &items, NULL, &n) && b;
    if (!ok) return NULL;
    b->items = items;
    b->n_items = n;
    return b;
}

qwglm_status jinja_parse(const char *src, size_t n, struct jinja_template **out, struct qw_err *e)
{
    *out = NULL;
    struct jinja_template *t = qw_calloc(1, sizeof *t);
    if (!t) return qw_fail(e, QWGLM_ERR_NOMEM, "chat template: out of memory");
    t->arena.max = (size_t)1 << 30;
    struct jparser p = {.a = &t->arena, .e = e};
    if (jinja_lex(&p, src, n)) {
        t->root = parse_body(&p, NULL);
        if (t->root && cur(&p)->type != T_EOF) jp_fail(&p, cur(&p)->line, "unexpected '%s'", describe(peek(&p, 0)));
    }
    qw_free(p.toks);
    if (p.st != QWGLM_OK || !t->root) {
        qwglm_status st = p.st ? p.st : qw_fail(e, QWGLM_ERR_FORMAT, "chat template: parse failed");
        jinja_free(t);
        return st;
    }
    *out = t;
    return QWGLM_OK;
}

void jinja_free(struct jinja_template *t)
{
    if (!t) return;
    ja_free(&t->arena);
    qw_free(t);
}
