/* A second, deliberately naive tiny-gpu model for differential tests: every edge copies the whole machine and
 * computes each module's registers from the old copy into the new one, transcribing the RTL module by module
 * (tiny-gpu spec sections 5-8). It shares no code with src/tinygpu, has none of its shortcuts (masks, dirty
 * flags, in-place ordering, skipped idle units) and is slow; the tests compare the two edge by edge. */
#ifndef TINYGPU_REF_H
#define TINYGPU_REF_H

#include <stdint.h>

#define REF_MAX_CORES 4
#define REF_MAX_TPB   8
#define REF_MAX_CH    8

struct ref_thread {
    uint8_t r[16], rs, rt, alu_out, lsu_state, lsu_out, nzp, next_pc;
    uint8_t rv, ra, wv, wa, wd; /* LSU outputs */
};

struct ref_core {
    uint8_t state, pc, done, fstate, frv, fra;
    uint16_t instr;
    uint8_t rd, rs, rt, imm, nzp, reg_write, mem_read, mem_write, nzp_write, reg_mux, alu_op, alu_cmp, pc_mux,
        ret;
    struct ref_thread t[REF_MAX_TPB];
};

struct ref_ctrl {
    uint8_t state[REF_MAX_CH], cur[REF_MAX_CH];
    uint8_t mrv[REF_MAX_CH], mra[REF_MAX_CH], mwv[REF_MAX_CH], mwa[REF_MAX_CH];
    uint16_t mwd[REF_MAX_CH];
    uint8_t crr[REF_MAX_CORES * REF_MAX_TPB], cwr[REF_MAX_CORES * REF_MAX_TPB];
    uint16_t crd[REF_MAX_CORES * REF_MAX_TPB];
    uint8_t serving[REF_MAX_CORES * REF_MAX_TPB];
};

struct ref_gpu {
    int n_cores, tpb, dch, pch, fix_cmp, fix_div, latency;
    int p_run[REF_MAX_CH], d_run_r[REF_MAX_CH],
        d_run_w[REF_MAX_CH]; /* edges in a row a valid line was seen */
    int threads;
    uint64_t cycle;
    uint8_t dcr;
    uint8_t done, start_exec, bd, bdone;
    uint8_t cstart[REF_MAX_CORES], creset[REF_MAX_CORES], cbid[REF_MAX_CORES], ctc[REF_MAX_CORES];
    struct ref_core core[REF_MAX_CORES];
    struct ref_ctrl dc, pc;
    uint8_t p_ready[REF_MAX_CH], d_ready[REF_MAX_CH], d_wready[REF_MAX_CH], d_data[REF_MAX_CH];
    uint16_t p_data[REF_MAX_CH];
    /* gpu.sv pipe stages */
    uint8_t q_rv[REF_MAX_CORES * REF_MAX_TPB], q_ra[REF_MAX_CORES * REF_MAX_TPB];
    uint8_t q_wv[REF_MAX_CORES * REF_MAX_TPB], q_wa[REF_MAX_CORES * REF_MAX_TPB],
        q_wd[REF_MAX_CORES * REF_MAX_TPB];
    uint8_t s_rr[REF_MAX_CORES * REF_MAX_TPB], s_rd[REF_MAX_CORES * REF_MAX_TPB],
        s_wr[REF_MAX_CORES * REF_MAX_TPB];
    uint16_t prog[256];
    uint8_t data[256];
};

/* Zeroes g, loads the images and performs E0 (cycle 0). */
void ref_launch(struct ref_gpu *g, int n_cores, int tpb, int dch, int pch, int latency, int fix_cmp,
                int fix_div, const uint16_t *prog, const uint8_t *data, int threads);
/* The next edge. */
void ref_step(struct ref_gpu *g);

#endif
