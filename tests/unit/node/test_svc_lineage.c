/*
 * The code lineage governance approved (src/node/svc_lineage.h): the
 * successors a node's sealed store admits. Each promise of the header is a
 * test: direct and transitive successors, only trusted ones, only committed
 * state, sorted output, the bound, a record that does not parse.
 */
#include "testutil.h"

#include "node/service_maps.h"
#include "node/svc_lineage.h"

#include <stdio.h>
#include <string.h>

#define S(str) cs_slice_str(str)

static void id_of(int n, uint8_t out[32])
{
    memset(out, 0, 32);
    out[31] = (uint8_t)n;
    out[0] = (uint8_t)(n * 7);
}

static void hex_of(int n, char hex[65])
{
    uint8_t id[32];
    id_of(n, id);
    cs_hex_encode(CS_SLICE(id, 32), hex);
}

/* Puts code id n (trusted or retired) and, if pred >= 0, "n successor_of
 * pred", in one transaction; commits it unless `pending`. */
static void approve(cs_kv_store *s, int n, int pred, bool trusted_now, bool pending)
{
    char hex[65], phex[65], policy[160];
    hex_of(n, hex);
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S(SVC_MAP_CODE_IDS), S(hex),
                     S(trusted_now ? SVC_CODE_ID_OK : SVC_CODE_ID_RETIRED)));
    if (pred >= 0) {
        hex_of(pred, phex);
        snprintf(policy, sizeof policy, "{\"cutover_quorum\":0,\"successor_of\":\"%s\"}", phex);
        cst_ok(cs_kv_put(tx, S(SVC_MAP_UPDATE), S(hex), S(policy)));
    }
    cs_buf p, q;
    cs_buf_init(&p, 0);
    cs_buf_init_secret(&q, 0);
    cst_ok(cs_kv_tx_commit(tx, cs_kv_last_seqno(s) + 1, &p, &q));
    cs_buf_cleanup(&p);
    cs_buf_cleanup(&q);
    cs_kv_tx_free(tx);
    if (!pending)
        cs_kv_set_committed(s, cs_kv_last_seqno(s));
}

static size_t successors(cs_kv_store *s, int self, uint8_t (*out)[32], size_t max)
{
    uint8_t id[32];
    id_of(self, id);
    size_t n = 99;
    cst_ok(svc_lineage_successors(s, id, out, max, &n));
    return n;
}

static void assert_ids(uint8_t (*got)[32], size_t n, const int *want, size_t want_n)
{
    assert_int_equal(n, want_n);
    for (size_t i = 0; i < n; i++) {
        uint8_t id[32];
        id_of(want[i], id);
        assert_memory_equal(got[i], id, 32);
    }
}

static void test_direct_and_transitive(void **state)
{
    (void)state;
    cs_kv_store *s;
    cst_ok(cs_kv_store_new(NULL, &s));
    uint8_t out[8][32];
    approve(s, 1, -1, true, false);
    assert_int_equal(successors(s, 1, out, 8), 0);
    approve(s, 2, 1, true, false);  /* 2 succeeds 1 */
    approve(s, 3, 2, true, false);  /* 3 succeeds 2 */
    approve(s, 4, -1, true, false); /* trusted, but no successor of anything */
    /* sorted by id: id_of(2) < id_of(3) (first byte 14 < 21) */
    assert_ids(out, successors(s, 1, out, 8), (const int[]){2, 3}, 2);
    assert_ids(out, successors(s, 2, out, 8), (const int[]){3}, 1);
    assert_int_equal(successors(s, 3, out, 8), 0);
    assert_int_equal(successors(s, 4, out, 8), 0);
    cs_kv_store_free(s);
}

static void test_only_trusted_and_committed(void **state)
{
    (void)state;
    cs_kv_store *s;
    cst_ok(cs_kv_store_new(NULL, &s));
    uint8_t out[8][32];
    approve(s, 1, -1, true, false);
    approve(s, 2, 1, false, false); /* retired: not a successor any more */
    assert_int_equal(successors(s, 1, out, 8), 0);
    approve(s, 5, 1, true, true); /* not committed yet */
    assert_int_equal(successors(s, 1, out, 8), 0);
    cs_kv_set_committed(s, cs_kv_last_seqno(s));
    assert_ids(out, successors(s, 1, out, 8), (const int[]){5}, 1);
    cs_kv_store_free(s);
}

static void test_cycle_and_bound(void **state)
{
    (void)state;
    cs_kv_store *s;
    cst_ok(cs_kv_store_new(NULL, &s));
    uint8_t out[8][32];
    approve(s, 1, 3, true, false); /* 1 succeeds 3, 2 succeeds 1, 3 succeeds 2: a cycle */
    approve(s, 2, 1, true, false);
    approve(s, 3, 2, true, false);
    assert_ids(out, successors(s, 1, out, 8), (const int[]){2, 3}, 2);
    uint8_t id[32];
    id_of(1, id);
    size_t n = 7;
    cst_fails(svc_lineage_successors(s, id, out, 1, &n), CONSORT_E_TOO_LARGE);
    assert_int_equal(n, 0);
    cs_kv_store_free(s);
}

static void test_bad_record(void **state)
{
    (void)state;
    cs_kv_store *s;
    cst_ok(cs_kv_store_new(NULL, &s));
    char hex[65];
    hex_of(2, hex);
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S(SVC_MAP_UPDATE), S(hex), S("{\"successor_of\": 7}")));
    cs_buf p, q;
    cs_buf_init(&p, 0);
    cs_buf_init_secret(&q, 0);
    cst_ok(cs_kv_tx_commit(tx, 1, &p, &q));
    cs_buf_cleanup(&p);
    cs_buf_cleanup(&q);
    cs_kv_tx_free(tx);
    cs_kv_set_committed(s, 1);
    uint8_t out[4][32], id[32];
    id_of(1, id);
    size_t n;
    cst_fails(svc_lineage_successors(s, id, out, 4, &n), CONSORT_E_CORRUPT);
    cs_kv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direct_and_transitive),
        cmocka_unit_test(test_only_trusted_and_committed),
        cmocka_unit_test(test_cycle_and_bound),
        cmocka_unit_test(test_bad_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
