/* Internals shared by the regex compiler (regex_compile.c) and matcher (regex.c): character sets, the program
 * and its instructions. Not an API. */
#ifndef QW_REGEX_IMPL_H
#define QW_REGEX_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "text/regex.h"

#define RE_INF UINT32_MAX
#define RE_MAX_DEPTH 64          /* group nesting */
#define RE_MAX_NODES 100000      /* syntax tree */
#define RE_MAX_PROG 200000       /* instructions, after counted repeats are expanded */
#define RE_MAX_REPEAT 100000     /* {n,m} bounds, as Oniguruma's ONIG_MAX_REPEAT_NUM */
#define RE_STEPS_BASE 10000000L  /* backtracking budget per match attempt, plus RE_STEPS_PER_BYTE per byte */
#define RE_STEPS_PER_BYTE 16L
#define GUARD_SETS 8

enum item_kind { IT_RANGE, IT_CATS, IT_PROP, IT_SUB };

struct set_item {
    uint8_t kind; /* enum item_kind */
    bool neg;     /* the item matches when its test fails */
    uint32_t a, b; /* RANGE [a, b]; CATS: mask of categories; PROP: UNI_* flag mask; SUB: set index */
};

struct cset {
    uint64_t ascii[2]; /* membership of U+0000..U+007F, precomputed */
    bool neg;
    uint32_t first, n; /* items[first .. first + n) */
};

enum rep_kind { REP_GREEDY, REP_LAZY, REP_POSSESSIVE };
enum assert_kind { AS_BOL, AS_EOL, AS_BOS, AS_EOS, AS_EOS_NL, AS_WORD, AS_NOT_WORD, AS_START };
enum look_flags { LOOK_NEG = 1, LOOK_BEHIND = 2 };

enum op { OP_SET, OP_STAR, OP_SPLIT, OP_JMP, OP_MATCH, OP_ASSERT, OP_LOOK, OP_ATOMIC, OP_MARK, OP_PROGRESS };

struct inst {
    uint8_t op, sub;
    int32_t x, y;   /* SET/STAR: set; SPLIT: preferred and other target; JMP: target; LOOK/ATOMIC: continuation */
    int32_t gx, gy; /* SPLIT: guard of x and y (-1: none) */
    uint32_t min, max; /* STAR: bounds; LOOK behind: length; MARK/PROGRESS: register */
};

struct guard {
    uint64_t ascii[2];
    int32_t sets[GUARD_SETS];
    int n; /* -1: any code point past ASCII passes */
};

struct regex {
    struct cset *sets;
    struct set_item *items;
    struct inst *prog;
    struct guard *guards;
    int n_sets, n_items, n_prog, n_guards, n_regs;
    int32_t start_guard; /* guard of the whole pattern, -1 when it can match empty or starts anywhere */
};

/* Whether code point cp (or a stray byte, UNI_BAD_BYTE + b) is in set s. */
bool regex_set_has_slow(const struct regex *re, const struct cset *s, uint32_t cp);

static inline bool set_has(const struct regex *re, int32_t si, uint32_t cp)
{
    const struct cset *s = &re->sets[si];
    if (cp < 128) return (s->ascii[cp >> 6] >> (cp & 63)) & 1;
    return regex_set_has_slow(re, s, cp);
}


#endif
