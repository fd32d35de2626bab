#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/mem.h"

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [ST_F64] = {"F64", 8},  [ST_F32] = {"F32", 4},         [ST_F16] = {"F16", 2},         [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8},  [ST_I32] = {"I32", 4},         [ST_I16] = {"I16", 2},         [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},    [ST_BOOL] = {"BOOL", 1},       [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
    [ST_U16] = {"U16", 2},  [ST_U32] = {"U32", 4},         [ST_U64] = {"U64", 8},
};
_Static_assert(sizeof dtype_info / sizeof dtype_info[0] == ST_DTYPE_COUNT, "safetensors dtype table");

const char *st_dtype_name(enum st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? dtype_info[t].name : "?"; }
size_t st_dtype_size(enum st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? dtype_info[t].size : 0; }

static int dtype_parse(const char *s)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_info[i].name) == 0) return i;
    return -1;
}

static int cmp_offset(const void *a, const void *b)
{
    const struct st_tensor *x = *(const struct st_tensor *const *)a, *y = *(const struct st_tensor *const *)b;
    if (x->data != y->data) return (const char *)x->data < (const char *)y->data ? -1 : 1;
    return x->size < y->size ? -1 : x->size > y->size;
}

static qwglm_status parse_tensor(struct st_file *f, const struct json_member *m, const char *data, size_t data_size,
                                 struct st_tensor *t, struct qw_err *e)
{
    const char *p = f->path;
    const struct json_value *v = &m->value;
    if (v->type != JSON_OBJECT) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': not an object", p, m->key);
    const char *dt = json_string(json_get(v, "dtype"));
    if (!dt) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': no dtype", p, m->key);
    int dtype = dtype_parse(dt);
    if (dtype < 0) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", p, m->key, dt);
    const struct json_value *shape = json_get(v, "shape"), *offs = json_get(v, "data_offsets");
    if (!shape || shape->type != JSON_ARRAY || shape->n > ST_MAX_DIMS)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': bad shape", p, m->key);
    t->name = m->key;
    t->dtype = (enum st_dtype)dtype;
    t->n_dims = (int)shape->n;
    size_t numel = 1;
    for (uint32_t i = 0; i < shape->n; i++) {
        int64_t d;
        if (!json_int(&shape->u.items[i], &d) || d < 0 || !size_mul_ok(numel, (size_t)d, &numel))
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': bad dimension %u", p, m->key, i);
        t->shape[i] = d;
    }
    if (numel > (size_t)INT64_MAX) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': too large", p, m->key);
    t->numel = (int64_t)numel;
    int64_t b0, b1;
    if (!offs || offs->type != JSON_ARRAY || offs->n != 2 || !json_int(&offs->u.items[0], &b0) ||
        !json_int(&offs->u.items[1], &b1))
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': bad data_offsets", p, m->key);
    if (b0 < 0 || b1 < b0 || (uint64_t)b1 > data_size)
        return qw_fail(e, QWGLM_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%lld, %lld) out of range (%zu bytes of data)", p, m->key,
                       (long long)b0, (long long)b1, data_size);
    size_t bytes;
    if (!size_mul_ok(numel, st_dtype_size(t->dtype), &bytes) || bytes != (size_t)(b1 - b0))
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': %lld bytes of data for %zu %s values", p, m->key,
                       (long long)(b1 - b0), numel, dt);
    t->size = bytes;
    t->data = data + b0;
    return QWGLM_OK;
}

static qwglm_status parse(struct st_file *f, struct qw_err *e)
{
    const char *p = f->path;
    const unsigned char *bytes = f->map.data;
    if (f->map.size < 8) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: too short for a safetensors file", p);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | bytes[i];
    if (n > f->map.size - 8 || n > ST_MAX_HEADER)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: header of %llu bytes runs past the end of the file (%zu bytes)", p,
                       (unsigned long long)n, f->map.size);
    const char *hdr = (const char *)bytes + 8;
    qwglm_status rc = json_parse(hdr, (size_t)n, &f->header, e);
    if (rc) return rc;
    const struct json_value *root = &f->header.root;
    if (root->type != JSON_OBJECT) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: header is not a JSON object", p);
    const char *data = hdr + n;
    size_t data_size = f->map.size - 8 - (size_t)n;
    f->tensors = qw_calloc(root->n ? root->n : 1, sizeof *f->tensors);
    if (!f->tensors || !strmap_init(&f->by_name, root->n)) return qw_fail(e, QWGLM_ERR_NOMEM, "%s: header", p);
    for (uint32_t i = 0; i < root->n; i++) {
        const struct json_member *m = &root->u.members[i];
        if (strcmp(m->key, "__metadata__") == 0) {
            if (m->value.type != JSON_OBJECT)
                return qw_fail(e, QWGLM_ERR_FORMAT, "%s: __metadata__ is not an object", p);
            f->metadata = &m->value;
            continue;
        }
        struct st_tensor *t = &f->tensors[f->n_tensors];
        if ((rc = parse_tensor(f, m, data, data_size, t, e))) return rc;
        if (strmap_get(&f->by_name, m->key, m->key_len) >= 0)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s' appears twice", p, m->key);
        if (!strmap_put(&f->by_name, m->key, m->key_len, f->n_tensors))
            return qw_fail(e, QWGLM_ERR_NOMEM, "%s: header", p);
        f->n_tensors++;
    }
    /* no two tensors may share bytes (an overlap is a malformed or malicious file) */
    if (f->n_tensors > 1) {
        const struct st_tensor **order = qw_malloc((size_t)f->n_tensors * sizeof *order);
        if (!order) return qw_fail(e, QWGLM_ERR_NOMEM, "%s: header", p);
        for (int i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
        qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_offset);
        for (int i = 1; i < f->n_tensors; i++) {
            const struct st_tensor *a = order[i - 1], *b = order[i];
            if (a->size && b->size && (const char *)a->data + a->size > (const char *)b->data) {
                rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", p, a->name, b->name);
                break;
            }
        }
        qw_free(order);
    }
    return rc;
}

qwglm_status st_open(struct st_file *f, const char *path, struct qw_err *e)
{
    memset(f, 0, sizeof *f);
    f->path = qw_strndup(path, strlen(path));
    if (!f->path) return qw_fail(e, QWGLM_ERR_NOMEM, "%s", path);
    qwglm_status rc = qw_map_file(path, &f->map, e);
    if (rc) goto fail;
    f->owns_map = true;
    if ((rc = parse(f, e))) goto fail;
    return QWGLM_OK;
fail:
    st_close(f);
    return rc;
}

qwglm_status st_open_memory(struct st_file *f, const void *data, size_t size, const char *name, struct qw_err *e)
{
    memset(f, 0, sizeof *f);
    f->path = qw_strndup(name, strlen(name));
    if (!f->path) return qw_fail(e, QWGLM_ERR_NOMEM, "%s", name);
    f->map.data = data;
    f->map.size = size;
    qwglm_status rc = parse(f, e);
    if (rc) st_close(f);
    return rc;
}

void st_close(struct st_file *f)
{
    if (f->owns_map) qw_unmap(&f->map);
    json_doc_free(&f->header);
    strmap_free(&f->by_name);
    qw_free(f->tensors);
    qw_free(f->path);
    memset(f, 0, sizeof *f);
}

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
    int32_t i = strmap_get(&f->by_name, name, strlen(name));
    return i >= 0 ? &f->tensors[i] : NULL;
}

const char *st_metadata(const struct st_file *f, const char *key) { return json_string(json_get(f->metadata, key)); }

/* ---- sets ---- */

#define SET_FILE_SHIFT 20 /* up to 2^20 tensors per file, 2^11 files */

static qwglm_status set_add_file(struct st_set *s, const char *path, struct qw_err *e)
{
    struct st_file *files = qw_realloc(s->files, (size_t)(s->n_files + 1) * sizeof *files);
    if (!files) return qw_fail(e, QWGLM_ERR_NOMEM, "%s", path);
    s->files = files;
    qwglm_status rc = st_open(&s->files[s->n_files], path, e);
    if (rc) return rc;
    struct st_file *f = &s->files[s->n_files];
    if (f->n_tensors >= (1 << SET_FILE_SHIFT) || s->n_files >= (1 << (31 - SET_FILE_SHIFT))) {
        st_close(f);
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: too many tensors", path);
    }
    s->n_files++;
    for (int i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        if (strmap_get(&s->by_name, name, strlen(name)) >= 0)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s' is also in another shard", path, name);
        if (!strmap_put(&s->by_name, name, strlen(name), ((s->n_files - 1) << SET_FILE_SHIFT) | i))
            return qw_fail(e, QWGLM_ERR_NOMEM, "%s", path);
    }
    return QWGLM_OK;
}

static bool valid_shard_name(const char *name)
{
    /* a file beside the index: no directories, no parent references */
    return name[0] && name[0] != '.' && !strchr(name, '/') && !strchr(name, '\\');
}

static qwglm_status open_index(struct st_set *s, const char *dir, const char *index_path, struct qw_err *e)
{
    char *text;
    size_t n;
    qwglm_status rc = qw_read_file(index_path, 64u << 20, &text, &n, e);
    if (rc) return rc;
    struct json_doc doc;
    rc = json_parse(text, n, &doc, e);
    qw_free(text);
    if (rc) return qw_fail(e, rc, "%s: not valid JSON", index_path);
    const struct json_value *map = json_get(&doc.root, "weight_map");
    if (!map || map->type != JSON_OBJECT) {
        rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: no weight_map object", index_path);
        goto done;
    }
    /* open each shard once, in order of first mention */
    for (uint32_t i = 0; i < map->n && !rc; i++) {
        const char *shard = json_string(&map->u.members[i].value);
        if (!shard || !valid_shard_name(shard)) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': bad shard name", index_path,
                         map->u.members[i].key);
            break;
        }
        bool seen = false;
        for (uint32_t j = 0; j < i && !seen; j++) seen = strcmp(json_string(&map->u.members[j].value), shard) == 0;
        if (seen) continue;
        char path[4096];
        if (!qw_path_join(path, sizeof path, dir, shard)) {
            rc = qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", shard);
            break;
        }
        rc = set_add_file(s, path, e);
    }
    /* the index and the shards must agree */
    for (uint32_t i = 0; i < map->n && !rc; i++) {
        const struct json_member *m = &map->u.members[i];
        int32_t at = strmap_get(&s->by_name, m->key, m->key_len);
        if (at < 0) {
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s' is missing from %s", index_path, m->key,
                         json_string(&m->value));
            break;
        }
        const char *path = s->files[at >> SET_FILE_SHIFT].path, *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (strcmp(base, json_string(&m->value)) != 0)
            rc = qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s' is in %s, not %s", index_path, m->key, base,
                         json_string(&m->value));
    }
done:
    json_doc_free(&doc);
    return rc;
}

qwglm_status st_set_open(struct st_set *s, const char *dir, struct qw_err *e)
{
    memset(s, 0, sizeof *s);
    if (!strmap_init(&s->by_name, 1024)) return qw_fail(e, QWGLM_ERR_NOMEM, "%s", dir);
    char path[4096];
    qwglm_status rc;
    if (!qw_path_join(path, sizeof path, dir, "model.safetensors.index.json"))
        return qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", dir);
    if (qw_file_exists(path)) {
        rc = open_index(s, dir, path, e);
    } else {
        if (!qw_path_join(path, sizeof path, dir, "model.safetensors"))
            return qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", dir);
        if (!qw_file_exists(path))
            rc = qw_fail(e, QWGLM_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
        else
            rc = set_add_file(s, path, e);
    }
    if (rc) st_set_close(s);
    return rc;
}

void st_set_close(struct st_set *s)
{
    for (int i = 0; i < s->n_files; i++) st_close(&s->files[i]);
    qw_free(s->files);
    strmap_free(&s->by_name);
    memset(s, 0, sizeof *s);
}

const struct st_tensor *st_set_find(const struct st_set *s, const char *name)
{
    int32_t at = strmap_get(&s->by_name, name, strlen(name));
    if (at < 0) return NULL;
    return &s->files[at >> SET_FILE_SHIFT].tensors[at & ((1 << SET_FILE_SHIFT) - 1)];
}

int st_set_each(const struct st_set *s, int (*fn)(const struct st_tensor *t, void *user), void *user)
{
    for (int i = 0; i < s->n_files; i++)
        for (int j = 0; j < s->files[i].n_tensors; j++) {
            int r = fn(&s->files[i].tensors[j], user);
            if (r) return r;
        }
    return 0;
}
