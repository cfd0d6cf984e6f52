/* The consensus object's insides, shared by consensus.c and consensus_ops.c. */
#ifndef CS_CONSENSUS_CONSENSUS_PRIV_H
#define CS_CONSENSUS_CONSENSUS_PRIV_H

#include "consensus/consensus.h"

#include <raft.h>
#include <raft/uv.h>

struct cs_consensus {
    uv_loop_t *loop;
    struct raft raft; /* raft.data == this */
    struct raft_io io;
    cs_raft_transport *transport;
    cs_fsm_adapter fsm;
    /* Watches state, term and the known leader after every loop iteration
     * (libraft 0.15 has no state-change callback). */
    uv_check_t watch;
    cs_raft_state seen_state;
    uint64_t seen_term;
    uint64_t seen_leader;
    void (*on_state)(void *ctx, cs_raft_state state, uint64_t term);
    void *on_state_ctx;
    bool started;
    bool closing;
    /* cs_consensus_compact_soon: the snapshot policy to go back to */
    bool compacting;
    unsigned saved_threshold, saved_trailing;
    void (*close_cb)(void *ctx);
    void *close_ctx;
};

/* libraft's role code for ours. */
int cs_consensus_raft_role(cs_raft_role role);

#endif
