/* Internals shared by pull.c (the whole pull: API call, planning, workers, progress) and fetch.c (one file:
 * lock, resume, verify, retry). */
#ifndef QW_HUB_PULL_H
#define QW_HUB_PULL_H

#include <pthread.h>

#include "base/log.h"
#include "hub.h"

#define PROGRESS_EVERY_US 200000
#define SPEED_SAMPLES 32
#define SPEED_WINDOW_US 5000000
#define ATTEMPTS_MAX 50     /* absolute cap, also when every attempt makes some progress */
#define BACKOFF_MAX_MS 10000

struct job {
    struct hub_file *file;
    uint64_t done; /* bytes of it on disk (verified blob, or the partial file) */
    bool cached;   /* the blob was there before this pull */
};

struct pull {
    const qwglm_hub_params *p;
    struct hub_config cfg;
    struct hub_ref ref;
    struct qw_log log;
    char repo_dir[QWGLM_HUB_PATH_MAX], locks_dir[QWGLM_HUB_PATH_MAX];
    char commit[48];
    struct hub_repo_info info;
    struct job *jobs;
    int n_jobs;
    bool quiet; /* no events (while fetching the shard index before the pull is announced) */

    pthread_mutex_t mu; /* guards everything below, and serialises the progress callback */
    int next_job;
    uint64_t done, total, downloaded;
    int files_done;
    bool stop;
    struct qw_err err;
    qwglm_hub_error why;
    int http_status;
    int64_t t_progress_us;
    int64_t sample_t[SPEED_SAMPLES];
    uint64_t sample_b[SPEED_SAMPLES];
    int n_samples;
};

/* Records the pull's failure (the first one wins), stops the other downloads, returns st. */
qwglm_status pull_fail(struct pull *pl, qwglm_hub_error why, int http_status, qwglm_status st, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Calls the progress callback (pl->mu held / taken); a nonzero answer cancels the pull. */
void emit_locked(struct pull *pl, qwglm_hub_event_kind kind, const struct job *j, int attempt, qwglm_hub_error error,
                 const char *message);
void emit(struct pull *pl, qwglm_hub_event_kind kind, const struct job *j, int attempt, qwglm_hub_error error,
          const char *message);
bool stopped(struct pull *pl);
/* Sleeps ms, returning early when the pull stops. */
void nap(struct pull *pl, int ms);

/* Maps a refused request (4xx) to the pull's error, naming what was asked for. */
qwglm_status http_refusal(struct pull *pl, const struct hub_http *h, const char *what);
/* Transport failures and 5xx/429/408. */
bool http_retryable(const struct hub_http *h);
void describe_failure(const struct hub_http *h, char *dst, size_t cap);
/* Backoff before retry number failures (1-based): Retry-After, else retry_delay_ms doubling up to 10 s. */
int backoff_ms(const struct pull *pl, int failures, const struct hub_http *h);
int max_retries(const struct pull *pl);

/* fetch.c: brings one file into the cache and the snapshot (or records why not). */
void run_job(struct pull *pl, struct hub_client *c, struct job *j);
/* path holds a regular file of exactly size bytes. */
bool blob_ok(const char *path, uint64_t size);

#endif
