/*
 * An HTTP/1.1 server over cs_stream connections (any transport: hand it
 * the streams a TCP, TLS or attested listener accepts).
 *
 * One callback receives every request; routing is the caller's. The
 * handler answers with cs_http_respond, at once or later (after a commit,
 * say): the request stays valid until then. Requests on one connection
 * may be pipelined (RFC 9112 §9.3.2); responses are always written in
 * request order, whatever order the handlers answer in. At most
 * `max_pipeline` requests per connection are with handlers at a time;
 * further bytes wait unparsed.
 *
 * Failures: a request whose header section is too large gets 431, a body
 * too large 413, a malformed request 400, each with a JSON body
 * {"error": {"code", "message"}} and "Connection: close"; the connection
 * closes after that response (and after the responses owed before it).
 * "Connection: close" from the client, or HTTP/1.0 without keep-alive,
 * ends the connection after its response.
 *
 * Deadlines (so that a client sending a byte now and then cannot hold a
 * connection): a request's header section must be complete within
 * `header_timeout_ms` of its first byte, and the whole request within
 * `request_timeout_ms`; a request late for either is answered 408
 * (RFC 9110 §15.5.9) and the connection closes. A connection waiting for a
 * request's first byte with nothing outstanding is closed after
 * `idle_timeout_ms` (a new connection: after header_timeout_ms if that is
 * shorter, as it is expected to send its request at once). Bytes received
 * never restart a deadline: they start the next request's. While handlers
 * work on a connection's requests, nothing times out.
 */
#ifndef CS_NET_HTTP_SERVER_H
#define CS_NET_HTTP_SERVER_H

#include "net/http.h"
#include "net/net.h"

#define CS_HTTP_DEFAULT_IDLE_TIMEOUT_MS    60000
#define CS_HTTP_DEFAULT_HEADER_TIMEOUT_MS  10000
#define CS_HTTP_DEFAULT_REQUEST_TIMEOUT_MS 30000
#define CS_HTTP_DEFAULT_MAX_PIPELINE       64
/* Requests are dispatched to the handler until they have used this much of
 * one turn of the loop; the connections with more wait for the next turn
 * (reading paused meanwhile), so that no burst of ready requests holds the
 * loop, and with it timers and every other connection, for longer (a node's
 * 32 clients of 256-key writes each did for up to 150 ms). Every turn
 * dispatches at least one request, so the connections left waiting, first
 * come first served, always progress. */
#define CS_HTTP_TURN_BUDGET_MS 20
/* Answers waiting to be sent on one connection above which it takes no
 * more requests (and stops reading) until the client has read them all: a
 * client that pipelines requests and never reads the answers holds at most
 * this much plus one answer, not the stream's whole queue. */
#define CS_HTTP_OUTPUT_HIGH_WATER ((size_t)256 << 10)

typedef struct cs_http_server cs_http_server;

/* Receives each request; answer it with cs_http_respond (exactly once). */
typedef void (*cs_http_handler)(void *ctx, cs_http_request *req);

typedef struct cs_http_server_params {
    cs_http_limits limits;       /* zero fields: the defaults in http.h */
    uint64_t idle_timeout_ms;    /* 0: CS_HTTP_DEFAULT_IDLE_TIMEOUT_MS */
    uint64_t header_timeout_ms;  /* 0: CS_HTTP_DEFAULT_HEADER_TIMEOUT_MS */
    uint64_t request_timeout_ms; /* 0: CS_HTTP_DEFAULT_REQUEST_TIMEOUT_MS */
    size_t max_pipeline;         /* 0: CS_HTTP_DEFAULT_MAX_PIPELINE */
    cs_http_handler on_request;
    void *ctx;
} cs_http_server_params;

CS_MUST_CHECK consort_err cs_http_server_new(uv_loop_t *loop, const cs_http_server_params *params,
                                             cs_http_server **out);
/*
 * Closes every connection and frees the server. Requests still with
 * handlers stay valid and must still be answered (the answer is dropped).
 * cs_http_server_free(NULL) is a no-op.
 */
void cs_http_server_free(cs_http_server *srv);

/* Serves HTTP on `s` (the server owns it from now on). */
void cs_http_server_attach(cs_http_server *srv, cs_stream *s);
/* A cs_accept_cb: pass it with the server as ctx to any listener. */
void cs_http_server_accept_cb(void *srv, cs_stream *s);
/* Open connections. */
size_t cs_http_server_connection_count(const cs_http_server *srv);

/* Connections the server ended because a deadline passed, since it started. */
typedef struct cs_http_server_stats {
    uint64_t header_timeouts;  /* header section late: 408 */
    uint64_t request_timeouts; /* request (body) late: 408 */
    uint64_t idle_timeouts;    /* nothing to do for idle_timeout_ms: closed */
    uint64_t turns_deferred;   /* a connection's requests left for the next loop turn */
} cs_http_server_stats;
void cs_http_server_stats_get(const cs_http_server *srv, cs_http_server_stats *out);

/*
 * Answers `req` with `status`, `headers` (Content-Length, Connection and
 * Transfer-Encoding are the server's and refused here) and `body` (copied).
 * The request is consumed in every case: do not touch it afterwards. If
 * the response cannot be built (bad header, no memory) a 500 is sent
 * instead and the error returned.
 */
CS_MUST_CHECK consort_err cs_http_respond(cs_http_request *req, int status,
                                          const cs_http_header *headers, size_t count,
                                          cs_slice body);
/* Answers with a JSON error body {"error": {"code": code, "message": message}}. */
CS_MUST_CHECK consort_err cs_http_respond_error(cs_http_request *req, int status, const char *code,
                                                const char *message);

/* False once the request's connection has closed (an answer would be dropped). */
bool cs_http_request_connected(const cs_http_request *req);
/* The client's certificate (TLS with client certificates), else NULL; borrowed,
 * valid until the request is answered or the connection closes. */
const struct cs_x509 *cs_http_request_peer_cert(const cs_http_request *req);
/* "127.0.0.1:51234" of the client ("" once the connection has closed). */
const char *cs_http_request_peer_address(const cs_http_request *req);

#endif
