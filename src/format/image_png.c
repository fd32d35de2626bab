/* PNG through libpng. libpng reports errors by longjmp, so everything the error path frees lives in a struct
 * reached through a pointer that does not change after setjmp. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "../base/mem.h"
#include "image_impl.h"

struct png_reader {
    const struct image_src *src;
    size_t pos;
    char msg[160];
    uint8_t *buf16; /* 16-bit grayscale rows, converted by hand */
    png_bytep *rows;
};

static void on_error(png_structp png, png_const_charp msg)
{
    struct png_reader *r = png_get_error_ptr(png);
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_read(png_structp png, png_bytep out, size_t n)
{
    struct png_reader *r = png_get_io_ptr(png);
    if (n > r->src->n - r->pos) png_error(png, "file is truncated");
    memcpy(out, r->src->data + r->pos, n);
    r->pos += n;
}

/* After the pixels: reads the chunks up to IEND for a late eXIf; a damaged tail is ignored, as PIL does. */
static int read_tail_orientation(png_structp png, png_infop info)
{
    if (setjmp(png_jmpbuf(png))) return 1;
    png_read_end(png, info);
    png_uint_32 n = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(png, info, &n, &exif) && exif) return qw_exif_orientation(exif, n);
    return 1;
}

qwglm_status image_decode_png(const struct image_src *s, struct qw_image *out, int *orientation,
                              struct qw_err *e)
{
    struct png_reader *r = qw_calloc(1, sizeof *r);
    if (!r) return qw_fail(e, QWGLM_ERR_NOMEM, "%s: no memory", s->name);
    r->src = s;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    qwglm_status rc = QWGLM_OK;
    if (!info) {
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "%s: no memory for the PNG reader", s->name);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad PNG: %s", s->name, r->msg);
        goto done;
    }
    png_set_read_fn(png, r, on_read);
    png_set_user_limits(png, (png_uint_32)s->lim->max_side, (png_uint_32)s->lim->max_side);
    png_set_chunk_malloc_max(png, 16u << 20);
    png_set_chunk_cache_max(png, 1000);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    int gray16 = depth == 16 && color == PNG_COLOR_TYPE_GRAY;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png); /* tRNS ignored: no alpha channel */
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !gray16) png_set_strip_16(png); /* the high byte */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    if ((color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) && !gray16)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    if ((rc = image_alloc(out, w, h, s, e))) goto done;
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (gray16 ? (size_t)w * 2 : (size_t)w * 3)) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: unexpected PNG row size %zu", s->name, rowbytes);
        goto done;
    }
    r->rows = qw_malloc((size_t)h * sizeof *r->rows);
    if (gray16) r->buf16 = qw_malloc((size_t)h * rowbytes);
    if (!r->rows || (gray16 && !r->buf16)) {
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "%s: no memory for PNG rows", s->name);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++)
        r->rows[y] = gray16 ? r->buf16 + (size_t)y * rowbytes : out->rgb + (size_t)y * rowbytes;
    png_read_image(png, r->rows);
    if (gray16) {
        size_t np = (size_t)w * h;
        for (size_t i = 0; i < np; i++) {
            unsigned v = (unsigned)r->buf16[2 * i] << 8 | r->buf16[2 * i + 1];
            uint8_t c = v > 255 ? 255 : (uint8_t)v; /* PIL's I -> RGB conversion clips */
            out->rgb[3 * i] = out->rgb[3 * i + 1] = out->rgb[3 * i + 2] = c;
        }
    }
    *orientation = read_tail_orientation(png, info);
done:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    qw_free(r->rows);
    qw_free(r->buf16);
    qw_free(r);
    return rc;
}
