/* VITS golden tests on piper-micro: the ONNX export of a Piper voice built with Piper's training code, against
 * the intermediates PyTorch computed and the audio ONNX Runtime computed (fixture README, piper section). */
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/kernels.h"
#include "base/mem.h"
#include "format/onnx.h"
#include "format/safetensors.h"
#include "model/vits.h"
#include "test.h"

#define DIR "tests/fixtures/piper-micro/"

static struct st_file ref;

static const struct st_tensor *get(const char *c, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%s", c, what);
    const struct st_tensor *t = st_find(&ref, name);
    if (!t) fprintf(stderr, "missing %s\n", name);
    REQUIRE(t != NULL);
    return t;
}

static const float *f32(const char *c, const char *what, size_t n)
{
    const struct st_tensor *t = get(c, what);
    REQUIRE(t->dtype == ST_F32 && (size_t)t->numel == n);
    return t->data;
}

static void compare(const char *c, const char *what, const float *ours, size_t n, double tol)
{
    double err = rel_err(ours, f32(c, what, n), n);
    CHECKF(err < tol, "%s.%s: relative error %g", c, what, err);
}

static void run_case(struct vits_model *m, const char *c, bool noisy, bool chunked)
{
    const struct st_tensor *in = get(c, "input");
    int n = (int)in->numel;
    int32_t ids[512];
    REQUIRE(n <= 512);
    for (int i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, (const char *)in->data + 8 * i, 8);
        ids[i] = (int32_t)v;
    }
    const float *sc = f32(c, "scales", 3);
    struct vits_synth_params p = {.noise_scale = sc[0], .length_scale = sc[1], .noise_w = sc[2]};
    struct vits_noise noise = {0};
    if (noisy) noise.eps_dp = f32(c, "eps_dp", 2 * (size_t)n);
    const struct st_tensor *wc = get(c, "w_ceil");
    int64_t t_y = 0;
    for (int i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, (const char *)wc->data + 8 * i, 8);
        t_y += v;
    }
    if (noisy) noise.eps_z = f32(c, "eps_z", (size_t)m->inter * t_y);
    struct vits_trace tr;
    float *audio;
    int64_t ns;
    struct qw_err e = {0};
    qwglm_status rc = vits_synth(m, ids, n, &p, &noise, &audio, &ns, &tr, &e);
    CHECKF(rc == QWGLM_OK, "%s: %s", c, e.msg);
    if (rc) return;
    if (!noisy) {
        compare(c, "m_p", tr.m_p, (size_t)m->inter * n, 1e-4);
        compare(c, "logs_p", tr.logs_p, (size_t)m->inter * n, 1e-4);
    }
    compare(c, "logw", tr.logw, (size_t)n, 1e-4);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, (const char *)wc->data + 8 * i, 8);
        bad += v != tr.w_ceil[i];
    }
    CHECKF(bad == 0, "%s: %d durations differ", c, bad);
    CHECKF(tr.t_y == t_y, "%s: %d frames, expected %lld", c, tr.t_y, (long long)t_y);
    if (bad == 0 && tr.t_y == t_y) {
        if (!noisy) compare(c, "z_p", tr.z_p, (size_t)m->inter * t_y, 1e-4);
        compare(c, "z", tr.z, (size_t)m->inter * t_y, 1e-4);
        CHECKF(ns == t_y * m->hop, "%s: %lld samples", c, (long long)ns);
        if (ns == t_y * m->hop) compare(c, "audio", audio, (size_t)ns, 1e-4);
    }
    /* the decoder in chunks of a few rows (many inner edges) gives the same samples, bit for bit */
    if (chunked) {
        float *a2;
        int64_t n2;
        m->dec_chunk = 37;
        rc = vits_synth(m, ids, n, &p, &noise, &a2, &n2, NULL, &e);
        m->dec_chunk = 0;
        CHECKF(rc == QWGLM_OK && n2 == ns && memcmp(a2, audio, (size_t)ns * sizeof(float)) == 0,
               "%s: the decoder in chunks of 37 rows gives other samples", c);
        if (rc == QWGLM_OK) qw_free(a2);
    }
    vits_trace_free(&tr);
    qw_free(audio);
}

static void test_errors(struct vits_model *m)
{
    struct qw_err e = {0};
    float *audio;
    int64_t ns;
    int32_t ids[3] = {1, 999, 2};
    struct vits_synth_params p = {0.667f, 1.0f, 0.8f, 0};
    CHECK(vits_synth(m, ids, 3, &p, NULL, &audio, &ns, NULL, &e) == QWGLM_ERR_ARG);
    CHECK(strstr(e.msg, "999") != NULL);
    ids[1] = 5;
    p.speaker = 1;
    memset(&e, 0, sizeof e);
    CHECK(vits_synth(m, ids, 3, &p, NULL, &audio, &ns, NULL, &e) == QWGLM_ERR_ARG);
    p.speaker = 0;
    /* seeded noise: same seed, same audio; another seed, other audio */
    struct vits_noise n1 = {.seed = 7}, n2 = {.seed = 8};
    float *a1, *a2, *a3;
    int64_t s1, s2, s3;
    REQUIRE(vits_synth(m, ids, 3, &p, &n1, &a1, &s1, NULL, &e) == QWGLM_OK);
    REQUIRE(vits_synth(m, ids, 3, &p, &n1, &a2, &s2, NULL, &e) == QWGLM_OK);
    REQUIRE(vits_synth(m, ids, 3, &p, &n2, &a3, &s3, NULL, &e) == QWGLM_OK);
    CHECK(s1 == s2 && memcmp(a1, a2, (size_t)s1 * 4) == 0);
    CHECK(s1 != s3 || memcmp(a1, a3, (size_t)s1 * 4) != 0);
    qw_free(a1);
    qw_free(a2);
    qw_free(a3);
}

int main(void)
{
    REQUIRE(st_open(&ref, DIR "reference.safetensors", NULL) == QWGLM_OK);
    struct onnx_model onnx;
    struct qw_err e = {0};
    REQUIRE(onnx_open(&onnx, DIR "en_US-micro-medium.onnx", &e) == QWGLM_OK);
    /* the best kernels with one and two threads, then every other variant this machine runs on one case */
    const char *names[8];
    bool usable[8];
    int nv = cpu_kernels_variants(names, usable, 8);
    const char *best = NULL;
    for (int pass = 0; pass < 2 + nv; pass++) {
        int threads = pass == 1 ? 2 : 1;
        const char *isa = pass >= 2 ? names[pass - 2] : NULL;
        if (isa && (!usable[pass - 2] || strcmp(isa, best) == 0)) continue;
        struct qw_backend be;
        REQUIRE(cpu_backend_create_isa(threads, isa, &be, NULL) == QWGLM_OK);
        if (!best) best = cpu_backend_isa(&be);
        struct vits_model m;
        qwglm_status rc = vits_load(&m, &onnx, &be, &e);
        CHECKF(rc == QWGLM_OK, "load: %s", e.msg);
        if (rc == QWGLM_OK) {
            CHECK(m.hidden == 32 && m.inter == 32 && m.filter == 64 && m.n_heads == 2 && m.window == 4);
            CHECK(m.n_layers == 6 && m.n_cflows == 3 && m.n_couplings == 4 && m.n_ups == 3 && m.hop == 256);
            CHECK(m.n_kernels == 3 && m.rb_type == 2 && m.rb_convs == 2 && m.n_vocab == 256 && m.n_speakers == 1);
            for (int k = 0; k < 6; k++) { /* after the first pass one case is enough to show the split is right */
                if (pass > 0 && k != 3) continue;
                char c[16];
                snprintf(c, sizeof c, "case%d", k);
                run_case(&m, c, false, k == 3);
            }
            if (pass == 0) {
                run_case(&m, "noisy0", true, true);
                test_errors(&m);
            }
            vits_free(&m);
        }
        be.ops->free(be.ctx);
    }
    onnx_close(&onnx);
    st_close(&ref);
    return test_report("test_vits");
}
