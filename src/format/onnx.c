#include "onnx.h"

#include <string.h>

#include "../base/fp.h"
#include "../base/mem.h"

/* ---- protobuf wire format ---- */

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

struct pb {
    const uint8_t *p, *end;
};

static bool pb_varint(struct pb *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false; /* more than 10 bytes */
}

/* Reads the next field's key. false at a clean end (r->p == r->end) or on a malformed key; *bad tells which. */
static bool pb_key(struct pb *r, uint32_t *field, int *wire, bool *bad)
{
    *bad = false;
    if (r->p >= r->end) return false;
    uint64_t k;
    if (!pb_varint(r, &k) || (k >> 3) == 0 || (k >> 3) > 0x1fffffff) {
        *bad = true;
        return false;
    }
    *field = (uint32_t)(k >> 3);
    *wire = (int)(k & 7);
    return true;
}

static bool pb_len(struct pb *r, struct pb *sub)
{
    uint64_t n;
    if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return false;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return true;
}

static bool pb_skip(struct pb *r, int wire)
{
    uint64_t v;
    struct pb sub;
    switch (wire) {
    case WIRE_VARINT: return pb_varint(r, &v);
    case WIRE_I64:
        if (r->end - r->p < 8) return false;
        r->p += 8;
        return true;
    case WIRE_LEN: return pb_len(r, &sub);
    case WIRE_I32:
        if (r->end - r->p < 4) return false;
        r->p += 4;
        return true;
    default: return false; /* groups (3, 4) are not used by ONNX */
    }
}

/* ---- storage: strings and arrays that live as long as the model ---- */

struct onnx_chunk {
    struct onnx_chunk *next;
    size_t cap, used;
    _Alignas(16) uint8_t data[];
};

static void *store_alloc(struct onnx_model *m, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct onnx_chunk *c = m->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536, bytes;
        if (!size_add_ok(sizeof *c, cap, &bytes)) return NULL;
        c = qw_malloc(bytes);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = m->chunks;
        m->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static const char *store_str(struct onnx_model *m, struct pb s)
{
    size_t n = (size_t)(s.end - s.p);
    char *z = store_alloc(m, n + 1);
    if (!z) return NULL;
    memcpy(z, s.p, n);
    z[n] = 0;
    return z;
}

/* A growable array of fixed-size items, capped. */
static bool grow(void **arr, int *cap, int n, size_t item, int max)
{
    if (n < *cap) return true;
    if (n >= max) return false;
    int nc = *cap ? *cap * 2 : 16;
    if (nc > max) nc = max;
    void *p = qw_realloc(*arr, (size_t)nc * item);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

/* ---- messages ---- */

struct ctx {
    struct onnx_model *m;
    struct qw_err *e;
    const char *path;
    int cap_inits, cap_inputs, cap_outputs, cap_nodes;
};

#define BAD(what) qw_fail(c->e, QWGLM_ERR_FORMAT, "%s: %s at byte %zu", c->path, what, \
                          (size_t)(r.p - (const uint8_t *)c->m->map.data))
#define NOMEM() qw_fail(c->e, QWGLM_ERR_NOMEM, "%s: out of memory", c->path)

static qwglm_status parse_tensor(struct ctx *c, struct pb msg, struct onnx_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->msg = msg.p;
    t->msg_size = (size_t)(msg.end - msg.p);
    t->name = "";
    struct pb r = msg, s;
    uint32_t f;
    int w;
    bool bad;
    uint64_t v;
    int64_t location = 0;
    while (pb_key(&r, &f, &w, &bad)) {
        if (f == 1 && w == WIRE_VARINT) {
            if (!pb_varint(&r, &v)) return BAD("truncated tensor dimension");
            if (t->n_dims >= ONNX_MAX_DIMS) return BAD("tensor with too many dimensions");
            t->dims[t->n_dims++] = (int64_t)v;
        } else if (f == 1 && w == WIRE_LEN) {
            if (!pb_len(&r, &s)) return BAD("truncated tensor dimensions");
            while (s.p < s.end) {
                if (!pb_varint(&s, &v)) return BAD("bad packed tensor dimensions");
                if (t->n_dims >= ONNX_MAX_DIMS) return BAD("tensor with too many dimensions");
                t->dims[t->n_dims++] = (int64_t)v;
            }
        } else if (f == 2 && w == WIRE_VARINT) {
            if (!pb_varint(&r, &v)) return BAD("truncated tensor data_type");
            t->dtype = (int)(v & 0x7fffffff);
        } else if (f == 8 && w == WIRE_LEN) {
            if (!pb_len(&r, &s)) return BAD("truncated tensor name");
            if (!(t->name = store_str(c->m, s))) return NOMEM();
        } else if (f == 9 && w == WIRE_LEN) {
            if (!pb_len(&r, &s)) return BAD("truncated raw_data");
            t->raw = s.p;
            t->raw_size = (size_t)(s.end - s.p);
        } else if (f == 14 && w == WIRE_VARINT) {
            if (!pb_varint(&r, (uint64_t *)&location)) return BAD("truncated data_location");
        } else if (!pb_skip(&r, w)) {
            return BAD("truncated tensor field");
        }
    }
    if (bad) return BAD("bad field key in tensor");
    if (location != 0)
        return qw_fail(c->e, QWGLM_ERR_FORMAT, "%s: tensor '%s' keeps its data in an external file (not supported)",
                       c->path, t->name);
    size_t numel = 1;
    for (int i = 0; i < t->n_dims; i++)
        if (t->dims[i] < 0 || !size_mul_ok(numel, (size_t)t->dims[i], &numel) || numel > ((size_t)1 << 40))
            return qw_fail(c->e, QWGLM_ERR_FORMAT, "%s: tensor '%s': bad dimension %d", c->path, t->name, i);
    t->numel = (int64_t)numel;
    return QWGLM_OK;
}

static qwglm_status parse_value(struct ctx *c, struct pb msg, struct onnx_value *val)
{
    memset(val, 0, sizeof *val);
    val->name = "";
    struct pb r = msg, s, tt, ts, d;
    uint32_t f;
    int w;
    bool bad;
    while (pb_key(&r, &f, &w, &bad)) {
        if (f == 1 && w == WIRE_LEN) {
            if (!pb_len(&r, &s)) return BAD("truncated value name");
            if (!(val->name = store_str(c->m, s))) return NOMEM();
        } else if (f == 2 && w == WIRE_LEN) { /* TypeProto */
            if (!pb_len(&r, &s)) return BAD("truncated value type");
            uint32_t f2;
            int w2;
            while (pb_key(&s, &f2, &w2, &bad)) {
                if (!(f2 == 1 && w2 == WIRE_LEN)) { /* not tensor_type */
                    if (!pb_skip(&s, w2)) return BAD("truncated type field");
                    continue;
                }
                if (!pb_len(&s, &tt)) return BAD("truncated tensor type");
                uint32_t f3;
                int w3;
                uint64_t v;
                while (pb_key(&tt, &f3, &w3, &bad)) {
                    if (f3 == 1 && w3 == WIRE_VARINT) {
                        if (!pb_varint(&tt, &v)) return BAD("truncated elem_type");
                        val->elem_type = (int)(v & 0x7fffffff);
                    } else if (f3 == 2 && w3 == WIRE_LEN) { /* TensorShapeProto */
                        if (!pb_len(&tt, &ts)) return BAD("truncated shape");
                        uint32_t f4;
                        int w4;
                        while (pb_key(&ts, &f4, &w4, &bad)) {
                            if (!(f4 == 1 && w4 == WIRE_LEN)) {
                                if (!pb_skip(&ts, w4)) return BAD("truncated shape field");
                                continue;
                            }
                            if (!pb_len(&ts, &d)) return BAD("truncated dimension");
                            if (val->n_dims >= ONNX_MAX_DIMS) return BAD("value with too many dimensions");
                            int64_t dim = -1;
                            uint32_t f5;
                            int w5;
                            while (pb_key(&d, &f5, &w5, &bad)) {
                                if (f5 == 1 && w5 == WIRE_VARINT) {
                                    if (!pb_varint(&d, &v)) return BAD("truncated dim_value");
                                    dim = (int64_t)(v & INT64_MAX);
                                } else if (!pb_skip(&d, w5)) {
                                    return BAD("truncated dimension field");
                                }
                            }
                            if (bad) return BAD("bad field key in dimension");
                            val->dims[val->n_dims++] = dim;
                        }
                        if (bad) return BAD("bad field key in shape");
                    } else if (!pb_skip(&tt, w3)) {
                        return BAD("truncated tensor type field");
                    }
                }
                if (bad) return BAD("bad field key in tensor type");
            }
            if (bad) return BAD("bad field key in type");
        } else if (!pb_skip(&r, w)) {
            return BAD("truncated value field");
        }
    }
    if (bad) return BAD("bad field key in value");
    return QWGLM_OK;
}

static qwglm_status parse_attr(struct ctx *c, struct pb msg, struct onnx_attr *a)
{
    memset(a, 0, sizeof *a);
    a->name = "";
    struct pb r = msg, s;
    uint32_t f;
    int w;
    bool bad;
    uint64_t v;
    while (pb_key(&r, &f, &w, &bad)) {
        if (f == 1 && w == WIRE_LEN) {
            if (!pb_len(&r, &s)) return BAD("truncated attribute name");
            if (!(a->name = store_str(c->m, s))) return NOMEM();
        } else if (f == 20 && w == WIRE_VARINT) {
            if (!pb_varint(&r, &v)) return BAD("truncated attribute type");
            a->type = (int)(v & 0x7fffffff);
        } else if (f == 3 && w == WIRE_VARINT) {
            if (!pb_varint(&r, &v)) return BAD("truncated attribute value");
            a->i = (int64_t)v;
        } else if (f == 2 && w == WIRE_I32) {
            if (r.end - r.p < 4) return BAD("truncated attribute value");
            memcpy(&a->f, r.p, 4);
            r.p += 4;
        } else if (f == 8 && w == WIRE_VARINT) {
            if (!pb_varint(&r, &v)) return BAD("truncated attribute ints");
            if (a->n_ints >= ONNX_MAX_INTS) return BAD("attribute with too many ints");
            a->ints[a->n_ints++] = (int64_t)v;
        } else if (f == 8 && w == WIRE_LEN) {
            if (!pb_len(&r, &s)) return BAD("truncated attribute ints");
            while (s.p < s.end) {
                if (!pb_varint(&s, &v)) return BAD("bad packed attribute ints");
                if (a->n_ints >= ONNX_MAX_INTS) return BAD("attribute with too many ints");
                a->ints[a->n_ints++] = (int64_t)v;
            }
        } else if (!pb_skip(&r, w)) {
            return BAD("truncated attribute field");
        }
    }
    if (bad) return BAD("bad field key in attribute");
    return QWGLM_OK;
}

/* Two passes over the node: count, then fill arrays of exactly that size from the store. */
static qwglm_status parse_node(struct ctx *c, struct pb msg, struct onnx_node *n)
{
    memset(n, 0, sizeof *n);
    n->name = n->op_type = "";
    struct pb r = msg, s;
    uint32_t f;
    int w;
    bool bad;
    int ni = 0, no = 0, na = 0;
    while (pb_key(&r, &f, &w, &bad)) {
        if (w == WIRE_LEN && f == 1) ni++;
        else if (w == WIRE_LEN && f == 2) no++;
        else if (w == WIRE_LEN && f == 5) na++;
        if (!pb_skip(&r, w)) return BAD("truncated node field");
    }
    if (bad) return BAD("bad field key in node");
    if (ni > ONNX_MAX_NODE_IO || no > ONNX_MAX_NODE_IO || na > ONNX_MAX_ATTRS) return BAD("node too large");
    n->inputs = store_alloc(c->m, (size_t)(ni + 1) * sizeof(char *));
    n->outputs = store_alloc(c->m, (size_t)(no + 1) * sizeof(char *));
    n->attrs = store_alloc(c->m, (size_t)(na + 1) * sizeof(struct onnx_attr));
    if (!n->inputs || !n->outputs || !n->attrs) return NOMEM();
    r = msg;
    while (pb_key(&r, &f, &w, &bad)) {
        if (w != WIRE_LEN || (f != 1 && f != 2 && f != 3 && f != 4 && f != 5)) {
            if (!pb_skip(&r, w)) return BAD("truncated node field");
            continue;
        }
        if (!pb_len(&r, &s)) return BAD("truncated node field");
        if (f == 5) {
            qwglm_status rc = parse_attr(c, s, &n->attrs[n->n_attrs++]);
            if (rc) return rc;
            continue;
        }
        const char *z = store_str(c->m, s);
        if (!z) return NOMEM();
        if (f == 1) n->inputs[n->n_inputs++] = z;
        else if (f == 2) n->outputs[n->n_outputs++] = z;
        else if (f == 3) n->name = z;
        else n->op_type = z;
    }
    return QWGLM_OK;
}

static qwglm_status parse_graph(struct ctx *c, struct pb msg)
{
    struct onnx_model *m = c->m;
    struct pb r = msg, s;
    uint32_t f;
    int w;
    bool bad;
    qwglm_status rc;
    while (pb_key(&r, &f, &w, &bad)) {
        if (w != WIRE_LEN || (f != 1 && f != 5 && f != 11 && f != 12)) {
            if (!pb_skip(&r, w)) return BAD("truncated graph field");
            continue;
        }
        if (!pb_len(&r, &s)) return BAD("truncated graph field");
        if (f == 1) {
            if (!grow((void **)&m->nodes, &c->cap_nodes, m->n_nodes, sizeof *m->nodes, ONNX_MAX_NODES))
                return m->n_nodes >= ONNX_MAX_NODES ? BAD("too many nodes") : NOMEM();
            if ((rc = parse_node(c, s, &m->nodes[m->n_nodes]))) return rc;
            m->n_nodes++;
        } else if (f == 5) {
            if (!grow((void **)&m->inits, &c->cap_inits, m->n_inits, sizeof *m->inits, ONNX_MAX_TENSORS))
                return m->n_inits >= ONNX_MAX_TENSORS ? BAD("too many initializers") : NOMEM();
            if ((rc = parse_tensor(c, s, &m->inits[m->n_inits]))) return rc;
            m->n_inits++;
        } else {
            struct onnx_value **arr = f == 11 ? &m->inputs : &m->outputs;
            int *n = f == 11 ? &m->n_inputs : &m->n_outputs, *cap = f == 11 ? &c->cap_inputs : &c->cap_outputs;
            if (!grow((void **)arr, cap, *n, sizeof **arr, ONNX_MAX_TENSORS))
                return *n >= ONNX_MAX_TENSORS ? BAD("too many graph inputs") : NOMEM();
            if ((rc = parse_value(c, s, &(*arr)[*n]))) return rc;
            (*n)++;
        }
    }
    if (bad) return BAD("bad field key in graph");
    return QWGLM_OK;
}

static qwglm_status parse_model(struct ctx *c)
{
    struct onnx_model *m = c->m;
    struct pb r = {m->map.data, (const uint8_t *)m->map.data + m->map.size}, s, g = {0};
    uint32_t f;
    int w;
    bool bad, have_graph = false;
    uint64_t v;
    while (pb_key(&r, &f, &w, &bad)) {
        if (f == 1 && w == WIRE_VARINT) {
            if (!pb_varint(&r, &v)) return BAD("truncated ir_version");
            m->ir_version = (int64_t)(v & INT64_MAX);
        } else if (f == 7 && w == WIRE_LEN) {
            if (!pb_len(&r, &g)) return BAD("truncated graph");
            have_graph = true;
        } else if (f == 8 && w == WIRE_LEN) { /* OperatorSetIdProto: domain 1, version 2 */
            if (!pb_len(&r, &s)) return BAD("truncated opset_import");
            uint32_t f2;
            int w2;
            bool default_domain = true;
            int64_t version = 0;
            while (pb_key(&s, &f2, &w2, &bad)) {
                struct pb d;
                if (f2 == 1 && w2 == WIRE_LEN) {
                    if (!pb_len(&s, &d)) return BAD("truncated opset domain");
                    default_domain = d.p == d.end || (d.end - d.p == 7 && memcmp(d.p, "ai.onnx", 7) == 0);
                } else if (f2 == 2 && w2 == WIRE_VARINT) {
                    if (!pb_varint(&s, &v)) return BAD("truncated opset version");
                    version = (int64_t)(v & INT64_MAX);
                } else if (!pb_skip(&s, w2)) {
                    return BAD("truncated opset field");
                }
            }
            if (bad) return BAD("bad field key in opset_import");
            if (default_domain) m->opset = version;
        } else if (!pb_skip(&r, w)) {
            return BAD("truncated model field");
        }
    }
    if (bad) return BAD("bad field key (not an ONNX file?)");
    if (!have_graph) return qw_fail(c->e, QWGLM_ERR_FORMAT, "%s: no graph (not an ONNX model?)", c->path);
    qwglm_status rc = parse_graph(c, g);
    if (rc) return rc;
    if (!strmap_init(&m->init_by_name, (size_t)m->n_inits)) return NOMEM();
    for (int i = 0; i < m->n_inits; i++)
        if (!strmap_put(&m->init_by_name, m->inits[i].name, strlen(m->inits[i].name), i)) return NOMEM();
    return QWGLM_OK;
}

static qwglm_status open_common(struct onnx_model *m, const char *name, struct qw_err *e)
{
    m->path = qw_strndup(name, strlen(name));
    if (!m->path) return qw_fail(e, QWGLM_ERR_NOMEM, "%s: out of memory", name);
    struct ctx c = {.m = m, .e = e, .path = m->path};
    if (m->map.size == 0) return qw_fail(e, QWGLM_ERR_FORMAT, "%s: empty file", name);
    return parse_model(&c);
}

qwglm_status onnx_open_memory(struct onnx_model *m, const void *data, size_t size, const char *name,
                              struct qw_err *e)
{
    memset(m, 0, sizeof *m);
    m->map.data = data;
    m->map.size = data ? size : 0;
    qwglm_status rc = open_common(m, name ? name : "onnx", e);
    if (rc) onnx_close(m);
    return rc;
}

qwglm_status onnx_open(struct onnx_model *m, const char *path, struct qw_err *e)
{
    memset(m, 0, sizeof *m);
    qwglm_status rc = qw_map_file(path, &m->map, e);
    if (rc) return rc;
    m->owns_map = true;
    rc = open_common(m, path, e);
    if (rc) onnx_close(m);
    return rc;
}

void onnx_close(struct onnx_model *m)
{
    if (!m) return;
    if (m->owns_map) qw_unmap(&m->map);
    qw_free(m->path);
    qw_free(m->inits);
    qw_free(m->inputs);
    qw_free(m->outputs);
    qw_free(m->nodes);
    strmap_free(&m->init_by_name);
    for (struct onnx_chunk *c = m->chunks, *n; c; c = n) {
        n = c->next;
        qw_free(c);
    }
    memset(m, 0, sizeof *m);
}

/* ---- lookups ---- */

const struct onnx_tensor *onnx_find(const struct onnx_model *m, const char *name)
{
    if (!m->init_by_name.slots) return NULL;
    int32_t i = strmap_get(&m->init_by_name, name, strlen(name));
    return i < 0 ? NULL : &m->inits[i];
}

const struct onnx_value *onnx_input(const struct onnx_model *m, const char *name)
{
    for (int i = 0; i < m->n_inputs; i++)
        if (strcmp(m->inputs[i].name, name) == 0) return &m->inputs[i];
    return NULL;
}

const struct onnx_attr *onnx_node_attr(const struct onnx_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

const char *onnx_dtype_name(int dtype)
{
    static const char *names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                  "string", "bool", "float16", "double", "uint32", "uint64", "complex64",
                                  "complex128", "bfloat16"};
    return dtype >= 0 && dtype < (int)(sizeof names / sizeof names[0]) ? names[dtype] : "unknown";
}

/* ---- tensor data ---- */

static size_t elem_size(int dtype)
{
    switch (dtype) {
    case ONNX_FLOAT: case ONNX_INT32: case ONNX_UINT32: return 4;
    case ONNX_DOUBLE: case ONNX_INT64: case ONNX_UINT64: return 8;
    case ONNX_FLOAT16: case ONNX_BFLOAT16: case ONNX_INT16: case ONNX_UINT16: return 2;
    case ONNX_INT8: case ONNX_UINT8: case ONNX_BOOL: return 1;
    default: return 0;
    }
}

static double raw_value(int dtype, const uint8_t *p)
{
    float f;
    double d;
    int32_t i32;
    int64_t i64;
    uint16_t h;
    switch (dtype) {
    case ONNX_FLOAT: memcpy(&f, p, 4); return f;
    case ONNX_DOUBLE: memcpy(&d, p, 8); return d;
    case ONNX_FLOAT16: memcpy(&h, p, 2); return f16_to_f32(h);
    case ONNX_BFLOAT16: memcpy(&h, p, 2); return bf16_to_f32(h);
    case ONNX_INT32: memcpy(&i32, p, 4); return i32;
    case ONNX_INT64: memcpy(&i64, p, 8); return (double)i64;
    default: return 0;
    }
}

/* Walks the typed data field of t (float_data 4, int32_data 5, int64_data 7, double_data 10) and calls put for
 * each value, packed or not. Returns the number of values seen, or -1 when malformed. */
static int64_t typed_values(const struct onnx_tensor *t, int dtype, float *f32, int64_t *i64)
{
    uint32_t want;
    switch (dtype) {
    case ONNX_FLOAT: want = 4; break;
    case ONNX_FLOAT16: case ONNX_BFLOAT16: case ONNX_INT32: want = 5; break;
    case ONNX_INT64: want = 7; break;
    case ONNX_DOUBLE: want = 10; break;
    default: return -1;
    }
    struct pb r = {t->msg, t->msg + t->msg_size}, s;
    uint32_t f;
    int w;
    bool bad;
    int64_t n = 0;
    uint64_t v;
#define PUT(val)                                                                                                   \
    do {                                                                                                           \
        if (n >= t->numel) return -1;                                                                              \
        if (f32) f32[n] = (float)(val);                                                                            \
        if (i64) i64[n] = (int64_t)(val);                                                                          \
        n++;                                                                                                       \
    } while (0)
    while (pb_key(&r, &f, &w, &bad)) {
        if (f != want) {
            if (!pb_skip(&r, w)) return -1;
            continue;
        }
        bool packed = w == WIRE_LEN;
        if (packed) {
            if (!pb_len(&r, &s)) return -1;
        } else {
            s = r;
        }
        do {
            if (want == 4 || want == 10) {
                size_t sz = want == 4 ? 4 : 8;
                if ((size_t)(s.end - s.p) < sz || (!packed && w != (want == 4 ? WIRE_I32 : WIRE_I64))) return -1;
                PUT(raw_value(want == 4 ? ONNX_FLOAT : ONNX_DOUBLE, s.p));
                s.p += sz;
            } else {
                if ((!packed && w != WIRE_VARINT) || !pb_varint(&s, &v)) return -1;
                if (dtype == ONNX_FLOAT16) PUT(f16_to_f32((uint16_t)v));
                else if (dtype == ONNX_BFLOAT16) PUT(bf16_to_f32((uint16_t)v));
                else if (want == 5) PUT((int32_t)(uint32_t)v);
                else PUT((int64_t)v);
            }
        } while (packed && s.p < s.end);
        if (!packed) r = s;
    }
#undef PUT
    return bad ? -1 : n;
}

static qwglm_status tensor_values(const struct onnx_model *m, const struct onnx_tensor *t, float *f32,
                                  int64_t *i64, struct qw_err *e)
{
    size_t es = elem_size(t->dtype);
    if (t->raw) {
        size_t bytes;
        if (!es || !size_mul_ok((size_t)t->numel, es, &bytes) || bytes != t->raw_size)
            return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s' (%s, %lld values): raw_data holds %zu bytes",
                           m->path, t->name, onnx_dtype_name(t->dtype), (long long)t->numel, t->raw_size);
        for (int64_t i = 0; i < t->numel; i++) {
            const uint8_t *p = t->raw + (size_t)i * es;
            if (f32) f32[i] = (float)raw_value(t->dtype, p);
            if (i64 && t->dtype == ONNX_INT64) memcpy(&i64[i], p, 8);
            else if (i64) i64[i] = (int64_t)raw_value(t->dtype, p);
        }
        return QWGLM_OK;
    }
    int64_t n = typed_values(t, t->dtype, f32, i64);
    if (n != t->numel)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s' (%s): data holds %lld of %lld values", m->path,
                       t->name, onnx_dtype_name(t->dtype), (long long)n, (long long)t->numel);
    return QWGLM_OK;
}

qwglm_status onnx_tensor_f32(const struct onnx_model *m, const struct onnx_tensor *t, float *dst, struct qw_err *e)
{
    if (t->dtype != ONNX_FLOAT && t->dtype != ONNX_FLOAT16 && t->dtype != ONNX_BFLOAT16 && t->dtype != ONNX_DOUBLE)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s' is %s, expected floating point", m->path, t->name,
                       onnx_dtype_name(t->dtype));
    return tensor_values(m, t, dst, NULL, e);
}

qwglm_status onnx_tensor_i64(const struct onnx_model *m, const struct onnx_tensor *t, int64_t *dst,
                             struct qw_err *e)
{
    if (t->dtype != ONNX_INT64 && t->dtype != ONNX_INT32)
        return qw_fail(e, QWGLM_ERR_FORMAT, "%s: tensor '%s' is %s, expected integer", m->path, t->name,
                       onnx_dtype_name(t->dtype));
    return tensor_values(m, t, NULL, dst, e);
}
