/*
 * A one-shot timer on a libuv loop whose memory frees itself: the owner
 * calls cs_timer_free and forgets it; the handle is closed and released on
 * the loop. Used for handshake, hello and idle timeouts.
 */
#ifndef CS_NET_TIMER_H
#define CS_NET_TIMER_H

#include "base/err.h"

#include <stdint.h>
#include <uv.h>

typedef struct cs_timer cs_timer;
typedef void (*cs_timer_cb)(void *ctx);

CS_MUST_CHECK consort_err cs_timer_new(uv_loop_t *loop, cs_timer_cb cb, void *ctx, cs_timer **out);
/* (Re)arms the timer to fire once, `ms` milliseconds from now. */
void cs_timer_start(cs_timer *t, uint64_t ms);
void cs_timer_stop(cs_timer *t);
/* Stops it; the callback will not run again. cs_timer_free(NULL) is a no-op. */
void cs_timer_free(cs_timer *t);

#endif
