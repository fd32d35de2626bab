/* qwglm transcribe: speech to text with a Parakeet TDT checkpoint.
 *   qwglm transcribe -m MODEL_DIR audio.wav [--timestamps] [--json] [--threads N] [--dtype f32|bf16|q8|q4]
 *                    [--max-symbols N] [--chunk SECONDS] [--overlap SECONDS] [--raw-rate HZ --raw-channels N]
 * Prints the transcript (with --timestamps, one "[start - end] word" line per word), or with --json one object
 * with text, tokens, token_frames, token_durations, timestamps, words and segments. "-" reads stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "qwglm_asr.h"

static const char *const usage_text =
    "usage: qwglm transcribe -m MODEL_DIR|ORG/NAME[@REV] AUDIO [options]\n"
    "  AUDIO                 WAV, FLAC, OGG, MP3, ... (any rate and channel count); '-' reads stdin\n"
    "  --timestamps          print word timestamps\n"
    "  --json                one JSON object: text, tokens, token_frames, token_durations, timestamps, words,\n"
    "                        segments\n"
    "  --threads N           CPU threads (default: all cores)\n"
    "  --dtype T             weights: auto, f32, bf16, q8, q4 (default auto)\n"
    "  --max-symbols N       tokens per encoder frame (default: the checkpoint's; 0 = unlimited)\n"
    "  --chunk S             window length for long audio in seconds (default 30; 0 = one pass)\n"
    "  --overlap S           overlap of windows in seconds (default 4)\n"
    "  --raw-rate HZ         AUDIO is raw little-endian float32 PCM at HZ (the browser's format)\n"
    "  --raw-channels N      channels of raw PCM (default 1)\n"
    "  -v                    log progress to stderr\n";

/* Reads a whole file (or stdin) into memory, at most max bytes. */
static unsigned char *slurp(const char *path, size_t max, size_t *n)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        if (len == cap) {
            if (cap >= max) {
                free(buf);
                buf = NULL;
                break;
            }
            unsigned char *g = realloc(buf, cap * 2);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (f != stdin) fclose(f);
    *n = len;
    return buf;
}

int cmd_transcribe(int argc, char **argv)
{
    const char *cmd = "transcribe", *model = NULL, *audio = NULL;
    bool json = false, stamps = false;
    int verbosity = QWGLM_LOG_WARN;
    long raw_rate = 0, raw_channels = 1;
    qwglm_asr_params p = qwglm_asr_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        double d;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (!(model = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--timestamps") == 0) {
            stamps = true;
        } else if (strcmp(a, "-v") == 0) {
            verbosity = QWGLM_LOG_DEBUG;
        } else if (strcmp(a, "--threads") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (!cli_parse_int(v, 0, 1024, &n)) return cli_usage_error(cmd, "--threads: '%s' is not 0..1024", v);
            p.n_threads = (int)n;
        } else if (strcmp(a, "--dtype") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            static const char *const names[] = {"auto", "f32", "bf16", "q8", "q4"};
            int t = -1;
            for (int k = 0; k < 5; k++)
                if (strcmp(v, names[k]) == 0) t = k;
            if (t < 0) return cli_usage_error(cmd, "--dtype: '%s' is not auto, f32, bf16, q8 or q4", v);
            p.dtype = (qwglm_dtype)t;
        } else if (strcmp(a, "--max-symbols") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (!cli_parse_int(v, 0, 1000, &n)) return cli_usage_error(cmd, "--max-symbols: '%s' is not 0..1000", v);
            p.max_symbols = (int)n;
        } else if (strcmp(a, "--chunk") == 0 || strcmp(a, "--overlap") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (!cli_parse_float(v, 0, 3600, &d)) return cli_usage_error(cmd, "%s: '%s' is not 0..3600 seconds", a, v);
            if (a[2] == 'c') p.chunk_seconds = (float)d;
            else p.overlap_seconds = (float)d;
        } else if (strcmp(a, "--raw-rate") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (!cli_parse_int(v, 1000, 768000, &raw_rate)) return cli_usage_error(cmd, "--raw-rate: '%s'", v);
        } else if (strcmp(a, "--raw-channels") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (!cli_parse_int(v, 1, 64, &raw_channels)) return cli_usage_error(cmd, "--raw-channels: '%s'", v);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(cmd, "unknown option '%s' (see --help)", a);
        } else if (!audio) {
            audio = a;
        } else {
            return cli_usage_error(cmd, "more than one audio file ('%s')", a);
        }
    }
    if (!model || !audio) {
        fputs(usage_text, stderr);
        return 2;
    }
    p.log = cli_log;
    p.log_user = &verbosity;
    char model_dir[QWGLM_HUB_PATH_MAX];
    if (cli_resolve_model(cmd, model, model_dir, sizeof model_dir)) return 1; /* a folder, or ORG/NAME */
    char err[QWGLM_ERR_SIZE];
    qwglm_asr *asr;
    if (qwglm_asr_load(model_dir, &p, &asr, err)) return cli_error(cmd, "%s", err);
    qwglm_asr_result *r = NULL;
    qwglm_status rc;
    if (raw_rate || strcmp(audio, "-") == 0) {
        size_t n;
        unsigned char *data = slurp(audio, (size_t)1 << 33, &n);
        if (!data) {
            qwglm_asr_free(asr);
            return cli_error(cmd, "%s: cannot read", audio);
        }
        const size_t frame_bytes = sizeof(float) * (size_t)raw_channels;
        if (raw_rate && n % frame_bytes) {
            free(data);
            qwglm_asr_free(asr);
            return cli_error(cmd, "%s: %zu bytes of raw PCM are not whole frames of %ld float32 sample%s", audio, n,
                             raw_channels, raw_channels == 1 ? "" : "s");
        }
        if (raw_rate) {
            size_t frames = n / frame_bytes;
            rc = qwglm_asr_transcribe_pcm(asr, (const float *)(void *)data, frames, (int)raw_rate, (int)raw_channels, &r,
                                          err);
        } else {
            rc = qwglm_asr_transcribe_memory(asr, data, n, "stdin", &r, err);
        }
        free(data);
    } else {
        rc = qwglm_asr_transcribe_file(asr, audio, &r, err);
    }
    qwglm_asr_free(asr);
    if (rc) return cli_error(cmd, "%s", err);
    if (json) {
        char *js = qwglm_asr_result_json(r, QWGLM_ASR_JSON_TIMESTAMPS | QWGLM_ASR_JSON_WORDS);
        if (!js) {
            qwglm_asr_result_free(r);
            return cli_error(cmd, "out of memory");
        }
        puts(js);
        qwglm_asr_json_free(js);
    } else if (stamps) {
        for (int i = 0; i < r->n_words; i++)
            printf("[%8.2f - %8.2f] %s\n", r->words[i].start, r->words[i].end, r->words[i].text);
    } else {
        puts(r->text);
    }
    qwglm_asr_result_free(r);
    return 0;
}
