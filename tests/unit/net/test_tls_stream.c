/*
 * TLS streams over real TCP on 127.0.0.1: pinned CA accepted, wrong CA
 * refused, client certificate required, expired certificates, handshake
 * timeout, garbage, and large transfers with back-pressure. Writes of one
 * turn: test_tls_gather.c.
 */
#include "tls_fixture.h"

/* ---- one connection, observed from both ends ---- */

typedef struct conn {
    uv_loop_t loop;
    cs_listener *listener;
    cs_stream *server, *client;
    int accepted;
    bool connect_done, client_closed, server_closed;
    consort_err connect_err, client_reason, server_reason;
    /* the messages the callbacks carried */
    char connect_msg[CS_ERRMSG_MAX], client_msg[CS_ERRMSG_MAX];
    uint8_t server_peer_fp[32], client_peer_fp[32];
    bool server_had_peer;
    cs_buf client_got;
} conn;

static void s_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    cst_ok(cs_stream_write(s, data)); /* echo */
}

static void s_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    conn *c = ctx;
    cst_cb_msg(reason, msg);
    c->server_closed = true;
    c->server_reason = reason;
}

static void s_accept(void *ctx, cs_stream *s)
{
    conn *c = ctx;
    c->accepted++;
    c->server = s;
    const cs_x509 *peer = cs_stream_peer_cert(s);
    c->server_had_peer = peer != NULL;
    if (peer != NULL)
        cst_ok(cs_x509_fingerprint(peer, c->server_peer_fp));
    const cs_stream_cbs cbs = {.on_data = s_data, .on_close = s_close};
    cs_stream_set_cbs(s, &cbs, c);
}

static void c_data(void *ctx, cs_stream *s, cs_slice data)
{
    conn *c = ctx;
    cst_ok(cs_buf_append_slice(&c->client_got, data));
    if (c->client_got.len == 4)
        cs_stream_close(s);
}

static void c_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    conn *c = ctx;
    cst_cb_msg(reason, msg);
    c->client_closed = true;
    c->client_reason = reason;
    snprintf(c->client_msg, sizeof c->client_msg, "%s", msg);
}

static void c_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    conn *c = ctx;
    cst_cb_msg(err, msg);
    c->connect_done = true;
    c->connect_err = err;
    snprintf(c->connect_msg, sizeof c->connect_msg, "%s", msg);
    c->client = s;
    if (s == NULL)
        return;
    cst_ok(cs_x509_fingerprint(cs_stream_peer_cert(s), c->client_peer_fp));
    const cs_stream_cbs cbs = {.on_data = c_data, .on_close = c_close};
    cs_stream_set_cbs(s, &cbs, c);
    cst_ok(cs_stream_write(s, CS_SLICE_LIT("ping")));
}

/* The client is finished: refused at connect, or closed after connecting. */
static bool client_finished(void *ctx)
{
    conn *c = ctx;
    return c->connect_done && (c->client == NULL || c->client_closed);
}

static bool all_closed(void *ctx)
{
    conn *c = ctx;
    return client_finished(c) && (c->accepted == 0 || c->server_closed);
}

static void run_conn(conn *c, cs_tls_config *scfg, cs_tls_config *ccfg)
{
    memset(c, 0, sizeof *c);
    cs_buf_init(&c->client_got, 0);
    assert_int_equal(uv_loop_init(&c->loop), 0);
    cst_ok(cs_tls_listen(&c->loop, "127.0.0.1:0", scfg, s_accept, c, &c->listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(c->listener));
    cst_ok(cs_tls_connect(&c->loop, addr, ccfg, c_connect, c));
    cs_tls_config_free(scfg); /* the listener and the connect keep references */
    cs_tls_config_free(ccfg);
    /* failures reach the callbacks with their own message (STYLE.md rule 10),
     * never the thread-local one: a decoy there must not show up */
    cs_err_clear();
    (void)cs_fail(CONSORT_E_IO, "decoy");
    cst_run_until(&c->loop, 10000, all_closed, c, "the connection to end");
    cs_listener_close(c->listener);
    cst_loop_finish(&c->loop);
    cs_buf_cleanup(&c->client_got);
}

static void tls_pinned_ca_accepted(void **state)
{
    pki *p = *state;
    conn c;
    run_conn(&c, make_server(p, p->server_key, p->server_cert, CS_TLS_CLIENT_CERT_REQUEST),
             make_client(&p->pin, p->client_key, p->client_cert));
    cst_ok(c.connect_err);
    assert_int_equal(c.accepted, 1);
    assert_int_equal(c.client_reason, CONSORT_OK);
    assert_int_equal(c.server_reason, CONSORT_OK);
    uint8_t fp[32];
    cst_ok(cs_x509_fingerprint(p->server_cert, fp));
    assert_memory_equal(c.client_peer_fp, fp, 32);
    assert_true(c.server_had_peer);
    cst_ok(cs_x509_fingerprint(p->client_cert, fp));
    assert_memory_equal(c.server_peer_fp, fp, 32);
}

static void tls_request_without_client_cert(void **state)
{
    pki *p = *state;
    conn c;
    run_conn(&c, make_server(p, p->server_key, p->server_cert, CS_TLS_CLIENT_CERT_REQUEST),
             make_client(&p->pin, NULL, NULL));
    cst_ok(c.connect_err);
    assert_int_equal(c.accepted, 1);
    assert_false(c.server_had_peer); /* requested, not required: allowed, and visible */
}

static void tls_wrong_ca_refused(void **state)
{
    pki *p = *state;
    conn c;
    run_conn(&c, make_server(p, p->server_key, p->server_cert, CS_TLS_CLIENT_CERT_NONE),
             make_client(&p->other_pin, NULL, NULL));
    cst_fails(c.connect_err, CONSORT_E_BAD_CERTIFICATE);
    assert_true(c.connect_msg[0] != '\0');
    assert_null(strstr(c.connect_msg, "decoy"));
    assert_non_null(strstr(c.connect_msg, "TLS with 127.0.0.1:"));
    assert_null(c.client);
    assert_int_equal(c.accepted, 0);
}

static void tls_client_cert_required_missing(void **state)
{
    pki *p = *state;
    conn c;
    run_conn(&c, make_server(p, p->server_key, p->server_cert, CS_TLS_CLIENT_CERT_REQUIRE),
             make_client(&p->pin, NULL, NULL));
    assert_int_equal(c.accepted, 0);
    /* TLS 1.3: the client may finish first, then it reads the server's alert */
    consort_err seen = c.client != NULL ? c.client_reason : c.connect_err;
    cst_fails(seen, CONSORT_E_BAD_CERTIFICATE);
    const char *seen_msg = c.client != NULL ? c.client_msg : c.connect_msg;
    assert_true(seen_msg[0] != '\0');
    assert_null(strstr(seen_msg, "decoy"));
    assert_int_equal(c.client_got.len, 0);
}

static void tls_expired_certificates_refused(void **state)
{
    pki *p = *state;
    conn c;
    /* the server's certificate expired an hour ago */
    run_conn(&c, make_server(p, p->old_key, p->old_cert, CS_TLS_CLIENT_CERT_NONE),
             make_client(&p->pin, NULL, NULL));
    cst_fails(c.connect_err, CONSORT_E_EXPIRED);
    assert_true(c.connect_msg[0] != '\0');
    assert_null(strstr(c.connect_msg, "decoy"));
    assert_int_equal(c.accepted, 0);
    /* the client's certificate expired: the server refuses it */
    run_conn(&c, make_server(p, p->server_key, p->server_cert, CS_TLS_CLIENT_CERT_REQUIRE),
             make_client(&p->pin, p->old_key, p->old_cert));
    assert_int_equal(c.accepted, 0);
    consort_err seen = c.client != NULL ? c.client_reason : c.connect_err;
    cst_fails_any(seen);
}

/* ---- a plain TCP peer against a TLS server ---- */

typedef struct raw {
    uv_loop_t loop;
    cs_listener *listener;
    cs_tls_config *cfg;
    bool tcp_closed, done;
    consort_err handshake_err;
    char handshake_msg[CS_ERRMSG_MAX];
    const char *send;
} raw;

static void raw_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    ((raw *)ctx)->tcp_closed = true;
}

static void raw_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    (void)s;
    (void)data;
}

static void raw_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    raw *r = ctx;
    cst_cb_ok(err, msg);
    const cs_stream_cbs cbs = {.on_data = raw_data, .on_close = raw_close};
    cs_stream_set_cbs(s, &cbs, r);
    if (r->send != NULL)
        cst_ok(cs_stream_write(s, cs_slice_str(r->send)));
}

static void raw_handshake_done(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    raw *r = ctx;
    assert_null(s);
    cst_cb_msg(err, msg);
    r->handshake_err = err;
    snprintf(r->handshake_msg, sizeof r->handshake_msg, "%s", msg);
    r->done = true;
}

static void raw_accept(void *ctx, cs_stream *s)
{
    raw *r = ctx;
    cst_ok(cs_tls_stream_start(&r->loop, s, r->cfg, 300, raw_handshake_done, r));
}

static bool raw_finished(void *ctx)
{
    raw *r = ctx;
    return r->done && r->tcp_closed;
}

static void run_raw(raw *r, pki *p, const char *send)
{
    memset(r, 0, sizeof *r);
    r->send = send;
    r->cfg = make_server(p, p->server_key, p->server_cert, CS_TLS_CLIENT_CERT_NONE);
    assert_int_equal(uv_loop_init(&r->loop), 0);
    cst_ok(cs_tcp_listen(&r->loop, "127.0.0.1:0", raw_accept, r, &r->listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(r->listener));
    cst_ok(cs_tcp_connect(&r->loop, addr, raw_connect, r));
    cs_err_clear();
    (void)cs_fail(CONSORT_E_IO, "decoy");
    cst_run_until(&r->loop, 10000, raw_finished, r, "the server to give up");
    cs_listener_close(r->listener);
    cst_loop_finish(&r->loop);
    cs_tls_config_free(r->cfg);
}

static void tls_handshake_timeout(void **state)
{
    raw r;
    run_raw(&r, *state, NULL);
    cst_fails(r.handshake_err, CONSORT_E_TIMEOUT);
    assert_null(strstr(r.handshake_msg, "decoy"));
    assert_non_null(strstr(r.handshake_msg, "handshake not done after 300 ms"));
}

static void tls_garbage_closed(void **state)
{
    raw r;
    run_raw(&r, *state, "GET / HTTP/1.1\r\nHost: nowhere\r\n\r\n");
    cst_fails(r.handshake_err, CONSORT_E_MALFORMED);
    assert_true(r.handshake_msg[0] != '\0');
    assert_null(strstr(r.handshake_msg, "decoy"));
}

/* A TLS connect whose TCP connect is refused: the callback carries the
 * system's reason, whatever the thread-local message holds meanwhile. */
static void tls_connect_refused_message(void **state)
{
    pki *p = *state;
    conn c;
    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&c.loop), 0);
    /* a port nobody listens on: take one, then close it */
    cst_ok(cs_tcp_listen(&c.loop, "127.0.0.1:0", s_accept, &c, &c.listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(c.listener));
    cs_listener_close(c.listener);
    uv_run(&c.loop, UV_RUN_NOWAIT);
    cs_tls_config *ccfg = make_client(&p->pin, NULL, NULL);
    cst_ok(cs_tls_connect(&c.loop, addr, ccfg, c_connect, &c));
    cs_tls_config_free(ccfg);
    cs_err_clear();
    (void)cs_fail(CONSORT_E_IO, "decoy");
    cst_run_until(&c.loop, 5000, cst_flag_set, &c.connect_done, "connect refused");
    assert_null(c.client);
    cst_fails(c.connect_err, CONSORT_E_IO);
    assert_null(strstr(c.connect_msg, "decoy"));
    assert_non_null(strstr(c.connect_msg, addr));
    assert_non_null(strstr(c.connect_msg, "ECONNREFUSED"));
    cst_loop_finish(&c.loop);
}

static void tls_large_transfer(void **state)
{
    pki *p = *state;
    cst_xfer x;
    cst_xfer_init(&x);
    cs_tls_config *scfg = make_server(p, p->server_key, p->server_cert, CS_TLS_CLIENT_CERT_NONE);
    cs_tls_config *ccfg = make_client(&p->pin, NULL, NULL);
    cst_ok(cs_tls_listen(&x.loop, "127.0.0.1:0", scfg, cst_xfer_accept, &x, &x.listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(x.listener));
    cst_ok(cs_tls_connect(&x.loop, addr, ccfg, cst_xfer_connect, &x));
    cs_tls_config_free(scfg);
    cs_tls_config_free(ccfg);
    cst_xfer_run(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls_pinned_ca_accepted),
        cmocka_unit_test(tls_request_without_client_cert),
        cmocka_unit_test(tls_wrong_ca_refused),
        cmocka_unit_test(tls_client_cert_required_missing),
        cmocka_unit_test(tls_expired_certificates_refused),
        cmocka_unit_test(tls_handshake_timeout),
        cmocka_unit_test(tls_garbage_closed),
        cmocka_unit_test(tls_connect_refused_message),
        cmocka_unit_test(tls_large_transfer),
    };
    return cmocka_run_group_tests(tests, tls_setup, tls_teardown);
}
