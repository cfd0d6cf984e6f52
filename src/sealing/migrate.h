/*
 * Fork-free migration of a sealed store (docs/migration.md §5), without
 * transport and without attestation of its own: the caller relays the
 * messages (bytes, CBOR) and supplies evidence through two callbacks.
 *
 *   driver: nonce_S = random, from S        (the driver only relays)
 *   D: cs_migrate_dest_begin(nonce_S)      -> offer
 *   S: cs_sealstore_answer_offer(offer)    -> package (S FROZEN first)
 *   D: cs_migrate_dest_accept(package)     -> PENDING store + confirm
 *   S: cs_sealstore_answer_confirm(confirm)-> done (S RETIRED(D) first)
 *   D: cs_sealstore_finish(done)           -> LIVE
 *
 * Every step is idempotent and every crash is recovered by running the
 * protocol again from what is on disk: a PENDING destination makes its
 * confirm again with cs_sealstore_confirm; a FROZEN source answers any
 * admissible offer with a fresh package; a RETIRED(D) source answers D's
 * confirm (and D's offer) with done again.
 *
 * The callbacks are synchronous and are called inside these functions
 * (they are not completions: nothing is deferred).
 */
#ifndef CS_SEALING_MIGRATE_H
#define CS_SEALING_MIGRATE_H

#include "crypto/key.h"
#include "sealing/store.h"

/* Evidence of the running code that binds `key` (its SPKI) and `nonce`,
 * appended to evidence_out. */
typedef consort_err (*cs_migrate_attest_fn)(void *ctx, const cs_key *key, cs_slice nonce,
                                            cs_buf *evidence_out);
/* Verifies that `evidence` is genuine and binds `key` and `nonce`; fills
 * the code id it attests. Any failure refuses the message. */
typedef consort_err (*cs_migrate_verify_fn)(void *ctx, cs_slice evidence, const cs_key *key,
                                            cs_slice nonce, uint8_t code_id_out[32]);

typedef struct cs_migrate_attestation {
    cs_migrate_attest_fn attest;
    cs_migrate_verify_fn verify;
    void *ctx;
} cs_migrate_attestation;

typedef enum cs_migrate_answer {
    CS_MIGRATE_PACKAGE = 1, /* a package for the destination */
    CS_MIGRATE_DONE = 2,    /* the source already retired to this destination */
} cs_migrate_answer;

/*
 * Destination, step 1: the offer for a source that issued `source_nonce`.
 * The first call creates, durably, <dir>/migrate.bin (sealed with policy
 * code under keys->lineage_root) holding the destination's instance id and
 * P-256 transfer key; later calls reuse them, so a destination that
 * crashed offers again as the same instance. Appends the offer to `out`.
 */
CS_MUST_CHECK consort_err cs_migrate_dest_begin(const char *dir, const cs_sealstore_keys *keys,
                                                cs_anchor *anchor,
                                                const cs_migrate_attestation *att,
                                                cs_slice source_nonce, cs_buf *out);

/*
 * Source, step 2: answers an offer made for `nonce` (which this source
 * issued). Verifies the destination's evidence and that its code id is
 * this store's or one of its successors (POLICY otherwise, and the store
 * stays as it was: an inadmissible offer never freezes it). LIVE: freezes
 * (one commit), FROZEN: as it is; then answers a package (*kind PACKAGE).
 * RETIRED(D): answers D's offer with done (*kind DONE), any other POLICY.
 * PENDING: STATE.
 */
CS_MUST_CHECK consort_err cs_sealstore_answer_offer(cs_sealstore *s, cs_slice offer, cs_slice nonce,
                                                    const cs_migrate_attestation *att, cs_buf *out,
                                                    cs_migrate_answer *kind);

/*
 * Destination, step 3: checks the package (made for this destination's
 * latest offer; the source's evidence binds its key and the offer; its
 * code id is this code's, or the package's successors list this code),
 * decrypts it and creates the PENDING store in `dir` under this
 * destination's keys and `anchor` (borrowed, as for cs_sealstore_create),
 * with the source's SMK, counters, payload and lineage (the source's code
 * id added as an ancestor if it differs). Appends the confirm to
 * `confirm_out`. If `dir` already holds a PENDING store from this source,
 * opens it and confirms again; a LIVE one: STATE.
 */
CS_MUST_CHECK consort_err cs_migrate_dest_accept(const char *dir, const cs_sealstore_keys *keys,
                                                 cs_anchor *anchor,
                                                 const cs_migrate_attestation *att,
                                                 cs_slice package, cs_sealstore **store_out,
                                                 cs_buf *confirm_out);

/* Destination, after a restart: the confirm of a PENDING store, again. */
CS_MUST_CHECK consort_err cs_sealstore_confirm(cs_sealstore *s, cs_buf *confirm_out);

/*
 * Source, step 4: on a valid confirm (signed by the transfer key of a
 * destination this source sent a package to) retires to that destination
 * (FROZEN -> RETIRED(D), one commit) and appends done. RETIRED(D): done
 * again for D, POLICY for anyone else. LIVE or PENDING: STATE.
 */
CS_MUST_CHECK consort_err cs_sealstore_answer_confirm(cs_sealstore *s, cs_slice confirm,
                                                      cs_buf *done_out);

/* Destination, step 5: PENDING(S) -> LIVE on S's valid done (one commit);
 * LIVE: a repeated done is ignored. */
CS_MUST_CHECK consort_err cs_sealstore_finish(cs_sealstore *s, cs_slice done);

#endif
