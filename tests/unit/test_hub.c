/* Hub client pieces that need no network: references and names, the API answer, the choice of files, digests,
 * the cache layout, the environment, event JSON. The transfers are tested against tests/hub/hub_server.py. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "format/json.h"
#include "hub/hub.h"
#include "test.h"

static void test_refs(void)
{
    struct hub_ref r;
    CHECK(hub_ref_parse("Qwen/Qwen3-0.6B", &r, NULL) == QWGLM_OK && !strcmp(r.repo, "Qwen/Qwen3-0.6B") &&
          !strcmp(r.revision, "main"));
    CHECK(hub_ref_parse("org/name@v1.0", &r, NULL) == QWGLM_OK && !strcmp(r.revision, "v1.0"));
    CHECK(hub_ref_parse("org/name@refs/pr/12", &r, NULL) == QWGLM_OK && !strcmp(r.revision, "refs/pr/12"));
    CHECK(hub_ref_parse(QWGLM_HUB_DEFAULT_MODEL, &r, NULL) == QWGLM_OK);
    static const char *const bad[] = {"", "name", "/name", "org/", "org/name/extra", "org//name", "org/na me",
                                      "org/-name", "org/name.", "org/na--me", "org/na..me", "../x", "org/name@",
                                      "org/name@../../etc", "org/name@/abs", "org/name@a b", "org/name@a/./b",
                                      "org/name@x@y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct qw_err e = {0};
        CHECKF(hub_ref_parse(bad[i], &r, &e) == QWGLM_ERR_ARG && e.msg[0], "'%s'", bad[i]);
        CHECKF(!qwglm_hub_is_ref(bad[i]), "'%s'", bad[i]);
    }
    char long_name[200];
    memset(long_name, 'a', sizeof long_name);
    memcpy(long_name, "org/", 4);
    long_name[sizeof long_name - 1] = '\0';
    CHECK(!qwglm_hub_is_ref(long_name));
    CHECK(qwglm_hub_is_ref("a/b"));
}

static void test_names(void)
{
    static const char *const good[] = {"config.json", "onnx/model.onnx", "a/b/c.txt", ".gitattributes",
                                       "caf\xc3\xa9.json", "x..y"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECKF(hub_name_ok(good[i], strlen(good[i])), "'%s'", good[i]);
    static const char *const bad[] = {"", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a/", ".", "..",
                                      "a\\b", "a\nb", "bad\xff", "x/.."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(!hub_name_ok(bad[i], strlen(bad[i])), "'%s'", bad[i]);
    CHECK(!hub_name_ok("a\0b", 3)); /* an embedded NUL */
    CHECK(hub_hex_ok("0123456789abcdef0123456789abcdef01234567", 40));
    CHECK(!hub_hex_ok("0123456789ABCDEF0123456789abcdef01234567", 40));
    CHECK(!hub_hex_ok("0123", 40));
    char esc[64];
    CHECK(hub_url_escape(esc, sizeof esc, "refs/pr/1", false) && !strcmp(esc, "refs%2Fpr%2F1"));
    CHECK(hub_url_escape(esc, sizeof esc, "dir/a b+c.json", true) && !strcmp(esc, "dir/a%20b%2Bc.json"));
    CHECK(!hub_url_escape(esc, 4, "abcd", true));
}

/* The shape of a real answer of /api/models/REPO/revision/main?blobs=true (fields trimmed). */
static const char api_answer[] =
    "{\"_id\":\"680da718233834890aa01f51\",\"id\":\"Qwen/Qwen3-8B\",\"private\":false,\"gated\":false,"
    "\"sha\":\"b968826d9c46dd6066d109eabc6255188de91218\",\"library_name\":\"transformers\",\"siblings\":["
    "{\"rfilename\":\".gitattributes\",\"blobId\":\"a6344aac8c09253b3b630fb776ae94478aa0275b\",\"size\":1519},"
    "{\"rfilename\":\"LICENSE\",\"blobId\":\"6634c8cc3133b3848ec74b9f275acaaa1ea618ab\",\"size\":11343},"
    "{\"rfilename\":\"README.md\",\"blobId\":\"1111111111111111111111111111111111111111\",\"size\":100},"
    "{\"rfilename\":\"config.json\",\"blobId\":\"cb7ec1b3ff9d40bd3e5e21ab5d3fa6e4b7f08e42\",\"size\":728},"
    "{\"rfilename\":\"generation_config.json\",\"blobId\":\"2222222222222222222222222222222222222222\",\"size\":239},"
    "{\"rfilename\":\"merges.txt\",\"blobId\":\"3333333333333333333333333333333333333333\",\"size\":1671853},"
    "{\"rfilename\":\"model-00001-of-00002.safetensors\",\"blobId\":\"4444444444444444444444444444444444444444\","
    "\"size\":3996250744,\"lfs\":{\"sha256\":\"5555555555555555555555555555555555555555555555555555555555555555\","
    "\"size\":3996250744,\"pointerSize\":135}},"
    "{\"rfilename\":\"model-00002-of-00002.safetensors\",\"blobId\":\"6666666666666666666666666666666666666666\","
    "\"size\":3996250744,\"lfs\":{\"sha256\":\"7777777777777777777777777777777777777777777777777777777777777777\","
    "\"size\":1200000000,\"pointerSize\":135}},"
    "{\"rfilename\":\"model.safetensors.index.json\",\"blobId\":\"8888888888888888888888888888888888888888\","
    "\"size\":32819},"
    "{\"rfilename\":\"consolidated.safetensors\",\"blobId\":\"9999999999999999999999999999999999999999\","
    "\"size\":9,\"lfs\":{\"sha256\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":9}},"
    "{\"rfilename\":\"pytorch_model.bin\",\"blobId\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"size\":9,"
    "\"lfs\":{\"sha256\":\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\",\"size\":9}},"
    "{\"rfilename\":\"onnx/model.onnx\",\"blobId\":\"dddddddddddddddddddddddddddddddddddddddd\",\"size\":9},"
    "{\"rfilename\":\"../../escape.json\",\"blobId\":\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\",\"size\":9},"
    "{\"rfilename\":\"tokenizer.json\",\"blobId\":\"ffffffffffffffffffffffffffffffffffffffff\",\"size\":11422654},"
    "{\"rfilename\":\"tokenizer_config.json\",\"blobId\":\"0000000000000000000000000000000000000000\",\"size\":9732},"
    "{\"rfilename\":\"vocab.json\",\"blobId\":\"0101010101010101010101010101010101010101\",\"size\":2776833},"
    "{\"rfilename\":\"config.json\",\"blobId\":\"0202020202020202020202020202020202020202\",\"size\":1}"
    "],\"spaces\":[],\"createdAt\":\"2025-04-27T03:42:21.000Z\"}";

static const char index_json[] =
    "{\"metadata\":{\"total_size\":16381470720},\"weight_map\":{"
    "\"lm_head.weight\":\"model-00002-of-00002.safetensors\","
    "\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","
    "\"model.norm.weight\":\"model-00002-of-00002.safetensors\"}}";

static bool selected(const struct hub_repo_info *info, const char *name)
{
    const struct hub_file *f = hub_repo_find(info, name);
    return f && f->selected;
}

static int n_selected(const struct hub_repo_info *info)
{
    int n = 0;
    for (int i = 0; i < info->n_files; i++) n += info->files[i].selected;
    return n;
}

static void test_repo_info(void)
{
    struct hub_repo_info info;
    struct qw_err e = {0};
    REQUIRE(hub_repo_info_parse(api_answer, strlen(api_answer), &info, &e) == QWGLM_OK);
    CHECK(!strcmp(info.commit, "b968826d9c46dd6066d109eabc6255188de91218"));
    CHECK(info.n_files == 15); /* the escaping name is dropped, the repeated config.json counted once */
    CHECK(hub_repo_find(&info, "../../escape.json") == NULL);
    const struct hub_file *cfg = hub_repo_find(&info, "config.json");
    CHECK(cfg && !cfg->lfs && cfg->size == 728 && !strcmp(cfg->oid, "cb7ec1b3ff9d40bd3e5e21ab5d3fa6e4b7f08e42"));
    const struct hub_file *s2 = hub_repo_find(&info, "model-00002-of-00002.safetensors");
    CHECK(s2 && s2->lfs && s2->size == 1200000000u && s2->oid[0] == '7' && strlen(s2->oid) == 64);

    qwglm_hub_error why;
    struct hub_select_opts so = {0};
    CHECK(hub_select(&info, &so, NULL, 0, &why, &e) == QWGLM_OK);
    CHECK(hub_select_needs_index(&info));
    static const char *const phase1[] = {"config.json", "generation_config.json", "tokenizer.json",
                                         "tokenizer_config.json", "model.safetensors.index.json"};
    for (size_t i = 0; i < sizeof phase1 / sizeof phase1[0]; i++) CHECKF(selected(&info, phase1[i]), "%s", phase1[i]);
    CHECK(n_selected(&info) == 5); /* no vocab.json/merges.txt (tokenizer.json is there), no weights yet */
    CHECK(hub_select(&info, &so, index_json, strlen(index_json), &why, &e) == QWGLM_OK);
    CHECK(selected(&info, "model-00001-of-00002.safetensors") && selected(&info, "model-00002-of-00002.safetensors"));
    CHECK(!selected(&info, "consolidated.safetensors") && !selected(&info, "pytorch_model.bin"));
    CHECK(!selected(&info, "onnx/model.onnx") && !selected(&info, "README.md") && !selected(&info, "LICENSE"));
    CHECK(n_selected(&info) == 7);

    /* an index naming a shard the repository lacks, or an unsafe one */
    const char *bad_index[] = {"{\"weight_map\":{\"a\":\"model-00003-of-00002.safetensors\"}}",
                               "{\"weight_map\":{\"a\":\"../model.safetensors\"}}", "{\"weight_map\":[]}",
                               "{\"weight_map\":{}}", "not json"};
    for (size_t i = 0; i < sizeof bad_index / sizeof bad_index[0]; i++) {
        struct qw_err e2 = {0};
        CHECKF(hub_select(&info, &so, bad_index[i], strlen(bad_index[i]), &why, &e2) != QWGLM_OK && e2.msg[0],
               "%s", bad_index[i]);
    }

    /* --include replaces the choice; "dir/" means everything under it */
    const char *pats[] = {"onnx/", "*.md"};
    struct hub_select_opts inc = {false, pats, 2};
    CHECK(hub_select(&info, &inc, NULL, 0, &why, &e) == QWGLM_OK);
    CHECK(selected(&info, "onnx/model.onnx") && selected(&info, "README.md") && n_selected(&info) == 2);
    const char *none[] = {"*.xyz"};
    struct hub_select_opts inc2 = {false, none, 1};
    CHECK(hub_select(&info, &inc2, NULL, 0, &why, NULL) != QWGLM_OK && why == QWGLM_HUB_ERR_NOT_FOUND);
    hub_repo_info_free(&info);
}

static qwglm_status parse_select(const char *json, struct hub_repo_info *info, qwglm_hub_error *why)
{
    struct hub_select_opts so = {0};
    qwglm_status rc = hub_repo_info_parse(json, strlen(json), info, NULL);
    return rc ? rc : hub_select(info, &so, NULL, 0, why, NULL);
}

#define SIB(name, oid) "{\"rfilename\":\"" name "\",\"blobId\":\"" oid "\",\"size\":5}"
#define OID "0123456789abcdef0123456789abcdef01234567"
#define SHA "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\""
#define LFS(name) "{\"rfilename\":\"" name "\",\"size\":5,\"lfs\":{\"sha256\":" SHA ",\"size\":5}}"
#define INFO(sibs) "{\"sha\":\"" OID "\",\"siblings\":[" sibs "]}"

static void test_select_kinds(void)
{
    struct hub_repo_info info;
    qwglm_hub_error why;
    /* a single model.safetensors beside other shards of another format: only it */
    CHECK(parse_select(INFO(SIB("config.json", OID) "," LFS("model.safetensors") "," LFS("other.safetensors")),
                       &info, &why) == QWGLM_OK);
    CHECK(selected(&info, "model.safetensors") && !selected(&info, "other.safetensors"));
    hub_repo_info_free(&info);
    /* a voice: the .onnx and its .onnx.json */
    CHECK(parse_select(INFO(LFS("en_US-amy-low.onnx") "," SIB("en_US-amy-low.onnx.json", OID) "," SIB(
                           "README.md", OID)),
                       &info, &why) == QWGLM_OK);
    CHECK(selected(&info, "en_US-amy-low.onnx") && selected(&info, "en_US-amy-low.onnx.json") &&
          !selected(&info, "README.md"));
    hub_repo_info_free(&info);
    /* only formats qwglm does not load */
    CHECK(parse_select(INFO(SIB("config.json", OID) "," LFS("pytorch_model.bin") "," LFS("model.gguf")), &info,
                       &why) == QWGLM_ERR_FORMAT &&
          why == QWGLM_HUB_ERR_NO_WEIGHTS);
    hub_repo_info_free(&info);
    /* vocab.json + merges.txt only when tokenizer.json is missing */
    CHECK(parse_select(INFO(SIB("vocab.json", OID) "," SIB("merges.txt", OID) "," LFS("model.safetensors")), &info,
                       &why) == QWGLM_OK);
    CHECK(selected(&info, "vocab.json") && selected(&info, "merges.txt"));
    hub_repo_info_free(&info);
    /* malformed answers */
    static const char *const bad[] = {"[]", "{}", "{\"sha\":\"abc\",\"siblings\":[]}",
                                      "{\"sha\":\"" OID "\"}", "{\"sha\":\"" OID "\",\"siblings\":{}}", "{"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct qw_err e = {0};
        CHECKF(hub_repo_info_parse(bad[i], strlen(bad[i]), &info, &e) != QWGLM_OK && e.msg[0], "%s", bad[i]);
    }
    /* a sibling without size or blob id is kept with no oid; negative or fractional sizes are not sizes */
    CHECK(hub_repo_info_parse(INFO("{\"rfilename\":\"a.json\"},{\"rfilename\":\"b.json\",\"size\":-1,\"blobId\":"
                                   "\"" OID "\"}"),
                              strlen(INFO("{\"rfilename\":\"a.json\"},{\"rfilename\":\"b.json\",\"size\":-1,"
                                          "\"blobId\":\"" OID "\"}")),
                              &info, NULL) == QWGLM_OK);
    CHECK(info.n_files == 2 && !info.files[0].oid[0] && !info.files[1].oid[0]);
    hub_repo_info_free(&info);
}

static void test_alloc_failures(void)
{
    for (long n = 0;; n++) {
        qw_mem_fail_after(n);
        struct hub_repo_info info;
        qwglm_status rc = hub_repo_info_parse(api_answer, strlen(api_answer), &info, NULL);
        long used = qw_mem_fail_after(-1);
        if (rc == QWGLM_OK) {
            hub_repo_info_free(&info);
            CHECK(used <= n);
            break;
        }
        CHECK(rc == QWGLM_ERR_NOMEM);
        if (n > 10000) break;
    }
}

static void test_digest(void)
{
    struct hub_digest d;
    char hex[HUB_OID_MAX];
    REQUIRE(hub_digest_init(&d, true, 3, NULL) == QWGLM_OK);
    hub_digest_update(&d, "ab", 2);
    hub_digest_update(&d, "c", 1);
    hub_digest_final(&d, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    REQUIRE(hub_digest_init(&d, false, 6, NULL) == QWGLM_OK); /* git hash-object of "hello\n" */
    hub_digest_update(&d, "hello\n", 6);
    hub_digest_final(&d, hex);
    CHECK(!strcmp(hex, "ce013625030ba8dba906f756967f9e9ca394464a"));
    REQUIRE(hub_digest_init(&d, false, 0, NULL) == QWGLM_OK); /* git's empty blob */
    hub_digest_final(&d, hex);
    CHECK(!strcmp(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"));
}

static void test_cache_layout(const char *tmp)
{
    char repo[QWGLM_HUB_PATH_MAX], path[QWGLM_HUB_PATH_MAX + 200], target[512], commit[48];
    CHECK(hub_repo_dir(repo, sizeof repo, tmp, "Qwen/Qwen3-0.6B"));
    snprintf(path, sizeof path, "%s/models--Qwen--Qwen3-0.6B", tmp);
    CHECK(!strcmp(repo, path));
    const char *c1 = "b968826d9c46dd6066d109eabc6255188de91218";
    CHECK(hub_cache_write_ref(repo, "main", c1, NULL) == QWGLM_OK);
    CHECK(hub_cache_write_ref(repo, "refs/pr/1", c1, NULL) == QWGLM_OK);
    char *text = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/refs/main", repo);
    CHECK(qw_read_file(path, 100, &text, &n, NULL) == QWGLM_OK && n == 40 && !memcmp(text, c1, 40));
    qw_free(text);
    snprintf(path, sizeof path, "%s/refs/refs/pr/1", repo);
    CHECK(qw_file_exists(path));
    CHECK(hub_cache_read_ref(repo, "main", commit) && !strcmp(commit, c1));
    CHECK(!hub_cache_read_ref(repo, "dev", commit));
    CHECK(hub_cache_commit(repo, c1, commit) && !strcmp(commit, c1));
    CHECK(hub_cache_write_ref(repo, "../../x", c1, NULL) != QWGLM_OK);

    const char *oid = "5555555555555555555555555555555555555555555555555555555555555555";
    CHECK(hub_cache_link(repo, c1, "config.json", oid, NULL) == QWGLM_OK);
    CHECK(hub_cache_link(repo, c1, "sub/dir/tokenizer.json", oid, NULL) == QWGLM_OK);
    snprintf(path, sizeof path, "%s/snapshots/%s/config.json", repo, c1);
    ssize_t k = readlink(path, target, sizeof target - 1);
    target[k > 0 ? k : 0] = '\0';
    CHECK(!strcmp(target, "../../blobs/5555555555555555555555555555555555555555555555555555555555555555"));
    snprintf(path, sizeof path, "%s/snapshots/%s/sub/dir/tokenizer.json", repo, c1);
    k = readlink(path, target, sizeof target - 1);
    target[k > 0 ? k : 0] = '\0';
    CHECK(!strcmp(target, "../../../../blobs/5555555555555555555555555555555555555555555555555555555555555555"));

    /* complete only once the blobs exist: config + model.safetensors */
    snprintf(path, sizeof path, "%s/snapshots/%s", repo, c1);
    CHECK(!hub_snapshot_complete(path));
    char blobs[QWGLM_HUB_PATH_MAX + 16], blob[QWGLM_HUB_PATH_MAX + 100];
    snprintf(blobs, sizeof blobs, "%s/blobs", repo);
    CHECK(hub_mkdirs(blobs, NULL) == QWGLM_OK);
    snprintf(blob, sizeof blob, "%s/%s", blobs, oid);
    CHECK(qw_write_file_atomic(blob, "{}", 2, NULL) == QWGLM_OK);
    CHECK(!hub_snapshot_complete(path));
    CHECK(hub_cache_link(repo, c1, "model.safetensors", oid, NULL) == QWGLM_OK);
    CHECK(hub_snapshot_complete(path));

    struct hub_lock a = {-1}, b = {-1};
    bool busy;
    snprintf(path, sizeof path, "%s/x.lock", tmp);
    CHECK(hub_lock_try(&a, path, &busy, NULL) == QWGLM_OK && !busy);
    CHECK(hub_lock_try(&b, path, &busy, NULL) == QWGLM_OK && busy); /* another open file: excluded */
    hub_lock_release(&a);
    CHECK(hub_lock_try(&b, path, &busy, NULL) == QWGLM_OK && !busy);
    hub_lock_release(&b);
}

static void test_config(const char *tmp)
{
    static const char *const vars[] = {"HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
                                       "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE",
                                       "XDG_CACHE_HOME"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
    struct hub_config c;
    setenv("HOME", "/home/u", 1);
    CHECK(hub_config_init(&c, NULL, NULL) == QWGLM_OK);
    CHECK(!strcmp(c.endpoint, "https://huggingface.co"));
    CHECK(!strcmp(c.cache_dir, "/home/u/.cache/huggingface/hub"));
    CHECK(!c.offline && !c.token[0]);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    CHECK(hub_config_init(&c, NULL, NULL) == QWGLM_OK && !strcmp(c.cache_dir, "/xdg/huggingface/hub"));
    char home[QWGLM_HUB_PATH_MAX], token_file[QWGLM_HUB_PATH_MAX + 16];
    snprintf(home, sizeof home, "%s/hfhome", tmp);
    CHECK(hub_mkdirs(home, NULL) == QWGLM_OK);
    setenv("HF_HOME", home, 1);
    snprintf(token_file, sizeof token_file, "%s/token", home);
    CHECK(qw_write_file_atomic(token_file, "  hf_fromfile\n", 14, NULL) == QWGLM_OK);
    setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    setenv("HF_HUB_OFFLINE", "yes", 1);
    CHECK(hub_config_init(&c, NULL, NULL) == QWGLM_OK);
    CHECK(!strcmp(c.endpoint, "http://127.0.0.1:9"));
    CHECK(!strncmp(c.cache_dir, home, strlen(home)) && !strcmp(c.cache_dir + strlen(home), "/hub"));
    CHECK(!strcmp(c.token, "hf_fromfile") && c.offline);
    setenv("HF_TOKEN", "hf_env", 1);
    setenv("HF_HUB_CACHE", "~/elsewhere", 1);
    setenv("HF_HUB_OFFLINE", "0", 1);
    CHECK(hub_config_init(&c, NULL, NULL) == QWGLM_OK);
    CHECK(!strcmp(c.token, "hf_env") && !strcmp(c.cache_dir, "/home/u/elsewhere") && !c.offline);
    qwglm_hub_params p = qwglm_hub_default_params();
    p.token = "";
    p.offline = 1;
    p.cache_dir = "/c";
    CHECK(hub_config_init(&c, &p, NULL) == QWGLM_OK && !c.token[0] && c.offline && !strcmp(c.cache_dir, "/c"));
    setenv("HF_ENDPOINT", "ftp://x", 1);
    CHECK(hub_config_init(&c, NULL, NULL) == QWGLM_ERR_ARG);
    setenv("HF_ENDPOINT", "http://x", 1);
    setenv("HF_TOKEN", "bad\ntoken", 1);
    CHECK(hub_config_init(&c, NULL, NULL) == QWGLM_ERR_ARG);
    CHECK(hub_env_true("TRUE") && hub_env_true("On") && hub_env_true("1") && !hub_env_true("2") &&
          !hub_env_true(NULL));
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
}

static void test_event_json(void)
{
    qwglm_hub_event ev = {.kind = QWGLM_HUB_EV_PROGRESS, .repo = "a/b", .revision = "main",
                          .commit = "0123456789abcdef0123456789abcdef01234567", .file = "we\"ird\n.safetensors",
                          .file_done = 5, .file_total = 10, .done = 7, .total = 20, .files_done = 1,
                          .files_total = 3, .speed = 1.5e6, .eta_s = 8.7};
    char buf[1024];
    size_t n = qwglm_hub_event_json(&ev, buf, sizeof buf);
    CHECK(n > 0 && n < sizeof buf && strlen(buf) == n);
    struct json_doc doc;
    REQUIRE(json_parse(buf, n, &doc, NULL) == QWGLM_OK);
    CHECK(!strcmp(json_string(json_get(&doc.root, "event")), "progress"));
    CHECK(!strcmp(json_string(json_get(&doc.root, "file")), "we\"ird\n.safetensors"));
    int64_t v;
    CHECK(json_int(json_get(&doc.root, "total"), &v) && v == 20);
    CHECK(json_get(&doc.root, "message") == NULL && json_get(&doc.root, "error") == NULL);
    json_doc_free(&doc);
    char small[8];
    CHECK(qwglm_hub_event_json(&ev, small, sizeof small) == n && strlen(small) == 7);
    ev.kind = QWGLM_HUB_EV_ERROR;
    ev.error = QWGLM_HUB_ERR_GATED;
    ev.message = "gated";
    qwglm_hub_event_json(&ev, buf, sizeof buf);
    CHECK(strstr(buf, "\"error\":\"gated repository\"") && strstr(buf, "\"event\":\"error\""));
    CHECK(!strcmp(qwglm_hub_error_str(QWGLM_HUB_ERR_COUNT), "unknown error"));
}

static void test_offline_resolve(const char *tmp)
{
    qwglm_hub_params p = qwglm_hub_default_params();
    p.offline = 1;
    p.cache_dir = tmp;
    qwglm_hub_result res;
    char err[QWGLM_ERR_SIZE];
    /* test_cache_layout made a complete snapshot and refs/main */
    CHECK(qwglm_hub_resolve("Qwen/Qwen3-0.6B", &p, &res, err) == QWGLM_OK);
    CHECK(strstr(res.path, "models--Qwen--Qwen3-0.6B/snapshots/b968826d9c46dd6066d109eabc6255188de91218") &&
          !strcmp(res.commit, "b968826d9c46dd6066d109eabc6255188de91218"));
    CHECK(qwglm_hub_resolve("Qwen/Qwen3-0.6B@dev", &p, &res, err) == QWGLM_ERR_IO &&
          res.error == QWGLM_HUB_ERR_OFFLINE && strstr(err, "HF_HUB_OFFLINE"));
    CHECK(qwglm_hub_resolve("not a ref", &p, &res, err) == QWGLM_ERR_ARG && res.error == QWGLM_HUB_ERR_ARG);
}

int main(void)
{
    char tmp[] = "/tmp/qwglm-test-hub-XXXXXX";
    REQUIRE(mkdtemp(tmp));
    test_refs();
    test_names();
    test_repo_info();
    test_select_kinds();
    test_alloc_failures();
    test_digest();
    test_cache_layout(tmp);
    test_config(tmp);
    test_event_json();
    test_offline_resolve(tmp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_report("test_hub");
}
