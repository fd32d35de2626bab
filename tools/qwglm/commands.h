/* The qwglm subcommands: each lives in its own cmd_<name>.c and returns the process exit status
 * (0 success, 1 failure, 2 usage error or, where a command says so, an incomplete result). */
#ifndef QWGLM_COMMANDS_H
#define QWGLM_COMMANDS_H

int cmd_version(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_speak(int argc, char **argv);
int cmd_transcribe(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_tinygpu(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_pull(int argc, char **argv);

#endif
