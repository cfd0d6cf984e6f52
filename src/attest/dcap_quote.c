/*
 * DCAP quote parsing (dcap.h): header, report body, signature data.
 *
 * Layout ([quote3.h] sgx_quote3_t, [quote4.h] sgx_quote4_t, [quote5.h]
 * sgx_quote5_t; every integer little-endian):
 *
 *   header (48)      version u16, att_key_type u16, tee_type u32,
 *                    qe_svn u16, pce_svn u16 (v3; reserved in v4/v5),
 *                    qe_vendor_id[16], user_data[20]
 *   v5 only:         body type u16, body size u32
 *   body             v3: SGX report (384); v4: TD report (584);
 *                    v5: as the descriptor says (1: 384, 2: 584, 3: 648)
 *   sig data len u32
 *   sig data         v3: sig(64) ak(64) qe_report(384) qe_sig(64)
 *                        auth_len u16, auth, cert_type u16 (5), cert_size u32, cert
 *                    v4/v5: sig(64) ak(64) cert_type u16 (6), cert_size u32, and in
 *                        that: qe_report(384) qe_sig(64) auth_len u16, auth,
 *                        cert_type u16 (5), cert_size u32, cert
 */
#include "attest/dcap.h"

#include <string.h>

/* Intel's QE vendor id (939A7233-F79C-4CA9-940A-0DB3957F0607). */
static const uint8_t intel_qe_vendor_id[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                               0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

#define CERT_TYPE_PCK_CHAIN 5
#define CERT_TYPE_QE_REPORT 6

consort_err cs_sgx_report_parse(cs_slice body, cs_sgx_report *r)
{
    CS_ENSURE(body.len == CS_DCAP_SGX_BODY_LEN, CONSORT_E_MALFORMED,
              "SGX report body: %zu bytes, expected %d", body.len, CS_DCAP_SGX_BODY_LEN);
    cs_cursor c;
    cs_cursor_init(&c, body);
    memset(r, 0, sizeof *r);
    /* [quote3.h] sgx_report_body_t: offsets 0, 16, 20 (reserved 12), 32, 48,
     * 64, 96 (reserved 32), 128, 160 (reserved 32), 192, 256, 258, 260,
     * 262 (reserved 42), 304, 320. */
    CS_TRY(cs_cursor_read_into(&c, r->cpusvn, 16));
    CS_TRY(cs_cursor_read_into(&c, r->miscselect, 4));
    CS_TRY(cs_cursor_skip(&c, 12));
    CS_TRY(cs_cursor_read_into(&c, r->isv_ext_prod_id, 16));
    CS_TRY(cs_cursor_read_into(&c, r->attributes, 16));
    CS_TRY(cs_cursor_read_into(&c, r->mrenclave, 32));
    CS_TRY(cs_cursor_skip(&c, 32));
    CS_TRY(cs_cursor_read_into(&c, r->mrsigner, 32));
    CS_TRY(cs_cursor_skip(&c, 32));
    CS_TRY(cs_cursor_read_into(&c, r->config_id, 64));
    CS_TRY(cs_cursor_read_le16(&c, &r->isvprodid));
    CS_TRY(cs_cursor_read_le16(&c, &r->isvsvn));
    CS_TRY(cs_cursor_read_le16(&c, &r->config_svn));
    CS_TRY(cs_cursor_skip(&c, 42));
    CS_TRY(cs_cursor_read_into(&c, r->isv_family_id, 16));
    CS_TRY(cs_cursor_read_into(&c, r->report_data, 64));
    return cs_cursor_expect_end(&c);
}

consort_err cs_td_report_parse(cs_slice body, cs_dcap_body_type type, cs_td_report *r)
{
    size_t want = type == CS_DCAP_BODY_TD15 ? CS_DCAP_TD15_BODY_LEN : CS_DCAP_TD10_BODY_LEN;
    CS_ENSURE(type == CS_DCAP_BODY_TD10 || type == CS_DCAP_BODY_TD15, CONSORT_E_UNSUPPORTED,
              "TD report body: type %d, expected 2 (TD 1.0) or 3 (TD 1.5)", (int)type);
    CS_ENSURE(body.len == want, CONSORT_E_MALFORMED, "TD report body: %zu bytes, expected %zu",
              body.len, want);
    cs_cursor c;
    cs_cursor_init(&c, body);
    memset(r, 0, sizeof *r);
    /* [quote4.h] sgx_report2_body_t: offsets 0, 16, 64, 112, 120, 128, 136,
     * 184, 232, 280, 328 + 48 * i, 520; [quote5.h] sgx_report2_body_v1_5_t
     * adds tee_tcb_svn2 at 584 and mr_servicetd at 600. */
    CS_TRY(cs_cursor_read_into(&c, r->tee_tcb_svn, 16));
    CS_TRY(cs_cursor_read_into(&c, r->mrseam, 48));
    CS_TRY(cs_cursor_read_into(&c, r->mrsignerseam, 48));
    CS_TRY(cs_cursor_read_into(&c, r->seam_attributes, 8));
    CS_TRY(cs_cursor_read_into(&c, r->td_attributes, 8));
    CS_TRY(cs_cursor_read_into(&c, r->xfam, 8));
    CS_TRY(cs_cursor_read_into(&c, r->mrtd, 48));
    CS_TRY(cs_cursor_read_into(&c, r->mrconfigid, 48));
    CS_TRY(cs_cursor_read_into(&c, r->mrowner, 48));
    CS_TRY(cs_cursor_read_into(&c, r->mrownerconfig, 48));
    for (size_t i = 0; i < 4; i++)
        CS_TRY(cs_cursor_read_into(&c, r->rtmr[i], 48));
    CS_TRY(cs_cursor_read_into(&c, r->report_data, 64));
    if (type == CS_DCAP_BODY_TD15) {
        r->td15 = true;
        CS_TRY(cs_cursor_read_into(&c, r->tee_tcb_svn2, 16));
        CS_TRY(cs_cursor_read_into(&c, r->mrservicetd, 48));
    }
    return cs_cursor_expect_end(&c);
}

static consort_err parse_header(cs_cursor *c, cs_dcap_quote *q)
{
    CS_TRY_CTX(cs_cursor_read_le16(c, &q->version), "header");
    CS_ENSURE(q->version >= 3 && q->version <= 5, CONSORT_E_UNSUPPORTED,
              "version %u unsupported, expected 3 (SGX), 4 or 5 (TDX)", q->version);
    CS_TRY_CTX(cs_cursor_read_le16(c, &q->att_key_type), "header");
    /* Only ECDSA-256-with-P-256 (2) is defined for DCAP quotes. */
    CS_ENSURE(q->att_key_type == CS_DCAP_ATT_KEY_P256, CONSORT_E_UNSUPPORTED,
              "attestation key type %u unsupported, expected 2 (ECDSA-256-with-P-256)",
              q->att_key_type);
    CS_TRY_CTX(cs_cursor_read_le32(c, &q->tee_type), "header");
    /* [quote4.h] sgx_quote4_header_t.tee_type: 0x00000000 SGX, 0x00000081 TDX;
     * v3 quotes are SGX only, v4 quotes TDX only. */
    CS_ENSURE(q->tee_type == CS_DCAP_TEE_SGX || q->tee_type == CS_DCAP_TEE_TDX,
              CONSORT_E_UNSUPPORTED,
              "TEE type 0x%08x unsupported, expected 0x0 (SGX) or 0x81 (TDX)", q->tee_type);
    CS_ENSURE(q->version != 3 || q->tee_type == CS_DCAP_TEE_SGX, CONSORT_E_UNSUPPORTED,
              "version 3 with TEE type 0x%08x, expected 0x0 (SGX)", q->tee_type);
    CS_ENSURE(q->version != 4 || q->tee_type == CS_DCAP_TEE_TDX, CONSORT_E_UNSUPPORTED,
              "version 4 with TEE type 0x%08x, expected 0x81 (TDX)", q->tee_type);
    CS_TRY_CTX(cs_cursor_read_le16(c, &q->qe_svn), "header");
    CS_TRY_CTX(cs_cursor_read_le16(c, &q->pce_svn), "header");
    CS_TRY_CTX(cs_cursor_read_into(c, q->qe_vendor_id, 16), "header");
    CS_TRY_CTX(cs_cursor_read_into(c, q->user_data, 20), "header");
    CS_ENSURE(memcmp(q->qe_vendor_id, intel_qe_vendor_id, 16) == 0, CONSORT_E_UNSUPPORTED,
              "QE vendor id is not Intel's (939a7233f79c4ca9940a0db3957f0607)");
    return CONSORT_OK;
}

/* The body: its type from the version (v3/v4) or the v5 descriptor. */
static consort_err parse_body(cs_cursor *c, cs_dcap_quote *q)
{
    size_t len = CS_DCAP_SGX_BODY_LEN;
    q->body_type = CS_DCAP_BODY_SGX;
    if (q->version == 4) {
        q->body_type = CS_DCAP_BODY_TD10;
        len = CS_DCAP_TD10_BODY_LEN;
    } else if (q->version == 5) {
        /* [quote5.h] sgx_quote5_t: body type u16 (1 SGX, 2 TD 1.0, 3 TD 1.5), size u32. */
        uint16_t type;
        uint32_t size;
        CS_TRY_CTX(cs_cursor_read_le16(c, &type), "body descriptor");
        CS_TRY_CTX(cs_cursor_read_le32(c, &size), "body descriptor");
        CS_ENSURE(type >= 1 && type <= 3, CONSORT_E_UNSUPPORTED,
                  "v5 body type %u unsupported, expected 1 (SGX), 2 (TD 1.0) or 3 (TD 1.5)", type);
        q->body_type = (cs_dcap_body_type)type;
        len = type == 1 ? CS_DCAP_SGX_BODY_LEN
                        : (type == 2 ? CS_DCAP_TD10_BODY_LEN : CS_DCAP_TD15_BODY_LEN);
        CS_ENSURE(size == len, CONSORT_E_MALFORMED, "v5 body type %u with size %u, expected %zu",
                  type, size, len);
        bool tdx_body = type != CS_DCAP_BODY_SGX;
        CS_ENSURE(tdx_body == (q->tee_type == CS_DCAP_TEE_TDX), CONSORT_E_MALFORMED,
                  "v5 body type %u does not fit TEE type 0x%08x", type, q->tee_type);
    }
    cs_slice body;
    CS_TRY_CTX(cs_cursor_read_slice(c, len, &body), "report body");
    if (q->body_type == CS_DCAP_BODY_SGX)
        return cs_sgx_report_parse(body, &q->sgx);
    return cs_td_report_parse(body, q->body_type, &q->td);
}

/* Certification data header: type u16 and size u32, then `size` bytes. */
static consort_err read_cert_data(cs_cursor *c, uint16_t want_type, size_t max, cs_slice *out)
{
    uint16_t type;
    uint32_t size;
    CS_TRY(cs_cursor_read_le16(c, &type));
    CS_TRY(cs_cursor_read_le32(c, &size));
    /* Type 5 = concatenated PCK cert chain (PEM), 6 = QE report certification data. */
    CS_ENSURE(type == want_type, CONSORT_E_UNSUPPORTED,
              "certification data type %u unsupported, expected %u", type, want_type);
    CS_ENSURE(size <= max, CONSORT_E_TOO_LARGE, "certification data type %u: %u bytes, cap %zu",
              type, size, max);
    return cs_cursor_read_slice(c, size, out);
}

/* QE report, its signature, QE auth data and the PCK chain (type 5), exactly. */
static consort_err parse_qe_part(cs_cursor *c, cs_dcap_quote *q)
{
    uint16_t auth_len;
    CS_TRY_CTX(cs_cursor_read_slice(c, CS_DCAP_SGX_BODY_LEN, &q->qe_report), "QE report");
    CS_TRY_CTX(cs_sgx_report_parse(q->qe_report, &q->qe), "QE report");
    CS_TRY_CTX(cs_cursor_read_slice(c, CS_DCAP_ECDSA_SIG_LEN, &q->qe_report_sig),
               "QE report signature");
    CS_TRY_CTX(cs_cursor_read_le16(c, &auth_len), "QE auth data");
    CS_ENSURE(auth_len <= CS_DCAP_MAX_AUTH_DATA, CONSORT_E_TOO_LARGE,
              "QE auth data: %u bytes, cap %d", auth_len, CS_DCAP_MAX_AUTH_DATA);
    CS_TRY_CTX(cs_cursor_read_slice(c, auth_len, &q->qe_auth_data), "QE auth data");
    cs_slice chain;
    CS_TRY_CTX(read_cert_data(c, CERT_TYPE_PCK_CHAIN, CS_DCAP_MAX_CERT_DATA, &chain),
               "PCK certification data");
    /* The PEM text may be NUL-terminated; the terminator is not part of it. */
    while (chain.len > 0 && chain.ptr[chain.len - 1] == 0)
        chain.len--;
    CS_ENSURE(chain.len > 0, CONSORT_E_MALFORMED, "PCK certification data is empty");
    q->pck_chain = chain;
    CS_TRY_CTX(cs_cursor_expect_end(c), "QE certification data");
    return CONSORT_OK;
}

static consort_err parse_sig_data(cs_slice sig_data, cs_dcap_quote *q)
{
    cs_cursor c;
    cs_cursor_init(&c, sig_data);
    CS_TRY_CTX(cs_cursor_read_slice(&c, CS_DCAP_ECDSA_SIG_LEN, &q->signature), "quote signature");
    CS_TRY_CTX(cs_cursor_read_slice(&c, CS_DCAP_ATT_KEY_LEN, &q->att_key), "attestation key");
    if (q->version == 3)
        return parse_qe_part(&c, q);
    /* [quote4.h] sgx_quote4_t: v4/v5 wrap the QE part in certification data
     * type 6 (sgx_qe_report_certification_data_t). */
    cs_slice qe_part;
    CS_TRY_CTX(read_cert_data(&c, CERT_TYPE_QE_REPORT, CS_DCAP_MAX_SIG_DATA, &qe_part),
               "QE report certification data");
    CS_TRY_CTX(cs_cursor_expect_end(&c), "signature data");
    cs_cursor inner;
    cs_cursor_init(&inner, qe_part);
    return parse_qe_part(&inner, q);
}

consort_err cs_dcap_quote_parse(cs_slice in, cs_dcap_quote *q)
{
    memset(q, 0, sizeof *q);
    cs_cursor c;
    cs_cursor_init(&c, in);
    CS_TRY_CTX(parse_header(&c, q), "DCAP quote");
    CS_TRY_CTX(parse_body(&c, q), "DCAP quote v%u", q->version);
    q->signed_data = CS_SLICE(in.ptr, c.pos);
    uint32_t sig_len;
    cs_slice sig_data;
    CS_TRY_CTX(cs_cursor_read_le32(&c, &sig_len), "DCAP quote: signature data length");
    CS_ENSURE(sig_len <= CS_DCAP_MAX_SIG_DATA, CONSORT_E_TOO_LARGE,
              "DCAP quote: signature data length %u, cap %d", sig_len, CS_DCAP_MAX_SIG_DATA);
    CS_TRY_CTX(cs_cursor_read_slice(&c, sig_len, &sig_data),
               "DCAP quote: signature data (length field %u)", sig_len);
    CS_TRY_CTX(parse_sig_data(sig_data, q), "DCAP quote v%u signature data", q->version);
    q->len = c.pos;
    return CONSORT_OK;
}
