/*
 * The transactional key-value store (docs/kv.md).
 *
 * A store holds named maps of byte keys to byte values. Every key carries a
 * version: the seqno of the transaction that last wrote it (an absent key has
 * version 0). Application handlers work inside a transaction:
 *
 *     cs_kv_tx *tx;
 *     CS_TRY(cs_kv_tx_begin(store, &tx));
 *     cs_kv_get(tx, map, key, &value, &found);     -- reads are recorded
 *     cs_kv_put(tx, map, key, value);              -- writes are buffered
 *     rc = cs_kv_tx_commit(tx, seqno, &pub, &priv); -- validate, apply, serialise
 *     cs_kv_tx_free(tx);
 *
 * Concurrency control is optimistic: commit checks that every key the
 * transaction read still has the version it had when read (and that no map it
 * iterated changed); otherwise it fails with CONSORT_E_BUSY and the caller
 * re-runs the handler from scratch. Writes are never merged.
 *
 * Maps named "public:..." are PUBLIC (their writes go to the ledger in clear);
 * all others are PRIVATE (their writes are encrypted in the ledger). Commit
 * returns the two serialised write sets separately.
 *
 * Every committed or applied transaction is recorded in an undo log so that
 * cs_kv_rollback() can restore the exact earlier state; cs_kv_compact() drops
 * undo data once a seqno is committed by consensus. The store also knows its
 * committed seqno (cs_kv_set_committed), and cs_kv_tx_begin_committed() opens
 * a read-only view that hides every transaction after it.
 *
 * Threading: a store and its transactions are used by one thread at a time
 * (the node's event loop). Several transactions may be open at once.
 */
#ifndef CS_STORE_KV_H
#define CS_STORE_KV_H

#include "base/buf.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct cs_kv_store cs_kv_store;
typedef struct cs_kv_tx cs_kv_tx;

/* Map names: UTF-8, 1..128 bytes (fixed by the service contract). */
#define CS_KV_MAP_NAME_MAX 128
/* Prefix that makes a map public. */
#define CS_KV_PUBLIC_PREFIX "public:"

#define CS_KV_KEY_MAX_DEFAULT   ((size_t)4 << 10)
#define CS_KV_VALUE_MAX_DEFAULT ((size_t)1 << 20)
/* The ledger's cap on each section of an entry (docs/ledger.md §1.1, §7 "Limits"). */
#define CS_KV_WRITE_SET_MAX_DEFAULT ((size_t)16 << 20)

/* Caps; a zero field means its default. Every node of a service must use the
 * same caps, since a follower rejects a write set that exceeds its own. */
typedef struct cs_kv_limits {
    size_t max_key;       /* bytes per key (default 4 KiB) */
    size_t max_value;     /* bytes per value (default 1 MiB) */
    size_t max_write_set; /* bytes per serialised write set (default 16 MiB) */
} cs_kv_limits;

/* ---- the store ---- */

/* A new empty store at seqno 0. `limits` may be NULL (all defaults). The hash
 * tables are keyed with a fresh random seed, so clients cannot aim keys at
 * one bucket; nothing observable depends on the seed. */
CS_MUST_CHECK consort_err cs_kv_store_new(const cs_kv_limits *limits, cs_kv_store **out);
/* Frees the store and every value in it. Free its transactions first.
 * NULL is a no-op. */
void cs_kv_store_free(cs_kv_store *s);

/* The seqno of the last transaction committed or applied (0 for a new store). */
uint64_t cs_kv_last_seqno(const cs_kv_store *s);
/* The caps in force (defaults filled in). */
cs_kv_limits cs_kv_store_limits(const cs_kv_store *s);
/* True iff `name` starts with "public:". */
bool cs_kv_map_is_public(cs_slice name);
/* CONSORT_E_INVALID_ARGUMENT unless `name` is 1..128 bytes of valid UTF-8. */
CS_MUST_CHECK consort_err cs_kv_check_map_name(cs_slice name);

/* ---- transactions ---- */

/* Starts a transaction on `s`; free it with cs_kv_tx_free (committed or not). */
CS_MUST_CHECK consort_err cs_kv_tx_begin(cs_kv_store *s, cs_kv_tx **out);
/* Releases the transaction and everything it holds. NULL is a no-op. */
void cs_kv_tx_free(cs_kv_tx *tx);

/*
 * Reads `key` in `map`: the transaction's own latest write if it wrote the
 * key, else the value it read before, else the store's current value (whose
 * version is recorded for validation at commit; absent = version 0).
 * On success *found says whether the key exists; if it does, *value borrows
 * the bytes, valid until the transaction is freed or writes this key again.
 * Errors: INVALID_ARGUMENT (map name), TOO_LARGE (key over the cap),
 * STATE (transaction already committed), NOMEM. The transaction is unchanged
 * on failure.
 */
CS_MUST_CHECK consort_err cs_kv_get(cs_kv_tx *tx, cs_slice map, cs_slice key, cs_slice *value,
                                    bool *found);
/* Buffers a write (copying key and value); the last write of a key wins.
 * Errors: INVALID_ARGUMENT, TOO_LARGE (key or value over its cap), STATE, NOMEM. */
CS_MUST_CHECK consort_err cs_kv_put(cs_kv_tx *tx, cs_slice map, cs_slice key, cs_slice value);
/* Buffers the removal of `key` (a no-op at commit if the key is absent then). */
CS_MUST_CHECK consort_err cs_kv_remove(cs_kv_tx *tx, cs_slice map, cs_slice key);

/* Called once per key by cs_kv_foreach; return false to stop early. The
 * slices are valid during the call only. The callback may read and write
 * through the same transaction; its writes do not affect this iteration. */
typedef bool (*cs_kv_visit_cb)(void *ctx, cs_slice key, cs_slice value);
/*
 * Visits every key of `map` as this transaction sees it (the store merged with
 * its own writes and removals), in bytewise key order. The whole map counts as
 * read: commit fails with BUSY if anything in the map changed since.
 * Errors: INVALID_ARGUMENT, STATE, NOMEM (before any callback runs).
 */
CS_MUST_CHECK consort_err cs_kv_foreach(cs_kv_tx *tx, cs_slice map, cs_kv_visit_cb cb, void *ctx);

/* The seqno of the state the transaction reads: the store's last seqno
 * (committed seqno for a committed view). A read-write transaction that
 * commits next does so at this seqno + 1 (the node's executor runs one at a
 * time). */
uint64_t cs_kv_tx_store_seqno(const cs_kv_tx *tx);
/* True iff the transaction has buffered at least one write or removal. */
bool cs_kv_tx_has_writes(const cs_kv_tx *tx);

/*
 * Commits the transaction as `seqno`, which must be cs_kv_last_seqno() + 1:
 * validates every read, applies the writes to the store with version = seqno
 * (recording undo data) and replaces the contents of `public_ws` and
 * `private_ws` (initialised by the caller; use cs_buf_init_secret for the
 * private one) with the two serialised write sets (CBOR, see docs/kv.md; the
 * empty write set is 0xa0).
 * Errors: BUSY "conflict on map M key K" (a read is stale, or the store was
 * rolled back or restored since the transaction began: re-run the handler),
 * STATE (wrong seqno, already committed), TOO_LARGE (a write set over the
 * cap), NOMEM, CRYPTO (the state digest's cipher failed). On any failure the
 * store and the transaction are unchanged and both buffers are empty; after
 * success the transaction only accepts _free.
 */
CS_MUST_CHECK consort_err cs_kv_tx_commit(cs_kv_tx *tx, uint64_t seqno, cs_buf *public_ws,
                                          cs_buf *private_ws);

/* ---- replication, rollback, snapshots ---- */

/*
 * Applies a committed transaction's write sets (followers, ledger replay).
 * `seqno` must be cs_kv_last_seqno() + 1 (else STATE). Both write sets are
 * decoded strictly before anything changes: one that is not exactly the
 * canonical encoding of a valid write set of its kind (public maps only in
 * `public_ws`, private maps only in `private_ws`) is CORRUPT.
 * Errors: STATE, CORRUPT, NOMEM, CRYPTO; on failure the store is unchanged.
 */
CS_MUST_CHECK consort_err cs_kv_apply(cs_kv_store *s, uint64_t seqno, cs_slice public_ws,
                                      cs_slice private_ws);

/*
 * Undoes every transaction with a seqno greater than `to_seqno`, restoring the
 * exact earlier state (values, versions, removed keys). Open transactions
 * then fail to commit with BUSY.
 * Errors: INVALID_ARGUMENT (to_seqno > last seqno), STATE (undo data for that
 * range was compacted away or predates a restore, or to_seqno is below the
 * committed seqno), CRYPTO (the state digest's cipher failed; the store is
 * then unchanged). Never fails otherwise.
 */
CS_MUST_CHECK consort_err cs_kv_rollback(cs_kv_store *s, uint64_t to_seqno);

/* Drops undo data for seqnos <= committed_seqno (clamped to the last seqno):
 * those transactions can no longer be rolled back. They are committed: if the
 * committed seqno is lower, it first rises to that seqno exactly as
 * cs_kv_set_committed does (so the committed seqno never lies below the
 * compaction floor). Bounded work: it frees at most 65,536 undo items per
 * call (whole seqnos), and none after the oldest live view's pin time
 * (cs_kv_pin_at), so the floor may stay below committed_seqno until later
 * calls. Never allocates. */
void cs_kv_compact(cs_kv_store *s, uint64_t committed_seqno);

/* Serialises the whole store at its last seqno (deterministic CBOR, see
 * docs/kv.md) into `out`, replacing its contents. The bytes include private
 * maps in clear: encrypt before they leave the TEE.
 * Errors: TOO_LARGE (over out's cap), NOMEM; `out` is empty on failure. */
CS_MUST_CHECK consort_err cs_kv_snapshot(const cs_kv_store *s, cs_buf *out);

/* Replaces the whole store with a snapshot, which must be exactly the
 * canonical encoding a snapshot produces (anything else is CORRUPT). Undo data
 * is dropped (rollback below the snapshot's seqno is impossible), the
 * committed seqno becomes the snapshot's seqno (also if that is lower than
 * before: the state it described is gone); open transactions fail to commit
 * with BUSY, open committed views read the restored state.
 * Errors: CORRUPT, NOMEM, CRYPTO; on failure the store is unchanged. */
CS_MUST_CHECK consort_err cs_kv_restore(cs_kv_store *s, cs_slice snapshot);

/* ---- committed view (docs/kv.md "Committed reads") ----
 *
 * A leader's store holds, above the committed seqno, its own transactions that
 * consensus has not committed yet (cs_kv_rollback undoes them if leadership is
 * lost). A read that must never observe an uncommitted write goes through a
 * committed view. A follower applies only committed transactions, so it sets
 * the committed seqno to the last one after each apply; a new store is at 0.
 */

/*
 * Marks every transaction with seqno <= `seqno` as committed (clamped to the
 * last seqno; never moves backwards: a lower value is ignored). Rollback below
 * the committed seqno fails with STATE. Costs O(keys those transactions
 * wrote); never allocates, never fails. It changes the store, like a commit
 * (so not while cs_kv_snapshot_at reads it on another thread).
 */
void cs_kv_set_committed(cs_kv_store *s, uint64_t seqno);
/* The committed seqno: <= cs_kv_last_seqno(), 0 for a new store, the
 * snapshot's seqno after cs_kv_restore. */
uint64_t cs_kv_committed_seqno(const cs_kv_store *s);

/*
 * A read-only transaction over the committed state: every cs_kv_get and
 * cs_kv_foreach through it sees the store as of cs_kv_committed_seqno() at the
 * time of the call, as if transactions after it did not exist (a map that
 * only they created reads as absent, and iterates as empty); writes
 * (cs_kv_put, cs_kv_remove) fail with STATE; it cannot commit (STATE;
 * cs_kv_tx_has_writes is false). Free it with cs_kv_tx_free like any other.
 *
 * Each call reads the committed state at that moment, as an ordinary
 * transaction reads the current store: a view left open while the committed
 * seqno advances (or the store is restored) sees the newer committed state
 * from its next call on, so two gets of one key may differ; a rollback, which
 * cannot go below the committed seqno, changes nothing a view sees.
 *
 * Values it returns stay valid until the transaction is freed, whatever the
 * store does meanwhile (as for ordinary transactions), even if a later get of
 * the same key returns another value.
 * A get costs what it costs in an ordinary transaction plus one probe of a
 * per-map index (a foreach one per key), whatever the number of pending
 * transactions.
 * Errors: NOMEM.
 */
CS_MUST_CHECK consort_err cs_kv_tx_begin_committed(cs_kv_store *s, cs_kv_tx **out);

/* ---- state digest (docs/kv.md "State digest") ---- */

#define CS_KV_STATE_DIGEST_LEN 32

/*
 * Leaves the map `name` out of the state digest (the node excludes
 * "public:consort.signatures", which only repeats the last signature
 * entry). At most one map; set it on an empty store, before any write
 * (STATE otherwise, also for a second call); INVALID_ARGUMENT for a bad map
 * name. Snapshots still carry the map.
 */
CS_MUST_CHECK consort_err cs_kv_store_exclude_from_digest(cs_kv_store *s, cs_slice name);

/*
 * The digest of the store's whole state at its last seqno: an LtHash
 * (crypto/lthash.h) over one element per present key of every map but the
 * excluded one, each element encoding (map name, key, version, value), so
 * two stores have the same digest iff (with overwhelming probability) they
 * hold the same maps, keys, values and versions. Kept up to date on every
 * commit, apply, rollback and restore in O(keys written), never by scanning.
 *
 * What it does not cover: the seqno (whoever binds a digest to a seqno, as
 * a signature entry does, must check the seqno itself), the excluded map,
 * and maps without keys (a map whose keys were all removed is the same
 * state as no map; snapshots leave such maps out too).
 *
 * Keeping it up to date needs OpenSSL: if that fails, cs_kv_tx_commit,
 * cs_kv_apply, cs_kv_rollback and cs_kv_restore fail with CRYPTO and leave
 * the store unchanged (the digest change is computed before the store
 * changes).
 */
void cs_kv_state_digest(const cs_kv_store *s, uint8_t out[CS_KV_STATE_DIGEST_LEN]);

/*
 * Serialises the store as it was at seqno `at`, exactly the bytes
 * cs_kv_snapshot would have produced then, using the undo data of later
 * seqnos (so `at` must be >= the compaction floor, which a restore raises to
 * the snapshot's seqno, and <= the last seqno: STATE otherwise). Reads the
 * store only: it may run on another thread while the store's owner does not
 * change it. Costs what cs_kv_snapshot costs plus sorting the records that
 * the undo items after `at` hold. TOO_LARGE, NOMEM; `out` is empty on
 * failure.
 */
CS_MUST_CHECK consort_err cs_kv_snapshot_at(const cs_kv_store *s, uint64_t at, cs_buf *out);

/*
 * A pinned view of the store as of seqno `at` (the state cs_kv_snapshot_at
 * encodes), for a snapshot made while the store changes. cs_kv_pin_at runs
 * on the store's thread and costs O(hash-table chunks + writes since `at`),
 * not O(keys): it shares each map's table chunk by chunk (the store copies a
 * shared chunk before its next write to it, from a spare allocated here) and
 * touches no record. cs_kv_pinned_encode then writes exactly the bytes
 * cs_kv_snapshot_at(s, at) wrote at pin time, from any thread and whatever
 * the store did since (records never change once in the store, and the store
 * keeps every record a view may read until the view is freed: compaction
 * stops at the oldest view's pin time). cs_kv_pinned_free releases the view,
 * on the store's thread again; cs_kv_store_free before it is allowed (the
 * store then goes with its last view); cs_kv_restore refuses (BUSY) while a
 * view lives. `at` as for cs_kv_snapshot_at (STATE otherwise); NOMEM.
 */
typedef struct cs_kv_pinned cs_kv_pinned;
CS_MUST_CHECK consort_err cs_kv_pin_at(cs_kv_store *s, uint64_t at, cs_kv_pinned **out);
/* TOO_LARGE, NOMEM; `out` is empty on failure. */
CS_MUST_CHECK consort_err cs_kv_pinned_encode(cs_kv_pinned *p, cs_buf *out);
void cs_kv_pinned_free(cs_kv_pinned *p);

/* ---- write-set inspection (ledger verification, tools) ---- */

/* One decoded write: value is NULL for a removal. */
typedef consort_err (*cs_kv_ws_visit_cb)(void *ctx, cs_slice map, cs_slice key,
                                         const cs_slice *value);
/*
 * Decodes a write set strictly (canonical encoding, sorted unique names and
 * keys, caps from `limits`, NULL = defaults) and calls `cb` (may be NULL) per
 * write in encoded order. `public_set` says which kind it must be.
 * Errors: TRUNCATED, MALFORMED (also a bad map name, unsorted or duplicate
 * names or keys, a non-shortest integer or length), TRAILING_DATA, TOO_LARGE,
 * UNSUPPORTED (indefinite lengths), or whatever `cb` returns.
 */
CS_MUST_CHECK consort_err cs_kv_ws_visit(cs_slice ws, bool public_set, const cs_kv_limits *limits,
                                         cs_kv_ws_visit_cb cb, void *ctx);

#endif
