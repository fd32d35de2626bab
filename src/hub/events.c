/* Names and the JSON form of progress events: what `qwglm pull --progress json` prints and what the server
 * streams to the web app. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/str.h"
#include "hub.h"

static const char *const event_names[] = {"resolved", "file_start", "progress", "file_done",
                                          "retry",    "waiting",    "done",     "error"};
_Static_assert(sizeof event_names / sizeof event_names[0] == QWGLM_HUB_EV_COUNT, "one name per event kind");

static const char *const error_names[] = {
    "none",           "network error", "access denied",     "gated repository", "not found",
    "server error",   "disk full",     "checksum mismatch", "offline",          "no weights",
    "protocol error", "cancelled",     "cache i/o error",   "bad argument",
};
_Static_assert(sizeof error_names / sizeof error_names[0] == QWGLM_HUB_ERR_COUNT, "one name per error");

const char *qwglm_hub_event_name(qwglm_hub_event_kind kind)
{
    return (unsigned)kind < QWGLM_HUB_EV_COUNT ? event_names[kind] : "unknown";
}

const char *qwglm_hub_error_str(qwglm_hub_error e)
{
    return (unsigned)e < QWGLM_HUB_ERR_COUNT ? error_names[e] : "unknown error";
}

static void put_string(struct qw_str *s, const char *key, const char *value)
{
    if (!value) return;
    qw_str_printf(s, ",\"%s\":", key);
    qw_str_json(s, value, strlen(value));
}

size_t qwglm_hub_event_json(const qwglm_hub_event *ev, char *buf, size_t cap)
{
    struct qw_str s = {.max = 1 << 20};
    qw_str_printf(&s, "{\"event\":\"%s\"", qwglm_hub_event_name(ev->kind));
    put_string(&s, "repo", ev->repo);
    put_string(&s, "revision", ev->revision);
    put_string(&s, "commit", ev->commit);
    put_string(&s, "file", ev->file);
    if (ev->file)
        qw_str_printf(&s, ",\"file_done\":%" PRIu64 ",\"file_total\":%" PRIu64, ev->file_done,
                      ev->file_total);
    qw_str_printf(&s, ",\"done\":%" PRIu64 ",\"total\":%" PRIu64 ",\"files_done\":%d,\"files_total\":%d",
                  ev->done, ev->total, ev->files_done, ev->files_total);
    qw_str_printf(&s, ",\"speed\":%.1f,\"eta_s\":%.1f", ev->speed >= 0 ? ev->speed : 0.0,
                  ev->eta_s >= 0 ? ev->eta_s : -1.0);
    if (ev->kind == QWGLM_HUB_EV_RETRY) qw_str_printf(&s, ",\"attempt\":%d", ev->attempt);
    if (ev->error != QWGLM_HUB_ERR_NONE) put_string(&s, "error", qwglm_hub_error_str(ev->error));
    put_string(&s, "message", ev->message);
    qw_str_putc(&s, '}');
    size_t need = s.failed ? 0 : s.len;
    if (buf && cap) {
        size_t k = need < cap ? need : cap - 1;
        if (k) memcpy(buf, s.data, k);
        buf[k] = '\0';
    }
    qw_str_free(&s);
    return need;
}
