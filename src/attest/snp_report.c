/*
 * SEV-SNP ATTESTATION_REPORT parser (SEV-SNP ABI specification, Table
 * "ATTESTATION_REPORT Structure"), versions 2 and 3, and TCB_VERSION.
 *
 * The report is read front to back through one cursor, field by field at the
 * offsets the table gives (noted beside each read); every reserved range must
 * be zero; the cursor must end exactly at 0x4A0.
 */
#include "attest/snp.h"

#include "crypto/hash.h"

#include <string.h>

#define SNP_SIG_ALGO_ECDSA_P384_SHA384 1u
#define SNP_SIG_COMPONENT_LEN          72 /* r and s fields, little-endian */
#define SNP_P384_LEN                   48 /* significant bytes of r and s */

const char *cs_snp_product_name(cs_snp_product p)
{
    switch (p) {
    case CS_SNP_PRODUCT_MILAN:
        return "Milan";
    case CS_SNP_PRODUCT_GENOA:
        return "Genoa";
    case CS_SNP_PRODUCT_TURIN:
        return "Turin";
    case CS_SNP_PRODUCT_UNKNOWN:
        break;
    }
    return "unknown";
}

consort_err cs_snp_product_parse(const char *name, cs_snp_product *out)
{
    /* KDS productName is "<Product>" or "<Product>-<stepping>" ("Milan-B0"). */
    static const cs_snp_product all[] = {CS_SNP_PRODUCT_MILAN, CS_SNP_PRODUCT_GENOA,
                                         CS_SNP_PRODUCT_TURIN};
    for (size_t i = 0; i < CS_ARRAY_LEN(all); i++) {
        const char *p = cs_snp_product_name(all[i]);
        size_t n = strlen(p);
        if (strncmp(name, p, n) == 0 && (name[n] == '\0' || name[n] == '-')) {
            *out = all[i];
            return CONSORT_OK;
        }
    }
    return cs_fail(CONSORT_E_UNSUPPORTED,
                   "SEV-SNP product '%.32s' unknown, expected Milan, Genoa or Turin", name);
}

consort_err cs_snp_product_from_cpuid(uint8_t family, uint8_t model, cs_snp_product *out)
{
    /* Family 19h: models 00h-0Fh are Milan, 10h-1Fh and A0h-AFh Genoa (incl.
     * Bergamo/Siena, which use the Genoa KDS chain); family 1Ah models
     * 00h-11h are Turin. */
    if (family == 0x19 && model <= 0x0f)
        *out = CS_SNP_PRODUCT_MILAN;
    else if (family == 0x19 &&
             ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)))
        *out = CS_SNP_PRODUCT_GENOA;
    else if (family == 0x1a && model <= 0x11)
        *out = CS_SNP_PRODUCT_TURIN;
    else
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "SNP report: CPUID family 0x%02x model 0x%02x is not a supported "
                       "SEV-SNP product (Milan, Genoa, Turin)",
                       family, model);
    return CONSORT_OK;
}

consort_err cs_snp_tcb_decode(uint64_t tcb, cs_snp_product product, cs_snp_tcb *out)
{
    uint8_t b[8];
    for (size_t i = 0; i < 8; i++)
        b[i] = (uint8_t)(tcb >> (8 * i));
    memset(out, 0, sizeof *out);
    switch (product) {
    case CS_SNP_PRODUCT_MILAN:
    case CS_SNP_PRODUCT_GENOA:
        /* SEV-SNP ABI, TCB_VERSION: BOOT_LOADER [7:0], TEE [15:8], reserved
         * [47:16], SNP [55:48], MICROCODE [63:56]. */
        CS_ENSURE(b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0, CONSORT_E_MALFORMED,
                  "TCB_VERSION 0x%016llx: reserved bytes 2-5 are not zero",
                  (unsigned long long)tcb);
        out->bl = b[0];
        out->tee = b[1];
        out->snp = b[6];
        out->ucode = b[7];
        return CONSORT_OK;
    case CS_SNP_PRODUCT_TURIN:
        /* Turin TCB_VERSION: FMC [7:0], BOOT_LOADER [15:8], TEE [23:16],
         * SNP [31:24], reserved [55:32], MICROCODE [63:56]. */
        CS_ENSURE(b[4] == 0 && b[5] == 0 && b[6] == 0, CONSORT_E_MALFORMED,
                  "TCB_VERSION 0x%016llx: reserved bytes 4-6 are not zero (Turin layout)",
                  (unsigned long long)tcb);
        out->has_fmc = true;
        out->fmc = b[0];
        out->bl = b[1];
        out->tee = b[2];
        out->snp = b[3];
        out->ucode = b[7];
        return CONSORT_OK;
    case CS_SNP_PRODUCT_UNKNOWN:
        break;
    }
    return cs_fail(CONSORT_E_INVALID_ARGUMENT, "TCB_VERSION: unknown product %d", (int)product);
}

/* Consumes `n` bytes that the ABI marks reserved: they must be zero. */
static consort_err read_reserved(cs_cursor *c, size_t n)
{
    size_t off = c->pos;
    cs_slice s;
    CS_TRY(cs_cursor_read_slice(c, n, &s));
    for (size_t i = 0; i < s.len; i++)
        CS_ENSURE(s.ptr[i] == 0, CONSORT_E_MALFORMED,
                  "SNP report: reserved byte at offset 0x%03zx is 0x%02x, must be zero", off + i,
                  s.ptr[i]);
    return CONSORT_OK;
}

/* One 72-byte little-endian signature component into 48 big-endian bytes;
 * the 24 high-order bytes must be zero (P-384 scalars are 48 bytes). */
static consort_err read_sig_component(cs_cursor *c, const char *name, uint8_t out[SNP_P384_LEN])
{
    uint8_t le[SNP_SIG_COMPONENT_LEN];
    size_t off = c->pos;
    CS_TRY(cs_cursor_read_into(c, le, sizeof le));
    for (size_t i = SNP_P384_LEN; i < sizeof le; i++)
        CS_ENSURE(le[i] == 0, CONSORT_E_MALFORMED,
                  "SNP report: signature %s (offset 0x%03zx) is wider than 48 bytes", name, off);
    for (size_t i = 0; i < SNP_P384_LEN; i++)
        out[i] = le[SNP_P384_LEN - 1 - i];
    return CONSORT_OK;
}

static consort_err parse_header(cs_cursor *c, cs_snp_report *r)
{
    CS_TRY(cs_cursor_read_le32(c, &r->version)); /* 0x000 VERSION */
    /* SEV-SNP ABI: VERSION is 2 (ABI 1.51+) or 3 (ABI 1.55+, adds CPUID_*). */
    CS_ENSURE(r->version == 2 || r->version == 3, CONSORT_E_UNSUPPORTED,
              "SNP report: version %u unsupported, expected 2 or 3", r->version);
    CS_TRY(cs_cursor_read_le32(c, &r->guest_svn));                     /* 0x004 */
    CS_TRY(cs_cursor_read_le64(c, &r->policy));                        /* 0x008 */
    CS_TRY(cs_cursor_read_into(c, r->family_id, sizeof r->family_id)); /* 0x010 */
    CS_TRY(cs_cursor_read_into(c, r->image_id, sizeof r->image_id));   /* 0x020 */
    CS_TRY(cs_cursor_read_le32(c, &r->vmpl));                          /* 0x030 */
    CS_TRY(cs_cursor_read_le32(c, &r->signature_algo));                /* 0x034 */
    /* SEV-SNP ABI, "Signature Algorithm Encodings": 1 = ECDSA P-384 with SHA-384. */
    CS_ENSURE(r->signature_algo == SNP_SIG_ALGO_ECDSA_P384_SHA384, CONSORT_E_UNSUPPORTED,
              "SNP report: signature algorithm %u unsupported, expected 1 (ECDSA P-384 "
              "with SHA-384)",
              r->signature_algo);
    /* GUEST_POLICY bit 17 is reserved and must be one. */
    CS_ENSURE((r->policy & CS_SNP_POLICY_RESERVED1) != 0, CONSORT_E_MALFORMED,
              "SNP report: policy 0x%llx has reserved bit 17 clear, must be one",
              (unsigned long long)r->policy);
    CS_TRY(cs_cursor_read_le64(c, &r->current_tcb));   /* 0x038 CURRENT_TCB */
    CS_TRY(cs_cursor_read_le64(c, &r->platform_info)); /* 0x040 PLATFORM_INFO */
    CS_TRY(cs_cursor_read_le32(c, &r->key_info));      /* 0x048 KEY_INFO */
    /* KEY_INFO: AUTHOR_KEY_EN [0], MASK_CHIP_KEY [1], SIGNING_KEY [4:2]
     * (0 VCEK, 1 VLEK, 2-6 reserved, 7 none), [31:5] reserved. */
    CS_ENSURE((r->key_info >> 5) == 0, CONSORT_E_MALFORMED,
              "SNP report: KEY_INFO 0x%08x has reserved bits 31:5 set", r->key_info);
    uint32_t signing_key = (r->key_info >> 2) & 7u;
    CS_ENSURE(signing_key <= 1, CONSORT_E_UNSUPPORTED,
              "SNP report: KEY_INFO.SIGNING_KEY %u unsupported, expected 0 (VCEK) or 1 (VLEK)",
              signing_key);
    r->signing_key = (cs_snp_signing_key)signing_key;
    r->author_key_en = (r->key_info & CS_SNP_KEYINFO_AUTHOR_KEY_EN) != 0;
    r->mask_chip_key = (r->key_info & CS_SNP_KEYINFO_MASK_CHIP_KEY) != 0;
    return read_reserved(c, 4); /* 0x04C */
}

static consort_err parse_body(cs_cursor *c, cs_snp_report *r)
{
    CS_TRY(cs_cursor_read_into(c, r->report_data, sizeof r->report_data));             /* 0x050 */
    CS_TRY(cs_cursor_read_into(c, r->measurement, sizeof r->measurement));             /* 0x090 */
    CS_TRY(cs_cursor_read_into(c, r->host_data, sizeof r->host_data));                 /* 0x0C0 */
    CS_TRY(cs_cursor_read_into(c, r->id_key_digest, sizeof r->id_key_digest));         /* 0x0E0 */
    CS_TRY(cs_cursor_read_into(c, r->author_key_digest, sizeof r->author_key_digest)); /* 0x110 */
    CS_TRY(cs_cursor_read_into(c, r->report_id, sizeof r->report_id));                 /* 0x140 */
    CS_TRY(cs_cursor_read_into(c, r->report_id_ma, sizeof r->report_id_ma));           /* 0x160 */
    CS_TRY(cs_cursor_read_le64(c, &r->reported_tcb));                                  /* 0x180 */
    if (r->version >= 3) {
        /* Version 3: CPUID_FAM_ID 0x188, CPUID_MOD_ID 0x189, CPUID_STEP 0x18A. */
        r->has_cpuid = true;
        CS_TRY(cs_cursor_read_u8(c, &r->cpuid_fam_id));
        CS_TRY(cs_cursor_read_u8(c, &r->cpuid_mod_id));
        CS_TRY(cs_cursor_read_u8(c, &r->cpuid_step));
        CS_TRY(read_reserved(c, 0x1A0 - 0x18B));
    } else {
        CS_TRY(read_reserved(c, 0x1A0 - 0x188));
    }
    CS_TRY(cs_cursor_read_into(c, r->chip_id, sizeof r->chip_id)); /* 0x1A0 */
    CS_TRY(cs_cursor_read_le64(c, &r->committed_tcb));             /* 0x1E0 */
    CS_TRY(cs_cursor_read_u8(c, &r->current_build));               /* 0x1E8 */
    CS_TRY(cs_cursor_read_u8(c, &r->current_minor));
    CS_TRY(cs_cursor_read_u8(c, &r->current_major));
    CS_TRY(read_reserved(c, 1));
    CS_TRY(cs_cursor_read_u8(c, &r->committed_build)); /* 0x1EC */
    CS_TRY(cs_cursor_read_u8(c, &r->committed_minor));
    CS_TRY(cs_cursor_read_u8(c, &r->committed_major));
    CS_TRY(read_reserved(c, 1));
    CS_TRY(cs_cursor_read_le64(c, &r->launch_tcb));     /* 0x1F0 */
    return read_reserved(c, CS_SNP_SIGNED_LEN - 0x1F8); /* 0x1F8-0x29F */
}

static consort_err parse_signature(cs_cursor *c, cs_snp_report *r)
{
    /* SEV-SNP ABI, "ECDSA P-384 with SHA-384 Signature Format": R at 0x00
     * and S at 0x48 of the 0x200-byte SIGNATURE field, each 72 bytes
     * little-endian; the rest (0x90-0x1FF) is reserved. */
    CS_TRY(read_sig_component(c, "R", r->signature));
    CS_TRY(read_sig_component(c, "S", r->signature + SNP_P384_LEN));
    return read_reserved(c, 0x200 - 2 * SNP_SIG_COMPONENT_LEN);
}

consort_err cs_snp_report_parse(cs_slice raw, cs_snp_report *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(raw.len >= CS_SNP_REPORT_LEN, CONSORT_E_TRUNCATED,
              "SNP report: %zu bytes, expected exactly %d (0x4A0)", raw.len, CS_SNP_REPORT_LEN);
    CS_ENSURE(raw.len == CS_SNP_REPORT_LEN, CONSORT_E_TRAILING_DATA,
              "SNP report: %zu trailing bytes after the %d-byte report",
              raw.len - CS_SNP_REPORT_LEN, CS_SNP_REPORT_LEN);
    cs_cursor c;
    cs_cursor_init(&c, raw);
    consort_err rc = parse_header(&c, out);
    if (rc == CONSORT_OK)
        rc = parse_body(&c, out);
    if (rc == CONSORT_OK)
        rc = parse_signature(&c, out);
    if (rc == CONSORT_OK)
        rc = cs_cursor_expect_end(&c);
    if (rc != CONSORT_OK) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    /* The signature covers bytes 0x000-0x29F ("ATTESTATION_REPORT Structure"). */
    cs_sha384(CS_SLICE(raw.ptr, CS_SNP_SIGNED_LEN), out->signed_digest);
    return CONSORT_OK;
}
