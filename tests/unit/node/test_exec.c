/*
 * The executor by itself (exec.h), against a fake consensus: no node, no
 * raft, no network. A single node is started only to lend its service
 * secret and certificate to a replica of the test's own.
 *
 * What it promises and these tests hold it to:
 *   - a completion never fires inside the call that registered it, and
 *     carries its own code and message;
 *   - a write that commits completes with its txid once consensus reports
 *     the entry committed, and the replica then holds it;
 *   - a failed raft write closes writes for good in that term, fails what
 *     is pending and asks the node to STOP, whatever the code of the
 *     failure (a raft write that failed for lack of disk space included:
 *     libraft cannot go on after it, so handing leadership over is not
 *     an option);
 *   - only the executor's own free-space check asks to hand over, and it
 *     asks in every term it leads short of space (as soon as writes open),
 *     and again while it still leads, at most every NODE_EXEC_HAND_OVER_RETRY_MS,
 *     whether writes reach it or not.
 */
#include "exec_fixture.h"

static void write_completes_after_commit(void **state)
{
    fixture *f = *state;
    put_req p = {.key = "a", .value = "1", .commit = true};
    done_rec d = {0};
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p, done_cb, &d));
    assert_int_equal(d.calls, 0);       /* never inside the call */
    assert_int_equal(f->raft.count, 0); /* to consensus at the end of the loop turn */
    assert_int_equal(node_exec_pending(f->ex), 1);
    run_loop(f);
    assert_int_equal(f->raft.count, 1);
    assert_int_equal(d.calls, 0); /* not before consensus commits it */

    assert_true(commit_submitted(f, 0));
    assert_int_equal(d.calls, 0); /* deferred through the loop */
    run_loop(f);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, CONSORT_OK);
    assert_string_equal(d.message, "");
    assert_int_equal(d.txid.term, 2);
    assert_int_equal(d.txid.seqno, 1);
    assert_int_equal(node_replica_applied(f->r), 1);
    assert_int_equal(node_exec_unfinished(f->ex), 0);
}

static void nothing_to_replicate_completes_later(void **state)
{
    fixture *f = *state;
    put_req p = {.key = "a", .value = "1", .commit = false};
    done_rec d = {0};
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p, done_cb, &d));
    assert_int_equal(d.calls, 0);
    assert_int_equal(f->raft.count, 0);
    run_loop(f);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, CONSORT_OK);
    assert_int_equal(d.txid.seqno, 0); /* nothing written */
}

/* A raft write that failed for lack of space is still a failed raft write:
 * the node must stop leading for good (the failure that crashed libraft
 * when the node only handed leadership over). */
static void failed_raft_write_stops(void **state)
{
    fixture *f = *state;
    put_req p = {.key = "a", .value = "1", .commit = true};
    done_rec d = {0};
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p, done_cb, &d));
    cs_err_clear();
    node_exec_submit_failed(f->ex, 2, CONSORT_E_NO_SPACE, "raft: disk full");
    assert_int_equal(f->raft.step_downs, 1);
    assert_int_equal(f->raft.how, NODE_EXEC_STOP);
    assert_int_equal(f->raft.step_term, 2);
    assert_false(node_exec_is_open(f->ex));
    assert_int_equal(node_exec_pending(f->ex), 0);
    assert_int_equal(cs_kv_last_seqno(node_replica_kv(f->r)), 0); /* rolled back */
    assert_int_equal(d.calls, 0);
    run_loop(f);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, CONSORT_E_STATE);
    /* its own message: its txid and what failed, not the failing entry's text
     * (which may be another client's entry) */
    assert_non_null(strstr(d.message, "transaction 2.1:"));
    assert_non_null(strstr(d.message, "NO_SPACE"));
    assert_null(strstr(d.message, "raft: disk full"));
    /* writes never reopen in that term */
    cst_fails(node_exec_open(f->ex, 2), CONSORT_E_STATE);
    cst_ok(node_exec_open(f->ex, 3));
}

/* Leadership lost while two clients' writes are pending: consensus reports
 * it for one entry (its message names that entry), and each client is told
 * about its own transaction only (issue 11, failure 6: error bodies named
 * other clients' transactions). */
static void each_completion_names_its_own_transaction(void **state)
{
    fixture *f = *state;
    put_req p1 = {.key = "a", .value = "1", .commit = true};
    put_req p2 = {.key = "b", .value = "2", .commit = true};
    done_rec d1 = {0}, d2 = {0};
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p1, done_cb, &d1));
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p2, done_cb, &d2));
    (void)cs_fail(CONSORT_E_STATE, "transaction 9.99: a stale thread-local message");
    node_exec_submit_failed(f->ex, 2, CONSORT_E_STATE, "entry 7: server has lost leadership");
    run_loop(f);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d2.calls, 1);
    assert_int_equal(d1.rc, CONSORT_E_STATE);
    assert_int_equal(d2.rc, CONSORT_E_STATE);
    assert_int_equal(d1.txid.seqno, 1);
    assert_int_equal(d2.txid.seqno, 2);
    assert_non_null(strstr(d1.message, "transaction 2.1:"));
    assert_non_null(strstr(d2.message, "transaction 2.2:"));
    const done_rec *both[] = {&d1, &d2};
    for (size_t i = 0; i < 2; i++) {
        assert_non_null(strstr(both[i]->message, "leadership lost"));
        assert_null(strstr(both[i]->message, "entry 7"));
        assert_null(strstr(both[i]->message, "9.99"));
    }
    assert_null(strstr(d1.message, "2.2"));
    assert_null(strstr(d2.message, "2.1"));
}

/* A failure reported for another term changes nothing. */
static void failure_of_another_term_ignored(void **state)
{
    fixture *f = *state;
    put_req p = {.key = "a", .value = "1", .commit = true};
    done_rec d = {0};
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p, done_cb, &d));
    node_exec_submit_failed(f->ex, 1, CONSORT_E_IO, "old term");
    assert_int_equal(f->raft.step_downs, 0);
    assert_true(node_exec_is_open(f->ex));
    assert_int_equal(node_exec_pending(f->ex), 1);
    /* leadership lost: the pending write fails (outcome unknown), later */
    node_exec_close(f->ex, CONSORT_E_STATE, "leadership lost");
    assert_int_equal(d.calls, 0);
    run_loop(f);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, CONSORT_E_STATE);
    assert_non_null(strstr(d.message, "leadership lost"));
}

/* The executor's own free-space check hands leadership over (and refuses
 * writes with NO_SPACE) instead of stopping the node. */
static void short_of_disk_hands_over(void **state)
{
    fixture *f = *state;
    node_exec_free(f->ex);
    run_loop(f);
    exec_start(f, UINT64_MAX / (2u << 20)); /* never enough space */
    f->raft.step_downs = 0;                 /* asked at open: see below */
    tn_run_for(&f->loop, NODE_EXEC_HAND_OVER_RETRY_MS + 50);
    put_req p = {.key = "a", .value = "1", .commit = true};
    done_rec d = {0};
    cst_fails(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p, done_cb, &d),
              CONSORT_E_NO_SPACE);
    assert_int_equal(f->raft.step_downs, 1);
    assert_int_equal(f->raft.how, NODE_EXEC_HAND_OVER);
    assert_int_equal(f->raft.count, 0);
    run_loop(f);
    assert_int_equal(d.calls, 0); /* an error return: no completion */
}

/* A leader short of space asks to hand over as soon as writes open, and
 * in every term it leads again (issue 11, failure 3: a leader elected a
 * second time with a full disk never asked again and refused every write
 * until space was freed). */
static void short_of_disk_hands_over_every_term(void **state)
{
    fixture *f = *state;
    node_exec_free(f->ex);
    run_loop(f);
    exec_start(f, UINT64_MAX / (2u << 20));
    assert_int_equal(f->raft.step_downs, 1); /* at once, before any write */
    assert_int_equal(f->raft.how, NODE_EXEC_HAND_OVER);
    assert_int_equal(f->raft.step_rc, CONSORT_E_NO_SPACE);
    assert_int_equal(f->raft.step_term, 2);
    node_exec_close(f->ex, CONSORT_E_STATE, "leadership handed over");
    cst_ok(node_exec_open(f->ex, 4)); /* elected again, still short */
    assert_int_equal(f->raft.step_downs, 2);
    assert_int_equal(f->raft.step_term, 4);
}

/* While it still leads short of space (the transfer failed or timed out),
 * refused writes ask again, but not more often than every
 * NODE_EXEC_HAND_OVER_RETRY_MS. */
static void short_of_disk_asks_again(void **state)
{
    fixture *f = *state;
    node_exec_free(f->ex);
    run_loop(f);
    exec_start(f, UINT64_MAX / (2u << 20));
    assert_int_equal(f->raft.step_downs, 1);
    put_req p = {.key = "a", .value = "1", .commit = true};
    done_rec d = {0};
    for (int i = 0; i < 5; i++)
        cst_fails(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p, done_cb, &d),
                  CONSORT_E_NO_SPACE);
    assert_int_equal(f->raft.step_downs, 1);
    tn_run_for(&f->loop, NODE_EXEC_HAND_OVER_RETRY_MS + 50);
    cst_fails(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p, done_cb, &d),
              CONSORT_E_NO_SPACE);
    assert_int_equal(f->raft.step_downs, 2);
    assert_int_equal(node_exec_get_stats(f->ex).writes_refused_no_space, 6);
}

static bool asked_twice(void *ctx)
{
    return ((const fake_raft *)ctx)->step_downs >= 2;
}

/* ... and asks again while it still leads even if no write reaches it (a
 * transfer that timed out in a quiet cluster was never retried: the short
 * node led on for as long as no write came). */
static void short_of_disk_asks_again_without_writes(void **state)
{
    fixture *f = *state;
    node_exec_free(f->ex);
    run_loop(f);
    exec_start(f, UINT64_MAX / (2u << 20));
    assert_int_equal(f->raft.step_downs, 1);
    tn_run_until(&f->loop, 3 * NODE_EXEC_HAND_OVER_RETRY_MS, asked_twice, &f->raft,
                 "a second hand-over request, no write coming");
    assert_int_equal(f->raft.how, NODE_EXEC_HAND_OVER);
    assert_int_equal(f->raft.step_term, 2);
    node_exec_close(f->ex, CONSORT_E_STATE, "leadership handed over");
    int asked = f->raft.step_downs;
    tn_run_for(&f->loop, NODE_EXEC_HAND_OVER_RETRY_MS + 250); /* not leading: not asked */
    assert_int_equal(f->raft.step_downs, asked);
    assert_int_equal(node_exec_get_stats(f->ex).writes_refused_no_space, 0);
}

/* Raft's segments fit in the margin many times over: a node short of
 * space keeps room for them down to a sixteenth of min_free_mib (raft
 * preallocates each whole, and a preallocation larger than what is left
 * takes every free block while it fails: test_node_disk
 * "restart_short_of_disk"). */
static void raft_segments_fit_in_the_margin(void **state)
{
    (void)state;
    assert_int_equal(node_exec_raft_segment_size(16), 1 << 20); /* the default margin */
    assert_int_equal(node_exec_raft_segment_size(1), NODE_EXEC_SEGMENT_MIN);
    assert_int_equal(node_exec_raft_segment_size(100), 6400 << 10);
    assert_int_equal(node_exec_raft_segment_size(128), NODE_EXEC_SEGMENT_MAX);
    assert_int_equal(node_exec_raft_segment_size(1 << 20), NODE_EXEC_SEGMENT_MAX);
    for (uint64_t mib = 4; mib <= 4096; mib++) {
        size_t s = node_exec_raft_segment_size(mib);
        assert_true(s * 16 <= mib << 20); /* three at once: under a fifth of the margin */
        assert_int_equal(s % (64 << 10), 0);
    }
}

/* Consensus refusing a batch at submit: a failed raft write of this term
 * (some of the batch may be in raft's log): every write in it fails
 * (completion, never inside the call), the store and tree go back, and
 * writes stay closed in that term. */
static void refused_submit_fails_the_batch(void **state)
{
    fixture *f = *state;
    f->raft.submit_rc = CONSORT_E_IO;
    put_req p1 = {.key = "a", .value = "1", .commit = true};
    put_req p2 = {.key = "b", .value = "2", .commit = true};
    done_rec d1 = {0}, d2 = {0};
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p1, done_cb, &d1));
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p2, done_cb, &d2));
    assert_int_equal(f->raft.batches, 0);
    run_loop(f);
    assert_int_equal(f->raft.batches, 1);
    assert_int_equal(f->raft.refused, 1);
    assert_true(node_exec_is_open(f->ex)); /* until the node tells it */
    node_exec_submit_failed(f->ex, 2, f->raft.submit_rc, "fake raft refuses");
    assert_int_equal(f->raft.step_downs, 1);
    assert_int_equal(f->raft.how, NODE_EXEC_STOP);
    assert_false(node_exec_is_open(f->ex));
    assert_int_equal(cs_kv_last_seqno(node_replica_kv(f->r)), 0);
    assert_int_equal(cs_merkle_size(node_replica_tree(f->r)), 0);
    assert_int_equal(node_exec_pending(f->ex), 0);
    run_loop(f);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d2.calls, 1);
    assert_int_equal(d1.rc, CONSORT_E_STATE);
    assert_int_equal(d2.rc, CONSORT_E_STATE);
    cst_fails(node_exec_open(f->ex, 2), CONSORT_E_STATE);
    /* the seqnos are used again in the next term, once consensus takes them */
    f->raft.submit_rc = CONSORT_OK;
    cst_ok(node_exec_open(f->ex, 3));
    done_rec d3 = {0};
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p1, done_cb, &d3));
    run_loop(f);
    assert_true(commit_submitted(f, 0));
    run_loop(f);
    assert_int_equal(d3.calls, 1);
    assert_int_equal(d3.rc, CONSORT_OK);
    assert_int_equal(d3.txid.seqno, 1);
}

/* Group commit: the writes of one loop turn reach consensus in one
 * request, in seqno order; a write after that turn goes in the next one.
 * Leadership lost before the end of the turn: nothing is submitted. */
static void one_request_per_loop_turn(void **state)
{
    fixture *f = *state;
    done_rec d[5] = {{0}};
    put_req p[5];
    char keys[5][4];
    for (int i = 0; i < 5; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        p[i] = (put_req){.key = keys[i], .value = "v", .commit = true};
    }
    for (int i = 0; i < 4; i++)
        cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p[i], done_cb, &d[i]));
    assert_int_equal(f->raft.batches, 0);
    run_loop(f);
    assert_int_equal(f->raft.batches, 1);
    assert_int_equal(f->raft.count, 4);
    for (size_t i = 0; i < 4; i++) {
        cs_ledger_entry e;
        cst_ok(cs_ledger_entry_decode(cs_buf_slice(&f->raft.entries[i]), &e));
        assert_int_equal(e.seqno, i + 1);
    }
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p[4], done_cb, &d[4]));
    run_loop(f);
    assert_int_equal(f->raft.batches, 2);
    assert_int_equal(f->raft.count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_true(commit_submitted(f, i));
    run_loop(f);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].rc, CONSORT_OK);
    }
    node_exec_stats st = node_exec_get_stats(f->ex);
    assert_int_equal(st.batches_submitted, 2);
    assert_int_equal(st.entries_submitted, 5);

    done_rec late = {0};
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p[0], done_cb, &late));
    node_exec_close(f->ex, CONSORT_E_STATE, "leadership lost");
    run_loop(f);
    assert_int_equal(f->raft.batches, 2); /* never submitted */
    assert_int_equal(late.calls, 1);
    assert_int_equal(late.rc, CONSORT_E_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(write_completes_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(nothing_to_replicate_completes_later, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_raft_write_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(each_completion_names_its_own_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_of_another_term_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(short_of_disk_hands_over, setup, teardown),
        cmocka_unit_test_setup_teardown(short_of_disk_hands_over_every_term, setup, teardown),
        cmocka_unit_test_setup_teardown(short_of_disk_asks_again, setup, teardown),
        cmocka_unit_test_setup_teardown(short_of_disk_asks_again_without_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_submit_fails_the_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(one_request_per_loop_turn, setup, teardown),
        cmocka_unit_test(raft_segments_fit_in_the_margin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
