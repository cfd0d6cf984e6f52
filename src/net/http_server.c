/*
 * The HTTP/1.1 server (http_server.h): connections, pipelining in order,
 * limits, keep-alive and idle timeouts.
 *
 * Each connection keeps a queue of its requests in arrival order. A request
 * joins the queue when parsed and is handed to the handler at once; its
 * answer is serialised into the request and the queue is flushed from the
 * head while the head is answered, so responses leave in request order
 * (RFC 9112 §9.3.2). Lifetimes: a connection is referenced by its stream
 * (until on_close) and by every request in its queue or with a handler;
 * the server only lists connections and may go first (they are detached).
 *
 * Deadlines (http_deadlines.c): one timer per connection, re-armed after every change of
 * state (input parsed, answers flushed) for the nearest deadline of that
 * state: a request being received has its header and request deadlines;
 * a connection with nothing received and nothing outstanding has its idle
 * deadline; a connection whose requests are with handlers has none.
 *
 * Turns: requests are handed over until they used CS_HTTP_TURN_BUDGET_MS
 * of the loop's turn; a connection with more waits (reading paused) for a
 * deferred call in a later turn (turn_spent, defer_rest).
 */
#include "net/http_conn.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void cs_http_conn_unref(http_conn *c)
{
    if (--c->refs > 0)
        return;
    cs_http_parser_free(c->parser);
    cs_buf_cleanup(&c->pending);
    cs_free(c);
}

static void unlink_conn(http_conn *c)
{
    if (c->srv == NULL)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->srv->count--;
    c->srv = NULL;
    c->prev = c->next = NULL;
}

void cs_http_conn_close(http_conn *c)
{
    if (c->closing || c->s == NULL)
        return;
    c->closing = true;
    cs_stream_close(c->s); /* flushes what was written */
}

static void process_pending(http_conn *c);
static void flow(http_conn *c);

/* Takes the input that waited, if it may now, and sets reading and the
 * deadline to match. */
static void take_more(http_conn *c)
{
    process_pending(c);
    flow(c);
    cs_http_conn_rearm(c);
}

/* Writes answered responses from the head of the queue, in order. */
void cs_http_conn_flush(http_conn *c)
{
    while (c->head != NULL && c->head->responded && c->s != NULL) {
        cs_http_req *r = c->head;
        c->head = r->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->outstanding--;
        consort_err rc = cs_stream_write(c->s, cs_buf_slice(&r->response));
        bool close = r->close_after;
        cs_http_req_free(r);
        cs_http_conn_unref(c); /* the stream still holds a reference */
        if (rc != CONSORT_OK || close) {
            cs_http_conn_close(c);
            return;
        }
    }
    take_more(c);
}

static void enqueue(http_conn *c, cs_http_req *r)
{
    r->conn = c;
    c->refs++;
    c->outstanding++;
    if (c->tail != NULL)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
}

static const char *error_code(int status)
{
    switch (status) {
    case 413:
        return "RequestTooLarge";
    case 431:
        return "RequestHeaderTooLarge";
    case 400:
        return "MalformedRequest";
    case 408:
        return "RequestTimeout";
    default:
        return "InternalError";
    }
}

/* Queues an answer of our own that ends the connection (after the ones owed
 * before it), logged at `level`. */
void cs_http_conn_queue_error(http_conn *c, int status, const char *message, cs_log_level level)
{
    cs_log(level, "net", "HTTP %s: %d: %s", c->peer, status, message);
    cs_http_req *r = cs_calloc(1, sizeof *r);
    cs_buf body;
    cs_buf_init(&body, 0);
    if (r == NULL || cs_http_error_body(&body, error_code(status), message) != CONSORT_OK) {
        cs_free(r);
        cs_buf_cleanup(&body);
        cs_http_conn_close(c);
        return;
    }
    cs_buf_init(&r->response, 0);
    static const cs_http_header json[] = {{"Content-Type", "application/json"}};
    consort_err rc =
        cs_http_write_response(&r->response, status, json, 1, cs_buf_slice(&body), true, false);
    cs_buf_cleanup(&body);
    if (rc != CONSORT_OK) {
        cs_http_req_free(r);
        cs_http_conn_close(c);
        return;
    }
    r->responded = true;
    r->close_after = true;
    enqueue(c, r);
    cs_http_conn_flush(c);
}

/* Whether the connection may take another request now: fewer than
 * max_pipeline in progress, and its client reads its answers (at most
 * CS_HTTP_OUTPUT_HIGH_WATER bytes of them wait to be sent). */
static bool may_take(const http_conn *c)
{
    return !c->deferred && c->outstanding < c->srv->params.max_pipeline &&
           (c->s == NULL || cs_stream_write_queue_len(c->s) <= CS_HTTP_OUTPUT_HIGH_WATER);
}

/* Reads only while requests can be taken: otherwise what the client sends
 * waits in the kernel and then in the client (TCP flow control) instead of
 * in our memory. Resumed by cs_http_conn_flush (an answer freed a place in
 * the pipeline) or on_drain (the client read its answers). */
static void flow(http_conn *c)
{
    if (c->s == NULL || c->closing || c->srv == NULL)
        return;
    bool blocked = cs_stream_write_queue_len(c->s) > CS_HTTP_OUTPUT_HIGH_WATER;
    if (blocked && !c->output_blocked)
        c->blocked_since = uv_now(c->srv->loop);
    c->output_blocked = blocked;
    bool stop = !may_take(c);
    if (stop == c->paused)
        return;
    c->paused = stop;
    if (stop)
        cs_stream_pause(c->s);
    else
        cs_stream_resume(c->s);
}

static bool parsing(const http_conn *c)
{
    return c->s != NULL && !c->closing && !c->timed_out && c->srv != NULL &&
           !cs_http_parser_done(c->parser);
}

/* Whether this turn of the loop has used its request budget (uv_now is the
 * time the turn began: libuv updates it once per turn) and dispatched a
 * request already: a turn that other work used up still dispatches one,
 * so that waiting connections always progress. */
static bool turn_spent(const cs_http_server *srv)
{
    uint64_t turn = uv_now(srv->loop);
    return srv->dispatch_turn == turn + 1 && uv_hrtime() / 1000000 >= turn + CS_HTTP_TURN_BUDGET_MS;
}

static void resume_cb(void *ctx)
{
    http_conn *c = ctx;
    c->deferred = false;
    if (c->srv != NULL && !c->closing && !c->timed_out)
        take_more(c);
    cs_http_conn_unref(c);
}

/* The rest of the connection's requests wait for the next turn. */
static void defer_rest(http_conn *c)
{
    c->deferred = true;
    c->refs++; /* the queued call's */
    c->srv->stats.turns_deferred++;
    cs_defer_call(c->srv->later, &c->resume, resume_cb, c);
}

/* Parses and dispatches requests from `in`; keeps what cannot be parsed yet. */
static void process(http_conn *c, cs_slice in)
{
    c->processing = true;
    while (in.len > 0 && parsing(c) && may_take(c)) {
        if (turn_spent(c->srv)) {
            defer_rest(c);
            break;
        }
        if (!c->in_request) { /* the first byte of a request: its deadlines start */
            c->in_request = true;
            c->fresh = false;
            c->idle = false;
            c->headers_done = false;
            c->req_start = uv_now(c->srv->loop);
        }
        size_t used = 0;
        consort_err rc = cs_http_parser_feed(c->parser, in, &used);
        in.ptr += used;
        in.len -= used;
        if (rc != CONSORT_OK) {
            cs_http_conn_queue_error(c, cs_http_parser_status(c->parser), consort_errmsg(),
                                     CS_LOG_DEBUG);
            break;
        }
        cs_http_req *r = cs_http_parser_take(c->parser);
        if (r == NULL)
            continue;
        c->in_request = false;
        r->pub.received_ns = uv_hrtime();
        r->pub.tag = 0;
        enqueue(c, r);
        c->srv->dispatch_turn = uv_now(c->srv->loop) + 1;
        c->srv->params.on_request(c->srv->params.ctx, &r->pub);
    }
    if (in.len > 0 && parsing(c)) {
        if (cs_buf_append_slice(&c->pending, in) != CONSORT_OK) {
            cs_log_info("net", "HTTP %s: %s", c->peer, consort_errmsg());
            cs_http_conn_close(c);
        }
    }
    c->processing = false;
}

static void process_pending(http_conn *c)
{
    if (c->processing || c->pending.len == 0 || c->srv == NULL || !may_take(c))
        return;
    cs_buf local;
    cs_buf_init(&local, 0);
    cs_buf_move(&local, &c->pending);
    process(c, cs_buf_slice(&local));
    cs_buf_cleanup(&local);
}

/* RFC 9110 §10.1.1: a client waiting for 100-continue gets it once the request is next. */
static void on_headers(void *ctx, cs_http_req *r)
{
    http_conn *c = ctx;
    c->headers_done = true;
    const char *expect = cs_http_request_header(&r->pub, "expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && c->outstanding == 0 &&
        c->s != NULL && r->pub.http_minor >= 1 &&
        cs_stream_write(c->s, CS_SLICE_LIT("HTTP/1.1 100 Continue\r\n\r\n")) != CONSORT_OK)
        cs_http_conn_close(c);
}

static void on_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    http_conn *c = ctx;
    if (c->timed_out) /* answered 408 and closing: the rest is not read */
        return;
    if (c->pending.len > 0) {
        if (cs_buf_append_slice(&c->pending, data) != CONSORT_OK) {
            cs_log_info("net", "HTTP %s: %s", c->peer, consort_errmsg());
            cs_http_conn_close(c);
            return;
        }
        process_pending(c);
    } else {
        process(c, data);
    }
    flow(c);
    cs_http_conn_rearm(c);
}

/* The client has read every answer written so far: take its requests again. */
static void on_drain(void *ctx, cs_stream *s)
{
    (void)s;
    http_conn *c = ctx;
    if (c->srv == NULL || c->closing || c->timed_out)
        return;
    take_more(c);
}

static void on_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    http_conn *c = ctx;
    if (reason != CONSORT_OK)
        cs_log_debug("net", "HTTP %s: connection closed: %s", c->peer, msg);
    c->s = NULL;
    c->closing = true;
    cs_timer_free(c->deadline);
    c->deadline = NULL;
    unlink_conn(c);
    /* Answered requests waiting behind an unanswered one are dropped; the
     * unanswered ones stay with their handlers (and keep a reference). */
    cs_http_req *r = c->head;
    c->head = c->tail = NULL;
    while (r != NULL) {
        cs_http_req *next = r->next;
        r->next = NULL;
        if (r->responded) {
            cs_http_req_free(r);
            cs_http_conn_unref(c);
        }
        r = next;
    }
    cs_http_conn_unref(c);
}

/* ---- the server ---- */

consort_err cs_http_server_new(uv_loop_t *loop, const cs_http_server_params *params,
                               cs_http_server **out)
{
    *out = NULL;
    CS_ENSURE(params->on_request != NULL, CONSORT_E_INVALID_ARGUMENT,
              "HTTP server: no request handler");
    cs_http_server *srv = cs_calloc(1, sizeof *srv);
    CS_ENSURE(srv != NULL, CONSORT_E_NOMEM, "HTTP server: out of memory");
    consort_err rc = cs_defer_new(loop, &srv->later);
    if (rc != CONSORT_OK) {
        cs_free(srv);
        return rc;
    }
    srv->loop = loop;
    srv->params = *params;
    cs_http_limits_defaults(&srv->params.limits);
    if (srv->params.idle_timeout_ms == 0)
        srv->params.idle_timeout_ms = CS_HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    if (srv->params.header_timeout_ms == 0)
        srv->params.header_timeout_ms = CS_HTTP_DEFAULT_HEADER_TIMEOUT_MS;
    if (srv->params.request_timeout_ms == 0)
        srv->params.request_timeout_ms = CS_HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
    if (srv->params.max_pipeline == 0)
        srv->params.max_pipeline = CS_HTTP_DEFAULT_MAX_PIPELINE;
    *out = srv;
    return CONSORT_OK;
}

void cs_http_server_free(cs_http_server *srv)
{
    if (srv == NULL)
        return;
    while (srv->conns != NULL) {
        http_conn *c = srv->conns;
        unlink_conn(c);
        cs_http_conn_close(c);
    }
    cs_defer_flush(srv->later); /* the deferred connections, detached: their references */
    cs_defer_free(srv->later);
    cs_free(srv);
}

void cs_http_server_attach(cs_http_server *srv, cs_stream *s)
{
    consort_err rc;
    http_conn *c = cs_calloc(1, sizeof *c);
    CS_ENSURE_GOTO(rc, c != NULL, refuse, CONSORT_E_NOMEM, "out of memory");
    CS_TRY_GOTO(rc, cs_http_parser_new(&srv->params.limits, on_headers, c, &c->parser), refuse);
    CS_TRY_GOTO(rc, cs_timer_new(srv->loop, cs_http_conn_deadline_cb, c, &c->deadline), refuse);
    c->srv = srv;
    c->s = s;
    c->refs = 1;
    /* unparsed input: at most one maximal request's worth */
    cs_buf_init(&c->pending, srv->params.limits.max_header_bytes +
                                 2 * srv->params.limits.max_body_bytes + 65536);
    snprintf(c->peer, sizeof c->peer, "%s", cs_stream_peer_address(s));
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->count++;
    c->fresh = true;
    cs_http_conn_rearm(c);
    const cs_stream_cbs cbs = {.on_data = on_data, .on_close = on_close, .on_drain = on_drain};
    cs_stream_set_cbs(s, &cbs, c);
    return;

refuse:
    cs_log_warn("net", "HTTP %s: refused: %s", cs_stream_peer_address(s), consort_errmsg());
    if (c != NULL)
        cs_http_parser_free(c->parser);
    cs_free(c);
    cs_stream_close(s);
}

void cs_http_server_accept_cb(void *srv, cs_stream *s)
{
    cs_http_server_attach(srv, s);
}

size_t cs_http_server_connection_count(const cs_http_server *srv)
{
    return srv->count;
}

void cs_http_server_stats_get(const cs_http_server *srv, cs_http_server_stats *out)
{
    *out = srv->stats;
}
