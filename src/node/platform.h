/*
 * The node's attestation platform (DESIGN.md "Platforms"): the sealing key
 * only this code on this platform derives, the attester (evidence binding a
 * key and a nonce), the trust anchors and policy peers are checked against.
 *
 *   virtual  a key in a file (INSECURE, development): sealing key =
 *            HKDF-SHA256(ikm = the platform key's PKCS#8 DER, salt = code
 *            id, info = "consort sealing v1"); anchors in files = its own
 *            platform certificate and <platform_dir>/anchors/
 *   tpm      a TPM 2.0 (platform_tpm.c): sealing key = TPM2_HMAC(owner
 *            primary key, "consort sealing v1" || code id); evidence = a
 *            quote; the anchor in files = tpm_ak_ca_cert
 *
 * Once the service exists its policy comes from the replicated store
 * (docs/security.md "Policy lives in the store"): node.c reads it and hands
 * it over with node_platform_set_service_policy; the anchors in files then
 * only decide what a new service starts with and which service a joining
 * node accepts.
 *
 * Before producing evidence the platform re-checks that the process runs
 * only the code its code id describes (node_code.h).
 */
#ifndef CS_NODE_PLATFORM_H
#define CS_NODE_PLATFORM_H

#include "attest/policy.h"
#include "node/node.h"
#include "node/node_code.h"

typedef struct node_platform node_platform;

/* Opens cfg->platform for the code `code` (borrowed; it must outlive the
 * platform). Errors: UNSUPPORTED (a platform the node cannot run on), the
 * platform's (files, TPM). */
CS_MUST_CHECK consort_err node_platform_open(const cs_node_config *cfg, cs_node_code *code,
                                             const char *node_id, node_platform **out);
void node_platform_free(node_platform *p);

/* The lineage sealing root (docs/migration.md §2) the node's sealed store
 * is sealed under, derived when the platform opened: bound to the
 * platform (virtual key, TPM owner seed) but to no code id; which code
 * opens the store is the store's rule (node_seal.h). */
void node_platform_lineage_root(const node_platform *p, uint8_t out[32]);
/* Evidence binding `key` and `nonce` (cs_attester_fn; `ctx` is the platform),
 * refused if the process maps code its code id does not cover. */
consort_err node_platform_attest(void *ctx, const cs_key *key, cs_slice nonce, cs_evidence *out);
/* This node's own evidence (key bound, empty nonce), encoded: its quote. */
CS_MUST_CHECK consort_err node_platform_own_evidence(node_platform *p, const cs_key *key,
                                                     cs_buf *out);

/* The anchors read from files (what a new service starts with). */
const cs_blob_list *node_platform_file_anchors(const node_platform *p);

/* The service's policy, from its store. `anchors` NULL or empty: keep the
 * anchors in use (the store holds none yet). `code_ids` empty with
 * `only_self`: only the node's own code id passes (a new service before
 * genesis); empty otherwise: any code id (a joiner before it caught up:
 * raft peers must still hold a service-issued certificate). */
typedef struct node_service_policy {
    const uint8_t (*code_ids)[32];
    size_t code_id_count;
    bool only_self;
    const cs_blob_list *anchors;
    bool has_allow_debug;
    bool allow_debug;
} node_service_policy;
CS_MUST_CHECK consort_err node_platform_set_service_policy(node_platform *p,
                                                           const node_service_policy *sp);

/* What attested channels use (borrowed; updated in place). */
const cs_verify_opts *node_platform_verify_opts(const node_platform *p);
/* Peers of the service: the service's policy. */
const cs_policy *node_platform_policy(const node_platform *p);
/* A joiner checking its target: the platform, any code id. */
const cs_policy *node_platform_join_policy(const node_platform *p);

#endif
