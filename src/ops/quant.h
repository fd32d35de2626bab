/* Quantized weight blocks as stored in checkpoints written by `qwglm quantize` and as models see them. A backend may
 * repack them internally for its kernels. */
#ifndef QW_QUANT_H
#define QW_QUANT_H

#include <stdint.h>

#define QW_QBLOCK 32 /* values per block */

/* 8-bit: value = d * q. */
struct qw_block_q8 {
    uint16_t d; /* f16 scale */
    int8_t q[QW_QBLOCK];
};

/* 4-bit: value = d * (nibble - 8); byte i holds value i (low nibble) and value i + 16 (high nibble). */
struct qw_block_q4 {
    uint16_t d; /* f16 scale */
    uint8_t q[QW_QBLOCK / 2];
};

_Static_assert(sizeof(struct qw_block_q8) == 34, "q8 block is 34 bytes");
_Static_assert(sizeof(struct qw_block_q4) == 18, "q4 block is 18 bytes");

/* Round-trip helpers, the reference for every kernel: n values (a multiple of 32). */
void qw_quantize_q8(const float *x, struct qw_block_q8 *out, int64_t n);
void qw_dequantize_q8(const struct qw_block_q8 *in, float *y, int64_t n);
void qw_quantize_q4(const float *x, struct qw_block_q4 *out, int64_t n);
void qw_dequantize_q4(const struct qw_block_q4 *in, float *y, int64_t n);

#endif
