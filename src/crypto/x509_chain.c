/*
 * Certificate path validation (RFC 5280 §6) on OpenSSL's X509_verify_cert,
 * at a caller-supplied time, with only the caller's roots as trust anchors
 * (no default store, no partial chains) and optional CRL checking (§6.3).
 */
#include "crypto/x509_priv.h"

#include "crypto/rand.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>

/* Bounds on what a caller may pass (real chains have 2 to 4 certificates). */
#define CHAIN_INPUT_MAX 64
#define CHAIN_DEPTH_MAX 16

/* Shared with the verify callback through the context's app data. */
typedef struct verify_state {
    bool require_crls;
    char crl_issuer[200]; /* issuer of the CRL at fault, when a CRL failed */
} verify_state;

static bool is_crl_error(int err)
{
    switch (err) {
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
        return true;
    default:
        return false;
    }
}

/*
 * With CRLs given but not required, a certificate whose issuer published no
 * CRL is accepted; every other failure (including a CRL that is present but
 * expired or badly signed) stops verification.
 */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    if (ok)
        return 1;
    verify_state *st = X509_STORE_CTX_get_app_data(ctx);
    int err = X509_STORE_CTX_get_error(ctx);
    if (st == NULL)
        return 0;
    if (!st->require_crls && err == X509_V_ERR_UNABLE_TO_GET_CRL)
        return 1;
    /* OpenSSL forgets the current CRL once the check returns: note it now. */
    const X509_CRL *crl = X509_STORE_CTX_get0_current_crl(ctx);
    if (is_crl_error(err) && crl != NULL)
        cs_x509_name_line(X509_CRL_get_issuer(crl), st->crl_issuer, sizeof st->crl_issuer);
    return 0;
}

static consort_err code_for(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
        return CONSORT_E_EXPIRED;
    case X509_V_ERR_CERT_REVOKED:
        return CONSORT_E_REVOKED;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
        return CONSORT_E_COLLATERAL_MISSING;
    default:
        return CONSORT_E_BAD_CERTIFICATE;
    }
}

/* Names the failing certificate (and CRL) and OpenSSL's reason. */
static consort_err verify_failure(X509_STORE_CTX *ctx, const X509 *leaf, const verify_state *st)
{
    int err = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    const X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
    char subject[256];
    cs_x509_name_line(X509_get_subject_name(cur != NULL ? cur : leaf), subject, sizeof subject);
    const char *reason = X509_verify_cert_error_string(err);
    consort_err code = err == X509_V_OK ? CONSORT_E_BAD_CERTIFICATE : code_for(err);
    ERR_clear_error();
    if (is_crl_error(err) && st->crl_issuer[0] != '\0')
        return cs_fail(code, "certificate '%s' (depth %d): CRL of '%s': %s (X509 error %d)",
                       subject, depth, st->crl_issuer, reason, err);
    return cs_fail(code, "certificate '%s' (depth %d): %s (X509 error %d)", subject, depth, reason,
                   err);
}

static consort_err check_inputs(const cs_x509 *leaf, size_t intermediate_count, size_t root_count,
                                const cs_x509_verify_opts *opts)
{
    CS_ENSURE(leaf != NULL && opts != NULL, CONSORT_E_INVALID_ARGUMENT,
              "chain: leaf and options are required");
    CS_ENSURE(root_count >= 1, CONSORT_E_INVALID_ARGUMENT, "chain: no trust anchor given");
    CS_ENSURE(intermediate_count <= CHAIN_INPUT_MAX && root_count <= CHAIN_INPUT_MAX &&
                  opts->crl_count <= CHAIN_INPUT_MAX,
              CONSORT_E_INVALID_ARGUMENT,
              "chain: %zu intermediates, %zu roots, %zu CRLs; at most %d of each",
              intermediate_count, root_count, opts->crl_count, CHAIN_INPUT_MAX);
    return CONSORT_OK;
}

/* The trust store: exactly the given roots, nothing from the system. */
static consort_err make_store(cs_x509 *const *roots, size_t root_count, X509_STORE **out)
{
    X509_STORE *store = X509_STORE_new();
    if (store == NULL)
        return cs_ossl_fail(CONSORT_E_NOMEM, "chain: store");
    for (size_t i = 0; i < root_count; i++) {
        if (X509_STORE_add_cert(store, roots[i]->x509) != 1) {
            unsigned long e = ERR_peek_last_error();
            /* The same root given twice is harmless. */
            if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                X509_STORE_free(store);
                return cs_ossl_fail(CONSORT_E_CRYPTO, "chain: add root");
            }
            ERR_clear_error();
        }
    }
    *out = store;
    return CONSORT_OK;
}

consort_err cs_x509_verify_chain(const cs_x509 *leaf, cs_x509 *const *intermediates,
                                 size_t intermediate_count, cs_x509 *const *roots,
                                 size_t root_count, const cs_x509_verify_opts *opts, size_t *path)
{
    CS_TRY(check_inputs(leaf, intermediate_count, root_count, opts));
    verify_state st = {.require_crls = opts->require_crls, .crl_issuer = ""};
    consort_err rc = CONSORT_OK;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    CS_ENSURE_GOTO(rc, untrusted != NULL && crls != NULL, done, CONSORT_E_NOMEM,
                   "chain: out of memory");
    for (size_t i = 0; i < intermediate_count; i++)
        CS_ENSURE_GOTO(rc, sk_X509_push(untrusted, intermediates[i]->x509) > 0, done,
                       CONSORT_E_NOMEM, "chain: out of memory");
    for (size_t i = 0; i < opts->crl_count; i++)
        CS_ENSURE_GOTO(rc, sk_X509_CRL_push(crls, opts->crls[i]->crl) > 0, done, CONSORT_E_NOMEM,
                       "chain: out of memory");
    CS_TRY_GOTO(rc, make_store(roots, root_count, &store), done);
    ctx = X509_STORE_CTX_new();
    if (ctx == NULL || X509_STORE_CTX_init(ctx, store, leaf->x509, untrusted) != 1) {
        rc = cs_ossl_fail(CONSORT_E_NOMEM, "chain: context");
        goto done;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    /* RFC 5280 §6.1.1 (b): the validation time; sets X509_V_FLAG_USE_CHECK_TIME.
     * Note: OpenSSL counts the notAfter second itself as expired, one second
     * earlier than §4.1.2.5 ("notBefore through notAfter, inclusive"). */
    X509_VERIFY_PARAM_set_time(param, (time_t)opts->now);
    X509_VERIFY_PARAM_set_depth(param, CHAIN_DEPTH_MAX);
    /* X509_V_FLAG_PARTIAL_CHAIN stays off: the path must end at a self-signed root. */
    if (opts->require_crls || opts->crl_count > 0) {
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
        X509_STORE_CTX_set0_crls(ctx, crls);
    }
    X509_STORE_CTX_set_app_data(ctx, &st);
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);

    int ok = X509_verify_cert(ctx);
    if (ok < 0) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "chain: verification could not run");
    } else if (ok == 0) {
        rc = verify_failure(ctx, leaf->x509, &st);
    } else {
        ERR_clear_error();
        if (path != NULL)
            *path = (size_t)sk_X509_num(X509_STORE_CTX_get0_chain(ctx));
    }
done:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_CRL_free(crls); /* the CRLs and certificates belong to the caller */
    sk_X509_free(untrusted);
    return rc;
}
