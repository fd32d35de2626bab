/* The pieces of a Parakeet tokenizer.json (SentencePiece BPE converted to the tokenizers format) and the
 * Metaspace decoding transformers applies: pieces joined, U+2581 shown as a space, the first token's leading space
 * dropped, special tokens skipped. Encoding is not needed for recognition. */
#include <stdio.h>
#include <string.h>

#include "asr_impl.h"
#include "base/mem.h"
#include "format/json.h"

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }

/* The piece as text: U+2581 -> ' '; with byte fallback, <0xNN> -> that byte. */
static char *piece_text(const char *p, size_t n, bool byte_fallback)
{
    if (byte_fallback && n == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && is_hex(p[3]) && is_hex(p[4]) &&
        p[5] == '>') {
        char *s = qw_malloc(2);
        if (!s) return NULL;
        unsigned v;
        sscanf(p + 3, "%2x", &v);
        s[0] = (char)v;
        s[1] = 0;
        return s;
    }
    char *s = qw_malloc(n + 1), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && (unsigned char)p[i] == 0xe2 && (unsigned char)p[i + 1] == 0x96 &&
            (unsigned char)p[i + 2] == 0x81) {
            *o++ = ' ';
            i += 3;
        } else {
            *o++ = p[i++];
        }
    }
    *o = 0;
    return s;
}

static bool decoder_has_byte_fallback(const struct json_value *dec)
{
    if (!dec || dec->type != JSON_OBJECT) return false;
    const char *type = json_string(json_get(dec, "type"));
    if (type && strcmp(type, "ByteFallback") == 0) return true;
    const struct json_value *list = json_get(dec, "decoders");
    if (list && list->type == JSON_ARRAY)
        for (uint32_t i = 0; i < list->n; i++)
            if (decoder_has_byte_fallback(&list->u.items[i])) return true;
    return false;
}

qwglm_status asr_vocab_load(struct asr_vocab *v, const char *dir, int n_vocab, struct qw_err *e)
{
    memset(v, 0, sizeof *v);
    char path[4096];
    if (!qw_path_join(path, sizeof path, dir, "tokenizer.json")) return qw_fail(e, QWGLM_ERR_ARG, "path too long");
    char *text;
    size_t n;
    qwglm_status rc = qw_read_file(path, 64u << 20, &text, &n, e);
    if (rc) return rc;
    struct json_doc doc;
    rc = json_parse(text, n, &doc, e);
    qw_free(text);
    if (rc) return qw_fail(e, rc, "%s: invalid JSON", path);
    v->n = n_vocab;
    v->text = qw_calloc((size_t)n_vocab, sizeof *v->text);
    v->special = qw_calloc((size_t)n_vocab, sizeof *v->special);
    if (!v->text || !v->special) {
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "vocabulary");
        goto done;
    }
    const struct json_value *model = json_get(&doc.root, "model"), *vocab = json_get(model, "vocab");
    if (!vocab || vocab->type != JSON_OBJECT) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: no model.vocab object", path);
        goto done;
    }
    bool bf = decoder_has_byte_fallback(json_get(&doc.root, "decoder"));
    for (uint32_t i = 0; i < vocab->n; i++) {
        const struct json_member *mb = &vocab->u.members[i];
        int64_t id;
        if (!json_int(&mb->value, &id)) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: vocab entry %u has no integer id", path, i);
            goto done;
        }
        if (id < 0 || id >= n_vocab || v->text[id]) continue; /* pieces the model cannot emit */
        if (!(v->text[id] = piece_text(mb->key, mb->key_len, bf))) {
            rc = qw_fail(e, QWGLM_ERR_NOMEM, "vocabulary");
            goto done;
        }
    }
    const struct json_value *added = json_get(&doc.root, "added_tokens");
    if (added && added->type == JSON_ARRAY)
        for (uint32_t i = 0; i < added->n; i++) {
            const struct json_value *t = &added->u.items[i];
            int64_t id;
            const struct json_value *content = json_get(t, "content");
            if (!json_int(json_get(t, "id"), &id) || !content || content->type != JSON_STRING) continue;
            if (id < 0 || id >= n_vocab) continue;
            const struct json_value *sp = json_get(t, "special");
            v->special[id] = sp && sp->type == JSON_BOOL && sp->b;
            qw_free(v->text[id]);
            if (!(v->text[id] = qw_strndup(content->u.str, content->n))) {
                rc = qw_fail(e, QWGLM_ERR_NOMEM, "vocabulary");
                goto done;
            }
        }
    for (int i = 0; i < n_vocab; i++)
        if (!v->text[i] && !(v->text[i] = qw_strndup("", 0))) {
            rc = qw_fail(e, QWGLM_ERR_NOMEM, "vocabulary");
            goto done;
        }
done:
    json_doc_free(&doc);
    if (rc) asr_vocab_free(v);
    return rc;
}

void asr_vocab_free(struct asr_vocab *v)
{
    if (v->text)
        for (int i = 0; i < v->n; i++) qw_free(v->text[i]);
    qw_free(v->text);
    qw_free(v->special);
    memset(v, 0, sizeof *v);
}

/* Unicode general category P (punctuation) for the characters a tokenizer piece can hold: ASCII, Latin-1 and the
 * General Punctuation, CJK and full-width blocks. */
static bool is_punct(uint32_t c)
{
    if (c < 128) return c != '$' && c != '+' && c != '<' && c != '=' && c != '>' && c != '^' && c != '`' &&
                        c != '|' && c != '~' && ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
                                                 (c >= 123 && c <= 126));
    if (c == 0xa1 || c == 0xa7 || c == 0xab || c == 0xb6 || c == 0xb7 || c == 0xbb || c == 0xbf) return true;
    if (c >= 0x2010 && c <= 0x2027) return true;
    if (c >= 0x2030 && c <= 0x205e && c != 0x2044 && c != 0x2052) return true;
    if (c >= 0x3001 && c <= 0x3003) return true;
    if (c >= 0x3008 && c <= 0x3011) return true;
    if (c >= 0xff01 && c <= 0xff0f && c != 0xff04 && c != 0xff0b) return true;
    if (c == 0xff1a || c == 0xff1b || c == 0xff1f) return true;
    return false;
}

bool asr_text_is_punct(const char *s)
{
    while (*s == ' ') s++;
    if (!*s) return false;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_decode(s + i, n - i, &cp);
        if (!l || !is_punct(cp)) return false;
        i += l;
    }
    return true;
}
