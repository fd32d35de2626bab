/* PyTorch's uint8 antialiased bicubic resize (aten UpSampleKernel, uint8 AVX path), reproduced bit for bit.
 *
 * Per axis: scale = in / out (double); with antialiasing a downscale widens the filter to support = 2 * scale
 * taps each side and evaluates the Keys cubic (a = -0.5) at (j - center) / scale. Each output sample's
 * weights are normalised to sum 1 in double, then rounded to int16 with a precision (fraction bits) chosen
 * once per axis from the largest weight, so that the largest weight still fits an int16. A pass computes
 * clamp((sum w_i * x_i + 2^(p-1)) >> p, 0, 255) in 32-bit integers: exact, so SIMD or scalar give one answer.
 * The horizontal pass runs first and its result is rounded to uint8 before the vertical pass.
 */
#include "resize.h"

#include <math.h>
#include <string.h>

#include "base/mem.h"

struct axis_weights {
    int *first; /* [out] first input index */
    int *count; /* [out] taps used */
    int16_t *w; /* [out][taps] */
    int taps;   /* max taps per output */
    int precision;
};

static double keys_cubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2.0) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0.0;
}

static void axis_free(struct axis_weights *a)
{
    qw_free(a->first);
    qw_free(a->count);
    qw_free(a->w);
}

static qwglm_status axis_init(struct axis_weights *a, int in, int out, struct qw_err *e)
{
    memset(a, 0, sizeof *a);
    const double scale = (double)in / out;
    const double support = scale >= 1.0 ? 2.0 * scale : 2.0;
    const double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    a->taps = (int)ceil(support) * 2 + 1;
    double *wd = qw_malloc((size_t)out * a->taps * sizeof *wd);
    a->first = qw_malloc((size_t)out * sizeof *a->first);
    a->count = qw_malloc((size_t)out * sizeof *a->count);
    a->w = qw_calloc((size_t)out * a->taps, sizeof *a->w);
    if (!wd || !a->first || !a->count || !a->w) {
        qw_free(wd);
        axis_free(a);
        return qw_fail(e, QWGLM_ERR_NOMEM, "resize: no memory for %d x %d weights", out, a->taps);
    }
    double wmax = 0.0;
    for (int i = 0; i < out; i++) {
        double center = scale * (i + 0.5);
        int64_t lo = (int64_t)(center - support + 0.5), hi = (int64_t)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        int64_t n = hi - lo;
        if (n < 0) n = 0;
        if (n > a->taps) n = a->taps;
        double *w = wd + (size_t)i * a->taps, total = 0.0;
        for (int j = 0; j < n; j++) {
            w[j] = keys_cubic((j + lo - center + 0.5) * inv);
            total += w[j];
        }
        for (int j = 0; j < n; j++) {
            if (total != 0.0) w[j] /= total;
            if (w[j] > wmax) wmax = w[j];
        }
        a->first[i] = (int)lo;
        a->count[i] = (int)n;
    }
    int p = 0;
    for (p = 0; p < 22; p++)
        if ((int)(0.5 + wmax * (1 << (p + 1))) >= (1 << 15)) break;
    a->precision = p;
    for (int i = 0; i < out; i++)
        for (int j = 0; j < a->count[i]; j++) {
            double v = wd[(size_t)i * a->taps + j] * (1 << p);
            a->w[(size_t)i * a->taps + j] = (int16_t)(v < 0 ? (int)(-0.5 + v) : (int)(0.5 + v));
        }
    qw_free(wd);
    return QWGLM_OK;
}

static inline uint8_t clip_shift(int32_t s, int p)
{
    s >>= p; /* arithmetic: floor, as _mm_srai_epi32 */
    return (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
}

/* dst[y][x] from src[y][first[x] ..] for rows 0..h-1 */
static void pass_horizontal(const uint8_t *src, int w, int h, int ch, uint8_t *dst, int ow,
                            const struct axis_weights *a)
{
    const int32_t round = a->precision ? 1 << (a->precision - 1) : 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *in = src + (size_t)y * w * ch;
        uint8_t *o = dst + (size_t)y * ow * ch;
        for (int x = 0; x < ow; x++) {
            const int16_t *k = a->w + (size_t)x * a->taps;
            const uint8_t *p = in + (size_t)a->first[x] * ch;
            for (int c = 0; c < ch; c++) {
                int32_t s = round;
                for (int j = 0; j < a->count[x]; j++) s += k[j] * p[j * ch + c];
                o[x * ch + c] = clip_shift(s, a->precision);
            }
        }
    }
}

static void pass_vertical(const uint8_t *src, int w, int ch, uint8_t *dst, int oh,
                          const struct axis_weights *a)
{
    const int32_t round = a->precision ? 1 << (a->precision - 1) : 0;
    const size_t row = (size_t)w * ch;
    for (int y = 0; y < oh; y++) {
        const int16_t *k = a->w + (size_t)y * a->taps;
        const uint8_t *in = src + (size_t)a->first[y] * row;
        uint8_t *o = dst + (size_t)y * row;
        for (size_t i = 0; i < row; i++) {
            int32_t s = round;
            for (int j = 0; j < a->count[y]; j++) s += k[j] * in[(size_t)j * row + i];
            o[i] = clip_shift(s, a->precision);
        }
    }
}

qwglm_status qw_resize_bicubic_aa(const uint8_t *src, int w, int h, int channels, uint8_t *dst, int ow,
                                  int oh, struct qw_err *e)
{
    if (w <= 0 || h <= 0 || ow <= 0 || oh <= 0 || channels <= 0)
        return qw_fail(e, QWGLM_ERR_ARG, "resize: %dx%d -> %dx%d", w, h, ow, oh);
    const size_t ch = (size_t)channels;
    if (w == ow && h == oh) {
        memcpy(dst, src, (size_t)w * h * ch);
        return QWGLM_OK;
    }
    struct axis_weights ax = {0}, ay = {0};
    uint8_t *tmp = NULL;
    qwglm_status rc = QWGLM_OK;
    if (w != ow && (rc = axis_init(&ax, w, ow, e))) goto done;
    if (h != oh && (rc = axis_init(&ay, h, oh, e))) goto done;
    if (w == ow) {
        pass_vertical(src, w, channels, dst, oh, &ay);
    } else if (h == oh) {
        pass_horizontal(src, w, h, channels, dst, ow, &ax);
    } else {
        if (!(tmp = qw_malloc((size_t)ow * h * ch))) {
            rc = qw_fail(e, QWGLM_ERR_NOMEM, "resize: no memory for %dx%d pixels", ow, h);
            goto done;
        }
        pass_horizontal(src, w, h, channels, tmp, ow, &ax);
        pass_vertical(tmp, ow, channels, dst, oh, &ay);
    }
done:
    qw_free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    return rc;
}
