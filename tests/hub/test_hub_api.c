/* The library side of the Hub client against the test Hub (tests/hub/hub_server.py, started here): the events a
 * caller such as the server receives, cancelling from the callback, the result fields, and two threads of one
 * process pulling the same model at once.
 * Usage: test_hub_api PYTHON   (from the repository root) */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qwglm_hub.h"
#include "test.h"

static char endpoint[256], cache[128];
static FILE *server_out; /* kept open: the server's later lines stay in the pipe */

/* Starts the server; its first line of output is the endpoint. */
static pid_t start_server(const char *python)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp(python, python, "tests/hub/hub_server.py", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    server_out = fdopen(fds[0], "r");
    REQUIRE(server_out && fgets(endpoint, sizeof endpoint, server_out));
    endpoint[strcspn(endpoint, "\n")] = '\0';
    REQUIRE(strncmp(endpoint, "http://", 7) == 0);
    return pid;
}

struct record {
    int counts[QWGLM_HUB_EV_COUNT];
    qwglm_hub_event_kind first, last;
    int n;
    uint64_t last_done, last_total;
    int cancel_on;             /* 1 + an event kind: return 1 at the first event of that kind */
    bool order_ok;
};

static int on_event(const qwglm_hub_event *ev, void *user)
{
    struct record *r = user;
    if (r->n++ == 0) r->first = ev->kind;
    r->last = ev->kind;
    r->counts[ev->kind]++;
    if (ev->done > ev->total || (ev->file && ev->file_done > ev->file_total) || ev->files_done > ev->files_total)
        r->order_ok = false;
    r->last_done = ev->done;
    r->last_total = ev->total;
    char json[2048];
    if (qwglm_hub_event_json(ev, json, sizeof json) >= sizeof json || json[0] != '{') r->order_ok = false;
    return r->cancel_on == 1 + (int)ev->kind;
}

static qwglm_hub_params params(struct record *r)
{
    qwglm_hub_params p = qwglm_hub_default_params();
    p.endpoint = endpoint;
    p.cache_dir = cache;
    p.token = "";
    p.offline = 0;
    p.update = 1;
    p.progress = on_event;
    p.progress_user = r;
    return p;
}

static void test_events_and_result(void)
{
    struct record r = {.order_ok = true};
    qwglm_hub_params p = params(&r);
    qwglm_hub_result res;
    char err[QWGLM_ERR_SIZE];
    REQUIRE(qwglm_hub_resolve("qwglm-test/qwen3-sharded", &p, &res, err) == QWGLM_OK);
    CHECK(res.error == QWGLM_HUB_ERR_NONE && res.http_status == 0 && strlen(res.commit) == 40);
    CHECK(res.n_files == 5 && res.bytes_total > 6000000 && res.bytes_downloaded == res.bytes_total);
    CHECK(strstr(res.path, "/models--qwglm-test--qwen3-sharded/snapshots/") && strstr(res.path, res.commit));
    CHECK(r.first == QWGLM_HUB_EV_RESOLVED && r.last == QWGLM_HUB_EV_DONE && r.order_ok);
    /* the shard index is fetched before RESOLVED (it decides the files), so it only reports FILE_DONE */
    CHECK(r.counts[QWGLM_HUB_EV_FILE_DONE] == 5 && r.counts[QWGLM_HUB_EV_FILE_START] == 4);
    CHECK(r.counts[QWGLM_HUB_EV_ERROR] == 0 && r.last_done == r.last_total);

    /* again: asked the Hub, nothing to download */
    struct record r2 = {.order_ok = true};
    p = params(&r2);
    REQUIRE(qwglm_hub_resolve("qwglm-test/qwen3-sharded", &p, &res, err) == QWGLM_OK);
    CHECK(res.bytes_downloaded == 0 && r2.counts[QWGLM_HUB_EV_FILE_START] == 0 &&
          r2.counts[QWGLM_HUB_EV_FILE_DONE] == 5);

    /* a failure arrives as an ERROR event and in the result */
    struct record r3 = {.order_ok = true};
    p = params(&r3);
    CHECK(qwglm_hub_resolve("qwglm-test/gated", &p, &res, err) == QWGLM_ERR_IO);
    CHECK(res.error == QWGLM_HUB_ERR_GATED && res.http_status == 401 && strstr(err, "gated"));
    CHECK(r3.last == QWGLM_HUB_EV_ERROR && res.path[0] == '\0');
    CHECK(qwglm_hub_resolve("qwglm-test/missing", &p, &res, err) == QWGLM_ERR_IO &&
          res.error == QWGLM_HUB_ERR_NOT_FOUND);
}

static void test_cancel(void)
{
    struct record r = {.order_ok = true, .cancel_on = 1 + QWGLM_HUB_EV_FILE_DONE};
    qwglm_hub_params p = params(&r);
    p.n_parallel = 1;
    qwglm_hub_result res;
    char err[QWGLM_ERR_SIZE];
    CHECK(qwglm_hub_resolve("qwglm-test/qwen3-small", &p, &res, err) == QWGLM_ERR_CANCELLED);
    CHECK(res.error == QWGLM_HUB_ERR_CANCELLED && strstr(err, "cancelled") && r.counts[QWGLM_HUB_EV_ERROR] == 0);
    /* the next call finishes what the cancelled one left */
    struct record r2 = {.order_ok = true};
    p = params(&r2);
    CHECK(qwglm_hub_resolve("qwglm-test/qwen3-small", &p, &res, err) == QWGLM_OK);
    CHECK(res.n_files == 3 && res.bytes_downloaded < res.bytes_total + 1);
}

struct thread_arg {
    qwglm_status rc;
    qwglm_hub_result res;
};

static void *pull_thread(void *arg)
{
    struct thread_arg *a = arg;
    qwglm_hub_params p = qwglm_hub_default_params();
    p.endpoint = endpoint;
    p.cache_dir = cache;
    p.token = "";
    p.offline = 0;
    p.update = 1;
    a->rc = qwglm_hub_resolve("qwglm-test/voice", &p, &a->res, NULL);
    return NULL;
}

static void test_threads(void)
{
    struct thread_arg a[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) REQUIRE(pthread_create(&t[i], NULL, pull_thread, &a[i]) == 0);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) {
        CHECK(a[i].rc == QWGLM_OK);
        CHECK(!strcmp(a[i].res.path, a[0].res.path));
    }
    uint64_t total = a[0].res.bytes_downloaded + a[1].res.bytes_downloaded + a[2].res.bytes_downloaded;
    CHECK(total == a[0].res.bytes_total); /* the lock made every file cross the network once */
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    snprintf(cache, sizeof cache, "/tmp/qwglm-test-hub-api-XXXXXX");
    REQUIRE(mkdtemp(cache));
    pid_t server = start_server(argv[1]);
    test_events_and_result();
    test_cancel();
    test_threads();
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    fclose(server_out);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", cache);
    return test_report("test_hub_api");
}
