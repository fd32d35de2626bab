/* The server's shared state, seen by its files (http.c routes requests, server.c owns the lifetime and the
 * model, files.c serves the web app, progress.c tracks loading). */
#ifndef QW_SERVER_SRV_H
#define QW_SERVER_SRV_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/str.h"
#include "server/api.h"
#include "server/audio.h"
#include "server/engine.h"
#include "server/metrics.h"
#include "server/sched.h"
#include "server/server.h"

enum srv_state { SRV_LOADING, SRV_READY, SRV_FAILED, SRV_STATE_COUNT };

/* Model load progress, as the web app's LoadingProgress shows it. seq grows with every change. */
struct srv_progress {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t seq;
    enum srv_state state;
    char phase[32];  /* "resolve", "download", "load", "ready", "error" */
    char file[256];
    uint64_t done, total; /* bytes (download) or tensors (load) */
    char message[256];
};

struct srv {
    const struct srv_config *cfg;
    struct MHD_Daemon *daemon;
    struct srv_metrics metrics;
    struct srv_progress progress;
    atomic_int state;      /* enum srv_state; the engine and sched below are set before READY */
    atomic_bool stopping;
    atomic_int n_requests; /* requests between their headers and the end of their response */
    struct srv_engine eng;
    struct sched *sched;
    struct audio_engines *audio; /* speech models and VAD sessions; set before READY */
    struct srv_model_info info;
    int n_ctx;
    char model_name[256];
    char web_root[PATH_MAX]; /* empty: no web app */
    long long t_start;       /* unix seconds */
    struct api_image_source images; /* where named images may come from */
    char image_dir[PATH_MAX];        /* realpath of cfg->image_files_dir */
};

void progress_init(struct srv_progress *p);
void progress_free(struct srv_progress *p);
void progress_set_state(struct srv_progress *p, enum srv_state st, const char *phase, const char *message);
/* Appends the progress as a JSON object. */
void progress_json(struct srv_progress *p, struct qw_str *s);
/* Waits until seq differs from *seen or timeout_ms passes; updates *seen. True when it changed. */
bool progress_wait(struct srv_progress *p, uint64_t *seen, int timeout_ms);
const char *srv_state_name(enum srv_state st);

/* Starts the HTTP daemon on cfg->host:cfg->port; fills *port with the bound port. */
bool http_start(struct srv *srv, int *port, char *err, size_t err_cap);
void http_quiesce(struct srv *srv);
/* Waits up to timeout_ms for the requests in flight to finish sending. */
void http_drain(struct srv *srv, int timeout_ms);
void http_stop(struct srv *srv);

/* Resolves url under the web root into a path of an existing regular file (index.html for directories and for
 * routes of the single-page app). false: not found or not allowed. */
bool files_resolve(const char *root, const char *url, char *path, size_t cap);
const char *files_content_type(const char *path);

#endif
