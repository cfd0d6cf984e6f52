/*
 * Forwarding writes from a follower to the leader, in process: a two-node
 * service on loopback. A write sent to the follower is executed by the
 * leader and answered (with its txid) through the follower; the follower
 * authenticates first; the leader trusts x-consort-forwarded-caller only
 * from a node certificate of the service; with the leader gone, the
 * follower answers 503 with Retry-After.
 */
#include "rpc_fixture.h"

#include <inttypes.h>

static cst_svc svc;

static int setup(void **state)
{
    (void)state;
    cst_svc_start(&svc, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cst_svc_stop(&svc);
    return 0;
}

static const cs_http_header JSON_CT[] = {{"Content-Type", "application/json"}};

typedef struct committed_wait {
    cs_node *node;
    cs_txid txid;
} committed_wait;

static bool is_committed(void *ctx)
{
    committed_wait *w = ctx;
    return cs_node_tx_status(w->node, w->txid) == CS_TX_COMMITTED;
}

static void follower_forwards_writes(void **state)
{
    (void)state;
    assert_true(cs_node_is_leader(svc.node[0]));
    assert_false(cs_node_is_leader(svc.node[1]));
    cst_client c;
    cst_client_open(&svc, 1, &svc.user, &c);
    cst_resp r;
    for (int i = 0; i < 3; i++) { /* the connection to the leader is reused */
        char body[64];
        snprintf(body, sizeof body, "{\"id\": %d, \"msg\": \"via follower %d\"}", 100 + i, i);
        cst_send(&c, "POST", "/app/log/private", JSON_CT, 1, body, &r);
        if (r.status != 200)
            fail_msg("forwarded write: %d %s", r.status, (const char *)r.body.ptr);
        assert_string_equal((const char *)r.body.ptr, "{}");
        assert_string_equal(r.ctype, "application/json");
        committed_wait w = {.node = svc.node[1]};
        cst_ok(cs_txid_parse(r.txid, &w.txid));
        /* committed on the leader before the answer; the follower catches up */
        assert_int_equal(cs_node_tx_status(svc.node[0], w.txid), CS_TX_COMMITTED);
        cst_run_until(&svc.loop, 10000, is_committed, &w, "the follower to apply the write");
        cst_resp_cleanup(&r);
    }
    /* reads are served by the follower itself */
    cst_send(&c, "GET", "/app/log/private?id=102", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body.ptr, "{\"msg\":\"via follower 2\"}");
    cst_resp_cleanup(&r);
    /* the leader's own errors are relayed as they are */
    cst_send(&c, "POST", "/app/log/public", JSON_CT, 1, "{\"id\": -1, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.txid, "");
    (void)cst_resp_error(&r, "InvalidInput");
    cst_resp_cleanup(&r);
    cst_client_close(&c);
    /* the metrics count what was forwarded */
    cst_client_open(&svc, 1, NULL, &c);
    cst_send(&c, "GET", "/node/metrics", NULL, 0, NULL, &r);
    char metric[96];
    snprintf(metric, sizeof metric, "\nconsort_rpc_forwarded_total{node=\"%s\"} ",
             cs_node_id(svc.node[1]));
    const char *m = strstr((const char *)r.body.ptr, metric);
    assert_non_null(m);
    assert_int_equal(strtol(m + strlen(metric), NULL, 10), 4);
    cst_resp_cleanup(&r);
    cst_client_close(&c);
}

static void follower_authenticates_first(void **state)
{
    (void)state;
    cst_client none, stranger;
    cst_client_open(&svc, 1, NULL, &none);
    cst_client_open(&svc, 1, &svc.stranger, &stranger);
    cst_resp r;
    cst_send(&none, "POST", "/app/log/private", JSON_CT, 1, "{\"id\": 1, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 401);
    cst_resp_cleanup(&r);
    cst_send(&stranger, "POST", "/app/log/private", JSON_CT, 1, "{\"id\": 1, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 403);
    cst_resp_cleanup(&r);
    cst_client_close(&none);
    cst_client_close(&stranger);
}

static void leader_trusts_the_caller_header_from_nodes_only(void **state)
{
    (void)state;
    /* speak to the leader as the follower would: with the follower's node certificate */
    cst_client as_node;
    cst_client_open_as(&svc, 0, cs_node_key(svc.node[1]), cs_node_cert(svc.node[1]), &as_node);
    char user_fp[65], stranger_fp[65];
    cs_hex_encode(CS_SLICE(svc.user.fp, 32), user_fp);
    cs_hex_encode(CS_SLICE(svc.stranger.fp, 32), stranger_fp);
    cst_resp r;
    const cs_http_header as_user[] = {JSON_CT[0], {"x-consort-forwarded-caller", user_fp}};
    cst_send(&as_node, "POST", "/app/log/public", as_user, 2, "{\"id\": 7, \"msg\": \"fwd\"}", &r);
    assert_int_equal(r.status, 200);
    assert_true(r.txid[0] != '\0');
    cst_resp_cleanup(&r);
    const cs_http_header as_stranger[] = {JSON_CT[0], {"x-consort-forwarded-caller", stranger_fp}};
    cst_send(&as_node, "POST", "/app/log/public", as_stranger, 2, "{\"id\": 8, \"msg\": \"x\"}",
             &r);
    assert_int_equal(r.status, 403);
    cst_resp_cleanup(&r);
    const cs_http_header anonymous[] = {JSON_CT[0], {"x-consort-forwarded-caller", "none"}};
    cst_send(&as_node, "POST", "/app/log/public", anonymous, 2, "{\"id\": 8, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 401);
    cst_resp_cleanup(&r);
    static const char *const bad[] = {"", "zz", "0123", "NONE"};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        const cs_http_header h[] = {JSON_CT[0], {"x-consort-forwarded-caller", bad[i]}};
        cst_send(&as_node, "POST", "/app/log/public", h, 2, "{\"id\": 8, \"msg\": \"x\"}", &r);
        assert_int_equal(r.status, 400);
        (void)cst_resp_error(&r, "InvalidInput");
        cst_resp_cleanup(&r);
    }
    /* without the header the node certificate is the caller: not a user */
    cst_send(&as_node, "POST", "/app/log/public", JSON_CT, 1, "{\"id\": 8, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 403);
    cst_resp_cleanup(&r);
    cst_client_close(&as_node);

    /* the same header from a user's certificate is refused outright */
    cst_client user;
    cst_client_open(&svc, 0, &svc.user, &user);
    cst_send(&user, "POST", "/app/log/public", as_user, 2, "{\"id\": 9, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 403);
    cst_resp_cleanup(&r);
    cst_client_close(&user);

    /* a forwarded request reaching a follower is not forwarded again */
    cst_client_open_as(&svc, 1, cs_node_key(svc.node[0]), cs_node_cert(svc.node[0]), &as_node);
    cst_send(&as_node, "POST", "/app/log/public", as_user, 2, "{\"id\": 10, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.retry, "1");
    cst_resp_cleanup(&r);
    cst_client_close(&as_node);
}

static void no_leader_means_503(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 1, &svc.user, &c);
    cst_svc_stop_node(&svc, 0); /* the leader; one of two nodes cannot elect itself */
    cst_resp r;
    cst_send(&c, "POST", "/app/log/private", JSON_CT, 1, "{\"id\": 11, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.retry, "1");
    assert_string_equal(r.txid, "");
    (void)cst_resp_error(&r, "ServiceUnavailable");
    cst_resp_cleanup(&r);
    /* reads still work on the follower */
    cst_send(&c, "GET", "/app/log/private?id=100", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    cst_resp_cleanup(&r);
    cst_client_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follower_forwards_writes), cmocka_unit_test(follower_authenticates_first),
        cmocka_unit_test(leader_trusts_the_caller_header_from_nodes_only),
        cmocka_unit_test(no_leader_means_503), /* last: stops the leader */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
