/*
 * The platform table: names and the verifier of each platform. A new
 * platform is one row here plus its verifier file; nothing else changes
 * (DESIGN.md principle 3: one evidence/verifier/policy path).
 */
#include "attest/dcap.h"
#include "attest/evidence.h"
#include "attest/snp.h"
#include "attest/tpm.h"
#include "attest/virtual.h"

#include <string.h>

static const char *const names[CS_PLATFORM_COUNT] = {
    [CS_PLATFORM_NONE] = "none",  [CS_PLATFORM_VIRTUAL] = "virtual", [CS_PLATFORM_TPM] = "tpm",
    [CS_PLATFORM_SNP] = "snp",    [CS_PLATFORM_TDX] = "tdx",         [CS_PLATFORM_SGX] = "sgx",
};

const char *cs_platform_name(cs_platform p)
{
    return (unsigned)p < CS_PLATFORM_COUNT ? names[p] : "unknown";
}

consort_err cs_platform_parse(const char *name, cs_platform *out)
{
    for (int p = CS_PLATFORM_VIRTUAL; p < CS_PLATFORM_COUNT; p++) {
        if (strcmp(name, names[p]) == 0) {
            *out = (cs_platform)p;
            return CONSORT_OK;
        }
    }
    return cs_fail(CONSORT_E_INVALID_ARGUMENT,
                   "platform '%s' unknown, expected virtual, tpm, snp, tdx or sgx", name);
}

/* One row per platform with a verifier. */
static const cs_verifier *const verifiers[] = {
    &cs_virtual_verifier,
    &cs_snp_verifier,
    &cs_tdx_verifier,
    &cs_sgx_verifier,
    &cs_tpm_verifier,
    NULL, /* keeps the array non-empty while platforms are being added */
};

const cs_verifier *cs_verifier_find(cs_platform p)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(verifiers); i++)
        if (verifiers[i] != NULL && verifiers[i]->platform == p)
            return verifiers[i];
    return NULL;
}

consort_err cs_evidence_verify(const cs_evidence *ev, const cs_verify_opts *opts,
                               cs_claims *claims)
{
    const cs_verifier *v = cs_verifier_find(ev->platform);
    CS_ENSURE(v != NULL, CONSORT_E_UNSUPPORTED, "no verifier for platform %s",
              cs_platform_name(ev->platform));
    cs_claims_init(claims, ev->platform);
    CS_TRY_CTX(v->verify(ev, opts, claims), "%s evidence", v->name);
    return CONSORT_OK;
}
