/* Piper's front end: phoneme strings -> ids against phonemes.json (built with Piper's rules), NFD, the config's
 * errors, and text -> sentences through espeak-ng when this is the espeak-ng version the fixture was made with. */
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/json.h"
#include "tts/nfd.h"
#include "tts/phonemes.h"
#include "test.h"

#define DIR "tests/fixtures/piper-micro/"

static struct piper_config cfg;
static struct json_doc cases;

static bool same_ids(const struct piper_ids *ids, const struct json_value *want)
{
    if (!want || want->type != JSON_ARRAY || (int)want->n != ids->n) return false;
    for (int i = 0; i < ids->n; i++) {
        int64_t v;
        if (!json_int(&want->u.items[i], &v) || v != ids->v[i]) return false;
    }
    return true;
}

static void test_ids(void)
{
    const struct json_value *cs = json_get(&cases.root, "cases");
    REQUIRE(cs && cs->type == JSON_ARRAY && cs->n == 5);
    int sentences = 0;
    for (uint32_t i = 0; i < cs->n; i++) {
        const struct json_value *ss = json_get(&cs->u.items[i], "sentences");
        for (uint32_t j = 0; ss && j < ss->n; j++) {
            const struct json_value *s = &ss->u.items[j];
            const char *ph = json_string(json_get(s, "phonemes"));
            REQUIRE(ph);
            struct piper_ids ids = {0};
            struct qw_err e = {0};
            CHECKF(piper_phoneme_string_to_ids(&cfg, ph, strlen(ph), &ids, &e) == QWGLM_OK, "%s", e.msg);
            CHECKF(same_ids(&ids, json_get(s, "phoneme_ids")), "case %u sentence %u: ids differ", i, j);
            CHECK(ids.missing == 0);
            piper_ids_free(&ids);
            sentences++;
        }
    }
    CHECK(sentences >= 8);
    /* the spec's example, and an unknown phoneme skipped and counted */
    struct piper_ids ids = {0};
    REQUIRE(piper_phoneme_string_to_ids(&cfg, "a\xe2\x98\x83" "b", 5, &ids, NULL) == QWGLM_OK);
    CHECK(ids.n == 7 && ids.missing == 1 && ids.first_missing == 0x2603);
    ids.max = 5; /* a sentence longer than the limit is an error, not a truncation */
    struct qw_err e = {0};
    CHECK(piper_phoneme_string_to_ids(&cfg, "abc", 3, &ids, &e) == QWGLM_ERR_ARG && strstr(e.msg, "5"));
    piper_ids_free(&ids);
}

static void test_nfd(void)
{
    uint32_t out[8];
    /* ç -> c U+0327; ǖ -> u U+0308 U+0304; Hangul 한 -> 3 jamo; combining marks reordered by class */
    CHECK(nfd_decompose("\xc3\xa7", 2, out, 8) == 2 && out[0] == 'c' && out[1] == 0x327);
    CHECK(nfd_decompose("\xc7\x96", 2, out, 8) == 3 && out[0] == 'u' && out[1] == 0x308 && out[2] == 0x304);
    CHECK(nfd_decompose("\xed\x95\x9c", 3, out, 8) == 3 && out[0] == 0x1112 && out[1] == 0x1161 && out[2] == 0x11ab);
    CHECK(nfd_decompose("a\xcc\x81\xcc\xa3", 5, out, 8) == 3 && out[1] == 0x323 && out[2] == 0x301);
    CHECK(nfd_decompose("\xff", 1, out, 8) == 1 && out[0] == 0xfffd);
    CHECK(nfd_decompose("\xc3\xa7\xc3\xa7", 4, out, 3) == 4); /* reports the room it needs */
}

static void test_config_errors(void)
{
    struct piper_config c;
    struct qw_err e = {0};
    const char *bad[] = {
        "[1]",
        "{\"phoneme_id_map\": {}}",
        "{\"phoneme_id_map\": {\"_\": [0], \"^\": [1]}}",
        "{\"phoneme_id_map\": {\"_\": [0], \"^\": [1], \"$\": [\"x\"]}}",
        "{\"phoneme_id_map\": {\"_\": [0], \"^\": [1], \"$\": [300]}, \"num_symbols\": 256}",
        "{\"phoneme_type\": \"pinyin\", \"phoneme_id_map\": {\"_\": [0], \"^\": [1], \"$\": [2]}}",
        "{\"audio\": {\"sample_rate\": 5}, \"phoneme_id_map\": {\"_\": [0], \"^\": [1], \"$\": [2]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        CHECKF(piper_config_parse(&c, bad[i], strlen(bad[i]), "v.onnx.json", &e) == QWGLM_ERR_FORMAT, "case %zu", i);
        CHECKF(strncmp(e.msg, "v.onnx.json: ", 13) == 0 || strstr(e.msg, "line"), "case %zu: %s", i, e.msg);
    }
    CHECK(cfg.sample_rate == 22050 && cfg.num_symbols == 256 && cfg.num_speakers == 1);
    CHECK(strcmp(cfg.espeak_voice, "en-us") == 0 && cfg.noise_w > 0.79f && cfg.noise_w < 0.81f);
}

static int collect(const uint32_t *cps, size_t n, void *user)
{
    struct piper_ids *all = user;
    struct piper_ids ids = {0};
    if (piper_phonemes_to_ids(&cfg, cps, n, &ids, NULL) == QWGLM_OK) {
        for (int i = 0; i < ids.n && all->n < all->cap; i++) all->v[all->n++] = ids.v[i];
        if (all->n < all->cap) all->v[all->n++] = -1; /* sentence boundary */
    }
    piper_ids_free(&ids);
    return 0;
}

static void test_espeak(void)
{
    const char *ver = piper_espeak_version();
    const char *want = json_string(json_get(&cases.root, "espeak_ng_version"));
    if (!ver || !want || strncmp(ver, want, strlen(want)) != 0) {
        fprintf(stderr, "test_phonemes: espeak-ng %s here, fixture made with %s: phonemizer test skipped\n",
                ver ? ver : "(none)", want ? want : "?");
        return;
    }
    const struct json_value *cs = json_get(&cases.root, "cases");
    for (uint32_t i = 0; i < cs->n; i++) {
        const char *text = json_string(json_get(&cs->u.items[i], "text"));
        const struct json_value *ss = json_get(&cs->u.items[i], "sentences");
        static int32_t buf[8192];
        struct piper_ids all = {.v = buf, .cap = 8192};
        struct qw_err e = {0};
        CHECKF(piper_phonemize(&cfg, text, 1 << 16, collect, &all, &e) == QWGLM_OK, "%s", e.msg);
        int k = 0;
        bool ok = true;
        for (uint32_t j = 0; j < ss->n; j++) {
            const struct json_value *w = json_get(&ss->u.items[j], "phoneme_ids");
            for (uint32_t t = 0; t < w->n; t++) {
                int64_t v;
                json_int(&w->u.items[t], &v);
                ok &= k < all.n && all.v[k++] == v;
            }
            ok &= k < all.n && all.v[k++] == -1;
        }
        CHECKF(ok && k == all.n, "case %u (%s): sentences or ids differ from espeak-ng %s", i, text, ver);
    }
    struct qw_err e = {0};
    CHECK(piper_phonemize(&cfg, "abc", 2, collect, NULL, &e) == QWGLM_ERR_ARG);
}

int main(void)
{
    char *text;
    size_t n;
    struct qw_err e = {0};
    REQUIRE(qw_read_file(DIR "en_US-micro-medium.onnx.json", 1 << 20, &text, &n, NULL) == QWGLM_OK);
    REQUIRE(piper_config_parse(&cfg, text, n, "en_US-micro-medium.onnx.json", &e) == QWGLM_OK);
    qw_free(text);
    REQUIRE(qw_read_file(DIR "phonemes.json", 1 << 20, &text, &n, NULL) == QWGLM_OK);
    REQUIRE(json_parse(text, n, &cases, NULL) == QWGLM_OK);
    test_ids();
    test_nfd();
    test_config_errors();
    test_espeak();
    json_doc_free(&cases);
    qw_free(text);
    piper_config_free(&cfg);
    return test_report("test_phonemes");
}
