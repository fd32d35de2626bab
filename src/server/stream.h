/* Turns the raw text a model generates, piece by piece, into what the client sees: reasoning (between <think>
 * and </think>) separated from the answer, stop strings cut off, and no UTF-8 sequence split across two
 * chunks. Text that could still become a stop string or a marker is held back until it is decided. */
#ifndef QW_SERVER_STREAM_H
#define QW_SERVER_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "base/str.h"

enum text_kind { TEXT_CONTENT, TEXT_REASONING, TEXT_KIND_COUNT };

typedef void (*text_emit_fn)(enum text_kind kind, const char *text, size_t len, void *user);

struct text_stream {
    char *const *stop; /* not owned */
    int n_stop;
    bool split_think;  /* recognise <think> ... </think> */
    bool in_think;
    bool trim;         /* drop the newlines that follow a marker */
    bool stopped;      /* a stop string matched: everything after it is dropped */
    struct qw_str pending;
    text_emit_fn emit;
    void *user;
};

/* think_open: the reply starts inside a reasoning block (the prompt opened it). */
void text_stream_init(struct text_stream *ts, char *const *stop, int n_stop, bool split_think, bool think_open,
                      text_emit_fn emit, void *user);
/* Feeds one piece. Returns false once a stop string has matched (or memory ran out): generation should end. */
bool text_stream_feed(struct text_stream *ts, const char *p, size_t n);
/* Emits what is still held back (an unfinished marker or stop-string prefix is ordinary text at the end). */
void text_stream_finish(struct text_stream *ts);
void text_stream_free(struct text_stream *ts);

#endif
