/* The naive tiny-gpu model (see tinygpu_ref.h): o = registers before the edge, n = after. */
#include "tinygpu_ref.h"

#include <string.h>

enum { IDLE, FETCH, DECODE, REQUEST, WAIT, EXECUTE, UPDATE, DONE };
enum { L_IDLE, L_REQUESTING, L_WAITING, L_DONE };
enum { C_IDLE = 0, C_RW = 2, C_WW = 3, C_RR = 4, C_WR = 5 };

/* src/controller.sv. cons_*: consumers' lines before the edge; m_*: memory outputs before the edge. */
static void controller(const struct ref_ctrl *o, struct ref_ctrl *n, int nch, int ncons, const uint8_t *c_rv,
                       const uint8_t *c_ra, const uint8_t *c_wv, const uint8_t *c_wa, const uint8_t *c_wd,
                       const uint8_t *m_ready, const uint16_t *m_data, const uint8_t *m_wready, int reset)
{
    if (reset) {
        memset(n, 0, sizeof *n);
        return;
    }
    uint8_t serving[REF_MAX_CORES * REF_MAX_TPB]; /* blocking variable */
    memcpy(serving, o->serving, sizeof serving);
    for (int i = 0; i < nch; i++) {
        int c = o->cur[i];
        switch (o->state[i]) {
        case C_IDLE:
            for (int j = 0; j < ncons; j++) {
                if (c_rv[j] && !serving[j]) {
                    serving[j] = 1;
                    n->cur[i] = (uint8_t)j;
                    n->mrv[i] = 1;
                    n->mra[i] = c_ra[j];
                    n->state[i] = C_RW;
                    break;
                } else if (c_wv && c_wv[j] && !serving[j]) {
                    serving[j] = 1;
                    n->cur[i] = (uint8_t)j;
                    n->mwv[i] = 1;
                    n->mwa[i] = c_wa[j];
                    n->mwd[i] = c_wd[j];
                    n->state[i] = C_WW;
                    break;
                }
            }
            break;
        case C_RW:
            if (m_ready[i]) {
                n->mrv[i] = 0;
                n->crr[c] = 1;
                n->crd[c] = m_data[i];
                n->state[i] = C_RR;
            }
            break;
        case C_WW:
            if (m_wready && m_wready[i]) {
                n->mwv[i] = 0;
                n->cwr[c] = 1;
                n->state[i] = C_WR;
            }
            break;
        case C_RR:
            if (!c_rv[c]) {
                serving[c] = 0;
                n->crr[c] = 0;
                n->state[i] = C_IDLE;
            }
            break;
        case C_WR:
            if (!(c_wv && c_wv[c])) {
                serving[c] = 0;
                n->cwr[c] = 0;
                n->state[i] = C_IDLE;
            }
            break;
        }
    }
    memcpy(n->serving, serving, sizeof serving);
}

static void decoder(struct ref_core *n, uint16_t w)
{
    n->rd = (w >> 8) & 15;
    n->rs = (w >> 4) & 15;
    n->rt = w & 15;
    n->imm = w & 255;
    n->nzp = (w >> 9) & 7;
    n->reg_write = n->mem_read = n->mem_write = n->nzp_write = n->reg_mux = n->alu_op = 0;
    n->alu_cmp = n->pc_mux = n->ret = 0;
    switch (w >> 12) {
    case 1:
        n->pc_mux = 1;
        break;
    case 2:
        n->alu_cmp = 1, n->nzp_write = 1;
        break;
    case 3:
        n->reg_write = 1, n->reg_mux = 0, n->alu_op = 0;
        break;
    case 4:
        n->reg_write = 1, n->reg_mux = 0, n->alu_op = 1;
        break;
    case 5:
        n->reg_write = 1, n->reg_mux = 0, n->alu_op = 2;
        break;
    case 6:
        n->reg_write = 1, n->reg_mux = 0, n->alu_op = 3;
        break;
    case 7:
        n->reg_write = 1, n->reg_mux = 1, n->mem_read = 1;
        break;
    case 8:
        n->mem_write = 1;
        break;
    case 9:
        n->reg_write = 1, n->reg_mux = 2;
        break;
    case 15:
        n->ret = 1;
        break;
    }
}

static void core(const struct ref_gpu *og, struct ref_gpu *ng, int ci)
{
    const struct ref_core *o = &og->core[ci];
    struct ref_core *n = &ng->core[ci];
    const int tpb = og->tpb;
    if (og->creset[ci]) {
        memset(n, 0, sizeof *n);
        for (int i = 0; i < tpb; i++) n->t[i].r[14] = (uint8_t)tpb, n->t[i].r[15] = (uint8_t)i;
        return;
    }
    /* scheduler */
    switch (o->state) {
    case IDLE:
        if (og->cstart[ci]) n->state = FETCH;
        break;
    case FETCH:
        if (o->fstate == 2) n->state = DECODE;
        break;
    case DECODE:
        n->state = REQUEST;
        break;
    case REQUEST:
        n->state = WAIT;
        break;
    case WAIT: {
        int any = 0;
        for (int i = 0; i < tpb; i++)
            if (o->t[i].lsu_state == L_REQUESTING || o->t[i].lsu_state == L_WAITING) {
                any = 1;
                break;
            }
        if (!any) n->state = EXECUTE;
        break;
    }
    case EXECUTE:
        n->state = UPDATE;
        break;
    case UPDATE:
        if (o->ret) {
            n->done = 1;
            n->state = DONE;
        } else {
            n->pc = o->t[og->fix_div ? 0 : tpb - 1].next_pc;
            n->state = FETCH;
        }
        break;
    }
    /* fetcher */
    switch (o->fstate) {
    case 0:
        if (o->state == FETCH) n->fstate = 1, n->frv = 1, n->fra = o->pc;
        break;
    case 1:
        if (og->pc.crr[ci]) n->fstate = 2, n->instr = og->pc.crd[ci], n->frv = 0;
        break;
    case 2:
        if (o->state == DECODE) n->fstate = 0;
        break;
    }
    if (o->state == DECODE) decoder(n, o->instr);
    for (int i = 0; i < tpb; i++) {
        if (i >= og->ctc[ci]) continue; /* disabled slot */
        const struct ref_thread *ot = &o->t[i];
        struct ref_thread *nt = &n->t[i];
        const int k = ci * tpb + i;
        /* registers.sv */
        nt->r[13] = og->cbid[ci];
        if (o->state == REQUEST) nt->rs = ot->r[o->rs], nt->rt = ot->r[o->rt];
        if (o->state == UPDATE && o->reg_write && o->rd < 13)
            nt->r[o->rd] = o->reg_mux == 0 ? ot->alu_out : o->reg_mux == 1 ? ot->lsu_out : o->imm;
        /* alu.sv */
        if (o->state == EXECUTE) {
            int rs = ot->rs, rt = ot->rt;
            if (o->alu_cmp)
                nt->alu_out = og->fix_cmp ? (uint8_t)((rs < rt) << 2 | (rs == rt) << 1 | (rs > rt))
                                          : (uint8_t)((rs != rt) << 2 | (rs == rt) << 1);
            else if (o->alu_op == 0)
                nt->alu_out = (uint8_t)(rs + rt);
            else if (o->alu_op == 1)
                nt->alu_out = (uint8_t)(rs - rt);
            else if (o->alu_op == 2)
                nt->alu_out = (uint8_t)(rs * rt);
            else
                nt->alu_out = rt ? (uint8_t)(rs / rt) : 0;
        }
        /* lsu.sv */
        if (o->mem_read) switch (ot->lsu_state) {
            case L_IDLE:
                if (o->state == REQUEST) nt->lsu_state = L_REQUESTING;
                break;
            case L_REQUESTING:
                nt->rv = 1, nt->ra = ot->rs, nt->lsu_state = L_WAITING;
                break;
            case L_WAITING:
                if (og->s_rr[k]) nt->rv = 0, nt->lsu_out = og->s_rd[k], nt->lsu_state = L_DONE;
                break;
            case L_DONE:
                if (o->state == UPDATE) nt->lsu_state = L_IDLE;
                break;
            }
        if (o->mem_write) switch (ot->lsu_state) {
            case L_IDLE:
                if (o->state == REQUEST) nt->lsu_state = L_REQUESTING;
                break;
            case L_REQUESTING:
                nt->wv = 1, nt->wa = ot->rs, nt->wd = ot->rt, nt->lsu_state = L_WAITING;
                break;
            case L_WAITING:
                if (og->s_wr[k]) nt->wv = 0, nt->lsu_state = L_DONE;
                break;
            case L_DONE:
                if (o->state == UPDATE) nt->lsu_state = L_IDLE;
                break;
            }
        /* pc.sv */
        if (o->state == EXECUTE)
            nt->next_pc = (o->pc_mux && (ot->nzp & o->nzp)) ? o->imm : (uint8_t)(o->pc + 1);
        if (o->state == UPDATE && o->nzp_write) nt->nzp = ot->alu_out & 7;
    }
}

static void dispatcher(const struct ref_gpu *o, struct ref_gpu *n, int reset, int start)
{
    if (reset) {
        n->done = 0, n->bd = 0, n->bdone = 0, n->start_exec = 0;
        for (int i = 0; i < o->n_cores; i++)
            n->cstart[i] = 0, n->creset[i] = 1, n->cbid[i] = 0, n->ctc[i] = 4;
        for (int i = 0; i < o->n_cores; i++) n->ctc[i] = (uint8_t)o->tpb;
        return;
    }
    if (!start) return;
    int total = (o->dcr + o->tpb - 1) / o->tpb;
    uint8_t bd = o->bd, bdone = o->bdone; /* blocking */
    if (!o->start_exec) {
        n->start_exec = 1;
        for (int i = 0; i < o->n_cores; i++) n->creset[i] = 1;
    }
    if (bdone == total) n->done = 1;
    for (int i = 0; i < o->n_cores; i++)
        if (o->creset[i]) {
            n->creset[i] = 0;
            if (bd < total) {
                n->cstart[i] = 1;
                n->cbid[i] = bd;
                n->ctc[i] = (uint8_t)(bd == total - 1 ? o->dcr - bd * o->tpb : o->tpb);
                bd++;
            }
        }
    for (int i = 0; i < o->n_cores; i++)
        if (o->cstart[i] && o->core[i].done) {
            n->creset[i] = 1;
            n->cstart[i] = 0;
            bdone++;
        }
    n->bd = bd;
    n->bdone = bdone;
}

static void edge(struct ref_gpu *g, int reset, int dcr_we, int start)
{
    static struct ref_gpu n; /* tests are single-threaded */
    const struct ref_gpu *o = g;
    n = *o;
    const int ncons = o->n_cores * o->tpb;
    /* test/helpers/memory.py */
    /* a memory acts on a channel once it has seen valid at `latency` edges in a row (1: every edge) */
    uint8_t p_act[REF_MAX_CH], d_act_r[REF_MAX_CH], d_act_w[REF_MAX_CH];
    for (int c = 0; c < REF_MAX_CH; c++) {
        n.p_run[c] = o->pc.mrv[c] ? o->p_run[c] + 1 : 0;
        n.d_run_r[c] = o->dc.mrv[c] ? o->d_run_r[c] + 1 : 0;
        n.d_run_w[c] = o->dc.mwv[c] ? o->d_run_w[c] + 1 : 0;
        p_act[c] = n.p_run[c] >= o->latency;
        d_act_r[c] = n.d_run_r[c] >= o->latency;
        d_act_w[c] = n.d_run_w[c] >= o->latency;
    }
    for (int c = 0; c < o->pch; c++) {
        n.p_ready[c] = p_act[c];
        n.p_data[c] = p_act[c] ? o->prog[o->pc.mra[c]] : 0;
    }
    for (int c = 0; c < o->dch; c++) {
        n.d_ready[c] = d_act_r[c];
        n.d_data[c] = d_act_r[c] ? o->data[o->dc.mra[c]] : 0;
        n.d_wready[c] = d_act_w[c];
    }
    for (int c = o->dch - 1; c >= 0; c--)
        if (d_act_w[c]) n.data[o->dc.mwa[c]] = (uint8_t)o->dc.mwd[c];
    /* dcr.sv */
    if (reset)
        n.dcr = 0;
    else if (dcr_we)
        n.dcr = (uint8_t)o->threads;
    dispatcher(o, &n, reset, start);
    /* controllers: program (consumers: fetchers), data (consumers: LSUs through the pipe stage) */
    uint8_t f_rv[REF_MAX_CORES], f_ra[REF_MAX_CORES];
    for (int i = 0; i < o->n_cores; i++) f_rv[i] = o->core[i].frv, f_ra[i] = o->core[i].fra;
    controller(&o->pc, &n.pc, o->pch, o->n_cores, f_rv, f_ra, NULL, NULL, NULL, o->p_ready, o->p_data, NULL,
               reset);
    uint16_t d_data16[REF_MAX_CH];
    for (int c = 0; c < REF_MAX_CH; c++) d_data16[c] = o->d_data[c];
    controller(&o->dc, &n.dc, o->dch, ncons, o->q_rv, o->q_ra, o->q_wv, o->q_wa, o->q_wd, o->d_ready,
               d_data16, o->d_wready, reset);
    for (int i = 0; i < o->n_cores; i++) core(o, &n, i);
    /* gpu.sv pipe stages, never reset */
    for (int i = 0; i < o->n_cores; i++)
        for (int t = 0; t < o->tpb; t++) {
            int k = i * o->tpb + t;
            const struct ref_thread *th = &o->core[i].t[t];
            n.q_rv[k] = th->rv, n.q_ra[k] = th->ra, n.q_wv[k] = th->wv, n.q_wa[k] = th->wa,
            n.q_wd[k] = th->wd;
            n.s_rr[k] = o->dc.crr[k], n.s_rd[k] = (uint8_t)o->dc.crd[k], n.s_wr[k] = o->dc.cwr[k];
        }
    *g = n;
}

void ref_launch(struct ref_gpu *g, int n_cores, int tpb, int dch, int pch, int latency, int fix_cmp,
                int fix_div, const uint16_t *prog, const uint8_t *data, int threads)
{
    memset(g, 0, sizeof *g);
    g->latency = latency;
    g->n_cores = n_cores, g->tpb = tpb, g->dch = dch, g->pch = pch, g->fix_cmp = fix_cmp,
    g->fix_div = fix_div;
    g->threads = threads;
    memcpy(g->prog, prog, sizeof g->prog);
    memcpy(g->data, data, sizeof g->data);
    edge(g, 1, 0, 0);
    g->cycle = 0;
}

void ref_step(struct ref_gpu *g)
{
    uint64_t k = g->cycle + 1;
    edge(g, 0, k == 1, k >= 2);
    g->cycle = k;
}
