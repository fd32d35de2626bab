/* JSON: a strict RFC 8259 parser into an immutable tree, built for untrusted input (depth limit, every index
 * checked) and for size (an 11 MB tokenizer.json parses in tens of milliseconds). */
#ifndef QW_JSON_H
#define QW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT, JSON_TYPE_COUNT };

struct json_member;

struct json_value {
    uint8_t type;   /* enum json_type */
    bool is_int;    /* JSON_NUMBER written without fraction or exponent and within int64 */
    bool b;         /* JSON_BOOL */
    uint32_t n;     /* JSON_STRING: bytes; JSON_ARRAY: items; JSON_OBJECT: members */
    union {
        double num;  /* JSON_NUMBER */
        const char *str;                 /* JSON_STRING: NUL-terminated UTF-8 (may hold NULs; use n) */
        struct json_value *items;        /* JSON_ARRAY */
        struct json_member *members;     /* JSON_OBJECT, in document order */
    } u;
    int64_t i; /* JSON_NUMBER with is_int */
};

struct json_member {
    const char *key; /* NUL-terminated */
    uint32_t key_len;
    struct json_value value;
};

struct json_block;

struct json_doc {
    struct json_value root;
    struct json_block *blocks; /* storage of every string and child array */
};

#define JSON_MAX_DEPTH 256

/* Parses text[0..n) (the whole text must be one value plus whitespace). Errors name line and column. */
qwglm_status json_parse(const char *text, size_t n, struct json_doc *doc, struct qw_err *e);
void json_doc_free(struct json_doc *doc);

/* The member named key (the last one, as Python's json keeps, when a key repeats), or NULL. obj may be NULL or
 * not an object. */
const struct json_value *json_get(const struct json_value *obj, const char *key);
/* The string value, or NULL when v is NULL or not a string. */
const char *json_string(const struct json_value *v);
/* Reads a number into *out; false when v is NULL or not a number (or not integral, for json_int). */
bool json_number(const struct json_value *v, double *out);
bool json_int(const struct json_value *v, int64_t *out);
/* v is NULL or JSON null. */
static inline bool json_is_null(const struct json_value *v) { return !v || v->type == JSON_NULL; }
const char *json_type_name(int type);

#endif
