/*
 * Private to src/net/http*.c: the message builder shared by the request
 * and response parsers, the server-side parser glue (used by the server and
 * by the fuzz target, no sockets), and the request object behind
 * cs_http_request.
 */
#ifndef CS_NET_HTTP_PRIV_H
#define CS_NET_HTTP_PRIV_H

#include "net/http.h"

#include <http_parser.h>

/* Accumulates one message's start line, headers and body from http-parser
 * callbacks, enforcing the limits. */
typedef struct cs_http_msg {
    cs_http_limits limits;
    cs_buf url;     /* request target (requests only), NUL-terminated when complete */
    cs_buf strings; /* header arena: name\0value\0 ... */
    cs_buf body;
    cs_http_header *headers; /* built when the headers are complete */
    size_t header_count;
    size_t header_bytes;
    bool in_value; /* the last header callback was a value */
    bool headers_done;
    int status; /* the HTTP status for a failure (400, 413, 431) */
    char error[160];
} cs_http_msg;

/* Fills zero fields of `l` with the defaults. */
void cs_http_limits_defaults(cs_http_limits *l);
void cs_http_msg_init(cs_http_msg *m, const cs_http_limits *limits);
void cs_http_msg_cleanup(cs_http_msg *m);
/* http-parser data callbacks, given the message; 0 = go on, else fail with m->status set. */
int cs_http_msg_url(cs_http_msg *m, const char *at, size_t len);
int cs_http_msg_field(cs_http_msg *m, const char *at, size_t len);
int cs_http_msg_value(cs_http_msg *m, const char *at, size_t len);
/* Headers done: builds the header array; checks a declared Content-Length. */
int cs_http_msg_headers_done(cs_http_msg *m, const http_parser *p);
int cs_http_msg_body(cs_http_msg *m, const char *at, size_t len);
/* Records a failure: HTTP status and message. Returns -1 for the parser. */
int cs_http_msg_fail(cs_http_msg *m, int status, const char *fmt, ...) CS_PRINTF(3, 4);

/*
 * RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF.
 * http-parser 2.9 as Debian builds it (HTTP_PARSER_STRICT 0) takes any two
 * bytes after a chunk's data; this checks them, from the parser's
 * callbacks and the bytes being fed. One per parser (it spans feeds).
 */
typedef struct cs_http_chunks {
    uint64_t left;   /* data bytes of the current chunk not seen yet */
    unsigned due;    /* bytes of its CRLF not checked yet (0, 1 or 2) */
    const char *end; /* end of the bytes being fed */
} cs_http_chunks;

/* Before every http_parser_execute(data, len): the CRLF bytes still due at
 * the start of `data` (m: the message being parsed; NULL if none, then
 * nothing is due). 0, or -1 (with m->status 400) if they are not CRLF. */
int cs_http_chunks_feed(cs_http_chunks *c, cs_http_msg *m, const char *data, size_t len);
/* on_chunk_header: a chunk of `size` data bytes follows (0: the last). */
int cs_http_chunks_header(cs_http_chunks *c, uint64_t size);
/* on_body of a chunked message (after cs_http_msg_body): 0, or -1 (with
 * m->status 400) if what follows a chunk's data is not CRLF. */
int cs_http_chunks_body(cs_http_chunks *c, cs_http_msg *m, const char *at, size_t len);

struct http_conn;

/* The object behind cs_http_request (pub first). */
typedef struct cs_http_req {
    cs_http_request pub;
    cs_http_msg msg; /* owns the strings pub points into */
    char method[24];
    char *path; /* owned copies */
    char *query;
    /* for the server */
    struct http_conn *conn;
    struct cs_http_req *next; /* the connection's queue, in arrival order */
    cs_buf response;          /* serialised once answered */
    bool responded;
    bool close_after; /* the connection closes after this response */
    bool head;        /* HEAD: the response carries no body */
} cs_http_req;

void cs_http_req_free(cs_http_req *r);

/* ---- the request parser glue (no I/O) ---- */

typedef struct cs_http_parser cs_http_parser;

/* Called when a request's headers are complete (before its body). */
typedef void (*cs_http_headers_cb)(void *ctx, cs_http_req *req);

CS_MUST_CHECK consort_err cs_http_parser_new(const cs_http_limits *limits,
                                             cs_http_headers_cb on_headers, void *ctx,
                                             cs_http_parser **out);
void cs_http_parser_free(cs_http_parser *p);

/*
 * Parses from `data` until one request is complete or the data ends.
 * *consumed says how many bytes were used; a completed request is then
 * taken with cs_http_parser_take. After a request that ends the
 * connection (no keep-alive, or an upgrade), nothing more is parsed.
 * Errors (the parser is then dead): CONSORT_E_MALFORMED (400),
 * CONSORT_E_TOO_LARGE (413 or 431); cs_http_parser_status gives the HTTP
 * status and consort_errmsg() the reason.
 */
CS_MUST_CHECK consort_err cs_http_parser_feed(cs_http_parser *p, cs_slice data, size_t *consumed);
/* The completed request (caller owns it), or NULL. */
cs_http_req *cs_http_parser_take(cs_http_parser *p);
/* True once the parser will accept nothing more (error, or a final request). */
bool cs_http_parser_done(const cs_http_parser *p);
int cs_http_parser_status(const cs_http_parser *p);

/* ---- responses ---- */

/*
 * Serialises a response into `out`: status line, `headers` (names and
 * values checked: no CR, LF or NUL, names are tokens), Content-Length,
 * "Connection: close" when `close`, then the body unless `head`.
 */
CS_MUST_CHECK consort_err cs_http_write_response(cs_buf *out, int status,
                                                 const cs_http_header *headers, size_t count,
                                                 cs_slice body, bool close, bool head);
/* `{"error": {"code": code, "message": message}}` (JSON-escaped) into `out`. */
CS_MUST_CHECK consort_err cs_http_error_body(cs_buf *out, const char *code, const char *message);
/* Appends "name: value\r\n" (a header cs_http_check_header accepted), copied
 * as is: no formatting pass over a value that may be kilobytes long. */
CS_MUST_CHECK consort_err cs_http_append_field(cs_buf *out, const cs_http_header *h);

#endif
