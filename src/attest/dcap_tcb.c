/*
 * TCB evaluation (dcap_tcb.h): which TCB level of the TCB info the platform
 * is at, the TDX module's status, and how those combine with the QE's
 * status into one TCB status, as Intel's Quote Verification Library does
 * ([QVL] Verifiers/Checks/TcbLevelCheck.cpp, TdxModuleCheck.cpp,
 * TDRelaunchCheck.cpp, and QuoteVerifier.cpp step 4.1.2.4.11).
 */
#include "attest/dcap_tcb.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const status_names[] = {
    [CS_DCAP_UP_TO_DATE] = "UpToDate",
    [CS_DCAP_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [CS_DCAP_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [CS_DCAP_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [CS_DCAP_OUT_OF_DATE] = "OutOfDate",
    [CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [CS_DCAP_TD_RELAUNCH_ADVISED] = "TDRelaunchAdvised",
    [CS_DCAP_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED] = "TDRelaunchAdvisedConfigurationNeeded",
    [CS_DCAP_REVOKED] = "Revoked",
};

const char *cs_dcap_status_name(cs_dcap_status s)
{
    return (size_t)s < CS_ARRAY_LEN(status_names) ? status_names[s] : "unknown";
}

consort_err cs_dcap_status_parse(const char *s, cs_dcap_status *out)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(status_names); i++) {
        /* The two relaunch statuses are derived by verifiers, never published. */
        if (i == CS_DCAP_TD_RELAUNCH_ADVISED ||
            i == CS_DCAP_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED)
            continue;
        if (strcmp(s, status_names[i]) == 0) {
            *out = (cs_dcap_status)i;
            return CONSORT_OK;
        }
    }
    return cs_fail(CONSORT_E_MALFORMED, "tcbStatus \"%s\" unknown", s);
}

consort_err cs_dcap_advisories_merge(cs_dcap_advisories *to, const cs_dcap_advisories *from)
{
    for (size_t i = 0; i < from->count; i++) {
        bool have = false;
        for (size_t j = 0; j < to->count && !have; j++)
            have = strcmp(to->id[j], from->id[i]) == 0;
        if (have)
            continue;
        CS_ENSURE(to->count < CS_DCAP_MAX_ADVISORIES, CONSORT_E_TOO_LARGE,
                  "more than %d advisory ids", CS_DCAP_MAX_ADVISORIES);
        memcpy(to->id[to->count++], from->id[i], CS_DCAP_ADVISORY_LEN);
    }
    return CONSORT_OK;
}

static bool config_needed(cs_dcap_status s)
{
    return s == CS_DCAP_CONFIGURATION_NEEDED || s == CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED ||
           s == CS_DCAP_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
           s == CS_DCAP_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
}

/*
 * A platform status combined with an OutOfDate / Revoked part (the QE or the
 * TDX module) [QVL convergeTcbStatusWithQeTcbStatus and
 * convergeTcbStatusWithTdxModuleStatus, which agree on this]:
 *   part Revoked                        -> Revoked
 *   part OutOfDate, platform UpToDate or SWHardeningNeeded -> OutOfDate
 *   part OutOfDate, platform ConfigurationNeeded or
 *                   ConfigurationAndSWHardeningNeeded      -> OutOfDateConfigurationNeeded
 *   otherwise                           -> the platform status
 */
cs_dcap_status cs_dcap_status_converge(cs_dcap_status platform, cs_dcap_status part)
{
    if (part == CS_DCAP_REVOKED)
        return CS_DCAP_REVOKED;
    if (part == CS_DCAP_OUT_OF_DATE || part == CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED) {
        if (platform == CS_DCAP_UP_TO_DATE || platform == CS_DCAP_SW_HARDENING_NEEDED)
            return CS_DCAP_OUT_OF_DATE;
        if (platform == CS_DCAP_CONFIGURATION_NEEDED ||
            platform == CS_DCAP_CONFIGURATION_AND_SW_HARDENING_NEEDED)
            return CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED;
    }
    return platform;
}

/* [QVL isCpuSvnHigherOrEqual] every one of the 16 SGX components >=. */
static bool sgx_comps_ge(const uint8_t have[16], const uint8_t need[16])
{
    for (size_t i = 0; i < 16; i++)
        if (have[i] < need[i])
            return false;
    return true;
}

/*
 * [QVL isTdxTcbHigherOrEqual] TEE_TCB_SVN against tdxtcbcomponents; when
 * TEE_TCB_SVN[1] (the TDX module major version) is not 0, bytes 0 and 1 are
 * judged by the TDX module identity instead and skipped here.
 */
static bool tdx_comps_ge(const uint8_t tee_tcb_svn[16], const uint8_t need[16])
{
    for (size_t i = tee_tcb_svn[1] > 0 ? 2 : 0; i < 16; i++)
        if (tee_tcb_svn[i] < need[i])
            return false;
    return true;
}

const cs_dcap_tdx_module *cs_dcap_find_module(const cs_dcap_tcb_info *t, uint8_t version)
{
    char want[16];
    snprintf(want, sizeof want, "TDX_%02X", version);
    for (size_t i = 0; i < t->module_id_count; i++)
        if (strcasecmp(t->module_ids[i].id, want) == 0)
            return &t->module_ids[i];
    return NULL;
}

/*
 * [QVL 4.1.2.4.11] MRSIGNERSEAM and SEAMATTRIBUTES against the TDX module
 * (the identity for TEE_TCB_SVN[1] when that is not 0, else "tdxModule"),
 * then [QVL checkTdxModuleTcbStatus] the module level for TEE_TCB_SVN[0].
 */
static consort_err module_check(const cs_dcap_tcb_info *t, const cs_td_report *td,
                                cs_dcap_tcb_eval *e)
{
    const cs_dcap_tdx_module *m = &t->module;
    uint8_t version = td->tee_tcb_svn[1];
    if (version > 0) {
        m = cs_dcap_find_module(t, version);
        CS_ENSURE(m != NULL, CONSORT_E_TCB,
                  "TDX module version %u (TEE_TCB_SVN[1]): no identity TDX_%02X in the TCB info",
                  version, version);
    }
    CS_ENSURE(memcmp(td->mrsignerseam, m->mrsigner, 48) == 0, CONSORT_E_TCB,
              "MRSIGNERSEAM is not the TDX module signer the TCB info names");
    for (size_t i = 0; i < 8; i++)
        CS_ENSURE((td->seam_attributes[i] & m->attributes_mask[i]) ==
                      (m->attributes[i] & m->attributes_mask[i]),
                  CONSORT_E_TCB, "SEAMATTRIBUTES byte %zu = 0x%02x does not match the TDX module",
                  i, td->seam_attributes[i]);
    if (version == 0)
        return CONSORT_OK; /* TDX 1.0 module: judged by the TCB level alone */
    const cs_dcap_svn_level *best = NULL;
    for (size_t i = 0; i < m->level_count; i++) {
        const cs_dcap_svn_level *l = &m->levels[i];
        if (td->tee_tcb_svn[0] >= l->isvsvn && (best == NULL || l->isvsvn > best->isvsvn))
            best = l;
    }
    CS_ENSURE(best != NULL, CONSORT_E_TCB,
              "TDX module %s: ISVSVN %u (TEE_TCB_SVN[0]) is below every level", m->id,
              td->tee_tcb_svn[0]);
    e->module_level = best;
    snprintf(e->module_id, sizeof e->module_id, "%s", m->id);
    return CONSORT_OK;
}

/* [QVL matchTcbLevels] the first (highest) level the platform meets. */
static consort_err match_levels(const cs_dcap_tcb_info *t, const cs_sgx_pck_ext *pck,
                                const cs_td_report *td, cs_dcap_tcb_eval *e)
{
    for (size_t i = 0; i < t->level_count; i++) {
        const cs_dcap_tcb_level *l = &t->levels[i];
        if (!sgx_comps_ge(pck->tcb_comp, l->sgx_comp) || pck->pcesvn < l->pcesvn)
            continue;
        if (e->sgx_level == NULL)
            e->sgx_level = l;
        if (td == NULL)
            return CONSORT_OK;
        if (tdx_comps_ge(td->tee_tcb_svn, l->tdx_comp)) {
            e->tdx_level = l;
            return CONSORT_OK;
        }
    }
    char comps[33];
    cs_hex_encode(CS_SLICE(pck->tcb_comp, 16), comps);
    if (e->sgx_level == NULL)
        return cs_fail(CONSORT_E_TCB,
                       "no TCB level of the TCB info (eval %u) matches the platform: SGX "
                       "components %s, PCESVN %u are below every level",
                       t->eval_number, comps, pck->pcesvn);
    char tee[33];
    cs_hex_encode(CS_SLICE(td->tee_tcb_svn, 16), tee);
    return cs_fail(CONSORT_E_TCB,
                   "no TCB level of the TCB info (eval %u) matches the TD: TEE_TCB_SVN %s is "
                   "below every level the SGX components %s, PCESVN %u reach",
                   t->eval_number, tee, comps, pck->pcesvn);
}

/*
 * [QVL checkForRelaunch] TD 1.5 (body type 3): a TD whose TCB is out of
 * date only because of the TDX module may be told to relaunch, when
 * TEE_TCB_SVN_2 (the SVNs it would get on relaunch) reaches the latest level.
 */
static cs_dcap_status relaunch(const cs_dcap_tcb_info *t, const cs_td_report *td,
                               cs_dcap_status sgx, cs_dcap_status tdx, cs_dcap_status module,
                               cs_dcap_status qe)
{
    if (qe != CS_DCAP_UP_TO_DATE)
        return tdx;
    if (sgx != CS_DCAP_UP_TO_DATE && sgx != CS_DCAP_SW_HARDENING_NEEDED &&
        sgx != CS_DCAP_CONFIGURATION_NEEDED && sgx != CS_DCAP_CONFIGURATION_AND_SW_HARDENING_NEEDED)
        return tdx;
    if ((tdx != CS_DCAP_OUT_OF_DATE && tdx != CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED) ||
        module != CS_DCAP_OUT_OF_DATE || t->level_count == 0)
        return tdx;
    const cs_dcap_tcb_level *latest = &t->levels[0];
    const uint8_t *svn2 = td->tee_tcb_svn2;
    uint8_t module_svn_needed = latest->tdx_comp[0];
    if (svn2[1] != 0) {
        const cs_dcap_tdx_module *m = cs_dcap_find_module(t, svn2[1]);
        if (m == NULL || m->level_count == 0)
            return tdx;
        module_svn_needed = (uint8_t)m->levels[0].isvsvn; /* parsed with a cap of UINT8_MAX */
    }
    if (svn2[0] < module_svn_needed || svn2[2] < latest->tdx_comp[2])
        return tdx;
    return config_needed(sgx) || config_needed(tdx)
               ? CS_DCAP_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
               : CS_DCAP_TD_RELAUNCH_ADVISED;
}

consort_err cs_dcap_tcb_evaluate(const cs_dcap_tcb_info *t, const cs_sgx_pck_ext *pck,
                                 const cs_td_report *td, const cs_dcap_svn_level *qe,
                                 cs_dcap_tcb_eval *e)
{
    memset(e, 0, sizeof *e);
    if (td != NULL)
        CS_TRY(module_check(t, td, e));
    CS_TRY(match_levels(t, pck, td, e));
    const cs_dcap_tcb_level *level = td != NULL ? e->tdx_level : e->sgx_level;
    cs_dcap_status status = level->status;
    if (e->module_level != NULL) {
        status = cs_dcap_status_converge(status, e->module_level->status);
        if (td->td15 && status != CS_DCAP_REVOKED)
            status =
                relaunch(t, td, e->sgx_level->status, status, e->module_level->status, qe->status);
    }
    e->platform = status;
    e->status = cs_dcap_status_converge(status, qe->status);
    memcpy(e->tcb_date, level->tcb_date, sizeof e->tcb_date);
    CS_TRY(cs_dcap_advisories_merge(&e->adv, &level->adv));
    if (e->module_level != NULL)
        CS_TRY(cs_dcap_advisories_merge(&e->adv, &e->module_level->adv));
    CS_TRY(cs_dcap_advisories_merge(&e->adv, &qe->adv));
    return CONSORT_OK;
}
