/* qwglm pull ORG/NAME[@REVISION]: download a model from the Hugging Face Hub into the shared cache. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: qwglm pull [OPTIONS] ORG/NAME[@REVISION]\n"
        "\n"
        "Downloads the files a model needs for inference (configs, tokenizer, chat template, processor\n"
        "config, *.safetensors + index) into the Hugging Face cache ($HF_HUB_CACHE, default\n"
        "~/.cache/huggingface/hub), resuming interrupted downloads, and prints the snapshot folder.\n"
        "REVISION is a branch, tag or commit (default main).\n"
        "\n"
        "options:\n"
        "  --include GLOB     download the files matching GLOB instead (repeatable; 'dir/' = all under dir)\n"
        "  --onnx             also *.onnx / *.onnx.json (chosen anyway for voice repositories)\n"
        "  --parallel N       files downloaded at once (default 4)\n"
        "  --progress MODE    auto, bar, lines, json (events on stderr, one per line) or none\n"
        "  --timeout S        retry a transfer that receives nothing for S seconds (default 30)\n"
        "  --retries N        failed attempts in a row (backing off 0.5 s, 1 s, 2 s, ...) before giving\n"
        "                     up on a file (default 6)\n"
        "  --offline          use the cache only (as HF_HUB_OFFLINE=1)\n"
        "\n"
        "environment: HF_ENDPOINT, HF_TOKEN (or the token file $HF_HOME/token), HF_HOME, HF_HUB_CACHE,\n"
        "HF_HUB_OFFLINE\n");
}

#ifdef QWGLM_HAVE_HUB
int cmd_pull(int argc, char **argv)
{
    const char *ref = NULL, *include[64];
    int n_include = 0;
    enum cli_progress_mode mode = CLI_PROGRESS_AUTO;
    qwglm_hub_params hp = qwglm_hub_default_params();
    hp.update = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--include")) {
            if (!(v = cli_value("pull", argc, argv, &i))) return 2;
            if (n_include == 64) return cli_usage_error("pull", "at most 64 --include patterns");
            include[n_include++] = v;
        } else if (!strcmp(a, "--onnx")) {
            hp.include_onnx = 1;
        } else if (!strcmp(a, "--offline")) {
            hp.offline = 1;
        } else if (!strcmp(a, "--parallel")) {
            if (!(v = cli_value("pull", argc, argv, &i))) return 2;
            if (!cli_parse_int(v, 1, 16, &n))
                return cli_usage_error("pull", "--parallel: 1 to 16, not '%s'", v);
            hp.n_parallel = (int)n;
        } else if (!strcmp(a, "--timeout")) {
            if (!(v = cli_value("pull", argc, argv, &i))) return 2;
            if (!cli_parse_int(v, 1, 3600, &n))
                return cli_usage_error("pull", "--timeout: 1 to 3600, not '%s'", v);
            hp.stall_timeout_s = (int)n;
        } else if (!strcmp(a, "--retries")) {
            if (!(v = cli_value("pull", argc, argv, &i))) return 2;
            if (!cli_parse_int(v, 1, 100, &n))
                return cli_usage_error("pull", "--retries: 1 to 100, not '%s'", v);
            hp.max_retries = (int)n;
        } else if (!strcmp(a, "--progress")) {
            if (!(v = cli_value("pull", argc, argv, &i))) return 2;
            static const char *const names[] = {"auto", "bar", "lines", "json", "none"};
            int k = 0;
            while (k < 5 && strcmp(v, names[k])) k++;
            if (k == 5)
                return cli_usage_error("pull", "--progress: auto, bar, lines, json or none, not '%s'", v);
            mode = (enum cli_progress_mode)k;
        } else if (a[0] == '-') {
            return cli_usage_error("pull", "unknown option %s (see qwglm pull --help)", a);
        } else if (ref) {
            return cli_usage_error("pull", "one model at a time ('%s' and '%s')", ref, a);
        } else {
            ref = a;
        }
    }
    if (!ref) {
        usage(stderr);
        return 2;
    }
    if (!qwglm_hub_is_ref(ref))
        return cli_usage_error("pull", "'%s': a Hub model is named ORG/NAME or ORG/NAME@REVISION", ref);
    struct cli_progress prog;
    cli_progress_init(&prog, mode);
    hp.progress = cli_hub_progress;
    hp.progress_user = &prog;
    hp.include = include;
    hp.n_include = n_include;
    qwglm_hub_result res;
    char err[QWGLM_ERR_SIZE];
    if (qwglm_hub_resolve(ref, &hp, &res, err)) return cli_error("pull", "%s", err);
    printf("%s\n", res.path);
    return 0;
}
#else
int cmd_pull(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    return cli_error("pull",
                     "this qwglm was built without libcurl and OpenSSL (libcurl4-openssl-dev, libssl-dev): "
                     "it cannot download from the Hub");
}
#endif
