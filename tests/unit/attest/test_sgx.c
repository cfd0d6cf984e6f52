/*
 * The "sgx" verifier on real quotes (../shared/testdata/sgx-dcap/PROVENANCE.md):
 * Phala's v3 quote is ConfigurationAndSWHardeningNeeded with INTEL-SA-00289
 * and INTEL-SA-00615 at 2025-06-20; the Occlum quote, which has no
 * collateral, verifies its signatures and chain and reports the collateral
 * missing. The default policy rejects that status; a policy naming it and
 * the advisories accepts it. Bit flips, truncations and header changes fail.
 */
#include "dcap_test.h"

#include "attest/dcap_pck.h"
#include "attest/policy.h"

#define PHALA_QUOTE  DT_PHALA_SGX "sgx_quote_v3.dat"
#define OCCLUM_QUOTE "sgx-dcap/trustee-occlum/occlum_quote_v3.dat"
#define PHALA_NOW    "2025-06-20T00:00:00Z"

/* Offsets in a v3 quote. */
#define BODY       48
#define ATTRIBUTES (BODY + 48)
#define MRENCLAVE  (BODY + 64)
#define MRSIGNER   (BODY + 128)
#define ISVSVN     (BODY + 258)
#define REPORTDATA (BODY + 320)
#define SIGDATA    (BODY + 384 + 4)
#define SIG        SIGDATA
#define ATTKEY     (SIGDATA + 64)
#define QE_REPORT  (SIGDATA + 128)
#define QE_SIG     (QE_REPORT + 384)
#define QE_AUTH    (QE_SIG + 64 + 2)

static void phala_sgx_needs_configuration_and_sw_hardening(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_SGX, PHALA_QUOTE, dt_phala_sgx_collateral, NULL);
    cst_ok(dt_verify(&ev, PHALA_NOW, &claims));
    const uint8_t *q = ev.evidence.ptr;
    assert_int_equal(claims.platform, CS_PLATFORM_SGX);
    assert_string_equal(claims.tcb_status, "ConfigurationAndSWHardeningNeeded");
    assert_int_equal(claims.advisory_count, 2);
    assert_string_equal(claims.advisories[0], "INTEL-SA-00289");
    assert_string_equal(claims.advisories[1], "INTEL-SA-00615");
    /* code id = MRENCLAVE 33d8736d...2fbb, signer = MRSIGNER 815f42f1...e0e6 */
    assert_memory_equal(claims.code_id, q + MRENCLAVE, 32);
    assert_int_equal(claims.code_id[0], 0x33);
    assert_int_equal(claims.code_id[31], 0xbb);
    assert_int_equal(claims.signer_len, 32);
    assert_memory_equal(claims.signer, q + MRSIGNER, 32);
    assert_int_equal(claims.signer[0], 0x81);
    assert_int_equal(claims.security_version, q[ISVSVN] | q[ISVSVN + 1] << 8);
    assert_false(claims.debug); /* ATTRIBUTES.FLAGS 0x05: INIT | MODE64BIT */
    assert_memory_equal(claims.report_data, "Hello, world!", 13);
    assert_int_equal(claims.report_data[13], 0);
    assert_memory_equal(cs_claims_find(&claims, "mrenclave")->bytes, q + MRENCLAVE, 32);
    assert_memory_equal(cs_claims_find(&claims, "mrsigner")->bytes, q + MRSIGNER, 32);
    assert_memory_equal(cs_claims_find(&claims, "attributes")->bytes, q + ATTRIBUTES, 16);
    assert_non_null(cs_claims_find(&claims, "isvprodid"));
    assert_int_equal(cs_claims_find(&claims, "isvsvn")->u64, claims.security_version);
    assert_int_equal(cs_claims_find(&claims, "qe_svn")->u64, 10);  /* PROVENANCE: QE SVN 10 */
    assert_int_equal(cs_claims_find(&claims, "pce_svn")->u64, 13); /* PCK cert PCESVN 13 */
    assert_string_equal(cs_claims_find(&claims, "qe_tcb_status")->str, "UpToDate");
    assert_string_equal(cs_claims_find(&claims, "tcb_date")->str, "2024-03-13T00:00:00Z");
    const uint8_t fmspc[6] = {0x00, 0xa0, 0x67, 0x11, 0x00, 0x00};
    assert_memory_equal(cs_claims_find(&claims, "fmspc")->bytes, fmspc, 6);
    cs_evidence_cleanup(&ev);
}

static void policy_decides_on_the_tcb_status(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_SGX, PHALA_QUOTE, dt_phala_sgx_collateral, NULL);
    cst_ok(dt_verify(&ev, PHALA_NOW, &claims));
    cs_policy p;
    cs_policy_init(&p);
    cst_fails(cs_policy_check(&p, &claims), CONSORT_E_POLICY);
    dt_assert_msg("ConfigurationAndSWHardeningNeeded");

    const char status_only[] = "{\"tcb_status\": [\"UpToDate\", "
                               "\"ConfigurationAndSWHardeningNeeded\"]}";
    cst_ok(cs_policy_parse_json(CS_SLICE_LIT(status_only), &p));
    cst_fails(cs_policy_check(&p, &claims), CONSORT_E_POLICY);
    dt_assert_msg("INTEL-SA-00289");

    const char both[] = "{\"tcb_status\": [\"UpToDate\", \"ConfigurationAndSWHardeningNeeded\"],"
                        " \"allowed_advisories\": [\"INTEL-SA-00289\", \"INTEL-SA-00615\"]}";
    cst_ok(cs_policy_parse_json(CS_SLICE_LIT(both), &p));
    cst_ok(cs_policy_check(&p, &claims));
    cs_evidence_cleanup(&ev);
}

static void occlum_without_collateral_reports_it_missing(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_SGX, OCCLUM_QUOTE, NULL, NULL);
    cst_fails(dt_verify(&ev, PHALA_NOW, &claims), CONSORT_E_COLLATERAL_MISSING);
    dt_assert_msg("quote signatures, QE report and PCK certificate chain verified");
    dt_assert_msg("PCK CRL issued by 'C=US,ST=CA,L=Santa Clara,O=Intel Corporation,CN=Intel "
                  "SGX PCK Platform CA'");
    dt_assert_msg("Root CA CRL");
    dt_assert_msg("SGX TCB info for FMSPC 00606a000000");
    dt_assert_msg("QE identity \"QE\"");

    /* what was established along the way */
    cs_dcap_result r;
    cst_fails(cs_dcap_verify(cs_buf_slice(&ev.evidence), &ev.endorsements, CS_DCAP_TEE_SGX,
                             dt_time(PHALA_NOW), &r),
              CONSORT_E_COLLATERAL_MISSING);
    assert_false(r.collateral_checked);
    assert_int_equal(r.quote.len, 4733);
    assert_int_equal(r.quote.sgx.mrenclave[0], 0x8f);
    assert_int_equal(r.quote.sgx.mrsigner[0], 0x83);
    assert_memory_equal(r.quote.sgx.report_data, "test", 4);
    assert_int_equal(r.pck.pcesvn, 11);
    assert_int_equal(r.quote.qe.isvsvn, 8);

    /* the chain is still checked: after the PCK certificate expired it fails */
    cst_fails(dt_verify(&ev, "2031-01-01T00:00:00Z", &claims), CONSORT_E_EXPIRED);
    /* and a flipped quote signature is caught before anything else */
    dt_flip(&ev.evidence, SIG + 9, 3);
    cst_fails(dt_verify(&ev, PHALA_NOW, &claims), CONSORT_E_BAD_SIGNATURE);
    cs_evidence_cleanup(&ev);
}

static void pinned_root_is_the_intel_sgx_root_ca(void **state)
{
    (void)state;
    static const char want_hex[] =
        "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";
    cs_x509 *pinned = NULL, *given = NULL;
    cst_ok(cs_x509_from_der(cs_dcap_root_der(), &pinned));
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_read_testdata("sgx-dcap/common/intel_sgx_root_ca.der", &b);
    cst_ok(cs_x509_from_der(cs_buf_slice(&b), &given));
    uint8_t fp_pinned[32], fp_given[32];
    char hex[65];
    cst_ok(cs_x509_fingerprint(pinned, fp_pinned));
    cst_ok(cs_x509_fingerprint(given, fp_given));
    assert_memory_equal(fp_pinned, fp_given, 32);
    cs_hex_encode(CS_SLICE(fp_pinned, 32), hex);
    assert_string_equal(hex, want_hex);
    assert_true(cs_x509_is_self_signed(pinned));
    cs_x509_free(pinned);
    cs_x509_free(given);
    cs_buf_cleanup(&b);
}

/* A chain that ends at a root other than the pinned one is refused. */
static void foreign_root_is_not_trusted(void **state)
{
    (void)state;
    cs_key *key = NULL;
    cs_x509 *fake_root = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &key));
    cs_x509_params params = {.subject_cn = "Intel SGX Root CA",
                             .subject_org = "Intel Corporation",
                             .not_before = dt_time("2018-01-01T00:00:00Z"),
                             .not_after = dt_time("2049-01-01T00:00:00Z"),
                             .is_ca = true};
    cst_ok(cs_x509_create(&params, key, key, NULL, &fake_root));
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(fake_root, &pem));
    /* the impostor root comes along as an endorsement: it is only ever a
     * candidate intermediate, so the real chain still decides */
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_SGX, PHALA_QUOTE, dt_phala_sgx_collateral, NULL);
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&pem)));
    cst_ok(dt_verify(&ev, PHALA_NOW, &claims));
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&pem);
    cs_x509_free(fake_root);
    cs_key_free(key);
}

static void truncation_at_every_length_fails(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_SGX, PHALA_QUOTE, dt_phala_sgx_collateral, NULL);
    size_t full = ev.evidence.len;
    cs_dcap_quote q;
    for (size_t len = 0; len < full; len++) {
        consort_err rc = cs_dcap_quote_parse(CS_SLICE(ev.evidence.ptr, len), &q);
        if (rc != CONSORT_E_TRUNCATED)
            fail_msg("prefix of %zu bytes: %s (%s)", len, consort_err_name(rc), consort_errmsg());
    }
    for (size_t len = 0; len < full; len += 5) {
        ev.evidence.len = len;
        cst_fails(dt_verify(&ev, PHALA_NOW, &claims), CONSORT_E_TRUNCATED);
    }
    cs_evidence_cleanup(&ev);
}

static void wrong_header_fields_fail(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_read_testdata(PHALA_QUOTE, &b);
    cs_dcap_quote q;
    cst_ok(cs_dcap_quote_parse(cs_buf_slice(&b), &q));
    assert_int_equal(q.version, 3);
    assert_int_equal(q.qe_svn, 10);
    assert_int_equal(q.pce_svn, 15); /* PROVENANCE: QE SVN 10, PCE SVN 15 */
    assert_int_equal(q.len, 4600);
    b.ptr[0] = 4; /* v4 must be TDX */
    cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_UNSUPPORTED);
    b.ptr[0] = 2;
    cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_UNSUPPORTED);
    b.ptr[0] = 3;
    b.ptr[2] = 3; /* ECDSA-384-with-P-384 */
    cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_UNSUPPORTED);
    b.ptr[2] = 2;
    b.ptr[4] = 0x81; /* v3 must be SGX */
    cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_UNSUPPORTED);
    b.ptr[4] = 0;
    /* certification data type 5 -> 4 */
    size_t type_off = QE_AUTH + 32;
    assert_int_equal(b.ptr[type_off], 5);
    b.ptr[type_off] = 4;
    cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_UNSUPPORTED);
    b.ptr[type_off] = 5;
    cst_ok(cs_dcap_quote_parse(cs_buf_slice(&b), &q));
    /* the certification data may not run past the signature data */
    b.ptr[type_off + 2]++;
    cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_TRUNCATED);
    b.ptr[type_off + 2]--;
    /* nor may the signature data hold a byte after it */
    cst_ok(cs_buf_append_u8(&b, 0));
    b.ptr[SIGDATA - 4]++;
    cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_TRAILING_DATA);
    cs_buf_cleanup(&b);

    /* an SGX quote offered as TDX evidence */
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_sgx_collateral, NULL);
    cst_fails(dt_verify(&ev, PHALA_NOW, &claims), CONSORT_E_UNSUPPORTED);
    cs_evidence_cleanup(&ev);
}

static void flip_expect(size_t off, unsigned bit, consort_err code, const char *msg)
{
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_SGX, PHALA_QUOTE, dt_phala_sgx_collateral, NULL);
    dt_flip(&ev.evidence, off, bit);
    consort_err rc = dt_verify(&ev, PHALA_NOW, &claims);
    if (rc != code)
        fail_msg("flip at %zu bit %u: %s (%s), expected %s", off, bit, consort_err_name(rc),
                 consort_errmsg(), consort_err_name(code));
    if (msg != NULL)
        dt_assert_msg(msg);
    cs_evidence_cleanup(&ev);
}

static void single_bit_flips_fail(void **state)
{
    (void)state;
    flip_expect(8, 0, CONSORT_E_BAD_SIGNATURE, "quote signature");  /* header: QE SVN */
    flip_expect(40, 5, CONSORT_E_BAD_SIGNATURE, "quote signature"); /* header: user data */
    flip_expect(MRENCLAVE, 0, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_expect(MRSIGNER + 31, 7, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_expect(ATTRIBUTES, 1, CONSORT_E_BAD_SIGNATURE, "quote signature"); /* DEBUG on */
    flip_expect(REPORTDATA + 63, 0, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_expect(SIG, 7, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_expect(SIG + 63, 0, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_expect(ATTKEY, 0, CONSORT_E_BAD_SIGNATURE, NULL);
    flip_expect(ATTKEY + 40, 2, CONSORT_E_BAD_SIGNATURE, NULL);
    flip_expect(QE_REPORT, 0, CONSORT_E_BAD_SIGNATURE, "QE report signature");
    flip_expect(QE_REPORT + 383, 0, CONSORT_E_BAD_SIGNATURE, "QE report signature");
    flip_expect(QE_SIG + 32, 0, CONSORT_E_BAD_SIGNATURE, "QE report signature");
    flip_expect(QE_AUTH + 5, 1, CONSORT_E_ATTESTATION, "QE report data");
    flip_expect(QE_AUTH - 2, 0, CONSORT_E_UNSUPPORTED, NULL); /* auth length 33: type mis-read */
}

/* A flipped QE identity body fails its signature; a flipped TCB info too. */
static void flipped_signed_collateral_fails(void **state)
{
    (void)state;
    const char *const files[] = {DT_PHALA_SGX "derived_tcb_info.json",
                                 DT_PHALA_SGX "derived_qe_identity.json"};
    const char *const needles[] = {"\"pcesvn\":13", "\"isvprodid\":1"};
    for (size_t i = 0; i < 2; i++) {
        cs_evidence ev;
        cs_claims claims;
        dt_evidence(&ev, CS_PLATFORM_SGX, PHALA_QUOTE, dt_phala_sgx_collateral, files[i]);
        cs_buf doc;
        cs_buf_init(&doc, 0);
        cst_read_testdata(files[i], &doc);
        dt_flip(&doc, dt_find(&doc, needles[i]) + strlen(needles[i]) - 1, 1); /* 3->1, 1->3 */
        cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&doc)));
        cst_fails(dt_verify(&ev, PHALA_NOW, &claims), CONSORT_E_BAD_SIGNATURE);
        dt_assert_msg(i == 0 ? "TCB info" : "QE identity");
        cs_buf_cleanup(&doc);
        cs_evidence_cleanup(&ev);
    }
}

/* Every allocation on the verification path may fail: NOMEM, no leak. */
static void allocation_failures_are_clean(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_SGX, PHALA_QUOTE, dt_phala_sgx_collateral, NULL);
    cst_alloc_install();
    cst_alloc_reset_count();
    long live = cst_alloc_live();
    cst_ok(dt_verify(&ev, PHALA_NOW, &claims));
    long total = cst_alloc_count();
    assert_true(total > 0);
    for (long n = 0; n < total; n++) {
        cst_alloc_fail_after(n);
        consort_err rc = dt_verify(&ev, PHALA_NOW, &claims);
        cst_alloc_fail_after(-1);
        if (rc != CONSORT_E_NOMEM)
            fail_msg("allocation %ld failing: %s (%s)", n, consort_err_name(rc), consort_errmsg());
        assert_int_equal(cst_alloc_live(), live);
    }
    cst_alloc_uninstall();
    cs_evidence_cleanup(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(phala_sgx_needs_configuration_and_sw_hardening),
        cmocka_unit_test(policy_decides_on_the_tcb_status),
        cmocka_unit_test(occlum_without_collateral_reports_it_missing),
        cmocka_unit_test(pinned_root_is_the_intel_sgx_root_ca),
        cmocka_unit_test(foreign_root_is_not_trusted),
        cmocka_unit_test(truncation_at_every_length_fails),
        cmocka_unit_test(wrong_header_fields_fail),
        cmocka_unit_test(single_bit_flips_fail),
        cmocka_unit_test(flipped_signed_collateral_fails),
        cmocka_unit_test(allocation_failures_are_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
