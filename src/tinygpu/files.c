/* tiny-gpu memory image files (the reference cases' kernel.hex / kernel.bin / data.txt).
 *
 * Both are lists of tokens separated by white space or commas; `#`, `;` and `//` start a comment that runs to
 * the end of the line; `@ADDR` moves the load address (like Verilog's $readmemh). Kernel files: one 16-bit
 * word per token, hex (1-4 digits, optional 0x) unless the token is exactly 16 binary digits (optional 0b);
 * addresses are hex too. Data files: one byte per token, decimal unless prefixed 0x or 0b; addresses
 * likewise. The image extent (highest address loaded + 1) is what the CLI reports as program_words. */
#include <ctype.h>
#include <string.h>

#include "base/err.h"
#include "tinygpu/tinygpu.h"

struct image {
    const char *what; /* "word" or "byte" */
    int size;         /* rows */
    long max;         /* largest value of a row */
    bool kernel;      /* number syntax: kernel (hex / 16-bit binary) or data (decimal / 0x / 0b) */
};

static int digit(char c)
{
    c = (char)tolower((unsigned char)c);
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return 99;
}

/* Digits of s in base; -1 when malformed, saturates at 1 << 20. */
static long digits(const char *s, size_t n, int base)
{
    if (n == 0) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digit(s[i]);
        if (d >= base) return -1;
        v = v * base + d;
        if (v > (1L << 20)) v = 1L << 20;
    }
    return v;
}

static bool all_binary(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0' && s[i] != '1') return false;
    return true;
}

/* A kernel number: 16 binary digits (optionally 0b), else hex (optionally 0x) of at most 4 digits. */
static long kernel_number(const char *s, size_t n)
{
    if (n == 16 && all_binary(s, n)) return digits(s, n, 2);
    if (n == 18 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B') && all_binary(s + 2, 16))
        return digits(s + 2, 16, 2);
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2, n -= 2;
    if (n > 4) return digits(s, n, 16) < 0 ? -1 : 1L << 20; /* valid hex, but too wide */
    return digits(s, n, 16);
}

/* A data number: decimal, 0x hex or 0b binary. */
static long data_number(const char *s, size_t n)
{
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return digits(s + 2, n - 2, 16);
    if (n > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) return digits(s + 2, n - 2, 2);
    return digits(s, n, 10);
}

static qwglm_status parse(const struct image *im, const char *text, size_t len, void *rows, int *extent,
                          struct qw_err *e)
{
    const char *p = text, *end = text + len;
    int line = 1, addr = 0, hi = 0;
    while (p < end) {
        char c = *p;
        if (c == '\n') {
            line++;
            p++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\f' || c == '\v') {
            p++;
            continue;
        }
        if (c == '#' || c == ';' || (c == '/' && p + 1 < end && p[1] == '/')) {
            while (p < end && *p != '\n') p++;
            continue;
        }
        const char *s = p;
        while (p < end && !isspace((unsigned char)*p) && *p != ',' && *p != '#' && *p != ';' &&
               !(*p == '/' && p + 1 < end && p[1] == '/'))
            p++;
        size_t n = (size_t)(p - s);
        int shown = n > 24 ? 24 : (int)n;
        bool at = s[0] == '@';
        const char *num = at ? s + 1 : s;
        size_t nn = at ? n - 1 : n;
        long v = im->kernel ? kernel_number(num, nn) : data_number(num, nn);
        if (v < 0)
            return qw_fail(e, QWGLM_ERR_FORMAT, "line %d: malformed %s '%.*s'", line,
                           at ? "address" : im->what, shown, s);
        if (at) {
            if (v >= im->size)
                return qw_fail(e, QWGLM_ERR_FORMAT, "line %d: address '%.*s' out of range 0..%d", line, shown,
                               s, im->size - 1);
            addr = (int)v;
            continue;
        }
        if (v > im->max)
            return qw_fail(e, QWGLM_ERR_FORMAT, "line %d: %s '%.*s' out of range 0..%ld", line, im->what,
                           shown, s, im->max);
        if (addr >= im->size)
            return qw_fail(e, QWGLM_ERR_FORMAT, "line %d: too many %ss: memory has %d rows", line, im->what,
                           im->size);
        if (im->kernel)
            ((uint16_t *)rows)[addr] = (uint16_t)v;
        else
            ((uint8_t *)rows)[addr] = (uint8_t)v;
        addr++;
        if (addr > hi) hi = addr;
    }
    *extent = hi;
    return QWGLM_OK;
}

qwglm_status qwglm_tinygpu_parse_kernel(const char *text, size_t len, uint16_t *words, int *n_words,
                                        char *err)
{
    static const struct image im = {"word", QWGLM_TINYGPU_PROGRAM_WORDS, 0xFFFF, true};
    struct qw_err e = {0};
    memset(words, 0, sizeof(uint16_t) * QWGLM_TINYGPU_PROGRAM_WORDS);
    *n_words = 0;
    qwglm_status st = parse(&im, text, len, words, n_words, &e);
    if (st) {
        memset(words, 0, sizeof(uint16_t) * QWGLM_TINYGPU_PROGRAM_WORDS);
        *n_words = 0;
        qw_err_copy(err, &e);
    }
    return st;
}

qwglm_status qwglm_tinygpu_parse_data(const char *text, size_t len, uint8_t *data, int *n_bytes, char *err)
{
    static const struct image im = {"byte", QWGLM_TINYGPU_DATA_BYTES, 255, false};
    struct qw_err e = {0};
    memset(data, 0, QWGLM_TINYGPU_DATA_BYTES);
    *n_bytes = 0;
    qwglm_status st = parse(&im, text, len, data, n_bytes, &e);
    if (st) {
        memset(data, 0, QWGLM_TINYGPU_DATA_BYTES);
        *n_bytes = 0;
        qw_err_copy(err, &e);
    }
    return st;
}
