/*
 * A server whose raft stopped itself is reported (consensus.h on_failed).
 *
 * libraft 0.15 turns a failure to persist its term or vote (raft_io
 * set_term / set_vote: the metadata files of raft_uv) into the UNAVAILABLE
 * state (recv.c recvCb, tick.c tickCb): from then on the server drops every
 * message and never campaigns, and nothing is said. The chaos run of seed
 * 1451262221 met it: a follower restarted on a disk still full failed to
 * write metadata2 when the next leader's term reached it, and stayed behind
 * for minutes, serving its old state, while the others committed 35,000
 * entries.
 *
 * The full disk is made deterministic: the follower's metadata files are
 * replaced by links to /dev/full once it runs (raft_uv reads them at start
 * only), so its next term change fails with ENOSPC like the CI run's.
 *
 * And the leader's side (consensus.h CS_RAFT_STALL_WARN_MS): a follower
 * that stores nothing new is logged by the leader, with what it knows.
 */
#include "raft_failures.h"

#include "consensus/consensus_priv.h"

#include <unistd.h>

static cl_cluster *cl_new(unsigned n)
{
    cl_cluster *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    cl_init(cl, n);
    cl->pre_vote = true; /* as consortd runs it */
    cl->on_failed = on_failed;
    memset(&seen, 0, sizeof seen);
    return cl;
}

static void cl_free(cl_cluster *cl)
{
    cl_cleanup(cl);
    free(cl);
}

/* The next write of raft_uv's term and vote in node i fails: no space. */
static void fill_metadata_disk(cl_cluster *cl, unsigned i)
{
    static const char *const names[] = {"metadata1", "metadata2"};
    for (size_t k = 0; k < 2; k++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", cl->nodes[i].dir, names[k]);
        (void)unlink(path);
        assert_int_equal(symlink("/dev/full", path), 0);
    }
}

static void term_not_persisted_fails_the_server(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(3);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    unsigned f = ((unsigned)l + 1) % 3;
    fill_metadata_disk(cl, f);

    /* The leader goes: the next election's term reaches f (as a candidate
     * itself, or in the other's RequestVote), whose raft cannot persist it. */
    cl_stop(cl, (unsigned)l);
    assert_true(cl_run_until(cl, 8000, failure_told, &f));
    assert_int_equal(seen.calls[f], 1);
    assert_int_equal(seen.err, CONSORT_E_IO);
    /* what failed, with libraft's own words */
    assert_non_null(strstr(seen.msg, "metadata"));
    assert_non_null(strstr(seen.msg, "no space left on device"));
    assert_int_equal(cs_consensus_state(cl->nodes[f].c), CS_RAFT_UNAVAILABLE);

    /* told once, and a close after it is no second failure */
    cl_run_for(cl, 300);
    cl_stop(cl, f);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(seen.calls[i], i == f ? 1 : 0);
    cl_free(cl);
}

static void close_is_no_failure(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(3);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    cl_stop(cl, (unsigned)l);
    assert_true(cl_wait_leader(cl, 8000, 1u << l) >= 0);
    cl_free(cl);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(seen.calls[i], 0);
}

/* A follower the leader cannot reach is logged by the leader, with what it
 * knows, once its match index has not moved for stall_warn_ms while the
 * leader's log has more (consensus.h CS_RAFT_STALL_WARN_MS); its progress
 * shows the stall, and healing ends it. */
typedef struct stall_wait {
    unsigned leader;
    uint64_t id;
    uint64_t at_least_ms; /* 0: wait for no stall and the follower caught up */
} stall_wait;

static bool stall_is(cl_cluster *cl, void *arg)
{
    const stall_wait *w = arg;
    cs_raft_peer_status st[CL_MAX_NODES];
    size_t n = 0;
    if (cs_consensus_progress(cl->nodes[w->leader].c, st, CL_MAX_NODES, &n) != CONSORT_OK)
        return false;
    for (size_t i = 0; i < n; i++)
        if (st[i].id == w->id) {
            if (w->at_least_ms == 0)
                return st[i].stalled_ms == 0 &&
                       st[i].match_index == cs_consensus_last_index(cl->nodes[w->leader].c);
            return st[i].stalled_ms >= w->at_least_ms && !st[i].recent &&
                   strcmp(st[i].mode, "probe") == 0 && st[i].role == CS_RAFT_VOTER;
        }
    return false;
}

static bool log_has_stall(cl_cluster *cl, void *arg)
{
    (void)cl;
    return strstr(cst_log_captured(), (const char *)arg) != NULL;
}

static void leader_reports_stalled_follower(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(3);
    cl->stall_warn_ms = 400;
    cl->election_timeout_ms = 1000; /* one leader throughout (pre-vote keeps it) */
    cl->heartbeat_timeout_ms = 50;
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    unsigned f = ((unsigned)l + 1) % 3;
    size_t n = 0;
    cs_raft_peer_status st[CL_MAX_NODES];
    cst_fails(cs_consensus_progress(cl->nodes[f].c, st, CL_MAX_NODES, &n), CONSORT_E_STATE);

    cst_log_capture_start();
    cs_loopnet_partition(cl->net, cl->nodes[l].id, cl->nodes[f].id, true);
    cl_tally t = {0};
    for (uint64_t v = 1; v <= 5; v++)
        cst_ok(cl_submit(cl, (unsigned)l, v, 32, &t));
    stall_wait w = {.leader = (unsigned)l, .id = cl->nodes[f].id, .at_least_ms = 400};
    assert_true(cl_run_until(cl, 5000, stall_is, &w));
    char want[64];
    snprintf(want, sizeof want, "follower %llu has stored nothing new for",
             (unsigned long long)cl->nodes[f].id);
    assert_true(cl_run_until(cl, 2000, log_has_stall, want));
    const char *line = strstr(cst_log_captured(), want);
    assert_non_null(strstr(line, "progress probe, heard from it recently: no"));
    assert_non_null(strstr(line, "connections to it:"));
    cst_log_capture_stop();

    cs_loopnet_partition(cl->net, cl->nodes[l].id, cl->nodes[f].id, false);
    w.at_least_ms = 0;
    assert_true(cl_run_until(cl, 5000, stall_is, &w));
    assert_int_equal(cl_leader(cl), l);
    cl_free(cl);
}

/* A follower whose log writes do not complete (the chaos run's second
 * stall: a follower that answers the leader at a match index that never
 * moves): its appends are held back before raft_uv, then released. The
 * follower logs it, the leader sees it answer in pipeline mode with the
 * same match index, and the release ends both. */
typedef struct held_append {
    struct raft_io_append *req;
    const struct raft_entry *entries;
    unsigned n;
    raft_io_append_cb cb;
} held_append;

static struct {
    bool hold;
    size_t n;
    held_append q[256];
    int (*real)(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[],
                unsigned n, raft_io_append_cb cb);
} held;

static int holding_append(struct raft_io *io, struct raft_io_append *req,
                          const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    if (!held.hold)
        return held.real(io, req, entries, n, cb);
    assert_true(held.n < 256);
    held.q[held.n++] = (held_append){req, entries, n, cb};
    return 0;
}

/* A 3-server cluster (stall thresholds `warn_ms`, `fail_ms`) with a leader
 * *l whose follower *f (or, with `leader`, *l itself: *f == *l) has its
 * appends held back before raft_uv. */
static cl_cluster *holding_server(unsigned warn_ms, unsigned fail_ms, bool leader, int *l,
                                  unsigned *f)
{
    cl_cluster *cl = cl_new(3);
    cl->stall_warn_ms = warn_ms;
    cl->stall_fail_ms = fail_ms;
    cl->election_timeout_ms = 1000;
    cl->heartbeat_timeout_ms = 50;
    cl_start_all(cl);
    *l = cl_wait_leader(cl, 8000, 0);
    assert_true(*l >= 0);
    *f = leader ? (unsigned)*l : ((unsigned)*l + 1) % 3;
    struct raft_io *io = &cl->nodes[*f].c->io;
    memset(&held, 0, sizeof held);
    held.real = io->append;
    held.hold = true;
    io->append = holding_append;
    return cl;
}

/* Hands the held appends to raft_uv and stops holding. */
static void release_held(struct raft_io *io)
{
    held.hold = false;
    for (size_t i = 0; i < held.n; i++)
        assert_int_equal(held.real(io, held.q[i].req, held.q[i].entries, held.q[i].n, held.q[i].cb),
                         0);
    held.n = 0;
    io->append = held.real;
}

static void follower_whose_log_writes_hang(void **state)
{
    (void)state;
    int l;
    unsigned f;
    cl_cluster *cl = holding_server(400, 0, false, &l, &f);
    struct raft_io *io = &cl->nodes[f].c->io;

    cst_log_capture_start();
    cl_tally t = {0};
    for (uint64_t v = 1; v <= 5; v++)
        cst_ok(cl_submit(cl, (unsigned)l, v, 32, &t));
    char own[96], lead[96];
    snprintf(own, sizeof own, "raft %llu (follower in term", (unsigned long long)cl->nodes[f].id);
    snprintf(lead, sizeof lead, "follower %llu has stored nothing new for",
             (unsigned long long)cl->nodes[f].id);
    assert_true(cl_run_until(cl, 5000, log_has_stall, own));
    assert_true(cl_run_until(cl, 5000, log_has_stall, lead));
    assert_non_null(strstr(strstr(cst_log_captured(), own), "its log writes do not complete"));
    /* what the leader saw in the chaos run: it hears from the follower */
    assert_non_null(strstr(strstr(cst_log_captured(), lead), "heard from it recently: yes"));
    cst_log_capture_stop();
    assert_true(held.n > 0);

    release_held(io);
    stall_wait w = {.leader = (unsigned)l, .id = cl->nodes[f].id, .at_least_ms = 0};
    assert_true(cl_run_until(cl, 5000, stall_is, &w));
    const uint64_t five = 5;
    assert_true(cl_run_until(cl, 5000, cl_all_applied, (void *)&five));
    cl_free(cl);
}

/* Appends that never complete fail the follower once they have not for
 * stall_fail_ms (so that a restart reloads its log); the others go on. */
static void follower_whose_log_writes_never_complete_fails(void **state)
{
    (void)state;
    int l;
    unsigned f;
    cl_cluster *cl = holding_server(300, 1500, false, &l, &f);
    cl_tally t = {0};
    for (uint64_t v = 1; v <= 3; v++)
        cst_ok(cl_submit(cl, (unsigned)l, v, 32, &t));
    assert_true(cl_run_until(cl, 8000, failure_told, &f));
    assert_int_equal(seen.err, CONSORT_E_IO);
    assert_non_null(strstr(seen.msg, "log writes have not completed"));
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(seen.calls[i], i == f ? 1 : 0);
    /* told once */
    cl_run_for(cl, 500);
    assert_int_equal(seen.calls[f], 1);
    release_held(&cl->nodes[f].c->io);
    cl_free(cl);
}

/* The same of a leader (the failure the chaos run of seed 1108279417 ended
 * in: a leader that stored nothing of its own term): its own writes not
 * completing for stall_fail_ms fail it, while the followers, a majority,
 * commit without it; closed, a new leader takes over. */
static void leader_whose_log_writes_never_complete_fails(void **state)
{
    (void)state;
    int l;
    unsigned f;
    cl_cluster *cl = holding_server(300, 1500, true, &l, &f);
    cst_log_capture_start();
    cl_tally t = {0};
    for (uint64_t v = 1; v <= 3; v++)
        cst_ok(cl_submit(cl, (unsigned)l, v, 32, &t));
    assert_true(cl_run_until(cl, 8000, failure_told, &f));
    char own[96];
    snprintf(own, sizeof own, "raft %llu (leader in term", (unsigned long long)cl->nodes[f].id);
    assert_non_null(strstr(cst_log_captured(), own));
    cst_log_capture_stop();
    assert_int_equal(seen.err, CONSORT_E_IO);
    assert_non_null(strstr(seen.msg, "log writes have not completed"));
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(seen.calls[i], i == f ? 1 : 0);
    /* closed at once: the released writes are still queued in raft_uv,
     * which cancels them (consensus_append.c io_append_done) */
    release_held(&cl->nodes[f].c->io);
    cl_stop(cl, f);
    assert_true(cl_wait_leader(cl, 8000, 1u << f) >= 0);
    cl_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(term_not_persisted_fails_the_server),
        cmocka_unit_test(close_is_no_failure),
        cmocka_unit_test(leader_reports_stalled_follower),
        cmocka_unit_test(follower_whose_log_writes_hang),
        cmocka_unit_test(follower_whose_log_writes_never_complete_fails),
        cmocka_unit_test(leader_whose_log_writes_never_complete_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
