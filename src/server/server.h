/* `qwglm serve`: an OpenAI-compatible HTTP server (libmicrohttpd) over one model, plus the web app's static
 * files. Native only. docs/server.md is the user's guide, docs/API.md the endpoint reference. */
#ifndef QW_SERVER_SERVER_H
#define QW_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct srv_config {
    const char *model;    /* model directory or ORG/NAME */
    const char *host;     /* bind address; default 127.0.0.1 */
    int port;             /* 0: any free port (the chosen one is printed) */
    const char *api_key;  /* NULL: no authentication */
    int n_parallel;       /* slots (concurrent generations) */
    int n_ctx;            /* tokens of context per slot; 0: the engine's default */
    int queue_max;        /* requests that may wait for a slot; beyond it, 503 */
    int n_threads;        /* engine threads; 0: one per core */
    size_t max_body;      /* request bodies above it get 413 */
    const char *cors;     /* NULL: no CORS headers; else the allowed origin ("*" for any) */
    const char *web_dir;  /* NULL: the built web app next to the binary, if any */
    const char *dtype;    /* weight precision; NULL: auto */
    /* speech, beside the language model (src/server/audio.h) */
    const char *asr_model;          /* Parakeet directory for /v1/audio/transcriptions; NULL: none */
    const char *asr_dtype;          /* its weight precision; NULL: auto */
    const char *voices[8];          /* Piper voices (.onnx) for /v1/audio/speech; the first is the default */
    int n_voices;
    int audio_parallel;             /* Parakeet handles and voice sets (each serves one request at a time) */
    double max_audio_seconds;       /* longest audio transcribed */
    size_t max_audio_bytes;         /* largest uploaded audio file */
    /* images that image_url parts name instead of carrying (docs/server.md) */
    bool allow_image_urls;          /* fetch http(s) URLs (a client makes the server connect where it says) */
    const char *image_files_dir;    /* file:// URLs and absolute paths inside this folder; NULL: none */
};

/* Runs until SIGINT or SIGTERM, then shuts down gracefully. Returns the process exit status. */
int srv_run(const struct srv_config *cfg);

#endif
