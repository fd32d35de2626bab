/* Regular expressions: parser (pattern -> syntax tree), compiler (tree -> program) and a backtracking VM.
 *
 * The program is a list of instructions run by a backtracking machine whose choice points live on an explicit
 * stack. Two things keep it fast on tokenizer patterns: a repeat of a single class (\p{L}+, \s*) is one STAR
 * instruction that consumes the whole run at once and leaves one choice point that gives characters back one at
 * a time, and every alternation branch carries a guard (the set of characters it can start with) so branches that
 * cannot match are skipped without pushing anything. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "text/regex_impl.h"
#include "text/unicode.h"

/* ---- sets ---- */


static bool item_has(const struct regex *re, const struct set_item *it, uint32_t cp);

bool regex_set_has_slow(const struct regex *re, const struct cset *s, uint32_t cp)
{
    bool in = false;
    for (uint32_t i = 0; i < s->n && !in; i++) in = item_has(re, &re->items[s->first + i], cp);
    return in != s->neg;
}

static bool item_has(const struct regex *re, const struct set_item *it, uint32_t cp)
{
    bool r;
    switch (it->kind) {
    case IT_RANGE: r = cp >= it->a && cp <= it->b; break;
    case IT_CATS: r = (it->a >> (cp > UNI_MAX ? UNI_CN : uni_cat(cp))) & 1; break;
    case IT_PROP: r = cp <= UNI_MAX && (uni_get(cp)->flags & it->a); break;
    default: r = regex_set_has_slow(re, &re->sets[it->a], cp); break;
    }
    return r != it->neg;
}

/* ---- matcher ---- */

enum frame_kind { FR_ALT, FR_GREEDY, FR_LAZY, FR_REG };

struct regex_frame {
    int32_t kind, pc;
    size_t pos, aux; /* GREEDY: aux = lowest position; LAZY: aux = count; REG: pc = register, pos = old value */
};

#define NO_MATCH ((size_t)-1)
#define MATCH_ERROR ((size_t)-2)

struct run {
    const struct regex *re;
    struct regex_vm *vm;
    const char *s;
    size_t n, start, top;
    size_t *regs;
    struct qw_err *e;
};

static inline size_t decode_at(const char *s, size_t n, size_t pos, uint32_t *cp)
{
    unsigned char c = (unsigned char)s[pos];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    return uni_next(s + pos, n - pos, cp);
}

static inline bool guard_ok(const struct regex *re, int32_t gi, const char *s, size_t n, size_t pos)
{
    if (gi < 0) return true;
    if (pos >= n) return false;
    const struct guard *g = &re->guards[gi];
    uint32_t cp;
    decode_at(s, n, pos, &cp);
    if (cp < 128) return (g->ascii[cp >> 6] >> (cp & 63)) & 1;
    for (int i = 0; i < g->n; i++)
        if (regex_set_has_slow(re, &re->sets[g->sets[i]], cp)) return true;
    return false;
}

static bool grow_stack(struct run *r)
{
    struct regex_vm *vm = r->vm;
    size_t cap = vm->cap ? vm->cap * 2 : 256, bytes;
    struct regex_frame *st = size_mul_ok(cap, sizeof *vm->stack, &bytes) ? qw_realloc(vm->stack, bytes) : NULL;
    if (!st) {
        qw_fail(r->e, QWGLM_ERR_NOMEM, "regex: out of memory for the backtracking stack");
        return false;
    }
    vm->stack = st;
    vm->cap = cap;
    return true;
}

static inline bool push(struct run *r, int kind, int pc, size_t pos, size_t aux)
{
    if (r->top == r->vm->cap && !grow_stack(r)) return false;
    r->vm->stack[r->top++] = (struct regex_frame){kind, pc, pos, aux};
    return true;
}

static bool is_word(uint32_t cp)
{
    if (cp > UNI_MAX) return false;
    int c = uni_cat(cp);
    return (c >= UNI_LU && c <= UNI_NO) || c == UNI_PC;
}

static bool check_assert(const struct run *r, int kind, size_t pos)
{
    const char *s = r->s;
    size_t n = r->n;
    switch (kind) {
    case AS_BOL: return pos == 0 || s[pos - 1] == '\n';
    case AS_EOL: return pos == n || s[pos] == '\n';
    case AS_BOS: return pos == 0;
    case AS_EOS: return pos == n;
    case AS_EOS_NL: return pos == n || (pos + 1 == n && s[pos] == '\n');
    case AS_START: return pos == r->start;
    default: {
        uint32_t a = 0, b = 0;
        bool wa = false, wb = false;
        if (pos > 0) {
            size_t l = uni_prev_len(s, pos);
            decode_at(s, n, pos - l, &a);
            wa = is_word(a);
        }
        if (pos < n) {
            decode_at(s, n, pos, &b);
            wb = is_word(b);
        }
        return (wa != wb) == (kind == AS_WORD);
    }
    }
}

/* Runs the program from pc at pos until its MATCH; returns the end, NO_MATCH or MATCH_ERROR. Lookaround and
 * atomic groups recurse (bounded by the pattern's nesting depth); their choice points are dropped once they
 * succeed. */
static size_t run(struct run *r, int pc, size_t pos)
{
    const struct regex *re = r->re;
    const char *s = r->s;
    size_t n = r->n, base = r->top;
    for (;;) {
        if (--r->vm->steps < 0) {
            qw_fail(r->e, QWGLM_ERR_FORMAT, "regex: backtracking limit reached");
            return MATCH_ERROR;
        }
        const struct inst *in = &re->prog[pc];
        uint32_t cp;
        size_t len;
        switch (in->op) {
        case OP_SET:
            if (pos < n) {
                len = decode_at(s, n, pos, &cp);
                if (set_has(re, in->x, cp)) {
                    pos += len;
                    pc++;
                    continue;
                }
            }
            goto fail;
        case OP_STAR: {
            uint32_t count = 0;
            uint32_t want = in->sub == REP_LAZY ? in->min : in->max;
            size_t low = pos;
            while (count < want && pos < n) {
                len = decode_at(s, n, pos, &cp);
                if (!set_has(re, in->x, cp)) break;
                pos += len;
                if (++count == in->min) low = pos;
            }
            if (count < in->min) goto fail;
            if (in->sub == REP_GREEDY && pos > low && !push(r, FR_GREEDY, pc, pos, low)) return MATCH_ERROR;
            if (in->sub == REP_LAZY && count < in->max && !push(r, FR_LAZY, pc, pos, count)) return MATCH_ERROR;
            pc++;
            continue;
        }
        case OP_SPLIT: {
            bool ok_x = guard_ok(re, in->gx, s, n, pos), ok_y = guard_ok(re, in->gy, s, n, pos);
            if (ok_x && ok_y) {
                if (!push(r, FR_ALT, in->y, pos, 0)) return MATCH_ERROR;
                pc = in->x;
            } else if (ok_x) {
                pc = in->x;
            } else if (ok_y) {
                pc = in->y;
            } else {
                goto fail;
            }
            continue;
        }
        case OP_JMP: pc = in->x; continue;
        case OP_MATCH: r->top = base; return pos;
        case OP_ASSERT:
            if (!check_assert(r, in->sub, pos)) goto fail;
            pc++;
            continue;
        case OP_LOOK: {
            size_t at = pos, got = NO_MATCH;
            bool reachable = true;
            if (in->sub & LOOK_BEHIND) {
                for (uint32_t k = 0; k < in->min && reachable; k++) {
                    if (at == 0) reachable = false;
                    else at -= uni_prev_len(s, at);
                }
            }
            if (reachable) {
                got = run(r, pc + 1, at);
                if (got == MATCH_ERROR) return MATCH_ERROR;
            }
            bool ok = got != NO_MATCH && (!(in->sub & LOOK_BEHIND) || got == pos);
            if (ok == !!(in->sub & LOOK_NEG)) goto fail;
            pc = in->x;
            continue;
        }
        case OP_ATOMIC: {
            size_t got = run(r, pc + 1, pos);
            if (got == MATCH_ERROR) return MATCH_ERROR;
            if (got == NO_MATCH) goto fail;
            pos = got;
            pc = in->x;
            continue;
        }
        case OP_MARK:
            if (!push(r, FR_REG, (int)in->min, r->regs[in->min], 0)) return MATCH_ERROR;
            r->regs[in->min] = pos;
            pc++;
            continue;
        case OP_PROGRESS:
            if (r->regs[in->min] == pos) goto fail;
            pc++;
            continue;
        }
    fail:
        for (;;) {
            if (r->top == base) return NO_MATCH;
            struct regex_frame *f = &r->vm->stack[r->top - 1];
            if (f->kind == FR_ALT) {
                pc = f->pc;
                pos = f->pos;
                r->top--;
                break;
            }
            if (f->kind == FR_REG) {
                r->regs[f->pc] = f->pos;
                r->top--;
                continue;
            }
            const struct inst *st = &re->prog[f->pc];
            if (f->kind == FR_GREEDY) {
                pos = f->pos - uni_prev_len(s + f->aux, f->pos - f->aux);
                pc = f->pc + 1;
                if (pos > f->aux) f->pos = pos;
                else r->top--;
                break;
            }
            /* FR_LAZY: take one more */
            if (f->pos < n) {
                len = decode_at(s, n, f->pos, &cp);
                if (set_has(re, st->x, cp)) {
                    pos = f->pos + len;
                    pc = f->pc + 1;
                    if (++f->aux < st->max) f->pos = pos;
                    else r->top--;
                    break;
                }
            }
            r->top--;
        }
        if (--r->vm->steps < 0) {
            qw_fail(r->e, QWGLM_ERR_FORMAT, "regex: backtracking limit reached");
            return MATCH_ERROR;
        }
    }
}

int regex_search(const struct regex *re, struct regex_vm *vm, const char *s, size_t n, size_t from, size_t *ms,
                 size_t *me, struct qw_err *e)
{
    size_t regs_local[16], *regs = regs_local;
    if (re->n_regs > 16) {
        regs = qw_malloc((size_t)re->n_regs * sizeof *regs);
        if (!regs) {
            qw_fail(e, QWGLM_ERR_NOMEM, "regex: out of memory");
            return -1;
        }
    }
    struct run r = {.re = re, .vm = vm, .s = s, .n = n, .start = from, .regs = regs, .e = e};
    int result = 0;
    for (size_t pos = from; pos <= n;) {
        if (re->start_guard < 0 || guard_ok(re, re->start_guard, s, n, pos)) {
            r.top = 0;
            vm->steps = RE_STEPS_BASE + RE_STEPS_PER_BYTE * (long)(n - pos > (size_t)1 << 40 ? 0 : n - pos);
            size_t end = run(&r, 0, pos);
            if (end == MATCH_ERROR) {
                result = -1;
                break;
            }
            if (end != NO_MATCH) {
                *ms = pos;
                *me = end;
                result = 1;
                break;
            }
        }
        if (pos == n) break;
        uint32_t cp;
        pos += decode_at(s, n, pos, &cp);
    }
    if (regs != regs_local) qw_free(regs);
    return result;
}
