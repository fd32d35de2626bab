/* qwglm template: renders the model's chat template for one request read from stdin, byte for byte as
 * transformers' apply_chat_template(..., tokenize=False) does.
 *   echo '{"messages": [...], "add_generation_prompt": true, "enable_thinking": false, "tools": [...]}' |
 *       qwglm template -m DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

#define MAX_REQUEST ((size_t)256 << 20)

int cmd_template(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(dir = cli_value("template", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: qwglm template -m DIR < request.json\n"
                   "  request: {\"messages\": [...], \"add_generation_prompt\": bool, \"enable_thinking\": bool,\n"
                   "            \"tools\": [...]} (all but messages optional; other members are template variables)\n");
            return 0;
        } else {
            return cli_usage_error("template", "unknown argument '%s'", argv[i]);
        }
    }
    if (!dir) return cli_usage_error("template", "-m DIR is required");
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= MAX_REQUEST) {
                free(buf);
                return cli_error("template", "request larger than %zu bytes", MAX_REQUEST);
            }
            char *p = realloc(buf, cap * 2);
            if (!p) break;
            buf = p;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, stdin);
        n += k;
        if (k == 0) break;
    }
    if (!buf) return cli_error("template", "out of memory");
    char err[QWGLM_ERR_SIZE];
    qwglm_tokenizer *tok;
    if (qwglm_tokenizer_load(dir, &tok, err)) {
        free(buf);
        return cli_error("template", "%s", err);
    }
    char *text;
    size_t len;
    int rc = 0;
    if (qwglm_chat_render(tok, buf, n, &text, &len, err)) {
        rc = cli_error("template", "%s", err);
    } else {
        if (fwrite(text, 1, len, stdout) != len || fflush(stdout)) rc = cli_error("template", "write failed");
        qwglm_free(text);
    }
    free(buf);
    qwglm_tokenizer_free(tok);
    return rc;
}
