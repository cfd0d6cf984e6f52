/*
 * Code certificates (docs/code-certificates.md): an issuer's signed
 * statement that a code id runs an artifact which an in-toto supply chain
 * produced and which passed that chain's checks.
 *
 * cs_codecert_issue verifies the chain (intoto_verify.h) and issues only if
 * it passes, the artifact is a product of one of its steps with the same
 * SHA-256, and every claim asked for holds. The certificate is a tagged
 * COSE_Sign1 (RFC 9052) by the issuer's EC key:
 *
 *   protected   {1: alg (-7 ES256 | -35 ES384),
 *                3: "application/vnd.consort.code-certificate+cbor",
 *                33: the issuer's certificate (DER, x5chain, RFC 9360)}
 *   payload     {"version": 1,
 *                "code_id": bstr 32,
 *                "artifact": {"path": tstr, "sha256": bstr 32},
 *                "layout_sha256": bstr 32,
 *                "links": [{"file": tstr, "sha256": bstr 32}, ...],
 *                "steps": [{"name": tstr, "functionaries": [tstr key id, ...],
 *                           "return_value": int / null}, ...],
 *                "claims": {tstr: value, ...},
 *                "issued_at": uint (seconds since the epoch)}
 *
 * "links" are the counted link files (the ones the verification relied on),
 * "steps" what each step's counted links recorded (return_value: the first
 * non-zero one, or 0 if every counted link returned 0; null if one recorded
 * none). Claims: "tested": true (the step named as the test step returned 0
 * in every counted link: a failed test step means no certificate),
 * "reviewed_by": [key ids] (the counted links of the review step: at least
 * its threshold), and claims the issuer asserts ("compliance": "HIPAA"),
 * text to text.
 */
#ifndef CS_SUPPLY_CODECERT_H
#define CS_SUPPLY_CODECERT_H

#include "supply/intoto_verify.h"

#include "crypto/key.h"
#include "crypto/x509.h"

#define CS_CODECERT_CTY          "application/vnd.consort.code-certificate+cbor"
#define CS_CODECERT_MAX          ((size_t)1 << 20) /* a certificate's bytes */
#define CS_CODECERT_MAX_ASSERTED 32
#define CS_CODECERT_MAX_CLAIM    256 /* a claim name or value, bytes */
#define CS_CODECERT_MAX_LINKS    1024
#define CS_CODECERT_MAX_STEPS    CS_INTOTO_MAX_STEPS

/* What to certify: the chain, the artifact, the code id and the claims. */
typedef struct cs_codecert_request {
    cs_slice layout;
    const cs_slice *layout_keys; /* key objects (JSON), intoto_key.h */
    size_t n_layout_keys;
    const cs_intoto_file *links;
    size_t n_links;
    int64_t now;
    uint8_t code_id[32];
    const char *artifact_path; /* the artifact's path as the links record it */
    cs_slice artifact;         /* its bytes */
    const char *tested_step;   /* NULL: no "tested" claim */
    const char *reviewed_step; /* NULL: no "reviewed_by" claim */
    /* "name=value" claims the issuer asserts; names [a-z0-9_], not "tested"/"reviewed_by" */
    const char *const *asserted;
    size_t n_asserted;
} cs_codecert_request;

/*
 * Verifies the request's chain and, if it passes and every claim holds,
 * appends a code certificate signed by `issuer_key` (P-256 or P-384, the key
 * of `issuer_cert`) to `out`. When the chain fails, `res` says which check
 * (and the error is the verifier's); CONSORT_E_POLICY with res->check
 * CS_INTOTO_PASSED when the chain passed but the artifact or a claim does
 * not hold; CONSORT_E_INVALID_ARGUMENT for a bad request (an unknown step, a
 * malformed claim).
 */
CS_MUST_CHECK consort_err cs_codecert_issue(const cs_codecert_request *req,
                                            const cs_key *issuer_key, const cs_x509 *issuer_cert,
                                            cs_intoto_result *res, cs_buf *out);

/* A claim in a certificate. */
typedef struct cs_codecert_claim {
    char name[CS_CODECERT_MAX_CLAIM + 1];
    char value[CS_CODECERT_MAX_CLAIM + 1]; /* "true" for tested; key ids joined by "," */
} cs_codecert_claim;

/* What a verified certificate says (every string copied). */
typedef struct cs_codecert {
    uint8_t code_id[32];
    char artifact_path[CS_INTOTO_MAX_PATH + 1];
    uint8_t artifact_sha256[32];
    uint8_t layout_sha256[32];
    size_t n_links;
    size_t n_steps;
    int64_t issued_at;
    cs_codecert_claim claims[CS_CODECERT_MAX_ASSERTED + 2];
    size_t n_claims;
    uint8_t issuer_fingerprint[32]; /* SHA-256 of the issuer certificate's DER */
} cs_codecert;

/*
 * Verifies `cert` as a code certificate signed by `issuer` (the certificate
 * it carries must be exactly this one) and decodes it strictly into `out`.
 * CONSORT_E_BAD_SIGNATURE (not the issuer's signature), CONSORT_E_POLICY
 * (issued by another certificate), CONSORT_E_MALFORMED/TOO_LARGE/
 * UNSUPPORTED (not a code certificate).
 */
CS_MUST_CHECK consort_err cs_codecert_verify(cs_slice cert, const cs_x509 *issuer,
                                             cs_codecert *out);

/*
 * A claim a policy requires holds in `c`: "NAME" (the claim is made) or
 * "NAME=VALUE" (with that value; "reviewed_by=K": key id K is among the
 * reviewers). CONSORT_E_POLICY naming what is missing;
 * CONSORT_E_INVALID_ARGUMENT for a malformed requirement.
 */
CS_MUST_CHECK consort_err cs_codecert_require(const cs_codecert *c, const char *req);

/*
 * cs_codecert_verify against the issuer certificate `cert` carries (x5chain):
 * that the certificate is well formed and signed by the key of the issuer it
 * names, without saying whether that issuer is trusted (the caller decides:
 * out->issuer_fingerprint says who it is).
 */
CS_MUST_CHECK consort_err cs_codecert_verify_self(cs_slice cert, cs_codecert *out);

/* The claim `name`, or NULL. */
const cs_codecert_claim *cs_codecert_claim_get(const cs_codecert *c, const char *name);

#endif
