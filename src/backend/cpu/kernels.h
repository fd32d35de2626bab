/* CPU kernels behind function pointers chosen once, when the backend starts: a scalar reference for every kernel
 * (the spec, kernels_ref.c) and SIMD variants (kernels_avx2.c, kernels_avx512.c, kernels_neon.c, ...) that must
 * agree with it; tests/unit/test_kernels.c runs every variant this CPU supports against the reference.
 *
 * Matrix products. y[t][r] = dot(weight row r, activation row t) for the n activation rows t and a range of weight
 * rows r. Decode is n = 1 (a mat-vec: memory-bound, each weight byte read once); prefill is n up to a few hundred
 * (compute-bound: each weight row meets many activation rows while it is in cache). The activations reach the
 * kernel in the form its dtype wants, converted once per product by cpu_linear:
 *   F32, F16 weights:  f32 activations
 *   BF16 weights:      f32 activations (gemm), or bf16 ones (gemm_bf16x, where bf16 dot products are faster
 *                      than FMA on widened weights: not on Sapphire Rapids, see cpu_dispatch.c)
 *   Q8, Q4 weights:    16-bit activations per block of 32 (struct cpu_act16), interleaved like the weights
 *                      (ops/quant.h), so that integer pair dot products line each block up with one 32-bit lane.
 * 16-bit rather than 8-bit activations: on the qwen3-small fixture 8-bit activations alone cost a mean KL of
 * 1.1e-3 per token, more than the whole Q8 budget (1e-3); 16-bit ones cost 2e-8 (docs/quantization.md).
 */
#ifndef QW_CPU_KERNELS_H
#define QW_CPU_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/ops.h"

/* Activation rows quantized for Q8/Q4 products: row t, block b (nb = k / 32 blocks) holds 32 int16 values
 * q (stored at the pair positions of ops/quant.h), scale d[t nb + b] = max|x| / 32767 and s[t nb + b] = sum of
 * the block's q (kernels subtract 8 s for the Q4 offset). */
struct cpu_act16 {
    int16_t *q; /* [n][k] */
    float *d;   /* [n][nb] */
    int32_t *s; /* [n][nb] */
};

/* One product: y[t][r] for t < n and the rows a call names. */
struct cpu_gemm {
    enum qw_dtype wtype;
    const uint8_t *w;         /* weight rows */
    size_t w_stride;          /* bytes between weight rows */
    int64_t k, n;             /* values per row, activation rows */
    const float *x;           /* f32 activations [n][x_stride] (F32, F16, BF16) */
    int64_t x_stride;
    const uint16_t *xb;       /* bf16 activations [n][k] (gemm_bf16x) */
    struct cpu_act16 a;       /* Q8, Q4 */
    float *y;                 /* [n][y_stride] */
    int64_t y_stride;
};

/* Prefill attention, one tile of keys for CPU_ATTN_LANES query vectors held in vector lanes (cpu_attention_lanes.c):
 * queries transposed, so scores, the running maximum and sum, and the value sums are all per lane and nothing
 * needs a horizontal reduction. For each lane i, with valid_i = limit ? limit[i] : n_k keys visible (0 <= valid_i
 * <= n_k; the causal mask):
 *   s[j][i] = sum_d k_j[d] qt[d][i]                      (j < n_k; qt already scaled)
 *   m' = max(mx[i], s[j][i] for j < valid_i),  c = exp(mx[i] - m') (0 while mx[i] = -inf)
 *   p_j = exp(s[j][i] - m') for j < valid_i, else 0
 *   sum[i] = c sum[i] + sum_j p_j,   ot[d][i] = c ot[d][i] + sum_j p_j v_j[d],   mx[i] = m'
 * A lane with no visible key so far keeps mx = -inf, sum = 0, ot = 0. k_j at k + j k_stride, v_j at v + j v_stride
 * (f32); qt, ot [hd][CPU_ATTN_LANES]; s: scratch of CPU_ATTN_TILE x CPU_ATTN_LANES floats (n_k <= CPU_ATTN_TILE). */
#define CPU_ATTN_LANES 32
#define CPU_ATTN_TILE 64
struct cpu_attn_tile {
    const float *qt;
    int hd, n_k;
    const float *k, *v;
    int64_t k_stride, v_stride;
    const int32_t *limit; /* [CPU_ATTN_LANES] or NULL: every key visible */
    float *ot, *mx, *sum, *s;
};

/* Weight rows [r0, r1) against all n activation rows. */
typedef void (*cpu_gemm_fn)(const struct cpu_gemm *g, int64_t r0, int64_t r1);
/* dot(w, x) over k values: w is one weight row (or a column slice of one) of a plain dtype, x is f32. */
typedef float (*cpu_dot_fn)(const void *w, const float *x, int64_t k);

/* Convolution as a sum of shifted products (conv1d, and each phase of conv_transpose1d), f32. For output rows q:
 *   y[q][o] = scale (((sum_j sum_c x[q x_step + tap[j]][c] W_j[c][o] + bias[o]) + res[q][o]) + res2[q][o])
 * with rows of x outside [0, x_rows) read as zeros, absent terms left out, then act[q][o] = y >= 0 ? y : slope y
 * when act is set (act may be y). Each lane sums its taps and channels in order j, c; variants differ from the reference only by FMA
 * rounding. W is packed (cpu_conv_pack) in blocks of CPU_CONV_NR outputs: block b is [n_taps c_in][CPU_CONV_NR],
 * row j c_in + c holding the weights of outputs b NR .. b NR + NR - 1 for input channel c of tap j (zeros past
 * n_out), so one broadcast input value meets one contiguous row of weights. */
#define CPU_CONV_NR 32
struct cpu_conv {
    const float *x;          /* input rows: x_rows of c_in values, x_stride floats apart */
    int64_t x_rows, x_stride, x_step, c_in;
    int n_taps;
    const int64_t *tap;      /* [n_taps]: the input row of output row 0 for each tap */
    const float *zero;       /* c_in zeros: the rows outside x */
    const float *w;          /* packed weights */
    int64_t n_out;
    const float *bias;       /* [n_out] or NULL */
    const float *res, *res2; /* rows res_stride (res2_stride) apart, or NULL */
    float *y, *act;          /* act: NULL for none */
    int64_t y_stride, res_stride, res2_stride, act_stride;
    float scale, slope;
};
/* Output rows [q0, q1), all n_out columns. */
typedef void (*cpu_conv_fn)(const struct cpu_conv *cv, int64_t q0, int64_t q1);

struct cpu_kernels {
    const char *isa; /* "scalar", "avx2", "avx512", "neon", ... */
    cpu_gemm_fn gemm[QW_DTYPE_COUNT];  /* NULL for dtypes that are not weights */
    cpu_gemm_fn gemm_bf16x;            /* BF16 weights x bf16 activations; NULL when not worth it */
    cpu_dot_fn dot[QW_DTYPE_COUNT];    /* F32, F16, BF16 only: quantized rows cannot be sliced by column */
    /* One activation row of k values (k a multiple of 32) into 16-bit blocks: q[k], d[k/32], s[k/32]. */
    void (*quantize_act16)(const float *x, int64_t k, int16_t *q, float *d, int32_t *s);
    void (*to_bf16)(const float *x, uint16_t *y, int64_t n);   /* round to nearest even */
    void (*to_f16)(const float *x, uint16_t *y, int64_t n);    /* round to nearest even */
    void (*from_f16)(const uint16_t *x, float *y, int64_t n);
    /* Attention tiles, f32 and contiguous per row: s[i][j] = dot(q_i, k_j) for q [n_q][hd] and keys k_j at
     * k + j k_stride (j < n_k); acc[i] += sum_j p[i][j] v_j for acc [n_q][hd] and v_j at v + j v_stride. */
    void (*attn_scores)(const float *q, int n_q, const float *k, int64_t k_stride, int n_k, int hd, float *s,
                        int s_stride);
    void (*attn_accum)(float *acc, int n_q, const float *p, int p_stride, const float *v, int64_t v_stride,
                       int n_k, int hd);
    /* The same over f16 keys and values, widened as they are loaded (strides in values). NULL where a variant
     * lacks them: attention then converts tiles with from_f16 first. */
    void (*attn_scores_f16)(const float *q, int n_q, const uint16_t *k, int64_t k_stride, int n_k, int hd, float *s,
                            int s_stride);
    void (*attn_accum_f16)(float *acc, int n_q, const float *p, int p_stride, const uint16_t *v, int64_t v_stride,
                           int n_k, int hd);
    /* x[i] = exp(x[i] - m) for i < n; returns the sum (accurate to a few ulp, as the reference expf). */
    float (*exp_sum)(float *x, int n, float m);
    /* One tile of prefill attention with the queries in lanes (see struct cpu_attn_tile); NULL where a variant
     * lacks it (attention then takes the per-query path). */
    void (*attn_tile)(const struct cpu_attn_tile *t);
    /* y[i] = gelu(x[i]) for i < n: the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), and the
     * exact form 0.5 x (1 + erf(x / sqrt(2))). NULL: the op computes them with tanhf and erff. */
    void (*gelu_tanh)(float *y, const float *x, int64_t n);
    void (*gelu_erf)(float *y, const float *x, int64_t n);
    /* Element-wise rows. */
    void (*rmsnorm)(float *y, const float *x, const float *w, int64_t n, float eps);
    /* y = silu(gate) up; up NULL: y = silu(gate) */
    void (*swiglu)(float *y, const float *gate, const float *up, int64_t n);
    void (*add)(float *y, const float *a, const float *b, int64_t n);
    /* Streams n bytes (a multiple of 256, 64-byte aligned) as four concurrent streams and returns a value that
     * depends on all of them: the machine's read bandwidth test. */
    uint64_t (*read_bytes)(const void *p, size_t n);
    cpu_conv_fn conv; /* see struct cpu_conv */
    int conv_rows;    /* output rows of conv's tiles: callers split work in multiples of it */
    /* y[i] = x[i] >= 0 ? x[i] : slope x[i] (y may be x); y[i] = tanh(a[i]) sigmoid(b[i]) (WaveNet's gate; SIMD
     * variants compute tanh and sigmoid from exp, within a few 1e-8 of the reference absolutely). */
    void (*leaky_relu)(float *y, const float *x, int64_t n, float slope);
    void (*tanh_sigmoid)(float *y, const float *a, const float *b, int64_t n);
};

/* Fills k with the best kernels for this CPU, or, by name ("scalar", "avx2", "avx512", ...), with one variant
 * if the CPU and OS support it (false otherwise). NULL name: the best. */
bool cpu_kernels_init(struct cpu_kernels *k, const char *isa);
/* The variants this build has, best first, and whether this machine can run each. */
int cpu_kernels_variants(const char **names, bool *usable, int cap);

/* ---- the references (kernels_ref.c) ---- */
void cpu_kernels_ref(struct cpu_kernels *k);
void gemm_f32_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1);
void gemm_f16_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1);
void gemm_bf16_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1);
void gemm_bf16x_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1);
void gemm_q8_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1);
void gemm_q4_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1);
float dot_f32_ref(const void *w, const float *x, int64_t k);
float dot_f16_ref(const void *w, const float *x, int64_t k);
float dot_bf16_ref(const void *w, const float *x, int64_t k);
void quantize_act16_ref(const float *x, int64_t k, int16_t *q, float *d, int32_t *s);
void attn_tile_ref(const struct cpu_attn_tile *t);
void conv_ref(const struct cpu_conv *cv, int64_t q0, int64_t q1);
/* Packs w (rows of C_out weights [.., kernel c_in], row stride w_stride floats) for the taps kernel_idx[0 ..
 * n_taps) into dst: cpu_conv_packed_floats(n_taps, c_in, n_out) floats. */
size_t cpu_conv_packed_floats(int n_taps, int64_t c_in, int64_t n_out);
void cpu_conv_pack(const float *w, int64_t w_stride, int64_t c_in, int64_t n_out, const int *kernel_idx, int n_taps,
                   float *dst);

/* Row conversion to f32 (embedding lookups, dequantization): n values. */
void cpu_row_to_f32(enum qw_dtype t, const void *src, float *dst, int64_t n);

/* ---- variants, registered by cpu_kernels_init when the CPU has them ---- */
void cpu_kernels_avx2(struct cpu_kernels *k);
void cpu_kernels_avx512(struct cpu_kernels *k);
void cpu_kernels_avx512bf16(struct cpu_kernels *k);
void cpu_kernels_neon(struct cpu_kernels *k);
void cpu_kernels_wasm(struct cpu_kernels *k);
void conv_avx2(const struct cpu_conv *cv, int64_t q0, int64_t q1);
void conv_avx512(const struct cpu_conv *cv, int64_t q0, int64_t q1);

#endif
