/* image_url parts that name their image instead of carrying it: http(s) URLs, fetched with libcurl when the
 * server runs with --allow-image-urls, and file:// URLs or absolute paths, read when they lie inside the
 * folder of
 * --allow-image-files. api_parse only records them (it never touches the network or the disk); the
 * connection's thread fetches them here before the request reaches the scheduler, so no engine lock is held
 * meanwhile. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "server/api.h"
#if defined(QWGLM_HAVE_HUB)
#include "hub/hub.h"
#endif

bool api_is_http_url(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

bool api_is_file_url(const char *u)
{
    return strncmp(u, "file://", 7) == 0 || u[0] == '/';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)(c | 32);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The path a file URL (file:///PATH or file://localhost/PATH, percent-decoded) or absolute path names, into
 * path; false when it is malformed (another host, a NUL byte, too long). */
static bool file_path(const char *u, char *path, size_t cap)
{
    if (u[0] == '/') {
        if (strlen(u) >= cap) return false;
        strcpy(path, u);
        return true;
    }
    u += 7;
    if (strncmp(u, "localhost/", 10) == 0) u += 9;
    if (u[0] != '/') return false;
    size_t o = 0;
    for (; *u && *u != '?' && *u != '#'; u++) { /* a query or fragment is not part of the path */
        int c = (unsigned char)*u;
        if (c == '%') {
            int hi = hex_value(u[1]), lo = hi < 0 ? -1 : hex_value(u[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false; /* no %00 */
            c = hi * 16 + lo;
            u += 2;
        }
        if (o + 1 >= cap) return false;
        path[o++] = (char)c;
    }
    path[o] = '\0';
    return true;
}

/* dir is a real path (no symbolic links, no trailing '/' except for "/" itself); so is path. */
static bool inside(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return path[0] == '/';
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Reads the file u names when it lies inside src->files_dir once every symbolic link is resolved. Every way
 * of not being there (missing, outside, a folder, a device) reads the same, so clients cannot probe the rest
 * of the file system. */
static bool read_file(const char *u, const struct api_image_source *src, const char *p, uint8_t **out,
                      size_t *n, struct api_error *err)
{
    char path[PATH_MAX], real[PATH_MAX], proc[64], opened[PATH_MAX];
    if (!file_path(u, path, sizeof path))
        return api_fail(err, 400, p, "'%s': '%.120s' is not a local path (file:///PATH or /PATH)", p, u);
    int fd = -1;
    struct stat st;
    bool ok = realpath(path, real) && inside(src->files_dir, real) &&
              (fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) >= 0 && fstat(fd, &st) == 0 &&
              S_ISREG(st.st_mode);
    if (ok) { /* the file opened is the one checked, even if a link was swapped in between */
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(proc, opened, sizeof opened - 1);
        if (k > 0) {
            opened[k] = '\0';
            ok = inside(src->files_dir, opened);
        }
    }
    if (!ok) {
        if (fd >= 0) close(fd);
        return api_fail(err, 400, p, "'%s': '%.120s' is not a file in the server's image folder", p, u);
    }
    if ((uint64_t)st.st_size > src->max_bytes) {
        close(fd);
        return api_fail(err, 400, p, "'%s': '%.120s' is larger than %zu bytes", p, u, src->max_bytes);
    }
    uint8_t *b = qw_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (b && got < (size_t)st.st_size) {
        ssize_t k = read(fd, b + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    if (!b) return api_fail(err, 500, p, "out of memory");
    if (got != (size_t)st.st_size) {
        qw_free(b);
        return api_fail(err, 400, p, "'%s': '%.120s' could not be read", p, u);
    }
    *out = b;
    *n = got;
    return true;
}

static bool fetch_url(const char *u, const struct api_image_source *src, const char *p, uint8_t **out,
                      size_t *n, struct api_error *err)
{
#if defined(QWGLM_HAVE_HUB)
    const struct hub_url_limits lim = {.max_bytes = src->max_bytes,
                                       .max_redirects = API_URL_MAX_REDIRECTS,
                                       .timeout_s = src->timeout_s > 0 ? src->timeout_s : API_URL_TIMEOUT_S};
    struct qw_err e = {0};
    char *body;
    if (hub_url_get(u, &lim, &body, n, &e)) {
        if (e.status == QWGLM_ERR_NOMEM) return api_fail(err, 500, p, "out of memory");
        return api_fail(err, 400, p, "'%s': cannot fetch %s", p, e.msg);
    }
    *out = (uint8_t *)body;
    return true;
#else
    (void)src, (void)out, (void)n;
    return api_fail(err, 400, p, "'%s': this server cannot fetch '%.120s' (built without libcurl)", p, u);
#endif
}

bool api_fetch_images(struct api_request *r, const struct api_image_source *src, struct api_error *err)
{
    for (int i = 0; i < r->n_images; i++) {
        const char *u = r->image_urls[i], *p = r->image_params[i];
        if (!u) continue;
        uint8_t *bytes = NULL;
        size_t n = 0;
        if (api_is_http_url(u)) {
            if (!src->allow_urls)
                return api_fail(
                    err, 400, p,
                    "'%s': this server does not fetch image URLs (qwglm serve --allow-image-urls); "
                    "send the image as a data: URL",
                    p);
            if (!fetch_url(u, src, p, &bytes, &n, err)) return false;
        } else {
            if (!src->files_dir)
                return api_fail(err, 400, p,
                                "'%s': this server does not read local image files (qwglm serve "
                                "--allow-image-files DIR); send the image as a data: URL",
                                p);
            if (!read_file(u, src, p, &bytes, &n, err)) return false;
        }
        char why[QWGLM_ERR_SIZE];
        qwglm_status st = qwglm_image_decode(bytes, n, &r->images[i], why);
        qw_free(bytes);
        if (st == QWGLM_ERR_NOMEM) return api_fail(err, 500, p, "out of memory");
        if (st) return api_fail(err, 400, p, "'%s': '%.100s': %s", p, u, why);
    }
    return true;
}
