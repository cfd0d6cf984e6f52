/*
 * Receipts (DESIGN.md "Receipts"; docs/receipts.md; leaves: docs/ledger.md §3):
 * proof, checkable offline with only the pinned service certificate, that a
 * transaction is in the ledger.
 *
 *   build   cs_receipt_build()    tree + entry T + signature entry S -> JSON
 *   parse   cs_receipt_parse()    JSON -> cs_receipt (strict)
 *   verify  cs_receipt_verify()   cs_receipt + service certificate -> ok / why not
 *
 * The JSON: {"txid": "<term>.<seqno>", "cose_receipt": base64,
 * "leaf_components": {"write_set_digest": hex, "commit_evidence": string,
 * "claims_digest": hex}, "node_certificate": PEM}. The COSE receipt is S's
 * COSE_Sign1 (protected {1: alg, 4: kid, 395: 1}, payload detached = the
 * Merkle root) with the unprotected header replaced by
 * {396: {-1: [bstr .cbor [tree_size, leaf_index, inclusion_path]]}}
 * (RFC 9942 inclusion proof; inclusion_path is RFC 9162 §2.1.3.1 PATH).
 */
#ifndef CS_STORE_RECEIPT_H
#define CS_STORE_RECEIPT_H

#include "store/ledger.h"

/* Largest receipt JSON accepted (a receipt is a few KiB). */
#define CS_RECEIPT_JSON_MAX ((size_t)64 << 10)
/* Largest COSE receipt accepted. */
#define CS_RECEIPT_COSE_MAX ((size_t)16 << 10)
/* RFC 9942: the inclusion-proofs label inside the 396 map. */
#define CS_RECEIPT_VDP_INCLUSION (-1)

/*
 * Appends the receipt JSON for entry `entry` (seqno T) to `json`, from
 * `sig_entry` (S, the first signature entry with S.tree_size >= T, so
 * S.seqno > T) and `tree`, which must hold at least S.tree_size leaves
 * (the inclusion proof for leaf T - 1 is taken in the tree of that size,
 * RFC 9162 §2.1.3.1) and whose leaf T - 1 must be this entry's leaf.
 * `secret` derives the commit evidence. INVALID_ARGUMENT when S does not
 * cover T or the tree does not match; the decode errors of both entries.
 */
CS_MUST_CHECK consort_err cs_receipt_build(const cs_merkle_tree *tree, cs_slice entry,
                                           cs_slice sig_entry,
                                           const uint8_t secret[CS_LEDGER_SECRET_LEN],
                                           cs_buf *json);

/* The COSE receipt alone: `sig`'s COSE_Sign1 with the unprotected header
 * {396: {-1: [proof]}} (tagged). Appends to `out`. */
CS_MUST_CHECK consort_err cs_receipt_cose_build(const cs_ledger_sig *sig, uint64_t leaf_index,
                                                const cs_merkle_proof *proof, cs_buf *out);

/* A parsed receipt (owns its buffers). */
typedef struct cs_receipt {
    char txid[CS_LEDGER_TXID_MAX];
    uint64_t term;
    uint64_t seqno;
    cs_buf cose; /* the decoded cose_receipt */
    uint8_t write_set_digest[CS_LEDGER_DIGEST_LEN];
    char commit_evidence[CS_LEDGER_CE_MAX];
    uint8_t claims_digest[CS_LEDGER_DIGEST_LEN];
    cs_buf cert_der; /* the node certificate */
} cs_receipt;

void cs_receipt_init(cs_receipt *r);
void cs_receipt_cleanup(cs_receipt *r);

/*
 * Strictly parses receipt JSON: one object with exactly the four members
 * (no duplicates, no others), leaf_components with exactly its three, a
 * valid txid, canonical base64, 64 hex digits for each digest, a
 * commit_evidence string of at most CS_LEDGER_CE_MAX - 1 bytes and a PEM
 * text holding exactly one certificate. MALFORMED / TOO_LARGE naming the
 * member. `out` must have been initialised; its previous contents are
 * replaced.
 */
CS_MUST_CHECK consort_err cs_receipt_parse(cs_slice json, cs_receipt *out);

/* The inclusion proof carried by a COSE receipt (slices borrow from it). */
typedef struct cs_receipt_proof {
    uint64_t tree_size;
    uint64_t leaf_index;
    size_t path_len;
    cs_slice path[CS_MERKLE_PROOF_MAX];
} cs_receipt_proof;

/*
 * Decodes a COSE receipt: a tagged COSE_Sign1, detached, protected header
 * exactly {1: ES256|ES384, 4: kid (32 bytes), 395: 1}, unprotected header
 * exactly {396: {-1: [bstr]}} with one inclusion proof
 * [tree_size, leaf_index, [* bstr 32]] (leaf_index < tree_size, at most 64
 * hashes), no trailing bytes anywhere. `msg` and `proof` borrow from `cose`.
 */
CS_MUST_CHECK consort_err cs_receipt_cose_decode(cs_slice cose, cs_cose_sign1 *msg,
                                                 cs_cose_alg *alg, cs_slice *kid,
                                                 cs_receipt_proof *proof);

typedef struct cs_receipt_verify_opts {
    const uint8_t *claims_digest; /* 32 bytes the receipt must carry, or NULL */
    int64_t now;                  /* time for the certificate checks */
} cs_receipt_verify_opts;

/*
 * Verifies a parsed receipt against the pinned service certificate
 * (docs/receipts.md "Verifying independently, step by step", in this
 * order): commit_evidence names the txid;
 * the COSE receipt decodes; leaf_index == seqno - 1; the node certificate
 * chains to `service_cert` at opts->now; kid == SHA-256(node key SPKI DER)
 * and alg fits the key's curve; the root recomputed (RFC 9162 §2.1.3.2) from
 * leaf = SHA-256(0x00 || write_set_digest || SHA-256(commit_evidence) ||
 * claims_digest) and the path has a valid COSE signature under the node
 * key; the claims digest equals opts->claims_digest if given.
 * Errors: MALFORMED, BAD_CERTIFICATE, EXPIRED, BAD_SIGNATURE, BAD_PROOF
 * (an impossible proof), POLICY (claims digest differs).
 */
CS_MUST_CHECK consort_err cs_receipt_verify(const cs_receipt *r, const cs_x509 *service_cert,
                                            const cs_receipt_verify_opts *opts);

/* cs_receipt_parse then cs_receipt_verify. */
CS_MUST_CHECK consort_err cs_receipt_verify_json(cs_slice json, const cs_x509 *service_cert,
                                                 const cs_receipt_verify_opts *opts);

#endif
