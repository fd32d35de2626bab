/* multipart/form-data (RFC 7578 over RFC 2046) for uploads such as POST /v1/audio/transcriptions. The parser
 * works on a whole request body that the HTTP layer has already collected under --max-body, so it copies
 * nothing: a part's data points into the body. It is built for hostile input (every index checked, bounded
 * part and header counts, no recursion) and driven by tests/fuzz/fuzz_multipart.c. */
#ifndef QW_SERVER_MULTIPART_H
#define QW_SERVER_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define MP_MAX_PARTS        64   /* parts per form */
#define MP_MAX_HEADER_BYTES 8192 /* header block of one part */
#define MP_MAX_BOUNDARY     70   /* RFC 2046 */

struct mp_part {
    char name[128];         /* Content-Disposition name="..." */
    char filename[256];     /* filename="..." or empty (a plain field) */
    char content_type[128]; /* Content-Type of the part or empty */
    bool has_filename;
    const uint8_t *data; /* into the body */
    size_t size;
};

struct mp_form {
    struct mp_part parts[MP_MAX_PARTS];
    int n_parts;
};

/* The boundary of a Content-Type header value `multipart/form-data; boundary=...` (quoted or not) into out
 * (MP_MAX_BOUNDARY + 1 bytes). QWGLM_ERR_FORMAT with the reason when the type is not multipart/form-data or
 * the boundary is missing or malformed. */
qwglm_status mp_boundary(const char *content_type, char *out, struct qw_err *e);

/* Parses body[0..n) into f. Text before the first boundary (a preamble) and after the closing one is ignored;
 * a body that ends before its closing boundary, a part without a form-data name, more than MP_MAX_PARTS parts
 * or a header block past MP_MAX_HEADER_BYTES fail with QWGLM_ERR_FORMAT and a message naming the part. */
qwglm_status mp_parse(const char *boundary, const uint8_t *body, size_t n, struct mp_form *f,
                      struct qw_err *e);

/* The first part named name, or NULL. */
const struct mp_part *mp_find(const struct mp_form *f, const char *name);

/* Copies a text field into out (cap bytes, NUL-terminated). false when it does not fit or holds a NUL byte.
 */
bool mp_text(const struct mp_part *p, char *out, size_t cap);

#endif
