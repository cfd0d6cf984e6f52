/*
 * One raft connection bridged to a consort stream (private to the transport).
 *
 *      raft  <-- uv_pipe_t -->  socketpair  <-- pump (uv_pipe_t) -->  cs_stream  <--> peer
 *
 * libraft wants a uv_stream_t it can read and write; the peer is reached
 * through a cs_stream (TLS, attested channel). A bridge owns the stream and
 * our end of a socketpair, and copies bytes both ways:
 *   - raft -> peer: bytes read from the pump are written to the stream. While
 *     the stream's write queue holds more than high_water bytes the pump stops
 *     reading (raft's writes then queue in libuv and the kernel), and resumes
 *     at low_water (polled after each loop iteration while paused).
 *   - peer -> raft (inbound connections only): stream data is checked by the
 *     wire validator (raft_wire.h: a message over a limit or malformed closes
 *     the connection before raft reads a byte of it), then written to the
 *     pump. While more than high_water bytes wait for raft to read them, the
 *     stream is paused (cs_stream_pause: the peer's bytes wait in the kernel
 *     and in the peer, whose raft then waits too); it resumes once raft has
 *     read all but low_water of them (an event: the pump's write callback).
 *     So a raft that reads slowly (a follower installing a snapshot, or
 *     receiving a long log tail after a pause) is never disconnected for it,
 *     and the bytes held for it stay below high_water plus one delivery.
 *     Data arriving on an OUTBOUND connection is a protocol violation
 *     (raft's receiver never answers on it) and closes it.
 * Whichever side closes first, the bridge closes the other: a closed stream
 * closes our socket end, so raft sees EOF or a failed write and reconnects;
 * raft closing its end closes the stream (queued writes are flushed first).
 */
#ifndef CS_CONSENSUS_BRIDGE_H
#define CS_CONSENSUS_BRIDGE_H

#include "consensus/raft_wire.h"
#include "net/stream.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct cs_raft_bridge cs_raft_bridge;

/* Shared by every bridge of one transport; outlives them. */
typedef struct cs_raft_bridge_cfg {
    uv_loop_t *loop;
    size_t high_water;
    size_t low_water;
    const cs_raft_wire_limits *wire; /* inbound messages */
    uint8_t *scratch;                /* read buffer shared by all pumps (one loop thread) */
    size_t scratch_len;
    cs_raft_bridge **list; /* the owner's list; a bridge is on it while alive */
    /* Called after a bridge finished closing and left the list. */
    void (*done)(void *ctx);
    void *done_ctx;
    /* Counters (owned by the transport). */
    uint64_t *bytes_to_peers;
    uint64_t *bytes_from_peers;
    uint64_t *pauses;         /* raft -> peer paused for the stream's write queue */
    uint64_t *inbound_pauses; /* peer -> raft paused for raft's backlog */
    uint64_t *wire_refused;   /* inbound connections closed by the wire validator */
} cs_raft_bridge_cfg;

struct cs_raft_bridge {
    const cs_raft_bridge_cfg *cfg;
    cs_stream *stream; /* NULL once its on_close has fired */
    uv_pipe_t pump;    /* our end of the socketpair */
    uv_check_t resume; /* active only while paused */
    uint64_t peer_id;
    bool inbound;
    bool paused;    /* raft -> peer: the pump is not read */
    bool in_paused; /* peer -> raft: the stream is paused */
    bool closing;
    unsigned open_handles; /* pump and resume until their close callbacks ran */
    cs_raft_wire wire;     /* inbound: where the peer's stream is in raft's wire format */
    cs_raft_bridge *prev, *next;
};

/*
 * Bridges `stream` (ownership taken in every case; on failure it is closed).
 * On success *raft_end is a uv_pipe_t allocated with raft_malloc() and opened
 * on our socketpair: the caller hands it to raft, which uv_close()s and
 * raft_free()s it. The bridge is on cfg->list until it has fully closed.
 */
CS_MUST_CHECK consort_err cs_raft_bridge_new(const cs_raft_bridge_cfg *cfg, cs_stream *stream,
                                             bool inbound, uint64_t peer_id, uv_stream_t **raft_end,
                                             cs_raft_bridge **out);

/* Starts closing both sides; idempotent. The bridge frees itself later. */
void cs_raft_bridge_close(cs_raft_bridge *b);

/* Closes a stream nobody will use, after detaching its callbacks from any
 * previous owner. */
void cs_raft_stream_discard(cs_stream *stream);

#endif
