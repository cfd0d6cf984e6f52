/*
 * The "sgx" verifier: Intel SGX DCAP ECDSA quotes v3 (cs_dcap_verify with
 * TEE type SGX) and their claims (docs/platforms/tdx-sgx.md):
 *   code_id          = MRENCLAVE (DESIGN.md "Code id")
 *   signer           = MRSIGNER
 *   security_version = ISVSVN
 *   debug            = ATTRIBUTES.DEBUG (SECS.ATTRIBUTES.FLAGS bit 1)
 *   report_data      = REPORTDATA (64 bytes)
 *   tcb_status, advisories: the combined TCB verdict
 *   extras: mrenclave, mrsigner, isvprodid, isvsvn, attributes, miscselect,
 *           cpusvn, and the common ones of cs_dcap_claims_common.
 */
#include "attest/dcap.h"

#include <string.h>

/* SGX ATTRIBUTES.FLAGS bit 1: the enclave was launched in debug mode. */
#define SGX_FLAGS_DEBUG 0x02u

static consort_err sgx_claims(const cs_dcap_result *r, cs_claims *claims)
{
    const cs_sgx_report *b = &r->quote.sgx;
    memcpy(claims->code_id, b->mrenclave, 32);
    memcpy(claims->signer, b->mrsigner, 32);
    claims->signer_len = 32;
    claims->security_version = b->isvsvn;
    claims->debug = (b->attributes[0] & SGX_FLAGS_DEBUG) != 0;
    memcpy(claims->report_data, b->report_data, 64);
    CS_TRY(cs_claims_add_hex(claims, "mrenclave", CS_SLICE(b->mrenclave, 32)));
    CS_TRY(cs_claims_add_hex(claims, "mrsigner", CS_SLICE(b->mrsigner, 32)));
    CS_TRY(cs_claims_add_u64(claims, "isvprodid", b->isvprodid));
    CS_TRY(cs_claims_add_u64(claims, "isvsvn", b->isvsvn));
    CS_TRY(cs_claims_add_hex(claims, "attributes", CS_SLICE(b->attributes, 16)));
    CS_TRY(cs_claims_add_hex(claims, "miscselect", CS_SLICE(b->miscselect, 4)));
    CS_TRY(cs_claims_add_hex(claims, "cpusvn", CS_SLICE(b->cpusvn, 16)));
    return cs_dcap_claims_common(r, claims);
}

static consort_err sgx_verify(const cs_evidence *ev, const cs_verify_opts *opts, cs_claims *claims)
{
    CS_ENSURE(ev->platform == CS_PLATFORM_SGX, CONSORT_E_INVALID_ARGUMENT,
              "sgx verifier given %s evidence", cs_platform_name(ev->platform));
    cs_dcap_result r;
    CS_TRY(cs_dcap_verify_cached(cs_buf_slice(&ev->evidence), &ev->endorsements, CS_DCAP_TEE_SGX,
                                 opts->now, opts->cache, &r));
    CS_ENSURE(r.quote.body_type == CS_DCAP_BODY_SGX, CONSORT_E_UNSUPPORTED,
              "SGX quote with body type %d", (int)r.quote.body_type);
    cs_claims_init(claims, CS_PLATFORM_SGX);
    return sgx_claims(&r, claims);
}

const cs_verifier cs_sgx_verifier = {
    .platform = CS_PLATFORM_SGX,
    .name = "sgx",
    .verify = sgx_verify,
};
