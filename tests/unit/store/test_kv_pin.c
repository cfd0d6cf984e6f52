/*
 * Pinned views at scale (store/kv.h cs_kv_pin_at): a view shares each map's
 * hash table chunk by chunk and touches no record, so pinning a large store
 * costs O(chunks), not O(keys); the store copies a shared chunk before it
 * writes it and keeps every record a view may read, whatever it does while
 * the view lives: overwrites, removals, a rollback below the view's pin
 * time, table growth, compaction, restore (refused), even its own free.
 * Tables here span many chunks (KV_CHUNK_SLOTS slots each).
 */
#include "kv_testutil.h"
#include "store/kv_priv.h"

#include <pthread.h>
#include <stdlib.h>

/* Puts (tag > 0: values tagged `tag`) or removes (tag 0) keys [from, to)
 * of `map` with the given step, 500 per seqno. */
static void change(cs_kv_store *s, const char *map, unsigned from, unsigned to, unsigned step,
                   unsigned tag)
{
    char key[24], value[40];
    for (unsigned i = from; i < to;) {
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(s, &tx));
        for (unsigned n = 0; n < 500 && i < to; n++, i += step) {
            snprintf(key, sizeof key, "key-%06u", i);
            snprintf(value, sizeof value, "value-%u-of-key-%u", tag, i);
            if (tag > 0)
                cst_ok(cs_kv_put(tx, S(map), S(key), S(value)));
            else
                cst_ok(cs_kv_remove(tx, S(map), S(key)));
        }
        cst_ok(kvt_commit(tx, s));
        cs_kv_tx_free(tx);
    }
}

static void fill(cs_kv_store *s, const char *map, unsigned from, unsigned to, unsigned tag)
{
    change(s, map, from, to, 1, tag);
}

static void drop(cs_kv_store *s, const char *map, unsigned from, unsigned to, unsigned step)
{
    change(s, map, from, to, step, 0);
}

static const kv_table *table_of(const cs_kv_store *s, const char *map)
{
    const kv_map *m = cs_kv_map_find(s, S(map), NULL);
    assert_non_null(m);
    return &m->table;
}

/* Chunks of the array new keys go to (the tests here let growth finish). */
static size_t nchunks(const kv_table *t)
{
    assert_null(t->old.chunks);
    return (kv_slots_cap(&t->slots) + KV_CHUNK_SLOTS - 1) / KV_CHUNK_SLOTS;
}

static void assert_encodes(cs_kv_pinned *p, const cs_buf *want)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_kv_pinned_encode(p, &out));
    kvt_assert_buf_eq(&out, want);
    cs_buf_cleanup(&out);
}

/* White box: pinning takes a reference to every chunk and none to any record
 * (the old view took one per record: O(keys) on the store's thread); the
 * first write to a shared chunk copies it from a spare; freeing the view
 * leaves every chunk the table's alone and frees the spares. */
static void pin_shares_chunks_not_records(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    fill(s, "m", 0, 5000, 1);
    cs_kv_compact(s, cs_kv_last_seqno(s));
    const kv_table *t = table_of(s, "m");
    size_t cap = cs_kv_table_cap(t), n = nchunks(t);
    assert_true(n >= 8);
    uint32_t *refs = calloc(cap, sizeof *refs);
    assert_non_null(refs);
    for (size_t i = 0; i < cap; i++)
        refs[i] = cs_kv_table_rec(t, i) != NULL ? cs_kv_table_rec(t, i)->refs : 0;

    cs_kv_pinned *p;
    cst_ok(cs_kv_pin_at(s, cs_kv_last_seqno(s), &p));
    for (size_t i = 0; i < cap; i++) {
        const kv_rec *r = cs_kv_table_rec(t, i);
        assert_int_equal(r != NULL ? r->refs : 0, refs[i]);
    }
    for (size_t k = 0; k < n; k++)
        assert_int_equal(t->slots.chunks[k]->refs, 2);
    assert_int_equal(t->slots.nspare, n);

    /* one overwrite: its chunk only is copied */
    kv_chunk **before = calloc(n, sizeof *before);
    assert_non_null(before);
    memcpy(before, t->slots.chunks, n * sizeof *before);
    kvt_write(s, "m", "key-000042", "changed");
    size_t copied = 0;
    for (size_t k = 0; k < n; k++) {
        if (t->slots.chunks[k] != before[k]) {
            copied++;
            assert_int_equal(t->slots.chunks[k]->refs, 1);
            assert_int_equal(before[k]->refs, 1); /* the view's now */
        }
    }
    assert_int_equal(copied, 1);
    assert_int_equal(t->slots.nspare, n - 1);

    cs_kv_pinned_free(p);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(t->slots.chunks[k]->refs, 1);
    assert_int_equal(t->slots.nspare, 0);
    free(before);
    free(refs);
    cs_kv_store_free(s);
}

/* A view pinned below the store's last seqno encodes the state then, after
 * the store rolled back below the view's pin time, overwrote and removed
 * every key, grew its tables, created a map and compacted. */
static void big_view_outlives_every_change(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    fill(s, "a", 0, 3000, 1);
    fill(s, "public:b", 0, 3000, 1);
    fill(s, "c", 0, 3000, 1);
    uint64_t at = cs_kv_last_seqno(s);
    cs_kv_compact(s, at);
    cs_buf want;
    kvt_snapshot(s, &want);
    /* uncommitted writes after `at`: the view's chunks point at them */
    fill(s, "a", 0, 1500, 2);
    drop(s, "c", 0, 3000, 3);
    cs_kv_pinned *p;
    cst_ok(cs_kv_pin_at(s, at, &p));
    cst_ok(cs_kv_rollback(s, at)); /* takes them out of the tables again */
    fill(s, "a", 0, 3000, 3);
    drop(s, "public:b", 0, 3000, 2);
    drop(s, "c", 0, 3000, 1);
    fill(s, "a", 3000, 20000, 3); /* the table grows: new chunks */
    fill(s, "d", 0, 100, 3);
    cs_kv_compact(s, cs_kv_last_seqno(s));
    assert_encodes(p, &want);
    cs_kv_pinned_free(p);
    /* the store itself is intact: its digest matches a full scan */
    kvt_assert_digest_scan(s, NULL);
    cs_kv_compact(s, cs_kv_last_seqno(s));
    cs_buf_cleanup(&want);
    cs_kv_store_free(s);
}

/* Restore is refused while a view lives (BUSY, the store unchanged); the
 * store's owner may free it before the view, which then still encodes and
 * frees it last (no leak, no use after free under ASan). */
static void store_may_go_before_its_view(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    fill(s, "m", 0, 4000, 1);
    cs_buf want;
    kvt_snapshot(s, &want);
    cs_kv_pinned *p;
    cst_ok(cs_kv_pin_at(s, cs_kv_last_seqno(s), &p));
    cst_fails(cs_kv_restore(s, cs_buf_slice(&want)), CONSORT_E_BUSY);
    assert_non_null(strstr(consort_errmsg(), "pinned view"));
    kvt_assert_snapshot(s, &want);
    fill(s, "m", 0, 4000, 2);
    cs_kv_store_free(s);
    assert_encodes(p, &want);
    cs_kv_pinned_free(p);
    cs_buf_cleanup(&want);
}

/* Out of memory while pinning: NOMEM, nothing shared, the store writes on. */
static void pin_out_of_memory_shares_nothing(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    fill(s, "m", 0, 3000, 1);
    fill(s, "n", 0, 3000, 1);
    cst_alloc_install();
    for (long k = 0;; k++) {
        cst_alloc_fail_after(k);
        cs_kv_pinned *p = NULL;
        consort_err rc = cs_kv_pin_at(s, cs_kv_last_seqno(s), &p);
        bool failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (!failed) {
            cst_ok(rc);
            cs_kv_pinned_free(p);
            break;
        }
        assert_int_equal(rc, CONSORT_E_NOMEM);
        assert_null(p);
        const char *maps[] = {"m", "n"};
        for (size_t i = 0; i < 2; i++) {
            const kv_table *t = table_of(s, maps[i]);
            for (size_t c = 0; c < nchunks(t); c++)
                assert_int_equal(t->slots.chunks[c]->refs, 1);
            assert_int_equal(t->slots.nspare, 0);
        }
    }
    cst_alloc_uninstall();
    fill(s, "m", 0, 3000, 2);
    kvt_assert_digest_scan(s, NULL);
    cs_kv_store_free(s);
}

/* Another thread encodes a 20,000-key view while the owner rewrites,
 * removes and rolls back every key and grows the table (TSan: no race). */
static void view_encodes_on_a_thread_while_every_key_changes(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    fill(s, "m", 0, 20000, 1);
    cs_buf want;
    kvt_snapshot(s, &want);
    kvt_pin_job j = {.rc = CONSORT_E_STATE};
    cs_buf_init(&j.out, 0);
    cst_ok(cs_kv_pin_at(s, cs_kv_last_seqno(s), &j.pin));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, kvt_encode_main, &j), 0);
    uint64_t mark = cs_kv_last_seqno(s);
    fill(s, "m", 0, 20000, 2);
    drop(s, "m", 0, 20000, 2);
    cst_ok(cs_kv_rollback(s, mark + 10));
    fill(s, "m", 20000, 40000, 3);
    assert_int_equal(pthread_join(t, NULL), 0);
    cst_ok(j.rc);
    kvt_assert_buf_eq(&j.out, &want);
    cs_kv_pinned_free(j.pin);
    cs_buf_cleanup(&j.out);
    cs_buf_cleanup(&want);
    cs_kv_store_free(s);
}

/* A view freed after the store rewrote every chunk gives back whole slabs,
 * not a page range per chunk: the second view's chunks mix the table's
 * first array with copies the first view's spares took, in the order the
 * writes came, and walking them by index made one madvise (a system call
 * and a TLB shootdown) per chunk on the store's thread (about 2,000 at 1M
 * keys: 110-140 ms of a node's loop after each snapshot). Here each slab
 * loses its last chunk at once, so nothing is advised at all. */
static void view_freed_after_every_chunk_changed_frees_whole_slabs(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    fill(s, "m", 0, 60000, 1);
    cs_kv_compact(s, cs_kv_last_seqno(s));
    const kv_table *t = table_of(s, "m");
    size_t n = nchunks(t);
    assert_true(n >= 64);

    /* view 1: a few keys change, so some chunks are copies (in the order
     * of the writes), the rest still the first array's */
    cs_kv_pinned *p;
    cst_ok(cs_kv_pin_at(s, cs_kv_last_seqno(s), &p));
    change(s, "m", 0, 60000, 997, 2);
    cs_kv_compact(s, cs_kv_last_seqno(s));
    cs_kv_pinned_free(p);
    size_t copies = 0;
    for (size_t k = 0; k < n; k++)
        copies += t->slots.chunks[k]->slab != t->slots.chunks[0]->slab;
    assert_true(copies >= 8 && copies < n);

    /* view 2: every key changes; freeing the view frees every chunk it
     * held, the last of each of their slabs */
    cst_ok(cs_kv_pin_at(s, cs_kv_last_seqno(s), &p));
    cs_buf want;
    cs_buf_init(&want, 0);
    cst_ok(cs_kv_pinned_encode(p, &want));
    fill(s, "m", 0, 60000, 3);
    assert_encodes(p, &want);
    cs_kv_compact(s, cs_kv_last_seqno(s));
    uint64_t advised = cs_kv_slots_advised();
    cs_kv_pinned_free(p);
    assert_int_equal(cs_kv_slots_advised(), advised);

    /* a view freed while only some chunks were copied still gives their
     * pages back: one range per run of neighbours, at most one per chunk */
    cst_ok(cs_kv_pin_at(s, cs_kv_last_seqno(s), &p));
    change(s, "m", 0, 60000, 4999, 4);
    cs_kv_compact(s, cs_kv_last_seqno(s));
    advised = cs_kv_slots_advised();
    cs_kv_pinned_free(p);
    assert_true(cs_kv_slots_advised() > advised);
    assert_true(cs_kv_slots_advised() - advised <= 13);
    cs_buf_cleanup(&want);
    cs_kv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pin_shares_chunks_not_records),
        cmocka_unit_test(big_view_outlives_every_change),
        cmocka_unit_test(store_may_go_before_its_view),
        cmocka_unit_test(pin_out_of_memory_shares_nothing),
        cmocka_unit_test(view_encodes_on_a_thread_while_every_key_changes),
        cmocka_unit_test(view_freed_after_every_chunk_changed_frees_whole_slabs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
