/* qwglm Hub client: models from the Hugging Face Hub, downloaded once, cached exactly as huggingface_hub caches
 * them (so Python tools and qwglm share one cache both ways), resumed after an interruption.
 *
 * Usage:
 *     qwglm_hub_params hp = qwglm_hub_default_params();
 *     hp.progress = on_event;                      (optional: machine-readable progress)
 *     qwglm_hub_result res;
 *     char err[QWGLM_ERR_SIZE];
 *     if (qwglm_hub_resolve("Qwen/Qwen3-0.6B@main", &hp, &res, err)) { fprintf(stderr, "%s\n", err); return 1; }
 *     qwglm_model_load(res.path, &mp, &model, err);   (res.path: .../models--Qwen--Qwen3-0.6B/snapshots/COMMIT)
 *
 * Environment, read when the matching field of qwglm_hub_params is NULL / -1, with huggingface_hub's meaning:
 * HF_ENDPOINT, HF_TOKEN (else the file $HF_TOKEN_PATH, default $HF_HOME/token), HF_HOME (default
 * $XDG_CACHE_HOME/huggingface, default ~/.cache/huggingface), HF_HUB_CACHE (default $HF_HOME/hub), HF_HUB_OFFLINE.
 *
 * Threads: qwglm_hub_resolve may run on several threads and in several processes at once, also on the same model
 * (a lock file per blob, as huggingface_hub takes, keeps them from writing the same file). It downloads with
 * threads of its own; the progress callback is called from them, one call at a time. Native builds only: this
 * library is not part of the WebAssembly build.
 */
#ifndef QWGLM_HUB_H
#define QWGLM_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "qwglm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model `qwglm serve` loads when none is named. */
#define QWGLM_HUB_DEFAULT_MODEL "DavidAU/Qwen3-VL-8B-GLM-4.7-Flash-Heretic-Uncensored-Thinking"

#define QWGLM_HUB_PATH_MAX 4096

/* Why a pull failed, for callers that map it to something (the server maps it to an HTTP status). */
typedef enum qwglm_hub_error { /* stable numbers: append, never renumber */
    QWGLM_HUB_ERR_NONE = 0,
    QWGLM_HUB_ERR_NETWORK = 1,   /* the endpoint could not be reached, or kept dropping the connection */
    QWGLM_HUB_ERR_AUTH = 2,      /* 401/403: private repository or invalid token */
    QWGLM_HUB_ERR_GATED = 3,     /* gated repository: accept its terms on the Hub, then set HF_TOKEN */
    QWGLM_HUB_ERR_NOT_FOUND = 4, /* no such repository, revision or file */
    QWGLM_HUB_ERR_SERVER = 5,    /* 5xx or 429 after every retry */
    QWGLM_HUB_ERR_DISK_FULL = 6, /* not enough free space (checked before downloading), or the disk filled up */
    QWGLM_HUB_ERR_CHECKSUM = 7,  /* the bytes received do not hash to what the Hub lists */
    QWGLM_HUB_ERR_OFFLINE = 8,   /* offline mode and the model is not (completely) in the cache */
    QWGLM_HUB_ERR_NO_WEIGHTS = 9, /* the repository holds no weights qwglm loads (only *.bin, *.gguf, ...) */
    QWGLM_HUB_ERR_PROTOCOL = 10, /* malformed answer from the endpoint */
    QWGLM_HUB_ERR_CANCELLED = 11, /* the progress callback returned nonzero */
    QWGLM_HUB_ERR_IO = 12,       /* a cache file could not be read or written */
    QWGLM_HUB_ERR_ARG = 13,      /* malformed model reference or parameters */
    QWGLM_HUB_ERR_COUNT
} qwglm_hub_error;

/* Short English name of e ("gated repository"). Never NULL. */
QWGLM_API const char *qwglm_hub_error_str(qwglm_hub_error e);

typedef enum qwglm_hub_event_kind { /* stable numbers: append, never renumber */
    QWGLM_HUB_EV_RESOLVED = 0,   /* commit known, files chosen: files_total, total (cached files count as done) */
    QWGLM_HUB_EV_FILE_START = 1, /* a file starts downloading (file, file_done > 0 when resuming) */
    QWGLM_HUB_EV_PROGRESS = 2,   /* bytes arrived; at most one every 200 ms per pull */
    QWGLM_HUB_EV_FILE_DONE = 3,  /* a file is verified and in the snapshot (also for files already cached) */
    QWGLM_HUB_EV_RETRY = 4,      /* a transfer failed and is tried again: attempt, message */
    QWGLM_HUB_EV_WAITING = 5,    /* another process is downloading this file; waiting for its lock */
    QWGLM_HUB_EV_DONE = 6,       /* every file is in place */
    QWGLM_HUB_EV_ERROR = 7,      /* the pull failed: error, message */
    QWGLM_HUB_EV_COUNT
} qwglm_hub_event_kind;

/* A progress event. Strings are owned by the library and valid during the callback only. */
typedef struct qwglm_hub_event {
    qwglm_hub_event_kind kind;
    const char *repo;      /* "ORG/NAME" */
    const char *revision;  /* as asked: branch, tag or commit */
    const char *commit;    /* 40 hex digits; NULL before RESOLVED */
    const char *file;      /* path in the repository for FILE_* / RETRY / WAITING; NULL otherwise */
    uint64_t file_done, file_total; /* bytes of that file */
    uint64_t done, total;  /* bytes of the whole pull; files already cached count as done */
    int files_done, files_total;
    double speed;          /* bytes per second over the last few seconds; 0 when unknown */
    double eta_s;          /* seconds left at that speed; -1 when unknown */
    int attempt;           /* RETRY: 1 for the first retry */
    qwglm_hub_error error; /* ERROR (and the reason of a RETRY) */
    const char *message;   /* RETRY / WAITING / ERROR: one line; NULL otherwise */
} qwglm_hub_event;

/* Called with each event; return nonzero to cancel the pull (QWGLM_ERR_CANCELLED; partial files stay and are
 * resumed next time). Called from the library's download threads, never two calls at once; keep it short. */
typedef int (*qwglm_hub_progress_fn)(const qwglm_hub_event *ev, void *user);

/* Writes ev as one line of JSON (no newline) into buf, e.g.
 * {"event":"progress","repo":"Qwen/Qwen3-0.6B","revision":"main","commit":"...","file":"model.safetensors",
 *  "file_done":1048576,"file_total":1503300328,"done":1050000,"total":1503400000,"files_done":6,"files_total":7,
 *  "speed":52428800.0,"eta_s":28.6}
 * Keys with no value (file before FILE_START, message, error) are left out. Returns the length it needs (as
 * snprintf does); the output is complete when that is < cap. */
QWGLM_API size_t qwglm_hub_event_json(const qwglm_hub_event *ev, char *buf, size_t cap);

/* Name of an event kind as qwglm_hub_event_json writes it ("progress"). Never NULL. */
QWGLM_API const char *qwglm_hub_event_name(qwglm_hub_event_kind kind);

typedef struct qwglm_hub_params {
    const char *endpoint;  /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *cache_dir; /* NULL: $HF_HUB_CACHE, else $HF_HOME/hub */
    const char *token;     /* NULL: $HF_TOKEN, else the token file; "" sends none */
    int offline;           /* -1: $HF_HUB_OFFLINE (1/ON/YES/TRUE); 0: online; 1: cache only */
    int update;            /* 0: a complete cached snapshot of the revision is used without asking the Hub;
                            * 1: ask the Hub which commit the revision names now (what `qwglm pull` does) */
    int n_parallel;        /* files downloaded at once; 0: 4 */
    int include_onnx;      /* also *.onnx / *.onnx.json (chosen anyway for voice repositories) */
    const char *const *include; /* glob patterns (fnmatch, '*' crosses '/'), replacing the automatic choice */
    int n_include;
    int max_retries;       /* failed attempts in a row without new bytes before a file fails; 0: 6 */
    int retry_delay_ms;    /* first backoff, doubling up to 10 s; 0: 500 */
    int stall_timeout_s;   /* a transfer that receives nothing for this long is retried; 0: 30 */
    qwglm_hub_progress_fn progress; /* NULL: no events */
    void *progress_user;
    qwglm_log_fn log;      /* NULL: silent */
    void *log_user;
} qwglm_hub_params;

QWGLM_API qwglm_hub_params qwglm_hub_default_params(void);

typedef struct qwglm_hub_result {
    char path[QWGLM_HUB_PATH_MAX]; /* the snapshot folder: HF_HUB_CACHE/models--ORG--NAME/snapshots/COMMIT */
    char commit[48];               /* 40 hex digits */
    int n_files;                   /* files in the pull */
    uint64_t bytes_total;          /* their size */
    uint64_t bytes_downloaded;     /* bytes received by this call (0 when everything was cached) */
    qwglm_hub_error error;         /* why it failed; QWGLM_HUB_ERR_NONE on success */
    int http_status;               /* of the answer that made it fail; 0 when none */
} qwglm_hub_result;

/* True when s has the shape of a Hub model reference, ORG/NAME or ORG/NAME@REVISION (it does not look at the
 * disk: callers try a local directory first). */
QWGLM_API int qwglm_hub_is_ref(const char *s);

/* Makes the model ref ("ORG/NAME[@REVISION]", revision default "main") available in the cache and returns its
 * snapshot folder in out->path: from the cache when it is complete there (and p->update is 0, or offline), else
 * downloaded from the Hub (only the files inference needs: configs, tokenizer, chat template, preprocessor,
 * safetensors weights + index). p NULL: defaults. On failure out->error says why and err (NULL or QWGLM_ERR_SIZE
 * bytes) says it in one line; files verified so far stay in the cache and partial ones are resumed next time. */
QWGLM_API qwglm_status qwglm_hub_resolve(const char *ref, const qwglm_hub_params *p, qwglm_hub_result *out,
                                         char *err);

#ifdef __cplusplus
}
#endif
#endif
