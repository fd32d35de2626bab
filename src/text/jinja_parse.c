/* Jinja lexer and parser: template source -> syntax tree.
 *
 * The lexer follows jinja2's (3.x) rules with trim_blocks and lstrip_blocks on: newlines normalised to \n and one
 * trailing newline dropped; "{%-" / "-%}" strip all whitespace on that side; a block or comment tag alone on its
 * line (only spaces and tabs before it) loses that indentation unless it starts "{%+"; the newline right after
 * "%}" or "#}" is dropped unless the tag ends "+%}". The parser follows jinja2's grammar and precedence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "text/jinja_impl.h"
#include "text/unicode.h"

#define MAX_NESTING 200
#define MAX_TOKENS (1 << 22)

enum tok_type { T_DATA, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END, T_NAME, T_STRING, T_INT, T_FLOAT, T_OP,
                T_EOF };

struct token {
    uint8_t type, op;
    int line;
    const char *s; /* DATA, NAME, STRING: text (arena, NUL-terminated) */
    size_t n;
    int64_t i;
    double f;
};

struct parser {
    struct jarena *a;
    struct qw_err *e;
    qwglm_status st;
    struct token *toks;
    size_t n_toks, cap_toks, pos;
    int depth;
};

static bool fail(struct parser *p, int line, const char *fmt, const char *arg)
{
    if (p->st == QWGLM_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, fmt, arg);
        p->st = qw_fail(p->e, QWGLM_ERR_FORMAT, "chat template line %d: %s", line, msg);
    }
    return false;
}

static bool nomem(struct parser *p)
{
    if (p->st == QWGLM_OK) p->st = qw_fail(p->e, QWGLM_ERR_NOMEM, "chat template: out of memory");
    return false;
}

/* ---- lexer ---- */

static bool py_space_at(const char *s, size_t n, size_t *len)
{
    uint32_t cp;
    *len = uni_next(s, n, &cp);
    return cp < 0x80 ? (cp == ' ' || (cp >= 9 && cp <= 13) || (cp >= 28 && cp <= 31))
                     : cp <= UNI_MAX && (uni_get(cp)->flags & UNI_PY_SPACE);
}

static size_t rstrip_len(const char *s, size_t n)
{
    while (n > 0) {
        size_t l = uni_prev_len(s, n), k;
        if (!py_space_at(s + n - l, l, &k)) break;
        n -= l;
    }
    return n;
}

static size_t skip_space(const char *s, size_t n, size_t i)
{
    size_t l;
    while (i < n && py_space_at(s + i, n - i, &l)) i += l;
    return i;
}

static bool push_tok(struct parser *p, struct token t)
{
    if (p->n_toks == p->cap_toks) {
        size_t cap = p->cap_toks ? p->cap_toks * 2 : 256;
        if (cap > MAX_TOKENS) return fail(p, t.line, "%s", "template too large");
        struct token *v = qw_realloc(p->toks, cap * sizeof *v);
        if (!v) return nomem(p);
        p->toks = v;
        p->cap_toks = cap;
    }
    p->toks[p->n_toks++] = t;
    return true;
}

static const char *dup(struct parser *p, const char *s, size_t n)
{
    char *d = ja_alloc(p->a, n + 1);
    if (!d) {
        nomem(p);
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

static int count_lines(const char *s, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == '\n';
    return k;
}

static bool push_data(struct parser *p, const char *s, size_t n, int line)
{
    if (!n) return true;
    const char *d = dup(p, s, n);
    return d && push_tok(p, (struct token){.type = T_DATA, .line = line, .s = d, .n = n});
}

/* Python's unicode-escape decoding of a string literal body (after newline normalisation). */
static bool unescape(struct parser *p, const char *s, size_t n, int line, struct token *t)
{
    struct qw_str out = {0};
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 >= n) {
            qw_str_putc(&out, c);
            continue;
        }
        c = s[++i];
        uint32_t cp = 0;
        int digits = 0;
        switch (c) {
        case '\n': continue;
        case '\\': qw_str_putc(&out, '\\'); continue;
        case '\'': qw_str_putc(&out, '\''); continue;
        case '"': qw_str_putc(&out, '"'); continue;
        case 'a': qw_str_putc(&out, 7); continue;
        case 'b': qw_str_putc(&out, 8); continue;
        case 'f': qw_str_putc(&out, 12); continue;
        case 'n': qw_str_putc(&out, '\n'); continue;
        case 'r': qw_str_putc(&out, '\r'); continue;
        case 't': qw_str_putc(&out, '\t'); continue;
        case 'v': qw_str_putc(&out, 11); continue;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (c >= '0' && c <= '7') {
                int k = 0;
                while (k < 3 && i < n && s[i] >= '0' && s[i] <= '7') cp = cp * 8 + (uint32_t)(s[i++] - '0'), k++;
                i--;
                break;
            }
            if (c == 'N') {
                qw_str_free(&out);
                return fail(p, line, "%s", "\\N{...} escapes are not supported");
            }
            qw_str_putc(&out, '\\'); /* unknown escapes stay as they are */
            qw_str_putc(&out, c);
            continue;
        }
        if (digits) {
            for (int k = 0; k < digits; k++) {
                char h = i + 1 < n ? s[i + 1] : 0;
                int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (v < 0) {
                    qw_str_free(&out);
                    return fail(p, line, "%s", "truncated escape in string literal");
                }
                cp = cp * 16 + (uint32_t)v;
                i++;
            }
            if (cp > UNI_MAX) {
                qw_str_free(&out);
                return fail(p, line, "%s", "escape out of range in string literal");
            }
        }
        char u[4];
        qw_str_append(&out, u, utf8_encode(cp, u));
    }
    if (out.failed) {
        qw_str_free(&out);
        return nomem(p);
    }
    t->s = dup(p, out.data ? out.data : "", out.len);
    t->n = out.len;
    qw_str_free(&out);
    return t->s != NULL;
}

static const struct {
    const char *s;
    uint8_t op;
} operators[] = {
    {"**", OP_POW}, {"//", OP_FLOORDIV}, {"==", OP_EQ}, {"!=", OP_NE}, {">=", OP_GE}, {"<=", OP_LE},
    {"+", OP_ADD}, {"-", OP_SUB}, {"*", OP_MUL}, {"/", OP_DIV}, {"%", OP_MOD}, {"~", OP_TILDE},
    {"(", OP_LPAREN}, {")", OP_RPAREN}, {"[", OP_LBRACKET}, {"]", OP_RBRACKET}, {"{", OP_LBRACE},
    {"}", OP_RBRACE}, {",", OP_COMMA}, {".", OP_DOT}, {":", OP_COLON}, {"|", OP_PIPE}, {"=", OP_ASSIGN},
    {"<", OP_LT}, {">", OP_GT}, {";", OP_SEMICOLON},
};

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* A number at s[i..]: jinja's float and integer rules (underscores allowed between digits). */
static size_t lex_number(const char *s, size_t n, size_t i, struct token *t)
{
    size_t j = i;
    char buf[64];
    size_t k = 0;
    bool is_float = false;
    while (j < n && (is_digit(s[j]) || (s[j] == '_' && j + 1 < n && is_digit(s[j + 1]) && j > i))) {
        if (s[j] != '_' && k < sizeof buf - 1) buf[k++] = s[j];
        j++;
    }
    if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1])) {
        is_float = true;
        buf[k < sizeof buf - 1 ? k++ : k] = '.';
        j++;
        while (j < n && (is_digit(s[j]) || (s[j] == '_' && j + 1 < n && is_digit(s[j + 1])))) {
            if (s[j] != '_' && k < sizeof buf - 1) buf[k++] = s[j];
            j++;
        }
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        size_t m = j + 1;
        if (m < n && (s[m] == '+' || s[m] == '-')) m++;
        if (m < n && is_digit(s[m])) {
            is_float = true;
            buf[k < sizeof buf - 1 ? k++ : k] = 'e';
            for (size_t q = j + 1; q < m; q++) buf[k < sizeof buf - 1 ? k++ : k] = s[q];
            j = m;
            while (j < n && (is_digit(s[j]) || (s[j] == '_' && j + 1 < n && is_digit(s[j + 1])))) {
                if (s[j] != '_' && k < sizeof buf - 1) buf[k++] = s[j];
                j++;
            }
        }
    }
    buf[k] = '\0';
    if (is_float) {
        t->type = T_FLOAT;
        t->f = strtod(buf, NULL);
    } else {
        t->type = T_INT;
        unsigned long long v = strtoull(buf, NULL, 10);
        t->i = v > INT64_MAX ? INT64_MAX : (int64_t)v;
        if (v > INT64_MAX) t->type = T_FLOAT, t->f = (double)v;
    }
    return j;
}

/* Tokens inside a {{ }} or {% %} tag, from *pos to its end tag; sets *line_starting from the end tag. */
static bool lex_tag(struct parser *p, const char *s, size_t n, size_t *pos, int *line, bool block, bool *line_starting)
{
    size_t i = *pos;
    int balance = 0;
    for (;;) {
        i = skip_space(s, n, i);
        if (i >= n) return fail(p, *line, "%s", "unexpected end of template inside a tag");
        /* end tag, only with balanced brackets */
        if (balance == 0) {
            size_t end = 0;
            bool trim_ws = false, keep_nl = false;
            if (block) {
                if (s[i] == '+' && i + 2 < n + 0 && s[i + 1] == '%' && s[i + 2] == '}') end = 3, keep_nl = true;
                else if (s[i] == '-' && i + 2 < n && s[i + 1] == '%' && s[i + 2] == '}') end = 3, trim_ws = true;
                else if (s[i] == '%' && i + 1 < n && s[i + 1] == '}') end = 2;
            } else {
                if (s[i] == '-' && i + 2 < n && s[i + 1] == '}' && s[i + 2] == '}') end = 3, trim_ws = true;
                else if (s[i] == '}' && i + 1 < n && s[i + 1] == '}') end = 2;
            }
            if (i + end > n) end = 0;
            if (end) {
                if (!push_tok(p, (struct token){.type = block ? T_BLOCK_END : T_VAR_END, .line = *line})) return false;
                size_t j = i + end;
                if (trim_ws) j = skip_space(s, n, j);
                else if (block && !keep_nl && j < n && s[j] == '\n') j++;
                *line += count_lines(s + i, j - i);
                *line_starting = j > i && s[j - 1] == '\n';
                *pos = j;
                return true;
            }
        }
        /* the whitespace skipped above may hold newlines */
        struct token t = {.line = *line};
        char c = s[i];
        if (is_digit(c)) {
            i = lex_number(s, n, i, &t);
        } else if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t j = i;
            while (j < n && (s[j] == '_' || is_digit(s[j]) || (s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z')))
                j++;
            t.type = T_NAME;
            if (!(t.s = dup(p, s + i, j - i))) return false;
            t.n = j - i;
            i = j;
        } else if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != c) j += s[j] == '\\' ? 2 : 1;
            if (j >= n) return fail(p, *line, "%s", "unterminated string literal");
            t.type = T_STRING;
            if (!unescape(p, s + i + 1, j - i - 1, *line, &t)) return false;
            *line += count_lines(s + i, j - i);
            i = j + 1;
        } else {
            size_t k = 0;
            for (; k < sizeof operators / sizeof operators[0]; k++) {
                size_t l = strlen(operators[k].s);
                if (i + l <= n && memcmp(s + i, operators[k].s, l) == 0) break;
            }
            if (k == sizeof operators / sizeof operators[0]) {
                char bad[8] = {0};
                size_t l = 1;
                uint32_t cp;
                l = uni_next(s + i, n - i, &cp);
                memcpy(bad, s + i, l < 7 ? l : 7);
                return fail(p, *line, "unexpected character '%s'", bad);
            }
            t.type = T_OP;
            t.op = operators[k].op;
            i += strlen(operators[k].s);
            if (t.op == OP_LPAREN || t.op == OP_LBRACKET || t.op == OP_LBRACE) balance++;
            if (t.op == OP_RPAREN || t.op == OP_RBRACKET || t.op == OP_RBRACE) {
                if (balance == 0) return fail(p, *line, "%s", "unbalanced bracket");
                balance--;
            }
        }
        if (!push_tok(p, t)) return false;
        /* count newlines in the whitespace that follows before the next token */
        size_t w = skip_space(s, n, i);
        *line += count_lines(s + i, w - i);
        i = w;
    }
}

/* "{% raw %}" (any spacing, with - or +) at s[i]: the index after it, or 0. */
static size_t raw_tag(const char *s, size_t n, size_t i, const char *word, bool *trim_after, char *sign)
{
    size_t j = i + 2;
    *sign = 0;
    if (j < n && (s[j] == '-' || s[j] == '+')) *sign = s[j++];
    j = skip_space(s, n, j);
    size_t wl = strlen(word);
    if (j + wl > n || memcmp(s + j, word, wl) != 0) return 0;
    j = skip_space(s, n, j + wl);
    *trim_after = false;
    if (j + 3 <= n && s[j] == '-' && s[j + 1] == '%' && s[j + 2] == '}') {
        *trim_after = true;
        return j + 3;
    }
    if (j + 3 <= n && s[j] == '+' && s[j + 1] == '%' && s[j + 2] == '}') return j + 3;
    if (j + 2 <= n && s[j] == '%' && s[j + 1] == '}') return j + 2;
    return 0;
}

/* Applies "-" and lstrip_blocks to the text before a tag. */
static size_t strip_before(const char *text, size_t n, char sign, bool is_var, bool line_starting)
{
    if (sign == '-') return rstrip_len(text, n);
    if (sign == '+' || is_var) return n;
    size_t l = n;
    while (l > 0 && text[l - 1] != '\n') l--;
    if (l == n || !(l > 0 || line_starting)) return n;
    size_t k;
    for (size_t i = l; i < n; i += k)
        if (!py_space_at(text + i, n - i, &k)) return n;
    return l;
}

static bool lex(struct parser *p, const char *src, size_t len)
{
    /* newlines: \r\n and \r become \n; one trailing newline goes */
    char *s = ja_alloc(p->a, len + 1);
    if (!s) return nomem(p);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n > 0 && s[n - 1] == '\n') n--;
    size_t pos = 0;
    int line = 1;
    bool line_starting = true;
    while (pos < n) {
        size_t t = pos;
        while (t + 1 < n && !(s[t] == '{' && (s[t + 1] == '{' || s[t + 1] == '%' || s[t + 1] == '#'))) t++;
        if (t + 1 >= n) {
            if (!push_data(p, s + pos, n - pos, line)) return false;
            break;
        }
        char kind = s[t + 1], sign = t + 2 < n && (s[t + 2] == '-' || s[t + 2] == '+') ? s[t + 2] : 0;
        bool raw_trim;
        char raw_sign;
        size_t raw_end = kind == '%' ? raw_tag(s, n, t, "raw", &raw_trim, &raw_sign) : 0;
        size_t keep = strip_before(s + pos, t - pos, sign, kind == '{', line_starting);
        if (!push_data(p, s + pos, keep, line)) return false;
        line += count_lines(s + pos, t - pos);
        if (raw_end) {
            size_t j = raw_end;
            if (raw_trim) j = skip_space(s, n, j);
            /* find {% endraw %} */
            size_t q = j, end = 0;
            bool end_trim = false;
            char end_sign = 0;
            for (; q + 1 < n; q++)
                if (s[q] == '{' && s[q + 1] == '%' && (end = raw_tag(s, n, q, "endraw", &end_trim, &end_sign))) break;
            if (!end) return fail(p, line, "%s", "missing {% endraw %}");
            size_t body = strip_before(s + j, q - j, end_sign, false, false);
            if (!push_data(p, s + j, body, line + count_lines(s + t, j - t))) return false;
            bool keep_nl = s[end - 3] == '+';
            if (end_trim) end = skip_space(s, n, end);
            else if (!keep_nl && end < n && s[end] == '\n') end++;
            line += count_lines(s + t, end - t);
            line_starting = end > 0 && s[end - 1] == '\n';
            pos = end;
            continue;
        }
        size_t i = t + 2 + (sign ? 1 : 0);
        if (kind == '#') { /* comment: up to +#}, -#} or #} */
            size_t q = i;
            while (q + 1 < n && !(s[q] == '#' && s[q + 1] == '}')) q++;
            if (q + 1 >= n) return fail(p, line, "%s", "missing end of comment tag");
            size_t end = q + 2;
            if (q > i && s[q - 1] == '-') end = skip_space(s, n, end);
            else if (!(q > i && s[q - 1] == '+') && end < n && s[end] == '\n') end++;
            line += count_lines(s + t, end - t);
            line_starting = s[end - 1] == '\n';
            pos = end;
            continue;
        }
        bool block = kind == '%';
        if (!push_tok(p, (struct token){.type = block ? T_BLOCK_BEGIN : T_VAR_BEGIN, .line = line})) return false;
        size_t w = skip_space(s, n, i);
        line += count_lines(s + i, w - i);
        pos = w;
        if (!lex_tag(p, s, n, &pos, &line, block, &line_starting)) return false;
    }
    return push_tok(p, (struct token){.type = T_EOF, .line = line});
}

/* ---- parser ---- */

static struct token *cur(struct parser *p) { return &p->toks[p->pos]; }
static struct token *peek(struct parser *p, size_t k)
{
    return p->pos + k < p->n_toks ? &p->toks[p->pos + k] : &p->toks[p->n_toks - 1];
}
static void advance(struct parser *p)
{
    if (p->pos + 1 < p->n_toks) p->pos++;
}
static bool is_op(struct parser *p, int op) { return cur(p)->type == T_OP && cur(p)->op == op; }
static bool is_name(struct parser *p, const char *name)
{
    return cur(p)->type == T_NAME && strcmp(cur(p)->s, name) == 0;
}
static bool accept_op(struct parser *p, int op)
{
    if (!is_op(p, op)) return false;
    advance(p);
    return true;
}
static bool accept_name(struct parser *p, const char *name)
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
        for (size_t k = 0; k < sizeof operators / sizeof operators[0]; k++)
            if (operators[k].op == t->op) return operators[k].s;
        return "an operator";
    }
    default: return "end of template";
    }
}

static bool expect_op(struct parser *p, int op, const char *what)
{
    if (accept_op(p, op)) return true;
    char msg[64];
    snprintf(msg, sizeof msg, "expected '%s', got '%%s'", what);
    return fail(p, cur(p)->line, msg, describe(cur(p)));
}

static bool expect_end(struct parser *p, int type)
{
    if (cur(p)->type == type) {
        advance(p);
        return true;
    }
    return fail(p, cur(p)->line, "expected end of tag, got '%s'", describe(cur(p)));
}

static struct jnode *node(struct parser *p, int kind, int line)
{
    struct jnode *n = ja_alloc(p->a, sizeof *n);
    if (!n) {
        nomem(p);
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

static bool nl_push(struct parser *p, struct nlist *l, struct jnode *x, const char *name)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        struct jnode **v = qw_realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return nomem(p);
        l->v = v;
        const char **nm = qw_realloc(l->names, (size_t)cap * sizeof *nm);
        if (!nm) return nomem(p);
        l->names = nm;
        l->cap = cap;
    }
    l->v[l->n] = x;
    l->names[l->n++] = name;
    return true;
}

static bool nl_finish(struct parser *p, struct nlist *l, struct jnode ***items, const char ***names, int *n)
{
    bool ok = p->st == QWGLM_OK;
    *n = l->n;
    *items = NULL;
    if (names) *names = NULL;
    if (ok && l->n) {
        *items = ja_alloc(p->a, (size_t)l->n * sizeof **items);
        if (names) *names = ja_alloc(p->a, (size_t)l->n * sizeof **names);
        if (!*items || (names && !*names)) ok = nomem(p);
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

static struct jnode *parse_expr(struct parser *p, bool with_cond);
static struct jnode *parse_tuple(struct parser *p, bool with_cond, const char *end_name, bool explicit_parens);
static struct jnode *parse_unary(struct parser *p, bool with_filter);
static struct jnode *parse_primary(struct parser *p);
static struct jnode *parse_postfix(struct parser *p, struct jnode *x);

static bool enter(struct parser *p)
{
    if (++p->depth > MAX_NESTING) return fail(p, cur(p)->line, "%s", "expression or blocks nested too deeply");
    return true;
}

/* Call arguments "(a, b, k=v)" into positional items and keyword lists of n. */
static bool parse_args(struct parser *p, struct jnode *n)
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
            ok = fail(p, cur(p)->line, "%s", "*args and **kwargs in calls are not supported");
            break;
        }
        if (cur(p)->type == T_NAME && peek(p, 1)->type == T_OP && peek(p, 1)->op == OP_ASSIGN) {
            const char *name = cur(p)->s;
            p->pos += 2;
            struct jnode *v = parse_expr(p, true);
            ok = v && nl_push(p, &kw, v, name);
        } else {
            if (kw.n) {
                ok = fail(p, cur(p)->line, "%s", "positional argument after keyword argument");
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
static const char *dotted_name(struct parser *p)
{
    if (cur(p)->type != T_NAME) {
        fail(p, cur(p)->line, "expected a name, got '%s'", describe(cur(p)));
        return NULL;
    }
    const char *name = cur(p)->s;
    advance(p);
    if (is_op(p, OP_DOT)) {
        fail(p, cur(p)->line, "%s", "dotted filter or test names are not supported");
        return NULL;
    }
    return name;
}

static struct jnode *parse_filter(struct parser *p, struct jnode *input, bool start_inline)
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

static struct jnode *parse_test(struct parser *p, struct jnode *input)
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
        if (is_name(p, "is")) return fail(p, c->line, "%s", "tests cannot be chained with is"), NULL;
        struct jnode *arg = parse_primary(p);
        if (arg) arg = parse_postfix(p, arg);
        if (!arg) return NULL;
        t->items = ja_alloc(p->a, sizeof *t->items);
        if (!t->items) return nomem(p), NULL;
        t->items[0] = arg;
        t->n_items = 1;
    }
    return t;
}

static struct jnode *parse_filter_expr(struct parser *p, struct jnode *x)
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
static struct jnode *parse_subscribed(struct parser *p)
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

static struct jnode *parse_postfix(struct parser *p, struct jnode *x)
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
                return fail(p, line, "expected name or number after '.', got '%s'", describe(t)), NULL;
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

static struct jnode *parse_list_or_dict(struct parser *p, bool dict)
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

static struct jnode *parse_primary(struct parser *p)
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
            if (x->value.t != JT_STR || buf.failed) x = NULL, nomem(p);
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
        fail(p, t->line, "unexpected '%s'", describe(t));
    }
    p->depth--;
    return p->st == QWGLM_OK ? x : NULL;
}

static struct jnode *parse_unary(struct parser *p, bool with_filter)
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

static struct jnode *binary(struct parser *p, int kind, int op, struct jnode *a, struct jnode *b, int line)
{
    if (!a || !b) return NULL;
    struct jnode *x = node(p, kind, line);
    if (x) x->op = (uint8_t)op, x->a = a, x->b = b;
    return x;
}

static struct jnode *parse_pow(struct parser *p)
{
    struct jnode *x = parse_unary(p, true);
    while (x && is_op(p, OP_POW)) {
        int line = cur(p)->line;
        advance(p);
        x = binary(p, JE_BINARY, OP_POW, x, parse_unary(p, true), line);
    }
    return x;
}

static struct jnode *parse_math2(struct parser *p)
{
    struct jnode *x = parse_pow(p);
    while (x && (is_op(p, OP_MUL) || is_op(p, OP_DIV) || is_op(p, OP_FLOORDIV) || is_op(p, OP_MOD))) {
        int op = cur(p)->op, line = cur(p)->line;
        advance(p);
        x = binary(p, JE_BINARY, op, x, parse_pow(p), line);
    }
    return x;
}

static struct jnode *parse_concat(struct parser *p)
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

static struct jnode *parse_math1(struct parser *p)
{
    struct jnode *x = parse_concat(p);
    while (x && (is_op(p, OP_ADD) || is_op(p, OP_SUB))) {
        int op = cur(p)->op, line = cur(p)->line;
        advance(p);
        x = binary(p, JE_BINARY, op, x, parse_concat(p), line);
    }
    return x;
}

static struct jnode *parse_compare(struct parser *p)
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

static struct jnode *parse_not(struct parser *p)
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

static struct jnode *parse_and(struct parser *p)
{
    struct jnode *x = parse_not(p);
    while (x && is_name(p, "and")) {
        int line = cur(p)->line;
        advance(p);
        x = binary(p, JE_AND, 0, x, parse_not(p), line);
    }
    return x;
}

static struct jnode *parse_or(struct parser *p)
{
    struct jnode *x = parse_and(p);
    while (x && is_name(p, "or")) {
        int line = cur(p)->line;
        advance(p);
        x = binary(p, JE_OR, 0, x, parse_and(p), line);
    }
    return x;
}

static struct jnode *parse_expr(struct parser *p, bool with_cond)
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

static bool tuple_end(struct parser *p, const char *end_name)
{
    struct token *t = cur(p);
    if (t->type == T_VAR_END || t->type == T_BLOCK_END || t->type == T_EOF) return true;
    if (t->type == T_OP && (t->op == OP_RPAREN || t->op == OP_RBRACKET || t->op == OP_RBRACE)) return true;
    return end_name && is_name(p, end_name);
}

/* Expressions separated by commas: a tuple when there is a comma, the expression itself otherwise. */
static struct jnode *parse_tuple(struct parser *p, bool with_cond, const char *end_name, bool explicit_parens)
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
    if (ok && !is_tuple && !explicit_parens) ok = fail(p, line, "expected an expression, got '%s'", describe(cur(p)));
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
static struct jnode *parse_target(struct parser *p, bool with_ns, const char *end_name)
{
    int line = cur(p)->line;
    if (with_ns && cur(p)->type == T_NAME && peek(p, 1)->type == T_OP && peek(p, 1)->op == OP_DOT) {
        struct jnode *x = node(p, JE_NSREF, line);
        if (!x) return NULL;
        x->name = cur(p)->s;
        p->pos += 2;
        if (cur(p)->type != T_NAME) return fail(p, line, "expected attribute name, got '%s'", describe(cur(p))), NULL;
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
            ok = fail(p, cur(p)->line, "can't assign to '%s'", describe(cur(p)));
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

static struct jnode *parse_body(struct parser *p, const char *const *ends);

/* Parses "%}" then statements up to one of ends; leaves the end tag's name as the current token. */
static struct jnode *parse_block_body(struct parser *p, const char *const *ends)
{
    accept_op(p, OP_COLON);
    if (!expect_end(p, T_BLOCK_END)) return NULL;
    struct jnode *b = parse_body(p, ends);
    if (b && cur(p)->type == T_EOF) {
        char msg[96];
        snprintf(msg, sizeof msg, "unexpected end of template, expected '%s'", ends[0]);
        fail(p, cur(p)->line, "%s", msg);
        return NULL;
    }
    return b;
}

static bool end_tag(struct parser *p, const char *name)
{
    if (!accept_name(p, name)) return fail(p, cur(p)->line, "expected '%s'", name);
    return expect_end(p, T_BLOCK_END);
}

static struct jnode *parse_for(struct parser *p, int line)
{
    static const char *const ends[] = {"endfor", "else", NULL}, *const ends2[] = {"endfor", NULL};
    struct jnode *f = node(p, JS_FOR, line);
    if (!f || !(f->a = parse_target(p, false, "in"))) return NULL;
    if (!accept_name(p, "in")) return fail(p, cur(p)->line, "%s", "expected 'in' in for loop"), NULL;
    if (!(f->b = parse_tuple(p, false, "recursive", false))) return NULL;
    if (accept_name(p, "if")) {
        struct jnode *cond = parse_expr(p, true);
        if (!cond) return NULL;
        f->items = ja_alloc(p->a, sizeof *f->items);
        if (!f->items) return nomem(p), NULL;
        f->items[0] = cond;
        f->n_items = 1;
    }
    if (is_name(p, "recursive")) return fail(p, cur(p)->line, "%s", "recursive loops are not supported"), NULL;
    if (!(f->c = parse_block_body(p, ends))) return NULL;
    if (accept_name(p, "else")) {
        if (!(f->d = parse_block_body(p, ends2))) return NULL;
    }
    return end_tag(p, "endfor") ? f : NULL;
}

static struct jnode *parse_if(struct parser *p, int line)
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

static struct jnode *parse_set(struct parser *p, int line)
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

static struct jnode *parse_macro(struct parser *p, int line)
{
    static const char *const ends[] = {"endmacro", NULL};
    struct jnode *m = node(p, JS_MACRO, line);
    if (!m) return NULL;
    if (cur(p)->type != T_NAME) return fail(p, line, "%s", "expected macro name"), NULL;
    m->name = cur(p)->s;
    advance(p);
    if (!expect_op(p, OP_LPAREN, "(")) return NULL;
    struct nlist params = {0};
    bool ok = true, any_default = false;
    while (ok && !is_op(p, OP_RPAREN)) {
        if (params.n && !(ok = expect_op(p, OP_COMMA, ","))) break;
        if (cur(p)->type != T_NAME) {
            ok = fail(p, cur(p)->line, "%s", "expected parameter name");
            break;
        }
        const char *name = cur(p)->s;
        advance(p);
        struct jnode *dflt = NULL;
        if (accept_op(p, OP_ASSIGN)) {
            ok = (dflt = parse_expr(p, true)) != NULL;
            any_default = true;
        } else if (any_default) {
            ok = fail(p, cur(p)->line, "%s", "non-default argument follows default argument");
        }
        ok = ok && nl_push(p, &params, dflt, name);
    }
    ok = ok && expect_op(p, OP_RPAREN, ")");
    if (!nl_finish(p, &params, &m->kw, &m->kw_names, &m->n_kw) || !ok) return NULL;
    if (!(m->b = parse_block_body(p, ends))) return NULL;
    return end_tag(p, "endmacro") ? m : NULL;
}

static struct jnode *parse_statement(struct parser *p)
{
    struct token *t = cur(p);
    int line = t->line;
    if (t->type != T_NAME) return fail(p, line, "%s", "tag name expected"), NULL;
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
                ok = fail(p, cur(p)->line, "%s", "expected a name in with");
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
        fail(p, line, known ? "the '%s' tag is not supported" : "unknown tag '%s'", name);
    }
    p->depth--;
    return p->st == QWGLM_OK ? x : NULL;
}

static bool at_end_tag(struct parser *p, const char *const *ends)
{
    if (cur(p)->type != T_BLOCK_BEGIN) return false;
    struct token *t = peek(p, 1);
    for (int i = 0; ends && ends[i]; i++)
        if (t->type == T_NAME && !strcmp(t->s, ends[i])) return true;
    return false;
}

static struct jnode *parse_body(struct parser *p, const char *const *ends)
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
            fail(p, t->line, "unexpected '%s'", describe(t));
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
    struct parser p = {.a = &t->arena, .e = e};
    if (lex(&p, src, n)) {
        t->root = parse_body(&p, NULL);
        if (t->root && cur(&p)->type != T_EOF) fail(&p, cur(&p)->line, "unexpected '%s'", describe(peek(&p, 0)));
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
