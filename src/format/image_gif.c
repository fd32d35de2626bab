/* GIF through giflib, first frame only, read record by record so a file of a million frames costs one frame.
 * As PIL: the canvas is the logical screen; pixels outside the first frame take the frame's transparent index
 * (or index 0); indices map through the local or global color table. */
#include <string.h>

#include <gif_lib.h>

#include "../base/mem.h"
#include "image_impl.h"

struct gif_reader {
    const struct image_src *src;
    size_t pos;
};

static int on_read(GifFileType *g, GifByteType *out, int n)
{
    struct gif_reader *r = g->UserData;
    if (n < 0) return 0;
    size_t k = (size_t)n < r->src->n - r->pos ? (size_t)n : r->src->n - r->pos;
    memcpy(out, r->src->data + r->pos, k);
    r->pos += k;
    return (int)k;
}

static qwglm_status gif_fail(const struct image_src *s, GifFileType *g, struct qw_err *e)
{
    const char *why = GifErrorString(g ? g->Error : D_GIF_ERR_READ_FAILED);
    return qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad GIF: %s", s->name, why ? why : "unknown error");
}

/* Reads the first image's rows into out. trns: transparent index from a graphics control extension, or -1. */
static qwglm_status read_frame(const struct image_src *s, GifFileType *g, int trns, struct qw_image *out,
                               struct qw_err *e)
{
    if (DGifGetImageDesc(g) == GIF_ERROR) return gif_fail(s, g, e);
    const GifImageDesc *d = &g->Image;
    const ColorMapObject *cm = d->ColorMap ? d->ColorMap : g->SColorMap;
    if (d->Width <= 0 || d->Height <= 0)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: GIF frame of zero size", s->name);
    qwglm_status rc = image_check_size(d->Width, d->Height, s, e);
    if (rc) return rc;
    uint8_t *line = qw_malloc((size_t)d->Width);
    if (!line) return qw_fail(e, QWGLM_ERR_NOMEM, "%s: no memory", s->name);
    /* the background first: PIL starts the first frame from the transparent index or 0 */
    int fill = trns >= 0 ? trns : 0;
    uint8_t bg[3] = {0, 0, 0};
    if (cm && fill < cm->ColorCount) {
        bg[0] = cm->Colors[fill].Red;
        bg[1] = cm->Colors[fill].Green;
        bg[2] = cm->Colors[fill].Blue;
    } else if (!cm) {
        bg[0] = bg[1] = bg[2] = (uint8_t)fill;
    }
    size_t np = (size_t)out->width * out->height;
    for (size_t i = 0; i < np; i++) memcpy(out->rgb + 3 * i, bg, 3);
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    int passes = d->Interlace ? 4 : 1;
    for (int p = 0; p < passes && !rc; p++)
        for (int y = d->Interlace ? start[p] : 0; y < d->Height; y += d->Interlace ? step[p] : 1) {
            if (DGifGetLine(g, line, d->Width) == GIF_ERROR) {
                rc = gif_fail(s, g, e);
                break;
            }
            int oy = d->Top + y;
            if (oy < 0 || oy >= out->height) continue;
            for (int x = 0; x < d->Width; x++) {
                int ox = d->Left + x;
                if (ox < 0 || ox >= out->width) continue;
                uint8_t *px = out->rgb + ((size_t)oy * out->width + ox) * 3;
                int v = line[x];
                if (cm && v < cm->ColorCount) {
                    px[0] = cm->Colors[v].Red;
                    px[1] = cm->Colors[v].Green;
                    px[2] = cm->Colors[v].Blue;
                } else if (cm) {
                    px[0] = px[1] = px[2] = 0; /* index past the table */
                } else {
                    px[0] = px[1] = px[2] = (uint8_t)v; /* no table at all: PIL's grayscale */
                }
            }
        }
    qw_free(line);
    return rc;
}

qwglm_status image_decode_gif(const struct image_src *s, struct qw_image *out, int *orientation,
                              struct qw_err *e)
{
    struct gif_reader r = {s, 0};
    int err = 0;
    GifFileType *g = DGifOpen(&r, on_read, &err);
    if (!g) {
        const char *why = GifErrorString(err);
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad GIF: %s", s->name, why ? why : "cannot open");
    }
    qwglm_status rc = image_alloc(out, g->SWidth, g->SHeight, s, e);
    int trns = -1;
    while (!rc) {
        GifRecordType t;
        if (DGifGetRecordType(g, &t) == GIF_ERROR) {
            rc = gif_fail(s, g, e);
            break;
        }
        if (t == IMAGE_DESC_RECORD_TYPE) {
            rc = read_frame(s, g, trns, out, e);
            break;
        }
        if (t == TERMINATE_RECORD_TYPE) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: GIF without an image", s->name);
            break;
        }
        if (t != EXTENSION_RECORD_TYPE) continue;
        int code;
        GifByteType *ext;
        if (DGifGetExtension(g, &code, &ext) == GIF_ERROR) {
            rc = gif_fail(s, g, e);
            break;
        }
        if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 && (ext[1] & 1)) trns = ext[4];
        while (ext && !rc) {
            if (DGifGetExtensionNext(g, &ext) == GIF_ERROR) rc = gif_fail(s, g, e);
        }
    }
    DGifCloseFile(g, &err);
    *orientation = 1;
    return rc;
}
