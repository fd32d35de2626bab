/* conv1d for f32 weights and groups == 1 as register-tiled dot products: 4 output steps x 4 output channels per
 * tile, so each weight vector is loaded once per 4 steps and each input vector once per 4 channels, and the
 * horizontal sums happen once per tile instead of once per tap. Weights [C_out, K C_in] (C_in a multiple of 8),
 * input rows contiguous. Compiled twice: a portable version (GCC vectors, SSE2 on x86-64) and an AVX2+FMA one
 * chosen at run time. Reads per tile: 4 K C_in weights + 4 K C_in inputs. */
#include <string.h>

#include "cpu_impl.h"

typedef float v8 __attribute__((vector_size(32)));

/* macros, not functions: passing vectors by value would change the ABI between the two compilations */
#define LOAD8(dst, p) memcpy(&(dst), (p), sizeof(v8))

#define TILE_BODY                                                                                                 \
    const int64_t C_in = j->x.cols, C_out = j->y.cols, T_in = j->x.rows, KC = j->w.cols;                         \
    const int K = j->p.kernel;                                                                                    \
    const float *W = cpu_ptr(j->w), *bias = qw_tensor_present(j->b) ? cpu_row(j->b, 0) : NULL;                   \
    const float *zero = j->zero;                                                                                  \
    for (int64_t t = t0; t < t1; t += 4) {                                                                        \
        int nt = t1 - t < 4 ? (int)(t1 - t) : 4;                                                                  \
        for (int64_t o = 0; o < C_out; o += 4) {                                                                  \
            int no = C_out - o < 4 ? (int)(C_out - o) : 4;                                                        \
            v8 acc[4][4] = {{{0}}};                                                                               \
            for (int k = 0; k < K; k++) {                                                                         \
                const float *xr[4], *wr[4];                                                                       \
                for (int a = 0; a < 4; a++) {                                                                     \
                    int64_t ti = (t + (a < nt ? a : 0)) * j->p.stride + (int64_t)k * j->p.dilation - j->p.pad_left; \
                    xr[a] = ti >= 0 && ti < T_in ? cpu_row(j->x, ti) : zero;                                      \
                    wr[a] = W + (o + (a < no ? a : 0)) * KC + (int64_t)k * C_in;                                  \
                }                                                                                                 \
                for (int64_t c = 0; c < C_in; c += 8) {                                                           \
                    v8 w0, w1, w2, w3, x;                                                                         \
                    LOAD8(w0, wr[0] + c), LOAD8(w1, wr[1] + c), LOAD8(w2, wr[2] + c), LOAD8(w3, wr[3] + c);       \
                    for (int a = 0; a < 4; a++) {                                                                 \
                        LOAD8(x, xr[a] + c);                                                                      \
                        acc[a][0] += x * w0;                                                                      \
                        acc[a][1] += x * w1;                                                                      \
                        acc[a][2] += x * w2;                                                                      \
                        acc[a][3] += x * w3;                                                                      \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
            for (int a = 0; a < nt; a++) {                                                                        \
                float *y = cpu_row(j->y, t + a);                                                                  \
                for (int b = 0; b < no; b++) {                                                                    \
                    float s = 0.0f;                                                                               \
                    for (int i = 0; i < 8; i++) s += acc[a][b][i];                                                \
                    y[o + b] = s + (bias ? bias[o + b] : 0.0f);                                                   \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }

struct tiled_job {
    struct qw_tensor y, x, w, b;
    struct qw_conv1d_params p;
    const float *zero; /* C_in zeros: the padding row */
};

static void tiled_rows(void *arg, int64_t t0, int64_t t1)
{
    const struct tiled_job *j = arg;
    TILE_BODY
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static void tiled_rows_avx2(void *arg, int64_t t0, int64_t t1)
{
    const struct tiled_job *j = arg;
    TILE_BODY
}
#endif

/* Splits time into blocks of 4 so tiles never straddle threads. */
struct block_job {
    struct tiled_job j;
    cpu_rows_fn fn;
    int64_t T;
};

static void block_rows(void *arg, int64_t b0, int64_t b1)
{
    const struct block_job *bj = arg;
    int64_t t1 = b1 * 4 < bj->T ? b1 * 4 : bj->T;
    bj->fn((void *)&bj->j, b0 * 4, t1);
}

bool cpu_conv1d_tiled(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                      struct qw_tensor b, const struct qw_conv1d_params *p)
{
    enum { MAX_CIN = 4096 };
    static const float zero[MAX_CIN];
    if (w.dtype != QW_DTYPE_F32 || p->groups != 1 || x.cols % 8 != 0 || x.cols > MAX_CIN || w.stride != w.cols)
        return false;
    struct block_job bj = {{y, x, w, b, *p, zero}, tiled_rows, y.rows};
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) bj.fn = tiled_rows_avx2;
#endif
    cpu_parallel(c, (y.rows + 3) / 4, 4 * y.cols * w.cols, block_rows, &bj);
    return true;
}
