/* Convolution tiles: the packed weight layout shared by every variant, and the scalar reference (struct cpu_conv
 * in kernels.h says what is computed). Plain loops; at -O3 the loop over the NR outputs of a block vectorises at
 * the baseline instruction set, which is what machines without AVX2 run. */
#include <string.h>

#include "kernels.h"

#define NR CPU_CONV_NR

size_t cpu_conv_packed_floats(int n_taps, int64_t c_in, int64_t n_out)
{
    return (size_t)((n_out + NR - 1) / NR) * (size_t)n_taps * (size_t)c_in * NR;
}

void cpu_conv_pack(const float *w, int64_t w_stride, int64_t c_in, int64_t n_out, const int *kernel_idx, int n_taps,
                   float *dst)
{
    const int64_t kc = (int64_t)n_taps * c_in;
    for (int64_t o0 = 0; o0 < n_out; o0 += NR) {
        float *blk = dst + (o0 / NR) * kc * NR;
        for (int n = 0; n < NR; n++) {
            const float *row = o0 + n < n_out ? w + (o0 + n) * w_stride : NULL;
            for (int j = 0; j < n_taps; j++)
                for (int64_t c = 0; c < c_in; c++)
                    blk[(j * c_in + c) * NR + n] = row ? row[(int64_t)kernel_idx[j] * c_in + c] : 0.0f;
        }
    }
}

void conv_ref(const struct cpu_conv *cv, int64_t q0, int64_t q1)
{
    const int64_t kc = (int64_t)cv->n_taps * cv->c_in;
    for (int64_t q = q0; q < q1; q++) {
        for (int64_t o0 = 0; o0 < cv->n_out; o0 += NR) {
            const float *blk = cv->w + (o0 / NR) * kc * NR;
            float acc[NR];
            memset(acc, 0, sizeof acc);
            for (int j = 0; j < cv->n_taps; j++) {
                int64_t r = q * cv->x_step + cv->tap[j];
                const float *x = r >= 0 && r < cv->x_rows ? cv->x + r * cv->x_stride : cv->zero;
                const float *wj = blk + j * cv->c_in * NR;
                for (int64_t c = 0; c < cv->c_in; c++)
                    for (int n = 0; n < NR; n++) acc[n] += x[c] * wj[c * NR + n];
            }
            const int nc = cv->n_out - o0 < NR ? (int)(cv->n_out - o0) : NR;
            float *y = cv->y + q * cv->y_stride + o0;
            const float *res = cv->res ? cv->res + q * cv->res_stride + o0 : NULL;
            const float *res2 = cv->res2 ? cv->res2 + q * cv->res2_stride + o0 : NULL;
            float *act = cv->act ? cv->act + q * cv->act_stride + o0 : NULL;
            for (int n = 0; n < nc; n++) {
                float v = acc[n] + (cv->bias ? cv->bias[o0 + n] : 0.0f);
                if (res) v += res[n];
                if (res2) v += res2[n];
                v *= cv->scale;
                y[n] = v;
                float s = v * cv->slope;
                if (act) act[n] = v >= 0.0f ? v : s;
            }
        }
    }
}
