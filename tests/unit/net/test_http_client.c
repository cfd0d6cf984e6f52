/*
 * The HTTP client against the HTTP server (TCP and TLS), and against raw
 * servers for the response shapes ours never sends.
 */
#include "http_fixture.h"

#include "net/tls_stream.h"

/* ---- a client on its own connection ---- */

struct cli;

typedef struct reply {
    struct cli *owner;
    bool done;
    consort_err err;
    char msg[CS_ERRMSG_MAX]; /* the message the completion carried */
    int status;
    char body[256];
    char echo_len[16];
    int order; /* the position at which this reply arrived */
} reply;

typedef struct cli {
    cs_http_client *c;
    bool connected, closed;
    consort_err close_reason;
    char close_msg[CS_ERRMSG_MAX];
    int arrived;
    reply replies[64];
} cli;

static void on_reply(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    reply *r = ctx;
    cst_cb_msg(err, msg);
    r->done = true;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    r->order = r->owner->arrived++;
    if (resp == NULL)
        return;
    r->status = resp->status;
    snprintf(r->body, sizeof r->body, "%.*s", (int)resp->body.len, (const char *)resp->body.ptr);
    const char *l = cs_http_response_header(resp, "X-Echo-Length");
    snprintf(r->echo_len, sizeof r->echo_len, "%s", l != NULL ? l : "");
}

static void cli_closed(void *ctx, consort_err reason, const char *msg)
{
    cli *c = ctx;
    cst_cb_msg(reason, msg);
    c->closed = true;
    c->close_reason = reason;
    snprintf(c->close_msg, sizeof c->close_msg, "%s", msg);
}

static void cli_connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    cli *c = ctx;
    cst_cb_msg(err, msg);
    cst_cb_ok(err, msg);
    const cs_http_client_params p = {.on_close = cli_closed, .ctx = c};
    cst_ok(cs_http_client_new(s, &p, &c->c));
    c->connected = true;
}

/* Sends request i; its reply lands in replies[i]. */
static void send_req(cli *c, int i, const char *method, const char *target, cs_slice body)
{
    c->replies[i].owner = c;
    cst_ok(cs_http_client_request(c->c, method, target, NULL, 0, body, on_reply, &c->replies[i]));
}

static bool reply_done(void *ctx)
{
    return ((reply *)ctx)->done;
}

typedef struct wait_n {
    cli *c;
    int n;
} wait_n;

static bool arrived_n(void *ctx)
{
    wait_n *w = ctx;
    return w->c->arrived >= w->n;
}

static void connect_cli(cst_http *h, cli *c)
{
    memset(c, 0, sizeof *c);
    cst_ok(cs_tcp_connect(&h->loop, h->addr, cli_connected, c));
    cst_run_until(&h->loop, 5000, cst_flag_set, &c->connected, "client connected");
}

static void round_trips(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    cli c;
    connect_cli(&h, &c);
    send_req(&c, 0, "GET", "/hello?name=x", CS_SLICE_EMPTY);
    send_req(&c, 1, "POST", "/echo", CS_SLICE_LIT("data"));
    send_req(&c, 2, "HEAD", "/head", CS_SLICE_EMPTY);
    send_req(&c, 3, "PUT", "/empty", CS_SLICE_EMPTY);
    wait_n w = {&c, 4};
    cst_run_until(&h.loop, 5000, arrived_n, &w, "four replies");
    for (int i = 0; i < 4; i++) {
        cst_ok(c.replies[i].err);
        assert_int_equal(c.replies[i].status, 200);
        assert_int_equal(c.replies[i].order, i);
    }
    assert_string_equal(c.replies[0].body, "GET /hello name=x ");
    assert_string_equal(c.replies[1].body, "POST /echo  data");
    assert_string_equal(c.replies[1].echo_len, "4");
    assert_string_equal(c.replies[2].body, ""); /* HEAD: no body, connection still in sync */
    assert_string_equal(c.replies[3].body, "PUT /empty  ");
    assert_true(cs_http_client_is_open(c.c));
    assert_int_equal(cs_http_client_pending(c.c), 0);
    cs_http_client_free(c.c);
    cst_http_stop(&h);
}

/* Many requests one after the other on one keep-alive connection. */
typedef struct chain {
    cli *c;
    int left;
    int ok;
} chain;

static void chain_next(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    chain *ch = ctx;
    cst_cb_ok(err, msg);
    assert_int_equal(resp->status, 200);
    ch->ok++;
    if (--ch->left > 0)
        cst_ok(cs_http_client_request(ch->c->c, "GET", "/again", NULL, 0, CS_SLICE_EMPTY,
                                      chain_next, ch));
}

static bool chain_done(void *ctx)
{
    return ((chain *)ctx)->left == 0;
}

static void keep_alive_many_requests(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    cli c;
    connect_cli(&h, &c);
    chain ch = {&c, 300, 0};
    cst_ok(cs_http_client_request(c.c, "GET", "/first", NULL, 0, CS_SLICE_EMPTY, chain_next, &ch));
    cst_run_until(&h.loop, 20000, chain_done, &ch, "300 sequential requests");
    assert_int_equal(ch.ok, 300);
    assert_int_equal(h.requests_seen, 300);
    assert_int_equal(h.max_conns, 1);
    cs_http_client_free(c.c);
    cst_http_stop(&h);
}

/* Pipelined requests; the handler answers in a scrambled order; the client sees request order. */
static void pipelined_answers_in_order(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    h.hold = true;
    cli c;
    connect_cli(&h, &c);
    enum { N = 40 };
    char targets[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(targets[i], sizeof targets[i], "/r%d", i);
        send_req(&c, i, i % 2 ? "POST" : "GET", targets[i], CS_SLICE_LIT("b"));
    }
    assert_int_equal(cs_http_client_pending(c.c), N);
    while (h.held_count < N)
        uv_run(&h.loop, UV_RUN_ONCE);
    /* answer in a fixed pseudo-random order */
    unsigned x = 12345;
    bool answered[N] = {false};
    for (int k = 0; k < N; k++) {
        int i;
        do {
            x = x * 1103515245u + 12345u;
            i = (int)((x >> 8) % N);
        } while (answered[i]);
        answered[i] = true;
        cst_http_echo(h.held[i]);
        if (k % 7 == 0)
            uv_run(&h.loop, UV_RUN_NOWAIT);
    }
    wait_n w = {&c, N};
    cst_run_until(&h.loop, 5000, arrived_n, &w, "all replies");
    for (int i = 0; i < N; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s /r%d  b", i % 2 ? "POST" : "GET", i);
        assert_string_equal(c.replies[i].body, want);
        assert_int_equal(c.replies[i].order, i);
    }
    cs_http_client_free(c.c);
    cst_http_stop(&h);
}

static void too_large_then_closed(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    cli c;
    connect_cli(&h, &c);
    cs_buf big;
    cs_buf_init(&big, 0);
    uint8_t *p;
    cst_ok(cs_buf_extend(&big, (1u << 20) + 1, &p));
    send_req(&c, 0, "POST", "/big", cs_buf_slice(&big));
    send_req(&c, 1, "GET", "/after", CS_SLICE_EMPTY);
    cs_buf_cleanup(&big);
    cst_run_until(&h.loop, 5000, cst_flag_set, &c.closed, "the server to close");
    cst_ok(c.replies[0].err);
    assert_int_equal(c.replies[0].status, 413);
    assert_non_null(strstr(c.replies[0].body, "\"code\":\"RequestTooLarge\""));
    cst_fails(c.replies[1].err, CONSORT_E_STATE); /* queued behind Connection: close */
    assert_false(cs_http_client_is_open(c.c));
    cst_fails(
        cs_http_client_request(c.c, "GET", "/", NULL, 0, CS_SLICE_EMPTY, on_reply, &c.replies[2]),
        CONSORT_E_STATE);
    assert_int_equal(h.requests_seen, 0);
    cs_http_client_free(c.c);
    cst_http_stop(&h);
}

static void client_argument_errors_and_free(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    h.hold = true;
    cli c;
    connect_cli(&h, &c);
    reply r;
    cst_fails(cs_http_client_request(c.c, "get me", "/", NULL, 0, CS_SLICE_EMPTY, on_reply, &r),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_http_client_request(c.c, "GET", "/a b", NULL, 0, CS_SLICE_EMPTY, on_reply, &r),
              CONSORT_E_INVALID_ARGUMENT);
    const cs_http_header cl[] = {{"Content-Length", "5"}};
    cst_fails(cs_http_client_request(c.c, "GET", "/", cl, 1, CS_SLICE_EMPTY, on_reply, &r),
              CONSORT_E_INVALID_ARGUMENT);
    const cs_http_header crlf[] = {{"X", "1\r\nY: 2"}};
    cst_fails(cs_http_client_request(c.c, "GET", "/", crlf, 1, CS_SLICE_EMPTY, on_reply, &r),
              CONSORT_E_INVALID_ARGUMENT);
    /* freeing with requests pending fails them now */
    send_req(&c, 0, "GET", "/pending", CS_SLICE_EMPTY);
    while (h.held_count < 1)
        uv_run(&h.loop, UV_RUN_ONCE);
    cs_http_client_free(c.c);
    assert_true(c.replies[0].done);
    cst_fails(c.replies[0].err, CONSORT_E_STATE);
    assert_string_equal(c.replies[0].msg, "HTTP client: closed");
    assert_false(c.closed); /* on_close is not called after free */
    cst_ok(cs_http_respond(h.held[0], 200, NULL, 0, CS_SLICE_EMPTY)); /* dropped or ignored */
    cs_http_client_free(NULL);
    cst_http_stop(&h);
}

/* The server side goes away with a request pending: the callback gets the error. */
static void server_gone_while_pending(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    h.hold = true;
    cli c;
    connect_cli(&h, &c);
    send_req(&c, 0, "GET", "/never", CS_SLICE_EMPTY);
    while (h.held_count < 1)
        uv_run(&h.loop, UV_RUN_ONCE);
    cs_http_server_free(h.server);
    h.server = NULL;
    cst_run_until(&h.loop, 5000, reply_done, &c.replies[0], "the request to fail");
    cst_fails(c.replies[0].err, CONSORT_E_IO);
    assert_true(c.closed);
    cst_ok(cs_http_respond(h.held[0], 200, NULL, 0, CS_SLICE_EMPTY));
    cs_http_client_free(c.c);
    cst_http_stop(&h);
}

/* A failed request's message travels with its completion (STYLE.md rule
 * 10), not in the thread-local message: a decoy set there before the loop
 * runs, and again by each callback before the next one runs, must not reach
 * the callbacks. */
static void decoy_reply(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    on_reply(ctx, err, msg, resp);
    (void)cs_fail(CONSORT_E_IO, "decoy");
}

static void decoy_closed(void *ctx, consort_err reason, const char *msg)
{
    cli_closed(ctx, reason, msg);
    (void)cs_fail(CONSORT_E_IO, "decoy");
}

static void decoy_connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    cli *c = ctx;
    cst_cb_ok(err, msg);
    const cs_http_client_params p = {.on_close = decoy_closed, .ctx = c};
    cst_ok(cs_http_client_new(s, &p, &c->c));
    c->connected = true;
}

static void response_failure_carries_message(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, (cs_http_server_params){0});
    h.hold = true;
    cli c;
    memset(&c, 0, sizeof c);
    cst_ok(cs_tcp_connect(&h.loop, h.addr, decoy_connected, &c));
    cst_run_until(&h.loop, 5000, cst_flag_set, &c.connected, "client connected");
    for (int i = 0; i < 2; i++) {
        c.replies[i].owner = &c;
        cst_ok(cs_http_client_request(c.c, "GET", "/never", NULL, 0, CS_SLICE_EMPTY, decoy_reply,
                                      &c.replies[i]));
    }
    while (h.held_count < 2)
        uv_run(&h.loop, UV_RUN_ONCE);
    cs_http_server_free(h.server); /* the connection closes with both unanswered */
    h.server = NULL;
    (void)cs_fail(CONSORT_E_IO, "decoy");
    cst_run_until(&h.loop, 5000, reply_done, &c.replies[1], "both requests to fail");
    for (int i = 0; i < 2; i++) {
        assert_true(c.replies[i].done);
        cst_fails(c.replies[i].err, CONSORT_E_IO);
        assert_true(c.replies[i].msg[0] != '\0');
        assert_null(strstr(c.replies[i].msg, "decoy"));
        assert_non_null(strstr(c.replies[i].msg, "connection ended before the response"));
    }
    assert_true(c.closed);
    assert_null(strstr(c.close_msg, "decoy"));
    for (size_t i = 0; i < h.held_count; i++)
        cst_ok(cs_http_respond(h.held[i], 200, NULL, 0, CS_SLICE_EMPTY)); /* dropped */
    cs_http_client_free(c.c);
    cst_http_stop(&h);
}

/* ---- raw servers: responses our server never sends ---- */

typedef struct raw_srv {
    const char *reply;
} raw_srv;

static void raw_srv_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)data;
    raw_srv *r = ctx;
    cst_ok(cs_stream_write(s, cs_slice_str(r->reply)));
    cs_stream_close(s);
}

static void raw_srv_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)ctx;
    (void)s;
    (void)reason;
}

static void raw_srv_accept(void *ctx, cs_stream *s)
{
    const cs_stream_cbs cbs = {.on_data = raw_srv_data, .on_close = raw_srv_close};
    cs_stream_set_cbs(s, &cbs, ctx);
}

static void raw_server_case(const char *response, consort_err want_err, int want_status,
                            const char *want_body, const char *want_msg)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    raw_srv srv = {response};
    cs_listener *l;
    cst_ok(cs_tcp_listen(&loop, "127.0.0.1:0", raw_srv_accept, &srv, &l));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(l));
    cli c;
    memset(&c, 0, sizeof c);
    cst_ok(cs_tcp_connect(&loop, addr, cli_connected, &c));
    cst_run_until(&loop, 5000, cst_flag_set, &c.connected, "connected");
    send_req(&c, 0, "GET", "/", CS_SLICE_EMPTY);
    cst_run_until(&loop, 5000, cst_flag_set, &c.closed, "closed");
    assert_true(c.replies[0].done);
    if (c.replies[0].err != want_err)
        fail_msg("got %s (%s), expected %s", consort_err_name(c.replies[0].err), c.replies[0].msg,
                 consort_err_name(want_err));
    if (want_err != CONSORT_OK && want_msg != NULL && strstr(c.replies[0].msg, want_msg) == NULL)
        fail_msg("message \"%s\" does not name \"%s\"", c.replies[0].msg, want_msg);
    if (want_err == CONSORT_OK) {
        assert_int_equal(c.replies[0].status, want_status);
        assert_string_equal(c.replies[0].body, want_body);
    }
    cs_http_client_free(c.c);
    cs_listener_close(l);
    cst_loop_finish(&loop);
}

static void response_shapes(void **state)
{
    (void)state;
    /* delimited by the end of the stream */
    raw_server_case("HTTP/1.1 200 OK\r\n\r\nuntil close", CONSORT_OK, 200, "until close", NULL);
    /* an interim 100 Continue before the final response */
    raw_server_case("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n"
                    "\r\nok",
                    CONSORT_OK, 201, "ok", NULL);
    /* chunked */
    raw_server_case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                    CONSORT_OK, 200, "abc", NULL);
    /* chunk data not followed by CRLF (RFC 9112 §7.1) */
    raw_server_case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
                    CONSORT_E_MALFORMED, 0, "", "not followed by CRLF");
    /* garbage */
    raw_server_case("SMTP ready\r\n", CONSORT_E_MALFORMED, 0, "", "HTTP response from");
    /* RFC 9112 §6.3: no body after a 304 or 204, whatever Content-Length says
     * (a 304 carries the length of the 200 it stands for) */
    raw_server_case("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"a\"\r\n\r\n",
                    CONSORT_OK, 304, "", NULL);
    raw_server_case("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", CONSORT_OK, 204, "",
                    NULL);
    /* closed before the body is complete */
    raw_server_case("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", CONSORT_E_IO, 0, "",
                    "connection ended before the response");
}

/* ---- over TLS, with a client certificate the handler can see ---- */

typedef struct tls_h {
    cst_http h;
    bool saw_cert;
} tls_h;

static void tls_handler(void *ctx, cs_http_request *req)
{
    tls_h *t = ctx;
    t->saw_cert = cs_http_request_peer_cert(req) != NULL;
    cst_http_echo(req);
}

static void over_tls(void **state)
{
    (void)state;
    cst_pki pki;
    cst_pki_init(&pki, "service");
    cs_key *sk, *ck;
    cs_x509 *sc, *cc;
    cst_pki_issue(&pki, "node", -60, 3600, &sk, &sc);
    cst_pki_issue(&pki, "member", -60, 3600, &ck, &cc);
    cs_x509 *roots[] = {pki.ca};
    cs_tls_pinned pin = {.roots = roots, .root_count = 1};
    const cs_tls_params sp = {.role = CS_TLS_SERVER,
                              .key = sk,
                              .cert = sc,
                              .client_auth = CS_TLS_CLIENT_CERT_REQUEST,
                              .verify = cs_tls_verify_pinned,
                              .verify_ctx = &pin};
    const cs_tls_params cp = {.role = CS_TLS_CLIENT,
                              .key = ck,
                              .cert = cc,
                              .verify = cs_tls_verify_pinned,
                              .verify_ctx = &pin};
    cs_tls_config *scfg, *ccfg;
    cst_ok(cs_tls_config_new(&sp, &scfg));
    cst_ok(cs_tls_config_new(&cp, &ccfg));

    tls_h t;
    memset(&t, 0, sizeof t);
    assert_int_equal(uv_loop_init(&t.h.loop), 0);
    const cs_http_server_params params = {.on_request = tls_handler, .ctx = &t};
    cst_ok(cs_http_server_new(&t.h.loop, &params, &t.h.server));
    cst_ok(cs_tls_listen(&t.h.loop, "127.0.0.1:0", scfg, cs_http_server_accept_cb, t.h.server,
                         &t.h.listener));
    snprintf(t.h.addr, sizeof t.h.addr, "127.0.0.1:%u", cs_listener_port(t.h.listener));
    cli c;
    memset(&c, 0, sizeof c);
    cst_ok(cs_tls_connect(&t.h.loop, t.h.addr, ccfg, cli_connected, &c));
    cst_run_until(&t.h.loop, 5000, cst_flag_set, &c.connected, "TLS client connected");
    send_req(&c, 0, "POST", "/app/tls", CS_SLICE_LIT("secret"));
    cst_run_until(&t.h.loop, 5000, reply_done, &c.replies[0], "reply over TLS");
    cst_ok(c.replies[0].err);
    assert_string_equal(c.replies[0].body, "POST /app/tls  secret");
    assert_true(t.saw_cert);
    cs_http_client_free(c.c);
    cst_http_stop(&t.h);
    cs_tls_config_free(scfg);
    cs_tls_config_free(ccfg);
    cs_key_free(sk);
    cs_key_free(ck);
    cs_x509_free(sc);
    cs_x509_free(cc);
    cst_pki_cleanup(&pki);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips),
        cmocka_unit_test(keep_alive_many_requests),
        cmocka_unit_test(pipelined_answers_in_order),
        cmocka_unit_test(too_large_then_closed),
        cmocka_unit_test(client_argument_errors_and_free),
        cmocka_unit_test(server_gone_while_pending),
        cmocka_unit_test(response_failure_carries_message),
        cmocka_unit_test(response_shapes),
        cmocka_unit_test(over_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
