/* A backtracking regular-expression engine with Oniguruma's semantics (the library Hugging Face tokenizers use
 * for pre-tokenizer patterns), over UTF-8 with Unicode general categories.
 *
 * Supported: literals and escapes (\t \n \r \f \v \a \e \xHH \x{H..} \uHHHH \0oo), classes [...] with ranges,
 * negation and nested classes, \d \D \s \S \w \W \h \H, \p{Cat} \P{Cat} \p{^Cat} (general categories), '.',
 * groups (...) (?:...) (?<name>...), flags (?i) (?m) (?x) (?-i) and (?i:...), alternation, quantifiers * + ?
 * {n} {n,} {,m} {n,m} with lazy (?) and possessive (+) forms, atomic groups (?>...), lookahead (?=...) (?!...),
 * fixed-length lookbehind (?<=...) (?<!...), anchors ^ $ (line anchors, as in Oniguruma's default syntax)
 * \A \z \Z \b \B \G. Backreferences, subexpression calls, class intersection and POSIX brackets are rejected
 * with a message naming the construct and its offset.
 *
 * Text that is not valid UTF-8 is matched one byte at a time; such a byte is in no category and no property, so
 * it matches negated classes ([^...], \S, \P{L}) and '.'. Matching is leftmost, alternatives in order, greedy
 * repeats longest first: the same match Oniguruma returns. A budget on backtracking steps (as Oniguruma's retry
 * limit) turns catastrophic patterns into an error instead of a hang. */
#ifndef QW_REGEX_H
#define QW_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct regex;

/* Scratch for matching (the backtracking stack); one per thread, reusable across calls and patterns. */
struct regex_vm {
    struct regex_frame *stack;
    size_t cap;
    long steps; /* budget left in the current search */
};

qwglm_status regex_compile(const char *pattern, size_t n, struct regex **out, struct qw_err *e);
void regex_free(struct regex *re);
void regex_vm_free(struct regex_vm *vm);

/* Finds the leftmost match in s[0..n) that starts at or after from (a code point boundary). Returns 1 and sets
 * [*ms, *me) on a match, 0 when there is none, -1 (with e set) when out of memory or the backtracking budget is
 * spent. */
int regex_search(const struct regex *re, struct regex_vm *vm, const char *s, size_t n, size_t from, size_t *ms,
                 size_t *me, struct qw_err *e);

#endif
