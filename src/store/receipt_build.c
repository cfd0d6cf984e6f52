/*
 * Building receipts (docs/receipts.md "Getting a receipt"): the inclusion proof of entry T
 * in the tree signed by signature entry S, S's signature with the proof in
 * its unprotected header, and the leaf components as JSON.
 */
#include "store/receipt.h"

#include "base/cbor.h"
#include "crypto/hash.h"
#include "crypto/b64.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* bstr .cbor [tree_size, leaf_index, [+ bstr]] (RFC 9942 inclusion proof). */
static consort_err write_proof(uint64_t tree_size, uint64_t leaf_index,
                               const cs_merkle_proof *proof, cs_buf *out)
{
    CS_TRY(cs_cbor_write_array(out, 3));
    CS_TRY(cs_cbor_write_uint(out, tree_size));
    CS_TRY(cs_cbor_write_uint(out, leaf_index));
    CS_TRY(cs_cbor_write_array(out, proof->len));
    for (size_t i = 0; i < proof->len; i++)
        CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(proof->hash[i], CS_MERKLE_HASH_LEN)));
    return CONSORT_OK;
}

consort_err cs_receipt_cose_build(const cs_ledger_sig *sig, uint64_t leaf_index,
                                  const cs_merkle_proof *proof, cs_buf *out)
{
    cs_buf p;
    cs_buf_init(&p, CS_RECEIPT_COSE_MAX);
    consort_err rc = write_proof(sig->tree_size, leaf_index, proof, &p);
    size_t start = out->len;
    /* RFC 9052 §4.2: COSE_Sign1_Tagged = #6.18([protected, unprotected,
     * payload, signature]); the protected bytes and signature are S's. */
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_tag(out, CS_COSE_TAG_SIGN1);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_array(out, 4);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(out, sig->msg.protected_bstr);
    /* unprotected {396: {-1: [bstr .cbor proof]}} */
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_map(out, 1);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_uint(out, CS_COSE_HDR_VDP);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_map(out, 1);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_int(out, CS_RECEIPT_VDP_INCLUSION);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_array(out, 1);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(out, cs_buf_slice(&p));
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_null(out); /* detached payload (RFC 9052 §4.1) */
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(out, sig->msg.signature);
    if (rc != CONSORT_OK)
        out->len = start;
    cs_buf_cleanup(&p);
    return rc;
}

/* The JSON document; every string argument is NUL-terminated. */
static consort_err write_json(const char *txid, const char *cose_b64, const char *ws_hex,
                              const char *ce, const char *claims_hex, const char *pem, cs_buf *json)
{
    json_t *doc =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:s}", "txid", txid, "cose_receipt", cose_b64,
                  "leaf_components", "write_set_digest", ws_hex, "commit_evidence", ce,
                  "claims_digest", claims_hex, "node_certificate", pem);
    CS_ENSURE(doc != NULL, CONSORT_E_NOMEM, "receipt: building the JSON failed");
    char *text = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(2));
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "receipt: serialising the JSON failed");
    consort_err rc = cs_buf_append(json, text, strlen(text));
    free(text);
    return rc;
}

/* Everything but the proof comes from the two entries. */
static consort_err assemble(const cs_ledger_entry *e, const cs_ledger_sig *sig,
                            const cs_merkle_proof *proof,
                            const uint8_t secret[CS_LEDGER_SECRET_LEN], cs_buf *json)
{
    char txid[CS_LEDGER_TXID_MAX], ce[CS_LEDGER_CE_MAX];
    char ws_hex[2 * CS_LEDGER_DIGEST_LEN + 1], claims_hex[2 * CS_LEDGER_DIGEST_LEN + 1];
    uint8_t ws_digest[CS_LEDGER_DIGEST_LEN];
    cs_ledger_txid_format(e->term, e->seqno, txid);
    CS_TRY(cs_ledger_commit_evidence(secret, e->term, e->seqno, ce));
    cs_sha256(e->raw, ws_digest);
    cs_hex_encode(CS_SLICE(ws_digest, sizeof ws_digest), ws_hex);
    cs_hex_encode(CS_SLICE(e->claims_digest, CS_LEDGER_DIGEST_LEN), claims_hex);

    cs_buf cose, b64, pem;
    cs_buf_init(&cose, CS_RECEIPT_COSE_MAX);
    cs_buf_init(&b64, 0);
    cs_buf_init(&pem, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_receipt_cose_build(sig, e->seqno - 1, proof, &cose), done);
    CS_TRY_GOTO(rc, cs_b64_encode(cs_buf_slice(&cose), &b64), done);
    CS_TRY_GOTO(rc, cs_buf_append_u8(&b64, 0), done);
    /* the certificate was checked when its signature entry was (decoding
     * it again for each receipt cost more than the rest of the receipt) */
    CS_TRY_GOTO(rc, cs_x509_der_to_pem(sig->cert, &pem), done);
    CS_TRY_GOTO(rc, cs_buf_append_u8(&pem, 0), done);
    rc = write_json(txid, (const char *)b64.ptr, ws_hex, ce, claims_hex, (const char *)pem.ptr,
                    json);
done:
    cs_wipe(ce, sizeof ce);
    cs_buf_cleanup(&cose);
    cs_buf_cleanup(&b64);
    cs_buf_cleanup(&pem);
    return rc;
}

consort_err cs_receipt_build(const cs_merkle_tree *tree, cs_slice entry, cs_slice sig_entry,
                             const uint8_t secret[CS_LEDGER_SECRET_LEN], cs_buf *json)
{
    cs_ledger_entry e, s;
    cs_ledger_sig sig;
    CS_TRY_CTX(cs_ledger_entry_decode(entry, &e), "receipt");
    CS_TRY_CTX(cs_ledger_entry_decode(sig_entry, &s), "receipt");
    CS_TRY_CTX(cs_ledger_sig_parse(&s, &sig), "receipt");
    /* docs/receipts.md: S is a signature entry with S.tree_size >= T */
    CS_ENSURE(sig.tree_size >= e.seqno, CONSORT_E_INVALID_ARGUMENT,
              "receipt for %" PRIu64 ": signature entry %" PRIu64 " covers only %" PRIu64
              " entries",
              e.seqno, sig.seqno, sig.tree_size);
    CS_ENSURE(cs_merkle_size(tree) >= sig.tree_size, CONSORT_E_INVALID_ARGUMENT,
              "receipt for %" PRIu64 ": the tree holds %" PRIu64 " leaves, fewer than %" PRIu64,
              e.seqno, cs_merkle_size(tree), sig.tree_size);
    uint8_t want[CS_MERKLE_HASH_LEN], have[CS_MERKLE_HASH_LEN], root[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(&e, want);
    CS_TRY(cs_merkle_leaf(tree, e.seqno - 1, have));
    CS_ENSURE(memcmp(want, have, sizeof want) == 0, CONSORT_E_INVALID_ARGUMENT,
              "receipt for %" PRIu64 ": the tree's leaf %" PRIu64 " is not this entry's", e.seqno,
              e.seqno - 1);
    CS_TRY(cs_merkle_root_at(tree, sig.tree_size, root));
    CS_ENSURE(cs_slice_eq(sig.root, CS_SLICE(root, sizeof root)), CONSORT_E_INVALID_ARGUMENT,
              "receipt for %" PRIu64 ": signature entry %" PRIu64
              " signs another root than the tree's",
              e.seqno, sig.seqno);
    cs_merkle_proof proof;
    CS_TRY(cs_merkle_inclusion_proof(tree, e.seqno - 1, sig.tree_size, &proof));
    return assemble(&e, &sig, &proof, secret, json);
}
