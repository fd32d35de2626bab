#include "metrics.h"

#include <stdio.h>
#include <unistd.h>

const char *route_name(enum srv_route r)
{
    static const char *names[] = {"chat_completions", "completions", "models", "health", "metrics", "status",
                                  "progress", "transcriptions", "speech", "vad", "static", "other"};
    _Static_assert(sizeof names / sizeof names[0] == ROUTE_COUNT, "one name per route");
    return (unsigned)r < ROUTE_COUNT ? names[r] : "other";
}

void metrics_count(struct srv_metrics *m, enum srv_route r, int status)
{
    int cls = status / 100;
    if (cls < 1 || cls > 5) cls = 5;
    if ((unsigned)r >= ROUTE_COUNT) r = ROUTE_OTHER;
    atomic_fetch_add_explicit(&m->requests[r][cls], 1, memory_order_relaxed);
}

static unsigned long long get(atomic_ullong *a) { return atomic_load_explicit(a, memory_order_relaxed); }

void metrics_format(struct srv_metrics *m, struct qw_str *s)
{
    qw_str_puts(s, "# HELP qwglm_requests_total HTTP requests answered, by route and status class.\n"
                   "# TYPE qwglm_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (int c = 1; c <= 5; c++) {
            unsigned long long v = get(&m->requests[r][c]);
            if (v) qw_str_printf(s, "qwglm_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n", route_name(r), c, v);
        }
    qw_str_printf(s,
                  "# HELP qwglm_prompt_tokens_total Prompt tokens of finished requests (cached ones included).\n"
                  "# TYPE qwglm_prompt_tokens_total counter\nqwglm_prompt_tokens_total %llu\n"
                  "# HELP qwglm_prompt_tokens_cached_total Prompt tokens reused from a slot's KV cache.\n"
                  "# TYPE qwglm_prompt_tokens_cached_total counter\nqwglm_prompt_tokens_cached_total %llu\n"
                  "# HELP qwglm_completion_tokens_total Generated tokens.\n"
                  "# TYPE qwglm_completion_tokens_total counter\nqwglm_completion_tokens_total %llu\n"
                  "# HELP qwglm_prompt_seconds_total Time spent evaluating prompts.\n"
                  "# TYPE qwglm_prompt_seconds_total counter\nqwglm_prompt_seconds_total %.6f\n"
                  "# HELP qwglm_decode_seconds_total Time spent generating tokens.\n"
                  "# TYPE qwglm_decode_seconds_total counter\nqwglm_decode_seconds_total %.6f\n"
                  "# HELP qwglm_prompt_tokens_per_second Prefill speed of the last finished reply.\n"
                  "# TYPE qwglm_prompt_tokens_per_second gauge\nqwglm_prompt_tokens_per_second %.3f\n"
                  "# HELP qwglm_decode_tokens_per_second Decode speed of the last finished reply.\n"
                  "# TYPE qwglm_decode_tokens_per_second gauge\nqwglm_decode_tokens_per_second %.3f\n"
                  "# HELP qwglm_requests_cancelled_total Requests whose client went away before the end.\n"
                  "# TYPE qwglm_requests_cancelled_total counter\nqwglm_requests_cancelled_total %llu\n"
                  "# HELP qwglm_requests_rejected_total Requests refused because the queue was full.\n"
                  "# TYPE qwglm_requests_rejected_total counter\nqwglm_requests_rejected_total %llu\n",
                  get(&m->prompt_tokens), get(&m->cached_tokens), get(&m->completion_tokens),
                  (double)get(&m->prompt_us) / 1e6, (double)get(&m->decode_us) / 1e6,
                  (double)get(&m->last_prefill_tps_milli) / 1e3, (double)get(&m->last_decode_tps_milli) / 1e3,
                  get(&m->cancelled), get(&m->rejected));
    qw_str_printf(s,
                  "# HELP qwglm_audio_transcribed_seconds_total Audio transcribed by /v1/audio/transcriptions.\n"
                  "# TYPE qwglm_audio_transcribed_seconds_total counter\nqwglm_audio_transcribed_seconds_total %.3f\n"
                  "# HELP qwglm_transcription_seconds_total Time spent transcribing.\n"
                  "# TYPE qwglm_transcription_seconds_total counter\nqwglm_transcription_seconds_total %.6f\n"
                  "# HELP qwglm_audio_synthesized_seconds_total Audio synthesized by /v1/audio/speech.\n"
                  "# TYPE qwglm_audio_synthesized_seconds_total counter\nqwglm_audio_synthesized_seconds_total %.3f\n"
                  "# HELP qwglm_synthesis_seconds_total Time spent synthesizing speech.\n"
                  "# TYPE qwglm_synthesis_seconds_total counter\nqwglm_synthesis_seconds_total %.6f\n",
                  (double)get(&m->audio_in_ms) / 1e3, (double)get(&m->asr_us) / 1e6,
                  (double)get(&m->audio_out_ms) / 1e3, (double)get(&m->tts_us) / 1e6);
    qw_str_printf(s,
                  "# HELP qwglm_resident_memory_bytes Resident memory of the server process.\n"
                  "# TYPE qwglm_resident_memory_bytes gauge\nqwglm_resident_memory_bytes %llu\n",
                  (unsigned long long)metrics_rss_bytes());
}

uint64_t metrics_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, rss = 0;
    int n = fscanf(f, "%llu %llu", &size, &rss);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (uint64_t)rss * (uint64_t)page : 0;
}
