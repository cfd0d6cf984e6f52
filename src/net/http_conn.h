/*
 * Private to http_server.c and http_respond.c: the server and its
 * connections. A connection is referenced by its stream (until on_close)
 * and by every request in its queue or with a handler.
 */
#ifndef CS_NET_HTTP_CONN_H
#define CS_NET_HTTP_CONN_H

#include "net/http_priv.h"
#include "net/http_server.h"

#include "base/log.h"
#include "net/defer.h"

struct cs_timer;

struct cs_http_server {
    uv_loop_t *loop;
    cs_defer *later;        /* connections whose requests wait for the next loop turn */
    uint64_t dispatch_turn; /* uv_now + 1 of the turn of the last request dispatched */
    cs_http_server_params params;
    struct http_conn *conns;
    size_t count;
    cs_http_server_stats stats;
};

typedef struct http_conn {
    cs_http_server *srv; /* NULL once detached by cs_http_server_free */
    cs_stream *s;        /* NULL once closed */
    cs_http_parser *parser;
    struct cs_timer *deadline; /* the nearest of the deadlines below */
    /* a request being received: its first byte came at req_start (ms, loop time) */
    bool in_request;
    bool headers_done; /* ... and its header section is complete */
    uint64_t req_start;
    bool fresh;          /* no request has begun yet */
    bool idle;           /* nothing received, nothing outstanding: since idle_since */
    uint64_t idle_since; /* ms, loop time */
    bool timed_out;      /* a deadline passed: nothing more is parsed */
    cs_http_req *head, *tail;
    size_t outstanding; /* requests in the queue */
    cs_buf pending;     /* received, not yet parsed (pipelining limit reached) */
    bool processing;
    bool deferred; /* this loop turn's request budget is spent: until the next */
    cs_defer_item resume;
    bool paused;         /* reading stopped: it may take no request now (may_take) */
    bool output_blocked; /* answers over CS_HTTP_OUTPUT_HIGH_WATER wait: since blocked_since */
    uint64_t blocked_since;
    bool closing;
    int refs;
    char peer[CS_NET_ADDRESS_MAX];
    struct http_conn *prev, *next;
} http_conn;

/* Drops one reference; the last frees the connection. */
void cs_http_conn_unref(http_conn *c);
/* Closes the stream after what was written (idempotent). */
void cs_http_conn_close(http_conn *c);
/* Writes answered responses from the head of the queue, in order; then
 * parses input that waited for the pipeline to drain. */
void cs_http_conn_flush(http_conn *c);
/* Queues an answer of our own that ends the connection (after the ones owed
 * before it), logged at `level`. */
void cs_http_conn_queue_error(http_conn *c, int status, const char *message, cs_log_level level);

/* ---- deadlines (http_deadlines.c) ---- */

/* Arms the timer for the nearest deadline of the connection's state, or stops it. */
void cs_http_conn_rearm(http_conn *c);
/* The connection's deadline timer fired (cs_timer_cb). */
void cs_http_conn_deadline_cb(void *ctx);

#endif
