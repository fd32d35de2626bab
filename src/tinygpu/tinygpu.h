/* tiny-gpu internals: the machine state, register for register, shared by the simulator (sim.c), the
 * inspection functions (inspect.c) and the instruction set helpers (isa.c, asm.c, files.c).
 *
 * Every field below is a register of the RTL (adam-maj/tiny-gpu at 02b6c2c), named after it; bit masks stand
 * in for per-channel / per-consumer 1-bit registers so the simulator can test "anything pending" in one load.
 */
#ifndef QW_TINYGPU_H
#define QW_TINYGPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qwglm_tinygpu.h"

#define TG_MAX_CORES     QWGLM_TINYGPU_MAX_CORES
#define TG_MAX_TPB       QWGLM_TINYGPU_MAX_THREADS_PER_BLOCK
#define TG_MAX_CH        QWGLM_TINYGPU_MAX_CHANNELS
#define TG_MAX_CONSUMERS 64 /* n_cores * threads_per_block: LSUs are bits of a uint64_t */

enum tg_core_state {
    TG_IDLE = 0,
    TG_FETCH = 1,
    TG_DECODE = 2,
    TG_REQUEST = 3,
    TG_WAIT = 4,
    TG_EXECUTE = 5,
    TG_UPDATE = 6,
    TG_DONE = 7,
};
enum tg_fetcher_state { TG_F_IDLE = 0, TG_F_FETCHING = 1, TG_F_FETCHED = 2 };
enum tg_lsu_state { TG_LSU_IDLE = 0, TG_LSU_REQUESTING = 1, TG_LSU_WAITING = 2, TG_LSU_DONE = 3 };
enum tg_channel_state {
    TG_CH_IDLE = 0,
    TG_CH_READ_WAITING = 2,
    TG_CH_WRITE_WAITING = 3,
    TG_CH_READ_RELAYING = 4,
    TG_CH_WRITE_RELAYING = 5,
};
enum tg_opcode {
    TG_OP_NOP = 0,
    TG_OP_BRNZP = 1,
    TG_OP_CMP = 2,
    TG_OP_ADD = 3,
    TG_OP_SUB = 4,
    TG_OP_MUL = 5,
    TG_OP_DIV = 6,
    TG_OP_LDR = 7,
    TG_OP_STR = 8,
    TG_OP_CONST = 9,
    TG_OP_RET = 15,
};
enum tg_reg_mux { TG_MUX_ALU = 0, TG_MUX_LSU = 1, TG_MUX_CONST = 2 };
enum tg_alu_op { TG_ALU_ADD = 0, TG_ALU_SUB = 1, TG_ALU_MUL = 2, TG_ALU_DIV = 3 };

/* One thread slot of a core: register file, ALU, LSU state and PC/NZP unit. */
struct tg_slot {
    uint8_t r[16];  /* R0-R12, R13 = %blockIdx, R14 = %blockDim, R15 = %threadIdx */
    uint8_t rs, rt; /* operands latched at REQUEST */
    uint8_t alu_out;
    uint8_t lsu_state, lsu_out;
    uint8_t nzp, next_pc;
};

struct tg_core {
    uint8_t state, pc, done; /* scheduler */
    uint8_t fetcher;         /* tg_fetcher_state */
    uint16_t instruction;    /* fetcher's latched word */
    uint16_t decoded;        /* the word the decoder latched last (for inspection) */
    /* decoder outputs */
    uint8_t rd, rs, rt, imm, nzp;
    uint8_t reg_write, mem_read, mem_write, nzp_write, reg_mux, alu_op, alu_cmp, pc_mux, ret;
    uint64_t wake; /* run() only: the core sleeps until this edge (see core_run_instruction) */
    struct tg_slot slot[TG_MAX_TPB];
};

/* What a memory controller drives toward its memory, per channel. */
struct tg_mem_req {
    uint32_t rv, wv; /* read_valid / write_valid, bit per channel */
    uint8_t raddr[TG_MAX_CH], waddr[TG_MAX_CH];
    uint16_t wdata[TG_MAX_CH];
};

/* What a memory (the test bench's model) drives back, per channel. */
struct tg_mem_out {
    uint32_t ready, wready;
    uint16_t rdata[TG_MAX_CH];
};

/* src/controller.sv: channels arbitrate consumers, lowest index first. */
struct tg_ctrl {
    int n_channels;
    uint8_t state[TG_MAX_CH], consumer[TG_MAX_CH];
    uint32_t busy; /* bit ch: state[ch] != IDLE (derived, kept in step) */
    struct tg_mem_req req;
    uint64_t rr, wr;  /* consumer_read_ready / consumer_write_ready, bit per consumer */
    uint64_t serving; /* channel_serving_consumer (a blocking variable in the RTL) */
    uint16_t rdata[TG_MAX_CONSUMERS];
    bool rdata_dirty;         /* rdata changed at the last edge (the pipe stage must copy it) */
    uint64_t wake[TG_MAX_CH]; /* run() only: the channel sleeps until this edge (a fetch transaction) */
};

/* LSU -> controller signals, for the LSUs' own registers and for the gpu-level pipe stage that delays them.
 */
struct tg_lsu_bus {
    uint64_t rv, wv;
    uint8_t raddr[TG_MAX_CONSUMERS], waddr[TG_MAX_CONSUMERS], wdata[TG_MAX_CONSUMERS];
};

/* controller -> LSU pipe stage. */
struct tg_resp_bus {
    uint64_t rr, wr;
    uint8_t rdata[TG_MAX_CONSUMERS];
};

struct qwglm_tinygpu {
    qwglm_tinygpu_params p;
    int n_cores, tpb, n_consumers, pc_slot;
    uint64_t cycle; /* index of the last simulated edge */

    uint8_t dcr_threads; /* src/dcr.sv */
    int total_blocks;    /* ceil(dcr_threads / tpb), a wire of the dispatcher */
    uint8_t threads_arg; /* what the test bench writes to the DCR at E1 */

    /* src/dispatch.sv */
    uint8_t done, start_execution, blocks_dispatched, blocks_done;
    uint32_t core_start, core_reset; /* bit per core */
    uint8_t block_id[TG_MAX_CORES], thread_count[TG_MAX_CORES];
    uint32_t core_done; /* mirror of every core's scheduler `done` */
    bool dispatch_idle; /* start_execution && blocks_done != total_blocks: with no core to reset
                         * or finish, an edge changes nothing in the dispatcher */

    /* fetcher -> program controller */
    uint32_t f_rv;
    uint8_t f_raddr[TG_MAX_CORES];

    struct tg_core core[TG_MAX_CORES];
    struct tg_lsu_bus lsu;  /* the LSUs' output registers, consumer = core * tpb + slot */
    bool lsu_dirty;         /* lsu addresses/data changed at the last edge */
    bool data_active;       /* the data path (memory, controller, pipe stages) may change at the next edge */
    struct tg_lsu_bus preq; /* gpu.sv pipe stage LSU -> data controller */
    struct tg_resp_bus presp; /* gpu.sv pipe stage data controller -> LSU */

    struct tg_ctrl pctrl, dctrl;  /* program (consumers = fetchers) and data (consumers = LSUs) controllers */
    struct tg_mem_out pmem, dmem; /* memory model outputs */
    uint8_t prun[TG_MAX_CH], drun_r[TG_MAX_CH],
        drun_w[TG_MAX_CH]; /* memory_latency > 1: edges valid was seen */

    uint16_t prog[QWGLM_TINYGPU_PROGRAM_WORDS];
    uint8_t data[QWGLM_TINYGPU_DATA_BYTES];

    qwglm_tinygpu_traffic traffic; /* filled by step() */
};

/* sim.c: the top-level reset edge E0 (launch() performs it after loading the memories). */
void tg_reset_edge(struct qwglm_tinygpu *g);

/* isa.c: names and encodings shared by the assembler, disassembler and trace. */
extern const char *const tg_core_state_names[8];
/* Register name as the README writes it: "R3", "%blockIdx", ... */
const char *tg_reg_name(int r);

/* A caller's fixed text buffer that counts what did not fit (snprintf's convention for listings and traces). */
struct tg_out {
    char *buf;
    size_t cap, len; /* len may exceed cap: the length the whole text needs */
};
void tg_put(struct tg_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
