/* OpenAI's response shapes: streamed chunks (Server-Sent Events) and whole responses, for chat and text
 * completions, with usage and timings. */
#include <string.h>

#include "server/sched.h"
#include "server/stream.h"

void job_on_text(enum text_kind kind, const char *text, size_t len, void *user);
void job_on_end(struct srv_job *j);

static void head(struct srv_job *j, struct qw_str *s, const char *object)
{
    qw_str_puts(s, "{\"id\":");
    qw_str_json(s, j->id, strlen(j->id));
    qw_str_printf(s, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object, j->created);
    qw_str_json(s, j->model_name, strlen(j->model_name));
    qw_str_puts(s, ",\"system_fingerprint\":\"qwglm\"");
}

/* One streamed chunk: delta text of the given kind, or (text == NULL) the final chunk with finish_reason. */
static void chunk(struct srv_job *j, struct qw_str *s, enum text_kind kind, const char *text, size_t len)
{
    bool chat = j->req.kind == API_CHAT;
    qw_str_puts(s, "data: ");
    head(j, s, chat ? "chat.completion.chunk" : "text_completion");
    qw_str_puts(s, ",\"choices\":[{\"index\":0,");
    if (chat) {
        qw_str_puts(s, "\"delta\":{");
        if (!j->sent_role) {
            qw_str_puts(s, "\"role\":\"assistant\"");
            if (text) qw_str_putc(s, ',');
            j->sent_role = true;
        }
        if (text) {
            qw_str_puts(s, kind == TEXT_REASONING ? "\"reasoning_content\":" : "\"content\":");
            qw_str_json(s, text, len);
        }
        qw_str_putc(s, '}');
    } else {
        qw_str_puts(s, "\"text\":");
        qw_str_json(s, text ? text : "", text ? len : 0);
    }
    qw_str_puts(s, ",\"logprobs\":null,\"finish_reason\":");
    if (text || !j->finish_reason)
        qw_str_puts(s, "null");
    else
        qw_str_printf(s, "\"%s\"", j->finish_reason);
    qw_str_puts(s, "}]");
}

static void usage(struct srv_job *j, struct qw_str *s)
{
    qw_str_printf(s,
                  "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":%d}}",
                  j->n_prompt, j->n_gen, j->n_prompt + j->n_gen, j->n_cached);
}

/* llama.cpp's "timings" object, which tools already read: prefill is prompt_*, decode is predicted_*. The first
 * token's sampling counts as prefill, so decode speed is over the tokens after it. */
static void timings(struct srv_job *j, struct qw_str *s)
{
    int64_t t_first = j->n_gen > 0 ? j->t_first_us : j->t_end_us;
    double prompt_ms = (double)(t_first - j->t_start_us) / 1e3, decode_ms = (double)(j->t_end_us - t_first) / 1e3;
    int evaluated = j->n_prompt - j->n_cached, decoded = j->n_gen > 1 ? j->n_gen - 1 : 0;
    qw_str_printf(s,
                  "\"timings\":{\"queue_ms\":%.3f,\"cache_n\":%d,\"prompt_n\":%d,\"prompt_ms\":%.3f,"
                  "\"prompt_per_second\":%.3f,\"predicted_n\":%d,\"predicted_ms\":%.3f,"
                  "\"predicted_per_second\":%.3f}",
                  (double)(j->t_start_us - j->t_submit_us) / 1e3, j->n_cached, evaluated, prompt_ms,
                  prompt_ms > 0 ? evaluated * 1e3 / prompt_ms : 0.0, j->n_gen, decode_ms,
                  decode_ms > 0 ? decoded * 1e3 / decode_ms : 0.0);
}

static void signal_out(struct srv_job *j)
{
    if (j->out.failed) atomic_store(&j->cancelled, true); /* the client stopped reading */
    pthread_cond_broadcast(&j->cv);
}

void job_on_text(enum text_kind kind, const char *text, size_t len, void *user)
{
    struct srv_job *j = user;
    if (len == 0) return;
    pthread_mutex_lock(&j->mu);
    if (j->req.stream) {
        chunk(j, &j->out, kind, text, len);
        qw_str_puts(&j->out, "}\n\n");
        signal_out(j);
    } else {
        qw_str_append(kind == TEXT_REASONING ? &j->reasoning : &j->content, text, len);
    }
    pthread_mutex_unlock(&j->mu);
}

void job_on_end(struct srv_job *j)
{
    if (!j->req.stream || (atomic_load(&j->cancelled) && !atomic_load(&j->shutdown))) return;
    pthread_mutex_lock(&j->mu);
    struct qw_str *s = &j->out;
    if (j->failed) {
        qw_str_puts(s, "data: ");
        api_error_json(s, &j->err);
        qw_str_puts(s, "\n\n");
    } else {
        chunk(j, s, TEXT_CONTENT, NULL, 0);
        qw_str_putc(s, ',');
        timings(j, s);
        if (!j->req.include_usage) qw_str_putc(s, ',');
        if (!j->req.include_usage) usage(j, s); /* harmless extra for clients that did not ask */
        qw_str_puts(s, "}\n\n");
        if (j->req.include_usage) {
            qw_str_puts(s, "data: ");
            head(j, s, j->req.kind == API_CHAT ? "chat.completion.chunk" : "text_completion");
            qw_str_puts(s, ",\"choices\":[],");
            usage(j, s);
            qw_str_puts(s, "}\n\n");
        }
    }
    qw_str_puts(s, "data: [DONE]\n\n");
    signal_out(j);
    pthread_mutex_unlock(&j->mu);
}

void job_format_response(struct srv_job *j, struct qw_str *s)
{
    bool chat = j->req.kind == API_CHAT;
    head(j, s, chat ? "chat.completion" : "text_completion");
    qw_str_puts(s, ",\"choices\":[{\"index\":0,");
    const char *content = j->content.data ? j->content.data : "";
    if (chat) {
        qw_str_puts(s, "\"message\":{\"role\":\"assistant\",\"content\":");
        qw_str_json(s, content, j->content.len);
        if (j->reasoning.len) {
            qw_str_puts(s, ",\"reasoning_content\":");
            qw_str_json(s, j->reasoning.data, j->reasoning.len);
        }
        qw_str_putc(s, '}');
    } else {
        qw_str_puts(s, "\"text\":");
        qw_str_json(s, content, j->content.len);
    }
    qw_str_printf(s, ",\"logprobs\":null,\"finish_reason\":\"%s\"}],", j->finish_reason ? j->finish_reason : "stop");
    usage(j, s);
    qw_str_putc(s, ',');
    timings(j, s);
    qw_str_putc(s, '}');
}
