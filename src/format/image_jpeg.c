/* JPEG through libjpeg(-turbo), with the library defaults PIL uses (islow IDCT, fancy upsampling), so pixels
 * match PIL's bit for bit when both link the same library. Errors come back by longjmp. */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "../base/mem.h"
#include "image_impl.h"

#define MAX_SCANS 1000 /* a progressive file with thousands of tiny scans is a CPU bomb */

struct jpeg_reader {
    struct jpeg_error_mgr pub;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    uint8_t *row;
};

static void on_error_exit(j_common_ptr c)
{
    struct jpeg_reader *r = (struct jpeg_reader *)c->err;
    c->err->format_message(c, r->msg);
    longjmp(r->jump, 1);
}

/* Warnings are ignored (libjpeg recovers from corrupt data) except a premature end of the data, which PIL
 * reports as a truncated image. */
static void on_emit(j_common_ptr c, int level)
{
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
        struct jpeg_reader *r = (struct jpeg_reader *)c->err;
        snprintf(r->msg, sizeof r->msg, "file is truncated");
        longjmp(r->jump, 1);
    }
}

static void on_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > MAX_SCANS) {
        struct jpeg_reader *r = (struct jpeg_reader *)c->err;
        snprintf(r->msg, sizeof r->msg, "more than %d scans", MAX_SCANS);
        longjmp(r->jump, 1);
    }
}

/* PIL's CMYK -> RGB: r = (255 - k) - c (255 - k) / 255 with its rounding MULDIV255. */
static uint8_t cmyk_channel(int c, int nk)
{
    int t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int exif_orientation(j_decompress_ptr d)
{
    for (jpeg_saved_marker_ptr m = d->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0)
            return qw_exif_orientation(m->data, m->data_length);
    return 1;
}

qwglm_status image_decode_jpeg(const struct image_src *s, struct qw_image *out, int *orientation,
                               struct qw_err *e)
{
    struct jpeg_decompress_struct d;
    struct jpeg_reader *r = qw_calloc(1, sizeof *r);
    if (!r) return qw_fail(e, QWGLM_ERR_NOMEM, "%s: no memory", s->name);
    qwglm_status rc = QWGLM_OK;
    d.err = jpeg_std_error(&r->pub);
    r->pub.error_exit = on_error_exit;
    r->pub.emit_message = on_emit;
    if (setjmp(r->jump)) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad JPEG: %s", s->name, r->msg);
        goto done;
    }
    jpeg_create_decompress(&d);
    r->progress.progress_monitor = on_progress;
    d.progress = &r->progress;
    d.mem->max_memory_to_use = (long)(s->lim->max_pixels * 8 + (64 << 20));
    jpeg_mem_src(&d, s->data, (unsigned long)s->n);
    jpeg_save_markers(&d, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&d, TRUE);
    int cmyk = d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK;
    d.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    if ((rc = image_alloc(out, d.image_width, d.image_height, s, e))) goto done;
    jpeg_start_decompress(&d);
    if (d.output_width != (JDIMENSION)out->width || d.output_height != (JDIMENSION)out->height ||
        d.output_components != (cmyk ? 4 : 3)) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: unexpected JPEG output layout", s->name);
        goto done;
    }
    if (cmyk && !(r->row = qw_malloc((size_t)out->width * 4))) {
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "%s: no memory for a JPEG row", s->name);
        goto done;
    }
    while (d.output_scanline < d.output_height) {
        uint8_t *dst = out->rgb + (size_t)d.output_scanline * out->width * 3;
        JSAMPROW row = cmyk ? r->row : dst;
        if (jpeg_read_scanlines(&d, &row, 1) != 1) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad JPEG: no scanline", s->name);
            goto done;
        }
        if (cmyk) {
            /* Adobe files store CMYK inverted; PIL reads them as "CMYK;I" */
            int inv = d.saw_Adobe_marker;
            for (int x = 0; x < out->width; x++) {
                const uint8_t *p = r->row + 4 * x;
                int k = inv ? 255 - p[3] : p[3];
                for (int c = 0; c < 3; c++) dst[3 * x + c] = cmyk_channel(inv ? 255 - p[c] : p[c], 255 - k);
            }
        }
    }
    *orientation = exif_orientation(&d);
    jpeg_finish_decompress(&d);
done:
    jpeg_destroy_decompress(&d);
    qw_free(r->row);
    qw_free(r);
    return rc;
}
