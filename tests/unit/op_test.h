/* Shared pieces of the op tests: the backend under test, a seeded xorshift source of values in [-1, 1), and f32
 * tensors made from, and read back to, host arrays. Each test file includes it once and sets OP_TEST_SEED first
 * (a different seed per file, so that the files do not all test the same numbers). */
#ifndef QWGLM_TESTS_OP_TEST_H
#define QWGLM_TESTS_OP_TEST_H

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_impl.h"
#include "test.h"

#ifndef OP_TEST_SEED
#error "define OP_TEST_SEED before including op_test.h"
#endif

static struct qw_backend be;
static uint64_t rng = OP_TEST_SEED;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void fill(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = frand();
}

/* A host-visible f32 tensor (the CPU backend's buffers are host memory). */
static struct qw_tensor make(int64_t rows, int64_t cols, const float *init)
{
    struct qw_buf *b;
    REQUIRE(be.ops->buf_alloc(be.ctx, (size_t)(rows * cols) * 4 + 4, &b, NULL) == QWGLM_OK);
    struct qw_tensor t = {b, 0, QW_DTYPE_F32, rows, cols, cols};
    if (init) REQUIRE(qw_tensor_write(&be, t, init, NULL) == QWGLM_OK);
    return t;
}

/* The tensor's values, in a buffer that the next call overwrites. */
static float *host(struct qw_tensor t)
{
    static float out[1 << 16];
    REQUIRE(t.rows * t.cols <= (int64_t)(sizeof out / sizeof out[0]));
    REQUIRE(qw_tensor_read(&be, t, out, NULL) == QWGLM_OK);
    return out;
}

static void drop(struct qw_tensor t) { be.ops->buf_free(be.ctx, t.buf); }

static void check_synced(const char *what)
{
    struct qw_err e = {0};
    CHECKF(qw_sync(&be, &e) == QWGLM_OK, "%s: %s", what, e.msg);
}

#endif
