/*
 * The sealed store of an instance (docs/migration.md §1, §3, §4): one file,
 * <dir>/store.bin, a sealed blob (seal.h, policy lineage under the lineage
 * root, so that the approved successors it lists can open it) whose
 * plaintext holds the instance id, the lifecycle state, the sealing master
 * key (SMK) application blobs derive from, the named counters, the lineage
 * record (ancestors) and an opaque payload the owner keeps there (the node's
 * vault). Every durable state of the store is bound to one value of the
 * instance's anchor (anchor.h): the blob's counter is ("consort.anchor",
 * value), and a store opens only if that value is the anchor's.
 *
 * Every change (a counter increment, new successors or payload, a state
 * change) is one commit, made durable in three steps (store_file.c):
 *
 *   1. write the new store, bound to v + 1, to <dir>/store.next (atomic:
 *      temporary file, fsync, rename, fsync of the directory);
 *   2. increment the anchor from v to v + 1;
 *   3. rename store.next over store.bin and fsync the directory.
 *
 * Opening takes the file (store.bin or store.next) bound to the anchor's
 * value a; failing that one bound to a + 1, whose commit a crash cut between
 * steps 1 and 2: it increments the anchor and takes it (the change was made
 * durable but never acknowledged, like a transaction whose outcome its
 * client did not learn). Then it commits twice, so that a copy of an
 * unacknowledged store.next the host may have kept (bound to at most a + 1)
 * never opens again, and the state opened is the only one bound to the
 * anchor before anything is acted on (docs/migration.md §3 "Crash between
 * the two writes" has the whole argument). So every crash leaves
 * the old or the new state, and an older copy is refused: ROLLBACK.
 *
 * A failed commit leaves it unknown which state is durable: the handle
 * refuses every later change (STATE, "reopen the store") and the owner
 * reopens it, which finds the one that is.
 *
 * A store handle is used by one thread at a time.
 */
#ifndef CS_SEALING_STORE_H
#define CS_SEALING_STORE_H

#include "sealing/anchor.h"
#include "sealing/seal.h"

#define CS_SEALSTORE_ID_LEN        16
#define CS_SEALSTORE_MAX_COUNTERS  1024
#define CS_SEALSTORE_MAX_PAYLOAD   ((size_t)1 << 20)
#define CS_SEALSTORE_MAX_ANCESTORS 64
/* The counter name that binds store.bin to the anchor (reserved). */
#define CS_SEALSTORE_ANCHOR_COUNTER "consort.anchor"

typedef enum cs_sealstore_state {
    CS_SEALSTORE_LIVE = 1,    /* seal, unseal and counters work */
    CS_SEALSTORE_FROZEN = 2,  /* migrating away: everything but migration refused */
    CS_SEALSTORE_RETIRED = 3, /* moved to another instance (peer id); never runs again */
    CS_SEALSTORE_PENDING = 4, /* received from a source (peer id), waiting for its done */
} cs_sealstore_state;

const char *cs_sealstore_state_name(cs_sealstore_state st);

/* What the platform derives for the running code (docs/migration.md §1). */
typedef struct cs_sealstore_keys {
    uint8_t code_id[CS_SEAL_CODE_ID_LEN];
    uint8_t lineage_root[CS_SEAL_ROOT_LEN]; /* root(lineage): secret */
} cs_sealstore_keys;

typedef struct cs_sealstore cs_sealstore;

/*
 * Creates a LIVE store in `dir` (created if missing) with a fresh instance
 * id and SMK, bound to the anchor's next value. `keys` is copied; `anchor`
 * is borrowed and must outlive the store (one anchor per store: a second
 * user of it makes the store's values stale, refused as ROLLBACK). STATE if
 * `dir` already holds a store (store.bin or store.next).
 */
CS_MUST_CHECK consort_err cs_sealstore_create(const char *dir, const cs_sealstore_keys *keys,
                                              cs_anchor *anchor, cs_sealstore **out);
/*
 * Opens the store of `dir` (see the file comment), then commits it twice
 * (two anchor increments: store_file.c says why). Opening by an approved successor (its code id in
 * the store's successors) records the sealer's code id as an ancestor and
 * re-seals as itself. Errors: NOT_FOUND (no store), POLICY (not this code's
 * nor an approved successor's), BAD_TAG (another platform or a damaged
 * file), ROLLBACK (the store is older than the anchor: "store bound to
 * anchor value 4, anchor is at 7"), CORRUPT (the anchor is behind the
 * store: it was reset or replaced), IO.
 */
CS_MUST_CHECK consort_err cs_sealstore_open(const char *dir, const cs_sealstore_keys *keys,
                                            cs_anchor *anchor, cs_sealstore **out);
/* Wipes the secrets and frees the handle (writes nothing). NULL: no-op. */
void cs_sealstore_free(cs_sealstore *s);

cs_sealstore_state cs_sealstore_state_of(const cs_sealstore *s);
const uint8_t *cs_sealstore_instance_id(const cs_sealstore *s);
/* RETIRED: the destination's id; PENDING: the source's; else NULL. */
const uint8_t *cs_sealstore_peer_id(const cs_sealstore *s);
/* The anchor value the durable state is bound to. */
uint64_t cs_sealstore_bound(const cs_sealstore *s);
/* The lineage record: code ids whose state this instance inherited. */
size_t cs_sealstore_ancestors(const cs_sealstore *s, const cs_code_id **out);
size_t cs_sealstore_successors(const cs_sealstore *s, const cs_code_id **out);

/* Replaces the successors (at most CS_SEAL_MAX_SUCCESSORS; one commit).
 * Allowed in every state but RETIRED. */
CS_MUST_CHECK consort_err cs_sealstore_set_successors(cs_sealstore *s, const cs_code_id *ids,
                                                      size_t n);
/* Replaces the payload (at most 1 MiB; one commit). FROZEN unless LIVE. */
CS_MUST_CHECK consort_err cs_sealstore_set_payload(cs_sealstore *s, cs_slice payload);
/* The payload (borrowed until the next change or free). */
cs_slice cs_sealstore_payload(const cs_sealstore *s);

/* The value of a named counter (0 if never incremented). FROZEN unless LIVE. */
CS_MUST_CHECK consort_err cs_sealstore_counter_read(cs_sealstore *s, const char *name,
                                                    uint64_t *value);
/* Increments a named counter (1-64 printable ASCII bytes, at most 1024
 * counters); *value receives the new value once durable. FROZEN unless
 * LIVE; TOO_LARGE for the 1025th counter. One commit. */
CS_MUST_CHECK consort_err cs_sealstore_counter_increment(cs_sealstore *s, const char *name,
                                                         uint64_t *value);
/* Increments `n` counters (a name may repeat: it is incremented that many
 * times) in ONE commit (one anchor increment); values[i] receives the value
 * after names[i]'s increment. */
CS_MUST_CHECK consort_err cs_sealstore_counter_increment_many(cs_sealstore *s,
                                                              const char *const *names, size_t n,
                                                              uint64_t *values);

/*
 * Application blobs, sealed under the SMK (so they follow the store when
 * it migrates): policy code (this code id only) or lineage (this code id,
 * the store's successors, and whoever inherits this store). With a counter
 * name, increments that counter first (one commit) and binds the new value;
 * unsealing then requires the counter to still hold it. Appends the blob to
 * `out`. FROZEN unless LIVE.
 */
CS_MUST_CHECK consort_err cs_sealstore_seal(cs_sealstore *s, cs_seal_policy policy,
                                            const char *counter_name, cs_slice plain, cs_buf *out);
/* Opens an application blob (opener: this code id and the store's
 * ancestors); appends the plaintext to `out`; *hdr may be NULL. ROLLBACK
 * when its counter moved on ("sealed at counter 4, counter is 7"); the
 * errors of cs_unseal; FROZEN unless LIVE. */
CS_MUST_CHECK consort_err cs_sealstore_unseal(cs_sealstore *s, cs_slice blob, cs_seal_header *hdr,
                                              cs_buf *out);

/*
 * For tests: the n-th durable step from now (0 = the next; -1 disarms) of
 * any store in this process fails as if the process died just before it
 * (IO, "injected crash"); the handle then refuses everything (STATE) and
 * must be freed and the store reopened. Not thread-safe.
 */
void cs_sealstore_test_crash_at(long n);

#endif
