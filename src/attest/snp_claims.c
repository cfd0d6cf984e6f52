/*
 * Claims of a verified SEV-SNP report (docs/platforms/snp.md "Claims").
 *
 *   code_id          SHA-256(MEASUREMENT || HOST_DATA)   (DESIGN.md "Code id")
 *   signer           ID_KEY_DIGEST (48 bytes): the key that signed the ID block,
 *                    all zero when the guest was launched without one
 *   security_version REPORTED_TCB as the 64-bit TCB_VERSION value
 *   debug            GUEST_POLICY.DEBUG (bit 19)
 *   report_data      REPORT_DATA
 *   tcb_status       left empty: there is no AMD TCB-status collateral
 */
#include "attest/snp_priv.h"

#include "crypto/hash.h"

#include <string.h>

static consort_err add_tcb(cs_claims *c, uint64_t reported, cs_snp_product product)
{
    cs_snp_tcb tcb;
    CS_TRY(cs_snp_tcb_decode(reported, product, &tcb));
    CS_TRY(cs_claims_add_u64(c, "reported_tcb", reported));
    if (tcb.has_fmc)
        CS_TRY(cs_claims_add_u64(c, "tcb_fmc", tcb.fmc));
    CS_TRY(cs_claims_add_u64(c, "tcb_bl", tcb.bl));
    CS_TRY(cs_claims_add_u64(c, "tcb_tee", tcb.tee));
    CS_TRY(cs_claims_add_u64(c, "tcb_snp", tcb.snp));
    CS_TRY(cs_claims_add_u64(c, "tcb_ucode", tcb.ucode));
    return CONSORT_OK;
}

static consort_err add_identity(cs_claims *c, const cs_snp_report *r, cs_snp_product product,
                                const char *csp_id)
{
    CS_TRY(cs_claims_add_string(c, "product", cs_snp_product_name(product)));
    CS_TRY(cs_claims_add_string(c, "signing_key",
                                r->signing_key == CS_SNP_KEY_VLEK ? "vlek" : "vcek"));
    if (csp_id != NULL)
        CS_TRY(cs_claims_add_string(c, "csp_id", csp_id));
    CS_TRY(cs_claims_add_u64(c, "report_version", r->version));
    CS_TRY(cs_claims_add_hex(c, "chip_id", CS_SLICE(r->chip_id, sizeof r->chip_id)));
    CS_TRY(cs_claims_add_bool(c, "chip_id_masked", cs_snp_chip_id_masked(r)));
    if (r->has_cpuid) {
        CS_TRY(cs_claims_add_u64(c, "cpuid_family", r->cpuid_fam_id));
        CS_TRY(cs_claims_add_u64(c, "cpuid_model", r->cpuid_mod_id));
        CS_TRY(cs_claims_add_u64(c, "cpuid_stepping", r->cpuid_step));
    }
    CS_TRY(cs_claims_add_u64(c, "platform_info", r->platform_info));
    CS_TRY(cs_claims_add_u64(c, "current_tcb", r->current_tcb));
    CS_TRY(cs_claims_add_u64(c, "committed_tcb", r->committed_tcb));
    CS_TRY(cs_claims_add_u64(c, "launch_tcb", r->launch_tcb));
    return CONSORT_OK;
}

static consort_err add_guest(cs_claims *c, const cs_snp_report *r)
{
    CS_TRY(cs_claims_add_hex(c, "measurement", CS_SLICE(r->measurement, sizeof r->measurement)));
    CS_TRY(cs_claims_add_hex(c, "host_data", CS_SLICE(r->host_data, sizeof r->host_data)));
    CS_TRY(cs_claims_add_u64(c, "policy", r->policy));
    CS_TRY(cs_claims_add_u64(c, "vmpl", r->vmpl));
    CS_TRY(cs_claims_add_u64(c, "guest_svn", r->guest_svn));
    CS_TRY(cs_claims_add_hex(c, "family_id", CS_SLICE(r->family_id, sizeof r->family_id)));
    CS_TRY(cs_claims_add_hex(c, "image_id", CS_SLICE(r->image_id, sizeof r->image_id)));
    CS_TRY(
        cs_claims_add_hex(c, "id_key_digest", CS_SLICE(r->id_key_digest, sizeof r->id_key_digest)));
    CS_TRY(cs_claims_add_hex(c, "author_key_digest",
                             CS_SLICE(r->author_key_digest, sizeof r->author_key_digest)));
    CS_TRY(cs_claims_add_bool(c, "author_key_en", r->author_key_en));
    CS_TRY(cs_claims_add_hex(c, "report_id", CS_SLICE(r->report_id, sizeof r->report_id)));
    return CONSORT_OK;
}

consort_err cs_snp_fill_claims(const cs_snp_report *r, cs_snp_product product, const char *csp_id,
                               cs_claims *claims)
{
    claims->platform = CS_PLATFORM_SNP;
    /* DESIGN.md "Code id": the launch measurement plus host data. */
    const cs_slice parts[2] = {CS_SLICE(r->measurement, sizeof r->measurement),
                               CS_SLICE(r->host_data, sizeof r->host_data)};
    cs_sha256_parts(parts, 2, claims->code_id);
    memcpy(claims->signer, r->id_key_digest, sizeof r->id_key_digest);
    claims->signer_len = sizeof r->id_key_digest;
    claims->security_version = r->reported_tcb;
    /* SEV-SNP ABI, GUEST_POLICY bit 19 DEBUG: the host may decrypt guest memory. */
    claims->debug = (r->policy & CS_SNP_POLICY_DEBUG) != 0;
    memcpy(claims->report_data, r->report_data, sizeof claims->report_data);
    claims->tcb_status[0] = '\0';

    CS_TRY_CTX(add_guest(claims, r), "SNP claims");
    CS_TRY_CTX(add_tcb(claims, r->reported_tcb, product), "SNP claims");
    CS_TRY_CTX(add_identity(claims, r, product, csp_id), "SNP claims");
    return CONSORT_OK;
}
