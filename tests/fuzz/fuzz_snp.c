/*
 * libFuzzer target for the SEV-SNP report parser and verifier (src/attest/snp.h).
 *
 * Input: report bytes, optionally followed by endorsement bytes (PEM or DER
 * certificates) after the first 0x4A0 bytes. The whole input goes to the
 * parser (exercising the length checks); the first 0x4A0 bytes are then
 * verified against a fixed certificate set - every VCEK/VLEK and AMD chain of
 * $CONSORT_TESTDATA/sev-snp, loaded once - plus whatever the tail parses to,
 * at a fixed time inside every sample's validity. Invariants: nothing
 * crashes or leaks; a report the parser rejects never verifies; a report
 * that verifies has claims that agree with its parsed fields.
 */
#include "attest/snp.h"
#include "crypto/hash.h"

#include "base/alloc.h"
#include "base/file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed_files[] = {
    "sev-snp/milan-v2-gosevguest/vcek.der", "sev-snp/milan-v2-virtee/vcek.der",
    "sev-snp/milan-v2-trustee/vcek.der",    "sev-snp/milan-v3-vlek-aws/vlek.der",
    "sev-snp/genoa-v3-azure/vcek.pem",      "sev-snp/certs/ask_ark_milan.pem",
    "sev-snp/certs/ask_ark_genoa.pem",      "sev-snp/certs/asvk_ark_milan_vlek.pem",
};

/* 2025-06-01T00:00:00Z: every sample, the VLEK included, is valid. */
#define FIXED_NOW 1748736000

static cs_x509 **fixed_certs;
static size_t fixed_count;

/* Reads one test-data file into the fixed set; false if it cannot. */
static bool add_fixed(const char *dir, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    cs_buf b;
    cs_buf_init(&b, 1 << 20);
    bool ok = cs_file_read(path, &b) == CONSORT_OK &&
              cs_x509_parse_all(cs_buf_slice(&b), &fixed_certs, &fixed_count) == CONSORT_OK;
    cs_buf_cleanup(&b);
    return ok;
}

/*
 * Loads the fixed set once from $CONSORT_TESTDATA (set by ctest; a missing
 * file is then a broken build) or else ../shared/testdata as the unit tests
 * do (scripts/run-fuzz.sh runs from the repository root); without either the
 * set stays empty and only certificates in the input are used.
 */
static void load_fixed(void)
{
    static int loaded;
    if (loaded)
        return;
    loaded = 1;
    const char *env = getenv("CONSORT_TESTDATA");
    const char *dir = env != NULL ? env : "../shared/testdata";
    for (size_t i = 0; i < sizeof fixed_files / sizeof fixed_files[0]; i++) {
        if (!add_fixed(dir, fixed_files[i])) {
            if (env != NULL)
                abort(); /* the test data is part of the build's contract */
            cs_x509_list_free(fixed_certs, fixed_count);
            fixed_certs = NULL;
            fixed_count = 0;
            return;
        }
    }
}

static void check_claims(const cs_snp_report *r, const cs_claims *c)
{
    uint8_t code_id[32];
    const cs_slice parts[2] = {CS_SLICE(r->measurement, 48), CS_SLICE(r->host_data, 32)};
    cs_sha256_parts(parts, 2, code_id);
    if (memcmp(code_id, c->code_id, 32) != 0 || c->security_version != r->reported_tcb ||
        c->debug != ((r->policy & CS_SNP_POLICY_DEBUG) != 0) ||
        memcmp(c->report_data, r->report_data, 64) != 0 || c->platform != CS_PLATFORM_SNP)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_fixed();
    cs_snp_report whole;
    bool whole_parsed = cs_snp_report_parse(CS_SLICE(data, size), &whole) == CONSORT_OK;
    if (whole_parsed && size != CS_SNP_REPORT_LEN)
        abort(); /* the length is exact */
    if (size < CS_SNP_REPORT_LEN)
        return 0;

    cs_slice report = CS_SLICE(data, CS_SNP_REPORT_LEN);
    cs_slice tail = CS_SLICE(data + CS_SNP_REPORT_LEN, size - CS_SNP_REPORT_LEN);
    cs_x509 **certs = NULL;
    size_t n = 0;
    for (size_t i = 0; i < fixed_count; i++) {
        cs_x509 **grown = cs_realloc(certs, (n + 1) * sizeof *grown);
        if (grown == NULL)
            abort();
        certs = grown;
        certs[n++] = cs_x509_ref(fixed_certs[i]);
    }
    if (tail.len > 0 && cs_x509_parse_all(tail, &certs, &n) != CONSORT_OK)
        cs_err_clear(); /* all or nothing: an unparsable tail adds no certificate */

    cs_snp_report r;
    bool parsed = cs_snp_report_parse(report, &r) == CONSORT_OK;
    cs_claims claims;
    cs_claims_init(&claims, CS_PLATFORM_SNP);
    consort_err rc = cs_snp_verify_report(report, certs, n, FIXED_NOW, &claims);
    if (rc == CONSORT_OK) {
        if (!parsed)
            abort();
        check_claims(&r, &claims);
    }
    cs_x509_list_free(certs, n);
    return 0;
}
