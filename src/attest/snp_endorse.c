/*
 * Does the VCEK/VLEK describe the platform that produced the report?
 *
 * AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface
 * Specification" (57230), "VCEK Certificate Extensions" (the VLEK carries the
 * same TCB extensions, "VLEK Certificate Extensions"):
 *   1.3.6.1.4.1.3704.1.2    productName  IA5String  "Milan-B0", "Genoa", "Turin" ...
 *   1.3.6.1.4.1.3704.1.3.1  blSPL        INTEGER    boot loader SVN
 *   1.3.6.1.4.1.3704.1.3.2  teeSPL       INTEGER    PSP OS SVN
 *   1.3.6.1.4.1.3704.1.3.3  snpSPL       INTEGER    SNP firmware SVN
 *   1.3.6.1.4.1.3704.1.3.8  ucodeSPL     INTEGER    microcode SVN
 *   1.3.6.1.4.1.3704.1.3.9  fmcSPL       INTEGER    FMC SVN (Turin and later)
 *   1.3.6.1.4.1.3704.1.4    hwID         raw bytes  CHIP_ID (VCEK only; 64 bytes,
 *                                                   8 bytes on Turin)
 *   1.3.6.1.4.1.3704.1.5    CSP id       IA5String  (VLEK only)
 */
#include "attest/snp_priv.h"

#include "crypto/rand.h"
#include "crypto/x509_ext_snp.h"

#include <string.h>

#define OID_PRODUCT "1.3.6.1.4.1.3704.1.2"
#define OID_BL      "1.3.6.1.4.1.3704.1.3.1"
#define OID_TEE     "1.3.6.1.4.1.3704.1.3.2"
#define OID_SNP     "1.3.6.1.4.1.3704.1.3.3"
#define OID_UCODE   "1.3.6.1.4.1.3704.1.3.8"
#define OID_FMC     "1.3.6.1.4.1.3704.1.3.9"
#define OID_HWID    "1.3.6.1.4.1.3704.1.4"
#define OID_CSP_ID  "1.3.6.1.4.1.3704.1.5"

/* Turin's hwID is 8 bytes, left-aligned in the 64-byte CHIP_ID field. */
#define TURIN_HWID_LEN 8

const char *cs_snp_key_name(cs_snp_signing_key kind)
{
    return kind == CS_SNP_KEY_VLEK ? "VLEK" : "VCEK";
}

consort_err cs_snp_endorsement_kind(const cs_x509 *cert, bool *is_key, cs_snp_signing_key *kind)
{
    cs_slice v;
    consort_err hw = cs_x509_extension(cert, OID_HWID, &v);
    if (hw != CONSORT_OK && hw != CONSORT_E_NOT_FOUND)
        return hw;
    consort_err csp = cs_x509_extension(cert, OID_CSP_ID, &v);
    if (csp != CONSORT_OK && csp != CONSORT_E_NOT_FOUND)
        return csp;
    CS_ENSURE(!(hw == CONSORT_OK && csp == CONSORT_OK), CONSORT_E_BAD_CERTIFICATE,
              "certificate has both a hwID and a CSP id extension (VCEK and VLEK at once)");
    *is_key = hw == CONSORT_OK || csp == CONSORT_OK;
    *kind = csp == CONSORT_OK ? CS_SNP_KEY_VLEK : CS_SNP_KEY_VCEK;
    cs_err_clear();
    return CONSORT_OK;
}

consort_err cs_snp_endorsement_product(const cs_x509 *leaf, cs_snp_product *out)
{
    char name[32];
    CS_TRY_CTX(cs_x509_ext_ia5(leaf, OID_PRODUCT, name, sizeof name), "productName");
    return cs_snp_product_parse(name, out);
}

consort_err cs_snp_endorsement_csp_id(const cs_x509 *leaf, char *out, size_t n)
{
    CS_TRY_CTX(cs_x509_ext_ia5(leaf, OID_CSP_ID, out, n), "VLEK CSP id");
    return CONSORT_OK;
}

/* One SPL extension against the report's value. */
static consort_err check_spl(const cs_x509 *leaf, cs_snp_signing_key kind, const char *oid,
                             const char *ext_name, const char *field, uint8_t reported)
{
    uint64_t v = 0;
    consort_err rc = cs_x509_ext_uint(leaf, oid, &v);
    if (rc == CONSORT_E_NOT_FOUND)
        return cs_fail(CONSORT_E_BAD_CERTIFICATE, "%s has no %s extension (%s)",
                       cs_snp_key_name(kind), ext_name, oid);
    CS_TRY_CTX(rc, "%s %s", cs_snp_key_name(kind), ext_name);
    CS_ENSURE(v == reported, CONSORT_E_TCB,
              "%s %s %llu does not match the report's REPORTED_TCB %s SVN %u: the %s was "
              "issued for another TCB",
              cs_snp_key_name(kind), ext_name, (unsigned long long)v, field, reported,
              cs_snp_key_name(kind));
    return CONSORT_OK;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

bool cs_snp_chip_id_masked(const cs_snp_report *r)
{
    return all_zero(r->chip_id, sizeof r->chip_id);
}

/* VCEK hwID against CHIP_ID (SEV-SNP ABI, ATTESTATION_REPORT 0x1A0). */
static consort_err check_hwid(const cs_snp_report *r, const cs_x509 *leaf, cs_snp_product product)
{
    cs_slice hwid;
    consort_err rc = cs_x509_extension(leaf, OID_HWID, &hwid);
    if (rc == CONSORT_E_NOT_FOUND)
        return cs_fail(CONSORT_E_BAD_CERTIFICATE, "VCEK has no hwID extension (%s)", OID_HWID);
    CS_TRY_CTX(rc, "VCEK hwID");
    size_t want = product == CS_SNP_PRODUCT_TURIN ? TURIN_HWID_LEN : sizeof r->chip_id;
    CS_ENSURE(hwid.len == want, CONSORT_E_BAD_CERTIFICATE,
              "VCEK hwID is %zu bytes, expected %zu for %s", hwid.len, want,
              cs_snp_product_name(product));
    /* With SNP_CONFIG.MASK_CHIP_ID the firmware writes zeros instead of the
     * chip id (SEV-SNP ABI, SNP_CONFIG): nothing to compare, and the VCEK
     * signature still binds the report to the chip the VCEK belongs to. */
    if (cs_snp_chip_id_masked(r))
        return CONSORT_OK;
    CS_ENSURE(all_zero(r->chip_id + want, sizeof r->chip_id - want), CONSORT_E_ATTESTATION,
              "SNP report: CHIP_ID bytes %zu-63 are not zero on %s", want,
              cs_snp_product_name(product));
    if (!cs_ct_equal(hwid, CS_SLICE(r->chip_id, want))) {
        char got[2 * 8 + 1], rep[2 * 8 + 1];
        cs_hex_encode(CS_SLICE(hwid.ptr, 8), got);
        cs_hex_encode(CS_SLICE(r->chip_id, 8), rep);
        return cs_fail(CONSORT_E_ATTESTATION,
                       "VCEK hwID %s... does not match the report's CHIP_ID %s...: the VCEK "
                       "belongs to another chip",
                       got, rep);
    }
    return CONSORT_OK;
}

consort_err cs_snp_check_endorsement_key(const cs_snp_report *report, const cs_x509 *leaf,
                                         cs_snp_signing_key kind, cs_snp_product product)
{
    const char *key = cs_snp_key_name(kind);
    cs_snp_product named;
    CS_TRY_CTX(cs_snp_endorsement_product(leaf, &named), "%s", key);
    CS_ENSURE(named == product, CONSORT_E_ATTESTATION, "%s productName is %s, expected %s", key,
              cs_snp_product_name(named), cs_snp_product_name(product));

    cs_snp_tcb tcb;
    CS_TRY_CTX(cs_snp_tcb_decode(report->reported_tcb, product, &tcb), "SNP report REPORTED_TCB");
    if (tcb.has_fmc)
        CS_TRY(check_spl(leaf, kind, OID_FMC, "fmcSPL", "FMC", tcb.fmc));
    CS_TRY(check_spl(leaf, kind, OID_BL, "blSPL", "boot loader", tcb.bl));
    CS_TRY(check_spl(leaf, kind, OID_TEE, "teeSPL", "TEE", tcb.tee));
    CS_TRY(check_spl(leaf, kind, OID_SNP, "snpSPL", "SNP", tcb.snp));
    CS_TRY(check_spl(leaf, kind, OID_UCODE, "ucodeSPL", "microcode", tcb.ucode));

    if (kind == CS_SNP_KEY_VCEK)
        return check_hwid(report, leaf, product);
    /* A VLEK is issued to a cloud provider, not a chip: there is no hwID to
     * compare, and CHIP_ID may be masked. */
    return CONSORT_OK;
}
