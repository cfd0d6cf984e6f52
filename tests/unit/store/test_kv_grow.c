/*
 * Bounded work on the store's thread as a store grows. Incremental table
 * growth (kv_priv.h "A table grows incrementally"): when a map's table
 * doubles, the records stay where they are and each later change moves at
 * most KV_GROW_STEP slots of them, so no write rehashes a whole map;
 * meanwhile every key reads, overwrites, removes, rolls back, snapshots and
 * pins as before. And compaction frees at most KV_COMPACT_STEP undo items a
 * call (whole seqnos).
 */
#include "kv_testutil.h"
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <unistd.h>

static const kv_table *table_of(const cs_kv_store *s, const char *map)
{
    const kv_map *m = cs_kv_map_find(s, S(map), NULL);
    assert_non_null(m);
    return &m->table;
}

/* Records still in the previous array. */
static size_t in_old(const kv_table *t)
{
    size_t n = 0;
    for (size_t i = 0; i < kv_slots_cap(&t->old); i++)
        n += kv_slot_at(&t->old, sizeof(kv_slot), i)->rec != NULL ? 1 : 0;
    return n;
}

static void put(cs_kv_store *s, unsigned i, unsigned tag)
{
    char key[24], value[24];
    snprintf(key, sizeof key, "key-%06u", i);
    snprintf(value, sizeof value, "v%u-%u", tag, i);
    kvt_write(s, "m", key, value);
}

static void assert_value(cs_kv_store *s, unsigned i, unsigned tag)
{
    char key[24], want[24], buf[64];
    snprintf(key, sizeof key, "key-%06u", i);
    snprintf(want, sizeof want, "v%u-%u", tag, i);
    const char *got = kvt_read(s, "m", key, buf, sizeof buf);
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("key %s reads %s, expected %s", key, got ? got : "(absent)", want);
}

/* Writes keys 0, 1, ... until the table is growing with at least 1,000
 * records still to move; returns how many keys. */
static unsigned fill_until_growing(cs_kv_store *s, unsigned tag)
{
    for (unsigned n = 1; n <= 100000; n++) {
        put(s, n - 1, tag);
        const kv_table *t = table_of(s, "m");
        if (t->old.chunks != NULL && in_old(t) >= 1000)
            return n;
    }
    fail_msg("100,000 keys and the table never held 1,000 records back while growing");
    return 0;
}

static void growth_moves_a_few_slots_per_change(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    unsigned n = fill_until_growing(s, 1);
    const kv_table *t = table_of(s, "m");
    /* the growing write moved at most a step: the rest waits in the old array */
    size_t left = in_old(t);
    assert_true(left + KV_GROW_STEP + 1 >= n - 1);
    for (unsigned i = 0; i < n; i++)
        assert_value(s, i, 1);
    /* each change moves at most KV_GROW_STEP of them (plus the key it
     * overwrites, taken out of the old array) */
    unsigned w = 0;
    while (t->old.chunks != NULL) {
        put(s, w % n, 2);
        size_t now = t->old.chunks != NULL ? in_old(t) : 0;
        assert_true(now + KV_GROW_STEP + 1 >= left);
        left = now;
        w++;
    }
    assert_true(w > 1000 / (KV_GROW_STEP + 1));
    for (unsigned i = 0; i < n; i++)
        assert_value(s, i, i < w ? 2 : 1);
    assert_int_equal(t->count, n);
    kvt_assert_digest_scan(s, NULL);
    cs_kv_store_free(s);
}

static void put_range(cs_kv_store *s, unsigned from, unsigned n)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    for (unsigned i = from; i < from + n; i++) {
        char key[24];
        snprintf(key, sizeof key, "key-%06u", i);
        cst_ok(cs_kv_put(tx, S("m"), S(key), S("v")));
    }
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    cs_kv_compact(s, cs_kv_last_seqno(s));
}

/* A large table close to doubling announces the doubled array, and the
 * doubling takes it resident (cs_alloc_zeroed_pages_soon): a fresh 512 MiB
 * array faulted in by the growth held a node's loop 700 ms. */
static void a_large_table_has_its_doubled_array_faulted_in_ahead(void **state)
{
    (void)state;
    const size_t cap = (size_t)1 << 17; /* the first whose doubled array is >= 4 MiB */
    cs_kv_store *s = kvt_store();
    cs_alloc_soon_stats before = cs_alloc_soon_stats_get();
    unsigned n = 0;
    const size_t announce_at = cap / 4 * 3 - cap / 16;
    while (n + 500 <= announce_at) {
        put_range(s, n, 500);
        n += 500;
    }
    const kv_table *t = table_of(s, "m");
    assert_int_equal(kv_slots_cap(&t->slots), cap);
    assert_int_equal(cs_alloc_soon_stats_get().announced, before.announced);
    put_range(s, n, 500); /* passes the announce point */
    n += 500;
    assert_int_equal(cs_alloc_soon_stats_get().announced, before.announced + 1);
    assert_int_equal(cs_alloc_soon_stats_get().held,
                     before.held + cs_kv_slots_bytes(2 * cap, sizeof(kv_slot)));
    for (int i = 0; i < 3000 && cs_alloc_soon_stats_get().faulted == before.faulted; i++)
        usleep(10000);
    assert_int_equal(cs_alloc_soon_stats_get().faulted, before.faulted + 1);
    while (kv_slots_cap(&table_of(s, "m")->slots) == cap) {
        put_range(s, n, 500);
        n += 500;
    }
    assert_int_equal(kv_slots_cap(&table_of(s, "m")->slots), 2 * cap);
    assert_int_equal(cs_alloc_soon_stats_get().used, before.used + 1);
    assert_int_equal(cs_alloc_soon_stats_get().held, before.held);
    for (unsigned i = 0; i < n; i += 101) {
        char key[24], buf[8];
        snprintf(key, sizeof key, "key-%06u", i);
        assert_non_null(kvt_read(s, "m", key, buf, sizeof buf));
    }
    cs_kv_store_free(s);
}

/* Mid-growth: removals from either array, a rollback, a pinned view and a
 * snapshot restore all see the same records as without growth. */
static void a_growing_table_behaves_like_any_other(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    unsigned n = fill_until_growing(s, 1);
    cs_kv_compact(s, cs_kv_last_seqno(s));
    cs_buf want;
    kvt_snapshot(s, &want);
    cs_kv_pinned *p;
    cst_ok(cs_kv_pin_at(s, cs_kv_last_seqno(s), &p));
    uint64_t mark = cs_kv_last_seqno(s);
    for (unsigned i = 1; i < n; i += 2) {
        char key[24];
        snprintf(key, sizeof key, "key-%06u", i);
        kvt_write(s, "m", key, NULL);
    }
    cst_ok(cs_kv_rollback(s, mark));
    kvt_assert_snapshot(s, &want);
    for (unsigned i = 0; i < n; i++)
        assert_value(s, i, 1);
    /* a view pinned mid-growth encodes the state it was pinned at */
    for (unsigned i = 0; i < 2 * n; i++)
        put(s, i, 3);
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_kv_pinned_encode(p, &out));
    kvt_assert_buf_eq(&out, &want);
    cs_kv_pinned_free(p);
    /* the snapshot restores into a fresh store, and its digest matches */
    cs_kv_store *r = kvt_store();
    cst_ok(cs_kv_restore(r, cs_buf_slice(&want)));
    kvt_assert_snapshot(r, &want);
    kvt_assert_digest_scan(r, NULL);
    kvt_assert_digest_scan(s, NULL);
    cs_buf_cleanup(&out);
    cs_buf_cleanup(&want);
    cs_kv_store_free(r);
    cs_kv_store_free(s);
}

/* n transactions of `per` new keys each, from key `from` on. */
static void puts_of(cs_kv_store *s, unsigned from, unsigned n, unsigned per)
{
    for (unsigned t = 0; t < n; t++) {
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(s, &tx));
        for (unsigned k = 0; k < per; k++) {
            char key[24];
            snprintf(key, sizeof key, "key-%08u", from + t * per + k);
            cst_ok(cs_kv_put(tx, S("m"), S(key), S("v")));
        }
        cst_ok(kvt_commit(tx, s));
        cs_kv_tx_free(tx);
    }
}

/* The compaction floor, seen through cs_kv_snapshot_at (STATE below it). */
static uint64_t floor_of(cs_kv_store *s)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    uint64_t f = 0;
    while (cs_kv_snapshot_at(s, f, &out) != CONSORT_OK)
        f++;
    cs_buf_cleanup(&out);
    return f;
}

static void compaction_frees_a_bounded_number_of_items_per_call(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    puts_of(s, 0, 100, 1000); /* seqnos 1..100, 1,000 undo items each */
    cs_kv_compact(s, 100);
    /* 65 whole seqnos fit in KV_COMPACT_STEP (65,536) items */
    assert_int_equal(KV_COMPACT_STEP / 1000, 65);
    assert_int_equal(floor_of(s), 65);
    assert_int_equal(cs_kv_committed_seqno(s), 100); /* committed at once */
    cs_kv_compact(s, 100);
    assert_int_equal(floor_of(s), 100);
    /* one seqno larger than the step is still compacted, alone */
    puts_of(s, 100000, 1, 70000);
    puts_of(s, 200000, 1, 10);
    cs_kv_compact(s, 102);
    assert_int_equal(floor_of(s), 101);
    cs_kv_compact(s, 102);
    assert_int_equal(floor_of(s), 102);
    kvt_assert_digest_scan(s, NULL);
    cs_kv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(growth_moves_a_few_slots_per_change),
        cmocka_unit_test(a_growing_table_behaves_like_any_other),
        cmocka_unit_test(a_large_table_has_its_doubled_array_faulted_in_ahead),
        cmocka_unit_test(compaction_frees_a_bounded_number_of_items_per_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
