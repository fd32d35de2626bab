/* Read-only file mappings and whole-file reads. */
#ifndef QW_FILE_H
#define QW_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct qw_map {
    const void *data; /* NULL for an empty file */
    size_t size;
    bool mapped; /* false: data is a heap copy (no mmap on this platform) */
};

/* Maps path read-only. The descriptor is closed at once; the mapping lives until qw_unmap. */
qwglm_status qw_map_file(const char *path, struct qw_map *m, struct qw_err *e);
void qw_unmap(struct qw_map *m);

/* Reads a whole file into a NUL-terminated heap buffer of at most max_size bytes. Caller frees with qw_free. */
qwglm_status qw_read_file(const char *path, size_t max_size, char **out, size_t *size, struct qw_err *e);

/* Writes n bytes to path through a temporary file renamed into place, so a reader never sees half a file. */
qwglm_status qw_write_file_atomic(const char *path, const void *data, size_t n, struct qw_err *e);

/* dir + "/" + name into dst (cap bytes); false when it does not fit. */
bool qw_path_join(char *dst, size_t cap, const char *dir, const char *name);
bool qw_file_exists(const char *path);

#endif
