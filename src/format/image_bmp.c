/* BMP (Windows and OS/2 headers), written here: no Debian library decodes it on its own. Uncompressed
 * 1/4/8-bit palettes and 16/24/32-bit pixels with or without bit fields; the RLE compressions are refused
 * with a clear error. Samples of n bits scale to 8 as PIL's unpackers do (v * 255 / (2^n - 1)). */
#include <string.h>

#include "image_impl.h"

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct channel {
    uint32_t mask;
    int shift;
    uint32_t max;
};

static int make_channel(uint32_t mask, struct channel *c)
{
    c->mask = mask;
    c->shift = 0;
    c->max = 0;
    if (!mask) return 1;
    while (!((mask >> c->shift) & 1)) c->shift++;
    c->max = mask >> c->shift;
    return (c->max & (c->max + 1)) == 0; /* contiguous bits */
}

static uint8_t channel_value(const struct channel *c, uint32_t px)
{
    if (!c->max) return 0;
    uint32_t v = (px & c->mask) >> c->shift;
    return (uint8_t)((uint64_t)v * 255 / c->max);
}

qwglm_status image_decode_bmp(const struct image_src *s, struct qw_image *out, int *orientation,
                              struct qw_err *e)
{
    const uint8_t *d = s->data;
    size_t n = s->n;
    *orientation = 1;
    if (n < 26) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: BMP header is truncated", s->name);
    uint32_t off = le32(d + 10), hsize = le32(d + 14);
    int64_t w, h;
    uint32_t bpp, comp = 0, n_colors = 0;
    int core = hsize == 12;
    if (core) {
        w = le16(d + 18);
        h = (int16_t)le16(d + 20);
        bpp = le16(d + 24);
    } else {
        if (hsize < 40 || hsize > 1024 || 14 + (size_t)hsize > n)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: BMP info header of %u bytes", s->name, hsize);
        w = (int32_t)le32(d + 18);
        h = (int32_t)le32(d + 22);
        bpp = le16(d + 28);
        comp = le32(d + 30);
        n_colors = le32(d + 46);
    }
    int top_down = h < 0;
    if (top_down) h = -h;
    if (comp == 1 || comp == 2)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: RLE-compressed BMP is not supported", s->name);
    if (comp != 0 && comp != 3 && comp != 6)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: unsupported BMP compression %u", s->name, comp);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: unsupported BMP depth of %u bits", s->name, bpp);
    qwglm_status rc = image_check_size(w, h, s, e);
    if (rc) return rc;

    /* palette, or the channel masks */
    const uint8_t *pal = NULL;
    uint32_t pal_n = 0, entry = core ? 3 : 4;
    struct channel ch[3];
    if (bpp <= 8) {
        pal_n = n_colors ? n_colors : 1u << bpp;
        if (pal_n > 256) pal_n = 256;
        size_t at = 14 + (size_t)hsize;
        if (at + (size_t)pal_n * entry > n)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: BMP palette is truncated", s->name);
        pal = d + at;
    } else {
        uint32_t m[3];
        if (comp == 3 || comp == 6) {
            size_t at = hsize >= 52 ? 14 + 40 : 14 + (size_t)hsize; /* masks follow a 40-byte header */
            if (at + 12 > n) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: BMP bit fields are truncated", s->name);
            for (int i = 0; i < 3; i++) m[i] = le32(d + at + 4 * i);
        } else if (bpp == 16) {
            m[0] = 0x7c00;
            m[1] = 0x03e0;
            m[2] = 0x001f;
        } else {
            m[0] = 0xff0000;
            m[1] = 0xff00;
            m[2] = 0xff;
        }
        for (int i = 0; i < 3; i++)
            if (!make_channel(m[i], &ch[i]) || (bpp < 32 && m[i] >> bpp))
                return qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad BMP bit field 0x%x", s->name, m[i]);
    }

    size_t stride = (((size_t)bpp * (size_t)w + 31) / 32) * 4;
    if (off > n || stride * (size_t)h > n - off)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: BMP pixel data is truncated", s->name);
    if ((rc = image_alloc(out, w, h, s, e))) return rc;
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *row = d + off + stride * (size_t)(top_down ? y : h - 1 - y);
        uint8_t *dst = out->rgb + (size_t)y * (size_t)w * 3;
        for (int64_t x = 0; x < w; x++, dst += 3) {
            if (bpp <= 8) {
                size_t bit = (size_t)x * bpp;
                uint32_t idx = (row[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
                if (idx < pal_n) {
                    const uint8_t *c = pal + (size_t)idx * entry;
                    dst[0] = c[2];
                    dst[1] = c[1];
                    dst[2] = c[0];
                } /* else stays black */
                continue;
            }
            uint32_t px;
            const uint8_t *p = row + (size_t)x * (bpp / 8);
            if (bpp == 16)
                px = le16(p);
            else if (bpp == 24)
                px = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
            else
                px = le32(p);
            for (int i = 0; i < 3; i++) dst[i] = channel_value(&ch[i], px);
        }
    }
    return QWGLM_OK;
}
