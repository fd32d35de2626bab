/* Slots and the queue. The server opens --parallel sessions (slots) on one shared model; each slot has a thread
 * that runs one job at a time. Jobs wait in a bounded FIFO queue; a free slot takes the queue's head, and when
 * several slots are free the one whose KV cache shares the longest prefix with the job's prompt gets it, so a
 * conversation's next turn re-evaluates only what is new (prompt caching).
 *
 * A job is shared by the HTTP connection that made it and the slot that runs it, and freed by whichever lets go
 * last (a reference count), so a client that disconnects mid-reply leaves nothing behind: it sets `cancelled`,
 * the slot's token callback sees it and stops, and the last release frees the job. */
#ifndef QW_SERVER_SCHED_H
#define QW_SERVER_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/api.h"
#include "server/engine.h"

struct srv_metrics;

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct srv_job {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when out grows or the job ends */
    int refs;          /* under mu */
    atomic_bool cancelled;
    atomic_bool shutdown; /* cancelled because the server stops: the client still gets an ending */

    /* input, read-only once submitted */
    struct api_request req;
    struct srv_prompt prompt;
    qwglm_sampling sampling;
    int max_tokens;
    char id[48];
    long long created;      /* unix seconds */
    const char *model_name; /* owned by the server */

    /* output, under mu */
    enum job_state state;
    struct qw_str out;       /* streaming: SSE bytes not yet sent */
    struct qw_str content;   /* non-streaming: the reply */
    struct qw_str reasoning; /* non-streaming: the reasoning */
    bool sent_role;          /* streaming: the first chunk (with the role) is out */
    const char *finish_reason;
    bool failed;
    struct api_error err;
    int n_prompt, n_cached, n_gen;
    int64_t t_submit_us, t_start_us, t_first_us, t_end_us;

    struct srv_job *next; /* queue link, under the scheduler's lock */
};

struct sched;

/* A new job (one reference, the caller's) owning nothing yet. NULL when out of memory. */
struct srv_job *job_new(void);
void job_release(struct srv_job *j);

/* Opens n_slots sessions of n_ctx tokens and their threads. queue_max: jobs that may wait (beyond it, 503). */
qwglm_status sched_create(struct srv_engine *eng, int n_slots, int n_ctx, int queue_max, struct srv_metrics *m,
                          struct sched **out, struct qw_err *e);
/* Queues j (taking a reference). false with err filled (503) when the queue is full or the server stops. */
bool sched_submit(struct sched *s, struct srv_job *j, struct api_error *err);
/* Takes j out of the queue if it is still waiting there (the job then ends as cancelled). */
void sched_cancel(struct sched *s, struct srv_job *j);
/* Fails every queued job with 503 and refuses new ones; running jobs go on. */
void sched_drain(struct sched *s);
/* Waits up to timeout_ms for the running jobs to end; true when none is left. */
bool sched_wait_idle(struct sched *s, int timeout_ms);
/* Asks every running job to stop (as if its client had gone). */
void sched_cancel_running(struct sched *s);
/* Jobs running now; jobs waiting. */
void sched_load(struct sched *s, int *running, int *queued);
/* Drains the queue, cancels running jobs, stops the threads and frees everything. NULL is a no-op. */
void sched_free(struct sched *s);
int sched_n_ctx(const struct sched *s);

/* Formats the final OpenAI response (non-streaming) of a finished job into s. */
void job_format_response(struct srv_job *j, struct qw_str *s);

#endif
