/* Regular expressions, first half: the parser (pattern -> syntax tree) and the compiler (tree -> program).
 * See regex.h for the syntax and regex.c for the machine that runs the program. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "text/regex_impl.h"
#include "text/unicode.h"

/* ---- syntax tree ---- */

enum node_kind { N_EMPTY, N_SET, N_CAT, N_ALT, N_REP, N_LOOK, N_ATOMIC, N_ASSERT };

struct node {
    uint8_t kind, sub;   /* sub: rep_kind, assert_kind or look_flags */
    int32_t child, next; /* first child, next sibling (-1: none) */
    int32_t set;         /* N_SET */
    uint32_t min, max;   /* N_REP */
};


struct parser {
    const char *p;
    size_t n, pos;
    bool icase, dotall, extended;
    int depth;
    struct regex *re;
    struct node *nodes;
    int n_nodes, cap_nodes, cap_sets, cap_items, cap_prog, cap_guards;
    struct qw_err *e;
    qwglm_status st;
};

static bool grow(void **v, int *cap, int need, size_t elem, int max)
{
    if (need <= *cap) return true;
    if (need > max) return false;
    int c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    if (c > max) c = max;
    void *p = qw_realloc(*v, (size_t)c * elem);
    if (!p) return false;
    *v = p;
    *cap = c;
    return true;
}

static bool perr(struct parser *ps, const char *what)
{
    if (ps->st == QWGLM_OK)
        ps->st = qw_fail(ps->e, QWGLM_ERR_FORMAT, "regex /%.*s/: %s at offset %zu", (int)(ps->n > 60 ? 60 : ps->n),
                         ps->p, what, ps->pos);
    return false;
}

static bool nomem(struct parser *ps)
{
    if (ps->st == QWGLM_OK) ps->st = qw_fail(ps->e, QWGLM_ERR_NOMEM, "regex: out of memory");
    return false;
}

/* ---- sets ---- */

/* Items of a class under construction; committed to the regex in one run when the class is complete, so nested
 * classes (committed first) never interleave with their parent's items. */
struct itemlist {
    struct set_item *v;
    int n, cap;
};

static bool add_item(struct parser *ps, struct itemlist *l, int kind, bool neg, uint32_t a, uint32_t b)
{
    if (!grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v, RE_MAX_NODES)) {
        if (l->n >= RE_MAX_NODES) return perr(ps, "character class too large");
        return nomem(ps);
    }
    l->v[l->n++] = (struct set_item){(uint8_t)kind, neg, a, b};
    return true;
}

/* Commits l as a new set and frees it; returns the set index or -1. */
static int commit_set(struct parser *ps, struct itemlist *l, bool neg)
{
    struct regex *re = ps->re;
    int si = -1;
    if (ps->st == QWGLM_OK &&
        grow((void **)&re->sets, &ps->cap_sets, re->n_sets + 1, sizeof *re->sets, RE_MAX_NODES) &&
        grow((void **)&re->items, &ps->cap_items, re->n_items + l->n, sizeof *re->items, RE_MAX_NODES * 4)) {
        si = re->n_sets++;
        struct cset *s = &re->sets[si];
        memset(s, 0, sizeof *s);
        s->neg = neg;
        s->first = (uint32_t)re->n_items;
        s->n = (uint32_t)l->n;
        if (l->n) memcpy(re->items + re->n_items, l->v, (size_t)l->n * sizeof *l->v);
        re->n_items += l->n;
        for (uint32_t c = 0; c < 128; c++)
            if (regex_set_has_slow(re, s, c)) s->ascii[c >> 6] |= 1ull << (c & 63);
    } else if (ps->st == QWGLM_OK) {
        if (re->n_sets >= RE_MAX_NODES || re->n_items + l->n > RE_MAX_NODES * 4) perr(ps, "pattern too large");
        else nomem(ps);
    }
    qw_free(l->v);
    memset(l, 0, sizeof *l);
    return si;
}

/* Under (?i), a range also matches every code point that folds like one of its members. */
static bool add_range(struct parser *ps, struct itemlist *l, uint32_t a, uint32_t b)
{
    if (!add_item(ps, l, IT_RANGE, false, a, b)) return false;
    if (!ps->icase) return true;
    if (b - a > 20000) return perr(ps, "case-insensitive range too large");
    for (uint32_t c = a; c <= b; c++) {
        uint32_t f[8];
        size_t k = uni_fold_class(c, f, 8);
        for (size_t i = 0; i < k; i++)
            if ((f[i] < a || f[i] > b) && !add_item(ps, l, IT_RANGE, false, f[i], f[i])) return false;
    }
    return true;
}

/* ---- parser ---- */

static int new_node(struct parser *ps, int kind)
{
    if (!grow((void **)&ps->nodes, &ps->cap_nodes, ps->n_nodes + 1, sizeof *ps->nodes, RE_MAX_NODES)) {
        if (ps->n_nodes >= RE_MAX_NODES) return perr(ps, "pattern too large") - 1;
        return nomem(ps) - 1;
    }
    struct node *nd = &ps->nodes[ps->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->kind = (uint8_t)kind;
    nd->child = nd->next = nd->set = -1;
    return ps->n_nodes++;
}

static int set_node(struct parser *ps, int si)
{
    if (si < 0) return -1;
    int nd = new_node(ps, N_SET);
    if (nd >= 0) ps->nodes[nd].set = si;
    return nd;
}

static bool at_end(struct parser *ps) { return ps->pos >= ps->n; }

static void skip_extended(struct parser *ps)
{
    while (ps->extended && !at_end(ps)) {
        char c = ps->p[ps->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            ps->pos++;
        } else if (c == '#') {
            while (!at_end(ps) && ps->p[ps->pos] != '\n') ps->pos++;
        } else {
            break;
        }
    }
}

static bool next_cp(struct parser *ps, uint32_t *cp)
{
    size_t len = utf8_decode(ps->p + ps->pos, ps->n - ps->pos, cp);
    if (!len) return perr(ps, "invalid UTF-8 in pattern");
    ps->pos += len;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool parse_hex(struct parser *ps, int min_digits, int max_digits, uint32_t *out)
{
    uint32_t v = 0;
    int k = 0;
    while (k < max_digits && !at_end(ps) && hexval(ps->p[ps->pos]) >= 0) {
        v = v * 16 + (uint32_t)hexval(ps->p[ps->pos++]);
        k++;
    }
    if (k < min_digits) return perr(ps, "invalid hex escape");
    *out = v;
    return true;
}

/* A class escape: \d \s \w \h \p{..} and their negations. Adds an item to si; *handled = false when the escape
 * at ps->pos (just after the backslash) is not one. */
static bool class_escape(struct parser *ps, struct itemlist *si, bool *handled)
{
    char c = ps->p[ps->pos];
    *handled = true;
    switch (c) {
    case 'd': case 'D':
        ps->pos++;
        return add_item(ps, si, IT_CATS, c == 'D', 1u << UNI_ND, 0);
    case 's': case 'S':
        ps->pos++;
        return add_item(ps, si, IT_PROP, c == 'S', UNI_WHITE_SPACE, 0);
    case 'w': case 'W':
        ps->pos++;
        return add_item(ps, si, IT_CATS, c == 'W', uni_cat_mask_parse("L", 1) | uni_cat_mask_parse("M", 1) |
                                                       uni_cat_mask_parse("N", 1) | (1u << UNI_PC), 0);
    case 'h': case 'H': {
        ps->pos++;
        struct itemlist hex = {0};
        bool ok = add_item(ps, &hex, IT_RANGE, false, '0', '9') && add_item(ps, &hex, IT_RANGE, false, 'a', 'f') &&
                  add_item(ps, &hex, IT_RANGE, false, 'A', 'F');
        int sub = commit_set(ps, &hex, c == 'H');
        return ok && sub >= 0 && add_item(ps, si, IT_SUB, false, (uint32_t)sub, 0);
    }
    case 'p': case 'P': {
        ps->pos++;
        if (at_end(ps) || ps->p[ps->pos] != '{') return perr(ps, "\\p needs {name}");
        size_t start = ++ps->pos;
        bool neg = c == 'P';
        if (!at_end(ps) && ps->p[ps->pos] == '^') {
            neg = !neg;
            start = ++ps->pos;
        }
        while (!at_end(ps) && ps->p[ps->pos] != '}') ps->pos++;
        if (at_end(ps)) return perr(ps, "unterminated \\p{");
        uint32_t mask = uni_cat_mask_parse(ps->p + start, ps->pos - start);
        ps->pos++;
        if (mask) return add_item(ps, si, IT_CATS, neg, mask, 0);
        if (ps->pos - start - 1 == 3 && strncasecmp(ps->p + start, "any", 3) == 0)
            return add_item(ps, si, IT_RANGE, neg, 0, UINT32_MAX);
        return perr(ps, "unsupported property name (only general categories)");
    }
    default:
        *handled = false;
        return true;
    }
}

/* A single-character escape (after the backslash) into *cp; false with an error for anything else. */
static bool char_escape(struct parser *ps, uint32_t *cp)
{
    char c = ps->p[ps->pos++];
    switch (c) {
    case 't': *cp = '\t'; return true;
    case 'n': *cp = '\n'; return true;
    case 'r': *cp = '\r'; return true;
    case 'f': *cp = '\f'; return true;
    case 'v': *cp = '\v'; return true;
    case 'a': *cp = 7; return true;
    case 'e': *cp = 27; return true;
    case 'x':
        if (!at_end(ps) && ps->p[ps->pos] == '{') {
            ps->pos++;
            if (!parse_hex(ps, 1, 8, cp)) return false;
            if (at_end(ps) || ps->p[ps->pos] != '}') return perr(ps, "unterminated \\x{");
            ps->pos++;
        } else if (!parse_hex(ps, 1, 2, cp)) {
            return false;
        }
        if (*cp > UNI_MAX) return perr(ps, "code point out of range");
        return true;
    case 'u':
        if (!parse_hex(ps, 4, 4, cp)) return false;
        return true;
    case '0': {
        uint32_t v = 0;
        for (int k = 0; k < 2 && !at_end(ps) && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '7'; k++)
            v = v * 8 + (uint32_t)(ps->p[ps->pos++] - '0');
        *cp = v;
        return true;
    }
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9')) {
            ps->pos--;
            return perr(ps, "unsupported escape");
        }
        ps->pos--;
        return next_cp(ps, cp); /* an escaped symbol stands for itself */
    }
}

static int parse_class(struct parser *ps);

/* One class member: a character (or a range start) into *cp, or a complete item (escape class, nested class)
 * added to si, with *is_char false. */
static bool class_atom(struct parser *ps, struct itemlist *si, uint32_t *cp, bool *is_char)
{
    *is_char = true;
    char c = ps->p[ps->pos];
    if (c == '[') {
        if (ps->pos + 1 < ps->n && ps->p[ps->pos + 1] == ':') return perr(ps, "POSIX bracket unsupported");
        int sub = parse_class(ps);
        if (sub < 0) return false;
        *is_char = false;
        return add_item(ps, si, IT_SUB, false, (uint32_t)sub, 0);
    }
    if (c == '&' && ps->pos + 1 < ps->n && ps->p[ps->pos + 1] == '&') return perr(ps, "class intersection unsupported");
    if (c == '\\') {
        ps->pos++;
        if (at_end(ps)) return perr(ps, "trailing backslash");
        bool handled;
        if (!class_escape(ps, si, &handled)) return false;
        if (handled) {
            *is_char = false;
            return true;
        }
        if (ps->p[ps->pos] == 'b') { /* \b in a class is a backspace */
            ps->pos++;
            *cp = 8;
            return true;
        }
        return char_escape(ps, cp);
    }
    return next_cp(ps, cp);
}

/* [...] at ps->pos; returns the set index (its items may reference nested sets made earlier). */
static int parse_class(struct parser *ps)
{
    if (++ps->depth > RE_MAX_DEPTH) return perr(ps, "classes nested too deeply") - 1;
    ps->pos++; /* '[' */
    bool neg = false;
    if (!at_end(ps) && ps->p[ps->pos] == '^') {
        neg = true;
        ps->pos++;
    }
    struct itemlist list = {0}, *si = &list;
    bool first = true;
    for (;;) {
        if (at_end(ps)) {
            perr(ps, "unterminated character class");
            break;
        }
        if (ps->p[ps->pos] == ']' && !first) break;
        uint32_t lo;
        bool is_char;
        if (first && ps->p[ps->pos] == ']') { /* a leading ']' is literal */
            ps->pos++;
            lo = ']';
            is_char = true;
        } else if (!class_atom(ps, si, &lo, &is_char)) {
            break;
        }
        first = false;
        if (!is_char) continue;
        uint32_t hi = lo;
        if (ps->pos + 1 < ps->n && ps->p[ps->pos] == '-' && ps->p[ps->pos + 1] != ']') {
            ps->pos++;
            bool hi_char;
            if (!class_atom(ps, si, &hi, &hi_char)) break;
            if (!hi_char || hi < lo) {
                perr(ps, !hi_char ? "invalid range end in class" : "empty range in class");
                break;
            }
        }
        if (!add_range(ps, si, lo, hi)) break;
    }
    if (ps->st != QWGLM_OK) {
        qw_free(list.v);
        return -1;
    }
    ps->pos++; /* ']' */
    ps->depth--;
    return commit_set(ps, &list, neg);
}

static int literal_node(struct parser *ps, uint32_t cp)
{
    struct itemlist l = {0};
    bool ok = add_range(ps, &l, cp, cp);
    int si = commit_set(ps, &l, false);
    return ok ? set_node(ps, si) : -1;
}

static int parse_alt(struct parser *ps);

static bool parse_flags(struct parser *ps, bool *isolated)
{
    bool on = true;
    while (!at_end(ps)) {
        char c = ps->p[ps->pos++];
        switch (c) {
        case '-': on = false; break;
        case 'i': ps->icase = on; break;
        case 'm': ps->dotall = on; break;
        case 'x': ps->extended = on; break;
        case ')': *isolated = true; return true;
        case ':': *isolated = false; return true;
        default: ps->pos--; return perr(ps, "unsupported group option");
        }
    }
    return perr(ps, "unterminated group");
}

/* '(' at ps->pos. Returns the node, or -2 for an isolated option group "(?i)", whose flags now apply. */
static int parse_group(struct parser *ps)
{
    if (++ps->depth > RE_MAX_DEPTH) return perr(ps, "groups nested too deeply") - 1;
    ps->pos++;
    bool icase = ps->icase, dotall = ps->dotall, extended = ps->extended;
    int kind = -1, look = 0;
    if (ps->pos < ps->n && ps->p[ps->pos] == '?') {
        ps->pos++;
        char c = at_end(ps) ? 0 : ps->p[ps->pos];
        if (c == ':') {
            ps->pos++;
        } else if (c == '=' || c == '!') {
            ps->pos++;
            kind = N_LOOK;
            look = c == '!' ? LOOK_NEG : 0;
        } else if (c == '<' && ps->pos + 1 < ps->n && (ps->p[ps->pos + 1] == '=' || ps->p[ps->pos + 1] == '!')) {
            look = LOOK_BEHIND | (ps->p[ps->pos + 1] == '!' ? LOOK_NEG : 0);
            kind = N_LOOK;
            ps->pos += 2;
        } else if (c == '>') {
            ps->pos++;
            kind = N_ATOMIC;
        } else if (c == '#') {
            while (!at_end(ps) && ps->p[ps->pos] != ')') ps->pos++;
            if (at_end(ps)) return perr(ps, "unterminated comment") - 1;
            ps->pos++;
            ps->depth--;
            return new_node(ps, N_EMPTY);
        } else if (c == '<' || c == 'P' || c == '\'') { /* named group: the name does not matter here */
            if (c == 'P') ps->pos++;
            char close = ps->p[ps->pos] == '\'' ? '\'' : '>';
            while (!at_end(ps) && ps->p[ps->pos] != close) ps->pos++;
            if (at_end(ps)) return perr(ps, "unterminated group name") - 1;
            ps->pos++;
        } else {
            bool isolated;
            if (!parse_flags(ps, &isolated)) return -1;
            if (isolated) {
                ps->depth--;
                return -2;
            }
        }
    }
    int body = parse_alt(ps);
    if (body < 0) return -1;
    if (at_end(ps) || ps->p[ps->pos] != ')') return perr(ps, "missing )") - 1;
    ps->pos++;
    ps->depth--;
    ps->icase = icase;
    ps->dotall = dotall;
    ps->extended = extended;
    if (kind < 0) return body;
    int nd = new_node(ps, kind);
    if (nd < 0) return -1;
    ps->nodes[nd].child = body;
    ps->nodes[nd].sub = (uint8_t)look;
    return nd;
}

static int assert_node(struct parser *ps, int kind)
{
    int nd = new_node(ps, N_ASSERT);
    if (nd >= 0) ps->nodes[nd].sub = (uint8_t)kind;
    return nd;
}

/* One atom; -1 on error, -2 for "(?i)" (flags changed, no node), -3 at the end of a sequence. */
static int parse_atom(struct parser *ps)
{
    skip_extended(ps);
    if (at_end(ps)) return -3;
    char c = ps->p[ps->pos];
    switch (c) {
    case '|': case ')': return -3;
    case '(': return parse_group(ps);
    case '[': return set_node(ps, parse_class(ps));
    case '*': case '+': case '?': return perr(ps, "nothing to repeat") - 1;
    case '.': {
        ps->pos++;
        struct itemlist l = {0};
        bool ok = ps->dotall || add_item(ps, &l, IT_RANGE, false, '\n', '\n');
        int si = commit_set(ps, &l, !ps->dotall);
        return ok ? set_node(ps, si) : -1;
    }
    case '^': ps->pos++; return assert_node(ps, AS_BOL);
    case '$': ps->pos++; return assert_node(ps, AS_EOL);
    case '\\': {
        ps->pos++;
        if (at_end(ps)) return perr(ps, "trailing backslash") - 1;
        char e = ps->p[ps->pos];
        static const char anchors[] = "AzZbBG";
        static const int kinds[] = {AS_BOS, AS_EOS, AS_EOS_NL, AS_WORD, AS_NOT_WORD, AS_START};
        const char *a = strchr(anchors, e);
        if (e && a) {
            ps->pos++;
            return assert_node(ps, kinds[a - anchors]);
        }
        if (e == 'k' || e == 'g' || (e >= '1' && e <= '9')) return perr(ps, "backreferences are unsupported") - 1;
        struct itemlist l = {0};
        bool handled, ok = class_escape(ps, &l, &handled);
        uint32_t cp;
        if (ok && !handled) ok = char_escape(ps, &cp) && add_range(ps, &l, cp, cp);
        int si = commit_set(ps, &l, false);
        return ok ? set_node(ps, si) : -1;
    }
    default: {
        uint32_t cp;
        if (!next_cp(ps, &cp)) return -1;
        return literal_node(ps, cp);
    }
    }
}

static bool parse_uint(struct parser *ps, uint32_t *out)
{
    if (at_end(ps) || ps->p[ps->pos] < '0' || ps->p[ps->pos] > '9') return false;
    uint64_t v = 0;
    while (!at_end(ps) && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9') {
        v = v * 10 + (uint64_t)(ps->p[ps->pos++] - '0');
        if (v > RE_MAX_REPEAT) v = RE_MAX_REPEAT + 1;
    }
    *out = (uint32_t)v;
    return true;
}

/* {n} {n,} {,m} {n,m} at ps->pos; false (position unchanged) when it is not an interval, which makes '{'
 * a literal, as in Oniguruma. */
static bool parse_interval(struct parser *ps, uint32_t *min, uint32_t *max)
{
    size_t save = ps->pos++;
    bool has_min = parse_uint(ps, min), has_max = true;
    if (!has_min) *min = 0;
    if (!at_end(ps) && ps->p[ps->pos] == ',') {
        ps->pos++;
        has_max = parse_uint(ps, max);
        if (!has_max) *max = RE_INF;
    } else {
        *max = *min;
    }
    if (at_end(ps) || ps->p[ps->pos] != '}' || (!has_min && !has_max)) {
        ps->pos = save;
        return false;
    }
    ps->pos++;
    return true;
}

/* Quantifiers after an atom, each wrapping the previous result. */
static int parse_quantifiers(struct parser *ps, int atom)
{
    for (int chain = 0;; chain++) {
        if (chain > 8) return perr(ps, "too many quantifiers in a row") - 1;
        skip_extended(ps);
        if (at_end(ps)) return atom;
        char c = ps->p[ps->pos];
        uint32_t min, max;
        bool interval = false;
        if (c == '*') min = 0, max = RE_INF;
        else if (c == '+') min = 1, max = RE_INF;
        else if (c == '?') min = 0, max = 1;
        else if (c == '{' && parse_interval(ps, &min, &max)) interval = true;
        else return atom;
        if (!interval) ps->pos++;
        if (min > RE_MAX_REPEAT || (max != RE_INF && max > RE_MAX_REPEAT)) return perr(ps, "repeat count too large") - 1;
        if (max < min) return perr(ps, "invalid repeat range") - 1;
        int kind = ps->nodes[atom].kind;
        if (kind == N_ASSERT || kind == N_LOOK) return perr(ps, "target of repeat is invalid") - 1;
        int sub = REP_GREEDY;
        if (!at_end(ps) && ps->p[ps->pos] == '?') {
            sub = REP_LAZY;
            ps->pos++;
        } else if (!interval && !at_end(ps) && ps->p[ps->pos] == '+') {
            sub = REP_POSSESSIVE;
            ps->pos++;
        }
        int nd = new_node(ps, N_REP);
        if (nd < 0) return -1;
        ps->nodes[nd].child = atom;
        ps->nodes[nd].min = min;
        ps->nodes[nd].max = max;
        ps->nodes[nd].sub = (uint8_t)sub;
        atom = nd;
    }
}

static int parse_seq(struct parser *ps)
{
    int seq = new_node(ps, N_CAT), last = -1;
    if (seq < 0) return -1;
    for (;;) {
        int atom = parse_atom(ps);
        if (atom == -3) break;
        if (atom == -2) { /* (?i) applies to the rest of the enclosing group, alternatives included */
            atom = parse_alt(ps);
            if (atom < 0) return -1;
            if (last < 0) ps->nodes[seq].child = atom;
            else ps->nodes[last].next = atom;
            break;
        }
        if (atom < 0) return -1;
        atom = parse_quantifiers(ps, atom);
        if (atom < 0) return -1;
        if (last < 0) ps->nodes[seq].child = atom;
        else ps->nodes[last].next = atom;
        last = atom;
    }
    return seq;
}

static int parse_alt(struct parser *ps)
{
    int first = parse_seq(ps);
    if (first < 0) return -1;
    if (at_end(ps) || ps->p[ps->pos] != '|') return first;
    int alt = new_node(ps, N_ALT), last = first;
    if (alt < 0) return -1;
    ps->nodes[alt].child = first;
    while (!at_end(ps) && ps->p[ps->pos] == '|') {
        ps->pos++;
        int s = parse_seq(ps);
        if (s < 0) return -1;
        ps->nodes[last].next = s;
        last = s;
    }
    return alt;
}

/* ---- compiler ---- */

struct first {
    bool nullable, any;
    int n;
    int32_t sets[GUARD_SETS];
};

static void first_union(struct first *a, const struct first *b)
{
    a->any |= b->any;
    for (int i = 0; i < b->n && !a->any; i++) {
        bool have = false;
        for (int j = 0; j < a->n; j++) have |= a->sets[j] == b->sets[i];
        if (have) continue;
        if (a->n == GUARD_SETS) a->any = true;
        else a->sets[a->n++] = b->sets[i];
    }
}

/* The characters nd can start with, and whether it can match without consuming any. */
static struct first first_of(const struct parser *ps, int nd)
{
    const struct node *x = &ps->nodes[nd];
    struct first f = {.nullable = true};
    switch (x->kind) {
    case N_SET:
        f.nullable = false;
        f.n = 1;
        f.sets[0] = x->set;
        break;
    case N_CAT:
        for (int c = x->child; c >= 0; c = ps->nodes[c].next) {
            struct first g = first_of(ps, c);
            first_union(&f, &g);
            if (!g.nullable) {
                f.nullable = false;
                break;
            }
        }
        break;
    case N_ALT:
        f.nullable = false;
        for (int c = x->child; c >= 0; c = ps->nodes[c].next) {
            struct first g = first_of(ps, c);
            first_union(&f, &g);
            f.nullable |= g.nullable;
        }
        break;
    case N_REP:
        f = first_of(ps, x->child);
        f.nullable |= x->min == 0;
        break;
    case N_ATOMIC:
        f = first_of(ps, x->child);
        break;
    default: /* assertions and lookaround consume nothing */
        break;
    }
    return f;
}

static int emit(struct parser *ps, int op)
{
    struct regex *re = ps->re;
    if (!grow((void **)&re->prog, &ps->cap_prog, re->n_prog + 1, sizeof *re->prog, RE_MAX_PROG)) {
        if (re->n_prog >= RE_MAX_PROG) return perr(ps, "pattern too large once repeats are expanded") - 1;
        return nomem(ps) - 1;
    }
    struct inst *in = &re->prog[re->n_prog];
    memset(in, 0, sizeof *in);
    in->op = (uint8_t)op;
    in->gx = in->gy = -1;
    return re->n_prog++;
}

/* A guard for a branch that starts with f, or -1 when the branch may start with anything. */
static int32_t make_guard(struct parser *ps, const struct first *f)
{
    if (f->nullable || f->any || f->n == 0) return -1;
    struct regex *re = ps->re;
    if (!grow((void **)&re->guards, &ps->cap_guards, re->n_guards + 1, sizeof *re->guards, RE_MAX_PROG))
        return nomem(ps) - 1;
    struct guard *g = &re->guards[re->n_guards];
    memset(g, 0, sizeof *g);
    g->n = f->n;
    for (int i = 0; i < f->n; i++) {
        const struct cset *s = &re->sets[f->sets[i]];
        g->ascii[0] |= s->ascii[0];
        g->ascii[1] |= s->ascii[1];
        g->sets[i] = f->sets[i];
    }
    return re->n_guards++;
}

static bool gen(struct parser *ps, int nd);

static bool gen_rep(struct parser *ps, const struct node *x)
{
    const struct node *c = &ps->nodes[x->child];
    while (c->kind == N_CAT && c->child >= 0 && ps->nodes[c->child].next < 0) c = &ps->nodes[c->child];
    if (c->kind == N_SET) {
        int pc = emit(ps, OP_STAR);
        if (pc < 0) return false;
        struct inst *in = &ps->re->prog[pc];
        in->x = c->set;
        in->min = x->min;
        in->max = x->max;
        in->sub = x->sub;
        return true;
    }
    int atomic = -1;
    if (x->sub == REP_POSSESSIVE && (atomic = emit(ps, OP_ATOMIC)) < 0) return false;
    for (uint32_t i = 0; i < x->min; i++)
        if (!gen(ps, x->child)) return false;
    struct first f = first_of(ps, x->child);
    int32_t guard = make_guard(ps, &f);
    if (guard < -1) return false;
    bool lazy = x->sub == REP_LAZY;
    if (x->max == RE_INF) {
        int split = emit(ps, OP_SPLIT), reg = ps->re->n_regs;
        if (split < 0) return false;
        if (f.nullable) {
            ps->re->n_regs++;
            int m = emit(ps, OP_MARK);
            if (m < 0) return false;
            ps->re->prog[m].min = (uint32_t)reg;
        }
        if (!gen(ps, x->child)) return false;
        if (f.nullable) {
            int p = emit(ps, OP_PROGRESS);
            if (p < 0) return false;
            ps->re->prog[p].min = (uint32_t)reg;
        }
        int j = emit(ps, OP_JMP);
        if (j < 0) return false;
        struct inst *s = &ps->re->prog[split];
        ps->re->prog[j].x = split;
        s->x = lazy ? ps->re->n_prog : split + 1;
        s->y = lazy ? split + 1 : ps->re->n_prog;
        if (lazy) s->gy = guard;
        else s->gx = guard;
    } else if (x->max > x->min) {
        /* x{n,m}: n copies, then m - n optional copies; declining one skips all later ones */
        uint32_t k = x->max - x->min;
        int *splits = qw_malloc((size_t)k * sizeof *splits);
        if (!splits) return nomem(ps);
        bool ok = true;
        for (uint32_t i = 0; i < k && ok; i++) {
            splits[i] = emit(ps, OP_SPLIT);
            ok = splits[i] >= 0 && gen(ps, x->child);
        }
        for (uint32_t i = 0; i < k && ok; i++) {
            struct inst *s = &ps->re->prog[splits[i]];
            s->x = lazy ? ps->re->n_prog : splits[i] + 1;
            s->y = lazy ? splits[i] + 1 : ps->re->n_prog;
            if (lazy) s->gy = guard;
            else s->gx = guard;
        }
        qw_free(splits);
        if (!ok) return false;
    }
    if (atomic >= 0) {
        if (emit(ps, OP_MATCH) < 0) return false;
        ps->re->prog[atomic].x = ps->re->n_prog;
    }
    return true;
}

/* Fixed length of nd in code points, or -1 when it varies (lookbehind needs a fixed length). */
static long fixed_len(const struct parser *ps, int nd)
{
    const struct node *x = &ps->nodes[nd];
    long len = 0, l;
    switch (x->kind) {
    case N_SET: return 1;
    case N_CAT:
        for (int c = x->child; c >= 0; c = ps->nodes[c].next) {
            if ((l = fixed_len(ps, c)) < 0) return -1;
            len += l;
        }
        return len;
    case N_ALT:
        len = -2;
        for (int c = x->child; c >= 0; c = ps->nodes[c].next) {
            if ((l = fixed_len(ps, c)) < 0 || (len != -2 && l != len)) return -1;
            len = l;
        }
        return len;
    case N_REP:
        if (x->min != x->max || (l = fixed_len(ps, x->child)) < 0) return -1;
        return l * (long)x->min;
    case N_ATOMIC: return fixed_len(ps, x->child);
    default: return 0;
    }
}

static bool gen(struct parser *ps, int nd)
{
    const struct node *x = &ps->nodes[nd];
    int pc;
    switch (x->kind) {
    case N_EMPTY: return true;
    case N_SET:
        if ((pc = emit(ps, OP_SET)) < 0) return false;
        ps->re->prog[pc].x = x->set;
        return true;
    case N_CAT:
        for (int c = x->child; c >= 0; c = ps->nodes[c].next)
            if (!gen(ps, c)) return false;
        return true;
    case N_ALT: {
        int jumps[1024], n_jumps = 0;
        for (int c = x->child; c >= 0; c = ps->nodes[c].next) {
            int split = -1;
            if (ps->nodes[c].next >= 0) {
                if ((split = emit(ps, OP_SPLIT)) < 0) return false;
                struct first f = first_of(ps, c);
                int32_t g = make_guard(ps, &f);
                if (g < -1) return false;
                ps->re->prog[split].x = split + 1;
                ps->re->prog[split].gx = g;
            }
            if (!gen(ps, c)) return false;
            if (split >= 0) {
                if (n_jumps == 1024) return perr(ps, "too many alternatives");
                if ((jumps[n_jumps++] = emit(ps, OP_JMP)) < 0) return false;
                ps->re->prog[split].y = ps->re->n_prog;
            }
        }
        for (int k = 0; k < n_jumps; k++) ps->re->prog[jumps[k]].x = ps->re->n_prog;
        return true;
    }
    case N_REP: return gen_rep(ps, x);
    case N_ASSERT:
        if ((pc = emit(ps, OP_ASSERT)) < 0) return false;
        ps->re->prog[pc].sub = x->sub;
        return true;
    case N_LOOK:
    case N_ATOMIC: {
        long len = 0;
        if (x->kind == N_LOOK && (x->sub & LOOK_BEHIND) && (len = fixed_len(ps, x->child)) < 0)
            return perr(ps, "lookbehind needs a fixed length");
        if ((pc = emit(ps, x->kind == N_LOOK ? OP_LOOK : OP_ATOMIC)) < 0) return false;
        ps->re->prog[pc].sub = x->sub;
        ps->re->prog[pc].min = (uint32_t)len;
        if (!gen(ps, x->child) || emit(ps, OP_MATCH) < 0) return false;
        ps->re->prog[pc].x = ps->re->n_prog;
        return true;
    }
    }
    return perr(ps, "internal: unknown node");
}

qwglm_status regex_compile(const char *pattern, size_t n, struct regex **out, struct qw_err *e)
{
    *out = NULL;
    struct parser ps = {.p = pattern, .n = n, .e = e};
    ps.re = qw_calloc(1, sizeof *ps.re);
    if (!ps.re) return qw_fail(e, QWGLM_ERR_NOMEM, "regex: out of memory");
    int root = parse_alt(&ps);
    if (root >= 0 && !at_end(&ps)) root = perr(&ps, "unmatched )") - 1;
    if (root >= 0 && gen(&ps, root) && emit(&ps, OP_MATCH) >= 0) {
        struct first f = first_of(&ps, root);
        ps.re->start_guard = make_guard(&ps, &f);
    }
    qw_free(ps.nodes);
    if (ps.st != QWGLM_OK || ps.re->start_guard < -1) {
        regex_free(ps.re);
        return ps.st ? ps.st : qw_fail(e, QWGLM_ERR_NOMEM, "regex: out of memory");
    }
    *out = ps.re;
    return QWGLM_OK;
}

void regex_free(struct regex *re)
{
    if (!re) return;
    qw_free(re->sets);
    qw_free(re->items);
    qw_free(re->prog);
    qw_free(re->guards);
    qw_free(re);
}

void regex_vm_free(struct regex_vm *vm)
{
    qw_free(vm->stack);
    memset(vm, 0, sizeof *vm);
}

