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
 */
#include "raft_cluster.h"

#include <unistd.h>

typedef struct failure_seen {
    unsigned calls[CL_MAX_NODES];
    consort_err err;
    char msg[CS_ERRMSG_MAX];
} failure_seen;

static failure_seen seen;

static void on_failed(void *ctx, consort_err err, const char *msg)
{
    cl_node *node = ctx;
    assert_non_null(msg);
    seen.calls[node->id - 1]++;
    seen.err = err;
    snprintf(seen.msg, sizeof seen.msg, "%s", msg);
}

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

static bool failure_told(cl_cluster *cl, void *arg)
{
    (void)cl;
    return seen.calls[*(unsigned *)arg] > 0;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(term_not_persisted_fails_the_server),
        cmocka_unit_test(close_is_no_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
