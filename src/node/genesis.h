/*
 * Genesis (docs/security.md "One service, one genesis"): the policy a new
 * service starts with, read from the configuration exactly once, at the
 * start that creates the service identity, sealed with it (vault.h), then
 * written by the genesis transaction. A restart never reads the
 * configuration's "start" section again.
 *
 * Genesis inputs (CBOR map, text keys in this order):
 *   {"code_ids": [* bstr 32], "users": [* bstr DER], "members": [* bstr DER],
 *    "anchors": [* bstr], "allow_debug": bool}
 * code_ids holds the node's own code id first; anchors the platform's trust
 * anchors as the node read them from files (platform.h).
 */
#ifndef CS_NODE_GENESIS_H
#define CS_NODE_GENESIS_H

#include "node/service_maps.h"

/* The inputs from `cfg`'s start section, the node's code id and anchors. */
CS_MUST_CHECK consort_err node_genesis_prepare(const cs_node_config *cfg, const uint8_t code_id[32],
                                               const cs_blob_list *anchors, cs_buf *out);

/* What the genesis transaction writes besides the inputs. */
typedef struct node_genesis {
    cs_slice inputs;           /* sealed genesis inputs */
    const char *node_id;       /* the creating node */
    const node_record *record; /* its record (status Trusted) */
    cs_slice service_cert;     /* DER */
    /* the ledger secret the first recovery shares are split from, and the
     * service key kept with the private state (succession.h) */
    const uint8_t *ledger_secret;
    const cs_key *service_key;
} node_genesis;

/* The genesis transaction (cs_node_tx_fn; ctx is a node_genesis). CORRUPT
 * for inputs that do not decode. */
consort_err node_genesis_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out);

#endif
