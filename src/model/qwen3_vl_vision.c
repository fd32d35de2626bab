/* Qwen3-VL vision encoder (transformers 5.17 Qwen3VLVisionModel), one image per pass. Host-built tables (the
 * interpolated position embedding, the 2D rotary cos/sin) are uploaded once per image; everything else runs
 * as ops, so any backend runs it. */
#include "qwen3_vl_vision.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/fp.h"
#include "base/log.h"
#include "base/mem.h"
#include "ops/quant.h"

#define PREFIX "model.visual."

struct vl_linear {
    struct qw_tensor w, b; /* w [out, in], b [1, out] f32 */
};

struct vl_norm {
    struct qw_tensor w, b; /* [1, n] f32 */
};

struct vl_block {
    struct vl_norm norm1, norm2;
    struct vl_linear qkv, proj, fc1, fc2;
};

struct vl_merger {
    struct vl_norm
        norm; /* over hidden (main merger) or 4 * hidden (DeepStack: after the 2x2 concatenation) */
    struct vl_linear fc1, fc2;
};

struct vl_vision {
    struct vl_vision_config c;
    struct qw_backend *be;
    struct vl_linear patch;  /* [hidden, 3 * T * P * P] */
    float *pos_table;        /* host [side * side][hidden] */
    struct vl_block *blocks; /* [depth] */
    struct vl_merger merger, deepstack[VL_MAX_DEEPSTACK];
    uint64_t seed;           /* random weights (no checkpoint): the generator's seed */
    struct qw_tensor *owned; /* every uploaded tensor, freed with the encoder */
    int n_owned, cap_owned;
    struct qw_scratch scratch; /* grown to the largest image seen */
    float *host_tables;        /* pos [N][hidden] then cos/sin [N][head_dim], per pass */
    size_t host_tables_len;
};

/* ---- config ---- */

static qwglm_status get_int(const struct json_value *o, const char *key, int lo, int hi, int def, int *out,
                            struct qw_err *e)
{
    const struct json_value *v = json_get(o, key);
    int64_t x = def;
    if (!json_is_null(v) && !json_int(v, &x)) x = (int64_t)lo - 1;
    if (x < lo || x > hi)
        return qw_fail(e, QWGLM_ERR_FORMAT, "vision_config.%s: %lld outside [%d, %d]", key, (long long)x, lo,
                       hi);
    *out = (int)x;
    return QWGLM_OK;
}

qwglm_status vl_vision_config_parse(const struct json_value *vc, struct vl_vision_config *c, struct qw_err *e)
{
    memset(c, 0, sizeof *c);
    if (!vc || vc->type != JSON_OBJECT)
        return qw_fail(e, QWGLM_ERR_FORMAT, "config.json: no vision_config object");
    int n_pos = 0;
    qwglm_status rc;
    if ((rc = get_int(vc, "depth", 1, 256, 27, &c->depth, e)) ||
        (rc = get_int(vc, "hidden_size", 1, 16384, 1152, &c->hidden, e)) ||
        (rc = get_int(vc, "num_heads", 1, 256, 16, &c->n_heads, e)) ||
        (rc = get_int(vc, "intermediate_size", 1, 65536, 4304, &c->intermediate, e)) ||
        (rc = get_int(vc, "out_hidden_size", 1, 65536, 3584, &c->out_hidden, e)) ||
        (rc = get_int(vc, "patch_size", 1, 64, 16, &c->patch, e)) ||
        (rc = get_int(vc, "temporal_patch_size", 1, 8, 2, &c->temporal_patch, e)) ||
        (rc = get_int(vc, "spatial_merge_size", 1, 8, 2, &c->merge, e)) ||
        (rc = get_int(vc, "in_channels", 3, 3, 3, &c->in_channels, e)) ||
        (rc = get_int(vc, "num_position_embeddings", 1, 1 << 20, 2304, &n_pos, e)))
        return rc;
    c->pos_side = (int)lround(sqrt((double)n_pos));
    if (c->pos_side * c->pos_side != n_pos)
        return qw_fail(e, QWGLM_ERR_FORMAT, "vision_config.num_position_embeddings: %d is not a square",
                       n_pos);
    if (c->hidden % c->n_heads || (c->hidden / c->n_heads) % 4)
        return qw_fail(e, QWGLM_ERR_FORMAT,
                       "vision_config: hidden %d does not split into %d heads of 4k dims", c->hidden,
                       c->n_heads);
    c->head_dim = c->hidden / c->n_heads;
    const char *act = json_string(json_get(vc, "hidden_act"));
    if (act && strcmp(act, "gelu_pytorch_tanh") != 0)
        return qw_fail(e, QWGLM_ERR_FORMAT, "vision_config.hidden_act: '%s' (expected gelu_pytorch_tanh)",
                       act);
    const struct json_value *ds = json_get(vc, "deepstack_visual_indexes");
    if (!json_is_null(ds)) {
        if (ds->type != JSON_ARRAY || ds->n > VL_MAX_DEEPSTACK)
            return qw_fail(e, QWGLM_ERR_FORMAT, "vision_config.deepstack_visual_indexes: not a short array");
        for (uint32_t i = 0; i < ds->n; i++) {
            int64_t k;
            if (!json_int(&ds->u.items[i], &k) || k < 0 || k >= c->depth)
                return qw_fail(e, QWGLM_ERR_FORMAT, "vision_config.deepstack_visual_indexes[%u]: bad layer",
                               i);
            c->deepstack_layers[i] = (int)k;
        }
        c->n_deepstack = (int)ds->n;
    }
    c->rope_theta = 10000.0f;
    const struct json_value *rp = json_get(vc, "rope_parameters");
    double theta;
    if (json_number(json_get(rp, "rope_theta"), &theta)) {
        if (!(theta > 1.0))
            return qw_fail(e, QWGLM_ERR_FORMAT, "vision_config.rope_parameters.rope_theta: %g", theta);
        c->rope_theta = (float)theta;
    }
    c->eps = 1e-6f;
    return QWGLM_OK;
}

/* ---- weights ---- */

static qwglm_status keep(struct vl_vision *v, struct qw_tensor t, struct qw_err *e)
{
    if (v->n_owned == v->cap_owned) {
        int cap = v->cap_owned ? 2 * v->cap_owned : 64;
        struct qw_tensor *p = qw_realloc(v->owned, (size_t)cap * sizeof *p);
        if (!p) {
            v->be->ops->buf_free(v->be->ctx, t.buf);
            return qw_fail(e, QWGLM_ERR_NOMEM, "vision: no memory");
        }
        v->owned = p;
        v->cap_owned = cap;
    }
    v->owned[v->n_owned++] = t;
    return QWGLM_OK;
}

/* The random generator's state for tensor name, and the spread of its values: norm weights in [0.5, 1.5],
 * biases and the position table small, matrices with standard deviation 1 / sqrt(cols). */
static float random_init(const struct vl_vision *v, const char *name, int64_t cols, uint64_t *state)
{
    *state = v->seed ^ 0x9e3779b97f4a7c15ull;
    for (const char *p = name; *p; p++) *state = (*state ^ (uint8_t)*p) * 0x100000001b3ull;
    if (strstr(name, "norm") && strstr(name, ".weight")) return -1.0f;
    if (strstr(name, ".bias") || strstr(name, "pos_embed")) return 0.02f;
    return 1.0f / sqrtf((float)cols);
}

/* A rows x cols tensor of dtype with random values (benchmarks at real shapes), generated a few MiB at a time. */
static qwglm_status upload_random(struct vl_vision *v, const char *name, int64_t rows, int64_t cols,
                                  enum qw_dtype dtype, struct qw_tensor *out, struct qw_err *e)
{
    struct qw_backend *be = v->be;
    const size_t row = qw_row_bytes(dtype, cols);
    size_t bytes;
    if (!size_mul_ok(row, (size_t)rows, &bytes)) return qw_fail(e, QWGLM_ERR_ARG, "'%s' is too large", name);
    int64_t chunk = (int64_t)((4u << 20) / (row ? row : 1));
    chunk = chunk < 1 ? 1 : chunk > rows ? rows : chunk;
    struct qw_buf *b;
    qwglm_status rc = be->ops->buf_alloc(be->ctx, bytes, &b, e);
    if (rc) return rc;
    uint8_t *host = qw_malloc((size_t)chunk * row + 1);
    if (!host) rc = qw_fail(e, QWGLM_ERR_NOMEM, "vision: no memory for '%s'", name);
    uint64_t state;
    const float sd = random_init(v, name, cols, &state);
    for (int64_t r0 = 0; r0 < rows && !rc; r0 += chunk) {
        const int64_t n = rows - r0 < chunk ? rows - r0 : chunk;
        qw_random_rows(dtype, host, n, cols, sd, &state);
        rc = be->ops->buf_write(be->ctx, b, (size_t)r0 * row, host, (size_t)n * row, e);
    }
    qw_free(host);
    if (rc) {
        be->ops->buf_free(be->ctx, b);
        return rc;
    }
    *out = (struct qw_tensor){b, 0, dtype, rows, cols, cols};
    return keep(v, *out, e);
}

/* Uploads tensor PREFIX name, which must hold rows * cols values, as a rows x cols tensor of dtype (random
 * values when w is NULL). */
static qwglm_status upload(struct vl_vision *v, const struct st_set *w, const char *name, int64_t rows,
                           int64_t cols, enum qw_dtype dtype, struct qw_tensor *out, struct qw_err *e)
{
    char full[192];
    snprintf(full, sizeof full, PREFIX "%s", name);
    if ((dtype == QW_DTYPE_Q8 || dtype == QW_DTYPE_Q4) && cols % qw_dtype_block(dtype)) dtype = QW_DTYPE_BF16;
    if (!w) return upload_random(v, full, rows, cols, dtype, out, e);
    const struct st_tensor *t = st_set_find(w, full);
    if (!t) return qw_fail(e, QWGLM_ERR_FORMAT, "checkpoint: no tensor '%s'", full);
    enum qw_dtype src;
    switch (t->dtype) {
    case ST_F32:
        src = QW_DTYPE_F32;
        break;
    case ST_F16:
        src = QW_DTYPE_F16;
        break;
    case ST_BF16:
        src = QW_DTYPE_BF16;
        break;
    default:
        return qw_fail(e, QWGLM_ERR_FORMAT, "checkpoint: tensor '%s' is %s", full, st_dtype_name(t->dtype));
    }
    if (t->numel != rows * cols)
        return qw_fail(e, QWGLM_ERR_FORMAT, "checkpoint: tensor '%s' has %lld values, expected %lld x %lld",
                       full, (long long)t->numel, (long long)rows, (long long)cols);
    qwglm_status rc = v->be->ops->weight_upload(v->be->ctx, t->data, src, rows, cols, dtype, out, e);
    return rc ? rc : keep(v, *out, e);
}

static qwglm_status load_linear(struct vl_vision *v, const struct st_set *w, const char *name, int out,
                                int in, enum qw_dtype dt, struct vl_linear *l, struct qw_err *e)
{
    char key[128];
    snprintf(key, sizeof key, "%s.weight", name);
    qwglm_status rc = upload(v, w, key, out, in, dt, &l->w, e);
    snprintf(key, sizeof key, "%s.bias", name);
    return rc ? rc : upload(v, w, key, 1, out, QW_DTYPE_F32, &l->b, e);
}

static qwglm_status load_norm(struct vl_vision *v, const struct st_set *w, const char *name, int n,
                              struct vl_norm *l, struct qw_err *e)
{
    char key[128];
    snprintf(key, sizeof key, "%s.weight", name);
    qwglm_status rc = upload(v, w, key, 1, n, QW_DTYPE_F32, &l->w, e);
    snprintf(key, sizeof key, "%s.bias", name);
    return rc ? rc : upload(v, w, key, 1, n, QW_DTYPE_F32, &l->b, e);
}

static qwglm_status load_merger(struct vl_vision *v, const struct st_set *w, const char *name,
                                bool post_shuffle, enum qw_dtype dt, struct vl_merger *m, struct qw_err *e)
{
    const int H = v->c.hidden, M4 = H * v->c.merge * v->c.merge;
    char key[96];
    qwglm_status rc;
    snprintf(key, sizeof key, "%s.norm", name);
    if ((rc = load_norm(v, w, key, post_shuffle ? M4 : H, &m->norm, e))) return rc;
    snprintf(key, sizeof key, "%s.linear_fc1", name);
    if ((rc = load_linear(v, w, key, M4, M4, dt, &m->fc1, e))) return rc;
    snprintf(key, sizeof key, "%s.linear_fc2", name);
    return load_linear(v, w, key, v->c.out_hidden, M4, dt, &m->fc2, e);
}

static qwglm_status load_pos_table(struct vl_vision *v, const struct st_set *w, struct qw_err *e)
{
    const int64_t n = (int64_t)v->c.pos_side * v->c.pos_side * v->c.hidden;
    if (!w) {
        if (!(v->pos_table = qw_malloc((size_t)n * sizeof(float))))
            return qw_fail(e, QWGLM_ERR_NOMEM, "vision: no memory for the position table");
        uint64_t state;
        float sd = random_init(v, PREFIX "pos_embed.weight", v->c.hidden, &state);
        qw_random_rows(QW_DTYPE_F32, v->pos_table, n / v->c.hidden, v->c.hidden, sd, &state);
        return QWGLM_OK;
    }
    const struct st_tensor *t = st_set_find(w, PREFIX "pos_embed.weight");
    if (!t) return qw_fail(e, QWGLM_ERR_FORMAT, "checkpoint: no tensor '" PREFIX "pos_embed.weight'");
    if (t->numel != n || (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16))
        return qw_fail(e, QWGLM_ERR_FORMAT,
                       "checkpoint: '" PREFIX "pos_embed.weight' has the wrong shape or dtype");
    if (!(v->pos_table = qw_malloc((size_t)n * sizeof(float))))
        return qw_fail(e, QWGLM_ERR_NOMEM, "vision: no memory for the position table");
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        if (t->dtype == ST_F32) {
            memcpy(&v->pos_table[i], src + 4 * i, 4);
            continue;
        }
        memcpy(&h, src + 2 * i, 2);
        v->pos_table[i] = t->dtype == ST_BF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
    return QWGLM_OK;
}

static qwglm_status load_all(const struct vl_vision_config *c, struct qw_backend *be, const struct st_set *w,
                             enum qw_dtype wdtype, uint64_t seed, struct vl_vision **out, struct qw_err *e)
{
    *out = NULL;
    struct vl_vision *v = qw_calloc(1, sizeof *v);
    if (!v) return qw_fail(e, QWGLM_ERR_NOMEM, "vision: no memory");
    v->c = *c;
    v->be = be;
    v->seed = seed;
    const int H = c->hidden, K = c->in_channels * c->temporal_patch * c->patch * c->patch;
    qwglm_status rc = QWGLM_OK;
    if (!(v->blocks = qw_calloc((size_t)c->depth, sizeof *v->blocks)))
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "vision: no memory");
    if (!rc) rc = load_linear(v, w, "patch_embed.proj", H, K, wdtype, &v->patch, e);
    if (!rc) rc = load_pos_table(v, w, e);
    for (int l = 0; l < c->depth && !rc; l++) {
        struct vl_block *b = &v->blocks[l];
        char key[96];
#define BLOCK(field, fn, ...)                                                                                \
    if (!rc) {                                                                                               \
        snprintf(key, sizeof key, "blocks.%d.%s", l, field);                                                 \
        rc = fn(v, w, key, __VA_ARGS__, e);                                                                  \
    }
        BLOCK("norm1", load_norm, H, &b->norm1)
        BLOCK("norm2", load_norm, H, &b->norm2)
        BLOCK("attn.qkv", load_linear, 3 * H, H, wdtype, &b->qkv)
        BLOCK("attn.proj", load_linear, H, H, wdtype, &b->proj)
        BLOCK("mlp.linear_fc1", load_linear, c->intermediate, H, wdtype, &b->fc1)
        BLOCK("mlp.linear_fc2", load_linear, H, c->intermediate, wdtype, &b->fc2)
#undef BLOCK
    }
    if (!rc) rc = load_merger(v, w, "merger", false, wdtype, &v->merger, e);
    for (int k = 0; k < c->n_deepstack && !rc; k++) {
        char key[64];
        snprintf(key, sizeof key, "deepstack_merger_list.%d", k);
        rc = load_merger(v, w, key, true, wdtype, &v->deepstack[k], e);
    }
    if (rc) {
        vl_vision_free(v);
        return rc;
    }
    *out = v;
    return QWGLM_OK;
}

qwglm_status vl_vision_load(const struct vl_vision_config *c, struct qw_backend *be, const struct st_set *w,
                            enum qw_dtype wdtype, struct vl_vision **out, struct qw_err *e)
{
    return load_all(c, be, w, wdtype, 0, out, e);
}

qwglm_status vl_vision_load_random(const struct vl_vision_config *c, struct qw_backend *be, enum qw_dtype wdtype,
                                   uint64_t seed, struct vl_vision **out, struct qw_err *e)
{
    return load_all(c, be, NULL, wdtype, seed, out, e);
}

void vl_vision_free(struct vl_vision *v)
{
    if (!v) return;
    for (int i = 0; i < v->n_owned; i++) v->be->ops->buf_free(v->be->ctx, v->owned[i].buf);
    qw_free(v->owned);
    qw_free(v->blocks);
    qw_free(v->pos_table);
    qw_free(v);
}

void vl_work_free(const struct vl_vision *v, struct vl_work *w)
{
    if (w->scratch.buf) v->be->ops->buf_free(v->be->ctx, w->scratch.buf);
    qw_free(w->host);
    memset(w, 0, sizeof *w);
}

int64_t vl_vision_tokens(const struct vl_vision *v, const struct vl_pixels *px)
{
    return px->n_patches / ((int64_t)v->c.merge * v->c.merge);
}

const struct vl_vision_config *vl_vision_get_config(const struct vl_vision *v)
{
    return &v->c;
}

enum qw_dtype vl_vision_weight_dtype(const struct vl_vision *v)
{
    return v->blocks[0].fc1.w.dtype;
}

/* ---- host tables ---- */

/* (py, px) of pixel_values row r: rows run over merge x merge blocks in raster order (see vl_preprocess.c).
 */
static void patch_coords(const struct vl_vision_config *c, int grid_w, int64_t r, int *py, int *px)
{
    const int M = c->merge, bw = grid_w / M;
    int ix = (int)(r % M), iy = (int)(r / M % M);
    int64_t blk = r / ((int64_t)M * M);
    *py = (int)(blk / bw) * M + iy;
    *px = (int)(blk % bw) * M + ix;
}

/* Bilinear taps with align_corners = True, in float32 exactly as transformers 5.17 computes them. */
static void interp_taps(int index, int n, int side, int tap[2], float wt[2])
{
    float src = (float)(index * (side - 1)) / (float)(n > 1 ? n - 1 : 1);
    float fl = floorf(src), fr = src - fl;
    int t0 = (int)fl, t1 = (int)fl + 1;
    tap[0] = t0 < 0 ? 0 : t0 > side - 1 ? side - 1 : t0;
    tap[1] = t1 < 0 ? 0 : t1 > side - 1 ? side - 1 : t1;
    wt[0] = fmaxf(0.0f, 1.0f - fabsf(fr));
    wt[1] = fmaxf(0.0f, 1.0f - fabsf(fr - 1.0f));
}

/* pos [N][hidden]: the learned grid resampled to grid_h x grid_w; cs [N][head_dim]: cos then sin of the 2D
 * rotary angles, the first head_dim / 4 frequencies on the patch row, the next on the column. */
static void build_tables(const struct vl_vision *v, const struct vl_pixels *px, float *pos, float *cs)
{
    const struct vl_vision_config *c = &v->c;
    const int H = c->hidden, hd = c->head_dim, half = hd / 2, m = hd / 4, side = c->pos_side;
    float inv_freq[256];
    for (int j = 0; j < m; j++) inv_freq[j] = 1.0f / powf(c->rope_theta, (float)(2 * j) / (float)half);
    for (int64_t r = 0; r < px->n_patches; r++) {
        int py, pxx;
        patch_coords(c, px->grid_w, r, &py, &pxx);
        int th[2], tw[2];
        float wh[2], ww[2];
        interp_taps(py, px->grid_h, side, th, wh);
        interp_taps(pxx, px->grid_w, side, tw, ww);
        const float *e[4] = {v->pos_table + ((size_t)th[0] * side + tw[0]) * H,
                             v->pos_table + ((size_t)th[0] * side + tw[1]) * H,
                             v->pos_table + ((size_t)th[1] * side + tw[0]) * H,
                             v->pos_table + ((size_t)th[1] * side + tw[1]) * H};
        const float w4[4] = {wh[0] * ww[0], wh[0] * ww[1], wh[1] * ww[0], wh[1] * ww[1]};
        float *o = pos + r * H;
        for (int d = 0; d < H; d++)
            o[d] = ((e[0][d] * w4[0] + e[1][d] * w4[1]) + e[2][d] * w4[2]) + e[3][d] * w4[3];
        float *co = cs + r * hd;
        for (int j = 0; j < half; j++) {
            float a = j < m ? (float)py * inv_freq[j] : (float)pxx * inv_freq[j - m];
            co[j] = cosf(a);
            co[half + j] = sinf(a);
        }
    }
}

/* ---- forward ---- */

static size_t scratch_need(const struct vl_vision_config *c, int64_t n)
{
    const int64_t H = c->hidden, nm = n / (c->merge * c->merge), M4 = H * c->merge * c->merge;
    const int64_t K = (int64_t)c->in_channels * c->temporal_patch * c->patch * c->patch;
    return qw_scratch_bytes(QW_DTYPE_F32, n, K) + 5 * qw_scratch_bytes(QW_DTYPE_F32, n, H) +
           qw_scratch_bytes(QW_DTYPE_F32, n, 3 * H) + qw_scratch_bytes(QW_DTYPE_F32, n, c->intermediate) +
           qw_scratch_bytes(QW_DTYPE_F32, n, c->head_dim) + 2 * qw_scratch_bytes(QW_DTYPE_F32, nm, M4) +
           (size_t)(1 + c->n_deepstack) * qw_scratch_bytes(QW_DTYPE_F32, nm, c->out_hidden) + 4096;
}

static qwglm_status work_reserve(const struct vl_vision *v, struct vl_work *w, int64_t n, struct qw_err *e)
{
    size_t need = scratch_need(&v->c, n);
    if (!w->scratch.buf || w->scratch.cap < need) {
        if (w->scratch.buf) v->be->ops->buf_free(v->be->ctx, w->scratch.buf);
        memset(&w->scratch, 0, sizeof w->scratch);
        qwglm_status rc = v->be->ops->buf_alloc(v->be->ctx, need, &w->scratch.buf, e);
        if (rc) return rc;
        w->scratch.cap = need;
    }
    size_t host = (size_t)n * (size_t)(v->c.hidden + v->c.head_dim);
    if (host > w->host_len) {
        qw_free(w->host);
        w->host_len = 0;
        if (!(w->host = qw_malloc(host * sizeof(float))))
            return qw_fail(e, QWGLM_ERR_NOMEM, "vision: no memory for %lld patches", (long long)n);
        w->host_len = host;
    }
    return QWGLM_OK;
}

/* y [n/4, out] = merger(x [n, hidden]); t1, t2 [n/4, 4 hidden] are work space. */
static void merge(const struct vl_vision *v, const struct vl_merger *m, bool post_shuffle, struct qw_tensor x,
                  struct qw_tensor xn, struct qw_tensor t1, struct qw_tensor t2, struct qw_tensor y)
{
    struct qw_backend *be = v->be;
    const float eps = v->c.eps;
    struct qw_tensor in4 = t1; /* 2x2 blocks of consecutive rows side by side: the same bytes, reshaped */
    if (post_shuffle) {
        qw_layernorm(be, t1, qw_reshape(x, t1.rows, t1.cols), m->norm.w, m->norm.b, eps);
    } else {
        qw_layernorm(be, xn, x, m->norm.w, m->norm.b, eps);
        in4 = qw_reshape(xn, t1.rows, t1.cols);
    }
    qw_linear(be, t2, in4, m->fc1.w, m->fc1.b);
    qw_unary(be, t2, t2, QW_UNARY_GELU_ERF);
    qw_linear(be, y, t2, m->fc2.w, m->fc2.b);
}

/* With w->times: waits for the ops so far and adds the time since *t0 to *acc. */
static qwglm_status lap(const struct vl_vision *v, struct vl_work *w, double *acc, int64_t *t0, struct qw_err *e)
{
    if (!w->times) return QWGLM_OK;
    qwglm_status rc = qw_sync(v->be, e);
    int64_t t = qw_time_us();
    *acc += (double)(t - *t0) * 1e-6;
    *t0 = t;
    return rc;
}

qwglm_status vl_vision_encode(const struct vl_vision *v, struct vl_work *w, const struct vl_pixels *px,
                              const struct qw_tensor *out, struct qw_err *e)
{
    int64_t t0 = qw_time_us();
    struct vl_times dummy, *tm = w->times ? w->times : &dummy;
    const struct vl_vision_config *c = &v->c;
    const int64_t n = px->n_patches, H = c->hidden, M2 = (int64_t)c->merge * c->merge, nm = n / M2;
    const int64_t K = (int64_t)c->in_channels * c->temporal_patch * c->patch * c->patch;
    if (px->grid_t != 1 || px->patch_dim != K || n <= 0 || n > INT32_MAX || px->grid_h % c->merge ||
        px->grid_w % c->merge || (int64_t)px->grid_h * px->grid_w != n)
        return qw_fail(e, QWGLM_ERR_ARG,
                       "vision: pixel_values of %lld x %d (grid %d x %d x %d) do not fit the encoder",
                       (long long)n, px->patch_dim, px->grid_t, px->grid_h, px->grid_w);
    for (int k = 0; k <= c->n_deepstack; k++)
        if (qw_tensor_present(out[k]) && (out[k].rows != nm || out[k].cols != c->out_hidden))
            return qw_fail(e, QWGLM_ERR_ARG, "vision: output %d is %lld x %lld, expected %lld x %d", k,
                           (long long)out[k].rows, (long long)out[k].cols, (long long)nm, c->out_hidden);
    qwglm_status rc = work_reserve(v, w, n, e);
    if (rc) return rc;
    float *pos_host = w->host, *cs_host = w->host + (size_t)n * H;
    build_tables(v, px, pos_host, cs_host);

    struct qw_backend *be = v->be;
    struct qw_scratch *s = &w->scratch;
    qw_scratch_reset(s);
    s->overflow = false;
    struct qw_tensor in = qw_scratch_tensor(s, QW_DTYPE_F32, n, K);
    struct qw_tensor x = qw_scratch_tensor(s, QW_DTYPE_F32, n, H);
    struct qw_tensor xn = qw_scratch_tensor(s, QW_DTYPE_F32, n, H);
    struct qw_tensor pos = qw_scratch_tensor(s, QW_DTYPE_F32, n, H);
    struct qw_tensor qkv = qw_scratch_tensor(s, QW_DTYPE_F32, n, 3 * H);
    struct qw_tensor att = qw_scratch_tensor(s, QW_DTYPE_F32, n, H);
    struct qw_tensor tmp = qw_scratch_tensor(s, QW_DTYPE_F32, n, H);
    struct qw_tensor mlp = qw_scratch_tensor(s, QW_DTYPE_F32, n, c->intermediate);
    struct qw_tensor cs = qw_scratch_tensor(s, QW_DTYPE_F32, n, c->head_dim);
    struct qw_tensor t1 = qw_scratch_tensor(s, QW_DTYPE_F32, nm, H * M2);
    struct qw_tensor t2 = qw_scratch_tensor(s, QW_DTYPE_F32, nm, H * M2);
    struct qw_tensor res = qw_scratch_tensor(s, QW_DTYPE_F32, nm, c->out_hidden);
    if (s->overflow) return qw_fail(e, QWGLM_ERR_NOMEM, "vision: scratch sized wrong");
    if ((rc = qw_tensor_write(be, in, px->values, e)) || (rc = qw_tensor_write(be, pos, pos_host, e)) ||
        (rc = qw_tensor_write(be, cs, cs_host, e)))
        return rc;

    qw_linear(be, x, in, v->patch.w, v->patch.b);
    qw_add(be, x, x, pos);
    if ((rc = lap(v, w, &tm->embed_s, &t0, e))) return rc;
    const struct qw_attn_params ap = {.n_heads = c->n_heads,
                                      .n_kv_heads = c->n_heads,
                                      .head_dim = c->head_dim,
                                      .n_kv = (int)n,
                                      .q_pos0 = 0,
                                      .causal = false,
                                      .scale = 1.0f / sqrtf((float)c->head_dim)};
    for (int l = 0; l < c->depth; l++) {
        const struct vl_block *b = &v->blocks[l];
        qw_layernorm(be, xn, x, b->norm1.w, b->norm1.b, c->eps);
        qw_linear(be, qkv, xn, b->qkv.w, b->qkv.b);
        struct qw_tensor q = qw_cols(qkv, 0, H), k = qw_cols(qkv, H, H), val = qw_cols(qkv, 2 * H, H);
        qw_rope(be, q, cs, c->n_heads, c->head_dim);
        qw_rope(be, k, cs, c->n_heads, c->head_dim);
        qw_attention(be, att, q, k, val, &ap);
        qw_linear(be, tmp, att, b->proj.w, b->proj.b);
        qw_add(be, x, x, tmp);
        qw_layernorm(be, xn, x, b->norm2.w, b->norm2.b, c->eps);
        qw_linear(be, mlp, xn, b->fc1.w, b->fc1.b);
        qw_unary(be, mlp, mlp, QW_UNARY_GELU_TANH);
        qw_linear(be, tmp, mlp, b->fc2.w, b->fc2.b);
        qw_add(be, x, x, tmp);
        if ((rc = lap(v, w, &tm->blocks_s, &t0, e))) return rc;
        for (int d = 0; d < c->n_deepstack; d++)
            if (c->deepstack_layers[d] == l && qw_tensor_present(out[1 + d])) {
                merge(v, &v->deepstack[d], true, x, xn, t1, t2, res);
                qw_copy(be, out[1 + d], res);
                if ((rc = lap(v, w, &tm->mergers_s, &t0, e))) return rc;
            }
    }
    if (qw_tensor_present(out[0])) {
        merge(v, &v->merger, false, x, xn, t1, t2, res);
        qw_copy(be, out[0], res);
    }
    return lap(v, w, &tm->mergers_s, &t0, e);
}
