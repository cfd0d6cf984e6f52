/*
 * An HTTP/1.1 client over one cs_stream (TCP, TLS or attested): used to
 * forward writes from a follower to the leader, and by tests and
 * benchmarks. Requests are pipelined on the one connection (keep-alive);
 * responses are matched to requests in order (RFC 9112 §9.3.2) and each
 * request's callback runs exactly once: with the response, or with the
 * error that ended the connection first.
 *
 * A response carrying "Connection: close" (or an HTTP/1.0 response without
 * keep-alive) ends the connection after it: requests queued behind it fail
 * with CONSORT_E_STATE. Responses delimited by the end of the stream (no
 * Content-Length, not chunked) complete when the server closes.
 */
#ifndef CS_NET_HTTP_CLIENT_H
#define CS_NET_HTTP_CLIENT_H

#include "net/http.h"
#include "net/stream.h"

typedef struct cs_http_response {
    int status;
    const cs_http_header *headers;
    size_t header_count;
    cs_slice body; /* chunked bodies arrive decoded */
} cs_http_response;

static inline const char *cs_http_response_header(const cs_http_response *resp, const char *name)
{
    return cs_http_header_find(resp->headers, resp->header_count, name);
}

/*
 * The response (err == CONSORT_OK, msg ""; `resp` valid during the call
 * only), or why there is none: `err` and its message `msg` (never NULL,
 * valid during the call only; resp == NULL). The thread-local message
 * (consort_errmsg()) is not part of this contract (STYLE.md rule 10).
 */
typedef void (*cs_http_response_cb)(void *ctx, consort_err err, const char *msg,
                                    const cs_http_response *resp);

typedef struct cs_http_client_params {
    cs_http_limits limits; /* for responses; zero fields: defaults, but max_body_bytes
                              defaults to 16 MiB here */
    /* Called once when the connection has closed (optional): `reason` is
     * CONSORT_OK for an orderly close, else the failure, with its message
     * in `msg` ("" on an orderly close; never NULL, valid during the call
     * only). After it the client is inert: requests fail with CONSORT_E_STATE. */
    void (*on_close)(void *ctx, consort_err reason, const char *msg);
    void *ctx;
} cs_http_client_params;

#define CS_HTTP_CLIENT_DEFAULT_MAX_BODY ((size_t)16 << 20)

typedef struct cs_http_client cs_http_client;

/* A client speaking over `s`, whose ownership passes to the client (closed on failure). */
CS_MUST_CHECK consort_err cs_http_client_new(cs_stream *s, const cs_http_client_params *params,
                                             cs_http_client **out);
/*
 * Closes the connection; every pending callback runs now, inside this call,
 * with CONSORT_E_STATE ("client closed") (an exception to the loop-deferred
 * rule: the owner is tearing the client down and gets its answers at once). The memory is released
 * once the stream has closed. cs_http_client_free(NULL) is a no-op.
 */
void cs_http_client_free(cs_http_client *c);

/*
 * Sends `method target` with `headers` (Content-Length and Host are added
 * when absent; Connection/Transfer-Encoding are refused) and `body`
 * (copied). `cb` runs later, never from inside this call. Errors:
 * CONSORT_E_STATE when the connection has ended, CONSORT_E_INVALID_ARGUMENT
 * for a bad method, target or header.
 */
CS_MUST_CHECK consort_err cs_http_client_request(cs_http_client *c, const char *method,
                                                 const char *target, const cs_http_header *headers,
                                                 size_t count, cs_slice body,
                                                 cs_http_response_cb cb, void *ctx);

/* True until the connection ends. */
bool cs_http_client_is_open(const cs_http_client *c);
/* Requests sent and not yet answered. */
size_t cs_http_client_pending(const cs_http_client *c);
/* The stream's write queue (for back-pressure). */
size_t cs_http_client_write_queue_len(const cs_http_client *c);

#endif
