/* WebP through libwebp: still images decode straight to RGB; animated ones give their first frame on the
 * canvas (as PIL's animation decoder does), with the alpha channel dropped. EXIF comes from the container's
 * EXIF chunk. */
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "../base/mem.h"
#include "image_impl.h"

static int webp_orientation(const WebPData *wd)
{
    WebPDemuxer *dm = WebPDemux(wd);
    if (!dm) return 1;
    int o = 1;
    WebPChunkIterator it;
    if (WebPDemuxGetChunk(dm, "EXIF", 1, &it)) {
        o = qw_exif_orientation(it.chunk.bytes, it.chunk.size);
        WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(dm);
    return o;
}

static qwglm_status first_frame(const struct image_src *s, const WebPData *wd, struct qw_image *out,
                                struct qw_err *e)
{
    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt))
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: libwebp version mismatch", s->name);
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(wd, &opt);
    if (!dec) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad animated WebP", s->name);
    qwglm_status rc = QWGLM_OK;
    WebPAnimInfo info;
    uint8_t *rgba;
    int ts;
    if (!WebPAnimDecoderGetInfo(dec, &info)) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad animated WebP", s->name);
    } else if (!(rc = image_alloc(out, info.canvas_width, info.canvas_height, s, e))) {
        if (!WebPAnimDecoderGetNext(dec, &rgba, &ts)) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad WebP animation frame", s->name);
        } else {
            size_t n = (size_t)out->width * out->height;
            for (size_t i = 0; i < n; i++) memcpy(out->rgb + 3 * i, rgba + 4 * i, 3);
        }
    }
    WebPAnimDecoderDelete(dec);
    return rc;
}

qwglm_status image_decode_webp(const struct image_src *s, struct qw_image *out, int *orientation,
                               struct qw_err *e)
{
    WebPBitstreamFeatures f;
    if (WebPGetFeatures(s->data, s->n, &f) != VP8_STATUS_OK)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad WebP header", s->name);
    /* the canvas size, checked before libwebp allocates anything of that size */
    qwglm_status rc = image_check_size(f.width, f.height, s, e);
    if (rc) return rc;
    WebPData wd = {s->data, s->n};
    if (f.has_animation) {
        rc = first_frame(s, &wd, out, e);
    } else {
        if ((rc = image_alloc(out, f.width, f.height, s, e))) return rc;
        size_t stride = (size_t)out->width * 3, size = stride * out->height;
        if (!WebPDecodeRGBInto(s->data, s->n, out->rgb, size, (int)stride))
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: bad or truncated WebP data", s->name);
    }
    if (!rc) *orientation = webp_orientation(&wd);
    return rc;
}
