/*
 * Verifying a receipt offline (the steps are listed for third parties in
 * docs/receipts.md "Verifying independently, step by step"). Nothing in the receipt is
 * trusted; the only anchor is the pinned service certificate.
 */
#include "store/receipt.h"

#include "crypto/hash.h"
#include "crypto/rand.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* commit_evidence is exactly "ce:<txid>:<64 lower-case hex>" (docs/ledger.md
 * §2; docs/receipts.md step 3). */
static consort_err check_commit_evidence(const cs_receipt *r)
{
    char prefix[CS_LEDGER_TXID_MAX + 8];
    int n = snprintf(prefix, sizeof prefix, "ce:%s:", r->txid);
    size_t len = strlen(r->commit_evidence);
    bool ok = len == (size_t)n + 64 && memcmp(r->commit_evidence, prefix, (size_t)n) == 0;
    for (size_t i = (size_t)n; ok && i < len; i++) {
        char ch = r->commit_evidence[i];
        ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
    }
    CS_ENSURE(ok, CONSORT_E_MALFORMED,
              "receipt: commit_evidence \"%.100s\" is not \"%s<64 hex digits>\" (the evidence "
              "of another transaction?)",
              r->commit_evidence, prefix);
    return CONSORT_OK;
}

/* The node certificate: chains to the service, and its key. */
static consort_err node_key(const cs_receipt *r, const cs_x509 *service_cert, int64_t now,
                            cs_key **key)
{
    cs_x509 *cert = NULL;
    CS_TRY_CTX(cs_x509_from_der(cs_buf_slice(&r->cert_der), &cert), "receipt: node certificate");
    cs_x509 *const roots[1] = {(cs_x509 *)service_cert};
    cs_x509_verify_opts vo = {.now = now};
    consort_err rc = cs_x509_verify_chain(cert, NULL, 0, roots, 1, &vo, NULL);
    if (rc != CONSORT_OK)
        rc = cs_err_context(rc, "receipt: node certificate does not chain to the service "
                                "certificate");
    else
        rc = cs_x509_public_key(cert, key);
    cs_x509_free(cert);
    return rc;
}

/* kid == SHA-256(SPKI DER) of the node key; alg fits its curve. */
static consort_err check_key(const cs_key *key, cs_cose_alg alg, cs_slice kid)
{
    uint8_t want[CS_SHA256_LEN];
    CS_TRY(cs_key_id(key, want));
    CS_ENSURE(cs_slice_eq(kid, CS_SLICE(want, sizeof want)), CONSORT_E_BAD_SIGNATURE,
              "receipt: COSE kid is not the node certificate's key id");
    cs_curve curve = alg == CS_COSE_ES256 ? CS_CURVE_P256 : CS_CURVE_P384;
    CS_ENSURE(cs_key_curve(key) == curve, CONSORT_E_BAD_SIGNATURE,
              "receipt: alg %s with a %s node key", cs_cose_alg_name(alg),
              cs_curve_name(cs_key_curve(key)));
    return CONSORT_OK;
}

/* The root the proof yields for the leaf (RFC 9162 §2.1.3.2), then the
 * signature over it. */
static consort_err check_signature(const cs_receipt *r, const cs_cose_sign1 *msg,
                                   const cs_receipt_proof *proof, const cs_key *key)
{
    uint8_t ce_digest[CS_LEDGER_DIGEST_LEN], leaf[CS_MERKLE_HASH_LEN], root[CS_MERKLE_HASH_LEN];
    cs_ledger_commit_evidence_digest(cs_slice_str(r->commit_evidence), ce_digest);
    cs_ledger_leaf_from_components(r->write_set_digest, ce_digest, r->claims_digest, leaf);
    CS_TRY_CTX(cs_merkle_root_from_inclusion(CS_SLICE(leaf, sizeof leaf), proof->leaf_index,
                                             proof->tree_size, proof->path, proof->path_len, root),
               "receipt: inclusion proof");
    cs_slice payload = CS_SLICE(root, sizeof root);
    cs_cose_verify_opts vo = {.detached_payload = &payload};
    consort_err rc = cs_cose_sign1_verify(msg, key, &vo);
    if (rc == CONSORT_E_BAD_SIGNATURE)
        return cs_err_context(rc, "receipt: the signature does not cover the root that the "
                                  "leaf components and proof give");
    return rc;
}

consort_err cs_receipt_verify(const cs_receipt *r, const cs_x509 *service_cert,
                              const cs_receipt_verify_opts *opts)
{
    cs_cose_sign1 msg;
    cs_cose_alg alg;
    cs_slice kid;
    cs_receipt_proof proof;
    CS_TRY(check_commit_evidence(r));
    CS_TRY_CTX(cs_receipt_cose_decode(cs_buf_slice(&r->cose), &msg, &alg, &kid, &proof), "receipt");
    /* docs/receipts.md step 5: leaf_index == seqno - 1 */
    CS_ENSURE(proof.leaf_index == r->seqno - 1, CONSORT_E_MALFORMED,
              "receipt: leaf_index %" PRIu64 " is not seqno - 1 for txid %s", proof.leaf_index,
              r->txid);
    cs_key *key = NULL;
    CS_TRY(node_key(r, service_cert, opts->now, &key));
    consort_err rc = check_key(key, alg, kid);
    if (rc == CONSORT_OK)
        rc = check_signature(r, &msg, &proof, key);
    cs_key_free(key);
    CS_TRY(rc);
    if (opts->claims_digest != NULL)
        CS_ENSURE(cs_ct_equal(CS_SLICE(r->claims_digest, CS_LEDGER_DIGEST_LEN),
                              CS_SLICE(opts->claims_digest, CS_LEDGER_DIGEST_LEN)),
                  CONSORT_E_POLICY, "receipt: claims digest is not the expected one");
    return CONSORT_OK;
}

consort_err cs_receipt_verify_json(cs_slice json, const cs_x509 *service_cert,
                                   const cs_receipt_verify_opts *opts)
{
    cs_receipt r;
    cs_receipt_init(&r);
    consort_err rc = cs_receipt_parse(json, &r);
    if (rc == CONSORT_OK)
        rc = cs_receipt_verify(&r, service_cert, opts);
    cs_receipt_cleanup(&r);
    return rc;
}
