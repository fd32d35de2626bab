/* Model references and the names that come from the Hub: everything here is checked before it reaches a path
 * or a URL. */
#include <string.h>

#include "base/utf8.h"
#include "hub.h"

static bool repo_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* One half of ORG/NAME, as the Hub accepts it: [A-Za-z0-9._-]+, not starting or ending with '-' or '.', no
 * "--" (the cache uses it as the separator) and no "..". */
static bool repo_part_ok(const char *s, size_t n)
{
    if (n == 0 || s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        if (!repo_char(s[i])) return false;
        if (i > 0 && ((s[i] == '-' && s[i - 1] == '-') || (s[i] == '.' && s[i - 1] == '.'))) return false;
    }
    return true;
}

bool hub_hex_ok(const char *s, size_t n)
{
    if (strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

bool hub_rev_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HUB_REV_MAX || s[0] == '/' || s[n - 1] == '/' || strstr(s, "..") || strstr(s, "//"))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '~' || c == '^' || c == ':' || c == '?' || c == '*' ||
            c == '[' || c == '@' || c == '%' || c == '#')
            return false;
    }
    /* every component must be a plain name: no "." (refs/REV must stay inside refs/) */
    const char *p = s;
    while (*p) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 1 && p[0] == '.') return false;
        p += len + (q ? 1 : 0);
    }
    return true;
}

bool hub_name_ok(const char *name, size_t n)
{
    if (n == 0 || n > HUB_NAME_MAX || strlen(name) != n || name[0] == '/') return false;
    size_t comp = 0; /* start of the current component */
    for (size_t i = 0; i <= n; i++) {
        if (i == n || name[i] == '/') {
            size_t len = i - comp;
            if (len == 0) return false;
            if (len == 1 && name[comp] == '.') return false;
            if (len == 2 && name[comp] == '.' && name[comp + 1] == '.') return false;
            comp = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '\\') return false;
        if (c >= 0x80) {
            uint32_t cp;
            size_t k = utf8_decode(name + i, n - i, &cp);
            if (k == 0) return false;
            i += k - 1;
        }
    }
    return true;
}

qwglm_status hub_ref_parse(const char *s, struct hub_ref *r, struct qw_err *e)
{
    memset(r, 0, sizeof *r);
    const char *at = strchr(s, '@');
    size_t repo_len = at ? (size_t)(at - s) : strlen(s);
    const char *slash = memchr(s, '/', repo_len);
    if (!slash || memchr(slash + 1, '/', repo_len - (size_t)(slash - s) - 1))
        return qw_fail(e, QWGLM_ERR_ARG, "'%s': a Hub model is named ORG/NAME or ORG/NAME@REVISION", s);
    size_t org_len = (size_t)(slash - s), name_len = repo_len - org_len - 1;
    if (repo_len > HUB_REPO_MAX || !repo_part_ok(s, org_len) || !repo_part_ok(slash + 1, name_len))
        return qw_fail(
            e, QWGLM_ERR_ARG,
            "'%.*s': not a valid repository id (letters, digits, '-', '_', '.'; at most %d characters)",
            (int)(repo_len < 200 ? repo_len : 200), s, HUB_REPO_MAX);
    memcpy(r->repo, s, repo_len);
    const char *rev = at ? at + 1 : "main";
    if (!hub_rev_ok(rev))
        return qw_fail(e, QWGLM_ERR_ARG, "'%.200s': not a valid revision (a branch, tag or commit)", rev);
    strcpy(r->revision, rev);
    return QWGLM_OK;
}

int qwglm_hub_is_ref(const char *s)
{
    struct hub_ref r;
    return s && hub_ref_parse(s, &r, NULL) == QWGLM_OK;
}
