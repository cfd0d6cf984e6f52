/*
 * Internals of the replica (replica.h), shared by replica*.c only:
 *
 *   replica.c           the object, applying entries, signature checks
 *   replica_index.c     per-seqno facts: terms, ledger positions, signatures
 *   replica_recover.c   rebuilding from the ledger at start
 *   replica_copies.c    the snapshot copies a restart starts from
 *   replica_rebuild.c   reading back the ledger before that copy
 *   replica_snapshot.c  installing snapshots (the format)
 *   replica_snapcheck.c decoding a snapshot and checking it aside
 *   replica_snapmake.c  making snapshots (off the loop)
 *   replica_receipt.c   transaction status and receipts
 */
#ifndef CS_NODE_REPLICA_PRIV_H
#define CS_NODE_REPLICA_PRIV_H

#include "consensus/fsm.h"
#include "store/ledger_writer.h"
#include "net/timer.h"
#include "node/replica.h"

#define REPLICA_LOG "node"

/* Snapshot bytes: magic || nonce || AES-256-GCM, the key derived with this
 * info from the ledger secret (replica_snapshot.c has the format). */
#define REPLICA_SNAP_MAGIC "CSSNAP03"
#define REPLICA_SNAP_INFO  "consort snapshot v3"
/* Format 2 (every leaf where 3 has the peaks), still read: a node of this
 * version may join a service whose leader runs the version before. */
#define REPLICA_SNAP_MAGIC_2 "CSSNAP02"
#define REPLICA_SNAP_INFO_2  "consort snapshot v2"

/* ---- the index (replica_index.c) ---- */

typedef cs_ledger_term_run replica_term_run;

typedef struct replica_index {
    uint64_t base;         /* first seqno held in `offsets` (ledger start) */
    uint64_t *offsets;     /* frame offset within its chunk, per seqno >= base */
    uint64_t *chunk_first; /* first seqno of each chunk, ascending */
    size_t offset_count, offset_cap;
    size_t chunk_count, chunk_cap;
    uint64_t chunk_bytes;    /* bytes in the current chunk */
    bool chunk_closing;      /* the next entry starts a new chunk */
    replica_term_run *terms; /* runs of equal terms, ascending */
    size_t term_count, term_cap;
    uint64_t *sigs; /* seqnos of signature entries, ascending */
    size_t sig_count, sig_cap;
} replica_index;

void replica_index_cleanup(replica_index *x);
void replica_index_reset(replica_index *x, uint64_t base);
/* Records an entry appended to the ledger (frame of `entry_len` bytes). */
CS_MUST_CHECK consort_err replica_index_add(replica_index *x, uint64_t seqno, uint64_t term,
                                            bool signature, size_t entry_len, uint64_t chunk_size);
/* Before the first add of an index whose base is inside a chunk of the
 * ledger (a restart from the node's own snapshot): the chunk starts at
 * `chunk_first` and holds `chunk_bytes` before `base`; `closing`: the
 * next entry starts a new one. */
CS_MUST_CHECK consort_err replica_index_resume(replica_index *x, uint64_t chunk_first,
                                               uint64_t chunk_bytes, bool closing);
/* `prefix` (entries F .. x->base - 1 for a base F of its own, as
 * replica_index_add built them) put before x's entries; x keeps its term
 * runs and its current chunk. The prefix is consumed (on NOMEM both are
 * unchanged). */
CS_MUST_CHECK consort_err replica_index_prepend(replica_index *x, replica_index *prefix);
/* Signature entries only. */
CS_MUST_CHECK consort_err replica_index_add_sig(replica_index *x, uint64_t seqno);
/* Term runs only (snapshot restore: entries not in our ledger). */
CS_MUST_CHECK consort_err replica_index_add_term(replica_index *x, uint64_t seqno, uint64_t term);
/* The term of entry `seqno` (0 if unknown). */
uint64_t replica_index_term(const replica_index *x, uint64_t seqno);
/* The first signature seqno > seqno (0 if none). */
uint64_t replica_index_sig_after(const replica_index *x, uint64_t seqno);
/* The terms digest (store/ledger.h) of entries 1 .. tree_size; entries after
 * `applied` are of `pending_term`. */
CS_MUST_CHECK consort_err replica_index_terms_digest(const replica_index *x, uint64_t tree_size,
                                                     uint64_t applied, uint64_t pending_term,
                                                     uint8_t out[CS_LEDGER_DIGEST_LEN]);
/* Reads the bytes of entry `seqno` from the ledger files in `dir`. */
CS_MUST_CHECK consort_err replica_index_read_entry(const replica_index *x, const char *dir,
                                                   uint64_t seqno, cs_buf *out);

/* ---- the object ---- */

struct node_replica {
    node_replica_opts opts;
    /* the node certificate the last applied signature entry was checked
     * against (a leader signs with one certificate until it changes) */
    cs_ledger_cert_cache sig_cache;
    char data_dir[CS_NODE_PATH_MAX];
    char ledger_dir[CS_NODE_PATH_MAX];
    char snapshot_dir[CS_NODE_PATH_MAX];
    node_replica_events ev;

    /* the service */
    bool has_service;
    uint8_t secret[CS_LEDGER_SECRET_LEN];
    cs_ledger_keys keys;
    const cs_x509 *service_cert;
    cs_ledger_identity ids[NODE_REPLICA_IDS_MAX]; /* 0: just service_cert */
    size_t id_count;

    /* the state */
    cs_kv_store *kv;
    cs_merkle_tree *tree; /* every applied entry, plus a leader's pending ones */
    cs_ledger_writer *ledger;
    replica_index idx;
    uint64_t applied;      /* seqno of the last applied (committed) entry */
    uint64_t applied_term; /* its term */
    uint64_t applied_sig;  /* the last signature entry applied (0: none) */
    cs_buf last_sig;       /* its bytes */
    uint64_t ledger_first; /* the seqno the ledger directory starts at */
    /* reading back entries 1 .. rebuilding_upto after a restart from the
     * node's own snapshot (replica_rebuild.c; 0: none) */
    struct replica_rebuild *rebuild;
    uint64_t rebuilding_upto;
    struct replica_copy_rm *copy_rm; /* superseded copies being removed (replica_copies.c) */

    /* ledger durability (replica_sync.c): NULL timer when every
     * signature entry is fsynced at once */
    cs_timer *sync_timer;
    bool sync_armed;
    bool snapshot_frozen; /* a frozen snapshot job's worker reads the state and the ledger */
    uint64_t synced_at;   /* loop time of the last deferred sync */
    struct replica_sync_job *sync_job; /* fsyncing on the threadpool, or done and parked */

    node_replica_stats stats;
};

/* ---- shared by the files of the replica ---- */

/* Checks a signature entry: its root against `t` (which holds its tree_size
 * leaves or more), its state against `state`, its terms against the runs
 * of `x`, both signatures and the certificate against the service
 * certificate. BAD_PROOF naming what disagrees, or the signature errors. */
CS_MUST_CHECK consort_err replica_check_signature(const node_replica *r, const cs_ledger_entry *e,
                                                  const cs_merkle_tree *t,
                                                  const uint8_t state[CS_KV_STATE_DIGEST_LEN],
                                                  const replica_index *x,
                                                  cs_ledger_cert_cache *cache);
/* Whether `e`'s leaf is the one the tree holds at its seqno (which must be
 * in the tree). */
CS_MUST_CHECK consort_err replica_leaf_matches(const node_replica *r, const cs_ledger_entry *e,
                                               bool *same);
/* The state digest for store `kv` (keyed with the replica's secret). */
CS_MUST_CHECK consort_err replica_state_digest(const node_replica *r, const cs_kv_store *kv,
                                               uint8_t out[CS_KV_STATE_DIGEST_LEN]);
/* Authenticates, checks and applies `e` to the store and tree (not the ledger). */
CS_MUST_CHECK consort_err replica_apply_state(node_replica *r, const cs_ledger_entry *e);
/* Records an entry the ledger now holds: index, applied seqno, last
 * signature (and compaction of the store's undo data back to it), event. */
CS_MUST_CHECK consort_err replica_note_applied(node_replica *r, const cs_ledger_entry *e);
/* Reports that the node must stop (replica.h events.fatal), logging why. */
void replica_fatal(node_replica *r, const char *why);
/* Opens the ledger writer on ledger_dir, starting at `start` if empty. */
CS_MUST_CHECK consort_err replica_open_ledger(node_replica *r, uint64_t start);
/* The copy snapshots/snapshot_<seqno>.bin installed as the checkpoint
 * (the ledger after it holds the rest). */
CS_MUST_CHECK consort_err replica_snapshot_load(node_replica *r, uint64_t seqno);

/* ---- snapshot copies in snapshots/ (replica_copies.c) ---- */

#define REPLICA_COPY_PATH_MAX (CS_NODE_PATH_MAX + 64)
/* <dir>/snapshot_<seqno>.<ext> ("bin" or "part"). */
CS_MUST_CHECK consort_err replica_copy_path(const char *dir, uint64_t seqno, const char *ext,
                                            char out[REPLICA_COPY_PATH_MAX]);
/* Any thread: a snapshot this node made, saved as snapshot_<seqno>.part. */
CS_MUST_CHECK consort_err replica_copy_write_part(const char *dir, uint64_t seqno, cs_slice data);
/* Raft stored that snapshot (`keep`: the copy becomes snapshot_<seqno>.bin
 * and older copies but the one the ledger starts after are removed, on the
 * threadpool when the replica has a loop) or not (the .part is removed).
 * Failures are logged: a copy only saves time. */
void replica_copy_settle(node_replica *r, uint64_t seqno, bool keep);
/* At start: removes copies raft never stored and temporary files. */
void replica_copy_clean(node_replica *r);
/* node_replica_free: a removal still running no longer reports to r. */
void replica_copy_detach(node_replica *r);
/* The latest copy with lo <= seqno <= hi (NOT_FOUND if none). */
CS_MUST_CHECK consort_err replica_copy_latest(const node_replica *r, uint64_t lo, uint64_t hi,
                                              uint64_t *out);

/* ---- reading back the ledger before a restart's snapshot (replica_rebuild.c) ---- */

/* After a restart from the node's own snapshot at `upto` (the tree holds
 * the leaves from upto on, the index the entries after it): entries
 * 1 .. upto are read back from the ledger and authenticated off the loop,
 * then their leaves and positions put in place, so that receipts for them
 * are served again (until then node_replica_receipt says BUSY). An entry
 * that is not authentic, or leaves whose root is not the one the snapshot
 * was checked against, stop the node (events.fatal). Without a loop it
 * runs at once. */
/* Entries of the chunk holding the copy's checkpoint up to it, which the
 * restart reads and authenticates itself: the worker reads only the
 * committed chunks before that one (a chunk still .open may be renamed by
 * its close while the worker runs). */
typedef struct replica_early_entry {
    uint64_t term;
    uint32_t len;
    bool signature;
    uint8_t leaf[CS_MERKLE_HASH_LEN];
} replica_early_entry;

typedef struct replica_early {
    uint64_t first; /* the seqno of items[0] */
    replica_early_entry *items;
    size_t count, cap;
} replica_early;

void replica_early_cleanup(replica_early *x);
/* Authenticates `e` (its tag; its private write set opened into `scratch`,
 * a secret buffer reused from entry to entry: emptied first). */
CS_MUST_CHECK consort_err replica_entry_authentic(const cs_ledger_entry *e, cs_ledger_keys *keys,
                                                  cs_buf *scratch);
/* `early` ends at `upto`; it is taken (left empty) whatever the outcome. */
CS_MUST_CHECK consort_err replica_rebuild_start(node_replica *r, uint64_t upto,
                                                replica_early *early);
/* The work, if any, let go: the state it was for is being replaced or freed. */
void replica_rebuild_detach(node_replica *r);

/* ---- ledger durability (replica_sync.c) ---- */

/* The timer, when opts.loop and opts.sync_ms ask for deferred syncs. */
CS_MUST_CHECK consort_err replica_sync_init(node_replica *r);
/* Stops the timer and syncs what is owed (errors logged). */
void replica_sync_cleanup(node_replica *r);
/* Whether the ledger writer is opened with defer_sync. */
bool replica_sync_deferred(const node_replica *r);
/* After an append: schedules the sync a signature entry now owes. */
void replica_sync_owed(node_replica *r);
/* Before the ledger writer is freed or replaced: a sync running or parked
 * is let go (its outcome no longer says anything about the writer). */
void replica_sync_detach(node_replica *r);
/* A frozen snapshot ended: finishes a sync that completed meanwhile. */
void replica_sync_thaw(node_replica *r);

/* ---- snapshots (replica_snapcheck.c) ---- */

/* A decoded snapshot; slices borrow from the plaintext. */
typedef struct replica_snap {
    unsigned format; /* 3, or 2: `peaks` then holds every leaf 1 .. S */
    uint64_t seqno, term;
    cs_slice terms_raw, peaks, sig, kv, tail_raw;
} replica_snap;

/* What a snapshot rebuilds, aside from the replica's own state. */
typedef struct replica_staged {
    cs_merkle_tree *tree;
    replica_index idx;
    cs_kv_store *kv;
    uint64_t applied, applied_term, applied_sig;
    cs_slice last_sig; /* borrowed from the plaintext */
    uint64_t tail_count;
} replica_staged;

void replica_staged_cleanup(replica_staged *st);
/* The snapshot's plaintext map of `format` (3 or 2) decoded (MALFORMED
 * naming what is wrong). */
CS_MUST_CHECK consort_err replica_snap_decode(cs_slice plain, unsigned format, replica_snap *s);
/* A snapshot's bytes decrypted with the snapshot key derived from `keys`
 * into `plain` and decoded into `s` (whose slices point into plain). Uses
 * nothing of a replica: a worker thread may call it with keys of its own. */
CS_MUST_CHECK consort_err replica_snap_open(cs_ledger_keys *keys, cs_slice data, cs_buf *plain,
                                            replica_snap *s);
/* The snapshot's signature entry S into `e`: decoded, of the snapshot's
 * seqno and term, and authentic (its tag under `keys`). */
CS_MUST_CHECK consort_err replica_snap_sig(cs_ledger_keys *keys, const replica_snap *s,
                                           cs_ledger_entry *e);
/* The tree of entries 1 .. S the snapshot carries: from its peaks at S - 1,
 * then the leaf of `sig` (its entry S, from replica_snap_sig); what S signs
 * is not checked here (the installer checks the root, cs_merkle_fill_base
 * the peaks a tree grown from it reaches). */
CS_MUST_CHECK consort_err replica_snap_tree(const replica_snap *s, const cs_ledger_entry *sig,
                                            cs_merkle_tree **out);
/* The checkpoint (tree, term runs, store) rebuilt in `st` and checked
 * against the signature entry the snapshot carries. */
CS_MUST_CHECK consort_err replica_stage_checkpoint(node_replica *r, const replica_snap *s,
                                                   replica_staged *st);
/* Visits the tail's entries in order (seqnos consecutive from S + 1, terms
 * not decreasing); `fn` gets each decoded one, and `st` (NULL when the
 * tail goes to the node itself, not to a staged state). */
typedef consort_err (*replica_tail_fn)(node_replica *r, replica_staged *st,
                                       const cs_ledger_entry *e, void *ctx);
CS_MUST_CHECK consort_err replica_each_tail_entry(node_replica *r, const replica_snap *s,
                                                  replica_staged *st, replica_tail_fn fn,
                                                  void *ctx);
/* A tail entry authenticated and applied to the staged state, as a
 * follower applies a committed entry (a replica_tail_fn). */
CS_MUST_CHECK consort_err replica_stage_tail_entry(node_replica *r, replica_staged *st,
                                                   const cs_ledger_entry *e, void *ctx);

#endif
