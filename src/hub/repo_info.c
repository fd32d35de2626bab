/* The Hub's description of a repository at one commit, and the choice of the files inference needs.
 *
 * GET /api/models/ORG/NAME/revision/REV?blobs=true answers (fields we read; many more exist):
 *   {"id": "ORG/NAME", "sha": "<40 hex commit>", "gated": false | "auto" | "manual",
 *    "siblings": [{"rfilename": "config.json", "size": 727, "blobId": "<40 hex git blob id>"},
 *                 {"rfilename": "model.safetensors", "size": 1503300328, "blobId": "...",
 *                  "lfs": {"sha256": "<64 hex>", "size": 1503300328, "pointerSize": 135}}, ...]}
 * An LFS file's blob in the cache is named by its sha256, any other file's by its git blob id: the ETag the
 * resolve endpoint sends, which is what huggingface_hub names blobs by. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "format/json.h"
#include "hub.h"

#define HUB_FILES_MAX 1000000
#define INDEX_NAME    "model.safetensors.index.json"

void hub_repo_info_free(struct hub_repo_info *info)
{
    if (!info) return;
    for (int i = 0; i < info->n_files; i++) qw_free(info->files[i].name);
    qw_free(info->files);
    memset(info, 0, sizeof *info);
}

static bool json_u64(const struct json_value *v, uint64_t *out)
{
    int64_t i;
    if (!json_int(v, &i) || i < 0 || i > (int64_t)1 << 53) return false;
    *out = (uint64_t)i;
    return true;
}

/* Fills f from one sibling; false when the entry is unusable (no name, or an unsafe one). */
static bool parse_sibling(const struct json_value *s, struct hub_file *f)
{
    const struct json_value *name = json_get(s, "rfilename");
    if (!name || name->type != JSON_STRING || !hub_name_ok(name->u.str, name->n)) return false;
    memset(f, 0, sizeof *f);
    const struct json_value *lfs = json_get(s, "lfs");
    const char *sha = json_string(json_get(lfs, "sha256"));
    const char *blob = json_string(json_get(s, "blobId"));
    uint64_t size;
    if (lfs && lfs->type == JSON_OBJECT && sha && hub_hex_ok(sha, 64) &&
        json_u64(json_get(lfs, "size"), &size)) {
        f->lfs = true;
        memcpy(f->oid, sha, 65);
        f->size = size;
    } else if (blob && hub_hex_ok(blob, 40) && json_u64(json_get(s, "size"), &size)) {
        memcpy(f->oid, blob, 41);
        f->size = size;
    }
    f->name = qw_strndup(name->u.str, name->n);
    return f->name != NULL;
}

qwglm_status hub_repo_info_parse(const char *json, size_t n, struct hub_repo_info *info, struct qw_err *e)
{
    memset(info, 0, sizeof *info);
    struct json_doc doc;
    qwglm_status rc = json_parse(json, n, &doc, e);
    if (rc) return rc;
    const struct json_value *root = &doc.root;
    const char *sha = json_string(json_get(root, "sha"));
    const struct json_value *sib = json_get(root, "siblings");
    if (root->type != JSON_OBJECT) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "model info: not a JSON object");
    } else if (!sha || !hub_hex_ok(sha, 40)) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "model info: \"sha\" is not a 40-digit commit id");
    } else if (!sib || sib->type != JSON_ARRAY) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "model info: no \"siblings\" list");
    } else if (sib->n > HUB_FILES_MAX) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "model info: %u files, more than the %d allowed", sib->n,
                     HUB_FILES_MAX);
    }
    if (rc) goto done;
    memcpy(info->commit, sha, 41);
    const struct json_value *gated = json_get(root, "gated");
    info->gated = gated && ((gated->type == JSON_BOOL && gated->b) || gated->type == JSON_STRING);
    if (sib->n) {
        info->files = qw_calloc(sib->n, sizeof *info->files);
        if (!info->files) {
            rc = qw_fail(e, QWGLM_ERR_NOMEM, "model info: %u files", sib->n);
            goto done;
        }
    }
    for (uint32_t i = 0; i < sib->n; i++) {
        struct hub_file f;
        const struct json_value *s = &sib->u.items[i];
        if (s->type != JSON_OBJECT) continue;
        const struct json_value *name = json_get(s, "rfilename");
        if (name && name->type == JSON_STRING && hub_name_ok(name->u.str, name->n) &&
            hub_repo_find(info, name->u.str))
            continue; /* listed twice: the first wins */
        if (!parse_sibling(s, &f)) {
            if (name && name->type == JSON_STRING && hub_name_ok(name->u.str, name->n)) {
                rc = qw_fail(e, QWGLM_ERR_NOMEM, "model info: file name");
                goto done;
            }
            continue;
        }
        info->files[info->n_files++] = f;
    }
done:
    json_doc_free(&doc);
    if (rc) hub_repo_info_free(info);
    return rc;
}

const struct hub_file *hub_repo_find(const struct hub_repo_info *info, const char *name)
{
    for (int i = 0; i < info->n_files; i++)
        if (strcmp(info->files[i].name, name) == 0) return &info->files[i];
    return NULL;
}

/* ---- which files ---- */

static const char *const metadata_files[] = {
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.json",
    "chat_template.jinja",
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool at_root(const char *name)
{
    return strchr(name, '/') == NULL;
}

static bool is_onnx(const char *name)
{
    return ends_with(name, ".onnx") || ends_with(name, ".onnx.json") || ends_with(name, ".onnx.data") ||
           ends_with(name, ".onnx_data");
}

bool hub_select_needs_index(const struct hub_repo_info *info)
{
    const struct hub_file *f = hub_repo_find(info, INDEX_NAME);
    return f && f->selected;
}

/* A short list of the weight files the repository does have, for the NO_WEIGHTS message. */
static void other_weights(const struct hub_repo_info *info, char *dst, size_t cap)
{
    static const char *const kinds[] = {".bin", ".pth", ".pt", ".gguf", ".h5", ".msgpack", ".ckpt", ".onnx"};
    size_t used = 0;
    dst[0] = '\0';
    for (int i = 0; i < info->n_files && used + 1 < cap; i++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            if (ends_with(info->files[i].name, kinds[k])) {
                int w = snprintf(dst + used, cap - used, "%s%s", used ? ", " : "", info->files[i].name);
                if (w < 0 || (size_t)w >= cap - used) return;
                used += (size_t)w;
                break;
            }
}

static qwglm_status select_patterns(struct hub_repo_info *info, const struct hub_select_opts *o,
                                    qwglm_hub_error *why, struct qw_err *e)
{
    int n = 0;
    for (int i = 0; i < info->n_files; i++)
        for (int k = 0; k < o->n_include; k++) {
            char pat[HUB_NAME_MAX + 2];
            size_t len = strlen(o->include[k]);
            if (len == 0 || len > HUB_NAME_MAX) continue;
            memcpy(pat, o->include[k], len + 1);
            if (pat[len - 1] == '/') strcpy(pat + len, "*"); /* "dir/" means everything under it */
            if (fnmatch(pat, info->files[i].name, 0) == 0) {
                info->files[i].selected = true;
                n++;
                break;
            }
        }
    if (n == 0) {
        *why = QWGLM_HUB_ERR_NOT_FOUND;
        return qw_fail(e, QWGLM_ERR_ARG, "no file of the repository matches the --include patterns");
    }
    return QWGLM_OK;
}

/* Marks the shards that the index names; each must be a file of the repository. */
static qwglm_status select_shards(struct hub_repo_info *info, const char *index, size_t len,
                                  qwglm_hub_error *why, struct qw_err *e)
{
    struct json_doc doc;
    *why = QWGLM_HUB_ERR_PROTOCOL;
    qwglm_status rc = json_parse(index, len, &doc, e);
    if (rc) return rc;
    const struct json_value *map = json_get(&doc.root, "weight_map");
    int n = 0;
    if (!map || map->type != JSON_OBJECT) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, INDEX_NAME ": no \"weight_map\" object");
        goto done;
    }
    for (uint32_t i = 0; i < map->n; i++) {
        const struct json_value *v = &map->u.members[i].value;
        if (v->type != JSON_STRING || !hub_name_ok(v->u.str, v->n)) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, INDEX_NAME ": tensor '%.100s' maps to an invalid file name",
                         map->u.members[i].key);
            goto done;
        }
        struct hub_file *f = (struct hub_file *)hub_repo_find(info, v->u.str);
        if (!f) {
            *why = QWGLM_HUB_ERR_NOT_FOUND;
            rc = qw_fail(e, QWGLM_ERR_FORMAT, INDEX_NAME ": shard '%.200s' is not in the repository",
                         v->u.str);
            goto done;
        }
        if (!f->selected) n++;
        f->selected = true;
    }
    if (n == 0) {
        *why = QWGLM_HUB_ERR_NO_WEIGHTS;
        rc = qw_fail(e, QWGLM_ERR_FORMAT, INDEX_NAME ": names no shard");
    }
done:
    json_doc_free(&doc);
    if (rc == QWGLM_OK) *why = QWGLM_HUB_ERR_NONE;
    return rc;
}

qwglm_status hub_select(struct hub_repo_info *info, const struct hub_select_opts *o, const char *index,
                        size_t index_len, qwglm_hub_error *why, struct qw_err *e)
{
    *why = QWGLM_HUB_ERR_NONE;
    if (index) return select_shards(info, index, index_len, why, e);
    for (int i = 0; i < info->n_files; i++) info->files[i].selected = false;
    if (o->n_include > 0) return select_patterns(info, o, why, e);

    bool has_tokenizer = hub_repo_find(info, "tokenizer.json") != NULL;
    bool voice = false, root_st = false, root_onnx = false;
    for (int i = 0; i < info->n_files; i++) {
        const char *name = info->files[i].name;
        if (!at_root(name)) continue;
        if (ends_with(name, ".onnx.json")) voice = true;
        if (ends_with(name, ".onnx")) root_onnx = true;
        if (ends_with(name, ".safetensors")) root_st = true;
    }
    voice = voice || (root_onnx && !root_st);
    const struct hub_file *index_file = hub_repo_find(info, INDEX_NAME);
    bool single = hub_repo_find(info, "model.safetensors") != NULL;
    int n_weights = 0;
    for (int i = 0; i < info->n_files; i++) {
        struct hub_file *f = &info->files[i];
        const char *name = f->name;
        if (!at_root(name)) continue;
        bool pick = false;
        for (size_t k = 0; k < sizeof metadata_files / sizeof metadata_files[0]; k++)
            pick = pick || strcmp(name, metadata_files[k]) == 0;
        /* vocab.json + merges.txt are the older form of tokenizer.json: only when it is missing */
        if (!has_tokenizer && (strcmp(name, "vocab.json") == 0 || strcmp(name, "merges.txt") == 0))
            pick = true;
        if (ends_with(name, ".safetensors")) {
            /* with an index, its shards come in phase 2; else model.safetensors, else every root shard */
            bool w = !index_file && (!single || strcmp(name, "model.safetensors") == 0);
            pick = pick || w;
            n_weights += w;
        }
        if (strcmp(name, INDEX_NAME) == 0) {
            pick = true;
            n_weights++;
        }
        if ((voice || o->include_onnx) && is_onnx(name)) {
            pick = true;
            n_weights += ends_with(name, ".onnx");
        }
        if (voice && (strcmp(name, "vocab.txt") == 0 || strcmp(name, "tokens.txt") == 0)) pick = true;
        f->selected = pick;
    }
    if (n_weights == 0) {
        char others[512];
        other_weights(info, others, sizeof others);
        *why = QWGLM_HUB_ERR_NO_WEIGHTS;
        if (others[0])
            return qw_fail(e, QWGLM_ERR_FORMAT,
                           "no safetensors weights in the repository (it has %s); qwglm loads *.safetensors",
                           others);
        return qw_fail(e, QWGLM_ERR_FORMAT,
                       "no weights in the repository (no *.safetensors at its top level)");
    }
    return QWGLM_OK;
}
