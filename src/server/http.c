/* The HTTP layer on libmicrohttpd: one thread per connection (so a handler may wait for its job), body
 * collection with a hard limit, API keys, CORS, routing, and the endpoints. Streaming replies are content-reader
 * responses that wait on the job for more bytes; a client that goes away is noticed either by a failed write
 * (MHD then frees the response, whose free callback cancels the job) or, while nothing is written, by polling
 * the socket for a hang-up. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "server/http.h"
#include "server/srv.h"

#define POLL_MS 250           /* how often a waiting handler checks for a hang-up */
#define KEEPALIVE_MS 15000    /* SSE comment sent after this much silence */

struct stream {
    struct srv *srv;
    struct srv_job *job;
    int fd;
    int64_t last_write_us;
};

/* ---- responses ---- */

void http_add_common_headers(struct srv *srv, struct MHD_Response *r, bool api)
{
    if (api) MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (srv->cfg->cors) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", srv->cfg->cors);
        if (strcmp(srv->cfg->cors, "*") != 0) MHD_add_response_header(r, "Vary", "Origin");
    }
}

MHD_RESULT http_queue(struct srv *srv, struct MHD_Connection *c, struct conn *cn, int status,
                  struct MHD_Response *r)
{
    if (!r) return MHD_NO;
    cn->status = status;
    metrics_count(&srv->metrics, cn->route, status);
    MHD_RESULT ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends s (consumed) with the given status and content type. */
MHD_RESULT http_send_text(struct srv *srv, struct MHD_Connection *c, struct conn *cn, int status,
                      struct qw_str *s, const char *type)
{
    if (s->failed) {
        qw_str_free(s);
        struct qw_str oom = {0};
        qw_str_puts(&oom, "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
                          "\"code\":null}}");
        return http_send_text(srv, c, cn, 500, &oom, "application/json");
    }
    size_t n = s->len;
    char *body = n ? qw_str_take(s) : NULL;
    struct MHD_Response *r = body ? MHD_create_response_from_buffer_with_free_callback(n, body, qw_free)
                                  : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        qw_free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    http_add_common_headers(srv, r, true);
    return http_queue(srv, c, cn, status, r);
}

MHD_RESULT http_send_json(struct srv *srv, struct MHD_Connection *c, struct conn *cn, int status,
                      struct qw_str *s)
{
    return http_send_text(srv, c, cn, status, s, "application/json");
}

MHD_RESULT http_send_error(struct srv *srv, struct MHD_Connection *c, struct conn *cn,
                       const struct api_error *err)
{
    struct qw_str s = {0};
    api_error_json(&s, err);
    if (err->status == 503 || err->status == 429) {
        size_t n = s.len;
        char *body = qw_str_take(&s);
        struct MHD_Response *r = body ? MHD_create_response_from_buffer_with_free_callback(n, body, qw_free) : NULL;
        if (!r) {
            qw_free(body);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "Retry-After", "1");
        http_add_common_headers(srv, r, true);
        return http_queue(srv, c, cn, err->status, r);
    }
    return http_send_json(srv, c, cn, err->status, &s);
}

MHD_RESULT http_fail(struct srv *srv, struct MHD_Connection *c, struct conn *cn, int status, const char *code,
                 const char *fmt, const char *arg1, const char *arg2)
{
    struct api_error err;
    api_fail(&err, status, NULL, fmt, arg1, arg2);
    err.code = code;
    return http_send_error(srv, c, cn, &err);
}

/* ---- waiting for jobs ---- */

/* True when the peer of fd has hung up. */
bool http_peer_gone(int fd)
{
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

int http_connection_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

void http_deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *st = cls;
    struct srv_job *j = st->job;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (j->out.len > 0) {
            size_t n = j->out.len < max ? j->out.len : max;
            memcpy(buf, j->out.data, n);
            memmove(j->out.data, j->out.data + n, j->out.len - n);
            j->out.len -= n;
            j->out.data[j->out.len] = 0;
            pthread_mutex_unlock(&j->mu);
            st->last_write_us = qw_time_us();
            return (ssize_t)n;
        }
        if (j->state == JOB_DONE) {
            pthread_mutex_unlock(&j->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        struct timespec ts;
        http_deadline_in(&ts, POLL_MS);
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (j->out.len > 0 || j->state == JOB_DONE) continue;
        if (http_peer_gone(st->fd)) {
            pthread_mutex_unlock(&j->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (qw_time_us() - st->last_write_us > (int64_t)KEEPALIVE_MS * 1000) {
            pthread_mutex_unlock(&j->mu);
            static const char ping[] = ": keep-alive\n\n";
            size_t n = sizeof ping - 1 < max ? sizeof ping - 1 : max;
            memcpy(buf, ping, n);
            st->last_write_us = qw_time_us();
            return (ssize_t)n;
        }
    }
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    if (st->srv->sched) sched_cancel(st->srv->sched, st->job); /* a no-op when the job has ended */
    job_release(st->job);
    qw_free(st);
}

/* Waits (in this connection's own thread) for a non-streaming job; false when the client went away. */
static bool wait_job(struct srv_job *j, int fd)
{
    pthread_mutex_lock(&j->mu);
    while (j->state != JOB_DONE) {
        struct timespec ts;
        http_deadline_in(&ts, POLL_MS);
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (j->state != JOB_DONE && http_peer_gone(fd)) {
            pthread_mutex_unlock(&j->mu);
            return false;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return true;
}

/* ---- completions ---- */

static void make_id(char *dst, size_t cap, const char *prefix)
{
    static atomic_ullong counter;
    unsigned long long n = atomic_fetch_add(&counter, 1) + 1;
    uint64_t x = (uint64_t)qw_time_us() * 0x9e3779b97f4a7c15ull ^ n * 0xbf58476d1ce4e5b9ull;
    snprintf(dst, cap, "%s%016" PRIx64 "%06llx", prefix, x, n & 0xffffff);
}

/* Request fields over the model's defaults. */
static qwglm_sampling resolve_sampling(struct srv *srv, const struct api_request *r)
{
    qwglm_sampling s = srv->eng.ops->sampling_defaults(srv->eng.ctx);
    if (r->temperature == r->temperature) s.temperature = r->temperature;
    if (r->top_p == r->top_p) s.top_p = r->top_p;
    if (r->min_p == r->min_p) s.min_p = r->min_p;
    if (r->top_k >= 0) s.top_k = r->top_k;
    if (r->presence_penalty == r->presence_penalty) s.presence_penalty = r->presence_penalty;
    if (r->frequency_penalty == r->frequency_penalty) s.frequency_penalty = r->frequency_penalty;
    if (r->repetition_penalty == r->repetition_penalty) s.repetition_penalty = r->repetition_penalty;
    s.seed = r->has_seed ? r->seed : (uint64_t)qw_time_us() * 0x9e3779b97f4a7c15ull;
    return s;
}

MHD_RESULT http_too_large(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    struct api_error err;
    api_fail(&err, 413, NULL, "the request body is over the server's limit of %zu bytes (--max-body)",
             srv->cfg->max_body);
    err.code = "request_too_large";
    return http_send_error(srv, c, cn, &err);
}

static MHD_RESULT handle_completion(struct srv *srv, struct MHD_Connection *c, struct conn *cn, enum api_kind kind)
{
    if (cn->too_large) return http_too_large(srv, c, cn);
    enum srv_state state = (enum srv_state)atomic_load(&srv->state);
    if (state != SRV_READY)
        return http_fail(srv, c, cn, 503, "model_not_ready", "the model is %s%s; watch GET /api/progress",
                         state == SRV_LOADING ? "still loading" : "not available (it failed to load)", "");
    struct api_error err;
    struct srv_job *j = job_new();
    if (!j) return http_fail(srv, c, cn, 500, NULL, "out of memory%s%s", "", "");
    if (!api_parse(kind, cn->body.data ? cn->body.data : "", cn->body.len, &j->req, &err) ||
        !api_fetch_images(&j->req, &srv->images, &err)) { /* this connection's thread; no engine lock held */
        job_release(j);
        return http_send_error(srv, c, cn, &err);
    }
    struct qw_err e = {0};
    if (srv->eng.ops->encode(srv->eng.ctx, &j->req, &j->prompt, &e)) {
        job_release(j);
        api_fail(&err, e.status == QWGLM_ERR_NOMEM ? 500 : 400, NULL, "%s", e.msg);
        return http_send_error(srv, c, cn, &err);
    }
    if (j->prompt.n == 0) {
        api_fail(&err, 400, "prompt", "the prompt is empty");
        job_release(j);
        return http_send_error(srv, c, cn, &err);
    }
    if (j->prompt.n >= srv->n_ctx) {
        api_fail(&err, 400, kind == API_CHAT ? "messages" : "prompt",
                 "This model's maximum context length is %d tokens. However, your %s resulted in %d tokens.",
                 srv->n_ctx, kind == API_CHAT ? "messages" : "prompt", j->prompt.n);
        err.code = "context_length_exceeded";
        job_release(j);
        return http_send_error(srv, c, cn, &err);
    }
    j->sampling = resolve_sampling(srv, &j->req);
    j->max_tokens = j->req.max_tokens;
    make_id(j->id, sizeof j->id, kind == API_CHAT ? "chatcmpl-" : "cmpl-");
    j->created = (long long)time(NULL);
    j->model_name = srv->model_name;
    j->t_submit_us = qw_time_us();
    if (!sched_submit(srv->sched, j, &err)) {
        job_release(j);
        return http_send_error(srv, c, cn, &err);
    }
    int fd = http_connection_fd(c);
    if (j->req.stream) {
        struct stream *st = qw_calloc(1, sizeof *st);
        struct MHD_Response *r =
            st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st, stream_free) : NULL;
        if (!r) {
            qw_free(st);
            sched_cancel(srv->sched, j);
            job_release(j);
            return MHD_NO;
        }
        *st = (struct stream){.srv = srv, .job = j, .fd = fd, .last_write_us = qw_time_us()};
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "X-Accel-Buffering", "no");
        http_add_common_headers(srv, r, true);
        return http_queue(srv, c, cn, 200, r);
    }
    if (!wait_job(j, fd)) {
        sched_cancel(srv->sched, j);
        job_release(j);
        cn->status = 499;
        metrics_count(&srv->metrics, cn->route, 499);
        return MHD_NO; /* closes the connection */
    }
    /* the wait counted as idleness to MHD: restart the connection's timeout before answering */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S);
    struct qw_str s = {0};
    MHD_RESULT ret;
    if (j->failed) {
        err = j->err;
        ret = http_send_error(srv, c, cn, &err);
    } else {
        job_format_response(j, &s);
        ret = http_send_json(srv, c, cn, 200, &s);
    }
    job_release(j);
    return ret;
}

/* ---- information endpoints ---- */

static MHD_RESULT handle_models(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    struct qw_str s = {0};
    qw_str_puts(&s, "{\"object\":\"list\",\"data\":[{\"id\":");
    qw_str_json(&s, srv->model_name, strlen(srv->model_name));
    qw_str_printf(&s, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"qwglm\",\"meta\":{\"state\":\"%s\"",
                  srv->t_start, srv_state_name((enum srv_state)atomic_load(&srv->state)));
    if (atomic_load(&srv->state) == SRV_READY)
        qw_str_printf(&s, ",\"arch\":\"%s\",\"n_ctx\":%d,\"n_ctx_train\":%d,\"n_vocab\":%d", srv->info.arch,
                      srv->n_ctx, srv->info.n_ctx_train, srv->info.n_vocab);
    qw_str_puts(&s, "}}]}");
    return http_send_json(srv, c, cn, 200, &s);
}

static MHD_RESULT handle_health(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    enum srv_state st = (enum srv_state)atomic_load(&srv->state);
    struct qw_str s = {0};
    qw_str_printf(&s, "{\"status\":\"%s\"}", st == SRV_READY ? "ok" : srv_state_name(st));
    return http_send_json(srv, c, cn, st == SRV_READY ? 200 : 503, &s);
}

static MHD_RESULT handle_status(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    struct qw_str s = {0};
    enum srv_state state = (enum srv_state)atomic_load(&srv->state);
    int running = 0, queued = 0;
    if (state == SRV_READY) sched_load(srv->sched, &running, &queued);
    const struct srv_model_info *mi = &srv->info;
    qw_str_printf(&s, "{\"version\":\"0.1.0\",\"state\":\"%s\",\"model\":{\"id\":", srv_state_name(state));
    qw_str_json(&s, srv->model_name, strlen(srv->model_name));
    qw_str_printf(&s, ",\"arch\":\"%s\",\"dtype\":\"%s\",\"weight_bytes\":%llu,\"n_ctx\":%d,\"n_ctx_train\":%d}",
                  mi->arch, mi->dtype, (unsigned long long)mi->weight_bytes, srv->n_ctx, mi->n_ctx_train);
    qw_str_puts(&s, ",\"backend\":");
    qw_str_json(&s, mi->backend, strlen(mi->backend));
    qw_str_puts(&s, ",\"device\":");
    qw_str_json(&s, mi->device, strlen(mi->device));
    qw_str_printf(&s, ",\"memory\":{\"rss_bytes\":%llu,\"weight_bytes\":%llu}",
                  (unsigned long long)metrics_rss_bytes(), (unsigned long long)mi->weight_bytes);
    qw_str_printf(&s, ",\"slots\":{\"total\":%d,\"busy\":%d,\"queued\":%d}", srv->cfg->n_parallel, running, queued);
    qw_str_printf(&s,
                  ",\"last\":{\"prefill_tokens_per_second\":%.3f,\"decode_tokens_per_second\":%.3f}"
                  ",\"capabilities\":{\"chat\":true,\"vision\":%s,\"transcription\":%s,\"speech\":%s}"
                  ",\"auth\":%s,\"audio\":",
                  (double)atomic_load(&srv->metrics.last_prefill_tps_milli) / 1e3,
                  (double)atomic_load(&srv->metrics.last_decode_tps_milli) / 1e3,
                  state == SRV_READY && mi->vision ? "true" : "false",
                  state == SRV_READY && audio_has_asr(srv->audio) ? "true" : "false",
                  state == SRV_READY && audio_has_tts(srv->audio) ? "true" : "false",
                  srv->cfg->api_key ? "true" : "false");
    audio_json(state == SRV_READY ? srv->audio : NULL, &s);
    qw_str_puts(&s, ",\"progress\":");
    progress_json(&srv->progress, &s);
    qw_str_putc(&s, '}');
    return http_send_json(srv, c, cn, 200, &s);
}

static MHD_RESULT handle_metrics(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    struct qw_str s = {0};
    int running = 0, queued = 0;
    enum srv_state state = (enum srv_state)atomic_load(&srv->state);
    if (state == SRV_READY) sched_load(srv->sched, &running, &queued);
    metrics_format(&srv->metrics, &s);
    qw_str_printf(&s,
                  "# HELP qwglm_queue_depth Requests waiting for a slot.\n# TYPE qwglm_queue_depth gauge\n"
                  "qwglm_queue_depth %d\n"
                  "# HELP qwglm_slots_busy Slots generating now.\n# TYPE qwglm_slots_busy gauge\n"
                  "qwglm_slots_busy %d\n"
                  "# HELP qwglm_slots_total Slots (--parallel).\n# TYPE qwglm_slots_total gauge\n"
                  "qwglm_slots_total %d\n"
                  "# HELP qwglm_model_weight_bytes Bytes of weights the backend holds.\n"
                  "# TYPE qwglm_model_weight_bytes gauge\nqwglm_model_weight_bytes %llu\n"
                  "# HELP qwglm_model_ready 1 once the model is loaded.\n# TYPE qwglm_model_ready gauge\n"
                  "qwglm_model_ready %d\n",
                  queued, running, srv->cfg->n_parallel, (unsigned long long)srv->info.weight_bytes,
                  state == SRV_READY);
    return http_send_text(srv, c, cn, 200, &s, "text/plain; version=0.0.4; charset=utf-8");
}

/* GET /api/progress: Server-Sent Events, one `progress` event per change, until the model is ready or failed. */
struct progress_stream {
    struct srv *srv;
    uint64_t seen;
    bool first, ended;
    int fd;
};

static ssize_t progress_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct progress_stream *ps = cls;
    if (ps->ended) return MHD_CONTENT_READER_END_OF_STREAM;
    int64_t start = qw_time_us();
    while (!ps->first && !progress_wait(&ps->srv->progress, &ps->seen, POLL_MS)) {
        if (http_peer_gone(ps->fd) || atomic_load(&ps->srv->stopping)) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (qw_time_us() - start > (int64_t)KEEPALIVE_MS * 1000) {
            static const char ping[] = ": keep-alive\n\n";
            if (max < sizeof ping) return MHD_CONTENT_READER_END_WITH_ERROR;
            memcpy(buf, ping, sizeof ping - 1);
            return (ssize_t)(sizeof ping - 1);
        }
    }
    ps->first = false;
    struct qw_str s = {0};
    qw_str_puts(&s, "event: progress\ndata: ");
    progress_json(&ps->srv->progress, &s);
    qw_str_puts(&s, "\n\n");
    ps->ended = atomic_load(&ps->srv->state) != SRV_LOADING;
    if (s.failed || s.len > max) {
        qw_str_free(&s);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s.len;
    memcpy(buf, s.data, n);
    qw_str_free(&s);
    return (ssize_t)n;
}

static MHD_RESULT handle_progress(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    struct progress_stream *ps = qw_calloc(1, sizeof *ps);
    if (!ps) return MHD_NO;
    *ps = (struct progress_stream){.srv = srv, .first = true, .fd = http_connection_fd(c)};
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, progress_read, ps, qw_free);
    if (!r) {
        qw_free(ps);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    http_add_common_headers(srv, r, true);
    return http_queue(srv, c, cn, 200, r);
}

/* ---- static files ---- */

static const char no_web_page[] =
    "<!doctype html><meta charset=utf-8><title>qwglm</title><body style=\"font:16px system-ui;margin:3em\">"
    "<h1>qwglm is running</h1><p>The API is at <code>/v1</code>, but the web app is not built. Build it with "
    "<code>scripts/build.sh</code> (or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and restart "
    "<code>qwglm serve</code>, or pass <code>--web DIR</code>.</p></body>";

static MHD_RESULT handle_static(struct srv *srv, struct MHD_Connection *c, struct conn *cn, const char *url)
{
    if (!srv->web_root[0]) {
        if (strcmp(url, "/") != 0 && strcmp(url, "/index.html") != 0)
            return http_fail(srv, c, cn, 404, NULL, "no such file: %.200s%s", url, "");
        struct MHD_Response *r = MHD_create_response_from_buffer(sizeof no_web_page - 1, (void *)no_web_page,
                                                                 MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
        http_add_common_headers(srv, r, false);
        return http_queue(srv, c, cn, 200, r);
    }
    char path[PATH_MAX];
    if (!files_resolve(srv->web_root, url, path, sizeof path))
        return http_fail(srv, c, cn, 404, NULL, "no such file: %.200s%s", url, "");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        return http_fail(srv, c, cn, 404, NULL, "no such file: %.200s%s", url, "");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", files_content_type(path));
    /* hashed assets never change; the page itself is always revalidated */
    MHD_add_response_header(r, "Cache-Control",
                            strstr(path, "/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
    http_add_common_headers(srv, r, false);
    return http_queue(srv, c, cn, 200, r);
}

/* ---- routing ---- */

struct route {
    const char *method, *path;
    enum srv_route route;
    bool auth;
};

static const struct route routes[] = {
    {"POST", "/v1/chat/completions", ROUTE_CHAT, true},
    {"POST", "/v1/completions", ROUTE_COMPLETIONS, true},
    {"GET", "/v1/models", ROUTE_MODELS, true},
    {"GET", "/health", ROUTE_HEALTH, false},
    {"GET", "/metrics", ROUTE_METRICS, true},
    {"GET", "/api/status", ROUTE_STATUS, true},
    {"GET", "/api/progress", ROUTE_PROGRESS, true},
    {"POST", "/v1/audio/transcriptions", ROUTE_TRANSCRIPTIONS, true},
    {"POST", "/v1/audio/speech", ROUTE_SPEECH, true},
    {"POST", "/api/vad", ROUTE_VAD, true},
};

/* The route of url, and whether method fits it (*method_ok). Unknown paths outside /v1 and /api are files. */
static const struct route *find_route(const char *method, const char *url, bool *method_ok)
{
    *method_ok = true;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path) != 0) continue;
        *method_ok = strcmp(method, routes[i].method) == 0 || (strcmp(method, "HEAD") == 0 &&
                                                               strcmp(routes[i].method, "GET") == 0);
        return &routes[i];
    }
    return NULL;
}

static bool key_ok(struct srv *srv, struct MHD_Connection *c)
{
    if (!srv->cfg->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    const char *got = h + 7, *want = srv->cfg->api_key;
    size_t ng = strlen(got), nw = strlen(want);
    unsigned diff = ng != nw;
    for (size_t i = 0; i < nw; i++) diff |= (unsigned)(want[i] ^ (i < ng ? got[i] : 0)); /* constant time */
    return diff == 0;
}

static MHD_RESULT preflight(struct srv *srv, struct MHD_Connection *c, struct conn *cn)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    http_add_common_headers(srv, r, true);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    return http_queue(srv, c, cn, 204, r);
}

static MHD_RESULT dispatch(struct srv *srv, struct MHD_Connection *c, struct conn *cn, const char *url)
{
    switch (cn->route) {
    case ROUTE_CHAT: return handle_completion(srv, c, cn, API_CHAT);
    case ROUTE_COMPLETIONS: return handle_completion(srv, c, cn, API_COMPLETION);
    case ROUTE_MODELS: return handle_models(srv, c, cn);
    case ROUTE_HEALTH: return handle_health(srv, c, cn);
    case ROUTE_METRICS: return handle_metrics(srv, c, cn);
    case ROUTE_STATUS: return handle_status(srv, c, cn);
    case ROUTE_PROGRESS: return handle_progress(srv, c, cn);
    case ROUTE_TRANSCRIPTIONS: return http_transcriptions(srv, c, cn);
    case ROUTE_SPEECH: return http_speech(srv, c, cn);
    case ROUTE_VAD: return http_vad(srv, c, cn);
    default: return handle_static(srv, c, cn, url);
    }
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                             const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    struct srv *srv = cls;
    struct conn *cn = *con_cls;
    if (!cn) { /* headers are in: decide what we can before any body arrives */
        cn = qw_calloc(1, sizeof *cn);
        if (!cn) return MHD_NO;
        *con_cls = cn;
        atomic_fetch_add(&srv->n_requests, 1);
        cn->body.max = srv->cfg->max_body;
        bool method_ok;
        const struct route *rt = find_route(method, url, &method_ok);
        cn->route = rt ? rt->route : ROUTE_STATIC;
        bool api = strncmp(url, "/v1/", 4) == 0 || strncmp(url, "/api/", 5) == 0;
        if (strcmp(method, "OPTIONS") == 0 && srv->cfg->cors) return preflight(srv, c, cn);
        if (!rt && api) {
            cn->route = ROUTE_OTHER;
            return http_fail(srv, c, cn, 404, "unknown_url", "Invalid URL (%s %.200s)", method, url);
        }
        if (!method_ok || (!rt && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
            return http_fail(srv, c, cn, 405, NULL, "method %s is not allowed on %.200s", method, url);
        if (rt && rt->auth && !key_ok(srv, c))
            return http_fail(srv, c, cn, 401, "invalid_api_key",
                             "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY'%s%s", "", "");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)srv->cfg->max_body)
            return http_too_large(srv, c, cn);
        return MHD_YES;
    }
    if (cn->status) { /* a response is already queued: drop the rest of the body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size > 0) { /* more of the body */
        if (!cn->too_large && !qw_str_append(&cn->body, upload, *upload_size)) {
            cn->too_large = true; /* past --max-body (chunked bodies have no Content-Length to check early) */
            qw_str_free(&cn->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(srv, c, cn, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    struct srv *srv = cls;
    struct conn *cn = *con_cls;
    if (!cn) return;
    atomic_fetch_sub(&srv->n_requests, 1);
    qw_str_free(&cn->body);
    qw_free(cn);
    *con_cls = NULL;
}

/* ---- the daemon ---- */

bool http_start(struct srv *srv, int *port, char *err, size_t err_cap)
{
    const struct srv_config *cfg = srv->cfg;
    char service[16];
    snprintf(service, sizeof service, "%d", cfg->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    int rc = getaddrinfo(cfg->host, service, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, err_cap, "cannot resolve --host %s: %s", cfg->host, gai_strerror(rc));
        return false;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    unsigned limit = (unsigned)(cfg->n_parallel + cfg->queue_max + 64);
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT,
                                   limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
                                   MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    int saved = errno;
    freeaddrinfo(ai);
    if (!srv->daemon) {
        snprintf(err, err_cap, "cannot listen on %s:%d: %s", cfg->host, cfg->port,
                 saved ? strerror(saved) : "failed to start the HTTP daemon");
        return false;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : cfg->port;
    return true;
}

void http_quiesce(struct srv *srv)
{
    if (!srv->daemon) return;
    MHD_socket s = MHD_quiesce_daemon(srv->daemon);
    if (s != MHD_INVALID_SOCKET) close(s);
}

void http_drain(struct srv *srv, int timeout_ms)
{
    int64_t deadline = qw_time_us() + (int64_t)timeout_ms * 1000;
    while (atomic_load(&srv->n_requests) > 0 && qw_time_us() < deadline) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void http_stop(struct srv *srv)
{
    if (srv->daemon) MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}
