/* qwglm serve: the OpenAI-compatible server and the web app (src/server/, docs/server.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "server/server.h"

#define DEFAULT_MODEL CLI_DEFAULT_MODEL

static void usage(FILE *out)
{
    fprintf(out,
            "usage: qwglm serve [-m MODEL] [options]\n\n"
            "Serves MODEL (a model directory or ORG/NAME) over an OpenAI-compatible API and the web app.\n\n"
            "  -m, --model MODEL    model directory or Hugging Face ORG/NAME (default %s)\n"
            "  --host ADDR          address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)\n"
            "  --port N             port (default 8080; 0 picks a free one)\n"
            "  --api-key KEY        require 'Authorization: Bearer KEY' (default: $QWGLM_API_KEY, else none)\n"
            "  --parallel N         concurrent replies, each with its own KV cache (default 1)\n"
            "  --ctx N              context tokens per reply slot (default min(model's, 4096))\n"
            "  --queue N            requests that may wait for a slot; beyond it, 503 (default 64)\n"
            "  --max-body BYTES     largest request body; larger gets 413 (default 33554432)\n"
            "  --cors ORIGIN        send CORS headers allowing ORIGIN ('*' for any; default off)\n"
            "  --web DIR            serve the web app from DIR (default: the built web/dist)\n"
            "  --threads N          engine threads (default one per core)\n"
            "  --dtype TYPE         weight precision: auto, f32, bf16, q8, q4 (default auto)\n"
            "  --asr-model MODEL    Parakeet model (a folder or ORG/NAME) for POST /v1/audio/transcriptions and the\n"
            "                       web app's voice input\n"
            "  --asr-dtype TYPE     its weights: auto, f32, bf16, q8, q4 (default auto; bf16 is about twice as fast\n"
            "                       as f32 on CPUs with AVX512_BF16)\n"
            "  --voice VOICE        Piper voice (FILE.onnx, a folder holding one, or ORG/NAME) for POST\n"
            "                       /v1/audio/speech and spoken replies (repeat for more; the first is the default)\n"
            "  --audio-parallel N   speech requests served at once (each loads its own copy; default 1)\n"
            "  --max-audio-seconds S  longest audio transcribed (default 3600)\n"
            "  --max-audio-bytes N  largest uploaded audio file (default 26214400)\n"
            "  --allow-image-urls   image_url parts may name http(s) URLs, which the server fetches (at most\n"
            "                       --max-body bytes, 30 s, 5 redirects); off by default\n"
            "  --allow-image-files DIR  image_url parts may name files inside DIR (file:///PATH or /PATH)\n",
            DEFAULT_MODEL);
}

int cmd_serve(int argc, char **argv)
{
    static const char *cmd = "serve";
    struct srv_config c = {
        .model = DEFAULT_MODEL,
        .host = "127.0.0.1",
        .port = 8080,
        .api_key = getenv("QWGLM_API_KEY"),
        .n_parallel = 1,
        .queue_max = 64,
        .max_body = 32u << 20,
        .audio_parallel = 1,
        .max_audio_seconds = 3600,
        .max_audio_bytes = 25u << 20,
    };
    if (c.api_key && !c.api_key[0]) c.api_key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (!(c.model = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--host") == 0) {
            if (!(c.host = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--api-key") == 0) {
            if (!(c.api_key = cli_value(cmd, argc, argv, &i))) return 2;
            if (!c.api_key[0]) return cli_usage_error(cmd, "--api-key must not be empty");
        } else if (strcmp(a, "--cors") == 0) {
            if (!(c.cors = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--web") == 0) {
            if (!(c.web_dir = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--dtype") == 0) {
            if (!(c.dtype = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--asr-model") == 0) {
            if (!(c.asr_model = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--asr-dtype") == 0) {
            if (!(c.asr_dtype = cli_value(cmd, argc, argv, &i))) return 2;
            if (qwglm_dtype_parse(c.asr_dtype) < 0)
                return cli_usage_error(cmd, "--asr-dtype must be auto, f32, bf16, q8 or q4, not '%s'", c.asr_dtype);
        } else if (strcmp(a, "--allow-image-urls") == 0) {
            c.allow_image_urls = true;
        } else if (strcmp(a, "--allow-image-files") == 0) {
            if (!(c.image_files_dir = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--voice") == 0) {
            if (c.n_voices == (int)(sizeof c.voices / sizeof c.voices[0]))
                return cli_usage_error(cmd, "at most %d --voice options", c.n_voices);
            if (!(c.voices[c.n_voices++] = cli_value(cmd, argc, argv, &i))) return 2;
        } else {
            static const struct {
                const char *flag;
                long lo, hi;
            } nums[] = {{"--port", 0, 65535},   {"--parallel", 1, 256}, {"--ctx", 16, 1 << 22},
                        {"--queue", 0, 100000}, {"--threads", 0, 1024}, {"--max-body", 1024, 1L << 34},
                        {"--audio-parallel", 1, 16}, {"--max-audio-seconds", 1, 86400},
                        {"--max-audio-bytes", 1024, 1L << 32}};
            size_t k = 0;
            while (k < sizeof nums / sizeof nums[0] && strcmp(a, nums[k].flag) != 0) k++;
            if (k == sizeof nums / sizeof nums[0]) return cli_usage_error(cmd, "unknown option '%s' (see --help)", a);
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (!cli_parse_int(v, nums[k].lo, nums[k].hi, &n))
                return cli_usage_error(cmd, "%s must be an integer in [%ld, %ld], not '%s'", a, nums[k].lo,
                                       nums[k].hi, v);
            switch (k) {
            case 0: c.port = (int)n; break;
            case 1: c.n_parallel = (int)n; break;
            case 2: c.n_ctx = (int)n; break;
            case 3: c.queue_max = (int)n; break;
            case 4: c.n_threads = (int)n; break;
            case 5: c.max_body = (size_t)n; break;
            case 6: c.audio_parallel = (int)n; break;
            case 7: c.max_audio_seconds = (double)n; break;
            default: c.max_audio_bytes = (size_t)n; break;
            }
        }
    }
    /* Speech models named ORG/NAME are pulled before the server starts (the language model's download is what
     * the web app shows progress for). */
    static char asr_dir[4096], voice_paths[sizeof c.voices / sizeof c.voices[0]][4096];
    if (c.asr_model) {
        if (cli_resolve_model(cmd, c.asr_model, asr_dir, sizeof asr_dir)) return 1;
        c.asr_model = asr_dir;
    }
    for (int i = 0; i < c.n_voices; i++) {
        if (cli_resolve_voice(cmd, c.voices[i], voice_paths[i], sizeof voice_paths[i])) return 1;
        c.voices[i] = voice_paths[i];
    }
    return srv_run(&c);
}
