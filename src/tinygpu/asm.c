/* tiny-gpu assembler for the README's syntax.
 *
 *     .threads 8                      ; launch thread count (optional)
 *     .data 0 1 2 3                   ; bytes appended to the data image, from address 0
 *     LOOP:                           ; a label (may share its line with an instruction)
 *       MUL R0, %blockIdx, %blockDim
 *       CONST R1, #8
 *       CMP R9, R2
 *       BRn LOOP                      ; BR + any of n z p in that order; target: label or #address
 *       .word 0x1234                  ; a raw word
 *     RET
 *
 * One pass emits the words and records branch targets that name labels; they are patched at the end, so
 * labels may be used before they are defined. Every error names the line. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/strmap.h"
#include "tinygpu/tinygpu.h"

#define MAX_LABELS 1024

struct fixup {
    int addr, line;
    const char *name;
    size_t len;
};

struct asm_state {
    qwglm_tinygpu_program *out;
    struct qw_err *e;
    struct strmap labels; /* name -> index into label_addr */
    int label_addr[MAX_LABELS], label_line[MAX_LABELS], n_labels;
    struct fixup fix[QWGLM_TINYGPU_PROGRAM_WORDS];
    int n_fix;
    int line;
    const char *p, *end; /* cursor in the current line (end: its comment or end of line) */
};

static bool is_ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == '.';
}
static bool is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.';
}

static void skip_ws(struct asm_state *a)
{
    while (a->p < a->end && (*a->p == ' ' || *a->p == '\t' || *a->p == '\r')) a->p++;
}

/* A token for messages: up to the next separator, at most 24 characters. */
static int tok_len(const char *p, const char *end)
{
    int n = 0;
    while (p + n < end && n < 24 && p[n] != ',' && !isspace((unsigned char)p[n])) n++;
    return n == 0 && p < end ? 1 : n;
}

static bool ieq(const char *s, size_t n, const char *z)
{
    size_t m = strlen(z);
    if (n != m) return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != tolower((unsigned char)z[i])) return false;
    return true;
}

/* An unsigned number: decimal, 0x hex or 0b binary; *v gets it (saturating at 100000). */
static bool parse_number(const char *s, size_t n, long *v)
{
    int base = 10;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2, n -= 2;
    else if (n > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
        base = 2, s += 2, n -= 2;
    if (n == 0) return false;
    long x = 0;
    for (size_t i = 0; i < n; i++) {
        int d;
        char c = (char)tolower((unsigned char)s[i]);
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return false;
        if (d >= base) return false;
        x = x * base + d;
        if (x > 100000) x = 100000;
    }
    *v = x;
    return true;
}

/* A signed number token at the cursor (optional '#' when hash, optional '-'); range checked by the caller. */
static qwglm_status number(struct asm_state *a, bool hash, const char *what, long lo, long hi, long *v)
{
    skip_ws(a);
    const char *start = a->p;
    if (hash && a->p < a->end && *a->p == '#') a->p++;
    bool neg = a->p < a->end && *a->p == '-';
    if (neg) a->p++;
    const char *s = a->p;
    while (a->p < a->end && isalnum((unsigned char)*a->p)) a->p++;
    long x;
    if (!parse_number(s, (size_t)(a->p - s), &x))
        return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: expected %s, found '%.*s'", a->line, what,
                       tok_len(start, a->end), start);
    if (neg) x = -x;
    if (x < lo || x > hi)
        return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: %s %.*s out of range %ld..%ld", a->line, what,
                       (int)(a->p - start), start, lo, hi);
    *v = x;
    return QWGLM_OK;
}

static qwglm_status reg(struct asm_state *a, int *r)
{
    skip_ws(a);
    const char *s = a->p;
    if (a->p < a->end && *a->p == '%') a->p++;
    while (a->p < a->end && is_ident(*a->p)) a->p++;
    size_t n = (size_t)(a->p - s);
    if (ieq(s, n, "%blockIdx")) return *r = 13, QWGLM_OK;
    if (ieq(s, n, "%blockDim")) return *r = 14, QWGLM_OK;
    if (ieq(s, n, "%threadIdx")) return *r = 15, QWGLM_OK;
    if (n >= 2 && (s[0] == 'R' || s[0] == 'r')) {
        long v;
        bool digits = true;
        for (size_t i = 1; i < n; i++) digits &= isdigit((unsigned char)s[i]) != 0;
        if (digits && parse_number(s + 1, n - 1, &v)) {
            if (v > 15)
                return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: register '%.*s' out of range (R0-R15)",
                               a->line, tok_len(s, a->end), s);
            *r = (int)v;
            return QWGLM_OK;
        }
    }
    return qw_fail(a->e, QWGLM_ERR_FORMAT,
                   "line %d: expected a register (R0-R15, %%blockIdx, %%blockDim, "
                   "%%threadIdx), found '%.*s'",
                   a->line, tok_len(s, a->end), s);
}

static qwglm_status comma(struct asm_state *a)
{
    skip_ws(a);
    if (a->p < a->end && *a->p == ',') {
        a->p++;
        return QWGLM_OK;
    }
    return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: expected ',', found '%.*s'", a->line,
                   a->p < a->end ? tok_len(a->p, a->end) : 11, a->p < a->end ? a->p : "end of line");
}

static qwglm_status line_end(struct asm_state *a)
{
    skip_ws(a);
    if (a->p == a->end) return QWGLM_OK;
    return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: unexpected '%.*s' after the operands", a->line,
                   tok_len(a->p, a->end), a->p);
}

static qwglm_status emit(struct asm_state *a, uint16_t w)
{
    qwglm_tinygpu_program *o = a->out;
    if (o->n_words >= QWGLM_TINYGPU_PROGRAM_WORDS)
        return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: program exceeds %d words", a->line,
                       QWGLM_TINYGPU_PROGRAM_WORDS);
    o->line[o->n_words] = a->line;
    o->words[o->n_words++] = w;
    return QWGLM_OK;
}

/* Branch target: a label (patched later) or an address. */
static qwglm_status target(struct asm_state *a, int *imm)
{
    skip_ws(a);
    if (a->p < a->end && is_ident_start(*a->p)) {
        const char *s = a->p;
        while (a->p < a->end && is_ident(*a->p)) a->p++;
        struct fixup *f = &a->fix[a->n_fix++]; /* one per word, and there are at most 256 words */
        *f = (struct fixup){a->out->n_words, a->line, s, (size_t)(a->p - s)};
        *imm = 0;
        return QWGLM_OK;
    }
    long v;
    qwglm_status st = number(a, true, "branch target", 0, 255, &v);
    *imm = (int)v;
    return st;
}

static qwglm_status instruction(struct asm_state *a, const char *m, size_t n)
{
    static const char *const arith[4] = {"ADD", "SUB", "MUL", "DIV"};
    qwglm_status st;
    int rd = 0, rs = 0, rt = 0;
    long imm;
    if (a->out->n_words >= QWGLM_TINYGPU_PROGRAM_WORDS) return emit(a, 0);
    if (ieq(m, n, "NOP")) return line_end(a) ? a->e->status : emit(a, 0x0000);
    if (ieq(m, n, "RET")) return line_end(a) ? a->e->status : emit(a, 0xF000);
    for (int op = 0; op < 4; op++)
        if (ieq(m, n, arith[op])) {
            if ((st = reg(a, &rd)) || (st = comma(a)) || (st = reg(a, &rs)) || (st = comma(a)) ||
                (st = reg(a, &rt)) || (st = line_end(a)))
                return st;
            return emit(a, (uint16_t)((TG_OP_ADD + op) << 12 | rd << 8 | rs << 4 | rt));
        }
    if (ieq(m, n, "CMP") || ieq(m, n, "STR")) {
        if ((st = reg(a, &rs)) || (st = comma(a)) || (st = reg(a, &rt)) || (st = line_end(a))) return st;
        return emit(a, (uint16_t)((ieq(m, n, "CMP") ? TG_OP_CMP : TG_OP_STR) << 12 | rs << 4 | rt));
    }
    if (ieq(m, n, "LDR")) {
        if ((st = reg(a, &rd)) || (st = comma(a)) || (st = reg(a, &rs)) || (st = line_end(a))) return st;
        return emit(a, (uint16_t)(TG_OP_LDR << 12 | rd << 8 | rs << 4));
    }
    if (ieq(m, n, "CONST")) {
        if ((st = reg(a, &rd)) || (st = comma(a)) || (st = number(a, true, "immediate", -128, 255, &imm)) ||
            (st = line_end(a)))
            return st;
        return emit(a, (uint16_t)(TG_OP_CONST << 12 | rd << 8 | (imm & 255)));
    }
    if (ieq(m, n, ".word")) {
        if ((st = number(a, false, "word", 0, 0xFFFF, &imm)) || (st = line_end(a))) return st;
        return emit(a, (uint16_t)imm);
    }
    if (n >= 3 && n <= 5 && ieq(m, 2, "BR")) {
        static const char letters[] = "nzp";
        int nzp = 0, next = 0;
        for (size_t i = 2; i < n; i++) {
            char c = (char)tolower((unsigned char)m[i]);
            int k = next;
            while (k < 3 && letters[k] != c) k++;
            if (k == 3) goto unknown;
            nzp |= 4 >> k;
            next = k + 1;
        }
        int t;
        if ((st = target(a, &t)) || (st = line_end(a))) return st;
        return emit(a, (uint16_t)(TG_OP_BRNZP << 12 | nzp << 9 | t));
    }
    if (ieq(m, n, "BR"))
        return qw_fail(a->e, QWGLM_ERR_FORMAT,
                       "line %d: BR needs its condition letters (BRn, BRz, BRnzp, ...)", a->line);
unknown:
    return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: unknown mnemonic '%.*s'", a->line,
                   (int)(n > 24 ? 24 : n), m);
}

static qwglm_status directive_data(struct asm_state *a)
{
    qwglm_tinygpu_program *o = a->out;
    for (;;) {
        skip_ws(a);
        if (a->p < a->end && *a->p == ',') {
            a->p++;
            continue;
        }
        if (a->p == a->end) return QWGLM_OK;
        long v;
        qwglm_status st = number(a, false, "data byte", -128, 255, &v);
        if (st) return st;
        if (o->n_data >= QWGLM_TINYGPU_DATA_BYTES)
            return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: .data exceeds %d bytes", a->line,
                           QWGLM_TINYGPU_DATA_BYTES);
        o->data[o->n_data++] = (uint8_t)(v & 255);
    }
}

static qwglm_status define_label(struct asm_state *a, const char *s, size_t n)
{
    int32_t i = strmap_get(&a->labels, s, n);
    if (i >= 0)
        return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: label '%.*s' already defined on line %d", a->line,
                       (int)(n > 24 ? 24 : n), s, a->label_line[i]);
    if (a->n_labels >= MAX_LABELS)
        return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: more than %d labels", a->line, MAX_LABELS);
    if (!strmap_put(&a->labels, s, n, a->n_labels)) return qw_fail(a->e, QWGLM_ERR_NOMEM, "out of memory");
    a->label_addr[a->n_labels] = a->out->n_words;
    a->label_line[a->n_labels++] = a->line;
    return QWGLM_OK;
}

static qwglm_status one_line(struct asm_state *a)
{
    for (;;) {
        skip_ws(a);
        if (a->p == a->end) return QWGLM_OK;
        const char *s = a->p;
        if (!is_ident_start(*s))
            return qw_fail(a->e, QWGLM_ERR_FORMAT,
                           "line %d: expected a label, directive or mnemonic, found '%.*s'", a->line,
                           tok_len(s, a->end), s);
        while (a->p < a->end && is_ident(*a->p)) a->p++;
        size_t n = (size_t)(a->p - s);
        skip_ws(a);
        if (a->p < a->end && *a->p == ':') { /* label: maybe more on the line */
            a->p++;
            qwglm_status st = define_label(a, s, n);
            if (st) return st;
            continue;
        }
        if (ieq(s, n, ".threads")) {
            long v;
            qwglm_status st = number(a, false, "thread count", 0, 255, &v);
            if (st) return st;
            if (a->out->threads >= 0)
                return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: .threads given twice", a->line);
            a->out->threads = (int)v;
            return line_end(a);
        }
        if (ieq(s, n, ".data")) return directive_data(a);
        return instruction(a, s, n);
    }
}

static qwglm_status assemble(struct asm_state *a, const char *src, size_t len)
{
    const char *p = src, *end = src + len;
    qwglm_status st;
    a->line = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        a->line++;
        /* comments: ';' or '//' to the end of the line */
        const char *stop = p;
        while (stop < eol && *stop != ';' && !(*stop == '/' && stop + 1 < eol && stop[1] == '/')) stop++;
        a->p = p;
        a->end = stop;
        if (memchr(p, '\0', (size_t)(eol - p)))
            return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: NUL byte in the source", a->line);
        if ((st = one_line(a))) return st;
        p = eol < end ? eol + 1 : end;
    }
    for (int i = 0; i < a->n_fix; i++) {
        const struct fixup *f = &a->fix[i];
        int32_t k = strmap_get(&a->labels, f->name, f->len);
        if (k < 0)
            return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: label '%.*s' not defined", f->line,
                           (int)(f->len > 24 ? 24 : f->len), f->name);
        if (a->label_addr[k] > 255)
            return qw_fail(a->e, QWGLM_ERR_FORMAT, "line %d: label '%.*s' is past the last address", f->line,
                           (int)(f->len > 24 ? 24 : f->len), f->name);
        a->out->words[f->addr] = (uint16_t)((a->out->words[f->addr] & 0xFF00) | a->label_addr[k]);
    }
    return QWGLM_OK;
}

qwglm_status qwglm_tinygpu_assemble(const char *src, size_t len, qwglm_tinygpu_program *out, char *err)
{
    struct qw_err e = {0};
    memset(out, 0, sizeof *out);
    out->threads = -1;
    struct asm_state *a = qw_calloc(1, sizeof *a);
    if (!a) {
        qw_fail(&e, QWGLM_ERR_NOMEM, "tinygpu assembler: out of memory");
        qw_err_copy(err, &e);
        return QWGLM_ERR_NOMEM;
    }
    a->out = out;
    a->e = &e;
    qwglm_status st;
    if (!strmap_init(&a->labels, 64))
        st = qw_fail(&e, QWGLM_ERR_NOMEM, "tinygpu assembler: out of memory");
    else
        st = assemble(a, src, len);
    strmap_free(&a->labels);
    qw_free(a);
    if (st) {
        memset(out, 0, sizeof *out);
        out->threads = -1;
        qw_err_copy(err, &e);
    }
    return st;
}
