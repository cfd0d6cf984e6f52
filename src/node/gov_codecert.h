/*
 * Code certificates in governance (docs/code-certificates.md "Governance"):
 *
 *   public:consort.gov.code_certificate_policy  "policy" ->
 *       {"issuers": [PEM, ...], "claims": ["tested", "compliance=HIPAA", ...]}
 *   public:consort.code_certificates            code id (hex) ->
 *       {"certificate": base64 COSE_Sign1, "issuer_sha256": hex,
 *        "artifact_sha256": hex, "claims": {name: value}, "proposal_id": hex}
 *
 * add_code_id may carry a "certificate" argument: a code certificate for
 * that code id, logged when the code id is trusted (without a policy it
 * must verify under the issuer certificate it carries). With a policy,
 * add_code_id needs one, by one of the policy's issuers, making every claim;
 * the node refuses a proposal without one when it is submitted, and the
 * action checks again when applied. The accepted certificate is written in
 * the same transaction, so the ledger (and a receipt for that transaction)
 * shows it was public before the code id was trusted; a joining node's code
 * id needs one while the policy is set. Setting a policy is refused while a
 * trusted code id lacks a certificate that meets it.
 */
#ifndef CS_NODE_GOV_CODECERT_H
#define CS_NODE_GOV_CODECERT_H

#include "node/gov_priv.h"
#include "store/kv.h"

#define GOV_CODECERT_MAX_ISSUERS 8
#define GOV_CODECERT_MAX_CLAIMS  32

/* The action set_code_certificate_policy {"issuers": [PEM], "claims": [text]}
 * ("issuers": [] removes the policy). */
CS_MUST_CHECK consort_err gov_codecert_set_policy(gov_stage *st, json_t *args);

/* add_code_id's certificate: checked against the policy and staged for code
 * id `id` (64 hex); an absent one is refused when a policy is set. */
CS_MUST_CHECK consort_err gov_codecert_add(gov_stage *st, json_t *args, const char *id,
                                           const char *proposal_id);

/* At submission: every add_code_id of `proposal` meets the policy of `tx`. */
CS_MUST_CHECK consort_err gov_codecert_precheck(cs_kv_tx *tx, const json_t *proposal);

/* A joining node's code id meets the policy of `tx` (true without a policy). */
bool gov_codecert_admits(cs_kv_tx *tx, const char *code_hex);

/* GET /gov/code/transparency: {"policy": ..., "certificates": [...]}, each
 * certificate with the transaction that wrote it ("transaction_id" when
 * term_of(ctx, seqno) knows its term: its receipt is GET /app/receipt). */
CS_MUST_CHECK consort_err gov_codecert_transparency_json(
    cs_kv_tx *tx, uint64_t (*term_of)(void *ctx, uint64_t seqno), void *ctx, cs_buf *out);

#endif
