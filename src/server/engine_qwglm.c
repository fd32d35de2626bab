/* The real engine behind the server: a loaded model shared by the slots, one qwglm_session per slot, and the
 * model's tokenizer and chat template (chat_text.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mem.h"
#include "base/pool.h"
#include "server/chat_text.h"
#include "server/engine.h"
#ifdef QWGLM_HAVE_HUB
#include "qwglm_hub.h"
#endif

struct engine {
    qwglm_model *m;
    struct chat_text *text;
    struct srv_model_info info;
    qwglm_sampling defaults;
    int32_t eos[16]; /* the model's end-of-sequence ids and the tokenizer's end-of-turn ids */
    int n_eos;
};

struct esession {
    struct engine *eng;
    qwglm_session *s;
    struct chat_detok *detok;
    struct qw_str piece;
};

static void cpu_name(char *out, size_t cap, int n_threads)
{
    char line[256], name[160] = "CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(name, sizeof name, "%s", colon + 2);
            name[strcspn(name, "\n")] = 0;
            break;
        }
    }
    if (f) fclose(f);
    snprintf(out, cap, "%s (%d threads)", name, n_threads > 0 ? n_threads : qw_cpu_count());
}

static void eng_info(void *ctx, struct srv_model_info *out) { *out = ((struct engine *)ctx)->info; }

static qwglm_status eng_encode(void *ctx, const struct api_request *r, struct srv_prompt *out, struct qw_err *e)
{
    struct engine *eng = ctx;
    if (r->n_images > 0 && !qwglm_model_has_vision(eng->m))
        return qw_fail(e, QWGLM_ERR_ARG, "this model takes text only: image parts need a vision model (Qwen3-VL)");
    qwglm_status st = chat_text_encode(eng->text, r, out, e);
    if (st == QWGLM_OK) {
        out->images = r->images;
        out->n_images = r->n_images;
    }
    return st;
}

static qwglm_sampling eng_defaults(void *ctx) { return ((struct engine *)ctx)->defaults; }

static qwglm_status eng_session_open(void *ctx, int n_ctx, void **out, struct qw_err *e)
{
    struct engine *eng = ctx;
    struct esession *es = qw_calloc(1, sizeof *es);
    if (!es) return qw_fail(e, QWGLM_ERR_NOMEM, "session: out of memory");
    es->eng = eng;
    es->piece.max = 1 << 16;
    qwglm_session_params sp = qwglm_session_default_params();
    sp.n_ctx = n_ctx;
    char err[QWGLM_ERR_SIZE];
    qwglm_status st = qwglm_session_open(eng->m, &sp, &es->s, err);
    if (st) {
        qw_free(es);
        return qw_fail(e, st, "%s", err);
    }
    es->detok = chat_detok_new(eng->text);
    if (!es->detok) {
        qwglm_session_close(es->s);
        qw_free(es);
        return qw_fail(e, QWGLM_ERR_NOMEM, "detokenizer: out of memory");
    }
    *out = es;
    return QWGLM_OK;
}

static void eng_session_close(void *sess)
{
    struct esession *es = sess;
    if (!es) return;
    chat_detok_free(es->detok);
    qw_str_free(&es->piece);
    qwglm_session_close(es->s);
    qw_free(es);
}

static int eng_n_past(void *sess) { return qwglm_session_n_past(((struct esession *)sess)->s); }
static int eng_n_ctx(void *sess) { return qwglm_session_n_ctx(((struct esession *)sess)->s); }
static qwglm_status eng_truncate(void *sess, int n) { return qwglm_session_truncate(((struct esession *)sess)->s, n); }

struct gen {
    struct esession *es;
    srv_piece_fn fn;
    void *user;
};

static int on_token(int32_t id, const float *logits, void *user)
{
    (void)logits;
    struct gen *g = user;
    struct engine *eng = g->es->eng;
    for (int i = 0; i < eng->n_eos; i++)
        if (id == eng->eos[i]) return 0; /* the engine stops after a stop id; it is not text */
    qw_str_clear(&g->es->piece);
    if (!chat_detok_push(g->es->detok, id, &g->es->piece)) return 1;
    return g->fn(id, g->es->piece.data ? g->es->piece.data : "", g->es->piece.len, g->user);
}

static qwglm_status eng_generate(void *sess, const int32_t *ids, int n, const qwglm_sampling *s, int max_tokens,
                                 srv_piece_fn fn, void *user, struct qw_err *e)
{
    struct esession *es = sess;
    qwglm_generate_params gp = qwglm_generate_default_params(es->eng->m);
    gp.sampling = *s;
    gp.max_tokens = max_tokens;
    gp.stop_ids = es->eng->eos;
    gp.n_stop_ids = es->eng->n_eos;
    chat_detok_reset(es->detok);
    struct gen g = {es, fn, user};
    qwglm_status st = qwglm_session_generate(es->s, ids, n, &gp, on_token, &g);
    if (st && st != QWGLM_ERR_CANCELLED) return qw_fail(e, st, "%s", qwglm_session_error(es->s));
    return st;
}

static void eng_free(void *ctx)
{
    struct engine *eng = ctx;
    if (!eng) return;
    chat_text_free(eng->text);
    qwglm_model_free(eng->m);
    qw_free(eng);
}

static qwglm_status eng_eval_images(void *sess, const int32_t *ids, int n, qwglm_image *const *images,
                                    int n_images, struct qw_err *e)
{
    struct esession *es = sess;
    qwglm_status st = qwglm_session_eval_images(es->s, ids, n, images, n_images, NULL, NULL);
    return st ? qw_fail(e, st, "%s", qwglm_session_error(es->s)) : QWGLM_OK;
}

static const struct srv_engine_ops qwglm_ops = {
    .info = eng_info,
    .encode = eng_encode,
    .sampling_defaults = eng_defaults,
    .session_open = eng_session_open,
    .session_close = eng_session_close,
    .session_n_past = eng_n_past,
    .session_n_ctx = eng_n_ctx,
    .session_truncate = eng_truncate,
    .generate = eng_generate,
    .eval_images = eng_eval_images,
    .free = eng_free,
};

static const char *dtype_name(qwglm_dtype d)
{
    switch (d) {
    case QWGLM_DTYPE_F32: return "f32";
    case QWGLM_DTYPE_BF16: return "bf16";
    case QWGLM_DTYPE_Q8: return "q8";
    case QWGLM_DTYPE_Q4: return "q4";
    default: return "auto";
    }
}

#ifdef QWGLM_HAVE_HUB
/* Download events become the "download" phase of the load progress the web app shows. */
static int on_hub_event(const qwglm_hub_event *ev, void *user)
{
    if (ev->kind == QWGLM_HUB_EV_RESOLVED || ev->kind == QWGLM_HUB_EV_FILE_START ||
        ev->kind == QWGLM_HUB_EV_PROGRESS || ev->kind == QWGLM_HUB_EV_FILE_DONE)
        srv_progress_report(user, "download", ev->file, ev->done, ev->total);
    return 0;
}
#endif

/* model as a folder: itself; as ORG/NAME[@REV]: its snapshot in the Hugging Face cache, downloaded first when it
 * is not complete there (HF_HUB_OFFLINE: the cache only). */
static qwglm_status resolve_model(const char *model, const struct engine_options *o, struct srv_progress *progress,
                                  char *dir, size_t cap, struct qw_err *e)
{
    struct stat st;
    if (strlen(model) >= cap) return qw_fail(e, QWGLM_ERR_ARG, "%.100s...: path too long", model);
#ifdef QWGLM_HAVE_HUB
    if (stat(model, &st) != 0 && qwglm_hub_is_ref(model)) {
        qwglm_hub_params hp = qwglm_hub_default_params();
        hp.progress = on_hub_event;
        hp.progress_user = progress;
        hp.log = o->log;
        qwglm_hub_result res;
        char err[QWGLM_ERR_SIZE];
        srv_progress_report(progress, "resolve", model, 0, 0);
        qwglm_status rc = qwglm_hub_resolve(model, &hp, &res, err);
        if (rc) return qw_fail(e, rc, "%s", err);
        snprintf(dir, cap, "%s", res.path);
        return QWGLM_OK;
    }
#else
    (void)o, (void)progress, (void)st;
#endif
    strcpy(dir, model);
    return QWGLM_OK;
}

qwglm_status engine_qwglm_open(const char *model, const struct engine_options *o, struct srv_progress *progress,
                               struct srv_engine *out, struct qw_err *e)
{
    char dir[4096];
    qwglm_status st = resolve_model(model, o, progress, dir, sizeof dir, e);
    if (st) return st;
    const char *name = model; /* the name the API shows; dir is where it lives */
    model = dir;
    struct engine *eng = qw_calloc(1, sizeof *eng);
    if (!eng) return qw_fail(e, QWGLM_ERR_NOMEM, "engine: out of memory");
    srv_progress_report(progress, "load", "tokenizer", 0, 2);
    st = chat_text_open(model, &eng->text, e);
    if (st) {
        eng_free(eng);
        return st;
    }
    srv_progress_report(progress, "load", "weights", 1, 2);
    qwglm_model_params mp = qwglm_model_default_params();
    mp.n_threads = o->n_threads;
    mp.log = o->log;
    if (o->dtype) {
        int d = qwglm_dtype_parse(o->dtype);
        if (d < 0) {
            eng_free(eng);
            return qw_fail(e, QWGLM_ERR_ARG, "--dtype %s: expected auto, f32, bf16, q8 or q4", o->dtype);
        }
        mp.dtype = (qwglm_dtype)d;
    }
    char err[QWGLM_ERR_SIZE];
    st = qwglm_model_load(model, &mp, &eng->m, err);
    if (st) {
        eng_free(eng);
        return qw_fail(e, st, "%s", err);
    }
    qwglm_model_info mi;
    qwglm_model_get_info(eng->m, &mi);
    struct srv_model_info *info = &eng->info;
    const char *base = strrchr(name, '/');
    size_t len = strlen(name);
    if (base && base[1] == 0) { /* trailing slash */
        while (base > name && base[-1] != '/') base--;
        snprintf(info->name, sizeof info->name, "%.*s", (int)(name + len - 1 - base), base);
    } else {
        snprintf(info->name, sizeof info->name, "%s", base ? base + 1 : name);
    }
    snprintf(info->arch, sizeof info->arch, "%s", mi.arch);
    snprintf(info->backend, sizeof info->backend, "cpu");
    cpu_name(info->device, sizeof info->device, o->n_threads);
    snprintf(info->dtype, sizeof info->dtype, "%s", dtype_name(mi.dtype));
    info->weight_bytes = mi.weight_bytes;
    info->n_ctx_train = mi.n_ctx_train;
    info->n_vocab = mi.n_vocab;
    info->vision = qwglm_model_has_vision(eng->m) != 0;
    eng->defaults = qwglm_model_sampling_defaults(eng->m);
    eng->n_eos = mi.n_eos < 8 ? mi.n_eos : 8;
    memcpy(eng->eos, mi.eos, (size_t)eng->n_eos * sizeof *eng->eos);
    int32_t more[8];
    int n_more = chat_text_stop_ids(eng->text, more, 8);
    for (int i = 0; i < n_more && i < 8; i++) {
        bool seen = false;
        for (int k = 0; k < eng->n_eos; k++) seen |= eng->eos[k] == more[i];
        if (!seen) eng->eos[eng->n_eos++] = more[i];
    }
    out->ops = &qwglm_ops;
    out->ctx = eng;
    return QWGLM_OK;
}
