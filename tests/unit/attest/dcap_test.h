/*
 * Helpers shared by the DCAP tests (test_sgx.c, test_tdx.c,
 * test_dcap_collateral.c): test data sets from ../shared/testdata/sgx-dcap
 * and ../shared/testdata/tdx (see their PROVENANCE.md), evidence built from
 * them, and single-bit flips.
 */
#ifndef CONSORT_TEST_DCAP_H
#define CONSORT_TEST_DCAP_H

#include "testutil.h"

#include "attest/dcap.h"
#include "attest/dcap_collateral.h"
#include "crypto/x509.h"

#include <string.h>

/* Collateral sets, NULL-terminated lists of testdata paths. */
#define DT_PHALA_TDX "tdx/phala-dcap-qvl/"
#define DT_PHALA_SGX "sgx-dcap/phala-dcap-qvl/"
#define DT_GO_TDX    "tdx/go-tdx-guest/"

static const char *const dt_phala_tdx_collateral[] = {
    DT_PHALA_TDX "derived_tcb_info.json",
    DT_PHALA_TDX "derived_qe_identity.json",
    DT_PHALA_TDX "derived_tcb_info_issuer_chain.pem",
    DT_PHALA_TDX "derived_pck_crl.der",
    DT_PHALA_TDX "derived_pck_crl_issuer_chain.pem",
    DT_PHALA_TDX "derived_root_ca_crl.der",
    NULL,
};

static const char *const dt_phala_sgx_collateral[] = {
    DT_PHALA_SGX "derived_tcb_info.json",
    DT_PHALA_SGX "derived_qe_identity.json",
    DT_PHALA_SGX "derived_tcb_info_issuer_chain.pem",
    DT_PHALA_SGX "derived_pck_crl.der",
    DT_PHALA_SGX "derived_pck_crl_issuer_chain.pem",
    DT_PHALA_SGX "derived_root_ca_crl.der",
    NULL,
};

/* go-tdx-guest's v4 set (eval 15), valid around 2023-06-20. */
static const char *const dt_go_tdx_collateral[] = {
    DT_GO_TDX "sample_tcbInfo_response",
    DT_GO_TDX "sample_qeIdentity_response",
    DT_GO_TDX "derived_tcb_info_issuer_chain.pem",
    DT_GO_TDX "pckcrl",
    DT_GO_TDX "derived_pck_crl_issuer_chain.pem",
    DT_GO_TDX "rootcrl.der",
    NULL,
};

static inline int64_t dt_time(const char *rfc3339)
{
    int64_t t = 0;
    cst_ok(cs_time_parse_rfc3339(rfc3339, &t));
    return t;
}

/* Adds every file of `rels` except `skip` (may be NULL) to `l`. */
static inline void dt_add_files(cs_blob_list *l, const char *const *rels, const char *skip)
{
    for (size_t i = 0; rels[i] != NULL; i++) {
        if (skip != NULL && strstr(rels[i], skip) != NULL)
            continue;
        cs_buf b;
        cs_buf_init(&b, 0);
        cst_read_testdata(rels[i], &b);
        cst_ok(cs_blob_list_add(l, cs_buf_slice(&b)));
        cs_buf_cleanup(&b);
    }
}

/* Evidence for `platform` from a quote file and a collateral set (minus `skip`). */
static inline void dt_evidence(cs_evidence *ev, cs_platform platform, const char *quote_rel,
                               const char *const *collateral, const char *skip)
{
    cs_evidence_init(ev);
    ev->platform = platform;
    cst_read_testdata(quote_rel, &ev->evidence);
    if (collateral != NULL)
        dt_add_files(&ev->endorsements, collateral, skip);
}

static inline consort_err dt_verify(const cs_evidence *ev, const char *now, cs_claims *claims)
{
    cs_verify_opts opts = {.now = dt_time(now), .anchors = NULL};
    return cs_evidence_verify(ev, &opts, claims);
}

/* Flips bit `bit` of byte `off` of `b`. */
static inline void dt_flip(cs_buf *b, size_t off, unsigned bit)
{
    assert_true(off < b->len);
    b->ptr[off] ^= (uint8_t)(1u << bit);
}

/* Offset of the first occurrence of `needle` in `b` (asserting there is one). */
static inline size_t dt_find(const cs_buf *b, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->ptr + i, needle, n) == 0)
            return i;
    fail_msg("'%s' not found", needle);
    return 0;
}

/* True if consort_errmsg() contains `s`. */
static inline bool dt_msg_has(const char *s)
{
    return strstr(consort_errmsg(), s) != NULL;
}

#define dt_assert_msg(s)                                                                           \
    do {                                                                                           \
        if (!dt_msg_has(s))                                                                        \
            fail_msg("message '%s' lacks '%s'", consort_errmsg(), (s));                            \
    } while (0)

#endif
