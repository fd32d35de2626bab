/* Qwen-VL preprocessing against the transformers reference: smart_resize on the spec's table, and
 * pixel_values of both fixture images decoded from their PNG files (torchvision backend). */
#include <string.h>

#include "format/image.h"
#include "format/safetensors.h"
#include "test.h"
#include "vision/resize.h"
#include "vision/vl_preprocess.h"

#define FIX "tests/fixtures/qwen3-vl-micro/"

static void test_smart_resize(void)
{
    /* H, W -> Hn, Wn, derived with transformers' Python code (spec 5.1.2) */
    static const int cases[][4] = {
        {100, 100, 256, 256},     {448, 448, 448, 448},  {480, 640, 480, 640},     {720, 1280, 704, 1280},
        {768, 1024, 768, 1024},   {777, 1000, 768, 992}, {1080, 1920, 1088, 1920}, {2160, 3840, 2176, 3840},
        {4000, 6000, 3328, 4992}, {150, 200, 224, 320},  {96, 64, 320, 224},       {16, 3000, 32, 3520},
    };
    struct vl_preproc p = vl_preproc_default();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int h = 0, w = 0;
        struct qw_err e = {0};
        CHECKF(vl_smart_resize(&p, cases[i][0], cases[i][1], &h, &w, &e) == QWGLM_OK, "%s", e.msg);
        CHECKF(h == cases[i][2] && w == cases[i][3], "%dx%d -> %dx%d, want %dx%d", cases[i][0], cases[i][1],
               h, w, cases[i][2], cases[i][3]);
    }
    int h, w;
    struct qw_err e = {0};
    CHECK(vl_smart_resize(&p, 10, 2011, &h, &w, &e) == QWGLM_ERR_ARG);
    CHECKF(strstr(e.msg, "aspect ratio") != NULL, "%s", e.msg);
    struct vl_preproc huge = vl_preproc_default();
    vl_preproc_set_tokens(&huge, 1 << 20, 1 << 20);
    memset(&e, 0, sizeof e);
    CHECK(vl_smart_resize(&huge, 720, 1280, &h, &w, &e) == QWGLM_ERR_ARG);
    CHECKF(strstr(e.msg, "exceeds") != NULL, "%s", e.msg);
    /* a budget of 64..256 tokens: 720p shrinks to fit 256 tokens of 32x32 pixels */
    vl_preproc_set_tokens(&p, 64, 256);
    CHECK(vl_smart_resize(&p, 720, 1280, &h, &w, NULL) == QWGLM_OK);
    CHECKF(h * w <= 256 * 1024 && h % 32 == 0 && w % 32 == 0 && h == 384 && w == 672, "%dx%d", w, h);
}

static void test_config(void)
{
    struct vl_preproc p = vl_preproc_default();
    p.patch = 0;
    REQUIRE(vl_preproc_load(&p, FIX, NULL) == QWGLM_OK);
    CHECK(p.patch == 16 && p.temporal_patch == 2 && p.merge == 2);
    CHECK(p.min_pixels == 65536 && p.max_pixels == 16777216);
    CHECK(p.mean[0] == 0.5f && p.std[2] == 0.5f);
    static const char *bad[] = {"[]", "{\"patch_size\": 0}", "{\"image_std\": [0.5, 0, 0.5]}",
                                "{\"size\": {\"shortest_edge\": 10, \"longest_edge\": 5}}",
                                "{\"merge_size\": 1.5}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct qw_err e = {0};
        struct vl_preproc q = vl_preproc_default();
        CHECKF(vl_preproc_parse(&q, bad[i], strlen(bad[i]), "cfg", &e) == QWGLM_ERR_FORMAT, "%s accepted",
               bad[i]);
        CHECK(strncmp(e.msg, "cfg", 3) == 0);
    }
}

static void test_golden(void)
{
    struct st_file ref;
    struct qw_err e = {0};
    REQUIRE(st_open(&ref, FIX "reference.safetensors", &e) == QWGLM_OK);
    struct vl_preproc p = vl_preproc_default();
    REQUIRE(vl_preproc_load(&p, FIX, NULL) == QWGLM_OK);
    static const int grids[2][2] = {{14, 20}, {20, 14}};
    for (int i = 0; i < 2; i++) {
        char path[256], name[64];
        snprintf(path, sizeof path, FIX "image%d.png", i);
        struct qw_image im;
        REQUIRE(qw_image_load(path, NULL, &im, &e) == QWGLM_OK);
        struct vl_pixels px;
        REQUIRE(vl_preprocess(&p, &im, &px, &e) == QWGLM_OK);
        CHECK(px.grid_t == 1 && px.grid_h == grids[i][0] && px.grid_w == grids[i][1]);
        snprintf(name, sizeof name, "image%d.pixel_values", i);
        const struct st_tensor *t = st_find(&ref, name);
        REQUIRE(t && t->dtype == ST_F32 && t->n_dims == 2);
        CHECK(t->shape[0] == px.n_patches && t->shape[1] == px.patch_dim);
        if (t->shape[0] == px.n_patches && t->shape[1] == px.patch_dim) {
            const float *want = t->data;
            size_t n = (size_t)t->numel, off = 0;
            double worst = 0;
            for (size_t k = 0; k < n; k++) {
                double d = fabs((double)px.values[k] - want[k]);
                off += d > 0;
                if (d > worst) worst = d;
            }
            /* one 8-bit level is 1/127.5 after normalization; this kernel reproduces the reference exactly */
            CHECKF(worst <= 1.0 / 127.5 + 1e-6, "image%d: max diff %g", i, worst);
            CHECKF(off == 0, "image%d: %zu of %zu values differ (max %g)", i, off, n, worst);
        }
        vl_pixels_free(&px);
        qw_image_free(&im);
    }
    st_close(&ref);
}

/* An image of the target size passes through; a constant image stays constant at any size. */
static void test_resize_basics(void)
{
    uint8_t src[5 * 7 * 3], dst[13 * 4 * 3];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 37);
    uint8_t same[sizeof src];
    REQUIRE(qw_resize_bicubic_aa(src, 7, 5, 3, same, 7, 5, NULL) == QWGLM_OK);
    CHECK(memcmp(src, same, sizeof src) == 0);
    memset(src, 200, sizeof src);
    REQUIRE(qw_resize_bicubic_aa(src, 7, 5, 3, dst, 13, 4, NULL) == QWGLM_OK);
    int ok = 1;
    for (size_t i = 0; i < sizeof dst; i++) ok &= dst[i] == 200;
    CHECK(ok);
}

int main(void)
{
    test_smart_resize();
    test_config();
    test_golden();
    test_resize_basics();
    return test_report("test_vl_preprocess");
}
