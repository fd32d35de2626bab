/* qwglm tiny-gpu: a cycle-accurate simulator of the open tiny-gpu design (adam-maj/tiny-gpu, commit 02b6c2c),
 * with its assembler, disassembler and file formats. Public C API.
 *
 * Usage:
 *     qwglm_tinygpu_params p = qwglm_tinygpu_default_params();      // the RTL's machine: 2 cores x 4 threads
 *     char err[QWGLM_ERR_SIZE];
 *     qwglm_tinygpu *g;
 *     if (qwglm_tinygpu_create(&p, &g, err)) { fprintf(stderr, "%s\n", err); return 1; }
 *     qwglm_tinygpu_program prog;
 *     if (qwglm_tinygpu_assemble(src, strlen(src), &prog, err)) { ... }   // or _parse_kernel / _parse_data
 *     qwglm_tinygpu_launch(g, prog.words, prog.data, prog.threads, err);
 *     int done = qwglm_tinygpu_run(g, 1000000);                          // or step() and inspect every cycle
 *     printf("%llu cycles\n", (unsigned long long)qwglm_tinygpu_cycles(g));
 *     qwglm_tinygpu_free(g);
 *
 * Cycles are counted as the repository's cocotb test bench counts them: launch() performs the reset edge E0;
 * every step is the next rising edge E1, E2, ...; qwglm_tinygpu_cycles() is the index of the last edge, so a
 * run that raises `done` at edge E_k reports k cycles (matadd: 178, matmul: 491).
 *
 * Threads: a simulator handle is used by one thread at a time; the free functions (assembler, parsers,
 * disassembler) keep no state and may run anywhere. Nothing here prints or aborts; the simulator allocates
 * only in create(), the assembler a small scratch per call. Hostile input gives a status and a one-line
 * message.
 */
#ifndef QWGLM_TINYGPU_H
#define QWGLM_TINYGPU_H

#include <stddef.h>
#include <stdint.h>

#include "qwglm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QWGLM_TINYGPU_PROGRAM_WORDS         256 /* program memory: 256 rows of 16 bits */
#define QWGLM_TINYGPU_DATA_BYTES            256 /* data memory: 256 rows of 8 bits */
#define QWGLM_TINYGPU_MAX_CORES             16
#define QWGLM_TINYGPU_MAX_THREADS_PER_BLOCK 16
#define QWGLM_TINYGPU_MAX_CHANNELS          16 /* per memory */
#define QWGLM_TINYGPU_MAX_LATENCY           64 /* memory_latency limit */

/* ---- machine ---- */

/* The machine. Defaults are the RTL's (src/gpu.sv and the test bench); anything else is for exploration. */
typedef struct qwglm_tinygpu_params {
    int n_cores;           /* 2; 1..QWGLM_TINYGPU_MAX_CORES */
    int threads_per_block; /* 4; 1..QWGLM_TINYGPU_MAX_THREADS_PER_BLOCK; also %blockDim */
    int data_channels;     /* 4; 1..QWGLM_TINYGPU_MAX_CHANNELS concurrent data-memory requests */
    int program_channels;  /* 1; 1..QWGLM_TINYGPU_MAX_CHANNELS concurrent instruction fetches */
    int memory_latency;    /* 1 (the test bench): edges a memory must see a request's valid line before it
                            * answers;    each step above 1 adds an edge to every
                            * access. 1..QWGLM_TINYGPU_MAX_LATENCY */
    int fix_cmp;           /* 0 (RTL): CMP sets bit2 when Rs != Rt, never bit0. 1: n = Rs < Rt, z = equal,
                            * p = Rs > Rt (unsigned), so BRn means "less than" */
    int fix_divergence;    /* 0 (RTL): the core's PC comes from the last thread slot, so partial blocks hang.
                            * 1: it comes from slot 0, so every thread count finishes */
} qwglm_tinygpu_params;

QWGLM_API qwglm_tinygpu_params qwglm_tinygpu_default_params(void);

typedef struct qwglm_tinygpu qwglm_tinygpu;

/* Builds a machine with p (NULL: defaults), both memories zero. On failure *out is NULL and err (NULL or
 * QWGLM_ERR_SIZE bytes) names the bad parameter. */
QWGLM_API qwglm_status qwglm_tinygpu_create(const qwglm_tinygpu_params *p, qwglm_tinygpu **out, char *err);
/* Frees g. NULL is a no-op. */
QWGLM_API void qwglm_tinygpu_free(qwglm_tinygpu *g);
/* The parameters g was built with. */
QWGLM_API qwglm_tinygpu_params qwglm_tinygpu_get_params(const qwglm_tinygpu *g);

/* Loads both memories (program: QWGLM_TINYGPU_PROGRAM_WORDS words, data: QWGLM_TINYGPU_DATA_BYTES bytes; NULL
 * means all zero), clears every register and performs the launch's reset edge E0; the thread count (0..255)
 * is written to the device control register at E1 and `start` rises from E2 on, as in the test bench. Fails
 * only for a thread count out of range. */
QWGLM_API qwglm_status qwglm_tinygpu_launch(qwglm_tinygpu *g, const uint16_t *program, const uint8_t *data,
                                            int threads, char *err);
/* Simulates the next rising edge and records what it did (see get_traffic). Returns 1 when `done` is set. */
QWGLM_API int qwglm_tinygpu_step(qwglm_tinygpu *g);
/* Simulates edges until `done` rises or the edge index reaches max_cycles, whichever comes first (N more
 * cycles: max_cycles = qwglm_tinygpu_cycles(g) + N). The fast path: it records no traffic, but leaves every
 * register exactly as step() would. Returns 1 when done; once done, it returns at once. */
QWGLM_API int qwglm_tinygpu_run(qwglm_tinygpu *g, uint64_t max_cycles);
/* Index of the last simulated edge (0 right after launch). */
QWGLM_API uint64_t qwglm_tinygpu_cycles(const qwglm_tinygpu *g);
/* The dispatcher's `done` register. */
QWGLM_API int qwglm_tinygpu_done(const qwglm_tinygpu *g);
/* The external memories as they are now; owned by g, valid until the next call on g. */
QWGLM_API const uint8_t *qwglm_tinygpu_data_memory(const qwglm_tinygpu *g);
QWGLM_API const uint16_t *qwglm_tinygpu_program_memory(const qwglm_tinygpu *g);

/* ---- inspection (every value is a register of the RTL, as it is after the last edge) ---- */

typedef enum qwglm_tinygpu_core_state {
    QWGLM_TINYGPU_IDLE = 0,
    QWGLM_TINYGPU_FETCH = 1,
    QWGLM_TINYGPU_DECODE = 2,
    QWGLM_TINYGPU_REQUEST = 3,
    QWGLM_TINYGPU_WAIT = 4,
    QWGLM_TINYGPU_EXECUTE = 5,
    QWGLM_TINYGPU_UPDATE = 6,
    QWGLM_TINYGPU_DONE = 7,
} qwglm_tinygpu_core_state;

typedef struct qwglm_tinygpu_core {
    int state;         /* qwglm_tinygpu_core_state */
    int pc;            /* scheduler current_pc */
    int done;          /* scheduler done */
    int fetcher_state; /* 0 IDLE, 1 FETCHING, 2 FETCHED */
    int instruction;   /* the fetcher's latched word */
    int decoded;       /* the word the decoder latched at the last DECODE (its control bits are below) */
    int reg_write, mem_read, mem_write, nzp_write, reg_input_mux, alu_op, alu_cmp, pc_mux, ret;
    int rd, rs, rt, imm, nzp; /* decoded fields */
    int start, reset;         /* the dispatcher's core_start / core_reset for this core */
    int block_id;             /* core_block_id */
    int thread_count;         /* core_thread_count: slots below it are enabled */
} qwglm_tinygpu_core;

typedef struct qwglm_tinygpu_thread {
    int enabled;
    uint8_t regs[16]; /* R0-R12, %blockIdx, %blockDim, %threadIdx */
    uint8_t rs, rt;   /* latched operands */
    uint8_t alu_out, lsu_out;
    int lsu_state; /* 0 IDLE, 1 REQUESTING, 2 WAITING, 3 DONE */
    int nzp;       /* 3 bits: 4 = n, 2 = z, 1 = p */
    int next_pc;
    int read_valid, read_address, write_valid, write_address, write_data; /* LSU outputs */
} qwglm_tinygpu_thread;

typedef struct qwglm_tinygpu_dispatch {
    int thread_count; /* device control register */
    int total_blocks, blocks_dispatched, blocks_done;
    int start_execution, done;
} qwglm_tinygpu_dispatch;

/* One memory channel at one edge, as the memory model saw and answered it. */
typedef struct qwglm_tinygpu_access {
    int controller_state; /* the channel's controller state after the edge: 0 IDLE, 2 READ_WAITING, 3
                           * WRITE_WAITING, 4 READ_RELAYING, 5 WRITE_RELAYING */
    int consumer;         /* the consumer the channel serves (fetcher = core; LSU = core * threads + slot) */
    int read, write;      /* the memory performed a read / a write at this edge */
    int address;
    int data; /* value read or written */
} qwglm_tinygpu_access;

typedef struct qwglm_tinygpu_traffic {
    uint64_t cycle; /* the edge described; 0 when no step() ran since launch */
    int n_program_channels, n_data_channels;
    qwglm_tinygpu_access program[QWGLM_TINYGPU_MAX_CHANNELS];
    qwglm_tinygpu_access data[QWGLM_TINYGPU_MAX_CHANNELS];
    int core_state_before[QWGLM_TINYGPU_MAX_CORES]; /* each core's state before the edge */
} qwglm_tinygpu_traffic;

/* Fill *out; core and slot out of range leave *out zeroed. */
QWGLM_API void qwglm_tinygpu_get_core(const qwglm_tinygpu *g, int core, qwglm_tinygpu_core *out);
QWGLM_API void qwglm_tinygpu_get_thread(const qwglm_tinygpu *g, int core, int slot,
                                        qwglm_tinygpu_thread *out);
QWGLM_API void qwglm_tinygpu_get_dispatch(const qwglm_tinygpu *g, qwglm_tinygpu_dispatch *out);
/* The memory traffic of the edge simulated by the last step() (run() records none: cycle is then older). */
QWGLM_API void qwglm_tinygpu_get_traffic(const qwglm_tinygpu *g, qwglm_tinygpu_traffic *out);

/* One line (no newline) describing the last step(): cycle, each core's state, PC and instruction, memory
 * accesses and register writes. Returns the length it needed (snprintf-style; truncated when cap is too
 * small). */
QWGLM_API size_t qwglm_tinygpu_trace_line(const qwglm_tinygpu *g, char *buf, size_t cap);

/* ---- programs: assembler, disassembler, file formats ---- */

typedef struct qwglm_tinygpu_program {
    uint16_t words[QWGLM_TINYGPU_PROGRAM_WORDS]; /* program image from address 0, zero past n_words */
    int n_words;                                 /* extent: highest address loaded + 1 */
    uint8_t data[QWGLM_TINYGPU_DATA_BYTES];      /* data image, zero past n_data */
    int n_data;
    int threads;                           /* .threads, or -1 when the source has none */
    int line[QWGLM_TINYGPU_PROGRAM_WORDS]; /* source line of each word (1-based; 0 for none) */
} qwglm_tinygpu_program;

/* Assembles the README's syntax: `.threads N`, `.data B B ...`, `LABEL:`, `;` comments, mnemonics NOP, BRnzp
 * (any of n z p, in that order), CMP, ADD, SUB, MUL, DIV, LDR, STR, CONST, RET, `.word W`, registers R0-R15
 * and %blockIdx %blockDim %threadIdx, immediates `#N`. On failure err says which line and why. */
QWGLM_API qwglm_status qwglm_tinygpu_assemble(const char *src, size_t len, qwglm_tinygpu_program *out,
                                              char *err);

/* Parses a kernel file: one 16-bit word per token, hex (`50de`, `0x50DE`, up to 4 digits) or exactly 16
 * binary digits (`0b` optional); `@ADDR` (hex, as in $readmemh) moves the load address; tokens are separated
 * by white space or commas; `#`, `;` and `//` start comments. words (QWGLM_TINYGPU_PROGRAM_WORDS) gets the
 * image, zero elsewhere, *n_words its extent. On failure err names the line. */
QWGLM_API qwglm_status qwglm_tinygpu_parse_kernel(const char *text, size_t len, uint16_t *words, int *n_words,
                                                  char *err);
/* Parses a data file: one byte per token, decimal by default (`0x`, `0b` allowed); `@ADDR` (decimal) moves
 * the load address; same separators and comments. data (QWGLM_TINYGPU_DATA_BYTES) gets the image, zero
 * elsewhere, *n_bytes its extent. On failure err names the line. */
QWGLM_API qwglm_status qwglm_tinygpu_parse_data(const char *text, size_t len, uint8_t *data, int *n_bytes,
                                                char *err);

/* Disassembles one word into buf (cap >= 40 is always enough). Returns 1 when the text assembles back to the
 * same word; 0 when the word has bits the ISA ignores (or an undefined opcode) and is written as `.word
 * 0xXXXX`. Branch targets are written as `#N`. */
QWGLM_API int qwglm_tinygpu_disasm(uint16_t word, char *buf, size_t cap);

#define QWGLM_TINYGPU_LISTING_MAX 32768 /* bytes that always hold a whole listing */
/* A listing of n_words words (labels `L<addr>` for branch targets inside the image, one instruction per line
 * with its address and word in a comment) that assembles back to the same words. Returns the length written
 * (always < cap when cap >= QWGLM_TINYGPU_LISTING_MAX), or the length needed. */
QWGLM_API size_t qwglm_tinygpu_listing(const uint16_t *words, int n_words, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
