/* Where the Hub is, where the cache is, who we are: the same environment variables as huggingface_hub, with
 * the same defaults, so both find the same cache and the same login. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/file.h"
#include "base/mem.h"
#include "hub.h"

#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

bool hub_env_true(const char *v)
{
    if (!v) return false;
    return !strcasecmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true");
}

/* Copies path into dst with a leading "~/" expanded, as Python's os.path.expanduser does. */
static bool expand_user(char *dst, size_t cap, const char *path)
{
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = env("HOME");
        if (!home) home = "/";
        int w = snprintf(dst, cap, "%s%s", home, path + 1);
        return w >= 0 && (size_t)w < cap;
    }
    int w = snprintf(dst, cap, "%s", path);
    return w >= 0 && (size_t)w < cap;
}

static bool hf_home(char *dst, size_t cap)
{
    const char *home = env("HF_HOME");
    if (home) return expand_user(dst, cap, home);
    const char *xdg = env("XDG_CACHE_HOME");
    char base[QWGLM_HUB_PATH_MAX];
    if (!expand_user(base, sizeof base, xdg ? xdg : "~/.cache")) return false;
    return qw_path_join(dst, cap, base, "huggingface");
}

/* The token file holds the token on its first line; surrounding whitespace is not part of it. */
static void read_token_file(char *dst, size_t cap, const char *path)
{
    char *text = NULL;
    size_t n = 0;
    if (qw_read_file(path, 64 * 1024, &text, &n, NULL) != QWGLM_OK) return;
    size_t a = 0;
    while (a < n && isspace((unsigned char)text[a])) a++;
    size_t b = a;
    while (b < n && !isspace((unsigned char)text[b])) b++;
    if (b - a < cap) {
        memcpy(dst, text + a, b - a);
        dst[b - a] = '\0';
    }
    qw_free(text);
}

static bool copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) return false;
    memcpy(dst, src, n + 1);
    return true;
}

qwglm_status hub_config_init(struct hub_config *c, const qwglm_hub_params *p, struct qw_err *e)
{
    memset(c, 0, sizeof *c);
    const char *endpoint = p && p->endpoint ? p->endpoint : env("HF_ENDPOINT");
    if (!endpoint) endpoint = HUB_DEFAULT_ENDPOINT;
    if (!copy(c->endpoint, sizeof c->endpoint, endpoint))
        return qw_fail(e, QWGLM_ERR_ARG, "HF_ENDPOINT: longer than %zu bytes", sizeof c->endpoint - 1);
    size_t n = strlen(c->endpoint);
    while (n > 0 && c->endpoint[n - 1] == '/') c->endpoint[--n] = '\0';
    if (strncmp(c->endpoint, "http://", 7) != 0 && strncmp(c->endpoint, "https://", 8) != 0)
        return qw_fail(e, QWGLM_ERR_ARG, "HF_ENDPOINT '%.200s': not an http:// or https:// URL", c->endpoint);

    char home[QWGLM_HUB_PATH_MAX];
    if (!hf_home(home, sizeof home)) return qw_fail(e, QWGLM_ERR_ARG, "HF_HOME: path too long");
    bool ok;
    if (p && p->cache_dir)
        ok = expand_user(c->cache_dir, sizeof c->cache_dir, p->cache_dir);
    else if (env("HF_HUB_CACHE"))
        ok = expand_user(c->cache_dir, sizeof c->cache_dir, env("HF_HUB_CACHE"));
    else if (env("HUGGINGFACE_HUB_CACHE"))
        ok = expand_user(c->cache_dir, sizeof c->cache_dir, env("HUGGINGFACE_HUB_CACHE"));
    else
        ok = qw_path_join(c->cache_dir, sizeof c->cache_dir, home, "hub");
    if (!ok) return qw_fail(e, QWGLM_ERR_ARG, "HF_HUB_CACHE: path too long");

    if (p && p->token) {
        if (!copy(c->token, sizeof c->token, p->token)) return qw_fail(e, QWGLM_ERR_ARG, "token too long");
    } else if (env("HF_TOKEN") || env("HUGGING_FACE_HUB_TOKEN")) {
        const char *t = env("HF_TOKEN") ? env("HF_TOKEN") : env("HUGGING_FACE_HUB_TOKEN");
        if (!copy(c->token, sizeof c->token, t)) return qw_fail(e, QWGLM_ERR_ARG, "HF_TOKEN: too long");
    } else {
        char path[QWGLM_HUB_PATH_MAX];
        if (env("HF_TOKEN_PATH") ? expand_user(path, sizeof path, env("HF_TOKEN_PATH"))
                                 : qw_path_join(path, sizeof path, home, "token"))
            read_token_file(c->token, sizeof c->token, path);
    }
    for (const char *t = c->token; *t; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
            return qw_fail(e, QWGLM_ERR_ARG, "HF_TOKEN: holds a byte that cannot go into an HTTP header");

    c->offline = p && p->offline >= 0 ? p->offline != 0 : hub_env_true(env("HF_HUB_OFFLINE"));
    return QWGLM_OK;
}
