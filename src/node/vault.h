/*
 * The vault: the node's identities and secrets, and the sealed state that
 * keeps them across restarts (docs/operating.md "What is sealed",
 * docs/security.md "One service, one genesis").
 *
 *   node key          created inside the node; its id names the node:
 *                     node_id = hex of the first 8 bytes of SHA-256(SPKI DER),
 *                     raft id = the same 8 bytes as a big-endian u64 (never 0)
 *   self certificate  for attested channels before the node is trusted
 *   service identity  a new service's key and self-signed CA certificate,
 *                     which issues node certificates; the ledger secret
 *   node certificate  issued by the service identity
 *   high-water mark   a signature entry the node's ledger durably holds
 *   genesis inputs    a new service's policy until genesis is signed
 *
 * Sealed (vault_seal.c): the payload of the node's sealed store
 * (node_seal.h, data_dir/sealed/), so only this code, or a successor
 * governance approved, on this platform opens it, and an older copy does
 * not (its anchor moved on).
 */
#ifndef CS_NODE_VAULT_H
#define CS_NODE_VAULT_H

#include "crypto/key.h"
#include "crypto/x509.h"
#include "store/ledger.h"

#include <uv.h>

#define NODE_VAULT_ID_LEN 16
/* Most service identities a recovered service remembers (store/succession.h). */
#define NODE_VAULT_PREV_MAX 16

typedef struct node_vault node_vault;
struct node_seal;

CS_MUST_CHECK consort_err node_vault_new(const char *data_dir, node_vault **out);
/* Wipes every secret. NULL is a no-op. */
void node_vault_free(node_vault *v);
/* Where the vault is sealed (borrowed: it must outlive the vault). */
void node_vault_set_seal(node_vault *v, struct node_seal *seal);

/* Loads the vault from the sealed store; NOT_FOUND if it holds none yet,
 * CORRUPT. */
CS_MUST_CHECK consort_err node_vault_load(node_vault *v);
/* The vault's sealed form (vault_seal.c: the sealed store's payload), and
 * a vault loaded from it (CORRUPT, MALFORMED, ... for bytes that are not
 * one; the vault must be fresh: node_vault_new). */
CS_MUST_CHECK consort_err node_vault_encode(const node_vault *v, cs_buf *out);
CS_MUST_CHECK consort_err node_vault_decode(node_vault *v, cs_slice payload);
/* Seals what the vault holds into the sealed store (one commit). */
CS_MUST_CHECK consort_err node_vault_save(node_vault *v);

/* A fresh node key (raft id never 0) and its self-signed certificate. */
CS_MUST_CHECK consort_err node_vault_create_node(node_vault *v);
/* A new service: its key, CA certificate and ledger secret, and this node's
 * certificate issued by it (with the host of `rpc_address`). */
CS_MUST_CHECK consort_err node_vault_create_service(node_vault *v, const char *rpc_address);
/* A joiner pins the service certificate it expects (PEM file); if the vault
 * already holds one, it must be that one (BAD_CERTIFICATE). */
CS_MUST_CHECK consort_err node_vault_pin_service(node_vault *v, const char *path);

/* ---- recovery (docs/recovery.md) ---- */

/* A recovering node: a new service key and CA certificate and this node's
 * certificate issued by it, but no ledger secret (the members' shares
 * rebuild the old one). */
CS_MUST_CHECK consort_err node_vault_create_recovery(node_vault *v, const char *rpc_address);
/* The identity a recovering node recovers (PEM file, the config's
 * "previous_service_cert"): sealed at the first start; later starts must
 * name the same (BAD_CERTIFICATE). STATE once the recovery is done. */
CS_MUST_CHECK consort_err node_vault_pin_previous(node_vault *v, const char *path);
/* The identity being recovered (NULL if not recovering). */
const cs_x509 *node_vault_recovering(const node_vault *v);
/* The recovery is done: the rebuilt ledger secret, the identities the
 * service succeeded (oldest first, copied; the last one is the recovered
 * identity, whose last signature entry is last[count - 1]), and the
 * high-water mark that entry. The caller seals (node_vault_save). */
CS_MUST_CHECK consort_err node_vault_recovered(node_vault *v,
                                               const uint8_t secret[CS_LEDGER_SECRET_LEN],
                                               const cs_ledger_identity *ids, size_t count);
/* The service identities the ledger is signed under, oldest first, the
 * current one last (last_seqno 0), into out[NODE_VAULT_PREV_MAX + 1]
 * (borrowed); the number filled. */
size_t node_vault_identities(const node_vault *v, cs_ledger_identity *out);

/* What a joiner was admitted with (its welcome): checked (the service
 * certificate is the pinned one, the service key is its key, the node
 * certificate is issued by it for this node's key) and adopted; the
 * caller seals it (node_vault_save). */
typedef struct node_vault_welcome {
    cs_slice service_key;  /* PEM */
    cs_slice service_cert; /* DER */
    cs_slice node_cert;    /* DER */
    cs_slice ledger_secret;
} node_vault_welcome;
CS_MUST_CHECK consort_err node_vault_adopt(node_vault *v, const node_vault_welcome *w);

/* A node certificate for `subject` issued by the service identity, with the
 * host of `rpc_address` (and "localhost") as subjectAltName. */
CS_MUST_CHECK consort_err node_vault_issue(const node_vault *v, const cs_key *subject,
                                           const char *node_id, const char *rpc_address,
                                           cs_x509 **out);
/* Is `cert` issued by this service's identity? */
bool node_vault_is_service_issued(const node_vault *v, const cs_x509 *cert);
/* Writes node_cert.pem and service_cert.pem into data_dir (public copies)
 * and, if `service_cert_out` is not empty, the service certificate there. */
CS_MUST_CHECK consort_err node_vault_write_public(const node_vault *v,
                                                  const char *service_cert_out);

/* ---- the sealed service facts ---- */

/* Raises the high-water mark to `seqno` (no-op if not higher) and seals it
 * from `loop`'s thread pool (node_seal_set_payload_later), so the loop does
 * not wait for the sealed store's disk: the mark is raised in memory at once
 * and later saves include it. *queued says whether a write was queued
 * (not for a mark that is not higher); if so, done(ctx, rc) is called once
 * from the loop when it ended. A failed write is logged and the next save
 * seals the mark. Errors here (encoding, NOMEM) leave the mark as it was
 * and queue nothing. */
CS_MUST_CHECK consort_err node_vault_raise_hwm_later(node_vault *v, uv_loop_t *loop, uint64_t seqno,
                                                     void (*done)(void *ctx, consort_err rc),
                                                     void *ctx, bool *queued);
uint64_t node_vault_hwm(const node_vault *v);
/* Genesis inputs (genesis.h) of a service this node creates: set at its
 * first start, sealed with it, dropped once genesis is signed. */
CS_MUST_CHECK consort_err node_vault_set_genesis(node_vault *v, cs_slice inputs);
cs_slice node_vault_genesis(const node_vault *v);
/* Genesis is committed and signed at `sig_seqno`: drops the inputs and
 * raises the high-water mark, sealing once (unchanged on failure). */
CS_MUST_CHECK consort_err node_vault_genesis_signed(node_vault *v, uint64_t sig_seqno);

/* ---- accessors ---- */

const char *node_vault_node_id(const node_vault *v);
uint64_t node_vault_raft_id(const node_vault *v);
const cs_key *node_vault_key(const node_vault *v);
const cs_x509 *node_vault_self_cert(const node_vault *v);
const cs_x509 *node_vault_node_cert(const node_vault *v); /* NULL until trusted */
const cs_x509 *node_vault_service_cert(const node_vault *v);
const cs_key *node_vault_service_key(const node_vault *v);
/* The ledger secret, or NULL if the node holds none yet. */
const uint8_t *node_vault_secret(const node_vault *v);

/* The raft id for a node id (16 hex digits): its big-endian value. */
CS_MUST_CHECK consort_err node_raft_id_of(const char *node_id, uint64_t *out);

#endif
