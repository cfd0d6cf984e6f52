/*
 * TLS streams over real TCP on 127.0.0.1: pinned CA accepted, wrong CA
 * refused, client certificate required, expired certificates, handshake
 * timeout, garbage, large transfers with back-pressure, and writes of one
 * turn gathered into one record and one write to the TCP stream.
 */
#include "xfer_fixture.h"

#include "net/tcp.h"
#include "net/tls_stream.h"

#include <stdio.h>

typedef struct pki {
    cst_pki ca, other;
    cs_key *server_key, *client_key, *old_key;
    cs_x509 *server_cert, *client_cert, *old_cert; /* old: expired an hour ago */
    cs_x509 *roots[1], *other_roots[1];
    cs_tls_pinned pin, other_pin;
} pki;

static int setup(void **state)
{
    static pki p;
    memset(&p, 0, sizeof p);
    cst_pki_init(&p.ca, "service CA");
    cst_pki_init(&p.other, "another CA");
    cst_pki_issue(&p.ca, "server", -60, 3600, &p.server_key, &p.server_cert);
    cst_pki_issue(&p.ca, "client", -60, 3600, &p.client_key, &p.client_cert);
    cst_pki_issue(&p.ca, "expired", -7200, -3600, &p.old_key, &p.old_cert);
    p.roots[0] = p.ca.ca;
    p.other_roots[0] = p.other.ca;
    p.pin = (cs_tls_pinned){.roots = p.roots, .root_count = 1};
    p.other_pin = (cs_tls_pinned){.roots = p.other_roots, .root_count = 1};
    *state = &p;
    return 0;
}

static int teardown(void **state)
{
    pki *p = *state;
    cs_key_free(p->server_key);
    cs_key_free(p->client_key);
    cs_key_free(p->old_key);
    cs_x509_free(p->server_cert);
    cs_x509_free(p->client_cert);
    cs_x509_free(p->old_cert);
    cst_pki_cleanup(&p->ca);
    cst_pki_cleanup(&p->other);
    return 0;
}

static cs_tls_config *make_server(pki *p, const cs_key *key, const cs_x509 *cert,
                                  cs_tls_client_auth auth)
{
    const cs_tls_params params = {.role = CS_TLS_SERVER,
                                  .key = key,
                                  .cert = cert,
                                  .client_auth = auth,
                                  .verify = cs_tls_verify_pinned,
                                  .verify_ctx = &p->pin};
    cs_tls_config *cfg;
    cst_ok(cs_tls_config_new(&params, &cfg));
    return cfg;
}

static cs_tls_config *make_client(cs_tls_pinned *pin, const cs_key *key, const cs_x509 *cert)
{
    const cs_tls_params params = {.role = CS_TLS_CLIENT,
                                  .key = key,
                                  .cert = cert,
                                  .verify = cs_tls_verify_pinned,
                                  .verify_ctx = pin};
    cs_tls_config *cfg;
    cst_ok(cs_tls_config_new(&params, &cfg));
    return cfg;
}

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

/* ---- writes of one turn leave together ----
 *
 * The client's TLS stream runs over a TCP stream wrapped to count the
 * writes it is given. Written from a timer, three writes are held (queued,
 * not written) and leave as one; written from on_data, they leave as one
 * when on_data returns; a write past one record's size leaves at once,
 * after what was held; what was held goes out before a close. */

typedef struct counting {
    cs_stream base;
    cs_stream *real;
    int writes;
} counting;

static counting *counting_of(const cs_stream *s)
{
    return (counting *)(void *)((const char *)s - offsetof(counting, base));
}
static consort_err cnt_write(cs_stream *s, cs_slice data)
{
    counting_of(s)->writes++;
    return cs_stream_write(counting_of(s)->real, data);
}
static void cnt_close(cs_stream *s)
{
    cs_stream_close(counting_of(s)->real);
}
static void cnt_set_cbs(cs_stream *s, const cs_stream_cbs *cbs, void *ctx)
{
    cs_stream_set_cbs(counting_of(s)->real, cbs, ctx);
}
static const cs_x509 *cnt_peer_cert(const cs_stream *s)
{
    return cs_stream_peer_cert(counting_of(s)->real);
}
static size_t cnt_queue_len(const cs_stream *s)
{
    return cs_stream_write_queue_len(counting_of(s)->real);
}
static const char *cnt_peer_address(const cs_stream *s)
{
    return cs_stream_peer_address(counting_of(s)->real);
}
static void cnt_set_paused(cs_stream *s, bool paused)
{
    if (paused)
        cs_stream_pause(counting_of(s)->real);
    else
        cs_stream_resume(counting_of(s)->real);
}
static const cs_stream_vtbl counting_vtbl = {
    .write = cnt_write,
    .close = cnt_close,
    .set_cbs = cnt_set_cbs,
    .peer_cert = cnt_peer_cert,
    .write_queue_len = cnt_queue_len,
    .peer_address = cnt_peer_address,
    .set_paused = cnt_set_paused,
};

#define BIG_WRITE ((size_t)20 << 10) /* over one record's 16 KiB */

typedef struct gather {
    uv_loop_t loop;
    cs_listener *listener;
    cs_tls_config *ccfg;
    counting cw;
    cs_stream *client, *server;
    uv_timer_t tick;
    int step;        /* what the client does next */
    int before;      /* the counting stream's writes before the step's writes */
    int gathered[3]; /* writes each step took, seen by the server on arrival */
    cs_buf server_got, client_got;
    bool server_closed, client_closed;
    consort_err server_reason;
} gather;

static void g_tick(uv_timer_t *t);

static void g_s_data(void *ctx, cs_stream *s, cs_slice data)
{
    gather *g = ctx;
    cst_ok(cs_buf_append_slice(&g->server_got, data));
    cs_slice got = cs_buf_slice(&g->server_got);
    if (got.len == 11 && g->step == 0) {
        assert_memory_equal(got.ptr, "onetwothree", 11);
        g->gathered[0] = g->cw.writes - g->before;
        g->step = 1;
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("A")));
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("B")));
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("C")));
    } else if (got.len == 14 && g->step == 2) {
        assert_memory_equal(got.ptr + 11, "xyz", 3);
        g->gathered[1] = g->cw.writes - g->before;
        g->step = 3;
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("ok")));
    }
}

static void g_s_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    gather *g = ctx;
    cst_cb_msg(reason, msg);
    g->server_closed = true;
    g->server_reason = reason;
}

static void g_accept(void *ctx, cs_stream *s)
{
    gather *g = ctx;
    g->server = s;
    const cs_stream_cbs cbs = {.on_data = g_s_data, .on_close = g_s_close};
    cs_stream_set_cbs(s, &cbs, g);
}

static void g_c_data(void *ctx, cs_stream *s, cs_slice data)
{
    gather *g = ctx;
    cst_ok(cs_buf_append_slice(&g->client_got, data));
    if (g->client_got.len == 3 && g->step == 1) { /* "ABC": answer from on_data */
        assert_memory_equal(g->client_got.ptr, "ABC", 3);
        g->step = 2;
        g->before = g->cw.writes;
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("x")));
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("y")));
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("z")));
        assert_int_equal(g->cw.writes, g->before);       /* held until on_data returns */
    } else if (g->client_got.len == 5 && g->step == 3) { /* "ok": next from a timer */
        assert_int_equal(uv_timer_start(&g->tick, g_tick, 1, 0), 0);
    }
}

static void g_c_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    gather *g = ctx;
    cst_cb_msg(reason, msg);
    g->client_closed = true;
}

static void g_tick(uv_timer_t *t)
{
    gather *g = t->data;
    cs_stream *c = g->client;
    if (g->step == 0) {
        g->before = g->cw.writes;
        cst_ok(cs_stream_write(c, CS_SLICE_LIT("one")));
        cst_ok(cs_stream_write(c, CS_SLICE_LIT("two")));
        cst_ok(cs_stream_write(c, CS_SLICE_LIT("three")));
        assert_int_equal(g->cw.writes, g->before);       /* held for the turn's end */
        assert_true(cs_stream_write_queue_len(c) >= 11); /* and counted as queued */
        return;
    }
    /* step 3: a small write, one past a record's size, then a close */
    g->before = g->cw.writes;
    cst_ok(cs_stream_write(c, CS_SLICE_LIT("q")));
    assert_int_equal(g->cw.writes, g->before);
    uint8_t big[BIG_WRITE];
    memset(big, 'b', sizeof big);
    cst_ok(cs_stream_write(c, CS_SLICE(big, sizeof big)));
    g->gathered[2] = g->cw.writes - g->before; /* "q" and the big one: at once */
    cst_ok(cs_stream_write(c, CS_SLICE_LIT("bye")));
    cs_stream_close(c); /* "bye" goes before the close_notify */
}

static void g_tls_connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    gather *g = ctx;
    cst_cb_msg(err, msg);
    cst_ok(err);
    g->client = s;
    const cs_stream_cbs cbs = {.on_data = g_c_data, .on_close = g_c_close};
    cs_stream_set_cbs(s, &cbs, g);
    assert_int_equal(uv_timer_start(&g->tick, g_tick, 1, 0), 0); /* outside any on_data */
}

static void g_tcp_connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    gather *g = ctx;
    cst_cb_msg(err, msg);
    cst_ok(err);
    g->cw.base.vt = &counting_vtbl;
    g->cw.real = s;
    cst_ok(cs_tls_stream_start(&g->loop, &g->cw.base, g->ccfg, 5000, g_tls_connected, g));
}

static bool g_done(void *ctx)
{
    gather *g = ctx;
    return g->server_closed && g->client_closed;
}

static void tls_writes_of_a_turn_leave_together(void **state)
{
    pki *p = *state;
    static gather g; /* the big write's buffer is on the stack of g_tick */
    memset(&g, 0, sizeof g);
    cs_buf_init(&g.server_got, 0);
    cs_buf_init(&g.client_got, 0);
    assert_int_equal(uv_loop_init(&g.loop), 0);
    assert_int_equal(uv_timer_init(&g.loop, &g.tick), 0);
    g.tick.data = &g;
    cs_tls_config *scfg = make_server(p, p->server_key, p->server_cert, CS_TLS_CLIENT_CERT_NONE);
    g.ccfg = make_client(&p->pin, NULL, NULL);
    cst_ok(cs_tls_listen(&g.loop, "127.0.0.1:0", scfg, g_accept, &g, &g.listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(g.listener));
    cst_ok(cs_tcp_connect(&g.loop, addr, g_tcp_connected, &g));
    cst_run_until(&g.loop, 10000, g_done, &g, "the gathered exchange to end");
    assert_int_equal(g.gathered[0], 1); /* three writes from a timer: one */
    assert_int_equal(g.gathered[1], 1); /* three writes from on_data: one */
    assert_int_equal(g.gathered[2], 1); /* the held "q" went with the big write, in order */
    cst_ok(g.server_reason);            /* an orderly close, after every byte */
    assert_int_equal(g.server_got.len, 14 + 1 + BIG_WRITE + 3);
    assert_int_equal(g.server_got.ptr[14], 'q');
    assert_int_equal(g.server_got.ptr[15], 'b');
    assert_memory_equal(g.server_got.ptr + 15 + BIG_WRITE, "bye", 3);
    uv_close((uv_handle_t *)&g.tick, NULL);
    cs_listener_close(g.listener);
    cs_tls_config_free(scfg);
    cs_tls_config_free(g.ccfg);
    cst_loop_finish(&g.loop);
    cs_buf_cleanup(&g.server_got);
    cs_buf_cleanup(&g.client_got);
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
        cmocka_unit_test(tls_writes_of_a_turn_leave_together),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
