/* tokenizer.json loading, added-token matching, the encode pipeline, decoding and the streaming detokenizer. */
#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "text/tok_impl.h"
#include "text/unicode.h"

#define TOKENIZER_MAX_FILE ((size_t)1 << 30)
#define CONFIG_MAX_FILE ((size_t)64 << 20)
#define TOKENIZER_MAX_ID (1 << 23) /* ids at most this: real vocabularies stay below 300,000 */

/* ---- byte-level alphabet ---- */

static bool printable_byte(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

uint32_t byte_level_char(uint8_t b)
{
    if (printable_byte(b)) return b;
    uint32_t k = 0; /* the other 68 bytes, in order, stand for U+0100 onwards */
    for (unsigned c = 0; c < b; c++) k += !printable_byte(c);
    return 256 + k;
}

int byte_level_byte(uint32_t cp)
{
    if (cp < 256) return printable_byte(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t k = cp - 256;
    for (unsigned b = 0; b < 256; b++)
        if (!printable_byte(b) && k-- == 0) return (int)b;
    return -1;
}

/* ---- small strings ---- */

const char *tok_pool_add(struct tokenizer *t, const char *s, size_t n)
{
    struct pool_str *p = qw_malloc(sizeof *p + n + 1);
    if (!p) return NULL;
    memcpy(p->s, s, n);
    p->s[n] = '\0';
    p->next = t->strings;
    t->strings = p;
    return p->s;
}

/* ---- loading ---- */

struct loader {
    struct tokenizer *t;
    const char *name;
    struct qw_err *e;
    size_t bytes_cap;
    int16_t cp_byte[324]; /* byte-level character -> byte */
    struct strmap raw;    /* vocabulary keys as written in the file -> id */
    uint32_t *voff, *vlen; /* each vocabulary entry's decoded bytes, in file order */
};

static bool bytes_reserve(struct loader *ld, size_t extra)
{
    struct tokenizer *t = ld->t;
    size_t need;
    if (!size_add_ok(t->bytes_len, extra, &need) || need > UINT32_MAX) return false;
    if (need <= ld->bytes_cap) return true;
    size_t cap = ld->bytes_cap ? ld->bytes_cap : 1 << 20;
    while (cap < need) cap *= 2;
    char *p = qw_realloc(t->bytes, cap);
    if (!p) return false;
    t->bytes = p;
    ld->bytes_cap = cap;
    return true;
}

/* Sets id's bytes to the ByteLevel decoder's reading of s: every character mapped back to its byte, or s itself
 * when one character is outside the alphabet. */
static bool set_token_bytes(struct loader *ld, int32_t id, const char *s, size_t n)
{
    struct tokenizer *t = ld->t;
    if (!bytes_reserve(ld, n)) return false;
    size_t start = t->bytes_len, k = start;
    bool mapped = true;
    for (size_t i = 0; i < n && mapped;) {
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        int b = len && cp < 324 ? ld->cp_byte[cp] : -1;
        if (b < 0) mapped = false;
        else t->bytes[k++] = (char)b;
        i += len;
    }
    if (!mapped) {
        memcpy(t->bytes + start, s, n);
        k = start + n;
    }
    t->bytes_len = k;
    t->tok_off[id] = (uint32_t)start;
    t->tok_len[id] = (uint32_t)(k - start);
    return true;
}

static qwglm_status check_id(struct loader *ld, const struct json_value *v, const char *what, uint32_t i,
                             int64_t *id)
{
    if (!json_int(v, id) || *id < 0 || *id >= TOKENIZER_MAX_ID)
        return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: %s %u has a bad id", ld->name, what, i);
    return QWGLM_OK;
}

static qwglm_status load_vocab(struct loader *ld, const struct json_value *vocab, const struct json_value *added)
{
    struct tokenizer *t = ld->t;
    int64_t max_id = -1, id;
    for (uint32_t i = 0; i < vocab->n; i++) {
        qwglm_status st = check_id(ld, &vocab->u.members[i].value, "vocabulary entry", i, &id);
        if (st) return st;
        if (id > max_id) max_id = id;
    }
    for (uint32_t i = 0; i < added->n; i++) {
        qwglm_status st = check_id(ld, json_get(&added->u.items[i], "id"), "added token", i, &id);
        if (st) return st;
        if (id > max_id) max_id = id;
    }
    t->n_vocab = (int32_t)(max_id + 1);
    size_t n = t->n_vocab ? (size_t)t->n_vocab : 1;
    t->tok_off = qw_calloc(n, sizeof *t->tok_off);
    t->tok_len = qw_malloc(n * sizeof *t->tok_len);
    t->tok_flags = qw_calloc(n, 1);
    ld->voff = qw_malloc((vocab->n ? vocab->n : 1) * sizeof *ld->voff);
    ld->vlen = qw_malloc((vocab->n ? vocab->n : 1) * sizeof *ld->vlen);
    if (!t->tok_off || !t->tok_len || !t->tok_flags || !ld->voff || !ld->vlen || !strmap_init(&ld->raw, vocab->n))
        return qw_fail(ld->e, QWGLM_ERR_NOMEM, "%s: out of memory", ld->name);
    for (size_t i = 0; i < n; i++) t->tok_len[i] = UINT32_MAX;
    for (uint32_t i = 0; i < vocab->n; i++) {
        const struct json_member *m = &vocab->u.members[i];
        json_int(&m->value, &id);
        if (!set_token_bytes(ld, (int32_t)id, m->key, m->key_len) ||
            !strmap_put(&ld->raw, m->key, m->key_len, (int32_t)id))
            return qw_fail(ld->e, QWGLM_ERR_NOMEM, "%s: out of memory", ld->name);
        ld->voff[i] = t->tok_off[id];
        ld->vlen[i] = t->tok_len[id];
    }
    return QWGLM_OK;
}

static void added_set_index(struct added_set *s, const struct added_token *tok, int index)
{
    s->count++;
    s->first_byte[(unsigned char)tok->content[0] >> 6] |= 1ull << ((unsigned char)tok->content[0] & 63);
    if (tok->len > s->max_len) s->max_len = tok->len;
    if (s->n_lens < 0) return;
    for (int i = 0; i < s->n_lens; i++)
        if (s->lens[i] == tok->len) return;
    if (s->n_lens == 64) {
        s->n_lens = -1;
        return;
    }
    int i = s->n_lens++;
    while (i > 0 && s->lens[i - 1] < tok->len) {
        s->lens[i] = s->lens[i - 1];
        i--;
    }
    s->lens[i] = tok->len;
    (void)index;
}

static qwglm_status load_added(struct loader *ld, const struct json_value *added)
{
    struct tokenizer *t = ld->t;
    t->added = qw_calloc(added->n ? added->n : 1, sizeof *t->added);
    if (!t->added || !strmap_init(&t->added_raw.map, added->n) || !strmap_init(&t->added_norm.map, added->n))
        return qw_fail(ld->e, QWGLM_ERR_NOMEM, "%s: out of memory", ld->name);
    /* the decoded bytes first (the buffer may still move), contents after */
    for (uint32_t i = 0; i < added->n; i++) {
        const struct json_value *a = &added->u.items[i], *c = json_get(a, "content");
        int64_t id;
        json_int(json_get(a, "id"), &id);
        if (!c || c->type != JSON_STRING || c->n == 0)
            return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: added token %u has no content", ld->name, i);
        if (!set_token_bytes(ld, (int32_t)id, c->u.str, c->n))
            return qw_fail(ld->e, QWGLM_ERR_NOMEM, "%s: out of memory", ld->name);
        t->tok_flags[id] |= TOKF_ADDED;
        if (json_get(a, "special") && json_get(a, "special")->b) t->tok_flags[id] |= TOKF_SPECIAL;
    }
    uint32_t *offs = qw_malloc((added->n ? added->n : 1) * sizeof *offs);
    if (!offs) return qw_fail(ld->e, QWGLM_ERR_NOMEM, "%s: out of memory", ld->name);
    qwglm_status st = QWGLM_OK;
    for (uint32_t i = 0; i < added->n && !st; i++) {
        const struct json_value *a = &added->u.items[i], *c = json_get(a, "content");
        bool normalized = json_get(a, "normalized") ? json_get(a, "normalized")->b : !(json_get(a, "special") &&
                                                                                         json_get(a, "special")->b);
        struct qw_str norm = {0};
        const char *text = c->u.str;
        size_t len = c->n;
        if (normalized && t->n_norm) { /* a normalized token is looked for in normalized text, so normalize it */
            if (!tok_normalize(t, text, len, &norm)) st = qw_fail(ld->e, QWGLM_ERR_NOMEM, "out of memory");
            text = norm.data ? norm.data : "";
            len = norm.len;
        }
        if (!st && (len == 0 || !bytes_reserve(ld, len)))
            st = len ? qw_fail(ld->e, QWGLM_ERR_NOMEM, "out of memory")
                     : qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: added token %u normalizes to nothing", ld->name, i);
        if (!st) {
            offs[i] = (uint32_t)t->bytes_len;
            memcpy(t->bytes + t->bytes_len, text, len);
            t->bytes_len += len;
            struct added_token *tok = &t->added[i];
            int64_t id;
            json_int(json_get(a, "id"), &id);
            tok->len = (uint32_t)len;
            tok->id = (int32_t)id;
            tok->special = (t->tok_flags[id] & TOKF_SPECIAL) != 0;
            tok->normalized = normalized;
            const struct json_value *f;
            tok->single_word = (f = json_get(a, "single_word")) && f->type == JSON_BOOL && f->b;
            tok->lstrip = (f = json_get(a, "lstrip")) && f->type == JSON_BOOL && f->b;
            tok->rstrip = (f = json_get(a, "rstrip")) && f->type == JSON_BOOL && f->b;
        }
        qw_str_free(&norm);
    }
    t->n_added = (int)added->n;
    /* now that the buffer is final, point the contents into it and index them */
    for (int i = 0; i < t->n_added && !st; i++) {
        struct added_token *tok = &t->added[i];
        tok->content = t->bytes + offs[i];
        struct added_set *set = tok->normalized && t->n_norm ? &t->added_norm : &t->added_raw;
        if (!strmap_put(&set->map, tok->content, tok->len, i)) st = qw_fail(ld->e, QWGLM_ERR_NOMEM, "out of memory");
        added_set_index(set, tok, i);
    }
    qw_free(offs);
    return st;
}

static qwglm_status load_merges(struct loader *ld, const struct json_value *merges)
{
    struct tokenizer *t = ld->t;
    if (!merges || merges->type != JSON_ARRAY)
        return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: model.merges is not a list", ld->name);
    if (!bpe_merges_init(t, merges->n)) return qw_fail(ld->e, QWGLM_ERR_NOMEM, "%s: out of memory", ld->name);
    struct qw_str cat = {0};
    qwglm_status st = QWGLM_OK;
    for (uint32_t i = 0; i < merges->n && !st; i++) {
        const struct json_value *m = &merges->u.items[i];
        const char *a, *b;
        size_t an, bn;
        if (m->type == JSON_STRING) { /* "a b" (tokenizers before 0.20) */
            const char *sp = memchr(m->u.str, ' ', m->n);
            if (!sp || memchr(sp + 1, ' ', m->n - (size_t)(sp + 1 - m->u.str))) {
                st = qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: merge %u is not two tokens", ld->name, i);
                break;
            }
            a = m->u.str;
            an = (size_t)(sp - a);
            b = sp + 1;
            bn = m->n - an - 1;
        } else if (m->type == JSON_ARRAY && m->n == 2 && m->u.items[0].type == JSON_STRING &&
                   m->u.items[1].type == JSON_STRING) {
            a = m->u.items[0].u.str;
            an = m->u.items[0].n;
            b = m->u.items[1].u.str;
            bn = m->u.items[1].n;
        } else {
            st = qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: merge %u is not a pair of strings", ld->name, i);
            break;
        }
        int32_t ia = strmap_get(&ld->raw, a, an), ib = strmap_get(&ld->raw, b, bn);
        qw_str_clear(&cat);
        qw_str_append(&cat, a, an);
        qw_str_append(&cat, b, bn);
        if (cat.failed) {
            st = qw_fail(ld->e, QWGLM_ERR_NOMEM, "out of memory");
            break;
        }
        int32_t ic = strmap_get(&ld->raw, cat.data, cat.len);
        if (ia < 0 || ib < 0 || ic < 0) {
            st = qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: merge %u ('%.*s' '%.*s') uses a token not in the vocabulary",
                         ld->name, i, (int)(an > 30 ? 30 : an), a, (int)(bn > 30 ? 30 : bn), b);
            break;
        }
        bpe_merges_put(t, ia, ib, i, ic);
    }
    qw_str_free(&cat);
    return st;
}

static qwglm_status check_decoder(struct loader *ld, const struct json_value *d)
{
    if (json_is_null(d)) return QWGLM_OK;
    const char *type = json_string(json_get(d, "type"));
    if (type && strcmp(type, "ByteLevel") == 0) return QWGLM_OK;
    if (type && strcmp(type, "Sequence") == 0) {
        const struct json_value *list = json_get(d, "decoders");
        for (uint32_t i = 0; list && list->type == JSON_ARRAY && i < list->n; i++) {
            qwglm_status st = check_decoder(ld, &list->u.items[i]);
            if (st) return st;
        }
        return QWGLM_OK;
    }
    return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: decoder '%s' is not supported (byte-level BPE only)", ld->name,
                   type ? type : "?");
}

static qwglm_status load_model(struct loader *ld, const struct json_value *root)
{
    struct tokenizer *t = ld->t;
    const struct json_value *model = json_get(root, "model"), *added = json_get(root, "added_tokens");
    static const struct json_value empty = {.type = JSON_ARRAY};
    if (json_is_null(added)) added = &empty;
    if (!model || model->type != JSON_OBJECT) return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: no model", ld->name);
    if (added->type != JSON_ARRAY) return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: added_tokens is not a list", ld->name);
    const char *type = json_string(json_get(model, "type"));
    if (type && strcmp(type, "BPE") != 0)
        return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: model type '%s' is not supported (BPE only)", ld->name, type);
    const struct json_value *vocab = json_get(model, "vocab");
    if (!vocab || vocab->type != JSON_OBJECT)
        return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: model.vocab is not an object", ld->name);
    const char *prefix = json_string(json_get(model, "continuing_subword_prefix"));
    const char *suffix = json_string(json_get(model, "end_of_word_suffix"));
    double dropout = 0;
    if ((prefix && *prefix) || (suffix && *suffix) ||
        (json_number(json_get(model, "dropout"), &dropout) && dropout > 0))
        return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: BPE subword prefix/suffix and dropout are not supported",
                       ld->name);
    qwglm_status st;
    if ((st = tok_parse_normalizer(t, json_get(root, "normalizer"), ld->name, ld->e))) return st;
    if ((st = tok_parse_pretokenizer(t, json_get(root, "pre_tokenizer"), ld->name, ld->e))) return st;
    if ((st = check_decoder(ld, json_get(root, "decoder")))) return st;
    if (!t->byte_level)
        return qw_fail(ld->e, QWGLM_ERR_FORMAT, "%s: no ByteLevel pre-tokenizer (byte-level BPE only)", ld->name);
    if ((st = load_vocab(ld, vocab, added))) return st;
    if ((st = load_merges(ld, json_get(model, "merges")))) return st;
    const struct json_value *f;
    t->ignore_merges = (f = json_get(model, "ignore_merges")) && f->type == JSON_BOOL && f->b;
    t->fuse_unk = (f = json_get(model, "fuse_unk")) && f->type == JSON_BOOL && f->b;
    t->byte_fallback = (f = json_get(model, "byte_fallback")) && f->type == JSON_BOOL && f->b;
    const struct json_value *unk = json_get(model, "unk_token");
    t->unk_id = unk && unk->type == JSON_STRING ? strmap_get(&ld->raw, unk->u.str, unk->n) : -1;
    if ((st = load_added(ld, added))) return st;
    /* the byte buffer is final: index the vocabulary by bytes */
    if (!strmap_init(&t->vocab, vocab->n)) return qw_fail(ld->e, QWGLM_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < vocab->n; i++) {
        int64_t id;
        json_int(&vocab->u.members[i].value, &id);
        if (!strmap_put(&t->vocab, t->bytes + ld->voff[i], ld->vlen[i], (int32_t)id))
            return qw_fail(ld->e, QWGLM_ERR_NOMEM, "out of memory");
    }
    for (int b = 0; b < 256; b++) {
        char c = (char)b, hex[8];
        t->byte_id[b] = strmap_get(&t->vocab, &c, 1);
        if (t->byte_id[b] < 0 && t->byte_fallback) {
            snprintf(hex, sizeof hex, "<0x%02X>", b);
            t->byte_id[b] = strmap_get(&ld->raw, hex, strlen(hex));
        }
    }
    return QWGLM_OK;
}

qwglm_status tokenizer_load(const char *json, size_t n, const char *config, size_t config_n, const char *name,
                            struct tokenizer **out, struct qw_err *e)
{
    *out = NULL;
    struct tokenizer *t = qw_calloc(1, sizeof *t);
    if (!t) return qw_fail(e, QWGLM_ERR_NOMEM, "out of memory");
    struct loader ld = {.t = t, .name = name ? name : "tokenizer.json", .e = e};
    for (int i = 0; i < 324; i++) ld.cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) ld.cp_byte[byte_level_char((uint8_t)b)] = (int16_t)b;
    struct json_doc doc;
    qwglm_status st = json_parse(json, n, &doc, e);
    if (st) {
        tokenizer_free(t);
        return st;
    }
    st = doc.root.type == JSON_OBJECT ? load_model(&ld, &doc.root)
                                      : qw_fail(e, QWGLM_ERR_FORMAT, "%s: not a JSON object", ld.name);
    json_doc_free(&doc);
    strmap_free(&ld.raw);
    qw_free(ld.voff);
    qw_free(ld.vlen);
    if (!st && config) {
        st = json_parse(config, config_n, &doc, e);
        if (!st) {
            const struct json_value *c = json_get(&doc.root, "clean_up_tokenization_spaces");
            t->clean_up_spaces = c && c->type == JSON_BOOL && c->b;
            json_doc_free(&doc);
        }
    }
    if (st) {
        tokenizer_free(t);
        return st;
    }
    *out = t;
    return QWGLM_OK;
}

qwglm_status tokenizer_load_dir(const char *dir, struct tokenizer **out, struct qw_err *e)
{
    *out = NULL;
    char path[4096], cpath[4096];
    if (!qw_path_join(path, sizeof path, dir, "tokenizer.json") ||
        !qw_path_join(cpath, sizeof cpath, dir, "tokenizer_config.json"))
        return qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", dir);
    char *json = NULL, *config = NULL;
    size_t n = 0, cn = 0;
    qwglm_status st = qw_read_file(path, TOKENIZER_MAX_FILE, &json, &n, e);
    if (!st && qw_file_exists(cpath)) st = qw_read_file(cpath, CONFIG_MAX_FILE, &config, &cn, e);
    if (!st) st = tokenizer_load(json, n, config, cn, path, out, e);
    qw_free(json);
    qw_free(config);
    return st;
}

void tokenizer_free(struct tokenizer *t)
{
    if (!t) return;
    tok_steps_free(t);
    qw_free(t->bytes);
    qw_free(t->tok_off);
    qw_free(t->tok_len);
    qw_free(t->tok_flags);
    strmap_free(&t->vocab);
    qw_free(t->merges);
    qw_free(t->added);
    strmap_free(&t->added_raw.map);
    strmap_free(&t->added_norm.map);
    while (t->strings) {
        struct pool_str *p = t->strings;
        t->strings = p->next;
        qw_free(p);
    }
    qw_free(t);
}

/* ---- added tokens ---- */

/* The leftmost-longest added token of set at or after from: its index, and its start in *at; -1 if none. */
static int find_added(const struct tokenizer *t, const struct added_set *set, const char *s, size_t n, size_t from,
                      size_t *at)
{
    if (!set->count) return -1;
    for (size_t i = from; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((set->first_byte[c >> 6] >> (c & 63)) & 1)) continue;
        if (set->n_lens >= 0) {
            for (int k = 0; k < set->n_lens; k++) {
                uint32_t len = set->lens[k];
                if (len > n - i) continue;
                int32_t idx = strmap_get(&set->map, s + i, len);
                if (idx >= 0) {
                    *at = i;
                    return idx;
                }
            }
        } else {
            for (size_t len = set->max_len < n - i ? set->max_len : n - i; len > 0; len--) {
                int32_t idx = strmap_get(&set->map, s + i, len);
                if (idx >= 0) {
                    *at = i;
                    return idx;
                }
            }
        }
    }
    (void)t;
    return -1;
}

/* Word characters for single_word, as the regex crate's \w: Alphabetic, marks, decimal digits, connector
 * punctuation and the joiners. */
static bool word_char(uint32_t cp)
{
    if (cp >= UNI_BAD_BYTE) return false;
    int c = uni_cat(cp);
    return (uni_get(cp)->flags & UNI_ALPHABETIC) || (c >= UNI_MN && c <= UNI_ME) || c == UNI_ND || c == UNI_PC ||
           cp == 0x200c || cp == 0x200d;
}

typedef qwglm_status (*piece_fn)(struct encoder *enc, const char *s, size_t n);

/* Splits s on the added tokens of set as the reference's split_with_indices does: tokens become ids, the text
 * between them goes to fn. */
static qwglm_status split_added(struct encoder *enc, const struct added_set *set, const char *s, size_t n,
                                piece_fn fn)
{
    const struct tokenizer *t = enc->t;
    size_t start_offset = 0, from = 0, ms;
    qwglm_status st = QWGLM_OK;
    int idx;
    while (!st && (idx = find_added(t, set, s, n, from, &ms)) >= 0) {
        const struct added_token *tok = &t->added[idx];
        size_t start = ms, stop = ms + tok->len;
        uint32_t cp;
        from = stop;
        if (tok->single_word) {
            bool before = start > 0 && (uni_next(s + start - uni_prev_len(s, start), uni_prev_len(s, start), &cp),
                                        word_char(cp));
            bool after = stop < n && (uni_next(s + stop, n - stop, &cp), word_char(cp));
            if (before || after) continue;
        }
        if (tok->lstrip) {
            while (start > start_offset) {
                size_t len = uni_prev_len(s, start);
                uni_next(s + start - len, len, &cp);
                if (!uni_is_space(cp)) break;
                start -= len;
            }
        }
        if (tok->rstrip) {
            while (stop < n) {
                size_t len = uni_next(s + stop, n - stop, &cp);
                if (!uni_is_space(cp)) break;
                stop += len;
            }
        }
        if (start_offset < start) st = fn(enc, s + start_offset, start - start_offset);
        if (!st && !tok_ids_push(enc->out, tok->id)) st = qw_fail(enc->e, QWGLM_ERR_NOMEM, "out of memory");
        start_offset = stop;
    }
    if (!st && start_offset < n) st = fn(enc, s + start_offset, n - start_offset);
    return st;
}

/* ---- encoding ---- */

static qwglm_status pretokenize_piece(struct encoder *enc, const char *s, size_t n)
{
    return tok_pretokenize(enc, 0, s, n);
}

static qwglm_status normalize_piece(struct encoder *enc, const char *s, size_t n)
{
    const struct tokenizer *t = enc->t;
    if (t->n_norm == 0) return split_added(enc, &t->added_norm, s, n, pretokenize_piece);
    struct qw_str norm = {0};
    if (!tok_normalize(t, s, n, &norm)) {
        qw_str_free(&norm);
        return qw_fail(enc->e, QWGLM_ERR_NOMEM, "tokenizer: out of memory normalizing %zu bytes", n);
    }
    qwglm_status st = split_added(enc, &t->added_norm, norm.data ? norm.data : "", norm.len, pretokenize_piece);
    qw_str_free(&norm);
    return st;
}

qwglm_status tokenizer_encode(const struct tokenizer *t, const char *text, size_t n, struct tok_ids *out,
                              struct qw_err *e)
{
    struct encoder enc = {.t = t, .out = out, .e = e};
    qwglm_status st = split_added(&enc, &t->added_raw, text, n, normalize_piece);
    regex_vm_free(&enc.vm);
    for (int i = 0; i < TOK_MAX_STEPS; i++) qw_str_free(&enc.scratch[i]);
    bpe_encoder_free(&enc);
    return st;
}

/* ---- decoding ---- */

/* Bytes of the UTF-8 sequence that s[0] starts, and how many of s[0..n) belong to it validly (at most that). */
static size_t utf8_prefix(const unsigned char *s, size_t n, size_t *want)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) *want = 2;
    else if (c >= 0xe0 && c <= 0xef) *want = 3;
    else if (c >= 0xf0 && c <= 0xf4) *want = 4;
    else {
        *want = 1;
        return c < 0x80 ? 1 : 0;
    }
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f;
    else if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f;
    size_t k = 1;
    while (k < *want && k < n) {
        unsigned char d = s[k];
        if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xbf)) break;
        k++;
    }
    return k;
}

bool utf8_lossy_append(struct qw_str *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* s[run..i) is valid and not yet copied */
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t want, k = utf8_prefix(u + i, n - i, &want);
        if (k == want) {
            i += k;
            continue;
        }
        if (!qw_str_append(out, s + run, i - run) || !qw_str_append(out, "\xef\xbf\xbd", 3)) return false;
        i += k ? k : 1;
        run = i;
    }
    return qw_str_append(out, s + run, i - run);
}

size_t utf8_complete_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        size_t i = n - back;
        if ((u[i] & 0xc0) == 0x80) continue;
        size_t want, k = utf8_prefix(u + i, back, &want);
        return k == back && want > back ? i : n; /* a valid start still waiting for bytes */
    }
    return n;
}

static bool replace_all(struct qw_str *s, const char *from, const char *to)
{
    size_t fn = strlen(from), tn = strlen(to);
    if (!s->data || !memmem(s->data, s->len, from, fn)) return true;
    struct qw_str r = {0};
    size_t i = 0;
    while (i < s->len) {
        const char *hit = memmem(s->data + i, s->len - i, from, fn);
        if (!hit) break;
        size_t at = (size_t)(hit - s->data);
        qw_str_append(&r, s->data + i, at - i);
        qw_str_append(&r, to, tn);
        i = at + fn;
    }
    qw_str_append(&r, s->data + i, s->len - i);
    if (r.failed || !r.data) {
        qw_str_free(&r);
        return false;
    }
    qw_free(s->data);
    s->data = r.data;
    s->len = r.len;
    s->cap = r.cap;
    return true;
}

/* transformers' clean_up_tokenization, on the text decoded into out from offset start. */
static bool clean_up(struct qw_str *out, size_t start)
{
    static const char *pairs[][2] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                     {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"},
                                     {" 're", "'re"}};
    struct qw_str tail = {0};
    if (!qw_str_append(&tail, out->data ? out->data + start : "", out->len - start)) return false;
    bool ok = true;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0] && ok; i++) ok = replace_all(&tail, pairs[i][0], pairs[i][1]);
    out->len = start;
    ok = ok && qw_str_append(out, tail.data ? tail.data : "", tail.len);
    qw_str_free(&tail);
    return ok;
}

qwglm_status tokenizer_decode(const struct tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                              struct qw_str *out, struct qw_err *e)
{
    struct qw_str raw = {0};
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *b = tokenizer_token_bytes(t, ids[i], &len);
        if (!b || (skip_special && tokenizer_is_special(t, ids[i]))) continue;
        if (!qw_str_append(&raw, b, len)) break;
    }
    size_t start = out->len;
    bool ok = !raw.failed && utf8_lossy_append(out, raw.data ? raw.data : "", raw.len);
    qw_str_free(&raw);
    if (ok && t->clean_up_spaces) ok = clean_up(out, start);
    return ok ? QWGLM_OK : qw_fail(e, QWGLM_ERR_NOMEM, "tokenizer: out of memory decoding %zu ids", n);
}

/* ---- queries ---- */

int32_t tokenizer_n_vocab(const struct tokenizer *t) { return t->n_vocab; }

int32_t tokenizer_token_id(const struct tokenizer *t, const char *s, size_t n)
{
    int32_t i = strmap_get(&t->added_raw.map, s, n);
    if (i >= 0) return t->added[i].id;
    if ((i = strmap_get(&t->added_norm.map, s, n)) >= 0) return t->added[i].id;
    return strmap_get(&t->vocab, s, n);
}

const char *tokenizer_token_bytes(const struct tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab || t->tok_len[id] == UINT32_MAX) return NULL;
    *len = t->tok_len[id];
    return t->bytes + t->tok_off[id];
}

bool tokenizer_is_special(const struct tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->tok_flags[id] & TOKF_SPECIAL);
}

bool tokenizer_cleans_up_spaces(const struct tokenizer *t) { return t->clean_up_spaces; }

/* ---- streaming ---- */

void detok_init(struct detok *d, const struct tokenizer *t, bool skip_special)
{
    memset(d, 0, sizeof *d);
    d->t = t;
    d->skip_special = skip_special;
}

bool detok_push(struct detok *d, int32_t id, struct qw_str *out)
{
    size_t len;
    const char *b = tokenizer_token_bytes(d->t, id, &len);
    if (!b || (d->skip_special && tokenizer_is_special(d->t, id))) return true;
    /* join the held-back bytes with the start of this token, emit what is complete, keep the rest */
    size_t head = len < 4 ? len : 4;
    char buf[12];
    memcpy(buf, d->pending, d->n_pending);
    memcpy(buf + d->n_pending, b, head);
    size_t m = d->n_pending + head;
    if (head == len) {
        size_t keep = m - utf8_complete_prefix(buf, m);
        bool ok = utf8_lossy_append(out, buf, m - keep);
        memcpy(d->pending, buf + m - keep, keep);
        d->n_pending = keep;
        return ok;
    }
    /* a long token: the pending bytes combine only with its first few bytes; find where that sequence ends */
    size_t i = 0;
    while (i < d->n_pending) {
        size_t want, k = utf8_prefix((const unsigned char *)buf + i, m - i, &want);
        i += k == want ? k : (k ? k : 1);
    }
    size_t skip = i - d->n_pending; /* bytes of the token consumed together with the pending ones */
    bool ok = utf8_lossy_append(out, buf, i);
    size_t cut = skip + utf8_complete_prefix(b + skip, len - skip);
    ok = ok && utf8_lossy_append(out, b + skip, cut - skip);
    d->n_pending = len - cut;
    memcpy(d->pending, b + cut, d->n_pending);
    return ok;
}

bool detok_flush(struct detok *d, struct qw_str *out)
{
    bool ok = utf8_lossy_append(out, d->pending, d->n_pending);
    d->n_pending = 0;
    return ok;
}
