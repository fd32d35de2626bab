/* safetensors: one file (mmapped, validated) and a set of shards (model.safetensors.index.json). Every offset,
 * shape and size in the header is checked before any tensor can be reached. */
#ifndef QW_SAFETENSORS_H
#define QW_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"
#include "../base/file.h"
#include "../base/strmap.h"
#include "json.h"

enum st_dtype {
    ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_F8_E4M3, ST_F8_E5M2,
    ST_U16, ST_U32, ST_U64, ST_DTYPE_COUNT
};

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20) /* the format's own limit */

struct st_tensor {
    const char *name;
    enum st_dtype dtype;
    int n_dims;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    size_t size;      /* bytes */
    const void *data; /* inside the mapping; alignment follows the file's layout */
};

struct st_file {
    char *path;
    struct qw_map map;   /* owned unless opened from memory */
    bool owns_map;
    struct json_doc header;
    struct st_tensor *tensors;
    int n_tensors;
    struct strmap by_name;
    const struct json_value *metadata; /* "__metadata__" object, or NULL */
};

const char *st_dtype_name(enum st_dtype t);
size_t st_dtype_size(enum st_dtype t);

/* Opens and validates path. On failure f is closed and e says why. */
qwglm_status st_open(struct st_file *f, const char *path, struct qw_err *e);
/* The same over bytes the caller keeps alive (fuzzing, tests). name is used in messages. */
qwglm_status st_open_memory(struct st_file *f, const void *data, size_t size, const char *name, struct qw_err *e);
/* Safe on a zeroed or half-built f. */
void st_close(struct st_file *f);
const struct st_tensor *st_find(const struct st_file *f, const char *name);
/* A string value of the "__metadata__" object, or NULL. */
const char *st_metadata(const struct st_file *f, const char *key);

/* ---- a checkpoint: one file or the shards named by model.safetensors.index.json ---- */

struct st_set {
    struct st_file *files;
    int n_files;
    struct strmap by_name; /* tensor name -> file index << 20 | tensor index */
};

/* Opens dir/model.safetensors.index.json with its shards, or else dir/model.safetensors. Tensors listed in the
 * index must be in the shard it names; a name present in two shards is an error. */
qwglm_status st_set_open(struct st_set *s, const char *dir, struct qw_err *e);
void st_set_close(struct st_set *s);
const struct st_tensor *st_set_find(const struct st_set *s, const char *name);
/* Calls fn for every tensor of every file; stops and returns fn's nonzero result. */
int st_set_each(const struct st_set *s, int (*fn)(const struct st_tensor *t, void *user), void *user);

#endif
