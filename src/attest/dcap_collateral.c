/*
 * DCAP collateral recognised by content (dcap_collateral.h).
 */
#include "attest/dcap_collateral.h"

#include "attest/dcap_json.h"
#include "base/alloc.h"

#include <string.h>

void cs_dcap_collateral_init(cs_dcap_collateral *c)
{
    memset(c, 0, sizeof *c);
}

void cs_dcap_collateral_cleanup(cs_dcap_collateral *c)
{
    for (size_t i = 0; i < c->tcb_info_count; i++)
        cs_dcap_tcb_info_cleanup(&c->tcb_infos[i]);
    for (size_t i = 0; i < c->qe_id_count; i++)
        cs_dcap_qe_identity_cleanup(&c->qe_ids[i]);
    for (size_t i = 0; i < c->crl_count; i++)
        cs_x509_crl_free(c->crls[i]);
    cs_x509_list_free(c->certs, c->cert_count);
    memset(c, 0, sizeof *c);
}

consort_err cs_dcap_signed_json_split(cs_slice doc, const char *member, cs_slice *body,
                                      uint8_t signature[64])
{
    json_t *obj = NULL;
    CS_TRY(cs_dcap_json_parse(doc, &obj));
    consort_err rc = CONSORT_OK;
    const json_t *inner = json_object_get(obj, member);
    if (!json_is_object(inner))
        rc = cs_fail(CONSORT_E_MALFORMED, "\"%s\": missing or not an object", member);
    else
        rc = cs_dcap_json_hex(obj, "signature", signature, 64);
    /* Only the two members: anything else would be unsigned data beside the body. */
    if (rc == CONSORT_OK && json_object_size(obj) != 2)
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "%zu top-level members, expected \"%s\" and "
                     "\"signature\"",
                     json_object_size(obj), member);
    json_decref(obj);
    CS_TRY(rc);
    return cs_dcap_json_member_span(doc, member, body);
}

static consort_err load_json(cs_dcap_collateral *c, cs_slice doc, size_t index)
{
    json_t *obj = NULL;
    CS_TRY(cs_dcap_json_parse(doc, &obj));
    bool tcb = json_object_get(obj, "tcbInfo") != NULL;
    bool qe = json_object_get(obj, "enclaveIdentity") != NULL;
    json_decref(obj);
    CS_ENSURE(tcb != qe, CONSORT_E_MALFORMED,
              "JSON that is neither a TCB info (\"tcbInfo\") nor a QE identity "
              "(\"enclaveIdentity\") response");
    cs_slice body;
    uint8_t sig[64];
    if (tcb) {
        CS_TRY_CTX(cs_dcap_signed_json_split(doc, "tcbInfo", &body, sig), "TCB info");
        cs_dcap_tcb_info *t = &c->tcb_infos[c->tcb_info_count];
        CS_TRY(cs_dcap_tcb_info_parse(body, t));
        memcpy(t->signature, sig, 64);
        t->source = index;
        c->tcb_info_count++;
    } else {
        CS_TRY_CTX(cs_dcap_signed_json_split(doc, "enclaveIdentity", &body, sig), "QE identity");
        cs_dcap_qe_identity *q = &c->qe_ids[c->qe_id_count];
        CS_TRY(cs_dcap_qe_identity_parse(body, q));
        memcpy(q->signature, sig, 64);
        q->source = index;
        c->qe_id_count++;
    }
    return CONSORT_OK;
}

static bool contains(cs_slice s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= s.len && i <= s.len - n; i++)
        if (memcmp(s.ptr + i, needle, n) == 0)
            return true;
    return false;
}

/* RFC 3986 §2.1 percent-decoding of a PCS "...-Issuer-Chain" header value. */
static consort_err url_decode(cs_slice in, cs_buf *out)
{
    cs_cursor c;
    cs_cursor_init(&c, in);
    while (cs_cursor_remaining(&c) > 0) {
        uint8_t ch;
        CS_TRY(cs_cursor_read_u8(&c, &ch));
        if (ch == '%') {
            uint8_t hi, lo;
            CS_TRY_CTX(cs_cursor_read_u8(&c, &hi), "URL-encoded text");
            CS_TRY_CTX(cs_cursor_read_u8(&c, &lo), "URL-encoded text");
            CS_ENSURE(cs_hex_digit(hi) >= 0 && cs_hex_digit(lo) >= 0, CONSORT_E_MALFORMED,
                      "URL-encoded text: bad escape at offset %zu", c.pos - 3);
            ch = (uint8_t)(cs_hex_digit(hi) << 4 | cs_hex_digit(lo));
        }
        CS_TRY(cs_buf_append_u8(out, ch));
    }
    return CONSORT_OK;
}

static consort_err add_certs(cs_dcap_collateral *c, cs_slice data)
{
    size_t before = c->cert_count;
    CS_TRY(cs_x509_parse_all(data, &c->certs, &c->cert_count));
    CS_ENSURE(c->cert_count <= CS_DCAP_MAX_CERTS, CONSORT_E_TOO_LARGE,
              "more than %d certificates in the endorsements (%zu added)", CS_DCAP_MAX_CERTS,
              c->cert_count - before);
    return CONSORT_OK;
}

static consort_err add_crl(cs_dcap_collateral *c, cs_slice data)
{
    CS_TRY(cs_x509_crl_parse(data, &c->crls[c->crl_count]));
    c->crl_count++;
    return CONSORT_OK;
}

/* DER: a certificate or a CRL (both are one SEQUENCE; try the certificate first). */
static consort_err load_der(cs_dcap_collateral *c, cs_slice data)
{
    cs_x509 *cert = NULL;
    if (cs_x509_from_der(data, &cert) == CONSORT_OK) {
        cs_x509_free(cert);
        return add_certs(c, data);
    }
    consort_err rc = add_crl(c, data);
    if (rc == CONSORT_E_NOMEM)
        return rc;
    CS_ENSURE(rc == CONSORT_OK, CONSORT_E_MALFORMED, "DER that is neither a certificate nor a CRL");
    return CONSORT_OK;
}

static consort_err load_one(cs_dcap_collateral *c, cs_slice blob, size_t index)
{
    size_t i = 0;
    while (i < blob.len && strchr(" \t\r\n", blob.ptr[i]) != NULL && blob.ptr[i] != 0)
        i++;
    CS_ENSURE(i < blob.len, CONSORT_E_MALFORMED, "empty");
    if (blob.ptr[i] == '{')
        return load_json(c, blob, index);
    if (blob.ptr[i] == 0x30)
        return load_der(c, blob);
    bool crl = contains(blob, "-----BEGIN X509 CRL-----");
    bool cert = contains(blob, "-----BEGIN CERTIFICATE-----");
    if (crl)
        CS_TRY(add_crl(c, blob));
    if (cert)
        CS_TRY(add_certs(c, blob));
    if (crl || cert)
        return CONSORT_OK;
    if (contains(blob, "-----BEGIN%20CERTIFICATE-----")) {
        cs_buf pem;
        cs_buf_init(&pem, blob.len);
        consort_err rc = url_decode(blob, &pem);
        if (rc == CONSORT_OK)
            rc = add_certs(c, cs_buf_slice(&pem));
        cs_buf_cleanup(&pem);
        return rc;
    }
    return cs_fail(CONSORT_E_MALFORMED,
                   "not recognised (expected TCB info or QE identity JSON, a CRL, or "
                   "certificates)");
}

consort_err cs_dcap_collateral_load(cs_dcap_collateral *c, const cs_blob_list *blobs)
{
    CS_ENSURE(blobs->count <= CS_EVIDENCE_MAX_ENDORSEMENTS, CONSORT_E_TOO_LARGE,
              "%zu endorsements, cap %d", blobs->count, CS_EVIDENCE_MAX_ENDORSEMENTS);
    for (size_t i = 0; i < blobs->count; i++)
        CS_TRY_CTX(load_one(c, cs_buf_slice(&blobs->items[i]), i), "endorsement #%zu", i);
    return CONSORT_OK;
}
