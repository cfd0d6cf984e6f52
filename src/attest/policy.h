/*
 * Attestation policy: what claims are acceptable.
 *
 * JSON form (docs/attestation.md); every member optional, unknown members
 * are an error so a typo never weakens a policy:
 *   {
 *     "platforms": ["virtual", "snp"],          allowed platforms (default: all but none)
 *     "code_ids": ["<64 hex>", ...],             trusted code ids (default: any)
 *     "min_security_version": 3,                 (default 0)
 *     "allow_debug": false,                      (default false)
 *     "tcb_status": ["UpToDate", ...],           accepted TCB statuses where the platform
 *                                                 reports one (default ["UpToDate"])
 *     "allowed_advisories": ["INTEL-SA-00615"]   advisories tolerated (default none)
 *   }
 */
#ifndef CS_ATTEST_POLICY_H
#define CS_ATTEST_POLICY_H

#include "attest/evidence.h"

#define CS_POLICY_MAX_CODE_IDS 64
#define CS_POLICY_MAX_STRINGS 16

typedef struct cs_policy {
    bool platforms[CS_PLATFORM_COUNT]; /* indexed by cs_platform */
    uint8_t code_ids[CS_POLICY_MAX_CODE_IDS][32];
    size_t code_id_count;
    bool any_code_id; /* true when no code_ids were given */
    uint64_t min_security_version;
    bool allow_debug;
    char tcb_status[CS_POLICY_MAX_STRINGS][48];
    size_t tcb_status_count;
    char advisories[CS_POLICY_MAX_STRINGS][24];
    size_t advisory_count;
} cs_policy;

/* The default: any platform, any code id, no debug, TCB UpToDate only. */
void cs_policy_init(cs_policy *p);
CS_MUST_CHECK consort_err cs_policy_parse_json(cs_slice json, cs_policy *p);
CS_MUST_CHECK consort_err cs_policy_load_file(const char *path, cs_policy *p);
CS_MUST_CHECK consort_err cs_policy_add_code_id(cs_policy *p, const uint8_t code_id[32]);
/*
 * CONSORT_OK if `claims` satisfy `p`; otherwise CONSORT_E_POLICY with a
 * message naming the first rule broken and the offending value, e.g.
 * "code id 3f2a... is not trusted".
 */
CS_MUST_CHECK consort_err cs_policy_check(const cs_policy *p, const cs_claims *claims);

#endif
