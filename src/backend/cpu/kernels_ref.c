/* The scalar reference kernels: the definition of what every SIMD variant computes. Plain loops, no tricks; the
 * order of floating-point sums is stated where variants are compared against it. */
#include <math.h>
#include <string.h>

#include "base/fp.h"
#include "kernels.h"
#include "ops/quant.h"

/* ---- dot products on plain rows ---- */

/* Four accumulators: the same association in every kernel variant keeps results close to each other. */
float dot_f32_ref(const void *w, const float *x, int64_t k)
{
    const float *a = w;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) {
        s0 += a[i] * x[i];
        s1 += a[i + 1] * x[i + 1];
        s2 += a[i + 2] * x[i + 2];
        s3 += a[i + 3] * x[i + 3];
    }
    for (; i < k; i++) s0 += a[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

float dot_bf16_ref(const void *w, const float *x, int64_t k)
{
    const uint16_t *a = w;
    float s0 = 0, s1 = 0;
    int64_t i = 0;
    for (; i + 2 <= k; i += 2) {
        s0 += bf16_to_f32(a[i]) * x[i];
        s1 += bf16_to_f32(a[i + 1]) * x[i + 1];
    }
    for (; i < k; i++) s0 += bf16_to_f32(a[i]) * x[i];
    return s0 + s1;
}

float dot_f16_ref(const void *w, const float *x, int64_t k)
{
    const uint16_t *a = w;
    float s = 0;
    for (int64_t i = 0; i < k; i++) s += f16_to_f32(a[i]) * x[i];
    return s;
}

/* ---- matrix products ---- */

static void gemm_dot(const struct cpu_gemm *g, int64_t r0, int64_t r1, cpu_dot_fn dot)
{
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < g->n; t++)
            g->y[t * g->y_stride + r] = dot(g->w + (size_t)r * g->w_stride, g->x + t * g->x_stride, g->k);
}

void gemm_f32_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_dot(g, r0, r1, dot_f32_ref); }
void gemm_f16_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_dot(g, r0, r1, dot_f16_ref); }
void gemm_bf16_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_dot(g, r0, r1, dot_bf16_ref); }

/* BF16 weights against activations already rounded to bf16: exact products, summed in f32. */
void gemm_bf16x_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)(g->w + (size_t)r * g->w_stride);
        for (int64_t t = 0; t < g->n; t++) {
            const uint16_t *x = g->xb + t * g->k;
            float s = 0;
            for (int64_t i = 0; i < g->k; i++) s += bf16_to_f32(w[i]) * bf16_to_f32(x[i]);
            g->y[t * g->y_stride + r] = s;
        }
    }
}

/* Q8 / Q4: per block an exact integer dot product of the weight values (Q4: u - 8) with the 16-bit activations,
 * then y = sum over blocks of (float)dot * (d_w * d_x), in block order. */
static void gemm_quant(const struct cpu_gemm *g, int64_t r0, int64_t r1, bool q4)
{
    const int64_t k = g->k, nb = k / QW_QBLOCK;
    int8_t wq[QW_QBLOCK];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = g->w + (size_t)r * g->w_stride;
        for (int64_t t = 0; t < g->n; t++) {
            const int16_t *xq = g->a.q + t * k;
            const float *xd = g->a.d + t * nb;
            float sum = 0;
            for (int64_t b = 0; b < nb; b++) {
                float dw = q4 ? qw_q4_block(row, k, b, wq) : qw_q8_block(row, k, b, wq);
                int32_t dot = 0;
                for (int c = 0; c < QW_QBLOCK / 2; c++) {
                    const int16_t *xp = xq + 2 * qw_pair_index(nb, b, c, 16);
                    dot += wq[2 * c] * xp[0] + wq[2 * c + 1] * xp[1];
                }
                sum += (float)dot * (dw * xd[b]);
            }
            g->y[t * g->y_stride + r] = sum;
        }
    }
}

void gemm_q8_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, false); }
void gemm_q4_ref(const struct cpu_gemm *g, int64_t r0, int64_t r1) { gemm_quant(g, r0, r1, true); }

/* d = max|x| / 32767 and q = round-to-nearest-even(x * (1 / d)): every variant computes these exact operations,
 * so all produce the same bits. */
void quantize_act16_ref(const float *x, int64_t k, int16_t *q, float *d, int32_t *s)
{
    const int64_t nb = k / QW_QBLOCK;
    for (int64_t b = 0; b < nb; b++) {
        const float *v = x + b * QW_QBLOCK;
        float amax = 0.0f;
        for (int i = 0; i < QW_QBLOCK; i++) amax = fmaxf(amax, fabsf(v[i]));
        float db = amax / 32767.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        int32_t sum = 0;
        for (int c = 0; c < QW_QBLOCK / 2; c++) {
            int16_t *dst = q + 2 * qw_pair_index(nb, b, c, 16);
            for (int j = 0; j < 2; j++) {
                int32_t v32 = (int32_t)lrintf(v[2 * c + j] * id);
                v32 = v32 > 32767 ? 32767 : v32 < -32767 ? -32767 : v32;
                dst[j] = (int16_t)v32;
                sum += v32;
            }
        }
        d[b] = db;
        s[b] = sum;
    }
}

/* ---- conversions ---- */

static void to_bf16_ref(const float *x, uint16_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = f32_to_bf16(x[i]);
}

static void to_f16_ref(const float *x, uint16_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = f32_to_f16(x[i]);
}

static void from_f16_ref(const uint16_t *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = f16_to_f32(x[i]);
}

void cpu_row_to_f32(enum qw_dtype t, const void *src, float *dst, int64_t n)
{
    switch (t) {
    case QW_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case QW_DTYPE_F16: from_f16_ref(src, dst, n); break;
    case QW_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case QW_DTYPE_Q8: qw_dequantize_row_q8(src, dst, n); break;
    case QW_DTYPE_Q4: qw_dequantize_row_q4(src, dst, n); break;
    case QW_DTYPE_I32:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i];
        break;
    case QW_DTYPE_COUNT: break;
    }
}

/* ---- attention tiles ---- */

static void attn_scores_ref(const float *q, int n_q, const float *k, int64_t k_stride, int n_k, int hd, float *s,
                            int s_stride)
{
    for (int i = 0; i < n_q; i++)
        for (int j = 0; j < n_k; j++) {
            const float *qi = q + (size_t)i * hd, *kj = k + j * k_stride;
            float sum = 0;
            for (int d = 0; d < hd; d++) sum += qi[d] * kj[d];
            s[(size_t)i * s_stride + j] = sum;
        }
}

static void attn_accum_ref(float *acc, int n_q, const float *p, int p_stride, const float *v, int64_t v_stride,
                           int n_k, int hd)
{
    for (int i = 0; i < n_q; i++)
        for (int j = 0; j < n_k; j++) {
            float pij = p[(size_t)i * p_stride + j];
            const float *vj = v + j * v_stride;
            for (int d = 0; d < hd; d++) acc[(size_t)i * hd + d] += pij * vj[d];
        }
}

static float exp_sum_ref(float *x, int n, float m)
{
    float sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    return sum;
}

void attn_tile_ref(const struct cpu_attn_tile *t)
{
    const int L = CPU_ATTN_LANES;
    for (int j = 0; j < t->n_k; j++)
        for (int i = 0; i < L; i++) {
            float sum = 0;
            for (int d = 0; d < t->hd; d++) sum += t->k[j * t->k_stride + d] * t->qt[(size_t)d * L + i];
            t->s[(size_t)j * L + i] = sum;
        }
    for (int i = 0; i < L; i++) {
        const int valid = t->limit ? t->limit[i] : t->n_k;
        float m = t->mx[i];
        for (int j = 0; j < valid; j++) m = t->s[(size_t)j * L + i] > m ? t->s[(size_t)j * L + i] : m;
        if (m == -INFINITY) continue; /* nothing visible yet */
        const float c = t->mx[i] == -INFINITY ? 0.0f : expf(t->mx[i] - m);
        float sum = 0;
        for (int j = 0; j < t->n_k; j++) {
            float *p = &t->s[(size_t)j * L + i];
            *p = j < valid ? expf(*p - m) : 0.0f;
            sum += *p;
        }
        t->sum[i] = t->sum[i] * c + sum;
        t->mx[i] = m;
        for (int d = 0; d < t->hd; d++) {
            float a = t->ot[(size_t)d * L + i] * c;
            for (int j = 0; j < valid; j++) a += t->s[(size_t)j * L + i] * t->v[j * t->v_stride + d];
            t->ot[(size_t)d * L + i] = a;
        }
    }
}

/* ---- element-wise rows ---- */

/* 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)) and 0.5 x (1 + erf(z)) = 0.5 x erfc(-z): the same functions without the
 * cancellation of 1 + tanh and 1 + erf in the negative tail. */
static void gelu_tanh_ref(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-2.0f * 0.7978845608028654f * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
}

static void gelu_erf_ref(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * erfcf(x[i] * -0.7071067811865476f);
}

static void rmsnorm_ref(float *y, const float *x, const float *w, int64_t n, float eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float inv = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * inv * w[i];
}

static void swiglu_ref(float *y, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = gate[i] / (1.0f + expf(-gate[i])) * (up ? up[i] : 1.0f);
}

static void add_ref(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void leaky_relu_ref(float *y, const float *x, int64_t n, float slope)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] >= 0.0f ? x[i] : x[i] * slope;
}

/* As the unfused ops compute it: tanh, sigmoid 1 / (1 + e^-b), product. */
static void tanh_sigmoid_ref(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(a[i]) * (1.0f / (1.0f + expf(-b[i])));
}

static uint64_t read_bytes_ref(const void *p, size_t n)
{
    const uint64_t *u = p;
    const size_t q = n / 32;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i < q; i++) {
        a ^= u[i];
        b ^= u[q + i];
        c ^= u[2 * q + i];
        d ^= u[3 * q + i];
    }
    return a ^ b ^ c ^ d;
}

void cpu_kernels_ref(struct cpu_kernels *k)
{
    memset(k, 0, sizeof *k);
    k->isa = "scalar";
    k->gemm[QW_DTYPE_F32] = gemm_f32_ref;
    k->gemm[QW_DTYPE_F16] = gemm_f16_ref;
    k->gemm[QW_DTYPE_BF16] = gemm_bf16_ref;
    k->gemm[QW_DTYPE_Q8] = gemm_q8_ref;
    k->gemm[QW_DTYPE_Q4] = gemm_q4_ref;
    k->gemm_bf16x = NULL; /* without bf16 dot products, rounding activations saves nothing */
    k->dot[QW_DTYPE_F32] = dot_f32_ref;
    k->dot[QW_DTYPE_F16] = dot_f16_ref;
    k->dot[QW_DTYPE_BF16] = dot_bf16_ref;
    k->quantize_act16 = quantize_act16_ref;
    k->to_bf16 = to_bf16_ref;
    k->to_f16 = to_f16_ref;
    k->from_f16 = from_f16_ref;
    k->attn_scores = attn_scores_ref;
    k->attn_accum = attn_accum_ref;
    k->exp_sum = exp_sum_ref;
    k->attn_tile = NULL; /* the per-query path is faster than this in scalar code: attn_tile_ref is the spec */
    k->gelu_tanh = gelu_tanh_ref;
    k->gelu_erf = gelu_erf_ref;
    k->rmsnorm = rmsnorm_ref;
    k->swiglu = swiglu_ref;
    k->add = add_ref;
    k->read_bytes = read_bytes_ref;
    k->conv = conv_ref;
    k->conv_rows = 8;
    k->leaky_relu = leaky_relu_ref;
    k->tanh_sigmoid = tanh_sigmoid_ref;
}
