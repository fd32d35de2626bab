/* A whole pull: ask the Hub which commit the revision names and which files it holds, choose the ones
 * inference needs, check the disk, download them in parallel (resuming partial files, verifying every byte),
 * link them into the snapshot, and report progress on the way.
 *
 * Every file is fetched from {endpoint}/{repo}/resolve/{commit}/{path}: pinned to the commit, so a branch
 * that moves during the pull cannot mix two versions. A file becomes visible (blobs/OID, then the snapshot
 * link) only after its digest matched; until then it is blobs/OID.incomplete, which the next attempt (or the
 * next process) resumes with an HTTP Range request. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "pull.h"

/* ---- failure and events ---- */

/* Records the pull's failure (the first one wins) and stops the other downloads. */
qwglm_status pull_fail(struct pull *pl, qwglm_hub_error why, int http_status, qwglm_status st,
                       const char *fmt, ...)
{
    char msg[QWGLM_ERR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&pl->mu);
    if (pl->err.status == QWGLM_OK) {
        qw_fail(&pl->err, st, "%s", msg);
        pl->why = why;
        pl->http_status = http_status;
    }
    pl->stop = true;
    pthread_mutex_unlock(&pl->mu);
    return st;
}

static double speed_locked(struct pull *pl, int64_t now)
{
    int i = pl->n_samples < SPEED_SAMPLES ? 0 : pl->n_samples % SPEED_SAMPLES;
    int last = pl->n_samples < SPEED_SAMPLES ? pl->n_samples : SPEED_SAMPLES;
    for (int k = 0; k < last; k++, i = (i + 1) % SPEED_SAMPLES) { /* oldest sample within the window */
        if (now - pl->sample_t[i] > SPEED_WINDOW_US) continue;
        double dt = (double)(now - pl->sample_t[i]) / 1e6;
        return dt > 0.05 ? (double)(pl->downloaded - pl->sample_b[i]) / dt : 0.0;
    }
    return 0.0;
}

/* Calls the progress callback; pl->mu must be held. A nonzero answer cancels the pull. */
void emit_locked(struct pull *pl, qwglm_hub_event_kind kind, const struct job *j, int attempt,
                 qwglm_hub_error error, const char *message)
{
    if (kind == QWGLM_HUB_EV_PROGRESS || kind == QWGLM_HUB_EV_RESOLVED || kind == QWGLM_HUB_EV_DONE) {
        int64_t now = qw_time_us();
        pl->sample_t[pl->n_samples % SPEED_SAMPLES] = now;
        pl->sample_b[pl->n_samples % SPEED_SAMPLES] = pl->downloaded;
        pl->n_samples++;
        pl->t_progress_us = now;
    }
    if (!pl->p->progress || pl->quiet) return;
    qwglm_hub_event ev = {
        .kind = kind,
        .repo = pl->ref.repo,
        .revision = pl->ref.revision,
        .commit = pl->commit[0] ? pl->commit : NULL,
        .file = j ? j->file->name : NULL,
        .file_done = j ? j->done : 0,
        .file_total = j ? j->file->size : 0,
        .done = pl->done,
        .total = pl->total,
        .files_done = pl->files_done,
        .files_total = pl->n_jobs,
        .speed = speed_locked(pl, qw_time_us()),
        .eta_s = -1,
        .attempt = attempt,
        .error = error,
        .message = message,
    };
    if (ev.speed > 0 && pl->total >= pl->done) ev.eta_s = (double)(pl->total - pl->done) / ev.speed;
    if (pl->p->progress(&ev, pl->p->progress_user) && !pl->stop) {
        qw_fail(&pl->err, QWGLM_ERR_CANCELLED, "%s: cancelled", pl->ref.repo);
        pl->why = QWGLM_HUB_ERR_CANCELLED;
        pl->stop = true;
    }
}

void emit(struct pull *pl, qwglm_hub_event_kind kind, const struct job *j, int attempt, qwglm_hub_error error,
          const char *message)
{
    pthread_mutex_lock(&pl->mu);
    emit_locked(pl, kind, j, attempt, error, message);
    pthread_mutex_unlock(&pl->mu);
}

bool stopped(struct pull *pl)
{
    pthread_mutex_lock(&pl->mu);
    bool s = pl->stop;
    pthread_mutex_unlock(&pl->mu);
    return s;
}

/* Sleeps ms, in slices, returning early when the pull stops. */
void nap(struct pull *pl, int ms)
{
    for (int left = ms; left > 0 && !stopped(pl); left -= 50) {
        struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- HTTP answers to messages ---- */

/* Maps a failed answer (4xx) to the pull's error, naming what was asked for. */
qwglm_status http_refusal(struct pull *pl, const struct hub_http *h, const char *what)
{
    bool token = pl->cfg.token[0] != '\0';
    const char *repo = pl->ref.repo, *ep = pl->cfg.endpoint;
    int st = (int)h->status;
    if (strcmp(h->error_code, "GatedRepo") == 0) {
        if (token)
            return pull_fail(pl, QWGLM_HUB_ERR_GATED, st, QWGLM_ERR_IO,
                             "%s is gated and HF_TOKEN has no access to it: request access at %s/%s", repo,
                             ep, repo);
        return pull_fail(
            pl, QWGLM_HUB_ERR_GATED, st, QWGLM_ERR_IO,
            "%s is gated: accept its terms at %s/%s, then set HF_TOKEN to a token of that account", repo, ep,
            repo);
    }
    if (st == 401 && strstr(h->error_message, "Invalid credentials"))
        return pull_fail(pl, QWGLM_HUB_ERR_AUTH, st, QWGLM_ERR_IO,
                         "%s rejected HF_TOKEN: invalid credentials", ep);
    if (strcmp(h->error_code, "RevisionNotFound") == 0)
        return pull_fail(pl, QWGLM_HUB_ERR_NOT_FOUND, st, QWGLM_ERR_IO, "%s has no revision '%s'", repo,
                         pl->ref.revision);
    if (strcmp(h->error_code, "EntryNotFound") == 0 || (st == 404 && pl->commit[0]))
        return pull_fail(pl, QWGLM_HUB_ERR_NOT_FOUND, st, QWGLM_ERR_IO, "%s: not found in %s at commit %.12s",
                         what, repo, pl->commit);
    if (strcmp(h->error_code, "RepoNotFound") == 0 || st == 401 || st == 404)
        return pull_fail(pl, QWGLM_HUB_ERR_NOT_FOUND, st, QWGLM_ERR_IO,
                         "%s: no such model on %s (if it is private, %s)", repo, ep,
                         token ? "HF_TOKEN has no access to it" : "set HF_TOKEN");
    if (st == 403)
        return pull_fail(pl, QWGLM_HUB_ERR_AUTH, st, QWGLM_ERR_IO, "%s: access denied (HTTP 403%s%s)", what,
                         h->error_message[0] ? ": " : "", h->error_message);
    return pull_fail(pl, QWGLM_HUB_ERR_PROTOCOL, st, QWGLM_ERR_IO, "%s: unexpected answer HTTP %d%s%s", what,
                     st, h->error_message[0] ? ": " : "", h->error_message);
}

bool http_retryable(const struct hub_http *h)
{
    if (h->curl_code > 0) return hub_http_transient(h);
    return h->status >= 500 || h->status == 429 || h->status == 408;
}

void describe_failure(const struct hub_http *h, char *dst, size_t cap)
{
    if (h->curl_code > 0)
        snprintf(dst, cap, "%s", h->curl_error);
    else
        snprintf(dst, cap, "HTTP %ld%s%.200s", h->status, h->error_message[0] ? ": " : "", h->error_message);
}

int backoff_ms(const struct pull *pl, int failures, const struct hub_http *h)
{
    if (h && h->retry_after_s >= 0) return (int)(h->retry_after_s > 60 ? 60000 : h->retry_after_s * 1000);
    int64_t ms = pl->p->retry_delay_ms > 0 ? pl->p->retry_delay_ms : 500;
    for (int i = 1; i < failures && ms < BACKOFF_MAX_MS; i++) ms *= 2;
    return (int)(ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms);
}

int max_retries(const struct pull *pl)
{
    return pl->p->max_retries > 0 ? pl->p->max_retries : 6;
}

/* ---- the pool of download threads ---- */

struct worker {
    struct pull *pl;
    pthread_t thread;
    bool started;
};

static void *worker_main(void *arg)
{
    struct pull *pl = ((struct worker *)arg)->pl;
    struct hub_client *c = hub_client_new(&pl->cfg, pl->p->stall_timeout_s);
    if (!c) {
        pull_fail(pl, QWGLM_HUB_ERR_NETWORK, 0, QWGLM_ERR_NOMEM, "cannot start an HTTP client (libcurl)");
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        int k = pl->stop || pl->next_job >= pl->n_jobs ? -1 : pl->next_job++;
        pthread_mutex_unlock(&pl->mu);
        if (k < 0) break;
        run_job(pl, c, &pl->jobs[k]);
    }
    hub_client_free(c);
    return NULL;
}

static void run_jobs(struct pull *pl)
{
    int n = pl->p->n_parallel > 0 ? pl->p->n_parallel : 4;
    if (n > 16) n = 16;
    if (n > pl->n_jobs) n = pl->n_jobs;
    struct worker workers[16];
    pl->next_job = 0;
    for (int i = 0; i < n; i++) {
        workers[i] = (struct worker){.pl = pl};
        workers[i].started = i > 0 && pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0;
    }
    if (n > 0)
        worker_main(&workers[0]); /* the calling thread is one of them; threads that failed to start
                                     leave their share to the others */
    for (int i = 1; i < n; i++)
        if (workers[i].started) pthread_join(workers[i].thread, NULL);
}

/* ---- planning ---- */

static bool is_metadata(const struct hub_file *f)
{
    size_t n = strlen(f->name);
    return !(n > 12 && strcmp(f->name + n - 12, ".safetensors") == 0) && f->size < (64u << 20);
}

/* One job per chosen file: small files first (configs and tokenizer are there early), then weights by name.
 */
static qwglm_status plan_jobs(struct pull *pl)
{
    qw_free(pl->jobs);
    pl->jobs = NULL;
    pl->n_jobs = 0;
    pl->done = pl->total = 0;
    int n = 0;
    for (int i = 0; i < pl->info.n_files; i++) n += pl->info.files[i].selected;
    pl->jobs = qw_calloc(n ? (size_t)n : 1, sizeof *pl->jobs);
    if (!pl->jobs) return pull_fail(pl, QWGLM_HUB_ERR_IO, 0, QWGLM_ERR_NOMEM, "%d files", n);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < pl->info.n_files; i++) {
            struct hub_file *f = &pl->info.files[i];
            if (!f->selected || is_metadata(f) != (pass == 0)) continue;
            if (!f->oid[0])
                return pull_fail(pl, QWGLM_HUB_ERR_PROTOCOL, 0, QWGLM_ERR_FORMAT,
                                 "%s: the Hub lists no size or blob id for it", f->name);
            struct job *j = &pl->jobs[pl->n_jobs++];
            j->file = f;
            char blob[QWGLM_HUB_PATH_MAX], rel[HUB_OID_MAX + 32];
            snprintf(rel, sizeof rel, "blobs/%s", f->oid);
            qw_path_join(blob, sizeof blob, pl->repo_dir, rel);
            struct stat st;
            if (blob_ok(blob, f->size)) {
                j->cached = true;
                j->done = f->size;
            } else if (snprintf(rel, sizeof rel, "blobs/%s.incomplete", f->oid) > 0 &&
                       qw_path_join(blob, sizeof blob, pl->repo_dir, rel) && stat(blob, &st) == 0 &&
                       (uint64_t)st.st_size <= f->size) {
                j->done = (uint64_t)st.st_size;
            }
            pl->total += f->size;
            pl->done += j->done;
        }
    return QWGLM_OK;
}

static void human_bytes(char *dst, size_t cap, uint64_t n)
{
    if (n >= (1ull << 40))
        snprintf(dst, cap, "%.1f TB", n / 1e12);
    else if (n >= (1ull << 30))
        snprintf(dst, cap, "%.1f GB", n / 1e9);
    else if (n >= (1ull << 20))
        snprintf(dst, cap, "%.1f MB", n / 1e6);
    else
        snprintf(dst, cap, "%" PRIu64 " bytes", n);
}

/* Fails before any byte arrives when the blobs folder's file system cannot hold what is left to download. */
static qwglm_status check_disk(struct pull *pl, const char *blobs_dir)
{
    uint64_t need = 0;
    for (int i = 0; i < pl->n_jobs; i++) need += pl->jobs[i].file->size - pl->jobs[i].done;
    struct statvfs vfs;
    if (need == 0 || statvfs(blobs_dir, &vfs) != 0) return QWGLM_OK;
    uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    if (avail >= need) return QWGLM_OK;
    char a[32], b[32];
    human_bytes(a, sizeof a, need);
    human_bytes(b, sizeof b, avail);
    return pull_fail(
        pl, QWGLM_HUB_ERR_DISK_FULL, 0, QWGLM_ERR_IO,
        "not enough disk space in %s: %s to download, %s free (set HF_HUB_CACHE to another disk)", blobs_dir,
        a, b);
}

/* ---- the API call ---- */

static qwglm_status fetch_info(struct pull *pl, struct hub_client *c)
{
    char rev[3 * HUB_REV_MAX + 1], url[4096];
    hub_url_escape(rev, sizeof rev, pl->ref.revision, false);
    if (snprintf(url, sizeof url, "%s/api/models/%s/revision/%s?blobs=true", pl->cfg.endpoint, pl->ref.repo,
                 rev) >= (int)sizeof url)
        return pull_fail(pl, QWGLM_HUB_ERR_ARG, 0, QWGLM_ERR_ARG, "HF_ENDPOINT too long");
    for (int failures = 1;; failures++) {
        char *body = NULL;
        size_t len = 0;
        struct hub_http h;
        struct qw_err e = {0};
        qwglm_status rc = hub_http_get(c, url, HUB_API_MAX, &body, &len, &h, &e);
        if (rc) return pull_fail(pl, QWGLM_HUB_ERR_PROTOCOL, 0, rc, "%s", e.msg);
        if (h.curl_code == 0 && h.status == 200) {
            rc = hub_repo_info_parse(body, len, &pl->info, &e);
            qw_free(body);
            if (rc) return pull_fail(pl, QWGLM_HUB_ERR_PROTOCOL, 200, rc, "%s: %s", url, e.msg);
            return QWGLM_OK;
        }
        qw_free(body);
        if (!http_retryable(&h)) {
            if (h.curl_code)
                return pull_fail(pl, QWGLM_HUB_ERR_NETWORK, 0, QWGLM_ERR_IO, "%s: %s", pl->cfg.endpoint,
                                 h.curl_error);
            return http_refusal(pl, &h, pl->ref.repo);
        }
        char msg[QWGLM_ERR_SIZE];
        describe_failure(&h, msg, sizeof msg);
        if (failures > max_retries(pl)) {
            if (h.curl_code)
                return pull_fail(pl, QWGLM_HUB_ERR_NETWORK, 0, QWGLM_ERR_IO, "cannot reach %s: %s",
                                 pl->cfg.endpoint, msg);
            return pull_fail(pl, QWGLM_HUB_ERR_SERVER, (int)h.status, QWGLM_ERR_IO,
                             "%s answered %s %d times; try again later", pl->cfg.endpoint, msg, failures);
        }
        int ms = backoff_ms(pl, failures, &h);
        qw_log(&pl->log, QWGLM_LOG_WARN, "%s: %s; retrying in %.1f s", pl->cfg.endpoint, msg, ms / 1000.0);
        emit(pl, QWGLM_HUB_EV_RETRY, NULL, failures,
             h.curl_code ? QWGLM_HUB_ERR_NETWORK : QWGLM_HUB_ERR_SERVER, msg);
        nap(pl, ms);
        if (stopped(pl)) return pl->err.status;
    }
}

/* With an index, the shards come from it: fetch the index alone (quietly), then choose the shards it names.
 */
static qwglm_status select_shards(struct pull *pl, const struct hub_select_opts *so)
{
    const struct hub_file *idx = hub_repo_find(&pl->info, "model.safetensors.index.json");
    for (int i = 0; i < pl->info.n_files; i++) pl->info.files[i].selected = &pl->info.files[i] == idx;
    pl->quiet = true;
    if (plan_jobs(pl) == QWGLM_OK) run_jobs(pl);
    pl->quiet = false;
    pl->files_done = 0;
    if (pl->err.status) return pl->err.status;
    char blob[QWGLM_HUB_PATH_MAX], rel[HUB_OID_MAX + 16], *text = NULL;
    size_t n = 0;
    struct qw_err e = {0};
    snprintf(rel, sizeof rel, "blobs/%s", idx->oid);
    qw_path_join(blob, sizeof blob, pl->repo_dir, rel);
    qwglm_status rc = qw_read_file(blob, HUB_INDEX_MAX, &text, &n, &e);
    if (rc) return pull_fail(pl, QWGLM_HUB_ERR_IO, 0, rc, "%s", e.msg);
    qwglm_hub_error why;
    if ((rc = hub_select(&pl->info, so, NULL, 0, &why, &e)) == QWGLM_OK)
        rc = hub_select(&pl->info, so, text, n, &why, &e);
    qw_free(text);
    if (rc) return pull_fail(pl, why, 0, rc, "%s: %s", pl->ref.repo, e.msg);
    return QWGLM_OK;
}

/* ---- the public entry ---- */

qwglm_hub_params qwglm_hub_default_params(void)
{
    qwglm_hub_params p;
    memset(&p, 0, sizeof p);
    p.offline = -1;
    return p;
}

static qwglm_status from_cache(struct pull *pl, qwglm_hub_result *out, bool *found)
{
    char commit[48], rel[64];
    *found = false;
    if (!hub_cache_commit(pl->repo_dir, pl->ref.revision, commit)) return QWGLM_OK;
    snprintf(rel, sizeof rel, "snapshots/%s", commit);
    if (!qw_path_join(out->path, sizeof out->path, pl->repo_dir, rel) || !hub_snapshot_complete(out->path))
        return QWGLM_OK;
    memcpy(out->commit, commit, 41);
    memcpy(pl->commit, commit, 41);
    *found = true;
    emit(pl, QWGLM_HUB_EV_DONE, NULL, 0, 0, NULL);
    return QWGLM_OK;
}

static qwglm_status pull_online(struct pull *pl, qwglm_hub_result *out)
{
    struct hub_client *c = hub_client_new(&pl->cfg, pl->p->stall_timeout_s);
    if (!c) return pull_fail(pl, QWGLM_HUB_ERR_NETWORK, 0, QWGLM_ERR_NOMEM, "cannot start libcurl");
    qwglm_status rc = fetch_info(pl, c);
    hub_client_free(c);
    if (rc) return rc;
    memcpy(pl->commit, pl->info.commit, 41);
    struct hub_select_opts so = {pl->p->include_onnx != 0, pl->p->include, pl->p->n_include};
    qwglm_hub_error why;
    struct qw_err e = {0};
    if ((rc = hub_select(&pl->info, &so, NULL, 0, &why, &e)))
        return pull_fail(pl, why, 0, rc, "%s: %s", pl->ref.repo, e.msg);
    char blobs[QWGLM_HUB_PATH_MAX];
    qw_path_join(blobs, sizeof blobs, pl->repo_dir, "blobs");
    if ((rc = hub_mkdirs(blobs, &e)) || (rc = hub_mkdirs(pl->locks_dir, &e)))
        return pull_fail(pl, QWGLM_HUB_ERR_IO, 0, rc, "%s", e.msg);
    if (so.n_include == 0 && hub_select_needs_index(&pl->info) && (rc = select_shards(pl, &so))) return rc;
    if ((rc = plan_jobs(pl)) || (rc = check_disk(pl, blobs))) return rc;
    emit(pl, QWGLM_HUB_EV_RESOLVED, NULL, 0, 0, NULL);
    run_jobs(pl);
    if (pl->err.status) return pl->err.status;
    if (strcmp(pl->ref.revision, pl->commit) != 0 &&
        (rc = hub_cache_write_ref(pl->repo_dir, pl->ref.revision, pl->commit, &e)))
        return pull_fail(pl, QWGLM_HUB_ERR_IO, 0, rc, "%s", e.msg);
    char rel[64];
    snprintf(rel, sizeof rel, "snapshots/%s", pl->commit);
    qw_path_join(out->path, sizeof out->path, pl->repo_dir, rel);
    memcpy(out->commit, pl->commit, 41);
    out->n_files = pl->n_jobs;
    out->bytes_total = pl->total;
    out->bytes_downloaded = pl->downloaded;
    emit(pl, QWGLM_HUB_EV_DONE, NULL, 0, 0, NULL);
    return pl->err.status;
}

qwglm_status qwglm_hub_resolve(const char *ref, const qwglm_hub_params *params, qwglm_hub_result *out,
                               char *err)
{
    qwglm_hub_params defaults = qwglm_hub_default_params();
    qwglm_hub_result scratch;
    if (!out) out = &scratch;
    memset(out, 0, sizeof *out);
    struct pull *pl = qw_calloc(1, sizeof *pl);
    if (!pl) {
        if (err) snprintf(err, QWGLM_ERR_SIZE, "out of memory");
        out->error = QWGLM_HUB_ERR_IO;
        return QWGLM_ERR_NOMEM;
    }
    pl->p = params ? params : &defaults;
    pl->log = (struct qw_log){pl->p->log, pl->p->log_user};
    pthread_mutex_init(&pl->mu, NULL);
    qwglm_status rc;
    if ((rc = hub_ref_parse(ref ? ref : "", &pl->ref, &pl->err)) ||
        (rc = hub_config_init(&pl->cfg, pl->p, &pl->err))) {
        pl->why = QWGLM_HUB_ERR_ARG;
        goto done;
    }
    const char *slash = strchr(pl->ref.repo, '/');
    char locks_rel[HUB_REPO_MAX + 32];
    snprintf(locks_rel, sizeof locks_rel, ".locks/models--%.*s--%s", (int)(slash - pl->ref.repo),
             pl->ref.repo, slash + 1);
    if (!hub_repo_dir(pl->repo_dir, sizeof pl->repo_dir, pl->cfg.cache_dir, pl->ref.repo) ||
        !qw_path_join(pl->locks_dir, sizeof pl->locks_dir, pl->cfg.cache_dir, locks_rel)) {
        rc = pull_fail(pl, QWGLM_HUB_ERR_ARG, 0, QWGLM_ERR_ARG, "%s: cache path too long", pl->cfg.cache_dir);
        goto done;
    }
    bool found = false;
    if (pl->cfg.offline || !pl->p->update) from_cache(pl, out, &found);
    if (found) {
        rc = QWGLM_OK;
    } else if (pl->cfg.offline) {
        char commit[48];
        bool partial = hub_cache_commit(pl->repo_dir, pl->ref.revision, commit);
        rc = pull_fail(pl, QWGLM_HUB_ERR_OFFLINE, 0, QWGLM_ERR_IO,
                       "%s@%s is %s the cache %s, and HF_HUB_OFFLINE is set", pl->ref.repo, pl->ref.revision,
                       partial ? "only partly in" : "not in", pl->cfg.cache_dir);
    } else {
        qw_log(&pl->log, QWGLM_LOG_INFO, "%s@%s: asking %s", pl->ref.repo, pl->ref.revision,
               pl->cfg.endpoint);
        rc = pull_online(pl, out);
    }
done:
    if (rc) {
        if (pl->why == QWGLM_HUB_ERR_NONE) pl->why = QWGLM_HUB_ERR_IO;
        out->error = pl->why;
        out->http_status = pl->http_status;
        out->path[0] = '\0';
        pthread_mutex_lock(&pl->mu);
        bool was_cancel = pl->why == QWGLM_HUB_ERR_CANCELLED;
        pl->stop = false; /* the error event is the one that must always arrive */
        if (!was_cancel) emit_locked(pl, QWGLM_HUB_EV_ERROR, NULL, 0, pl->why, pl->err.msg);
        pthread_mutex_unlock(&pl->mu);
        qw_err_copy(err, &pl->err);
    } else if (err) {
        err[0] = '\0';
    }
    hub_repo_info_free(&pl->info);
    qw_free(pl->jobs);
    pthread_mutex_destroy(&pl->mu);
    qw_free(pl);
    return rc;
}
