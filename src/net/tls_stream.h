/*
 * TLS 1.3 streams: the TLS engine (crypto/tls.h) over any cs_stream,
 * usually TCP. A TLS stream is delivered only once its handshake has
 * completed and the peer's certificate was accepted by the configuration's
 * verify callback; cs_stream_peer_cert then returns that certificate.
 *
 * Closing sends close_notify, then closes the transport (which flushes).
 * The peer's close_notify or end of stream closes the stream with
 * CONSORT_OK; a TLS failure closes it with the engine's error.
 *
 * Note for TLS 1.3 client authentication: a client's handshake completes
 * before the server has judged the client certificate (RFC 8446 §4.4), so
 * a client whose certificate is refused sees its stream connect and then
 * close with the server's alert (CONSORT_E_BAD_CERTIFICATE).
 */
#ifndef CS_NET_TLS_STREAM_H
#define CS_NET_TLS_STREAM_H

#include "crypto/tls.h"
#include "net/net.h"

#define CS_TLS_HANDSHAKE_TIMEOUT_MS 10000

/*
 * Listens on `address` and delivers each connection whose handshake
 * succeeded to on_accept (failed handshakes are logged at debug level and
 * closed). `cfg` must be a server configuration; the listener keeps a reference.
 * on_accept runs from the loop; after cs_listener_close it never runs again
 * (handshakes that finish later are closed).
 */
CS_MUST_CHECK consort_err cs_tls_listen(uv_loop_t *loop, const char *address, cs_tls_config *cfg,
                                        cs_accept_cb on_accept, void *ctx, cs_listener **out);

/*
 * Connects over TCP and runs the handshake; on_connect reports the TLS
 * stream or the failure (connection refused, verification refused, timeout).
 * `cfg` must be a client configuration. on_connect runs later, from the
 * loop (never inside this call); an immediate error (bad address) is
 * returned instead and then no callback follows.
 */
CS_MUST_CHECK consort_err cs_tls_connect(uv_loop_t *loop, const char *address, cs_tls_config *cfg,
                                         cs_connect_cb on_connect, void *ctx);

/*
 * Runs TLS over `inner`, an open stream whose ownership passes to the TLS
 * stream (on failure too: it is closed). on_done(ctx, tls_stream, OK) after
 * the handshake, or on_done(ctx, NULL, error); never from inside this call.
 * `timeout_ms` bounds the handshake (0: CS_TLS_HANDSHAKE_TIMEOUT_MS).
 */
CS_MUST_CHECK consort_err cs_tls_stream_start(uv_loop_t *loop, cs_stream *inner, cs_tls_config *cfg,
                                              uint64_t timeout_ms, cs_connect_cb on_done,
                                              void *ctx);

/* The TLS connection under a TLS stream (for exporters), or NULL if `s` is not one. */
const cs_tls *cs_tls_stream_engine(const cs_stream *s);

#endif
