/* Private to tcp.c and tcp_listen.c: the TCP stream object. */
#ifndef CS_NET_TCP_PRIV_H
#define CS_NET_TCP_PRIV_H

#include "net/listen_gate.h"
#include "net/tcp.h"

typedef struct cs_tcp_stream cs_tcp_stream;

/*
 * A new, unconnected stream whose handles are initialised on `loop`
 * (memory owned by the stream; released by cs_tcp_stream_discard or, once
 * delivered, after on_close).
 */
CS_MUST_CHECK consort_err cs_tcp_stream_new(uv_loop_t *loop, cs_tcp_stream **out);
/* Its TCP handle, for accept / connect. */
uv_tcp_t *cs_tcp_stream_handle(cs_tcp_stream *s);
/* Connection established: records the peer address (also into *peer unless
 * NULL; AF_UNSPEC if unknown) and sets the socket options. */
void cs_tcp_stream_connected(cs_tcp_stream *s, struct sockaddr_storage *peer);
/* The stream counts in `gate` under `key` until its socket is closed
 * (cs_listen_gate_admit took the reference the stream now holds). */
void cs_tcp_stream_hold(cs_tcp_stream *s, cs_listen_gate *gate, const cs_conn_key *key);
cs_stream *cs_tcp_stream_base(cs_tcp_stream *s);
/* Closes a stream that was never delivered to a user (no on_close). */
void cs_tcp_stream_discard(cs_tcp_stream *s);
/* The connect request embedded in the stream. */
uv_connect_t *cs_tcp_stream_connect_req(cs_tcp_stream *s);
cs_tcp_stream *cs_tcp_stream_from_connect_req(uv_connect_t *req);

#endif
