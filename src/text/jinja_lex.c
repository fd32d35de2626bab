/* Jinja lexer: template source -> tokens, following jinja2's (3.x) rules with trim_blocks and lstrip_blocks on:
 * newlines normalised to \n and one trailing newline dropped; "{%-" / "-%}" strip all whitespace on that side; a
 * block or comment tag alone on its line (only whitespace before it) loses that indentation unless it starts
 * "{%+"; the newline right after "%}" or "#}" is dropped unless the tag ends "+%}"; text between tags, string
 * literals with Python's escapes, numbers, names and operators inside them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "text/jinja_impl.h"
#include "text/unicode.h"

const struct jop_name jinja_operators[JINJA_N_OPERATORS] = {
    {"**", OP_POW}, {"//", OP_FLOORDIV}, {"==", OP_EQ}, {"!=", OP_NE}, {">=", OP_GE}, {"<=", OP_LE},
    {"+", OP_ADD}, {"-", OP_SUB}, {"*", OP_MUL}, {"/", OP_DIV}, {"%", OP_MOD}, {"~", OP_TILDE},
    {"(", OP_LPAREN}, {")", OP_RPAREN}, {"[", OP_LBRACKET}, {"]", OP_RBRACKET}, {"{", OP_LBRACE},
    {"}", OP_RBRACE}, {",", OP_COMMA}, {".", OP_DOT}, {":", OP_COLON}, {"|", OP_PIPE}, {"=", OP_ASSIGN},
    {"<", OP_LT}, {">", OP_GT}, {";", OP_SEMICOLON},
};

bool jp_fail(struct jparser *p, int line, const char *fmt, const char *arg)
{
    if (p->st == QWGLM_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, fmt, arg);
        p->st = qw_fail(p->e, QWGLM_ERR_FORMAT, "chat template line %d: %s", line, msg);
    }
    return false;
}

bool jp_nomem(struct jparser *p)
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

static bool push_tok(struct jparser *p, struct token t)
{
    if (p->n_toks == p->cap_toks) {
        size_t cap = p->cap_toks ? p->cap_toks * 2 : 256;
        if (cap > MAX_TOKENS) return jp_fail(p, t.line, "%s", "template too large");
        struct token *v = qw_realloc(p->toks, cap * sizeof *v);
        if (!v) return jp_nomem(p);
        p->toks = v;
        p->cap_toks = cap;
    }
    p->toks[p->n_toks++] = t;
    return true;
}

static const char *dup(struct jparser *p, const char *s, size_t n)
{
    char *d = ja_alloc(p->a, n + 1);
    if (!d) {
        jp_nomem(p);
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

static bool push_data(struct jparser *p, const char *s, size_t n, int line)
{
    if (!n) return true;
    const char *d = dup(p, s, n);
    return d && push_tok(p, (struct token){.type = T_DATA, .line = line, .s = d, .n = n});
}

/* Python's unicode-escape decoding of a string literal body (after newline normalisation). */
static bool unescape(struct jparser *p, const char *s, size_t n, int line, struct token *t)
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
                return jp_fail(p, line, "%s", "\\N{...} escapes are not supported");
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
                    return jp_fail(p, line, "%s", "truncated escape in string literal");
                }
                cp = cp * 16 + (uint32_t)v;
                i++;
            }
            if (cp > UNI_MAX) {
                qw_str_free(&out);
                return jp_fail(p, line, "%s", "escape out of range in string literal");
            }
        }
        char u[4];
        qw_str_append(&out, u, utf8_encode(cp, u));
    }
    if (out.failed) {
        qw_str_free(&out);
        return jp_nomem(p);
    }
    t->s = dup(p, out.data ? out.data : "", out.len);
    t->n = out.len;
    qw_str_free(&out);
    return t->s != NULL;
}



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
static bool lex_tag(struct jparser *p, const char *s, size_t n, size_t *pos, int *line, bool block, bool *line_starting)
{
    size_t i = *pos;
    int balance = 0;
    for (;;) {
        i = skip_space(s, n, i);
        if (i >= n) return jp_fail(p, *line, "%s", "unexpected end of template inside a tag");
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
            if (j >= n) return jp_fail(p, *line, "%s", "unterminated string literal");
            t.type = T_STRING;
            if (!unescape(p, s + i + 1, j - i - 1, *line, &t)) return false;
            *line += count_lines(s + i, j - i);
            i = j + 1;
        } else {
            size_t k = 0;
            for (; k < JINJA_N_OPERATORS; k++) {
                size_t l = strlen(jinja_operators[k].s);
                if (i + l <= n && memcmp(s + i, jinja_operators[k].s, l) == 0) break;
            }
            if (k == JINJA_N_OPERATORS) {
                char bad[8] = {0};
                size_t l = 1;
                uint32_t cp;
                l = uni_next(s + i, n - i, &cp);
                memcpy(bad, s + i, l < 7 ? l : 7);
                return jp_fail(p, *line, "unexpected character '%s'", bad);
            }
            t.type = T_OP;
            t.op = jinja_operators[k].op;
            i += strlen(jinja_operators[k].s);
            if (t.op == OP_LPAREN || t.op == OP_LBRACKET || t.op == OP_LBRACE) balance++;
            if (t.op == OP_RPAREN || t.op == OP_RBRACKET || t.op == OP_RBRACE) {
                if (balance == 0) return jp_fail(p, *line, "%s", "unbalanced bracket");
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

bool jinja_lex(struct jparser *p, const char *src, size_t len)
{
    /* newlines: \r\n and \r become \n; one trailing newline goes */
    char *s = ja_alloc(p->a, len + 1);
    if (!s) return jp_nomem(p);
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
            if (!end) return jp_fail(p, line, "%s", "missing {% endraw %}");
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
            if (q + 1 >= n) return jp_fail(p, line, "%s", "missing end of comment tag");
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

