/* Internals shared by tokenizer.c (loading, added tokens, the encode pipeline, decoding), pretok.c (normalizers
 * and pre-tokenizers) and bpe.c (the BPE model). Not an API. */
#ifndef QW_TOK_IMPL_H
#define QW_TOK_IMPL_H

#include "base/strmap.h"
#include "format/json.h"
#include "text/regex.h"
#include "text/tokenizer.h"

#define TOK_MAX_STEPS 16 /* normalizer / pre-tokenizer steps */

struct pool_str {
    struct pool_str *next;
    char s[];
};

struct added_token {
    const char *content; /* in the tokenizer's `bytes` */
    uint32_t len;
    int32_t id;
    bool special, single_word, lstrip, rstrip, normalized;
};

/* The added tokens of one kind (normalized or not), indexed for leftmost-longest matching. */
struct added_set {
    struct strmap map;      /* content -> index into tokenizer.added */
    uint32_t lens[64];      /* distinct content lengths, longest first */
    int n_lens;             /* -1: too many distinct lengths, every length up to max_len is tried */
    uint32_t max_len;
    uint64_t first_byte[4]; /* bytes a content can start with */
    int count;
};

enum norm_kind { NORM_NFC, NORM_NFD, NORM_LOWERCASE, NORM_PREPEND, NORM_REPLACE, NORM_STRIP };

struct norm_step {
    int kind;
    const char *a, *b; /* PREPEND: a; REPLACE: pattern a (literal when re is NULL) -> b */
    uint32_t a_len, b_len;
    struct regex *re;
    bool left, right; /* STRIP */
};

enum pretok_kind { PT_SPLIT, PT_BYTE_LEVEL, PT_DIGITS, PT_PUNCTUATION, PT_WHITESPACE_SPLIT };
enum split_behavior { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };

struct pretok_step {
    int kind, behavior;
    bool invert;
    bool add_prefix_space; /* BYTE_LEVEL */
    struct regex *re;      /* SPLIT (regex, or the literal compiled as one), BYTE_LEVEL with use_regex, DIGITS */
};

struct merge_slot {
    uint64_t key; /* left id << 32 | right id; UINT64_MAX: empty */
    uint32_t rank;
    int32_t id;
};

struct tokenizer {
    int32_t n_vocab;
    char *bytes; /* the decoded bytes of every id, then the contents of the added tokens */
    size_t bytes_len;
    uint32_t *tok_off, *tok_len; /* each id's bytes in `bytes` (UINT32_MAX length: no such id) */
    struct pool_str *strings;    /* small strings the steps keep (patterns, prepend and replace text) */
    uint8_t *tok_flags;          /* TOKF_* per id */
    struct strmap vocab;         /* model vocabulary: bytes (after byte-level mapping) -> id */
    int32_t byte_id[256];        /* the token of each single byte, -1 if none */
    struct merge_slot *merges;
    size_t merge_mask;

    struct added_token *added;
    int n_added;
    struct added_set added_raw, added_norm;

    struct norm_step norm[TOK_MAX_STEPS];
    int n_norm;
    struct pretok_step pretok[TOK_MAX_STEPS];
    int n_pretok;

    bool byte_level;    /* the pre-tokenizer maps bytes to characters (GPT-2 style) */
    bool ignore_merges; /* a piece that is a whole vocabulary entry skips the merges */
    bool fuse_unk, byte_fallback;
    int32_t unk_id;
    bool clean_up_spaces;
};

enum { TOKF_ADDED = 1, TOKF_SPECIAL = 2 };

/* Per-call state of an encode: scratch buffers and the cache of pieces already encoded. */
struct bpe_cache;
struct encoder {
    const struct tokenizer *t;
    struct tok_ids *out;
    struct qw_err *e;
    struct regex_vm vm;
    struct bpe_cache *cache;
    struct qw_str scratch[TOK_MAX_STEPS]; /* per pre-tokenizer depth (ByteLevel's prefix space) */
    struct bpe_word *word;
};

/* pool strings */
const char *tok_pool_add(struct tokenizer *t, const char *s, size_t n);

/* pretok.c */
qwglm_status tok_parse_normalizer(struct tokenizer *t, const struct json_value *v, const char *name,
                                  struct qw_err *e);
qwglm_status tok_parse_pretokenizer(struct tokenizer *t, const struct json_value *v, const char *name,
                                    struct qw_err *e);
void tok_steps_free(struct tokenizer *t);
bool tok_normalize(const struct tokenizer *t, const char *s, size_t n, struct qw_str *out);
qwglm_status tok_pretokenize(struct encoder *enc, int step, const char *s, size_t n);

/* bpe.c */
bool bpe_merges_init(struct tokenizer *t, size_t n);
bool bpe_merges_put(struct tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t id);
qwglm_status bpe_encode_piece(struct encoder *enc, const char *s, size_t n);
void bpe_encoder_free(struct encoder *enc);
bool tok_ids_push(struct tok_ids *ids, int32_t id);

/* GPT-2's byte <-> character mapping: printable bytes stand for themselves, the others for U+0100 onwards. */
uint32_t byte_level_char(uint8_t b);
int byte_level_byte(uint32_t cp); /* -1 when cp is not in the alphabet */

#endif
