/* TCP streams on 127.0.0.1: echo, connect errors, large transfers, close semantics. */
#include "xfer_fixture.h"

#include "net/tcp.h"

#include <stdio.h>

/* ---- echo ---- */

typedef struct echo {
    uv_loop_t loop;
    cs_listener *listener;
    cs_stream *client;
    cs_buf got;
    bool server_closed, client_closed, connected;
    consort_err client_reason, server_reason, connect_err;
    char connect_msg[CS_ERRMSG_MAX]; /* the message the connect callback carried */
    char server_peer[CS_NET_ADDRESS_MAX];
} echo;

static void server_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    cst_ok(cs_stream_write(s, data));
}

static void server_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    echo *e = ctx;
    cst_cb_msg(reason, msg);
    e->server_closed = true;
    e->server_reason = reason;
}

static void on_accept(void *ctx, cs_stream *s)
{
    echo *e = ctx;
    snprintf(e->server_peer, sizeof e->server_peer, "%s", cs_stream_peer_address(s));
    assert_null(cs_stream_peer_cert(s));
    const cs_stream_cbs cbs = {.on_data = server_data, .on_close = server_close};
    cs_stream_set_cbs(s, &cbs, e);
}

static void client_data(void *ctx, cs_stream *s, cs_slice data)
{
    echo *e = ctx;
    cst_ok(cs_buf_append_slice(&e->got, data));
    if (e->got.len == 11)
        cs_stream_close(s);
}

static void client_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    echo *e = ctx;
    cst_cb_msg(reason, msg);
    e->client_closed = true;
    e->client_reason = reason;
}

static void on_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    echo *e = ctx;
    cst_cb_msg(err, msg);
    e->connected = true;
    e->connect_err = err;
    snprintf(e->connect_msg, sizeof e->connect_msg, "%s", msg);
    e->client = s;
    if (s == NULL)
        return;
    const cs_stream_cbs cbs = {.on_data = client_data, .on_close = client_close};
    cs_stream_set_cbs(s, &cbs, e);
    cst_ok(cs_stream_write(s, CS_SLICE_LIT("hello ")));
    cst_ok(cs_stream_write(s, CS_SLICE_LIT("world")));
}

static bool both_closed(void *ctx)
{
    echo *e = ctx;
    return e->server_closed && e->client_closed;
}

static void tcp_echo(void **state)
{
    (void)state;
    echo e;
    memset(&e, 0, sizeof e);
    cs_buf_init(&e.got, 0);
    assert_int_equal(uv_loop_init(&e.loop), 0);
    cst_ok(cs_tcp_listen(&e.loop, "127.0.0.1:0", on_accept, &e, &e.listener));
    assert_true(cs_listener_port(e.listener) > 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(e.listener));
    assert_string_equal(cs_listener_address(e.listener), addr);
    cst_ok(cs_tcp_connect(&e.loop, addr, on_connect, &e));
    assert_false(e.connected); /* never from inside the call */
    cst_run_until(&e.loop, 5000, both_closed, &e, "echo and close");
    assert_int_equal(e.connect_err, CONSORT_OK);
    assert_int_equal(e.got.len, 11);
    assert_memory_equal(e.got.ptr, "hello world", 11);
    assert_int_equal(e.client_reason, CONSORT_OK);
    assert_int_equal(e.server_reason, CONSORT_OK);
    assert_non_null(strstr(e.server_peer, "127.0.0.1:"));
    cs_listener_close(e.listener);
    cst_loop_finish(&e.loop);
    cs_buf_cleanup(&e.got);
}

static void tcp_connect_errors(void **state)
{
    (void)state;
    echo e;
    memset(&e, 0, sizeof e);
    assert_int_equal(uv_loop_init(&e.loop), 0);
    /* a port nobody listens on: take one, then close it */
    cst_ok(cs_tcp_listen(&e.loop, "127.0.0.1:0", on_accept, &e, &e.listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(e.listener));
    cs_listener_close(e.listener);
    uv_run(&e.loop, UV_RUN_NOWAIT);
    cst_ok(cs_tcp_connect(&e.loop, addr, on_connect, &e));
    /* the failure's message comes with the callback, not in the thread-local
     * message (STYLE.md rule 10): what is there now must not reach it */
    cs_err_clear();
    (void)cs_fail(CONSORT_E_IO, "decoy");
    cst_run_until(&e.loop, 5000, cst_flag_set, &e.connected, "connect refused");
    assert_null(e.client);
    cst_fails(e.connect_err, CONSORT_E_IO);
    assert_null(strstr(e.connect_msg, "decoy"));
    assert_non_null(strstr(e.connect_msg, "connect to"));
    assert_non_null(strstr(e.connect_msg, addr));
    assert_non_null(strstr(e.connect_msg, "ECONNREFUSED"));

    cst_fails(cs_tcp_connect(&e.loop, "127.0.0.1", on_connect, &e), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_tcp_connect(&e.loop, "example.com:80", on_connect, &e),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_tcp_connect(&e.loop, "127.0.0.1:65536", on_connect, &e),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_tcp_connect(&e.loop, "127.0.0.1:8x", on_connect, &e), CONSORT_E_INVALID_ARGUMENT);
    cs_listener *l = NULL;
    cst_fails(cs_tcp_listen(&e.loop, "[::1:0", on_accept, &e, &l), CONSORT_E_INVALID_ARGUMENT);
    assert_null(l);
    /* a port that is taken */
    cst_ok(cs_tcp_listen(&e.loop, "127.0.0.1:0", on_accept, &e, &e.listener));
    snprintf(addr, sizeof addr, "localhost:%u", cs_listener_port(e.listener));
    cst_fails(cs_tcp_listen(&e.loop, addr, on_accept, &e, &l), CONSORT_E_IO);
    assert_non_null(strstr(consort_errmsg(), "EADDRINUSE"));
    cs_listener_close(e.listener);
    cst_loop_finish(&e.loop);
}

static void tcp_large_transfer(void **state)
{
    (void)state;
    cst_xfer x;
    cst_xfer_init(&x);
    cst_ok(cs_tcp_listen(&x.loop, "127.0.0.1:0", cst_xfer_accept, &x, &x.listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(x.listener));
    cst_ok(cs_tcp_connect(&x.loop, addr, cst_xfer_connect, &x));
    cst_xfer_run(&x);
}

/* A close with queued data flushes it first: the peer receives every byte. */
static void tcp_close_flushes(void **state)
{
    (void)state;
    cst_xfer x;
    cst_xfer_init(&x);
    cst_ok(cs_tcp_listen(&x.loop, "127.0.0.1:0", cst_xfer_accept, &x, &x.listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(x.listener));
    cst_ok(cs_tcp_connect(&x.loop, addr, cst_xfer_connect, &x));
    cst_run_until(&x.loop, 5000, cst_xfer_connected, &x, "connected");
    uint8_t *big = cs_malloc(CST_XFER_BYTES);
    assert_non_null(big);
    for (size_t i = 0; i < CST_XFER_BYTES; i++)
        big[i] = cst_pattern(x.a.seed, i);
    cst_ok(cs_stream_write(x.a.s, CS_SLICE(big, CST_XFER_BYTES)));
    cs_free(big);
    assert_true(cs_stream_write_queue_len(x.a.s) > 0);
    cs_stream_close(x.a.s);
    cst_run_until(&x.loop, 10000, cst_xfer_closed, &x, "flushed and closed");
    assert_int_equal(x.b.received, CST_XFER_BYTES);
    assert_false(x.b.bad);
    cs_listener_close(x.listener);
    cst_loop_finish(&x.loop);
}

static void count_accept(void *ctx, cs_stream *s)
{
    (void)ctx;
    cs_stream_close(s);
}

static void owner_released(void *ctx)
{
    (*(int *)ctx)++;
}

/*
 * A layered listener (TLS, attested) learns that it was closed inside
 * cs_listener_close itself, not later when libuv releases the handle.
 * Regression: the release came later, so a TLS handshake finishing in
 * between was delivered to an HTTP server that had already been freed
 * (use-after-free at consortd shutdown, found by ASan in an integration test).
 */
static void tcp_owned_listener_released_at_close(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int released = 0;
    cs_listener *l;
    cst_ok(cs_tcp_listen_owned(&loop, "127.0.0.1:0", count_accept, &released, owner_released,
                               &l));
    assert_int_equal(released, 0);
    cs_listener_close(l);
    assert_int_equal(released, 1); /* before the loop ran again */
    cs_listener_close(l);          /* closing twice is harmless */
    cst_loop_finish(&loop);
    assert_int_equal(released, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_echo),
        cmocka_unit_test(tcp_connect_errors),
        cmocka_unit_test(tcp_large_transfer),
        cmocka_unit_test(tcp_close_flushes),
        cmocka_unit_test(tcp_owned_listener_released_at_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
