/* qwglm speak: text (or phoneme ids) to a WAV file with a Piper voice, written sentence by sentence. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "qwglm_tts.h"

static const char *usage_text =
    "usage: qwglm speak -m VOICE.onnx [TEXT] -o OUT.wav [options]\n"
    "  TEXT                 what to say (read from stdin when absent or '-')\n"
    "  -m, --model FILE     Piper voice (.onnx; its config is FILE.json unless --config), or ORG/NAME[@REV]:\n"
    "                       a Hub voice repository with one .onnx (downloaded into the Hugging Face cache)\n"
    "  -o, --output FILE    16-bit PCM WAV; '-' writes to stdout as sentences are ready\n"
    "  --config FILE        the voice's .onnx.json\n"
    "  --speaker N|NAME     speaker of a multi-speaker voice (default 0)\n"
    "  --length-scale X     > 1 speaks slower (voice default)\n"
    "  --noise-scale X      prior noise (voice default)\n"
    "  --noise-w X          duration noise (voice default)\n"
    "  --scales NS,LS,NW    the three scales at once, as the model's 'scales' input\n"
    "  --seed N             noise seed (default 0)\n"
    "  --sentence-silence S seconds of silence after each sentence (default 0)\n"
    "  --phoneme-ids 1,0,.. speak these ids (one sentence) instead of text\n"
    "  --print-ids          print each sentence's phoneme ids as JSON and exit\n"
    "  --raw FILE           also write the float32 samples, little-endian, no header\n"
    "  --no-normalize       WAV samples x 32767 instead of Piper's per-sentence peak normalisation\n"
    "  -t, --threads N      CPU threads (default: all cores)\n"
    "  -v, --verbose        log each sentence to stderr\n";

struct out {
    FILE *wav, *raw;
    bool to_stdout, normalize;
    uint64_t samples;
    int16_t *pcm;
    size_t pcm_cap;
    bool failed;
};

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A 44-byte PCM header; for a stream of unknown length the sizes are the maximum, as streaming tools do. */
static void wav_header(unsigned char h[44], int rate, uint64_t samples, bool unknown)
{
    uint32_t data = unknown || samples * 2 > 0xffffffffu - 36 ? 0xffffffffu - 36 : (uint32_t)(samples * 2);
    memcpy(h, "RIFF", 4);
    put_u32(h + 4, data + 36);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_u32(h + 16, 16);
    h[20] = 1, h[21] = 0, h[22] = 1, h[23] = 0; /* PCM, mono */
    put_u32(h + 24, (uint32_t)rate);
    put_u32(h + 28, (uint32_t)rate * 2);
    h[32] = 2, h[33] = 0, h[34] = 16, h[35] = 0;
    memcpy(h + 36, "data", 4);
    put_u32(h + 40, data);
}

static int on_audio(const float *x, size_t n, void *user)
{
    struct out *o = user;
    if (n > o->pcm_cap) {
        int16_t *p = realloc(o->pcm, n * sizeof *p);
        if (!p) return o->failed = true, 1;
        o->pcm = p;
        o->pcm_cap = n;
    }
    qwglm_audio_to_pcm16(x, n, o->normalize, o->pcm);
    for (size_t i = 0; i < n; i++) { /* little-endian on disk */
        uint16_t u = (uint16_t)o->pcm[i];
        unsigned char b[2] = {(unsigned char)u, (unsigned char)(u >> 8)};
        memcpy(&o->pcm[i], b, 2);
    }
    if (fwrite(o->pcm, 2, n, o->wav) != n) return o->failed = true, 1;
    if (o->raw && fwrite(x, sizeof *x, n, o->raw) != n) return o->failed = true, 1;
    if (o->to_stdout) fflush(o->wav);
    o->samples += n;
    return 0;
}

static char *read_stdin(void)
{
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    while (s) {
        size_t got = fread(s + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0) break;
        if (n + 1 == cap) {
            char *p = cap < (16u << 20) ? realloc(s, cap * 2) : NULL;
            if (!p) return free(s), NULL;
            s = p;
            cap *= 2;
        }
    }
    if (s) s[n] = 0;
    return s;
}

int cmd_speak(int argc, char **argv)
{
    const char *cmd = "speak", *model = NULL, *config = NULL, *output = NULL, *text = NULL, *raw = NULL;
    const char *speaker = NULL, *ids_arg = NULL;
    double ls = -1, ns = -1, nw = -1, silence = 0;
    uint64_t seed = 0;
    long threads = 0;
    bool print_ids = false, normalize = true;
    int verbose = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
#define VALUE() (v = cli_value(cmd, argc, argv, &i))
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (!VALUE()) return 2;
            model = v;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (!VALUE()) return 2;
            output = v;
        } else if (strcmp(a, "--config") == 0) {
            if (!VALUE()) return 2;
            config = v;
        } else if (strcmp(a, "--speaker") == 0) {
            if (!VALUE()) return 2;
            speaker = v;
        } else if (strcmp(a, "--length-scale") == 0 || strcmp(a, "--noise-scale") == 0 ||
                   strcmp(a, "--noise-w") == 0 || strcmp(a, "--sentence-silence") == 0) {
            double x;
            if (!VALUE()) return 2;
            if (!cli_parse_float(v, 0, 100, &x)) return cli_usage_error(cmd, "%s: bad value '%s'", a, v);
            if (a[2] == 'l') ls = x;
            else if (a[2] == 's') silence = x;
            else if (strcmp(a, "--noise-w") == 0) nw = x;
            else ns = x;
        } else if (strcmp(a, "--scales") == 0) {
            if (!VALUE()) return 2;
            char *end;
            errno = 0;
            ns = strtod(v, &end);
            if (*end == ',') ls = strtod(end + 1, &end);
            if (*end == ',') nw = strtod(end + 1, &end);
            if (*end || errno || !(ns >= 0 && ls > 0 && nw >= 0))
                return cli_usage_error(cmd, "--scales wants NOISE_SCALE,LENGTH_SCALE,NOISE_W, not '%s'", v);
        } else if (strcmp(a, "--seed") == 0) {
            if (!VALUE()) return 2;
            if (!cli_parse_u64(v, &seed)) return cli_usage_error(cmd, "--seed: bad value '%s'", v);
        } else if (strcmp(a, "--phoneme-ids") == 0) {
            if (!VALUE()) return 2;
            ids_arg = v;
        } else if (strcmp(a, "--raw") == 0) {
            if (!VALUE()) return 2;
            raw = v;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (!VALUE()) return 2;
            if (!cli_parse_int(v, 0, 1024, &threads)) return cli_usage_error(cmd, "--threads: bad value '%s'", v);
        } else if (strcmp(a, "--print-ids") == 0) {
            print_ids = true;
        } else if (strcmp(a, "--no-normalize") == 0) {
            normalize = false;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbose = 3;
        } else if (a[0] == '-' && a[1] != 0) {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (!text) {
            text = a;
        } else {
            return cli_usage_error(cmd, "more than one text argument");
        }
#undef VALUE
    }
    if (!model) return cli_usage_error(cmd, "no voice: -m VOICE.onnx");
    if (!output && !print_ids) return cli_usage_error(cmd, "no output: -o OUT.wav (or -o - for stdout)");

    char voice_path[QWGLM_HUB_PATH_MAX];
    if (cli_resolve_voice(cmd, model, voice_path, sizeof voice_path)) return 1; /* a file, or ORG/NAME */
    model = voice_path;
    char err[QWGLM_ERR_SIZE];
    qwglm_voice_params vp = qwglm_voice_default_params();
    vp.n_threads = (int)threads;
    vp.log = cli_log;
    vp.log_user = &verbose;
    qwglm_voice *voice;
    if (qwglm_voice_load(model, config, &vp, &voice, err)) return cli_error(cmd, "%s", err);
    int rc = 0;
    char *stdin_text = NULL;
    int32_t *ids = NULL;
    int n_ids = 0;
    struct out o = {.normalize = normalize};
    qwglm_voice_info info;
    qwglm_voice_get_info(voice, &info);
    qwglm_speak_params sp = qwglm_voice_default_speak_params(voice);
    if (ns >= 0) sp.noise_scale = (float)ns;
    if (ls > 0) sp.length_scale = (float)ls;
    if (nw >= 0) sp.noise_w = (float)nw;
    sp.seed = seed;
    sp.sentence_silence = (float)silence;
    if (speaker) {
        long id;
        if (!cli_parse_int(speaker, 0, 1 << 20, &id)) id = qwglm_voice_speaker_id(voice, speaker);
        if (id < 0 || id >= info.n_speakers) {
            rc = cli_usage_error(cmd, "no speaker '%s' (the voice has %d)", speaker, info.n_speakers);
            goto done;
        }
        sp.speaker = (int)id;
    }
    if (ids_arg) {
        if (!cli_parse_ids(ids_arg, &ids, &n_ids, 1 << 16)) {
            rc = cli_usage_error(cmd, "--phoneme-ids: bad list");
            goto done;
        }
    } else if (!text || strcmp(text, "-") == 0) {
        if (!(stdin_text = read_stdin())) {
            rc = cli_error(cmd, "cannot read stdin");
            goto done;
        }
        text = stdin_text;
    }
    if (print_ids) {
        char *json;
        if (qwglm_voice_phoneme_ids_json(voice, text, &json, err)) {
            rc = cli_error(cmd, "%s", err);
            goto done;
        }
        printf("%s\n", json);
        qwglm_tts_free(json);
        goto done;
    }
    o.to_stdout = strcmp(output, "-") == 0;
    o.wav = o.to_stdout ? stdout : fopen(output, "wb");
    if (!o.wav) {
        rc = cli_error(cmd, "%s: %s", output, strerror(errno));
        goto done;
    }
    if (raw && !(o.raw = fopen(raw, "wb"))) {
        rc = cli_error(cmd, "%s: %s", raw, strerror(errno));
        goto done;
    }
    unsigned char h[44];
    wav_header(h, info.sample_rate, 0, o.to_stdout);
    fwrite(h, 1, 44, o.wav);
    qwglm_status st = ids ? qwglm_voice_speak_ids(voice, ids, n_ids, &sp, on_audio, &o, err)
                          : qwglm_voice_speak(voice, text, &sp, on_audio, &o, err);
    if (o.failed) {
        rc = cli_error(cmd, "%s: write failed", output);
        goto done;
    }
    if (st) {
        rc = cli_error(cmd, "%s", err);
        goto done;
    }
    if (!o.to_stdout) {
        wav_header(h, info.sample_rate, o.samples, false);
        if (fseek(o.wav, 0, SEEK_SET) != 0 || fwrite(h, 1, 44, o.wav) != 44) rc = cli_error(cmd, "%s: write failed", output);
    }
    fprintf(stderr, "qwglm speak: %.2f s of audio at %d Hz\n", (double)o.samples / info.sample_rate,
            info.sample_rate);
done:
    if (o.wav && !o.to_stdout && fclose(o.wav) != 0 && !rc) rc = cli_error(cmd, "%s: write failed", output);
    if (o.raw && fclose(o.raw) != 0 && !rc) rc = cli_error(cmd, "%s: write failed", raw);
    free(o.pcm);
    free(ids);
    free(stdin_text);
    qwglm_voice_free(voice);
    return rc;
}
