/*
 * The leader's promotion of joined nodes to Raft voters (issue 11,
 * failure 2). A node joins as a spare (admit.h) and is promoted once it has
 * caught up. libraft aborts a promotion whose catch-up round lasts longer
 * than its max_catch_up_round_duration (5 s in libraft 0.15), as it does
 * for a joiner that receives and installs a large snapshot, and never tries
 * again: the node stayed a spare for good. The promoter tries again.
 *
 * While this node leads, the promoter promotes the configuration's
 * non-voters one at a time: when kicked (a joiner was added; this node
 * became leader, since a former leader may have added a node and died
 * before promoting it) and after each failed attempt, NODE_PROMOTE_RETRY_MS
 * later, doubling up to NODE_PROMOTE_RETRY_MAX_MS. A node that is no longer
 * a non-voter, or a lost leadership, ends the retries (the next leader's
 * kick starts them again).
 *
 * Asynchronous contract (STYLE.md rule 10): a kick only arms a 0 ms timer;
 * nothing runs inside node_promoter_kick. node_promoter_free may be called
 * with an attempt in flight: the promoter then frees itself when raft
 * answers (libraft answers every change, failing them when it closes).
 */
#ifndef CS_NODE_PROMOTE_H
#define CS_NODE_PROMOTE_H

#include "consensus/consensus.h"

#define NODE_PROMOTE_RETRY_MS     1000
#define NODE_PROMOTE_RETRY_MAX_MS 30000

typedef struct node_promoter node_promoter;

typedef struct node_promoter_ops {
    void *ctx;
    /* Does this node lead (and accept membership changes)? */
    bool (*leading)(void *ctx);
    /* The raft id of the configuration's first non-voter, 0 if none. */
    uint64_t (*next_nonvoter)(void *ctx);
    /* Assigns `raft_id` the voter role; done(cb_ctx, ...) follows on the loop
     * unless an error is returned. */
    consort_err (*promote)(void *ctx, uint64_t raft_id, cs_consensus_done_cb done, void *cb_ctx);
} node_promoter_ops;

typedef struct node_promoter_stats {
    uint64_t promoted; /* promotions raft completed */
    uint64_t failed;   /* attempts raft aborted or refused (each retried) */
} node_promoter_stats;

CS_MUST_CHECK consort_err node_promoter_new(uv_loop_t *loop, const node_promoter_ops *ops,
                                            const char *node_id, node_promoter **out);
/* Looks for a non-voter to promote, from the loop. */
void node_promoter_kick(node_promoter *p);
node_promoter_stats node_promoter_get_stats(const node_promoter *p);
/* Stops; frees now, or when the attempt in flight is answered. NULL: no-op. */
void node_promoter_free(node_promoter *p);

#endif
