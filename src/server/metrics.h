/* Counters for GET /metrics (Prometheus text format 0.0.4). Updated with relaxed atomics from any thread. */
#ifndef QW_SERVER_METRICS_H
#define QW_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/str.h"

enum srv_route {
    ROUTE_CHAT,
    ROUTE_COMPLETIONS,
    ROUTE_MODELS,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_STATUS,
    ROUTE_PROGRESS,
    ROUTE_TRANSCRIPTIONS,
    ROUTE_SPEECH,
    ROUTE_VAD,
    ROUTE_STATIC,
    ROUTE_OTHER,
    ROUTE_COUNT
};

struct srv_metrics {
    atomic_ullong requests[ROUTE_COUNT][6]; /* by status class: 1xx..5xx, index 0 unused */
    atomic_ullong prompt_tokens, cached_tokens, completion_tokens;
    atomic_ullong prompt_us, decode_us;  /* time spent in prefill and decode */
    atomic_ullong cancelled, rejected;   /* client went away; refused for overload */
    atomic_ullong last_prefill_tps_milli, last_decode_tps_milli; /* of the last finished reply, x1000 */
    atomic_ullong audio_in_ms, asr_us;   /* audio transcribed, and the time it took */
    atomic_ullong audio_out_ms, tts_us;  /* audio synthesized, and the time it took */
};

const char *route_name(enum srv_route r);
void metrics_count(struct srv_metrics *m, enum srv_route r, int status);
/* Appends the exposition text; the caller adds what it knows (queue depth, slots). */
void metrics_format(struct srv_metrics *m, struct qw_str *s);
/* Resident memory of the process in bytes (0 where unknown). */
uint64_t metrics_rss_bytes(void);

#endif
