/* qwglm: the command-line front end. Each subcommand lives in its own cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] is the subcommand's name */
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"quantize", cmd_quantize, "convert a checkpoint to q8, q4, bf16 or f32 for loading by mmap"},
    {"bench", cmd_bench, "measure prefill, decode and kernel speed against the machine's bandwidth"},
    {"chat", cmd_chat, "chat with the model in the terminal"},
    {"version", cmd_version, "print the version"},
    {"speak", cmd_speak, "text to speech with a Piper voice"},
    {"transcribe", cmd_transcribe, "speech to text with a Parakeet TDT model"},
    {"serve", cmd_serve, "serve the OpenAI-compatible API and the web app"},
    {"tinygpu", cmd_tinygpu, "run, assemble and disassemble tiny-gpu kernels (cycle-accurate simulator)"},
    {"tokenize", cmd_tokenize, "text <-> token ids (JSON Lines on stdin)"},
    {"template", cmd_template, "render the chat template for a JSON request on stdin"},
    {"pull", cmd_pull, "download a model from the Hugging Face Hub"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: qwglm COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'qwglm COMMAND --help' describes a command.\n");
}

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("qwglm 0.1.0\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "qwglm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
