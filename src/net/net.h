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
