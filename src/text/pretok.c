/* Normalizers and pre-tokenizers of tokenizer.json: parsing their JSON and running them.
 *
 * A pre-tokenizer sequence runs depth first: step k splits a piece into sub-pieces and hands each, in order,
 * to step k + 1; the last step hands them to BPE. Nothing is materialised per piece, so a 10 MB text needs no
 * list of millions of offsets. Split behaviours reproduce `tokenizers`' NormalizedString::split on the stream of
 * (span, is_match) pairs that its find_matches produces. */
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "text/tok_impl.h"
#include "text/unicode.h"

/* ---- parsing ---- */

static const char *type_of(const struct json_value *v) { return json_string(json_get(v, "type")); }

static bool flag(const struct json_value *obj, const char *key, bool dflt)
{
    const struct json_value *v = json_get(obj, key);
    return v && v->type == JSON_BOOL ? v->b : dflt;
}

static qwglm_status compile_literal(const char *s, size_t n, struct regex **re, struct qw_err *e)
{
    /* A String pattern matches itself: spell each code point as \x{...} and reuse the regex engine. */
    struct qw_str pat = {0};
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        if (!len) {
            qw_str_free(&pat);
            return qw_fail(e, QWGLM_ERR_FORMAT, "tokenizer.json: pattern string is not valid UTF-8");
        }
        qw_str_printf(&pat, "\\x{%x}", (unsigned)cp);
        i += len;
    }
    if (pat.failed) {
        qw_str_free(&pat);
        return qw_fail(e, QWGLM_ERR_NOMEM, "out of memory");
    }
    qwglm_status st = regex_compile(pat.data ? pat.data : "", pat.len, re, e);
    qw_str_free(&pat);
    return st;
}

/* {"Regex": "..."} or {"String": "..."}; *re stays NULL for an empty string, which never matches. */
static qwglm_status parse_pattern(const struct json_value *v, const char *name, struct regex **re, struct qw_err *e)
{
    const struct json_value *r = json_get(v, "Regex"), *s = json_get(v, "String");
    if (r && r->type == JSON_STRING) return regex_compile(r->u.str, r->n, re, e);
    if (s && s->type == JSON_STRING) return s->n ? compile_literal(s->u.str, s->n, re, e) : QWGLM_OK;
    return qw_fail(e, QWGLM_ERR_FORMAT, "%s: pattern needs \"Regex\" or \"String\"", name);
}

qwglm_status tok_parse_normalizer(struct tokenizer *t, const struct json_value *v, const char *name,
                                  struct qw_err *e)
{
    if (json_is_null(v)) return QWGLM_OK;
    const char *type = type_of(v);
    if (!type) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: normalizer without a type", name);
    if (strcmp(type, "Sequence") == 0) {
        const struct json_value *list = json_get(v, "normalizers");
        if (!list || list->type != JSON_ARRAY)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: Sequence normalizer without a list", name);
        for (uint32_t i = 0; i < list->n; i++) {
            qwglm_status st = tok_parse_normalizer(t, &list->u.items[i], name, e);
            if (st) return st;
        }
        return QWGLM_OK;
    }
    if (t->n_norm == TOK_MAX_STEPS) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: too many normalizers", name);
    struct norm_step *n = &t->norm[t->n_norm];
    memset(n, 0, sizeof *n);
    if (strcmp(type, "NFC") == 0) {
        n->kind = NORM_NFC;
    } else if (strcmp(type, "NFD") == 0) {
        n->kind = NORM_NFD;
    } else if (strcmp(type, "Lowercase") == 0) {
        n->kind = NORM_LOWERCASE;
    } else if (strcmp(type, "Strip") == 0) {
        n->kind = NORM_STRIP;
        n->left = flag(v, "strip_left", true);
        n->right = flag(v, "strip_right", true);
    } else if (strcmp(type, "Prepend") == 0) {
        const struct json_value *p = json_get(v, "prepend");
        if (!p || p->type != JSON_STRING) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: Prepend without a string", name);
        n->kind = NORM_PREPEND;
        if (!(n->a = tok_pool_add(t, p->u.str, p->n))) return qw_fail(e, QWGLM_ERR_NOMEM, "out of memory");
        n->a_len = p->n;
    } else if (strcmp(type, "Replace") == 0) {
        const struct json_value *pat = json_get(v, "pattern"), *c = json_get(v, "content");
        if (!pat || !c || c->type != JSON_STRING)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: Replace needs pattern and content", name);
        n->kind = NORM_REPLACE;
        qwglm_status st = parse_pattern(pat, name, &n->re, e);
        if (st) return st;
        if (!(n->b = tok_pool_add(t, c->u.str, c->n))) return qw_fail(e, QWGLM_ERR_NOMEM, "out of memory");
        n->b_len = c->n;
    } else {
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: normalizer '%s' is not supported", name, type);
    }
    t->n_norm++;
    return QWGLM_OK;
}

static int parse_behavior(const struct json_value *v, int dflt)
{
    const char *b = json_string(json_get(v, "behavior"));
    if (!b) return dflt;
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (strcmp(b, names[i]) == 0) return i;
    return -1;
}

/* GPT-2's pattern, which ByteLevel applies when use_regex is true. */
static const char gpt2_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

qwglm_status tok_parse_pretokenizer(struct tokenizer *t, const struct json_value *v, const char *name,
                                    struct qw_err *e)
{
    if (json_is_null(v)) return QWGLM_OK;
    const char *type = type_of(v);
    if (!type) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: pre-tokenizer without a type", name);
    if (strcmp(type, "Sequence") == 0) {
        const struct json_value *list = json_get(v, "pretokenizers");
        if (!list || list->type != JSON_ARRAY)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: Sequence pre-tokenizer without a list", name);
        for (uint32_t i = 0; i < list->n; i++) {
            qwglm_status st = tok_parse_pretokenizer(t, &list->u.items[i], name, e);
            if (st) return st;
        }
        return QWGLM_OK;
    }
    if (t->n_pretok == TOK_MAX_STEPS) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: too many pre-tokenizers", name);
    struct pretok_step *p = &t->pretok[t->n_pretok];
    memset(p, 0, sizeof *p);
    p->behavior = SPLIT_ISOLATED;
    qwglm_status st = QWGLM_OK;
    if (strcmp(type, "Split") == 0) {
        p->kind = PT_SPLIT;
        p->behavior = parse_behavior(v, -1);
        p->invert = flag(v, "invert", false);
        const struct json_value *pat = json_get(v, "pattern");
        if (p->behavior < 0) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: Split with an unknown behavior", name);
        if (!pat) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: Split without a pattern", name);
        st = parse_pattern(pat, name, &p->re, e);
    } else if (strcmp(type, "ByteLevel") == 0) {
        p->kind = PT_BYTE_LEVEL;
        p->add_prefix_space = flag(v, "add_prefix_space", true);
        t->byte_level = true;
        if (flag(v, "use_regex", true)) st = regex_compile(gpt2_pattern, sizeof gpt2_pattern - 1, &p->re, e);
    } else if (strcmp(type, "Digits") == 0) {
        p->kind = PT_DIGITS;
        if (!flag(v, "individual_digits", false)) p->behavior = SPLIT_CONTIGUOUS;
        st = regex_compile("\\p{N}", 5, &p->re, e);
    } else if (strcmp(type, "Punctuation") == 0) {
        static const char punct[] = "[\\p{P}!-/:-@\\[-`{-~]";
        p->kind = PT_PUNCTUATION;
        if ((p->behavior = parse_behavior(v, SPLIT_ISOLATED)) < 0)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: Punctuation with an unknown behavior", name);
        st = regex_compile(punct, sizeof punct - 1, &p->re, e);
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        p->kind = PT_WHITESPACE_SPLIT;
        p->behavior = SPLIT_REMOVED;
        st = regex_compile("\\s", 2, &p->re, e);
    } else {
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: pre-tokenizer '%s' is not supported", name, type);
    }
    t->n_pretok++; /* counted even on failure, so tok_steps_free releases what was compiled */
    return st;
}

void tok_steps_free(struct tokenizer *t)
{
    for (int i = 0; i < t->n_norm; i++) regex_free(t->norm[i].re);
    for (int i = 0; i < t->n_pretok; i++) regex_free(t->pretok[i].re);
    t->n_norm = t->n_pretok = 0;
}

/* ---- normalizers ---- */

static bool lowercase(const char *s, size_t n, struct qw_str *out)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp, m[3];
        size_t len = uni_next(s + i, n - i, &cp);
        if (cp < 0x80 || cp >= UNI_BAD_BYTE) {
            char c = cp < 0x80 && cp >= 'A' && cp <= 'Z' ? (char)(cp + 32) : s[i];
            if (!qw_str_append(out, &c, 1)) return false;
        } else {
            size_t k = uni_case_map(cp, UNI_LOWER, m);
            for (size_t j = 0; j < k; j++) {
                char u[4];
                if (!qw_str_append(out, u, utf8_encode(m[j], u))) return false;
            }
        }
        i += len;
    }
    return true;
}

static bool replace_all(const struct norm_step *st, const char *s, size_t n, struct qw_str *out,
                        struct regex_vm *vm, struct qw_err *e)
{
    if (!st->re) return qw_str_append(out, s, n);
    size_t pos = 0, from = 0, ms, me;
    while (from <= n) {
        int r = regex_search(st->re, vm, s, n, from, &ms, &me, e);
        if (r < 0) return false;
        if (r == 0) break;
        if (!qw_str_append(out, s + pos, ms - pos) || !qw_str_append(out, st->b, st->b_len)) return false;
        pos = me;
        if (me == ms) {
            if (me == n) break;
            uint32_t cp;
            from = me + uni_next(s + me, n - me, &cp);
        } else {
            from = me;
        }
    }
    return qw_str_append(out, s + pos, n - pos);
}

static bool apply_norm(const struct norm_step *st, const char *s, size_t n, struct qw_str *out, struct regex_vm *vm)
{
    switch (st->kind) {
    case NORM_NFC: return uni_nfc(s, n, out);
    case NORM_NFD: return uni_nfd(s, n, out);
    case NORM_LOWERCASE: return lowercase(s, n, out);
    case NORM_PREPEND: return (n == 0 || qw_str_append(out, st->a, st->a_len)) && qw_str_append(out, s, n);
    case NORM_REPLACE: {
        struct qw_err e = {0};
        return replace_all(st, s, n, out, vm, &e);
    }
    default: { /* NORM_STRIP */
        size_t a = 0, b = n;
        uint32_t cp;
        while (st->left && a < b) {
            size_t len = uni_next(s + a, b - a, &cp);
            if (!uni_is_space(cp)) break;
            a += len;
        }
        while (st->right && b > a) {
            size_t len = uni_prev_len(s + a, b - a);
            uni_next(s + b - len, len, &cp);
            if (!uni_is_space(cp)) break;
            b -= len;
        }
        return qw_str_append(out, s + a, b - a);
    }
    }
}

bool tok_normalize(const struct tokenizer *t, const char *s, size_t n, struct qw_str *out)
{
    if (t->n_norm == 0) return qw_str_append(out, s, n);
    struct qw_str tmp[2] = {{0}, {0}};
    struct regex_vm vm = {0};
    const char *cur = s;
    size_t cur_n = n;
    bool ok = true;
    for (int i = 0; i < t->n_norm && ok; i++) {
        struct qw_str *dst = i == t->n_norm - 1 ? out : &tmp[i & 1];
        if (dst != out) qw_str_clear(dst);
        /* NFC of text already in NFC is the text itself: skip the work for the common case */
        if (t->norm[i].kind == NORM_NFC && uni_nfc_quick(cur, cur_n)) ok = qw_str_append(dst, cur, cur_n);
        else ok = apply_norm(&t->norm[i], cur, cur_n, dst, &vm);
        cur = dst->data ? dst->data : "";
        cur_n = dst->len;
    }
    qw_str_free(&tmp[0]);
    qw_str_free(&tmp[1]);
    regex_vm_free(&vm);
    return ok && !out->failed;
}

/* ---- pre-tokenizers ---- */

struct span_state {
    struct encoder *enc;
    int step, behavior;
    const char *s;
    bool have_pending, pending_match, prev_match;
    size_t pa, pb; /* pending span */
};

static qwglm_status emit_span(struct span_state *st, size_t a, size_t b)
{
    if (a >= b) return QWGLM_OK; /* empty splits are dropped */
    return tok_pretokenize(st->enc, st->step + 1, st->s + a, b - a);
}

static qwglm_status flush_pending(struct span_state *st)
{
    if (!st->have_pending) return QWGLM_OK;
    st->have_pending = false;
    return emit_span(st, st->pa, st->pb);
}

static qwglm_status set_pending(struct span_state *st, size_t a, size_t b, bool match)
{
    qwglm_status rc = flush_pending(st);
    st->have_pending = true;
    st->pa = a;
    st->pb = b;
    st->pending_match = match;
    return rc;
}

/* One (span, is_match) of find_matches, through the split behaviour. */
static qwglm_status feed_span(struct span_state *st, size_t a, size_t b, bool match)
{
    qwglm_status rc = QWGLM_OK;
    switch (st->behavior) {
    case SPLIT_ISOLATED: rc = emit_span(st, a, b); break;
    case SPLIT_REMOVED:
        if (!match) rc = emit_span(st, a, b);
        break;
    case SPLIT_CONTIGUOUS:
        if (st->have_pending && match == st->prev_match) st->pb = b;
        else rc = set_pending(st, a, b, match);
        break;
    case SPLIT_MERGED_PREV:
        if (match && !st->prev_match && st->have_pending) st->pb = b;
        else rc = set_pending(st, a, b, match);
        break;
    default: /* SPLIT_MERGED_NEXT: a match joins the span after it, unless that one is a match too */
        if (st->have_pending && st->pending_match && !match) {
            st->pb = b;
            rc = flush_pending(st);
        } else if (match) {
            rc = set_pending(st, a, b, match);
        } else {
            rc = flush_pending(st);
            if (!rc) rc = emit_span(st, a, b);
        }
        break;
    }
    st->prev_match = match;
    return rc;
}

static qwglm_status split_piece(struct encoder *enc, int step, const struct pretok_step *p, const char *s, size_t n)
{
    struct span_state st = {.enc = enc, .step = step, .behavior = p->behavior, .s = s};
    qwglm_status rc = QWGLM_OK;
    size_t prev = 0, from = 0, ms, me, last_match_end = (size_t)-1;
    bool inv = p->invert;
    while (p->re && from <= n && !rc) {
        int r = regex_search(p->re, &enc->vm, s, n, from, &ms, &me, enc->e);
        if (r < 0) return enc->e && enc->e->status ? enc->e->status : QWGLM_ERR_FORMAT;
        if (r == 0) break;
        if (ms == me) { /* an empty match: move on one character, and skip it right after another match */
            uint32_t cp;
            from = me < n ? me + uni_next(s + me, n - me, &cp) : n + 1;
            if (last_match_end == me) continue;
        } else {
            from = me;
        }
        last_match_end = me;
        if (prev != ms) rc = feed_span(&st, prev, ms, inv);
        if (!rc) rc = feed_span(&st, ms, me, !inv);
        prev = me;
    }
    if (!rc && prev != n) rc = feed_span(&st, prev, n, inv);
    if (!rc) rc = flush_pending(&st);
    return rc;
}

qwglm_status tok_pretokenize(struct encoder *enc, int step, const char *s, size_t n)
{
    const struct tokenizer *t = enc->t;
    if (step == t->n_pretok) return bpe_encode_piece(enc, s, n);
    const struct pretok_step *p = &t->pretok[step];
    if (p->kind == PT_BYTE_LEVEL) {
        if (p->add_prefix_space && s[0] != ' ') {
            struct qw_str *buf = &enc->scratch[step];
            qw_str_clear(buf);
            if (!qw_str_putc(buf, ' ') || !qw_str_append(buf, s, n))
                return qw_fail(enc->e, QWGLM_ERR_NOMEM, "tokenizer: out of memory");
            s = buf->data;
            n = buf->len;
        }
        if (!p->re) return tok_pretokenize(enc, step + 1, s, n);
    }
    return split_piece(enc, step, p, s, n);
}
