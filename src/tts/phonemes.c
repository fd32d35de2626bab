#include "phonemes.h"

#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "nfd.h"

#ifdef QWGLM_HAVE_ESPEAK
#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#endif

/* ---- config ---- */

static bool get_number(const struct json_value *obj, const char *a, const char *b, double *out)
{
    const struct json_value *v = json_get(obj, a);
    if (b) v = json_get(v, b);
    return json_number(v, out);
}

/* ids of map[key] into dst ([0] = count). */
static qwglm_status read_ids(const char *name, const char *key, const struct json_value *v, int32_t *dst,
                             int *max_id, struct qw_err *e)
{
    if (!v || v->type != JSON_ARRAY || v->n < 1 || v->n > PIPER_MAX_PHONEME_IDS)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: phoneme_id_map['%s'] is not a list of 1 to %d ids", name, key,
                       PIPER_MAX_PHONEME_IDS);
    dst[0] = (int32_t)v->n;
    for (uint32_t i = 0; i < v->n; i++) {
        int64_t id;
        if (!json_int(&v->u.items[i], &id) || id < 0 || id > 1 << 20)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: phoneme_id_map['%s'] holds a bad id", name, key);
        dst[i + 1] = (int32_t)id;
        if (id > *max_id) *max_id = (int)id;
    }
    return QWGLM_OK;
}

qwglm_status piper_config_parse(struct piper_config *c, const char *json, size_t n, const char *name,
                                struct qw_err *e)
{
    memset(c, 0, sizeof *c);
    qwglm_status rc = json_parse(json, n, &c->doc, e);
    if (rc) return rc;
    const struct json_value *root = &c->doc.root;
    double v;
    if (root->type != JSON_OBJECT) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: not a JSON object", name);
        goto fail;
    }
    c->sample_rate = get_number(root, "audio", "sample_rate", &v) ? (int)v : 22050;
    if (c->sample_rate < 1000 || c->sample_rate > 192000) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: audio.sample_rate %d out of range", name, c->sample_rate);
        goto fail;
    }
    c->num_symbols = get_number(root, "num_symbols", NULL, &v) ? (int)v : 0;
    c->num_speakers = get_number(root, "num_speakers", NULL, &v) ? (int)v : 1;
    if (c->num_speakers < 1 || c->num_speakers > 1 << 20) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: num_speakers %d out of range", name, c->num_speakers);
        goto fail;
    }
    c->noise_scale = get_number(root, "inference", "noise_scale", &v) ? (float)v : 0.667f;
    c->length_scale = get_number(root, "inference", "length_scale", &v) ? (float)v : 1.0f;
    c->noise_w = get_number(root, "inference", "noise_w", &v) ? (float)v : 0.8f;
    const char *type = json_string(json_get(root, "phoneme_type"));
    if (!type || strcmp(type, "espeak") == 0) {
        c->phoneme_type = PIPER_PHONEMES_ESPEAK;
    } else if (strcmp(type, "text") == 0) {
        c->phoneme_type = PIPER_PHONEMES_TEXT;
    } else {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: phoneme_type '%s' is not supported (espeak, text)", name, type);
        goto fail;
    }
    c->espeak_voice = json_string(json_get(json_get(root, "espeak"), "voice"));
    if (!c->espeak_voice) c->espeak_voice = "en-us";
    c->phoneme_map = json_get(root, "phoneme_map");
    if (c->phoneme_map && c->phoneme_map->type != JSON_OBJECT) c->phoneme_map = NULL;
    c->speaker_id_map = json_get(root, "speaker_id_map");
    if (c->speaker_id_map && c->speaker_id_map->type != JSON_OBJECT) c->speaker_id_map = NULL;

    const struct json_value *map = json_get(root, "phoneme_id_map");
    if (!map || map->type != JSON_OBJECT || map->n == 0) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: no phoneme_id_map (not a Piper voice config?)", name);
        goto fail;
    }
    c->ids = qw_calloc(map->n, sizeof *c->ids);
    if (!c->ids || !strmap_init(&c->id_map, map->n)) {
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "%s: phoneme map", name);
        goto fail;
    }
    for (uint32_t i = 0; i < map->n; i++) {
        const struct json_member *mb = &map->u.members[i];
        if ((rc = read_ids(name, mb->key, &mb->value, c->ids[i], &c->max_id, e))) goto fail;
        if (!strmap_put(&c->id_map, mb->key, mb->key_len, (int32_t)i)) {
            rc = qw_fail(e, QWGLM_ERR_NOMEM, "%s: phoneme map", name);
            goto fail;
        }
    }
    c->n_ids = (int)map->n;
    const char *special[3] = {"_", "^", "$"};
    int32_t *dst[3] = {c->pad, c->bos, c->eos};
    for (int k = 0; k < 3; k++) {
        int32_t i = strmap_get(&c->id_map, special[k], 1);
        if (i < 0) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: phoneme_id_map has no '%s'", name, special[k]);
            goto fail;
        }
        memcpy(dst[k], c->ids[i], sizeof c->pad);
    }
    if (c->num_symbols && c->max_id >= c->num_symbols) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: phoneme id %d is not below num_symbols %d", name, c->max_id,
                     c->num_symbols);
        goto fail;
    }
    return QWGLM_OK;
fail:
    piper_config_free(c);
    return rc;
}

void piper_config_free(struct piper_config *c)
{
    if (!c) return;
    json_doc_free(&c->doc);
    strmap_free(&c->id_map);
    qw_free(c->ids);
    memset(c, 0, sizeof *c);
}

int piper_speaker_id(const struct piper_config *c, const char *name)
{
    int64_t id;
    if (!c->speaker_id_map || !json_int(json_get(c->speaker_id_map, name), &id) || id < 0 || id > 1 << 20) return -1;
    return (int)id;
}

/* ---- phonemes -> ids ---- */

void piper_ids_free(struct piper_ids *ids)
{
    qw_free(ids->v);
    memset(ids, 0, sizeof *ids);
}

static qwglm_status ids_append(struct piper_ids *ids, const int32_t *list, struct qw_err *e)
{
    int n = list[0];
    if (ids->n + n > ids->max)
        return qw_fail(e, QWGLM_ERR_ARG, "a sentence of more than %d phoneme ids (too long without punctuation)",
                       ids->max);
    if (ids->n + n > ids->cap) {
        int nc = ids->cap ? ids->cap * 2 : 256;
        while (nc < ids->n + n) nc *= 2;
        int32_t *p = qw_realloc(ids->v, (size_t)nc * sizeof *p);
        if (!p) return qw_fail(e, QWGLM_ERR_NOMEM, "phoneme ids");
        ids->v = p;
        ids->cap = nc;
    }
    memcpy(ids->v + ids->n, list + 1, (size_t)n * sizeof(int32_t));
    ids->n += n;
    return QWGLM_OK;
}

qwglm_status piper_phonemes_to_ids(const struct piper_config *c, const uint32_t *cps, size_t n,
                                   struct piper_ids *ids, struct qw_err *e)
{
    ids->n = 0;
    ids->missing = 0;
    if (ids->max <= 0) ids->max = 1 << 16;
    qwglm_status rc;
    if ((rc = ids_append(ids, c->bos, e)) || (rc = ids_append(ids, c->pad, e))) return rc;
    for (size_t i = 0; i < n; i++) {
        char key[4];
        size_t len = utf8_encode(cps[i], key);
        int32_t k = strmap_get(&c->id_map, key, len);
        if (k < 0) {
            if (ids->missing++ == 0) ids->first_missing = cps[i];
            continue;
        }
        if ((rc = ids_append(ids, c->ids[k], e)) || (rc = ids_append(ids, c->pad, e))) return rc;
    }
    return ids_append(ids, c->eos, e);
}

qwglm_status piper_phoneme_string_to_ids(const struct piper_config *c, const char *s, size_t n,
                                         struct piper_ids *ids, struct qw_err *e)
{
    size_t cap;
    if (!size_mul_ok(n, NFD_MAX_EXPANSION, &cap) || cap > (1u << 26))
        return qw_fail(e, QWGLM_ERR_ARG, "phoneme string of %zu bytes is too long", n);
    uint32_t *cps = qw_malloc((cap + 1) * sizeof *cps);
    if (!cps) return qw_fail(e, QWGLM_ERR_NOMEM, "phonemes");
    size_t m = nfd_decompose(s, n, cps, cap);
    qwglm_status rc = piper_phonemes_to_ids(c, cps, m < cap ? m : cap, ids, e);
    qw_free(cps);
    return rc;
}

/* ---- text -> sentences ---- */

/* A sentence being built: code points with a maximum. */
struct sentence {
    uint32_t *v;
    size_t n, cap, max;
};

static bool sent_put(struct sentence *s, uint32_t cp)
{
    if (s->n == s->cap) {
        if (s->cap >= s->max) return false;
        size_t nc = s->cap ? s->cap * 2 : 256;
        if (nc > s->max) nc = s->max;
        uint32_t *p = qw_realloc(s->v, nc * sizeof *p);
        if (!p) return false;
        s->v = p;
        s->cap = nc;
    }
    s->v[s->n++] = cp;
    return true;
}

/* Appends a clause's phonemes: NFD, the config's phoneme_map, language-switch flags "(en)" dropped. */
static bool sent_clause(struct sentence *s, const struct piper_config *c, const char *ipa, size_t len)
{
    uint32_t buf[1024];
    size_t need = nfd_decompose(ipa, len, buf, sizeof buf / sizeof buf[0]);
    uint32_t *cps = buf;
    if (need > sizeof buf / sizeof buf[0]) {
        if (need > s->max) return false;
        cps = qw_malloc(need * sizeof *cps);
        if (!cps) return false;
        nfd_decompose(ipa, len, cps, need);
    }
    bool ok = true;
    int depth = 0;
    for (size_t i = 0; ok && i < need; i++) {
        uint32_t cp = cps[i];
        if (cp == '(') depth++;
        if (depth > 0) {
            if (cp == ')') depth--;
            continue;
        }
        char key[5] = {0};
        utf8_encode(cp, key);
        const struct json_value *sub = c->phoneme_map ? json_get(c->phoneme_map, key) : NULL;
        if (sub && sub->type == JSON_ARRAY) { /* each item is a phoneme string */
            for (uint32_t k = 0; ok && k < sub->n; k++) {
                const char *z = json_string(&sub->u.items[k]);
                for (size_t b = 0; ok && z && z[b];) {
                    uint32_t r;
                    size_t l = utf8_decode(z + b, strlen(z + b), &r);
                    if (!l) break;
                    ok = sent_put(s, r);
                    b += l;
                }
            }
        } else {
            ok = sent_put(s, cp);
        }
    }
    if (cps != buf) qw_free(cps);
    return ok;
}

static qwglm_status phonemize_text(const struct piper_config *c, const char *text, size_t n, piper_sentence_fn fn,
                                   void *user, struct sentence *s, struct qw_err *e)
{
    /* phoneme_type "text": lower-cased (ASCII), NFD code points, one sentence */
    char *low = qw_malloc(n + 1);
    if (!low) return qw_fail(e, QWGLM_ERR_NOMEM, "text");
    for (size_t i = 0; i < n; i++) low[i] = text[i] >= 'A' && text[i] <= 'Z' ? (char)(text[i] + 32) : text[i];
    bool ok = sent_clause(s, c, low, n);
    qw_free(low);
    if (!ok) return qw_fail(e, QWGLM_ERR_ARG, "text too long");
    if (s->n && fn(s->v, s->n, user)) return qw_fail(e, QWGLM_ERR_CANCELLED, "cancelled");
    return QWGLM_OK;
}

#ifdef QWGLM_HAVE_ESPEAK
/* espeak-ng keeps process-wide state (one voice, one translator): every use goes through this lock. */
static pthread_mutex_t espeak_lock = PTHREAD_MUTEX_INITIALIZER;
static int espeak_sample_rate; /* > 0 once initialised */

const char *piper_espeak_version(void)
{
    const char *path;
    return espeak_Info(&path);
}

/* Piper appends the clause's terminator punctuation (espeak reports it with the terminator API, which espeak-ng
 * 1.51 lacks): here it is read from the end of the text the clause consumed. Closing quotes and brackets are
 * looked through; an ellipsis adds nothing. Returns the mark, or 0. */
static char clause_terminator(const char *start, const char *end)
{
    while (end > start) {
        char ch = end[-1];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '"' || ch == '\'' || ch == ')' ||
            ch == ']' || ch == '}')
            end--;
        else
            break;
    }
    if (end == start) return 0;
    char ch = end[-1];
    if (ch == '.' && end - start >= 3 && end[-2] == '.' && end[-3] == '.') return 0;
    return strchr(".?!,:;", ch) && ch ? ch : 0;
}

static qwglm_status phonemize_espeak(const struct piper_config *c, const char *text, piper_sentence_fn fn,
                                     void *user, struct sentence *s, struct qw_err *e)
{
    qwglm_status rc = QWGLM_OK;
    pthread_mutex_lock(&espeak_lock);
    if (espeak_sample_rate <= 0) espeak_sample_rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, 0);
    if (espeak_sample_rate <= 0) {
        rc = qw_fail(e, QWGLM_ERR_IO, "espeak-ng: cannot initialise (espeak-ng-data not installed?)");
        goto done;
    }
    if (espeak_SetVoiceByName(c->espeak_voice) != EE_OK) {
        rc = qw_fail(e, QWGLM_ERR_ARG, "espeak-ng: no voice '%s'", c->espeak_voice);
        goto done;
    }
    const void *p = text;
    const char *end = text + strlen(text);
    while (p) {
        const char *start = p;
        const char *ipa = espeak_TextToPhonemes(&p, espeakCHARS_AUTO, espeakPHONEMES_IPA);
        const char *stop = p ? (const char *)p : end;
        if (stop < start || stop > end) stop = end;
        /* espeak-ng leaves the pointer one character into the next clause: that character is not this clause's */
        if (p && stop > start) {
            stop--;
            while (stop > start && ((unsigned char)*stop & 0xc0) == 0x80) stop--;
        }
        char term = clause_terminator(start, stop);
        bool ok = !ipa || sent_clause(s, c, ipa, strlen(ipa));
        if (ok && term) ok = sent_put(s, (uint32_t)term);
        if (ok && term && strchr(",:;", term)) ok = sent_put(s, ' ');
        if (!ok) {
            rc = qw_fail(e, QWGLM_ERR_ARG, "a sentence of more than %zu phonemes (too long without punctuation)",
                         s->max);
            goto done;
        }
        if (term && strchr(".?!", term) && s->n) {
            if (fn(s->v, s->n, user)) {
                rc = qw_fail(e, QWGLM_ERR_CANCELLED, "cancelled");
                goto done;
            }
            s->n = 0;
        }
    }
    if (s->n && fn(s->v, s->n, user)) rc = qw_fail(e, QWGLM_ERR_CANCELLED, "cancelled");
done:
    pthread_mutex_unlock(&espeak_lock);
    return rc;
}
#else
const char *piper_espeak_version(void) { return NULL; }
#endif

qwglm_status piper_phonemize(const struct piper_config *c, const char *text, size_t max_bytes,
                             piper_sentence_fn fn, void *user, struct qw_err *e)
{
    size_t n = strlen(text);
    if (n > max_bytes) return qw_fail(e, QWGLM_ERR_ARG, "text of %zu bytes (at most %zu)", n, max_bytes);
    struct sentence s = {.max = 8192};
    qwglm_status rc;
    if (c->phoneme_type == PIPER_PHONEMES_TEXT) {
        rc = phonemize_text(c, text, n, fn, user, &s, e);
    } else {
#ifdef QWGLM_HAVE_ESPEAK
        rc = phonemize_espeak(c, text, fn, user, &s, e);
#else
        rc = qw_fail(e, QWGLM_ERR_ARG, "this build has no espeak-ng: pass phoneme ids instead of text");
#endif
    }
    qw_free(s.v);
    return rc;
}
