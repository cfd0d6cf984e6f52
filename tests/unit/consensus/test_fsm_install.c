/*
 * Asynchronous snapshots (fsm.h, libraft fsm version 3) on libraft's
 * deterministic fixture (raft/fixture.h), where time is simulated and every
 * message, disk write and worker completion happens at a known instant:
 *
 *   - a snapshot that raft failed to store is not reported as taken
 *     (snapshot_end gets an error, raft's log is not compacted);
 *   - an InstallSnapshot that reaches a follower while it takes its own
 *     snapshot is dropped by libraft 0.15 (replicationInstallSnapshot: "If
 *     we are taking a snapshot ourselves ... ignore the request, the leader
 *     will eventually retry"), and the leader retries only after
 *     install_snapshot_timeout. The follower catches up within
 *     CS_RAFT_INSTALL_SNAPSHOT_TIMEOUT_MS (what cs_consensus sets), not
 *     libraft's 30 s default.
 */
#include "raft_cluster.h"

#include "consensus/consensus_priv.h"
#include "consensus/entry.h"

#include <raft/fixture.h>

#define MAX_N 3

/* The FSM end hook of cl_fsm, but recording every result instead of
 * asserting success. */
typedef struct rec_fsm {
    cl_fsm f; /* first: the job and ctx are &rec->f */
    unsigned ends_ok, ends_failed;
    consort_err last_rc;
} rec_fsm;

static void rec_end(void *ctx, void *job, consort_err rc)
{
    rec_fsm *r = ctx;
    assert_ptr_equal(job, &r->f);
    r->f.in_snapshot = false;
    r->f.snapshot_ends++;
    r->last_rc = rc;
    if (rc == CONSORT_OK)
        r->ends_ok++;
    else
        r->ends_failed++;
}

typedef struct fx {
    struct raft_fixture f;
    unsigned n;
    rec_fsm fsm[MAX_N];
    cs_fsm_adapter ad[MAX_N];
} fx;

/* n servers, those in the bit set `async` with asynchronous snapshots. */
static fx *fx_new(unsigned n, unsigned async)
{
    fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->n = n;
    assert_int_equal(raft_fixture_initialize(&x->f), 0);
    for (unsigned i = 0; i < n; i++) {
        bool a = (async & (1u << i)) != 0;
        cs_fsm iface = cl_fsm_iface(&x->fsm[i].f, a); /* ctx: &fsm[i].f == &fsm[i] */
        if (a)
            iface.snapshot_end = rec_end;
        cst_ok(cs_fsm_adapter_init(&x->ad[i], &iface, NULL));
        /* The fixture's I/O implements async_work but, like raft_uv_init in
         * libraft 0.15, leaves io->version at 0, which raft_init refuses
         * for fsm version 3 (consensus.c raises it the same way). */
        x->f.servers[i].io.version = 2;
        assert_int_equal(raft_fixture_grow(&x->f, &x->ad[i].raft_fsm), 0);
        cs_fsm_adapter_bind(&x->ad[i], raft_fixture_get(&x->f, i));
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(&x->f, n, &conf), 0);
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

static struct raft *srv(fx *x, unsigned i)
{
    return raft_fixture_get(&x->f, i);
}

/* Proposes value v on server i; returns the raft index it got. */
static uint64_t propose(fx *x, unsigned i, uint64_t v, struct raft_apply *req)
{
    uint8_t p[8];
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(v >> (56 - 8 * k));
    struct raft_buffer buf;
    cst_ok(cs_raft_entry_encode(CS_SLICE(p, sizeof p), &buf));
    assert_int_equal(raft_apply(srv(x, i), req, &buf, 1, NULL), 0);
    return req->index;
}

/* ---- a snapshot raft failed to store ---- */

/* raft_io->snapshot_put of the fixture, made to fail: either at once (the
 * call returns an error) or in its callback (as a full disk does in
 * raft_uv's UvSnapshotPut). One server at a time uses it. */
static struct {
    int (*real)(struct raft_io *, unsigned, struct raft_io_snapshot_put *,
                const struct raft_snapshot *, raft_io_snapshot_put_cb);
    raft_io_snapshot_put_cb real_cb;
    bool at_once;
    unsigned calls;
} g_put;

static void failing_put_cb(struct raft_io_snapshot_put *req, int status)
{
    (void)status;
    g_put.real_cb(req, RAFT_IOERR);
}

static int failing_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                       const struct raft_snapshot *s, raft_io_snapshot_put_cb cb)
{
    g_put.calls++;
    if (g_put.at_once)
        return RAFT_IOERR;
    g_put.real_cb = cb;
    return g_put.real(io, trailing, req, s, failing_put_cb);
}

static bool fsm_ended(struct raft_fixture *f, void *arg)
{
    (void)f;
    const rec_fsm *r = arg;
    return r->f.snapshot_ends > 0 && !r->f.in_snapshot;
}

static void store_failure(bool at_once)
{
    fx *x = fx_new(1, 1);
    struct raft *r = srv(x, 0);
    raft_set_snapshot_threshold(r, 4);
    raft_set_snapshot_trailing(r, 1);
    g_put.real = r->io->snapshot_put;
    g_put.at_once = at_once;
    g_put.calls = 0;
    r->io->snapshot_put = failing_put;
    assert_true(raft_fixture_step_until_state_is(&x->f, 0, RAFT_LEADER, 5000));

    struct raft_apply reqs[12];
    uint64_t last = 0;
    cst_log_capture_start();
    for (unsigned k = 0; k < 6; k++)
        last = propose(x, 0, k + 1, &reqs[k]);
    assert_true(raft_fixture_step_until_applied(&x->f, 0, last, 5000));
    rec_fsm *rf = &x->fsm[0];
    assert_true(raft_fixture_step_until(&x->f, fsm_ended, rf, 5000));
    /* The worker made the bytes, raft could not store them: not taken. */
    assert_true(g_put.calls >= 1);
    assert_true(rf->f.snapshots_taken >= 1);
    assert_int_equal(rf->ends_ok, 0);
    assert_int_equal(rf->ends_failed, rf->f.snapshot_ends);
    assert_int_equal(rf->last_rc, CONSORT_E_IO);
    assert_non_null(strstr(cst_log_captured(), "was made but not stored"));
    cst_log_capture_stop();
    assert_int_equal(r->log.snapshot.last_index, 0);
    assert_false(x->ad[0].deferring);

    /* Once the store works again, the next snapshot is reported taken. */
    r->io->snapshot_put = g_put.real;
    unsigned failed = rf->ends_failed;
    for (unsigned k = 6; k < 12; k++)
        last = propose(x, 0, k + 1, &reqs[k]);
    assert_true(raft_fixture_step_until_applied(&x->f, 0, last, 5000));
    rf->f.snapshot_ends = 0;
    assert_true(raft_fixture_step_until(&x->f, fsm_ended, rf, 5000));
    assert_int_equal(rf->ends_ok, 1);
    assert_int_equal(rf->ends_failed, failed);
    assert_true(r->log.snapshot.last_index > 0);
    assert_int_equal(rf->f.n, 12);
    fx_free(x);
}

static void failed_store_is_not_a_snapshot_taken(void **state)
{
    (void)state;
    store_failure(false);
}

static void refused_store_is_not_a_snapshot_taken(void **state)
{
    (void)state;
    store_failure(true);
}

/* ---- InstallSnapshot while the follower takes its own snapshot ---- */

/* What the hook saw: the first InstallSnapshot that reached server 2, and
 * whether server 2 was then taking its own snapshot. */
static struct {
    fx *x;
    unsigned seen;
    bool during_own_snapshot;
    raft_time first_at;
} g_install;

static void install_hook(struct raft_fixture *f, struct raft_fixture_event *event)
{
    (void)event;
    unsigned n = raft_fixture_n_recv(f, 2, RAFT_IO_INSTALL_SNAPSHOT);
    if (n > g_install.seen) {
        if (g_install.seen == 0) {
            g_install.first_at = raft_fixture_time(f);
            /* the follower's async snapshot: begun, its worker not done */
            g_install.during_own_snapshot = g_install.x->ad[2].snap_job != NULL;
        }
        g_install.seen = n;
    }
}

static bool in_own_snapshot(struct raft_fixture *f, void *arg)
{
    (void)f;
    (void)arg;
    return g_install.x->fsm[2].f.in_snapshot;
}

static bool leader_compacted_past(struct raft_fixture *f, void *arg)
{
    (void)f;
    const uint64_t *index = arg;
    return srv(g_install.x, 0)->log.snapshot.last_index >= *index;
}

/*
 * Returns the simulated time server 2 needed, after the first
 * InstallSnapshot reached it, to apply the leader's last entry, with
 * install_snapshot_timeout `timeout_ms` on the leader.
 */
static raft_time install_during_own_snapshot(unsigned timeout_ms)
{
    /* 0 and 1 snapshot synchronously (the leader compacts at once), 2 off
     * the loop: its worker takes the fixture's 200 ms (WORK_DURATION). */
    fx *x = fx_new(3, 1u << 2);
    g_install.x = x;
    g_install.seen = 0;
    g_install.during_own_snapshot = false;
    for (unsigned i = 0; i < 3; i++) {
        raft_set_snapshot_threshold(srv(x, i), 1000); /* none yet */
        raft_set_snapshot_trailing(srv(x, i), 0);
        raft_set_heartbeat_timeout(srv(x, i), 20);
    }
    raft_set_install_snapshot_timeout(srv(x, 0), timeout_ms);
    raft_fixture_elect(&x->f, 0);

    struct raft_apply reqs[40];
    unsigned k = 0;
    uint64_t last = 0;
    for (; k < 4; k++)
        last = propose(x, 0, k + 1, &reqs[k]);
    assert_true(raft_fixture_step_until_applied(&x->f, 3, last, 5000));

    /* 2 will snapshot when it applies the next batch; meanwhile the leader
     * compacts everything past what 2 stored: the AppendEntries carrying
     * the rest never reaches 2 (a lost message, as on a connection reset). */
    raft_set_snapshot_threshold(srv(x, 2), 4);
    uint64_t batch_end = 0;
    for (; k < 10; k++)
        batch_end = propose(x, 0, k + 1, &reqs[k]);
    /* 2 stores the batch, then learns it is committed (the next heartbeat)
     * and starts its own snapshot: at that instant, cut 0 -> 2. */
    assert_true(raft_fixture_step_until(&x->f, in_own_snapshot, NULL, 5000));
    assert_true(srv(x, 2)->last_applied >= batch_end);
    raft_fixture_saturate(&x->f, 0, 2);
    raft_set_snapshot_threshold(srv(x, 0), 1);
    for (; k < 14; k++)
        last = propose(x, 0, k + 1, &reqs[k]);
    assert_true(raft_fixture_step_until(&x->f, leader_compacted_past, &last, 5000));
    /* Writes go on after the leader's snapshot (with none, 2's refusal of a
     * heartbeat would name the snapshot's index, which makes libraft resend
     * at once: progressMaybeDecrement). */
    raft_set_snapshot_threshold(srv(x, 0), 1000);
    last = propose(x, 0, k + 1, &reqs[k]);
    k++;
    assert_true(raft_fixture_step_until_applied(&x->f, 0, last, 5000));
    assert_true(in_own_snapshot(&x->f, NULL));
    raft_fixture_desaturate(&x->f, 0, 2);

    /* The next heartbeat is refused (2 lacks the lost entries), the leader
     * finds them compacted and sends its snapshot, which reaches 2 while
     * its worker still runs. */
    raft_fixture_hook(&x->f, install_hook);
    assert_true(raft_fixture_step_until_applied(&x->f, 2, last, 60000));
    raft_time caught_up = raft_fixture_time(&x->f) - g_install.first_at;
    raft_fixture_hook(&x->f, NULL);
    assert_true(g_install.seen >= 2); /* the first one was dropped */
    assert_true(g_install.during_own_snapshot);
    assert_int_equal(x->fsm[2].ends_failed, 0);
    assert_true(x->fsm[2].ends_ok >= 1);
    assert_true(x->fsm[2].f.restores >= 1);
    cl_assert_same_history(&x->fsm[2].f, &x->fsm[0].f);
    fx_free(x);
    return caught_up;
}

static void install_snapshot_during_async_snapshot(void **state)
{
    (void)state;
    /* libraft's default (30 s; the fixture sets the same): the follower
     * stays behind for the whole of it. */
    raft_time slow = install_during_own_snapshot(30000);
    assert_true(slow >= 29000);
    /* What cs_consensus sets: it is back within one timeout and a few
     * heartbeats. */
    raft_time fast = install_during_own_snapshot(CS_RAFT_INSTALL_SNAPSHOT_TIMEOUT_MS);
    assert_true(fast <= CS_RAFT_INSTALL_SNAPSHOT_TIMEOUT_MS + 500);
}

/* cs_consensus sets that timeout on its raft instance (and takes an
 * explicit one). */
static void consensus_sets_install_snapshot_timeout(void **state)
{
    (void)state;
    cl_cluster *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    cl_init(cl, 1);
    cl_start_all(cl);
    assert_int_equal(cl->nodes[0].c->raft.install_snapshot_timeout,
                     CS_RAFT_INSTALL_SNAPSHOT_TIMEOUT_MS);
    cl_cleanup(cl);
    free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failed_store_is_not_a_snapshot_taken),
        cmocka_unit_test(refused_store_is_not_a_snapshot_taken),
        cmocka_unit_test(install_snapshot_during_async_snapshot),
        cmocka_unit_test(consensus_sets_install_snapshot_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
