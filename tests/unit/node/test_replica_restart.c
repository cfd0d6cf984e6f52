/*
 * A restart from the node's own snapshot copy (replica_copies.c,
 * replica_recover.c, replica_rebuild.c): a running single-node service
 * makes snapshots and keeps a copy of the latest; replicas of their own,
 * opened on copies of its files (as the node restarting would), start from
 * that copy plus the ledger after it, answer receipts for older
 * transactions "busy" while the ledger before the copy is read back off
 * the loop, and end up exactly where a replay of the whole ledger ends:
 * same tree, same index, same receipts. A ledger entry altered before the
 * copy stops the replica; a damaged copy is passed over for a replay of
 * the whole ledger.
 */
#include "restart_fixture.h"

#include "base/alloc.h"
#include "base/file.h"
#include "store/ledger.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

/* unlink(2) as the node calls it (this executable's definition binds its
 * calls): copies of snapshots removed, counted by the thread removing them,
 * the test's (the node's loop runs on it) or another. */
static pthread_t test_thread;
static atomic_uint copies_unlinked_on_loop, copies_unlinked_off_loop;

int unlink(const char *path)
{
    const char *name = strrchr(path, '/');
    if (name != NULL && strncmp(name, "/snapshot_", 10) == 0 && strstr(name, ".bin") != NULL) {
        if (pthread_equal(pthread_self(), test_thread))
            copies_unlinked_on_loop++;
        else
            copies_unlinked_off_loop++;
    }
    return unlinkat(AT_FDCWD, path, 0);
}

static void restarts_from_its_copy(void **state)
{
    fixture *f = *state;
    start_service(f);
    /* one copy kept, the latest; none left unfinished */
    tn_run_until(&f->loop, 30000, no_part, f, "no snapshot being made"); /* as restart_fixture.h */
    int bins, parts;
    assert_true(copies_in(f->src, &bins, &parts) > f->tx[PUTS / 2].seqno);
    assert_int_equal(bins, 1);
    assert_int_equal(parts, 0);
    char fast_dir[600], full_dir[600];
    clone_into(f, "fast", fast_dir, sizeof fast_dir);
    clone_into(f, "full", full_dir, sizeof full_dir);
    run("rm -f '%s'/snapshots/*", full_dir);

    node_replica *full = restart_on(f, full_dir);
    assert_null(full->rebuild);
    assert_int_equal(full->idx.base, 1);

    /* names that are not copies (the host may put anything there) are
     * passed over, none taken for a copy later than the real one: the
     * seqno after it, with a wrong suffix, a sign or a space, or 2^64
     * past it (a parser that wraps) */
    const unsigned long long next = (unsigned long long)f->copy + 1;
    run("cd '%s/snapshots' && touch snapshot_%llu.binx snapshot_%llu.bin.x 'snapshot_+%llu.bin' "
        "'snapshot_ %llu.bin' snapshot_%llu snapshot_x.bin snapshot_.bin "
        "snapshot_%s%02llu.bin",
        fast_dir, next, next, next, next, next, "184467440737095516", 16 + next);
    node_replica *fast = restart_on(f, fast_dir);
    /* from the copy: the store and the tree from it on at once */
    assert_int_equal(node_replica_get_stats(fast).snapshots_restored, 1);
    assert_int_equal(fast->rebuilding_upto, f->copy);
    assert_int_equal(cs_merkle_first_held(fast->tree), f->copy - 1);
    assert_same_tree(fast, full);
    cs_buf got, want;
    cs_buf_init(&got, CS_RECEIPT_JSON_MAX);
    cs_buf_init(&want, CS_RECEIPT_JSON_MAX);
    /* a transaction after the copy: its receipt at once */
    const cs_txid later = f->tx[PUTS / 2 + 4];
    assert_true(later.seqno > f->copy && node_replica_applied_sig(full) > later.seqno);
    receipt_of(fast, later, &got);
    receipt_of(full, later, &want);
    assert_memory_equal(got.ptr, want.ptr, want.len);
    /* one before it: busy, until the ledger before the copy is read back */
    cs_buf_reset(&got);
    cst_fails(node_replica_receipt(fast, f->tx[0], &got), CONSORT_E_BUSY);
    assert_non_null(strstr(consort_errmsg(), "reading back"));
    tn_run_until(&f->loop, 10000, read_back, fast, "the ledger read back");
    assert_false(f->fatal);
    assert_int_equal(fast->rebuilding_upto, 0);
    assert_int_equal(cs_merkle_first_held(fast->tree), 0);
    assert_same_tree(fast, full);
    assert_same_index(&fast->idx, &full->idx);
    assert_same_receipts(f, fast, full, 0, 5);
    cs_buf_cleanup(&got);
    cs_buf_cleanup(&want);
    node_replica_free(fast);
    node_replica_free(full);
}

/* The chunks of the ledger in `dir` (free them), and the index of the one
 * holding `seqno`. */
static size_t chunks_of(const char dir[600], uint64_t seqno, cs_ledger_chunk **chunks,
                        size_t *count)
{
    char ledger[700];
    snprintf(ledger, sizeof ledger, "%s/ledger", dir);
    cst_ok(cs_ledger_chunks_list(ledger, chunks, count));
    size_t k = 0;
    while (k + 1 < *count && (*chunks)[k + 1].first <= seqno)
        k++;
    return k;
}

/* Flips one bit inside the frame of entry `seqno` of the ledger in `dir`. */
static void alter_entry(const char dir[600], uint64_t seqno)
{
    cs_ledger_chunk *chunks;
    size_t count;
    const size_t k = chunks_of(dir, seqno, &chunks, &count);
    assert_true(chunks[k].first <= seqno && (!chunks[k].committed || seqno <= chunks[k].last));
    char path[1000];
    snprintf(path, sizeof path, "%s/ledger/%s", dir, chunks[k].name);
    const uint64_t first = chunks[k].first;
    cs_free(chunks);
    cs_buf b;
    cs_buf_init(&b, 1 << 20);
    cst_ok(cs_file_read(path, &b));
    size_t off = 0;
    for (uint64_t s = first; s < seqno; s++)
        off += 4 + ((size_t)b.ptr[off] << 24 | (size_t)b.ptr[off + 1] << 16 |
                    (size_t)b.ptr[off + 2] << 8 | b.ptr[off + 3]);
    b.ptr[off + 4 + 40] ^= 0x01;
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&b), 0600));
    cs_buf_cleanup(&b);
}

static void altered_entry_before_the_copy_stops_it(void **state)
{
    fixture *f = *state;
    start_service(f);
    char dir[600];
    clone_into(f, "altered", dir, sizeof dir);
    alter_entry(dir, f->tx[2].seqno);
    stopped_by_the_read_back(f, dir, f->tx[0]);
}

/* The first entry of the chunk holding the copy's checkpoint: the restart
 * reads that chunk itself (the read-back only the committed ones before
 * it), so an entry altered there refuses the restart at once. */
static void altered_entry_in_the_copys_chunk_refuses_the_restart(void **state)
{
    fixture *f = *state;
    start_service(f);
    char dir[600];
    clone_into(f, "altered", dir, sizeof dir);
    cs_ledger_chunk *chunks;
    size_t count;
    const size_t k = chunks_of(dir, f->copy, &chunks, &count);
    const uint64_t first = chunks[k].first;
    cs_free(chunks);
    assert_true(first > 1);
    alter_entry(dir, first);
    node_replica *r = replica_on(f, dir);
    cst_fails(node_replica_recover(r, 0), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "is not authentic"));
    node_replica_free(r);
}

static void damaged_copy_replays_the_whole_ledger(void **state)
{
    fixture *f = *state;
    start_service(f);
    char dir[600], path[700];
    clone_into(f, "damaged", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/snapshots/snapshot_%llu.bin", dir, (unsigned long long)f->copy);
    cs_buf b;
    cs_buf_init(&b, CS_FSM_SNAPSHOT_MAX);
    cst_ok(cs_file_read(path, &b));
    b.ptr[b.len / 2] ^= 0x01;
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&b), 0600));
    cs_buf_cleanup(&b);
    char full_dir[600];
    clone_into(f, "full", full_dir, sizeof full_dir);
    run("rm -f '%s'/snapshots/*", full_dir);
    node_replica *r = restart_on(f, dir);
    node_replica *full = restart_on(f, full_dir);
    assert_null(r->rebuild);
    assert_int_equal(node_replica_get_stats(r).snapshots_restored, 0);
    assert_int_equal(cs_merkle_first_held(r->tree), 0);
    assert_same_tree(r, full);
    assert_same_index(&r->idx, &full->idx);
    node_replica_free(r);
    node_replica_free(full);
}

/* The chunk holding the copy's checkpoint and those after it are the
 * restart's own reading (a .open one among them is renamed by its close,
 * maybe while the read-back runs): the read-back needs only the committed
 * chunks before it. Here they are moved out of the directory before the
 * read-back starts, and it still completes. */
static void read_back_needs_only_the_chunks_before_the_copys(void **state)
{
    fixture *f = *state;
    start_service(f);
    char dir[600];
    clone_into(f, "moved", dir, sizeof dir);
    tn_gate g;
    tn_gate_hold(&f->loop, &g);
    node_replica *r = restart_on(f, dir);
    assert_non_null(r->rebuild); /* queued behind the gate */
    cs_ledger_chunk *chunks;
    size_t count;
    const size_t k = chunks_of(dir, f->copy, &chunks, &count);
    assert_true(k > 0);
    run("mkdir '%s/aside'", dir);
    for (size_t i = k; i < count; i++)
        run("mv '%s/ledger/%s' '%s/aside/'", dir, chunks[i].name, dir);
    cs_free(chunks);
    tn_gate_open(&f->loop, &g);
    tn_run_until(&f->loop, 10000, read_back, r, "the ledger read back");
    assert_false(f->fatal);
    assert_int_equal(cs_merkle_first_held(r->tree), 0);
    assert_int_equal(r->idx.base, 1);
    node_replica_free(r);
}

/* The read-back authenticates millions of entries with one scratch buffer:
 * each entry's private write set alone ends up in it (a buffer that kept
 * every plaintext stopped a 3M-entry read-back at its 16 MiB cap). */
static void authenticating_reuses_the_scratch(void **state)
{
    fixture *f = *state;
    start_service(f);
    char ledger[600];
    snprintf(ledger, sizeof ledger, "%s/ledger", f->src);
    cs_ledger_reader *rd;
    cst_ok(cs_ledger_reader_open(ledger, &rd));
    cs_ledger_keys *keys = node_replica_keys(f->node.n->replica);
    cs_buf scratch, alone;
    cs_buf_init_secret(&scratch, CS_LEDGER_WS_MAX);
    cs_buf_init_secret(&alone, CS_LEDGER_WS_MAX);
    size_t with_private = 0;
    for (;;) {
        cs_ledger_record rec;
        bool done;
        cst_ok(cs_ledger_reader_next(rd, &rec, &done));
        if (done)
            break;
        cst_ok(replica_entry_authentic(&rec.entry, keys, &scratch));
        cs_buf_reset(&alone);
        cst_ok(cs_ledger_entry_open(&rec.entry, keys, &alone));
        assert_int_equal(scratch.len, alone.len);
        with_private += alone.len > 0;
    }
    assert_true(with_private > 1);
    cs_ledger_reader_free(rd);
    cs_buf_cleanup(&scratch);
    cs_buf_cleanup(&alone);
}

/* A node that joined from a snapshot at C (its ledger starts at C + 1)
 * restarts from its own later copy S too: the entries C + 1 .. S are read
 * back, their tree grown from the peaks the copy at C carries, and it ends
 * where a replay from C ends. A receipt before its ledger starts stays
 * unavailable (STATE: another node has it), one between C and S is busy
 * until the read-back. */
static void joined_node_restarts_from_its_copy(void **state)
{
    fixture *f = *state;
    start_joined(f);
    const uint64_t first = f->joiner.n->replica->ledger_first;
    assert_true(first > 1 && f->copy > first);
    char fast_dir[600], full_dir[600];
    clone_into(f, "fast", fast_dir, sizeof fast_dir);
    clone_into(f, "full", full_dir, sizeof full_dir);
    run("cd '%s/snapshots' && rm snapshot_%llu.bin", full_dir, (unsigned long long)f->copy);

    node_replica *full = restart_on(f, full_dir);
    assert_null(full->rebuild);
    assert_int_equal(full->idx.base, first);
    node_replica *fast = restart_on(f, fast_dir);
    assert_int_equal(fast->rebuilding_upto, f->copy);
    assert_int_equal(fast->ledger_first, first);
    assert_int_equal(cs_merkle_first_held(fast->tree), f->copy - 1);
    assert_same_tree(fast, full);
    cs_buf got, want;
    cs_buf_init(&got, CS_RECEIPT_JSON_MAX);
    cs_buf_init(&want, CS_RECEIPT_JSON_MAX);
    const cs_txid between = f->tx[PUTS / 2 + 2], before = f->tx[0];
    assert_true(between.seqno >= first && between.seqno < f->copy && before.seqno < first);
    cst_fails(node_replica_receipt(fast, between, &got), CONSORT_E_BUSY);
    cst_fails(node_replica_receipt(fast, before, &got), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "joined"));
    tn_run_until(&f->loop, 10000, read_back, fast, "the ledger read back");
    assert_false(f->fatal);
    assert_int_equal(cs_merkle_first_held(fast->tree), cs_merkle_first_held(full->tree));
    assert_int_equal(cs_merkle_first_held(fast->tree), first - 2);
    assert_same_tree(fast, full);
    assert_same_index(&fast->idx, &full->idx);
    cst_fails(node_replica_receipt(fast, before, &got), CONSORT_E_STATE);
    assert_same_receipts(f, fast, full, PUTS / 2, 3);
    cs_buf_cleanup(&got);
    cs_buf_cleanup(&want);
    node_replica_free(fast);
    node_replica_free(full);
}

/* The copy a joined node's ledger starts after is where its read-back's
 * tree starts: a copy there that does not open stops the node, like an
 * altered entry; a restart without it is refused. */
static void joined_node_needs_the_copy_it_joined_from(void **state)
{
    fixture *f = *state;
    start_joined(f);
    const uint64_t first = f->joiner.n->replica->ledger_first;
    char dir[600];
    clone_into(f, "damaged", dir, sizeof dir);
    run("cd '%s/snapshots' && printf x | dd of=snapshot_%llu.bin bs=1 seek=100 conv=notrunc "
        "status=none",
        dir, (unsigned long long)(first - 1));
    stopped_by_the_read_back(f, dir, f->tx[PUTS / 2 + 2]);
    /* without it, the restart is refused outright (as a replay from it would
     * be), not opened on the later copy to stop a moment after */
    char gone[600];
    clone_into(f, "gone", gone, sizeof gone);
    run("rm '%s/snapshots/snapshot_%llu.bin'", gone, (unsigned long long)(first - 1));
    node_replica *r = replica_on(f, gone);
    cst_fails(node_replica_recover(r, 0), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), "ledger starting at seqno"));
    assert_int_equal(node_replica_get_stats(r).snapshots_restored, 0);
    node_replica_free(r);
}

/* A snapshot kept removes the copies it supersedes (hundreds of MB at
 * millions of keys; on a file system that discards freed blocks, unlink
 * waits for the device: 30-50 ms of a node's loop at 1M keys) on the
 * threadpool, not on the loop; the node counts them. */
static void superseded_copies_are_removed_off_the_loop(void **state)
{
    fixture *f = *state;
    test_thread = pthread_self();
    copies_unlinked_on_loop = copies_unlinked_off_loop = 0;
    start_service(f);
    tn_run_until(&f->loop, 30000, no_part, f, "no snapshot being made"); /* as restart_fixture.h */
    int bins, parts;
    (void)copies_in(f->src, &bins, &parts);
    assert_int_equal(bins, 1);
    node_replica_stats st = node_replica_get_stats(source(f)->n->replica);
    assert_true(st.snapshots_taken >= 3);
    assert_true(st.copies_removed >= 2);
    assert_int_equal(copies_unlinked_off_loop, st.copies_removed);
    assert_int_equal(copies_unlinked_on_loop, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(restarts_from_its_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(superseded_copies_are_removed_off_the_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(altered_entry_before_the_copy_stops_it, setup, teardown),
        cmocka_unit_test_setup_teardown(altered_entry_in_the_copys_chunk_refuses_the_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(damaged_copy_replays_the_whole_ledger, setup, teardown),
        cmocka_unit_test_setup_teardown(authenticating_reuses_the_scratch, setup, teardown),
        cmocka_unit_test_setup_teardown(read_back_needs_only_the_chunks_before_the_copys, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(joined_node_restarts_from_its_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(joined_node_needs_the_copy_it_joined_from, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
