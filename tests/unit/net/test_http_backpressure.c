/*
 * Write-side flow control: stream.h's on_drain on TCP and TLS streams, and
 * the HTTP server's use of it. A client that pipelines requests and never
 * reads the answers made the server queue answers up to the stream's
 * 256 MiB cap (one such connection took a node from 12 MB to 268 MB
 * resident); the server now takes no request while more than
 * CS_HTTP_OUTPUT_HIGH_WATER bytes of answers wait, stops reading, starts
 * again once the client read them (on_drain), and closes a connection
 * whose answers wait longer than the idle timeout.
 */
#include "http_fixture.h"

#include "net/tls_stream.h"

#include <stdio.h>

/* Runs the loop for `ms`: a window in which the test watches that
 * something does not happen. */
static void run_for(uv_loop_t *loop, unsigned ms)
{
    bool expired = false;
    uv_timer_t t;
    assert_int_equal(uv_timer_init(loop, &t), 0);
    t.data = &expired;
    uv_update_time(loop);
    assert_int_equal(uv_timer_start(&t, cst_deadline_cb, ms, 0), 0);
    while (!expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* ---- on_drain on a TCP and a TLS stream ---- */

typedef struct drain_pair {
    uv_loop_t loop;
    cs_listener *listener;
    cs_stream *w, *r;
    size_t received;
    size_t drains;     /* on_drain calls on W */
    size_t queue_seen; /* W's write_queue_len inside on_drain */
    bool in_write;     /* inside cs_stream_write on W */
    bool reentered;    /* on_drain ran inside cs_stream_write */
    bool r_closed, w_closed;
} drain_pair;

static void r_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    ((drain_pair *)ctx)->received += data.len;
}

static void r_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    (void)msg;
    drain_pair *x = ctx;
    x->r_closed = true;
    x->r = NULL;
}

static void w_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    (void)s;
    (void)data;
}

static void w_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    (void)msg;
    drain_pair *x = ctx;
    x->w_closed = true;
    x->w = NULL;
}

static void w_drain(void *ctx, cs_stream *s)
{
    drain_pair *x = ctx;
    if (x->in_write)
        x->reentered = true;
    x->drains++;
    x->queue_seen = cs_stream_write_queue_len(s);
}

static void drain_accept(void *ctx, cs_stream *s)
{
    drain_pair *x = ctx;
    x->r = s;
    const cs_stream_cbs cbs = {.on_data = r_data, .on_close = r_close};
    cs_stream_set_cbs(s, &cbs, x);
    cs_stream_pause(s); /* reads nothing until the test says so */
}

static void drain_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    drain_pair *x = ctx;
    cst_cb_ok(err, msg);
    x->w = s;
    const cs_stream_cbs cbs = {.on_data = w_data, .on_close = w_close, .on_drain = w_drain};
    cs_stream_set_cbs(s, &cbs, x);
}

static bool pair_ready(void *ctx)
{
    drain_pair *x = ctx;
    return x->w != NULL && x->r != NULL;
}

#define DRAIN_BYTES ((size_t)32 << 20) /* more than loopback's socket buffers */

static bool drained(void *ctx)
{
    drain_pair *x = ctx;
    return x->drains > 0 && x->received == DRAIN_BYTES;
}

static bool closed_both(void *ctx)
{
    drain_pair *x = ctx;
    return x->r_closed && x->w_closed;
}

/* W writes more than the kernel holds to a paused R: its queue stays full
 * and on_drain does not come (not inside the write either); once R reads,
 * on_drain comes once, from the loop, with the queue empty. */
static void check_drain(drain_pair *x)
{
    cst_run_until(&x->loop, 5000, pair_ready, x, "connected");
    uint8_t *chunk = calloc(1, (size_t)1 << 20);
    assert_non_null(chunk);
    x->in_write = true;
    for (size_t sent = 0; sent < DRAIN_BYTES; sent += (size_t)1 << 20)
        cst_ok(cs_stream_write(x->w, CS_SLICE(chunk, (size_t)1 << 20)));
    x->in_write = false;
    free(chunk);
    assert_false(x->reentered);
    uv_run(&x->loop, UV_RUN_NOWAIT);
    run_for(&x->loop, 300);
    assert_true(cs_stream_write_queue_len(x->w) > 0);
    assert_int_equal(x->drains, 0);
    cs_stream_resume(x->r);
    cst_run_until(&x->loop, 10000, drained, x, "R read everything and W drained");
    assert_int_equal(x->queue_seen, 0);
    assert_int_equal(cs_stream_write_queue_len(x->w), 0);
    size_t drains = x->drains;
    run_for(&x->loop, 100);
    assert_int_equal(x->drains, drains); /* nothing queued, nothing more to say */
    assert_true(drains >= 1);
    cs_stream_close(x->w);
    cst_run_until(&x->loop, 5000, closed_both, x, "both closed");
    assert_int_equal(x->drains, drains); /* not after close */
    cs_listener_close(x->listener);
    cst_loop_finish(&x->loop);
}

static void tcp_drain(void **state)
{
    (void)state;
    drain_pair x;
    memset(&x, 0, sizeof x);
    assert_int_equal(uv_loop_init(&x.loop), 0);
    cst_ok(cs_tcp_listen(&x.loop, "127.0.0.1:0", drain_accept, &x, &x.listener));
    cst_ok(cs_tcp_connect(&x.loop, cs_listener_address(x.listener), drain_connect, &x));
    check_drain(&x);
}

static void tls_drain(void **state)
{
    (void)state;
    cst_pki ca;
    cst_pki_init(&ca, "drain CA");
    cs_key *skey, *ckey;
    cs_x509 *scert, *ccert;
    cst_pki_issue(&ca, "server", -60, 3600, &skey, &scert);
    cst_pki_issue(&ca, "client", -60, 3600, &ckey, &ccert);
    cs_x509 *roots[1] = {ca.ca};
    cs_tls_pinned pin = {.roots = roots, .root_count = 1};
    const cs_tls_params sp = {.role = CS_TLS_SERVER,
                              .key = skey,
                              .cert = scert,
                              .client_auth = CS_TLS_CLIENT_CERT_REQUIRE,
                              .verify = cs_tls_verify_pinned,
                              .verify_ctx = &pin};
    const cs_tls_params cp = {.role = CS_TLS_CLIENT,
                              .key = ckey,
                              .cert = ccert,
                              .verify = cs_tls_verify_pinned,
                              .verify_ctx = &pin};
    cs_tls_config *scfg, *ccfg;
    cst_ok(cs_tls_config_new(&sp, &scfg));
    cst_ok(cs_tls_config_new(&cp, &ccfg));
    drain_pair x;
    memset(&x, 0, sizeof x);
    assert_int_equal(uv_loop_init(&x.loop), 0);
    cst_ok(cs_tls_listen(&x.loop, "127.0.0.1:0", scfg, drain_accept, &x, &x.listener));
    cst_ok(cs_tls_connect(&x.loop, cs_listener_address(x.listener), ccfg, drain_connect, &x));
    cs_tls_config_free(scfg);
    cs_tls_config_free(ccfg);
    check_drain(&x);
    cs_key_free(skey);
    cs_key_free(ckey);
    cs_x509_free(scert);
    cs_x509_free(ccert);
    cst_pki_cleanup(&ca);
}

/* ---- the HTTP server and a client that does not read ---- */

#define PIPELINED  4000
#define BODY_BYTES 4096

typedef struct lazy_client {
    cs_stream *s;
    cs_buf got;
    size_t answers;
    bool closed;
} lazy_client;

static void lazy_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    lazy_client *c = ctx;
    cst_ok(cs_buf_append_slice(&c->got, data));
    /* count whole status lines; keep a tail that may hold a split one */
    const char *p = (const char *)c->got.ptr, *end = p + c->got.len;
    const char *last = p;
    for (const char *q = p; (q = memmem(q, (size_t)(end - q), "HTTP/1.1 200 OK\r\n", 17)) != NULL;
         q += 17) {
        c->answers++;
        last = q + 17;
    }
    size_t keep = (size_t)(end - last) < 16 ? (size_t)(end - last) : 16;
    memmove(c->got.ptr, end - keep, keep);
    c->got.len = keep;
}

static void lazy_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    (void)msg;
    lazy_client *c = ctx;
    c->closed = true;
    c->s = NULL;
}

static void lazy_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    lazy_client *c = ctx;
    cst_cb_ok(err, msg);
    c->s = s;
    const cs_stream_cbs cbs = {.on_data = lazy_data, .on_close = lazy_close};
    cs_stream_set_cbs(s, &cbs, c);
    cs_stream_pause(s); /* reads no answer */
    char head[160];
    int n = snprintf(head, sizeof head, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
                     BODY_BYTES);
    static uint8_t body[BODY_BYTES];
    memset(body, 'b', sizeof body);
    for (int i = 0; i < PIPELINED; i++) {
        cst_ok(cs_stream_write(s, CS_SLICE(head, (size_t)n)));
        cst_ok(cs_stream_write(s, CS_SLICE(body, sizeof body)));
    }
}

static bool lazy_connected(void *ctx)
{
    return ((lazy_client *)ctx)->s != NULL;
}

static bool all_answered(void *ctx)
{
    return ((lazy_client *)ctx)->answers == PIPELINED;
}

static bool lazy_closed_or_gone(void *ctx)
{
    return ((lazy_client *)ctx)->closed;
}

static bool no_connections(void *ctx)
{
    return cs_http_server_connection_count(((cst_http *)ctx)->server) == 0;
}

static void unread_answers_stop_the_server(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    lazy_client c;
    memset(&c, 0, sizeof c);
    cs_buf_init(&c.got, 0);
    cst_ok(cs_tcp_connect(&h.loop, h.addr, lazy_connect, &c));
    cst_run_until(&h.loop, 5000, lazy_connected, &c, "connected");
    run_for(&h.loop, 1000);
    /* ~16 MiB of answers owed; the server stopped after a few MiB (its
     * high-water mark plus what the kernel buffers on loopback) */
    size_t taken = h.requests_seen;
    printf("# requests taken while the client read nothing: %zu of %d\n", taken, PIPELINED);
    assert_true(taken > 0);
    assert_true(taken < PIPELINED / 2);
    run_for(&h.loop, 300);
    assert_int_equal(h.requests_seen, taken); /* still stopped */
    /* the client reads: every answer comes, in order, and the rest is taken */
    cs_stream_resume(c.s);
    cst_run_until(&h.loop, 20000, all_answered, &c, "all answers");
    assert_int_equal(h.requests_seen, PIPELINED);
    cs_stream_close(c.s);
    cst_run_until(&h.loop, 5000, no_connections, &h, "the server's side closed");
    cs_buf_cleanup(&c.got);
    cst_http_stop(&h);
}

static bool gave_up(void *ctx)
{
    cs_http_server_stats stats;
    cs_http_server_stats_get(((cst_http *)ctx)->server, &stats);
    return stats.idle_timeouts > 0;
}

/* Answers that wait longer than the idle timeout: the server gives up on
 * the connection (closes it: what is queued still gets the stream's flush
 * time, CS_TCP_FLUSH_TIMEOUT_MS) and takes none of its requests again. */
static void unread_answers_time_out(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){.idle_timeout_ms = 400});
    lazy_client c;
    memset(&c, 0, sizeof c);
    cs_buf_init(&c.got, 0);
    cst_ok(cs_tcp_connect(&h.loop, h.addr, lazy_connect, &c));
    cst_run_until(&h.loop, 5000, lazy_connected, &c, "connected");
    run_for(&h.loop, 200);
    cs_http_server_stats stats;
    cs_http_server_stats_get(h.server, &stats);
    assert_int_equal(stats.idle_timeouts, 0); /* not before the timeout */
    cst_run_until(&h.loop, 5000, gave_up, &h, "the server to give up on the connection");
    size_t taken = h.requests_seen;
    assert_true(taken < PIPELINED / 2);
    /* the client reads now: it gets the answers owed, then the close */
    cs_stream_resume(c.s);
    cst_run_until(&h.loop, 10000, lazy_closed_or_gone, &c, "the client to see the close");
    assert_int_equal(h.requests_seen, taken);
    assert_int_equal(c.answers, taken);
    cst_run_until(&h.loop, 10000, no_connections, &h, "the server's side closed");
    cs_http_server_stats_get(h.server, &stats);
    assert_int_equal(stats.idle_timeouts, 1);
    cs_buf_cleanup(&c.got);
    cst_http_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_drain),
        cmocka_unit_test(tls_drain),
        cmocka_unit_test(unread_answers_stop_the_server),
        cmocka_unit_test(unread_answers_time_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
