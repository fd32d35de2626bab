/* tiny-gpu instruction set: names, the disassembler and program listings.
 *
 * Encoding (src/decoder.sv): opcode [15:12], rd [11:8], rs [7:4], rt [3:0], imm [7:0], nzp [11:9]. A word is
 * disassembled to its mnemonic only when every bit the decoder ignores is 0, so that the text assembles back
 * to the same word; any other word is written as `.word 0xXXXX`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tinygpu/tinygpu.h"

const char *const tg_core_state_names[8] = {"IDLE", "FETCH",   "DECODE", "REQUEST",
                                            "WAIT", "EXECUTE", "UPDATE", "DONE"};

const char *tg_reg_name(int r)
{
    static const char *const names[16] = {"R0",  "R1",        "R2",        "R3",        "R4",  "R5",
                                          "R6",  "R7",        "R8",        "R9",        "R10", "R11",
                                          "R12", "%blockIdx", "%blockDim", "%threadIdx"};
    return names[r & 15];
}

int qwglm_tinygpu_disasm(uint16_t w, char *buf, size_t cap)
{
    const int op = w >> 12, rd = (w >> 8) & 15, rs = (w >> 4) & 15, rt = w & 15, imm = w & 255;
    static const char *const arith[4] = {"ADD", "SUB", "MUL", "DIV"};
    int n = -1;
    switch (op) {
    case TG_OP_NOP:
        if (w == 0) n = snprintf(buf, cap, "NOP");
        break;
    case TG_OP_BRNZP: {
        const int nzp = (w >> 9) & 7;
        if (nzp && !(w & 0x100))
            n = snprintf(buf, cap, "BR%s%s%s #%d", nzp & 4 ? "n" : "", nzp & 2 ? "z" : "", nzp & 1 ? "p" : "",
                         imm);
        break;
    }
    case TG_OP_CMP:
        if (rd == 0) n = snprintf(buf, cap, "CMP %s, %s", tg_reg_name(rs), tg_reg_name(rt));
        break;
    case TG_OP_ADD:
    case TG_OP_SUB:
    case TG_OP_MUL:
    case TG_OP_DIV:
        n = snprintf(buf, cap, "%s %s, %s, %s", arith[op - TG_OP_ADD], tg_reg_name(rd), tg_reg_name(rs),
                     tg_reg_name(rt));
        break;
    case TG_OP_LDR:
        if (rt == 0) n = snprintf(buf, cap, "LDR %s, %s", tg_reg_name(rd), tg_reg_name(rs));
        break;
    case TG_OP_STR:
        if (rd == 0) n = snprintf(buf, cap, "STR %s, %s", tg_reg_name(rs), tg_reg_name(rt));
        break;
    case TG_OP_CONST:
        n = snprintf(buf, cap, "CONST %s, #%d", tg_reg_name(rd), imm);
        break;
    case TG_OP_RET:
        if (w == 0xF000) n = snprintf(buf, cap, "RET");
        break;
    default:
        break;
    }
    if (n >= 0) return 1;
    snprintf(buf, cap, ".word 0x%04x", w);
    return 0;
}

/* ---- listings ---- */

void tg_put(struct tg_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n;
}


static bool is_branch(uint16_t w)
{
    return (w >> 12) == TG_OP_BRNZP && ((w >> 9) & 7) && !(w & 0x100);
}

size_t qwglm_tinygpu_listing(const uint16_t *words, int n_words, char *buf, size_t cap)
{
    struct tg_out o = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    if (n_words < 0) n_words = 0;
    if (n_words > QWGLM_TINYGPU_PROGRAM_WORDS) n_words = QWGLM_TINYGPU_PROGRAM_WORDS;
    bool label[QWGLM_TINYGPU_PROGRAM_WORDS] = {0};
    for (int a = 0; a < n_words; a++)
        if (is_branch(words[a]) && (words[a] & 255) < n_words) label[words[a] & 255] = true;
    for (int a = 0; a < n_words; a++) {
        if (label[a]) tg_put(&o, "L%d:\n", a);
        char text[48];
        uint16_t w = words[a];
        if (is_branch(w) && label[w & 255]) {
            qwglm_tinygpu_disasm(w, text, sizeof text);
            char *hash = strchr(text, '#');
            snprintf(hash, sizeof text - (size_t)(hash - text), "L%d", w & 255);
        } else {
            qwglm_tinygpu_disasm(w, text, sizeof text);
        }
        tg_put(&o, "    %-32s ; %3d: %04x\n", text, a, w);
    }
    return o.len;
}
