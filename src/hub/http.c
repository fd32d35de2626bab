/* HTTP over libcurl: one client (easy handle, kept connections) per download thread. Redirects are followed
 * (the Hub sends LFS files to a CDN); libcurl sends the Authorization header only to the host it was set for,
 * so the token never reaches the CDN. Everything the server says is bounded: header values are truncated,
 * bodies have a maximum. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "hub.h"

struct hub_client {
    CURL *curl;
    struct curl_slist *headers;
    int stall_timeout_s;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct hub_client *hub_client_new(const struct hub_config *cfg, int stall_timeout_s)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) return NULL;
    struct hub_client *c = qw_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->curl = curl_easy_init();
    c->stall_timeout_s = stall_timeout_s > 0 ? stall_timeout_s : 30;
    if (cfg->token[0]) {
        char auth[1100];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->token);
        c->headers = curl_slist_append(NULL, auth);
        if (!c->headers) {
            hub_client_free(c);
            return NULL;
        }
    }
    if (!c->curl) {
        hub_client_free(c);
        return NULL;
    }
    return c;
}

void hub_client_free(struct hub_client *c)
{
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    qw_free(c);
}

/* ---- one transfer ---- */

struct xfer {
    struct hub_http *h;
    const struct hub_sink *sink; /* file transfers */
    struct qw_str *body;         /* GETs into memory */
    bool begun;
    int stall_timeout_s;
    int64_t last_data_us; /* when bytes last arrived (or the transfer started) */
    curl_off_t last_dlnow;
    bool stalled;
    uint64_t range_start;
    bool partial;
    bool sink_stopped;
};

/* Copies a header's value (after "Name:"), trimmed, into dst. */
static void header_value(char *dst, size_t cap, const char *line, size_t n, size_t name_len)
{
    const char *v = line + name_len;
    size_t len = n - name_len;
    while (len && isspace((unsigned char)*v)) v++, len--;
    while (len && isspace((unsigned char)v[len - 1])) len--;
    if (len >= cap) len = cap - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static bool header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && strncasecmp(line, name, k) == 0 && line[k] == ':';
}

static size_t on_header(char *line, size_t size, size_t nitems, void *user)
{
    struct xfer *x = user;
    size_t n = size * nitems;
    char value[256];
    if (n > 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new response (redirects and 100s each have one) */
        const char *sp = memchr(line, ' ', n);
        x->h->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->h->error_code[0] = x->h->error_message[0] = '\0';
        x->h->retry_after_s = -1;
        x->partial = false;
        x->range_start = 0;
    } else if (header_is(line, n, "X-Error-Code")) {
        header_value(x->h->error_code, sizeof x->h->error_code, line, n, 13);
    } else if (header_is(line, n, "X-Error-Message")) {
        header_value(x->h->error_message, sizeof x->h->error_message, line, n, 16);
    } else if (header_is(line, n, "Retry-After")) {
        header_value(value, sizeof value, line, n, 12);
        char *end;
        long s = strtol(value, &end, 10);
        x->h->retry_after_s = end != value && s >= 0 ? s : -1;
    } else if (header_is(line, n, "Content-Range")) {
        header_value(value, sizeof value, line, n, 14);
        unsigned long long start;
        if (sscanf(value, "bytes %llu-", &start) == 1) {
            x->partial = true;
            x->range_start = start;
        }
    }
    return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *user)
{
    struct xfer *x = user;
    size_t n = size * nmemb;
    bool ok_status = x->h->status == 200 || x->h->status == 206;
    if (x->sink && ok_status) {
        if (!x->begun) {
            x->begun = true;
            if (!x->sink->begin(x->sink->user, x->h->status, x->range_start, x->partial)) goto stop;
        }
        if (!x->sink->write(x->sink->user, p, n)) goto stop;
        return n;
    }
    if (x->sink) { /* an error answer during a file transfer: keep the start of it for the message */
        size_t room = x->body->max > x->body->len + 1 ? x->body->max - x->body->len - 1 : 0;
        if (room) qw_str_append(x->body, p, n < room ? n : room);
        return n;
    }
    if (!qw_str_append(x->body, p, n)) goto stop; /* GET into memory */
    return n;
stop:
    x->sink_stopped = true;
    return 0; /* CURLE_WRITE_ERROR */
}

/* libcurl calls this about once a second even when nothing arrives. A stall is detected here rather than with
 * CURLOPT_LOW_SPEED_*, whose speed is averaged over several seconds and notices a dead connection late. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)ultotal, (void)ulnow;
    struct xfer *x = user;
    if (x->sink && x->sink->cancelled && x->sink->cancelled(x->sink->user)) {
        x->sink_stopped = true;
        return 1;
    }
    int64_t now = qw_time_us();
    if (dlnow != x->last_dlnow) {
        x->last_dlnow = dlnow;
        x->last_data_us = now;
    } else if (now - x->last_data_us > (int64_t)x->stall_timeout_s * 1000000) {
        x->stalled = true;
        return 1;
    }
    return 0;
}

static void setup(struct hub_client *c, const char *url, struct xfer *x)
{
    CURL *k = c->curl;
    curl_easy_reset(k);
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(k, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(k, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(k, CURLOPT_USERAGENT, "qwglm/0.1.0 libcurl/" LIBCURL_VERSION);
    if (c->headers) curl_easy_setopt(k, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 20L);
    x->stall_timeout_s = c->stall_timeout_s;
    x->last_data_us = qw_time_us();
    curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(k, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(k, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(k, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(k, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(k, CURLOPT_BUFFERSIZE, 256L * 1024);
}

static void finish(struct hub_client *c, CURLcode rc, struct xfer *x, const char *errbuf)
{
    struct hub_http *h = x->h;
    h->curl_code = (int)rc;
    if (x->stalled) {
        h->curl_code = CURLE_OPERATION_TIMEDOUT;
        snprintf(h->curl_error, sizeof h->curl_error, "no data for %d s", x->stall_timeout_s);
    } else if (rc != CURLE_OK) {
        snprintf(h->curl_error, sizeof h->curl_error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    long status = 0;
    if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status) h->status = status;
}

static void http_reset(struct hub_http *h)
{
    memset(h, 0, sizeof *h);
    h->retry_after_s = -1;
}

qwglm_status hub_http_get(struct hub_client *c, const char *url, size_t max, char **body, size_t *len,
                          struct hub_http *h, struct qw_err *e)
{
    *body = NULL;
    *len = 0;
    http_reset(h);
    struct qw_str s = {.max = max};
    struct xfer x = {.h = h, .body = &s};
    char errbuf[CURL_ERROR_SIZE] = "";
    setup(c, url, &x);
    curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING,
                     ""); /* JSON compresses well; files are sent as they are */
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c->curl);
    finish(c, rc, &x, errbuf);
    if (s.failed) {
        qw_str_free(&s);
        return qw_fail(e, s.len >= max ? QWGLM_ERR_FORMAT : QWGLM_ERR_NOMEM,
                       "%s: answer larger than %zu bytes", url, max);
    }
    *len = s.len;
    *body = s.data ? qw_str_take(&s) : qw_strndup("", 0);
    if (!*body) return qw_fail(e, QWGLM_ERR_NOMEM, "%s: answer", url);
    return QWGLM_OK;
}

qwglm_status hub_url_get(const char *url, const struct hub_url_limits *lim, char **body, size_t *len, struct qw_err *e)
{
    *body = NULL;
    *len = 0;
    const struct hub_config none = {0}; /* no token: it is for the Hub, never for other hosts */
    struct hub_client *c = hub_client_new(&none, lim->timeout_s);
    if (!c) return qw_fail(e, QWGLM_ERR_NOMEM, "%.200s: cannot start libcurl", url);
    struct hub_http h;
    http_reset(&h);
    struct qw_str s = {.max = lim->max_bytes}; /* past it the body callback stops the transfer */
    struct xfer x = {.h = &h, .body = &s};
    char errbuf[CURL_ERROR_SIZE] = "";
    setup(c, url, &x);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c->curl, CURLOPT_MAXREDIRS, (long)lim->max_redirects);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, (long)lim->timeout_s);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, (long)lim->timeout_s);
    curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)lim->max_bytes);
    CURLcode rc = curl_easy_perform(c->curl);
    finish(c, rc, &x, errbuf);
    hub_client_free(c);
    qwglm_status st = QWGLM_OK;
    if (rc == CURLE_FILESIZE_EXCEEDED || s.failed) /* s fails past max (or, rarely, out of memory) */
        st = qw_fail(e, QWGLM_ERR_FORMAT, "%.200s: larger than %zu bytes", url, lim->max_bytes);
    else if (rc == CURLE_TOO_MANY_REDIRECTS)
        st = qw_fail(e, QWGLM_ERR_IO, "%.200s: more than %d redirects", url, lim->max_redirects);
    else if (rc == CURLE_OPERATION_TIMEDOUT || x.stalled)
        st = qw_fail(e, QWGLM_ERR_IO, "%.200s: no answer within %d s", url, lim->timeout_s);
    else if (rc != CURLE_OK)
        st = qw_fail(e, QWGLM_ERR_IO, "%.200s: %s", url, h.curl_error);
    else if (h.status != 200)
        st = qw_fail(e, QWGLM_ERR_IO, "%.200s: HTTP %ld", url, h.status);
    if (st) {
        qw_str_free(&s);
        return st;
    }
    *len = s.len;
    *body = s.data ? qw_str_take(&s) : qw_strndup("", 0);
    return *body ? QWGLM_OK : qw_fail(e, QWGLM_ERR_NOMEM, "%.200s: no memory", url);
}

void hub_http_fetch(struct hub_client *c, const char *url, uint64_t offset, const struct hub_sink *sink,
                    struct hub_http *h)
{
    http_reset(h);
    struct qw_str errbody = {.max = 1024};
    struct xfer x = {.h = h, .sink = sink, .body = &errbody};
    char errbuf[CURL_ERROR_SIZE] = "", range[32];
    setup(c, url, &x);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    if (offset > 0) {
        snprintf(range, sizeof range, "%" PRIu64 "-", offset);
        curl_easy_setopt(c->curl, CURLOPT_RANGE, range);
    }
    CURLcode rc = curl_easy_perform(c->curl);
    finish(c, rc, &x, errbuf);
    if (x.sink_stopped) h->curl_code = -1; /* the sink said stop: not a network failure */
    if ((h->status == 200 || h->status == 206) && rc == CURLE_OK && !x.begun)
        sink->begin(sink->user, h->status, x.range_start, x.partial); /* an empty file */
    if (!h->error_message[0] && errbody.len && h->status >= 400)
        snprintf(h->error_message, sizeof h->error_message, "%.*s",
                 (int)(errbody.len > 200 ? 200 : errbody.len), errbody.data);
    qw_str_free(&errbody);
}

bool hub_http_transient(const struct hub_http *h)
{
    switch ((CURLcode)h->curl_code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
        return true;
    default:
        return false;
    }
}

bool hub_url_escape(char *dst, size_t cap, const char *s, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain =
            isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/');
        if (o + (plain ? 1 : 3) >= cap) return false;
        if (plain) {
            dst[o++] = (char)*p;
        } else {
            dst[o++] = '%';
            dst[o++] = digits[*p >> 4];
            dst[o++] = digits[*p & 15];
        }
    }
    if (o >= cap) return false;
    dst[o] = '\0';
    return true;
}
