/*
 * The "tdx" verifier: Intel TDX DCAP ECDSA quotes v4 and v5 (cs_dcap_verify
 * with TEE type TDX) and their claims (docs/platforms/tdx-sgx.md):
 *   code_id          = SHA-256(MRTD || MRCONFIGID): the launch measurement
 *                      plus the host-provided configuration id (DESIGN.md "Code id")
 *   signer           = empty (a TD has no signer identity)
 *   security_version = 0 (TDX has no TD-level SVN; the TCB is in tcb_status)
 *   debug            = TD_ATTRIBUTES.DEBUG (bit 0)
 *   report_data      = REPORTDATA (64 bytes)
 *   tcb_status, advisories: the combined TCB verdict
 *   extras: mrtd, rtmr0..3, mrconfigid, mrowner, mrownerconfig, tee_tcb_svn,
 *           td_attributes, xfam, mrseam, mrsignerseam, report_data, and for
 *           TD 1.5 bodies tee_tcb_svn2 and mrservicetd; plus the common ones.
 */
#include "attest/dcap.h"

#include <stdio.h>
#include <string.h>

/* TD_ATTRIBUTES bit 0 (TUD.DEBUG): the TD is debuggable by the host. */
#define TD_ATTRIBUTES_DEBUG 0x01u

static consort_err tdx_claims(const cs_dcap_result *r, cs_claims *claims)
{
    const cs_td_report *b = &r->quote.td;
    cs_slice parts[2] = {CS_SLICE(b->mrtd, 48), CS_SLICE(b->mrconfigid, 48)};
    cs_sha256_parts(parts, 2, claims->code_id);
    claims->signer_len = 0;
    claims->security_version = 0;
    claims->debug = (b->td_attributes[0] & TD_ATTRIBUTES_DEBUG) != 0;
    memcpy(claims->report_data, b->report_data, 64);
    CS_TRY(cs_claims_add_hex(claims, "mrtd", CS_SLICE(b->mrtd, 48)));
    for (size_t i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "rtmr%zu", i);
        CS_TRY(cs_claims_add_hex(claims, name, CS_SLICE(b->rtmr[i], 48)));
    }
    CS_TRY(cs_claims_add_hex(claims, "mrconfigid", CS_SLICE(b->mrconfigid, 48)));
    CS_TRY(cs_claims_add_hex(claims, "mrowner", CS_SLICE(b->mrowner, 48)));
    CS_TRY(cs_claims_add_hex(claims, "mrownerconfig", CS_SLICE(b->mrownerconfig, 48)));
    CS_TRY(cs_claims_add_hex(claims, "tee_tcb_svn", CS_SLICE(b->tee_tcb_svn, 16)));
    CS_TRY(cs_claims_add_hex(claims, "td_attributes", CS_SLICE(b->td_attributes, 8)));
    CS_TRY(cs_claims_add_hex(claims, "xfam", CS_SLICE(b->xfam, 8)));
    CS_TRY(cs_claims_add_hex(claims, "mrseam", CS_SLICE(b->mrseam, 48)));
    CS_TRY(cs_claims_add_hex(claims, "mrsignerseam", CS_SLICE(b->mrsignerseam, 48)));
    CS_TRY(cs_claims_add_hex(claims, "report_data", CS_SLICE(b->report_data, 64)));
    if (b->td15) {
        CS_TRY(cs_claims_add_hex(claims, "tee_tcb_svn2", CS_SLICE(b->tee_tcb_svn2, 16)));
        CS_TRY(cs_claims_add_hex(claims, "mrservicetd", CS_SLICE(b->mrservicetd, 48)));
    }
    if (r->tdx_module_id[0] != '\0')
        CS_TRY(cs_claims_add_string(claims, "tdx_module", r->tdx_module_id));
    CS_TRY(cs_claims_add_u64(claims, "quote_version", r->quote.version));
    return cs_dcap_claims_common(r, claims);
}

static consort_err tdx_verify(const cs_evidence *ev, const cs_verify_opts *opts, cs_claims *claims)
{
    CS_ENSURE(ev->platform == CS_PLATFORM_TDX, CONSORT_E_INVALID_ARGUMENT,
              "tdx verifier given %s evidence", cs_platform_name(ev->platform));
    cs_dcap_result r;
    CS_TRY(cs_dcap_verify_cached(cs_buf_slice(&ev->evidence), &ev->endorsements, CS_DCAP_TEE_TDX,
                                 opts->now, opts->cache, &r));
    CS_ENSURE(r.quote.body_type != CS_DCAP_BODY_SGX, CONSORT_E_UNSUPPORTED,
              "TDX quote with an SGX body");
    cs_claims_init(claims, CS_PLATFORM_TDX);
    return tdx_claims(&r, claims);
}

const cs_verifier cs_tdx_verifier = {
    .platform = CS_PLATFORM_TDX,
    .name = "tdx",
    .verify = tdx_verify,
};
