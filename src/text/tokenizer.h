/* Hugging Face tokenizer.json for byte-level BPE models (GPT-2, Qwen2/2.5/3, Qwen3-VL, Llama 3 and the like),
 * encoding and decoding exactly as the `tokenizers` library does with transformers' defaults
 * (split_special_tokens=False, skip_special_tokens=False).
 *
 * Encoding: added tokens are found first (leftmost-longest, honouring single_word / lstrip / rstrip; tokens with
 * normalized=false in the raw text, the others in the normalized text), the rest goes through the normalizer
 * (NFC, NFD, Lowercase, Prepend, Replace, Sequence), the pre-tokenizer (Split with an Oniguruma-compatible regex
 * and any split behaviour, ByteLevel, Digits, Punctuation, WhitespaceSplit, Sequence) and BPE (merges by rank,
 * ignore_merges, unk / byte_fallback). Decoding follows the ByteLevel decoder (invalid UTF-8 becomes U+FFFD as
 * Rust's from_utf8_lossy does) and transformers' clean_up_tokenization_spaces.
 *
 * Threads: a loaded tokenizer is immutable and may be shared; every call keeps its scratch on its own. */
#ifndef QW_TOKENIZER_H
#define QW_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/str.h"

struct tokenizer;

/* A growable id list (caller-owned; free v with qw_free). */
struct tok_ids {
    int32_t *v;
    size_t n, cap;
};

/* Loads dir/tokenizer.json, and dir/tokenizer_config.json when present (clean_up_tokenization_spaces). */
qwglm_status tokenizer_load_dir(const char *dir, struct tokenizer **out, struct qw_err *e);
/* Loads from tokenizer.json text; config (NULL or tokenizer_config.json text) as above. name is used in messages. */
qwglm_status tokenizer_load(const char *json, size_t n, const char *config, size_t config_n, const char *name,
                            struct tokenizer **out, struct qw_err *e);
void tokenizer_free(struct tokenizer *t);

/* Appends the ids of text[0..n) to out (no special tokens added; added tokens in the text are matched). Text that
 * is not valid UTF-8 still encodes: each stray byte becomes its own byte-level symbol. */
qwglm_status tokenizer_encode(const struct tokenizer *t, const char *text, size_t n, struct tok_ids *out,
                              struct qw_err *e);
/* Appends the text of ids to out. Unknown ids are skipped, as the reference does. */
qwglm_status tokenizer_decode(const struct tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                              struct qw_str *out, struct qw_err *e);

/* One past the largest id (vocabulary and added tokens). */
int32_t tokenizer_n_vocab(const struct tokenizer *t);
/* The id whose text is exactly s[0..n) (an added token's content, or a vocabulary entry as raw bytes); -1 if none. */
int32_t tokenizer_token_id(const struct tokenizer *t, const char *s, size_t n);
/* The bytes id decodes to (before UTF-8 repair), or NULL for an unknown id. */
const char *tokenizer_token_bytes(const struct tokenizer *t, int32_t id, size_t *len);
/* Whether id is an added token marked special (skipped by skip_special). */
bool tokenizer_is_special(const struct tokenizer *t, int32_t id);
/* Whether decoding applies transformers' clean_up_tokenization (from tokenizer_config.json). */
bool tokenizer_cleans_up_spaces(const struct tokenizer *t);

/* Appends bytes to out with every maximal invalid UTF-8 subpart replaced by U+FFFD (Rust's from_utf8_lossy). */
bool utf8_lossy_append(struct qw_str *out, const char *s, size_t n);
/* Length of the longest prefix of s[0..n) that can be emitted now: everything except a trailing sequence that is
 * a valid but incomplete start of a UTF-8 character. */
size_t utf8_complete_prefix(const char *s, size_t n);

/* Streaming detokenizer: feed ids as they are generated, get text that never splits a UTF-8 character. The
 * concatenated output equals tokenizer_decode of all ids (clean-up of tokenization spaces aside, which needs the
 * whole text and is not applied here). */
struct detok {
    const struct tokenizer *t;
    bool skip_special;
    char pending[8]; /* bytes of an incomplete character */
    size_t n_pending;
};

void detok_init(struct detok *d, const struct tokenizer *t, bool skip_special);
/* Appends the text that id completes to out. */
bool detok_push(struct detok *d, int32_t id, struct qw_str *out);
/* Appends what is still held back (as U+FFFD when incomplete) and resets. */
bool detok_flush(struct detok *d, struct qw_str *out);

#endif
