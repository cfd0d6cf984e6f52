/*
 * Calls deferred to the loop: the one way consort code runs a completion
 * "later" instead of inside the call that registered it (STYLE.md rule 10).
 * A queue runs its calls in the order they were made, each once, on a later
 * iteration of the loop (never inside cs_defer_call).
 *
 * The queue's memory frees itself like a cs_timer: its owner calls
 * cs_defer_free and forgets it; calls still queued then are dropped (their
 * owner, which is going away, answers for them).
 */
#ifndef CS_NET_DEFER_H
#define CS_NET_DEFER_H

#include "base/err.h"

#include <stdbool.h>
#include <uv.h>

typedef struct cs_defer cs_defer;
typedef void (*cs_defer_fn)(void *ctx);

/* One queued call; embed it in the object the call is about (no allocation
 * per call). It must not be queued twice at once, and must stay valid until
 * it ran or the queue was freed. */
typedef struct cs_defer_item {
    struct cs_defer_item *next;
    cs_defer_fn fn;
    void *ctx;
    bool queued;
} cs_defer_item;

CS_MUST_CHECK consort_err cs_defer_new(uv_loop_t *loop, cs_defer **out);
/* Queues fn(ctx) through `item`; a no-op if `item` is already queued. */
void cs_defer_call(cs_defer *q, cs_defer_item *item, cs_defer_fn fn, void *ctx);
/* Removes `item` if it is queued (its call will not run). */
void cs_defer_cancel(cs_defer *q, cs_defer_item *item);
/* Runs every queued call now, in order, including calls they queue (for an
 * owner that must answer for them before it goes away). */
void cs_defer_flush(cs_defer *q);
/* Drops what is queued and releases the queue (asynchronously). NULL: no-op. */
void cs_defer_free(cs_defer *q);

#endif
