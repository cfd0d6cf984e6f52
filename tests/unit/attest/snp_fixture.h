/*
 * The real SEV-SNP samples of ../shared/testdata/sev-snp (PROVENANCE.md) and
 * helpers shared by test_snp.c and test_snp_tamper.c (header-only: each test
 * file is its own executable).
 */
#ifndef CONSORT_TEST_SNP_FIXTURE_H
#define CONSORT_TEST_SNP_FIXTURE_H

#include "testutil.h"

#include "attest/snp.h"

#include <string.h>

typedef struct snp_sample {
    const char *name;
    const char *report; /* testdata-relative paths */
    const char *key;    /* VCEK or VLEK */
    const char *chain;  /* ASK|ASVK + ARK bundle */
    cs_snp_signing_key kind;
    cs_snp_product product;
} snp_sample;

enum { SNP_GOSEVGUEST, SNP_VIRTEE, SNP_TRUSTEE, SNP_VLEK, SNP_GENOA, SNP_SAMPLE_COUNT };

static const snp_sample snp_samples[SNP_SAMPLE_COUNT] = {
    [SNP_GOSEVGUEST] = {"milan-v2-gosevguest", "sev-snp/milan-v2-gosevguest/report.bin",
                        "sev-snp/milan-v2-gosevguest/vcek.der", "sev-snp/certs/ask_ark_milan.pem",
                        CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_MILAN},
    [SNP_VIRTEE] = {"milan-v2-virtee", "sev-snp/milan-v2-virtee/report.bin",
                    "sev-snp/milan-v2-virtee/vcek.der", "sev-snp/certs/ask_ark_milan.pem",
                    CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_MILAN},
    [SNP_TRUSTEE] = {"milan-v2-trustee", "sev-snp/milan-v2-trustee/report.bin",
                     "sev-snp/milan-v2-trustee/vcek.der", "sev-snp/certs/ask_ark_milan.pem",
                     CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_MILAN},
    [SNP_VLEK] = {"milan-v3-vlek-aws", "sev-snp/milan-v3-vlek-aws/report.bin",
                  "sev-snp/milan-v3-vlek-aws/vlek.der", "sev-snp/certs/asvk_ark_milan_vlek.pem",
                  CS_SNP_KEY_VLEK, CS_SNP_PRODUCT_MILAN},
    [SNP_GENOA] = {"genoa-v3-azure", "sev-snp/genoa-v3-azure/report.bin",
                   "sev-snp/genoa-v3-azure/vcek.pem", "sev-snp/certs/ask_ark_genoa.pem",
                   CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_GENOA},
};

/* Inside every sample's validity, the VLEK's (2024-12-10..2025-12-10) included. */
#define SNP_NOW "2025-06-01T00:00:00Z"
/* After the VLEK expired; every VCEK is still valid. */
#define SNP_LATER "2026-06-01T00:00:00Z"

static inline int64_t snp_time(const char *rfc3339)
{
    int64_t t = 0;
    cst_ok(cs_time_parse_rfc3339(rfc3339, &t));
    return t;
}

/* Appends the certificates of a testdata file (PEM bundle or DER) to a list. */
static inline void snp_add_certs(const char *rel, cs_x509 ***list, size_t *n)
{
    cs_buf b;
    cst_read_testdata(rel, &b);
    cst_ok(cs_x509_parse_all(cs_buf_slice(&b), list, n));
    cs_buf_cleanup(&b);
}

/* The sample's certificates: key first, then its chain (ASK|ASVK, ARK). */
static inline void snp_certs(const snp_sample *s, cs_x509 ***list, size_t *n)
{
    *list = NULL;
    *n = 0;
    snp_add_certs(s->key, list, n);
    snp_add_certs(s->chain, list, n);
}

/* The evidence envelope as an attester would send it. */
static inline void snp_evidence(const snp_sample *s, cs_evidence *ev)
{
    cs_evidence_init(ev);
    ev->platform = CS_PLATFORM_SNP;
    cs_buf b;
    cst_read_testdata(s->report, &b);
    cst_ok(cs_buf_set(&ev->evidence, cs_buf_slice(&b)));
    cs_buf_cleanup(&b);
    cst_read_testdata(s->key, &b);
    cst_ok(cs_blob_list_add(&ev->endorsements, cs_buf_slice(&b)));
    cs_buf_cleanup(&b);
    cst_read_testdata(s->chain, &b);
    cst_ok(cs_blob_list_add(&ev->endorsements, cs_buf_slice(&b)));
    cs_buf_cleanup(&b);
}

/* Verifies raw report bytes against a certificate list at `now`. */
static inline consort_err snp_verify_raw(cs_slice report, cs_x509 *const *certs, size_t n,
                                         int64_t now, cs_claims *claims)
{
    cs_claims_init(claims, CS_PLATFORM_SNP);
    return cs_snp_verify_report(report, certs, n, now, claims);
}

#endif
