/*
 * Certificate checks for DCAP (dcap_pck.h).
 *
 * [PCKProf] hierarchy: Intel SGX Root CA -> Intel SGX PCK Platform CA or
 * PCK Processor CA -> Intel SGX PCK Certificate; Intel SGX Root CA ->
 * Intel SGX TCB Signing. The Root CA CRL covers the two PCK CAs and the TCB
 * Signing certificate; the PCK CA CRLs cover the PCK certificates.
 */
#include "attest/dcap_pck.h"

#include "crypto/x509.h"

#include <string.h>

#define PCK_CN         "CN=Intel SGX PCK Certificate"
#define TCB_SIGNING_CN "CN=Intel SGX TCB Signing"

consort_err cs_dcap_trust_init(cs_dcap_trust *t, cs_x509 *const *quote_certs,
                               size_t quote_cert_count, const cs_dcap_collateral *c, int64_t now)
{
    memset(t, 0, sizeof *t);
    CS_ENSURE(quote_cert_count + c->cert_count <= CS_ARRAY_LEN(t->pool), CONSORT_E_TOO_LARGE,
              "%zu certificates with the quote and endorsements, cap %zu",
              quote_cert_count + c->cert_count, CS_ARRAY_LEN(t->pool));
    CS_TRY_CTX(cs_x509_from_der(cs_dcap_root_der(), &t->root), "pinned Intel SGX Root CA");
    for (size_t i = 0; i < quote_cert_count; i++)
        t->pool[t->pool_count++] = quote_certs[i];
    for (size_t i = 0; i < c->cert_count; i++)
        t->pool[t->pool_count++] = c->certs[i];
    t->crls = c->crls;
    t->crl_count = c->crl_count;
    t->now = now;
    return CONSORT_OK;
}

void cs_dcap_trust_cleanup(cs_dcap_trust *t)
{
    cs_x509_free(t->root);
    memset(t, 0, sizeof *t);
}

consort_err cs_dcap_crl_state(const cs_dcap_trust *t, const char *issuer, const char *what,
                              bool *present)
{
    *present = false;
    const cs_x509_crl *stale = NULL;
    int64_t stale_this = 0, stale_next = 0;
    for (size_t i = 0; i < t->crl_count; i++) {
        char name[256];
        cs_x509_crl_issuer(t->crls[i], name, sizeof name);
        if (strcmp(name, issuer) != 0)
            continue;
        int64_t this_update, next_update;
        CS_TRY_CTX(cs_x509_crl_validity(t->crls[i], &this_update, &next_update), "%s", what);
        /* RFC 5280 §5.1.2.4-5: usable from thisUpdate until nextUpdate. */
        if (this_update <= t->now && (next_update == 0 || t->now <= next_update)) {
            *present = true;
            return CONSORT_OK;
        }
        stale = t->crls[i];
        stale_this = this_update;
        stale_next = next_update;
    }
    if (stale == NULL)
        return CONSORT_OK;
    char now_text[21], this_text[21], next_text[21];
    cs_time_format_rfc3339(t->now, now_text);
    cs_time_format_rfc3339(stale_this, this_text);
    cs_time_format_rfc3339(stale_next, next_text);
    if (t->now < stale_this)
        return cs_fail(CONSORT_E_EXPIRED, "%s issued by '%s' not yet valid: thisUpdate %s, now %s",
                       what, issuer, this_text, now_text);
    return cs_fail(CONSORT_E_EXPIRED, "%s issued by '%s' expired: nextUpdate %s, now %s", what,
                   issuer, next_text, now_text);
}

consort_err cs_dcap_verify_pck_chain(const cs_dcap_trust *t, const cs_x509 *leaf, bool *pck_crl,
                                     bool *root_crl)
{
    char subject[256], issuer[256], root[256];
    cs_x509_subject(leaf, subject, sizeof subject);
    cs_x509_issuer(leaf, issuer, sizeof issuer);
    cs_x509_subject(t->root, root, sizeof root);
    /* [QVL 4.1.2.4.4] the leaf is a PCK certificate. */
    CS_ENSURE(strstr(subject, PCK_CN) != NULL, CONSORT_E_BAD_CERTIFICATE,
              "PCK certificate: subject '%s' is not an Intel SGX PCK Certificate", subject);
    CS_TRY(cs_dcap_crl_state(t, issuer, "PCK CRL", pck_crl));
    CS_TRY(cs_dcap_crl_state(t, root, "Root CA CRL", root_crl));
    /* [QVL 4.1.2.4.5-7] the chain to the pinned root, revocation by both CRLs. */
    cs_x509_verify_opts opts = {
        .now = t->now,
        .require_crls = *pck_crl && *root_crl,
        .crls = t->crls,
        .crl_count = t->crl_count,
    };
    CS_TRY_CTX(cs_x509_verify_chain(leaf, t->pool, t->pool_count, &t->root, 1, &opts, NULL),
               "PCK certificate chain");
    return CONSORT_OK;
}

/* Chain and signature for one TCB Signing candidate. */
static consort_err try_signer(const cs_dcap_trust *t, const cs_x509 *cert, cs_slice body,
                              const uint8_t sig[64], bool root_crl, const char *what)
{
    cs_x509_verify_opts opts = {
        .now = t->now,
        .require_crls = root_crl,
        .crls = t->crls,
        .crl_count = t->crl_count,
    };
    CS_TRY_CTX(cs_x509_verify_chain(cert, t->pool, t->pool_count, &t->root, 1, &opts, NULL),
               "%s: TCB Signing certificate chain", what);
    cs_key *key = NULL;
    CS_TRY_CTX(cs_x509_public_key(cert, &key), "%s: TCB Signing certificate", what);
    consort_err rc = CS_CURVE_P256 == cs_key_curve(key)
                         ? cs_ecdsa_verify(key, CS_HASH_SHA256, body, CS_SIG_RAW, CS_SLICE(sig, 64))
                         : cs_fail(CONSORT_E_BAD_CERTIFICATE, "TCB Signing key is not P-256");
    cs_key_free(key);
    if (rc == CONSORT_OK)
        return CONSORT_OK;
    if (rc == CONSORT_E_BAD_SIGNATURE)
        return cs_fail(rc,
                       "%s: signature over its %zu-byte body does not verify under the TCB "
                       "Signing key",
                       what, body.len);
    return cs_err_context(rc, "%s", what);
}

consort_err cs_dcap_verify_signed_body(const cs_dcap_trust *t, cs_slice body, const uint8_t sig[64],
                                       bool root_crl, const char *what)
{
    consort_err rc = CONSORT_E_COLLATERAL_MISSING;
    for (size_t i = 0; i < t->pool_count; i++) {
        char subject[256];
        cs_x509_subject(t->pool[i], subject, sizeof subject);
        if (strstr(subject, TCB_SIGNING_CN) == NULL)
            continue;
        rc = try_signer(t, t->pool[i], body, sig, root_crl, what);
        if (rc == CONSORT_OK || rc == CONSORT_E_NOMEM)
            return rc;
    }
    if (rc == CONSORT_E_COLLATERAL_MISSING)
        return cs_fail(rc,
                       "%s: no Intel SGX TCB Signing certificate among the endorsements "
                       "(its issuer chain)",
                       what);
    return rc;
}
