/* What the endpoint files share on top of libmicrohttpd: the per-request state and the response helpers
 * (http.c), for the audio endpoints (http_audio.c). */
#ifndef QW_SERVER_HTTP_H
#define QW_SERVER_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <time.h>

#include "base/str.h"
#include "server/api.h"
#include "server/metrics.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

#define HTTP_IDLE_TIMEOUT_S 120 /* a connection idle this long is closed */

struct srv;

/* One request, from its headers to the end of its response. */
struct conn {
    enum srv_route route;
    struct qw_str body;
    bool too_large;
    int status; /* of the response queued, for the metrics */
};

/* Cache-Control for API responses, nosniff, and the CORS headers when --cors is set. */
void http_add_common_headers(struct srv *srv, struct MHD_Response *r, bool api);
/* Queues r (and destroys the caller's reference) with status, counting it in the metrics. */
MHD_RESULT http_queue(struct srv *srv, struct MHD_Connection *c, struct conn *cn, int status,
                      struct MHD_Response *r);
/* Sends s (consumed) with the given status and content type. */
MHD_RESULT http_send_text(struct srv *srv, struct MHD_Connection *c, struct conn *cn, int status,
                          struct qw_str *s, const char *type);
MHD_RESULT http_send_json(struct srv *srv, struct MHD_Connection *c, struct conn *cn, int status,
                          struct qw_str *s);
/* OpenAI's error shape; 503 and 429 carry Retry-After. */
MHD_RESULT http_send_error(struct srv *srv, struct MHD_Connection *c, struct conn *cn,
                           const struct api_error *err);
MHD_RESULT http_fail(struct srv *srv, struct MHD_Connection *c, struct conn *cn, int status, const char *code,
                     const char *fmt, const char *arg1, const char *arg2);
/* 413 naming --max-body. */
MHD_RESULT http_too_large(struct srv *srv, struct MHD_Connection *c, struct conn *cn);
/* True when the peer of fd has hung up. */
bool http_peer_gone(int fd);
int http_connection_fd(struct MHD_Connection *c);
/* An absolute CLOCK_REALTIME deadline ms from now, for pthread_cond_timedwait. */
void http_deadline_in(struct timespec *ts, int ms);

/* The audio endpoints (http_audio.c). */
MHD_RESULT http_transcriptions(struct srv *srv, struct MHD_Connection *c, struct conn *cn);
MHD_RESULT http_speech(struct srv *srv, struct MHD_Connection *c, struct conn *cn);
MHD_RESULT http_vad(struct srv *srv, struct MHD_Connection *c, struct conn *cn);

#endif
