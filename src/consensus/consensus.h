/*
 * consort's consensus object: one libraft server (struct raft) with libraft's
 * uv I/O for its own log and metadata (a data directory) and the stream
 * transport (transport.h) for its messages, driving a cs_fsm (fsm.h).
 *
 * Lifecycle:
 *     cs_consensus_new(&opts, &c)       raft_init; nothing runs yet
 *     cs_consensus_bootstrap(c, ...)    only on a brand-new data directory of a
 *                                       founding member (CONSORT_E_STATE if it
 *                                       already holds state: then just start)
 *     cs_consensus_start(c)             loads the log and snapshot, runs
 *     ... submit / barrier / membership / queries ...
 *     cs_consensus_close(c, cb, ctx)    asynchronous; c is freed after cb
 * A server that joins an existing cluster starts without bootstrapping and is
 * added by the leader (cs_consensus_add, then cs_consensus_assign VOTER).
 *
 * Completion callbacks run on the loop thread, from loop callbacks: never
 * inside the call that registered them (libraft completes requests from its
 * I/O callbacks); a failure status comes with its message as the callback's
 * `msg` argument ("" on success; never NULL, valid during the call only);
 * the thread-local message is not part of this contract. CONSORT_E_STATE
 * covers "not the leader", "leadership lost" and "shutting down".
 * LEADERSHIP LOST means the outcome is UNKNOWN:
 * the entry may still be committed by the next leader and then reaches every
 * FSM's apply like any other entry.
 *
 * Entries travel inside a small envelope (entry.h: version, length, padding
 * to 8 bytes, which libraft's wire format needs); the FSM sees exactly the
 * bytes that were submitted.
 *
 * libraft types stay inside src/consensus: callers see ids, addresses,
 * cs_slice and consort_err only. Every function must be called on the loop's
 * thread.
 */
#ifndef CS_CONSENSUS_CONSENSUS_H
#define CS_CONSENSUS_CONSENSUS_H

#include "consensus/fsm.h"
#include "consensus/transport.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct cs_consensus cs_consensus;

typedef enum cs_raft_role {
    CS_RAFT_VOTER = 0,   /* replicates and counts for the quorum */
    CS_RAFT_STANDBY = 1, /* replicates, does not vote */
    CS_RAFT_SPARE = 2,   /* neither (just added, or parked) */
} cs_raft_role;

typedef enum cs_raft_state {
    CS_RAFT_UNAVAILABLE = 0, /* not started, or closing */
    CS_RAFT_FOLLOWER,
    CS_RAFT_CANDIDATE,
    CS_RAFT_LEADER,
} cs_raft_state;

const char *cs_raft_state_name(cs_raft_state s);

typedef struct cs_raft_member {
    uint64_t id;         /* > 0 */
    const char *address; /* as peers dial it, 1..255 printable bytes */
    cs_raft_role role;
} cs_raft_member;

/*
 * How long a leader waits for a follower to report a snapshot it sent as
 * installed before it sends it again (libraft's install_snapshot_timeout,
 * 30 s by default). libraft 0.15 drops an InstallSnapshot that reaches a
 * follower while that follower takes or installs a snapshot of its own
 * (replicationInstallSnapshot), without telling the leader: the follower
 * stays behind until this timeout. A transfer that takes longer than this is
 * sent a second time (the leader then holds a second copy of the snapshot
 * until one is written out). docs/consensus.md "Snapshots sent to followers".
 */
#define CS_RAFT_INSTALL_SNAPSHOT_TIMEOUT_MS 5000u

typedef struct cs_consensus_opts {
    uv_loop_t *loop;
    uint64_t id;          /* this server's raft id, > 0 */
    const char *address;  /* this server's raft address */
    const char *data_dir; /* raft's log, metadata and snapshots; created if missing */
    cs_fsm fsm;
    cs_raft_connector connector;
    const cs_raft_transport_limits *limits; /* NULL: defaults */
    /* Zero takes libraft's default. */
    unsigned election_timeout_ms;  /* 1000 */
    unsigned heartbeat_timeout_ms; /* 100 */
    unsigned snapshot_threshold;   /* 1024 entries applied since the last snapshot */
    unsigned snapshot_trailing;    /* 128 entries kept after a snapshot */
    unsigned connect_retry_ms;     /* 1000 */
    bool pre_vote;                 /* Raft thesis §9.6 pre-vote */
    unsigned stall_warn_ms;        /* CS_RAFT_STALL_WARN_MS */
    unsigned stall_fail_ms;        /* CS_RAFT_OWN_STALL_FAIL_MS */
    /* Bytes each of libraft's open segment files is preallocated with;
     * zero: libraft's 8 MiB. libraft keeps up to three (the one it writes
     * and two ready) and prepares them in its thread pool whenever it needs
     * one: when a segment fills, at every snapshot, at start. */
    size_t segment_size;
    /* Called (from the loop, after the change happened) whenever the state,
     * the term or the leader this server knows (cs_consensus_leader)
     * changes: the node commits a barrier on becoming leader, rolls back
     * uncommitted work on losing leadership, and a follower stops waiting
     * for a former leader. Optional. */
    void (*on_state)(void *ctx, cs_raft_state state, uint64_t term);
    void *on_state_ctx; /* ctx of on_state and on_failed */
    /* Called once (from the loop, after on_state told UNAVAILABLE) if raft
     * stopped itself while running: libraft 0.15 turns an error while it
     * handles a message or its timer, above all a failure to persist its
     * term or vote (raft_uv's metadata files on a full disk), into the
     * UNAVAILABLE state, in which it drops every message and never
     * campaigns again, and tells no one (recv.c recvCb, tick.c tickCb).
     * Only a restart brings the server back (docs/consensus.md "A server
     * that stops itself"). `err` and `msg` (never NULL, valid during the
     * call only) say what failed, with libraft's message when it kept one
     * (the set_term / set_vote that failed). Also called, the same way,
     * at the first write of log entries that fails (libraft 0.15 keeps
     * such entries as if stored: docs/consensus.md "A failed log write";
     * the server stores nothing more from then on), and when a follower's
     * or leader's own log writes have not completed for stall_fail_ms
     * (CS_RAFT_OWN_STALL_FAIL_MS). Never called for a close.
     * Optional: the failure is logged either way. */
    void (*on_failed)(void *ctx, consort_err err, const char *msg);
} cs_consensus_opts;

/*
 * A leader logs a warning for a follower (voter or standby) whose match
 * index has not moved for CS_RAFT_STALL_WARN_MS while the leader's log holds
 * newer entries, and again every CS_RAFT_STALL_REPEAT_MS while it lasts:
 * what the leader knows (progress mode, next and match index, whether it
 * heard from it) and the transport's connections with it (stall.h;
 * docs/consensus.md "Stalled followers"). Checked once a second.
 */
#define CS_RAFT_STALL_WARN_MS   10000u
#define CS_RAFT_STALL_REPEAT_MS 60000u

/*
 * A follower checks its own log the same way: entries held in memory past
 * what raft_uv stored, and nothing stored for CS_RAFT_STALL_WARN_MS, is
 * logged (its log writes do not complete: it acknowledges and applies
 * nothing new). Once that lasts CS_RAFT_OWN_STALL_FAIL_MS the server fails
 * (on_failed, like a raft that stopped itself): a write that has not
 * completed in a minute is not a slow disk but a stuck one (seen once in a
 * chaos run, right after a snapshot, with libraft 0.15), and a restart
 * reloads the log from what is on disk. Raft is built for crash and
 * restart; a follower stuck for good is what it cannot recover from.
 */
#define CS_RAFT_OWN_STALL_FAIL_MS 60000u

/* Replication progress of one peer as this server, the leader, knows it. */
typedef struct cs_raft_peer_status {
    uint64_t id;
    cs_raft_role role;
    uint64_t match_index; /* highest index it reported stored */
    uint64_t next_index;  /* next index the leader sends it */
    const char *mode;     /* "probe", "pipeline" or "snapshot" (static) */
    bool recent;          /* heard from within the election timeout */
    uint64_t stalled_ms;  /* match index below the leader's last index, unmoved this long */
} cs_raft_peer_status;

CS_MUST_CHECK consort_err cs_consensus_new(const cs_consensus_opts *opts, cs_consensus **out);
/* True if `data_dir` holds raft state (libraft's metadata files): a server
 * that ever started there. */
bool cs_consensus_has_state(const char *data_dir);

/*
 * Before cs_consensus_start: moves the server to the next term, voting for
 * itself (`self_id`), as an election would; *term gets it. For a server
 * that is the only voter of its configuration, which libraft makes leader
 * at start without an election and so in the term it had before
 * (term.c says why that matters). STATE if `data_dir` holds no metadata.
 */
CS_MUST_CHECK consort_err cs_consensus_new_term(const char *data_dir, uint64_t self_id,
                                                uint64_t *term);

/* Writes the initial configuration into a pristine data directory. */
CS_MUST_CHECK consort_err cs_consensus_bootstrap(cs_consensus *c, const cs_raft_member *members,
                                                 size_t n);
/* After cs_consensus_bootstrap, before cs_consensus_start: raft's term
 * becomes `term` (bootstrap leaves 1) through libraft's own raft_io
 * set_term, so a service recovered from a ledger whose entries have terms
 * below `term` goes on above them (docs/recovery.md). STATE after start or
 * for a term not above the current one. */
CS_MUST_CHECK consort_err cs_consensus_bootstrap_term(cs_consensus *c, uint64_t term);

/*
 * A snapshot after the next entry applied, keeping no log entry before it;
 * cs_consensus_compact_done goes back to the snapshot threshold and
 * trailing entries the server had. For a service recovered from a ledger
 * (docs/recovery.md): its raft log holds none of the recovered entries, so
 * a server that joins must be sent a snapshot, not the log from index 1.
 */
void cs_consensus_compact_soon(cs_consensus *c);
void cs_consensus_compact_done(cs_consensus *c);
/* A snapshot every `entries` applied entries from now on (at least 1;
 * during compact_soon, the threshold compact_done goes back to). */
void cs_consensus_set_snapshot_threshold(cs_consensus *c, unsigned entries);
unsigned cs_consensus_snapshot_threshold(const cs_consensus *c);
/* The entries raft keeps in its log (memory and disk) before the index of
 * each snapshot taken from now on, so that a follower just behind can be
 * sent entries rather than the snapshot (during compact_soon, the trailing
 * compact_done goes back to). */
void cs_consensus_set_snapshot_trailing(cs_consensus *c, unsigned entries);
unsigned cs_consensus_snapshot_trailing(const cs_consensus *c);
/* The entries raft holds in memory now, and their bytes (payloads). */
void cs_consensus_log_held(const cs_consensus *c, size_t *entries, uint64_t *bytes);
CS_MUST_CHECK consort_err cs_consensus_start(cs_consensus *c);

/* Hands an inbound stream authenticated as raft server `peer_id` (address
 * `peer_address`) to raft; see cs_raft_transport_accept (ownership taken). */
CS_MUST_CHECK consort_err cs_consensus_accept(cs_consensus *c, cs_stream *stream, uint64_t peer_id,
                                              const char *peer_address);

/* Every callback below runs from the loop, never from inside the call that
 * registered it. A failure (leadership lost, closing) and every transfer
 * outcome are told after libraft has returned to the loop, so a callback
 * may make its next request (it gets CONSORT_E_STATE if this server no
 * longer leads); libraft itself fails them from inside its step-down, where
 * a new request crashed it (test_partition "failures call back after
 * libraft returns"). */

/* Entry committed and applied here (status CONSORT_OK, msg "", `result`
 * from this node's FSM apply), or failed (`msg` says why). `index` is the
 * raft index (0 if none). */
typedef void (*cs_consensus_applied_cb)(void *ctx, consort_err status, const char *msg,
                                        uint64_t index, void *result);
/* A request done (status CONSORT_OK, msg "") or failed (`msg` says why). */
typedef void (*cs_consensus_done_cb)(void *ctx, consort_err status, const char *msg);

/* Largest entry accepted by cs_consensus_submit. */
#define CS_CONSENSUS_ENTRY_MAX ((size_t)64 << 20)

/*
 * Appends `entry` (copied; 1..CS_CONSENSUS_ENTRY_MAX bytes) to the log if
 * this server is the leader. On CONSORT_OK, cb fires exactly once; on an
 * error (CONSORT_E_STATE when not the leader) it never fires.
 */
CS_MUST_CHECK consort_err cs_consensus_submit(cs_consensus *c, cs_slice entry,
                                              cs_consensus_applied_cb cb, void *ctx);
/*
 * Appends `n` entries (1..CS_CONSENSUS_BATCH_MAX, each as for
 * cs_consensus_submit, copied) to the log in one request, in order, with
 * consecutive indexes: raft sends them to each follower together (group
 * commit). On CONSORT_OK, cb fires exactly once: with a failure for the
 * batch (entries of it may still be committed, as for one entry), or with
 * CONSORT_OK, the first entry's index and result once raft applied that
 * first entry (the others follow it in order; the FSM sees each). On an
 * error it never fires.
 */
#define CS_CONSENSUS_BATCH_MAX 1024
CS_MUST_CHECK consort_err cs_consensus_submit_batch(cs_consensus *c, const cs_slice *entries,
                                                    size_t n, cs_consensus_applied_cb cb,
                                                    void *ctx);
/* A barrier entry: cb fires once every earlier entry is applied here. */
CS_MUST_CHECK consort_err cs_consensus_barrier(cs_consensus *c, cs_consensus_done_cb cb, void *ctx);

/* Membership changes (leader only; one at a time, else CONSORT_E_BUSY).
 * add: as a SPARE; assign: change the role (VOTER promotes after the server
 * caught up); remove: drop it from the configuration. */
CS_MUST_CHECK consort_err cs_consensus_add(cs_consensus *c, uint64_t id, const char *address,
                                           cs_consensus_done_cb cb, void *ctx);
CS_MUST_CHECK consort_err cs_consensus_assign(cs_consensus *c, uint64_t id, cs_raft_role role,
                                              cs_consensus_done_cb cb, void *ctx);
CS_MUST_CHECK consort_err cs_consensus_remove(cs_consensus *c, uint64_t id, cs_consensus_done_cb cb,
                                              void *ctx);
/* Leadership transfer to `id` (0: raft picks a voter). cb gets CONSORT_OK if
 * `id` (or, for 0, another server) leads when it fires, else CONSORT_E_TIMEOUT. */
CS_MUST_CHECK consort_err cs_consensus_transfer(cs_consensus *c, uint64_t id,
                                                cs_consensus_done_cb cb, void *ctx);

cs_raft_state cs_consensus_state(const cs_consensus *c);
uint64_t cs_consensus_id(const cs_consensus *c);
uint64_t cs_consensus_term(const cs_consensus *c);
/* The known leader: its id (0 if none) and, if `address` is not NULL, its
 * address (NULL if none; borrowed until control returns to the loop). */
uint64_t cs_consensus_leader(cs_consensus *c, const char **address);
/* On the leader: has server `id` answered within the current election
 * timeout (libraft's contact check; itself always)? False elsewhere. */
bool cs_consensus_peer_recent(const cs_consensus *c, uint64_t id);
/* On the leader: the highest index server `id` is known to hold (libraft's
 * match index); 0 elsewhere or for a server not in the configuration. */
uint64_t cs_consensus_peer_match(const cs_consensus *c, uint64_t id);
uint64_t cs_consensus_commit_index(const cs_consensus *c);
uint64_t cs_consensus_last_applied(const cs_consensus *c);
/* Index of the last entry in the local log (stored or not). */
uint64_t cs_consensus_last_index(cs_consensus *c);
/* Entries applied / snapshots restored by the FSM since start. */
uint64_t cs_consensus_fsm_applied(const cs_consensus *c);
uint64_t cs_consensus_fsm_restored(const cs_consensus *c);
/* Committed entries whose apply waited for an asynchronous snapshot (fsm.h). */
uint64_t cs_consensus_fsm_deferred(const cs_consensus *c);
/* CONSORT_OK, or the error that stopped this replica's FSM (fsm.h: an apply
 * error, or an entry whose envelope does not decode: CONSORT_E_CORRUPT). The
 * node should then close the object. */
consort_err cs_consensus_fsm_error(const cs_consensus *c);

/*
 * Copies the current configuration (at most `max` members) into `out`;
 * addresses are borrowed until control returns to the loop. *n gets the
 * number of members (which may exceed max: then CONSORT_E_TOO_LARGE).
 */
CS_MUST_CHECK consort_err cs_consensus_members(const cs_consensus *c, cs_raft_member *out,
                                               size_t max, size_t *n);

cs_raft_transport *cs_consensus_transport(cs_consensus *c);
/* On the leader: the progress of every other member that replicates (not
 * spares) into out[max], *n how many there are (TOO_LARGE if more than
 * max, STATE if this server does not lead). */
CS_MUST_CHECK consort_err cs_consensus_progress(cs_consensus *c, cs_raft_peer_status *out,
                                                size_t max, size_t *n);

/*
 * Stops the server: pending submissions fail (CONSORT_E_STATE), connections
 * close, raft's files are left consistent. `c` is freed once everything is
 * released (libraft's last handle included: consensus.c "close"), and then
 * `cb` (may be NULL) runs, once, from the loop.
 * Calling it again while closing does nothing.
 */
void cs_consensus_close(cs_consensus *c, void (*cb)(void *ctx), void *ctx);

#endif
