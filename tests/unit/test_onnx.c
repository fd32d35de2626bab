/* The ONNX reader: the piper-micro export, a hand-built model with every data encoding, and damaged files. */
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/onnx.h"
#include "test.h"

static void test_fixture(void)
{
    struct onnx_model m;
    struct qw_err e = {0};
    REQUIRE(onnx_open(&m, "tests/fixtures/piper-micro/en_US-micro-medium.onnx", &e) == QWGLM_OK);
    CHECK(m.n_inits == 350 && m.opset == 15 && m.ir_version == 8);
    CHECK(m.n_inputs == 3 && strcmp(m.inputs[0].name, "input") == 0 && m.inputs[0].elem_type == ONNX_INT64);
    CHECK(m.n_outputs == 1 && strcmp(m.outputs[0].name, "output") == 0);
    const struct onnx_value *sc = onnx_input(&m, "scales");
    CHECK(sc && sc->n_dims == 1 && sc->dims[0] == 3 && sc->elem_type == ONNX_FLOAT);
    const struct onnx_tensor *t = onnx_find(&m, "sid"); /* the text embedding, under the exporter's name */
    CHECK(t && t->n_dims == 2 && t->dims[0] == 256 && t->dims[1] == 32 && t->dtype == ONNX_FLOAT);
    int convt = 0;
    for (int i = 0; i < m.n_nodes; i++)
        if (strcmp(m.nodes[i].op_type, "ConvTranspose") == 0) {
            const struct onnx_attr *a = onnx_node_attr(&m.nodes[i], "strides");
            CHECK(a && a->n_ints == 1 && (a->ints[0] == 8 || a->ints[0] == 4));
            convt++;
        }
    CHECK(convt == 3);
    onnx_close(&m);
}

static void test_encodings(void)
{
    size_t n;
    char *data;
    REQUIRE(qw_read_file("tests/fuzz/corpus/onnx/seed1.onnx", 1 << 20, &data, &n, NULL) == QWGLM_OK);
    struct onnx_model m;
    struct qw_err e = {0};
    REQUIRE(onnx_open_memory(&m, data, n, "seed1", &e) == QWGLM_OK);
    float f[6];
    int64_t v[2];
    const struct onnx_tensor *w = onnx_find(&m, "w"), *b = onnx_find(&m, "b"), *i = onnx_find(&m, "i");
    REQUIRE(w && b && i);
    CHECK(onnx_tensor_f32(&m, w, f, &e) == QWGLM_OK && f[5] == 5.0f && w->numel == 6);
    CHECK(onnx_tensor_f32(&m, b, f, &e) == QWGLM_OK && f[0] == 0.5f && f[1] == -1.5f);
    CHECK(onnx_tensor_i64(&m, i, v, &e) == QWGLM_OK && v[0] == 5 && v[1] == -3);
    CHECK(onnx_tensor_f32(&m, i, f, &e) == QWGLM_ERR_FORMAT); /* an int tensor is not read as floats */
    CHECK(m.n_nodes == 2 && strcmp(m.nodes[0].op_type, "Conv") == 0 && m.nodes[0].n_inputs == 3);
    const struct onnx_attr *a = onnx_node_attr(&m.nodes[1], "alpha");
    CHECK(a && a->type == ONNX_ATTR_FLOAT && a->f == 0.1f);
    CHECK(m.n_inputs == 1 && m.inputs[0].n_dims == 2 && m.inputs[0].dims[0] == 1 && m.inputs[0].dims[1] == -1);
    onnx_close(&m);

    /* every truncation fails cleanly or parses a prefix that is itself valid protobuf */
    for (size_t k = 0; k < n; k++) {
        if (onnx_open_memory(&m, data, k, "cut", NULL) == QWGLM_OK) onnx_close(&m);
    }
    memset(&e, 0, sizeof e);
    CHECK(onnx_open_memory(&m, data, n / 2, "half.onnx", &e) == QWGLM_ERR_FORMAT);
    CHECK(strstr(e.msg, "half.onnx: ") == e.msg);
    qw_free(data);

    /* raw_data whose size does not match the shape */
    REQUIRE(qw_read_file("tests/fuzz/corpus/onnx/seed3.onnx", 1 << 20, &data, &n, NULL) == QWGLM_OK);
    REQUIRE(onnx_open_memory(&m, data, n, "seed3", NULL) == QWGLM_OK);
    memset(&e, 0, sizeof e);
    CHECK(onnx_tensor_f32(&m, onnx_find(&m, "short"), f, &e) == QWGLM_ERR_FORMAT && strstr(e.msg, "raw_data"));
    onnx_close(&m);
    qw_free(data);

    memset(&e, 0, sizeof e);
    CHECK(onnx_open_memory(&m, "{\"a\": 1}", 8, "config.json", &e) == QWGLM_ERR_FORMAT);
    CHECK(onnx_open(&m, "tests/fixtures/piper-micro/missing.onnx", &e) != QWGLM_OK);
}

/* Every allocation of a full parse can fail without leaks or crashes. */
static void test_alloc_failures(void)
{
    size_t n;
    char *data;
    REQUIRE(qw_read_file("tests/fuzz/corpus/onnx/seed1.onnx", 1 << 20, &data, &n, NULL) == QWGLM_OK);
    for (long k = 0; k < 64; k++) {
        struct onnx_model m;
        qw_mem_fail_after(k);
        qwglm_status rc = onnx_open_memory(&m, data, n, "seed1", NULL);
        long made = qw_mem_fail_after(-1);
        if (rc == QWGLM_OK) {
            onnx_close(&m);
            CHECK(made <= k);
            break;
        }
        CHECK(rc == QWGLM_ERR_NOMEM);
    }
    qw_free(data);
}

int main(void)
{
    test_fixture();
    test_encodings();
    test_alloc_failures();
    return test_report("test_onnx");
}
