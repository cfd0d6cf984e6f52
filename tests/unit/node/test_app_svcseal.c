/*
 * Sealing in the service's scope (app.h CONSORT_APP_SEALING,
 * CONSORT_SEALING_SERVICE; src/node/app_svcseal.c), through the ABI a
 * handler calls, over a real store: counters are writes of the handler's
 * transaction (durable when it commits, gone when it is discarded, refused
 * in a read-only endpoint), the sealing root is made once and shared by
 * every node of the service and by no other service, a counter-bound blob
 * opens only in a read-write endpoint whose transaction then commits, an
 * older blob is refused (ROLLBACK), and the policies follow the lineage
 * governance approved. A running service: tests/integration/test_counters.py.
 */
#include "testutil.h"

#include "node/app_svcseal.h"
#include "node/node.h"
#include "node/service_maps.h"

#include <stdio.h>
#include <string.h>

#define S(str) cs_slice_str(str)

static void id_of(int n, uint8_t out[32])
{
    memset(out, 0xc0, 32);
    out[31] = (uint8_t)n;
}

/* One handler's run: a transaction over `kv`, a request of the service scope. */
typedef struct run {
    cs_kv_store *kv;
    cs_kv_tx *ktx;
    consort_tx tx;
    cs_tx_outcome outcome;
    cs_app_arena arena;
    consort_request req;
    consort_tx *outer;
} run;

static void run_begin(run *r, cs_kv_store *kv, cs_app_svcseal *svc, bool writable)
{
    memset(r, 0, sizeof *r);
    r->kv = kv;
    cst_ok(writable ? cs_kv_tx_begin(kv, &r->ktx) : cs_kv_tx_begin_committed(kv, &r->ktx));
    cs_app_tx_init(&r->tx, r->ktx, writable, &r->outcome);
    cs_app_arena_init(&r->arena, CONSORT_APP_READ_MAX);
    cs_app_request_init(&r->req, writable ? "POST" : "GET", "/app/x", "", NULL, 0, CS_SLICE_EMPTY,
                        NULL);
    r->req.sealing = CONSORT_SEALING_SERVICE;
    r->req.svcseal = svc;
    r->req.arena = &r->arena;
    r->outer = cs_app_enter(&r->tx);
}

/* Ends the run; commits its writes (as the leader would, then Raft) if `commit`. */
static void run_end(run *r, bool commit)
{
    (void)cs_app_enter(r->outer);
    if (commit && cs_kv_tx_has_writes(r->ktx)) {
        cs_buf p, q;
        cs_buf_init(&p, 0);
        cs_buf_init_secret(&q, 0);
        cst_ok(cs_kv_tx_commit(r->ktx, cs_kv_last_seqno(r->kv) + 1, &p, &q));
        cs_buf_cleanup(&p);
        cs_buf_cleanup(&q);
        cs_kv_set_committed(r->kv, cs_kv_last_seqno(r->kv));
    }
    cs_kv_tx_free(r->ktx);
    cs_app_tx_cleanup(&r->tx);
    cs_app_arena_cleanup(&r->arena);
}

typedef struct fixture {
    cs_kv_store *kv;
    cs_app_svcseal *svc; /* a node running code 1 */
    cs_buf blob;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    cst_ok(cs_kv_store_new(NULL, &f->kv));
    uint8_t id[32];
    id_of(1, id);
    cst_ok(cs_app_svcseal_new(id, &f->svc));
    cs_buf_init(&f->blob, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cs_buf_cleanup(&f->blob);
    cs_app_svcseal_free(f->svc);
    cs_kv_store_free(f->kv);
    free(f);
    return 0;
}

/* Seals `text` in a committed read-write run of `svc`; the blob into f->blob. */
static void seal_committed(fixture *f, cs_app_svcseal *svc, consort_seal_policy policy,
                           const char *counter, const char *text)
{
    run r;
    run_begin(&r, f->kv, svc, true);
    const uint8_t *b;
    size_t n;
    cst_ok(consort_seal(&r.req, policy, counter, text, strlen(text), &b, &n));
    f->blob.len = 0;
    cst_ok(cs_buf_append(&f->blob, b, n));
    run_end(&r, true);
}

/* consort_unseal of f->blob in a run of `svc`; the plaintext must be `want`
 * on success. Returns the error (the run commits if it succeeded). */
static consort_err unseal_in(fixture *f, cs_app_svcseal *svc, bool writable, const char *want,
                             bool *wrote)
{
    run r;
    run_begin(&r, f->kv, svc, writable);
    const uint8_t *p = NULL;
    size_t n = 0;
    consort_err rc = consort_unseal(&r.req, f->blob.ptr, f->blob.len, &p, &n);
    if (rc == CONSORT_OK) {
        assert_int_equal(n, strlen(want));
        assert_memory_equal(p, want, n);
    }
    if (wrote != NULL)
        *wrote = cs_kv_tx_has_writes(r.ktx);
    run_end(&r, rc == CONSORT_OK);
    return rc;
}

static uint64_t counter_now(fixture *f, const char *name)
{
    run r;
    run_begin(&r, f->kv, f->svc, false);
    uint64_t v = 99;
    cst_ok(consort_counter_read(&r.req, name, &v));
    run_end(&r, false);
    return v;
}

static void counters_are_writes_of_the_transaction(void **state)
{
    fixture *f = *state;
    assert_int_equal(counter_now(f, "visits"), 0);
    run r;
    run_begin(&r, f->kv, f->svc, false);
    uint64_t v;
    cst_fails(consort_counter_increment(&r.req, "visits", &v), CONSORT_E_STATE);
    run_end(&r, false);
    /* two increments in a run that commits */
    run_begin(&r, f->kv, f->svc, true);
    cst_ok(consort_counter_increment(&r.req, "visits", &v));
    assert_int_equal(v, 1);
    cst_ok(consort_counter_increment(&r.req, "visits", &v));
    assert_int_equal(v, 2);
    cst_ok(consort_counter_read(&r.req, "visits", &v));
    assert_int_equal(v, 2);
    run_end(&r, true);
    assert_int_equal(counter_now(f, "visits"), 2);
    /* a run that is discarded (a conflict, a refusal) never incremented */
    run_begin(&r, f->kv, f->svc, true);
    cst_ok(consort_counter_increment(&r.req, "visits", &v));
    assert_int_equal(v, 3);
    run_end(&r, false);
    assert_int_equal(counter_now(f, "visits"), 2);
    /* what the store holds is checked */
    run_begin(&r, f->kv, f->svc, true);
    cst_ok(cs_kv_put(r.ktx, S(APP_MAP_COUNTERS), S("bad"), S("123")));
    cst_fails(consort_counter_read(&r.req, "bad", &v), CONSORT_E_CORRUPT);
    cst_fails(consort_counter_increment(&r.req, "a b", &v), CONSORT_E_INVALID_ARGUMENT);
    run_end(&r, false);
}

static void the_application_cannot_touch_the_maps(void **state)
{
    (void)state;
    assert_true(cs_app_map_reserved(APP_MAP_COUNTERS, false));
    assert_true(cs_app_map_reserved(APP_MAP_SEALING, false));
}

static void one_root_per_service(void **state)
{
    fixture *f = *state;
    /* no root yet: a read-only run cannot make one, and nothing opens */
    run r;
    run_begin(&r, f->kv, f->svc, false);
    const uint8_t *b;
    size_t n;
    cst_fails(consort_seal(&r.req, CONSORT_SEAL_CODE, NULL, "x", 1, &b, &n), CONSORT_E_STATE);
    run_end(&r, false);
    seal_committed(f, f->svc, CONSORT_SEAL_CODE, NULL, "shared state");
    /* opens in a read-only run, and on another node of the service (its own
     * key schedule, same code) */
    cst_ok(unseal_in(f, f->svc, false, "shared state", NULL));
    uint8_t id[32];
    id_of(1, id);
    cs_app_svcseal *other_node;
    cst_ok(cs_app_svcseal_new(id, &other_node));
    cst_ok(unseal_in(f, other_node, false, "shared state", NULL));
    /* a second seal keeps the root: the first blob still opens */
    cs_buf first;
    cs_buf_init(&first, 0);
    cst_ok(cs_buf_append(&first, f->blob.ptr, f->blob.len));
    seal_committed(f, other_node, CONSORT_SEAL_CODE, NULL, "second");
    cs_buf_cleanup(&f->blob);
    f->blob = first;
    cst_ok(unseal_in(f, f->svc, false, "shared state", NULL));
    /* another service (its own root) opens nothing of this one */
    cs_kv_store *elsewhere = f->kv;
    cst_ok(cs_kv_store_new(NULL, &f->kv));
    cst_fails(unseal_in(f, other_node, true, "", NULL), CONSORT_E_BAD_TAG);
    seal_committed(f, other_node, CONSORT_SEAL_CODE, NULL, "theirs");
    cs_kv_store *theirs = f->kv;
    f->kv = elsewhere;
    cst_fails(unseal_in(f, f->svc, true, "", NULL), CONSORT_E_BAD_TAG);
    cs_kv_store_free(theirs);
    cs_app_svcseal_free(other_node);
}

static void a_counter_bound_blob(void **state)
{
    fixture *f = *state;
    seal_committed(f, f->svc, CONSORT_SEAL_LINEAGE, "notes", "v1");
    assert_int_equal(counter_now(f, "notes"), 1);
    /* the check must commit: refused in a read-only endpoint */
    cst_fails(unseal_in(f, f->svc, false, "", NULL), CONSORT_E_STATE);
    /* in a read-write one it opens, and the transaction writes what it checked */
    bool wrote = false;
    cst_ok(unseal_in(f, f->svc, true, "v1", &wrote));
    assert_true(wrote);
    assert_int_equal(counter_now(f, "notes"), 1);
    cs_buf old;
    cs_buf_init(&old, 0);
    cst_ok(cs_buf_append(&old, f->blob.ptr, f->blob.len));
    seal_committed(f, f->svc, CONSORT_SEAL_LINEAGE, "notes", "v2");
    cst_ok(unseal_in(f, f->svc, true, "v2", NULL));
    /* the older blob is refused once a newer one was sealed */
    cs_buf_cleanup(&f->blob);
    f->blob = old;
    cst_fails(unseal_in(f, f->svc, true, "", NULL), CONSORT_E_ROLLBACK);
    /* a seal whose run is discarded leaves the counter where it was: the blob
     * it made never opens, the committed one does */
    run r;
    run_begin(&r, f->kv, f->svc, true);
    const uint8_t *b;
    size_t n;
    cst_ok(consort_seal(&r.req, CONSORT_SEAL_CODE, "notes", "lost", 4, &b, &n));
    f->blob.len = 0;
    cst_ok(cs_buf_append(&f->blob, b, n));
    run_end(&r, false);
    assert_int_equal(counter_now(f, "notes"), 2);
    cst_fails(unseal_in(f, f->svc, true, "", NULL), CONSORT_E_ROLLBACK);
    /* seal with a counter in a read-only endpoint: refused */
    run_begin(&r, f->kv, f->svc, false);
    cst_fails(consort_seal(&r.req, CONSORT_SEAL_CODE, "notes", "x", 1, &b, &n), CONSORT_E_STATE);
    run_end(&r, false);
}

/* Governance trusts code `n` and records it as successor of `pred`. */
static void approve(fixture *f, int n, int pred)
{
    char hex[65], phex[65], policy[160];
    uint8_t id[32];
    id_of(n, id);
    cs_hex_encode(CS_SLICE(id, 32), hex);
    id_of(pred, id);
    cs_hex_encode(CS_SLICE(id, 32), phex);
    snprintf(policy, sizeof policy, "{\"cutover_quorum\":0,\"successor_of\":\"%s\"}", phex);
    run r;
    run_begin(&r, f->kv, f->svc, true);
    cst_ok(cs_kv_put(r.ktx, S(SVC_MAP_CODE_IDS), S(hex), S(SVC_CODE_ID_OK)));
    cst_ok(cs_kv_put(r.ktx, S(SVC_MAP_UPDATE), S(hex), S(policy)));
    run_end(&r, true);
}

static void policies_follow_the_approved_lineage(void **state)
{
    fixture *f = *state;
    uint8_t id[32];
    cs_app_svcseal *code2, *code3, *stranger;
    id_of(2, id);
    cst_ok(cs_app_svcseal_new(id, &code2));
    id_of(3, id);
    cst_ok(cs_app_svcseal_new(id, &code3));
    id_of(9, id);
    cst_ok(cs_app_svcseal_new(id, &stranger));
    /* sealed by code 1 before any successor was approved */
    seal_committed(f, f->svc, CONSORT_SEAL_LINEAGE, NULL, "before");
    cs_buf before;
    cs_buf_init(&before, 0);
    cst_ok(cs_buf_append(&before, f->blob.ptr, f->blob.len));
    seal_committed(f, f->svc, CONSORT_SEAL_CODE, NULL, "code only");
    cs_buf code_only;
    cs_buf_init(&code_only, 0);
    cst_ok(cs_buf_append(&code_only, f->blob.ptr, f->blob.len));
    approve(f, 2, 1);
    approve(f, 3, 2);
    /* sealed by code 1 after: lists 2 and 3 as successors */
    seal_committed(f, f->svc, CONSORT_SEAL_LINEAGE, NULL, "after");
    cst_ok(unseal_in(f, code2, false, "after", NULL));
    cst_ok(unseal_in(f, code3, false, "after", NULL));
    cst_fails(unseal_in(f, stranger, false, "", NULL), CONSORT_E_POLICY);
    /* sealed before: code 3 inherits from 1 through 2 */
    cs_buf_cleanup(&f->blob);
    f->blob = before;
    cst_ok(unseal_in(f, code3, false, "before", NULL));
    cst_fails(unseal_in(f, stranger, false, "", NULL), CONSORT_E_POLICY);
    /* policy code: the sealer's code only */
    cs_buf_cleanup(&f->blob);
    f->blob = code_only;
    cst_ok(unseal_in(f, f->svc, false, "code only", NULL));
    cst_fails(unseal_in(f, code2, false, "", NULL), CONSORT_E_POLICY);
    cs_app_svcseal_free(code2);
    cs_app_svcseal_free(code3);
    cs_app_svcseal_free(stranger);
}

static void the_scope_a_module_declares(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_new(&app));
    assert_int_equal(cs_app_sealing(app), CONSORT_SEALING_NODE);
    cst_fails(cs_app_set_sealing(app, 3), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_app_set_sealing(app, 0), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(cs_app_sealing(app), CONSORT_SEALING_NODE);
    cst_ok(cs_app_set_sealing(app, CONSORT_SEALING_SERVICE));
    assert_int_equal(cs_app_sealing(app), CONSORT_SEALING_SERVICE);
    assert_int_equal(cs_app_sealing(NULL), CONSORT_SEALING_NODE);
    cs_app_free(app);
}

static void outside_a_handler(void **state)
{
    fixture *f = *state;
    cs_app_arena arena;
    cs_app_arena_init(&arena, CONSORT_APP_READ_MAX);
    consort_request req;
    cs_app_request_init(&req, "POST", "/app/x", "", NULL, 0, CS_SLICE_EMPTY, NULL);
    req.sealing = CONSORT_SEALING_SERVICE;
    req.svcseal = f->svc;
    req.arena = &arena;
    uint64_t v;
    cst_fails(consort_counter_read(&req, "x", &v), CONSORT_E_STATE);
    req.svcseal = NULL;
    run r;
    run_begin(&r, f->kv, f->svc, true);
    cst_fails(consort_counter_increment(&req, "x", &v), CONSORT_E_STATE);
    run_end(&r, false);
    cs_app_arena_cleanup(&arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(counters_are_writes_of_the_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(the_application_cannot_touch_the_maps, setup, teardown),
        cmocka_unit_test_setup_teardown(one_root_per_service, setup, teardown),
        cmocka_unit_test_setup_teardown(a_counter_bound_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(policies_follow_the_approved_lineage, setup, teardown),
        cmocka_unit_test_setup_teardown(the_scope_a_module_declares, setup, teardown),
        cmocka_unit_test_setup_teardown(outside_a_handler, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
