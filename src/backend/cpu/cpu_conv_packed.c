/* conv1d and conv_transpose1d with f32 weights (groups 1) as sums of shifted products on packed weights, the
 * form of the HiFi-GAN decoder and the flow that dominate speech synthesis.
 *
 * conv1d: output row t reads input rows t stride + k dilation - pad_left for the K taps k; with the taps as the
 * reduction dimension and no im2col copy, the kernel (kernels.h, struct cpu_conv) broadcasts values of the input
 * rows against rows of a packed weight block.
 * conv_transpose1d, polyphase: output row t = q stride + r - pad_left (phase r) receives tap k = r + m stride from
 * input row q - m, so each phase is a conv1d of ceil((K - r) / stride) taps over the input, written to every
 * stride-th output row. The threads share out blocks of input rows and run every phase on their block. */
#include <stdatomic.h>
#include <string.h>

#include "base/mem.h"
#include "cpu_impl.h"

#define MAX_CIN 4096     /* input channels of the packed path (the zero row) */
#define MAX_PHASES 32    /* conv_transpose1d strides of the packed path */
#define MAX_TAPS 32      /* taps of conv1d, and per phase of conv_transpose1d */
#define PIECES_PER_THREAD 8 /* items are handed out in this many pieces per thread, first come first served */

static const float zero_row[MAX_CIN];

struct packed_job {
    cpu_conv_fn fn;
    int n_phases;
    int64_t rows;                    /* rows q shared out: output rows (conv1d), input rows (transposed) */
    struct cpu_conv cv[MAX_PHASES];  /* one per phase (conv1d: one) */
    int64_t q_lo[MAX_PHASES], n_q[MAX_PHASES];
    int64_t tap[MAX_PHASES][MAX_TAPS];
    int64_t item_rows, n_items, piece; /* items of a kernel tile's rows, handed out piece items at a time */
    atomic_long next;
};

static void packed_items(void *arg, int64_t i0, int64_t i1)
{
    const struct packed_job *j = arg;
    const int64_t a = i0 * j->item_rows, b = i1 * j->item_rows < j->rows ? i1 * j->item_rows : j->rows;
    for (int r = 0; r < j->n_phases; r++) {
        /* phase r's own rows q' = q - q_lo[r] that fall in the input block [a, b) */
        int64_t q0 = a - j->q_lo[r], q1 = b - j->q_lo[r];
        if (q0 < 0) q0 = 0;
        if (q1 > j->n_q[r]) q1 = j->n_q[r];
        if (q1 > q0) j->fn(&j->cv[r], q0, q1);
    }
}

/* A thread that loses its core on a busy machine holds up only the piece it is on: the others take the rest. */
static void packed_thunk(void *arg, int ith, int nth)
{
    struct packed_job *j = arg;
    (void)ith, (void)nth;
    for (;;) {
        int64_t i0 = (int64_t)atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) * j->piece;
        if (i0 >= j->n_items) break;
        packed_items(j, i0, i0 + j->piece < j->n_items ? i0 + j->piece : j->n_items);
    }
}

static void run_packed(struct cpu_ctx *c, struct packed_job *j, int64_t work_per_row)
{
    j->item_rows = c->k.conv_rows > 0 ? c->k.conv_rows : 1;
    j->n_items = (j->rows + j->item_rows - 1) / j->item_rows;
    const int64_t work_per_item = work_per_row * j->item_rows;
    if (c->n_threads == 1 || j->n_items < 2 || j->n_items * work_per_item < 65536) {
        packed_items(j, 0, j->n_items);
        return;
    }
    int64_t pieces = (int64_t)c->n_threads * PIECES_PER_THREAD;
    j->piece = (j->n_items + pieces - 1) / pieces;
    atomic_init(&j->next, 0);
    qw_pool_run(c->pool, packed_thunk, j);
}

static bool overlap(struct qw_tensor a, struct qw_tensor b)
{
    if (a.buf != b.buf || a.rows == 0 || b.rows == 0) return false;
    size_t ea = a.offset + (size_t)(a.rows - 1) * (size_t)a.stride * 4 + (size_t)a.cols * 4;
    size_t eb = b.offset + (size_t)(b.rows - 1) * (size_t)b.stride * 4 + (size_t)b.cols * 4;
    return a.offset < eb && b.offset < ea;
}

bool cpu_conv_epilogue_ok(struct cpu_ctx *c, struct qw_tensor y, const struct qw_conv_epilogue *ep, const char *op)
{
    const struct qw_tensor res[2] = {ep->res, ep->res2};
    for (int i = 0; i < 2; i++)
        if (qw_tensor_present(res[i]) &&
            (!cpu_check_f32(c, res[i], op, "res") ||
             !cpu_check(c, res[i].rows == y.rows && res[i].cols == y.cols && !overlap(res[i], y),
                        "%s: res%s %lldx%lld does not match y %lldx%lld or overlaps it", op, i ? "2" : "",
                        (long long)res[i].rows, (long long)res[i].cols, (long long)y.rows, (long long)y.cols)))
            return false;
    if (qw_tensor_present(ep->act)) {
        bool same = ep->act.buf == y.buf && ep->act.offset == y.offset && ep->act.stride == y.stride;
        if (!cpu_check_f32(c, ep->act, op, "act") ||
            !cpu_check(c, ep->act.rows == y.rows && ep->act.cols == y.cols && (same || !overlap(ep->act, y)),
                       "%s: act %lldx%lld does not match y %lldx%lld or overlaps it", op, (long long)ep->act.rows,
                       (long long)ep->act.cols, (long long)y.rows, (long long)y.cols))
            return false;
    }
    return true;
}

void cpu_conv_epilogue(struct cpu_ctx *c, struct qw_tensor y, const struct qw_conv_epilogue *ep)
{
    if (qw_tensor_present(ep->res)) cpu_add(c, y, y, ep->res);
    if (qw_tensor_present(ep->res2)) cpu_add(c, y, y, ep->res2);
    if (ep->scale != 1.0f) cpu_affine(c, y, y, ep->scale, 0.0f);
    if (qw_tensor_present(ep->act)) cpu_leaky_relu(c, ep->act, y, ep->slope);
}

/* The fields every phase shares. */
static struct cpu_conv base_conv(struct qw_tensor y, struct qw_tensor x, struct qw_tensor b,
                                 const struct qw_conv_epilogue *ep)
{
    struct cpu_conv cv = {
        .x = cpu_row(x, 0), .x_rows = x.rows, .x_stride = x.stride, .x_step = 1, .c_in = x.cols,
        .zero = zero_row, .n_out = y.cols, .bias = qw_tensor_present(b) ? cpu_row(b, 0) : NULL,
        .y_stride = y.stride, .scale = ep ? ep->scale : 1.0f, .slope = ep ? ep->slope : 0.0f,
    };
    return cv;
}

/* Output rows of a phase start at row t0 of y (and of res, act). */
static void place_rows(struct cpu_conv *cv, struct qw_tensor y, const struct qw_conv_epilogue *ep, int64_t t0,
                       int64_t step)
{
    cv->y = cpu_row(y, t0);
    cv->y_stride = y.stride * step;
    if (ep && qw_tensor_present(ep->res)) cv->res = cpu_row(ep->res, t0), cv->res_stride = ep->res.stride * step;
    if (ep && qw_tensor_present(ep->res2))
        cv->res2 = cpu_row(ep->res2, t0), cv->res2_stride = ep->res2.stride * step;
    if (ep && qw_tensor_present(ep->act)) cv->act = cpu_row(ep->act, t0), cv->act_stride = ep->act.stride * step;
}

static bool packed_applies(struct cpu_ctx *c, struct qw_tensor x, struct qw_tensor w)
{
    return c->k.conv != NULL && w.dtype == QW_DTYPE_F32 && x.cols <= MAX_CIN && x.cols > 0;
}

/* ---- packed weights, kept per weight tensor ----
 *
 * Packing reads every weight once, as one row of activations does; with the phoneme-rate layers (a few dozen
 * rows) and short sentences it cost as much as the products themselves. So each weight is packed once, on first
 * use, and kept until its buffer is written (buf_write) or freed: weights change no other way. Past
 * CACHE_MAX_BYTES, weights are packed per call into c->conv_w. */

#define CACHE_MAX_BYTES ((size_t)512 << 20)

struct cache_entry {
    const struct qw_buf *buf;
    size_t offset;
    int64_t rows, cols, stride, c_in;
    int kernel, phases; /* phases: the stride of a transposed conv, 0 for conv1d */
    float *w;
    size_t bytes;
};

struct cpu_conv_cache {
    struct cache_entry *e;
    int n, cap;
    size_t bytes;
};

/* Taps of phase r (conv1d: phases == 0, all K taps); returns their number. */
static int phase_taps(int kernel, int phases, int r, int *taps)
{
    if (phases == 0) {
        for (int k = 0; k < kernel; k++) taps[k] = k;
        return kernel;
    }
    int n = r < kernel ? (kernel - 1 - r) / phases + 1 : 0;
    for (int m = 0; m < n; m++) taps[m] = r + m * phases;
    return n;
}

static size_t packed_floats(int64_t c_in, int64_t n_out, int kernel, int phases)
{
    size_t f = 0;
    int taps[MAX_TAPS] = {0};
    for (int r = 0; r < (phases ? phases : 1); r++)
        f += cpu_conv_packed_floats(phase_taps(kernel, phases, r, taps), c_in, n_out);
    return f;
}

static void pack_all(struct qw_tensor w, int64_t c_in, int kernel, int phases, float *dst)
{
    int taps[MAX_TAPS] = {0};
    for (int r = 0; r < (phases ? phases : 1); r++) {
        int n = phase_taps(kernel, phases, r, taps);
        cpu_conv_pack(cpu_ptr(w), w.stride, c_in, w.rows, taps, n, dst);
        dst += cpu_conv_packed_floats(n, c_in, w.rows);
    }
}

/* The packed form of w (called with c->lock held); NULL after recording an out-of-memory error. */
static const float *packed_weights(struct cpu_ctx *c, struct qw_tensor w, int64_t c_in, int kernel, int phases)
{
    struct cpu_conv_cache *cc = c->conv_cache;
    for (int i = 0; cc && i < cc->n; i++) {
        const struct cache_entry *e = &cc->e[i];
        if (e->buf == w.buf && e->offset == w.offset && e->rows == w.rows && e->cols == w.cols &&
            e->stride == w.stride && e->c_in == c_in && e->kernel == kernel && e->phases == phases)
            return e->w;
    }
    size_t floats = packed_floats(c_in, w.rows, kernel, phases), bytes = (floats ? floats : 1) * sizeof(float);
    if (!cc) cc = c->conv_cache = qw_calloc(1, sizeof *cc);
    if (cc && cc->bytes + bytes <= CACHE_MAX_BYTES) {
        if (cc->n == cc->cap) {
            int cap = cc->cap ? 2 * cc->cap : 64;
            struct cache_entry *ne = qw_realloc(cc->e, (size_t)cap * sizeof *ne);
            if (ne) cc->e = ne, cc->cap = cap;
        }
        float *p = cc->n < cc->cap ? qw_aligned_alloc(64, (bytes + 63) & ~(size_t)63) : NULL;
        if (p) {
            pack_all(w, c_in, kernel, phases, p);
            cc->e[cc->n++] = (struct cache_entry){w.buf, w.offset, w.rows, w.cols, w.stride, c_in, kernel, phases, p,
                                                  bytes};
            cc->bytes += bytes;
            w.buf->packed = true;
            return p;
        }
    }
    float *p = cpu_scratch_get(c, &c->conv_w, bytes);
    if (p) pack_all(w, c_in, kernel, phases, p);
    return p;
}

void cpu_conv_cache_drop(struct cpu_ctx *c, struct qw_buf *b)
{
    pthread_mutex_lock(&c->lock);
    struct cpu_conv_cache *cc = c->conv_cache;
    for (int i = 0; cc && i < cc->n;) {
        if (cc->e[i].buf != b) {
            i++;
            continue;
        }
        qw_free(cc->e[i].w);
        cc->bytes -= cc->e[i].bytes;
        cc->e[i] = cc->e[--cc->n];
    }
    b->packed = false;
    pthread_mutex_unlock(&c->lock);
}

void cpu_conv_cache_free(struct cpu_ctx *c)
{
    struct cpu_conv_cache *cc = c->conv_cache;
    if (!cc) return;
    for (int i = 0; i < cc->n; i++) qw_free(cc->e[i].w);
    qw_free(cc->e);
    qw_free(cc);
    c->conv_cache = NULL;
}

/* ---- the ops ---- */

/* A few outputs (HiFi-GAN's last convolution: 32 channels to 1) would leave most lanes of a packed block empty.
 * With stride 1, dilation 1 and whole rows, the K input rows an output reads are contiguous, and so is a weight
 * row ([kernel][c_in]): one dot product of K c_in values per output, taps clipped at the edges. */
struct narrow_job {
    struct qw_tensor y, x, w, b;
    struct qw_conv1d_params p;
    cpu_dot_fn dot;
};

static void narrow_rows(void *arg, int64_t t0, int64_t t1)
{
    const struct narrow_job *j = arg;
    const int64_t C = j->x.cols, T = j->x.rows;
    const float *bias = qw_tensor_present(j->b) ? cpu_row(j->b, 0) : NULL;
    for (int64_t t = t0; t < t1; t++) {
        int64_t first = t - j->p.pad_left, k0 = first < 0 ? -first : 0;
        int64_t k1 = first + j->p.kernel > T ? T - first : j->p.kernel;
        float *y = cpu_row(j->y, t);
        for (int64_t o = 0; o < j->y.cols; o++) {
            float v = k1 > k0 ? j->dot(cpu_row(j->w, o) + k0 * C, cpu_row(j->x, first + k0), (k1 - k0) * C) : 0.0f;
            y[o] = v + (bias ? bias[o] : 0.0f);
        }
    }
}

static bool conv1d_narrow(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                          struct qw_tensor b, const struct qw_conv1d_params *p, const struct qw_conv_epilogue *ep)
{
    if (y.cols > 2 || p->stride != 1 || p->dilation != 1 || p->groups != 1 || x.stride != x.cols ||
        w.dtype != QW_DTYPE_F32 || !c->k.dot[QW_DTYPE_F32])
        return false;
    struct narrow_job j = {y, x, w, b, *p, c->k.dot[QW_DTYPE_F32]};
    cpu_parallel(c, y.rows, y.cols * w.cols, narrow_rows, &j);
    if (ep) cpu_conv_epilogue(c, y, ep);
    return true;
}

bool cpu_conv1d_packed(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                       struct qw_tensor b, const struct qw_conv1d_params *p, const struct qw_conv_epilogue *ep)
{
    if (!packed_applies(c, x, w) || p->groups != 1 || p->kernel > MAX_TAPS) return false;
    if (y.rows <= 0) return true;
    if (conv1d_narrow(c, y, x, w, b, p, ep)) return true;
    pthread_mutex_lock(&c->lock);
    const float *wp = packed_weights(c, w, x.cols, p->kernel, 0);
    if (wp) {
        struct packed_job j;
        j.fn = c->k.conv;
        j.n_phases = 1;
        j.rows = y.rows;
        j.q_lo[0] = 0;
        j.n_q[0] = y.rows;
        j.cv[0] = base_conv(y, x, b, ep);
        j.cv[0].x_step = p->stride;
        j.cv[0].n_taps = p->kernel;
        j.cv[0].w = wp;
        for (int k = 0; k < p->kernel; k++) j.tap[0][k] = (int64_t)k * p->dilation - p->pad_left;
        j.cv[0].tap = j.tap[0];
        place_rows(&j.cv[0], y, ep, 0, 1);
        run_packed(c, &j, y.cols * w.cols);
    }
    pthread_mutex_unlock(&c->lock);
    return true;
}

bool cpu_conv_transpose1d_packed(struct cpu_ctx *c, struct qw_tensor y, struct qw_tensor x, struct qw_tensor w,
                                 struct qw_tensor b, const struct qw_conv1d_params *p,
                                 const struct qw_conv_epilogue *ep)
{
    const int S = p->stride, K = p->kernel;
    if (!packed_applies(c, x, w) || S > MAX_PHASES || K > MAX_TAPS * S) return false;
    if (y.rows <= 0) return true;
    pthread_mutex_lock(&c->lock);
    const float *wp = packed_weights(c, w, x.cols, K, S);
    if (wp) {
        struct packed_job j;
        j.fn = c->k.conv;
        j.n_phases = S;
        j.rows = 0;
        for (int r = 0; r < S; r++) {
            struct cpu_conv *cv = &j.cv[r];
            int taps[MAX_TAPS], n_taps = phase_taps(K, S, r, taps);
            /* rows q with 0 <= q S + r - pad_left < T_out */
            int64_t lo = p->pad_left - r > 0 ? (p->pad_left - r + S - 1) / S : 0;
            int64_t hi_num = y.rows - 1 + p->pad_left - r, hi = hi_num >= 0 ? hi_num / S : -1;
            *cv = base_conv(y, x, b, ep);
            cv->n_taps = n_taps;
            cv->w = wp;
            wp += cpu_conv_packed_floats(n_taps, x.cols, y.cols);
            for (int m = 0; m < n_taps; m++) j.tap[r][m] = lo - m;
            cv->tap = j.tap[r];
            j.q_lo[r] = lo;
            j.n_q[r] = hi >= lo ? hi - lo + 1 : 0;
            if (j.n_q[r]) place_rows(cv, y, ep, lo * S + r - p->pad_left, S);
            if (j.n_q[r] && lo + j.n_q[r] > j.rows) j.rows = lo + j.n_q[r];
        }
        run_packed(c, &j, y.cols * w.cols);
    }
    pthread_mutex_unlock(&c->lock);
    return true;
}
