/* tiny-gpu: read-only views of the machine for visualisers, and the per-cycle trace line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tinygpu/tinygpu.h"

void qwglm_tinygpu_get_core(const qwglm_tinygpu *g, int core, qwglm_tinygpu_core *out)
{
    memset(out, 0, sizeof *out);
    if (core < 0 || core >= g->n_cores) return;
    const struct tg_core *c = &g->core[core];
    out->state = c->state;
    out->pc = c->pc;
    out->done = c->done;
    out->fetcher_state = c->fetcher;
    out->instruction = c->instruction;
    out->decoded = c->decoded;
    out->reg_write = c->reg_write;
    out->mem_read = c->mem_read;
    out->mem_write = c->mem_write;
    out->nzp_write = c->nzp_write;
    out->reg_input_mux = c->reg_mux;
    out->alu_op = c->alu_op;
    out->alu_cmp = c->alu_cmp;
    out->pc_mux = c->pc_mux;
    out->ret = c->ret;
    out->rd = c->rd;
    out->rs = c->rs;
    out->rt = c->rt;
    out->imm = c->imm;
    out->nzp = c->nzp;
    out->start = g->core_start >> core & 1;
    out->reset = g->core_reset >> core & 1;
    out->block_id = g->block_id[core];
    out->thread_count = g->thread_count[core];
}

void qwglm_tinygpu_get_thread(const qwglm_tinygpu *g, int core, int slot, qwglm_tinygpu_thread *out)
{
    memset(out, 0, sizeof *out);
    if (core < 0 || core >= g->n_cores || slot < 0 || slot >= g->tpb) return;
    const struct tg_slot *s = &g->core[core].slot[slot];
    const int k = core * g->tpb + slot;
    out->enabled = slot < g->thread_count[core];
    memcpy(out->regs, s->r, sizeof out->regs);
    out->rs = s->rs;
    out->rt = s->rt;
    out->alu_out = s->alu_out;
    out->lsu_out = s->lsu_out;
    out->lsu_state = s->lsu_state;
    out->nzp = s->nzp;
    out->next_pc = s->next_pc;
    out->read_valid = g->lsu.rv >> k & 1;
    out->read_address = g->lsu.raddr[k];
    out->write_valid = g->lsu.wv >> k & 1;
    out->write_address = g->lsu.waddr[k];
    out->write_data = g->lsu.wdata[k];
}

void qwglm_tinygpu_get_dispatch(const qwglm_tinygpu *g, qwglm_tinygpu_dispatch *out)
{
    memset(out, 0, sizeof *out);
    out->thread_count = g->dcr_threads;
    out->total_blocks = g->total_blocks;
    out->blocks_dispatched = g->blocks_dispatched;
    out->blocks_done = g->blocks_done;
    out->start_execution = g->start_execution;
    out->done = g->done;
}

void qwglm_tinygpu_get_traffic(const qwglm_tinygpu *g, qwglm_tinygpu_traffic *out)
{
    *out = g->traffic;
}

/* ---- trace ---- */


/* "cycle 9 | c0 b0 DECODE pc 0 | c1 b1 FETCH pc 0 [fetching] | prog0 read [0] 50de | data2 write [16] 0 |
 *  c0 R4 = 0 1 2 3": per core its block, state, PC, the decoded instruction (REQUEST..UPDATE), the fetcher
 * while it is busy and the LSUs while the core waits on them; then the memory accesses of this edge and the
 * register and NZP writes of cores that left UPDATE. */
size_t qwglm_tinygpu_trace_line(const qwglm_tinygpu *g, char *buf, size_t cap)
{
    struct tg_out o = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    const qwglm_tinygpu_traffic *t = &g->traffic;
    tg_put(&o, "cycle %llu", (unsigned long long)g->cycle);
    for (int i = 0; i < g->n_cores; i++) {
        const struct tg_core *c = &g->core[i];
        if (g->core_reset >> i & 1) {
            tg_put(&o, " | c%d reset", i);
            continue;
        }
        tg_put(&o, " | c%d", i);
        if (c->state != TG_IDLE) tg_put(&o, " b%d", g->block_id[i]);
        tg_put(&o, " %s pc %d", tg_core_state_names[c->state & 7], c->pc);
        if (c->state >= TG_REQUEST && c->state <= TG_UPDATE) {
            char dis[48];
            qwglm_tinygpu_disasm(c->decoded, dis, sizeof dis);
            tg_put(&o, " %s", dis);
        }
        if (c->fetcher == TG_F_FETCHING) tg_put(&o, " [fetching]");
        if (c->fetcher == TG_F_FETCHED) tg_put(&o, " [fetched]");
        if (c->state == TG_WAIT && (c->mem_read | c->mem_write)) { /* LSUs: Idle Requesting Waiting Done */
            tg_put(&o, " [lsu ");
            for (int s = 0; s < g->thread_count[i]; s++) tg_put(&o, "%c", "IRWD"[c->slot[s].lsu_state & 3]);
            tg_put(&o, "]");
        }
    }
    const bool fresh = t->cycle == g->cycle && g->cycle > 0; /* the traffic is this edge's (step, not run) */
    for (int ch = 0; fresh && ch < t->n_program_channels; ch++)
        if (t->program[ch].read)
            tg_put(&o, " | prog%d read [%d] %04x", ch, t->program[ch].address, t->program[ch].data);
    for (int ch = 0; fresh && ch < t->n_data_channels; ch++) {
        const qwglm_tinygpu_access *a = &t->data[ch];
        if (a->read) tg_put(&o, " | data%d read [%d] %d", ch, a->address, a->data);
        if (a->write) tg_put(&o, " | data%d write [%d] %d", ch, a->address, a->data);
    }
    /* Register and NZP writes happen at UPDATE: the decoder still holds the instruction afterwards. */
    for (int i = 0; i < g->n_cores; i++) {
        const struct tg_core *c = &g->core[i];
        if (!fresh || t->core_state_before[i] != TG_UPDATE || (g->core_reset >> i & 1)) continue;
        if (c->reg_write && c->rd < 13) {
            tg_put(&o, " | c%d R%d =", i, c->rd);
            for (int s = 0; s < g->thread_count[i]; s++) tg_put(&o, " %d", c->slot[s].r[c->rd]);
        }
        if (c->nzp_write) {
            tg_put(&o, " | c%d nzp =", i);
            for (int s = 0; s < g->thread_count[i]; s++) {
                int z = c->slot[s].nzp;
                tg_put(&o, " %c%c%c", z & 4 ? 'n' : '-', z & 2 ? 'z' : '-', z & 1 ? 'p' : '-');
            }
        }
    }
    if (g->done) tg_put(&o, " | done");
    return o.len;
}
