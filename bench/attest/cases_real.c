/*
 * Cases on real evidence from ../shared/testdata, at the verification times
 * their PROVENANCE.md files give:
 *   snp  sev-snp/milan-v2-virtee: report + VCEK, ASK and ARK (KDS cert_chain),
 *        at 2025-06-01; raw: ECDSA P-384 / SHA-384 over the 672 signed bytes;
 *   tdx  tdx/phala-dcap-qvl: quote v4 + TCB info, QE identity, issuer chains,
 *        PCK and Root CA CRLs, at 2025-06-20;
 *   sgx  sgx-dcap/phala-dcap-qvl: quote v3 + the same kinds of collateral;
 *        raw for both: two ECDSA P-256 / SHA-256 verifications, the quote
 *        signature (attestation key over header + body) and the QE report
 *        signature (PCK key over 384 bytes), counted as ONE raw operation;
 *   tpm  tpm/gce-shielded-vm-cos85: a real GCE vTPM quote (SHA-256 bank),
 *        RSA-2048 RSASSA-PKCS1-v1_5 / SHA-256. It is not consort "tpm"
 *        evidence (no code-id PCR, 2-byte nonce) and Google's AK CA is not
 *        in the test data, so this case times the verifier's per-quote path
 *        through tpm.h instead (quote and signature parsing, the signature
 *        by the AK, the PCR digest); "cold" adds parsing the AK certificate
 *        and taking its key, the part a chain cache saves here.
 */
#include "attbench.h"

#include "attest/dcap.h"
#include "attest/snp.h"
#include "attest/tpm.h"
#include "base/alloc.h"

#include <stdio.h>
#include <string.h>

static int64_t at(const char *rfc3339)
{
    int64_t t = 0;
    ab_check(cs_time_parse_rfc3339(rfc3339, &t), rfc3339);
    return t;
}

static void add_endorsement(cs_evidence *ev, const char *rel)
{
    cs_buf b;
    ab_read(rel, &b);
    ab_check(cs_blob_list_add(&ev->endorsements, cs_buf_slice(&b)), rel);
    cs_buf_cleanup(&b);
}

/* The public key of the first certificate in `data` (DER or PEM). */
static cs_key *first_cert_key(cs_slice data)
{
    cs_x509 **certs = NULL;
    size_t n = 0;
    ab_check(cs_x509_parse_all(data, &certs, &n), "certificates");
    if (n == 0)
        ab_die("no certificate");
    cs_key *key = NULL;
    ab_check(cs_x509_public_key(certs[0], &key), "certificate key");
    cs_x509_list_free(certs, n);
    return key;
}

void ab_case_snp(ab_case *c)
{
    snprintf(c->evidence, sizeof c->evidence, "Milan VCEK report (virtee)");
    snprintf(c->primitive, sizeof c->primitive, "ECDSA P-384 SHA-384, 672 B");
    c->ev.platform = CS_PLATFORM_SNP;
    ab_read("sev-snp/milan-v2-virtee/report.bin", &c->ev.evidence);
    add_endorsement(&c->ev, "sev-snp/milan-v2-virtee/vcek.der");
    add_endorsement(&c->ev, "sev-snp/certs/ask_ark_milan.pem");
    c->now = at("2025-06-01T00:00:00Z");

    cs_snp_report r;
    ab_check(cs_snp_report_parse(cs_buf_slice(&c->ev.evidence), &r), "SNP report");
    cs_key *vcek = first_cert_key(cs_buf_slice(&c->ev.endorsements.items[0]));
    ab_raw_add_ecdsa(&c->raw, vcek, EVP_sha384(), CS_SLICE(c->ev.evidence.ptr, CS_SNP_SIGNED_LEN),
                     CS_SLICE(r.signature, sizeof r.signature));
    cs_key_free(vcek);
}

static void dcap_case(ab_case *c, cs_platform platform, const char *dir, const char *quote)
{
    static const char *const collateral[] = {
        "derived_tcb_info.json",
        "derived_qe_identity.json",
        "derived_tcb_info_issuer_chain.pem",
        "derived_pck_crl.der",
        "derived_pck_crl_issuer_chain.pem",
        "derived_root_ca_crl.der",
    };
    char rel[128];
    snprintf(c->primitive, sizeof c->primitive, "2 x ECDSA P-256 SHA-256 (quote + QE)");
    c->ev.platform = platform;
    snprintf(rel, sizeof rel, "%s%s", dir, quote);
    ab_read(rel, &c->ev.evidence);
    for (size_t i = 0; i < sizeof collateral / sizeof collateral[0]; i++) {
        snprintf(rel, sizeof rel, "%s%s", dir, collateral[i]);
        add_endorsement(&c->ev, rel);
    }
    c->now = at("2025-06-20T00:00:00Z");

    cs_dcap_quote q;
    ab_check(cs_dcap_quote_parse(cs_buf_slice(&c->ev.evidence), &q), "DCAP quote");
    cs_key *ak = NULL;
    ab_check(cs_key_from_ec_coords(CS_CURVE_P256, CS_SLICE(q.att_key.ptr, 32),
                                   CS_SLICE(q.att_key.ptr + 32, 32), CS_SLICE_EMPTY, &ak),
             "attestation key");
    ab_raw_add_ecdsa(&c->raw, ak, EVP_sha256(), q.signed_data, q.signature);
    cs_key_free(ak);
    cs_key *pck = first_cert_key(q.pck_chain);
    ab_raw_add_ecdsa(&c->raw, pck, EVP_sha256(), q.qe_report, q.qe_report_sig);
    cs_key_free(pck);
}

void ab_case_tdx(ab_case *c)
{
    snprintf(c->evidence, sizeof c->evidence, "quote v4 + collateral (phala)");
    dcap_case(c, CS_PLATFORM_TDX, "tdx/phala-dcap-qvl/", "tdx_quote_v4.dat");
}

void ab_case_sgx(ab_case *c)
{
    snprintf(c->evidence, sizeof c->evidence, "quote v3 + collateral (phala)");
    dcap_case(c, CS_PLATFORM_SGX, "sgx-dcap/phala-dcap-qvl/", "sgx_quote_v3.dat");
}

/* ---- GCE vTPM quote ---- */

#define GCE "tpm/gce-shielded-vm-cos85/"

typedef struct gce {
    cs_buf attest, signature, pcrs, ak_cert;
    cs_slice values[24];
    cs_key *ak; /* from the AK certificate, kept: the "cached" key */
} gce;

static void gce_free(void *p)
{
    gce *g = p;
    cs_buf_cleanup(&g->attest);
    cs_buf_cleanup(&g->signature);
    cs_buf_cleanup(&g->pcrs);
    cs_buf_cleanup(&g->ak_cert);
    cs_key_free(g->ak);
    cs_free(g);
}

/* What tpm_evidence.c does per quote once it has the AK's key. */
static void gce_per_quote(const gce *g, const cs_key *ak)
{
    cs_tpm_quote q;
    cs_tpm_signature sig;
    ab_check(cs_tpm_quote_parse(cs_buf_slice(&g->attest), &q), "TPMS_ATTEST");
    ab_check(cs_tpm_signature_parse(cs_buf_slice(&g->signature), &sig), "TPMT_SIGNATURE");
    ab_check(cs_tpm_signature_verify(&sig, ak, cs_buf_slice(&g->attest)), "quote signature");
    ab_check(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, g->values, 24), "PCR digest");
}

static void gce_cached(void *ctx, uint64_t n)
{
    const gce *g = ctx;
    for (uint64_t i = 0; i < n; i++)
        gce_per_quote(g, g->ak);
}

static void gce_cold(void *ctx, uint64_t n)
{
    const gce *g = ctx;
    for (uint64_t i = 0; i < n; i++) {
        cs_x509 *cert = NULL;
        cs_key *ak = NULL;
        ab_check(cs_x509_from_der(cs_buf_slice(&g->ak_cert), &cert), "AK certificate");
        ab_check(cs_x509_public_key(cert, &ak), "AK key");
        gce_per_quote(g, ak);
        cs_key_free(ak);
        cs_x509_free(cert);
    }
}

void ab_case_tpm_gce(ab_case *c)
{
    snprintf(c->evidence, sizeof c->evidence, "GCE vTPM quote, tpm.h path (*)");
    snprintf(c->primitive, sizeof c->primitive, "RSA-2048 PKCS#1 v1.5 SHA-256, 115 B");
    gce *g = cs_calloc(1, sizeof *g);
    if (g == NULL)
        ab_die("out of memory");
    ab_read(GCE "quote_sha256_bank.tpms_attest.bin", &g->attest);
    ab_read(GCE "quote_sha256_bank.tpmt_signature.bin", &g->signature);
    ab_read(GCE "pcrs_sha256_0-23.bin", &g->pcrs);
    ab_read(GCE "ak_cert.der", &g->ak_cert);
    if (g->pcrs.len != 24 * 32)
        ab_die("GCE PCR file is not 24 SHA-256 values");
    for (size_t i = 0; i < 24; i++)
        g->values[i] = CS_SLICE(g->pcrs.ptr + 32 * i, 32);
    g->ak = first_cert_key(cs_buf_slice(&g->ak_cert));
    c->custom = g;
    c->custom_free = gce_free;
    c->custom_cold = gce_cold;
    c->custom_cached = gce_cached;

    cs_tpm_signature sig;
    ab_check(cs_tpm_signature_parse(cs_buf_slice(&g->signature), &sig), "TPMT_SIGNATURE");
    ab_raw_add_rsa(&c->raw, g->ak, EVP_sha256(), cs_buf_slice(&g->attest),
                   CS_SLICE(sig.rsa, sig.rsa_len));
}
