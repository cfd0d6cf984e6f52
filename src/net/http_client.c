/*
 * The HTTP/1.1 client (http_client.h): requests are written at once
 * (pipelined), a FIFO of callbacks waits for the responses, and
 * http-parser in HTTP_RESPONSE mode reads them back in order.
 *
 * Lifetime: the memory is released when both the stream has closed and
 * the user has called cs_http_client_free, so callbacks may free the
 * client (or send more requests) while a response is being parsed.
 */
#include "net/http_client.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/http_priv.h"
#include "net/net.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct waiter {
    cs_http_response_cb cb;
    void *ctx;
    bool head; /* a HEAD request: its response has no body (RFC 9110 §9.3.2) */
    struct waiter *next;
} waiter;

struct cs_http_client {
    cs_stream *s;
    http_parser hp;
    cs_http_limits limits;
    cs_http_msg msg;
    cs_http_chunks chunks; /* the CRLF after each chunk's data */
    waiter *head, *tail;
    size_t pending;
    bool open; /* requests accepted */
    bool stream_closed;
    bool freed;       /* cs_http_client_free was called */
    bool in_close_cb; /* inside the stream's on_close */
    bool unsolicited; /* a response arrived that nobody asked for */
    void (*on_close)(void *ctx, consort_err reason, const char *msg);
    void *ctx;
};

static void release(cs_http_client *c)
{
    cs_http_msg_cleanup(&c->msg);
    cs_free(c);
}

/* Ends every waiting request with `rc` and its message `why` (copied first:
 * it may be the thread-local message, which a callback may overwrite). */
static void fail_waiters(cs_http_client *c, consort_err rc, const char *why)
{
    char msg[CS_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", why);
    while (c->head != NULL) {
        waiter *w = c->head;
        c->head = w->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->pending--;
        w->cb(w->ctx, rc, msg, NULL);
        cs_free(w);
    }
}

/* Stops accepting requests, fails the waiting ones with `rc` (whose message
 * was just set) and closes the stream. */
static void end(cs_http_client *c, consort_err rc)
{
    c->open = false;
    fail_waiters(c, rc, consort_errmsg());
    if (!c->stream_closed)
        cs_stream_close(c->s);
}

static cs_http_client *of(http_parser *hp)
{
    return hp->data;
}

static int on_message_begin(http_parser *hp)
{
    cs_http_client *c = of(hp);
    cs_http_msg_cleanup(&c->msg);
    cs_http_msg_init(&c->msg, &c->limits);
    return 0;
}

static int on_field(http_parser *hp, const char *at, size_t len)
{
    return cs_http_msg_field(&of(hp)->msg, at, len);
}

static int on_value(http_parser *hp, const char *at, size_t len)
{
    return cs_http_msg_value(&of(hp)->msg, at, len);
}

static int on_headers_complete(http_parser *hp)
{
    cs_http_client *c = of(hp);
    if (cs_http_msg_headers_done(&c->msg, hp) != 0)
        return -1;
    /* RFC 9110 §15: a three-digit status; RFC 9112 §2.3: HTTP/1.x only */
    if (hp->status_code < 100 || hp->status_code > 599 || hp->http_major != 1)
        return cs_http_msg_fail(&c->msg, 400, "status %u in HTTP/%u.%u is not valid",
                                hp->status_code, hp->http_major, hp->http_minor);
    /* http-parser: 1 = this response has no body. RFC 9112 §6.3: the answer
     * to HEAD, and a 204 or 304, whatever Content-Length says (a 304 carries
     * the length a 200 would have) */
    if (hp->status_code == 204 || hp->status_code == 304)
        return 1;
    return c->head != NULL && c->head->head ? 1 : 0;
}

static int on_chunk_header(http_parser *hp)
{
    return cs_http_chunks_header(&of(hp)->chunks, hp->content_length);
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    cs_http_client *c = of(hp);
    if (cs_http_msg_body(&c->msg, at, len) != 0)
        return -1;
    return (hp->flags & F_CHUNKED) ? cs_http_chunks_body(&c->chunks, &c->msg, at, len) : 0;
}

static int on_message_complete(http_parser *hp)
{
    cs_http_client *c = of(hp);
    /* RFC 9110 §15.2: 1xx responses are interim; the final one follows */
    if (hp->status_code >= 100 && hp->status_code < 200)
        return 0;
    waiter *w = c->head;
    if (!c->open || w == NULL) {
        c->unsolicited = c->open;
        http_parser_pause(hp, 1);
        return 0;
    }
    c->head = w->next;
    if (c->head == NULL)
        c->tail = NULL;
    c->pending--;
    bool keep = http_should_keep_alive(hp) != 0;
    const cs_http_response resp = {.status = (int)hp->status_code,
                                   .headers = c->msg.headers,
                                   .header_count = c->msg.header_count,
                                   .body = cs_buf_slice(&c->msg.body)};
    w->cb(w->ctx, CONSORT_OK, "", &resp);
    cs_free(w);
    if (!keep) { /* RFC 9112 §9.6: the server closes after this response */
        c->open = false;
        http_parser_pause(hp, 1);
    }
    return 0;
}

static const http_parser_settings SETTINGS = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
};

static void parse_failed(cs_http_client *c, const char *peer)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&c->hp);
    consort_err code = c->msg.status == 500   ? CONSORT_E_NOMEM
                       : c->msg.status == 400 ? CONSORT_E_MALFORMED
                                              : CONSORT_E_TOO_LARGE;
    consort_err rc = c->msg.status != 0
                         ? cs_fail(code, "HTTP response from %s: %s", peer, c->msg.error)
                         : cs_fail(CONSORT_E_MALFORMED, "HTTP response from %s: %s", peer,
                                   http_errno_description(e));
    cs_log_info("net", "%s", consort_errmsg());
    end(c, rc);
}

static void on_data(void *ctx, cs_stream *s, cs_slice data)
{
    cs_http_client *c = ctx;
    if (!c->open && c->pending == 0)
        return;
    if (cs_http_chunks_feed(&c->chunks, &c->msg, (const char *)data.ptr, data.len) != 0) {
        parse_failed(c, cs_stream_peer_address(s));
        return;
    }
    (void)http_parser_execute(&c->hp, &SETTINGS, (const char *)data.ptr, data.len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->hp);
    if (c->unsolicited) {
        c->unsolicited = false;
        end(c, cs_fail(CONSORT_E_MALFORMED, "HTTP response from %s: no request is waiting",
                       cs_stream_peer_address(s)));
        return;
    }
    if (e == HPE_PAUSED || !c->open) {
        end(c, cs_fail(CONSORT_E_STATE,
                       "HTTP client %s: the connection ended after a "
                       "response",
                       cs_stream_peer_address(s)));
        return;
    }
    if (e != HPE_OK)
        parse_failed(c, cs_stream_peer_address(s));
}

static void on_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    cs_http_client *c = ctx;
    char peer[CS_NET_ADDRESS_MAX];
    snprintf(peer, sizeof peer, "%s", cs_stream_peer_address(s));
    c->stream_closed = true;
    c->in_close_cb = true;
    char why[CS_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", reason != CONSORT_OK ? msg : "closed");
    /* A response delimited by the end of the stream completes now. */
    if (c->pending > 0 && HTTP_PARSER_ERRNO(&c->hp) == HPE_OK)
        (void)http_parser_execute(&c->hp, &SETTINGS, NULL, 0);
    char ended[CS_ERRMSG_MAX + CS_NET_ADDRESS_MAX + 64];
    snprintf(ended, sizeof ended, "HTTP client %s: connection ended before the response: %s", peer,
             why);
    c->open = false;
    fail_waiters(c, reason != CONSORT_OK ? reason : CONSORT_E_IO, ended);
    if (c->on_close != NULL && !c->freed)
        c->on_close(c->ctx, reason, reason != CONSORT_OK ? why : "");
    c->in_close_cb = false;
    if (c->freed)
        release(c);
}

consort_err cs_http_client_new(cs_stream *s, const cs_http_client_params *params,
                               cs_http_client **out)
{
    *out = NULL;
    cs_http_client *c = cs_calloc(1, sizeof *c);
    if (c == NULL) {
        cs_stream_close(s);
        return cs_fail(CONSORT_E_NOMEM, "HTTP client: out of memory");
    }
    c->s = s;
    c->limits = params != NULL ? params->limits : (cs_http_limits){0};
    if (c->limits.max_body_bytes == 0)
        c->limits.max_body_bytes = CS_HTTP_CLIENT_DEFAULT_MAX_BODY;
    cs_http_limits_defaults(&c->limits);
    cs_http_msg_init(&c->msg, &c->limits);
    http_parser_init(&c->hp, HTTP_RESPONSE);
    c->hp.data = c;
    c->open = true;
    if (params != NULL) {
        c->on_close = params->on_close;
        c->ctx = params->ctx;
    }
    const cs_stream_cbs cbs = {.on_data = on_data, .on_close = on_close};
    cs_stream_set_cbs(s, &cbs, c);
    *out = c;
    return CONSORT_OK;
}

void cs_http_client_free(cs_http_client *c)
{
    if (c == NULL || c->freed)
        return;
    c->freed = true;
    c->open = false;
    fail_waiters(c, CONSORT_E_STATE, "HTTP client: closed");
    if (!c->stream_closed)
        cs_stream_close(c->s); /* released in on_close */
    else if (!c->in_close_cb)
        release(c);
}

/* RFC 9112 §3: request-line = method SP request-target SP HTTP-version */
consort_err cs_http_check_request_line(const char *method, const char *target)
{
    size_t n = strlen(method);
    CS_ENSURE(n >= 1 && n <= 20 && strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_") == n,
              CONSORT_E_INVALID_ARGUMENT, "HTTP request: method '%s' is not a token", method);
    n = strlen(target);
    CS_ENSURE(n >= 1 && n <= CS_HTTP_DEFAULT_MAX_HEADER_BYTES, CONSORT_E_INVALID_ARGUMENT,
              "HTTP request: target of %zu bytes", n);
    for (size_t i = 0; i < n; i++)
        CS_ENSURE((unsigned char)target[i] > 0x20 && (unsigned char)target[i] < 0x7f,
                  CONSORT_E_INVALID_ARGUMENT, "HTTP request: byte 0x%02x in the target",
                  (unsigned char)target[i]);
    return CONSORT_OK;
}

static consort_err serialise(cs_buf *out, const char *method, const char *target,
                             const cs_http_header *headers, size_t count, cs_slice body,
                             const char *host)
{
    CS_TRY(cs_http_check_request_line(method, target));
    bool has_host = false;
    for (size_t i = 0; i < count; i++) {
        CS_TRY(cs_http_check_header(&headers[i]));
        CS_ENSURE(strcasecmp(headers[i].name, "content-length") != 0 &&
                      strcasecmp(headers[i].name, "transfer-encoding") != 0 &&
                      strcasecmp(headers[i].name, "connection") != 0,
                  CONSORT_E_INVALID_ARGUMENT, "HTTP request: header '%s' is set by the client",
                  headers[i].name);
        has_host = has_host || strcasecmp(headers[i].name, "host") == 0;
    }
    CS_TRY(cs_buf_printf(out, "%s %s HTTP/1.1\r\n", method, target));
    if (!has_host) /* RFC 9112 §3.2: every HTTP/1.1 request carries Host */
        CS_TRY(cs_buf_printf(out, "Host: %s\r\n", host));
    for (size_t i = 0; i < count; i++)
        CS_TRY(cs_http_append_field(out, &headers[i]));
    bool bodiless = body.len == 0 && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
    if (!bodiless)
        CS_TRY(cs_buf_printf(out, "Content-Length: %zu\r\n", body.len));
    CS_TRY(cs_buf_append(out, "\r\n", 2));
    return cs_buf_append_slice(out, body);
}

consort_err cs_http_client_request(cs_http_client *c, const char *method, const char *target,
                                   const cs_http_header *headers, size_t count, cs_slice body,
                                   cs_http_response_cb cb, void *ctx)
{
    CS_ENSURE(c->open && !c->stream_closed, CONSORT_E_STATE,
              "HTTP client: the connection has ended");
    CS_ENSURE(cb != NULL, CONSORT_E_INVALID_ARGUMENT, "HTTP client: no response callback");
    cs_buf req;
    cs_buf_init(&req, 0);
    waiter *w = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc,
                serialise(&req, method, target, headers, count, body, cs_stream_peer_address(c->s)),
                fail);
    w = cs_calloc(1, sizeof *w);
    CS_ENSURE_GOTO(rc, w != NULL, fail, CONSORT_E_NOMEM, "HTTP client: out of memory");
    CS_TRY_GOTO(rc, cs_stream_write(c->s, cs_buf_slice(&req)), fail);
    cs_buf_cleanup(&req);
    w->cb = cb;
    w->ctx = ctx;
    w->head = strcmp(method, "HEAD") == 0;
    if (c->tail != NULL)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    c->pending++;
    return CONSORT_OK;

fail:
    cs_buf_cleanup(&req);
    cs_free(w);
    return rc;
}

bool cs_http_client_is_open(const cs_http_client *c)
{
    return c->open && !c->stream_closed;
}

size_t cs_http_client_pending(const cs_http_client *c)
{
    return c->pending;
}

size_t cs_http_client_write_queue_len(const cs_http_client *c)
{
    return c->stream_closed ? 0 : cs_stream_write_queue_len(c->s);
}
