/*
 * The I/O-free half of the configfs-tsm attester: from the provider name,
 * outblob and auxblob to an evidence envelope (tsm.h). Nothing here touches
 * the file system, so tests and the fuzzer can drive it directly.
 */
#include "attest/snp_certtable.h"
#include "attest/tsm.h"

#include "base/log.h"

#include <string.h>

/*
 * Where each format carries the 64 bytes written to inblob.
 * SEV-SNP ABI (AMD 56860) Table 22/23 ATTESTATION_REPORT: REPORT_DATA at 0x50.
 * Intel TDX DCAP Quoting Library API, Appendix A: a 48-byte quote header
 * (u16 version at 0), then for v4 the TD report body, for v5 a body
 * descriptor (u16 type, u32 size) and then the body; in the body (TD 1.0 and
 * TD 1.5 alike) REPORTDATA follows TEE_TCB_SVN .. RTMR3 at offset 520.
 */
#define SNP_REPORT_DATA_OFFSET      0x50
#define TDX_QUOTE_HEADER_LEN        48
#define TDX_BODY_DESCRIPTOR_LEN     6
#define TDX_BODY_REPORT_DATA_OFFSET 520

consort_err cs_tsm_provider_platform(const char *provider, cs_platform *out)
{
    /* configfs-tsm-report ABI, @provider: "sev_guest" [SNP ABI] or "tdx_guest" [TDX DCAP]. */
    if (strcmp(provider, "sev_guest") == 0) {
        *out = CS_PLATFORM_SNP;
        return CONSORT_OK;
    }
    if (strcmp(provider, "tdx_guest") == 0) {
        *out = CS_PLATFORM_TDX;
        return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_UNSUPPORTED,
                   "configfs-tsm provider '%s' unsupported, expected sev_guest or tdx_guest",
                   provider);
}

/* Locates the report-data field of `outblob` for `platform`. */
static consort_err report_data_field(cs_platform platform, cs_slice outblob, cs_slice *field)
{
    size_t offset;
    if (platform == CS_PLATFORM_SNP) {
        offset = SNP_REPORT_DATA_OFFSET;
    } else {
        cs_cursor c;
        uint16_t version;
        cs_cursor_init(&c, outblob);
        CS_TRY_CTX(cs_cursor_read_le16(&c, &version), "TDX quote of %zu bytes", outblob.len);
        if (version == 4)
            offset = TDX_QUOTE_HEADER_LEN + TDX_BODY_REPORT_DATA_OFFSET;
        else if (version == 5)
            offset = TDX_QUOTE_HEADER_LEN + TDX_BODY_DESCRIPTOR_LEN + TDX_BODY_REPORT_DATA_OFFSET;
        else
            return cs_fail(CONSORT_E_UNSUPPORTED,
                           "TDX quote version %u unsupported, expected 4 or 5", version);
    }
    CS_TRY_CTX(cs_slice_sub(outblob, offset, CS_TSM_INBLOB_LEN, field),
               "%s outblob of %zu bytes has no report data at offset %zu",
               cs_platform_name(platform), outblob.len, offset);
    return CONSORT_OK;
}

/*
 * The outblob must be the report for OUR inblob: a report produced for
 * another writer's inblob would bind someone else's key.
 */
static consort_err check_report_data(cs_platform platform, cs_slice outblob,
                                     const uint8_t report_data[64])
{
    cs_slice field;
    CS_TRY(report_data_field(platform, outblob, &field));
    if (!cs_slice_eq(field, CS_SLICE(report_data, CS_TSM_INBLOB_LEN))) {
        char got[17];
        char want[17];
        cs_hex_encode(CS_SLICE(field.ptr, 8), got);
        cs_hex_encode(CS_SLICE(report_data, 8), want);
        return cs_fail(CONSORT_E_REPORT_DATA,
                       "%s outblob carries report data %s..., but %s... was written to inblob",
                       cs_platform_name(platform), got, want);
    }
    return CONSORT_OK;
}

/* Adds the certificates of the SNP table to the endorsements, in table order. */
static consort_err add_snp_certificates(cs_slice auxblob, cs_blob_list *endorsements)
{
    cs_snp_certtable table;
    CS_TRY_CTX(cs_snp_certtable_parse(auxblob, &table), "auxblob");
    if (table.count == 0)
        cs_log_warn("tsm", "the host supplied no SNP certificates (empty auxblob): the verifier "
                           "must obtain the VCEK elsewhere");
    for (size_t i = 0; i < table.count; i++) {
        const cs_snp_cert_entry *e = &table.entries[i];
        if (e->kind == CS_SNP_CERT_UNKNOWN) {
            char guid[CS_SNP_GUID_STR_LEN];
            cs_snp_guid_format(e->guid, guid);
            cs_log_warn("tsm",
                        "SNP certificate table entry %zu has unknown GUID %s (%zu bytes): "
                        "not passed on as an endorsement",
                        i, guid, e->data.len);
            continue;
        }
        cs_log_debug("tsm", "SNP certificate table: %s, %zu bytes", cs_snp_cert_kind_name(e->kind),
                     e->data.len);
        CS_TRY_CTX(cs_blob_list_add(endorsements, e->data), "SNP %s certificate",
                   cs_snp_cert_kind_name(e->kind));
    }
    return CONSORT_OK;
}

consort_err cs_tsm_evidence_build(const char *provider, cs_slice outblob, cs_slice auxblob,
                                  const uint8_t report_data[64], cs_evidence *out)
{
    consort_err rc;
    cs_platform platform = CS_PLATFORM_NONE;
    cs_evidence ev;
    /* Whatever happens, the caller's old contents go. */
    cs_evidence_cleanup(out);
    cs_evidence_init(out);

    CS_TRY(cs_tsm_provider_platform(provider, &platform));
    CS_ENSURE(outblob.len > 0, CONSORT_E_MALFORMED, "%s outblob is empty", provider);
    CS_ENSURE(outblob.len <= CS_TSM_BLOB_MAX, CONSORT_E_TOO_LARGE,
              "%s outblob of %zu bytes, at most %d", provider, outblob.len, CS_TSM_BLOB_MAX);
    CS_TRY(check_report_data(platform, outblob, report_data));

    cs_evidence_init(&ev);
    ev.platform = platform;
    CS_TRY_GOTO(rc, cs_buf_set(&ev.evidence, outblob), fail);
    if (platform == CS_PLATFORM_SNP)
        CS_TRY_GOTO(rc, add_snp_certificates(auxblob, &ev.endorsements), fail);
    *out = ev; /* ownership of the buffers moves to the caller */
    return CONSORT_OK;

fail:
    cs_evidence_cleanup(&ev);
    return rc;
}
