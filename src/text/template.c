#include "text/template.h"

#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "text/jinja.h"

#define CONFIG_MAX ((size_t)64 << 20)

static const char *const special_names[] = {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                                            "cls_token", "mask_token", NULL};

struct named {
    char *name;
    struct jinja_template *tmpl;
};

struct chat_template {
    struct named *templates; /* one unnamed ("default") template, or the named list */
    int n_templates;
    struct json_doc vars_doc; /* {"bos_token": ..., ..., "tools": null, "documents": null, ...} */
};

/* A special token as tokenizer_config.json writes it: a string, or {"content": "..."} (AddedToken). */
static const char *token_text(const struct json_value *v)
{
    if (!v) return NULL;
    if (v->type == JSON_STRING) return v->u.str;
    return json_string(json_get(v, "content"));
}

/* The defaults transformers passes before the caller's arguments, as one JSON object. */
static qwglm_status build_vars(struct chat_template *t, const struct json_value *config, struct qw_err *e)
{
    struct qw_str j = {0};
    qw_str_puts(&j, "{\"tools\": null, \"documents\": null, \"add_generation_prompt\": false");
    for (int i = 0; config && special_names[i]; i++) {
        const char *s = token_text(json_get(config, special_names[i]));
        if (!s) continue;
        qw_str_printf(&j, ", \"%s\": ", special_names[i]);
        qw_str_json(&j, s, strlen(s));
    }
    const struct json_value *extra = config ? json_get(config, "additional_special_tokens") : NULL;
    if (extra && extra->type == JSON_ARRAY && extra->n) {
        qw_str_puts(&j, ", \"additional_special_tokens\": [");
        for (uint32_t i = 0, k = 0; i < extra->n; i++) {
            const char *s = token_text(&extra->u.items[i]);
            if (!s) continue;
            if (k++) qw_str_puts(&j, ", ");
            qw_str_json(&j, s, strlen(s));
        }
        qw_str_putc(&j, ']');
    }
    qw_str_putc(&j, '}');
    qwglm_status st = j.failed ? qw_fail(e, QWGLM_ERR_NOMEM, "out of memory")
                               : json_parse(j.data, j.len, &t->vars_doc, e);
    qw_str_free(&j);
    return st;
}

static qwglm_status add_template(struct chat_template *t, const char *name, const char *src, size_t n,
                                 struct qw_err *e)
{
    struct named *v = qw_realloc(t->templates, (size_t)(t->n_templates + 1) * sizeof *v);
    if (!v) return qw_fail(e, QWGLM_ERR_NOMEM, "out of memory");
    t->templates = v;
    struct named *x = &v[t->n_templates];
    memset(x, 0, sizeof *x);
    if (name && !(x->name = qw_strndup(name, strlen(name)))) return qw_fail(e, QWGLM_ERR_NOMEM, "out of memory");
    t->n_templates++;
    return jinja_parse(src, n, &x->tmpl, e);
}

static qwglm_status parse_config_templates(struct chat_template *t, const struct json_value *ct, struct qw_err *e)
{
    if (ct->type == JSON_STRING) return add_template(t, NULL, ct->u.str, ct->n, e);
    if (ct->type != JSON_ARRAY) return qw_fail(e, QWGLM_ERR_FORMAT, "chat_template is neither a string nor a list");
    for (uint32_t i = 0; i < ct->n; i++) {
        const char *name = json_string(json_get(&ct->u.items[i], "name"));
        const struct json_value *src = json_get(&ct->u.items[i], "template");
        if (!name || !src || src->type != JSON_STRING)
            return qw_fail(e, QWGLM_ERR_FORMAT, "chat_template[%u] needs a name and a template", i);
        qwglm_status st = add_template(t, name, src->u.str, src->n, e);
        if (st) return st;
    }
    return QWGLM_OK;
}

qwglm_status chat_template_load(const char *config, size_t config_n, const char *source, size_t source_n,
                                struct chat_template **out, struct qw_err *e)
{
    *out = NULL;
    struct chat_template *t = qw_calloc(1, sizeof *t);
    if (!t) return qw_fail(e, QWGLM_ERR_NOMEM, "out of memory");
    struct json_doc cfg = {0};
    qwglm_status st = config ? json_parse(config, config_n, &cfg, e) : QWGLM_OK;
    const struct json_value *root = config && !st ? &cfg.root : NULL;
    if (!st) st = build_vars(t, root, e);
    if (!st) {
        if (source) {
            st = add_template(t, NULL, source, source_n, e);
        } else {
            const struct json_value *ct = json_get(root, "chat_template");
            st = ct ? parse_config_templates(t, ct, e)
                    : qw_fail(e, QWGLM_ERR_FORMAT, "no chat_template in tokenizer_config.json");
        }
    }
    json_doc_free(&cfg);
    if (st) {
        chat_template_free(t);
        return st;
    }
    *out = t;
    return QWGLM_OK;
}

qwglm_status chat_template_load_dir(const char *dir, struct chat_template **out, struct qw_err *e)
{
    *out = NULL;
    char cfg_path[4096], jinja_path[4096], json_path[4096];
    if (!qw_path_join(cfg_path, sizeof cfg_path, dir, "tokenizer_config.json") ||
        !qw_path_join(jinja_path, sizeof jinja_path, dir, "chat_template.jinja") ||
        !qw_path_join(json_path, sizeof json_path, dir, "chat_template.json"))
        return qw_fail(e, QWGLM_ERR_ARG, "%s: path too long", dir);
    char *config = NULL, *src = NULL, *json = NULL;
    size_t cn = 0, sn = 0, jn = 0;
    qwglm_status st = QWGLM_OK;
    if (qw_file_exists(cfg_path)) st = qw_read_file(cfg_path, CONFIG_MAX, &config, &cn, e);
    if (!st && qw_file_exists(jinja_path)) st = qw_read_file(jinja_path, CONFIG_MAX, &src, &sn, e);
    struct json_doc jd = {0};
    if (!st && !src && qw_file_exists(json_path)) {
        st = qw_read_file(json_path, CONFIG_MAX, &json, &jn, e);
        if (!st) st = json_parse(json, jn, &jd, e);
        const struct json_value *ct = st ? NULL : json_get(&jd.root, "chat_template");
        if (!st && (!ct || ct->type != JSON_STRING))
            st = qw_fail(e, QWGLM_ERR_FORMAT, "%s: no chat_template string", json_path);
        if (!st) {
            src = qw_strndup(ct->u.str, ct->n);
            sn = ct->n;
            if (!src) st = qw_fail(e, QWGLM_ERR_NOMEM, "out of memory");
        }
    }
    bool have = src != NULL;
    if (!st && !have && config) { /* only tokenizer_config.json: does it have one? */
        struct json_doc cd;
        if (json_parse(config, cn, &cd, e) == QWGLM_OK) {
            have = json_get(&cd.root, "chat_template") != NULL;
            json_doc_free(&cd);
        } else {
            st = e ? e->status : QWGLM_ERR_FORMAT;
        }
    }
    if (!st && have) st = chat_template_load(config, cn, src, sn, out, e);
    json_doc_free(&jd);
    qw_free(config);
    qw_free(src);
    qw_free(json);
    return st;
}

void chat_template_free(struct chat_template *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_templates; i++) {
        qw_free(t->templates[i].name);
        jinja_free(t->templates[i].tmpl);
    }
    qw_free(t->templates);
    json_doc_free(&t->vars_doc);
    qw_free(t);
}

static const struct jinja_template *pick(const struct chat_template *t, const struct json_value *request)
{
    if (t->n_templates == 1 && !t->templates[0].name) return t->templates[0].tmpl;
    const struct json_value *tools = json_get(request, "tools");
    const char *want = tools && !json_is_null(tools) ? "tool_use" : "default";
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < t->n_templates; i++)
            if (t->templates[i].name && !strcmp(t->templates[i].name, want)) return t->templates[i].tmpl;
        want = "default";
    }
    return NULL;
}

qwglm_status chat_template_render(const struct chat_template *t, const struct json_value *request, struct qw_str *out,
                                  struct qw_err *e)
{
    if (!request || request->type != JSON_OBJECT)
        return qw_fail(e, QWGLM_ERR_ARG, "chat request must be a JSON object");
    const struct json_value *messages = json_get(request, "messages");
    if (!messages || messages->type != JSON_ARRAY)
        return qw_fail(e, QWGLM_ERR_ARG, "chat request needs a \"messages\" list");
    const struct jinja_template *tmpl = pick(t, request);
    if (!tmpl) return qw_fail(e, QWGLM_ERR_FORMAT, "chat template: no 'default' template in the list");
    const struct json_value *layers[2] = {&t->vars_doc.root, request};
    return jinja_render(tmpl, layers, 2, NULL, out, e);
}

const char *chat_template_special(const struct chat_template *t, const char *name)
{
    return json_string(json_get(&t->vars_doc.root, name));
}
