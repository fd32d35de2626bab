/* qwglm speak end to end: phoneme ids and scales in, float samples out against the reference audio; WAV layout;
 * stdout streaming; clear failures on a truncated model and on a config that does not match it.
 * Usage: test_cli_speak QWGLM_BINARY WORK_DIR (run from the repository root). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/safetensors.h"
#include "test.h"

#define DIR "tests/fixtures/piper-micro/"

static const char *bin, *work;

static int run(const char *args, const char *log)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s speak %s 2>%s/%s", bin, args, work, log);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool log_has(const char *log, const char *what)
{
    char path[1024], *text;
    size_t n;
    snprintf(path, sizeof path, "%s/%s", work, log);
    if (qw_read_file(path, 1 << 20, &text, &n, NULL)) return false;
    bool ok = strstr(text, what) != NULL;
    if (!ok) fprintf(stderr, "%s: expected '%s' in: %s\n", log, what, text);
    qw_free(text);
    return ok;
}

static uint32_t u32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

int main(int argc, char **argv)
{
    REQUIRE(argc == 3);
    bin = argv[1];
    work = argv[2];
    struct st_file ref;
    REQUIRE(st_open(&ref, DIR "reference.safetensors", NULL) == QWGLM_OK);
    const struct st_tensor *in = st_find(&ref, "case3.input"), *audio = st_find(&ref, "case3.audio");
    REQUIRE(in && audio);
    char ids[4096] = "", args[8192], path[1024], *data;
    size_t n;
    for (int64_t i = 0; i < in->numel; i++) {
        int64_t v;
        memcpy(&v, (const char *)in->data + 8 * i, 8);
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), i ? ",%lld" : "%lld", (long long)v);
    }
    /* case3: sentence 1 with scales [0, 1.3, 0] */
    snprintf(args, sizeof args, "-m " DIR "en_US-micro-medium.onnx --phoneme-ids %s --scales 0,1.3,0 -t 2 "
             "-o %s/speak.wav --raw %s/speak.f32", ids, work, work);
    CHECK(run(args, "speak.log") == 0);
    snprintf(path, sizeof path, "%s/speak.f32", work);
    REQUIRE(qw_read_file(path, 1 << 24, &data, &n, NULL) == QWGLM_OK);
    CHECKF(n == (size_t)audio->numel * 4, "%zu bytes of samples", n);
    if (n == (size_t)audio->numel * 4) {
        double err = rel_err((const float *)data, audio->data, (size_t)audio->numel);
        CHECKF(err < 1e-4, "cli audio: relative error %g", err);
    }
    qw_free(data);
    snprintf(path, sizeof path, "%s/speak.wav", work);
    REQUIRE(qw_read_file(path, 1 << 24, &data, &n, NULL) == QWGLM_OK);
    const unsigned char *h = (const unsigned char *)data;
    CHECK(n == 44 + 2 * (size_t)audio->numel && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WAVEfmt ", 8) == 0);
    CHECK(u32(h + 24) == 22050 && u32(h + 40) == 2 * (uint32_t)audio->numel && u32(h + 4) == 36 + u32(h + 40));
    qw_free(data);

    /* text through espeak-ng to stdout, streamed: a header of unknown length, then samples */
    snprintf(args, sizeof args, "-m " DIR "en_US-micro-medium.onnx 'Hi. Bye!' --seed 3 -o - > %s/stdout.wav", work);
    int rc = run(args, "stdout.log");
    snprintf(path, sizeof path, "%s/stdout.wav", work);
    if (rc == 0 && qw_read_file(path, 1 << 24, &data, &n, NULL) == QWGLM_OK) {
        h = (const unsigned char *)data;
        CHECK(n > 44 + 1000 && (n - 44) % 512 == 0 && u32(h + 40) == 0xffffffffu - 36);
        qw_free(data);
    } else {
        CHECK(log_has("stdout.log", "espeak-ng")); /* a build without espeak-ng says so */
    }

    /* failures: one clear line, exit 1 (2 for usage) */
    REQUIRE(qw_read_file(DIR "en_US-micro-medium.onnx", 1 << 24, &data, &n, NULL) == QWGLM_OK);
    snprintf(path, sizeof path, "%s/cut.onnx", work);
    REQUIRE(qw_write_file_atomic(path, data, n / 3, NULL) == QWGLM_OK);
    qw_free(data);
    snprintf(args, sizeof args, "-m %s/cut.onnx --config " DIR "en_US-micro-medium.onnx.json x -o %s/x.wav", work,
             work);
    CHECK(run(args, "cut.log") == 1 && log_has("cut.log", "cut.onnx: truncated"));
    REQUIRE(qw_read_file(DIR "en_US-micro-medium.onnx.json", 1 << 20, &data, &n, NULL) == QWGLM_OK);
    char *p = strstr(data, "\"num_symbols\": 256");
    REQUIRE(p);
    memcpy(p, "\"num_symbols\": 128", 18);
    snprintf(path, sizeof path, "%s/bad.onnx.json", work);
    REQUIRE(qw_write_file_atomic(path, data, n, NULL) == QWGLM_OK);
    qw_free(data);
    snprintf(args, sizeof args, "-m " DIR "en_US-micro-medium.onnx --config %s/bad.onnx.json x -o %s/x.wav", work,
             work);
    CHECK(run(args, "bad.log") == 1 && log_has("bad.log", "num_symbols"));
    snprintf(args, sizeof args, "-m " DIR "en_US-micro-medium.onnx --phoneme-ids 1,0,400,2 -o %s/x.wav", work);
    CHECK(run(args, "id.log") == 1 && log_has("id.log", "400"));
    snprintf(args, sizeof args, "-m " DIR "en_US-micro-medium.onnx x -o %s/x.wav --speaker 3", work);
    CHECK(run(args, "spk.log") == 2 && log_has("spk.log", "speaker"));
    CHECK(run("-m " DIR "missing.onnx x -o /dev/null", "missing.log") == 1 && log_has("missing.log", "missing"));
    st_close(&ref);
    return test_report("test_cli_speak");
}
