/* Python's str semantics for Jinja: whitespace, strip, split, splitlines, replace, find, case mappings (full
 * Unicode, with Final_Sigma), the is* predicates, and the str methods templates call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "text/jinja_impl.h"
#include "text/unicode.h"

/* ---- strings ---- */

bool jl_is_pyspace(uint32_t cp)
{
    if (cp < 0x80) return cp == ' ' || (cp >= 9 && cp <= 13) || (cp >= 28 && cp <= 31);
    return cp <= UNI_MAX && (uni_get(cp)->flags & UNI_PY_SPACE);
}

static bool in_chars(uint32_t cp, const struct jstr *chars)
{
    for (size_t i = 0; i < chars->len;) {
        uint32_t c;
        i += uni_next(chars->p + i, chars->len - i, &c);
        if (c == cp) return true;
    }
    return false;
}

/* str.strip / lstrip / rstrip with chars (NULL: whitespace) */
struct jv jl_strip(struct jrender *r, const struct jstr *s, const struct jstr *chars, bool left, bool right)
{
    size_t a = 0, b = s->len;
    uint32_t cp;
    while (left && a < b) {
        size_t l = uni_next(s->p + a, b - a, &cp);
        if (chars ? !in_chars(cp, chars) : !jl_is_pyspace(cp)) break;
        a += l;
    }
    while (right && b > a) {
        size_t l = uni_prev_len(s->p + a, b - a);
        uni_next(s->p + b - l, l, &cp);
        if (chars ? !in_chars(cp, chars) : !jl_is_pyspace(cp)) break;
        b -= l;
    }
    return jl_mkstr(r, s->p + a, b - a);
}

static void put_cp(struct qw_str *o, uint32_t cp)
{
    char u[4];
    if (cp >= UNI_BAD_BYTE) {
        u[0] = (char)(cp - UNI_BAD_BYTE);
        qw_str_append(o, u, 1);
    } else {
        qw_str_append(o, u, utf8_encode(cp, u));
    }
}

static bool cased(uint32_t cp) { return cp <= UNI_MAX && (uni_get(cp)->flags & UNI_CASED); }
static bool case_ignorable(uint32_t cp) { return cp <= UNI_MAX && (uni_get(cp)->flags & UNI_CASE_IGNORABLE); }

/* Python's Final_Sigma rule for lower(): a capital sigma after a cased letter and not before one. */
static bool final_sigma(const char *s, size_t n, size_t at, size_t len)
{
    uint32_t cp;
    size_t i = at;
    bool before = false;
    while (i > 0) {
        size_t l = uni_prev_len(s, i);
        uni_next(s + i - l, l, &cp);
        i -= l;
        if (case_ignorable(cp)) continue;
        before = cased(cp);
        break;
    }
    if (!before) return false;
    for (i = at + len; i < n;) {
        i += uni_next(s + i, n - i, &cp);
        if (case_ignorable(cp)) continue;
        return !cased(cp);
    }
    return true;
}


struct jv jl_change_case(struct jrender *r, const struct jstr *s, int mode)
{
    struct qw_str o = {0};
    bool prev_cased = false, first = true;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp, m[3];
        size_t l = uni_next(s->p + i, s->len - i, &cp), k;
        int which = mode == CASE_UPPER ? UNI_UPPER : UNI_LOWER;
        if (mode == CASE_TITLE) which = prev_cased ? UNI_LOWER : UNI_TITLE;
        if (mode == CASE_CAPITALIZE) which = first ? UNI_TITLE : UNI_LOWER;
        if (cp >= UNI_BAD_BYTE) {
            m[0] = cp;
            k = 1;
        } else if (which == UNI_LOWER && cp == 0x3a3) {
            m[0] = final_sigma(s->p, s->len, i, l) ? 0x3c2 : 0x3c3;
            k = 1;
        } else {
            k = uni_case_map(cp, which, m);
        }
        for (size_t j = 0; j < k; j++) put_cp(&o, m[j]);
        prev_cased = cased(cp);
        first = false;
        i += l;
    }
    return jv_from_qstr(r, &o);
}

static bool str_find(const struct jstr *s, const struct jstr *sub, size_t from, bool last, size_t *at)
{
    if (sub->len > s->len) return false;
    if (last) {
        for (size_t i = s->len - sub->len + 1; i-- > from;)
            if (memcmp(s->p + i, sub->p, sub->len) == 0) return *at = i, true;
        return false;
    }
    if (sub->len == 0) return *at = from, from <= s->len;
    const char *hit = memmem(s->p + from, s->len - from, sub->p, sub->len);
    if (!hit) return false;
    *at = (size_t)(hit - s->p);
    return true;
}

/* str.split / rsplit (sep NULL: runs of whitespace) */
static bool split(struct jrender *r, const struct jstr *s, const struct jstr *sep, int64_t maxsplit, bool from_right,
                  struct jv *out)
{
    if (sep && sep->len == 0) return jr_fail(r, QWGLM_ERR_FORMAT, "empty separator");
    /* collect [a, b) spans, then build the list */
    size_t cap = 64, count = 0;
    size_t *spans = qw_malloc(cap * 2 * sizeof *spans);
    if (!spans) return jr_nomem(r);
    bool ok = true;
#define PUSH(a_, b_)                                                                                                  \
    do {                                                                                                           \
        if (count == cap) {                                                                                        \
            size_t *ns_ = qw_realloc(spans, cap * 4 * sizeof *spans);                                              \
            if (!ns_) { ok = false; break; }                                                                       \
            spans = ns_;                                                                                           \
            cap *= 2;                                                                                              \
        }                                                                                                          \
        spans[2 * count] = (a_);                                                                                   \
        spans[2 * count + 1] = (b_);                                                                               \
        count++;                                                                                                   \
    } while (0)
    if (sep) {
        if (!from_right) {
            size_t i = 0, at;
            while ((maxsplit < 0 || (int64_t)count < maxsplit) && str_find(s, sep, i, false, &at)) {
                PUSH(i, at);
                i = at + sep->len;
            }
            PUSH(i, s->len);
        } else {
            size_t end = s->len, at;
            while ((maxsplit < 0 || (int64_t)count < maxsplit) && end >= sep->len) {
                bool found = false;
                for (size_t i = end - sep->len + 1; i-- > 0;)
                    if (memcmp(s->p + i, sep->p, sep->len) == 0) {
                        at = i;
                        found = true;
                        break;
                    }
                if (!found) break;
                PUSH(at + sep->len, end);
                end = at;
            }
            PUSH(0, end);
        }
    } else {
        /* whitespace split: no empty strings, maxsplit counts splits */
        size_t i = 0;
        uint32_t cp;
        if (!from_right) {
            while (i < s->len) {
                size_t l;
                while (i < s->len && (l = uni_next(s->p + i, s->len - i, &cp), jl_is_pyspace(cp))) i += l;
                if (i >= s->len) break;
                if (maxsplit >= 0 && (int64_t)count >= maxsplit) {
                    /* the rest, with trailing whitespace stripped */
                    size_t e = s->len;
                    while (e > i) {
                        size_t pl = uni_prev_len(s->p + i, e - i);
                        uni_next(s->p + e - pl, pl, &cp);
                        if (!jl_is_pyspace(cp)) break;
                        e -= pl;
                    }
                    PUSH(i, e);
                    break;
                }
                size_t j = i;
                while (j < s->len && (l = uni_next(s->p + j, s->len - j, &cp), !jl_is_pyspace(cp))) j += l;
                PUSH(i, j);
                i = j;
            }
        } else {
            size_t e = s->len;
            while (e > 0) {
                size_t l;
                while (e > 0 && (l = uni_prev_len(s->p, e), uni_next(s->p + e - l, l, &cp), jl_is_pyspace(cp))) e -= l;
                if (e == 0) break;
                if (maxsplit >= 0 && (int64_t)count >= maxsplit) {
                    size_t b = 0;
                    while (b < e && (l = uni_next(s->p + b, e - b, &cp), jl_is_pyspace(cp))) b += l;
                    PUSH(b, e);
                    break;
                }
                size_t b = e;
                while (b > 0 && (l = uni_prev_len(s->p, b), uni_next(s->p + b - l, l, &cp), !jl_is_pyspace(cp))) b -= l;
                PUSH(b, e);
                e = b;
            }
        }
    }
#undef PUSH
    if (!ok) {
        qw_free(spans);
        return jr_nomem(r);
    }
    *out = jv_list(&r->arena, count, false);
    for (size_t k = 0; out->t == JT_LIST && k < count; k++) {
        size_t idx = from_right ? count - 1 - k : k;
        out->u.l->v[k] = jl_mkstr(r, s->p + spans[2 * idx], spans[2 * idx + 1] - spans[2 * idx]);
    }
    qw_free(spans);
    return out->t == JT_LIST ? r->st == QWGLM_OK : jr_nomem(r);
}

static bool is_line_break(uint32_t cp)
{
    return cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || (cp >= 0x1c && cp <= 0x1e) || cp == 0x85 ||
           cp == 0x2028 || cp == 0x2029;
}

bool jl_splitlines(struct jrender *r, const struct jstr *s, bool keepends, struct jv *out)
{
    struct jv list = jv_list(&r->arena, 0, false);
    size_t cap = 0, i = 0;
    if (list.t == JT_UNDEF) return jr_nomem(r);
    while (i < s->len) {
        size_t j = i, end;
        uint32_t cp = 0;
        size_t l = 0;
        while (j < s->len && (l = uni_next(s->p + j, s->len - j, &cp), !is_line_break(cp))) j += l;
        end = j;
        if (j < s->len) {
            j += l;
            if (cp == '\r' && j < s->len && s->p[j] == '\n') j++;
        }
        if (list.u.l->n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct jv *v = ja_alloc(&r->arena, nc * sizeof *v);
            if (!v) return jr_nomem(r);
            if (cap) memcpy(v, list.u.l->v, cap * sizeof *v);
            list.u.l->v = v;
            cap = nc;
        }
        list.u.l->v[list.u.l->n++] = jl_mkstr(r, s->p + i, (keepends ? j : end) - i);
        i = j;
    }
    *out = list;
    return r->st == QWGLM_OK;
}

struct jv jl_replace(struct jrender *r, const struct jstr *s, const struct jstr *old, const struct jstr *new_,
                         int64_t count)
{
    struct qw_str o = {0};
    size_t i = 0, at;
    int64_t done = 0;
    if (old->len == 0) { /* Python inserts new_ between every character (and at both ends) */
        for (size_t k = 0; k <= s->len && (count < 0 || done < count);) {
            qw_str_append(&o, new_->p, new_->len);
            done++;
            if (k == s->len) {
                i = k;
                break;
            }
            uint32_t cp;
            size_t l = uni_next(s->p + k, s->len - k, &cp);
            qw_str_append(&o, s->p + k, l);
            k += l;
            i = k;
        }
        qw_str_append(&o, s->p + i, s->len - i);
        return jv_from_qstr(r, &o);
    }
    while ((count < 0 || done < count) && str_find(s, old, i, false, &at)) {
        qw_str_append(&o, s->p + i, at - i);
        qw_str_append(&o, new_->p, new_->len);
        i = at + old->len;
        done++;
    }
    qw_str_append(&o, s->p + i, s->len - i);
    return jv_from_qstr(r, &o);
}

static bool all_chars(const struct jstr *s, bool (*pred)(uint32_t))
{
    if (s->len == 0) return false;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp;
        i += uni_next(s->p + i, s->len - i, &cp);
        if (!pred(cp)) return false;
    }
    return true;
}

static bool p_digit(uint32_t cp) { return cp <= UNI_MAX && uni_cat(cp) == UNI_ND; }
static bool p_numeric(uint32_t cp) { return cp <= UNI_MAX && uni_is_number(cp); }
static bool p_alpha(uint32_t cp) { return cp <= UNI_MAX && uni_is_letter(cp); }
static bool p_alnum(uint32_t cp) { return p_alpha(cp) || p_numeric(cp); }

/* islower / isupper: some cased character, and none of the other case */
bool jl_case_test(const struct jstr *s, bool upper)
{
    bool any = false;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp, m[3];
        i += uni_next(s->p + i, s->len - i, &cp);
        if (!cased(cp)) continue;
        int c = uni_cat(cp);
        bool is_upper = c == UNI_LU || c == UNI_LT, is_lower = c == UNI_LL;
        if (!is_upper && !is_lower) { /* Other_Lowercase / Other_Uppercase: decide by mapping */
            is_lower = uni_case_map(cp, UNI_UPPER, m) != 1 || m[0] != cp;
            is_upper = !is_lower;
        }
        if (upper ? is_lower : is_upper) return false;
        any = true;
    }
    return any;
}

static bool startswith(struct jrender *r, const struct jstr *s, const struct jv *prefix, bool end, bool *out)
{
    if (prefix && jv_is_seq(*prefix)) {
        *out = false;
        for (size_t i = 0; i < prefix->u.l->n && !*out; i++)
            if (!startswith(r, s, &prefix->u.l->v[i], end, out)) return false;
        return true;
    }
    if (!jl_need_str(r, prefix, end ? "endswith argument" : "startswith argument")) return false;
    const struct jstr *p = prefix->u.s;
    *out = p->len <= s->len && memcmp(end ? s->p + s->len - p->len : s->p, p->p, p->len) == 0;
    return true;
}

bool jl_str_method(struct jrender *r, struct jv self, const char *name, const struct jargs *a, struct jv *out)
{
    const struct jstr *s = self.u.s;
    const struct jv *x = jl_arg(a, 0, NULL), *y = jl_arg(a, 1, NULL);
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        bool t;
        if (a->n_pos > 1) return jr_fail(r, QWGLM_ERR_FORMAT, "%s with start/end is not supported", name);
        if (!startswith(r, s, x, name[0] == 'e', &t)) return false;
        return *out = jv_bool(t), true;
    }
    if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
        const struct jstr *chars = NULL;
        if (x && x->t != JT_NONE) {
            if (!jl_need_str(r, x, "strip argument")) return false;
            chars = x->u.s;
        }
        *out = jl_strip(r, s, chars, name[0] != 'r', name[0] != 'l');
        return r->st == QWGLM_OK;
    }
    if (!strcmp(name, "split") || !strcmp(name, "rsplit")) {
        const struct jv *sep = jl_arg(a, 0, "sep"), *maxs = jl_arg(a, 1, "maxsplit");
        int64_t m = -1;
        if (maxs && !jl_as_int(maxs, &m)) return jr_fail(r, QWGLM_ERR_FORMAT, "maxsplit must be an integer");
        if (sep && sep->t != JT_NONE && !jl_need_str(r, sep, "separator")) return false;
        return split(r, s, sep && sep->t == JT_STR ? sep->u.s : NULL, m, name[0] == 'r', out);
    }
    if (!strcmp(name, "splitlines")) {
        const struct jv *k = jl_arg(a, 0, "keepends");
        return jl_splitlines(r, s, k && jv_truthy(*k), out);
    }
    if (!strcmp(name, "replace")) {
        int64_t count = -1;
        const struct jv *c = jl_arg(a, 2, "count");
        if (!jl_need_str(r, x, "replace argument") || !jl_need_str(r, y, "replace argument")) return false;
        if (c && !jl_as_int(c, &count)) return jr_fail(r, QWGLM_ERR_FORMAT, "replace count must be an integer");
        *out = jl_replace(r, s, x->u.s, y->u.s, count);
        return r->st == QWGLM_OK;
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper") || !strcmp(name, "title") || !strcmp(name, "capitalize")) {
        int mode = name[0] == 'l' ? CASE_LOWER : name[0] == 'u' ? CASE_UPPER : name[0] == 't' ? CASE_TITLE
                                                                                             : CASE_CAPITALIZE;
        *out = jl_change_case(r, s, mode);
        return r->st == QWGLM_OK;
    }
    if (!strcmp(name, "find") || !strcmp(name, "rfind") || !strcmp(name, "index") || !strcmp(name, "rindex") ||
        !strcmp(name, "count")) {
        if (!jl_need_str(r, x, "argument")) return false;
        if (a->n_pos > 1) return jr_fail(r, QWGLM_ERR_FORMAT, "%s with start/end is not supported", name);
        if (name[0] == 'c') {
            int64_t k = 0;
            size_t i = 0, at;
            if (x->u.s->len == 0) return *out = jv_int((int64_t)utf8_count(s->p, s->len) + 1), true;
            while (str_find(s, x->u.s, i, false, &at)) k++, i = at + x->u.s->len;
            return *out = jv_int(k), true;
        }
        size_t at;
        bool found = str_find(s, x->u.s, 0, name[0] == 'r', &at);
        if (!found && name[name[0] == 'r' ? 1 : 0] == 'i') return jr_fail(r, QWGLM_ERR_FORMAT, "substring not found");
        return *out = jv_int(found ? (int64_t)utf8_count(s->p, at) : -1), true;
    }
    if (!strcmp(name, "join")) {
        struct jlist items;
        struct qw_str o = {0};
        if (!x || !jv_iterate(r, *x, &items)) return false;
        for (size_t i = 0; i < items.n; i++) {
            if (items.v[i].t != JT_STR) {
                qw_str_free(&o);
                return jr_fail(r, QWGLM_ERR_FORMAT, "sequence item %zu: expected str instance, %s found", i,
                               jv_type_name(items.v[i]));
            }
            if (i) qw_str_append(&o, s->p, s->len);
            qw_str_append(&o, items.v[i].u.s->p, items.v[i].u.s->len);
        }
        *out = jv_from_qstr(r, &o);
        return out->t == JT_STR;
    }
    if (!strcmp(name, "removeprefix") || !strcmp(name, "removesuffix")) {
        if (!jl_need_str(r, x, "argument")) return false;
        bool t, suffix = name[6] == 's';
        startswith(r, s, x, suffix, &t);
        size_t k = t ? x->u.s->len : 0;
        *out = jl_mkstr(r, suffix ? s->p : s->p + k, s->len - k);
        return r->st == QWGLM_OK;
    }
    if (!strcmp(name, "partition") || !strcmp(name, "rpartition")) {
        if (!jl_need_str(r, x, "separator")) return false;
        size_t at;
        bool found = str_find(s, x->u.s, 0, name[0] == 'r', &at);
        *out = jv_list(&r->arena, 3, true);
        if (out->t == JT_UNDEF) return jr_nomem(r);
        struct jv *v = out->u.l->v;
        if (!found) {
            struct jv whole = jl_mkstr(r, s->p, s->len), empty = jl_mkstr(r, "", 0);
            v[0] = name[0] == 'r' ? empty : whole;
            v[1] = empty;
            v[2] = name[0] == 'r' ? whole : empty;
        } else {
            v[0] = jl_mkstr(r, s->p, at);
            v[1] = *x;
            v[2] = jl_mkstr(r, s->p + at + x->u.s->len, s->len - at - x->u.s->len);
        }
        return r->st == QWGLM_OK;
    }
    if (!strcmp(name, "isdigit") || !strcmp(name, "isdecimal")) return *out = jv_bool(all_chars(s, p_digit)), true;
    if (!strcmp(name, "isnumeric")) return *out = jv_bool(all_chars(s, p_numeric)), true;
    if (!strcmp(name, "isalpha")) return *out = jv_bool(all_chars(s, p_alpha)), true;
    if (!strcmp(name, "isalnum")) return *out = jv_bool(all_chars(s, p_alnum)), true;
    if (!strcmp(name, "isspace")) return *out = jv_bool(all_chars(s, jl_is_pyspace)), true;
    if (!strcmp(name, "islower")) return *out = jv_bool(jl_case_test(s, false)), true;
    if (!strcmp(name, "isupper")) return *out = jv_bool(jl_case_test(s, true)), true;
    return jr_fail(r, QWGLM_ERR_FORMAT, "str.%s() is not supported", name);
}

