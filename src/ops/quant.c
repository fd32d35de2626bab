#include "quant.h"

#include <math.h>

#include "base/fp.h"

void qw_quantize_q8(const float *x, struct qw_block_q8 *out, int64_t n)
{
    for (int64_t b = 0; b < n / QW_QBLOCK; b++) {
        const float *v = x + b * QW_QBLOCK;
        float amax = 0.0f;
        for (int i = 0; i < QW_QBLOCK; i++) amax = fmaxf(amax, fabsf(v[i]));
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        out[b].d = f32_to_f16(d);
        for (int i = 0; i < QW_QBLOCK; i++) out[b].q[i] = (int8_t)lrintf(v[i] * id);
    }
}

void qw_dequantize_q8(const struct qw_block_q8 *in, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QW_QBLOCK; b++) {
        float d = f16_to_f32(in[b].d);
        for (int i = 0; i < QW_QBLOCK; i++) y[b * QW_QBLOCK + i] = d * (float)in[b].q[i];
    }
}

void qw_quantize_q4(const float *x, struct qw_block_q4 *out, int64_t n)
{
    for (int64_t b = 0; b < n / QW_QBLOCK; b++) {
        const float *v = x + b * QW_QBLOCK;
        /* the value of largest magnitude maps to -8, so its sign uses the wider half of the range */
        float max = 0.0f;
        for (int i = 0; i < QW_QBLOCK; i++)
            if (fabsf(v[i]) > fabsf(max)) max = v[i];
        float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
        out[b].d = f32_to_f16(d);
        for (int i = 0; i < QW_QBLOCK / 2; i++) {
            int lo = (int)lrintf(v[i] * id) + 8, hi = (int)lrintf(v[i + 16] * id) + 8;
            lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
            hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
            out[b].q[i] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void qw_dequantize_q4(const struct qw_block_q4 *in, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / QW_QBLOCK; b++) {
        float d = f16_to_f32(in[b].d);
        for (int i = 0; i < QW_QBLOCK / 2; i++) {
            y[b * QW_QBLOCK + i] = d * (float)((in[b].q[i] & 15) - 8);
            y[b * QW_QBLOCK + i + 16] = d * (float)((in[b].q[i] >> 4) - 8);
        }
    }
}
