/* Helpers for the golden tests: reference.json cases and reference.safetensors arrays. */
#ifndef QW_GOLDEN_H
#define QW_GOLDEN_H

#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/json.h"
#include "format/safetensors.h"
#include "test.h"

struct golden {
    struct json_doc doc;
    const struct json_value *cases;
    struct st_file ref;
};

static inline void golden_open(struct golden *g, const char *dir)
{
    char path[512], *text;
    size_t n;
    snprintf(path, sizeof path, "%s/reference.json", dir);
    REQUIRE(qw_read_file(path, 64u << 20, &text, &n, NULL) == QWGLM_OK);
    REQUIRE(json_parse(text, n, &g->doc, NULL) == QWGLM_OK);
    qw_free(text);
    g->cases = json_get(&g->doc.root, "cases");
    REQUIRE(g->cases && g->cases->type == JSON_ARRAY);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    REQUIRE(st_open(&g->ref, path, NULL) == QWGLM_OK);
}

static inline void golden_close(struct golden *g)
{
    json_doc_free(&g->doc);
    st_close(&g->ref);
}

/* An int array field of case i into a heap array (free with qw_free); *n its length. */
static inline int32_t *golden_ids(const struct golden *g, int i, const char *key, int *n)
{
    const struct json_value *a = json_get(&g->cases->u.items[i], key);
    REQUIRE(a && a->type == JSON_ARRAY);
    int32_t *ids = qw_malloc((a->n ? a->n : 1) * sizeof *ids);
    for (uint32_t j = 0; j < a->n; j++) {
        int64_t v;
        REQUIRE(json_int(&a->u.items[j], &v));
        ids[j] = (int32_t)v;
    }
    *n = (int)a->n;
    return ids;
}

/* A float32 reference array by name; *numel its size. */
static inline const float *golden_array(const struct golden *g, const char *name, int64_t *numel)
{
    const struct st_tensor *t = st_find(&g->ref, name);
    if (!t) fprintf(stderr, "reference array '%s' missing\n", name);
    REQUIRE(t && t->dtype == ST_F32);
    if (numel) *numel = t->numel;
    return t->data;
}

#endif
