/*
 * TPM 2.0 structures against real vTPM quotes (testdata/tpm/PROVENANCE.md):
 * three GCE Shielded VM quotes (SHA-1, SHA-256, SHA-384 PCR banks) with their
 * AK, and an Azure CVM quote whose AK is bound to a real SEV-SNP (Genoa)
 * report through the HCL runtime data. Plus strict-parsing negatives and the
 * consort "tpm" evidence CBOR.
 */
#include "testutil.h"

#include "attest/tpm.h"
#include "crypto/rand.h"

#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#define GCE   "tpm/gce-shielded-vm-cos85/"
#define AZURE "tpm/azure-genoa-vtpm/"

static cs_key *load_key(const char *rel)
{
    cs_key *key = NULL;
    cst_ok(cs_key_load_pem_file(cst_testdata_path(rel), &key));
    return key;
}

/* Splits 24 concatenated PCR values of `dlen` bytes each. */
static void split_pcrs(const cs_buf *b, size_t dlen, cs_slice out[24])
{
    assert_int_equal(b->len, 24 * dlen);
    for (size_t i = 0; i < 24; i++)
        out[i] = CS_SLICE(b->ptr + i * dlen, dlen);
}

static void spki_of(const cs_key *key, cs_buf *out)
{
    cs_buf_init(out, 0);
    cst_ok(cs_key_spki_der(key, out));
}

static const struct {
    const char *bank;
    uint16_t alg;
    size_t dlen;
} gce_banks[] = {
    {"sha1", CS_TPM_ALG_SHA1, 20},
    {"sha256", CS_TPM_ALG_SHA256, 32},
    {"sha384", CS_TPM_ALG_SHA384, 48},
};

static void gce_quotes_verify_against_their_ak(void **state)
{
    (void)state;
    cs_key *ak = load_key(GCE "ak_pub.pem");
    cs_x509 *cert = NULL;
    cst_ok(cs_x509_load_file(cst_testdata_path(GCE "ak_cert.der"), &cert));
    cs_key *cert_key = NULL;
    cst_ok(cs_x509_public_key(cert, &cert_key));
    for (size_t i = 0; i < CS_ARRAY_LEN(gce_banks); i++) {
        char rel[128];
        cs_buf attest, sigbytes, pcrs;
        snprintf(rel, sizeof rel, GCE "quote_%s_bank.tpms_attest.bin", gce_banks[i].bank);
        cst_read_testdata(rel, &attest);
        snprintf(rel, sizeof rel, GCE "quote_%s_bank.tpmt_signature.bin", gce_banks[i].bank);
        cst_read_testdata(rel, &sigbytes);
        snprintf(rel, sizeof rel, GCE "pcrs_%s_0-23.bin", gce_banks[i].bank);
        cst_read_testdata(rel, &pcrs);

        cs_tpm_quote q;
        cs_tpm_signature sig;
        cst_ok(cs_tpm_quote_parse(cs_buf_slice(&attest), &q));
        cst_ok(cs_tpm_signature_parse(cs_buf_slice(&sigbytes), &sig));
        const uint8_t nonce[] = {0x90, 0x09};
        assert_int_equal(q.extra_data_len, 2);
        assert_memory_equal(q.extra_data, nonce, 2);
        assert_int_equal(q.bank_count, 1);
        assert_int_equal(q.banks[0].hash_alg, gce_banks[i].alg);
        assert_int_equal(q.banks[0].pcrs, 0xffffff);
        assert_int_equal(cs_tpm_quote_pcr_count(&q), 24);
        assert_int_equal(q.qualified_signer_len, 34);
        assert_int_equal(sig.sig_alg, CS_TPM_ALG_RSASSA);
        assert_int_equal(sig.hash_alg, CS_TPM_ALG_SHA256);
        assert_int_equal(sig.rsa_len, 256);

        cst_ok(cs_tpm_signature_verify(&sig, ak, cs_buf_slice(&attest)));
        cst_ok(cs_tpm_signature_verify(&sig, cert_key, cs_buf_slice(&attest)));
        cs_slice values[24];
        split_pcrs(&pcrs, gce_banks[i].dlen, values);
        /* PROVENANCE: pcrDigest = SHA-256 of the bank's PCRs, whatever the bank */
        cst_ok(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, values, 24));

        /* the marshalled signature round-trips byte for byte */
        cs_buf again;
        cs_buf_init(&again, 0);
        cst_ok(cs_tpm_signature_marshal(&sig, &again));
        assert_true(cs_slice_eq(cs_buf_slice(&again), cs_buf_slice(&sigbytes)));
        cs_buf_cleanup(&again);

        /* a PCR value changed, two swapped, one missing */
        uint8_t changed[48];
        memcpy(changed, values[7].ptr, values[7].len);
        changed[0] ^= 1;
        cs_slice saved = values[7];
        values[7] = CS_SLICE(changed, saved.len);
        cst_fails(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, values, 24), CONSORT_E_ATTESTATION);
        values[7] = values[0];
        values[0] = saved;
        cst_fails(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, values, 24), CONSORT_E_ATTESTATION);
        values[0] = values[7];
        values[7] = saved;
        cst_ok(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, values, 24));
        cst_fails(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, values, 23), CONSORT_E_MALFORMED);
        cs_buf_cleanup(&attest);
        cs_buf_cleanup(&sigbytes);
        cs_buf_cleanup(&pcrs);
    }
    cs_key_free(cert_key);
    cs_x509_free(cert);
    cs_key_free(ak);
}

static void gce_pcrs_of_another_bank_rejected(void **state)
{
    (void)state;
    cs_buf attest, sigbytes, pcrs;
    cst_read_testdata(GCE "quote_sha1_bank.tpms_attest.bin", &attest);
    cst_read_testdata(GCE "quote_sha1_bank.tpmt_signature.bin", &sigbytes);
    cst_read_testdata(GCE "pcrs_sha256_0-23.bin", &pcrs);
    cs_tpm_quote q;
    cs_tpm_signature sig;
    cst_ok(cs_tpm_quote_parse(cs_buf_slice(&attest), &q));
    cst_ok(cs_tpm_signature_parse(cs_buf_slice(&sigbytes), &sig));
    cs_slice values[24];
    split_pcrs(&pcrs, 32, values);
    cst_fails(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, values, 24), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "PCR sha1:0 value of 32 bytes, expected 20"));
    cs_buf_cleanup(&attest);
    cs_buf_cleanup(&sigbytes);
    cs_buf_cleanup(&pcrs);
}

static void gce_tpmt_public_is_the_ak(void **state)
{
    (void)state;
    cs_buf pub, a, b, c;
    cst_read_testdata(GCE "ak_pub.tpmt_public.bin", &pub);
    cs_key *from_tpm = NULL;
    cst_ok(cs_tpm_public_to_key(cs_buf_slice(&pub), &from_tpm));
    assert_int_equal(cs_key_rsa_bits(from_tpm), 2048);
    cs_key *pem = load_key(GCE "ak_pub.pem");
    cs_x509 *cert = NULL;
    cst_ok(cs_x509_load_file(cst_testdata_path(GCE "ak_cert.der"), &cert));
    cs_key *cert_key = NULL;
    cst_ok(cs_x509_public_key(cert, &cert_key));
    spki_of(from_tpm, &a);
    spki_of(pem, &b);
    spki_of(cert_key, &c);
    assert_true(cs_slice_eq(cs_buf_slice(&a), cs_buf_slice(&b)));
    assert_true(cs_slice_eq(cs_buf_slice(&a), cs_buf_slice(&c)));
    /* trailing byte and truncation */
    cst_ok(cs_buf_append_u8(&pub, 0));
    cs_key *k = NULL;
    cst_fails(cs_tpm_public_to_key(cs_buf_slice(&pub), &k), CONSORT_E_TRAILING_DATA);
    cst_fails(cs_tpm_public_to_key(CS_SLICE(pub.ptr, 100), &k), CONSORT_E_TRUNCATED);
    assert_null(k);
    cs_buf_cleanup(&a);
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&c);
    cs_buf_cleanup(&pub);
    cs_key_free(cert_key);
    cs_x509_free(cert);
    cs_key_free(pem);
    cs_key_free(from_tpm);
}

static void azure_quote_verifies(void **state)
{
    (void)state;
    cs_buf attest, rsa, pcrs;
    cst_read_testdata(AZURE "quote_tpms_attest.bin", &attest);
    cst_read_testdata(AZURE "quote_signature_rsassa_sha256.bin", &rsa);
    cst_read_testdata(AZURE "pcrs_sha256_0-23.bin", &pcrs);
    cs_key *ak = load_key(AZURE "ak_pub.pem");
    cs_tpm_quote q;
    cs_tpm_signature sig;
    cst_ok(cs_tpm_quote_parse(cs_buf_slice(&attest), &q));
    assert_int_equal(q.extra_data_len, 48);
    assert_true(q.firmware_version == UINT64_C(0x2020031200120003));
    assert_int_equal(q.banks[0].hash_alg, CS_TPM_ALG_SHA256);
    assert_int_equal(q.banks[0].pcrs, 0xffffff);
    cst_ok(
        cs_tpm_signature_from_rsa(CS_TPM_ALG_RSASSA, CS_TPM_ALG_SHA256, cs_buf_slice(&rsa), &sig));
    cst_ok(cs_tpm_signature_verify(&sig, ak, cs_buf_slice(&attest)));
    cs_slice values[24];
    split_pcrs(&pcrs, 32, values);
    cst_ok(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, values, 24));
    /* the same bytes under RSA-PSS, or with another key, do not verify */
    cs_tpm_signature pss;
    cst_ok(
        cs_tpm_signature_from_rsa(CS_TPM_ALG_RSAPSS, CS_TPM_ALG_SHA256, cs_buf_slice(&rsa), &pss));
    cst_fails(cs_tpm_signature_verify(&pss, ak, cs_buf_slice(&attest)), CONSORT_E_BAD_SIGNATURE);
    cs_key *gce = load_key(GCE "ak_pub.pem");
    cst_fails(cs_tpm_signature_verify(&sig, gce, cs_buf_slice(&attest)), CONSORT_E_BAD_SIGNATURE);
    cs_key_free(gce);
    cs_key_free(ak);
    cs_buf_cleanup(&attest);
    cs_buf_cleanup(&rsa);
    cs_buf_cleanup(&pcrs);
}

/* JWK base64url (RFC 7515 §2, no padding) to bytes. */
static void b64url(const char *in, cs_buf *out)
{
    char std[1024];
    size_t n = strlen(in);
    assert_true(n + 4 < sizeof std);
    for (size_t i = 0; i < n; i++)
        std[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    while (n % 4 != 0)
        std[n++] = '=';
    std[n] = '\0';
    cst_base64(std, out);
}

/* AMD root -> VCEK -> SNP report -> report_data = SHA-256(runtime data) -> AK -> quote. */
static void azure_ak_chains_through_the_snp_report(void **state)
{
    (void)state;
    cs_buf runtime, report;
    cst_read_testdata(AZURE "hcl_runtime_data.json", &runtime);
    cst_read_testdata("sev-snp/genoa-v3-azure/report.bin", &report);
    assert_int_equal(report.len, 0x4A0);
    uint8_t digest[32];
    cs_sha256(cs_buf_slice(&runtime), digest);
    /* SEV-SNP ABI, ATTESTATION_REPORT: REPORT_DATA at 0x50, 64 bytes */
    assert_memory_equal(report.ptr + 0x50, digest, 32);

    json_t *doc = cst_json_testdata(AZURE "hcl_runtime_data.json");
    json_t *keys = json_object_get(doc, "keys");
    const char *n_b64 = NULL, *e_b64 = NULL;
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *k = json_array_get(keys, i);
        if (strcmp(json_string_value(json_object_get(k, "kid")), "HCLAkPub") == 0) {
            n_b64 = json_string_value(json_object_get(k, "n"));
            e_b64 = json_string_value(json_object_get(k, "e"));
        }
    }
    assert_non_null(n_b64);
    assert_non_null(e_b64);
    cs_buf n, e, a, b;
    b64url(n_b64, &n);
    b64url(e_b64, &e);
    cs_key *jwk = NULL;
    cst_ok(cs_key_from_rsa(cs_buf_slice(&n), cs_buf_slice(&e), &jwk));
    cs_key *pem = load_key(AZURE "ak_pub.pem");
    spki_of(jwk, &a);
    spki_of(pem, &b);
    assert_true(cs_slice_eq(cs_buf_slice(&a), cs_buf_slice(&b)));

    /* the report itself, by the snp verifier (VCEK -> ASK -> pinned ARK-Genoa) */
    cs_evidence ev;
    cs_evidence_init(&ev);
    ev.platform = CS_PLATFORM_SNP;
    cst_ok(cs_buf_set(&ev.evidence, cs_buf_slice(&report)));
    cs_buf vcek, ask;
    cst_read_testdata("sev-snp/genoa-v3-azure/vcek.pem", &vcek);
    cst_read_testdata("sev-snp/certs/ask_genoa.pem", &ask);
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&vcek)));
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&ask)));
    int64_t now;
    cst_ok(cs_time_parse_rfc3339("2026-01-01T00:00:00Z", &now));
    const cs_verify_opts opts = {.now = now, .anchors = NULL};
    cs_claims claims;
    cst_ok(cs_evidence_verify(&ev, &opts, &claims));
    assert_int_equal(claims.platform, CS_PLATFORM_SNP);
    assert_memory_equal(claims.report_data, digest, 32);
    /* and the report_data binding breaks with one changed byte of runtime data */
    runtime.ptr[10] ^= 1;
    cs_sha256(cs_buf_slice(&runtime), digest);
    assert_memory_not_equal(claims.report_data, digest, 32);

    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&vcek);
    cs_buf_cleanup(&ask);
    cs_key_free(jwk);
    cs_key_free(pem);
    cs_buf_cleanup(&a);
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&n);
    cs_buf_cleanup(&e);
    json_decref(doc);
    cs_buf_cleanup(&runtime);
    cs_buf_cleanup(&report);
}

/* Every single-bit change of a real TPMS_ATTEST fails to parse or to verify. */
static void flip_every_bit(const char *attest_rel, const cs_tpm_signature *sig, const cs_key *ak)
{
    cs_buf attest;
    cst_read_testdata(attest_rel, &attest);
    cst_ok(cs_tpm_signature_verify(sig, ak, cs_buf_slice(&attest)));
    size_t parsed = 0;
    for (size_t i = 0; i < attest.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            attest.ptr[i] ^= (uint8_t)(1u << bit);
            cs_tpm_quote q;
            if (cs_tpm_quote_parse(cs_buf_slice(&attest), &q) == CONSORT_OK) {
                parsed++;
                cst_fails(cs_tpm_signature_verify(sig, ak, cs_buf_slice(&attest)),
                          CONSORT_E_BAD_SIGNATURE);
            }
            attest.ptr[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* most flips still parse, so the signature is what rejects them */
    assert_true(parsed > attest.len * 4);
    cs_buf_cleanup(&attest);
}

static void every_bit_flip_of_a_real_quote_rejected(void **state)
{
    (void)state;
    cs_buf sigbytes, rsa;
    cst_read_testdata(GCE "quote_sha256_bank.tpmt_signature.bin", &sigbytes);
    cs_tpm_signature sig;
    cst_ok(cs_tpm_signature_parse(cs_buf_slice(&sigbytes), &sig));
    cs_key *gce = load_key(GCE "ak_pub.pem");
    flip_every_bit(GCE "quote_sha256_bank.tpms_attest.bin", &sig, gce);
    cst_read_testdata(AZURE "quote_signature_rsassa_sha256.bin", &rsa);
    cst_ok(
        cs_tpm_signature_from_rsa(CS_TPM_ALG_RSASSA, CS_TPM_ALG_SHA256, cs_buf_slice(&rsa), &sig));
    cs_key *azure = load_key(AZURE "ak_pub.pem");
    flip_every_bit(AZURE "quote_tpms_attest.bin", &sig, azure);
    cs_key_free(gce);
    cs_key_free(azure);
    cs_buf_cleanup(&sigbytes);
    cs_buf_cleanup(&rsa);
}

/* Re-marshals the GCE SHA-256 quote after `edit` changed its fields. */
static consort_err parse_edited(void (*edit)(TPMS_ATTEST *a), cs_tpm_quote *q)
{
    cs_buf in;
    cst_read_testdata(GCE "quote_sha256_bank.tpms_attest.bin", &in);
    TPMS_ATTEST a;
    size_t off = 0;
    assert_int_equal(Tss2_MU_TPMS_ATTEST_Unmarshal(in.ptr, in.len, &off, &a), 0);
    edit(&a);
    uint8_t out[2048];
    off = 0;
    assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(&a, out, sizeof out, &off), 0);
    cs_buf_cleanup(&in);
    return cs_tpm_quote_parse(CS_SLICE(out, off), q);
}

static void edit_magic(TPMS_ATTEST *a)
{
    a->magic = 0xff544348;
}
static void edit_type(TPMS_ATTEST *a)
{
    a->type = TPM2_ST_ATTEST_CERTIFY;
}
static void edit_bank(TPMS_ATTEST *a)
{
    a->attested.quote.pcrSelect.pcrSelections[0].hash = 0x0012;
}
static void edit_high_pcr(TPMS_ATTEST *a)
{
    TPMS_PCR_SELECTION *s = &a->attested.quote.pcrSelect.pcrSelections[0];
    s->sizeofSelect = 4;
    s->pcrSelect[3] = 0x01; /* PCR 24 */
}
static void edit_twice(TPMS_ATTEST *a)
{
    TPML_PCR_SELECTION *l = &a->attested.quote.pcrSelect;
    l->pcrSelections[1] = l->pcrSelections[0];
    l->count = 2;
}
static void edit_many(TPMS_ATTEST *a)
{
    TPML_PCR_SELECTION *l = &a->attested.quote.pcrSelect;
    const uint16_t algs[] = {0x0004, 0x000B, 0x000C, 0x000D, 0x0012};
    for (int i = 0; i < 5; i++) {
        l->pcrSelections[i] = l->pcrSelections[0];
        l->pcrSelections[i].hash = algs[i];
    }
    l->count = 5;
}
static void edit_safe(TPMS_ATTEST *a)
{
    a->clockInfo.safe = 2;
}
static void edit_no_digest(TPMS_ATTEST *a)
{
    a->attested.quote.pcrDigest.size = 0;
}
static void edit_nothing(TPMS_ATTEST *a)
{
    (void)a;
}

static void quote_parser_negatives(void **state)
{
    (void)state;
    cs_tpm_quote q;
    cst_ok(parse_edited(edit_nothing, &q));
    cst_fails(parse_edited(edit_magic, &q), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "magic 0xff544348"));
    cst_fails(parse_edited(edit_type, &q), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "TPM_ST_ATTEST_QUOTE"));
    cst_fails(parse_edited(edit_bank, &q), CONSORT_E_UNSUPPORTED);
    cst_fails(parse_edited(edit_high_pcr, &q), CONSORT_E_MALFORMED);
    cst_fails(parse_edited(edit_twice, &q), CONSORT_E_MALFORMED);
    cst_fails(parse_edited(edit_many, &q), CONSORT_E_TOO_LARGE);
    cst_fails(parse_edited(edit_safe, &q), CONSORT_E_MALFORMED);
    cst_fails(parse_edited(edit_no_digest, &q), CONSORT_E_MALFORMED);

    cs_buf in;
    cst_read_testdata(GCE "quote_sha256_bank.tpms_attest.bin", &in);
    for (size_t len = 0; len < in.len; len++)
        cst_fails_any(cs_tpm_quote_parse(CS_SLICE(in.ptr, len), &q));
    cst_fails(cs_tpm_quote_parse(CS_SLICE(in.ptr, 3), &q), CONSORT_E_TRUNCATED);
    cst_fails(cs_tpm_quote_parse(CS_SLICE(in.ptr, in.len - 1), &q), CONSORT_E_TRUNCATED);
    cst_ok(cs_buf_append_u8(&in, 0));
    cst_fails(cs_tpm_quote_parse(cs_buf_slice(&in), &q), CONSORT_E_TRAILING_DATA);
    /* qualifiedSigner length 0xffff */
    in.len--;
    in.ptr[6] = 0xff;
    in.ptr[7] = 0xff;
    cst_fails_any(cs_tpm_quote_parse(cs_buf_slice(&in), &q));
    uint8_t big[CS_TPM_ATTEST_MAX_BYTES + 1];
    memset(big, 0, sizeof big);
    cst_fails(cs_tpm_quote_parse(CS_SLICE(big, sizeof big), &q), CONSORT_E_TOO_LARGE);
    cs_buf_cleanup(&in);
}

static void signature_parser_negatives(void **state)
{
    (void)state;
    cs_buf in;
    cst_read_testdata(GCE "quote_sha256_bank.tpmt_signature.bin", &in);
    cs_tpm_signature sig;
    for (size_t len = 0; len < in.len; len++)
        cst_fails_any(cs_tpm_signature_parse(CS_SLICE(in.ptr, len), &sig));
    cst_ok(cs_buf_append_u8(&in, 0));
    cst_fails(cs_tpm_signature_parse(cs_buf_slice(&in), &sig), CONSORT_E_TRAILING_DATA);
    in.len--;
    in.ptr[3] = 0x04; /* hash SHA-1 */
    cst_fails(cs_tpm_signature_parse(cs_buf_slice(&in), &sig), CONSORT_E_UNSUPPORTED);
    in.ptr[3] = 0x0b;
    in.ptr[1] = 0x15; /* RSAES: not a signature scheme */
    cst_fails_any(cs_tpm_signature_parse(cs_buf_slice(&in), &sig));
    in.ptr[1] = 0x1a; /* ECDAA: unsupported */
    cst_fails_any(cs_tpm_signature_parse(cs_buf_slice(&in), &sig));
    in.ptr[1] = 0x14;
    cst_ok(cs_tpm_signature_parse(cs_buf_slice(&in), &sig));
    /* an RSA signature checked against an EC key fails as a usage error */
    cs_key *ec = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &ec));
    cst_fails(cs_tpm_signature_verify(&sig, ec, CS_SLICE_LIT("x")), CONSORT_E_INVALID_ARGUMENT);
    cs_key_free(ec);
    cs_buf_cleanup(&in);
}

static void evidence_cbor_strict(void **state)
{
    (void)state;
    uint8_t attest[10] = {1}, sigb[6] = {2}, pcr[32] = {3};
    cs_tpm_evidence te;
    memset(&te, 0, sizeof te);
    te.attest = CS_SLICE(attest, sizeof attest);
    te.signature = CS_SLICE(sigb, sizeof sigb);
    te.pcrs[0] = CS_SLICE(pcr, 32);
    te.pcr_count = 1;
    te.code_id_pcr = 23;
    memset(te.code_id, 0xc0, 32);
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_tpm_evidence_encode(&te, &b));
    cs_tpm_evidence back;
    cst_ok(cs_tpm_evidence_decode(cs_buf_slice(&b), &back));
    assert_int_equal(back.pcr_count, 1);
    assert_int_equal(back.code_id_pcr, 23);
    assert_memory_equal(back.code_id, te.code_id, 32);
    assert_true(cs_slice_eq(back.attest, te.attest));
    for (size_t len = 0; len < b.len; len++)
        cst_fails_any(cs_tpm_evidence_decode(CS_SLICE(b.ptr, len), &back));
    cst_ok(cs_buf_append_u8(&b, 0));
    cst_fails(cs_tpm_evidence_decode(cs_buf_slice(&b), &back), CONSORT_E_TRAILING_DATA);
    b.len--;
    b.ptr[1] = 0x02; /* first key 2 instead of 1 */
    cst_fails(cs_tpm_evidence_decode(cs_buf_slice(&b), &back), CONSORT_E_MALFORMED);
    b.ptr[1] = 0x01;
    b.ptr[0] = 0xa4; /* a map of 4 */
    cst_fails(cs_tpm_evidence_decode(cs_buf_slice(&b), &back), CONSORT_E_MALFORMED);
    b.ptr[0] = 0xa5;
    b.ptr[2] = 0x6a; /* attest as a text string */
    cst_fails(cs_tpm_evidence_decode(cs_buf_slice(&b), &back), CONSORT_E_MALFORMED);

    te.code_id_pcr = 24; /* out of range */
    cs_buf_reset(&b);
    cst_ok(cs_tpm_evidence_encode(&te, &b));
    cst_fails(cs_tpm_evidence_decode(cs_buf_slice(&b), &back), CONSORT_E_MALFORMED);
    te.code_id_pcr = 23;
    for (size_t i = 0; i < CS_TPM_MAX_QUOTED_PCRS; i++)
        te.pcrs[i] = CS_SLICE(pcr, 32);
    te.pcr_count = CS_TPM_MAX_QUOTED_PCRS;
    cs_buf_reset(&b);
    cst_ok(cs_tpm_evidence_encode(&te, &b));
    cst_ok(cs_tpm_evidence_decode(cs_buf_slice(&b), &back));
    /* 25 PCR values: patch the array header (0x98 0x18 -> 0x98 0x19) */
    uint8_t *hdr = memchr(b.ptr, 0x98, b.len);
    assert_non_null(hdr);
    hdr[1] = 0x19;
    cst_fails(cs_tpm_evidence_decode(cs_buf_slice(&b), &back), CONSORT_E_TOO_LARGE);
    cs_buf_cleanup(&b);
}

static void code_id_pcr_value_is_one_extend(void **state)
{
    (void)state;
    uint8_t code_id[32], got[32], want[32], cat[64] = {0};
    for (int i = 0; i < 32; i++)
        code_id[i] = (uint8_t)i;
    memcpy(cat + 32, code_id, 32);
    cs_sha256(CS_SLICE(cat, 64), want);
    cs_tpm_code_id_pcr_value(code_id, got);
    assert_memory_equal(got, want, 32);
}

static void verifier_needs_anchors(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_evidence_init(&ev);
    ev.platform = CS_PLATFORM_TPM;
    cs_claims claims;
    const cs_verify_opts none = {.now = 0, .anchors = NULL};
    cst_fails(cs_tpm_verifier.verify(&ev, &none, &claims), CONSORT_E_COLLATERAL_MISSING);
    ev.platform = CS_PLATFORM_VIRTUAL;
    cst_fails(cs_tpm_verifier.verify(&ev, &none, &claims), CONSORT_E_UNSUPPORTED);
    assert_int_equal(cs_tpm_verifier.platform, CS_PLATFORM_TPM);
    cs_evidence_cleanup(&ev);
}

int main(void)
{
    /* tss2 logs every unmarshalling error to stderr; the tests provoke thousands */
    setenv("TSS2_LOG", "all+none", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gce_quotes_verify_against_their_ak),
        cmocka_unit_test(gce_pcrs_of_another_bank_rejected),
        cmocka_unit_test(gce_tpmt_public_is_the_ak),
        cmocka_unit_test(azure_quote_verifies),
        cmocka_unit_test(azure_ak_chains_through_the_snp_report),
        cmocka_unit_test(every_bit_flip_of_a_real_quote_rejected),
        cmocka_unit_test(quote_parser_negatives),
        cmocka_unit_test(signature_parser_negatives),
        cmocka_unit_test(evidence_cbor_strict),
        cmocka_unit_test(code_id_pcr_value_is_one_extend),
        cmocka_unit_test(verifier_needs_anchors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
