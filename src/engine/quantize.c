/* Writing a converted checkpoint (`qwglm quantize`): the decoder's matrices in the target dtype (the embedding and
 * LM head as qwen3_head_dtype says), every other tensor as stored, in one model.safetensors whose quantized
 * tensors are described by its metadata (ops/quant.h), plus the directory's config, tokenizer and template files.
 * Loading the result maps the file and reads the quantized rows in place: the layout on disk is the kernels'. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cpu/cpu.h"
#include "base/file.h"
#include "base/str.h"
#include "engine.h"
#include "ops/quant.h"

#define ALIGN 64 /* tensor data offsets, so that rows start on cache lines */

struct out_tensor {
    const struct st_tensor *src;
    enum qw_dtype src_dtype, dtype; /* dtype: the stored dtype when the tensor is copied as is */
    bool convert;
    int64_t rows, cols;
    size_t offset, bytes;
};

/* Whether name is one of the decoder's matrices that loading converts, and whether it is the embedding or head. */
static bool converted_matrix(const struct qw_llm_config *c, const char *name, bool *head)
{
    size_t pl = strlen(c->prefix);
    *head = strcmp(name, "lm_head.weight") == 0;
    if (*head) return true;
    if (strncmp(name, c->prefix, pl) != 0) return false;
    name += pl;
    if (strcmp(name, "embed_tokens.weight") == 0) {
        *head = true;
        return true;
    }
    if (strncmp(name, "layers.", 7) != 0) return false;
    name += 7;
    while (*name >= '0' && *name <= '9') name++;
    static const char *const mats[] = {".self_attn.q_proj.weight", ".self_attn.k_proj.weight",
                                       ".self_attn.v_proj.weight", ".self_attn.o_proj.weight",
                                       ".mlp.gate_proj.weight",    ".mlp.up_proj.weight",
                                       ".mlp.down_proj.weight"};
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
        if (strcmp(name, mats[i]) == 0) return true;
    return false;
}

static const char *st_name_of(enum qw_dtype t)
{
    return t == QW_DTYPE_F32 ? "F32" : t == QW_DTYPE_F16 ? "F16" : t == QW_DTYPE_BF16 ? "BF16" : "U8";
}

/* The header: metadata, then every tensor with its offsets; padded with spaces so the data starts aligned. */
static bool write_header(struct qw_str *h, const struct out_tensor *t, int n)
{
    qw_str_puts(h, "{\"__metadata__\": {\"format\": \"pt\", \"qwglm.layout\": \"" QW_QFILE_LAYOUT "\"");
    for (int i = 0; i < n; i++) {
        if (qw_dtype_block(t[i].dtype) == 1) continue;
        char key[320];
        snprintf(key, sizeof key, "%s%s", QW_QFILE_PREFIX, t[i].src->name);
        qw_str_puts(h, ", ");
        qw_str_json(h, key, strlen(key));
        qw_str_printf(h, ": \"%s %lld %lld\"", qw_dtype_name(t[i].dtype), (long long)t[i].rows, (long long)t[i].cols);
    }
    qw_str_putc(h, '}');
    for (int i = 0; i < n; i++) {
        qw_str_puts(h, ", ");
        qw_str_json(h, t[i].src->name, strlen(t[i].src->name));
        if (t[i].convert) {
            bool q = qw_dtype_block(t[i].dtype) > 1;
            qw_str_printf(h, ": {\"dtype\": \"%s\", \"shape\": [%lld, %lld]", st_name_of(t[i].dtype),
                          (long long)t[i].rows, q ? (long long)qw_row_bytes(t[i].dtype, t[i].cols) : (long long)t[i].cols);
        } else {
            qw_str_printf(h, ": {\"dtype\": \"%s\", \"shape\": [", st_dtype_name(t[i].src->dtype));
            for (int d = 0; d < t[i].src->n_dims; d++) qw_str_printf(h, d ? ", %lld" : "%lld", (long long)t[i].src->shape[d]);
            qw_str_putc(h, ']');
        }
        qw_str_printf(h, ", \"data_offsets\": [%zu, %zu]}", t[i].offset, t[i].offset + t[i].bytes);
    }
    qw_str_putc(h, '}');
    while ((8 + h->len) % ALIGN) qw_str_putc(h, ' ');
    return !h->failed;
}

static qwglm_status write_all(FILE *f, const void *p, size_t n, const char *path, struct qw_err *e)
{
    if (n && fwrite(p, 1, n, f) != n) return qw_fail(e, QWGLM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return QWGLM_OK;
}

#define CHUNK ((size_t)4 << 20)

static qwglm_status write_tensor(FILE *f, struct qw_backend *be, const struct out_tensor *t, uint8_t *chunk,
                                 const char *path, struct qw_err *e)
{
    if (!t->convert) return write_all(f, t->src->data, t->bytes, path, e);
    struct qw_tensor w;
    qwglm_status rc = be->ops->weight_upload(be->ctx, t->src->data, t->src_dtype, t->rows, t->cols, t->dtype, &w, e);
    if (rc) return qw_fail(e, rc, "tensor '%s'", t->src->name);
    for (size_t off = 0; off < t->bytes && !rc; off += CHUNK) {
        size_t n = t->bytes - off < CHUNK ? t->bytes - off : CHUNK;
        rc = be->ops->buf_read(be->ctx, w.buf, off, chunk, n, e);
        if (!rc) rc = write_all(f, chunk, n, path, e);
    }
    be->ops->buf_free(be->ctx, w.buf);
    return rc;
}

/* Config, tokenizer, chat template and other small text files of dir (not the weights or their index). */
static qwglm_status copy_side_files(const char *dir, const char *out, struct qw_err *e)
{
    DIR *d = opendir(dir);
    if (!d) return qw_fail(e, QWGLM_ERR_IO, "%s: %s", dir, strerror(errno));
    static const char *const exts[] = {".json", ".jinja", ".txt", ".model", ".tiktoken"};
    qwglm_status rc = QWGLM_OK;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        bool keep = n[0] != '.' && strcmp(n, "model.safetensors.index.json") != 0;
        bool ext = false;
        for (size_t i = 0; keep && i < sizeof exts / sizeof exts[0]; i++)
            ext |= len > strlen(exts[i]) && strcmp(n + len - strlen(exts[i]), exts[i]) == 0;
        if (!keep || !ext) continue;
        char src[4096], dst[4096];
        if (!qw_path_join(src, sizeof src, dir, n) || !qw_path_join(dst, sizeof dst, out, n)) continue;
        struct stat st;
        if (stat(src, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        char *text;
        size_t size;
        if ((rc = qw_read_file(src, 256u << 20, &text, &size, e))) break;
        rc = qw_write_file_atomic(dst, text, size, e);
        qw_free(text);
    }
    closedir(d);
    return rc;
}

qwglm_status qw_quantize_checkpoint(const char *dir, const char *out, enum qw_dtype dtype, int n_threads,
                                    const struct qw_log *log, struct qw_err *e)
{
    if (dtype != QW_DTYPE_F32 && dtype != QW_DTYPE_BF16 && dtype != QW_DTYPE_Q8 && dtype != QW_DTYPE_Q4)
        return qw_fail(e, QWGLM_ERR_ARG, "quantize: dtype must be f32, bf16, q8 or q4");
    struct qw_llm_config cfg;
    struct st_set st = {0};
    struct qw_backend be = {0};
    struct out_tensor *t = NULL;
    struct qw_str h = {0};
    FILE *f = NULL;
    uint8_t *chunk = NULL;
    char path[4096], tmp[4200];
    int n = 0;
    qwglm_status rc = qw_llm_config_load(dir, &cfg, e);
    if (!rc) rc = st_set_open(&st, dir, e);
    for (int i = 0; !rc && i < st.n_files; i++) rc = qw_qfile_validate(&st.files[i], e);
    if (!rc) rc = cpu_backend_create(n_threads, &be, e);
    if (rc) goto done;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        rc = qw_fail(e, QWGLM_ERR_IO, "%s: %s", out, strerror(errno));
        goto done;
    }
    int total = 0;
    for (int i = 0; i < st.n_files; i++) total += st.files[i].n_tensors;
    if (!(t = qw_calloc((size_t)(total ? total : 1), sizeof *t)) || !(chunk = qw_malloc(CHUNK))) {
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "quantize");
        goto done;
    }
    size_t offset = 0, bytes_in = 0;
    for (int i = 0; i < st.n_files; i++)
        for (int j = 0; j < st.files[i].n_tensors; j++) {
            struct out_tensor *o = &t[n++];
            o->src = &st.files[i].tensors[j];
            int64_t rows, cols;
            if ((rc = qw_qfile_tensor(&st.files[i], o->src, &o->src_dtype, &rows, &cols, e))) goto done;
            if (qw_dtype_block(o->src_dtype) > 1) {
                rc = qw_fail(e, QWGLM_ERR_ARG, "%s is already quantized (tensor '%s' is %s)", dir, o->src->name,
                             qw_dtype_name(o->src_dtype));
                goto done;
            }
            bool head;
            o->dtype = o->src_dtype;
            if (o->src->n_dims == 2 && converted_matrix(&cfg, o->src->name, &head)) {
                enum qw_dtype want = head ? qwen3_head_dtype(dtype) : dtype;
                if (cols % qw_dtype_block(want) != 0) want = QW_DTYPE_BF16; /* as the loader does */
                o->convert = want != o->src_dtype;
                o->dtype = want;
            }
            o->rows = rows;
            o->cols = cols;
            o->bytes = o->convert ? (size_t)rows * qw_row_bytes(o->dtype, cols) : o->src->size;
            o->offset = offset;
            offset = (offset + o->bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1);
            bytes_in += o->src->size;
        }
    if (!write_header(&h, t, n)) {
        rc = qw_fail(e, QWGLM_ERR_NOMEM, "quantize: header");
        goto done;
    }
    if (!qw_path_join(path, sizeof path, out, "model.safetensors")) {
        rc = qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", out);
        goto done;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "wb"))) {
        rc = qw_fail(e, QWGLM_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    rc = write_all(f, len8, 8, tmp, e);
    if (!rc) rc = write_all(f, h.data, h.len, tmp, e);
    static const uint8_t zeros[ALIGN];
    for (int i = 0; i < n && !rc; i++) {
        size_t pad = i + 1 < n ? t[i + 1].offset - t[i].offset - t[i].bytes : 0;
        qw_log(log, QWGLM_LOG_DEBUG, "%s: %s -> %s", t[i].src->name, qw_dtype_name(t[i].src_dtype),
               qw_dtype_name(t[i].dtype));
        rc = write_tensor(f, &be, &t[i], chunk, tmp, e);
        if (!rc) rc = write_all(f, zeros, pad, tmp, e);
    }
    if (fclose(f) != 0 && !rc) rc = qw_fail(e, QWGLM_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    f = NULL;
    if (!rc && rename(tmp, path) != 0) rc = qw_fail(e, QWGLM_ERR_IO, "%s: %s", path, strerror(errno));
    if (rc) remove(tmp);
    if (!rc) rc = copy_side_files(dir, out, e);
    if (!rc)
        qw_log(log, QWGLM_LOG_INFO, "%s: %d tensors, %.1f MiB -> %.1f MiB (%s)", path, n, (double)bytes_in / (1 << 20),
               (double)(8 + h.len + offset) / (1 << 20), qw_dtype_name(dtype));
done:
    if (f) fclose(f);
    qw_str_free(&h);
    qw_free(t);
    qw_free(chunk);
    if (be.ops) be.ops->free(be.ctx);
    st_set_close(&st);
    return rc;
}
