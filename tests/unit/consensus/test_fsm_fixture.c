/*
 * The FSM adapter (fsm.h) on libraft's deterministic in-memory fixture
 * (raft/fixture.h): raft index and term handed to apply, snapshots taken and
 * installed through the adapter, failures of apply / snapshot / restore.
 */
#include "raft_cluster.h"

#include "consensus/entry.h"

#include <raft/fixture.h>

#define N 3

typedef struct fx {
    struct raft_fixture f;
    cl_fsm fsm[N];
    cs_fsm_adapter ad[N];
} fx;

static fx *fx_new(void)
{
    fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    assert_int_equal(raft_fixture_initialize(&x->f), 0);
    for (unsigned i = 0; i < N; i++) {
        cs_fsm iface = cl_fsm_iface(&x->fsm[i], false);
        cst_ok(cs_fsm_adapter_init(&x->ad[i], &iface, NULL));
        assert_int_equal(raft_fixture_grow(&x->f, &x->ad[i].raft_fsm), 0);
        cs_fsm_adapter_bind(&x->ad[i], raft_fixture_get(&x->f, i));
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(&x->f, N, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&x->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&x->f), 0);
    return x;
}

static void fx_free(fx *x)
{
    raft_fixture_close(&x->f);
    free(x);
}

/* Proposes value v on server i; returns the raft index it got. */
static uint64_t propose(fx *x, unsigned i, uint64_t v, struct raft_apply *req)
{
    uint8_t p[8];
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(v >> (56 - 8 * k));
    struct raft_buffer buf;
    cst_ok(cs_raft_entry_encode(CS_SLICE(p, sizeof p), &buf));
    assert_int_equal(raft_apply(raft_fixture_get(&x->f, i), req, &buf, 1, NULL), 0);
    return req->index;
}

static void apply_gets_raft_index_and_term(void **state)
{
    (void)state;
    fx *x = fx_new();
    raft_fixture_elect(&x->f, 0);
    uint64_t term1 = raft_fixture_get(&x->f, 0)->current_term;
    struct raft_apply reqs[8];
    uint64_t idx[8];
    for (unsigned k = 0; k < 5; k++)
        idx[k] = propose(x, 0, k + 1, &reqs[k]);
    assert_true(raft_fixture_step_until_applied(&x->f, N, idx[4], 5000));

    raft_fixture_depose(&x->f);
    raft_fixture_elect(&x->f, 1);
    uint64_t term2 = raft_fixture_get(&x->f, 1)->current_term;
    assert_true(term2 > term1);
    for (unsigned k = 5; k < 8; k++)
        idx[k] = propose(x, 1, k + 1, &reqs[k]);
    assert_true(raft_fixture_step_until_applied(&x->f, N, idx[7], 5000));

    for (unsigned i = 0; i < N; i++) {
        cl_fsm *f = &x->fsm[i];
        assert_int_equal(f->n, 8);
        for (unsigned k = 0; k < 8; k++) {
            assert_int_equal(f->value[k], k + 1);
            assert_int_equal(f->index[k], idx[k]);
            assert_int_equal(f->term[k], k < 5 ? term1 : term2);
        }
        assert_int_equal(x->ad[i].applied, 8);
        assert_int_equal(x->ad[i].failed, CONSORT_OK);
    }
    fx_free(x);
}

static void lagging_server_installs_snapshot(void **state)
{
    (void)state;
    fx *x = fx_new();
    for (unsigned i = 0; i < N; i++) {
        raft_set_snapshot_threshold(raft_fixture_get(&x->f, i), 4);
        raft_set_snapshot_trailing(raft_fixture_get(&x->f, i), 1);
    }
    raft_fixture_elect(&x->f, 0);
    raft_fixture_kill(&x->f, 2);
    struct raft_apply reqs[20];
    uint64_t last = 0;
    for (unsigned k = 0; k < 20; k++) {
        last = propose(x, 0, k + 1, &reqs[k]);
        assert_true(raft_fixture_step_until_applied(&x->f, 0, last, 5000));
    }
    assert_true(raft_fixture_step_until_applied(&x->f, 1, last, 5000));
    assert_true(x->fsm[0].snapshots_taken >= 1);
    assert_int_equal(x->fsm[2].n, 0);

    raft_fixture_revive(&x->f, 2);
    assert_true(raft_fixture_step_until_applied(&x->f, 2, last, 10000));
    assert_true(x->fsm[2].restores >= 1);
    assert_true(x->ad[2].restored >= 1);
    cl_assert_same_history(&x->fsm[2], &x->fsm[0]);
    fx_free(x);
}

/* ---- failures ---- */

static uint64_t g_fail_value;

/* A payload that is not a valid envelope (as a corrupted log would hold)
 * stops the replica like a failing apply. */
static void bad_envelope_stops_that_replica(void **state)
{
    (void)state;
    fx *x = fx_new();
    raft_fixture_elect(&x->f, 0);
    struct raft_apply reqs[2];
    uint64_t first = propose(x, 0, 1, &reqs[0]);
    uint8_t *raw = raft_malloc(16);
    memset(raw, 0, 16);
    raw[0] = 2; /* version 2 */
    struct raft_buffer buf = {raw, 16};
    assert_int_equal(raft_apply(raft_fixture_get(&x->f, 0), &reqs[1], &buf, 1, NULL), 0);
    assert_true(raft_fixture_step_until_applied(&x->f, N, first, 5000));
    cst_log_capture_start();
    raft_fixture_step_until_elapsed(&x->f, 500);
    cst_log_capture_stop();
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(x->fsm[i].n, 1);
        assert_int_equal(x->ad[i].failed, CONSORT_E_CORRUPT);
    }
    fx_free(x);
}

static consort_err failing_apply(void *ctx, const cs_fsm_entry *e, void **result)
{
    if (e->data.len >= 8 && e->data.ptr[7] == g_fail_value)
        return cs_fail(CONSORT_E_CORRUPT, "test: ledger damaged at value %llu",
                       (unsigned long long)g_fail_value);
    return cl_fsm_apply(ctx, e, result);
}

static void failed_apply_stops_that_replica(void **state)
{
    (void)state;
    fx *x = fx_new();
    x->ad[2].fsm.apply = failing_apply;
    g_fail_value = 3;
    raft_fixture_elect(&x->f, 0);
    struct raft_apply reqs[5];
    uint64_t last = 0;
    for (unsigned k = 0; k < 5; k++)
        last = propose(x, 0, k + 1, &reqs[k]);
    assert_true(raft_fixture_step_until_applied(&x->f, 1, last, 5000));
    raft_fixture_step_until_elapsed(&x->f, 500);
    assert_int_equal(x->fsm[0].n, 5);
    assert_int_equal(x->fsm[2].n, 2); /* values 1 and 2; stuck at 3 */
    assert_int_equal(x->ad[2].failed, CONSORT_E_CORRUPT);
    assert_true(raft_fixture_get(&x->f, 2)->last_applied < last);
    fx_free(x);
}

static consort_err busy_snapshot(void *ctx, cs_buf *out)
{
    (void)ctx;
    (void)out;
    return cs_fail(CONSORT_E_BUSY, "test: try later");
}

static consort_err empty_snapshot(void *ctx, cs_buf *out)
{
    (void)ctx;
    (void)out;
    return CONSORT_OK;
}

static void snapshot_and_restore_hooks_directly(void **state)
{
    (void)state;
    cl_fsm *f = calloc(1, sizeof *f);
    assert_non_null(f);
    cs_fsm iface = cl_fsm_iface(f, false);
    cs_fsm_adapter a;
    cs_fsm bad = iface;
    bad.apply = NULL;
    cst_fails(cs_fsm_adapter_init(&a, &bad, NULL), CONSORT_E_INVALID_ARGUMENT);
    cst_ok(cs_fsm_adapter_init(&a, &iface, NULL));
    struct raft_fsm *rf = &a.raft_fsm;
    assert_int_equal(rf->version, 2);
    assert_null(rf->snapshot_async);

    f->n = 2;
    f->value[0] = 10, f->index[0] = 3, f->term[0] = 1;
    f->value[1] = 11, f->index[1] = 5, f->term[1] = 2;
    struct raft_buffer *bufs = NULL;
    unsigned n = 0;
    assert_int_equal(rf->snapshot(rf, &bufs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(bufs[0].len, 8 + 2 * 32);

    /* Restore a copy (raft hands a raft_malloc'd buffer and, on success,
     * ownership of it). */
    struct raft_buffer copy = {raft_malloc(bufs[0].len), bufs[0].len};
    memcpy(copy.base, bufs[0].base, copy.len);
    assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n), 0);
    assert_null(bufs);
    assert_int_equal(n, 0);
    memset(f, 0, sizeof *f);
    assert_int_equal(rf->restore(rf, &copy), 0);
    assert_null(copy.base);
    assert_int_equal(f->n, 2);
    assert_int_equal(f->value[1], 11);
    assert_int_equal(a.restored, 1);

    /* Truncated, trailing and bit-flipped snapshots are refused, and the
     * buffer stays the caller's. */
    uint8_t good[8 + 32] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42};
    const size_t lens[] = {0, 7, 8 + 31, 8 + 33};
    for (size_t i = 0; i < CS_ARRAY_LEN(lens); i++) {
        struct raft_buffer b = {raft_malloc(lens[i] + 1), lens[i]};
        memset(b.base, 0, lens[i] + 1);
        memcpy(b.base, good, lens[i] < sizeof good ? lens[i] : sizeof good);
        assert_int_not_equal(rf->restore(rf, &b), 0);
        assert_non_null(b.base);
        raft_free(b.base);
    }
    struct raft_buffer flipped = {raft_malloc(sizeof good), sizeof good};
    memcpy(flipped.base, good, sizeof good);
    ((uint8_t *)flipped.base)[0] ^= 0x80; /* absurd count */
    assert_int_equal(rf->restore(rf, &flipped), RAFT_MALFORMED);
    raft_free(flipped.base);
    assert_int_equal(f->n, 2);
    assert_int_equal(a.restored, 1);

    /* BUSY postpones a snapshot; an empty one is an error. */
    a.fsm.snapshot = busy_snapshot;
    assert_int_equal(rf->snapshot(rf, &bufs, &n), RAFT_BUSY);
    a.fsm.snapshot = empty_snapshot;
    cst_log_capture_start();
    assert_int_not_equal(rf->snapshot(rf, &bufs, &n), 0);
    assert_non_null(strstr(cst_log_captured(), "empty snapshot"));
    cst_log_capture_stop();
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(apply_gets_raft_index_and_term),
        cmocka_unit_test(lagging_server_installs_snapshot),
        cmocka_unit_test(failed_apply_stops_that_replica),
        cmocka_unit_test(bad_envelope_stops_that_replica),
        cmocka_unit_test(snapshot_and_restore_hooks_directly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
