/*
 * Shared by the consensus tests: a cluster of real libraft servers (uv I/O,
 * own temporary data directory each) on ONE libuv loop, connected through the
 * in-process network (src/consensus/loopnet.h) and the stream transport, each
 * driving a small recording FSM (raft_fsm.h). Header-only (static inline)
 * because each test file is its own program.
 *
 * Test entries are 8-byte big-endian values (optionally padded).
 */
#ifndef CST_RAFT_CLUSTER_H
#define CST_RAFT_CLUSTER_H

#include "raft_fsm.h"
#include "testutil.h"

#include "base/alloc.h"
#include "consensus/consensus.h"
#include "consensus/loopnet.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define CL_MAX_NODES 5

/* ---- the cluster ---- */

typedef struct cl_cluster cl_cluster;

typedef struct cl_node {
    cl_cluster *cl;
    uint64_t id;
    char address[32];
    char dir[512];
    cs_consensus *c; /* NULL while down */
    bool closing;
    cl_fsm fsm;
} cl_node;

struct cl_cluster {
    uv_loop_t loop;
    cs_loopnet *net;
    char root[256];
    unsigned n;
    cl_node nodes[CL_MAX_NODES];
    /* Members of the bootstrap configuration: the first bootstrap_n nodes
     * (0: all n). */
    unsigned bootstrap_n;
    /* Options for nodes started from now on. */
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    bool async_snapshots; /* the FSM snapshots through snapshot_begin/_make/_end */
    bool pre_vote;        /* Raft thesis §9.6, as consortd runs it */
    /* 0: 150 ms and 30 ms. Tests that need one leader throughout take more:
     * all servers share one loop, and a process descheduled for longer than
     * the election timeout (a loaded 2-core machine) elects again. */
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
    /* Wraps each node's connector (tests that tamper with connections). */
    void (*wrap_connector)(cl_cluster *cl, unsigned i, cs_raft_connector *conn);
    void *wrap_ctx;
    /* on_state hook for nodes started from now on (ctx: the cl_node). */
    void (*on_state)(void *ctx, cs_raft_state state, uint64_t term);
    unsigned stall_warn_ms; /* 0: consensus.h's */
    unsigned stall_fail_ms; /* 0: consensus.h's */
    size_t segment_size;    /* 0: libraft's */
    /* on_failed hook for nodes started from now on (ctx: the cl_node). */
    void (*on_failed)(void *ctx, consort_err err, const char *msg);
};

static inline consort_err cl_accept(void *ctx, cs_stream *s, uint64_t peer_id, const char *addr)
{
    cl_node *node = ctx;
    if (node->c == NULL || node->closing) {
        cs_stream_close(s); /* no callbacks were set: nothing else to detach */
        return cs_fail(CONSORT_E_STATE, "node %llu is down", (unsigned long long)node->id);
    }
    return cs_consensus_accept(node->c, s, peer_id, addr);
}

static inline void cl_init(cl_cluster *cl, unsigned n)
{
    memset(cl, 0, sizeof *cl);
    assert_true(n <= CL_MAX_NODES);
    assert_int_equal(uv_loop_init(&cl->loop), 0);
    snprintf(cl->root, sizeof cl->root, "/tmp/cs-raft-test-XXXXXX");
    assert_non_null(mkdtemp(cl->root));
    cst_ok(cs_loopnet_new(&cl->loop, &cl->net));
    cl->n = n;
    for (unsigned i = 0; i < n; i++) {
        cl_node *node = &cl->nodes[i];
        node->cl = cl;
        node->id = i + 1;
        snprintf(node->address, sizeof node->address, "node-%u", i + 1);
        snprintf(node->dir, sizeof node->dir, "%s/n%u", cl->root, i + 1);
        cst_ok(cs_loopnet_attach(cl->net, node->id, node->address, cl_accept, node));
    }
}

/* Starts node i with a fresh FSM (a restarted process); bootstrap == true
 * writes the all-voters configuration of the first `n` nodes first. */
static inline void cl_start(cl_cluster *cl, unsigned i, bool bootstrap)
{
    cl_node *node = &cl->nodes[i];
    assert_null(node->c);
    memset(&node->fsm, 0, sizeof node->fsm);
    cs_consensus_opts o = {
        .loop = &cl->loop,
        .id = node->id,
        .address = node->address,
        .data_dir = node->dir,
        .fsm = cl_fsm_iface(&node->fsm, cl->async_snapshots),
        .election_timeout_ms = cl->election_timeout_ms != 0 ? cl->election_timeout_ms : 150,
        .heartbeat_timeout_ms = cl->heartbeat_timeout_ms != 0 ? cl->heartbeat_timeout_ms : 30,
        .connect_retry_ms = 40,
        .pre_vote = cl->pre_vote,
        .snapshot_threshold = cl->snapshot_threshold,
        .snapshot_trailing = cl->snapshot_trailing,
        .on_state = cl->on_state,
        .on_state_ctx = node,
        .on_failed = cl->on_failed,
        .stall_warn_ms = cl->stall_warn_ms,
        .stall_fail_ms = cl->stall_fail_ms,
        .segment_size = cl->segment_size,
    };
    cst_ok(cs_loopnet_connector(cl->net, node->id, &o.connector));
    if (cl->wrap_connector != NULL)
        cl->wrap_connector(cl, i, &o.connector);
    cst_ok(cs_consensus_new(&o, &node->c));
    if (bootstrap) {
        cs_raft_member m[CL_MAX_NODES];
        unsigned members = cl->bootstrap_n != 0 ? cl->bootstrap_n : cl->n;
        for (unsigned k = 0; k < members; k++)
            m[k] = (cs_raft_member){cl->nodes[k].id, cl->nodes[k].address, CS_RAFT_VOTER};
        cst_ok(cs_consensus_bootstrap(node->c, m, members));
    }
    cst_ok(cs_consensus_start(node->c));
}

static inline void cl_start_all(cl_cluster *cl)
{
    for (unsigned i = 0; i < cl->n; i++)
        cl_start(cl, i, true);
}

typedef bool (*cl_pred)(cl_cluster *cl, void *arg);

static inline void cl_wake_cb(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until pred holds or `ms` pass; returns whether it held. */
static inline bool cl_run_until(cl_cluster *cl, unsigned ms, cl_pred pred, void *arg)
{
    uv_timer_t wake;
    assert_int_equal(uv_timer_init(&cl->loop, &wake), 0);
    assert_int_equal(uv_timer_start(&wake, cl_wake_cb, 5, 5), 0);
    uv_update_time(&cl->loop);
    uint64_t deadline = uv_now(&cl->loop) + ms;
    bool ok;
    while (!(ok = pred(cl, arg)) && uv_now(&cl->loop) < deadline)
        uv_run(&cl->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wake, NULL);
    uv_run(&cl->loop, UV_RUN_NOWAIT);
    return ok;
}

static inline bool cl_never(cl_cluster *cl, void *arg)
{
    (void)cl;
    (void)arg;
    return false;
}

/* Runs the loop for `ms` milliseconds. */
static inline void cl_run_for(cl_cluster *cl, unsigned ms)
{
    (void)cl_run_until(cl, ms, cl_never, NULL);
}

/* The node that leads with the highest term among running nodes, or -1. */
static inline int cl_leader(cl_cluster *cl)
{
    int best = -1;
    for (unsigned i = 0; i < cl->n; i++) {
        cl_node *node = &cl->nodes[i];
        if (node->c == NULL || node->closing || cs_consensus_state(node->c) != CS_RAFT_LEADER)
            continue;
        if (best < 0 || cs_consensus_term(node->c) > cs_consensus_term(cl->nodes[best].c))
            best = (int)i;
    }
    return best;
}

/* A leader that every other running node (but those in `except`, a bit set
 * of node indexes) recognises. */
static inline bool cl_has_stable_leader(cl_cluster *cl, void *arg)
{
    unsigned except = arg != NULL ? *(unsigned *)arg : 0;
    int l = cl_leader(cl);
    if (l < 0 || (except & (1u << l)))
        return false;
    for (unsigned i = 0; i < cl->n; i++) {
        cl_node *node = &cl->nodes[i];
        if (node->c == NULL || (except & (1u << i)))
            continue;
        if (cs_consensus_leader(node->c, NULL) != cl->nodes[l].id)
            return false;
    }
    return true;
}

static inline int cl_wait_leader(cl_cluster *cl, unsigned ms, unsigned except)
{
    if (!cl_run_until(cl, ms, cl_has_stable_leader, &except))
        return -1;
    return cl_leader(cl);
}

/* ---- submitting entries ---- */

typedef struct cl_tally {
    unsigned ok;
    unsigned failed;
    consort_err last_error;
    char last_msg[CS_ERRMSG_MAX]; /* the last failure's message, as its callback carried it */
    uint64_t last_index;
} cl_tally;

static inline void cl_applied_cb(void *ctx, consort_err status, const char *msg, uint64_t index,
                                 void *result)
{
    cl_tally *t = ctx;
    cst_cb_msg(status, msg);
    if (status == CONSORT_OK) {
        t->ok++;
        t->last_index = index;
        assert_non_null(result);
    } else {
        t->failed++;
        t->last_error = status;
        snprintf(t->last_msg, sizeof t->last_msg, "%s", msg);
    }
}

static inline consort_err cl_submit(cl_cluster *cl, unsigned i, uint64_t value, size_t len,
                                    cl_tally *t)
{
    uint8_t buf[1024];
    assert_true(len >= 8 && len <= sizeof buf);
    for (size_t k = 8; k < len; k++)
        buf[k] = (uint8_t)(value * 31 + k);
    for (int k = 0; k < 8; k++)
        buf[k] = (uint8_t)(value >> (56 - 8 * k));
    return cs_consensus_submit(cl->nodes[i].c, CS_SLICE(buf, len), cl_applied_cb, t);
}

typedef struct cl_count_arg {
    cl_tally *tally;
    unsigned want;
} cl_count_arg;

static inline bool cl_tally_done(cl_cluster *cl, void *arg)
{
    (void)cl;
    cl_count_arg *a = arg;
    return a->tally->ok + a->tally->failed >= a->want;
}

/* Every running node's FSM holds at least `*(uint64_t *)arg` entries. */
static inline bool cl_all_applied(cl_cluster *cl, void *arg)
{
    uint64_t want = *(uint64_t *)arg;
    for (unsigned i = 0; i < cl->n; i++)
        if (cl->nodes[i].c != NULL && cl->nodes[i].fsm.n < want)
            return false;
    return true;
}

/* ---- stopping and cleaning up ---- */

static inline void cl_closed_cb(void *ctx)
{
    cl_node *node = ctx;
    node->c = NULL;
    node->closing = false;
}

static inline bool cl_node_down(cl_cluster *cl, void *arg)
{
    (void)cl;
    return ((cl_node *)arg)->c == NULL;
}

/* Closes node i (like killing the process: its data directory stays). */
static inline void cl_stop(cl_cluster *cl, unsigned i)
{
    cl_node *node = &cl->nodes[i];
    if (node->c == NULL)
        return;
    node->closing = true;
    cs_consensus_close(node->c, cl_closed_cb, node);
    assert_true(cl_run_until(cl, 5000, cl_node_down, node));
}

static inline bool cl_net_idle(cl_cluster *cl, void *arg)
{
    (void)arg;
    return cs_loopnet_busy(cl->net) == 0;
}

static inline int cl_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void cl_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "handle left open: %s\n", uv_handle_type_name(uv_handle_get_type(h)));
}

static inline void cl_cleanup(cl_cluster *cl)
{
    for (unsigned i = 0; i < cl->n; i++)
        cl_stop(cl, i);
    assert_true(cl_run_until(cl, 5000, cl_net_idle, NULL));
    cs_loopnet_free(cl->net);
    uv_run(&cl->loop, UV_RUN_NOWAIT);
    int rv = uv_loop_close(&cl->loop);
    if (rv != 0)
        uv_walk(&cl->loop, cl_walk_cb, NULL);
    assert_int_equal(rv, 0);
    nftw(cl->root, cl_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
