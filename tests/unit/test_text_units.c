/* Units of the text module against the standards they implement: Unicode's NormalizationTest (NFC, NFD),
 * Oniguruma's regex semantics, tokenizers' split behaviours and added-token options (the examples of its
 * documentation), UTF-8 repair as Python and Rust do it, the streaming detokenizer and the <think> separator. */
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "test.h"
#include "text/regex.h"
#include "text/template.h"
#include "text/think.h"
#include "text/tok_impl.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

/* ---- Unicode ---- */

static size_t hex_to_utf8(const char *hex, char *out)
{
    size_t n = 0;
    char *end;
    while (*hex) {
        unsigned long cp = strtoul(hex, &end, 16);
        if (end == hex) break;
        n += utf8_encode((uint32_t)cp, out + n);
        hex = end;
        while (*hex == ' ') hex++;
    }
    return n;
}

static void test_normalization(void)
{
    char *text;
    size_t n;
    struct qw_err e = {0};
    REQUIRE(qw_read_file("tests/fixtures/text/nfc-cases.txt", 1 << 24, &text, &n, &e) == QWGLM_OK);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *c1 = strchr(line, ';'), *c2 = c1 ? strchr(c1 + 1, ';') : NULL;
        REQUIRE(c1 && c2);
        *c1 = *c2 = '\0';
        char src[256], nfc[256], nfd[256];
        size_t ns = hex_to_utf8(line, src), nc = hex_to_utf8(c1 + 1, nfc), nd = hex_to_utf8(c2 + 1, nfd);
        struct qw_str a = {0}, b = {0};
        CHECK(uni_nfc(src, ns, &a) && uni_nfd(src, ns, &b));
        CHECKF(a.len == nc && memcmp(a.data, nfc, nc) == 0, "NFC of %s", line);
        CHECKF(b.len == nd && memcmp(b.data, nfd, nd) == 0, "NFD of %s", line);
        if (uni_nfc_quick(src, ns)) CHECKF(a.len == ns && memcmp(a.data, src, ns) == 0, "quick check of %s", line);
        qw_str_free(&a);
        qw_str_free(&b);
        lines++;
    }
    CHECK(lines > 4000);
    qw_free(text);
    /* stray bytes pass through, and a long run of marks is reordered in linear time */
    struct qw_str o = {0};
    CHECK(uni_nfc("\xff" "e\xcc\x81\xfe", 5, &o) && o.len == 4 && memcmp(o.data, "\xff\xc3\xa9\xfe", 4) == 0);
    qw_str_free(&o);
    struct qw_str marks = {0};
    for (int i = 0; i < 200000; i++) qw_str_append(&marks, i % 2 ? "\xcc\x81" : "\xcc\xa3", 2); /* 0301 (230), 0323 (220) */
    CHECK(uni_nfc(marks.data, marks.len, &o) && o.len == marks.len);
    CHECK(memcmp(o.data, "\xcc\xa3", 2) == 0 && memcmp(o.data + o.len - 2, "\xcc\x81", 2) == 0);
    qw_str_free(&o);
    qw_str_free(&marks);
}

static void test_categories(void)
{
    CHECK(uni_cat('A') == UNI_LU && uni_cat('z') == UNI_LL && uni_cat(0x4e00) == UNI_LO && uni_cat(0x661) == UNI_ND);
    CHECK(uni_cat(0x1f600) == UNI_SO && uni_cat(0x301) == UNI_MN && uni_cat(0x10ffff) == UNI_CN);
    CHECK(uni_is_space(0x85) && uni_is_space(0x3000) && !uni_is_space(0xfeff) && !uni_is_space(0x200b));
    CHECK(uni_fold(0x17f) == 's' && uni_fold(0x212a) == 'k' && uni_fold('A') == 'a');
    uint32_t m[3];
    CHECK(uni_case_map(0xdf, UNI_UPPER, m) == 2 && m[0] == 'S' && m[1] == 'S');
}

/* ---- regex ---- */

/* All matches of pattern in s, as "m1|m2|..." (the way a Split pre-tokenizer sees them). */
static const char *matches(const char *pattern, const char *s)
{
    static char out[1024];
    struct regex *re;
    struct regex_vm vm = {0};
    struct qw_err e = {0};
    out[0] = '\0';
    if (regex_compile(pattern, strlen(pattern), &re, &e)) {
        snprintf(out, sizeof out, "ERROR %s", e.msg);
        return out;
    }
    size_t n = strlen(s), from = 0, ms, me, k = 0, last = (size_t)-1;
    int r = 0, count = 0;
    while (from <= n && (r = regex_search(re, &vm, s, n, from, &ms, &me, &e)) == 1) {
        if (me == ms) { /* as the reference's find_iter: step over, and skip it right after a match */
            uint32_t cp;
            from = me < n ? me + uni_next(s + me, n - me, &cp) : n + 1;
            if (last == me) continue;
        } else {
            from = me;
        }
        last = me;
        k += (size_t)snprintf(out + k, sizeof out - k, "%s%.*s", count++ ? "|" : "", (int)(me - ms), s + ms);
    }
    if (r < 0) snprintf(out, sizeof out, "ERROR %s", e.msg);
    regex_free(re);
    regex_vm_free(&vm);
    return out;
}

#define QWEN "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static void test_regex(void)
{
    CHECK(!strcmp(matches(QWEN, "  leading spaces and trailing   "), " | leading| spaces| and| trailing|   "));
    CHECK(!strcmp(matches(QWEN, "I'm THAT'S 'Sam 123"), "I|'m| THAT|'S| '|Sam| |1|2|3"));
    CHECK(!strcmp(matches(QWEN, "a'\xc5\xbfx"), "a|'\xc5\xbf|x")); /* (?i) folds U+017F to s, as Oniguruma does */
    CHECK(!strcmp(matches(QWEN, "x\n\n\ty \r\n"), "x|\n\n|\ty| \r\n"));
    CHECK(!strcmp(matches(QWEN, "a!!\nb"), "a|!!\n|b"));
    CHECK(!strcmp(matches("\\s+", "a\xc2\x85\xef\xbb\xbf "), "\xc2\x85| ")); /* U+0085 is \s, U+FEFF is not */
    CHECK(!strcmp(matches("\\p{N}{1,3}", "12345"), "123|45"));
    CHECK(!strcmp(matches("a+?b|a*?c", "aab aac"), "aab|aac"));
    CHECK(!strcmp(matches("(?:ab)*c|ab", "ababc abx"), "ababc|ab"));
    CHECK(!strcmp(matches("^\\w+|\\w+$", "one two\nthree four"), "one|two|three|four"));
    CHECK(!strcmp(matches("\\bfo\\w*", "foo afoo fob"), "foo|fob"));
    CHECK(!strcmp(matches("(?<=a)b|(?<!c)d", "ab cb cd ed"), "b|d"));
    CHECK(!strcmp(matches("(?>a+)ab|a++b", "aaab"), "aaab"));
    CHECK(!strcmp(matches("[a-c[x-z]]+|[^\\p{L}\\s]", "abxz! q"), "abxz|!"));
    CHECK(!strcmp(matches("(?i)[a-c]+", "AbC d"), "AbC"));
    CHECK(!strcmp(matches("\\p{Lu}\\P{L}\\p{^N}", "A1b A!b a!B"), "A1b|A!b"));
    CHECK(!strcmp(matches("x*", "axxb"), "|xx|")); /* no empty match right after a match */
    CHECK(!strcmp(matches("\\x{e9}|\\u00e8|caf\\xc3", "\xc3\xa9\xc3\xa8"), "\xc3\xa9|\xc3\xa8"));
    CHECK(!strcmp(matches("[^a]", "\xff\xc3"), "\xff|\xc3")); /* stray bytes match negated classes */
    CHECK(!strcmp(matches("a{,2}b{2}c{1,}", "aabbcc"), "aabbcc"));
    CHECK(!strcmp(matches("{x}", "{x}"), "{x}")); /* not an interval: literal braces */
    CHECK(!strncmp(matches("(a", "a"), "ERROR", 5));
    CHECK(!strncmp(matches("(a)\\1", "aa"), "ERROR", 5));
    CHECK(!strncmp(matches("[z-a]", "a"), "ERROR", 5));
    CHECK(!strncmp(matches("(?<=a+)b", "ab"), "ERROR", 5));
    CHECK(!strncmp(matches("\\p{Greek}", "a"), "ERROR", 5));
    /* zero-width loops end; exponential backtracking hits the budget instead of hanging */
    CHECK(!strcmp(matches("(a*)*b", "aaaaaaaaaaac"), ""));
    const char *r = matches("(a|aa)*c", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab");
    CHECK(!strncmp(r, "ERROR", 5) && strstr(r, "backtracking limit"));
}

/* ---- UTF-8 repair ---- */

static bool lossy_is(const char *in, size_t n, const char *want)
{
    struct qw_str o = {0};
    utf8_lossy_append(&o, in, n);
    bool ok = o.len == strlen(want) && memcmp(o.data ? o.data : "", want, o.len) == 0;
    qw_str_free(&o);
    return ok;
}

static void test_utf8(void)
{
#define FFFD "\xef\xbf\xbd"
    CHECK(lossy_is("a\xe2\x82" "b", 4, "a" FFFD "b"));
    CHECK(lossy_is("\xf0\x9f\x98", 3, FFFD));
    CHECK(lossy_is("\xc0\x80", 2, FFFD FFFD));
    CHECK(lossy_is("\xed\xa0\x80", 3, FFFD FFFD FFFD));
    CHECK(lossy_is("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD));
    CHECK(lossy_is("\xe2\x82\xac\xff", 4, "\xe2\x82\xac" FFFD));
    CHECK(utf8_complete_prefix("ab\xe2\x82", 4) == 2 && utf8_complete_prefix("ab\xe2\x41", 4) == 4);
    CHECK(utf8_complete_prefix("\xf0\x9f\x98", 3) == 0 && utf8_complete_prefix("\xed\xa0", 2) == 2);
}

/* ---- tokenizer behaviours, with small byte-level tokenizers ---- */

static struct tokenizer *small_tokenizer(const char *pre, const char *added, const char *extra_words, bool ignore_merges)
{
    struct qw_str j = {0};
    qw_str_puts(&j, "{\"added_tokens\": [");
    qw_str_puts(&j, added);
    qw_str_puts(&j, "], \"normalizer\": null, \"pre_tokenizer\": ");
    qw_str_puts(&j, pre);
    qw_str_printf(&j, ", \"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"ignore_merges\": %s, "
                      "\"merges\": [], \"vocab\": {", ignore_merges ? "true" : "false");
    for (int b = 0; b < 256; b++) {
        char u[4];
        size_t l = utf8_encode(byte_level_char((uint8_t)b), u);
        struct qw_str k = {0};
        qw_str_json(&k, u, l);
        qw_str_printf(&j, "%s%s: %d", b ? ", " : "", k.data, b);
        qw_str_free(&k);
    }
    int id = 256;
    char words[512];
    snprintf(words, sizeof words, "%s", extra_words);
    for (char *w = strtok(words, " "); w; w = strtok(NULL, " ")) qw_str_printf(&j, ", \"%s\": %d", w, id++);
    qw_str_puts(&j, "}}}");
    struct tokenizer *t = NULL;
    struct qw_err e = {0};
    if (tokenizer_load(j.data, j.len, NULL, 0, "test", &t, &e)) fprintf(stderr, "%s\n", e.msg);
    qw_str_free(&j);
    return t;
}

/* The pieces of text as "p1|p2" when every piece is a word of the vocabulary (ids >= 256). */
static const char *pieces(const struct tokenizer *t, const char *text)
{
    static char out[512];
    struct tok_ids ids = {0};
    struct qw_err e = {0};
    size_t k = 0;
    out[0] = '\0';
    if (tokenizer_encode(t, text, strlen(text), &ids, &e)) return "ERROR";
    for (size_t i = 0; i < ids.n; i++) {
        size_t len;
        const char *b = tokenizer_token_bytes(t, ids.v[i], &len);
        k += (size_t)snprintf(out + k, sizeof out - k, "%s%.*s", i ? "|" : "", (int)len, b);
    }
    qw_free(ids.v);
    return out;
}

static void test_split_behaviours(void)
{
    /* tokenizers' documentation: pattern "-" on "the-final--countdown" */
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    static const char *const want[] = {"the|final|countdown", "the|-|final|-|-|countdown", "the-|final-|-|countdown",
                                       "the|-final|-|-countdown", "the|-|final|--|countdown"};
    for (int i = 0; i < 5; i++) {
        char pre[256];
        snprintf(pre, sizeof pre, "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
                                  "{\"String\": \"-\"}, \"behavior\": \"%s\"}, {\"type\": \"ByteLevel\", "
                                  "\"use_regex\": false, \"add_prefix_space\": false}]}", names[i]);
        struct tokenizer *t = small_tokenizer(pre, "", "the final countdown - -- the- final- -final -countdown", true);
        REQUIRE(t);
        CHECKF(!strcmp(pieces(t, "the-final--countdown"), want[i]), "%s: %s", names[i], pieces(t, "the-final--countdown"));
        tokenizer_free(t);
    }
    struct tokenizer *t = small_tokenizer("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
                                          "{\"Regex\": \"[a-z]+\"}, \"behavior\": \"Removed\", \"invert\": true}, "
                                          "{\"type\": \"ByteLevel\", \"use_regex\": false, \"add_prefix_space\": false}]}",
                                          "", "ab cd", true);
    REQUIRE(t);
    CHECK(!strcmp(pieces(t, "ab--cd"), "ab|cd")); /* invert: the matches are kept, the rest removed */
    tokenizer_free(t);
    /* GPT-2's ByteLevel(use_regex) with add_prefix_space; Digits */
    t = small_tokenizer("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true},"
                        " {\"type\": \"ByteLevel\", \"add_prefix_space\": true}]}", "", "\xc4\xa0hi \xc4\xa0" "1 \xc4\xa0" "2", true);
    REQUIRE(t);
    CHECK(!strcmp(pieces(t, "hi12"), " hi| 1| 2"));
    tokenizer_free(t);
}

static void test_added_tokens(void)
{
    const char *added = "{\"id\": 300, \"content\": \"<x>\", \"lstrip\": true, \"rstrip\": true, \"special\": true, "
                        "\"normalized\": false}, {\"id\": 301, \"content\": \"tok\", \"single_word\": true, "
                        "\"special\": false, \"normalized\": false}, {\"id\": 302, \"content\": \"<x>y\", "
                        "\"special\": false, \"normalized\": false}";
    struct tokenizer *t = small_tokenizer("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}",
                                          added, "a b atok tok \xc4\xa0tok", true);
    REQUIRE(t);
    CHECK(!strcmp(pieces(t, "a  <x>  b"), "a|<x>|b"));      /* lstrip and rstrip eat the spaces */
    CHECK(!strcmp(pieces(t, "a<x>yb"), "a|<x>y|b"));        /* leftmost-longest */
    CHECK(!strcmp(pieces(t, "tok atok tok"), "tok| |a|t|o|k| |tok")); /* single_word: not inside "atok" */
    struct qw_str out = {0};
    int32_t ids[] = {256, 300, 999999, -5, 257};
    struct qw_err e = {0};
    CHECK(tokenizer_decode(t, ids, 5, true, &out, &e) == QWGLM_OK && out.len == 2 && !memcmp(out.data, "ab", 2));
    qw_str_free(&out);
    CHECK(tokenizer_token_id(t, "<x>", 3) == 300 && tokenizer_is_special(t, 300) && !tokenizer_is_special(t, 301));
    tokenizer_free(t);
}

/* ---- streaming ---- */

static void test_detok_stream(void)
{
    struct tokenizer *t = NULL;
    struct qw_err e = {0};
    REQUIRE(tokenizer_load_dir("tests/fixtures/qwen3-micro", &t, &e) == QWGLM_OK);
    const char *text = "emoji \xf0\x9f\x91\x8b\xf0\x9f\x8f\xbd \xe4\xbd\xa0\xe5\xa5\xbd \xe2\x9d\xa4\xef\xb8\x8f!";
    struct tok_ids ids = {0};
    REQUIRE(tokenizer_encode(t, text, strlen(text), &ids, &e) == QWGLM_OK);
    struct detok d;
    struct qw_str all = {0};
    detok_init(&d, t, false);
    for (size_t i = 0; i < ids.n; i++) {
        struct qw_str piece = {0};
        CHECK(detok_push(&d, ids.v[i], &piece));
        for (size_t k = 0; k < piece.len;) { /* every piece is whole characters */
            uint32_t cp;
            size_t l = utf8_decode(piece.data + k, piece.len - k, &cp);
            CHECK(l > 0);
            k += l ? l : 1;
        }
        qw_str_append(&all, piece.data ? piece.data : "", piece.len);
        qw_str_free(&piece);
    }
    CHECK(detok_flush(&d, &all));
    CHECK(all.len == strlen(text) && !memcmp(all.data, text, all.len));
    /* a reply cut inside a character: the held bytes come out as U+FFFD at the end */
    qw_str_clear(&all);
    detok_init(&d, t, false);
    CHECK(detok_push(&d, ids.v[1], &all)); /* the first token of the waving hand is part of a character */
    CHECK(detok_flush(&d, &all));
    struct qw_str whole = {0};
    CHECK(tokenizer_decode(t, &ids.v[1], 1, false, &whole, &e) == QWGLM_OK);
    CHECK(all.len == whole.len && !memcmp(all.data, whole.data, all.len));
    qw_str_free(&whole);
    qw_str_free(&all);
    qw_free(ids.v);
    tokenizer_free(t);
}

struct collected {
    struct qw_str parts[2];
};

static int collect(int kind, const char *text, size_t len, void *user)
{
    struct collected *c = user;
    qw_str_append(&c->parts[kind], text, len);
    return 0;
}

/* Feeds text in pieces of size step and returns "reasoning|answer". */
static const char *think_split(const char *text, size_t step, bool start_in)
{
    static char out[512];
    struct think th;
    struct collected c = {{{0}, {0}}};
    think_init(&th, start_in);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += step) think_feed(&th, text + i, i + step > n ? n - i : step, collect, &c);
    think_flush(&th, collect, &c);
    snprintf(out, sizeof out, "%.*s|%.*s", (int)c.parts[1].len, c.parts[1].data ? c.parts[1].data : "",
             (int)c.parts[0].len, c.parts[0].data ? c.parts[0].data : "");
    qw_str_free(&c.parts[0]);
    qw_str_free(&c.parts[1]);
    return out;
}

static void test_think(void)
{
    for (size_t step = 1; step <= 40; step++) {
        CHECKF(!strcmp(think_split("<think>\nLet me see.\nOk.\n</think>\n\nThe answer.", step, false),
                       "Let me see.\nOk.|The answer."), "step %zu", step);
        CHECKF(!strcmp(think_split("Plain answer, <think> is just text.", step, false),
                       "|Plain answer, <think> is just text."), "step %zu", step);
        CHECKF(!strcmp(think_split("\n<think>\n\n</think>\n\nHi", step, false), "|Hi"), "step %zu", step);
        CHECKF(!strcmp(think_split("reasoning\n</think>\n\nanswer", step, true), "reasoning|answer"), "step %zu", step);
        CHECKF(!strcmp(think_split("<think>cut short\n\n", step, false), "cut short|"), "step %zu", step);
        CHECKF(!strcmp(think_split("<thin", step, false), "|<thin"), "step %zu", step);
    }
}

/* Every allocation failing in turn: an error or a correct result, never a crash or a leak (ASan checks leaks). */
static void test_alloc_failures(void)
{
    static const char tok_json[] =
        "{\"added_tokens\": [{\"id\": 260, \"content\": \"<x>\", \"special\": true, \"normalized\": false}], "
        "\"normalizer\": {\"type\": \"NFC\"}, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
        "\"Split\", \"pattern\": {\"Regex\": \"(?i:'s|'t)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
        "\"use_regex\": false}]}, \"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
        "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\u0120\": 3, \"\u0120ab\": 4, \"\u00c3\": 5, \"\u00a9\": 6, "
        "\"\u00c3\u00a9\": 7}, \"merges\": [\"a b\", \"\u0120 ab\", \"\u00c3 \u00a9\"]}}";
    const char *text = "ab ab<x>e\xcc\x81" "ab";
    int32_t want[] = {2, 4, 260, 7, 2};
    bool done = false;
    for (long n = 0; n < 400 && !done; n++) {
        qw_mem_fail_after(n);
        struct tokenizer *t = NULL;
        struct tok_ids ids = {0};
        struct qw_str out = {0};
        struct qw_err e = {0};
        qwglm_status st = tokenizer_load(tok_json, sizeof tok_json - 1, NULL, 0, "t", &t, &e);
        if (!st) st = tokenizer_encode(t, text, strlen(text), &ids, &e);
        if (!st) st = tokenizer_decode(t, ids.v, ids.n, false, &out, &e);
        qw_mem_fail_after(-1);
        if (!st) {
            CHECKF(ids.n == 5 && !memcmp(ids.v, want, sizeof want), "%zu ids: %d %d %d", ids.n, ids.v[0], ids.v[1], ids.n > 2 ? ids.v[2] : -1);
            CHECK(out.len == 12 && !memcmp(out.data, "ab ab<x>\xc3\xa9" "ab", 12));
            done = true;
        } else {
            CHECKF(st == QWGLM_ERR_NOMEM, "allocation %ld: %s", n, e.msg);
        }
        qw_str_free(&out);
        qw_free(ids.v);
        tokenizer_free(t);
    }
    CHECK(done);
    static const char request[] =
        "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"Q\"}, "
        "{\"role\": \"assistant\", \"content\": \"<think>\\nr\\n</think>\\n\\nA\", \"tool_calls\": [{\"function\": "
        "{\"name\": \"f\", \"arguments\": {\"x\": [1, 2.5]}}}]}, {\"role\": \"tool\", \"content\": \"R\"}], "
        "\"tools\": [{\"type\": \"function\"}], \"add_generation_prompt\": true, \"enable_thinking\": false}";
    char *config;
    size_t config_n;
    struct qw_err e = {0};
    REQUIRE(qw_read_file("tests/fixtures/qwen3-micro/tokenizer_config.json", 1 << 20, &config, &config_n, &e) == 0);
    struct json_doc req;
    REQUIRE(json_parse(request, sizeof request - 1, &req, &e) == QWGLM_OK);
    size_t want_len = 0;
    done = false;
    for (long n = 0; n < 20000 && !done; n++) {
        qw_mem_fail_after(n);
        struct chat_template *t = NULL;
        struct qw_str out = {0};
        qwglm_status st = chat_template_load(config, config_n, NULL, 0, &t, &e);
        if (!st) st = chat_template_render(t, &req.root, &out, &e);
        qw_mem_fail_after(-1);
        if (!st) {
            want_len = out.len;
            done = true;
        }
        qw_str_free(&out);
        chat_template_free(t);
    }
    CHECK(done && want_len > 300);
    json_doc_free(&req);
    qw_free(config);
}

int main(void)
{
    test_normalization();
    test_categories();
    test_regex();
    test_utf8();
    test_split_behaviours();
    test_added_tokens();
    test_detok_stream();
    test_think();
    test_alloc_failures();
    return test_report("test_text_units");
}
