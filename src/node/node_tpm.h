/*
 * The node on the "tpm" platform (node_tpm.c; docs/operating.md "TPM
 * platform", docs/platforms/tpm.md "In the node"). Called by node_seal.c
 * (sealing key) and node_platform.c (attester, trust anchors); the rest of
 * the node sees only the platform-neutral functions of node_priv.h.
 */
#ifndef CS_NODE_NODE_TPM_H
#define CS_NODE_NODE_TPM_H

#include "node/node_priv.h"

/*
 * The sealing key, derived inside the node's TPM (cfg.tpm_tcti):
 * n->seal_key = TPM2_HMAC(owner-hierarchy primary HMAC key, label || code id)
 * (attest/tpm_seal.h; node_seal.c passes "consort sealing v1"). This is the node's
 * first use of the TPM in a start, so it first flushes transient objects a
 * previous process of this node left loaded (killed before it could).
 * n->code_id must be set. Errors: IO (the TPM).
 */
CS_MUST_CHECK consort_err node_tpm_seal_key(cs_node *n, cs_slice label);

/*
 * Opens the TPM attester (n->tpm): AK = the TPM's endorsement-hierarchy
 * primary key, the code id extended into the code-id PCR, and the AK
 * certificate: issued now by cfg.tpm_ak_ca_key (with cfg.tpm_ak_ca_cert as
 * its issuer) or loaded from cfg.tpm_ak_cert (it must certify this AK).
 * Adds cfg.tpm_ak_ca_cert (DER) to n->anchors: the one CA whose AK
 * certificates this node accepts from peers. Errors: IO (TPM), NOT_FOUND /
 * MALFORMED (files), BAD_CERTIFICATE (a CA certificate that is not a CA or
 * does not belong to the CA key; an AK certificate for another key).
 */
CS_MUST_CHECK consort_err node_tpm_open(cs_node *n);

/* Frees the attester (flushing the AK from the TPM); idempotent. */
void node_tpm_close(cs_node *n);

/* Evidence binding `key` and `nonce` (cs_report_data_bind): a TPM quote. */
CS_MUST_CHECK consort_err node_tpm_attest(cs_node *n, const cs_key *key, cs_slice nonce,
                                          cs_evidence *out);

#endif
