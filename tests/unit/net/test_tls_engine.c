/*
 * The TLS engine (src/crypto/tls.c) without sockets: two cs_tls objects
 * exchange their output in memory.
 */
#include "net_fixture.h"

#include "crypto/rand.h"

typedef struct pair {
    cst_pki pki;
    cs_key *server_key, *client_key;
    cs_x509 *server_cert, *client_cert;
    cs_tls_pinned pin;
    cs_x509 *roots[1];
} pair;

static int setup(void **state)
{
    static pair p;
    memset(&p, 0, sizeof p);
    cst_pki_init(&p.pki, "test CA");
    cst_pki_issue(&p.pki, "server", -60, 3600, &p.server_key, &p.server_cert);
    cst_pki_issue(&p.pki, "client", -60, 3600, &p.client_key, &p.client_cert);
    p.roots[0] = p.pki.ca;
    p.pin = (cs_tls_pinned){.roots = p.roots, .root_count = 1};
    *state = &p;
    return 0;
}

static int teardown(void **state)
{
    pair *p = *state;
    cs_key_free(p->server_key);
    cs_key_free(p->client_key);
    cs_x509_free(p->server_cert);
    cs_x509_free(p->client_cert);
    cst_pki_cleanup(&p->pki);
    return 0;
}

static cs_tls_config *server_cfg(pair *p, cs_tls_client_auth auth, const char *const *alpn)
{
    const cs_tls_params params = {.role = CS_TLS_SERVER,
                                  .key = p->server_key,
                                  .cert = p->server_cert,
                                  .client_auth = auth,
                                  .verify = cs_tls_verify_pinned,
                                  .verify_ctx = &p->pin,
                                  .alpn = alpn};
    cs_tls_config *cfg;
    cst_ok(cs_tls_config_new(&params, &cfg));
    return cfg;
}

static cs_tls_config *client_cfg(pair *p, bool with_cert, const char *const *alpn)
{
    const cs_tls_params params = {.role = CS_TLS_CLIENT,
                                  .key = with_cert ? p->client_key : NULL,
                                  .cert = with_cert ? p->client_cert : NULL,
                                  .verify = cs_tls_verify_pinned,
                                  .verify_ctx = &p->pin,
                                  .alpn = alpn};
    cs_tls_config *cfg;
    cst_ok(cs_tls_config_new(&params, &cfg));
    return cfg;
}

/* Moves a's output into b; returns b's result. */
static consort_err hop(cs_tls *a, cs_tls *b, cs_buf *plain, bool *closed)
{
    cs_buf wire;
    cs_buf_init(&wire, 0);
    cst_ok(cs_tls_take_output(a, &wire));
    consort_err rc = cs_tls_recv(b, cs_buf_slice(&wire), plain, closed);
    cs_buf_cleanup(&wire);
    return rc;
}

/* Runs the handshake to completion or to the first error (returned). */
static consort_err handshake(cs_tls *c, cs_tls *s)
{
    cs_buf plain;
    cs_buf_init(&plain, 0);
    bool closed;
    consort_err rc = cs_tls_start(c);
    for (int i = 0; rc == CONSORT_OK && i < 6; i++) {
        rc = hop(c, s, &plain, &closed);
        if (rc == CONSORT_OK)
            rc = hop(s, c, &plain, &closed);
    }
    assert_int_equal(plain.len, 0);
    cs_buf_cleanup(&plain);
    return rc;
}

static void engine_round_trip(void **state)
{
    pair *p = *state;
    static const char *const alpn_s[] = {"h2", "http/1.1", NULL};
    static const char *const alpn_c[] = {"http/1.1", NULL};
    cs_tls_config *scfg = server_cfg(p, CS_TLS_CLIENT_CERT_REQUIRE, alpn_s);
    cs_tls_config *ccfg = client_cfg(p, true, alpn_c);
    cs_tls *s, *c;
    cst_ok(cs_tls_new(scfg, &s));
    cst_ok(cs_tls_new(ccfg, &c));
    cs_tls_config_free(scfg); /* the connections keep their references */
    cs_tls_config_free(ccfg);
    cst_fails(cs_tls_send(c, CS_SLICE_LIT("early")), CONSORT_E_STATE);
    assert_null(cs_tls_peer_cert(c));
    cst_ok(handshake(c, s));
    assert_true(cs_tls_handshake_done(c));
    assert_true(cs_tls_handshake_done(s));
    assert_string_equal(cs_tls_alpn(c), "http/1.1");
    assert_string_equal(cs_tls_alpn(s), "http/1.1");

    /* each side holds the other's certificate */
    uint8_t f1[32], f2[32];
    cst_ok(cs_x509_fingerprint(cs_tls_peer_cert(c), f1));
    cst_ok(cs_x509_fingerprint(p->server_cert, f2));
    assert_memory_equal(f1, f2, 32);
    cst_ok(cs_x509_fingerprint(cs_tls_peer_cert(s), f1));
    cst_ok(cs_x509_fingerprint(p->client_cert, f2));
    assert_memory_equal(f1, f2, 32);

    /* the exporter agrees on both ends and depends on the label */
    cs_buf e1, e2, e3;
    cs_buf_init_secret(&e1, 0);
    cs_buf_init_secret(&e2, 0);
    cs_buf_init_secret(&e3, 0);
    cst_ok(cs_tls_export(c, "EXPORTER-test", 32, &e1));
    cst_ok(cs_tls_export(s, "EXPORTER-test", 32, &e2));
    cst_ok(cs_tls_export(s, "EXPORTER-other", 32, &e3));
    assert_int_equal(e1.len, 32);
    assert_memory_equal(e1.ptr, e2.ptr, 32);
    assert_memory_not_equal(e1.ptr, e3.ptr, 32);
    cst_fails(cs_tls_export(s, "EXPORTER-test", 0, &e3), CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&e1);
    cs_buf_cleanup(&e2);
    cs_buf_cleanup(&e3);

    /* data both ways, including more than one record */
    cs_buf big, plain;
    cs_buf_init(&big, 0);
    cs_buf_init(&plain, 0);
    uint8_t *dst;
    cst_ok(cs_buf_extend(&big, 100000, &dst));
    cst_ok(cs_random(dst, 100000));
    cst_ok(cs_tls_send(c, cs_buf_slice(&big)));
    bool closed = false;
    cst_ok(hop(c, s, &plain, &closed));
    assert_int_equal(plain.len, 100000);
    assert_memory_equal(plain.ptr, big.ptr, 100000);
    cs_buf_reset(&plain);
    cst_ok(cs_tls_send(s, CS_SLICE_LIT("pong")));
    cst_ok(hop(s, c, &plain, &closed));
    assert_int_equal(plain.len, 4);

    /* close_notify is seen as an orderly end */
    cs_tls_shutdown(c);
    cst_fails(cs_tls_send(c, CS_SLICE_LIT("x")), CONSORT_E_STATE);
    cst_ok(hop(c, s, &plain, &closed));
    assert_true(closed);
    cs_buf_cleanup(&big);
    cs_buf_cleanup(&plain);
    cs_tls_free(s);
    cs_tls_free(c);
    cs_tls_free(NULL);
}

static void engine_refusals(void **state)
{
    pair *p = *state;
    /* client certificate required, none sent: the server refuses */
    cs_tls_config *scfg = server_cfg(p, CS_TLS_CLIENT_CERT_REQUIRE, NULL);
    cs_tls_config *ccfg = client_cfg(p, false, NULL);
    cs_tls *s, *c;
    cst_ok(cs_tls_new(scfg, &s));
    cst_ok(cs_tls_new(ccfg, &c));
    consort_err rc = handshake(c, s);
    cst_fails(rc, CONSORT_E_BAD_CERTIFICATE);
    assert_false(cs_tls_handshake_done(s));
    cs_tls_free(s);
    cs_tls_free(c);
    cs_tls_config_free(ccfg);

    /* a server certificate from another CA: the client refuses with the chain error */
    cst_pki other;
    cst_pki_init(&other, "other CA");
    cs_x509 *roots[] = {other.ca};
    cs_tls_pinned pin = {.roots = roots, .root_count = 1};
    const cs_tls_params cp = {
        .role = CS_TLS_CLIENT, .verify = cs_tls_verify_pinned, .verify_ctx = &pin};
    cst_ok(cs_tls_config_new(&cp, &ccfg));
    cst_ok(cs_tls_new(scfg, &s));
    cst_ok(cs_tls_new(ccfg, &c));
    cst_fails(handshake(c, s), CONSORT_E_BAD_CERTIFICATE);
    assert_non_null(strstr(consort_errmsg(), "TLS peer certificate"));
    assert_null(cs_tls_peer_cert(c));
    cs_tls_free(s);
    cs_tls_free(c);
    cs_tls_config_free(ccfg);
    cs_tls_config_free(scfg);
    cst_pki_cleanup(&other);

    /* no ALPN protocol in common */
    static const char *const a1[] = {"h2", NULL};
    static const char *const a2[] = {"consort/1", NULL};
    scfg = server_cfg(p, CS_TLS_CLIENT_CERT_NONE, a1);
    ccfg = client_cfg(p, false, a2);
    cst_ok(cs_tls_new(scfg, &s));
    cst_ok(cs_tls_new(ccfg, &c));
    cst_fails(handshake(c, s), CONSORT_E_UNSUPPORTED);
    cs_tls_free(s);
    cs_tls_free(c);
    cs_tls_config_free(ccfg);
    cs_tls_config_free(scfg);
}

static void engine_garbage(void **state)
{
    pair *p = *state;
    cs_tls_config *scfg = server_cfg(p, CS_TLS_CLIENT_CERT_NONE, NULL);
    cs_tls *s;
    cst_ok(cs_tls_new(scfg, &s));
    cs_buf plain;
    cs_buf_init(&plain, 0);
    bool closed;
    cst_fails(cs_tls_recv(s, CS_SLICE_LIT("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), &plain, &closed),
              CONSORT_E_MALFORMED);
    cst_fails(cs_tls_recv(s, CS_SLICE_LIT("x"), &plain, &closed), CONSORT_E_STATE);
    cs_tls_free(s);

    /* a handshake record whose body is not a ClientHello: the server answers with an alert */
    cst_ok(cs_tls_new(scfg, &s));
    static const uint8_t junk[] = {0x16, 0x03, 0x01, 0x00, 0x06, 0x01,
                                   0x00, 0x00, 0x02, 0xff, 0xff};
    cst_fails(cs_tls_recv(s, CS_SLICE(junk, sizeof junk), &plain, &closed), CONSORT_E_MALFORMED);
    assert_true(cs_tls_pending_output(s) > 0);
    cs_buf alert;
    cs_buf_init(&alert, 0);
    cst_ok(cs_tls_take_output(s, &alert));
    assert_int_equal(alert.ptr[0], 21); /* RFC 8446 §5.1 ContentType alert */
    assert_int_equal(cs_tls_pending_output(s), 0);
    cs_buf_cleanup(&alert);
    cs_tls_free(s);
    cs_buf_cleanup(&plain);
    cs_tls_config_free(scfg);
}

static void engine_config_errors(void **state)
{
    pair *p = *state;
    cs_tls_config *cfg = NULL;
    cs_tls_params params = {.role = CS_TLS_SERVER};
    cst_fails(cs_tls_config_new(&params, &cfg), CONSORT_E_INVALID_ARGUMENT); /* no certificate */
    params = (cs_tls_params){.role = CS_TLS_CLIENT};
    cst_fails(cs_tls_config_new(&params, &cfg), CONSORT_E_INVALID_ARGUMENT); /* no verify */
    params = (cs_tls_params){.role = CS_TLS_SERVER, .key = p->client_key, .cert = p->server_cert};
    cst_fails(cs_tls_config_new(&params, &cfg), CONSORT_E_INVALID_ARGUMENT); /* key mismatch */
    params = (cs_tls_params){.role = CS_TLS_SERVER,
                             .key = p->server_key,
                             .cert = p->server_cert,
                             .client_auth = CS_TLS_CLIENT_CERT_REQUIRE};
    cst_fails(cs_tls_config_new(&params, &cfg), CONSORT_E_INVALID_ARGUMENT); /* no verify */
    static const char *const empty[] = {"", NULL};
    params = (cs_tls_params){
        .role = CS_TLS_SERVER, .key = p->server_key, .cert = p->server_cert, .alpn = empty};
    cst_fails(cs_tls_config_new(&params, &cfg), CONSORT_E_INVALID_ARGUMENT);
    /* a public key alone cannot serve */
    cs_buf spki;
    cs_buf_init(&spki, 0);
    cst_ok(cs_key_spki_der(p->server_key, &spki));
    cs_key *pub;
    cst_ok(cs_key_from_spki_der(cs_buf_slice(&spki), &pub));
    params = (cs_tls_params){.role = CS_TLS_SERVER, .key = pub, .cert = p->server_cert};
    cst_fails(cs_tls_config_new(&params, &cfg), CONSORT_E_INVALID_ARGUMENT);
    assert_null(cfg);
    cs_key_free(pub);
    cs_buf_cleanup(&spki);
    cs_tls_config_free(NULL);
}

/* Every allocation failure during config and connection set-up is an error, not a crash. */
static void engine_alloc_failures(void **state)
{
    pair *p = *state;
    cst_alloc_install();
    for (long n = 0; n < 64; n++) {
        cst_alloc_fail_after(n);
        cs_tls_config *cfg = NULL;
        cs_tls *tls = NULL;
        const cs_tls_params params = {
            .role = CS_TLS_SERVER, .key = p->server_key, .cert = p->server_cert};
        consort_err rc = cs_tls_config_new(&params, &cfg);
        if (rc == CONSORT_OK)
            rc = cs_tls_new(cfg, &tls);
        bool failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        cs_tls_free(tls);
        cs_tls_config_free(cfg);
        if (!failed) {
            cst_ok(rc);
            break;
        }
        assert_int_equal(rc, CONSORT_E_NOMEM);
    }
    cst_alloc_uninstall();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(engine_round_trip),     cmocka_unit_test(engine_refusals),
        cmocka_unit_test(engine_garbage),        cmocka_unit_test(engine_config_errors),
        cmocka_unit_test(engine_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
