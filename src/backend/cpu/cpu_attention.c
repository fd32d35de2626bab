/* Attention over keys and values with an online softmax: one pass over the keys per query head, no score
 * matrix, so memory stays O(head_dim) per thread whatever the context length. */
#include <math.h>
#include <string.h>

#include "cpu_impl.h"

#define MAX_HEAD_DIM 512

struct attn_job {
    struct qw_tensor y, q, k, v;
    struct qw_attn_params p;
};

/* Work items are (query row, head) pairs, numbered row-major. */
static void attn_items(void *arg, int64_t i0, int64_t i1)
{
    const struct attn_job *jb = arg;
    const struct qw_attn_params *p = &jb->p;
    const int hd = p->head_dim, group = p->n_heads / p->n_kv_heads;
    float acc[MAX_HEAD_DIM];
    for (int64_t it = i0; it < i1; it++) {
        int64_t row = it / p->n_heads;
        int h = (int)(it % p->n_heads), kvh = h / group;
        const float *q = cpu_row(jb->q, row) + (size_t)h * hd;
        int n_keys = p->causal ? p->q_pos0 + (int)row + 1 : p->n_kv;
        if (n_keys > p->n_kv) n_keys = p->n_kv;
        float m = -INFINITY, l = 0.0f;
        memset(acc, 0, (size_t)hd * sizeof *acc);
        for (int j = 0; j < n_keys; j++) {
            const float *kj = cpu_row(jb->k, j) + (size_t)kvh * hd;
            const float *vj = cpu_row(jb->v, j) + (size_t)kvh * hd;
            float s = 0.0f;
            for (int d = 0; d < hd; d++) s += q[d] * kj[d];
            s *= p->scale;
            if (s > m) {
                float corr = expf(m - s); /* 0 on the first key */
                l *= corr;
                for (int d = 0; d < hd; d++) acc[d] *= corr;
                m = s;
            }
            float w = expf(s - m);
            l += w;
            for (int d = 0; d < hd; d++) acc[d] += w * vj[d];
        }
        float *y = cpu_row(jb->y, row) + (size_t)h * hd;
        float inv = l > 0 ? 1.0f / l : 0.0f;
        for (int d = 0; d < hd; d++) y[d] = acc[d] * inv;
    }
}

void cpu_attention(void *ctx, struct qw_tensor y, struct qw_tensor q, struct qw_tensor k, struct qw_tensor v,
                   const struct qw_attn_params *p)
{
    struct cpu_ctx *c = ctx;
    if (!cpu_check_f32(c, y, "attention", "y") || !cpu_check_f32(c, q, "attention", "q") ||
        !cpu_check_f32(c, k, "attention", "k") || !cpu_check_f32(c, v, "attention", "v"))
        return;
    if (!cpu_check(c, p->head_dim > 0 && p->head_dim <= MAX_HEAD_DIM && p->n_kv_heads > 0 &&
                          p->n_heads % p->n_kv_heads == 0,
                   "attention: bad head layout") ||
        !cpu_check(c, q.cols == (int64_t)p->n_heads * p->head_dim && y.cols == q.cols && y.rows == q.rows,
                   "attention: q/y shape") ||
        !cpu_check(c, k.cols == (int64_t)p->n_kv_heads * p->head_dim && v.cols == k.cols && p->n_kv <= k.rows &&
                          p->n_kv <= v.rows && p->n_kv >= 0,
                   "attention: k/v shape") ||
        !cpu_check(c, !p->causal || (p->q_pos0 >= 0 && p->q_pos0 + q.rows <= (int64_t)p->n_kv),
                   "attention: queries at positions %d.. see only %d keys", p->q_pos0, p->n_kv))
        return;
    struct attn_job jb = {y, q, k, v, *p};
    cpu_parallel(c, q.rows * p->n_heads, (int64_t)p->n_kv * p->head_dim * 2, attn_items, &jb);
}
