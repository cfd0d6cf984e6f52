/* Internals of the vault (vault.h), shared by vault.c (identities) and
 * vault_seal.c (the sealed file) only. */
#ifndef CS_NODE_VAULT_PRIV_H
#define CS_NODE_VAULT_PRIV_H

#include "node/node.h"
#include "node/node_seal.h"
#include "node/vault.h"

/* A private key's PKCS#8 PEM as last encoded, for the key object held
 * (a reference: the same pointer is then the same, unchangeable key).
 * OpenSSL 3's encoder took 7-10 ms a save (both keys) inside a busy node, and the vault
 * is sealed after every snapshot (bench/RESULTS.md). */
typedef struct vault_pem {
    cs_key *key;
    cs_buf pem; /* secret */
} vault_pem;

struct node_vault {
    char data_dir[CS_NODE_PATH_MAX];
    node_seal *seal; /* borrowed: where the sealed state lives (node_seal.h) */

    char node_id[NODE_VAULT_ID_LEN + 1];
    uint64_t raft_id;
    cs_key *node_key;
    cs_x509 *self_cert;  /* for attested channels before the join */
    cs_x509 *node_cert;  /* issued by the service identity (NULL until trusted) */
    cs_key *service_key; /* private (every trusted node holds it) */
    cs_x509 *service_cert;
    uint8_t secret[CS_LEDGER_SECRET_LEN];
    bool has_secret;

    uint64_t hwm;
    cs_buf genesis; /* genesis inputs until genesis is signed */

    /* the identities this service succeeded (docs/recovery.md), oldest
     * first; while recovering, the last one has last_seqno 0 */
    cs_x509 *prev_cert[NODE_VAULT_PREV_MAX];
    uint64_t prev_last[NODE_VAULT_PREV_MAX];
    size_t prev_count;

    vault_pem *pems; /* [0] node key, [1] service key; NULL until the first save */
};

/* Node id, raft id and self-signed certificate from v->node_key. */
CS_MUST_CHECK consort_err vault_derive_ids(node_vault *v);

#endif
