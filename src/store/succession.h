/*
 * Service identity succession (docs/recovery.md "The identity chain";
 * docs/formats.md "Succession record"): when a lost service is recovered
 * under a new identity, the previous identity and the new one each sign one
 * statement saying that the second succeeds the first after a given
 * transaction. A client that pinned either certificate can then follow the
 * chain: one that pinned the new certificate verifies receipts the previous
 * service issued (for transactions up to that point only), one that pinned
 * the previous certificate learns the new one.
 *
 *   statement = CBOR map, text keys in this order:
 *     {"previous": bstr (the previous service certificate, DER),
 *      "next": bstr (the new service certificate, DER),
 *      "last_txid": tstr "<term>.<seqno>" (the previous identity's last
 *                   signed transaction: the recovery point)}
 *   endorsement = tagged COSE_Sign1 (RFC 9052 §4.2) with a detached payload
 *     (the statement), protected header exactly
 *       {1: alg (ES256 | ES384, the signer's curve),
 *        4: kid (bstr, SHA-256 of the signer's SubjectPublicKeyInfo DER),
 *        "consort.succession.signer": "previous" | "next"},
 *     unprotected header empty
 *   record = CBOR map, text keys in this order:
 *     {"statement": bstr, "by_previous": bstr (endorsement by the previous
 *      service key), "by_next": bstr (endorsement by the new service key)}
 *
 * Pure functions over buffers; verification needs no secret and no clock
 * (service certificates are long-lived CA certificates; the receipt check
 * applies its own time to node certificates).
 */
#ifndef CS_STORE_SUCCESSION_H
#define CS_STORE_SUCCESSION_H

#include "store/receipt.h"

/* Largest record accepted (two certificates and two signatures). */
#define CS_SUCCESSION_MAX ((size_t)64 << 10)
/* Most identities a chain may go back through. */
#define CS_SUCCESSION_CHAIN_MAX 16
/* The protected header label naming the signer's role. */
#define CS_SUCCESSION_HDR_SIGNER "consort.succession.signer"

/* What the node signs when it takes over (both keys private). */
typedef struct cs_succession_params {
    const cs_x509 *previous_cert;
    const cs_key *previous_key;
    const cs_x509 *next_cert;
    const cs_key *next_key;
    uint64_t last_term, last_seqno; /* the recovery point, both >= 1 */
} cs_succession_params;

/*
 * Builds a record (appended to `out`): the statement and both
 * endorsements. INVALID_ARGUMENT if a key is not its certificate's key or
 * not P-256/P-384, if both certificates are the same identity, or for a
 * zero term or seqno; CRYPTO, NOMEM, TOO_LARGE. On failure `out` keeps its
 * length.
 */
CS_MUST_CHECK consort_err cs_succession_sign(const cs_succession_params *p, cs_buf *out);

/* A decoded record; slices borrow from the record's bytes. */
typedef struct cs_succession {
    cs_slice statement;
    cs_slice previous_der, next_der;
    char last_txid[CS_LEDGER_TXID_MAX];
    uint64_t last_term, last_seqno;
    cs_slice by_previous, by_next;
} cs_succession;

/* Strictly decodes a record (structure only): exact keys and order, a
 * valid txid, no trailing bytes. MALFORMED naming the field, TOO_LARGE,
 * TRUNCATED, TRAILING_DATA. */
CS_MUST_CHECK consort_err cs_succession_decode(cs_slice record, cs_succession *out);

/*
 * The cryptographic checks of a decoded record: both certificates parse
 * and name different keys; by_previous verifies over the statement under
 * the previous certificate's key with signer "previous", by_next under the
 * next one's with signer "next", each kid being its signer's key id and
 * each alg its curve's. BAD_SIGNATURE naming which endorsement fails,
 * MALFORMED (headers, certificates).
 */
CS_MUST_CHECK consort_err cs_succession_verify(const cs_succession *s);

/*
 * The service identity that was current when transaction `seqno` was
 * signed, found by following `records` (encoded records, any order) back
 * from the pinned certificate: while a record names the current identity
 * as its "next" and seqno <= its last seqno, that record must verify
 * (cs_succession_verify) and its "previous" identity becomes current. The
 * last seqnos must strictly decrease along the way, and at most
 * CS_SUCCESSION_CHAIN_MAX steps are taken. *out gets a new reference to
 * that identity's certificate (the pinned one itself when no step is
 * taken; the caller frees it) and *hops the number of steps. Errors: those
 * of decode and verify (naming the record), MALFORMED for two records with
 * the same next identity or seqnos that do not decrease, TOO_LARGE for a
 * chain too long.
 */
CS_MUST_CHECK consort_err cs_succession_identity_for(const cs_slice *records, size_t count,
                                                     const cs_x509 *pinned, uint64_t seqno,
                                                     cs_x509 **out, size_t *hops);

/* One identity of a chain (cs_succession_chain). */
typedef struct cs_succession_link {
    cs_x509 *cert;       /* owned */
    uint64_t last_seqno; /* its recovery point; 0 for the pinned identity */
} cs_succession_link;

/*
 * Every identity `pinned` succeeded, oldest first, `pinned` itself last
 * (last_seqno 0): the records (any order) are followed back as in
 * cs_succession_identity_for, each one verified, recovery points strictly
 * decreasing. `out` holds CS_SUCCESSION_CHAIN_MAX + 1 links; *n gets how
 * many were filled (free them with cs_succession_chain_free, also after a
 * failure). Errors as cs_succession_identity_for.
 */
CS_MUST_CHECK consort_err cs_succession_chain(const cs_slice *records, size_t count,
                                              const cs_x509 *pinned, cs_succession_link *out,
                                              size_t *n);
void cs_succession_chain_free(cs_succession_link *links, size_t n);

/*
 * Verifies a receipt (store/receipt.h) against the pinned service
 * certificate through the identity chain: the receipt's transaction is
 * checked against the identity cs_succession_identity_for finds for its
 * seqno. With no records this is cs_receipt_verify. `hops` may be NULL.
 */
CS_MUST_CHECK consort_err cs_receipt_verify_chain(const cs_receipt *r, const cs_x509 *pinned,
                                                  const cs_slice *records, size_t count,
                                                  const cs_receipt_verify_opts *opts, size_t *hops);

#endif
