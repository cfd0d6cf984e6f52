/*
 * Helpers shared by the asynchronous-snapshot tests (test_fsm_async.c,
 * test_fsm_held.c): a heap cluster, and a tally of write completions.
 */
#ifndef CS_TEST_FSM_ASYNC_UTIL_H
#define CS_TEST_FSM_ASYNC_UTIL_H

#include "raft_cluster.h"

static inline cl_cluster *cl_new(unsigned n)
{
    cl_cluster *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    cl_init(cl, n);
    return cl;
}

static inline void cl_free(cl_cluster *cl)
{
    cl_cleanup(cl);
    free(cl);
}

typedef struct async_tally {
    unsigned ok, failed;
} async_tally;

/* Deferred entries complete with a NULL result (fsm.h). */
static inline void tolerant_cb(void *ctx, consort_err status, const char *msg, uint64_t index,
                               void *result)
{
    (void)index;
    (void)result;
    async_tally *t = ctx;
    cst_cb_msg(status, msg);
    if (status == CONSORT_OK)
        t->ok++;
    else
        t->failed++;
}

typedef struct want_arg {
    async_tally *t;
    unsigned want;
} want_arg;

static inline bool tally_reached(cl_cluster *cl, void *arg)
{
    (void)cl;
    want_arg *a = arg;
    return a->t->ok + a->t->failed >= a->want;
}

#endif
