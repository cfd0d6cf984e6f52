/*
 * Private to tcp.c and tcp_listen.c: a listener's gate, which counts the
 * connections the listener holds, refuses those over its caps
 * (net.h cs_listener_set_limits, counted by conn_limit.h) and reports
 * refusals and failed accepts in the log without flooding it: the first
 * after a quiet spell at once, then one summary line every
 * CS_LISTEN_LOG_INTERVAL_MS while they go on.
 *
 * Lifetime: the listener holds a reference and so does every connection it
 * admitted, until that connection's socket is closed; the gate is freed
 * with the last one, so a connection may outlive its listener.
 */
#ifndef CS_NET_LISTEN_GATE_H
#define CS_NET_LISTEN_GATE_H

#include "net/conn_limit.h"
#include "net/net.h"

#define CS_LISTEN_LOG_INTERVAL_MS 10000

typedef struct cs_listen_gate cs_listen_gate;

/* A gate without caps for the listener on `address` (named in its log lines). */
CS_MUST_CHECK consort_err cs_listen_gate_new(uv_loop_t *loop, const char *address,
                                             cs_listen_gate **out);
/* The listener closes: logs what is not summarised yet, stops logging and
 * drops the listener's reference. */
void cs_listen_gate_close(cs_listen_gate *g);

void cs_listen_gate_set_limits(cs_listen_gate *g, const cs_conn_limits *limits);
void cs_listen_gate_stats(const cs_listen_gate *g, cs_listener_stats *out);

/*
 * An accepted connection from `peer` ("a.b.c.d:port" in `peer_text`): true
 * if it may stay, counted under *key (the connection then holds a
 * reference: cs_listen_gate_release once its socket is closed); false if it
 * must be closed now (counted and reported as a refusal).
 */
bool cs_listen_gate_admit(cs_listen_gate *g, const struct sockaddr *peer, const char *peer_text,
                          cs_conn_key *key);
/* A connection admitted under `key` has closed its socket. */
void cs_listen_gate_release(cs_listen_gate *g, const cs_conn_key *key);
/* accept() failed with libuv error `uv_err` (counted and reported like refusals). */
void cs_listen_gate_accept_failed(cs_listen_gate *g, int uv_err);

#endif
