/* Separates a thinking model's reasoning from its answer in a text stream: "<think>\n...\n</think>\n\nanswer"
 * becomes REASONING "..." and ANSWER "answer", as text arrives in arbitrary pieces.
 *
 * The opening tag counts only before any answer text (leading whitespace aside); a reply that starts inside the
 * reasoning (a prompt that already opened <think>) is set up with start_in_reasoning. As the chat templates do
 * when they read a reply back, newlines right inside the tags and right after </think> are dropped. A partial tag
 * or a run of newlines at the end of a piece is held back until the next piece tells what it is. */
#ifndef QW_THINK_H
#define QW_THINK_H

#include <stdbool.h>
#include <stddef.h>

enum think_kind { THINK_ANSWER = 0, THINK_REASONING = 1 };

/* Receives each separated piece; a nonzero return stops the feed and is passed back. */
typedef int (*think_fn)(int kind, const char *text, size_t len, void *user);

struct think {
    int state;
    char hold[64]; /* held-back bytes: a partial tag, leading whitespace, trailing newlines */
    size_t n_hold;
};

void think_init(struct think *th, bool start_in_reasoning);
int think_feed(struct think *th, const char *text, size_t len, think_fn fn, void *user);
/* Emits what is held back (an unfinished tag is text after all) and resets to the initial state. */
int think_flush(struct think *th, think_fn fn, void *user);
/* Whether the stream is inside the reasoning now. */
bool think_in_reasoning(const struct think *th);

#endif
