/*
 * The executor: what a leader does with writes (docs/architecture.md "The
 * node"). It runs a transaction function against the replica's store,
 * commits it locally under the next seqno, seals it as a ledger entry
 * (store/ledger.h: a fresh key salt each time writes open), appends its
 * leaf to the replica's tree, queues it and hands it to consensus; when
 * consensus commits it, the request completes. It also creates signature
 * entries (after sig_interval_tx entries, or sig_interval_ms after the
 * first unsigned one) and refuses writes when the data or raft directory
 * runs out of space (then it asks to hand leadership over).
 *
 * It reaches consensus only through node_exec_ops (node.c wires it to
 * raft; tests to a fake). Completions follow the node's asynchronous
 * contract: a `done` never fires inside the call that registered it.
 *
 * Threading: the loop thread.
 */
#ifndef CS_NODE_EXEC_H
#define CS_NODE_EXEC_H

#include "node/replica.h"

typedef struct node_exec node_exec;

/* Why the executor gives up leading (node_exec_ops.step_down). */
typedef enum node_exec_stepdown {
    /* short of disk: hand leadership over and keep running */
    NODE_EXEC_HAND_OVER,
    /* a raft write failed or the state could not be rolled back: the node
     * must stop leading for good, and act before consensus goes on (a
     * failed raft write leaves libraft unfit to continue) */
    NODE_EXEC_STOP,
} node_exec_stepdown;

/* A leader short of space asks to hand over as soon as writes open in a
 * term, and again while it still leads, at most this often (ms): a
 * transfer that fails or times out (libraft gives up after an election
 * timeout) is retried. */
#define NODE_EXEC_HAND_OVER_RETRY_MS 1000

/* A signature entry that falls due (sig_interval_ms) while at most
 * NODE_EXEC_SIG_RIDE_MAX entries are in flight (a serial client's write,
 * say) waits for the next write and goes to consensus right after it, in
 * the same request: one raft write, one fsync on every node, instead of
 * two in a row, the second of which that next write would queue behind.
 * Once nothing is in flight it waits at most NODE_EXEC_SIG_GRACE_MS more
 * for that write (the client's next request is on its way), and never
 * more than another sig_interval_ms in all. With more entries in flight
 * it is made at once, as before: its write then overlaps the clients'
 * turnaround, and waiting for their next writes would delay the receipts
 * of all those entries (docs/ledger.md 4.1). */
#define NODE_EXEC_SIG_RIDE_MAX 4
#define NODE_EXEC_SIG_GRACE_MS 2

/*
 * The size of raft's open segment files, from the free-space margin
 * (min_free_mib): a sixteenth of it, at least NODE_EXEC_SEGMENT_MIN and at
 * most libraft's default of 8 MiB (1 MiB for the default margin of 16 MiB).
 * libraft preallocates each segment whole, in its thread pool, whenever
 * it needs one (a segment filled, every snapshot, at start), writes or
 * not; a preallocation larger than the space left fails, and while it runs
 * it takes every free block of the file system, so a committed entry the
 * ledger writes at that moment fails with NO_SPACE and stops the node.
 * Sized so, a node short of space (below the margin, writes refused) keeps
 * room for raft's segments until less than a sixteenth of the margin is
 * left (docs/operating.md "Disk space").
 */
#define NODE_EXEC_SEGMENT_MIN ((size_t)256 << 10)
#define NODE_EXEC_SEGMENT_MAX ((size_t)8 << 20)
size_t node_exec_raft_segment_size(uint64_t min_free_mib);

typedef struct node_exec_ops {
    void *ctx;
    /* Appends `n` sealed entries (copied), in order, to the consensus log
     * in `term`, as one request (replicated together). Consensus later
     * commits each (node_exec_committed) or reports a failure, a refusal
     * of the request included, through node_exec_submit_failed: never
     * inside this call. Called from the loop, never inside a call of the
     * executor's API. */
    void (*submit)(void *ctx, const cs_slice *entries, size_t n, uint64_t term);
    /* The executor cannot go on leading in `term`, for the reason `how`
     * (rc and why say what failed). Called synchronously, inside the call
     * that found the failure (node_exec_submit_failed among them). */
    void (*step_down)(void *ctx, uint64_t term, node_exec_stepdown how, consort_err rc,
                      const char *why);
    /* Every write completion has run (node_exec_unfinished() is 0 again);
     * optional. The node waits for it before it reports itself stopped. */
    void (*idle)(void *ctx);
} node_exec_ops;

typedef struct node_exec_opts {
    uv_loop_t *loop;
    node_replica *replica;
    node_exec_ops ops;
    const char *data_dir;     /* checked for free space, with data_dir/raft */
    uint64_t min_free_mib;    /* writes refused below this */
    uint64_t sig_interval_tx; /* a signature entry after this many entries */
    uint64_t sig_interval_ms; /* ... or this long after the first unsigned one
                               * (riding with a write: NODE_EXEC_SIG_RIDE_MAX) */
    const char *node_id;      /* logs */
} node_exec_opts;

/* The node key, certificate and id that sign signature entries. */
typedef struct node_exec_signer {
    const cs_key *key;
    const cs_x509 *cert;
    const char *node_id;
} node_exec_signer;

CS_MUST_CHECK consort_err node_exec_new(const node_exec_opts *o, node_exec **out);
/* Fails what is pending (completions deferred) and releases everything
 * once those completions ran (like uv_close). NULL is a no-op. */
void node_exec_free(node_exec *ex);
void node_exec_set_signer(node_exec *ex, const node_exec_signer *s);

/*
 * Writes open in `term`, every earlier entry being applied (node.c calls it
 * once its barrier in `term` completed): a new key salt, seqnos from
 * applied + 1, a signature entry if applied entries are unsigned. STATE if
 * `term` is one in which a raft write failed (writes never reopen there).
 */
CS_MUST_CHECK consort_err node_exec_open(node_exec *ex, uint64_t term);
/* Leadership is gone: what is pending fails with `rc` (outcome unknown: it
 * may still commit under the next leader, the txid says which) and the
 * store and tree go back to the applied entries. */
void node_exec_close(node_exec *ex, consort_err rc, const char *why);
bool node_exec_is_open(const node_exec *ex);
/* The term writes are open in (0: closed), and the next seqno it will use. */
uint64_t node_exec_term(const node_exec *ex);
uint64_t node_exec_next_seqno(const node_exec *ex);
/* Entries executed but not committed yet. */
size_t node_exec_pending(const node_exec *ex);
/* Writes whose completion has not run yet (pending or queued to complete). */
size_t node_exec_unfinished(const node_exec *ex);

/* What a write's completion gets (node.h cs_node_result). */
typedef void (*node_exec_done_fn)(void *ctx, const cs_node_result *res);

/*
 * Runs `fn` in a transaction and replicates what it wrote (node.h
 * cs_node_write has the contract). `kind` is the ledger entry kind
 * (transactions, or internal ones for the node's own records).
 */
CS_MUST_CHECK consort_err node_exec_write(node_exec *ex, cs_ledger_kind kind, cs_node_tx_fn fn,
                                          void *fn_ctx, node_exec_done_fn done, void *done_ctx);
/* A signature entry now, if entries are unsigned. */
CS_MUST_CHECK consort_err node_exec_signature(node_exec *ex);

/*
 * Consensus committed `e`. If it is this leader's next own entry, the
 * replica records it (node_replica_commit_own), its request completes and
 * *own is set; otherwise, if entries were pending, they are failed first
 * (another leader's entry won the seqno), and the caller applies `e`.
 */
CS_MUST_CHECK consort_err node_exec_committed(node_exec *ex, const cs_ledger_entry *e, bool *own);
/* Consensus could not store an entry of `term` (consensus reports it
 * asynchronously): writes close for good in that term, pending requests
 * fail, and ops.step_down is asked to act. A failure about another term
 * is ignored. `rc` STATE means leadership was lost, not a storage error
 * (writes close in that term and the pending ones fail). `why` is about
 * one entry: it is logged and given to ops.step_down, never to the
 * pending requests, whose messages name their own transaction only. */
void node_exec_submit_failed(node_exec *ex, uint64_t term, consort_err rc, const char *why);

typedef struct node_exec_stats {
    uint64_t writes_committed;
    uint64_t writes_failed;
    uint64_t write_conflicts;
    uint64_t writes_refused_no_space;
    uint64_t signatures_made;
    uint64_t
        signatures_deferred; /* fell due in flight: waited for a write (NODE_EXEC_SIG_RIDE_MAX) */
    uint64_t batches_submitted; /* requests to consensus (group commit) */
    uint64_t entries_submitted; /* ... and the entries in them */
} node_exec_stats;

node_exec_stats node_exec_get_stats(const node_exec *ex);

#endif
