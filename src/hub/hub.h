/* Internals of the Hugging Face Hub client (include/qwglm_hub.h is the public side).
 *
 * ref.c       model references (ORG/NAME@REV), file-name and hex checks
 * config.c    endpoint, cache folder, token and offline mode from params and the HF_* environment
 * repo_info.c the API's JSON answer -> commit + files; which files inference needs; the shard index
 * cache.c     the huggingface_hub cache layout: refs, blobs, snapshots, locks, completeness
 * digest.c    sha256 / git blob sha1 over OpenSSL's libcrypto
 * http.c      libcurl: GETs into memory, one file transfer from an offset, stall detection
 * pull.c      a whole pull: choose files, check the disk, download in parallel, report progress (pull.h)
 * fetch.c     one file of a pull: lock, resume, verify, retry, link
 */
#ifndef QW_HUB_H
#define QW_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "qwglm_hub.h"

#define HUB_REPO_MAX 96     /* huggingface_hub's limit on a repo id */
#define HUB_REV_MAX 256
#define HUB_NAME_MAX 1024   /* a file path inside a repository */
#define HUB_OID_MAX 65      /* 64 hex digits + NUL */
#define HUB_API_MAX (64u << 20) /* bytes of an API answer we accept */
#define HUB_INDEX_MAX (64u << 20)

/* ---- ref.c ---- */

struct hub_ref {
    char repo[HUB_REPO_MAX + 1];    /* ORG/NAME */
    char revision[HUB_REV_MAX + 1]; /* branch, tag, commit or refs/pr/N; "main" when not given */
};

/* Parses "ORG/NAME[@REVISION]". Errors name the part that is wrong. */
qwglm_status hub_ref_parse(const char *s, struct hub_ref *r, struct qw_err *e);
/* A path inside a repository that is safe to join under a folder: relative, no "." or ".." components, no empty
 * components, no backslash or control bytes, valid UTF-8, at most HUB_NAME_MAX bytes. */
bool hub_name_ok(const char *name, size_t n);
/* n lowercase hex digits exactly. */
bool hub_hex_ok(const char *s, size_t n);
/* A revision: branch, tag, commit or refs/pr/N (no "..", no leading '/', printable ASCII). */
bool hub_rev_ok(const char *s);

/* ---- config.c ---- */

struct hub_config {
    char endpoint[1024];              /* no trailing '/' */
    char cache_dir[QWGLM_HUB_PATH_MAX];
    char token[1024];                 /* "" when none */
    bool offline;
};

/* Fills c from p, falling back on the HF_* environment as huggingface_hub does. */
qwglm_status hub_config_init(struct hub_config *c, const qwglm_hub_params *p, struct qw_err *e);
/* 1/ON/YES/TRUE in any case. */
bool hub_env_true(const char *v);

/* ---- repo_info.c ---- */

struct hub_file {
    char *name;              /* path in the repository */
    uint64_t size;
    char oid[HUB_OID_MAX];   /* blob name in the cache: LFS sha256, else the git blob sha1 */
    bool lfs;                /* oid is a sha256 of the content; else a git blob id */
    bool selected;
};

struct hub_repo_info {
    char commit[48];
    struct hub_file *files;
    int n_files;
    int gated;               /* the API's "gated": 0 no, 1 auto/manual */
};

/* Parses the answer of GET /api/models/REPO/revision/REV?blobs=true. Files whose names are unsafe are dropped;
 * files without size or blob id are kept with size 0 and an empty oid (choosing them fails later). */
qwglm_status hub_repo_info_parse(const char *json, size_t n, struct hub_repo_info *info, struct qw_err *e);
void hub_repo_info_free(struct hub_repo_info *info);
const struct hub_file *hub_repo_find(const struct hub_repo_info *info, const char *name);

struct hub_select_opts {
    bool include_onnx;
    const char *const *include;
    int n_include;
};

/* Marks the files inference needs. Phase 1 (index == NULL): configs, tokenizer, chat template, processor
 * configs, and the weights when there is no model.safetensors.index.json (else only the index). Phase 2: also the
 * shards that the index (index[0..index_len)) names. Fails with NO_WEIGHTS (in *why) when there are none. */
qwglm_status hub_select(struct hub_repo_info *info, const struct hub_select_opts *o, const char *index,
                        size_t index_len, qwglm_hub_error *why, struct qw_err *e);
/* True when the repository has model.safetensors.index.json among the chosen files (phase 2 is needed). */
bool hub_select_needs_index(const struct hub_repo_info *info);

/* ---- cache.c ---- */

/* dst = cache_dir/models--ORG--NAME. */
bool hub_repo_dir(char *dst, size_t cap, const char *cache_dir, const char *repo);
/* Reads refs/REV (a commit) into commit (48 bytes); false when absent or malformed. */
bool hub_cache_read_ref(const char *repo_dir, const char *rev, char *commit);
qwglm_status hub_cache_write_ref(const char *repo_dir, const char *rev, const char *commit, struct qw_err *e);
/* The commit a revision names in the cache: itself for a 40-digit commit, else refs/REV. */
bool hub_cache_commit(const char *repo_dir, const char *rev, char *commit);
/* Creates snapshots/COMMIT/NAME as a relative symlink to blobs/OID (../../blobs/OID, one more ../ per folder in
 * NAME), replacing whatever was there. */
qwglm_status hub_cache_link(const char *repo_dir, const char *commit, const char *name, const char *oid,
                            struct qw_err *e);
/* True when the snapshot folder holds a loadable model: config.json (or a voice's *.onnx.json) and all the
 * weights its index names (or a *.safetensors / *.onnx). */
bool hub_snapshot_complete(const char *snapshot_dir);
/* mkdir -p, mode 0755. */
qwglm_status hub_mkdirs(const char *path, struct qw_err *e);

/* An exclusive lock on cache_dir/.locks/models--ORG--NAME/OID.lock (flock, as Python's filelock takes it). */
struct hub_lock {
    int fd;
};
/* Tries once; *busy says another holder has it. */
qwglm_status hub_lock_try(struct hub_lock *l, const char *path, bool *busy, struct qw_err *e);
void hub_lock_release(struct hub_lock *l);

/* ---- digest.c ---- */

struct hub_digest {
    void *ctx;      /* EVP_MD_CTX */
    bool git_blob;  /* sha1 of "blob SIZE\0" + content, as git names blobs */
};

/* For an LFS file: sha256. Else git's blob sha1 of a file of size bytes. */
qwglm_status hub_digest_init(struct hub_digest *d, bool lfs, uint64_t size, struct qw_err *e);
void hub_digest_update(struct hub_digest *d, const void *p, size_t n);
/* Writes the lowercase hex digest (65 bytes of room) and frees the context. */
void hub_digest_final(struct hub_digest *d, char *hex);
void hub_digest_free(struct hub_digest *d);

/* ---- http.c ---- */

struct hub_http {
    long status;             /* of the final response; 0 when none arrived */
    char error_code[64];     /* X-Error-Code (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound) */
    char error_message[256]; /* X-Error-Message */
    long retry_after_s;      /* Retry-After, -1 when absent */
    int curl_code;           /* CURLcode, 0 when the transfer worked */
    char curl_error[256];
};

struct hub_client; /* one per thread: a libcurl handle with its connections */

struct hub_client *hub_client_new(const struct hub_config *cfg, int stall_timeout_s);
void hub_client_free(struct hub_client *c);

/* GET url into a heap buffer of at most max bytes (NUL-terminated; caller frees with qw_free). One attempt; the
 * outcome is in *h (status, error headers, curl failure). */
qwglm_status hub_http_get(struct hub_client *c, const char *url, size_t max, char **body, size_t *len,
                          struct hub_http *h, struct qw_err *e);

/* One GET of a URL that is not the Hub's (an image a client names): http and https only (redirects too), no
 * credentials, the answer in memory. Errors name the URL and the reason: the HTTP status, larger than max_bytes,
 * more than max_redirects redirects, no answer within timeout_s (the whole transfer), libcurl's message. */
struct hub_url_limits {
    size_t max_bytes;
    int max_redirects, timeout_s;
};
qwglm_status hub_url_get(const char *url, const struct hub_url_limits *lim, char **body, size_t *len,
                         struct qw_err *e);

/* Receives the body of one file transfer: return false to abort it (write error, cancel). */
struct hub_sink {
    bool (*begin)(void *user, long status, uint64_t range_start, bool partial); /* first body byte */
    bool (*write)(void *user, const void *p, size_t n);
    bool (*cancelled)(void *user);
    void *user;
};

/* GET url from byte offset on (Range: bytes=offset- when offset > 0), following redirects, into sink. */
void hub_http_fetch(struct hub_client *c, const char *url, uint64_t offset, const struct hub_sink *sink,
                    struct hub_http *h);

/* True for a transport failure worth retrying (connection refused/reset/dropped, timeout, partial body). */
bool hub_http_transient(const struct hub_http *h);

/* url-encoded copy of s into dst; keep_slash leaves '/' alone (file paths), else it becomes %2F (revisions). */
bool hub_url_escape(char *dst, size_t cap, const char *s, bool keep_slash);

#endif
