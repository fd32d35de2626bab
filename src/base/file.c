#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if !defined(__EMSCRIPTEN__)
#include <sys/mman.h>
#define QW_HAVE_MMAP 1
#endif

#include "mem.h"

static qwglm_status read_fd(int fd, void *dst, size_t n, const char *path, struct qw_err *e)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, (char *)dst + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return qw_fail(e, QWGLM_ERR_IO, "%s: read failed: %s", path, r ? strerror(errno) : "short file");
        done += (size_t)r;
    }
    return QWGLM_OK;
}

qwglm_status qw_map_file(const char *path, struct qw_map *m, struct qw_err *e)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qw_fail(e, QWGLM_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qw_fail(e, QWGLM_ERR_IO, "%s: not a regular file", path);
    }
    m->size = (size_t)st.st_size;
    if (m->size == 0) {
        close(fd);
        return QWGLM_OK;
    }
#ifdef QW_HAVE_MMAP
    void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return qw_fail(e, QWGLM_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    m->data = p;
    m->mapped = true;
    return QWGLM_OK;
#else
    void *p = qw_malloc(m->size);
    if (!p) {
        close(fd);
        return qw_fail(e, QWGLM_ERR_NOMEM, "%s: %zu bytes", path, m->size);
    }
    qwglm_status rc = read_fd(fd, p, m->size, path, e);
    close(fd);
    if (rc) {
        qw_free(p);
        return rc;
    }
    m->data = p;
    return QWGLM_OK;
#endif
}

void qw_unmap(struct qw_map *m)
{
    if (!m->data) return;
#ifdef QW_HAVE_MMAP
    if (m->mapped) munmap((void *)m->data, m->size);
    else qw_free((void *)m->data);
#else
    qw_free((void *)m->data);
#endif
    memset(m, 0, sizeof *m);
}

qwglm_status qw_read_file(const char *path, size_t max_size, char **out, size_t *size, struct qw_err *e)
{
    *out = NULL;
    if (size) *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qw_fail(e, QWGLM_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qw_fail(e, QWGLM_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_size) {
        close(fd);
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: %lld bytes is more than the %zu allowed", path,
                       (long long)st.st_size, max_size);
    }
    size_t n = (size_t)st.st_size;
    char *buf = qw_malloc(n + 1);
    if (!buf) {
        close(fd);
        return qw_fail(e, QWGLM_ERR_NOMEM, "%s: %zu bytes", path, n);
    }
    qwglm_status rc = read_fd(fd, buf, n, path, e);
    close(fd);
    if (rc) {
        qw_free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    if (size) *size = n;
    return QWGLM_OK;
}

qwglm_status qw_write_file_atomic(const char *path, const void *data, size_t n, struct qw_err *e)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return qw_fail(e, QWGLM_ERR_IO, "%s: %s", tmp, strerror(errno));
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = errno;
            close(fd);
            unlink(tmp);
            return qw_fail(e, QWGLM_ERR_IO, "%s: write failed: %s", tmp, strerror(err));
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return qw_fail(e, QWGLM_ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return qw_fail(e, QWGLM_ERR_IO, "%s: %s", path, strerror(err));
    }
    return QWGLM_OK;
}

bool qw_path_join(char *dst, size_t cap, const char *dir, const char *name)
{
    size_t nd = strlen(dir);
    while (nd > 1 && dir[nd - 1] == '/') nd--;
    int w = snprintf(dst, cap, "%.*s/%s", (int)nd, dir, name);
    return w >= 0 && (size_t)w < cap;
}

bool qw_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
