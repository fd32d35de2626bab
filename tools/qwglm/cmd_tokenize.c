/* qwglm tokenize: JSON Lines in, JSON Lines out, for scripts and differential tests.
 *   qwglm tokenize -m DIR            one JSON string per line  -> one JSON array of ids per line
 *   qwglm tokenize -m DIR --decode   one JSON array of ids per line -> one JSON string per line
 * No special tokens are added; special tokens written in the text are matched, as transformers does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "cli.h"
#include "commands.h"
#include "format/json.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: qwglm tokenize -m DIR [--decode] [--skip-special]\n"
               "  reads JSON Lines on stdin: strings (or, with --decode, arrays of ids); writes one JSON\n"
               "  array of ids (or string) per line on stdout\n");
}

static int encode_line(const qwglm_tokenizer *tok, const struct json_value *v, struct qw_str *out, long lineno)
{
    char err[QWGLM_ERR_SIZE];
    if (v->type != JSON_STRING) return cli_error("tokenize", "line %ld: expected a JSON string", lineno);
    int32_t *ids;
    size_t n;
    if (qwglm_tokenize(tok, v->u.str, v->n, &ids, &n, err)) return cli_error("tokenize", "line %ld: %s", lineno, err);
    qw_str_putc(out, '[');
    for (size_t i = 0; i < n; i++) qw_str_printf(out, i ? ", %d" : "%d", ids[i]);
    qw_str_puts(out, "]\n");
    qwglm_free(ids);
    return 0;
}

static int decode_line(const qwglm_tokenizer *tok, const struct json_value *v, bool skip, struct qw_str *out,
                       long lineno)
{
    char err[QWGLM_ERR_SIZE];
    if (v->type != JSON_ARRAY) return cli_error("tokenize", "line %ld: expected a JSON array of ids", lineno);
    int32_t *ids = malloc((v->n ? v->n : 1) * sizeof *ids);
    if (!ids) return cli_error("tokenize", "out of memory");
    for (uint32_t i = 0; i < v->n; i++) {
        int64_t id;
        if (!json_int(&v->u.items[i], &id) || id < INT32_MIN || id > INT32_MAX) {
            free(ids);
            return cli_error("tokenize", "line %ld: item %u is not an integer id", lineno, i);
        }
        ids[i] = (int32_t)id;
    }
    char *text;
    size_t len;
    int rc = 0;
    if (qwglm_detokenize(tok, ids, v->n, skip, &text, &len, err)) {
        rc = cli_error("tokenize", "line %ld: %s", lineno, err);
    } else {
        qw_str_json(out, text, len);
        qw_str_putc(out, '\n');
        qwglm_free(text);
    }
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *dir = NULL;
    bool decode = false, skip = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(dir = cli_value("tokenize", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--decode")) {
            decode = true;
        } else if (!strcmp(argv[i], "--skip-special")) {
            skip = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return cli_usage_error("tokenize", "unknown argument '%s'", argv[i]);
        }
    }
    if (!dir) {
        usage(stderr);
        return cli_usage_error("tokenize", "-m DIR is required");
    }
    char err[QWGLM_ERR_SIZE];
    qwglm_tokenizer *tok;
    if (qwglm_tokenizer_load(dir, &tok, err)) return cli_error("tokenize", "%s", err);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    struct qw_str out = {0};
    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        if (n == 0) continue;
        struct json_doc doc;
        struct qw_err e = {0};
        if (json_parse(line, (size_t)n, &doc, &e)) {
            rc = cli_error("tokenize", "line %ld: %s", lineno, e.msg);
            break;
        }
        qw_str_clear(&out);
        rc = decode ? decode_line(tok, &doc.root, skip, &out, lineno) : encode_line(tok, &doc.root, &out, lineno);
        json_doc_free(&doc);
        if (!rc && (out.failed || fwrite(out.data, 1, out.len, stdout) != out.len))
            rc = cli_error("tokenize", "write failed");
    }
    free(line);
    qw_str_free(&out);
    qwglm_tokenizer_free(tok);
    if (fflush(stdout)) rc = cli_error("tokenize", "write failed");
    return rc;
}
