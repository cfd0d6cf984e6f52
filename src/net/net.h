/*
 * What every transport in src/net shares: listeners, the accept and connect
 * callbacks, and addresses. Transports: plain TCP (tcp.h), TLS over TCP
 * (tls_stream.h), attested channels (attested.h); each hands out cs_stream
 * objects (stream.h). docs/net.md explains the model.
 *
 * Callback rule for every transport: set the stream's callbacks
 * (cs_stream_set_cbs) inside the accept / connect / ready callback that
 * delivers it, or close it there. Bytes that arrived before are delivered
 * right after that callback returns.
 */
#ifndef CS_NET_NET_H
#define CS_NET_NET_H

#include "net/stream.h"

#include <sys/socket.h>
#include <uv.h>

/* "255.255.255.255:65535" and "[ffff:...:ffff]:65535" fit. */
#define CS_NET_ADDRESS_MAX 64

/* An accepted stream; the callee owns it from now on (must close it eventually). */
typedef void (*cs_accept_cb)(void *ctx, cs_stream *s);
/*
 * A connected stream (err == CONSORT_OK, msg "", caller owns `s`), or why it
 * failed (s == NULL): `err` and its message `msg` (never NULL, valid during
 * the call only). The thread-local message is not set for the callback.
 */
typedef void (*cs_connect_cb)(void *ctx, cs_stream *s, consort_err err, const char *msg);

/* A listening socket. */
typedef struct cs_listener cs_listener;

/* The bound port (useful after listening on port 0). */
uint16_t cs_listener_port(const cs_listener *l);
/* "127.0.0.1:43125": the bound address. */
const char *cs_listener_address(const cs_listener *l);
/*
 * Caps on the connections a listener holds at once (docs/net.md
 * "Connection limits"): a connection over a cap is closed right after
 * accept, before any byte is read or a TLS handshake starts, and is never
 * delivered. A connection counts from accept until its socket is closed
 * (TLS handshake, use and lingering close included), so the caps bound the
 * descriptors a listener's clients hold. Client addresses are counted as
 * conn_limit.h says (an IPv4 address, an IPv6 /64).
 */
typedef struct cs_conn_limits {
    size_t max_total;       /* 0: no cap */
    size_t max_per_address; /* 0: no cap */
} cs_conn_limits;

/* What a listener counted since it started listening. */
typedef struct cs_listener_stats {
    uint64_t open;            /* connections accepted and not yet closed */
    uint64_t accepted;        /* connections admitted */
    uint64_t refused_address; /* closed at accept: the client address was at its cap */
    uint64_t refused_total;   /* closed at accept: the listener was at its total cap */
    uint64_t accept_errors;   /* accept() failures (EMFILE, ENFILE, ...) */
    cs_conn_limits limits;
} cs_listener_stats;

/*
 * Sets the caps of any listener (TCP, TLS, attested: they share it), best
 * right after listening. Refusals and failed accepts are logged at warn
 * level: the first after a quiet spell at once, then one summary line
 * every 10 s while they go on; never a line per connection.
 */
void cs_listener_set_limits(cs_listener *l, const cs_conn_limits *limits);
void cs_listener_stats_get(const cs_listener *l, cs_listener_stats *out);

/*
 * Stops accepting; the listener's memory is released asynchronously (on the
 * loop). Streams already accepted are not affected; connections still in a
 * TLS handshake or attestation are closed without being delivered.
 * cs_listener_close(NULL) is a no-op.
 */
void cs_listener_close(cs_listener *l);

/*
 * Parses "host:port" where host is a numeric IPv4 address, "[IPv6]" or
 * "localhost" (127.0.0.1), and port is 0..65535. No name resolution.
 */
CS_MUST_CHECK consort_err cs_net_parse_address(const char *address, struct sockaddr_storage *out);
/* Formats a socket address as "a.b.c.d:port" / "[v6]:port" into out[CS_NET_ADDRESS_MAX]. */
void cs_net_format_address(const struct sockaddr *sa, char out[CS_NET_ADDRESS_MAX]);
/* A libuv error as a consort error: "<what>: <uv message> (<uv name>)". */
consort_err cs_net_uv_fail(int uv_err, const char *fmt, ...) CS_PRINTF(2, 3);

#endif
