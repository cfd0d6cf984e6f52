/*
 * A follower answers its leader before it applies (fsm.h,
 * cs_fsm_adapter_set_answer_first): real libraft servers on one loop
 * (raft_cluster.h) written to one value at a time, as by a serial client,
 * whose next write waits for the one before. libraft applies the entries a
 * follower learns are committed before it sends its answer to the append
 * that told it; the adapter keeps them and applies them once that answer
 * has left the transport.
 */
#include "fsm_async_util.h"

typedef struct watch {
    cl_node *node;
    unsigned applied;     /* entries the FSM applied */
    unsigned after_raft;  /* ... that raft already counted applied (it had answered) */
    unsigned raft_unread; /* ... while raft's output still waited in the transport */
} watch;

static void on_apply(cl_fsm *f, const cs_fsm_entry *e)
{
    watch *w = f->on_apply_ctx;
    w->applied++;
    if (cs_consensus_last_applied(w->node->c) >= e->index)
        w->after_raft++;
    cs_raft_transport_stats st;
    cs_raft_transport_stats_get(cs_consensus_transport(w->node->c), &st);
    if (st.raft_unread > 0)
        w->raft_unread++;
}

/* Three servers that keep one leader throughout: a leader sends no
 * heartbeat to a follower it is sending entries to, so between writes
 * a follower's only output is its answers. */
static cl_cluster *cluster(bool async)
{
    cl_cluster *cl = cl_new(3);
    cl->election_timeout_ms = 2000;
    cl->heartbeat_timeout_ms = 500;
    cl->async_snapshots = async;
    return cl;
}

/* Writes values first..last through node l, each once the one before is
 * applied there (a leader's own entries kept during its asynchronous
 * snapshot complete with a NULL result: tolerant_cb). */
static void write_serially(cl_cluster *cl, unsigned l, uint64_t first, uint64_t last)
{
    uint8_t buf[8];
    for (uint64_t v = first; v <= last; v++) {
        for (int k = 0; k < 8; k++)
            buf[k] = (uint8_t)(v >> (56 - 8 * k)); /* as cl_submit encodes it */
        async_tally t = {0};
        cst_ok(cs_consensus_submit(cl->nodes[l].c, CS_SLICE(buf, sizeof buf), tolerant_cb, &t));
        want_arg a = {&t, 1};
        assert_true(cl_run_until(cl, 10000, tally_reached, &a));
        assert_int_equal(t.ok, 1);
    }
}

static void a_follower_answers_before_it_applies(void **state)
{
    (void)state;
    cl_cluster *cl = cluster(false);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    watch w[3] = {0};
    for (unsigned i = 0; i < 3; i++) {
        w[i].node = &cl->nodes[i];
        cl->nodes[i].fsm.on_apply = on_apply;
        cl->nodes[i].fsm.on_apply_ctx = &w[i];
    }
    write_serially(cl, (unsigned)l, 1, 30);
    uint64_t want = 30;
    assert_true(cl_run_until(cl, 10000, cl_all_applied, &want));
    for (unsigned i = 0; i < 3; i++) {
        cl_assert_same_history(&cl->nodes[i].fsm, &cl->nodes[l].fsm);
        assert_int_equal(w[i].applied, 30);
        if ((int)i == l) {
            assert_int_equal(w[i].after_raft, 0); /* a leader applies at once */
            continue;
        }
        assert_int_equal(w[i].after_raft, 30);
        assert_int_equal(w[i].raft_unread, 0);
    }
    cl_free(cl);
}

/* Raft takes a snapshot right after it applied, when a follower still
 * keeps entries for its answer: the snapshot holds them (a follower
 * restarted from its own snapshot has every entry), and snapshots are not
 * refused for them (an asynchronous snapshot is refused while entries
 * kept during the one before are applied). */
static void snapshots_hold_the_kept_entries(bool async)
{
    cl_cluster *cl = cluster(async);
    cl->snapshot_threshold = 8;
    cl->snapshot_trailing = 4;
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    write_serially(cl, (unsigned)l, 1, 40);
    uint64_t want = 40;
    assert_true(cl_run_until(cl, 10000, cl_all_applied, &want));
    unsigned f = ((unsigned)l + 1) % 3;
    const cl_fsm *ff = &cl->nodes[f].fsm;
    unsigned stored = async ? ff->snapshot_ends - ff->snapshots_not_stored : ff->snapshots_taken;
    assert_true(stored >=
                (async ? 1u : 2u)); /* a follower takes a snapshot while it keeps entries */
    cl_stop(cl, f);
    cl_start(cl, f, false);
    assert_true(cl_run_until(cl, 10000, cl_all_applied, &want));
    assert_int_equal(cl->nodes[f].fsm.restores, 1);
    cl_assert_same_history(&cl->nodes[f].fsm, &cl->nodes[l].fsm);
    cl_free(cl);
}

static void snapshots_hold_the_kept_entries_sync(void **state)
{
    (void)state;
    snapshots_hold_the_kept_entries(false);
}

static void snapshots_hold_the_kept_entries_async(void **state)
{
    (void)state;
    snapshots_hold_the_kept_entries(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_follower_answers_before_it_applies),
        cmocka_unit_test(snapshots_hold_the_kept_entries_sync),
        cmocka_unit_test(snapshots_hold_the_kept_entries_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
