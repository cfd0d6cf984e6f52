/*
 * The client library's receipt verification (include/consort/client.h): the
 * public wrapper over cs_receipt_parse / cs_receipt_verify.
 */
#include <consort/client.h>

#include "store/receipt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static consort_err load_service_cert(const char *pem, size_t len, cs_x509 **out)
{
    consort_err rc = cs_x509_from_pem(CS_SLICE(pem, len), out);
    if (rc != CONSORT_OK)
        return cs_err_context(CONSORT_E_INVALID_ARGUMENT, "service certificate");
    return CONSORT_OK;
}

static consort_err check_txid(const cs_receipt *r, const char *txid)
{
    CS_ENSURE(txid == NULL || strcmp(r->txid, txid) == 0, CONSORT_E_POLICY,
              "receipt is for transaction %s, not %s", r->txid, txid);
    return CONSORT_OK;
}

static consort_err verify(const char *json, size_t json_len, const char *pem, size_t pem_len,
                          const consort_receipt_expect *expect)
{
    CS_ENSURE(json != NULL && pem != NULL, CONSORT_E_INVALID_ARGUMENT,
              "receipt verify: NULL receipt or service certificate");
    cs_x509 *service = NULL;
    CS_TRY(load_service_cert(pem, pem_len, &service));
    cs_receipt r;
    cs_receipt_init(&r);
    cs_receipt_verify_opts opts = {
        .claims_digest = expect ? expect->claims_digest : NULL,
        .now = expect && expect->now != 0 ? expect->now : (int64_t)time(NULL),
    };
    consort_err rc = cs_receipt_parse(CS_SLICE(json, json_len), &r);
    if (rc == CONSORT_OK)
        rc = check_txid(&r, expect ? expect->txid : NULL);
    if (rc == CONSORT_OK)
        rc = cs_receipt_verify(&r, service, &opts);
    cs_receipt_cleanup(&r);
    cs_x509_free(service);
    return rc;
}

static consort_err report(consort_err rc, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", rc == CONSORT_OK ? "" : consort_errmsg());
    return rc;
}

consort_err consort_receipt_verify(const char *receipt_json, size_t json_len,
                                   const char *service_cert_pem, size_t pem_len,
                                   const uint8_t *claims_digest, char *err, size_t errlen)
{
    consort_receipt_expect expect = {.claims_digest = claims_digest};
    return report(verify(receipt_json, json_len, service_cert_pem, pem_len, &expect), err, errlen);
}

consort_err consort_receipt_verify_ex(const char *receipt_json, size_t json_len,
                                      const char *service_cert_pem, size_t pem_len,
                                      const consort_receipt_expect *expect, char *err,
                                      size_t errlen)
{
    return report(verify(receipt_json, json_len, service_cert_pem, pem_len, expect), err, errlen);
}
