#include "api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "format/json.h"

/* ---- errors ---- */

static const char *type_for_status(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

bool api_fail(struct api_error *err, int status, const char *param, const char *fmt, ...)
{
    if (!err) return false;
    err->status = status;
    err->type = type_for_status(status);
    err->code = NULL;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

bool api_error_json(struct qw_str *s, const struct api_error *err)
{
    qw_str_puts(s, "{\"error\":{\"message\":");
    qw_str_json(s, err->message, strlen(err->message));
    qw_str_puts(s, ",\"type\":");
    qw_str_json(s, err->type ? err->type : "server_error", strlen(err->type ? err->type : "server_error"));
    qw_str_puts(s, ",\"param\":");
    if (err->param[0])
        qw_str_json(s, err->param, strlen(err->param));
    else
        qw_str_puts(s, "null");
    qw_str_puts(s, ",\"code\":");
    if (err->code)
        qw_str_json(s, err->code, strlen(err->code));
    else
        qw_str_puts(s, "null");
    return qw_str_puts(s, "}}");
}

const char *api_role_name(enum api_role r)
{
    static const char *names[] = {"system", "user", "assistant", "tool"};
    _Static_assert(sizeof names / sizeof names[0] == API_ROLE_COUNT, "one name per role");
    return (unsigned)r < API_ROLE_COUNT ? names[r] : "?";
}

/* ---- field readers: each returns false with err filled when the field has the wrong type or range ---- */

static bool nomem(struct api_error *err) { return api_fail(err, 500, NULL, "out of memory"); }

bool api_get_float(const struct json_value *obj, const char *key, double lo, double hi, float *out,
                   struct api_error *err)
{
    const struct json_value *v = json_get(obj, key);
    if (json_is_null(v)) return true;
    double d;
    if (!json_number(v, &d)) return api_fail(err, 400, key, "'%s' must be a number, not %s", key,
                                             json_type_name(v->type));
    if (!(d >= lo && d <= hi)) return api_fail(err, 400, key, "'%s' is %g; it must be in [%g, %g]", key, d, lo, hi);
    *out = (float)d;
    return true;
}

bool api_get_int(const struct json_value *obj, const char *key, int64_t lo, int64_t hi, int64_t *out,
                 struct api_error *err)
{
    const struct json_value *v = json_get(obj, key);
    if (json_is_null(v)) return true;
    int64_t i;
    if (!json_int(v, &i)) {
        double d;
        /* 5.0 is an integer to JavaScript clients */
        if (!json_number(v, &d) || d != floor(d) || !(fabs(d) < 9e15))
            return api_fail(err, 400, key, "'%s' must be an integer", key);
        i = (int64_t)d;
    }
    if (i < lo || i > hi)
        return api_fail(err, 400, key, "'%s' is %lld; it must be in [%lld, %lld]", key, (long long)i, (long long)lo,
                        (long long)hi);
    *out = i;
    return true;
}

bool api_get_bool(const struct json_value *obj, const char *key, bool *out, struct api_error *err)
{
    const struct json_value *v = json_get(obj, key);
    if (json_is_null(v)) return true;
    if (v->type != JSON_BOOL) return api_fail(err, 400, key, "'%s' must be a boolean", key);
    *out = v->b;
    return true;
}

static bool dup_string(const struct json_value *v, char **out, struct api_error *err)
{
    *out = qw_strndup(v->u.str, v->n);
    return *out ? true : nomem(err);
}

/* ---- messages ---- */

static bool parse_role(const struct json_value *v, enum api_role *role, const char *param, struct api_error *err)
{
    const char *s = json_string(v);
    if (!s) return api_fail(err, 400, param, "'%s' must be a string", param);
    if (strcmp(s, "system") == 0 || strcmp(s, "developer") == 0)
        *role = API_ROLE_SYSTEM;
    else if (strcmp(s, "user") == 0)
        *role = API_ROLE_USER;
    else if (strcmp(s, "assistant") == 0)
        *role = API_ROLE_ASSISTANT;
    else if (strcmp(s, "tool") == 0 || strcmp(s, "function") == 0)
        *role = API_ROLE_TOOL;
    else
        return api_fail(err, 400, param, "'%s' is '%.40s'; expected system, developer, user, assistant or tool",
                        param, s);
    return true;
}

/* ---- images ---- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Standard or URL-safe base64, padding optional; any other byte is an error. out has room for n * 3 / 4 + 3. */
static bool b64_decode(const char *in, size_t n, uint8_t *out, size_t *out_n)
{
    while (n > 0 && in[n - 1] == '=') n--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0) return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 6) return false; /* a lone trailing character */
    *out_n = o;
    return true;
}

/* An image_url part: {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}} (or the URL as a
 * plain string). data: URLs are decoded here; http(s) URLs, file:// URLs and absolute paths are recorded for
 * api_fetch_images (api_images.c), which the server runs only where it was enabled. */
static bool parse_image(const struct json_value *part, struct api_request *r, const char *p, struct api_error *err)
{
    const struct json_value *iu = json_get(part, "image_url");
    const struct json_value *url = iu && iu->type == JSON_OBJECT ? json_get(iu, "url") : iu;
    if (!url || url->type != JSON_STRING)
        return api_fail(err, 400, p, "'%s.image_url' must hold a 'url' string", p);
    if (r->n_images == API_MAX_IMAGES)
        return api_fail(err, 400, p, "more than %d images in one request", API_MAX_IMAGES);
    const char *u = url->u.str, *comma = memchr(u, ',', url->n);
    if (api_is_http_url(u) || api_is_file_url(u)) {
        if (strlen(u) != url->n || url->n > 8192)
            return api_fail(err, 400, p, "'%s': the URL is over 8192 bytes or holds a NUL byte", p);
        if (!(r->image_urls[r->n_images] = qw_strndup(u, url->n))) return nomem(err);
        snprintf(r->image_params[r->n_images], sizeof r->image_params[0], "%s", p);
        r->n_images++;
        return true;
    }
    if (url->n < 5 || strncmp(u, "data:", 5) != 0)
        return api_fail(err, 400, p, "'%s': the URL must be data:, http(s)://, file:// or an absolute path", p);
    if (!comma || comma - u < 12 || strncmp(comma - 7, ";base64", 7) != 0)
        return api_fail(err, 400, p, "'%s': the data: URL must be base64-encoded (data:image/png;base64,...)", p);
    size_t n = url->n - (size_t)(comma + 1 - u), n_bytes = 0;
    uint8_t *bytes = qw_malloc(n / 4 * 3 + 3);
    if (!bytes) return nomem(err);
    if (!b64_decode(comma + 1, n, bytes, &n_bytes)) {
        qw_free(bytes);
        return api_fail(err, 400, p, "'%s': the data: URL is not valid base64", p);
    }
    char why[QWGLM_ERR_SIZE];
    qwglm_status st = qwglm_image_decode(bytes, n_bytes, &r->images[r->n_images], why);
    qw_free(bytes);
    if (st == QWGLM_ERR_NOMEM) return nomem(err);
    if (st) return api_fail(err, 400, p, "'%s': %s", p, why);
    r->n_images++;
    return true;
}

/* content: a string, null (an assistant turn with tool calls), or an array of parts. Text parts are joined
 * without separator, as OpenAI renders them; an image part leaves API_IMAGE_PLACEHOLDER at its place and its
 * decoded image in r->images. */
static bool parse_content(const struct json_value *v, char **out, const char *param, struct api_request *r,
                          struct api_error *err)
{
    if (json_is_null(v)) return (*out = qw_strndup("", 0)) ? true : nomem(err);
    if (v->type == JSON_STRING) return dup_string(v, out, err);
    if (v->type != JSON_ARRAY)
        return api_fail(err, 400, param, "'%s' must be a string or an array of content parts", param);
    struct qw_str s = {0};
    char p[64];
    for (uint32_t i = 0; i < v->n; i++) {
        const struct json_value *part = &v->u.items[i];
        snprintf(p, sizeof p, "%s[%u]", param, i);
        const char *type = json_string(json_get(part, "type"));
        if (part->type != JSON_OBJECT || !type) {
            qw_str_free(&s);
            return api_fail(err, 400, p, "'%s' must be an object with a string 'type'", p);
        }
        if (strcmp(type, "text") == 0 || strcmp(type, "input_text") == 0) {
            const struct json_value *t = json_get(part, "text");
            if (!t || t->type != JSON_STRING) {
                qw_str_free(&s);
                return api_fail(err, 400, p, "'%s.text' must be a string", p);
            }
            qw_str_append(&s, t->u.str, t->n);
        } else if (strcmp(type, "image_url") == 0) {
            if (!parse_image(part, r, p, err)) {
                qw_str_free(&s);
                return false;
            }
            qw_str_puts(&s, API_IMAGE_PLACEHOLDER);
        } else if (strcmp(type, "input_audio") == 0) {
            qw_str_free(&s);
            return api_fail(err, 400, p, "'%s' is a %s part; this model takes text and images", p, type);
        } else {
            qw_str_free(&s);
            return api_fail(err, 400, p, "'%s' has unknown type '%.40s'", p, type);
        }
    }
    if (s.failed) {
        qw_str_free(&s);
        return nomem(err);
    }
    if (!s.data) return (*out = qw_strndup("", 0)) ? true : nomem(err);
    *out = qw_str_take(&s);
    return *out ? true : nomem(err);
}

static bool parse_messages(const struct json_value *root, struct api_request *r, struct api_error *err)
{
    const struct json_value *msgs = json_get(root, "messages");
    if (!msgs) return api_fail(err, 400, "messages", "'messages' is required");
    if (msgs->type != JSON_ARRAY) return api_fail(err, 400, "messages", "'messages' must be an array");
    if (msgs->n == 0) return api_fail(err, 400, "messages", "'messages' must not be empty");
    if (msgs->n > API_MAX_MESSAGES)
        return api_fail(err, 400, "messages", "'messages' has %u entries; at most %d", msgs->n, API_MAX_MESSAGES);
    r->messages = qw_calloc(msgs->n, sizeof *r->messages);
    if (!r->messages) return nomem(err);
    char p[32];
    for (uint32_t i = 0; i < msgs->n; i++) {
        const struct json_value *m = &msgs->u.items[i];
        struct api_message *out = &r->messages[i];
        r->n_messages = (int)i + 1;
        snprintf(p, sizeof p, "messages[%u]", i);
        if (m->type != JSON_OBJECT) return api_fail(err, 400, p, "'%s' must be an object", p);
        char pp[48];
        snprintf(pp, sizeof pp, "%s.role", p);
        const struct json_value *role = json_get(m, "role");
        if (!role) return api_fail(err, 400, pp, "'%s' is required", pp);
        if (!parse_role(role, &out->role, pp, err)) return false;
        snprintf(pp, sizeof pp, "%s.content", p);
        const struct json_value *content = json_get(m, "content");
        if (!content && out->role != API_ROLE_ASSISTANT) return api_fail(err, 400, pp, "'%s' is required", pp);
        if (!parse_content(content, &out->content, pp, r, err)) return false;
        const struct json_value *rc = json_get(m, "reasoning_content");
        if (out->role == API_ROLE_ASSISTANT && rc && rc->type == JSON_STRING && rc->n > 0 &&
            !dup_string(rc, &out->reasoning, err))
            return false;
    }
    return true;
}

/* ---- the request ---- */

static bool parse_stop(const struct json_value *root, struct api_request *r, struct api_error *err)
{
    const struct json_value *v = json_get(root, "stop");
    if (json_is_null(v)) return true;
    const struct json_value *items = v;
    uint32_t n = 1;
    if (v->type == JSON_ARRAY) {
        items = v->u.items;
        n = v->n;
    }
    if (n > API_MAX_STOP) return api_fail(err, 400, "stop", "'stop' has %u strings; at most %d", n, API_MAX_STOP);
    for (uint32_t i = 0; i < n; i++) {
        const struct json_value *s = &items[i];
        if (s->type != JSON_STRING)
            return api_fail(err, 400, "stop", "'stop' must be a string or an array of strings");
        if (s->n == 0) continue; /* an empty stop string would end every reply at once */
        if (memchr(s->u.str, 0, s->n))
            return api_fail(err, 400, "stop", "a stop string holds a NUL character (\\u0000)");
        if (s->n > API_MAX_STOP_LEN)
            return api_fail(err, 400, "stop", "a stop string has %u bytes; at most %d", s->n, API_MAX_STOP_LEN);
        if (!dup_string(s, &r->stop[r->n_stop], err)) return false;
        r->n_stop++;
    }
    return true;
}

static bool parse_prompt(const struct json_value *root, struct api_request *r, struct api_error *err)
{
    const struct json_value *v = json_get(root, "prompt");
    if (!v) return api_fail(err, 400, "prompt", "'prompt' is required");
    if (v->type == JSON_ARRAY && v->n == 1) v = &v->u.items[0]; /* ["text"] is one prompt */
    if (v->type != JSON_STRING)
        return api_fail(err, 400, "prompt", "'prompt' must be a string (or an array of one string)");
    return dup_string(v, &r->prompt, err);
}

static bool parse_sampling(const struct json_value *root, struct api_request *r, struct api_error *err)
{
    int64_t i;
    if (!api_get_float(root, "temperature", 0, 2, &r->temperature, err)) return false;
    if (!api_get_float(root, "top_p", 0, 1, &r->top_p, err)) return false;
    if (!api_get_float(root, "min_p", 0, 1, &r->min_p, err)) return false;
    if (!api_get_float(root, "presence_penalty", -2, 2, &r->presence_penalty, err)) return false;
    if (!api_get_float(root, "frequency_penalty", -2, 2, &r->frequency_penalty, err)) return false;
    if (!api_get_float(root, "repetition_penalty", 0.01, 100, &r->repetition_penalty, err)) return false;
    i = -1;
    if (!api_get_int(root, "top_k", -1, 1 << 20, &i, err)) return false;
    r->top_k = (int)i;
    i = -1;
    if (!api_get_int(root, "max_tokens", 1, 1 << 24, &i, err)) return false;
    if (!api_get_int(root, "max_completion_tokens", 1, 1 << 24, &i, err)) return false;
    r->max_tokens = (int)i;
    const struct json_value *seed = json_get(root, "seed");
    if (!json_is_null(seed)) {
        if (!api_get_int(root, "seed", INT64_MIN, INT64_MAX, &i, err)) return false;
        r->has_seed = true;
        r->seed = (uint64_t)i;
    }
    i = 1;
    if (!api_get_int(root, "n", 1, 128, &i, err)) return false;
    if (i != 1) return api_fail(err, 400, "n", "'n' is %lld; only n=1 is supported", (long long)i);
    return true;
}

static bool parse_unsupported(const struct json_value *root, struct api_error *err)
{
    bool b = false;
    if (!api_get_bool(root, "logprobs", &b, err)) return false;
    if (b) return api_fail(err, 400, "logprobs", "'logprobs' is not supported");
    const struct json_value *tools = json_get(root, "tools");
    if (tools && tools->type == JSON_ARRAY && tools->n > 0)
        return api_fail(err, 400, "tools", "tool calling is not supported");
    const struct json_value *rf = json_get(root, "response_format");
    const char *rft = json_string(json_get(rf, "type"));
    if (rft && strcmp(rft, "text") != 0)
        return api_fail(err, 400, "response_format", "response_format '%.40s' is not supported; only 'text'", rft);
    return true;
}

bool api_parse(enum api_kind kind, const char *body, size_t n, struct api_request *r, struct api_error *err)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->temperature = r->top_p = r->min_p = NAN;
    r->presence_penalty = r->frequency_penalty = r->repetition_penalty = NAN;
    r->top_k = r->max_tokens = r->enable_thinking = -1;

    struct json_doc doc;
    struct qw_err e = {0};
    if (json_parse(body, n, &doc, &e))
        return api_fail(err, e.status == QWGLM_ERR_NOMEM ? 500 : 400, NULL, "invalid JSON body: %s", e.msg);
    const struct json_value *root = &doc.root;
    bool ok = false;
    if (root->type != JSON_OBJECT) {
        api_fail(err, 400, NULL, "the request body must be a JSON object, not %s", json_type_name(root->type));
        goto done;
    }
    const struct json_value *model = json_get(root, "model");
    if (!json_is_null(model)) {
        if (model->type != JSON_STRING) {
            api_fail(err, 400, "model", "'model' must be a string");
            goto done;
        }
        if (!dup_string(model, &r->model, err)) goto done;
    }
    if (kind == API_CHAT ? !parse_messages(root, r, err) : !parse_prompt(root, r, err)) goto done;
    if (!parse_sampling(root, r, err) || !parse_stop(root, r, err) || !parse_unsupported(root, err)) goto done;
    if (!api_get_bool(root, "stream", &r->stream, err)) goto done;
    const struct json_value *so = json_get(root, "stream_options");
    if (!json_is_null(so)) {
        if (so->type != JSON_OBJECT) {
            api_fail(err, 400, "stream_options", "'stream_options' must be an object");
            goto done;
        }
        if (!api_get_bool(so, "include_usage", &r->include_usage, err)) goto done;
    }
    const struct json_value *kw = json_get(root, "chat_template_kwargs");
    if (!json_is_null(kw)) {
        if (kw->type != JSON_OBJECT) {
            api_fail(err, 400, "chat_template_kwargs", "'chat_template_kwargs' must be an object");
            goto done;
        }
        bool think = false;
        if (json_get(kw, "enable_thinking")) {
            if (!api_get_bool(kw, "enable_thinking", &think, err)) goto done;
            r->enable_thinking = think;
        }
    }
    ok = true;
done:
    json_doc_free(&doc);
    if (!ok) api_request_free(r);
    return ok;
}

void api_request_free(struct api_request *r)
{
    for (int i = 0; i < r->n_messages; i++) {
        qw_free(r->messages[i].content);
        qw_free(r->messages[i].reasoning);
    }
    qw_free(r->messages);
    qw_free(r->model);
    qw_free(r->prompt);
    for (int i = 0; i < r->n_stop; i++) qw_free(r->stop[i]);
    for (int i = 0; i < r->n_images; i++) {
        qwglm_image_free(r->images[i]);
        qw_free(r->image_urls[i]);
    }
    memset(r, 0, sizeof *r);
    r->top_k = r->max_tokens = r->enable_thinking = -1;
}
