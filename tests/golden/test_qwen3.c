/* The Qwen3 decoder against Hugging Face transformers (float32) on the qwen3-small and qwen3-micro fixtures:
 * every layer's hidden states and all prefill logits (through the model directly), then the public API's greedy
 * continuation with the KV cache and the logits of every decode step. Tolerance: max|ours - ref| / max|ref| < 1e-4
 * per row. */
#include "engine/engine.h"
#include "golden.h"

#define TOL 1e-4

static int check_rows(const char *what, int c, const float *ours, const float *ref, int rows, int64_t cols)
{
    int bad = 0;
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double err = rel_err(ours + (size_t)r * cols, ref + (size_t)r * cols, (size_t)cols);
        if (err > worst) worst = err;
        if (err >= TOL) bad++;
    }
    CHECKF(bad == 0, "case %d %s: %d rows over tolerance, worst %.3g", c, what, bad, worst);
    return bad;
}

/* Prefill through qwen3_forward with every hidden state and every row's logits. */
static void check_prefill(qwglm_model *m, const struct golden *g, int c, bool all_rows)
{
    const struct qw_llm_config *cfg = &m->cfg;
    int n;
    int32_t *ids = golden_ids(g, c, "input_ids", &n);
    int n_logits = all_rows ? n : 1, L = cfg->n_layers;
    struct qwen3_kv kv;
    REQUIRE(qwen3_kv_init(&kv, &m->net, n, NULL) == QWGLM_OK);
    struct qw_scratch s = {.cap = qwen3_scratch_bytes(&m->net, n, n_logits)};
    REQUIRE(m->be.ops->buf_alloc(m->be.ctx, s.cap, &s.buf, NULL) == QWGLM_OK);
    struct qw_arena host;
    REQUIRE(qw_arena_init(&host, qwen3_host_bytes(&m->net, n)));
    int32_t *pos = qw_malloc((size_t)n * sizeof *pos);
    for (int i = 0; i < n; i++) pos[i] = i;
    float *logits = qw_malloc((size_t)n_logits * cfg->n_vocab * sizeof *logits);
    float *hidden = all_rows ? qw_malloc((size_t)(L + 1) * n * cfg->n_embd * sizeof *hidden) : NULL;
    struct qwen3_batch b = {.n = n, .ids = ids, .pos = {pos, pos, pos}, .n_logits = n_logits, .logits = logits,
                            .hidden = hidden};
    struct qw_err e = {0};
    CHECKF(qwen3_forward(&m->net, &kv, &s, &host, &b, &e) == QWGLM_OK, "%s", e.msg);
    char name[64];
    if (all_rows) {
        snprintf(name, sizeof name, "case%d.prefill_logits", c);
        check_rows("prefill logits", c, logits, golden_array(g, name, NULL), n, cfg->n_vocab);
        for (int l = 0; l <= L; l++) {
            snprintf(name, sizeof name, "case%d.hidden.%d", c, l);
            char what[32];
            snprintf(what, sizeof what, "hidden %d", l);
            check_rows(what, c, hidden + (size_t)l * n * cfg->n_embd, golden_array(g, name, NULL), n, cfg->n_embd);
        }
    } else {
        snprintf(name, sizeof name, "case%d.last_logits", c);
        check_rows("last logits", c, logits, golden_array(g, name, NULL), 1, cfg->n_vocab);
    }
    qw_free(ids);
    qw_free(pos);
    qw_free(logits);
    qw_free(hidden);
    qw_arena_free(&host);
    m->be.ops->buf_free(m->be.ctx, s.buf);
    qwen3_kv_free(&kv, &m->net);
}

struct gen_capture {
    int n, cap, n_vocab;
    int32_t *ids;
    float *logits;
};

static int on_token(int32_t id, const float *logits, void *user)
{
    struct gen_capture *g = user;
    if (g->n < g->cap) {
        g->ids[g->n] = id;
        memcpy(g->logits + (size_t)g->n * g->n_vocab, logits, (size_t)g->n_vocab * sizeof *logits);
    }
    g->n++;
    return 0;
}

/* Greedy generation through the public API: exact tokens, and the logits of each step. */
static void check_generate(qwglm_model *m, const struct golden *g, int c, int n_session_ctx)
{
    int n, n_greedy;
    int32_t *ids = golden_ids(g, c, "input_ids", &n), *greedy = golden_ids(g, c, "greedy", &n_greedy);
    char name[64];
    snprintf(name, sizeof name, "case%d.decode_logits", c);
    int64_t numel;
    const float *ref = golden_array(g, name, &numel);
    int V = m->cfg.n_vocab, n_ref_steps = (int)(numel / V);
    qwglm_session_params sp = {.n_ctx = n_session_ctx};
    qwglm_session *s;
    char err[QWGLM_ERR_SIZE];
    REQUIRE(qwglm_session_open(m, &sp, &s, err) == QWGLM_OK);
    struct gen_capture cap = {0, n_greedy, V, qw_malloc((size_t)n_greedy * sizeof(int32_t)),
                              qw_malloc((size_t)n_greedy * V * sizeof(float))};
    qwglm_generate_params gp = {.sampling = qwglm_sampling_greedy(), .max_tokens = n_greedy};
    CHECKF(qwglm_session_generate(s, ids, n, &gp, on_token, &cap) == QWGLM_OK, "%s", qwglm_session_error(s));
    CHECKF(cap.n == n_greedy, "case %d: %d tokens, expected %d", c, cap.n, n_greedy);
    int mismatch = -1;
    for (int i = 0; i < n_greedy && i < cap.n; i++)
        if (cap.ids[i] != greedy[i] && mismatch < 0) mismatch = i;
    CHECKF(mismatch < 0, "case %d: greedy token %d is %d, reference %d", c, mismatch, cap.ids[mismatch],
           greedy[mismatch]);
    check_rows("decode logits", c, cap.logits, ref, n_ref_steps < cap.n ? n_ref_steps : cap.n, V);
    qw_free(cap.ids);
    qw_free(cap.logits);
    qw_free(ids);
    qw_free(greedy);
    qwglm_session_close(s);
}

static void run_fixture(const char *dir, bool all_rows, int threads)
{
    qwglm_model_params mp = qwglm_model_default_params();
    mp.dtype = QWGLM_DTYPE_F32;
    mp.n_threads = threads;
    qwglm_model *m;
    char err[QWGLM_ERR_SIZE];
    if (qwglm_model_load(dir, &mp, &m, err)) fprintf(stderr, "%s\n", err);
    REQUIRE(m != NULL);
    struct golden g;
    golden_open(&g, dir);
    for (int c = 0; c < (int)g.cases->n; c++) {
        check_prefill(m, &g, c, all_rows);
        check_generate(m, &g, c, 0);
        check_generate(m, &g, c, 200); /* a small context: same results */
    }
    golden_close(&g);
    qwglm_model_free(m);
}

/* Fails each allocation of a model load, a session open and a short generation in turn: every failure is an
 * error status (never a crash), and ASan's leak check proves that each path frees what it took. */
static void check_allocation_failures(void)
{
    int failures = 0;
    for (long n = 0; n < 10000; n++) {
        qwglm_model_params mp = qwglm_model_default_params();
        mp.n_threads = 1;
        mp.dtype = QWGLM_DTYPE_F32;
        qwglm_model *m = NULL;
        qwglm_session *s = NULL;
        char err[QWGLM_ERR_SIZE];
        qw_mem_fail_after(n);
        qwglm_status rc = qwglm_model_load("tests/fixtures/qwen3-small", &mp, &m, err);
        if (!rc) rc = qwglm_session_open(m, NULL, &s, err);
        int32_t ids[3] = {1, 2, 3};
        qwglm_generate_params gp = {.sampling = qwglm_sampling_greedy(), .max_tokens = 3};
        if (!rc) rc = qwglm_session_generate(s, ids, 3, &gp, NULL, NULL);
        qw_mem_fail_after(-1);
        qwglm_session_close(s);
        qwglm_model_free(m);
        if (rc == QWGLM_OK) break;
        CHECKF(rc == QWGLM_ERR_NOMEM, "allocation %ld: status %d (%s)", n, rc, err);
        failures++;
    }
    CHECKF(failures > 20, "only %d allocation points", failures);
}

int main(void)
{
    check_allocation_failures();
    run_fixture("tests/fixtures/qwen3-small", true, 2);
    run_fixture("tests/fixtures/qwen3-micro", false, 1);
    return test_report("test_qwen3");
}
