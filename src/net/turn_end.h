/*
 * A call at the end of the loop's current round of work: once armed, the
 * callback runs once, after the callbacks of the phase that armed it and
 * before the loop next waits for I/O (a uv_check after the I/O callbacks, a
 * uv_prepare before the wait; whichever comes first). Never inside
 * cs_turn_end_arm. Armed again from inside the callback, it runs again
 * before the loop waits. Used to gather what a turn writes to one connection
 * into one TLS record and one system call (tls_stream.c).
 *
 * Its memory frees itself like a cs_timer: the owner calls cs_turn_end_free
 * and forgets it; an armed call is then dropped.
 */
#ifndef CS_NET_TURN_END_H
#define CS_NET_TURN_END_H

#include "base/err.h"

#include <stdbool.h>
#include <uv.h>

typedef struct cs_turn_end cs_turn_end;
typedef void (*cs_turn_end_cb)(void *ctx);

CS_MUST_CHECK consort_err cs_turn_end_new(uv_loop_t *loop, cs_turn_end_cb cb, void *ctx,
                                          cs_turn_end **out);
/* Arms the call; a no-op while armed. */
void cs_turn_end_arm(cs_turn_end *t);
/* Drops the armed call and releases the memory (asynchronously). NULL: no-op. */
void cs_turn_end_free(cs_turn_end *t);

#endif
