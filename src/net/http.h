/*
 * HTTP/1.1 (RFC 9110, RFC 9112) messages as the server and the client see
 * them. Parsing is http-parser's (never by hand); this layer adds limits,
 * a request object, header lookup and query-string decoding.
 * The server is in http_server.h, the client in http_client.h.
 */
#ifndef CS_NET_HTTP_H
#define CS_NET_HTTP_H

#include "base/buf.h"

struct cs_x509;

/* Defaults for cs_http_limits fields left 0. */
#define CS_HTTP_DEFAULT_MAX_HEADER_BYTES ((size_t)16 << 10)
#define CS_HTTP_DEFAULT_MAX_BODY_BYTES   ((size_t)1 << 20)
#define CS_HTTP_DEFAULT_MAX_HEADERS      100

typedef struct cs_http_limits {
    /* Request line / status line plus every header line (431 beyond it). */
    size_t max_header_bytes;
    /* Body after chunked decoding (413 beyond it). */
    size_t max_body_bytes;
    /* Number of header fields (431 beyond it). */
    size_t max_headers;
} cs_http_limits;

/* One header field; both strings NUL-terminated. */
typedef struct cs_http_header {
    const char *name;
    const char *value;
} cs_http_header;

/*
 * A request as the server hands it to its handler. Every field is
 * read-only and valid until the request is answered (cs_http_respond).
 */
typedef struct cs_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *target; /* the request target as sent: "/app/x?y=1" */
    const char *path;   /* its path, still percent-encoded: "/app/x" */
    const char *query;  /* its query without '?', "" if none */
    const cs_http_header *headers;
    size_t header_count;
    cs_slice body;       /* chunked bodies arrive decoded */
    unsigned http_minor; /* HTTP/1.<minor> */
    bool keep_alive;     /* the connection stays open after the response */
    /* Set by the server before the handler runs: uv_hrtime() once the
     * request was complete (latency is measured from it), and a value the
     * handler may keep there (0 on arrival; the node's rpc: the route). */
    uint64_t received_ns;
    size_t tag;
} cs_http_request;

/* The value of the first header named `name` (ASCII case-insensitive), or NULL. */
const char *cs_http_header_find(const cs_http_header *headers, size_t count, const char *name);
static inline const char *cs_http_request_header(const cs_http_request *req, const char *name)
{
    return cs_http_header_find(req->headers, req->header_count, name);
}

/* What a request may carry, checked before it is written (the client
 * refuses anything else; a caller such as `consort bench` checks its input
 * with the same rules). INVALID_ARGUMENT naming what is wrong. */
/* The request line (RFC 9112 §3): a method of 1..20 upper-case letters,
 * '-' or '_', a target of visible ASCII. */
CS_MUST_CHECK consort_err cs_http_check_request_line(const char *method, const char *target);
/* One header: a token name, a value without CR, LF or NUL. */
CS_MUST_CHECK consort_err cs_http_check_header(const cs_http_header *h);

/*
 * Looks up `name` in an application/x-www-form-urlencoded query string
 * ("a=1&b=x%20y") and decodes the first match's value into `out`
 * (replacing its contents): %XX escapes and '+' as space. *found says
 * whether the name occurs (a name without '=' has the empty value).
 * Errors: CONSORT_E_MALFORMED for a bad %-escape in the pair that matched.
 */
CS_MUST_CHECK consort_err cs_http_query_param(const char *query, const char *name, cs_buf *out,
                                              bool *found);
static inline CS_MUST_CHECK consort_err cs_http_request_param(const cs_http_request *req,
                                                              const char *name, cs_buf *out,
                                                              bool *found)
{
    return cs_http_query_param(req->query, name, out, found);
}

/* Decodes %XX escapes (and '+' as space when `plus` is set) into `out` (appending). */
CS_MUST_CHECK consort_err cs_http_percent_decode(cs_slice in, bool plus, cs_buf *out);

/* The standard reason phrase for a status code ("Not Found"), "Unknown" if none. */
const char *cs_http_status_text(int status);

#endif
