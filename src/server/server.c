/* The server's lifetime: listen at once (so the web app can show loading progress), load the model on a
 * thread, serve until SIGINT/SIGTERM, then shut down gracefully: stop accepting, fail queued requests with 503,
 * give running replies a grace period, cancel what is left, and free everything. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "server/srv.h"

#define SHUTDOWN_GRACE_MS 5000

static void say(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "qwglm serve: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

static void log_to_stderr(qwglm_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level <= QWGLM_LOG_INFO) fprintf(stderr, "qwglm serve: %s\n", msg);
}

/* The web app next to the binary: <bin>/../web/dist (a build tree) or <bin>/../share/qwglm/web (installed). */
static void find_web_root(const struct srv_config *cfg, char *out, size_t cap)
{
    out[0] = 0;
    char cand[PATH_MAX + 64];
    if (cfg->web_dir) {
        snprintf(cand, sizeof cand, "%s/index.html", cfg->web_dir);
        if (access(cand, R_OK) == 0 && !realpath(cfg->web_dir, out)) out[0] = 0;
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = 0;
    static const char *rel[] = {"../web/dist", "../share/qwglm/web", "web"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(cand, sizeof cand, "%s/%s/index.html", exe, rel[i]);
        if (access(cand, R_OK) != 0) continue;
        snprintf(cand, sizeof cand, "%s/%s", exe, rel[i]);
        if (realpath(cand, out) && strlen(out) < cap) return;
        out[0] = 0;
    }
}

struct loader {
    struct srv *srv;
    pthread_t main_thread;
};

static void *load_main(void *arg)
{
    struct loader *ld = arg;
    struct srv *srv = ld->srv;
    const struct srv_config *cfg = srv->cfg;
    struct qw_err e = {0};
    struct engine_options o = {.n_threads = cfg->n_threads, .dtype = cfg->dtype, .log = log_to_stderr};
    qwglm_status st = engine_qwglm_open(cfg->model, &o, &srv->progress, &srv->eng, &e);
    if (st == QWGLM_OK) {
        srv->eng.ops->info(srv->eng.ctx, &srv->info);
        snprintf(srv->model_name, sizeof srv->model_name, "%s", srv->info.name);
        int n_ctx = cfg->n_ctx > 0 ? cfg->n_ctx : 4096;
        if (cfg->n_ctx <= 0 && srv->info.n_ctx_train > 0 && srv->info.n_ctx_train < n_ctx)
            n_ctx = srv->info.n_ctx_train;
        srv->n_ctx = n_ctx;
        srv_progress_report(&srv->progress, "load", "KV cache", 0, 1);
        st = sched_create(&srv->eng, cfg->n_parallel, n_ctx, cfg->queue_max, &srv->metrics, &srv->sched, &e);
    }
    if (st == QWGLM_OK) {
        struct audio_config ac = {.asr_model = cfg->asr_model,
                                  .asr_dtype = cfg->asr_dtype,
                                  .n_voices = cfg->n_voices,
                                  .workers = cfg->audio_parallel,
                                  .n_threads = cfg->n_threads,
                                  .max_seconds = cfg->max_audio_seconds,
                                  .max_file_bytes = cfg->max_audio_bytes};
        for (int i = 0; i < cfg->n_voices && i < AUDIO_MAX_VOICES; i++) ac.voices[i] = cfg->voices[i];
        st = audio_open(&ac, &srv->progress, log_to_stderr, &srv->audio, &e);
    }
    if (st != QWGLM_OK) {
        progress_set_state(&srv->progress, SRV_FAILED, "error", e.msg);
        atomic_store(&srv->state, SRV_FAILED);
        fprintf(stderr, "qwglm serve: cannot load the model: %s\n", e.msg);
        pthread_kill(ld->main_thread, SIGUSR1);
        return NULL;
    }
    atomic_store(&srv->state, SRV_READY);
    progress_set_state(&srv->progress, SRV_READY, "ready", NULL);
    fprintf(stderr, "qwglm serve: model %s ready (%d slots of %d tokens)\n", srv->model_name, cfg->n_parallel,
            srv->n_ctx);
    if (audio_has_asr(srv->audio) || audio_has_tts(srv->audio)) {
        struct qw_str s = {0};
        audio_json(srv->audio, &s);
        fprintf(stderr, "qwglm serve: speech %s\n", s.data ? s.data : "");
        qw_str_free(&s);
    }
    return NULL;
}

/* The name /v1/models lists: the last component of the model path, or ORG/NAME as given. */
static void model_display_name(const struct srv_config *cfg, char *out, size_t cap)
{
    const char *m = cfg->model ? cfg->model : "model";
    size_t n = strlen(m);
    while (n > 1 && m[n - 1] == '/') n--;
    bool local = m[0] == '/' || m[0] == '.' || access(m, F_OK) == 0;
    const char *start = m;
    if (local)
        for (size_t i = 0; i + 1 < n; i++)
            if (m[i] == '/') start = m + i + 1;
    snprintf(out, cap, "%.*s", (int)(n - (size_t)(start - m)), start);
}

int srv_run(const struct srv_config *cfg)
{
    /* Signals go to the main thread's sigwait only: block them before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct srv *srv = qw_calloc(1, sizeof *srv);
    if (!srv) return 1;
    srv->cfg = cfg;
    srv->t_start = (long long)time(NULL);
    progress_init(&srv->progress);
    atomic_store(&srv->state, SRV_LOADING);
    model_display_name(cfg, srv->model_name, sizeof srv->model_name);
    find_web_root(cfg, srv->web_root, sizeof srv->web_root);

    char err[512];
    int port = 0, rc = 0;
    srv->images = (struct api_image_source){.allow_urls = cfg->allow_image_urls, .max_bytes = cfg->max_body};
#if !defined(QWGLM_HAVE_HUB)
    if (cfg->allow_image_urls) {
        fprintf(stderr, "qwglm serve: --allow-image-urls: this build has no libcurl\n");
        progress_free(&srv->progress);
        qw_free(srv);
        return 1;
    }
#endif
    if (cfg->image_files_dir) {
        struct stat st;
        if (!realpath(cfg->image_files_dir, srv->image_dir) || stat(srv->image_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "qwglm serve: --allow-image-files %s: not a folder\n", cfg->image_files_dir);
            progress_free(&srv->progress);
            qw_free(srv);
            return 1;
        }
        srv->images.files_dir = srv->image_dir;
    }
    if (!http_start(srv, &port, err, sizeof err)) {
        fprintf(stderr, "qwglm serve: %s\n", err);
        progress_free(&srv->progress);
        qw_free(srv);
        return 1;
    }
    bool v6 = strchr(cfg->host, ':') != NULL;
    const char *shown = strcmp(cfg->host, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->host;
    fprintf(stderr, "qwglm serve: listening on http://%s%s%s:%d/\n", v6 ? "[" : "", shown, v6 ? "]" : "", port);
    if (srv->web_root[0])
        say("web app from %s%s", srv->web_root, "");
    else if (cfg->web_dir)
        say("--web %s has no index.html: serving the API only%s", cfg->web_dir, "");
    else
        say("the web app is not built: serving the API only. Build it with scripts/build.sh%s%s", "", "");
    if (cfg->api_key) say("API key required (Authorization: Bearer ...)%s%s", "", "");
    if (cfg->allow_image_urls) say("image_url parts may name http(s) URLs: the server fetches them%s%s", "", "");
    if (srv->images.files_dir) say("image_url parts may name files in %s%s", srv->images.files_dir, "");

    struct loader ld = {.srv = srv, .main_thread = pthread_self()};
    pthread_t loader;
    bool loader_started = pthread_create(&loader, NULL, load_main, &ld) == 0;
    if (!loader_started) {
        fprintf(stderr, "qwglm serve: cannot start the loading thread\n");
        rc = 1;
    }
    while (loader_started) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGUSR1 && atomic_load(&srv->state) != SRV_FAILED) continue;
        rc = sig == SIGUSR1 ? 1 : 0;
        if (sig != SIGUSR1) say("%s: shutting down%s", sig == SIGINT ? "interrupted" : "terminated", "");
        break;
    }

    atomic_store(&srv->stopping, true);
    http_quiesce(srv);
    if (loader_started) pthread_join(loader, NULL);
    audio_stop(srv->audio);
    if (srv->sched) {
        sched_drain(srv->sched);
        if (!sched_wait_idle(srv->sched, SHUTDOWN_GRACE_MS)) {
            say("cancelling the replies still running%s%s", "", "");
            sched_cancel_running(srv->sched);
            sched_wait_idle(srv->sched, SHUTDOWN_GRACE_MS);
        }
    }
    http_drain(srv, 2000); /* let finished replies reach their clients */
    http_stop(srv);
    sched_free(srv->sched);
    audio_free(srv->audio);
    if (srv->eng.ops) srv->eng.ops->free(srv->eng.ctx);
    progress_free(&srv->progress);
    qw_free(srv);
    return rc;
}
