/* Static files of the web app. A URL maps to a file under the web root only through plain path segments: no
 * "..", no hidden names, no backslashes or NULs, and the resolved real path must still lie under the root's real
 * path (so a symbolic link cannot lead out of it either). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/srv.h"

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Checks every segment of url and appends it to dst; false when one is not allowed. */
static bool append_segments(char *dst, size_t cap, const char *url)
{
    size_t len = strlen(dst);
    const char *p = url;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != '/') {
            if (*q == '\\' || (unsigned char)*q < 0x20) return false;
            q++;
        }
        size_t n = (size_t)(q - p);
        if (p[0] == '.') return false; /* "..", ".", and hidden files */
        if (len + 1 + n + 1 > cap) return false;
        dst[len++] = '/';
        memcpy(dst + len, p, n);
        len += n;
        dst[len] = 0;
        p = q;
    }
    return true;
}

static bool under_root(const char *root, const char *path)
{
    char real_root[PATH_MAX], real[PATH_MAX];
    if (!realpath(root, real_root) || !realpath(path, real)) return false;
    size_t n = strlen(real_root);
    return strncmp(real, real_root, n) == 0 && (real[n] == '/' || real[n] == 0);
}

bool files_resolve(const char *root, const char *url, char *path, size_t cap)
{
    if (!root[0] || url[0] != '/' || strlen(url) > 1024) return false;
    const char *q = strchr(url, '?');
    char clean[1100];
    snprintf(clean, sizeof clean, "%.*s", q ? (int)(q - url) : (int)strlen(url), url);
    if (snprintf(path, cap, "%s", root) >= (int)cap) return false;
    if (!append_segments(path, cap, clean)) return false;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(path);
        if (n + sizeof "/index.html" > cap) return false;
        strcpy(path + n, "/index.html");
    }
    if (!is_file(path)) {
        /* A route of the single-page app (no extension in the last segment): serve its shell. */
        const char *last = strrchr(clean, '/');
        if (last && strchr(last, '.')) return false;
        if (snprintf(path, cap, "%s/index.html", root) >= (int)cap || !is_file(path)) return false;
    }
    return under_root(root, path);
}

const char *files_content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".woff2", "font/woff2"},
        {".wasm", "application/wasm"},
        {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}
