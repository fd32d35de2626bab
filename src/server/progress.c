/* Model load progress: written by the loading thread (and the hub client through srv_progress_report), read
 * by GET /api/status and streamed by GET /api/progress. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/srv.h"

const char *srv_state_name(enum srv_state st)
{
    static const char *names[] = {"loading", "ready", "error"};
    _Static_assert(sizeof names / sizeof names[0] == SRV_STATE_COUNT, "one name per state");
    return (unsigned)st < SRV_STATE_COUNT ? names[st] : "error";
}

void progress_init(struct srv_progress *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->state = SRV_LOADING;
    strcpy(p->phase, "resolve");
}

void progress_free(struct srv_progress *p)
{
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

void srv_progress_report(struct srv_progress *p, const char *phase, const char *file, uint64_t done,
                         uint64_t total)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    snprintf(p->phase, sizeof p->phase, "%s", phase ? phase : "");
    snprintf(p->file, sizeof p->file, "%s", file ? file : "");
    p->done = done;
    p->total = total;
    p->seq++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void progress_set_state(struct srv_progress *p, enum srv_state st, const char *phase, const char *message)
{
    pthread_mutex_lock(&p->mu);
    p->state = st;
    snprintf(p->phase, sizeof p->phase, "%s", phase);
    snprintf(p->message, sizeof p->message, "%s", message ? message : "");
    if (st == SRV_READY) p->done = p->total;
    p->seq++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void progress_json(struct srv_progress *p, struct qw_str *s)
{
    pthread_mutex_lock(&p->mu);
    qw_str_printf(s, "{\"state\":\"%s\",\"phase\":", srv_state_name(p->state));
    qw_str_json(s, p->phase, strlen(p->phase));
    qw_str_puts(s, ",\"file\":");
    qw_str_json(s, p->file, strlen(p->file));
    qw_str_printf(s, ",\"done\":%llu,\"total\":%llu,\"message\":", (unsigned long long)p->done,
                  (unsigned long long)p->total);
    qw_str_json(s, p->message, strlen(p->message));
    qw_str_printf(s, ",\"seq\":%llu}", (unsigned long long)p->seq);
    pthread_mutex_unlock(&p->mu);
}

bool progress_wait(struct srv_progress *p, uint64_t *seen, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    while (p->seq == *seen && rc == 0) rc = pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    bool changed = p->seq != *seen;
    *seen = p->seq;
    pthread_mutex_unlock(&p->mu);
    return changed;
}
