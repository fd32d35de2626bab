/* One file of a pull: take its blob's lock, resume blobs/OID.incomplete with a Range request to
 * resolve/COMMIT/PATH, hash while writing, and only when the digest matches rename it to blobs/OID and link
 * it into snapshots/COMMIT. Transport failures and 5xx are retried with backoff; a digest mismatch deletes
 * the partial file and downloads once more. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "pull.h"

struct transfer {
    struct pull *pl;
    struct job *j;
    int fd;
    struct hub_digest dig;
    uint64_t have;     /* bytes in the partial file */
    uint64_t received; /* by this attempt */
    int write_errno;
    bool bad_range;
};

static void add_progress(struct transfer *t, int64_t delta)
{
    struct pull *pl = t->pl;
    pthread_mutex_lock(&pl->mu);
    t->j->done = (uint64_t)((int64_t)t->j->done + delta);
    pl->done = (uint64_t)((int64_t)pl->done + delta);
    if (delta > 0) pl->downloaded += (uint64_t)delta;
    if (qw_time_us() - pl->t_progress_us >= PROGRESS_EVERY_US)
        emit_locked(pl, QWGLM_HUB_EV_PROGRESS, t->j, 0, 0, NULL);
    pthread_mutex_unlock(&pl->mu);
}

static bool restart_from_zero(struct transfer *t)
{
    if (ftruncate(t->fd, 0) != 0 || lseek(t->fd, 0, SEEK_SET) != 0) {
        t->write_errno = errno;
        return false;
    }
    hub_digest_free(&t->dig);
    if (hub_digest_init(&t->dig, t->j->file->lfs, t->j->file->size, NULL)) return false;
    add_progress(t, -(int64_t)t->have);
    t->have = 0;
    return true;
}

static bool sink_begin(void *user, long status, uint64_t range_start, bool partial)
{
    struct transfer *t = user;
    if (status == 206 && partial && range_start == t->have) return true;
    if (status == 200) return t->have == 0 || restart_from_zero(t); /* the server ignored Range: start over */
    t->bad_range = true;
    return false;
}

static bool sink_write(void *user, const void *p, size_t n)
{
    struct transfer *t = user;
    if (t->have + t->received + n >
        t->j->file->size) { /* more than the Hub said: stop before filling a disk */
        t->bad_range = true;
        return false;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(t->fd, (const char *)p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            t->write_errno = w < 0 ? errno : EIO;
            return false;
        }
        done += (size_t)w;
    }
    hub_digest_update(&t->dig, p, n);
    t->received += n;
    add_progress(t, (int64_t)n);
    return true;
}

static bool sink_cancelled(void *user)
{
    return stopped(((struct transfer *)user)->pl);
}

/* Hashes the bytes already in the partial file, so the digest covers the whole file when the rest arrives. */
static bool hash_existing(struct transfer *t)
{
    size_t cap = 1 << 20;
    char *buf = qw_malloc(cap);
    if (!buf) return false;
    uint64_t off = 0;
    while (off < t->have) {
        size_t want = t->have - off < cap ? (size_t)(t->have - off) : cap;
        ssize_t r = pread(t->fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            qw_free(buf);
            return false;
        }
        hub_digest_update(&t->dig, buf, (size_t)r);
        off += (uint64_t)r;
    }
    qw_free(buf);
    return lseek(t->fd, (off_t)t->have, SEEK_SET) == (off_t)t->have;
}

enum attempt { ATTEMPT_DONE, ATTEMPT_RETRY, ATTEMPT_CHECKSUM, ATTEMPT_FAILED };

/* One attempt at the file: resume the partial file, fetch the rest, verify, move into place. On RETRY and
 * CHECKSUM, msg says what went wrong (and *h what the server answered). */
static enum attempt attempt_file(struct pull *pl, struct hub_client *c, struct job *j, const char *blob,
                                 const char *part, bool *progressed, struct hub_http *h, char *msg,
                                 size_t cap)
{
    struct hub_file *f = j->file;
    struct transfer t = {.pl = pl, .j = j};
    *progressed = false;
    memset(h, 0, sizeof *h);
    t.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (t.fd < 0) {
        pull_fail(pl, QWGLM_HUB_ERR_IO, 0, QWGLM_ERR_IO, "%s: %s", part, strerror(errno));
        return ATTEMPT_FAILED;
    }
    struct stat st;
    enum attempt result = ATTEMPT_FAILED;
    if (fstat(t.fd, &st) != 0) goto io_error;
    t.have = (uint64_t)st.st_size;
    if (t.have > f->size) {
        if (ftruncate(t.fd, 0) != 0) goto io_error;
        t.have = 0;
    }
    if (hub_digest_init(&t.dig, f->lfs, f->size, NULL)) {
        pull_fail(pl, QWGLM_HUB_ERR_IO, 0, QWGLM_ERR_NOMEM, "%s: cannot start a digest", f->name);
        goto out;
    }
    if (!hash_existing(&t)) goto io_error;
    add_progress(&t, (int64_t)t.have - (int64_t)j->done);

    if (t.have < f->size) {
        char name[3 * HUB_NAME_MAX + 1], url[sizeof name + 2048];
        if (!hub_url_escape(name, sizeof name, f->name, true) ||
            snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", pl->cfg.endpoint, pl->ref.repo, pl->commit,
                     name) >= (int)sizeof url) {
            pull_fail(pl, QWGLM_HUB_ERR_ARG, 0, QWGLM_ERR_ARG, "%s: URL too long", f->name);
            goto out;
        }
        struct hub_sink sink = {sink_begin, sink_write, sink_cancelled, &t};
        hub_http_fetch(c, url, t.have, &sink, h);
        *progressed = t.received > 0;
        if (stopped(pl)) goto out;
        if (t.write_errno) {
            if (t.write_errno == ENOSPC || t.write_errno == EDQUOT)
                pull_fail(pl, QWGLM_HUB_ERR_DISK_FULL, 0, QWGLM_ERR_IO, "%s: the disk is full", part);
            else
                pull_fail(pl, QWGLM_HUB_ERR_IO, 0, QWGLM_ERR_IO, "%s: write failed: %s", part,
                          strerror(t.write_errno));
            goto out;
        }
        if (t.bad_range ||
            h->status == 416) { /* the partial file does not fit the server's copy: start over */
            snprintf(msg, cap, "%s: the server's answer does not continue the partial file; starting over",
                     f->name);
            if (ftruncate(t.fd, 0) != 0) goto io_error;
            add_progress(&t, -(int64_t)j->done);
            result = ATTEMPT_RETRY;
            goto out;
        }
        if (h->curl_code != 0 || (h->status != 200 && h->status != 206)) {
            if (http_retryable(h)) {
                describe_failure(h, msg, cap);
                result = ATTEMPT_RETRY;
            } else if (h->curl_code > 0) {
                pull_fail(pl, QWGLM_HUB_ERR_NETWORK, 0, QWGLM_ERR_IO, "%s: %s", f->name, h->curl_error);
            } else {
                http_refusal(pl, h, f->name);
            }
            goto out;
        }
        if (t.have + t.received != f->size) {
            snprintf(msg, cap, "%s: got %" PRIu64 " bytes, expected %" PRIu64, f->name, t.have + t.received,
                     f->size);
            result = ATTEMPT_RETRY;
            goto out;
        }
    }
    char hex[HUB_OID_MAX];
    hub_digest_final(&t.dig, hex);
    if (strcmp(hex, f->oid) != 0) {
        snprintf(msg, cap, "%s: %s of the download is %.16s..., the Hub lists %.16s...", f->name,
                 f->lfs ? "sha256" : "git blob id", hex, f->oid);
        close(t.fd);
        t.fd = -1;
        unlink(part); /* never resume from bytes that hash wrong */
        add_progress(&t, -(int64_t)j->done);
        return ATTEMPT_CHECKSUM;
    }
    if (fsync(t.fd) != 0) goto io_error;
    close(t.fd);
    t.fd = -1;
    if (rename(part, blob) != 0) {
        pull_fail(pl, QWGLM_HUB_ERR_IO, 0, QWGLM_ERR_IO, "%s: %s", blob, strerror(errno));
        return ATTEMPT_FAILED;
    }
    return ATTEMPT_DONE;
io_error:
    pull_fail(pl, errno == ENOSPC ? QWGLM_HUB_ERR_DISK_FULL : QWGLM_HUB_ERR_IO, 0, QWGLM_ERR_IO, "%s: %s",
              part, strerror(errno));
out:
    hub_digest_free(&t.dig);
    if (t.fd >= 0) close(t.fd);
    return result;
}

/* Downloads one file with retries, holding its blob's lock. */
static void fetch_blob(struct pull *pl, struct hub_client *c, struct job *j, const char *blob)
{
    char part[QWGLM_HUB_PATH_MAX + 16], msg[QWGLM_ERR_SIZE];
    snprintf(part, sizeof part, "%s.incomplete", blob);
    emit(pl, QWGLM_HUB_EV_FILE_START, j, 0, 0, NULL);
    int failures = 0, checksum_failures = 0;
    for (int attempt = 1;; attempt++) {
        bool progressed;
        struct hub_http h;
        enum attempt r = attempt_file(pl, c, j, blob, part, &progressed, &h, msg, sizeof msg);
        if (r == ATTEMPT_DONE || r == ATTEMPT_FAILED) return;
        bool checksum = r == ATTEMPT_CHECKSUM;
        failures = progressed && !checksum ? 1 : failures + 1;
        checksum_failures += checksum;
        if (checksum_failures >= 2) {
            pull_fail(pl, QWGLM_HUB_ERR_CHECKSUM, 0, QWGLM_ERR_FORMAT, "%s", msg);
            return;
        }
        if (failures > max_retries(pl) || attempt >= ATTEMPTS_MAX) {
            bool server = !checksum && h.curl_code == 0 && h.status >= 500;
            pull_fail(pl, server ? QWGLM_HUB_ERR_SERVER : QWGLM_HUB_ERR_NETWORK, (int)h.status, QWGLM_ERR_IO,
                      "%s (gave up after %d attempts)", msg, attempt);
            return;
        }
        int ms = checksum ? 0 : backoff_ms(pl, failures, &h);
        char line[QWGLM_ERR_SIZE + 64];
        snprintf(line, sizeof line, "%s; retrying in %.1f s", msg, ms / 1000.0);
        qw_log(&pl->log, QWGLM_LOG_WARN, "%s", line);
        emit(pl, QWGLM_HUB_EV_RETRY, j, attempt, checksum ? QWGLM_HUB_ERR_CHECKSUM : QWGLM_HUB_ERR_NETWORK,
             line);
        nap(pl, ms);
        if (stopped(pl)) return;
    }
}

bool blob_ok(const char *blob, uint64_t size)
{
    struct stat st;
    return stat(blob, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
}

static void finish_job(struct pull *pl, struct job *j)
{
    struct qw_err e = {0};
    if (hub_cache_link(pl->repo_dir, pl->commit, j->file->name, j->file->oid, &e)) {
        pull_fail(pl, QWGLM_HUB_ERR_IO, 0, e.status, "%s", e.msg);
        return;
    }
    pthread_mutex_lock(&pl->mu);
    pl->done += j->file->size - j->done;
    j->done = j->file->size;
    pl->files_done++;
    emit_locked(pl, QWGLM_HUB_EV_FILE_DONE, j, 0, 0, NULL);
    pthread_mutex_unlock(&pl->mu);
}

void run_job(struct pull *pl, struct hub_client *c, struct job *j)
{
    char blob[QWGLM_HUB_PATH_MAX], lock_path[QWGLM_HUB_PATH_MAX], rel[HUB_OID_MAX + 16];
    snprintf(rel, sizeof rel, "blobs/%s", j->file->oid);
    qw_path_join(blob, sizeof blob, pl->repo_dir, rel);
    snprintf(rel, sizeof rel, "%s.lock", j->file->oid);
    qw_path_join(lock_path, sizeof lock_path, pl->locks_dir, rel);
    if (blob_ok(blob, j->file->size)) {
        finish_job(pl, j);
        return;
    }
    /* another process (or thread: two files with the same content) may be writing this blob */
    struct hub_lock lock = {-1};
    struct qw_err e = {0};
    bool busy, said = false;
    for (;;) {
        if (hub_lock_try(&lock, lock_path, &busy, &e)) {
            pull_fail(pl, QWGLM_HUB_ERR_IO, 0, e.status, "%s", e.msg);
            return;
        }
        if (!busy) break;
        if (!said) {
            emit(pl, QWGLM_HUB_EV_WAITING, j, 0, 0,
                 "another download of this file is running; waiting for it");
            said = true;
        }
        nap(pl, 100);
        if (stopped(pl)) {
            hub_lock_release(&lock);
            return;
        }
    }
    if (!blob_ok(blob, j->file->size)) fetch_blob(pl, c, j, blob);
    hub_lock_release(&lock);
    if (!stopped(pl) && blob_ok(blob, j->file->size)) finish_job(pl, j);
}
