/* tiny-gpu: building a machine, launching a kernel, and the plain accessors. The edges themselves are in
 * sim.c. */
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "tinygpu/tinygpu.h"

qwglm_tinygpu_params qwglm_tinygpu_default_params(void)
{
    return (qwglm_tinygpu_params){
        .n_cores = 2,
        .threads_per_block = 4,
        .data_channels = 4,
        .program_channels = 1,
        .memory_latency = 1,
    };
}

qwglm_status qwglm_tinygpu_create(const qwglm_tinygpu_params *p, qwglm_tinygpu **out, char *err)
{
    struct qw_err e = {0};
    *out = NULL;
    qwglm_tinygpu_params q = p ? *p : qwglm_tinygpu_default_params();
    qwglm_status st = QWGLM_OK;
    if (q.n_cores < 1 || q.n_cores > TG_MAX_CORES)
        st = qw_fail(&e, QWGLM_ERR_ARG, "tinygpu: n_cores %d out of range 1..%d", q.n_cores, TG_MAX_CORES);
    else if (q.threads_per_block < 1 || q.threads_per_block > TG_MAX_TPB)
        st = qw_fail(&e, QWGLM_ERR_ARG, "tinygpu: threads_per_block %d out of range 1..%d",
                     q.threads_per_block, TG_MAX_TPB);
    else if (q.n_cores * q.threads_per_block > TG_MAX_CONSUMERS)
        st = qw_fail(&e, QWGLM_ERR_ARG, "tinygpu: n_cores * threads_per_block = %d exceeds %d",
                     q.n_cores * q.threads_per_block, TG_MAX_CONSUMERS);
    else if (q.data_channels < 1 || q.data_channels > TG_MAX_CH)
        st = qw_fail(&e, QWGLM_ERR_ARG, "tinygpu: data_channels %d out of range 1..%d", q.data_channels,
                     TG_MAX_CH);
    else if (q.program_channels < 1 || q.program_channels > TG_MAX_CH)
        st = qw_fail(&e, QWGLM_ERR_ARG, "tinygpu: program_channels %d out of range 1..%d", q.program_channels,
                     TG_MAX_CH);
    else if (q.memory_latency < 1 || q.memory_latency > QWGLM_TINYGPU_MAX_LATENCY)
        st = qw_fail(&e, QWGLM_ERR_ARG, "tinygpu: memory_latency %d out of range 1..%d", q.memory_latency,
                     QWGLM_TINYGPU_MAX_LATENCY);
    if (st) {
        qw_err_copy(err, &e);
        return st;
    }
    q.fix_cmp = q.fix_cmp != 0;
    q.fix_divergence = q.fix_divergence != 0;
    struct qwglm_tinygpu *g = qw_aligned_alloc(64, sizeof *g);
    if (!g) {
        qw_fail(&e, QWGLM_ERR_NOMEM, "tinygpu: out of memory");
        qw_err_copy(err, &e);
        return QWGLM_ERR_NOMEM;
    }
    memset(g, 0, sizeof *g);
    g->p = q;
    g->n_cores = q.n_cores;
    g->tpb = q.threads_per_block;
    g->n_consumers = q.n_cores * q.threads_per_block;
    g->pc_slot = q.fix_divergence ? 0 : q.threads_per_block - 1;
    qwglm_tinygpu_launch(g, NULL, NULL, 0, NULL);
    *out = g;
    return QWGLM_OK;
}

void qwglm_tinygpu_free(qwglm_tinygpu *g)
{
    qw_free(g);
}

qwglm_tinygpu_params qwglm_tinygpu_get_params(const qwglm_tinygpu *g)
{
    return g->p;
}

qwglm_status qwglm_tinygpu_launch(qwglm_tinygpu *g, const uint16_t *program, const uint8_t *data, int threads,
                                  char *err)
{
    if (threads < 0 || threads > 255) {
        struct qw_err e = {0};
        qw_fail(&e, QWGLM_ERR_ARG, "tinygpu: thread count %d out of range 0..255", threads);
        qw_err_copy(err, &e);
        return QWGLM_ERR_ARG;
    }
    /* Every register starts at 0, as in a 2-state simulator before the first edge. */
    qwglm_tinygpu_params p = g->p;
    int n_cores = g->n_cores, tpb = g->tpb, n_consumers = g->n_consumers, pc_slot = g->pc_slot;
    memset(g, 0, sizeof *g);
    g->p = p;
    g->n_cores = n_cores;
    g->tpb = tpb;
    g->n_consumers = n_consumers;
    g->pc_slot = pc_slot;
    g->pctrl.n_channels = p.program_channels;
    g->dctrl.n_channels = p.data_channels;
    if (program) memcpy(g->prog, program, sizeof g->prog);
    if (data) memcpy(g->data, data, sizeof g->data);
    g->threads_arg = (uint8_t)threads;
    g->traffic.n_program_channels = p.program_channels;
    g->traffic.n_data_channels = p.data_channels;
    tg_reset_edge(g); /* E0 */
    g->cycle = 0;
    return QWGLM_OK;
}

uint64_t qwglm_tinygpu_cycles(const qwglm_tinygpu *g)
{
    return g->cycle;
}
int qwglm_tinygpu_done(const qwglm_tinygpu *g)
{
    return g->done;
}
const uint8_t *qwglm_tinygpu_data_memory(const qwglm_tinygpu *g)
{
    return g->data;
}
const uint16_t *qwglm_tinygpu_program_memory(const qwglm_tinygpu *g)
{
    return g->prog;
}
