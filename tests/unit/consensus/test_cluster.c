/*
 * Real libraft servers (uv I/O on real files) talking through the stream
 * transport on one loop: elections, replication order, leader failure and
 * restart from the data directory.
 */
#include "raft_cluster.h"

static cl_cluster *cl_new(unsigned n)
{
    cl_cluster *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    cl_init(cl, n);
    return cl;
}

/* For tests that submit through the one leader they found and require it
 * to stay leader: all servers share one loop, and on a loaded 2-core
 * machine the process can be descheduled for longer than the default
 * 150 ms election timeout, which elects again ("not the leader" under
 * TSan and load). */
static cl_cluster *cl_new_steady(unsigned n)
{
    cl_cluster *cl = cl_new(n);
    cl->election_timeout_ms = 2000;
    cl->heartbeat_timeout_ms = 50;
    return cl;
}

static void cl_free(cl_cluster *cl)
{
    cl_cleanup(cl);
    free(cl);
}

static void elect_and_agree(unsigned n)
{
    cl_cluster *cl = cl_new(n);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    /* Exactly one leader; every follower names it and shares its term. */
    unsigned leaders = 0;
    for (unsigned i = 0; i < n; i++) {
        cs_consensus *c = cl->nodes[i].c;
        if (cs_consensus_state(c) == CS_RAFT_LEADER)
            leaders++;
        else
            assert_int_equal(cs_consensus_state(c), CS_RAFT_FOLLOWER);
        const char *addr = NULL;
        assert_int_equal(cs_consensus_leader(c, &addr), cl->nodes[l].id);
        assert_string_equal(addr, cl->nodes[l].address);
        assert_int_equal(cs_consensus_term(c), cs_consensus_term(cl->nodes[l].c));
    }
    assert_int_equal(leaders, 1);
    cs_raft_member m[CL_MAX_NODES];
    size_t count = 0;
    cst_ok(cs_consensus_members(cl->nodes[l].c, m, CL_MAX_NODES, &count));
    assert_int_equal(count, n);
    for (size_t k = 0; k < count; k++)
        assert_int_equal(m[k].role, CS_RAFT_VOTER);
    cst_fails(cs_consensus_members(cl->nodes[l].c, m, 1, &count), CONSORT_E_TOO_LARGE);
    cl_free(cl);
}

static void elects_one_leader_of_3(void **state)
{
    (void)state;
    elect_and_agree(3);
}

static void elects_one_leader_of_5(void **state)
{
    (void)state;
    elect_and_agree(5);
}

/* Submits values first..last on node l, at most `window` in flight, and waits
 * for every completion. */
static void submit_range(cl_cluster *cl, unsigned l, uint64_t first, uint64_t last, unsigned window,
                         size_t len)
{
    cl_tally t = {0};
    uint64_t next = first;
    while (t.ok + t.failed < last - first + 1) {
        while (next <= last && next - first - (t.ok + t.failed) < window)
            cst_ok(cl_submit(cl, l, next++, len, &t));
        cl_count_arg a = {&t, (unsigned)(next - first)};
        assert_true(cl_run_until(cl, 10000, cl_tally_done, &a));
    }
    assert_int_equal(t.failed, 0);
    assert_int_equal(t.ok, last - first + 1);
}

/* cs_consensus_submit_batch: the entries of one batch get consecutive
 * indexes in submission order on every node; the callback fires once, with
 * the first entry's index; bad batches are refused whole. */
static void batch_replicates_in_order(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new_steady(3);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    uint8_t bufs[5][16];
    cs_slice entries[5];
    for (int i = 0; i < 5; i++) {
        memset(bufs[i], 0, sizeof bufs[i]);
        bufs[i][7] = (uint8_t)(i + 1); /* value i + 1, as cl_submit encodes it */
        entries[i] = CS_SLICE(bufs[i], sizeof bufs[i]);
    }
    cl_tally t = {0};
    cl_tally none = {0};
    cs_slice with_empty[2] = {entries[0], CS_SLICE_EMPTY};
    cst_fails(cs_consensus_submit_batch(cl->nodes[l].c, with_empty, 2, cl_applied_cb, &none),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_consensus_submit_batch(cl->nodes[l].c, entries, 0, cl_applied_cb, &none),
              CONSORT_E_INVALID_ARGUMENT);
    unsigned f = ((unsigned)l + 1) % 3;
    cst_fails(cs_consensus_submit_batch(cl->nodes[f].c, entries, 5, cl_applied_cb, &none),
              CONSORT_E_STATE);
    cst_ok(cs_consensus_submit_batch(cl->nodes[l].c, entries, 5, cl_applied_cb, &t));
    const uint64_t n = 5;
    assert_true(cl_run_until(cl, 10000, cl_all_applied, (void *)&n));
    cl_run_for(cl, 100);
    assert_int_equal(t.ok, 1); /* once for the batch */
    assert_int_equal(t.failed, 0);
    assert_int_equal(none.ok + none.failed, 0);
    for (unsigned i = 0; i < 3; i++) {
        cl_fsm *fsm = &cl->nodes[i].fsm;
        assert_int_equal(fsm->n, n);
        for (uint64_t k = 0; k < n; k++) {
            assert_int_equal(fsm->value[k], k + 1);
            if (k > 0)
                assert_int_equal(fsm->index[k], fsm->index[k - 1] + 1);
        }
    }
    assert_int_equal(t.last_index, cl->nodes[l].fsm.index[0]);
    cl_free(cl);
}

static void replicates_entries_in_order(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new_steady(3);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    uint64_t term = cs_consensus_term(cl->nodes[l].c);

    /* A follower refuses submissions and names the leader. */
    unsigned f = ((unsigned)l + 1) % 3;
    cl_tally none = {0};
    cst_fails(cl_submit(cl, f, 1, 8, &none), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "not the leader"));
    assert_non_null(strstr(consort_errmsg(), cl->nodes[l].address));
    /* Empty entries are refused. */
    cst_fails(cs_consensus_submit(cl->nodes[l].c, CS_SLICE_EMPTY, cl_applied_cb, &none),
              CONSORT_E_INVALID_ARGUMENT);

    const uint64_t n = 600;
    submit_range(cl, (unsigned)l, 1, n, 128, 128);
    assert_true(cl_run_until(cl, 10000, cl_all_applied, (void *)&n));
    for (unsigned i = 0; i < 3; i++) {
        cl_fsm *fsm = &cl->nodes[i].fsm;
        assert_int_equal(fsm->n, n);
        for (uint64_t k = 0; k < n; k++) {
            assert_int_equal(fsm->value[k], k + 1); /* submission order */
            assert_int_equal(fsm->term[k], term);
        }
        cl_assert_same_history(fsm, &cl->nodes[l].fsm);
        assert_int_equal(cs_consensus_fsm_applied(cl->nodes[i].c), n);
        assert_int_equal(cs_consensus_fsm_error(cl->nodes[i].c), CONSORT_OK);
    }
    assert_true(cs_consensus_commit_index(cl->nodes[l].c) >= cl->nodes[l].fsm.index[n - 1]);
    assert_int_equal(cs_consensus_last_applied(cl->nodes[l].c),
                     cs_consensus_commit_index(cl->nodes[l].c));
    assert_true(cs_consensus_last_index(cl->nodes[l].c) >= cl->nodes[l].fsm.index[n - 1]);

    /* The applied callback hands over this node's FSM result. */
    cl_tally bt = {0};
    cst_ok(cl_submit(cl, (unsigned)l, n + 1, 8, &bt));
    cl_count_arg a = {&bt, 1};
    assert_true(cl_run_until(cl, 5000, cl_tally_done, &a));
    assert_int_equal(bt.ok, 1);
    cl_free(cl);
}

static void barrier_cb(void *ctx, consort_err status, const char *msg)
{
    cst_cb_msg(status, msg);
    *(consort_err *)ctx = status;
}

static bool rc_set(cl_cluster *cl, void *arg)
{
    (void)cl;
    return *(consort_err *)arg != CONSORT_E__COUNT;
}

static void barrier_follows_entries(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new_steady(3);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    cl_tally t = {0};
    for (uint64_t v = 1; v <= 20; v++)
        cst_ok(cl_submit(cl, (unsigned)l, v, 16, &t));
    consort_err rc = CONSORT_E__COUNT;
    cst_ok(cs_consensus_barrier(cl->nodes[l].c, barrier_cb, &rc));
    assert_true(cl_run_until(cl, 5000, rc_set, &rc));
    cst_ok(rc);
    /* The barrier fired after all 20 entries were applied on the leader. */
    assert_int_equal(t.ok, 20);
    assert_int_equal(cl->nodes[l].fsm.n, 20);
    unsigned f = ((unsigned)l + 1) % 3;
    cst_fails(cs_consensus_barrier(cl->nodes[f].c, barrier_cb, &rc), CONSORT_E_STATE);
    cl_free(cl);
}

static void new_leader_after_leader_dies_and_old_one_catches_up(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(3);
    cl_start_all(cl);
    int l1 = cl_wait_leader(cl, 8000, 0);
    assert_true(l1 >= 0);
    uint64_t term1 = cs_consensus_term(cl->nodes[l1].c);
    submit_range(cl, (unsigned)l1, 1, 100, 32, 64);

    cl_stop(cl, (unsigned)l1);
    int l2 = cl_wait_leader(cl, 8000, 1u << l1);
    assert_true(l2 >= 0);
    assert_int_not_equal(l2, l1);
    uint64_t term2 = cs_consensus_term(cl->nodes[l2].c);
    assert_true(term2 > term1);
    submit_range(cl, (unsigned)l2, 101, 200, 32, 64);

    /* The old leader restarts from its data directory (no bootstrap) with a
     * fresh FSM: raft replays its own log and fetches the rest. */
    cl_start(cl, (unsigned)l1, false);
    const uint64_t n = 200;
    assert_true(cl_run_until(cl, 10000, cl_all_applied, (void *)&n));
    for (unsigned i = 0; i < 3; i++) {
        cl_fsm *fsm = &cl->nodes[i].fsm;
        assert_int_equal(fsm->n, n);
        for (uint64_t k = 0; k < n; k++) {
            assert_int_equal(fsm->value[k], k + 1);
            assert_int_equal(fsm->term[k], k < 100 ? term1 : term2);
        }
        cl_assert_same_history(fsm, &cl->nodes[l2].fsm);
    }
    /* It follows the new leader. */
    assert_int_equal(cs_consensus_leader(cl->nodes[l1].c, NULL), cl->nodes[l2].id);
    /* A restarted server cannot be bootstrapped again. */
    cl_stop(cl, (unsigned)l1);
    cs_consensus_opts o = {.loop = &cl->loop,
                           .id = cl->nodes[l1].id,
                           .address = cl->nodes[l1].address,
                           .data_dir = cl->nodes[l1].dir,
                           .fsm = cl_fsm_iface(&cl->nodes[l1].fsm, false)};
    cst_ok(cs_loopnet_connector(cl->net, o.id, &o.connector));
    cs_consensus *again = NULL;
    cst_ok(cs_consensus_new(&o, &again));
    cs_raft_member m = {o.id, o.address, CS_RAFT_VOTER};
    cst_fails(cs_consensus_bootstrap(again, &m, 1), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "already holds state"));
    cl->nodes[l1].c = again;
    cl_stop(cl, (unsigned)l1);
    cl_free(cl);
}

typedef struct state_log {
    unsigned calls;
    cs_raft_state last;
    uint64_t term;
} state_log;

static state_log g_states[CL_MAX_NODES];

static void record_state(void *ctx, cs_raft_state s, uint64_t term)
{
    cl_node *node = ctx;
    state_log *g = &g_states[node->id - 1];
    g->calls++;
    g->last = s;
    g->term = term;
}

static void single_node_reports_its_leadership(void **state)
{
    (void)state;
    memset(g_states, 0, sizeof g_states);
    cl_cluster *cl = cl_new(1);
    cl->on_state = record_state;
    /* A single-node cluster elects itself. */
    cl_start(cl, 0, true);
    int l = cl_wait_leader(cl, 5000, 0);
    assert_int_equal(l, 0);
    cl_run_for(cl, 20);
    assert_true(g_states[0].calls >= 1);
    assert_int_equal(g_states[0].last, CS_RAFT_LEADER);
    assert_int_equal(g_states[0].term, cs_consensus_term(cl->nodes[0].c));
    assert_string_equal(cs_raft_state_name(CS_RAFT_LEADER), "leader");
    submit_range(cl, 0, 1, 10, 4, 8);
    assert_int_equal(cl->nodes[0].fsm.n, 10);
    cl_free(cl);
}

/* Asynchronous failures carry their own message (STYLE.md rule 10): an
 * entry and a barrier submitted to a leader that is then cut off fail with a
 * message naming them, whatever the thread-local message holds. */
typedef struct done_rec {
    bool done;
    consort_err status;
    char msg[CS_ERRMSG_MAX];
} done_rec;

static void record_done(void *ctx, consort_err status, const char *msg)
{
    done_rec *d = ctx;
    cst_cb_msg(status, msg);
    d->done = true;
    d->status = status;
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    (void)cs_fail(CONSORT_E_IO, "decoy"); /* for whatever completes next */
}

static bool done_set(cl_cluster *cl, void *arg)
{
    (void)cl;
    return ((done_rec *)arg)->done;
}

static void failed_requests_carry_their_message(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(3);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    /* the leader is cut off: what it accepts now can never commit */
    cs_loopnet_isolate(cl->net, cl->nodes[l].id, true);
    cl_tally t = {0};
    cst_ok(cl_submit(cl, (unsigned)l, 7, 8, &t));
    done_rec b = {0};
    cst_ok(cs_consensus_barrier(cl->nodes[l].c, record_done, &b));
    cs_err_clear();
    (void)cs_fail(CONSORT_E_IO, "decoy");
    cl_count_arg a = {&t, 1};
    assert_true(cl_run_until(cl, 8000, cl_tally_done, &a));
    assert_true(cl_run_until(cl, 8000, done_set, &b));
    assert_int_equal(t.failed, 1);
    cst_fails(t.last_error, CONSORT_E_STATE);
    assert_null(strstr(t.last_msg, "decoy"));
    assert_non_null(strstr(t.last_msg, "entry "));
    assert_non_null(strstr(t.last_msg, "(raft "));
    cst_fails(b.status, CONSORT_E_STATE);
    assert_null(strstr(b.msg, "decoy"));
    assert_non_null(strstr(b.msg, "barrier "));
    cs_loopnet_isolate(cl->net, cl->nodes[l].id, false);
    assert_true(cl_wait_leader(cl, 8000, 0) >= 0);
    cl_free(cl);
}

/* libraft decodes AppendEntries batches as if every entry were padded to 8
 * bytes; consort's entry envelope (entry.h) makes that true. Entries of odd
 * sizes, replicated in batches to a follower that catches up, must arrive
 * byte for byte. */
static void odd_sized_entries_replicate_exactly(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new_steady(3);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    unsigned lag = ((unsigned)l + 1) % 3;
    cl_stop(cl, lag);
    cl_tally t = {0};
    for (uint64_t v = 1; v <= 120; v++)
        cst_ok(cl_submit(cl, (unsigned)l, v, 8 + (size_t)(v * 7 % 29), &t));
    cl_count_arg a = {&t, 120};
    assert_true(cl_run_until(cl, 8000, cl_tally_done, &a));
    assert_int_equal(t.ok, 120);
    cl_start(cl, lag, false);
    const uint64_t n = 120;
    assert_true(cl_run_until(cl, 8000, cl_all_applied, (void *)&n));
    for (unsigned i = 0; i < 3; i++)
        cl_assert_same_history(&cl->nodes[i].fsm, &cl->nodes[l].fsm);
    cl_free(cl);
}

static void change_cb(void *ctx, consort_err status, const char *msg)
{
    cst_cb_msg(status, msg);
    *(consort_err *)ctx = status;
}

/* Runs one membership call on the leader and waits for its callback. */
static void change_and_wait(cl_cluster *cl, consort_err submitted, consort_err *rc)
{
    cst_ok(submitted);
    assert_true(cl_run_until(cl, 10000, rc_set, rc));
    cst_ok(*rc);
    *rc = CONSORT_E__COUNT;
}

static void members_join_lead_and_leave(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(4);
    cl->bootstrap_n = 3;
    for (unsigned i = 0; i < 3; i++)
        cl_start(cl, i, true);
    cl_start(cl, 3, false); /* a joining server: no configuration yet */
    int l = cl_wait_leader(cl, 8000, 1u << 3);
    assert_true(l >= 0 && l < 3);
    cs_consensus *lc = cl->nodes[l].c;
    assert_int_equal(cs_consensus_leader(cl->nodes[3].c, NULL), 0);

    consort_err rc = CONSORT_E__COUNT;
    change_and_wait(cl, cs_consensus_add(lc, 4, "node-4", change_cb, &rc), &rc);
    cst_fails(cs_consensus_add(lc, 4, "node-4", change_cb, &rc), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_consensus_assign(lc, 4, (cs_raft_role)7, change_cb, &rc),
              CONSORT_E_INVALID_ARGUMENT);
    change_and_wait(cl, cs_consensus_assign(lc, 4, CS_RAFT_VOTER, change_cb, &rc), &rc);
    cs_raft_member m[CL_MAX_NODES];
    size_t count = 0;
    cst_ok(cs_consensus_members(lc, m, CL_MAX_NODES, &count));
    assert_int_equal(count, 4);
    assert_int_equal(m[3].id, 4);
    assert_string_equal(m[3].address, "node-4");
    assert_int_equal(m[3].role, CS_RAFT_VOTER);

    submit_range(cl, (unsigned)l, 1, 20, 8, 32);
    const uint64_t twenty = 20;
    assert_true(cl_run_until(cl, 8000, cl_all_applied, (void *)&twenty));
    cl_assert_same_history(&cl->nodes[3].fsm, &cl->nodes[l].fsm);

    /* Hand leadership to the newcomer, which then removes the old leader. */
    change_and_wait(cl, cs_consensus_transfer(lc, 4, change_cb, &rc), &rc);
    assert_true(cl_wait_leader(cl, 8000, 0) == 3);
    cs_consensus *nc = cl->nodes[3].c;
    cst_fails(cs_consensus_transfer(lc, 4, change_cb, &rc), CONSORT_E_STATE);
    change_and_wait(cl, cs_consensus_remove(nc, cl->nodes[l].id, change_cb, &rc), &rc);
    cst_ok(cs_consensus_members(nc, m, CL_MAX_NODES, &count));
    assert_int_equal(count, 3);
    for (size_t k = 0; k < count; k++)
        assert_int_not_equal(m[k].id, cl->nodes[l].id);
    submit_range(cl, 3, 21, 30, 8, 32);
    for (unsigned i = 0; i < 4; i++)
        if ((int)i != l)
            assert_true(cl->nodes[i].fsm.n >= 20);
    cl_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(elects_one_leader_of_3),
        cmocka_unit_test(elects_one_leader_of_5),
        cmocka_unit_test(replicates_entries_in_order),
        cmocka_unit_test(batch_replicates_in_order),
        cmocka_unit_test(barrier_follows_entries),
        cmocka_unit_test(new_leader_after_leader_dies_and_old_one_catches_up),
        cmocka_unit_test(single_node_reports_its_leadership),
        cmocka_unit_test(failed_requests_carry_their_message),
        cmocka_unit_test(members_join_lead_and_leave),
        cmocka_unit_test(odd_sized_entries_replicate_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
