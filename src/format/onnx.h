/* ONNX files: a bounds-checked protobuf reader for what a weights loader needs from a ModelProto: the graph's
 * initializers (raw_data or typed fields), its inputs and outputs, and its nodes with their attributes. Tensor
 * data is not copied: it is decoded on demand from the mapped file. Nothing here runs a graph. */
#ifndef QW_ONNX_H
#define QW_ONNX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"
#include "../base/file.h"
#include "../base/strmap.h"

#define ONNX_MAX_DIMS 8
#define ONNX_MAX_NODES (1 << 20)
#define ONNX_MAX_TENSORS (1 << 20)
#define ONNX_MAX_NODE_IO 64 /* inputs or outputs of one node */
#define ONNX_MAX_ATTRS 32   /* attributes of one node */
#define ONNX_MAX_INTS 64    /* values of one INTS attribute */

/* TensorProto.DataType values this reader knows by name. */
enum onnx_dtype {
    ONNX_FLOAT = 1, ONNX_UINT8 = 2, ONNX_INT8 = 3, ONNX_UINT16 = 4, ONNX_INT16 = 5, ONNX_INT32 = 6,
    ONNX_INT64 = 7, ONNX_STRING = 8, ONNX_BOOL = 9, ONNX_FLOAT16 = 10, ONNX_DOUBLE = 11, ONNX_UINT32 = 12,
    ONNX_UINT64 = 13, ONNX_BFLOAT16 = 16
};

struct onnx_tensor {
    const char *name;
    int dtype; /* enum onnx_dtype (other values are kept and reported) */
    int n_dims;
    int64_t dims[ONNX_MAX_DIMS];
    int64_t numel;
    const uint8_t *raw; /* raw_data inside the file (little-endian, possibly unaligned), or NULL */
    size_t raw_size;
    const uint8_t *msg; /* the whole TensorProto, re-read for typed data fields */
    size_t msg_size;
};

/* A graph input or output: name, element type and shape (a dimension is -1 when symbolic or absent). */
struct onnx_value {
    const char *name;
    int elem_type;
    int n_dims;
    int64_t dims[ONNX_MAX_DIMS];
};

enum onnx_attr_type { ONNX_ATTR_FLOAT = 1, ONNX_ATTR_INT = 2, ONNX_ATTR_STRING = 3, ONNX_ATTR_INTS = 7 };

struct onnx_attr {
    const char *name;
    int type;    /* AttributeProto.type; only the kinds above carry values here */
    int64_t i;   /* INT */
    float f;     /* FLOAT */
    int n_ints;  /* INTS */
    int64_t ints[ONNX_MAX_INTS];
};

struct onnx_node {
    const char *name, *op_type;
    int n_inputs, n_outputs, n_attrs;
    const char **inputs, **outputs; /* "" for an omitted optional input */
    struct onnx_attr *attrs;
};

struct onnx_chunk;

struct onnx_model {
    char *path;
    struct qw_map map; /* owned unless opened from memory */
    bool owns_map;
    int64_t ir_version, opset; /* opset of the default domain, 0 when absent */
    struct onnx_tensor *inits;
    int n_inits;
    struct onnx_value *inputs, *outputs;
    int n_inputs, n_outputs;
    struct onnx_node *nodes;
    int n_nodes;
    struct strmap init_by_name;
    struct onnx_chunk *chunks; /* storage of strings and node arrays */
};

/* Opens and parses path. On failure m is closed and e names the file and what is wrong. */
qwglm_status onnx_open(struct onnx_model *m, const char *path, struct qw_err *e);
/* The same over bytes the caller keeps alive (fuzzing, tests); name is used in messages. */
qwglm_status onnx_open_memory(struct onnx_model *m, const void *data, size_t size, const char *name,
                              struct qw_err *e);
/* Safe on a zeroed or half-built m. */
void onnx_close(struct onnx_model *m);

const struct onnx_tensor *onnx_find(const struct onnx_model *m, const char *name);
const struct onnx_value *onnx_input(const struct onnx_model *m, const char *name);
const struct onnx_attr *onnx_node_attr(const struct onnx_node *n, const char *name);
const char *onnx_dtype_name(int dtype);

/* Decodes t's numel values into dst as f32 (from FLOAT, FLOAT16, BFLOAT16 or DOUBLE tensors stored as raw_data
 * or float_data / int32_data / double_data) or as int64 (from INT64 / INT32 tensors). The data must hold exactly
 * numel values. */
qwglm_status onnx_tensor_f32(const struct onnx_model *m, const struct onnx_tensor *t, float *dst, struct qw_err *e);
qwglm_status onnx_tensor_i64(const struct onnx_model *m, const struct onnx_tensor *t, int64_t *dst,
                             struct qw_err *e);

#endif
