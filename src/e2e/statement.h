/*
 * Handling statements (docs/e2e.md): a service's signed account of one
 * request it answered, for a client that wants proof of which code handled
 * its data.
 *
 * A client sends "x-consort-attest: <nonce>" (16 to 64 hex digits, fresh per
 * request); the answer carries "x-consort-handling-statement: <base64>", a
 * tagged COSE_Sign1 by the service identity's key:
 *
 *   protected    {1: alg (-7 ES256 | -35 ES384), 2 (crit): [-70001],
 *                 3: CS_E2E_CTY, 4 (kid): SHA-256 of the service certificate's DER,
 *                 -70001 (batch): 1 (RFC 9162 Merkle tree, SHA-256)}
 *   unprotected  {-70002 (proof): [tree_size, leaf_index, [* bstr 32]]}
 *   payload      the statement (below), attached
 *   signature    over the Sig_structure of RFC 9052 §4.4 whose payload is
 *                the Merkle root that the proof gives for the leaf
 *                SHA-256(0x00 || payload) (RFC 9162 §2.1.3.2)
 *
 * The signature covers a batch: a node signs the statements it answers in
 * one turn of its loop together, one signature over the root of a tree of
 * their payloads (tree_size of them, at most CS_E2E_BATCH_MAX), and each
 * statement carries the proof of its own leaf. A batch of one has the
 * tree's root = its leaf and an empty path. The other leaves are hashes of
 * other answers' statements, each with its client's fresh nonce: they tell
 * this client nothing. -70001 and -70002 are private-use labels (RFC 9052
 * §16.3); crit makes a COSE library that does not know them refuse the
 * statement rather than check the signature over the wrong bytes.
 *
 *   payload    {"version": 1,
 *               "nonce": bstr (the client's),
 *               "request": bstr 32 (cs_e2e_request_digest),
 *               "response": bstr 32 (cs_e2e_response_digest),
 *               "node": tstr (the node that answered),
 *               "code_ids": [{"code_id": bstr 32,
 *                             "certificate": bstr (its logged code certificate) / null}],
 *               "written": tstr "<term>.<seqno>" / null (the transaction it wrote),
 *               "calls": [{"service": tstr (the egress name),
 *                          "service_cert": bstr (DER of the callee's service
 *                                                certificate, as the members bound it),
 *                          "request": bstr 32 (digest of the call as sent),
 *                          "response": bstr 32 / null (of its answer; null: none),
 *                          "statement": bstr (the callee's handling statement) / null}]}
 *
 * "code_ids" are every code id the service trusted (its nodes may run) when
 * it answered, with the code certificate governance logged for it
 * (docs/code-certificates.md). "calls" are the outbound calls the request
 * made (include/consort/app.h consort_call), in the order the handler first
 * made them; call i asked the callee for a statement bound to the nonce
 * cs_e2e_call_nonce(this nonce, i), so a callee's statement from another
 * request does not fit.
 */
#ifndef CS_E2E_STATEMENT_H
#define CS_E2E_STATEMENT_H

#include "base/buf.h"
#include "crypto/key.h"
#include "crypto/x509.h"

#define CS_E2E_CTY                  "application/vnd.consort.handling-statement+cbor"
#define CS_E2E_ATTEST_HEADER        "x-consort-attest"
#define CS_E2E_HEADER               "x-consort-handling-statement"
#define CS_E2E_NONCE_MIN            8  /* bytes */
#define CS_E2E_NONCE_MAX            32 /* bytes */
#define CS_E2E_MAX_CODE_IDS         64
#define CS_E2E_MAX_CALLS            16
#define CS_E2E_MAX                  ((size_t)512 << 10) /* a statement's bytes */
#define CS_E2E_HDR_BATCH            (-70001)            /* protected: the batch scheme */
#define CS_E2E_HDR_PROOF            (-70002) /* unprotected: the leaf's inclusion proof */
#define CS_E2E_BATCH_RFC9162_SHA256 1
#define CS_E2E_BATCH_MAX            256 /* statements under one signature */

/* SHA-256(method || 0 || target || 0 || body): target as sent ("/app/x?y=1"). */
void cs_e2e_request_digest(const char *method, const char *target, cs_slice body, uint8_t out[32]);
/* SHA-256(decimal status || 0 || body). */
void cs_e2e_response_digest(int status, cs_slice body, uint8_t out[32]);

typedef struct cs_e2e_code {
    uint8_t code_id[32];
    cs_slice certificate; /* empty: none logged */
} cs_e2e_code;

typedef struct cs_e2e_call {
    /* nested (the default) */
    char service[64];
    cs_slice service_cert; /* DER */
    uint8_t request[32];
    bool answered; /* false: response is absent (the call got no answer) */
    uint8_t response[32];
    cs_slice statement; /* empty: none */
    /* summary (cs_e2e_statement.summary): the callee's statement by digest only */
    bool has_statement_digest;
    uint8_t statement_digest[32];
    bool met_policy; /* the caller checked it against the client's policy */
} cs_e2e_call;

/* The nonce a service sends with its call number `index` for a request
 * whose nonce is `nonce`: the first 16 bytes of SHA-256("consort e2e call"
 * || 0x00 || nonce || index as one byte). */
#define CS_E2E_CALL_NONCE_LEN 16
void cs_e2e_call_nonce(const uint8_t *nonce, size_t nonce_len, size_t index,
                       uint8_t out[CS_E2E_CALL_NONCE_LEN]);

/* How deep statements may nest (a client's service, its back-ends, theirs...). */
#define CS_E2E_MAX_DEPTH 4

typedef struct cs_e2e_statement {
    uint8_t nonce[CS_E2E_NONCE_MAX];
    size_t nonce_len;
    uint8_t request[32];
    uint8_t response[32];
    char node[65];
    cs_e2e_code codes[CS_E2E_MAX_CODE_IDS];
    size_t n_codes;
    char written[48]; /* "" if none */
    cs_e2e_call calls[CS_E2E_MAX_CALLS];
    size_t n_calls;
    /* Opaque topology (docs/e2e.md "Summary statements"): the client sent its
     * policy (x-consort-attest-policy); the service checked every callee's
     * statement against it and names them by digest only. */
    bool summary;
    uint8_t policy[32]; /* cs_e2e_policy_digest of that policy */
} cs_e2e_statement;

#define CS_E2E_POLICY_HEADER "x-consort-attest-policy"

/* Parses a nonce header (16..64 hex digits) into s->nonce. INVALID_ARGUMENT otherwise. */
CS_MUST_CHECK consort_err cs_e2e_parse_nonce(const char *hex, cs_e2e_statement *s);

/* Appends the payload of `s` (its CBOR map) to `out`. INVALID_ARGUMENT for
 * a bad nonce or too many parts; TOO_LARGE past CS_E2E_MAX. */
CS_MUST_CHECK consort_err cs_e2e_encode(const cs_e2e_statement *s, cs_buf *out);

/* Signs `n` payloads (1..CS_E2E_BATCH_MAX, from cs_e2e_encode) with one
 * signature: appends statement i to outs[i]. */
CS_MUST_CHECK consort_err cs_e2e_sign_batch(const cs_slice *payloads, size_t n,
                                            const cs_key *service_key, const cs_x509 *service_cert,
                                            cs_buf *outs);

/* Appends the statement `s`, signed with the service key, to `out` (a batch of one). */
CS_MUST_CHECK consort_err cs_e2e_sign(const cs_e2e_statement *s, const cs_key *service_key,
                                      const cs_x509 *service_cert, cs_buf *out);

struct cs_cose_sign1;
/* The batch signature of a decoded statement: its scheme, its proof, and
 * the signature by `key` over the root they give. BAD_SIGNATURE,
 * BAD_PROOF, MALFORMED, UNSUPPORTED. (For cs_e2e_verify.) */
CS_MUST_CHECK consort_err cs_e2e_verify_batch_signature(const struct cs_cose_sign1 *msg,
                                                        const cs_key *key);

/*
 * Verifies that `cose` is a handling statement signed by the key of
 * `service_cert` (kid its fingerprint) and decodes it into `out` (slices
 * borrow from `cose`). BAD_SIGNATURE, POLICY (another service's kid),
 * MALFORMED/TOO_LARGE/UNSUPPORTED.
 */
CS_MUST_CHECK consort_err cs_e2e_verify(cs_slice cose, const cs_x509 *service_cert,
                                        cs_e2e_statement *out);

/* What the client sent and received, to hold the statement against. */
typedef struct cs_e2e_expect {
    const uint8_t *nonce;
    size_t nonce_len;
    const char *method;
    const char *target;
    cs_slice request_body;
    int status;
    cs_slice response_body;
} cs_e2e_expect;

/* What the client requires of the code that handled its request. */
typedef struct cs_e2e_policy {
    const uint8_t (*code_ids)[32]; /* every trusted code id must be one of these (0: any) */
    size_t n_code_ids;
    /* n_issuers > 0: every trusted code id needs a code certificate by one of
     * these issuers making each of `claims` (cs_codecert_require) */
    const cs_x509 *const *issuers;
    size_t n_issuers;
    const char *const *claims;
    size_t n_claims;
} cs_e2e_policy;

/*
 * A policy written as JSON (docs/e2e.md "Verifying"), with what it points
 * into: {"code_ids": [64 hex, ...], "issuers": [PEM text, ...],
 * "claims": ["tested", "NAME=VALUE", ...]}, every member optional; an
 * empty text is no policy (any code id). MALFORMED / TOO_LARGE (over the
 * limits below) naming the member. Free with cs_e2e_policy_doc_cleanup
 * (also after a failure).
 */
#define CS_E2E_POLICY_MAX_ISSUERS 8
#define CS_E2E_POLICY_MAX_CLAIMS  32
typedef struct cs_e2e_policy_doc {
    uint8_t code_ids[CS_E2E_MAX_CODE_IDS][32];
    cs_x509 *issuers[CS_E2E_POLICY_MAX_ISSUERS];
    char claims[CS_E2E_POLICY_MAX_CLAIMS][512];
    const char *claim_ptrs[CS_E2E_POLICY_MAX_CLAIMS];
    cs_e2e_policy p; /* points into this document */
} cs_e2e_policy_doc;
CS_MUST_CHECK consort_err cs_e2e_policy_parse(cs_slice json, cs_e2e_policy_doc *d);
/* What a policy requires, as a digest both ends compute from its parsed
 * form: SHA-256("consort e2e policy v1" || 0x00 || the code ids, sorted ||
 * 0x00 || the SHA-256 of each issuer's DER, sorted || 0x00 || each claim
 * and a 0x00, sorted), counts as 4-byte big-endian before each list. */
CS_MUST_CHECK consort_err cs_e2e_policy_digest(const cs_e2e_policy *p, uint8_t out[32]);
void cs_e2e_policy_doc_cleanup(cs_e2e_policy_doc *d);

/*
 * Holds a verified statement against the exchange and the policy: the
 * nonce is the client's (a statement from another request is refused), the
 * digests are those of the request sent and the response received, and
 * every code id the service trusted meets the policy. Then every call it
 * names, recursively (at most CS_E2E_MAX_DEPTH levels): the call carries
 * the callee's statement, signed by the key of the service certificate the
 * call names, bound to the call's nonce (cs_e2e_call_nonce), about the
 * request and response digests the caller recorded, and its code ids meet
 * the same policy. CONSORT_E_POLICY says which check failed (and at which
 * hop); `hops`, if not NULL, is called for each verified callee
 * statement, depth first (depth 1: a service the first one called).
 */
typedef void (*cs_e2e_hop_fn)(void *ctx, unsigned depth, const cs_e2e_call *call,
                              const cs_e2e_statement *callee);
CS_MUST_CHECK consort_err cs_e2e_check(const cs_e2e_statement *s, const cs_e2e_expect *e,
                                       const cs_e2e_policy *p);
CS_MUST_CHECK consort_err cs_e2e_check_hops(const cs_e2e_statement *s, const cs_e2e_expect *e,
                                            const cs_e2e_policy *p, cs_e2e_hop_fn hops, void *ctx);

#endif
