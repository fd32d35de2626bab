/* qwglm quantize: writes a converted checkpoint that later loads by mmap, without conversion. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "engine/engine.h"

static const char usage_text[] =
    "usage: qwglm quantize -m DIR -o OUT --dtype q4|q8|bf16|f32 [--threads N] [-v]\n"
    "\n"
    "Converts the language model's matrices of the checkpoint in DIR (or ORG/NAME[@REV] from the Hub; bf16, f16 or\n"
    "f32) and writes OUT/model.safetensors with the quantized tensors described in its metadata, plus DIR's config,\n"
    "tokenizer and template files.\n"
    "OUT then loads with `qwglm run -m OUT` like any model directory, reading the weights in place.\n"
    "The embedding and LM head take a higher precision than the layers (q8 with q4 layers, bf16 with q8 layers):\n"
    "see docs/quantization.md.\n";

int cmd_quantize(int argc, char **argv)
{
    const char *cmd = "quantize", *dir = NULL, *out = NULL;
    int dtype = -1, verbosity = QWGLM_LOG_INFO;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (!(dir = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (!(out = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--dtype") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            dtype = qwglm_dtype_parse(v);
            if (dtype <= QWGLM_DTYPE_AUTO) return cli_usage_error(cmd, "--dtype must be f32, bf16, q8 or q4, not '%s'", v);
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (!cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error(cmd, "--threads must be 1 to 1024");
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbosity = QWGLM_LOG_DEBUG;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            verbosity = QWGLM_LOG_ERROR;
        } else {
            return cli_usage_error(cmd, "unknown option '%s' (see qwglm quantize --help)", a);
        }
    }
    if (!dir || !out || dtype < 0) return cli_usage_error(cmd, "need -m DIR, -o OUT and --dtype");
    static char model_dir[4096];
    if (cli_resolve_model(cmd, dir, model_dir, sizeof model_dir)) return 1; /* a folder, or ORG/NAME */
    dir = model_dir;
    if (strcmp(dir, out) == 0) return cli_usage_error(cmd, "-o must be another directory than -m");
    static const enum qw_dtype map[] = {[QWGLM_DTYPE_F32] = QW_DTYPE_F32, [QWGLM_DTYPE_BF16] = QW_DTYPE_BF16,
                                        [QWGLM_DTYPE_Q8] = QW_DTYPE_Q8, [QWGLM_DTYPE_Q4] = QW_DTYPE_Q4};
    struct qw_log log = {cli_log, &verbosity};
    struct qw_err e = {0};
    if (qw_quantize_checkpoint(dir, out, map[dtype], (int)threads, &log, &e)) return cli_error(cmd, "%s", e.msg);
    return 0;
}
