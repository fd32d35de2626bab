/* libFuzzer target: the ONNX protobuf reader, then a decode of every small initializer (ASan proves that the
 * walks over typed and raw data stay inside the buffer). */
#include "base/mem.h"
#include "format/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct onnx_model m;
    if (onnx_open_memory(&m, data, size, "fuzz", NULL) != QWGLM_OK) return 0;
    for (int i = 0; i < m.n_inits; i++) {
        const struct onnx_tensor *t = &m.inits[i];
        if (t->numel > 4096) continue;
        float f[4096];
        int64_t v[4096];
        onnx_tensor_f32(&m, t, f, NULL);
        onnx_tensor_i64(&m, t, v, NULL);
    }
    for (int i = 0; i < m.n_nodes; i++) (void)onnx_node_attr(&m.nodes[i], "pads");
    onnx_close(&m);
    return 0;
}
