/*
 * For the HTTP tests: a server on 127.0.0.1 with a scriptable handler, and
 * a raw TCP client that sends bytes and collects the reply until close.
 */
#ifndef CST_HTTP_FIXTURE_H
#define CST_HTTP_FIXTURE_H

#include "net_fixture.h"

#include "net/http_client.h"
#include "net/http_server.h"
#include "net/tcp.h"

#include <stdio.h>

#define CST_MAX_HELD 64

typedef struct cst_http {
    uv_loop_t loop;
    cs_listener *listener;
    cs_http_server *server;
    char addr[64];
    /* handler behaviour: answer at once (echo), or hold requests for the test */
    bool hold;
    cs_http_request *held[CST_MAX_HELD];
    size_t held_count;
    size_t requests_seen;
    size_t max_conns;
    /* busy handler: each request holds the loop this long, and the loop
     * time of its turn is noted */
    unsigned busy_ms;
    uint64_t turn_of[CST_MAX_HELD];
} cst_http;

/* Echo: "<METHOD> <path> <query> <body>" with an x-echo-length header. */
static inline void cst_http_echo(cs_http_request *req)
{
    cs_buf body;
    cs_buf_init(&body, 0);
    cst_ok(cs_buf_printf(&body, "%s %s %s ", req->method, req->path, req->query));
    cst_ok(cs_buf_append_slice(&body, req->body));
    char len[32];
    snprintf(len, sizeof len, "%zu", req->body.len);
    const cs_http_header h[] = {{"Content-Type", "text/plain"}, {"x-echo-length", len}};
    cst_ok(cs_http_respond(req, 200, h, 2, cs_buf_slice(&body)));
    cs_buf_cleanup(&body);
}

static inline void cst_http_handler(void *ctx, cs_http_request *req)
{
    cst_http *h = ctx;
    if (h->requests_seen < CST_MAX_HELD)
        h->turn_of[h->requests_seen] = uv_now(&h->loop);
    h->requests_seen++;
    for (uint64_t end = uv_hrtime() + (uint64_t)h->busy_ms * 1000000; uv_hrtime() < end;)
        ;
    size_t conns = cs_http_server_connection_count(h->server);
    if (conns > h->max_conns)
        h->max_conns = conns;
    if (h->hold) {
        assert_true(h->held_count < CST_MAX_HELD);
        h->held[h->held_count++] = req;
        return;
    }
    cst_http_echo(req);
}

/* A server listening on 127.0.0.1 (plain TCP) with `params` (handler filled in). */
static inline void cst_http_start(cst_http *h, cs_http_server_params params)
{
    memset(h, 0, sizeof *h);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    params.on_request = cst_http_handler;
    params.ctx = h;
    cst_ok(cs_http_server_new(&h->loop, &params, &h->server));
    cst_ok(
        cs_tcp_listen(&h->loop, "127.0.0.1:0", cs_http_server_accept_cb, h->server, &h->listener));
    snprintf(h->addr, sizeof h->addr, "127.0.0.1:%u", cs_listener_port(h->listener));
}

static inline void cst_http_stop(cst_http *h)
{
    cs_listener_close(h->listener);
    cs_http_server_free(h->server);
    cst_loop_finish(&h->loop);
}

/* ---- a raw client: sends `send`, collects everything until the server closes ---- */

typedef struct cst_raw {
    cs_stream *s;
    const char *send;
    cs_buf got;
    bool closed;
    consort_err reason;
} cst_raw;

static inline void cst_raw_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    cst_ok(cs_buf_append_slice(&((cst_raw *)ctx)->got, data));
}

static inline void cst_raw_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    cst_raw *r = ctx;
    cst_cb_msg(reason, msg);
    r->closed = true;
    r->reason = reason;
    r->s = NULL;
}

static inline void cst_raw_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    cst_raw *r = ctx;
    cst_cb_ok(err, msg);
    r->s = s;
    const cs_stream_cbs cbs = {.on_data = cst_raw_data, .on_close = cst_raw_close};
    cs_stream_set_cbs(s, &cbs, r);
    if (r->send != NULL)
        cst_ok(cs_stream_write(s, cs_slice_str(r->send)));
}

static inline bool cst_raw_closed(void *ctx)
{
    return ((cst_raw *)ctx)->closed;
}

/* Sends `send` and runs until the server closes; the reply is NUL-terminated in r->got. */
static inline void cst_raw_exchange(cst_http *h, cst_raw *r, const char *send)
{
    memset(r, 0, sizeof *r);
    cs_buf_init(&r->got, 0);
    r->send = send;
    cst_ok(cs_tcp_connect(&h->loop, h->addr, cst_raw_connect, r));
    cst_run_until(&h->loop, 10000, cst_raw_closed, r, "the server to close");
    cst_ok(cs_buf_append_u8(&r->got, 0));
}

#endif
