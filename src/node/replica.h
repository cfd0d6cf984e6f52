/*
 * The replica: this node's copy of the replicated state — the KV store, the
 * Merkle tree over every entry, the ledger files, the per-seqno index (terms,
 * ledger positions, signature entries) and the ledger secret's keys — and
 * everything that reads or changes it from outside the leader's executor:
 * recovery from the ledger, applying committed entries, snapshots,
 * transaction status and receipts (docs/security.md, docs/ledger.md).
 *
 * It knows nothing about raft, the network or the other parts of the node:
 * node.c feeds it committed entries and snapshots, and it reports what
 * happened through the events below. The leader's executor (exec.h) works
 * on the same store and tree through node_replica_kv / _tree and tells the
 * replica when its own entries commit.
 *
 * Threading: the loop thread, except node_replica_snapshot_seal.
 */
#ifndef CS_NODE_REPLICA_H
#define CS_NODE_REPLICA_H

#include "node/node.h"
#include "store/ledger.h"

typedef struct node_replica node_replica;

typedef struct node_replica_opts {
    const char *data_dir; /* ledger/ and snapshots/ are made inside */
    uint64_t chunk_size;  /* ledger chunk size */
    const char *node_id;  /* for log lines; borrowed, may change (it is read at each use) */
    /* With a loop and sync_ms > 0, the ledger files are fsynced at most
     * every sync_ms and within sync_ms of a signature entry (replica_sync.c);
     * otherwise at every signature entry. */
    uv_loop_t *loop;
    uint64_t sync_ms;
} node_replica_opts;

/* What the replica reports (all on the loop, never inside a call that
 * registered or triggered them except where noted). */
typedef struct node_replica_events {
    void *ctx;
    /* A committed entry is applied and in the ledger (called from within
     * node_replica_apply / _commit_own / recovery / snapshot catch-up). */
    void (*applied)(void *ctx, const cs_ledger_entry *e);
    /* The state was replaced by a snapshot (from within the install). */
    void (*installed)(void *ctx, uint64_t checkpoint);
    /* The ledger durably holds signature entry `seqno` (a snapshot was made
     * or installed at it): the node seals it as its high-water mark. */
    void (*durable)(void *ctx, uint64_t seqno);
    /* The state can no longer be trusted to be consistent (a rollback or a
     * ledger reopen failed half-way): the node must stop. */
    void (*fatal)(void *ctx, const char *why);
} node_replica_events;

CS_MUST_CHECK consort_err node_replica_new(const node_replica_opts *o, node_replica **out);
void node_replica_free(node_replica *r);
void node_replica_set_events(node_replica *r, const node_replica_events *ev);
/*
 * The service it replicates: the ledger secret (copied) and the service
 * certificate (borrowed: it must outlive the replica). Needed before
 * anything is recovered or applied.
 */
void node_replica_set_service(node_replica *r, const uint8_t secret[CS_LEDGER_SECRET_LEN],
                              const cs_x509 *service_cert);
/*
 * A recovered service's ledger is signed under the identities it succeeded
 * (docs/recovery.md): `ids` (copied; the certificates borrowed, outliving
 * the replica), oldest first, the current one last with last_seqno 0. A
 * signature entry is checked against the identity cs_ledger_identity_for
 * names for its seqno. Without this call, against the service certificate.
 * INVALID_ARGUMENT for more than NODE_REPLICA_IDS_MAX.
 */
#define NODE_REPLICA_IDS_MAX 17
CS_MUST_CHECK consort_err node_replica_set_identities(node_replica *r,
                                                      const cs_ledger_identity *ids, size_t count);

/*
 * Rebuilds the state from the node's own ledger (and the snapshot it
 * starts after): every entry authenticated, every signature entry checked,
 * the entries after the last signature entry authenticated then cut (they
 * come back through consensus), the ledger's last signature entry at or
 * above `hwm` (else CORRUPT: rolled back). Errors name file, offset and
 * entry.
 */
CS_MUST_CHECK consort_err node_replica_recover(node_replica *r, uint64_t hwm);

/* ---- committed entries ---- */

/* A committed entry another node created (or this node in an earlier
 * leadership): authenticated, checked (signature entries against the tree,
 * the state and the terms), applied, appended to the ledger. `e->seqno` must
 * be node_replica_applied() + 1. */
CS_MUST_CHECK consort_err node_replica_apply(node_replica *r, const cs_ledger_entry *e);
/* A committed entry of this leader's, whose writes and leaf the store and
 * tree already hold (exec.h): appended to the ledger and indexed. */
CS_MUST_CHECK consort_err node_replica_commit_own(node_replica *r, const cs_ledger_entry *e);
/* An entry raft replays that the replica holds already: its leaf must be
 * the one recorded (CORRUPT otherwise). */
CS_MUST_CHECK consort_err node_replica_check_held(node_replica *r, const cs_ledger_entry *e);
/* Undoes the store's and the tree's entries after `seqno` (a leader's
 * uncommitted ones). STATE if that cannot be done (the node must stop). */
CS_MUST_CHECK consort_err node_replica_rollback(node_replica *r, uint64_t seqno);

/* ---- what the executor and the node read ---- */

cs_kv_store *node_replica_kv(node_replica *r);
cs_merkle_tree *node_replica_tree(node_replica *r);
cs_ledger_keys *node_replica_keys(node_replica *r);
uint64_t node_replica_applied(const node_replica *r);
uint64_t node_replica_applied_term(const node_replica *r);
/* The last signature entry applied (0: none). */
uint64_t node_replica_applied_sig(const node_replica *r);
/* The state digest a signature entry states for the replica's store as it
 * is now (docs/ledger.md 4.2, keyed with the ledger secret). */
CS_MUST_CHECK consort_err node_replica_state_digest(const node_replica *r,
                                                    uint8_t out[CS_KV_STATE_DIGEST_LEN]);
/* The terms digest of entries 1 .. tree_size, entries after the applied
 * ones (a leader's pending entries) being of `pending_term`. */
CS_MUST_CHECK consort_err node_replica_terms_digest(const node_replica *r, uint64_t tree_size,
                                                    uint64_t pending_term,
                                                    uint8_t out[CS_LEDGER_DIGEST_LEN]);
/* The term of applied entry `seqno` (0 if unknown here). */
uint64_t node_replica_term_of(const node_replica *r, uint64_t seqno);

/* ---- transactions and receipts ---- */

/* Status of <term>.<seqno> as far as this replica knows; `leader_term` and
 * `leader_next` describe this node's own leadership (0, 0 if it does not
 * lead): an entry it created and did not commit yet is Pending. */
cs_tx_status node_replica_tx_status(const node_replica *r, cs_txid txid, uint64_t leader_term,
                                    uint64_t leader_next);
/* The receipt JSON of a committed transaction. NOT_FOUND: it does not exist
 * and never will (Invalid); BUSY: it may still commit, or it is committed
 * but not signed yet (ask again); STATE: committed before this node's
 * ledger starts (another node has it). */
CS_MUST_CHECK consort_err node_replica_receipt(node_replica *r, cs_txid txid, cs_buf *json);

/* ---- snapshots (consensus/fsm.h "Asynchronous snapshots") ---- */

/* Begin (loop): BUSY before the first signature entry, or for a leader with
 * `leader_busy` writes pending. *defer says the job reads the live state
 * from the worker (a follower: the adapter holds applies back meanwhile). */
CS_MUST_CHECK consort_err node_replica_snapshot_begin(node_replica *r, bool leader,
                                                      bool leader_busy, void **job, bool *defer);
/* Seal (any thread): the snapshot's bytes into `out`. */
CS_MUST_CHECK consort_err node_replica_snapshot_seal(void *job, cs_buf *out);
/* End (loop), always after a successful begin, with seal's result. */
void node_replica_snapshot_end(node_replica *r, void *job, consort_err rc);
/* The whole snapshot at once, on the loop (tests). */
CS_MUST_CHECK consort_err node_replica_snapshot_make(node_replica *r, cs_buf *out);
/*
 * Checks a snapshot (untrusted bytes) in full, then installs it: replaces
 * the state when the replica is behind its checkpoint, else checks that it
 * agrees and applies the tail entries it lacks. `from_disk`: the node's own
 * saved copy at a restart (only the checkpoint: the ledger holds the rest).
 * On failure nothing changed.
 */
CS_MUST_CHECK consort_err node_replica_snapshot_install(node_replica *r, cs_slice data,
                                                        bool from_disk);

/* ---- counters for /node/metrics ---- */

typedef struct node_replica_stats {
    uint64_t entries_applied;
    uint64_t signatures;
    uint64_t snapshots_taken;
    uint64_t snapshots_restored;
    uint64_t ledger_syncs; /* deferred ledger fsyncs done (replica_sync.c) */
    uint64_t entry_bytes;  /* of the entries applied (ledger frames without their length) */
    uint64_t entry_bytes_since_snapshot; /* ... since this node last took or installed one */
    uint64_t entries_since_snapshot;     /* ... and their number */
    uint64_t last_snapshot_bytes;        /* the last snapshot this node made */
    uint64_t last_snapshot_log_bytes;    /* ... the entry bytes before it since the previous */
    uint64_t
        last_signature_ns;     /* uv_hrtime() when the last signature entry was applied (0: none) */
    uint64_t last_snapshot_ns; /* ... when this node last took or installed a snapshot (0: none) */
    uint64_t copies_removed;   /* snapshot copies removed as superseded (replica_copies.c) */
} node_replica_stats;

/* No superseded snapshot copy is still being removed (on the threadpool). */
bool node_replica_copies_settled(const node_replica *r);

/*
 * Snapshots scheduled by bytes (issue "Performance": snapshot work per
 * committed write that does not grow with the store): after a snapshot of
 * `snapshot_bytes`, the next one comes once the log since holds a quarter
 * of that many bytes (at the average entry size so far,
 * `entry_bytes / entries`), and never sooner than `interval` entries
 * (snapshot_interval). Each snapshot then encodes at most four bytes per
 * byte of log since the previous one, whatever the size of the store; the
 * price is a raft log in memory of up to a quarter of the state between
 * snapshots. At most UINT32_MAX.
 */
#define NODE_SNAPSHOT_LOG_SHARE 4
uint64_t node_snapshot_threshold(uint64_t interval, uint64_t snapshot_bytes, uint64_t entry_bytes,
                                 uint64_t entries);

/*
 * The bytes of log the node lets raft hold in memory between snapshots,
 * whatever their number of entries: `min_bytes` (snapshot_log_kib), or a
 * quarter of the last snapshot if that is more. Past it the node asks raft
 * for a snapshot at once (node_snapsched.c), so large entries cannot pile
 * up for `interval` entries (100,000 entries of 1 MiB would be 100 GB).
 */
uint64_t node_snapshot_log_cap(uint64_t min_bytes, uint64_t snapshot_bytes);

/*
 * The entries raft keeps before a snapshot's index (its trailing), by
 * bytes: as many as fit in `budget` bytes at the average size of the
 * entries since the last snapshot, at least NODE_SNAPSHOT_TRAILING_MIN, at
 * most NODE_SNAPSHOT_TRAILING_MAX (libraft's default). A count alone kept
 * 2,048 entries whatever their size after every snapshot: 2 GiB of 1 MiB
 * entries, past the bound snapshot_log_kib promises, and 43 MB (43 B a
 * key) of a 1M-key store's fill.
 */
#define NODE_SNAPSHOT_TRAILING_MIN 8
#define NODE_SNAPSHOT_TRAILING_MAX 2048
unsigned node_snapshot_trailing(uint64_t budget, uint64_t entry_bytes, uint64_t entries);

node_replica_stats node_replica_get_stats(const node_replica *r);

#endif
