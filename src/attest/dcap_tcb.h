/*
 * TCB evaluation for DCAP quotes: the platform's TCB level, the TDX
 * module's level and the QE's level, combined into one status the way
 * Intel's Quote Verification Library combines them (see dcap_tcb.c and
 * docs/platforms/tdx-sgx.md for the rules).
 */
#ifndef CS_ATTEST_DCAP_TCB_H
#define CS_ATTEST_DCAP_TCB_H

#include "attest/dcap.h"

typedef struct cs_dcap_tcb_eval {
    const cs_dcap_tcb_level *sgx_level;       /* first level the SGX TCB meets */
    const cs_dcap_tcb_level *tdx_level;       /* TDX: first level the TD also meets */
    const cs_dcap_svn_level *module_level; /* TDX module 1.5+: its level */
    char module_id[16];                       /* "TDX_01", ... ("" if none) */
    cs_dcap_status platform;                  /* level status, with the TDX module's */
    cs_dcap_status status;                    /* platform combined with the QE's */
    char tcb_date[24];                        /* tcbDate of the platform level */
    cs_dcap_advisories adv;                   /* platform + module + QE advisories */
} cs_dcap_tcb_eval;

/*
 * Evaluates the platform against `t`: for a TD (`td` not NULL) the TDX
 * module identity first [QVL 4.1.2.4.11], then the TCB level [QVL
 * 4.1.2.4.17] from the PCK certificate's SGX components and PCESVN (and the
 * TD's TEE_TCB_SVN), then combines it with the QE identity level `qe`.
 * CONSORT_E_TCB when no level matches or the TDX module does not match; the
 * message names the values. Pointers in `e` borrow from `t` and `qe`.
 */
CS_MUST_CHECK consort_err cs_dcap_tcb_evaluate(const cs_dcap_tcb_info *t, const cs_sgx_pck_ext *pck,
                                               const cs_td_report *td, const cs_dcap_svn_level *qe,
                                               cs_dcap_tcb_eval *e);

/* A platform status combined with the status of a part (QE or TDX module). */
cs_dcap_status cs_dcap_status_converge(cs_dcap_status platform, cs_dcap_status part);

/* The TDX module identity "TDX_<version as 2 hex digits>" of `t`, or NULL. */
const cs_dcap_tdx_module *cs_dcap_find_module(const cs_dcap_tcb_info *t, uint8_t version);

#endif
