#include "text/think.h"

#include <string.h>

#include "base/mem.h"

enum { ST_START, ST_REASONING_START, ST_REASONING, ST_ANSWER_START, ST_ANSWER };

static const char open_tag[] = "<think>", close_tag[] = "</think>";

void think_init(struct think *th, bool start_in_reasoning)
{
    memset(th, 0, sizeof *th);
    th->state = start_in_reasoning ? ST_REASONING_START : ST_START;
}

bool think_in_reasoning(const struct think *th)
{
    return th->state == ST_REASONING_START || th->state == ST_REASONING;
}

static int emit(think_fn fn, void *user, int kind, const char *s, size_t n) { return n ? fn(kind, s, n, user) : 0; }

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* Length of the longest suffix of s[0..n) that is a proper prefix of tag. */
static size_t partial_tag(const char *s, size_t n, const char *tag)
{
    size_t tl = strlen(tag);
    for (size_t k = tl - 1; k > 0; k--)
        if (k <= n && memcmp(s + n - k, tag, k) == 0) return k;
    return 0;
}

/* Feeds one byte-run through the state machine; text is already joined with what was held. */
static int run(struct think *th, const char *s, size_t n, think_fn fn, void *user)
{
    int rc = 0;
    size_t i = 0;
    while (i < n && !rc) {
        switch (th->state) {
        case ST_START: {
            size_t j = i;
            while (j < n && is_space(s[j])) j++;
            size_t avail = n - j, tl = sizeof open_tag - 1;
            if (avail >= tl && memcmp(s + j, open_tag, tl) == 0) {
                th->state = ST_REASONING_START;
                i = j + tl;
            } else if (avail < tl && memcmp(s + j, open_tag, avail) == 0) {
                if (n - i > sizeof th->hold) { /* absurd whitespace run: give up waiting */
                    th->state = ST_ANSWER;
                    continue;
                }
                memcpy(th->hold, s + i, n - i);
                th->n_hold = n - i;
                return 0;
            } else {
                th->state = ST_ANSWER;
            }
            break;
        }
        case ST_REASONING_START:
        case ST_ANSWER_START:
            while (i < n && s[i] == '\n') i++;
            if (i < n) th->state = th->state == ST_REASONING_START ? ST_REASONING : ST_ANSWER;
            break;
        case ST_REASONING: {
            const char *hit = memmem(s + i, n - i, close_tag, sizeof close_tag - 1);
            if (hit) {
                size_t end = (size_t)(hit - s), k = end;
                while (k > i && s[k - 1] == '\n') k--; /* newlines before </think> belong to neither */
                rc = emit(fn, user, THINK_REASONING, s + i, k - i);
                i = end + sizeof close_tag - 1;
                th->state = ST_ANSWER_START;
                break;
            }
            size_t keep = partial_tag(s + i, n - i, close_tag), k = n - keep;
            while (k > i && s[k - 1] == '\n' && n - k < sizeof th->hold) k--;
            rc = emit(fn, user, THINK_REASONING, s + i, k - i);
            memcpy(th->hold, s + k, n - k);
            th->n_hold = n - k;
            return rc;
        }
        default: /* ST_ANSWER */
            rc = emit(fn, user, THINK_ANSWER, s + i, n - i);
            i = n;
            break;
        }
    }
    return rc;
}

int think_feed(struct think *th, const char *text, size_t len, think_fn fn, void *user)
{
    if (!th->n_hold) return run(th, text, len, fn, user);
    /* join the held bytes (at most sizeof hold) with the new text */
    char local[512], *buf = local;
    size_t n = th->n_hold + len;
    if (n > sizeof local && !(buf = qw_malloc(n))) return -1;
    memcpy(buf, th->hold, th->n_hold);
    memcpy(buf + th->n_hold, text, len);
    th->n_hold = 0;
    int rc = run(th, buf, n, fn, user);
    if (buf != local) qw_free(buf);
    return rc;
}

int think_flush(struct think *th, think_fn fn, void *user)
{
    int rc = 0;
    if (th->n_hold) {
        int kind = think_in_reasoning(th) ? THINK_REASONING : THINK_ANSWER;
        size_t n = th->n_hold;
        /* trailing newlines of an unfinished reasoning are dropped like those before </think> */
        if (kind == THINK_REASONING)
            while (n > 0 && th->hold[n - 1] == '\n') n--;
        rc = emit(fn, user, kind, th->hold, n); /* in ST_START: whitespace or a partial "<think>", answer text */
    }
    th->n_hold = 0;
    th->state = ST_START;
    return rc;
}
