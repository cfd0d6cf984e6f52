/*
 * bench_attest: attestation verifications per second for every platform,
 * with the endorsement chain verified each time ("cold") and reused through
 * a verified-endorsement cache ("cached", src/attest/verify_cache.h), beside
 * the raw OpenSSL rate of the signature(s) each piece of evidence needs.
 *
 * Every figure is operations per CPU-second of one thread (thread CPU time,
 * so other work on a shared machine does not distort it), the best of
 * AB_TRIALS calibrated trials; cold, cached and raw trials alternate.
 */
#ifndef BENCH_ATTEST_ATTBENCH_H
#define BENCH_ATTEST_ATTBENCH_H

#include "attest/evidence.h"
#include "attest/verify_cache.h"

#include <openssl/evp.h>
#include <stdint.h>

#define AB_TRIALS 7
/* Seconds one calibrated trial runs for at least. */
#define AB_MIN_SECONDS 0.2
/* The goal: cached verifications at least this fraction of the raw rate. */
#define AB_GOAL 0.80

/* The minimum trial length in use (AB_MIN_SECONDS, less with --quick). */
extern double ab_min_seconds;

/* Performs `n` operations. */
typedef void (*ab_op)(void *ctx, uint64_t n);

/* One trial of `op`, calibrated to last at least AB_MIN_SECONDS: operations/s. */
double ab_rate(ab_op op, void *ctx);

/* Aborts the benchmark: an operation that should succeed failed. */
void ab_die(const char *what);
/* ab_die with consort_errmsg() appended, unless rc is CONSORT_OK. */
void ab_check(consort_err rc, const char *what);

/* The testdata directory: $CONSORT_TESTDATA, else ../shared/testdata beside the source tree. */
const char *ab_testdata_dir(void);
/* Reads testdata file `rel` into `out` (initialised here), aborting on failure. */
void ab_read(const char *rel, cs_buf *out);

/* ---- raw OpenSSL verification (raw.c) ---- */

/* One signature verified with EVP_DigestVerify, everything prepared beforehand. */
typedef struct ab_sig {
    EVP_PKEY *pkey;
    const EVP_MD *md;
    cs_buf msg;
    cs_buf sig; /* DER for ECDSA, the bare signature for RSA */
    EVP_MD_CTX *mctx;
} ab_sig;

/* The raw primitive(s) one piece of evidence needs: one op verifies them all. */
typedef struct ab_raw {
    ab_sig sigs[2];
    size_t count;
} ab_raw;

void ab_raw_init(ab_raw *r);
void ab_raw_cleanup(ab_raw *r);
/* Adds an ECDSA signature given as raw r || s (converted to DER here). */
void ab_raw_add_ecdsa(ab_raw *r, const cs_key *key, const EVP_MD *md, cs_slice msg, cs_slice rs);
/* Adds an RSASSA-PKCS1-v1_5 signature. */
void ab_raw_add_rsa(ab_raw *r, const cs_key *key, const EVP_MD *md, cs_slice msg, cs_slice sig);
/* ab_op: verifies every signature of the ab_raw `ctx`, `n` times. */
void ab_raw_op(void *ctx, uint64_t n);

/* ---- the cases ---- */

/* One platform's evidence and how to verify it. */
typedef struct ab_case {
    const char *platform;
    char evidence[48];  /* which sample */
    char primitive[48]; /* what ab_raw verifies */
    cs_evidence ev;
    cs_blob_list anchors;
    int64_t now;
    ab_raw raw;
    /* Set for a case that measures its own per-evidence path instead of
     * cs_evidence_verify (cold and cached are then these two ops on `custom`). */
    ab_op custom_cold;
    ab_op custom_cached;
    void *custom;
    void (*custom_free)(void *custom);
} ab_case;

void ab_case_init(ab_case *c, const char *platform);
void ab_case_cleanup(ab_case *c);

/* cases_real.c: real evidence from ../shared/testdata. */
void ab_case_snp(ab_case *c);
void ab_case_tdx(ab_case *c);
void ab_case_sgx(ab_case *c);
void ab_case_tpm_gce(ab_case *c);
/* cases_made.c: evidence made here (no hardware sample exists or fits). */
void ab_case_virtual(ab_case *c);
void ab_case_tpm_soft(ab_case *c);

#endif
