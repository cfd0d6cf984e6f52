/*
 * Cases on evidence made here, through the full verifier (cs_evidence_verify):
 *   virtual  a fresh in-memory platform (cs_virtual_platform_generate) and
 *            its report; raw: ECDSA P-256 / SHA-256 over the 152 signed bytes;
 *   tpm      consort "tpm" evidence (tpm.h) signed in software by an RSA-2048
 *            AK, byte for byte what a TPM2_Quote with an RSASSA/SHA-256 AK
 *            gives: a TPMS_ATTEST (TPM 2.0 Part 2, "TPMS_ATTEST") over the
 *            boot PCRs 0..7 and the code-id PCR 23 of the SHA-256 bank (what
 *            the attester quotes with extra_pcrs = 0xff; 0..7 hold the real
 *            GCE values), extraData = report_data[0..32); AK
 *            certificate and CA as endorsements, the CA as anchor. Raw:
 *            RSA-2048 PKCS#1 v1.5 / SHA-256 over the TPMS_ATTEST.
 */
#include "attbench.h"

#include "attest/tpm.h"
#include "attest/virtual.h"
#include "crypto/sig.h"

#include <stdio.h>
#include <string.h>

/* One second after the certificates' notBefore, so the cache may keep them. */
#define AB_START 1780000000

void ab_case_virtual(ab_case *c)
{
    snprintf(c->evidence, sizeof c->evidence, "in-memory platform report");
    snprintf(c->primitive, sizeof c->primitive, "ECDSA P-256 SHA-256, 152 B");
    cs_virtual_platform *p = NULL;
    ab_check(cs_virtual_platform_generate(AB_START - 1, &p), "virtual platform");
    uint8_t code_id[32] = {0xc0, 0xde}, report_data[64] = {0x5e};
    ab_check(cs_virtual_attest(p, code_id, 1, false, report_data, &c->ev), "virtual report");
    ab_check(cs_blob_list_add(&c->anchors, cs_virtual_platform_cert_der(p)), "anchor");
    c->now = AB_START;

    cs_key *key = NULL;
    ab_check(cs_x509_public_key(cs_virtual_platform_cert(p), &key), "platform key");
    ab_raw_add_ecdsa(&c->raw, key, EVP_sha256(),
                     CS_SLICE(c->ev.evidence.ptr, CS_VIRTUAL_SIGNED_LEN),
                     CS_SLICE(c->ev.evidence.ptr + CS_VIRTUAL_SIGNED_LEN, 64));
    cs_key_free(key);
    cs_virtual_platform_free(p);
}

/* The PCRs quoted: the boot PCRs and the code-id PCR (bit i = PCR i). */
#define QUOTED_PCRS  (0xffu | (1u << CS_TPM_CODE_ID_PCR))
#define QUOTED_COUNT 9

/* TPM 2.0 Part 2, TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE, big-endian throughout. */
static consort_err marshal_quote(const uint8_t extra[32], const uint8_t pcr_digest[32], cs_buf *out)
{
    static const uint8_t signer[32] = {0x51};
    CS_TRY(cs_buf_append_be32(out, CS_TPM_GENERATED_VALUE));
    CS_TRY(cs_buf_append_be16(out, CS_TPM_ST_ATTEST_QUOTE));
    CS_TRY(cs_buf_append_be16(out, 34)); /* qualifiedSigner: TPM2B_NAME */
    CS_TRY(cs_buf_append_be16(out, CS_TPM_ALG_SHA256));
    CS_TRY(cs_buf_append(out, signer, sizeof signer));
    CS_TRY(cs_buf_append_be16(out, 32)); /* extraData: TPM2B_DATA */
    CS_TRY(cs_buf_append(out, extra, 32));
    CS_TRY(cs_buf_append_be64(out, 123456789)); /* clockInfo: clock, resetCount, */
    CS_TRY(cs_buf_append_be32(out, 3));         /* restartCount, safe */
    CS_TRY(cs_buf_append_be32(out, 0));
    CS_TRY(cs_buf_append_u8(out, 1));
    CS_TRY(cs_buf_append_be64(out, UINT64_C(0x2020031200120003))); /* firmwareVersion */
    CS_TRY(cs_buf_append_be32(out, 1)); /* TPMS_QUOTE_INFO.pcrSelect: one bank */
    CS_TRY(cs_buf_append_be16(out, CS_TPM_ALG_SHA256));
    CS_TRY(cs_buf_append_u8(out, 3)); /* sizeofSelect, then the bitmap, PCR 0 first */
    for (unsigned i = 0; i < 3; i++)
        CS_TRY(cs_buf_append_u8(out, (uint8_t)(QUOTED_PCRS >> (8 * i))));
    CS_TRY(cs_buf_append_be16(out, 32)); /* pcrDigest: TPM2B_DIGEST */
    return cs_buf_append(out, pcr_digest, 32);
}

/* A self-signed P-256 CA and an RSA-2048 AK certificate it issues. */
static void make_certs(ab_case *c, cs_key **ak)
{
    cs_key *ca_key = NULL;
    cs_x509 *ca = NULL, *ak_cert = NULL;
    ab_check(cs_key_generate(CS_CURVE_P256, &ca_key), "CA key");
    const cs_x509_params cp = {.subject_cn = "bench AK CA",
                               .not_before = AB_START - 1,
                               .not_after = AB_START + 86400,
                               .is_ca = true};
    ab_check(cs_x509_create(&cp, ca_key, ca_key, NULL, &ca), "CA certificate");
    ab_check(cs_key_generate_rsa(2048, ak), "RSA-2048 AK");
    ab_check(cs_tpm_ak_certify(*ak, ca_key, ca, AB_START - 1, AB_START + 3600, &ak_cert), "AK");
    cs_buf der;
    cs_buf_init(&der, 0);
    ab_check(cs_x509_to_der(ak_cert, &der), "AK DER");
    ab_check(cs_blob_list_add(&c->ev.endorsements, cs_buf_slice(&der)), "AK endorsement");
    cs_buf_reset(&der);
    ab_check(cs_x509_to_der(ca, &der), "CA DER");
    ab_check(cs_blob_list_add(&c->ev.endorsements, cs_buf_slice(&der)), "CA endorsement");
    ab_check(cs_blob_list_add(&c->anchors, cs_buf_slice(&der)), "CA anchor");
    cs_buf_cleanup(&der);
    cs_x509_free(ak_cert);
    cs_x509_free(ca);
    cs_key_free(ca_key);
}

void ab_case_tpm_soft(ab_case *c)
{
    snprintf(c->evidence, sizeof c->evidence, "RSA AK quote, PCRs 0-7+23 (software)");
    snprintf(c->primitive, sizeof c->primitive, "RSA-2048 PKCS#1 v1.5 SHA-256, 145 B");
    c->ev.platform = CS_PLATFORM_TPM;
    c->now = AB_START;
    cs_key *ak = NULL;
    make_certs(c, &ak);

    /* PCR values: the GCE VM's boot PCRs, then the code id extended once. */
    cs_buf gce, pcrs;
    ab_read("tpm/gce-shielded-vm-cos85/pcrs_sha256_0-23.bin", &gce);
    cs_buf_init(&pcrs, 0);
    ab_check(cs_buf_append(&pcrs, gce.ptr, 8 * 32), "PCR values");
    cs_tpm_evidence te;
    memset(&te, 0, sizeof te);
    memset(te.code_id, 0xc1, sizeof te.code_id);
    uint8_t code_pcr[32];
    cs_tpm_code_id_pcr_value(te.code_id, code_pcr);
    ab_check(cs_buf_append(&pcrs, code_pcr, 32), "PCR values");
    te.pcr_count = QUOTED_COUNT;
    te.code_id_pcr = CS_TPM_CODE_ID_PCR;
    for (size_t i = 0; i < QUOTED_COUNT; i++)
        te.pcrs[i] = CS_SLICE(pcrs.ptr + 32 * i, 32);
    uint8_t digest[32], report_data[64];
    cs_sha256(cs_buf_slice(&pcrs), digest); /* Part 3 §18.4: the hash of the signing scheme */

    cs_key *node = NULL;
    ab_check(cs_key_generate(CS_CURVE_P256, &node), "node key");
    ab_check(cs_report_data_bind(node, CS_SLICE_LIT("bench nonce"), report_data), "report data");
    cs_key_free(node);
    cs_buf attest, rsa, tpmt;
    cs_buf_init(&attest, 0);
    cs_buf_init(&rsa, 0);
    cs_buf_init(&tpmt, 0);
    ab_check(marshal_quote(report_data, digest, &attest), "TPMS_ATTEST");
    ab_check(cs_sig_sign(ak, CS_SIG_RSA_PKCS1, CS_HASH_SHA256, cs_buf_slice(&attest), &rsa),
             "RSA signature");
    cs_tpm_signature sig;
    ab_check(
        cs_tpm_signature_from_rsa(CS_TPM_ALG_RSASSA, CS_TPM_ALG_SHA256, cs_buf_slice(&rsa), &sig),
        "TPM signature");
    ab_check(cs_tpm_signature_marshal(&sig, &tpmt), "TPMT_SIGNATURE");
    te.attest = cs_buf_slice(&attest);
    te.signature = cs_buf_slice(&tpmt);
    ab_check(cs_tpm_evidence_encode(&te, &c->ev.evidence), "tpm evidence");

    ab_raw_add_rsa(&c->raw, ak, EVP_sha256(), cs_buf_slice(&attest), cs_buf_slice(&rsa));
    cs_buf_cleanup(&attest);
    cs_buf_cleanup(&rsa);
    cs_buf_cleanup(&tpmt);
    cs_buf_cleanup(&pcrs);
    cs_buf_cleanup(&gce);
    cs_key_free(ak);
}
