/* tiny-gpu: the RTL's reference cases (tests/fixtures/tinygpu, results of the original Verilog), the
 * assembler against the reference assembler's words, disassembler round trips, error messages, and random
 * programs compared edge by edge with a naive second model (tinygpu_ref.c). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "base/mem.h"
#include "format/json.h"
#include "qwglm_tinygpu.h"
#include "test.h"
#include "tinygpu_ref.h"

#define FIXTURES "tests/fixtures/tinygpu"

struct fixture {
    char name[64];
    uint16_t words[256];
    int n_words;
    uint8_t data[256];
    int threads;
    uint64_t max_cycles;
    char *asm_src;
    size_t asm_len;
    /* expected.json */
    uint64_t cycles;
    int done, exp_threads, program_words;
    uint8_t memory[256];
};

static char *slurp(const char *dir, const char *file, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *text = NULL;
    size_t n = 0;
    struct qw_err e = {0};
    if (qw_read_file(path, 1 << 20, &text, &n, &e)) return NULL;
    if (len) *len = n;
    return text;
}

static bool load_fixture(const char *name, struct fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    char dir[256];
    snprintf(dir, sizeof dir, FIXTURES "/%s", name);
    size_t len;
    char err[QWGLM_ERR_SIZE];
    char *k = slurp(dir, "kernel.hex", &len);
    if (!k) k = slurp(dir, "kernel.bin", &len);
    if (!k || qwglm_tinygpu_parse_kernel(k, len, f->words, &f->n_words, err)) {
        fprintf(stderr, "%s: kernel: %s\n", name, k ? err : "missing");
        qw_free(k);
        return false;
    }
    qw_free(k);
    char *d = slurp(dir, "data.txt", &len);
    int n_data;
    if (!d || qwglm_tinygpu_parse_data(d, len, f->data, &n_data, err)) {
        fprintf(stderr, "%s: data: %s\n", name, d ? err : "missing");
        qw_free(d);
        return false;
    }
    qw_free(d);
    char *t = slurp(dir, "threads", NULL);
    if (!t) return false;
    f->threads = atoi(t);
    qw_free(t);
    f->max_cycles = 10000000;
    char *args = slurp(dir, "args", NULL);
    if (args) {
        unsigned long long m;
        if (sscanf(args, "--max-cycles %llu", &m) == 1) f->max_cycles = m;
        qw_free(args);
    }
    f->asm_src = slurp(dir, "kernel.asm", &f->asm_len);
    char *x = slurp(dir, "expected.json", &len);
    struct json_doc doc;
    if (!x || json_parse(x, len, &doc, NULL)) {
        qw_free(x);
        return false;
    }
    int64_t v;
    bool ok = json_int(json_get(&doc.root, "cycles"), &v);
    f->cycles = (uint64_t)v;
    const struct json_value *done = json_get(&doc.root, "done");
    ok &= done && done->type == JSON_BOOL;
    f->done = done ? done->b : 0;
    ok &= json_int(json_get(&doc.root, "threads"), &v);
    f->exp_threads = (int)v;
    ok &= json_int(json_get(&doc.root, "program_words"), &v);
    f->program_words = (int)v;
    const struct json_value *mem = json_get(&doc.root, "data_memory");
    ok &= mem && mem->type == JSON_ARRAY && mem->n == 256;
    for (uint32_t i = 0; ok && i < 256; i++) {
        ok &= json_int(&mem->u.items[i], &v) && v >= 0 && v <= 255;
        f->memory[i] = (uint8_t)v;
    }
    json_doc_free(&doc);
    qw_free(x);
    return ok;
}

static int list_fixtures(char names[][64], int max)
{
    DIR *d = opendir(FIXTURES);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max)
        if (de->d_name[0] != '.' && strlen(de->d_name) < 64)
            memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
    closedir(d);
    return n;
}

/* ---- reference cases ---- */

static void check_result(const struct fixture *f, qwglm_tinygpu *g, const char *how)
{
    CHECKF(qwglm_tinygpu_cycles(g) == f->cycles, "%s (%s): %llu cycles, RTL %llu", f->name, how,
           (unsigned long long)qwglm_tinygpu_cycles(g), (unsigned long long)f->cycles);
    CHECKF(qwglm_tinygpu_done(g) == f->done, "%s (%s): done %d", f->name, how, qwglm_tinygpu_done(g));
    const uint8_t *m = qwglm_tinygpu_data_memory(g);
    int bad = 0;
    for (int i = 0; i < 256; i++) bad += m[i] != f->memory[i];
    CHECKF(bad == 0, "%s (%s): %d data bytes differ", f->name, how, bad);
}

static void test_fixtures(void)
{
    char names[32][64];
    int n = list_fixtures(names, 32);
    REQUIRE(n >= 8);
    qwglm_tinygpu *g;
    REQUIRE(qwglm_tinygpu_create(NULL, &g, NULL) == QWGLM_OK);
    for (int i = 0; i < n; i++) {
        struct fixture f;
        CHECKF(load_fixture(names[i], &f), "%s: fixture did not load", names[i]);
        CHECK(f.exp_threads == f.threads);
        CHECKF(f.program_words == f.n_words, "%s: %d words, expected %d", f.name, f.n_words, f.program_words);
        /* fast path */
        CHECK(qwglm_tinygpu_launch(g, f.words, f.data, f.threads, NULL) == QWGLM_OK);
        qwglm_tinygpu_run(g, f.max_cycles);
        check_result(&f, g, "run");
        /* running again past the end changes nothing but the count when not done */
        /* observed path: one step at a time, with the trace formatted every cycle */
        CHECK(qwglm_tinygpu_launch(g, f.words, f.data, f.threads, NULL) == QWGLM_OK);
        char line[2048];
        while (!qwglm_tinygpu_done(g) && qwglm_tinygpu_cycles(g) < f.max_cycles) {
            qwglm_tinygpu_step(g);
            size_t len = qwglm_tinygpu_trace_line(g, line, sizeof line);
            CHECK(len < sizeof line && strncmp(line, "cycle ", 6) == 0);
        }
        check_result(&f, g, "step");
        /* the assembler reproduces the reference assembler's words, .threads and .data */
        if (f.asm_src) {
            qwglm_tinygpu_program p;
            char err[QWGLM_ERR_SIZE];
            qwglm_status st = qwglm_tinygpu_assemble(f.asm_src, f.asm_len, &p, err);
            CHECKF(st == QWGLM_OK, "%s: %s", f.name, err);
            CHECKF(p.n_words == f.n_words && memcmp(p.words, f.words, sizeof p.words) == 0,
                   "%s: words differ", f.name);
            CHECKF(p.threads == f.threads, "%s: .threads %d", f.name, p.threads);
            CHECKF(memcmp(p.data, f.data, sizeof p.data) == 0, "%s: .data differs from data.txt", f.name);
            CHECK(p.n_words == 0 || p.line[0] > 0);
        }
        qw_free(f.asm_src);
    }
    qwglm_tinygpu_free(g);
}

/* The repository's matadd case, by hand: the cycle counts of spec section 11 and the timeline of section 9.
 */
static void test_matadd_timeline(void)
{
    struct fixture f;
    REQUIRE(load_fixture("matadd", &f));
    qw_free(f.asm_src);
    qwglm_tinygpu *g;
    REQUIRE(qwglm_tinygpu_create(NULL, &g, NULL) == QWGLM_OK);
    qwglm_tinygpu_launch(g, f.words, f.data, 8, NULL);
    qwglm_tinygpu_core c;
    int first_decode = -1, first_fetch = -1;
    while (!qwglm_tinygpu_step(g) && qwglm_tinygpu_cycles(g) < 1000) {
        qwglm_tinygpu_get_core(g, 0, &c);
        if (c.state == QWGLM_TINYGPU_FETCH && first_fetch < 0) first_fetch = (int)qwglm_tinygpu_cycles(g);
        if (c.state == QWGLM_TINYGPU_DECODE && first_decode < 0) first_decode = (int)qwglm_tinygpu_cycles(g);
        if (qwglm_tinygpu_cycles(g) == 20) { /* core 0 in its second instruction: registers of block 0 */
            qwglm_tinygpu_thread t;
            qwglm_tinygpu_get_thread(g, 0, 2, &t);
            CHECK(t.enabled && t.regs[13] == 0 && t.regs[14] == 4 && t.regs[15] == 2);
            qwglm_tinygpu_get_thread(g, 1, 3, &t);
            CHECK(t.regs[13] == 1 && t.regs[15] == 3 && t.regs[0] == 4); /* MUL R0 done on core 1 */
        }
    }
    CHECK(first_fetch == 3);  /* E3: IDLE -> FETCH */
    CHECK(first_decode == 9); /* six FETCH cycles */
    CHECK(qwglm_tinygpu_cycles(g) == 178);
    qwglm_tinygpu_dispatch d;
    qwglm_tinygpu_get_dispatch(g, &d);
    CHECK(d.total_blocks == 2 && d.blocks_done == 2 && d.done == 1 && d.thread_count == 8);
    qwglm_tinygpu_free(g);
}

/* ---- parameters ---- */

static void test_params(void)
{
    qwglm_tinygpu *g;
    char err[QWGLM_ERR_SIZE];
    qwglm_tinygpu_params p = qwglm_tinygpu_default_params();
    CHECK(p.n_cores == 2 && p.threads_per_block == 4 && p.data_channels == 4 && p.program_channels == 1 &&
          p.memory_latency == 1 && !p.fix_cmp && !p.fix_divergence);
    p.n_cores = 0;
    CHECK(qwglm_tinygpu_create(&p, &g, err) == QWGLM_ERR_ARG && g == NULL && strstr(err, "n_cores"));
    p = qwglm_tinygpu_default_params();
    p.memory_latency = 1000;
    CHECK(qwglm_tinygpu_create(&p, &g, err) == QWGLM_ERR_ARG && strstr(err, "memory_latency"));
    p = qwglm_tinygpu_default_params();
    p.n_cores = 16, p.threads_per_block = 16;
    CHECK(qwglm_tinygpu_create(&p, &g, err) == QWGLM_ERR_ARG);
    REQUIRE(qwglm_tinygpu_create(NULL, &g, NULL) == QWGLM_OK);
    CHECK(qwglm_tinygpu_launch(g, NULL, NULL, 256, err) == QWGLM_ERR_ARG && strstr(err, "256"));
    qwglm_tinygpu_free(g);
    qwglm_tinygpu_free(NULL);

    struct fixture f;
    REQUIRE(load_fixture("quirk_partial_block", &f));
    qw_free(f.asm_src);
    /* the fix: the core's PC follows slot 0, so 6 threads finish with all six sums stored */
    p = qwglm_tinygpu_default_params();
    p.fix_divergence = 1;
    REQUIRE(qwglm_tinygpu_create(&p, &g, NULL) == QWGLM_OK);
    qwglm_tinygpu_launch(g, f.words, f.data, 6, NULL);
    CHECK(qwglm_tinygpu_run(g, 5000) == 1);
    const uint8_t *m = qwglm_tinygpu_data_memory(g);
    for (int i = 0; i < 6; i++) CHECK(m[16 + i] == 2 * i);
    CHECK(m[22] == 0 && m[23] == 0);
    qwglm_tinygpu_free(g);

    /* slower memory, more cores and channels: same results, other cycle counts */
    REQUIRE(load_fixture("matadd", &f));
    qw_free(f.asm_src);
    const struct {
        int cores, tpb, dch, pch, lat;
        int faster; /* 1: fewer cycles than the RTL's 178, -1: more */
    } variants[] = {
        {2, 4, 4, 1, 3, -1}, {2, 4, 4, 2, 1, 1}, {1, 4, 4, 1, 1, -1}, {4, 2, 2, 4, 1, 0}, {2, 8, 8, 1, 1, 1}};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        p = qwglm_tinygpu_default_params();
        p.n_cores = variants[v].cores, p.threads_per_block = variants[v].tpb,
        p.data_channels = variants[v].dch;
        p.program_channels = variants[v].pch, p.memory_latency = variants[v].lat;
        REQUIRE(qwglm_tinygpu_create(&p, &g, NULL) == QWGLM_OK);
        qwglm_tinygpu_launch(g, f.words, f.data, 8, NULL);
        CHECKF(qwglm_tinygpu_run(g, 100000) == 1, "variant %zu", v);
        uint64_t cycles = qwglm_tinygpu_cycles(g);
        if (variants[v].faster > 0) CHECKF(cycles < 178, "variant %zu: %llu", v, (unsigned long long)cycles);
        if (variants[v].faster < 0) CHECKF(cycles > 178, "variant %zu: %llu", v, (unsigned long long)cycles);
        CHECKF(memcmp(qwglm_tinygpu_data_memory(g), f.memory, 256) == 0, "variant %zu: memory", v);
        qwglm_tinygpu_free(g);
    }

    /* fix_cmp: BRn means "less than", so matmul's "loop while k < N" loop is unchanged; BRp now branches */
    REQUIRE(load_fixture("matmul", &f));
    qw_free(f.asm_src);
    p = qwglm_tinygpu_default_params();
    p.fix_cmp = 1;
    REQUIRE(qwglm_tinygpu_create(&p, &g, NULL) == QWGLM_OK);
    qwglm_tinygpu_launch(g, f.words, f.data, 4, NULL);
    CHECK(qwglm_tinygpu_run(g, 100000) == 1 && qwglm_tinygpu_cycles(g) == 491);
    CHECK(memcmp(qwglm_tinygpu_data_memory(g), f.memory, 256) == 0);
    qwglm_tinygpu_program prog;
    const char *src =
        "CONST R1, #5\nCONST R2, #3\nCMP R1, R2\nBRp OVER\nCONST R3, #1\nOVER:\nSTR R15, R3\nRET\n";
    REQUIRE(qwglm_tinygpu_assemble(src, strlen(src), &prog, NULL) == QWGLM_OK);
    qwglm_tinygpu_launch(g, prog.words, NULL, 4, NULL);
    CHECK(qwglm_tinygpu_run(g, 100000) == 1 && qwglm_tinygpu_data_memory(g)[0] == 0);
    qwglm_tinygpu_free(g);
    REQUIRE(qwglm_tinygpu_create(NULL, &g, NULL) == QWGLM_OK);
    qwglm_tinygpu_launch(g, prog.words, NULL, 4, NULL);
    CHECK(qwglm_tinygpu_run(g, 100000) == 1 &&
          qwglm_tinygpu_data_memory(g)[0] == 1); /* RTL: BRp never taken */
    qwglm_tinygpu_free(g);
}

/* ---- assembler, disassembler, files ---- */

static void test_disasm_roundtrip(void)
{
    int canonical = 0, bad = 0;
    char text[64], err[QWGLM_ERR_SIZE];
    qwglm_tinygpu_program p;
    for (uint32_t w = 0; w < 65536; w += (w < 4096 ? 1 : 7)) { /* every opcode, many fields */
        canonical += qwglm_tinygpu_disasm((uint16_t)w, text, sizeof text);
        if (qwglm_tinygpu_assemble(text, strlen(text), &p, err) || p.n_words != 1 || p.words[0] != w) {
            if (bad++ < 5) fprintf(stderr, "%04x -> '%s' -> %04x (%s)\n", w, text, p.words[0], err);
        }
    }
    CHECK(bad == 0);
    CHECK(canonical > 1000);
    CHECK(qwglm_tinygpu_disasm(0x50DE, text, sizeof text) &&
          strcmp(text, "MUL R0, %blockIdx, %blockDim") == 0);
    CHECK(qwglm_tinygpu_disasm(0x180C, text, sizeof text) && strcmp(text, "BRn #12") == 0);
    CHECK(qwglm_tinygpu_disasm(0x1E08, text, sizeof text) && strcmp(text, "BRnzp #8") == 0);
    CHECK(!qwglm_tinygpu_disasm(0xA123, text, sizeof text) && strcmp(text, ".word 0xa123") == 0);
    CHECK(!qwglm_tinygpu_disasm(0x0001, text, sizeof text)); /* NOP with ignored bits set */
    CHECK(!qwglm_tinygpu_disasm(0x100C, text, sizeof text)); /* BR with no condition */
}

static void test_listing_roundtrip(void)
{
    static char listing[QWGLM_TINYGPU_LISTING_MAX];
    qwglm_tinygpu_program p;
    char err[QWGLM_ERR_SIZE];
    uint32_t rng = 12345;
    for (int iter = 0; iter < 200; iter++) {
        uint16_t words[256];
        int n = iter == 0 ? 256 : 1 + (int)((rng = rng * 1103515245 + 12345) >> 16) % 256;
        for (int i = 0; i < n; i++) {
            rng = rng * 1103515245 + 12345;
            uint16_t w = (uint16_t)(rng >> 8);
            if (iter % 2 && (w & 3) == 0)
                w = (uint16_t)(0x1000 | ((w >> 2) & 0xE00) | ((rng >> 24) % (unsigned)n));
            if (iter == 0) w = (uint16_t)(0x5FFF - (i & 1)); /* the longest line: MUL %threadIdx x3 */
            words[i] = w;
        }
        size_t len = qwglm_tinygpu_listing(words, n, listing, sizeof listing);
        CHECK(len < sizeof listing);
        qwglm_status st = qwglm_tinygpu_assemble(listing, len, &p, err);
        CHECKF(st == QWGLM_OK, "listing %d: %s", iter, err);
        CHECK(p.n_words == n && memcmp(p.words, words, sizeof(uint16_t) * (size_t)n) == 0);
    }
    /* the small-buffer contract: the length needed, a truncated NUL-terminated text */
    uint16_t w[2] = {0x9101, 0xF000};
    char small[8];
    size_t need = qwglm_tinygpu_listing(w, 2, small, sizeof small);
    CHECK(need > sizeof small && strlen(small) == sizeof small - 1);
}

struct err_case {
    const char *src, *msg;
};

static void test_asm_errors(void)
{
    static const struct err_case cases[] = {
        {"NOP\nFOO R1, R2\n", "line 2: unknown mnemonic 'FOO'"},
        {"BRn MISSING\nRET\n", "line 1: label 'MISSING' not defined"},
        {"ADD R1, R2, R16\n", "line 1: register 'R16' out of range (R0-R15)"},
        {"ADD R1, R2\n", "line 1: expected ','"},
        {"ADD R1, R2, R3, R4\n", "line 1: unexpected ','"},
        {"CONST R1, #256\n", "line 1: immediate #256 out of range"},
        {"CONST R1, R2\n", "line 1: expected immediate"},
        {"L:\nL:\n", "line 2: label 'L' already defined on line 1"},
        {".threads 300\n", "line 1: thread count 300 out of range"},
        {".threads 4\n.threads 8\n", "line 2: .threads given twice"},
        {".data 1 2 x\n", "line 1: expected data byte, found 'x'"},
        {"LDR R1, %blockFoo\n", "line 1: expected a register"},
        {"BR #3\n", "line 1: BR needs its condition letters"},
        {"BRq #3\n", "line 1: unknown mnemonic 'BRq'"},
        {"BRn #256\n", "line 1: branch target #256 out of range"},
        {"  123\n", "line 1: expected a label, directive or mnemonic"},
        {".word 0x10000\n", "line 1: word 0x10000 out of range"},
    };
    qwglm_tinygpu_program p;
    char err[QWGLM_ERR_SIZE];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qwglm_status st = qwglm_tinygpu_assemble(cases[i].src, strlen(cases[i].src), &p, err);
        CHECKF(st == QWGLM_ERR_FORMAT && strstr(err, cases[i].msg), "case %zu: '%s'", i, err);
        CHECK(p.n_words == 0);
    }
    /* too many words */
    static char big[257 * 4 + 1];
    for (int i = 0; i < 257; i++) memcpy(big + 4 * i, "NOP\n", 4);
    CHECK(qwglm_tinygpu_assemble(big, 257 * 4, &p, err) == QWGLM_ERR_FORMAT &&
          strstr(err, "line 257: program exceeds 256 words"));
    CHECK(qwglm_tinygpu_assemble(big, 256 * 4, &p, err) == QWGLM_OK && p.n_words == 256);
    /* syntax accepted: case, labels before use and on instruction lines, '//' comments, .word, negatives */
    const char *src = ".threads 4 ; four\nstart: const r1, #-1 // 255\n  brNZP end\n.data 1, 2,3\n"
                      ".word 0xA000\nend: RET\n";
    CHECKF(qwglm_tinygpu_assemble(src, strlen(src), &p, err) == QWGLM_OK, "%s", err);
    CHECK(p.n_words == 4 && p.words[0] == 0x91FF && p.words[1] == 0x1E03 && p.words[2] == 0xA000 &&
          p.words[3] == 0xF000);
    CHECK(p.threads == 4 && p.n_data == 3 && p.data[2] == 3 && p.line[1] == 3 && p.line[3] == 6);
}

static void test_files(void)
{
    uint16_t w[256];
    uint8_t d[256];
    int n;
    char err[QWGLM_ERR_SIZE];
    const char *k = "50de 0x300F // two\n0b1001000100000000 ; three\n1001001000001000 # binary\n@10 f000\n";
    CHECK(qwglm_tinygpu_parse_kernel(k, strlen(k), w, &n, err) == QWGLM_OK);
    CHECK(n == 17 && w[0] == 0x50DE && w[1] == 0x300F && w[2] == 0x9100 && w[3] == 0x9208 &&
          w[16] == 0xF000 && w[4] == 0);
    const char *dt = "1, 2 0x10 0b11 # c\n@100 255\n";
    CHECK(qwglm_tinygpu_parse_data(dt, strlen(dt), d, &n, err) == QWGLM_OK);
    CHECK(n == 101 && d[0] == 1 && d[2] == 16 && d[3] == 3 && d[100] == 255);
    CHECK(qwglm_tinygpu_parse_kernel("", 0, w, &n, err) == QWGLM_OK && n == 0);

    static const struct err_case kernel_errors[] = {
        {"50de\n12345\n", "line 2: word '12345' out of range"},
        {"50de\nxyz\n", "line 2: malformed word 'xyz'"},
        {"@100 0\n", "line 1: address '@100' out of range 0..255"},
        {"@ff 1 2\n", "line 1: too many words: memory has 256 rows"},
        {"0b01x\n", "line 1: malformed word '0b01x'"},
        {"0b012\n", "line 1: word '0b012' out of range"}, /* hex 0b012: five digits */
    };
    for (size_t i = 0; i < sizeof kernel_errors / sizeof kernel_errors[0]; i++) {
        const char *s = kernel_errors[i].src;
        qwglm_status st = qwglm_tinygpu_parse_kernel(s, strlen(s), w, &n, err);
        CHECKF(st == QWGLM_ERR_FORMAT && strstr(err, kernel_errors[i].msg), "kernel case %zu: '%s'", i, err);
    }
    static const struct err_case data_errors[] = {
        {"1 2\n3 256\n", "line 2: byte '256' out of range 0..255"},
        {"1 -2\n", "line 1: malformed byte '-2'"},
        {"0x1g\n", "line 1: malformed byte '0x1g'"},
        {"@256\n", "line 1: address '@256' out of range"},
        {"@255 1 2\n", "line 1: too many bytes"},
    };
    for (size_t i = 0; i < sizeof data_errors / sizeof data_errors[0]; i++) {
        const char *s = data_errors[i].src;
        qwglm_status st = qwglm_tinygpu_parse_data(s, strlen(s), d, &n, err);
        CHECKF(st == QWGLM_ERR_FORMAT && strstr(err, data_errors[i].msg), "data case %zu: '%s'", i, err);
    }
}

/* ---- random programs against the naive model ---- */

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static uint16_t random_word(uint64_t *s, int n_words)
{
    int r = (int)(rnd(s) % 100);
    int rd = rnd(s) % 8 ? (int)(rnd(s) % 13) : (int)(rnd(s) % 16);
    int rs = (int)(rnd(s) % 16), rt = (int)(rnd(s) % 16);
    if (r < 30) return (uint16_t)((3 + rnd(s) % 4) << 12 | rd << 8 | rs << 4 | rt);
    if (r < 45) return (uint16_t)(0x9000 | rd << 8 | (rnd(s) % 256));
    if (r < 55) return (uint16_t)(0x7000 | rd << 8 | rs << 4);
    if (r < 65) return (uint16_t)(0x8000 | rs << 4 | rt);
    if (r < 75) return (uint16_t)(0x2000 | rs << 4 | rt);
    if (r < 85)
        return (uint16_t)(0x1000 | (rnd(s) % 8) << 9 | (rnd(s) % 2) << 8 |
                          (rnd(s) % (unsigned)(n_words + 2)));
    if (r < 92) return 0xF000;
    return (uint16_t)rnd(s);
}

static bool same_state(qwglm_tinygpu *g, const struct ref_gpu *r, int *what)
{
    if (qwglm_tinygpu_done(g) != r->done) return *what = 1, false;
    if (memcmp(qwglm_tinygpu_data_memory(g), r->data, 256) != 0) return *what = 2, false;
    for (int c = 0; c < r->n_cores; c++) {
        qwglm_tinygpu_core k;
        qwglm_tinygpu_get_core(g, c, &k);
        const struct ref_core *rc = &r->core[c];
        if (k.state != rc->state || k.pc != rc->pc || k.fetcher_state != rc->fstate ||
            k.instruction != rc->instr || k.done != rc->done || k.reset != r->creset[c] ||
            k.start != r->cstart[c] || k.block_id != r->cbid[c] || k.thread_count != r->ctc[c])
            return *what = 10 + c, false;
        for (int t = 0; t < r->tpb; t++) {
            qwglm_tinygpu_thread th;
            qwglm_tinygpu_get_thread(g, c, t, &th);
            const struct ref_thread *rt = &rc->t[t];
            if (memcmp(th.regs, rt->r, 16) || th.rs != rt->rs || th.rt != rt->rt ||
                th.alu_out != rt->alu_out || th.lsu_state != rt->lsu_state || th.lsu_out != rt->lsu_out ||
                th.nzp != rt->nzp || th.next_pc != rt->next_pc || th.read_valid != rt->rv ||
                th.read_address != rt->ra || th.write_valid != rt->wv || th.write_address != rt->wa ||
                th.write_data != rt->wd)
                return *what = 100 + c * 16 + t, false;
        }
    }
    return true;
}

/* Random programs on random machines: step() is compared with the naive model at every edge (every core and
 * thread register, the data memory); run() (the fast path, which skips quiet units, runs fetches and
 * instructions ahead and jumps over edges where nothing changes) is stopped at random edges and must then
 * match the naive model's state at that edge exactly, twice. */
#define RANDOM_LIMIT 1500
#define N_STOPS      8
static void test_random_programs(void)
{
    static struct ref_gpu ref, history[RANDOM_LIMIT + 1]; /* the naive model after every edge */
    uint64_t seed = 0x7161676c6d;
    int mismatches = 0, fast_mismatches = 0, finished = 0, runs = 150;
    for (int iter = 0; iter < runs; iter++) {
        uint16_t words[256] = {0};
        uint8_t data[256];
        int n = 4 + (int)(rnd(&seed) % 40);
        for (int i = 0; i < n; i++) words[i] = random_word(&seed, n);
        if (rnd(&seed) % 2) words[n - 1] = 0xF000;
        for (int i = 0; i < 256; i++) data[i] = (uint8_t)rnd(&seed);
        qwglm_tinygpu_params p = qwglm_tinygpu_default_params();
        if (iter % 3 == 2) {
            p.n_cores = 1 + (int)(rnd(&seed) % REF_MAX_CORES);
            p.threads_per_block = 1 + (int)(rnd(&seed) % REF_MAX_TPB);
            p.data_channels = 1 + (int)(rnd(&seed) % REF_MAX_CH);
            p.program_channels = 1 + (int)(rnd(&seed) % REF_MAX_CH);
            p.memory_latency = rnd(&seed) % 2 ? 1 : 2 + (int)(rnd(&seed) % 4);
            p.fix_cmp = (int)(rnd(&seed) % 2);
            p.fix_divergence = (int)(rnd(&seed) % 2);
        }
        int threads = rnd(&seed) % 4 ? p.threads_per_block * (int)(rnd(&seed) % 9) : (int)(rnd(&seed) % 40);

        qwglm_tinygpu *g;
        REQUIRE(qwglm_tinygpu_create(&p, &g, NULL) == QWGLM_OK);
        qwglm_tinygpu_launch(g, words, data, threads, NULL);
        ref_launch(&ref, p.n_cores, p.threads_per_block, p.data_channels, p.program_channels,
                   p.memory_latency, p.fix_cmp, p.fix_divergence, words, data, threads);
        history[0] = ref;
        int what = 0;
        bool same = same_state(g, &ref, &what);
        while (same && !qwglm_tinygpu_done(g) && qwglm_tinygpu_cycles(g) < RANDOM_LIMIT) {
            qwglm_tinygpu_step(g);
            ref_step(&ref);
            history[ref.cycle] = ref;
            same = same_state(g, &ref, &what);
        }
        if (!same && mismatches++ < 3)
            fprintf(stderr, "random program %d: differs from the naive model at cycle %llu (%d)\n", iter,
                    (unsigned long long)qwglm_tinygpu_cycles(g), what);
        finished += qwglm_tinygpu_done(g);
        const uint64_t last = ref.cycle;
        for (int again = 0; again < 2; again++) { /* twice: runs are deterministic */
            uint64_t stop[N_STOPS]; /* increasing edges inside the run; the last one is the end */
            for (int i = 0; i < N_STOPS - 1; i++) stop[i] = 1 + rnd(&seed) % last;
            stop[N_STOPS - 1] = RANDOM_LIMIT;
            for (int i = 0; i < N_STOPS; i++)
                for (int j = i + 1; j < N_STOPS; j++)
                    if (stop[j] < stop[i]) {
                        uint64_t t = stop[i];
                        stop[i] = stop[j], stop[j] = t;
                    }
            qwglm_tinygpu_launch(g, words, data, threads, NULL);
            for (int i = 0; i < N_STOPS; i++) {
                qwglm_tinygpu_run(g, stop[i]);
                const struct ref_gpu *want = &history[stop[i] < last ? stop[i] : last];
                bool ok = qwglm_tinygpu_cycles(g) == want->cycle && same_state(g, want, &what);
                if (!ok && fast_mismatches++ < 3)
                    fprintf(stderr, "random program %d: run() to %llu differs (%d)\n", iter,
                            (unsigned long long)stop[i], what);
            }
        }
        qwglm_tinygpu_free(g);
    }
    CHECK(mismatches == 0);
    CHECK(fast_mismatches == 0);
    CHECKF(finished > runs / 4, "only %d of %d random programs finished", finished, runs);
}

/* A slower memory gives the same results, and every extra edge of latency costs cycles. */
static void test_latency(void)
{
    struct fixture f;
    REQUIRE(load_fixture("dotprod", &f));
    qw_free(f.asm_src);
    uint64_t prev = 0;
    for (int lat = 1; lat <= 5; lat++) {
        qwglm_tinygpu_params p = qwglm_tinygpu_default_params();
        p.memory_latency = lat;
        qwglm_tinygpu *g;
        REQUIRE(qwglm_tinygpu_create(&p, &g, NULL) == QWGLM_OK);
        qwglm_tinygpu_launch(g, f.words, f.data, f.threads, NULL);
        CHECK(qwglm_tinygpu_run(g, 1000000) == 1);
        CHECK(memcmp(qwglm_tinygpu_data_memory(g), f.memory, 256) == 0);
        uint64_t c = qwglm_tinygpu_cycles(g);
        if (lat == 1) CHECK(c == f.cycles);
        CHECK(c > prev);
        prev = c;
        qwglm_tinygpu_free(g);
    }
}

static void test_alloc_failures(void)
{
    const char *src = "LOOP: CONST R1, #1\nBRn LOOP\nRET\n";
    for (long n = 0; n < 4; n++) {
        qw_mem_fail_after(n);
        qwglm_tinygpu *g = NULL;
        qwglm_status st = qwglm_tinygpu_create(NULL, &g, NULL);
        CHECK((st == QWGLM_OK) == (g != NULL));
        qwglm_tinygpu_free(g);
        qwglm_tinygpu_program p;
        st = qwglm_tinygpu_assemble(src, strlen(src), &p, NULL);
        CHECK(st == QWGLM_OK || st == QWGLM_ERR_NOMEM);
        qw_mem_fail_after(-1);
    }
}

int main(void)
{
    test_fixtures();
    test_matadd_timeline();
    test_params();
    test_disasm_roundtrip();
    test_listing_roundtrip();
    test_asm_errors();
    test_files();
    test_random_programs();
    test_latency();
    test_alloc_failures();
    return test_report("test_tinygpu");
}
