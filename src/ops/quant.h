/* Quantized weight rows: the one layout that `qwglm quantize` writes, that checkpoints are mmapped in, and that
 * every backend's kernels read, so a quantized model loads with no conversion.
 *
 * A row of K values (K a multiple of 32) is nb = K / 32 blocks of 32 values, each with one f16 scale d. The
 * quantized values of the whole row come first, then the nb scales:
 *
 *   Q8 row: [K bytes: int8 q in -127..127, interleaved][nb x f16 d]     value = d * q          (34 bytes / 32)
 *   Q4 row: [K/2 bytes: 4-bit u in 0..15, interleaved][nb x f16 d]     value = d * (u - 8)    (18 bytes / 32)
 *
 * Interleaving. Blocks are taken in groups of 16 (the last group of a row holds the m = nb mod 16 blocks left,
 * when there are any; other groups have m = 16). Within a group, values are stored in pairs, lane by lane: pair c
 * of every block of the group, then pair c + 1, and so on, so a 32-byte load of a Q8 group reads the same pair of
 * all 16 blocks, one block per 32-bit lane of the products that follow:
 *
 *   Q8: byte 2mc + 2L + j of group g (group g starts at byte 512 g) = q[block 16g + L][2c + j],   c in 0..15
 *   Q4: byte 2mc + 2L + j of group g (group g starts at byte 256 g) = u[block 16g + L][2c + j] in the low nibble,
 *                                                                    u[block 16g + L][16 + 2c + j] in the high one,
 *                                                                    c in 0..7
 *
 * with L < m the block within the group and j in {0, 1}. A kernel widens the bytes to 16-bit lanes, multiplies
 * them with 16-bit activations stored in the same order and adds pairs (one instruction on AVX-512 VNNI, AVX2,
 * NEON and WASM SIMD), so each 32-bit lane accumulates one block and a block's scale applies to one lane.
 */
#ifndef QW_QUANT_H
#define QW_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "format/safetensors.h"
#include "ops/ops.h"

#define QW_QBLOCK 32      /* values per block (one scale each) */
#define QW_QGROUP 16      /* blocks per interleaved group */
#define QW_Q8_BLOCK_BYTES 34
#define QW_Q4_BLOCK_BYTES 18

/* Position of pair c of block b within a row of nb blocks, in units of pairs (Q8: pairs of bytes; Q4: pairs of
 * bytes holding pairs c and c + 8; activations: pairs of 16-bit values). pairs_per_block: 16 for Q8 and
 * activations, 8 for Q4. */
static inline int64_t qw_pair_index(int64_t nb, int64_t b, int c, int pairs_per_block)
{
    int64_t g = b / QW_QGROUP, lane = b % QW_QGROUP, left = nb - g * QW_QGROUP;
    int64_t m = left < QW_QGROUP ? left : QW_QGROUP;
    return g * QW_QGROUP * pairs_per_block + (int64_t)c * m + lane;
}

/* The scales of a row: nb f16 values after the quantized bytes (unaligned in general: read with memcpy). */
static inline const uint8_t *qw_q8_scales(const uint8_t *row, int64_t k) { return row + k; }
static inline const uint8_t *qw_q4_scales(const uint8_t *row, int64_t k) { return row + k / 2; }

/* Quantizes / dequantizes one row of k values (k a multiple of 32). These are the reference for every kernel
 * and every writer of the format. Each block's scale is chosen among candidates near max|x| / 127 (Q8) or
 * max|x| / 8 (Q4) for the least squared error, then refitted by least squares. */
void qw_quantize_row_q8(const float *x, uint8_t *row, int64_t k);
void qw_dequantize_row_q8(const uint8_t *row, float *y, int64_t k);
void qw_quantize_row_q4(const float *x, uint8_t *row, int64_t k);
void qw_dequantize_row_q4(const uint8_t *row, float *y, int64_t k);

/* One block's quantized values in natural order (for tests and tools): q[32] and the scale. */
float qw_q8_block(const uint8_t *row, int64_t k, int64_t b, int8_t q[QW_QBLOCK]);
float qw_q4_block(const uint8_t *row, int64_t k, int64_t b, int8_t q[QW_QBLOCK]); /* q = u - 8 */

/* n rows of k random values of dtype t into dst (rows of qw_row_bytes(t, k) bytes), uniform with standard deviation
 * sd (sd < 0: in [0.5, 1.5], like norm weights). Quantized rows get random codes and a matching scale directly.
 * *state (nonzero) advances; the same state gives the same rows. For benchmarks at real shapes. */
void qw_random_rows(enum qw_dtype t, void *dst, int64_t n, int64_t k, float sd, uint64_t *state);

/* ---- quantized tensors in safetensors files (written by `qwglm quantize`, mmapped by the loaders) ----
 *
 * A Q8 or Q4 tensor NAME is stored as dtype U8 with shape [rows, row bytes] (rows in the layout above) and
 * described by the file's __metadata__ (string values, as the format requires):
 *   "qwglm.layout":  "1"                  the row layout of this header; required when any tensor is quantized
 *   "qwglm.q.NAME":  "q4 ROWS COLS"       the dtype and the logical shape of tensor NAME
 * Tensors without a "qwglm.q." entry are plain safetensors tensors. */
#define QW_QFILE_LAYOUT "1"
#define QW_QFILE_PREFIX "qwglm.q."

/* Checks the qwglm entries of f's metadata: the layout version, and for every "qwglm.q." entry a valid
 * description of an existing U8 tensor of exactly the described size. QWGLM_ERR_FORMAT naming the first problem. */
qwglm_status qw_qfile_validate(const struct st_file *f, struct qw_err *e);
/* The weight dtype and logical shape of tensor t of f (validated file): F32, F16, BF16 tensors as stored (a vector
 * has rows = 1), quantized ones as described. QWGLM_ERR_FORMAT for other stored dtypes. */
qwglm_status qw_qfile_tensor(const struct st_file *f, const struct st_tensor *t, enum qw_dtype *dtype, int64_t *rows,
                             int64_t *cols, struct qw_err *e);
/* The file of set s that holds t (a tensor returned by st_set_find), or NULL. */
const struct st_file *qw_qfile_of(const struct st_set *s, const struct st_tensor *t);

#endif
