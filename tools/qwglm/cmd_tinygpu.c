/* qwglm tinygpu: run kernels on the cycle-accurate tiny-gpu simulator, assemble and disassemble them.
 *
 *   qwglm tinygpu run KERNEL DATA THREADS [--max-cycles N] [--trace] [machine flags]
 *   qwglm tinygpu asm FILE.asm -o KERNEL [--data DATA]
 *   qwglm tinygpu disasm KERNEL
 *
 * `run` prints {"cycles": N, "done": true|false, "threads": T, "program_words": W, "data_memory": [256
 * bytes]} and exits 0 when the kernel finished, 2 when it reached the cycle limit, 1 on bad input. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/str.h"
#include "cli.h"
#include "commands.h"
#include "qwglm_tinygpu.h"

#define CMD                "tinygpu"
#define MAX_FILE           (1u << 20)
#define DEFAULT_MAX_CYCLES 10000000ull

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: qwglm tinygpu run KERNEL DATA THREADS [--max-cycles N] [--trace]\n"
        "                         [--cores N] [--threads-per-block N] [--data-channels N]\n"
        "                         [--program-channels N] [--latency N] [--fix-cmp] [--fix-divergence]\n"
        "       qwglm tinygpu asm FILE.asm -o KERNEL [--data DATA]\n"
        "       qwglm tinygpu disasm KERNEL\n"
        "\n"
        "run: simulates the tiny-gpu RTL cycle for cycle and prints the cycle count and the data memory as "
        "JSON.\n"
        "  KERNEL  program words, hex (50de) or 16-digit binary, one per token; or an assembly file (*.asm)\n"
        "  DATA    data bytes, decimal; '-' for none (or the .data of an assembly KERNEL)\n"
        "  THREADS thread count 0..255; '-' takes the .threads of an assembly KERNEL\n"
        "  --max-cycles N  stop at edge N (default %llu); exit status 2 when reached\n"
        "  --trace         one line per cycle on stderr (core states, memory traffic, register writes)\n"
        "  machine flags   default to the RTL: 2 cores, 4 threads per block, 4 data channels, 1 program\n"
        "                  channel, memory latency 1, the RTL's CMP and divergence behaviour\n"
        "asm: assembles the README syntax into a kernel file (hex), and its .data into a data file.\n"
        "disasm: prints a listing of a kernel file that assembles back to the same words.\n",
        DEFAULT_MAX_CYCLES);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Reads path and parses it with the kernel/data/asm parser; errors are printed as "path: line N: ...". */
static int load_text(const char *path, char **text, size_t *len)
{
    struct qw_err e = {0};
    if (qw_read_file(path, MAX_FILE, text, len, &e)) return cli_error(CMD, "%s", e.msg);
    return 0;
}

static int load_kernel(const char *path, uint16_t *words, int *n_words)
{
    char *text, err[QWGLM_ERR_SIZE];
    size_t len;
    if (load_text(path, &text, &len)) return 1;
    qwglm_status st = qwglm_tinygpu_parse_kernel(text, len, words, n_words, err);
    qw_free(text);
    return st ? cli_error(CMD, "%s: %s", path, err) : 0;
}

static int load_data(const char *path, uint8_t *data)
{
    char *text, err[QWGLM_ERR_SIZE];
    size_t len;
    int n;
    if (load_text(path, &text, &len)) return 1;
    qwglm_status st = qwglm_tinygpu_parse_data(text, len, data, &n, err);
    qw_free(text);
    return st ? cli_error(CMD, "%s: %s", path, err) : 0;
}

static int load_asm(const char *path, qwglm_tinygpu_program *prog)
{
    char *text, err[QWGLM_ERR_SIZE];
    size_t len;
    if (load_text(path, &text, &len)) return 1;
    qwglm_status st = qwglm_tinygpu_assemble(text, len, prog, err);
    qw_free(text);
    return st ? cli_error(CMD, "%s: %s", path, err) : 0;
}

static void print_result(const qwglm_tinygpu *g, int threads, int program_words)
{
    const uint8_t *d = qwglm_tinygpu_data_memory(g);
    printf("{\"cycles\": %llu, \"done\": %s, \"threads\": %d, \"program_words\": %d, \"data_memory\": [",
           (unsigned long long)qwglm_tinygpu_cycles(g), qwglm_tinygpu_done(g) ? "true" : "false", threads,
           program_words);
    for (int i = 0; i < QWGLM_TINYGPU_DATA_BYTES; i++) printf(i ? ", %d" : "%d", d[i]);
    printf("]}\n");
}

static int machine_flag(const char *flag, const char *value, qwglm_tinygpu_params *p)
{
    static const struct {
        const char *name;
        size_t offset;
    } flags[] = {
        {"--cores", offsetof(qwglm_tinygpu_params, n_cores)},
        {"--threads-per-block", offsetof(qwglm_tinygpu_params, threads_per_block)},
        {"--data-channels", offsetof(qwglm_tinygpu_params, data_channels)},
        {"--program-channels", offsetof(qwglm_tinygpu_params, program_channels)},
        {"--latency", offsetof(qwglm_tinygpu_params, memory_latency)},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (strcmp(flag, flags[i].name) == 0) {
            long v;
            if (!cli_parse_int(value, 1, 1000, &v))
                return cli_usage_error(CMD, "%s: bad value '%s'", flag, value);
            *(int *)((char *)p + flags[i].offset) = (int)v;
            return 0;
        }
    return -1;
}

static int tinygpu_run(int argc, char **argv)
{
    const char *pos[3];
    int n_pos = 0;
    uint64_t max_cycles = DEFAULT_MAX_CYCLES;
    bool trace = false;
    qwglm_tinygpu_params params = qwglm_tinygpu_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--max-cycles") == 0) {
            const char *v = cli_value(CMD, argc, argv, &i);
            if (!v) return 2;
            if (!cli_parse_u64(v, &max_cycles))
                return cli_usage_error(CMD, "--max-cycles: bad value '%s'", v);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--trace") == 0) {
            trace = true;
        } else if (strcmp(a, "--fix-cmp") == 0) {
            params.fix_cmp = 1;
        } else if (strcmp(a, "--fix-divergence") == 0) {
            params.fix_divergence = 1;
        } else if (strncmp(a, "--", 2) == 0) {
            const char *v = cli_value(CMD, argc, argv, &i);
            if (!v) return 2;
            int rc = machine_flag(a, v, &params);
            if (rc < 0) return cli_usage_error(CMD, "unknown option '%s'", a);
            if (rc) return rc;
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            return cli_usage_error(CMD, "run: unexpected argument '%s'", a);
        }
    }
    if (n_pos != 3) return cli_usage_error(CMD, "run needs KERNEL DATA THREADS (see qwglm tinygpu --help)");

    static qwglm_tinygpu_program prog; /* 2.5 KiB of images: keep it off the stack */
    memset(&prog, 0, sizeof prog);
    prog.threads = -1;
    bool is_asm = ends_with(pos[0], ".asm");
    if (is_asm ? load_asm(pos[0], &prog) : load_kernel(pos[0], prog.words, &prog.n_words)) return 1;
    if (strcmp(pos[1], "-") != 0) {
        if (load_data(pos[1], prog.data)) return 1;
    } else if (!is_asm) {
        memset(prog.data, 0, sizeof prog.data);
    }
    long threads;
    if (strcmp(pos[2], "-") == 0 && is_asm && prog.threads < 0)
        return cli_usage_error(CMD, "THREADS '-' needs a .threads line in %s", pos[0]);
    if (strcmp(pos[2], "-") == 0 && is_asm)
        threads = prog.threads;
    else if (!cli_parse_int(pos[2], 0, 255, &threads))
        return cli_usage_error(CMD, "THREADS must be 0..255, got '%s'", pos[2]);

    char err[QWGLM_ERR_SIZE];
    qwglm_tinygpu *g;
    if (qwglm_tinygpu_create(&params, &g, err)) return cli_usage_error(CMD, "%s", err);
    if (qwglm_tinygpu_launch(g, prog.words, prog.data, (int)threads, err)) {
        qwglm_tinygpu_free(g);
        return cli_error(CMD, "%s", err);
    }
    if (trace) {
        char line[4096];
        while (!qwglm_tinygpu_done(g) && qwglm_tinygpu_cycles(g) < max_cycles) {
            qwglm_tinygpu_step(g);
            qwglm_tinygpu_trace_line(g, line, sizeof line);
            fprintf(stderr, "%s\n", line);
        }
    } else {
        qwglm_tinygpu_run(g, max_cycles);
    }
    print_result(g, (int)threads, prog.n_words);
    int done = qwglm_tinygpu_done(g);
    qwglm_tinygpu_free(g);
    return done ? 0 : 2;
}

static int write_out(const char *path, const struct qw_str *s)
{
    if (strcmp(path, "-") == 0) {
        fwrite(s->data, 1, s->len, stdout);
        return 0;
    }
    struct qw_err e = {0};
    if (qw_write_file_atomic(path, s->data, s->len, &e)) return cli_error(CMD, "%s", e.msg);
    return 0;
}

static int tinygpu_asm(int argc, char **argv)
{
    const char *src = NULL, *out = NULL, *data_out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (!(out = cli_value(CMD, argc, argv, &i))) return 2;
        } else if (strcmp(argv[i], "--data") == 0) {
            if (!(data_out = cli_value(CMD, argc, argv, &i))) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(CMD, "asm: unknown option '%s'", argv[i]);
        } else if (!src) {
            src = argv[i];
        } else {
            return cli_usage_error(CMD, "asm: unexpected argument '%s'", argv[i]);
        }
    }
    if (!src || !out) return cli_usage_error(CMD, "asm needs FILE.asm -o KERNEL");
    static qwglm_tinygpu_program prog;
    if (load_asm(src, &prog)) return 1;

    struct qw_str s = {.max = 1u << 20};
    qw_str_printf(&s, "# assembled from %s by qwglm tinygpu asm (one 16-bit word per line, hex)\n", src);
    if (prog.threads >= 0) qw_str_printf(&s, "# .threads %d\n", prog.threads);
    for (int a = 0; a < prog.n_words; a++) {
        char text[48];
        qwglm_tinygpu_disasm(prog.words[a], text, sizeof text);
        qw_str_printf(&s, "%04x  # %3d: %s\n", prog.words[a], a, text);
    }
    int rc = s.failed ? cli_error(CMD, "out of memory") : write_out(out, &s);
    qw_str_free(&s);
    if (rc) return rc;
    if (data_out) {
        struct qw_str d = {.max = 1u << 20};
        qw_str_printf(&d, "# data image from %s (decimal bytes from address 0)\n", src);
        for (int i = 0; i < prog.n_data; i++)
            qw_str_printf(&d, "%d%s", prog.data[i], i % 16 == 15 ? "\n" : " ");
        if (prog.n_data % 16) qw_str_putc(&d, '\n');
        rc = d.failed ? cli_error(CMD, "out of memory") : write_out(data_out, &d);
        qw_str_free(&d);
        if (rc) return rc;
    }
    if (strcmp(out, "-") != 0) {
        printf("{\"program_words\": %d, \"data_bytes\": %d, \"threads\": ", prog.n_words, prog.n_data);
        printf(prog.threads >= 0 ? "%d}\n" : "null}\n", prog.threads);
    }
    return 0;
}

static int tinygpu_disasm(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') return cli_usage_error(CMD, "disasm needs exactly one KERNEL file");
    uint16_t words[QWGLM_TINYGPU_PROGRAM_WORDS];
    int n;
    if (load_kernel(argv[1], words, &n)) return 1;
    static char listing[QWGLM_TINYGPU_LISTING_MAX];
    size_t len = qwglm_tinygpu_listing(words, n, listing, sizeof listing);
    fwrite(listing, 1, len, stdout);
    return 0;
}

int cmd_tinygpu(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "run") == 0) return tinygpu_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "asm") == 0) return tinygpu_asm(argc - 1, argv + 1);
    if (strcmp(argv[1], "disasm") == 0) return tinygpu_disasm(argc - 1, argv + 1);
    return cli_usage_error(CMD, "unknown subcommand '%s' (run, asm, disasm)", argv[1]);
}
