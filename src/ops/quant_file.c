/* Quantized tensors in safetensors files: the metadata that describes them, validated as untrusted input (the
 * fuzz target fuzz_qfile runs this over arbitrary files). */
#include <stdio.h>
#include <string.h>

#include "quant.h"

/* "q4 ROWS COLS": a quantized dtype name and two decimal integers, single spaces, nothing else. */
static bool parse_desc(const char *s, enum qw_dtype *dtype, int64_t *rows, int64_t *cols)
{
    if (strncmp(s, "q8 ", 3) == 0) *dtype = QW_DTYPE_Q8;
    else if (strncmp(s, "q4 ", 3) == 0) *dtype = QW_DTYPE_Q4;
    else return false;
    s += 3;
    int64_t v[2];
    for (int i = 0; i < 2; i++) {
        if (*s < '0' || *s > '9' || (*s == '0' && s[1] >= '0' && s[1] <= '9')) return false;
        int64_t x = 0;
        for (int digits = 0; *s >= '0' && *s <= '9'; s++, digits++) {
            if (digits >= 10) return false;
            x = x * 10 + (*s - '0');
        }
        v[i] = x;
        if (i == 0 && *s++ != ' ') return false;
    }
    if (*s) return false;
    *rows = v[0];
    *cols = v[1];
    return true;
}

/* Checks one description against its tensor. */
static qwglm_status check_tensor(const struct st_file *f, const char *name, const char *desc, enum qw_dtype *dtype,
                                 int64_t *rows, int64_t *cols, struct qw_err *e)
{
    if (!desc || !parse_desc(desc, dtype, rows, cols))
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': quantization entry '%.40s' is not 'q8|q4 ROWS COLS'",
                       f->path, name, desc ? desc : "(not a string)");
    if (*rows < 1 || *rows > (int64_t)1 << 31 || *cols < QW_QBLOCK || *cols > (int64_t)1 << 31 ||
        *cols % QW_QBLOCK != 0)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': %s shape [%lld, %lld] is invalid (columns must be a "
                       "positive multiple of %d)", f->path, name, qw_dtype_name(*dtype), (long long)*rows,
                       (long long)*cols, QW_QBLOCK);
    const struct st_tensor *t = st_find(f, name);
    if (!t) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: quantization entry for missing tensor '%s'", f->path, name);
    int64_t row_bytes = (int64_t)qw_row_bytes(*dtype, *cols);
    if (t->dtype != ST_U8 || t->n_dims != 2 || t->shape[0] != *rows || t->shape[1] != row_bytes)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s': stored as %s with %d dimensions, %s [%lld, %lld] needs "
                       "U8 [%lld, %lld]", f->path, name, st_dtype_name(t->dtype), t->n_dims, qw_dtype_name(*dtype),
                       (long long)*rows, (long long)*cols, (long long)*rows, (long long)row_bytes);
    return QWGLM_OK;
}

qwglm_status qw_qfile_validate(const struct st_file *f, struct qw_err *e)
{
    const struct json_value *md = f->metadata;
    if (!md) return QWGLM_OK;
    const char *layout = st_metadata(f, "qwglm.layout");
    const size_t plen = strlen(QW_QFILE_PREFIX);
    for (uint32_t i = 0; i < md->n; i++) {
        const struct json_member *m = &md->u.members[i];
        if (m->key_len <= plen || strncmp(m->key, QW_QFILE_PREFIX, plen) != 0) continue;
        if (!layout || strcmp(layout, QW_QFILE_LAYOUT) != 0)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: quantized tensors in layout '%.16s'; this qwglm reads layout %s",
                           f->path, layout ? layout : "(none)", QW_QFILE_LAYOUT);
        enum qw_dtype dt;
        int64_t rows, cols;
        qwglm_status rc = check_tensor(f, m->key + plen, json_string(&m->value), &dt, &rows, &cols, e);
        if (rc) return rc;
    }
    return QWGLM_OK;
}

qwglm_status qw_qfile_tensor(const struct st_file *f, const struct st_tensor *t, enum qw_dtype *dtype, int64_t *rows,
                             int64_t *cols, struct qw_err *e)
{
    char key[320];
    int n = snprintf(key, sizeof key, "%s%s", QW_QFILE_PREFIX, t->name);
    const char *desc = n > 0 && (size_t)n < sizeof key ? st_metadata(f, key) : NULL;
    if (desc) return check_tensor(f, t->name, desc, dtype, rows, cols, e);
    switch (t->dtype) {
    case ST_F32: *dtype = QW_DTYPE_F32; break;
    case ST_F16: *dtype = QW_DTYPE_F16; break;
    case ST_BF16: *dtype = QW_DTYPE_BF16; break;
    default:
        return qw_fail(e, QWGLM_ERR_FORMAT, "tensor '%s' has dtype %s; qwglm reads F32, F16, BF16 and its own q8/q4",
                       t->name, st_dtype_name(t->dtype));
    }
    if (t->n_dims == 1) {
        *rows = 1;
        *cols = t->shape[0];
    } else if (t->n_dims == 2) {
        *rows = t->shape[0];
        *cols = t->shape[1];
    } else {
        return qw_fail(e, QWGLM_ERR_FORMAT, "tensor '%s' has %d dimensions, expected 1 or 2", t->name, t->n_dims);
    }
    return QWGLM_OK;
}

const struct st_file *qw_qfile_of(const struct st_set *s, const struct st_tensor *t)
{
    for (int i = 0; i < s->n_files; i++) {
        const struct st_file *f = &s->files[i];
        if (f->n_tensors > 0 && t >= f->tensors && t < f->tensors + f->n_tensors) return f;
    }
    return NULL;
}
