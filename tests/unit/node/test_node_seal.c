/*
 * The node's sealed store (src/node/node_seal.h): created on a first open,
 * the vault's payload kept across reopens, the successor list committed only
 * when it changes, and, after a change that failed (a full disk: here an
 * injected failure before a durable write), the store reopened so that the
 * next change succeeds instead of every later one being refused until the
 * node restarts. A payload written later (node_seal_set_payload_later: on a
 * worker thread, so that a node's loop never waits for the sealed store's
 * fsync and anchor) lands unless a payload given after it already did, and
 * keeps the store alive past node_seal_free until it is written.
 */
#include "seal_fixture.h"

#include <uv.h>

typedef seal_fixture fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || sf_init(f, "node-seal") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cs_sealstore_test_crash_at(-1);
    int rc = sf_cleanup(f);
    free(f);
    return rc;
}

static node_seal *open_seal(fixture *f, bool *created)
{
    return sf_open(f, created);
}

static void payload_kept(void **state)
{
    fixture *f = *state;
    bool created;
    node_seal *ns = open_seal(f, &created);
    assert_true(created);
    cs_buf p;
    cs_buf_init(&p, 0);
    cst_fails(node_seal_payload(ns, &p), CONSORT_E_NOT_FOUND);
    cst_ok(node_seal_set_payload(ns, CS_SLICE_LIT("the vault")));
    node_seal_free(ns);
    ns = open_seal(f, &created);
    assert_false(created);
    cst_ok(node_seal_payload(ns, &p));
    assert_true(cs_slice_eq(cs_buf_slice(&p), CS_SLICE_LIT("the vault")));
    cs_buf_cleanup(&p);
    node_seal_free(ns);
}

static void reopened_after_a_failed_change(void **state)
{
    fixture *f = *state;
    bool created;
    node_seal *ns = open_seal(f, &created);
    cst_ok(node_seal_set_payload(ns, CS_SLICE_LIT("one")));
    cs_sealstore_test_crash_at(0); /* the next durable write fails */
    cst_fails(node_seal_set_payload(ns, CS_SLICE_LIT("two")), CONSORT_E_IO);
    cs_sealstore_test_crash_at(-1);
    /* the handle was replaced: the next change goes through */
    cst_ok(node_seal_set_payload(ns, CS_SLICE_LIT("three")));
    const cs_app_sealer *s = node_seal_app_sealer(ns);
    uint64_t v;
    cst_ok(s->counter_increment(s->ctx, "c", &v));
    assert_int_equal(v, 1);
    node_seal_free(ns);
    ns = open_seal(f, &created);
    cs_buf p;
    cs_buf_init(&p, 0);
    cst_ok(node_seal_payload(ns, &p));
    assert_true(cs_slice_eq(cs_buf_slice(&p), CS_SLICE_LIT("three")));
    cs_buf_cleanup(&p);
    node_seal_free(ns);
}

static void successors_committed_when_changed(void **state)
{
    fixture *f = *state;
    bool created;
    node_seal *ns = open_seal(f, &created);
    cs_anchor *a;
    cst_ok(cs_anchor_file_open(f->anchor, &a));
    uint64_t before, after;
    uint8_t ids[2][32];
    memset(ids[0], 1, 32);
    memset(ids[1], 2, 32);
    cst_ok(node_seal_set_successors(ns, (const uint8_t(*)[32])ids, 2));
    cst_ok(cs_anchor_read(a, &before));
    cst_ok(node_seal_set_successors(ns, (const uint8_t(*)[32])ids, 2)); /* the same: no commit */
    cst_ok(cs_anchor_read(a, &after));
    assert_int_equal(before, after);
    cst_ok(node_seal_set_successors(ns, (const uint8_t(*)[32])ids, 1));
    cst_ok(cs_anchor_read(a, &after));
    assert_int_equal(after, before + 1);
    cs_anchor_free(a);
    node_seal_free(ns);
}

static void payload_is(fixture *f, const char *want)
{
    bool created;
    node_seal *ns = open_seal(f, &created);
    assert_false(created);
    cs_buf p;
    cs_buf_init(&p, 0);
    cst_ok(node_seal_payload(ns, &p));
    assert_true(cs_slice_eq(cs_buf_slice(&p), cs_slice_str(want)));
    cs_buf_cleanup(&p);
    node_seal_free(ns);
}

/* Written by a worker; the handle may be freed before it is written. */
static void a_later_payload_is_written(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    bool created;
    node_seal *ns = open_seal(f, &created);
    cst_ok(node_seal_set_payload(ns, CS_SLICE_LIT("one")));
    cst_ok(node_seal_set_payload_later(ns, &loop, CS_SLICE_LIT("two"), NULL, NULL));
    node_seal_free(ns); /* the write still to come holds the store */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    payload_is(f, "two");
}

/* A payload given later in program order wins, whichever write runs first:
 * the worker's older payload never replaces a newer one written meanwhile
 * on the loop's thread. */
static void the_newest_payload_wins(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    bool created;
    node_seal *ns = open_seal(f, &created);
    for (int i = 0; i < 20; i++) {
        char older[32], newer[32];
        snprintf(older, sizeof older, "older %d", i);
        snprintf(newer, sizeof newer, "newer %d", i);
        cst_ok(node_seal_set_payload_later(ns, &loop, cs_slice_str(older), NULL, NULL));
        cst_ok(node_seal_set_payload(ns, cs_slice_str(newer)));
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        cs_buf p;
        cs_buf_init(&p, 0);
        cst_ok(node_seal_payload(ns, &p));
        assert_true(cs_slice_eq(cs_buf_slice(&p), cs_slice_str(newer)));
        cs_buf_cleanup(&p);
    }
    /* and two later ones land in order */
    cst_ok(node_seal_set_payload_later(ns, &loop, CS_SLICE_LIT("first"), NULL, NULL));
    cst_ok(node_seal_set_payload_later(ns, &loop, CS_SLICE_LIT("second"), NULL, NULL));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    node_seal_free(ns);
    assert_int_equal(uv_loop_close(&loop), 0);
    payload_is(f, "second");
}

/* A later write that fails is logged and leaves the store usable. */
static void a_failed_later_payload_leaves_the_store_usable(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    bool created;
    node_seal *ns = open_seal(f, &created);
    cst_ok(node_seal_set_payload(ns, CS_SLICE_LIT("one")));
    cs_sealstore_test_crash_at(0); /* the next durable write fails */
    cst_ok(node_seal_set_payload_later(ns, &loop, CS_SLICE_LIT("lost"), NULL, NULL));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cs_sealstore_test_crash_at(-1);
    cst_ok(node_seal_set_payload(ns, CS_SLICE_LIT("three")));
    node_seal_free(ns);
    assert_int_equal(uv_loop_close(&loop), 0);
    payload_is(f, "three");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(payload_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(reopened_after_a_failed_change, setup, teardown),
        cmocka_unit_test_setup_teardown(successors_committed_when_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(a_later_payload_is_written, setup, teardown),
        cmocka_unit_test_setup_teardown(the_newest_payload_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_later_payload_leaves_the_store_usable, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
