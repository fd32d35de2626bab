/* Qwen-VL image preprocessing, matching transformers 5.17's Qwen2VLImageProcessor (torchvision backend). */
#include "vl_preprocess.h"

#include <math.h>
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/json.h"
#include "resize.h"

#define MAX_ASPECT 200

struct vl_preproc vl_preproc_default(void)
{
    return (struct vl_preproc){
        .patch = 16,
        .temporal_patch = 2,
        .merge = 2,
        .min_pixels = 65536,
        .max_pixels = 16777216,
        .mean = {0.5f, 0.5f, 0.5f},
        .std = {0.5f, 0.5f, 0.5f},
        .rescale = 1.0 / 255.0,
    };
}

static qwglm_status read_int(const struct json_value *obj, const char *key, int64_t lo, int64_t hi,
                             int64_t *out, const char *name, struct qw_err *e)
{
    const struct json_value *v = json_get(obj, key);
    if (json_is_null(v)) return QWGLM_OK;
    int64_t x;
    if (!json_int(v, &x) || x < lo || x > hi)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: '%s' must be an integer in [%lld, %lld]", name, key,
                       (long long)lo, (long long)hi);
    *out = x;
    return QWGLM_OK;
}

static qwglm_status read_triple(const struct json_value *obj, const char *key, float out[3], const char *name,
                                struct qw_err *e)
{
    const struct json_value *v = json_get(obj, key);
    if (json_is_null(v)) return QWGLM_OK;
    double d[3];
    if (v->type != JSON_ARRAY || v->n != 3 || !json_number(&v->u.items[0], &d[0]) ||
        !json_number(&v->u.items[1], &d[1]) || !json_number(&v->u.items[2], &d[2]))
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: '%s' must be an array of 3 numbers", name, key);
    for (int i = 0; i < 3; i++) out[i] = (float)d[i];
    return QWGLM_OK;
}

qwglm_status vl_preproc_parse(struct vl_preproc *p, const char *text, size_t n, const char *name,
                              struct qw_err *e)
{
    struct json_doc doc;
    qwglm_status rc = json_parse(text, n, &doc, e);
    if (rc) return rc;
    const struct json_value *r = &doc.root, *size = json_get(r, "size");
    int64_t patch = p->patch, tp = p->temporal_patch, merge = p->merge;
    double rescale = p->rescale;
    const int64_t max_px = (int64_t)1 << 40;
    if (r->type != JSON_OBJECT) rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: not a JSON object", name);
    if (!rc) rc = read_int(r, "patch_size", 1, 64, &patch, name, e);
    if (!rc) rc = read_int(r, "temporal_patch_size", 1, 8, &tp, name, e);
    if (!rc) rc = read_int(r, "merge_size", 1, 8, &merge, name, e);
    /* older files name the budget min_pixels / max_pixels; Qwen3-VL's use size.{shortest,longest}_edge */
    if (!rc) rc = read_int(r, "min_pixels", 1, max_px, &p->min_pixels, name, e);
    if (!rc) rc = read_int(r, "max_pixels", 1, max_px, &p->max_pixels, name, e);
    if (!rc && size) rc = read_int(size, "shortest_edge", 1, max_px, &p->min_pixels, name, e);
    if (!rc && size) rc = read_int(size, "longest_edge", 1, max_px, &p->max_pixels, name, e);
    if (!rc) rc = read_triple(r, "image_mean", p->mean, name, e);
    if (!rc) rc = read_triple(r, "image_std", p->std, name, e);
    const struct json_value *rf = json_get(r, "rescale_factor");
    if (!rc && !json_is_null(rf) && (!json_number(rf, &rescale) || !(rescale > 0)))
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad rescale_factor", name);
    for (int i = 0; !rc && i < 3; i++)
        if (!(p->std[i] != 0.0f)) rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: image_std of 0", name);
    if (!rc && p->min_pixels > p->max_pixels)
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: min pixels %lld above max pixels %lld", name,
                     (long long)p->min_pixels, (long long)p->max_pixels);
    if (!rc) {
        p->patch = (int)patch;
        p->temporal_patch = (int)tp;
        p->merge = (int)merge;
        p->rescale = rescale;
    }
    json_doc_free(&doc);
    return rc;
}

qwglm_status vl_preproc_load(struct vl_preproc *p, const char *dir, struct qw_err *e)
{
    char path[4096];
    if (!qw_path_join(path, sizeof path, dir, "preprocessor_config.json"))
        return qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", dir);
    if (!qw_file_exists(path)) return QWGLM_OK;
    char *text;
    size_t n;
    qwglm_status rc = qw_read_file(path, 1 << 20, &text, &n, e);
    if (rc) return rc;
    rc = vl_preproc_parse(p, text, n, path, e);
    qw_free(text);
    return rc;
}

void vl_preproc_set_tokens(struct vl_preproc *p, int64_t min_tokens, int64_t max_tokens)
{
    const int64_t unit = (int64_t)p->patch * p->merge * p->patch * p->merge;
    if (min_tokens > 0) p->min_pixels = min_tokens * unit;
    if (max_tokens > 0) p->max_pixels = max_tokens * unit;
    if (p->min_pixels > p->max_pixels) p->min_pixels = p->max_pixels;
}

/* Python's round() on a double: halves go to the even neighbour (nearbyint in the default rounding mode). */
static double round_half_even(double x)
{
    return nearbyint(x);
}

qwglm_status vl_smart_resize(const struct vl_preproc *p, int h, int w, int *out_h, int *out_w,
                             struct qw_err *e)
{
    if (h <= 0 || w <= 0) return qw_fail(e, QWGLM_ERR_ARG, "image of %d x %d pixels", w, h);
    const double factor = (double)p->patch * p->merge;
    int lo = h < w ? h : w, hi = h < w ? w : h;
    if ((double)hi / lo > MAX_ASPECT)
        return qw_fail(e, QWGLM_ERR_ARG, "image of %d x %d pixels: aspect ratio above %d", w, h, MAX_ASPECT);
    double hb = round_half_even(h / factor) * factor, wb = round_half_even(w / factor) * factor;
    const double area = (double)h * (double)w;
    if (hb * wb > (double)p->max_pixels) {
        double beta = sqrt(area / (double)p->max_pixels);
        hb = fmax(factor, floor(h / beta / factor) * factor);
        wb = fmax(factor, floor(w / beta / factor) * factor);
    } else if (hb * wb < (double)p->min_pixels) {
        double beta = sqrt((double)p->min_pixels / area);
        hb = ceil(h * beta / factor) * factor;
        wb = ceil(w * beta / factor) * factor;
    }
    /* a budget below one merged patch would give 0; the reference fails there, we keep one patch */
    if (hb < factor) hb = factor;
    if (wb < factor) wb = factor;
    /* a budget raised past any real model's (16384 tokens) must not turn one image into gigabytes */
    if (hb * wb > (double)VL_MAX_RESIZED_PIXELS)
        return qw_fail(e, QWGLM_ERR_ARG, "image of %d x %d pixels: resizing to %.0f x %.0f exceeds %d pixels",
                       w, h, wb, hb, VL_MAX_RESIZED_PIXELS);
    *out_h = (int)hb;
    *out_w = (int)wb;
    return QWGLM_OK;
}

void vl_pixels_free(struct vl_pixels *px)
{
    if (!px) return;
    qw_free(px->values);
    memset(px, 0, sizeof *px);
}

/* Row r = ((by * bw + bx) * merge + iy) * merge + ix holds the patch at patch row by * merge + iy, column
 * bx * merge + ix, so each merge x merge block is consecutive; column ((c * T + t) * P + yy) * P + xx holds
 * channel c, pixel (yy, xx) of the patch, repeated for every t (a still image is duplicated in time). */
static void patchify(const struct vl_preproc *p, const uint8_t *rgb, int wn, const float m[3],
                     const float s[3], struct vl_pixels *out)
{
    const int P = p->patch, T = p->temporal_patch, M = p->merge;
    const int gw = wn / P, bw = gw / M;
    for (int64_t r = 0; r < out->n_patches; r++) {
        int ix = (int)(r % M), iy = (int)(r / M % M);
        int64_t blk = r / ((int64_t)M * M);
        int py = (int)(blk / bw) * M + iy, px = (int)(blk % bw) * M + ix;
        float *row = out->values + r * out->patch_dim;
        for (int c = 0; c < 3; c++)
            for (int yy = 0; yy < P; yy++) {
                const uint8_t *src = rgb + ((size_t)(py * P + yy) * wn + (size_t)px * P) * 3 + c;
                float *dst = row + ((size_t)c * T * P + yy) * P;
                for (int xx = 0; xx < P; xx++) dst[xx] = ((float)src[3 * xx] - m[c]) / s[c];
                for (int t = 1; t < T; t++) memcpy(dst + (size_t)t * P * P, dst, (size_t)P * sizeof *dst);
            }
    }
}

qwglm_status vl_preprocess(const struct vl_preproc *p, const struct qw_image *im, struct vl_pixels *out,
                           struct qw_err *e)
{
    memset(out, 0, sizeof *out);
    int hn, wn;
    qwglm_status rc = vl_smart_resize(p, im->height, im->width, &hn, &wn, e);
    if (rc) return rc;
    const int P = p->patch;
    out->grid_t = 1;
    out->grid_h = hn / P;
    out->grid_w = wn / P;
    out->n_patches = (int64_t)out->grid_h * out->grid_w;
    out->patch_dim = 3 * p->temporal_patch * P * P;
    size_t n_px = (size_t)hn * wn, n_val;
    if (!size_mul_ok((size_t)out->n_patches, (size_t)out->patch_dim, &n_val) || n_val > ((size_t)1 << 34))
        return qw_fail(e, QWGLM_ERR_ARG, "image resized to %d x %d: too many pixel values", wn, hn);
    uint8_t *rgb = qw_malloc(n_px * 3);
    out->values = qw_malloc(n_val * sizeof *out->values);
    if (!rgb || !out->values) {
        qw_free(rgb);
        vl_pixels_free(out);
        return qw_fail(e, QWGLM_ERR_NOMEM, "image resized to %d x %d: no memory", wn, hn);
    }
    rc = qw_resize_bicubic_aa(im->rgb, im->width, im->height, 3, rgb, wn, hn, e);
    if (!rc) {
        /* rescale folded into normalize, in float32 as transformers does: (x - mean / f) / (std / f) */
        const float inv = (float)(1.0 / p->rescale);
        float m[3], s[3];
        for (int c = 0; c < 3; c++) {
            m[c] = p->mean[c] * inv;
            s[c] = p->std[c] * inv;
        }
        patchify(p, rgb, wn, m, s, out);
    }
    qw_free(rgb);
    if (rc) vl_pixels_free(out);
    return rc;
}
