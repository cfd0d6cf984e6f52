/*
 * Pausing and resuming reads (stream.h "Flow control") on TCP and TLS
 * streams over 127.0.0.1: a paused reader receives nothing and the bytes
 * back up at the writer; resume delivers the rest in order, from the loop,
 * never inside the call; closes are reported whether paused or not.
 * (Attested channels: test_attested_pause.c; the in-process test transport:
 * tests/unit/consensus/test_loopnet_pause.c.)
 */
#include "pause_fixture.h"

#include "net/tcp.h"
#include "net/tls_stream.h"

#include <stdio.h>

typedef struct pair {
    uv_loop_t loop;
    cs_listener *listener;
    cst_pause p;
} pair;

static void on_accept(void *ctx, cs_stream *s)
{
    pair *x = ctx;
    cst_pause_attach_r(&x->p, s);
}

static void on_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    pair *x = ctx;
    cst_cb_ok(err, msg);
    cst_pause_attach_w(&x->p, s);
}

static bool connected(void *ctx)
{
    pair *x = ctx;
    return x->p.w != NULL && x->p.r != NULL;
}

static void pair_init(pair *x)
{
    memset(x, 0, sizeof *x);
    assert_int_equal(uv_loop_init(&x->loop), 0);
    x->p.loop = &x->loop;
}

static void pair_finish(pair *x)
{
    cs_listener_close(x->listener);
    cst_loop_finish(&x->loop);
}

/* ---- TCP ---- */

static void tcp_pair(pair *x)
{
    pair_init(x);
    cst_ok(cs_tcp_listen(&x->loop, "127.0.0.1:0", on_accept, x, &x->listener));
    cst_ok(cs_tcp_connect(&x->loop, cs_listener_address(x->listener), on_connect, x));
    cst_run_until(&x->loop, 5000, connected, x, "TCP connected");
}

static void test_tcp_pause_resume(void **state)
{
    (void)state;
    pair x;
    tcp_pair(&x);
    cst_pause_check(&x.p);
    pair_finish(&x);
}

static void test_tcp_close_while_paused(void **state)
{
    (void)state;
    pair x;
    tcp_pair(&x);
    cst_pause_check_close_while_paused(&x.p);
    pair_finish(&x);
}

/* Paused before the callbacks are set: reading does not start with set_cbs. */
static void early_accept(void *ctx, cs_stream *s)
{
    pair *x = ctx;
    x->p.paused = true;
    cs_stream_pause(s);
    cst_pause_attach_r(&x->p, s);
}

static void test_tcp_paused_before_callbacks(void **state)
{
    (void)state;
    pair x;
    pair_init(&x);
    cst_ok(cs_tcp_listen(&x.loop, "127.0.0.1:0", early_accept, &x, &x.listener));
    cst_ok(cs_tcp_connect(&x.loop, cs_listener_address(x.listener), on_connect, &x));
    cst_run_until(&x.loop, 5000, connected, &x, "TCP connected");
    cst_ok(cs_stream_write(x.p.w, CS_SLICE_LIT("held")));
    cst_pause_watch(&x.p, 200);
    assert_int_equal(x.p.received, 0);
    x.p.paused = false;
    cst_pause_call(&x.p, false);
    assert_int_equal(x.p.received, 0);
    cst_run_until(&x.loop, 5000, cst_pause_got_held, &x.p, "the bytes after resume");
    cs_stream_close(x.p.w);
    cst_run_until(&x.loop, 5000, cst_flag_set, &x.p.r_closed, "R closed");
    pair_finish(&x);
}

/* ---- TLS ---- */

typedef struct pki {
    cst_pki ca;
    cs_key *server_key, *client_key;
    cs_x509 *server_cert, *client_cert;
    cs_x509 *roots[1];
    cs_tls_pinned pin;
} pki;

static int setup(void **state)
{
    static pki k;
    memset(&k, 0, sizeof k);
    cst_pki_init(&k.ca, "service CA");
    cst_pki_issue(&k.ca, "server", -60, 3600, &k.server_key, &k.server_cert);
    cst_pki_issue(&k.ca, "client", -60, 3600, &k.client_key, &k.client_cert);
    k.roots[0] = k.ca.ca;
    k.pin = (cs_tls_pinned){.roots = k.roots, .root_count = 1};
    *state = &k;
    return 0;
}

static int teardown(void **state)
{
    pki *k = *state;
    cs_key_free(k->server_key);
    cs_key_free(k->client_key);
    cs_x509_free(k->server_cert);
    cs_x509_free(k->client_cert);
    cst_pki_cleanup(&k->ca);
    return 0;
}

static void tls_pair(pki *k, pair *x, cs_accept_cb accept)
{
    pair_init(x);
    const cs_tls_params sp = {.role = CS_TLS_SERVER,
                              .key = k->server_key,
                              .cert = k->server_cert,
                              .client_auth = CS_TLS_CLIENT_CERT_REQUIRE,
                              .verify = cs_tls_verify_pinned,
                              .verify_ctx = &k->pin};
    const cs_tls_params cp = {.role = CS_TLS_CLIENT,
                              .key = k->client_key,
                              .cert = k->client_cert,
                              .verify = cs_tls_verify_pinned,
                              .verify_ctx = &k->pin};
    cs_tls_config *scfg, *ccfg;
    cst_ok(cs_tls_config_new(&sp, &scfg));
    cst_ok(cs_tls_config_new(&cp, &ccfg));
    cst_ok(cs_tls_listen(&x->loop, "127.0.0.1:0", scfg, accept, x, &x->listener));
    cst_ok(cs_tls_connect(&x->loop, cs_listener_address(x->listener), ccfg, on_connect, x));
    cs_tls_config_free(scfg);
    cs_tls_config_free(ccfg);
    cst_run_until(&x->loop, 5000, connected, x, "TLS connected");
}

static void test_tls_pause_resume(void **state)
{
    pair x;
    tls_pair(*state, &x, on_accept);
    cst_pause_check(&x.p);
    pair_finish(&x);
}

static void test_tls_close_while_paused(void **state)
{
    pair x;
    tls_pair(*state, &x, on_accept);
    cst_pause_check_close_while_paused(&x.p);
    pair_finish(&x);
}

/* Paused in the accept callback: what arrives is held (plaintext decrypted
 * with the handshake included) and delivered only after resume, from the
 * loop. */
static void test_tls_paused_before_callbacks(void **state)
{
    pair x;
    tls_pair(*state, &x, early_accept);
    cst_ok(cs_stream_write(x.p.w, CS_SLICE_LIT("held")));
    cst_pause_watch(&x.p, 200);
    assert_int_equal(x.p.received, 0);
    x.p.paused = false;
    cst_pause_call(&x.p, false);
    assert_int_equal(x.p.received, 0);
    cst_run_until(&x.loop, 5000, cst_pause_got_held, &x.p, "the bytes after resume");
    cs_stream_close(x.p.w);
    cst_run_until(&x.loop, 5000, cst_flag_set, &x.p.r_closed, "R closed");
    pair_finish(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_pause_resume),
        cmocka_unit_test(test_tcp_close_while_paused),
        cmocka_unit_test(test_tcp_paused_before_callbacks),
        cmocka_unit_test(test_tls_pause_resume),
        cmocka_unit_test(test_tls_close_while_paused),
        cmocka_unit_test(test_tls_paused_before_callbacks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
