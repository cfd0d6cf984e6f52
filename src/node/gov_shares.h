/*
 * Recovery shares in the store (docs/recovery.md "Shares in the ledger";
 * docs/formats.md "Recovery maps"). The ledger secret is split with
 * gov/shares.h into one share per member who has an encryption key, any
 * `recovery_threshold` of which rebuild it; each share is encrypted to its
 * member and kept in a public map, so that after a disaster the members
 * can fetch theirs from any copy of the ledger:
 *
 *   public:consort.gov.recovery_shares  member id (64 hex) -> encrypted share
 *   public:consort.gov.recovery         "wrapping" -> JSON (keys sorted)
 *       {"config": hex SHA-256 of what the shares were issued for (the
 *                  threshold and every member id with its key),
 *        "epoch": n (raised at every issuance, never reused),
 *        "members": n (shares issued), "service_id": hex (the service
 *        certificate's SHA-256), "threshold": k}
 *
 * Shares are (re)issued, in the transaction that makes the change, at
 * genesis, whenever an accepted proposal changes the members with keys,
 * their keys or the threshold, and when a recovered service takes over
 * under a new identity (the service id changes). Pure functions over a KV
 * transaction; randomness from OpenSSL (the split).
 */
#ifndef CS_NODE_GOV_SHARES_H
#define CS_NODE_GOV_SHARES_H

#include "gov/shares.h"
#include "store/kv.h"
#include "store/ledger.h"

#define SVC_MAP_RECOVERY_SHARES "public:consort.gov.recovery_shares"
#define SVC_MAP_RECOVERY        "public:consort.gov.recovery"
#define SVC_RECOVERY_WRAPPING   "wrapping"

/* What shares are issued from: the ledger secret and the service. */
typedef struct node_share_keys {
    const uint8_t *ledger_secret;            /* CS_LEDGER_SECRET_LEN bytes, borrowed; NULL: none */
    uint8_t service_id[CS_GOV_SHARE_ID_LEN]; /* SHA-256 of the service certificate DER */
} node_share_keys;

/* The service id of a service certificate (DER). */
void node_share_service_id(cs_slice cert_der, uint8_t out[CS_GOV_SHARE_ID_LEN]);

/*
 * (Re)issues the shares in `tx` if what they were issued for changed (the
 * threshold, the members with encryption keys or their keys, the service
 * id) or none were issued yet while the threshold is above 0: a new epoch,
 * every old share removed, one new share per member with a key. No change:
 * nothing written. Errors: POLICY (the threshold exceeds the members with
 * keys, more than 255 of them), STATE (a change, and `k` or its secret is
 * NULL), CORRUPT (a stored wrapping or setting that does not parse), the
 * split's errors (a key that is not RSA), NOMEM.
 */
CS_MUST_CHECK consort_err node_shares_issue(cs_kv_tx *tx, const node_share_keys *k);

/* The current wrapping. */
typedef struct node_share_wrapping {
    uint64_t epoch;
    unsigned threshold, members;
    uint8_t service_id[CS_GOV_SHARE_ID_LEN];
    uint8_t config[32];
} node_share_wrapping;

/* Reads the wrapping (*found false if none was ever issued). CORRUPT if it
 * does not parse. */
CS_MUST_CHECK consort_err node_shares_wrapping(cs_kv_tx *tx, node_share_wrapping *out, bool *found);

#endif
