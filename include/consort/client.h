/*
 * consort client library: what a client of a consort service needs to check
 * the service's answers offline, with nothing but the service certificate
 * it pinned (GET /node/network returns it).
 *
 * Receipts: GET /app/receipt?transaction_id=<term>.<seqno> returns a JSON
 * receipt proving the transaction is in the service's ledger (format and an
 * independent verification procedure in docs/receipts.md). The functions
 * below check it: the leaf recomputed from the leaf components, the Merkle
 * inclusion proof up to a root, the COSE signature over that root by a node
 * key, and the node's certificate issued by the pinned service certificate.
 *
 * Thread-safe; nothing is kept between calls. The error message of a
 * failure is written to `err` (always NUL-terminated when errlen > 0,
 * truncated if needed) and is also available from consort_errmsg().
 */
#ifndef CONSORT_CLIENT_H
#define CONSORT_CLIENT_H

#include <consort/error.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Length of a claims digest (SHA-256). */
#define CONSORT_CLAIMS_DIGEST_LEN 32

/*
 * Verifies a receipt (the JSON text, `json_len` bytes, not necessarily
 * NUL-terminated) against the service certificate (PEM text, `pem_len`
 * bytes) at the current time. If `claims_digest` is not NULL, the receipt
 * must carry exactly these 32 bytes as its claims digest (the digest of the
 * application claims the client expects the transaction to have recorded).
 *
 * Returns CONSORT_OK iff the receipt verifies. Otherwise, by kind:
 *   CONSORT_E_INVALID_ARGUMENT  a NULL text or a service certificate that
 *                               does not parse
 *   CONSORT_E_MALFORMED, _TOO_LARGE   the receipt does not parse, or its
 *                               parts do not fit together (commit evidence
 *                               of another transaction, leaf index not the
 *                               transaction's)
 *   CONSORT_E_BAD_CERTIFICATE, _EXPIRED   the node certificate is not
 *                               issued by the service certificate (e.g. a
 *                               receipt from another service) or not valid now
 *   CONSORT_E_BAD_SIGNATURE     the signature does not cover the root that
 *                               the leaf components and proof give (any
 *                               altered byte), or is not the node's
 *   CONSORT_E_BAD_PROOF         an impossible inclusion proof
 *   CONSORT_E_POLICY            the claims digest is not `claims_digest`
 *   CONSORT_E_NOMEM
 */
CONSORT_EXPORT consort_err consort_receipt_verify(const char *receipt_json, size_t json_len,
                                                  const char *service_cert_pem, size_t pem_len,
                                                  const uint8_t *claims_digest, char *err,
                                                  size_t errlen);

/* Extra expectations for consort_receipt_verify_ex. Zero-initialise. */
typedef struct consort_receipt_expect {
    const uint8_t *claims_digest; /* CONSORT_CLAIMS_DIGEST_LEN bytes, or NULL */
    const char *txid;             /* the "<term>.<seqno>" it must be for, or NULL */
    int64_t now;                  /* seconds since the epoch for the certificate
                                     checks; 0 = the current time */
} consort_receipt_expect;

/*
 * consort_receipt_verify with more expectations: the transaction id
 * (CONSORT_E_POLICY if the receipt is for another one) and the time.
 * `expect` may be NULL.
 */
CONSORT_EXPORT consort_err consort_receipt_verify_ex(const char *receipt_json, size_t json_len,
                                                     const char *service_cert_pem, size_t pem_len,
                                                     const consort_receipt_expect *expect,
                                                     char *err, size_t errlen);

/* ---- handling statements (docs/e2e.md) ---- */

/* What the client sent and received. Zero-initialise. */
typedef struct consort_e2e_exchange {
    const char *nonce_hex; /* the x-consort-attest value it sent */
    const char *method;
    const char *target; /* exactly as sent: "/app/records?id=7" */
    const uint8_t *request_body;
    size_t request_len;
    int status;
    const uint8_t *response_body;
    size_t response_len;
} consort_e2e_exchange;

/*
 * Verifies the handling statement of an answer (`statement`: the
 * x-consort-handling-statement header's base64 text, or the COSE_Sign1
 * bytes) against the service certificate the client pinned (PEM), the
 * exchange, and the client's policy (JSON text, `policy_len` bytes; NULL or
 * empty: any code id): {"code_ids": [64 hex, ...], "issuers": [PEM text,
 * ...], "claims": ["tested", "compliance=HIPAA", ...]}. Every hop is checked,
 * as docs/e2e.md "Verifying" lists: the signature by the pinned service,
 * the nonce, the request and response digests, the policy on every code id,
 * then every service it called, recursively, against the same policy.
 *
 * On CONSORT_OK, `report` (if not NULL) receives what was verified, as JSON
 * (NUL-terminated): {"node", "written", "code_ids": [{"code_id",
 * "certified"}], "calls", "mode": "nested", "hops": [{"depth", "service",
 * "service_cert_sha256", "node", "written", "code_ids"}]}; CONSORT_E_TOO_LARGE
 * if it does not fit in `report_len`. Errors: INVALID_ARGUMENT (NULL
 * arguments, a bad nonce or certificate), MALFORMED (the statement or the
 * policy), BAD_SIGNATURE, POLICY (which check failed, and at which call),
 * NOMEM. Thread-safe.
 */
CONSORT_EXPORT consort_err consort_e2e_verify(const char *statement, size_t statement_len,
                                              const char *service_cert_pem, size_t pem_len,
                                              const consort_e2e_exchange *exchange,
                                              const char *policy_json, size_t policy_len,
                                              char *report, size_t report_len, char *err,
                                              size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
