/*
 * Pausing and resuming reads (stream.h "Flow control") on attested
 * channels (attested.h) between two nodes on 127.0.0.1 with the virtual
 * platform: the contract of pause_fixture.h, and a channel paused inside
 * its ready callback (bytes that followed the hello are held until resume,
 * then delivered from the loop).
 */
#include "pause_fixture.h"

#include "attest/virtual.h"
#include "net/attested.h"

static const uint8_t CODE_ID[32] = {0xc0, 0xde, 1, 2, 3};

typedef struct world {
    uv_loop_t loop;
    cs_virtual_platform *platform;
    cs_blob_list anchors;
    cs_verify_opts opts;
    cs_policy policy;
    cs_key *key[2];
    cs_x509 *cert[2];
    cs_attested_config *cfg[2];
    cs_listener *listener;
    cst_pause p;
    bool pause_at_ready;
} world;

static consort_err attest_cb(void *ctx, const cs_key *key, cs_slice nonce, cs_evidence *out)
{
    world *w = ctx;
    uint8_t rd[64];
    CS_TRY(cs_report_data_bind(key, nonce, rd));
    return cs_virtual_attest(w->platform, CODE_ID, 1, false, rd, out);
}

static void world_init(world *w)
{
    memset(w, 0, sizeof *w);
    assert_int_equal(uv_loop_init(&w->loop), 0);
    w->p.loop = &w->loop;
    cst_ok(cs_virtual_platform_generate((int64_t)time(NULL) - 60, &w->platform));
    cs_blob_list_init(&w->anchors);
    cst_ok(cs_blob_list_add(&w->anchors, cs_virtual_platform_cert_der(w->platform)));
    w->opts = (cs_verify_opts){.now = 0, .anchors = &w->anchors};
    cs_policy_init(&w->policy);
    cst_ok(cs_policy_add_code_id(&w->policy, CODE_ID));
    for (int i = 0; i < 2; i++) {
        cst_ok(cs_key_generate(CS_CURVE_P256, &w->key[i]));
        cst_self_signed(w->key[i], "consort node", &w->cert[i]);
        const cs_attested_params params = {.key = w->key[i],
                                           .cert = w->cert[i],
                                           .raft_id = (uint64_t)i + 1,
                                           .raft_address =
                                               i == 0 ? "127.0.0.1:7001" : "127.0.0.1:7002",
                                           .attest = attest_cb,
                                           .attest_ctx = w,
                                           .verify_opts = &w->opts,
                                           .policy = &w->policy};
        cst_ok(cs_attested_config_new(&params, &w->cfg[i]));
    }
}

static void world_cleanup(world *w)
{
    cs_listener_close(w->listener);
    cst_loop_finish(&w->loop);
    for (int i = 0; i < 2; i++) {
        cs_attested_config_free(w->cfg[i]);
        cs_key_free(w->key[i]);
        cs_x509_free(w->cert[i]);
    }
    cs_blob_list_cleanup(&w->anchors);
    cs_virtual_platform_free(w->platform);
}

static void on_ready(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                     const char *msg)
{
    (void)peer;
    world *w = ctx;
    cst_cb_ok(err, msg);
    if (w->pause_at_ready) {
        w->p.paused = true;
        cs_stream_pause(s);
    }
    cst_pause_attach_r(&w->p, s);
}

static void on_done(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                    const char *msg)
{
    (void)peer;
    world *w = ctx;
    cst_cb_ok(err, msg);
    cst_pause_attach_w(&w->p, s);
    if (w->pause_at_ready) { /* right behind our hello, as raft's first message is */
        const uint8_t held[4] = {cst_pause_byte(0), cst_pause_byte(1), cst_pause_byte(2),
                                 cst_pause_byte(3)};
        cst_ok(cs_stream_write(s, CS_SLICE(held, sizeof held)));
    }
}

static bool connected(void *ctx)
{
    world *w = ctx;
    return w->p.w != NULL && w->p.r != NULL;
}

static void connect_pair(world *w)
{
    cst_ok(cs_attested_listen(&w->loop, "127.0.0.1:0", w->cfg[0], on_ready, w, &w->listener));
    cst_ok(cs_attested_connect(&w->loop, cs_listener_address(w->listener), w->cfg[1], on_done, w));
    cst_run_until(&w->loop, 10000, connected, w, "the attested channel");
}

static void test_pause_resume(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    connect_pair(&w);
    cst_pause_check(&w.p);
    world_cleanup(&w);
}

static void test_close_while_paused(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    connect_pair(&w);
    cst_pause_check_close_while_paused(&w.p);
    world_cleanup(&w);
}

static void test_paused_in_ready_callback(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.pause_at_ready = true;
    connect_pair(&w);
    cst_pause_watch(&w.p, 200);
    assert_int_equal(w.p.received, 0);
    w.p.paused = false;
    cst_pause_call(&w.p, false);
    assert_int_equal(w.p.received, 0); /* not inside resume */
    cst_run_until(&w.loop, 5000, cst_pause_got_held, &w.p, "the bytes after resume");
    assert_false(w.p.bad);
    cs_stream_close(w.p.w);
    cst_run_until(&w.loop, 5000, cst_flag_set, &w.p.r_closed, "R closed");
    world_cleanup(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_close_while_paused),
        cmocka_unit_test(test_paused_in_ready_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
