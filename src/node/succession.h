/*
 * The service's identity across a recovery (docs/recovery.md "Taking
 * over"; docs/formats.md "Recovery maps"): the service key kept with the
 * private state, so that after a disaster the recovered service can sign
 * with the identity it succeeds, and the transaction in which a recovered
 * service takes over under its new identity.
 *
 *   consort.service.private                 "key" -> the service key (PKCS#8
 *                                           PEM); a private map: encrypted
 *                                           in the ledger under the ledger
 *                                           secret like application data
 *   public:consort.service.previous_identities
 *                                           hex SHA-256 of a previous service
 *                                           certificate's DER -> its
 *                                           succession record
 *                                           (store/succession.h)
 *
 * Pure functions over a KV transaction.
 */
#ifndef CS_NODE_SUCCESSION_H
#define CS_NODE_SUCCESSION_H

#include "node/gov_shares.h"
#include "node/service_maps.h"
#include "store/succession.h"

#define SVC_MAP_SERVICE_PRIVATE "consort.service.private"
#define SVC_SERVICE_PRIVATE_KEY "key"
#define SVC_MAP_PREVIOUS_IDS    "public:consort.service.previous_identities"

/* Writes `key` (private) as the service key. */
CS_MUST_CHECK consort_err node_service_key_put(cs_kv_tx *tx, const cs_key *key);
/* The service key the state holds (*out NULL if none; the caller frees it). */
CS_MUST_CHECK consort_err node_service_key_get(cs_kv_tx *tx, cs_key **out);

/* What a recovered service's first transaction does (ctx of node_succession_fn). */
typedef struct node_succession {
    const cs_x509 *previous_cert; /* the identity the recovered ledger was signed under */
    const cs_x509 *next_cert;     /* the new one */
    const cs_key *next_key;
    uint64_t last_term, last_seqno; /* the recovery point: the last signature entry */
    node_share_keys shares;         /* the ledger secret, and next_cert's service id */
    const char *node_id;            /* the recovering node */
    const node_record *record;      /* its record (status Trusted) */
    const cs_blob_list *anchors;    /* its platform's trust anchors, as genesis takes them */
} node_succession;

/*
 * The succession transaction (a cs_node_tx_fn; ctx is a node_succession):
 * signs the succession record with the previous service key (read from the
 * private state: it must be previous_cert's key) and the new one, and
 * writes it under the previous certificate's digest; the new service
 * certificate and status "Opening" (the members open it again); the new
 * service key; every earlier node record "Retired" and this node's
 * record; this node's code id, unless governance retired it; its
 * platform's trust anchors (the recovery host's, added as genesis adds the
 * first host's, so that nodes it trusts can join); and the
 * recovery shares issued again for the new service. Errors: STATE (the
 * state holds no service key: the previous service predates it), POLICY
 * (the code id was retired), and those of signing and issuing.
 */
consort_err node_succession_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out);

/* True if the state's service certificate (SVC_MAP_SERVICE "cert") is `cert`. */
CS_MUST_CHECK consort_err node_succession_done(cs_kv_tx *tx, const cs_x509 *cert, bool *done);

#endif
