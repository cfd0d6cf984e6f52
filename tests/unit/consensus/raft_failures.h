/*
 * What a cluster's servers told through on_failed (consensus.h), for the
 * tests of servers that fail: how often each was told, and the last
 * error and message.
 */
#ifndef CST_RAFT_FAILURES_H
#define CST_RAFT_FAILURES_H

#include "raft_cluster.h"

typedef struct failure_seen {
    unsigned calls[CL_MAX_NODES];
    consort_err err;
    char msg[CS_ERRMSG_MAX];
} failure_seen;

static failure_seen seen;

static inline void on_failed(void *ctx, consort_err err, const char *msg)
{
    cl_node *node = ctx;
    assert_non_null(msg);
    seen.calls[node->id - 1]++;
    seen.err = err;
    snprintf(seen.msg, sizeof seen.msg, "%s", msg);
}

/* cl_run_until predicate: node *(unsigned *)arg was told. */
static inline bool failure_told(cl_cluster *cl, void *arg)
{
    (void)cl;
    return seen.calls[*(unsigned *)arg] > 0;
}

#endif
