/*
 * Attested channels between two nodes on 127.0.0.1 with the virtual
 * platform: trusted peers become ready; untrusted code, evidence for
 * another key, evidence replayed from an earlier connection, bit-flipped
 * evidence, a forged node id, garbage and silence are all refused, each
 * with its precise reason in the log.
 */
#include "net_fixture.h"

#include "attest/virtual.h"
#include "net/attested.h"
#include "net/tcp.h"
#include "net/tls_stream.h"

#include <stdio.h>

static const uint8_t TRUSTED[32] = {0x7e, 0x57, 1,  2,  3,  4,  5,  6,  7,  8,  9,
                                    10,   11,   12, 13, 14, 15, 16, 17, 18, 19, 20,
                                    21,   22,   23, 24, 25, 26, 27, 28, 29, 30};
static const uint8_t UNTRUSTED[32] = {0xba, 0xd0};

typedef enum attest_mode {
    MODE_HONEST,
    MODE_OTHER_KEY, /* binds a different key */
    MODE_FLIP,      /* flips one bit of the report */
    MODE_CAPTURE,   /* honest, and keeps a copy */
    MODE_REPLAY,    /* sends the copy */
} attest_mode;

typedef struct attester {
    const cs_virtual_platform *platform;
    const uint8_t *code_id;
    attest_mode mode;
    size_t flip_bit;
    cs_key *other_key;
    cs_buf captured; /* encoded envelope */
    int calls;
} attester;

static consort_err attest_cb(void *ctx, const cs_key *key, cs_slice nonce, cs_evidence *out)
{
    attester *a = ctx;
    a->calls++;
    if (a->mode == MODE_REPLAY) {
        cs_evidence_cleanup(out);
        return cs_evidence_decode(cs_buf_slice(&a->captured), out);
    }
    uint8_t rd[64];
    CS_TRY(cs_report_data_bind(a->mode == MODE_OTHER_KEY ? a->other_key : key, nonce, rd));
    CS_TRY(cs_virtual_attest(a->platform, a->code_id, 1, false, rd, out));
    if (a->mode == MODE_FLIP)
        out->evidence.ptr[a->flip_bit / 8] ^= (uint8_t)(1u << (a->flip_bit % 8));
    if (a->mode == MODE_CAPTURE) {
        cs_buf_reset(&a->captured);
        CS_TRY(cs_evidence_encode(out, &a->captured));
    }
    return CONSORT_OK;
}

typedef struct node {
    cs_key *key;
    cs_x509 *cert;
    attester att;
    cs_attested_config *cfg;
    char node_id[CS_NODE_ID_LEN + 1];
} node;

typedef struct world {
    uv_loop_t loop;
    cs_virtual_platform *platform;
    cs_blob_list anchors;
    cs_verify_opts opts;
    cs_policy policy;
    node a, b;
} world;

static void node_init(world *w, node *n, uint64_t raft_id, const char *raft_addr, uint64_t timeout)
{
    memset(n, 0, sizeof *n);
    cst_ok(cs_key_generate(CS_CURVE_P256, &n->key));
    cst_self_signed(n->key, "consort node", &n->cert);
    cst_ok(cs_key_generate(CS_CURVE_P256, &n->att.other_key));
    cs_buf_init(&n->att.captured, 0);
    n->att.platform = w->platform;
    n->att.code_id = TRUSTED;
    const cs_attested_params p = {.key = n->key,
                                  .cert = n->cert,
                                  .raft_id = raft_id,
                                  .raft_address = raft_addr,
                                  .attest = attest_cb,
                                  .attest_ctx = &n->att,
                                  .verify_opts = &w->opts,
                                  .policy = &w->policy,
                                  .timeout_ms = timeout};
    cst_ok(cs_attested_config_new(&p, &n->cfg));
    cst_ok(cs_attested_node_id(n->key, n->node_id));
    assert_string_equal(cs_attested_config_node_id(n->cfg), n->node_id);
}

static void node_cleanup(node *n)
{
    cs_attested_config_free(n->cfg);
    cs_key_free(n->key);
    cs_key_free(n->att.other_key);
    cs_x509_free(n->cert);
    cs_buf_cleanup(&n->att.captured);
}

static int setup(void **state)
{
    static world w;
    memset(&w, 0, sizeof w);
    cst_ok(cs_virtual_platform_generate((int64_t)time(NULL) - 60, &w.platform));
    cs_blob_list_init(&w.anchors);
    cst_ok(cs_blob_list_add(&w.anchors, cs_virtual_platform_cert_der(w.platform)));
    w.opts = (cs_verify_opts){.now = 0, .anchors = &w.anchors};
    cs_policy_init(&w.policy);
    cst_ok(cs_policy_add_code_id(&w.policy, TRUSTED));
    node_init(&w, &w.a, 1, "127.0.0.1:7001", 2000);
    node_init(&w, &w.b, 2, "127.0.0.1:7002", 2000);
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    node_cleanup(&w->a);
    node_cleanup(&w->b);
    cs_blob_list_cleanup(&w->anchors);
    cs_virtual_platform_free(w->platform);
    return 0;
}

/* Resets both attesters to honest, trusted behaviour. */
static void honest(world *w)
{
    w->a.att.mode = MODE_HONEST;
    w->b.att.mode = MODE_HONEST;
    w->a.att.code_id = TRUSTED;
    w->b.att.code_id = TRUSTED;
}

/* ---- one connection from b (connector) to a (listener) ---- */

typedef struct side {
    cs_stream *s;
    bool ready, failed, closed;
    consort_err err;
    char msg[CS_ERRMSG_MAX]; /* the message the ready callback carried */
    char peer_node[CS_NODE_ID_LEN + 1];
    uint64_t peer_raft_id;
    char peer_raft_addr[64];
    uint8_t peer_code_id[32];
    cs_buf got;
} side;

typedef struct conn {
    world *w;
    cs_listener *listener;
    side a, b;
    const char *a_says; /* written by a as soon as it is ready */
} conn;

static void side_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    cst_ok(cs_buf_append_slice(&((side *)ctx)->got, data));
}

static void side_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    cst_cb_msg(reason, msg);
    side *d = ctx;
    d->closed = true;
    d->s = NULL;
}

static void side_ready(side *d, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                       const char *msg)
{
    cst_cb_msg(err, msg);
    d->err = err;
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    if (err != CONSORT_OK) {
        d->failed = true;
        assert_null(s);
        assert_null(peer);
        return;
    }
    d->ready = true;
    d->s = s;
    snprintf(d->peer_node, sizeof d->peer_node, "%s", peer->node_id);
    d->peer_raft_id = peer->raft_id;
    snprintf(d->peer_raft_addr, sizeof d->peer_raft_addr, "%s", peer->raft_address);
    memcpy(d->peer_code_id, peer->claims->code_id, 32);
    assert_ptr_equal(cs_attested_stream_peer(s)->claims, peer->claims);
    assert_non_null(cs_stream_peer_cert(s));
    const cs_stream_cbs cbs = {.on_data = side_data, .on_close = side_close};
    cs_stream_set_cbs(s, &cbs, d);
}

static void a_ready(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                    const char *msg)
{
    conn *c = ctx;
    side_ready(&c->a, s, peer, err, msg);
    if (c->a_says != NULL)
        cst_ok(cs_stream_write(s, cs_slice_str(c->a_says)));
}

static void b_done(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                   const char *msg)
{
    side_ready(&((conn *)ctx)->b, s, peer, err, msg);
}

static bool b_settled(void *ctx)
{
    conn *c = ctx;
    return c->b.failed || (c->b.ready && (c->a.ready || c->b.closed));
}

static bool all_closed(void *ctx)
{
    conn *c = ctx;
    return (!c->a.ready || c->a.closed) && (!c->b.ready || c->b.closed);
}

/* Connects b to a, runs until b's outcome is known (and a's, if a accepted). */
static void run(world *w, conn *c, const char *a_says)
{
    memset(c, 0, sizeof *c);
    c->w = w;
    c->a_says = a_says;
    cs_buf_init(&c->a.got, 0);
    cs_buf_init(&c->b.got, 0);
    assert_int_equal(uv_loop_init(&w->loop), 0);
    cst_ok(cs_attested_listen(&w->loop, "127.0.0.1:0", w->a.cfg, a_ready, c, &c->listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(c->listener));
    cst_ok(cs_attested_connect(&w->loop, addr, w->b.cfg, b_done, c));
    /* a refusal reaches b_done with its own message (STYLE.md rule 10), not
     * in the thread-local message: a decoy there must not show up */
    cs_err_clear();
    (void)cs_fail(CONSORT_E_IO, "decoy");
    cst_run_until(&w->loop, 10000, b_settled, c, "the connector's outcome");
    /* give a refusal on a's side time to close b */
    if (!c->a.ready && c->b.ready)
        cst_run_until(&w->loop, 5000, all_closed, c, "b to be closed by a");
}

static void finish(world *w, conn *c)
{
    if (c->a.s != NULL)
        cs_stream_close(c->a.s);
    if (c->b.s != NULL)
        cs_stream_close(c->b.s);
    cst_run_until(&w->loop, 5000, all_closed, c, "both closed");
    cs_listener_close(c->listener);
    cst_loop_finish(&w->loop);
    cs_buf_cleanup(&c->a.got);
    cs_buf_cleanup(&c->b.got);
}

static bool b_got_5(void *ctx)
{
    return ((conn *)ctx)->b.got.len >= 5 && ((conn *)ctx)->a.got.len >= 6;
}

static void trusted_nodes_become_ready(void **state)
{
    world *w = *state;
    honest(w);
    conn c;
    run(w, &c, "early");
    assert_true(c.b.ready);
    cst_run_until(&w->loop, 5000, cst_flag_set, &c.a.ready, "a ready");
    /* each knows the other */
    assert_string_equal(c.b.peer_node, w->a.node_id);
    assert_int_equal(c.b.peer_raft_id, 1);
    assert_string_equal(c.b.peer_raft_addr, "127.0.0.1:7001");
    assert_memory_equal(c.b.peer_code_id, TRUSTED, 32);
    assert_string_equal(c.a.peer_node, w->b.node_id);
    assert_int_equal(c.a.peer_raft_id, 2);
    assert_string_equal(c.a.peer_raft_addr, "127.0.0.1:7002");
    /* bytes flow both ways, including what a wrote the moment it was ready */
    cst_ok(cs_stream_write(c.b.s, CS_SLICE_LIT("raft!!")));
    cst_run_until(&w->loop, 5000, b_got_5, &c, "data both ways");
    assert_memory_equal(c.b.got.ptr, "early", 5);
    assert_memory_equal(c.a.got.ptr, "raft!!", 6);
    finish(w, &c);
}

static void assert_logged(const char *what)
{
    const char *log = cst_log_captured();
    if (strstr(log, what) == NULL)
        fail_msg("log lacks '%s':\n%s", what, log);
}

static void untrusted_code_id_refused(void **state)
{
    world *w = *state;
    conn c;
    /* the connector runs untrusted code: the listener refuses it */
    honest(w);
    w->b.att.code_id = UNTRUSTED;
    cst_log_capture_start();
    run(w, &c, NULL);
    assert_false(c.a.ready);
    assert_logged("is not trusted");
    finish(w, &c);
    /* the listener runs untrusted code: the connector refuses it */
    honest(w);
    w->a.att.code_id = UNTRUSTED;
    run(w, &c, NULL);
    assert_true(c.b.failed);
    cst_fails(c.b.err, CONSORT_E_POLICY);
    assert_non_null(strstr(c.b.msg, "refused"));
    assert_non_null(strstr(c.b.msg, "is not trusted"));
    assert_null(strstr(c.b.msg, "decoy"));
    finish(w, &c);
    cst_log_capture_stop();
}

static void evidence_for_another_key_refused(void **state)
{
    world *w = *state;
    conn c;
    honest(w);
    w->a.att.mode = MODE_OTHER_KEY;
    cst_log_capture_start();
    run(w, &c, NULL);
    cst_fails(c.b.err, CONSORT_E_REPORT_DATA);
    assert_non_null(strstr(c.b.msg, "does not bind"));
    finish(w, &c);
    honest(w);
    w->b.att.mode = MODE_OTHER_KEY;
    run(w, &c, NULL);
    assert_false(c.a.ready);
    assert_logged("refused");
    assert_logged("does not bind");
    finish(w, &c);
    cst_log_capture_stop();
}

static void evidence_replayed_from_previous_connection_refused(void **state)
{
    world *w = *state;
    conn c;
    honest(w);
    w->a.att.mode = MODE_CAPTURE;
    run(w, &c, NULL);
    assert_true(c.b.ready); /* the first connection is fine */
    finish(w, &c);
    assert_true(w->a.att.captured.len > 0);
    /* same key, same genuine evidence, new connection: the exporter differs */
    w->a.att.mode = MODE_REPLAY;
    run(w, &c, NULL);
    cst_fails(c.b.err, CONSORT_E_REPORT_DATA);
    assert_non_null(strstr(c.b.msg, "does not bind"));
    finish(w, &c);
}

static void bit_flipped_evidence_refused(void **state)
{
    world *w = *state;
    /* each field of the virtual report (src/attest/virtual.h), and the check
     * that must refuse it: structure first, then the platform key, then the
     * signature over everything else */
    static const struct {
        size_t bit;
        consort_err code;
        const char *why;
    } flips[] = {
        {3, CONSORT_E_MALFORMED, "virtual report: magic"},
        {12 * 8 + 1, CONSORT_E_MALFORMED, "flags 0x00000002 has bits other than debug"},
        {30 * 8 + 5, CONSORT_E_BAD_SIGNATURE,
         "virtual report: ECDSA P-256 signature does not "
         "verify"}, /* code id */
        {80 * 8, CONSORT_E_BAD_SIGNATURE,
         "virtual report: ECDSA P-256 signature does not "
         "verify"}, /* report data */
        {130 * 8 + 7, CONSORT_E_ATTESTATION,
         "which none of the 1 trusted platform "
         "certificates holds"}, /* platform key id */
        {200 * 8 + 2, CONSORT_E_BAD_SIGNATURE,
         "virtual report: ECDSA P-256 signature does not "
         "verify"}, /* signature */
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(flips); i++) {
        honest(w);
        w->a.att.mode = MODE_FLIP;
        w->a.att.flip_bit = flips[i].bit;
        conn c;
        run(w, &c, NULL);
        if (!c.b.failed || c.b.err != flips[i].code || strstr(c.b.msg, flips[i].why) == NULL ||
            strstr(c.b.msg, "refused: virtual evidence") == NULL)
            fail_msg("bit %zu flipped: %s \"%s\", expected %s saying \"%s\"", flips[i].bit,
                     c.b.failed ? consort_err_name(c.b.err) : "accepted", c.b.msg,
                     consort_err_name(flips[i].code), flips[i].why);
        assert_false(c.b.ready);
        finish(w, &c);
    }
}

/* ---- peers that do not follow the protocol ---- */

typedef struct rogue {
    world *w;
    cs_stream *s;
    bool closed, connected;
    const char *send; /* raw bytes to send after the handshake */
    bool forge_hello; /* send a genuine hello naming another node */
} rogue;

static void rogue_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    (void)s;
    (void)data;
}

static void rogue_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    ((rogue *)ctx)->closed = true;
}

static void rogue_connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    rogue *r = ctx;
    cst_cb_ok(err, msg);
    r->connected = true;
    r->s = s;
    const cs_stream_cbs cbs = {.on_data = rogue_data, .on_close = rogue_close};
    cs_stream_set_cbs(s, &cbs, r);
    if (r->send != NULL)
        cst_ok(cs_stream_write(s, cs_slice_str(r->send)));
    if (r->forge_hello) { /* genuine evidence for our key, but a's node id */
        cs_buf exporter, hello;
        cs_buf_init_secret(&exporter, 0);
        cs_buf_init(&hello, 0);
        cst_ok(cs_tls_export(cs_tls_stream_engine(s), CS_ATTESTED_EXPORTER_LABEL, 32, &exporter));
        cs_evidence ev;
        cs_evidence_init(&ev);
        cst_ok(attest_cb(&r->w->b.att, r->w->b.key, cs_buf_slice(&exporter), &ev));
        cst_ok(cs_attested_hello_encode(&ev, r->w->a.node_id, 9, "127.0.0.1:9", &hello));
        cst_ok(cs_stream_write(s, cs_buf_slice(&hello)));
        cs_evidence_cleanup(&ev);
        cs_buf_cleanup(&exporter);
        cs_buf_cleanup(&hello);
    }
}

static int never_ready_calls;

static void never_ready(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                        const char *msg)
{
    (void)ctx;
    (void)peer;
    (void)err;
    never_ready_calls++;
    cs_stream_close(s);
}

static bool rogue_closed(void *ctx)
{
    return ((rogue *)ctx)->closed;
}

/* A TLS client with b's certificate that never attests. */
static void run_rogue(world *w, rogue *r)
{
    never_ready_calls = 0;
    r->w = w;
    assert_int_equal(uv_loop_init(&w->loop), 0);
    cs_listener *l;
    cst_ok(cs_attested_listen(&w->loop, "127.0.0.1:0", w->a.cfg, never_ready, NULL, &l));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(l));
    const cs_tls_params p = {
        .role = CS_TLS_CLIENT, .key = w->b.key, .cert = w->b.cert, .verify = cs_tls_verify_any};
    cs_tls_config *cfg;
    cst_ok(cs_tls_config_new(&p, &cfg));
    cst_ok(cs_tls_connect(&w->loop, addr, cfg, rogue_connected, r));
    cs_tls_config_free(cfg);
    cst_run_until(&w->loop, 10000, rogue_closed, r, "the listener to close the rogue");
    assert_int_equal(never_ready_calls, 0);
    cs_listener_close(l);
    cst_loop_finish(&w->loop);
}

static void garbage_and_silence_closed(void **state)
{
    world *w = *state;
    honest(w);
    cst_log_capture_start();
    rogue r = {.send = "this is not a hello at all\n"};
    run_rogue(w, &r);
    assert_logged("hello: length");
    r = (rogue){.send = "\x00\x00\x00\x05\xa1\x01\x02\x03\x04"}; /* framed, not our CBOR */
    run_rogue(w, &r);
    assert_logged("hello");
    r = (rogue){0}; /* says nothing: the hello timeout (2 s here) */
    run_rogue(w, &r);
    assert_logged("no valid hello within 2000 ms");
    cst_log_capture_stop();
}

static void forged_node_id_refused(void **state)
{
    world *w = *state;
    honest(w);
    cst_log_capture_start();
    rogue r = {.forge_hello = true};
    run_rogue(w, &r);
    assert_logged("does not belong to the TLS key");
    cst_log_capture_stop();
}

/* The connector against a TLS server that answers garbage: refused with the reason. */
static void tls_garbage_accept(void *ctx, cs_stream *s)
{
    (void)ctx;
    const cs_stream_cbs cbs = {.on_data = rogue_data, .on_close = rogue_close};
    static rogue sink;
    cs_stream_set_cbs(s, &cbs, &sink);
    cst_ok(cs_stream_write(s, CS_SLICE_LIT("\x00\x00\x00\x02\xa0\x00")));
}

static void connector_refuses_garbage(void **state)
{
    world *w = *state;
    honest(w);
    assert_int_equal(uv_loop_init(&w->loop), 0);
    const cs_tls_params p = {.role = CS_TLS_SERVER,
                             .key = w->a.key,
                             .cert = w->a.cert,
                             .client_auth = CS_TLS_CLIENT_CERT_REQUIRE,
                             .verify = cs_tls_verify_any};
    cs_tls_config *cfg;
    cst_ok(cs_tls_config_new(&p, &cfg));
    cs_listener *l;
    cst_ok(cs_tls_listen(&w->loop, "127.0.0.1:0", cfg, tls_garbage_accept, NULL, &l));
    cs_tls_config_free(cfg);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(l));
    conn c;
    memset(&c, 0, sizeof c);
    cst_log_capture_start();
    cst_ok(cs_attested_connect(&w->loop, addr, w->b.cfg, b_done, &c));
    (void)cs_fail(CONSORT_E_IO, "decoy");
    cst_run_until(&w->loop, 10000, cst_flag_set, &c.b.failed, "the connector to refuse");
    cst_fails(c.b.err, CONSORT_E_MALFORMED);
    assert_non_null(strstr(c.b.msg, "hello: map of 0 pairs"));
    assert_null(strstr(c.b.msg, "decoy"));
    assert_logged("hello: map of 0 pairs");
    cst_log_capture_stop();
    cs_listener_close(l);
    cst_loop_finish(&w->loop);
}

/* Nobody listens: the connector's callback carries the system's reason. */
static void connect_refused_message(void **state)
{
    world *w = *state;
    honest(w);
    assert_int_equal(uv_loop_init(&w->loop), 0);
    cs_listener *l;
    cst_ok(cs_tcp_listen(&w->loop, "127.0.0.1:0", tls_garbage_accept, NULL, &l));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(l));
    cs_listener_close(l); /* the port is free again */
    uv_run(&w->loop, UV_RUN_NOWAIT);
    conn c;
    memset(&c, 0, sizeof c);
    cst_ok(cs_attested_connect(&w->loop, addr, w->b.cfg, b_done, &c));
    cs_err_clear();
    (void)cs_fail(CONSORT_E_IO, "decoy");
    cst_run_until(&w->loop, 5000, cst_flag_set, &c.b.failed, "the connect to fail");
    cst_fails(c.b.err, CONSORT_E_IO);
    assert_non_null(strstr(c.b.msg, addr));
    assert_non_null(strstr(c.b.msg, "ECONNREFUSED"));
    assert_null(strstr(c.b.msg, "decoy"));
    cst_loop_finish(&w->loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trusted_nodes_become_ready),
        cmocka_unit_test(connect_refused_message),
        cmocka_unit_test(untrusted_code_id_refused),
        cmocka_unit_test(evidence_for_another_key_refused),
        cmocka_unit_test(evidence_replayed_from_previous_connection_refused),
        cmocka_unit_test(bit_flipped_evidence_refused),
        cmocka_unit_test(garbage_and_silence_closed),
        cmocka_unit_test(forged_node_id_refused),
        cmocka_unit_test(connector_refuses_garbage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
