/*
 * An in-process network of raft servers on one libuv loop, for tests,
 * benchmarks and single-process sandboxes.
 *
 * Each attached server has an id, a raft address and an accept function. A
 * server's connector (cs_loopnet_connector) dials by address: the network
 * makes a socketpair, wraps both ends as cs_streams, hands one end to the
 * target's accept function together with the DIALER's id and address (what an
 * authenticated channel would report), and returns the other end with the
 * TARGET's id. Links can be cut (cs_loopnet_partition / cs_loopnet_isolate):
 * streams across a cut link are closed and new connections across it are
 * refused until it is restored.
 *
 * The streams implement src/net/stream.h over a uv_pipe_t: writes are copied
 * and queued, reading starts when callbacks are set, a requested close
 * flushes queued writes first, on_close fires once and the stream's memory
 * is released right after it returns.
 */
#ifndef CS_CONSENSUS_LOOPNET_H
#define CS_CONSENSUS_LOOPNET_H

#include "consensus/transport.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define CS_LOOPNET_MAX_NODES 16

typedef struct cs_loopnet cs_loopnet;

/* Receives an inbound stream (ownership passes) from authenticated peer
 * `peer_id` at `peer_address`. An error refuses the connection; the
 * function must then have closed or discarded the stream. */
typedef consort_err (*cs_loopnet_accept_fn)(void *ctx, cs_stream *stream, uint64_t peer_id,
                                            const char *peer_address);

CS_MUST_CHECK consort_err cs_loopnet_new(uv_loop_t *loop, cs_loopnet **out);

/* Registers server `id` at `address` (re-attaching an id replaces its
 * address and accept function; its cut links stay cut). */
CS_MUST_CHECK consort_err cs_loopnet_attach(cs_loopnet *n, uint64_t id, const char *address,
                                            cs_loopnet_accept_fn accept, void *ctx);
/* Connections to `id` are refused until it is attached again. */
void cs_loopnet_detach(cs_loopnet *n, uint64_t id);

/* The connector that server `id` (attached) uses to dial. */
CS_MUST_CHECK consort_err cs_loopnet_connector(cs_loopnet *n, uint64_t id, cs_raft_connector *out);

/* Cuts (blocked = true) or restores the link between servers a and b. */
void cs_loopnet_partition(cs_loopnet *n, uint64_t a, uint64_t b, bool blocked);
/* Cuts or restores every link of server a. */
void cs_loopnet_isolate(cs_loopnet *n, uint64_t a, bool blocked);

/* Open streams plus connections being set up; run the loop until it is 0
 * before cs_loopnet_free(). */
unsigned cs_loopnet_busy(const cs_loopnet *n);

/* Frees the network; call when cs_loopnet_busy() is 0. NULL is a no-op. */
void cs_loopnet_free(cs_loopnet *n);

#endif
