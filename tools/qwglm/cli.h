/* Helpers shared by the subcommands: argument parsing, logging to stderr, numbers from flags. */
#ifndef QWGLM_CLI_H
#define QWGLM_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "qwglm.h"
#include "qwglm_hub.h"

/* Log callback that writes "qwglm: msg" lines to stderr; user points to an int verbosity (NULL: info). */
void cli_log(qwglm_log_level level, const char *msg, void *user);

/* Prints "qwglm CMD: message" to stderr and returns 1 (or 2 from cli_usage_error). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number within [lo, hi]. */
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *s, double lo, double hi, double *out);
bool cli_parse_u64(const char *s, uint64_t *out);

/* Parses "1,2,3" into a heap array of at most max ids (free with free()); false on a malformed list. */
bool cli_parse_ids(const char *s, int32_t **ids, int *n, int max);

/* The value of flag argv[*i] ("--name VALUE"), advancing *i, or NULL (with a usage error printed) when missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Flags shared by every command that loads a language model. */
struct cli_model_opts {
    const char *model;   /* -m DIR */
    int n_threads;       /* --threads */
    int dtype;           /* --dtype (qwglm_dtype) */
    int n_ctx;           /* --ctx */
    int verbosity;       /* -v / -q: qwglm_log_level threshold */
};

void cli_model_opts_init(struct cli_model_opts *o);
/* Consumes argv[*i] (and its value) when it is a model flag: returns 1 if consumed, 0 if not a model flag,
 * -1 after printing a usage error. */
int cli_model_flag(const char *cmd, struct cli_model_opts *o, int argc, char **argv, int *i);
extern const char cli_model_flags_help[];
/* Loads o->model (a folder, or ORG/NAME[@REV] through cli_resolve_model) with o's settings, logging to stderr;
 * prints the error and returns NULL on failure. */
qwglm_model *cli_load_model(const char *cmd, struct cli_model_opts *o);

/* Sampling flags (--temp, --top-k, --top-p, --min-p, --repeat-penalty, --presence-penalty, --frequency-penalty,
 * --penalty-last-n, --seed): same return convention as cli_model_flag. seed_set tells whether --seed was given. */
int cli_sampling_flag(const char *cmd, qwglm_sampling *s, bool *seed_set, int argc, char **argv, int *i);
extern const char cli_sampling_flags_help[];
/* ---- models ---- */

/* The model `serve` loads when none is given. */
#define CLI_DEFAULT_MODEL QWGLM_HUB_DEFAULT_MODEL

/* Resolves the -m argument of any command into a model folder (dir, cap bytes): an existing folder is used as
 * it is; ORG/NAME[@REVISION] comes from the Hugging Face cache, downloaded first when it is not (completely)
 * there, with a progress display on stderr (HF_HUB_OFFLINE=1: the cache only). Returns 0, or prints
 * "qwglm CMD: why" and returns 1 (2 for a usage error). */
int cli_resolve_model(const char *cmd, const char *arg, char *dir, size_t cap);
/* The same for a voice (-m of speak): a .onnx file as it is, or a folder or Hub voice repository (ORG/NAME,
 * downloaded with its .onnx and .onnx.json) holding exactly one .onnx, whose path goes into path. */
int cli_resolve_voice(const char *cmd, const char *arg, char *path, size_t cap);

enum cli_progress_mode { CLI_PROGRESS_AUTO, CLI_PROGRESS_BAR, CLI_PROGRESS_LINES, CLI_PROGRESS_JSON,
                         CLI_PROGRESS_NONE };

/* Hub progress on stderr: a bar with bytes, speed and ETA on a terminal (BAR), a line per file (LINES), or the
 * JSON events one per line (JSON). AUTO picks BAR on a terminal, else LINES. */
struct cli_progress {
    enum cli_progress_mode mode;
    bool bar_drawn;
};
void cli_progress_init(struct cli_progress *p, enum cli_progress_mode mode);
/* A qwglm_hub_progress_fn; user is a struct cli_progress. */
int cli_hub_progress(const qwglm_hub_event *ev, void *user);

#endif
