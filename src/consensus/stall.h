/*
 * Replication stalls a leader sees (pure: no I/O, no clock of its own).
 *
 * A follower whose match index does not move while the leader's log holds
 * newer entries is stalled: a connection that never comes, a follower that
 * drops every message (libraft's UNAVAILABLE state, consensus.h on_failed),
 * a snapshot that is never installed. libraft retries quietly forever, so
 * consensus.c feeds what the leader knows here once a second and logs the
 * stalls this returns, with the progress and the transport's connections
 * to that peer (docs/consensus.md "Stalled followers").
 */
#ifndef CS_CONSENSUS_STALL_H
#define CS_CONSENSUS_STALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libraft's progress modes (raft.h struct raft_progress.state) */
typedef enum cs_raft_progress_mode {
    CS_RAFT_PROBE = 0,    /* at most one AppendEntries per heartbeat */
    CS_RAFT_PIPELINE = 1, /* streaming AppendEntries */
    CS_RAFT_SNAPSHOT = 2, /* sending a snapshot */
} cs_raft_progress_mode;

const char *cs_raft_progress_mode_name(int mode);

/* What the leader knows of one replicating peer. */
typedef struct cs_raft_peer_progress {
    uint64_t id;
    uint64_t match_index; /* highest index it reported stored */
    uint64_t next_index;  /* next index the leader sends it */
    int mode;             /* cs_raft_progress_mode */
    bool recent_recv;     /* heard from within the election timeout */
} cs_raft_peer_progress;

#define CS_RAFT_STALL_PEERS 64

typedef struct cs_raft_stall {
    uint64_t term; /* the leadership the slots belong to */
    size_t n;
    struct {
        uint64_t id, match;
        uint64_t since_ms;  /* when match last moved (or was first seen) */
        uint64_t warned_ms; /* last report of this stall, if `warned` */
        bool warned;
    } slot[CS_RAFT_STALL_PEERS];
} cs_raft_stall;

/* A stall to report: peers[index] has not moved for stalled_ms. */
typedef struct cs_raft_stalled {
    size_t index;
    uint64_t stalled_ms;
} cs_raft_stalled;

/*
 * One observation at `now_ms` by the leader of `term` whose last log index
 * is `last_index`: writes into out[max] the peers whose match index has not
 * moved for at least `after_ms` while below `last_index`, each at most once
 * every `every_ms` of its stall, and returns how many. A peer whose match
 * index moves, or that has everything, starts over; peers not in `peers`
 * are forgotten, and a new term forgets every peer. Peers beyond
 * CS_RAFT_STALL_PEERS are not watched.
 */
size_t cs_raft_stall_check(cs_raft_stall *s, uint64_t now_ms, uint64_t term, uint64_t last_index,
                           const cs_raft_peer_progress *peers, size_t n, uint64_t after_ms,
                           uint64_t every_ms, cs_raft_stalled *out, size_t max);

/* How long peer `id` has been stalled at the last check (0: not stalled or
 * unknown). */
uint64_t cs_raft_stall_ms(const cs_raft_stall *s, uint64_t id, uint64_t now_ms,
                          uint64_t last_index);

#endif
