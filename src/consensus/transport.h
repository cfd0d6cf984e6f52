/*
 * Raft's network transport over consort streams.
 *
 * libraft's uv I/O (raft_uv_init) moves its RPCs over whatever a
 * struct raft_uv_transport hands it: one connected uv_stream_t per direction
 * and peer. cs_raft_transport implements that interface on top of an injected
 * CONNECTOR, which opens authenticated streams (in consort: attested TLS
 * channels, src/net), and of inbound streams the node has already
 * authenticated and hands over with cs_raft_transport_accept().
 *
 * Raft never sees a peer the connector did not authenticate
 * (DESIGN.md "Raft over attested channels"):
 *   - an outbound stream is handed to raft only if the connector reports the
 *     very raft id raft asked to reach; any other id is refused and logged;
 *   - an inbound stream is handed to raft with the id and address that the
 *     authenticating layer reports, never with anything read from the stream.
 *
 * Each connection is bridged (bridge.h): a socketpair whose one end, wrapped
 * in a uv_pipe_t, is what raft reads and writes; the other end is pumped to
 * and from the cs_stream. When the stream closes, raft's end is closed too and
 * raft reconnects through the connector.
 *
 * Writes on a closed socket raise SIGPIPE; creating a transport sets SIGPIPE
 * to SIG_IGN if it still has the default disposition (libuv writes with
 * write(2), so a process that runs raft must ignore SIGPIPE).
 *
 * Everything runs on the loop's thread. Like uv_close, raft's close() calls
 * nothing back from inside: connects still in the connector's hands hear
 * RAFT_CANCELED from a loop callback, then the close callback runs (once
 * every bridge has closed); a connector answering afterwards is ignored.
 */
#ifndef CS_CONSENSUS_TRANSPORT_H
#define CS_CONSENSUS_TRANSPORT_H

#include "consensus/raft_wire.h"
#include "net/stream.h"

#include <stdint.h>
#include <uv.h>

struct raft_uv_transport;

/*
 * Outcome of one outbound connection attempt. On CONSORT_OK `stream` is an
 * open stream whose peer the connector authenticated as raft server
 * `peer_id`, and its ownership passes to the callee (msg ""); otherwise
 * `stream` is NULL and `msg` says why (never NULL, valid during the call
 * only; the thread-local message is not part of this contract).
 */
typedef void (*cs_raft_connect_cb)(void *arg, consort_err status, const char *msg,
                                   cs_stream *stream, uint64_t peer_id);

typedef struct cs_raft_connector {
    void *ctx;
    /*
     * Starts opening an authenticated stream to raft server `id` at
     * `address`. On CONSORT_OK, cb(arg, ...) is called exactly once, later
     * from the loop (never from inside connect()); on an error nothing is
     * called. `address` is only borrowed for the call.
     */
    consort_err (*connect)(void *ctx, uint64_t id, const char *address, cs_raft_connect_cb cb,
                           void *arg);
    /* Optional: asks that the attempt made with `arg` finish soon; its
     * callback is still called exactly once. */
    void (*cancel)(void *ctx, void *arg);
} cs_raft_connector;

/* Limits of one transport; zero fields take the defaults below. */
typedef struct cs_raft_transport_limits {
    /* Both directions (bridge.h): stop reading raft's messages for a peer
     * while more than this many bytes wait in that stream's write queue, and
     * pause a peer's stream while more than this many of its bytes wait for
     * raft to read them ... */
    size_t high_water; /* default 4 MiB */
    /* ... and resume once it is down to this many. */
    size_t low_water; /* default 1 MiB */
    /* What a peer's messages may announce (raft_wire.h; zero fields: the
     * CS_RAFT_WIRE_* defaults). A message beyond closes the connection. */
    cs_raft_wire_limits wire;
    /* Connections (both directions) at once; further ones are refused. */
    unsigned max_connections; /* default 256 */
} cs_raft_transport_limits;

typedef struct cs_raft_transport cs_raft_transport;

/* Counters, for tests and metrics. */
typedef struct cs_raft_transport_stats {
    unsigned connections;      /* open bridges now */
    uint64_t accepted;         /* inbound streams handed to raft */
    uint64_t connected;        /* outbound streams handed to raft */
    uint64_t refused;          /* streams refused (identity, limits, state) */
    uint64_t bytes_to_peers;   /* raft bytes written to streams */
    uint64_t bytes_from_peers; /* stream bytes written to raft */
    uint64_t pauses;           /* times a stream's write queue paused raft's output */
    uint64_t inbound_pauses;   /* times raft's backlog paused a peer's stream */
    uint64_t wire_refused;     /* connections closed for a message raft_wire.h refused */
    uint64_t raft_unread;      /* bytes raft has written that wait to be read from it now */
} cs_raft_transport_stats;

/*
 * Creates a transport on `loop` using `connector` (copied; its ctx must
 * outlive the transport and any connect attempt still running). `limits` may
 * be NULL. Give cs_raft_transport_raft() to raft_uv_init(); raft then calls
 * init/listen/connect/close on it.
 */
CS_MUST_CHECK consort_err cs_raft_transport_new(uv_loop_t *loop, const cs_raft_connector *connector,
                                                const cs_raft_transport_limits *limits,
                                                cs_raft_transport **out);

/* The struct raft_uv_transport to pass to raft_uv_init() (its `data` field
 * belongs to raft_uv). */
struct raft_uv_transport *cs_raft_transport_raft(cs_raft_transport *t);

/*
 * Hands an inbound stream, authenticated as raft server `peer_id` whose raft
 * address is `peer_address`, to raft. Takes ownership of `stream` in every
 * case: on failure (not listening yet or closing, id 0 or our own id, bad
 * address, connection limit) the stream is closed and the error returned.
 */
CS_MUST_CHECK consort_err cs_raft_transport_accept(cs_raft_transport *t, cs_stream *stream,
                                                   uint64_t peer_id, const char *peer_address);

/* Closes every connection to and from raft server `peer_id` (for example a
 * node governance just retired). Raft may reconnect through the connector,
 * which is where a retired peer must be refused. */
void cs_raft_transport_drop_peer(cs_raft_transport *t, uint64_t peer_id);

void cs_raft_transport_stats_get(const cs_raft_transport *t, cs_raft_transport_stats *out);

/* The transport's connections with one raft peer now (for diagnostics). */
typedef struct cs_raft_transport_peer {
    unsigned outbound;   /* bridges raft dialled (its messages to the peer) */
    unsigned inbound;    /* bridges the peer dialled (its messages to raft) */
    unsigned connecting; /* connects raft asked for, not called back yet */
} cs_raft_transport_peer;

void cs_raft_transport_peer_get(const cs_raft_transport *t, uint64_t peer_id,
                                cs_raft_transport_peer *out);

/*
 * Releases the transport. Allowed only before raft_init() used it, or after
 * raft closed it (raft_close()'s callback fired). NULL is a no-op.
 */
void cs_raft_transport_free(cs_raft_transport *t);

#endif
