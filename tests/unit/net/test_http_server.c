/*
 * The HTTP server on real sockets, driven by a raw TCP client so every
 * byte on the wire is checked: limits (413, 431), malformed requests (400),
 * chunked bodies, Connection: close, 100-continue, idle timeout, pipelined
 * requests answered in order.
 */
#include "http_fixture.h"

static const char *body_of(const cst_raw *r)
{
    const char *b = strstr((const char *)r->got.ptr, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

static void malformed_request_gets_400_and_close(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    cst_raw r;
    cst_raw_exchange(&h, &r, "BLAH\x01 / HTTP/1.1\r\n\r\n");
    const char *got = (const char *)r.got.ptr;
    assert_non_null(strstr(got, "HTTP/1.1 400 Bad Request\r\n"));
    assert_non_null(strstr(got, "Connection: close\r\n"));
    assert_non_null(strstr(got, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(body_of(&r), "{\"error\":{\"code\":\"MalformedRequest\",\"message\":"));
    assert_int_equal(h.requests_seen, 0);
    cs_buf_cleanup(&r.got);
    cst_http_stop(&h);
}

static void body_too_large_gets_413(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){.limits = {.max_body_bytes = 10}});
    cst_raw r;
    /* declared: refused before the body arrives */
    cst_raw_exchange(&h, &r, "POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890");
    assert_non_null(strstr((const char *)r.got.ptr, "HTTP/1.1 413 Content Too Large\r\n"));
    assert_non_null(strstr(body_of(&r), "\"code\":\"RequestTooLarge\""));
    cs_buf_cleanup(&r.got);
    /* chunked: refused when it grows past the limit */
    cst_raw_exchange(&h, &r,
                     "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n");
    assert_non_null(strstr((const char *)r.got.ptr, "HTTP/1.1 413 "));
    assert_int_equal(h.requests_seen, 0);
    cs_buf_cleanup(&r.got);
    cst_http_stop(&h);
}

static void default_limits_1mib_body_16kib_headers(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    cst_raw r;
    cst_raw_exchange(&h, &r, "POST /x HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n");
    assert_non_null(strstr((const char *)r.got.ptr, "HTTP/1.1 413 "));
    cs_buf_cleanup(&r.got);
    cs_buf req;
    cs_buf_init(&req, 0);
    cst_ok(cs_buf_printf(&req, "GET / HTTP/1.1\r\nX-Big: "));
    for (int i = 0; i < 17 * 1024; i++)
        cst_ok(cs_buf_append_u8(&req, 'a'));
    cst_ok(cs_buf_printf(&req, "\r\n\r\n"));
    cst_ok(cs_buf_append_u8(&req, 0));
    cst_raw_exchange(&h, &r, (const char *)req.ptr);
    assert_non_null(
        strstr((const char *)r.got.ptr, "HTTP/1.1 431 Request Header Fields Too Large"));
    assert_non_null(strstr(body_of(&r), "\"code\":\"RequestHeaderTooLarge\""));
    cs_buf_cleanup(&r.got);
    cs_buf_cleanup(&req);
    assert_int_equal(h.requests_seen, 0);
    cst_http_stop(&h);
}

static void chunked_body_and_connection_close(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    cst_raw r;
    cst_raw_exchange(&h, &r,
                     "POST /chunky?x=1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: close\r\n\r\n"
                     "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
                     "GET /never HTTP/1.1\r\n\r\n");
    const char *got = (const char *)r.got.ptr;
    assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(got, "x-echo-length: 11\r\n"));
    assert_non_null(strstr(got, "Connection: close\r\n"));
    assert_string_equal(body_of(&r), "POST /chunky x=1 hello world");
    assert_int_equal(h.requests_seen, 1); /* nothing after Connection: close is served */
    cs_buf_cleanup(&r.got);
    /* HTTP/1.0 without keep-alive closes too */
    cst_raw_exchange(&h, &r, "GET /old HTTP/1.0\r\n\r\n");
    assert_non_null(strstr((const char *)r.got.ptr, "Connection: close\r\n"));
    assert_string_equal(body_of(&r), "GET /old  ");
    cs_buf_cleanup(&r.got);
    cst_http_stop(&h);
}

static void expect_100_continue(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    cst_raw r;
    cst_raw_exchange(&h, &r,
                     "PUT /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
                     "Connection: close\r\n\r\nok");
    const char *got = (const char *)r.got.ptr;
    assert_true(strncmp(got, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42) == 0);
    cs_buf_cleanup(&r.got);
    cst_http_stop(&h);
}

static bool held_n(void *ctx)
{
    cst_http *h = ((void **)ctx)[0];
    size_t n = *(size_t *)((void **)ctx)[1];
    return h->held_count >= n;
}

/* Pipelined requests answered out of order: the responses still leave in request order. */
static void pipelined_out_of_order(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){.max_pipeline = 3});
    h.hold = true;
    cst_raw r;
    memset(&r, 0, sizeof r);
    cs_buf_init(&r.got, 0);
    r.send = "GET /0 HTTP/1.1\r\n\r\nGET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"
             "GET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\n"
             "GET /5 HTTP/1.1\r\nConnection: close\r\n\r\n";
    cst_ok(cs_tcp_connect(&h.loop, h.addr, cst_raw_connect, &r));
    size_t want = 3;
    void *args[] = {&h, &want};
    cst_run_until(&h.loop, 5000, held_n, args, "three requests held");
    /* the pipeline limit: the other three wait unparsed */
    uv_run(&h.loop, UV_RUN_NOWAIT);
    assert_int_equal(h.held_count, 3);
    /* answer 2, then 1: nothing may be written while 0 is unanswered */
    cst_http_echo(h.held[2]);
    cst_http_echo(h.held[1]);
    uv_run(&h.loop, UV_RUN_NOWAIT);
    assert_int_equal(r.got.len, 0);
    assert_int_equal(h.held_count, 3);
    cst_http_echo(h.held[0]); /* now 0, 1, 2 leave and 3, 4, 5 are parsed */
    want = 6;
    cst_run_until(&h.loop, 5000, held_n, args, "the rest held");
    cst_http_echo(h.held[5]);
    cst_http_echo(h.held[3]);
    cst_http_echo(h.held[4]);
    cst_run_until(&h.loop, 5000, cst_raw_closed, &r, "all answered and closed");
    cst_ok(cs_buf_append_u8(&r.got, 0));
    const char *p = (const char *)r.got.ptr;
    for (int i = 0; i < 6; i++) {
        char want_body[32];
        snprintf(want_body, sizeof want_body, "\r\n\r\nGET /%d  ", i);
        const char *at = strstr(p, want_body);
        if (at == NULL)
            fail_msg("response %d missing or out of order in:\n%s", i, (const char *)r.got.ptr);
        p = at + strlen(want_body);
    }
    assert_int_equal(h.max_conns, 1);
    cs_buf_cleanup(&r.got);
    cst_http_stop(&h);
}

/* A malformed request behind pipelined ones: they are answered first, then 400 and close. */
static void error_after_pipelined_requests(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    h.hold = true;
    cst_raw r;
    memset(&r, 0, sizeof r);
    cs_buf_init(&r.got, 0);
    r.send = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGARBAGE\r\n\r\n";
    cst_ok(cs_tcp_connect(&h.loop, h.addr, cst_raw_connect, &r));
    size_t want = 2;
    void *args[] = {&h, &want};
    cst_run_until(&h.loop, 5000, held_n, args, "two requests held");
    uv_run(&h.loop, UV_RUN_NOWAIT);
    assert_int_equal(r.got.len, 0); /* the 400 waits for the answers owed before it */
    cst_http_echo(h.held[1]);
    cst_http_echo(h.held[0]);
    cst_run_until(&h.loop, 5000, cst_raw_closed, &r, "closed");
    cst_ok(cs_buf_append_u8(&r.got, 0));
    const char *got = (const char *)r.got.ptr;
    const char *a = strstr(got, "GET /a");
    const char *b = strstr(got, "GET /b");
    const char *bad = strstr(got, "HTTP/1.1 400 ");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(bad);
    assert_true(a < b && b < bad);
    cs_buf_cleanup(&r.got);
    cst_http_stop(&h);
}

static void idle_connection_closed(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){.idle_timeout_ms = 100});
    cst_raw r;
    uint64_t t0 = uv_now(&h.loop);
    cst_raw_exchange(&h, &r, NULL);
    assert_int_equal(r.got.len, 1); /* just our NUL: nothing was sent */
    assert_true(uv_now(&h.loop) - t0 >= 90);
    cs_buf_cleanup(&r.got);
    cst_http_stop(&h);
}

/* The server goes away while a handler holds a request: answering later is harmless. */
static void server_freed_with_request_held(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    h.hold = true;
    cst_raw r;
    memset(&r, 0, sizeof r);
    cs_buf_init(&r.got, 0);
    r.send = "GET /held HTTP/1.1\r\n\r\n";
    cst_ok(cs_tcp_connect(&h.loop, h.addr, cst_raw_connect, &r));
    size_t want = 1;
    void *args[] = {&h, &want};
    cst_run_until(&h.loop, 5000, held_n, args, "request held");
    assert_true(cs_http_request_connected(h.held[0]));
    assert_non_null(strstr(cs_http_request_peer_address(h.held[0]), "127.0.0.1:"));
    assert_null(cs_http_request_peer_cert(h.held[0])); /* plain TCP */
    cs_http_server_free(h.server);
    h.server = NULL;
    cst_run_until(&h.loop, 5000, cst_raw_closed, &r, "connection closed");
    assert_false(cs_http_request_connected(h.held[0]));
    cst_ok(cs_http_respond(h.held[0], 200, NULL, 0, CS_SLICE_LIT("late")));
    assert_int_equal(r.got.len, 0);
    cs_buf_cleanup(&r.got);
    cst_http_stop(&h);
}

/* A handler's bad header becomes a 500, and the request is still consumed. */
static void bad_handler_response_is_500(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    h.hold = true;
    cst_raw r;
    memset(&r, 0, sizeof r);
    cs_buf_init(&r.got, 0);
    r.send = "GET /x HTTP/1.1\r\n\r\n";
    cst_ok(cs_tcp_connect(&h.loop, h.addr, cst_raw_connect, &r));
    size_t want = 1;
    void *args[] = {&h, &want};
    cst_run_until(&h.loop, 5000, held_n, args, "request held");
    const cs_http_header bad[] = {{"X-Bad", "a\r\nInjected: 1"}};
    cst_fails(cs_http_respond(h.held[0], 200, bad, 1, CS_SLICE_EMPTY), CONSORT_E_INVALID_ARGUMENT);
    cst_run_until(&h.loop, 5000, cst_raw_closed, &r, "closed");
    cst_ok(cs_buf_append_u8(&r.got, 0));
    assert_non_null(strstr((const char *)r.got.ptr, "HTTP/1.1 500 Internal Server Error"));
    assert_null(strstr((const char *)r.got.ptr, "Injected"));
    cs_buf_cleanup(&r.got);
    cst_http_stop(&h);
}

/* The loop turns in which requests 0..n-1 were dispatched. */
static size_t turns(const cst_http *h, size_t n)
{
    size_t t = n > 0 ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        t += h->turn_of[i] != h->turn_of[i - 1];
    return t;
}

/* A burst of ready requests holds the loop for at most about one turn's
 * budget (CS_HTTP_TURN_BUDGET_MS): pipelined on one connection, or one
 * each on many, the rest wait for later turns, in order, and all are
 * answered. */
static void requests_spread_over_turns(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    h.busy_ms = 8; /* 8 requests: 64 ms of handler work */
    cst_raw r;
    cst_raw_exchange(&h, &r,
                     "GET /0 HTTP/1.1\r\n\r\nGET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"
                     "GET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\nGET /5 HTTP/1.1\r\n\r\n"
                     "GET /6 HTTP/1.1\r\n\r\nGET /7 HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_int_equal(h.requests_seen, 8);
    assert_true(turns(&h, 8) >= 3);
    for (size_t i = 1; i < 8; i++)
        assert_true(h.turn_of[i] - h.turn_of[0] < 1000);
    const char *p = (const char *)r.got.ptr;
    for (int i = 0; i < 8; i++) {
        char want[32];
        snprintf(want, sizeof want, "GET /%d  ", i);
        const char *at = strstr(p, want);
        if (at == NULL)
            fail_msg("response %d missing or out of order in:\n%s", i, (const char *)r.got.ptr);
        p = at + strlen(want);
    }
    cs_buf_cleanup(&r.got);
    cs_http_server_stats st;
    cs_http_server_stats_get(h.server, &st);
    assert_true(st.turns_deferred >= 2);

    /* one request on each of 8 connections, all ready in one turn */
    h.requests_seen = 0;
    cst_raw many[8];
    for (int i = 0; i < 8; i++) {
        memset(&many[i], 0, sizeof many[i]);
        cs_buf_init(&many[i].got, 0);
        many[i].send = "GET /m HTTP/1.1\r\nConnection: close\r\n\r\n";
        cst_ok(cs_tcp_connect(&h.loop, h.addr, cst_raw_connect, &many[i]));
    }
    for (int i = 0; i < 8; i++)
        cst_run_until(&h.loop, 5000, cst_raw_closed, &many[i], "each answered");
    assert_int_equal(h.requests_seen, 8);
    assert_true(turns(&h, 8) >= 3);
    for (int i = 0; i < 8; i++) {
        cst_ok(cs_buf_append_u8(&many[i].got, 0));
        assert_non_null(strstr((const char *)many[i].got.ptr, "GET /m  "));
        cs_buf_cleanup(&many[i].got);
    }
    cst_http_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_request_gets_400_and_close),
        cmocka_unit_test(body_too_large_gets_413),
        cmocka_unit_test(default_limits_1mib_body_16kib_headers),
        cmocka_unit_test(chunked_body_and_connection_close),
        cmocka_unit_test(expect_100_continue),
        cmocka_unit_test(pipelined_out_of_order),
        cmocka_unit_test(requests_spread_over_turns),
        cmocka_unit_test(error_after_pipelined_requests),
        cmocka_unit_test(idle_connection_closed),
        cmocka_unit_test(server_freed_with_request_held),
        cmocka_unit_test(bad_handler_response_is_500),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
