/*
 * The sealed store (sealing/store.h): create and reopen, counters, payload
 * and successors, application blobs, rollback refused, the anchor behind
 * the store refused, and a crash injected before every durable step of
 * every kind of commit: the reopened store is the old or the new state,
 * never refused.
 */
#include "sealing_test.h"

#include "base/file.h"
#include "sealing/store.h"

typedef struct fx {
    char dir[64];
    char store_dir[96];
    char anchor_path[96];
    cs_anchor *anchor;
    cs_sealstore_keys keys;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    st_tmpdir(f->dir);
    snprintf(f->store_dir, sizeof f->store_dir, "%s/store", f->dir);
    snprintf(f->anchor_path, sizeof f->anchor_path, "%s/anchor", f->dir);
    if (cs_anchor_file_open(f->anchor_path, &f->anchor) != CONSORT_OK)
        return -1;
    memset(f->keys.code_id, 0xaa, 32);
    memset(f->keys.lineage_root, 0x11, 32);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    cs_sealstore_test_crash_at(-1);
    cs_anchor_free(f->anchor);
    st_rmdir(f->dir);
    free(f);
    return 0;
}

static cs_sealstore *reopen(fx *f, cs_sealstore *s)
{
    cs_sealstore_free(s);
    cs_sealstore *n;
    cst_ok(cs_sealstore_open(f->store_dir, &f->keys, f->anchor, &n));
    return n;
}

static uint64_t counter(cs_sealstore *s, const char *name)
{
    uint64_t v;
    cst_ok(cs_sealstore_counter_read(s, name, &v));
    return v;
}

static void test_create_open(void **state)
{
    fx *f = *state;
    cs_sealstore *s;
    cst_ok(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s));
    assert_int_equal(cs_sealstore_state_of(s), CS_SEALSTORE_LIVE);
    uint8_t id[16];
    memcpy(id, cs_sealstore_instance_id(s), 16);
    uint64_t v;
    cst_ok(cs_sealstore_counter_increment(s, "a", &v));
    assert_int_equal(v, 1);
    const char *names[] = {"b", "a", "b"};
    uint64_t vals[3];
    uint64_t before = cs_sealstore_bound(s);
    cst_ok(cs_sealstore_counter_increment_many(s, names, 3, vals));
    assert_int_equal(cs_sealstore_bound(s), before + 1); /* one anchor increment */
    assert_int_equal(vals[0], 1);
    assert_int_equal(vals[1], 2);
    assert_int_equal(vals[2], 2);
    cst_ok(cs_sealstore_set_payload(s, CS_SLICE_LIT("vault")));
    cs_sealstore *again;
    cst_fails(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &again), CONSORT_E_STATE);
    s = reopen(f, s);
    assert_memory_equal(cs_sealstore_instance_id(s), id, 16);
    assert_int_equal(counter(s, "a"), 2);
    assert_int_equal(counter(s, "b"), 2);
    assert_int_equal(counter(s, "never"), 0);
    assert_true(cs_slice_eq(cs_sealstore_payload(s), CS_SLICE_LIT("vault")));
    /* bad names change nothing */
    cst_fails(cs_sealstore_counter_increment(s, "", &v), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_sealstore_counter_increment(s, CS_SEALSTORE_ANCHOR_COUNTER, &v),
              CONSORT_E_INVALID_ARGUMENT);
    const char *mixed[] = {"a", "bad\x01"};
    cst_fails(cs_sealstore_counter_increment_many(s, mixed, 2, vals), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(counter(s, "a"), 2);
    cs_sealstore_free(s);
    cs_sealstore_free(NULL);
}

static void test_wrong_keys(void **state)
{
    fx *f = *state;
    cs_sealstore *s;
    cst_ok(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s));
    cs_sealstore_free(s);
    cs_sealstore_keys other = f->keys;
    other.code_id[0] ^= 1; /* another code, not an approved successor */
    cst_fails(cs_sealstore_open(f->store_dir, &other, f->anchor, &s), CONSORT_E_POLICY);
    other = f->keys;
    other.lineage_root[0] ^= 1; /* another platform */
    cst_fails(cs_sealstore_open(f->store_dir, &other, f->anchor, &s), CONSORT_E_BAD_TAG);
    char empty[128];
    snprintf(empty, sizeof empty, "%s/none", f->dir);
    cst_fails(cs_sealstore_open(empty, &f->keys, f->anchor, &s), CONSORT_E_NOT_FOUND);
}

static void test_successor_inherits(void **state)
{
    fx *f = *state;
    cs_sealstore *s;
    cst_ok(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s));
    cs_buf code_blob, lin_blob, out;
    cs_buf_init(&code_blob, 0);
    cs_buf_init(&lin_blob, 0);
    cs_buf_init(&out, 0);
    cst_ok(cs_sealstore_seal(s, CS_SEAL_POLICY_CODE, NULL, CS_SLICE_LIT("c"), &code_blob));
    cst_ok(cs_sealstore_seal(s, CS_SEAL_POLICY_LINEAGE, NULL, CS_SLICE_LIT("l"), &lin_blob));
    cs_code_id next = st_code(0xbb);
    cst_ok(cs_sealstore_set_successors(s, &next, 1));
    cs_sealstore_free(s);
    /* the approved successor opens it and records the old code id */
    cs_sealstore_keys nk = f->keys;
    memcpy(nk.code_id, next.b, 32);
    cst_ok(cs_sealstore_open(f->store_dir, &nk, f->anchor, &s));
    const cs_code_id *anc;
    assert_int_equal(cs_sealstore_ancestors(s, &anc), 1);
    assert_memory_equal(anc[0].b, f->keys.code_id, 32);
    const cs_code_id *succ;
    assert_int_equal(cs_sealstore_successors(s, &succ), 0);
    /* the heir opens the lineage blob, not the code blob */
    cst_ok(cs_sealstore_unseal(s, cs_buf_slice(&lin_blob), NULL, &out));
    cst_fails(cs_sealstore_unseal(s, cs_buf_slice(&code_blob), NULL, &out), CONSORT_E_POLICY);
    cs_sealstore_free(s);
    /* the old code can no longer open the store (sealed by its heir) */
    cst_fails(cs_sealstore_open(f->store_dir, &f->keys, f->anchor, &s), CONSORT_E_POLICY);
    cs_buf_cleanup(&code_blob);
    cs_buf_cleanup(&lin_blob);
    cs_buf_cleanup(&out);
}

static void test_blob_counter_rollback(void **state)
{
    fx *f = *state;
    cs_sealstore *s;
    cst_ok(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s));
    cs_buf b1, b2, out;
    cs_buf_init(&b1, 0);
    cs_buf_init(&b2, 0);
    cs_buf_init(&out, 0);
    cst_ok(cs_sealstore_seal(s, CS_SEAL_POLICY_CODE, "db", CS_SLICE_LIT("v1"), &b1));
    cst_ok(cs_sealstore_unseal(s, cs_buf_slice(&b1), NULL, &out));
    cst_ok(cs_sealstore_seal(s, CS_SEAL_POLICY_CODE, "db", CS_SLICE_LIT("v2"), &b2));
    cs_buf_reset(&out);
    cst_fails(cs_sealstore_unseal(s, cs_buf_slice(&b1), NULL, &out), CONSORT_E_ROLLBACK);
    assert_non_null(strstr(consort_errmsg(), "sealed at counter \"db\" = 1, counter is 2"));
    assert_int_equal(out.len, 0);
    cs_seal_header h;
    cst_ok(cs_sealstore_unseal(s, cs_buf_slice(&b2), &h, &out));
    assert_int_equal(h.counter_value, 2);
    cs_sealstore_free(s);
    cs_buf_cleanup(&b1);
    cs_buf_cleanup(&b2);
    cs_buf_cleanup(&out);
}

static void test_store_rollback(void **state)
{
    fx *f = *state;
    cs_sealstore *s;
    cst_ok(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s));
    uint64_t v;
    cst_ok(cs_sealstore_counter_increment(s, "a", &v));
    char bin[160], aside[160];
    snprintf(bin, sizeof bin, "%s/store.bin", f->store_dir);
    snprintf(aside, sizeof aside, "%s/aside", f->dir);
    st_copy_file(bin, aside);
    cst_ok(cs_sealstore_counter_increment(s, "a", &v));
    cs_sealstore_free(s);
    st_copy_file(aside, bin);
    cst_fails(cs_sealstore_open(f->store_dir, &f->keys, f->anchor, &s), CONSORT_E_ROLLBACK);
    assert_non_null(strstr(consort_errmsg(), "rolled back"));
    /* the anchor file replaced by a fresh one: the anchor is behind */
    unlink(f->anchor_path);
    cs_anchor_free(f->anchor);
    cst_ok(cs_anchor_file_open(f->anchor_path, &f->anchor));
    cst_fails(cs_sealstore_open(f->store_dir, &f->keys, f->anchor, &s), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "anchor is behind the store"));
}

/* The state a reopen finds: counter "a" (the old value or one more). */
static void crash_sweep(fx *f, int kind)
{
    for (long step = 0;; step++) {
        st_rmdir(f->store_dir);
        cs_sealstore *s;
        cst_ok(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s));
        uint64_t v;
        cst_ok(cs_sealstore_counter_increment(s, "a", &v));
        if (kind == 2) { /* a crash inside open's own commit */
            cs_sealstore_free(s);
            s = NULL;
        }
        cs_sealstore_test_crash_at(step);
        consort_err rc;
        if (kind == 0)
            rc = cs_sealstore_counter_increment(s, "a", &v);
        else if (kind == 1)
            rc = cs_sealstore_set_payload(s, CS_SLICE_LIT("new"));
        else
            rc = cs_sealstore_open(f->store_dir, &f->keys, f->anchor, &s);
        cs_sealstore_test_crash_at(-1);
        /* the process "died" (or finished): reopen from disk */
        s = reopen(f, s);
        uint64_t a = counter(s, "a");
        bool is_new = kind == 0   ? a == 2
                      : kind == 1 ? cs_slice_eq(cs_sealstore_payload(s), CS_SLICE_LIT("new"))
                                  : true;
        assert_int_equal(a, kind == 0 ? a : 1);
        assert_true(a == 1 || a == 2);
        if (rc == CONSORT_OK) {
            assert_true(is_new); /* acknowledged: never lost */
            cs_sealstore_free(s);
            break;
        }
        /* and it keeps working */
        cst_ok(cs_sealstore_counter_increment(s, "a", &v));
        s = reopen(f, s);
        assert_int_equal(counter(s, "a"), a + 1);
        cs_sealstore_free(s);
    }
}

static void test_crash_every_step(void **state)
{
    fx *f = *state;
    for (int kind = 0; kind < 3; kind++)
        crash_sweep(f, kind);
    /* a crash inside create: nothing, or a store that opens */
    for (long step = 0; step < 4; step++) {
        st_rmdir(f->store_dir);
        cs_sealstore *s = NULL;
        cs_sealstore_test_crash_at(step);
        consort_err rc = cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s);
        cs_sealstore_test_crash_at(-1);
        cs_sealstore_free(s);
        rc = cs_sealstore_open(f->store_dir, &f->keys, f->anchor, &s);
        assert_true(rc == CONSORT_OK || rc == CONSORT_E_NOT_FOUND);
        if (rc == CONSORT_E_NOT_FOUND)
            cst_ok(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s));
        cs_sealstore_free(s);
    }
}

/* A failed commit: the handle refuses everything until reopened. */
static void test_broken_handle(void **state)
{
    fx *f = *state;
    cs_sealstore *s;
    cst_ok(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s));
    uint64_t v;
    cs_sealstore_test_crash_at(1);
    cst_fails(cs_sealstore_counter_increment(s, "a", &v), CONSORT_E_IO);
    cs_sealstore_test_crash_at(-1);
    cst_fails(cs_sealstore_counter_increment(s, "a", &v), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "reopen"));
    s = reopen(f, s);
    cst_ok(cs_sealstore_counter_increment(s, "a", &v));
    cs_sealstore_free(s);
}

/*
 * docs/migration.md §3 "Crash between the two writes", the fork the model
 * found (docs/migration-model.md, NAIVE_RESTART): a commit cut after its
 * store.next was written (the host keeps a copy X, bound to a + 1), the
 * store reopened from store.bin (bound to a). Had the open committed only
 * once, the state it opened would be bound to a + 1 as well, and the host
 * could make the instance act on both it and X. The reopened state must be
 * the only one the anchor vouches for: X is refused from then on.
 */
static void test_stale_next_never_opens_after_reopen(void **state)
{
    fx *f = *state;
    cs_sealstore *s;
    cst_ok(cs_sealstore_create(f->store_dir, &f->keys, f->anchor, &s));
    cst_ok(cs_sealstore_set_payload(s, CS_SLICE_LIT("acknowledged")));
    cs_sealstore_test_crash_at(1); /* store.next written, the anchor not moved */
    cst_fails(cs_sealstore_set_payload(s, CS_SLICE_LIT("never acknowledged")), CONSORT_E_IO);
    cs_sealstore_test_crash_at(-1);
    cs_sealstore_free(s);
    char next[160], bin[160], stale[160];
    snprintf(next, sizeof next, "%s/store.next", f->store_dir);
    snprintf(bin, sizeof bin, "%s/store.bin", f->store_dir);
    snprintf(stale, sizeof stale, "%s/stale", f->dir);
    st_copy_file(next, stale); /* the host's copy X */
    cst_ok(cs_sealstore_open(f->store_dir, &f->keys, f->anchor, &s));
    assert_true(cs_slice_eq(cs_sealstore_payload(s), CS_SLICE_LIT("acknowledged")));
    cs_sealstore_free(s);
    /* the host shows X alone, as store.bin or as store.next */
    for (int as_next = 0; as_next < 2; as_next++) {
        unlink(bin);
        unlink(next);
        st_copy_file(stale, as_next ? next : bin);
        cst_fails(cs_sealstore_open(f->store_dir, &f->keys, f->anchor, &s), CONSORT_E_ROLLBACK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_successor_inherits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_counter_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_every_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_next_never_opens_after_reopen, setup, teardown),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
