/* Audio input: the resampler (streaming in any block size gives the whole-signal result; the on-the-fly taps of
 * odd rate pairs agree with the definition), decoding WAV, FLAC, OGG and MP3 through libsndfile from memory with
 * down-mixing and resampling, limits and corrupt input, the log-mel front end's argument checks, and the voice
 * activity detector on synthetic speech-like bursts. */
#include <math.h>
#include <string.h>

#include "audio/audio.h"
#include "audio/mel.h"
#include "base/mem.h"
#include "qwglm_asr.h"
#include "test.h"

#ifdef QWGLM_HAVE_SNDFILE
#include <sndfile.h>
#endif

static float *resample_all(const float *x, size_t n, int in, int out, size_t block, size_t *n_out)
{
    struct qw_resampler r;
    REQUIRE(qw_resampler_init(&r, in, out, NULL) == QWGLM_OK);
    size_t cap = (size_t)qw_resample_len((int64_t)n, in, out), got = 0;
    float *y = malloc((cap + 1) * sizeof(float));
    for (size_t i = 0; i < n; i += block) {
        size_t k = n - i < block ? n - i : block;
        REQUIRE(qw_resampler_push(&r, x + i, k, NULL) == QWGLM_OK);
        got += qw_resampler_pull(&r, y + got, cap + 1 - got);
    }
    qw_resampler_finish(&r);
    got += qw_resampler_pull(&r, y + got, cap + 1 - got);
    qw_resampler_free(&r);
    *n_out = got;
    return y;
}

/* The definition (torchaudio's formula) evaluated directly in double for output n. */
static double direct(const float *x, size_t len, int in, int out, int64_t n)
{
    int64_t g = in, b = out;
    while (b) {
        int64_t t = g % b;
        g = b;
        b = t;
    }
    double orig = (double)(in / g), nw = (double)(out / g), base = (orig < nw ? orig : nw) * 0.99, s = 0;
    for (size_t m = 0; m < len; m++) {
        double t = base * ((double)m / orig - (double)n / nw);
        if (t <= -6 || t >= 6) continue;
        double w = cos(t * M_PI / 12), sc = t == 0 ? 1 : sin(M_PI * t) / (M_PI * t);
        s += x[m] * sc * w * w * base / orig;
    }
    return s;
}

static void test_resampler(void)
{
    enum { N = 5000 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)(0.5 * sin(i * 0.05) + 0.3 * sin(i * 0.71 + 1.0));
    const int pairs[][2] = {{22050, 16000}, {44100, 16000}, {8000, 16000}, {48000, 16000}, {44101, 16000},
                            {16000, 16000}};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        int in = pairs[p][0], out = pairs[p][1];
        size_t n1, n2;
        float *a = resample_all(x, N, in, out, N, &n1), *b = resample_all(x, N, in, out, 333, &n2);
        CHECKF(n1 == (size_t)qw_resample_len(N, in, out) && n2 == n1, "%d -> %d: %zu / %zu outputs", in, out, n1, n2);
        CHECKF(n1 == n2 && memcmp(a, b, n1 * sizeof(float)) == 0, "%d -> %d: block size changes the result", in, out);
        double worst = 0;
        for (int64_t k = 0; k < (int64_t)n1; k += 97) {
            /* equal rates pass through untouched, as torchaudio does */
            double d = fabs((in == out ? x[k] : direct(x, N, in, out, k)) - a[k]);
            if (d > worst) worst = d;
        }
        /* the taps are built in float32 like torchaudio's kernel: 1e-4 of the double-precision definition */
        CHECKF(worst < 1e-4, "%d -> %d: %g from the definition", in, out, worst);
        free(a);
        free(b);
    }
    struct qw_resampler r;
    CHECK(qw_resampler_init(&r, 10, 16000, NULL) == QWGLM_ERR_ARG);
    CHECK(qw_resampler_init(&r, 16000, 10000000, NULL) == QWGLM_ERR_ARG);
}

#ifdef QWGLM_HAVE_SNDFILE
struct membuf {
    unsigned char *data;
    sf_count_t len, cap, pos;
};
static sf_count_t m_len(void *u) { return ((struct membuf *)u)->len; }
static sf_count_t m_seek(sf_count_t off, int wh, void *u)
{
    struct membuf *m = u;
    sf_count_t p = (wh == SEEK_SET ? 0 : wh == SEEK_CUR ? m->pos : m->len) + off;
    if (p < 0) return -1;
    m->pos = p;
    return p;
}
static sf_count_t m_read(void *ptr, sf_count_t n, void *u)
{
    struct membuf *m = u;
    if (m->pos >= m->len) return 0;
    if (n > m->len - m->pos) n = m->len - m->pos;
    memcpy(ptr, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}
static sf_count_t m_write(const void *ptr, sf_count_t n, void *u)
{
    struct membuf *m = u;
    if (m->pos + n > m->cap) {
        m->cap = (m->pos + n) * 2;
        m->data = realloc(m->data, (size_t)m->cap);
    }
    memcpy(m->data + m->pos, ptr, (size_t)n);
    m->pos += n;
    if (m->pos > m->len) m->len = m->pos;
    return n;
}
static sf_count_t m_tell(void *u) { return ((struct membuf *)u)->pos; }

/* One second of a 440 Hz tone at rate Hz in `channels` channels (the second channel silent), encoded as format. */
static struct membuf encode(int format, int rate, int channels)
{
    struct membuf m = {0};
    SF_VIRTUAL_IO vio = {m_len, m_seek, m_read, m_write, m_tell};
    SF_INFO si = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open_virtual(&vio, SFM_WRITE, &si, &m);
    REQUIRE(sf);
    float *buf = calloc((size_t)rate * channels, sizeof(float));
    for (int i = 0; i < rate; i++) buf[i * channels] = 0.5f * (float)sin(2 * M_PI * 440.0 * i / rate);
    sf_writef_float(sf, buf, rate);
    sf_close(sf);
    free(buf);
    return m;
}

static void test_decode(void)
{
    struct {
        int format;
        const char *name;
    } fmts[] = {{SF_FORMAT_WAV | SF_FORMAT_PCM_16, "WAV"},
                {SF_FORMAT_FLAC | SF_FORMAT_PCM_16, "FLAC"},
                {SF_FORMAT_OGG | SF_FORMAT_VORBIS, "OGG"},
                {SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, "MP3"}};
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
        struct membuf m = encode(fmts[f].format, 44100, 2);
        float *pcm;
        size_t n;
        struct qw_audio_info info;
        struct qw_err e = {0};
        qwglm_status rc = qw_audio_decode_memory(m.data, (size_t)m.len, fmts[f].name, 16000, NULL, &pcm, &n, &info, &e);
        CHECKF(rc == QWGLM_OK, "%s: %s", fmts[f].name, e.msg);
        if (rc == QWGLM_OK) {
            CHECKF(strcmp(info.format, fmts[f].name) == 0, "%s reported as %s", fmts[f].name, info.format);
            CHECK(info.sample_rate == 44100 && info.channels == 2);
            /* MP3 adds encoder delay and padding; the others keep the length */
            CHECKF(n >= 15990 && n <= 17500, "%s: %zu samples at 16 kHz", fmts[f].name, n);
            /* down-mixed (mean of a tone and silence): RMS 0.25 / sqrt(2) in the middle */
            double ss = 0;
            for (size_t i = 4000; i < 12000; i++) ss += (double)pcm[i] * pcm[i];
            double rms = sqrt(ss / 8000);
            CHECKF(fabs(rms - 0.25 / sqrt(2.0)) < 0.02, "%s: rms %g", fmts[f].name, rms);
            qw_free(pcm);
        }
        /* truncated input fails cleanly or decodes less, never crashes */
        rc = qw_audio_decode_memory(m.data, (size_t)m.len / 3, "cut", 16000, NULL, &pcm, &n, NULL, &e);
        if (rc == QWGLM_OK) qw_free(pcm);
        /* limits */
        struct qw_audio_limits lim = {0.5, 0};
        CHECK(qw_audio_decode_memory(m.data, (size_t)m.len, "long", 16000, &lim, &pcm, &n, NULL, NULL) ==
              QWGLM_ERR_ARG);
        lim = (struct qw_audio_limits){0, 100};
        CHECK(qw_audio_decode_memory(m.data, (size_t)m.len, "big", 16000, &lim, &pcm, &n, NULL, NULL) ==
              QWGLM_ERR_ARG);
        free(m.data);
    }
    struct qw_err e = {0};
    float *pcm;
    size_t n;
    CHECK(qw_audio_decode_memory("hello", 5, "text.wav", 16000, NULL, &pcm, &n, NULL, &e) == QWGLM_ERR_FORMAT);
    CHECK(strstr(e.msg, "text.wav") != NULL);
    CHECK(qw_audio_decode_file("tests/fixtures/audio/none.wav", 16000, NULL, &pcm, &n, NULL, NULL) == QWGLM_ERR_IO);
    /* the fixture WAV reads as int16 / 32768 */
    REQUIRE(qw_audio_decode_file("tests/fixtures/audio/morning_16k.wav", 0, NULL, &pcm, &n, NULL, NULL) == QWGLM_OK);
    CHECK(n == 15382);
    bool scaled = true;
    for (size_t i = 0; i < n; i++) scaled &= pcm[i] * 32768.0f == floorf(pcm[i] * 32768.0f);
    CHECK(scaled);
    qw_free(pcm);
}
#endif

static void test_mel_args(void)
{
    struct qw_mel m;
    CHECK(qw_mel_init(&m, 16000, 500, 160, 400, 128, 0.97f, NULL) == QWGLM_ERR_FORMAT);
    CHECK(qw_mel_init(&m, 16000, 512, 160, 600, 128, 0.97f, NULL) == QWGLM_ERR_FORMAT);
    REQUIRE(qw_mel_init(&m, 16000, 512, 160, 400, 128, 0.97f, NULL) == QWGLM_OK);
    float x[300] = {0}, out[3 * 128];
    CHECK(qw_mel_compute(&m, x, 300, out, NULL) == QWGLM_ERR_ARG); /* one valid frame: no variance */
    /* silence normalises to zeros, not NaN */
    static float y[480], o2[4 * 128];
    REQUIRE(qw_mel_compute(&m, y, 480, o2, NULL) == QWGLM_OK);
    bool finite = true;
    for (int i = 0; i < 4 * 128; i++) finite &= o2[i] == 0.0f;
    CHECK(finite);
    qw_mel_free(&m);
}

static void test_vad(void)
{
    const int sr = 16000;
    qwglm_vad_params p = qwglm_vad_default_params(sr);
    qwglm_vad *v = qwglm_vad_create(&p);
    REQUIRE(v);
    /* 1 s of faint noise, 1 s of a loud tone, 1.5 s of noise, 0.05 s click, 1 s noise */
    size_t n = (size_t)(4.55 * sr);
    float *x = malloc(n * sizeof(float));
    uint32_t s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float noise = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.002f;
        bool tone = (i >= (size_t)sr && i < (size_t)(2 * sr)), click = i >= (size_t)(3.5 * sr) && i < (size_t)(3.55 * sr);
        x[i] = noise + (tone || click ? 0.3f * (float)sin(i * 0.1) : 0.0f);
    }
    qwglm_vad_event ev[16];
    int got = 0;
    for (size_t i = 0; i < n; i += 1000) {
        int k = qwglm_vad_feed(v, x + i, n - i < 1000 ? n - i : 1000, ev + got, 16 - got);
        got += k;
    }
    CHECKF(got == 2, "%d VAD events", got);
    if (got == 2) {
        CHECK(ev[0].type == QWGLM_VAD_SPEECH_START && ev[1].type == QWGLM_VAD_SPEECH_END);
        CHECKF(ev[0].sample > sr - 6000 && ev[0].sample <= sr, "start at %lld", (long long)ev[0].sample);
        CHECKF(ev[1].sample > 2 * sr && ev[1].sample < 3 * sr, "end at %lld", (long long)ev[1].sample);
    }
    CHECK(!qwglm_vad_in_speech(v));
    free(x);
    qwglm_vad_free(v);
    p.frame_ms = 0;
    CHECK(qwglm_vad_create(&p) == NULL);
}

int main(void)
{
    test_resampler();
#ifdef QWGLM_HAVE_SNDFILE
    test_decode();
#endif
    test_mel_args();
    test_vad();
    return test_report("test_audio");
}
