/* The huggingface_hub cache layout, byte for byte, so qwglm and Python tools share downloads both ways:
 *
 *   $HF_HUB_CACHE/models--ORG--NAME/
 *       refs/main                        the commit "main" named when last resolved (40 hex, no newline)
 *       blobs/<sha256 or git blob id>    file contents; <oid>.incomplete while downloading
 *       snapshots/<commit>/config.json   -> ../../blobs/<oid>  (relative symlinks)
 *   $HF_HUB_CACHE/.locks/models--ORG--NAME/<oid>.lock   held (flock) while a blob is being written
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/json.h"
#include "hub.h"

bool hub_repo_dir(char *dst, size_t cap, const char *cache_dir, const char *repo)
{
    const char *slash = strchr(repo, '/');
    if (!slash) return false;
    char folder[HUB_REPO_MAX + 16];
    int w = snprintf(folder, sizeof folder, "models--%.*s--%s", (int)(slash - repo), repo, slash + 1);
    if (w < 0 || (size_t)w >= sizeof folder) return false;
    return qw_path_join(dst, cap, cache_dir, folder);
}

qwglm_status hub_mkdirs(const char *path, struct qw_err *e)
{
    char buf[QWGLM_HUB_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf) return qw_fail(e, QWGLM_ERR_IO, "%.200s...: path too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return qw_fail(e, QWGLM_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return qw_fail(e, QWGLM_ERR_IO, "%s: not a folder", path);
    return QWGLM_OK;
}

bool hub_cache_read_ref(const char *repo_dir, const char *rev, char *commit)
{
    char path[QWGLM_HUB_PATH_MAX], name[HUB_REV_MAX + 8];
    snprintf(name, sizeof name, "refs/%s", rev);
    if (!hub_rev_ok(rev) || !qw_path_join(path, sizeof path, repo_dir, name)) return false;
    char *text = NULL;
    size_t n = 0;
    if (qw_read_file(path, 4096, &text, &n, NULL) != QWGLM_OK) return false;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) text[--n] = '\0';
    bool ok = hub_hex_ok(text, 40);
    if (ok) memcpy(commit, text, 41);
    qw_free(text);
    return ok;
}

qwglm_status hub_cache_write_ref(const char *repo_dir, const char *rev, const char *commit, struct qw_err *e)
{
    char path[QWGLM_HUB_PATH_MAX], name[HUB_REV_MAX + 8];
    snprintf(name, sizeof name, "refs/%s", rev);
    if (!hub_rev_ok(rev) || !qw_path_join(path, sizeof path, repo_dir, name))
        return qw_fail(e, QWGLM_ERR_ARG, "revision '%.200s': cannot be stored as a ref", rev);
    char current[48];
    if (hub_cache_read_ref(repo_dir, rev, current) && strcmp(current, commit) == 0) return QWGLM_OK;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    qwglm_status rc = hub_mkdirs(path, e);
    *slash = '/';
    if (rc) return rc;
    struct qw_err mine = {0};
    rc = qw_write_file_atomic(path, commit, strlen(commit), &mine);
    /* another thread of this process wrote the same ref through the same temporary name: fine if it holds ours */
    if (rc && hub_cache_read_ref(repo_dir, rev, current) && strcmp(current, commit) == 0) return QWGLM_OK;
    if (rc) qw_fail(e, rc, "%s", mine.msg);
    return rc;
}

bool hub_cache_commit(const char *repo_dir, const char *rev, char *commit)
{
    if (hub_hex_ok(rev, 40)) {
        memcpy(commit, rev, 41);
        return true;
    }
    return hub_cache_read_ref(repo_dir, rev, commit);
}

qwglm_status hub_cache_link(const char *repo_dir, const char *commit, const char *name, const char *oid,
                            struct qw_err *e)
{
    char path[QWGLM_HUB_PATH_MAX], rel[QWGLM_HUB_PATH_MAX], target[HUB_NAME_MAX + 128];
    int w = snprintf(rel, sizeof rel, "snapshots/%s/%s", commit, name);
    if (w < 0 || (size_t)w >= sizeof rel || !qw_path_join(path, sizeof path, repo_dir, rel))
        return qw_fail(e, QWGLM_ERR_IO, "%s: path too long", name);
    size_t used = 0;
    target[0] = '\0';
    used += (size_t)snprintf(target, sizeof target, "../../");
    for (const char *p = name; *p; p++)
        if (*p == '/') used += (size_t)snprintf(target + used, sizeof target - used, "../");
    snprintf(target + used, sizeof target - used, "blobs/%s", oid);

    char current[sizeof target];
    ssize_t k = readlink(path, current, sizeof current - 1);
    if (k >= 0) {
        current[k] = '\0';
        if (strcmp(current, target) == 0) return QWGLM_OK;
    }
    char *slash = strrchr(path, '/');
    *slash = '\0';
    qwglm_status rc = hub_mkdirs(path, e);
    *slash = '/';
    if (rc) return rc;
    /* symlink beside it, then rename over: a reader sees the old link or the new one, never none */
    char tmp[QWGLM_HUB_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%lx", path, (long)getpid(), (unsigned long)pthread_self());
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        return qw_fail(e, QWGLM_ERR_IO, "%s: cannot create symlink: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return qw_fail(e, QWGLM_ERR_IO, "%s: %s", path, strerror(err));
    }
    return QWGLM_OK;
}

/* ---- is a cached snapshot a whole model? ---- */

static bool exists_in(const char *dir, const char *name)
{
    char path[QWGLM_HUB_PATH_MAX];
    struct stat st;
    return qw_path_join(path, sizeof path, dir, name) && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool index_complete(const char *dir)
{
    char path[QWGLM_HUB_PATH_MAX], *text = NULL;
    size_t n = 0;
    if (!qw_path_join(path, sizeof path, dir, "model.safetensors.index.json") ||
        qw_read_file(path, HUB_INDEX_MAX, &text, &n, NULL) != QWGLM_OK)
        return false;
    struct json_doc doc;
    bool ok = json_parse(text, n, &doc, NULL) == QWGLM_OK;
    qw_free(text);
    if (!ok) return false;
    const struct json_value *map = json_get(&doc.root, "weight_map");
    ok = map && map->type == JSON_OBJECT && map->n > 0;
    for (uint32_t i = 0; ok && i < map->n; i++) {
        const struct json_value *v = &map->u.members[i].value;
        ok = v->type == JSON_STRING && hub_name_ok(v->u.str, v->n) && exists_in(dir, v->u.str);
    }
    json_doc_free(&doc);
    return ok;
}

bool hub_snapshot_complete(const char *dir)
{
    if (exists_in(dir, "config.json")) {
        if (exists_in(dir, "model.safetensors.index.json")) return index_complete(dir);
        if (exists_in(dir, "model.safetensors")) return true;
    }
    /* no config or no standard weights: any resolvable *.safetensors (with a config), or a voice (.onnx +
     * json) */
    DIR *d = opendir(dir);
    if (!d) return false;
    bool config = exists_in(dir, "config.json"), st = false, onnx = false, onnx_json = false;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        size_t n = strlen(ent->d_name);
        bool is_st = n > 12 && strcmp(ent->d_name + n - 12, ".safetensors") == 0;
        bool is_onnx = n > 5 && strcmp(ent->d_name + n - 5, ".onnx") == 0;
        bool is_oj = n > 10 && strcmp(ent->d_name + n - 10, ".onnx.json") == 0;
        if ((is_st || is_onnx || is_oj) && exists_in(dir, ent->d_name)) {
            st = st || is_st;
            onnx = onnx || is_onnx;
            onnx_json = onnx_json || is_oj;
        }
    }
    closedir(d);
    return (config && st) || (onnx && onnx_json);
}

/* ---- locks ---- */

qwglm_status hub_lock_try(struct hub_lock *l, const char *path, bool *busy, struct qw_err *e)
{
    *busy = false;
    if (l->fd < 0) {
        l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (l->fd < 0) {
            l->fd = -1;
            return qw_fail(e, QWGLM_ERR_IO, "%s: cannot open lock file: %s", path, strerror(errno));
        }
    }
    if (flock(l->fd, LOCK_EX | LOCK_NB) == 0) return QWGLM_OK;
    if (errno == EWOULDBLOCK || errno == EINTR) {
        *busy = true;
        return QWGLM_OK;
    }
    int err = errno;
    close(l->fd);
    l->fd = -1;
    return qw_fail(e, QWGLM_ERR_IO, "%s: cannot lock: %s", path, strerror(err));
}

void hub_lock_release(struct hub_lock *l)
{
    if (l->fd >= 0) {
        flock(l->fd, LOCK_UN);
        close(l->fd);
    }
    l->fd = -1;
}
