/* The real engine behind the server: the model, its tokenizer and chat template, and sessions. */
#include "server/engine.h"

qwglm_status engine_qwglm_open(const char *model, const struct engine_options *o, struct srv_progress *progress,
                               struct srv_engine *out, struct qw_err *e)
{
    (void)o;
    (void)progress;
    (void)out;
    /* TODO(#5): wire the engine core and the tokenizer once they land (qwglm_model_load, chat templates). */
    return qw_fail(e, QWGLM_ERR_ARG, "%s: this build has no text engine yet (try --mock)", model ? model : "model");
}
