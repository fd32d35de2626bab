/* tiny-gpu: one rising edge of the whole machine, cycle for cycle as the RTL and the test bench compute it.
 *
 * Non-blocking semantics: every register's next value is computed from the values all registers had before
 * the edge. Most units only read registers of their own that nobody else writes in the same edge, so they
 * update in place; the few signals that cross units in both directions (LSU <-> data controller through the
 * pipe stages, fetcher <-> program controller, dispatcher <-> cores, controllers <-> memories) are read in an
 * order that sees pre-edge values, with a small snapshot where a ring of dependencies leaves no such order
 * (see edge()).
 *
 * The hot loop (run()) allocates nothing, records nothing and keeps every "is anything happening" test a mask
 * load: an idle controller, memory or pipe costs one branch per edge. */
#include <stddef.h>
#include <string.h>

#include "tinygpu/tinygpu.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The machine's sizes, passed by value into the inlined edge so that run() can instantiate it for the RTL's
 * machine with constants (loops unrolled, masks folded) and once more for any other machine. */
struct tg_shape {
    int nc, tpb, npch, ndch;
};

/* ---- cores: scheduler, fetcher, decoder, and per slot registers, ALU, LSU, PC ---- */

/* The decoder's control bits per opcode (src/decoder.sv); NOP and the undefined opcodes 10-14 set none. */
struct tg_controls {
    uint8_t reg_write, mem_read, mem_write, nzp_write, reg_mux, alu_op, alu_cmp, pc_mux, ret;
};
static const struct tg_controls controls[16] = {
    [TG_OP_BRNZP] = {.pc_mux = 1},
    [TG_OP_CMP] = {.alu_cmp = 1, .nzp_write = 1},
    [TG_OP_ADD] = {.reg_write = 1, .reg_mux = TG_MUX_ALU, .alu_op = TG_ALU_ADD},
    [TG_OP_SUB] = {.reg_write = 1, .reg_mux = TG_MUX_ALU, .alu_op = TG_ALU_SUB},
    [TG_OP_MUL] = {.reg_write = 1, .reg_mux = TG_MUX_ALU, .alu_op = TG_ALU_MUL},
    [TG_OP_DIV] = {.reg_write = 1, .reg_mux = TG_MUX_ALU, .alu_op = TG_ALU_DIV},
    [TG_OP_LDR] = {.reg_write = 1, .reg_mux = TG_MUX_LSU, .mem_read = 1},
    [TG_OP_STR] = {.mem_write = 1},
    [TG_OP_CONST] = {.reg_write = 1, .reg_mux = TG_MUX_CONST},
    [TG_OP_RET] = {.ret = 1},
};

static void decode(struct tg_core *c, uint16_t w)
{
    const struct tg_controls *k = &controls[w >> 12];
    c->decoded = w;
    c->rd = (w >> 8) & 15;
    c->rs = (w >> 4) & 15;
    c->rt = w & 15;
    c->imm = w & 255;
    c->nzp = (w >> 9) & 7;
    c->reg_write = k->reg_write;
    c->mem_read = k->mem_read;
    c->mem_write = k->mem_write;
    c->nzp_write = k->nzp_write;
    c->reg_mux = k->reg_mux;
    c->alu_op = k->alu_op;
    c->alu_cmp = k->alu_cmp;
    c->pc_mux = k->pc_mux;
    c->ret = k->ret;
}

/* The core's reset input: every unit of the core, all thread slots (enabled or not), takes its reset value.
 */
static void core_reset(struct qwglm_tinygpu *g, int ci)
{
    struct tg_core *c = &g->core[ci];
    memset(c, 0, offsetof(struct tg_core, slot));
    for (int i = 0; i < g->tpb; i++) {
        memset(&c->slot[i], 0, sizeof c->slot[i]);
        c->slot[i].r[14] = (uint8_t)g->tpb;
        c->slot[i].r[15] = (uint8_t)i;
    }
    g->f_rv &= ~(1u << ci);
    g->f_raddr[ci] = 0;
    g->core_done &= ~(1u << ci);
    int base = ci * g->tpb;
    uint64_t mask = (g->tpb == 64 ? ~0ull : ((1ull << g->tpb) - 1)) << base;
    g->lsu.rv &= ~mask;
    g->lsu.wv &= ~mask;
    memset(g->lsu.raddr + base, 0, (size_t)g->tpb);
    memset(g->lsu.waddr + base, 0, (size_t)g->tpb);
    memset(g->lsu.wdata + base, 0, (size_t)g->tpb);
    g->lsu_dirty = true;
    g->data_active = true;
}

static ALWAYS_INLINE uint8_t alu(const struct tg_core *c, uint8_t rs, uint8_t rt, bool fix_cmp)
{
    if (c->alu_cmp) {
        if (fix_cmp) return (uint8_t)((rs < rt) << 2 | (rs == rt) << 1 | (rs > rt));
        /* {5'b0, rs - rt > 0, rs - rt == 0, rs - rt < 0} on unsigned values: "< 0" never holds and "> 0"
         * means "not equal" (tiny-gpu spec 2.2). */
        return (uint8_t)((rs != rt) << 2 | (rs == rt) << 1);
    }
    switch (c->alu_op) {
    case TG_ALU_ADD:
        return (uint8_t)(rs + rt);
    case TG_ALU_SUB:
        return (uint8_t)(rs - rt);
    case TG_ALU_MUL:
        return (uint8_t)(rs * rt);
    default:
        return rt ? (uint8_t)(rs / rt) : 0; /* 2-state Verilog (Verilator): x / 0 = 0 */
    }
}

/* The per-slot work of REQUEST (without the LSU), EXECUTE and UPDATE, on the enabled slots. */
static ALWAYS_INLINE void slots_request(struct tg_core *c, int n_en)
{
    for (int i = 0; i < n_en; i++) {
        struct tg_slot *s = &c->slot[i];
        s->rs = s->r[c->rs];
        s->rt = s->r[c->rt];
    }
}

static ALWAYS_INLINE void slots_execute(struct tg_core *c, int n_en, bool fix_cmp)
{
    const uint8_t pc1 = (uint8_t)(c->pc + 1);
    for (int i = 0; i < n_en; i++) {
        struct tg_slot *s = &c->slot[i];
        s->alu_out = alu(c, s->rs, s->rt, fix_cmp);
        s->next_pc = (c->pc_mux && (s->nzp & c->nzp)) ? c->imm : pc1;
    }
}

static ALWAYS_INLINE void slots_update(struct tg_core *c, int n_en)
{
    const bool write = c->reg_write && c->rd < 13, mem = c->mem_read | c->mem_write;
    for (int i = 0; i < n_en; i++) {
        struct tg_slot *s = &c->slot[i];
        if (write)
            s->r[c->rd] = c->reg_mux == TG_MUX_ALU   ? s->alu_out
                          : c->reg_mux == TG_MUX_LSU ? s->lsu_out
                                                     : c->imm;
        if (c->nzp_write) s->nzp = s->alu_out & 7;
        if (mem && s->lsu_state == TG_LSU_DONE) s->lsu_state = TG_LSU_IDLE;
    }
}

/* Fast path only: a core whose fetcher has just latched an instruction that is neither LDR, STR nor RET
 * spends the next five edges (FETCH -> DECODE -> REQUEST -> WAIT -> EXECUTE -> UPDATE -> FETCH) without
 * touching anything outside itself: its fetcher is idle, its LSUs stay idle and its `done` stays 0. Those
 * edges are computed here at once, and the core sleeps until edge k + 6, when its fetcher starts the next
 * fetch. Nothing else reads the registers it updated early, and run() stops only where no core sleeps (see
 * run()). */
static void core_run_instruction(struct qwglm_tinygpu *g, struct tg_core *c, int n_en, uint64_t k)
{
    c->fetcher = TG_F_IDLE; /* k + 1: DECODE */
    decode(c, c->instruction);
    slots_request(c, n_en);               /* k + 2: REQUEST; k + 3: WAIT, no LSU busy */
    slots_execute(c, n_en, g->p.fix_cmp); /* k + 4: EXECUTE */
    const uint8_t next_pc = c->slot[g->pc_slot].next_pc;
    slots_update(c, n_en); /* k + 5: UPDATE */
    c->pc = next_pc;
    c->state = TG_FETCH;
    c->wake = k + 6;
}

/* One core at one edge. Reads the dispatcher's outputs, the program controller's consumer outputs and the
 * response pipe stage as they were before the edge (their owners update after the cores). */
static ALWAYS_INLINE void core_edge(struct qwglm_tinygpu *g, int ci, bool start, bool fast, uint64_t k,
                                    uint64_t max_cycles, const struct tg_shape sh)
{
    struct tg_core *c = &g->core[ci];
    const int state = c->state, fetcher = c->fetcher;
    const uint16_t instruction = c->instruction;
    const uint32_t cbit = 1u << ci;

    switch (fetcher) {
    case TG_F_IDLE:
        if (state == TG_FETCH) {
            c->fetcher = TG_F_FETCHING;
            g->f_rv |= cbit;
            g->f_raddr[ci] = c->pc;
        }
        break;
    case TG_F_FETCHING:
        if (g->pctrl.rr & cbit) {
            c->fetcher = TG_F_FETCHED;
            c->instruction = g->pctrl.rdata[ci];
            g->f_rv &= ~cbit;
        }
        break;
    case TG_F_FETCHED:
        if (state == TG_DECODE) c->fetcher = TG_F_IDLE;
        break;
    }

    const int n_en = g->thread_count[ci]; /* slots below it are enabled; the others never change */
    const int base = ci * sh.tpb;
    switch (state) {
    case TG_IDLE:
        /* registers.sv copies block_id into R13 on every enabled cycle. block_id and the enabled slots change
         * only at edges where this core is held in reset, and a core leaves reset into IDLE, so copying here
         * is the same as copying always. */
        for (int i = 0; i < n_en; i++) c->slot[i].r[13] = g->block_id[ci];
        if (start) c->state = TG_FETCH;
        break;
    case TG_FETCH:
        if (fetcher == TG_F_FETCHED) {
            c->state = TG_DECODE;
            const int op = instruction >> 12;
            if (fast && op != TG_OP_LDR && op != TG_OP_STR && op != TG_OP_RET && k + 5 <= max_cycles)
                core_run_instruction(g, c, n_en, k);
        }
        break;
    case TG_DECODE:
        decode(c, instruction);
        c->state = TG_REQUEST;
        break;
    case TG_REQUEST:
        slots_request(c, n_en);
        if (c->mem_read | c->mem_write)
            for (int i = 0; i < n_en; i++)
                if (c->slot[i].lsu_state == TG_LSU_IDLE) c->slot[i].lsu_state = TG_LSU_REQUESTING;
        c->state = TG_WAIT;
        break;
    case TG_WAIT: {
        /* An LSU leaves IDLE only for LDR/STR (at REQUEST) and is back in IDLE by UPDATE, so for any other
         * instruction no slot is requesting or waiting and the scheduler moves on at once. */
        if (!(c->mem_read | c->mem_write)) {
            c->state = TG_EXECUTE;
            break;
        }
        bool any = false;
        for (int i = 0; i < sh.tpb; i++) {
            int st = c->slot[i].lsu_state;
            if (st == TG_LSU_REQUESTING || st == TG_LSU_WAITING) any = true;
        }
        for (int i = 0; i < n_en; i++) {
            struct tg_slot *s = &c->slot[i];
            const int j = base + i; /* consumer index */
            const uint64_t jbit = 1ull << j;
            if (s->lsu_state == TG_LSU_REQUESTING) {
                if (c->mem_read) {
                    g->lsu.rv |= jbit;
                    g->lsu.raddr[j] = s->rs;
                } else {
                    g->lsu.wv |= jbit;
                    g->lsu.waddr[j] = s->rs;
                    g->lsu.wdata[j] = s->rt;
                }
                g->lsu_dirty = g->data_active = true;
                s->lsu_state = TG_LSU_WAITING;
            } else if (s->lsu_state == TG_LSU_WAITING) {
                if (c->mem_read && (g->presp.rr & jbit)) {
                    g->lsu.rv &= ~jbit;
                    s->lsu_out = g->presp.rdata[j];
                    s->lsu_state = TG_LSU_DONE;
                } else if (c->mem_write && (g->presp.wr & jbit)) {
                    g->lsu.wv &= ~jbit;
                    s->lsu_state = TG_LSU_DONE;
                }
            }
        }
        if (!any) c->state = TG_EXECUTE;
        break;
    }
    case TG_EXECUTE:
        slots_execute(c, n_en, g->p.fix_cmp);
        c->state = TG_UPDATE;
        break;
    case TG_UPDATE: {
        const uint8_t next_pc = c->slot[g->pc_slot].next_pc; /* a disabled slot's next_pc stays 0 */
        slots_update(c, n_en);
        if (c->ret) {
            c->done = 1;
            g->core_done |= cbit;
            c->state = TG_DONE;
        } else {
            c->pc = next_pc;
            c->state = TG_FETCH;
        }
        break;
    }
    default:
        break; /* DONE: wait for the dispatcher's reset */
    }
}

/* ---- memory controllers (src/controller.sv) ---- */

/* cons_*: the consumers' request lines as they were before the edge; m: the memory's outputs before the edge.
 */
/* Returns the channels that picked a read request at this edge. fast: channels inside a fetch transaction
 * (fetch_transaction) sleep until their wake edge. */
static ALWAYS_INLINE uint32_t ctrl_edge(struct tg_ctrl *c, const int n_channels, uint64_t cons_rv,
                                        uint64_t cons_wv, const uint8_t *raddr, const uint8_t *waddr,
                                        const uint8_t *wdata, const struct tg_mem_out *m, bool fast,
                                        uint64_t k)
{
    uint32_t picked = 0;
    c->rdata_dirty = false;
    if (!c->busy && !((cons_rv | cons_wv) & ~c->serving)) return 0;
    for (int ch = 0; ch < n_channels; ch++) {
        if (fast && k < c->wake[ch]) continue;
        const uint32_t chbit = 1u << ch;
        const int j = c->consumer[ch];
        const uint64_t jbit = 1ull << j;
        switch (c->state[ch]) {
        case TG_CH_IDLE: {
            uint64_t pending =
                (cons_rv | cons_wv) & ~c->serving; /* serving is blocking: see earlier channels */
            if (!pending) break;
            int n = __builtin_ctzll(pending);
            uint64_t nbit = 1ull << n;
            c->serving |= nbit;
            c->consumer[ch] = (uint8_t)n;
            c->busy |= chbit;
            if (cons_rv & nbit) {
                c->req.rv |= chbit;
                c->req.raddr[ch] = raddr[n];
                c->state[ch] = TG_CH_READ_WAITING;
                picked |= chbit;
            } else {
                c->req.wv |= chbit;
                c->req.waddr[ch] = waddr[n];
                c->req.wdata[ch] = wdata[n];
                c->state[ch] = TG_CH_WRITE_WAITING;
            }
            break;
        }
        case TG_CH_READ_WAITING:
            if (m->ready & chbit) {
                c->req.rv &= ~chbit;
                c->rr |= jbit;
                c->rdata[j] = m->rdata[ch];
                c->rdata_dirty = true;
                c->state[ch] = TG_CH_READ_RELAYING;
            }
            break;
        case TG_CH_WRITE_WAITING:
            if (m->wready & chbit) {
                c->req.wv &= ~chbit;
                c->wr |= jbit;
                c->state[ch] = TG_CH_WRITE_RELAYING;
            }
            break;
        case TG_CH_READ_RELAYING:
            if (!(cons_rv & jbit)) {
                c->serving &= ~jbit;
                c->rr &= ~jbit;
                c->state[ch] = TG_CH_IDLE;
                c->busy &= ~chbit;
            }
            break;
        case TG_CH_WRITE_RELAYING:
            if (!(cons_wv & jbit)) {
                c->serving &= ~jbit;
                c->wr &= ~jbit;
                c->state[ch] = TG_CH_IDLE;
                c->busy &= ~chbit;
            }
            break;
        }
    }
    return picked;
}

/* ---- the test bench's memory models (test/helpers/memory.py) ---- */

/* The valid lines the memory acts on at this edge. The test bench's memory (latency 1) answers every edge
 * that sees valid; a slower memory answers only once valid has been seen at `latency` edges in a row, so that
 * an answer never outlives its request (the controller drops valid at the edge after ready, and a new request
 * on the channel comes at least two edges later). run[ch] counts the edges in a row. */
static ALWAYS_INLINE uint32_t serve(const struct qwglm_tinygpu *g, uint32_t valid, uint8_t *run, int n)
{
    const int latency = g->p.memory_latency;
    if (latency == 1) return valid;
    uint32_t act = 0;
    for (int ch = 0; ch < n; ch++) {
        if (!(valid >> ch & 1)) {
            run[ch] = 0;
            continue;
        }
        if (run[ch] < latency) run[ch]++;
        if (run[ch] >= latency) act |= 1u << ch;
    }
    return act;
}

/* Fills out (the memory's outputs after the edge) and applies writes; reads see the memory before the writes,
 * and of several channels writing one address the lowest channel is applied last and wins. */
/* Returns whether out->rdata was computed: when no channel reads now or did at the last edge, every rdata is
 * and stays 0 and out->rdata is left untouched. */
static ALWAYS_INLINE bool data_mem_edge(struct qwglm_tinygpu *g, struct tg_mem_out *out, bool observe,
                                        const int n)
{
    const struct tg_mem_req *q = &g->dctrl.req;
    const uint32_t rv = serve(g, q->rv, g->drun_r, n), wv = serve(g, q->wv, g->drun_w, n);
    out->ready = rv;
    out->wready = wv;
    const bool rdata = rv | g->dmem.ready;
    if (rdata)
        for (int ch = 0; ch < n; ch++) out->rdata[ch] = (rv >> ch & 1) ? g->data[q->raddr[ch]] : 0;
    if (observe)
        for (int ch = 0; ch < n; ch++) {
            qwglm_tinygpu_access *a = &g->traffic.data[ch];
            a->read = rv >> ch & 1;
            a->write = wv >> ch & 1;
            a->address = a->read ? q->raddr[ch] : a->write ? q->waddr[ch] : 0;
            a->data = a->read ? out->rdata[ch] : a->write ? (q->wdata[ch] & 255) : 0;
        }
    if (wv)
        for (int ch = n - 1; ch >= 0; ch--)
            if (wv >> ch & 1) g->data[q->waddr[ch]] = (uint8_t)q->wdata[ch];
    return rdata;
}

static ALWAYS_INLINE bool prog_mem_edge(struct qwglm_tinygpu *g, struct tg_mem_out *out, bool observe,
                                        const int n)
{
    const struct tg_mem_req *q = &g->pctrl.req;
    const uint32_t rv = serve(g, q->rv, g->prun, n);
    out->ready = rv;
    out->wready = 0; /* the program memory's write side is unconnected */
    const bool rdata = rv | g->pmem.ready;
    if (rdata)
        for (int ch = 0; ch < n; ch++) out->rdata[ch] = (rv >> ch & 1) ? g->prog[q->raddr[ch]] : 0;
    if (observe)
        for (int ch = 0; ch < n; ch++) {
            qwglm_tinygpu_access *a = &g->traffic.program[ch];
            a->read = rv >> ch & 1;
            a->write = 0;
            a->address = a->read ? q->raddr[ch] : 0;
            a->data = a->read ? out->rdata[ch] : 0;
        }
    return rdata;
}

/* ---- dispatcher (src/dispatch.sv) and device control register (src/dcr.sv) ---- */

static void dispatch_reset(struct qwglm_tinygpu *g)
{
    g->done = 0;
    g->blocks_dispatched = 0;
    g->blocks_done = 0;
    g->start_execution = 0;
    g->core_start = 0;
    g->core_reset = (1u << g->n_cores) - 1;
    for (int i = 0; i < g->n_cores; i++) {
        g->block_id[i] = 0;
        g->thread_count[i] = (uint8_t)g->tpb;
    }
    g->dispatch_idle = false;
}

/* core_done: every core's scheduler `done` before the edge. */
static ALWAYS_INLINE void dispatch_edge(struct qwglm_tinygpu *g, uint32_t core_done)
{
    const uint32_t reset_pre = g->core_reset, start_pre = g->core_start;
    const int total = g->total_blocks;
    /* the common edge: every core busy or idle for good, kernel not finished */
    if (!(reset_pre | (start_pre & core_done)) && g->dispatch_idle) return;
    uint32_t reset = reset_pre, start = start_pre;
    if (!g->start_execution) {
        g->start_execution = 1;
        reset = (1u << g->n_cores) - 1;
    }
    if (g->blocks_done == total) g->done = 1;
    if (reset_pre)
        for (int i = 0; i < g->n_cores; i++) {
            if (!(reset_pre >> i & 1)) continue;
            reset &= ~(1u << i);
            if (g->blocks_dispatched < total) {
                int b = g->blocks_dispatched;
                start |= 1u << i;
                g->block_id[i] = (uint8_t)b;
                g->thread_count[i] = (uint8_t)(b == total - 1 ? g->dcr_threads - b * g->tpb : g->tpb);
                g->blocks_dispatched = (uint8_t)(b + 1); /* blocking: the next core sees it */
            }
        }
    const uint32_t finished = start_pre & core_done;
    if (finished)
        for (int i = 0; i < g->n_cores; i++)
            if (finished >> i & 1) {
                reset |= 1u << i;
                start &= ~(1u << i);
                g->blocks_done++;
            }
    g->core_reset = reset;
    g->core_start = start;
    g->dispatch_idle = g->start_execution && g->blocks_done != total;
}

/* ---- one rising edge ---- */

/* Fast path only: a program channel that picked fetcher j's request at edge k runs a fixed handshake with the
 * test bench's memory and the fetcher, which nothing else can see or disturb:
 *   k     controller: READ_WAITING, read_valid        k + 3  fetcher: FETCHED, instruction latched, valid low
 *   k + 1 memory: ready, data                         k + 4  controller: fetcher's valid low -> IDLE
 *   k + 2 controller: relays ready and data; memory answers again (valid was still high before the edge)
 * (Other channels cannot pick fetcher j meanwhile: it is being served, or its valid is low.) The final state
 * is written at once; the channel sleeps until k + 5 and fetcher j's core until k + 4, when its scheduler
 * sees FETCHED. Only for latency 1 and when k + 4 is still inside the run. */
static void fetch_transaction(struct qwglm_tinygpu *g, int ch, uint64_t k)
{
    struct tg_ctrl *c = &g->pctrl;
    const int j = c->consumer[ch];
    const uint16_t word = g->prog[c->req.raddr[ch]];
    c->state[ch] = TG_CH_IDLE;
    c->busy &= ~(1u << ch);
    c->req.rv &= ~(1u << ch);
    c->serving &= ~(1ull << j);
    c->rdata[j] = word;
    c->wake[ch] = k + 5;
    g->pmem.ready &= ~(1u << ch); /* the memory's outputs after k + 4; they are 0 before k too */
    g->pmem.rdata[ch] = 0;
    struct tg_core *core = &g->core[j];
    core->fetcher = TG_F_FETCHED;
    core->instruction = word;
    g->f_rv &= ~(1u << j);
    core->wake = k + 4;
}

/* Order (each unit must see the others' pre-edge values):
 *   1. memories: answer from the controllers' request lines (not yet updated) into locals, apply data writes;
 *   2. snapshot the data controller's consumer outputs (the response pipe stage copies them after the cores);
 *   3. data controller: reads the request pipe stage and the memory outputs, both still pre-edge;
 *   4. request pipe stage <- LSU outputs (cores not yet updated);
 *   5. cores: read the dispatcher, the program controller and the response pipe stage, all pre-edge;
 *   6. response pipe stage <- snapshot of 2;
 *   7. program controller: reads the fetchers' lines saved before 5;
 *   8. dispatcher: reads the cores' `done` saved before 5; then the DCR;
 *   9. commit the memories' outputs.
 * fast (run() only): skip the data path when it is quiet, and let cores run whole instructions ahead (see
 * core_run_instruction); k is this edge's index and max_cycles the last edge run() will simulate. */
static ALWAYS_INLINE void edge(struct qwglm_tinygpu *g, bool reset, bool dcr_write, bool start, bool observe,
                               bool fast, uint64_t k, uint64_t max_cycles, const struct tg_shape sh)
{
    const int n_consumers = sh.nc * sh.tpb;
    struct tg_mem_out pmem_next = {0}, dmem_next = {0}; /* zeroed only to quiet maybe-uninitialized */
    const bool prdata = prog_mem_edge(g, &pmem_next, observe, sh.npch);

    if (observe)
        for (int i = 0; i < sh.nc; i++) g->traffic.core_state_before[i] = g->core[i].state;

    /* Quiet data path (data_active false, see the end of this function): steps 1-4 and 6 change nothing. */
    const bool data_quiet = fast && !g->data_active;
    bool drdata = false, resp_dirty = false;
    uint64_t resp_rr = 0, resp_wr = 0;
    uint8_t resp_rdata[TG_MAX_CONSUMERS];
    if (!data_quiet) {
        drdata = data_mem_edge(g, &dmem_next, observe, sh.ndch);
        /* 2 */
        resp_rr = g->dctrl.rr, resp_wr = g->dctrl.wr;
        resp_dirty = g->dctrl.rdata_dirty;
        if (resp_dirty)
            for (int i = 0; i < n_consumers; i++) resp_rdata[i] = (uint8_t)g->dctrl.rdata[i];
        /* 3 */
        if (reset) {
            memset(&g->dctrl, 0, sizeof g->dctrl);
            g->dctrl.n_channels = g->p.data_channels;
            g->dctrl.rdata_dirty = true; /* the pipe stage copies the cleared data */
        } else {
            ctrl_edge(&g->dctrl, sh.ndch, g->preq.rv, g->preq.wv, g->preq.raddr, g->preq.waddr, g->preq.wdata,
                      &g->dmem, false, k);
        }
        /* 4: the pipe stages are never reset */
        g->preq.rv = g->lsu.rv;
        g->preq.wv = g->lsu.wv;
        if (g->lsu_dirty) {
            memcpy(g->preq.raddr, g->lsu.raddr, (size_t)n_consumers);
            memcpy(g->preq.waddr, g->lsu.waddr, (size_t)n_consumers);
            memcpy(g->preq.wdata, g->lsu.wdata, (size_t)n_consumers);
            g->lsu_dirty = false;
        }
    }

    /* 5. The program controller reads a fetcher's address only when the fetcher's valid was high before the
     * edge, i.e. when it is FETCHING, and a FETCHING fetcher does not change its address: only valid needs a
     * snapshot. */
    const uint32_t f_rv = g->f_rv, core_done = g->core_done;
    for (int i = 0; i < sh.nc; i++) {
        if (g->core_reset >> i & 1)
            core_reset(g, i);
        else if (!fast || k >= g->core[i].wake)
            core_edge(g, i, g->core_start >> i & 1, fast, k, max_cycles, sh);
    }

    if (!data_quiet) {
        /* 6 */
        g->presp.rr = resp_rr;
        g->presp.wr = resp_wr;
        if (resp_dirty) memcpy(g->presp.rdata, resp_rdata, (size_t)n_consumers);
    }

    /* 7 */
    if (reset) {
        memset(&g->pctrl, 0, sizeof g->pctrl);
        g->pctrl.n_channels = g->p.program_channels;
    } else {
        static const uint8_t none[TG_MAX_CORES];
        uint32_t picked = ctrl_edge(&g->pctrl, sh.npch, f_rv, 0, g->f_raddr, none, none, &g->pmem, fast, k);
        if (fast && picked && k + 4 <= max_cycles && g->p.memory_latency == 1)
            for (int ch = 0; ch < sh.npch; ch++)
                if (picked >> ch & 1) fetch_transaction(g, ch, k);
    }

    /* 8 */
    if (reset)
        dispatch_reset(g);
    else if (start)
        dispatch_edge(g, core_done);
    if (reset || dcr_write) {
        g->dcr_threads = reset ? 0 : g->threads_arg;
        g->total_blocks = (g->dcr_threads + g->tpb - 1) / g->tpb; /* dispatch.sv's total_blocks wire */
    }

    /* 9 */
    g->pmem.ready = pmem_next.ready;
    g->pmem.wready = pmem_next.wready;
    if (prdata)
        for (int ch = 0; ch < sh.npch; ch++) g->pmem.rdata[ch] = pmem_next.rdata[ch];
    if (!data_quiet) {
        g->dmem.ready = dmem_next.ready;
        g->dmem.wready = dmem_next.wready;
        if (drdata)
            for (int ch = 0; ch < sh.ndch; ch++) g->dmem.rdata[ch] = dmem_next.rdata[ch];
        /* The data path stays quiet until an LSU requests (or a core reset rewrites the LSU lines): no
         * request anywhere between the LSUs and the memory, no answer in flight, nothing left for a pipe
         * stage to copy. Latency > 1 keeps per-channel counters, so it is never called quiet. */
        g->data_active =
            g->p.memory_latency != 1 || g->lsu_dirty || g->dctrl.rdata_dirty ||
            (g->dctrl.req.rv | g->dctrl.req.wv | g->dmem.ready | g->dmem.wready | g->dctrl.busy) ||
            (g->preq.rv | g->preq.wv | g->lsu.rv | g->lsu.wv | g->presp.rr | g->presp.wr | g->dctrl.rr |
             g->dctrl.wr);
    }
}

/* Fast path only: the next edge after k at which anything can change. Edges before it are no-ops when the
 * data path is quiet, the dispatcher has nothing to do, no program channel is mid-handshake outside a
 * transaction or about to pick, no memory answer is in flight, and every core sleeps or waits passively:
 * FETCH with its fetcher waiting for a channel, or IDLE without a block. The machine then jumps to the
 * earliest wake-up (or to the end of the run when nothing sleeps). */
static ALWAYS_INLINE uint64_t next_edge(const struct qwglm_tinygpu *g, uint64_t k, uint64_t max_cycles,
                                        const struct tg_shape sh)
{
    if (g->data_active || !g->dispatch_idle || (g->core_reset | (g->core_start & g->core_done)) ||
        (g->pmem.ready | g->pctrl.busy) || g->pctrl.rr)
        return k + 1;
    uint64_t next = max_cycles + 1;
    const bool pending = g->f_rv & ~g->pctrl.serving;
    for (int ch = 0; ch < sh.npch; ch++) {
        if (g->pctrl.wake[ch] <= k + 1) {
            if (pending) return k + 1;
        } else if (g->pctrl.wake[ch] < next) {
            next = g->pctrl.wake[ch];
        }
    }
    for (int i = 0; i < sh.nc; i++) {
        const struct tg_core *c = &g->core[i];
        if (c->wake > k + 1) {
            if (c->wake < next) next = c->wake;
        } else if (!((c->state == TG_FETCH && c->fetcher == TG_F_FETCHING) ||
                     (c->state == TG_IDLE && !(g->core_start >> i & 1)))) {
            return k + 1;
        }
    }
    return next;
}

/* ---- public API ---- */

static struct tg_shape shape(const struct qwglm_tinygpu *g)
{
    return (struct tg_shape){g->n_cores, g->tpb, g->p.program_channels, g->p.data_channels};
}

void tg_reset_edge(struct qwglm_tinygpu *g)
{
    edge(g, true, false, false, false, false, 0, 0, shape(g));
}

int qwglm_tinygpu_step(qwglm_tinygpu *g)
{
    uint64_t k = g->cycle + 1;
    edge(g, false, k == 1, k >= 2, true, false, k, k, shape(g));
    g->cycle = k;
    g->traffic.cycle = k;
    for (int ch = 0; ch < g->pctrl.n_channels; ch++) {
        g->traffic.program[ch].controller_state = g->pctrl.state[ch];
        g->traffic.program[ch].consumer = g->pctrl.consumer[ch];
    }
    for (int ch = 0; ch < g->dctrl.n_channels; ch++) {
        g->traffic.data[ch].controller_state = g->dctrl.state[ch];
        g->traffic.data[ch].consumer = g->dctrl.consumer[ch];
    }
    return g->done;
}

int qwglm_tinygpu_run(qwglm_tinygpu *g, uint64_t max_cycles)
{
    if (g->done || g->cycle >= max_cycles) return g->done;
    if (g->cycle == 0) {
        edge(g, false, true, false, false, false, 1, 1, shape(g)); /* E1: the test bench writes the threads */
        g->cycle = 1;
    }
    /* Cores that run instructions ahead (core_run_instruction) only do so when the instruction ends by
     * max_cycles, and `done` cannot rise while a core is inside an instruction (its block is not finished),
     * so every core is exact when this loop ends. */
    uint64_t k = g->cycle;
    const struct tg_shape sh = shape(g);
    if (sh.nc == 2 && sh.tpb == 4 && sh.npch == 1 && sh.ndch == 4) { /* the RTL's machine, with constants */
        const struct tg_shape rtl = {2, 4, 1, 4};
        while (!g->done && k < max_cycles) {
            k++;
            edge(g, false, false, true, false, true, k, max_cycles, rtl);
            k = next_edge(g, k, max_cycles, rtl) - 1;
        }
    } else {
        while (!g->done && k < max_cycles) {
            k++;
            edge(g, false, false, true, false, true, k, max_cycles, sh);
            k = next_edge(g, k, max_cycles, sh) - 1;
        }
    }
    g->cycle = k;
    return g->done;
}
