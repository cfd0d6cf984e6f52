/*
 * When the executor signs (exec.h NODE_EXEC_SIG_RIDE_MAX, docs/ledger.md
 * 4.1), against the fake consensus of exec_fixture.h: an idle leader signs
 * sig_interval_ms after its first unsigned entry; a signature that falls
 * due with a few entries in flight rides with the next write in the same
 * request, waits at most for the drain's grace or another interval, and
 * with a deep pipeline is made at once.
 */
#include "exec_fixture.h"

#include <unistd.h>

/* The kind of the i-th submitted entry. */
static cs_ledger_kind submitted_kind(fixture *f, size_t i)
{
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&f->raft.entries[i]), &e));
    return e.kind;
}

/* Lets `ms` milliseconds pass, then runs what fell due. */
static void pass_ms(fixture *f, unsigned ms)
{
    usleep(ms * 1000u);
    run_loop(f);
}

#define SIG_MS 100

/* The executor again, signing every SIG_MS ms (and after 1000 entries). */
static void exec_restart_signing(fixture *f)
{
    node_exec_free(f->ex);
    run_loop(f);
    exec_start_signing(f, 0, SIG_MS);
}

/* A write, handed to consensus at the end of the loop turn. */
static void write_submitted(fixture *f, put_req *p, done_rec *d)
{
    cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, p, done_cb, d));
    run_loop(f);
}

/* A leader with nothing in flight signs sig_interval_ms after its first
 * unsigned entry, in a request of its own. */
static void an_idle_leader_signs_after_the_interval(void **state)
{
    fixture *f = *state;
    exec_restart_signing(f);
    put_req p = {.key = "a", .value = "1", .commit = true};
    done_rec d = {0};
    write_submitted(f, &p, &d);
    assert_true(commit_submitted(f, 0));
    run_loop(f);
    assert_int_equal(f->raft.batches, 1);
    pass_ms(f, SIG_MS + 20);
    assert_int_equal(f->raft.batches, 2);
    assert_int_equal(f->raft.count, 2);
    assert_int_equal(submitted_kind(f, 1), CS_LEDGER_KIND_SIGNATURE);
    assert_int_equal(node_exec_get_stats(f->ex).signatures_made, 1);
}

/* A signature that falls due while writes are in flight is not a raft
 * write (and an fsync on every node) of its own that the next write
 * queues behind: it goes to consensus right after the next write, in the
 * same request. */
static void a_due_signature_rides_with_the_next_write(void **state)
{
    fixture *f = *state;
    exec_restart_signing(f);
    put_req p1 = {.key = "a", .value = "1", .commit = true};
    put_req p2 = {.key = "b", .value = "2", .commit = true};
    done_rec d1 = {0}, d2 = {0};
    write_submitted(f, &p1, &d1);
    assert_int_equal(f->raft.batches, 1);
    pass_ms(f, SIG_MS + 20); /* due, with the write in flight */
    assert_int_equal(f->raft.batches, 1);
    assert_int_equal(node_exec_get_stats(f->ex).signatures_made, 0);
    assert_int_equal(node_exec_get_stats(f->ex).signatures_deferred, 1);

    write_submitted(f, &p2, &d2);
    assert_int_equal(f->raft.batches, 2);
    assert_int_equal(f->raft.count, 3);
    assert_int_equal(submitted_kind(f, 1), CS_LEDGER_KIND_TX);
    assert_int_equal(submitted_kind(f, 2), CS_LEDGER_KIND_SIGNATURE);
    assert_int_equal(node_exec_get_stats(f->ex).signatures_made, 1);
    for (size_t i = 0; i < 3; i++)
        assert_true(commit_submitted(f, i));
    run_loop(f);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d2.calls, 1);
    pass_ms(f, SIG_MS + 20); /* everything signed: nothing more */
    assert_int_equal(f->raft.batches, 2);
}

/* With more than NODE_EXEC_SIG_RIDE_MAX entries in flight (many clients
 * waiting), a due signature does not wait for their next writes: it goes
 * to consensus at once, alone, and its write overlaps their turnaround. */
static void a_due_signature_with_a_deep_pipeline_is_made_at_once(void **state)
{
    fixture *f = *state;
    exec_restart_signing(f);
    enum { N = NODE_EXEC_SIG_RIDE_MAX + 1 };
    put_req p[N];
    char keys[N][8];
    done_rec *d = calloc(N, sizeof *d); /* completions may outlive a failed assertion */
    assert_non_null(d);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        p[i] = (put_req){.key = keys[i], .value = "v", .commit = true};
        cst_ok(node_exec_write(f->ex, CS_LEDGER_KIND_TX, put_fn, &p[i], done_cb, &d[i]));
    }
    run_loop(f);
    assert_int_equal(f->raft.batches, 1);
    assert_int_equal(node_exec_pending(f->ex), N);
    pass_ms(f, SIG_MS + 20);
    assert_int_equal(f->raft.batches, 2);
    assert_int_equal(f->raft.count, N + 1);
    assert_int_equal(submitted_kind(f, N), CS_LEDGER_KIND_SIGNATURE);
    assert_int_equal(node_exec_get_stats(f->ex).signatures_deferred, 0);
    for (size_t i = 0; i <= N; i++)
        assert_true(commit_submitted(f, i));
    run_loop(f);
    for (int i = 0; i < N; i++)
        assert_int_equal(d[i].calls, 1);
    free(d);
}

/* A due signature waits for a write to ride with only as long as writes
 * are in flight (and a short grace after they commit: the next one of a
 * serial client is on its way), and never more than another interval. */
static void a_due_signature_waits_at_most_for_the_drain(void **state)
{
    fixture *f = *state;
    exec_restart_signing(f);
    put_req p = {.key = "a", .value = "1", .commit = true};
    done_rec d = {0};
    write_submitted(f, &p, &d);
    pass_ms(f, SIG_MS + 20);
    assert_int_equal(f->raft.batches, 1);
    assert_true(commit_submitted(f, 0)); /* drained, no write comes */
    pass_ms(f, NODE_EXEC_SIG_GRACE_MS + 10);
    assert_int_equal(f->raft.batches, 2);
    assert_int_equal(submitted_kind(f, 1), CS_LEDGER_KIND_SIGNATURE);
    assert_true(commit_submitted(f, 1));
    run_loop(f);

    /* in flight and never committed: signed alone one interval later */
    put_req q = {.key = "b", .value = "2", .commit = true};
    done_rec e = {0};
    write_submitted(f, &q, &e);
    assert_int_equal(f->raft.batches, 3);
    pass_ms(f, SIG_MS + 20);
    assert_int_equal(f->raft.batches, 3);
    pass_ms(f, SIG_MS + 20);
    assert_int_equal(f->raft.batches, 4);
    assert_int_equal(submitted_kind(f, 3), CS_LEDGER_KIND_SIGNATURE);
    assert_int_equal(node_exec_get_stats(f->ex).signatures_made, 2);
    node_exec_close(f->ex, CONSORT_E_STATE, "leadership lost"); /* `e` is on this stack */
    run_loop(f);
    assert_int_equal(e.calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_idle_leader_signs_after_the_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(a_due_signature_rides_with_the_next_write, setup, teardown),
        cmocka_unit_test_setup_teardown(a_due_signature_waits_at_most_for_the_drain, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_due_signature_with_a_deep_pipeline_is_made_at_once, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
