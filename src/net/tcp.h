/*
 * Plain TCP streams on a libuv loop (stream.h): listen, connect.
 *
 * A TCP stream sets TCP_NODELAY and keep-alive. Writes are copied; a write
 * the kernel takes at once is not copied at all. cs_stream_write_queue_len
 * is the number of bytes written but not yet handed to the kernel: callers
 * that produce much data stop while it is large (back-pressure). Writes
 * beyond CS_TCP_WRITE_QUEUE_MAX queued bytes fail with CONSORT_E_BUSY.
 *
 * Closing (cs_stream_close, or the peer's end of stream) flushes queued
 * writes (for at most CS_TCP_FLUSH_TIMEOUT_MS: a peer that stops reading
 * cannot hold the connection open), sends FIN, then drains and discards
 * input for a short while so the kernel does not reset a connection whose
 * last response the peer has not yet read (a "lingering close"); after
 * CS_TCP_LINGER_MS the socket is closed regardless. A read or write error
 * closes at once; on_close then carries CONSORT_E_IO with the system's
 * reason.
 */
#ifndef CS_NET_TCP_H
#define CS_NET_TCP_H

#include "net/net.h"

#define CS_TCP_WRITE_QUEUE_MAX  ((size_t)256 << 20)
#define CS_TCP_LINGER_MS        2000
#define CS_TCP_FLUSH_TIMEOUT_MS 30000
/* The accept queue: deep enough that a flood of connections the node refuses
 * at once (over a per-address or total cap) does not crowd out, in the
 * kernel, the connections of clients under their caps (4096: the kernel's
 * default net.core.somaxconn, which also bounds it). */
#define CS_TCP_BACKLOG 4096

/*
 * Listens on `address` ("127.0.0.1:0" picks a free port; see
 * cs_listener_port). Each accepted connection is handed to on_accept(ctx, s).
 * Errors: CONSORT_E_INVALID_ARGUMENT (address), CONSORT_E_IO (bind/listen,
 * e.g. the port is taken).
 */
CS_MUST_CHECK consort_err cs_tcp_listen(uv_loop_t *loop, const char *address,
                                        cs_accept_cb on_accept, void *ctx, cs_listener **out);

/*
 * Connects to `address`; on_connect(ctx, stream, CONSORT_OK) or
 * on_connect(ctx, NULL, error) follows on the loop (never from inside this
 * call). An immediate error (bad address) is returned instead and no
 * callback follows.
 */
CS_MUST_CHECK consort_err cs_tcp_connect(uv_loop_t *loop, const char *address,
                                         cs_connect_cb on_connect, void *ctx);

/*
 * Listener used by the layered transports (TLS, attested): like
 * cs_tcp_listen, and `ctx_free(ctx)` runs inside cs_listener_close (the
 * listener accepts nothing afterwards and never uses ctx again; ctx_free may
 * be NULL).
 */
CS_MUST_CHECK consort_err cs_tcp_listen_owned(uv_loop_t *loop, const char *address,
                                              cs_accept_cb on_accept, void *ctx,
                                              void (*ctx_free)(void *ctx), cs_listener **out);

#endif
