#include "ops.h"

#include "quant.h"

static const struct {
    const char *name;
    int block;
    size_t block_bytes;
} dtype_info[] = {
    [QW_DTYPE_F32] = {"f32", 1, 4},
    [QW_DTYPE_F16] = {"f16", 1, 2},
    [QW_DTYPE_BF16] = {"bf16", 1, 2},
    [QW_DTYPE_Q8] = {"q8", QW_QBLOCK, sizeof(struct qw_block_q8)},
    [QW_DTYPE_Q4] = {"q4", QW_QBLOCK, sizeof(struct qw_block_q4)},
    [QW_DTYPE_I32] = {"i32", 1, 4},
};
_Static_assert(sizeof dtype_info / sizeof dtype_info[0] == QW_DTYPE_COUNT, "dtype table");

int qw_dtype_block(enum qw_dtype t) { return dtype_info[t].block; }
size_t qw_dtype_block_bytes(enum qw_dtype t) { return dtype_info[t].block_bytes; }
const char *qw_dtype_name(enum qw_dtype t) { return (unsigned)t < QW_DTYPE_COUNT ? dtype_info[t].name : "?"; }

size_t qw_row_bytes(enum qw_dtype t, int64_t cols)
{
    return (size_t)(cols / dtype_info[t].block) * dtype_info[t].block_bytes;
}

size_t qw_scratch_bytes(enum qw_dtype dtype, int64_t rows, int64_t cols)
{
    return ((size_t)rows * qw_row_bytes(dtype, cols) + 63) & ~(size_t)63;
}

struct qw_tensor qw_scratch_tensor(struct qw_scratch *s, enum qw_dtype dtype, int64_t rows, int64_t cols)
{
    size_t n = qw_scratch_bytes(dtype, rows, cols);
    if (s->overflow || n > s->cap - s->used) {
        s->overflow = true;
        return (struct qw_tensor){0};
    }
    struct qw_tensor t = {s->buf, s->used, dtype, rows, cols, cols};
    s->used += n;
    if (s->used > s->peak) s->peak = s->used;
    return t;
}

static bool contiguous(struct qw_tensor t) { return t.stride == t.cols || t.rows <= 1; }

qwglm_status qw_tensor_write(struct qw_backend *be, struct qw_tensor t, const void *src, struct qw_err *e)
{
    if (!t.buf || !contiguous(t)) return qw_fail(e, QWGLM_ERR_ARG, "tensor write: absent or strided tensor");
    return be->ops->buf_write(be->ctx, t.buf, t.offset, src, (size_t)t.rows * qw_row_bytes(t.dtype, t.cols), e);
}

qwglm_status qw_tensor_read(struct qw_backend *be, struct qw_tensor t, void *dst, struct qw_err *e)
{
    if (!t.buf || !contiguous(t)) return qw_fail(e, QWGLM_ERR_ARG, "tensor read: absent or strided tensor");
    return be->ops->buf_read(be->ctx, t.buf, t.offset, dst, (size_t)t.rows * qw_row_bytes(t.dtype, t.cols), e);
}

void qw_conv1d_weight(const float *src, float *dst, int64_t c_out, int64_t cg, int kernel)
{
    for (int64_t o = 0; o < c_out; o++)
        for (int64_t c = 0; c < cg; c++)
            for (int k = 0; k < kernel; k++) dst[(o * kernel + k) * cg + c] = src[(o * cg + c) * kernel + k];
}

void qw_conv_transpose1d_weight(const float *src, float *dst, int64_t c_in, int64_t c_out, int kernel)
{
    for (int64_t c = 0; c < c_in; c++)
        for (int64_t o = 0; o < c_out; o++)
            for (int k = 0; k < kernel; k++)
                dst[(o * kernel + k) * c_in + c] = src[(c * c_out + o) * kernel + k];
}

void qw_conv2d_weight(const float *src, float *dst, int64_t c_out, int64_t cg, int kt, int kw)
{
    for (int64_t o = 0; o < c_out; o++)
        for (int64_t c = 0; c < cg; c++)
            for (int i = 0; i < kt; i++)
                for (int j = 0; j < kw; j++)
                    dst[((o * kt + i) * kw + j) * cg + c] = src[((o * cg + c) * kt + i) * kw + j];
}
