/*
 * Helpers shared by the asynchronous-snapshot tests (test_fsm_async.c,
 * test_fsm_held.c) and the process-wide libraft hooks (test_raft_heap.c,
 * test_raft_aio.c): a heap cluster, a tally of write completions, and large
 * entries written one at a time.
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

/* Writes entries 1..count of `size` bytes (at least 8) through node l, one
 * at a time, each committed before the next: its number big-endian in the
 * first 8 bytes, then bytes from `fill` (NULL: zeros). */
static inline void cl_write_large(cl_cluster *cl, int l, size_t size, uint64_t count,
                                  void (*fill)(unsigned char *p, size_t n, unsigned seed))
{
    unsigned char *value = calloc(1, size);
    assert_non_null(value);
    assert_true(size >= 8);
    cl_tally t = {0};
    for (uint64_t v = 1; v <= count; v++) {
        for (int k = 0; k < 8; k++)
            value[k] = (unsigned char)(v >> (56 - 8 * k));
        if (fill != NULL)
            fill(value + 8, size - 8, (unsigned)v);
        cst_ok(cs_consensus_submit(cl->nodes[l].c, CS_SLICE(value, size), cl_applied_cb, &t));
        cl_count_arg a = {&t, (unsigned)v};
        assert_true(cl_run_until(cl, 10000, cl_tally_done, &a));
    }
    assert_int_equal(t.ok, count);
    free(value);
}

#endif
