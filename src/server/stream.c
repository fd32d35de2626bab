#include "stream.h"

#include <string.h>

#include "base/utf8.h"

#define THINK_OPEN "<think>"
#define THINK_CLOSE "</think>"

void text_stream_init(struct text_stream *ts, char *const *stop, int n_stop, bool split_think, bool think_open,
                      text_emit_fn emit, void *user)
{
    memset(ts, 0, sizeof *ts);
    ts->stop = stop;
    ts->n_stop = n_stop;
    ts->split_think = split_think;
    ts->in_think = split_think && think_open;
    ts->trim = ts->in_think;
    ts->pending.max = 1u << 20;
    ts->emit = emit;
    ts->user = user;
}

void text_stream_free(struct text_stream *ts) { qw_str_free(&ts->pending); }

static void emit(struct text_stream *ts, const char *p, size_t n)
{
    if (ts->trim) {
        while (n > 0 && (*p == '\n' || *p == '\r')) {
            p++;
            n--;
        }
        if (n == 0) return;
        ts->trim = false;
    }
    ts->emit(ts->in_think ? TEXT_REASONING : TEXT_CONTENT, p, n, ts->user);
}

static const char *find(const char *h, size_t hn, const char *needle)
{
    size_t nn = strlen(needle);
    if (nn == 0 || nn > hn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == needle[0] && memcmp(h + i, needle, nn) == 0) return h + i;
    return NULL;
}

/* Length of the longest suffix of h[0..n) that is a proper prefix of needle. */
static size_t partial(const char *h, size_t n, const char *needle)
{
    size_t nn = strlen(needle);
    if (nn == 0) return 0;
    size_t k = nn - 1 < n ? nn - 1 : n;
    for (; k > 0; k--)
        if (memcmp(h + n - k, needle, k) == 0) return k;
    return 0;
}

/* Bytes at the end of h[0..n) that begin a UTF-8 sequence still missing its continuation bytes. */
static size_t utf8_tail(const char *h, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)h[n - k];
        if ((c & 0xc0) == 0x80) continue; /* continuation: look further back */
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

/* Handles the earliest stop string or marker in the pending text; false when there is none. */
static bool take_match(struct text_stream *ts)
{
    const char *p = ts->pending.data;
    size_t n = ts->pending.len;
    const char *best = NULL;
    size_t best_len = 0;
    int best_kind = 0; /* 1 stop, 2 open, 3 close */
    for (int i = 0; i < ts->n_stop; i++) {
        const char *m = find(p, n, ts->stop[i]);
        if (m && (!best || m < best)) {
            best = m;
            best_len = strlen(ts->stop[i]);
            best_kind = 1;
        }
    }
    if (ts->split_think) {
        const char *marker = ts->in_think ? THINK_CLOSE : THINK_OPEN;
        const char *m = find(p, n, marker);
        if (m && (!best || m < best)) {
            best = m;
            best_len = strlen(marker);
            best_kind = ts->in_think ? 3 : 2;
        }
    }
    if (!best) return false;
    size_t at = (size_t)(best - p);
    if (at > 0) emit(ts, p, at);
    if (best_kind == 1) {
        ts->stopped = true;
        qw_str_clear(&ts->pending);
        return true;
    }
    ts->in_think = best_kind == 2;
    ts->trim = true;
    size_t rest = n - at - best_len;
    memmove(ts->pending.data, p + at + best_len, rest);
    ts->pending.len = rest;
    ts->pending.data[rest] = 0;
    return true;
}

bool text_stream_feed(struct text_stream *ts, const char *p, size_t n)
{
    if (ts->stopped) return false;
    if (!qw_str_append(&ts->pending, p, n)) {
        ts->stopped = true;
        return false;
    }
    while (ts->pending.len > 0 && take_match(ts))
        if (ts->stopped) return false;
    size_t len = ts->pending.len, hold = 0;
    if (len == 0) return true;
    for (int i = 0; i < ts->n_stop; i++) {
        size_t k = partial(ts->pending.data, len, ts->stop[i]);
        if (k > hold) hold = k;
    }
    if (ts->split_think) {
        size_t k = partial(ts->pending.data, len, ts->in_think ? THINK_CLOSE : THINK_OPEN);
        if (k > hold) hold = k;
    }
    size_t t = utf8_tail(ts->pending.data, len - hold);
    hold += t;
    if (hold < len) {
        emit(ts, ts->pending.data, len - hold);
        memmove(ts->pending.data, ts->pending.data + len - hold, hold);
        ts->pending.len = hold;
        ts->pending.data[hold] = 0;
    }
    return true;
}

void text_stream_finish(struct text_stream *ts)
{
    if (!ts->stopped && ts->pending.len > 0) emit(ts, ts->pending.data, ts->pending.len);
    qw_str_clear(&ts->pending);
}
