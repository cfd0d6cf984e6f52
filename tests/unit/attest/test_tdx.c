/*
 * The "tdx" verifier on real quotes (../shared/testdata/tdx/PROVENANCE.md):
 * Phala's v4 quote is UpToDate at 2025-06-20, go-tdx-guest's SPR quote
 * matches no TCB level at 2023-06-20, the v5 quote is handled as far as its
 * collateral allows; every structural change, bit flip and truncation fails.
 */
#include "dcap_test.h"

#include "attest/dcap_tcb.h"
#include "attest/policy.h"
#include "crypto/asn1_sgx.h"

#define PHALA_QUOTE DT_PHALA_TDX "tdx_quote_v4.dat"
#define SPR_QUOTE   DT_GO_TDX "tdx_prod_quote_SPR_E4.dat"
#define V5_QUOTE    DT_GO_TDX "quote_v5_sample.dat"
#define PHALA_NOW   "2025-06-20T00:00:00Z"

/* Offsets in a v4 quote: header 48, then the TD report body. */
#define BODY       48
#define MRTD       (BODY + 136)
#define MRCONFIGID (BODY + 184)
#define TD_ATTR    (BODY + 120)
#define REPORTDATA (BODY + 520)
#define SIGDATA    (BODY + 584 + 4)
#define SIG        SIGDATA
#define ATTKEY     (SIGDATA + 64)
#define QE_REPORT  (SIGDATA + 128 + 6)
#define QE_SIG     (QE_REPORT + 384)
#define QE_AUTH    (QE_SIG + 64 + 2)

static void phala_v4_is_up_to_date(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_tdx_collateral, NULL);
    cst_ok(dt_verify(&ev, PHALA_NOW, &claims));
    assert_int_equal(claims.platform, CS_PLATFORM_TDX);
    assert_string_equal(claims.tcb_status, "UpToDate");
    assert_int_equal(claims.advisory_count, 0);
    /* code id = SHA-256(MRTD || MRCONFIGID), computed here from the raw bytes */
    uint8_t want[32];
    cs_slice parts[2] = {CS_SLICE(ev.evidence.ptr + MRTD, 48),
                         CS_SLICE(ev.evidence.ptr + MRCONFIGID, 48)};
    cs_sha256_parts(parts, 2, want);
    assert_memory_equal(claims.code_id, want, 32);
    assert_memory_equal(claims.report_data, ev.evidence.ptr + REPORTDATA, 64);
    assert_int_equal(claims.debug, (ev.evidence.ptr[TD_ATTR] & 1) != 0);
    const cs_claim *mrtd = cs_claims_find(&claims, "mrtd");
    assert_non_null(mrtd);
    assert_int_equal(mrtd->len, 48);
    assert_memory_equal(mrtd->bytes, ev.evidence.ptr + MRTD, 48);
    for (const char *const *n =
             (const char *const[]){"rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrconfigid", "mrowner",
                                   "mrownerconfig", "tee_tcb_svn", "td_attributes", "xfam",
                                   "mrseam", "report_data", NULL};
         *n != NULL; n++)
        assert_non_null(cs_claims_find(&claims, *n));
    const cs_claim *svn = cs_claims_find(&claims, "tee_tcb_svn");
    const uint8_t want_svn[4] = {0x06, 0x01, 0x03, 0x00}; /* PROVENANCE: 06 01 03 00... */
    assert_memory_equal(svn->bytes, want_svn, 4);
    const cs_claim *fmspc = cs_claims_find(&claims, "fmspc");
    const uint8_t want_fmspc[6] = {0xb0, 0xc0, 0x6f, 0x00, 0x00, 0x00};
    assert_memory_equal(fmspc->bytes, want_fmspc, 6);
    assert_string_equal(cs_claims_find(&claims, "tdx_module")->str, "TDX_01");

    /* the default policy accepts an UpToDate TD that is not debuggable */
    cs_policy policy;
    cs_policy_init(&policy);
    assert_false(claims.debug); /* TD_ATTRIBUTES 00 00 00 10 ...: DEBUG clear */
    cst_ok(cs_policy_check(&policy, &claims));
    cs_evidence_cleanup(&ev);
}

static void phala_v4_quote_length_comes_from_its_fields(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_read_testdata(PHALA_QUOTE, &b);
    assert_int_equal(b.len, 5006);
    cs_dcap_quote q;
    cst_ok(cs_dcap_quote_parse(cs_buf_slice(&b), &q));
    assert_int_equal(q.len, 4936); /* PROVENANCE: 4936 bytes then 70 bytes of padding */
    assert_int_equal(q.version, 4);
    assert_int_equal(q.tee_type, CS_DCAP_TEE_TDX);
    assert_int_equal(q.body_type, CS_DCAP_BODY_TD10);
    assert_int_equal(q.signed_data.len, 48 + 584);
    assert_int_equal(q.qe_auth_data.len, 32);
    assert_int_equal(q.qe.isvsvn, 6);
    assert_false(q.td.td15);
    /* exactly the quote proper, without the padding, also verifies */
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_tdx_collateral, NULL);
    ev.evidence.len = q.len;
    cst_ok(dt_verify(&ev, PHALA_NOW, &claims));
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&b);
}

static void spr_quote_matches_no_tcb_level(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_TDX, SPR_QUOTE, dt_go_tdx_collateral, NULL);
    cst_fails(dt_verify(&ev, "2023-06-20T00:00:00Z", &claims), CONSORT_E_TCB);
    dt_assert_msg("no TCB level");
    dt_assert_msg("03030202020100020000000000000000");
    cs_evidence_cleanup(&ev);
}

/*
 * The v5 quote (TD 1.5 body) has collateral only in part: its TCB info
 * (eval 18, 2026-02-01..2026-03-03, signed by the re-issued TCB Signing
 * certificate), no CRL current in 2026 and no eval-18 QE identity. So the
 * verifier checks the signatures, the QE report, the chain and the TCB info
 * and reports the rest as missing; the TCB evaluation itself is then run
 * directly with the eval-15 TD_QE identity (which matches this QE).
 */
static void v5_quote_verified_as_far_as_collateral_allows(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    cs_evidence_init(&ev);
    ev.platform = CS_PLATFORM_TDX;
    cst_read_testdata(V5_QUOTE, &ev.evidence);
    const char *const given[] = {DT_GO_TDX "sample_tcbinfo_response_v5",
                                 DT_PHALA_TDX "derived_tcb_info_issuer_chain.pem", NULL};
    dt_add_files(&ev.endorsements, given, NULL);
    cst_fails(dt_verify(&ev, "2026-02-03T00:00:00Z", &claims), CONSORT_E_COLLATERAL_MISSING);
    dt_assert_msg("PCK certificate chain verified");
    dt_assert_msg("PCK CRL");
    dt_assert_msg("Root CA CRL");
    dt_assert_msg("QE identity \"TD_QE\"");
    /* the TCB info was found and checked: it is not among the missing */
    assert_false(dt_msg_has("TCB info"));

    cs_dcap_quote q;
    cst_ok(cs_dcap_quote_parse(cs_buf_slice(&ev.evidence), &q));
    assert_int_equal(q.version, 5);
    assert_int_equal(q.body_type, CS_DCAP_BODY_TD15);
    assert_int_equal(q.len, 5006);
    assert_int_equal(q.signed_data.len, 48 + 6 + 648);
    assert_true(q.td.td15);
    const uint8_t svn2[3] = {0x0d, 0x01, 0x04};
    assert_memory_equal(q.td.tee_tcb_svn2, svn2, 3);

    /* the PCK extension, the TCB info and the eval-15 TD_QE identity */
    cs_x509 **certs = NULL;
    size_t n = 0;
    cst_ok(cs_x509_parse_all(q.pck_chain, &certs, &n));
    cs_slice ext;
    cs_sgx_pck_ext pck;
    cst_ok(cs_x509_extension(certs[0], CS_SGX_EXT_OID, &ext));
    cst_ok(cs_asn1_sgx_parse(ext, &pck));
    const uint8_t fmspc[6] = {0x90, 0xc0, 0x6f, 0x00, 0x00, 0x00};
    assert_memory_equal(pck.fmspc, fmspc, 6);
    cs_dcap_collateral coll;
    cs_dcap_collateral_init(&coll);
    cs_blob_list docs;
    cs_blob_list_init(&docs);
    const char *const files[] = {DT_GO_TDX "sample_tcbinfo_response_v5",
                                 DT_GO_TDX "sample_qeIdentity_response", NULL};
    dt_add_files(&docs, files, NULL);
    cst_ok(cs_dcap_collateral_load(&coll, &docs));
    assert_int_equal(coll.tcb_info_count, 1);
    assert_int_equal(coll.qe_id_count, 1);
    const cs_dcap_svn_level *qe = NULL;
    cst_ok(cs_dcap_qe_identity_match(&coll.qe_ids[0], &q.qe, &qe));
    assert_int_equal(qe->status, CS_DCAP_UP_TO_DATE);
    cs_dcap_tcb_eval e;
    cst_ok(cs_dcap_tcb_evaluate(&coll.tcb_infos[0], &pck, &q.td, qe, &e));
    /* PROVENANCE: UpToDate, tcbDate 2024-11-13 */
    assert_int_equal(e.status, CS_DCAP_UP_TO_DATE);
    assert_string_equal(e.tcb_date, "2024-11-13T00:00:00Z");
    assert_string_equal(e.module_id, "TDX_01");
    assert_int_equal(e.module_level->isvsvn, 6);

    cs_dcap_collateral_cleanup(&coll);
    cs_blob_list_cleanup(&docs);
    cs_x509_list_free(certs, n);
    cs_evidence_cleanup(&ev);
}

/*
 * The TDX rules of the TCB evaluation, on the v5 quote's real values and
 * its eval-18 TCB info, with single fields of the parsed report changed
 * (cs_dcap_tcb_evaluate is a pure function; the quote's signature is not
 * involved here).
 */
static void tdx_tcb_evaluation_rules(void **state)
{
    (void)state;
    cs_buf quote;
    cs_buf_init(&quote, 0);
    cst_read_testdata(V5_QUOTE, &quote);
    cs_dcap_quote q;
    cst_ok(cs_dcap_quote_parse(cs_buf_slice(&quote), &q));
    cs_x509 **certs = NULL;
    size_t n = 0;
    cs_slice ext;
    cs_sgx_pck_ext pck;
    cst_ok(cs_x509_parse_all(q.pck_chain, &certs, &n));
    cst_ok(cs_x509_extension(certs[0], CS_SGX_EXT_OID, &ext));
    cst_ok(cs_asn1_sgx_parse(ext, &pck));
    cs_blob_list docs;
    cs_blob_list_init(&docs);
    const char *const files[] = {DT_GO_TDX "sample_tcbinfo_response_v5", NULL};
    dt_add_files(&docs, files, NULL);
    cs_dcap_collateral coll;
    cs_dcap_collateral_init(&coll);
    cst_ok(cs_dcap_collateral_load(&coll, &docs));
    cs_dcap_tcb_info *t = &coll.tcb_infos[0];
    const cs_dcap_svn_level qe = {.isvsvn = 4, .status = CS_DCAP_UP_TO_DATE};
    cs_dcap_tcb_eval e;
    cs_td_report td = q.td; /* TEE_TCB_SVN 0b 01 04, TEE_TCB_SVN_2 0d 01 04 */

    cst_ok(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_UP_TO_DATE);

    /* TDX module ISVSVN 4: TDX_01 says OutOfDate; a TD 1.5 whose SVNs after a
     * relaunch (TEE_TCB_SVN_2) reach the latest level is told to relaunch */
    td.tee_tcb_svn[0] = 4;
    cst_ok(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_TD_RELAUNCH_ADVISED);
    assert_string_equal(e.adv.id[0], "INTEL-SA-01036"); /* the module level's advisories */
    td.tee_tcb_svn2[0] = 5;                             /* a relaunch would not help */
    cst_ok(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_OUT_OF_DATE);
    td.td15 = false; /* TD 1.0: no relaunch rule */
    td.tee_tcb_svn2[0] = 0x0d;
    cst_ok(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_OUT_OF_DATE);
    /* an out-of-date QE forbids the relaunch advice too */
    td = q.td;
    td.tee_tcb_svn[0] = 4;
    const cs_dcap_svn_level old_qe = {.isvsvn = 1, .status = CS_DCAP_OUT_OF_DATE};
    cst_ok(cs_dcap_tcb_evaluate(t, &pck, &td, &old_qe, &e));
    assert_int_equal(e.status, CS_DCAP_OUT_OF_DATE);

    /* TEE_TCB_SVN[2] 2: the second level, OutOfDate with its advisories */
    td = q.td;
    td.tee_tcb_svn[2] = 2;
    cst_ok(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_OUT_OF_DATE);
    assert_int_equal(e.adv.count, 5);
    /* below every level */
    td.tee_tcb_svn[2] = 1;
    cst_fails(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e), CONSORT_E_TCB);
    dt_assert_msg("TEE_TCB_SVN");
    /* a module version with no identity, a foreign module signer, SEAM attributes */
    td = q.td;
    td.tee_tcb_svn[1] = 9;
    cst_fails(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e), CONSORT_E_TCB);
    dt_assert_msg("TDX_09");
    td = q.td;
    td.mrsignerseam[47] ^= 1;
    cst_fails(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e), CONSORT_E_TCB);
    dt_assert_msg("MRSIGNERSEAM");
    td = q.td;
    td.seam_attributes[3] = 0x80;
    cst_fails(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e), CONSORT_E_TCB);
    dt_assert_msg("SEAMATTRIBUTES");
    /* module ISVSVN below every TDX_01 level */
    td = q.td;
    td.tee_tcb_svn[0] = 1;
    cst_fails(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e), CONSORT_E_TCB);
    /* a TDX 1.0 module (TEE_TCB_SVN[1] = 0): all 16 bytes against the level */
    td = q.td;
    td.tee_tcb_svn[1] = 0;
    cst_ok(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_UP_TO_DATE);
    assert_string_equal(e.module_id, "");
    td.tee_tcb_svn[0] = 4; /* below every level's 5: byte 0 now counts */
    cst_fails(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e), CONSORT_E_TCB);
    /* a Revoked level or QE makes the whole verdict Revoked */
    td = q.td;
    t->levels[0].status = CS_DCAP_REVOKED;
    cst_ok(cs_dcap_tcb_evaluate(t, &pck, &td, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_REVOKED);
    t->levels[0].status = CS_DCAP_UP_TO_DATE;
    const cs_dcap_svn_level revoked_qe = {.isvsvn = 4, .status = CS_DCAP_REVOKED};
    cst_ok(cs_dcap_tcb_evaluate(t, &pck, &td, &revoked_qe, &e));
    assert_int_equal(e.status, CS_DCAP_REVOKED);

    cs_dcap_collateral_cleanup(&coll);
    cs_blob_list_cleanup(&docs);
    cs_x509_list_free(certs, n);
    cs_buf_cleanup(&quote);
}

/* Every prefix of the quote proper is rejected, by the parser and the verifier. */
static void truncation_at_every_length_fails(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_tdx_collateral, NULL);
    cs_dcap_quote q;
    cst_ok(cs_dcap_quote_parse(cs_buf_slice(&ev.evidence), &q));
    size_t full = q.len;
    for (size_t len = 0; len < full; len++) {
        consort_err rc = cs_dcap_quote_parse(CS_SLICE(ev.evidence.ptr, len), &q);
        if (rc != CONSORT_E_TRUNCATED)
            fail_msg("prefix of %zu bytes: %s (%s)", len, consort_err_name(rc), consort_errmsg());
    }
    for (size_t len = 0; len < full; len += 7) {
        ev.evidence.len = len;
        cst_fails(dt_verify(&ev, PHALA_NOW, &claims), CONSORT_E_TRUNCATED);
    }
    cs_evidence_cleanup(&ev);
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wrong_version_key_type_tee_type_fail(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_read_testdata(PHALA_QUOTE, &b);
    cs_dcap_quote q;
    const uint16_t versions[] = {0, 1, 2, 3, 6, 0xffff};
    for (size_t i = 0; i < CS_ARRAY_LEN(versions); i++) {
        put_le16(b.ptr, versions[i]);
        cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_UNSUPPORTED);
    }
    put_le16(b.ptr, 4);
    const uint16_t key_types[] = {0, 1, 3, 0xffff};
    for (size_t i = 0; i < CS_ARRAY_LEN(key_types); i++) {
        put_le16(b.ptr + 2, key_types[i]);
        cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_UNSUPPORTED);
        dt_assert_msg("attestation key type");
    }
    put_le16(b.ptr + 2, 2);
    const uint8_t tee_types[] = {0x00, 0x01, 0x80, 0x82};
    for (size_t i = 0; i < CS_ARRAY_LEN(tee_types); i++) {
        b.ptr[4] = tee_types[i];
        cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_UNSUPPORTED);
        dt_assert_msg("TEE type");
    }
    b.ptr[4] = 0x81;
    b.ptr[12] ^= 1; /* QE vendor id */
    cst_fails(cs_dcap_quote_parse(cs_buf_slice(&b), &q), CONSORT_E_UNSUPPORTED);
    b.ptr[12] ^= 1;
    cst_ok(cs_dcap_quote_parse(cs_buf_slice(&b), &q));

    /* a TDX quote offered as SGX evidence */
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_SGX, PHALA_QUOTE, dt_phala_tdx_collateral, NULL);
    cst_fails(dt_verify(&ev, PHALA_NOW, &claims), CONSORT_E_UNSUPPORTED);
    dt_assert_msg("expected 0x00000000 (SGX)");
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&b);
}

/* Flips one bit at `off` in the quote and expects `code` from the verifier. */
static void flip_quote_expect(size_t off, unsigned bit, consort_err code, const char *msg)
{
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_tdx_collateral, NULL);
    dt_flip(&ev.evidence, off, bit);
    consort_err rc = dt_verify(&ev, PHALA_NOW, &claims);
    if (rc != code)
        fail_msg("flip at %zu bit %u: %s (%s), expected %s", off, bit, consort_err_name(rc),
                 consort_errmsg(), consort_err_name(code));
    if (msg != NULL)
        dt_assert_msg(msg);
    cs_evidence_cleanup(&ev);
}

static void single_bit_flips_in_the_quote_fail(void **state)
{
    (void)state;
    /* header: user data (signed) and the version (structure) */
    flip_quote_expect(30, 0, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_quote_expect(8, 3, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_quote_expect(0, 1, CONSORT_E_UNSUPPORTED, "version 6");
    flip_quote_expect(0, 0, CONSORT_E_UNSUPPORTED, "body type"); /* 4 -> 5 */
    /* body: MRTD, REPORTDATA, TEE_TCB_SVN */
    flip_quote_expect(MRTD + 5, 7, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_quote_expect(REPORTDATA, 0, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_quote_expect(BODY, 1, CONSORT_E_BAD_SIGNATURE, "quote signature");
    /* attestation signature r and s */
    flip_quote_expect(SIG + 3, 2, CONSORT_E_BAD_SIGNATURE, "quote signature");
    flip_quote_expect(SIG + 40, 0, CONSORT_E_BAD_SIGNATURE, "quote signature");
    /* attestation key: no longer a point, or a point that did not sign */
    flip_quote_expect(ATTKEY + 10, 0, CONSORT_E_BAD_SIGNATURE, NULL);
    flip_quote_expect(ATTKEY + 63, 0, CONSORT_E_BAD_SIGNATURE, NULL);
    /* QE report (MRSIGNER, ISVSVN, report data) and its signature */
    flip_quote_expect(QE_REPORT + 128, 0, CONSORT_E_BAD_SIGNATURE, "QE report signature");
    flip_quote_expect(QE_REPORT + 258, 0, CONSORT_E_BAD_SIGNATURE, "QE report signature");
    flip_quote_expect(QE_REPORT + 320, 4, CONSORT_E_BAD_SIGNATURE, "QE report signature");
    flip_quote_expect(QE_SIG + 1, 6, CONSORT_E_BAD_SIGNATURE, "QE report signature");
    flip_quote_expect(QE_SIG + 63, 0, CONSORT_E_BAD_SIGNATURE, "QE report signature");
    /* QE auth data: no longer bound by the QE report data */
    flip_quote_expect(QE_AUTH, 0, CONSORT_E_ATTESTATION, "QE report data");
    flip_quote_expect(QE_AUTH + 31, 7, CONSORT_E_ATTESTATION, "QE report data");
    /* length fields */
    flip_quote_expect(SIGDATA - 4, 0, CONSORT_E_TRAILING_DATA, "signature data");
    flip_quote_expect(SIGDATA - 4 + 1, 4, CONSORT_E_TRUNCATED, NULL);
}

/*
 * A bit flip inside the PCK leaf certificate (its base64 text in the quote):
 * wherever it lands the quote fails, as unparsable, as a certificate that
 * does not verify, or as a key that did not sign the QE report.
 */
static void bit_flips_in_the_pck_certificate_fail(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_read_testdata(PHALA_QUOTE, &b);
    size_t start = dt_find(&b, "-----BEGIN CERTIFICATE-----") + 28;
    cs_buf_cleanup(&b);
    /* 40 spots over the first certificate's ~1200 base64 characters */
    for (size_t i = 0; i < 40; i++) {
        size_t off = start + 5 + i * 29;
        cs_evidence ev;
        cs_claims claims;
        dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_tdx_collateral, NULL);
        uint8_t *ch = &ev.evidence.ptr[off];
        if (*ch == '\n')
            ch++;
        /* a base64 character swapped for another base64 character */
        *ch = (uint8_t)(*ch == 'A' ? 'B' : (*ch == 'B' ? 'A' : (*ch ^ 1)));
        if (*ch == '/' || *ch == '+' || *ch == '.' || *ch == ',')
            *ch = 'Q';
        consort_err rc = dt_verify(&ev, PHALA_NOW, &claims);
        if (rc != CONSORT_E_MALFORMED && rc != CONSORT_E_BAD_CERTIFICATE &&
            rc != CONSORT_E_BAD_SIGNATURE && rc != CONSORT_E_TRAILING_DATA)
            fail_msg("flip at %zu: %s (%s)", off, consort_err_name(rc), consort_errmsg());
        cs_evidence_cleanup(&ev);
    }
}

/* Flips one bit in a collateral file (by substring) and expects `code`. */
static void flip_collateral_expect(const char *file, const char *needle, size_t delta, unsigned bit,
                                   consort_err code, const char *msg)
{
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_tdx_collateral, file);
    cs_buf doc;
    cs_buf_init(&doc, 0);
    cst_read_testdata(file, &doc);
    dt_flip(&doc, dt_find(&doc, needle) + delta, bit);
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&doc)));
    consort_err rc = dt_verify(&ev, PHALA_NOW, &claims);
    if (rc != code)
        fail_msg("%s flip: %s (%s), expected %s", file, consort_err_name(rc), consort_errmsg(),
                 consort_err_name(code));
    if (msg != NULL)
        dt_assert_msg(msg);
    cs_buf_cleanup(&doc);
    cs_evidence_cleanup(&ev);
}

static void bit_flips_in_signed_collateral_fail(void **state)
{
    (void)state;
    const char *tcb = DT_PHALA_TDX "derived_tcb_info.json";
    const char *qe = DT_PHALA_TDX "derived_qe_identity.json";
    /* "2025-06-19T10:16:03Z" -> "...10:16:02Z": still valid JSON and dates */
    flip_collateral_expect(tcb, "10:16:03Z\",\"nextUpdate", 7, 0, CONSORT_E_BAD_SIGNATURE,
                           "TCB info");
    /* a TCB level's status: UpToDate -> UpToDatd */
    flip_collateral_expect(tcb, "\"tcbStatus\":\"UpToDate\"", 20, 0, CONSORT_E_MALFORMED,
                           "tcbStatus");
    /* a component SVN 3 -> 2 */
    flip_collateral_expect(tcb, "{\"svn\":3", 7, 0, CONSORT_E_BAD_SIGNATURE, "TCB info");
    /* the signature itself (first hex digit after "signature":") */
    flip_collateral_expect(tcb, "\"signature\":\"", 13, 0, CONSORT_E_BAD_SIGNATURE, "TCB info");
    flip_collateral_expect(qe, "\"isvprodid\":2", 12, 0, CONSORT_E_BAD_SIGNATURE, "QE identity");
    flip_collateral_expect(qe, "DC9E2A7C", 0, 0, CONSORT_E_BAD_SIGNATURE, "QE identity");
    flip_collateral_expect(qe, "\"signature\":\"", 20, 0, CONSORT_E_BAD_SIGNATURE, "QE identity");
}

static void expired_or_early_collateral_fails(void **state)
{
    (void)state;
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_tdx_collateral, NULL);
    /* after the PCK CRL's nextUpdate */
    cst_fails(dt_verify(&ev, "2025-07-25T00:00:00Z", &claims), CONSORT_E_EXPIRED);
    dt_assert_msg("PCK CRL");
    dt_assert_msg("nextUpdate 2025-07-19T10:00:35Z");
    /* before the QE identity was issued (the TCB info and the CRLs are current) */
    cst_fails(dt_verify(&ev, "2025-06-19T10:20:00Z", &claims), CONSORT_E_EXPIRED);
    dt_assert_msg("QE identity");
    dt_assert_msg("issueDate 2025-06-19T10:32:27Z");
    /* long before: the PCK certificate (2025-02-06..) is not yet valid */
    cst_fails(dt_verify(&ev, "2024-01-01T00:00:00Z", &claims), CONSORT_E_EXPIRED);
    cs_evidence_cleanup(&ev);

    /* without CRLs, the TCB info's own nextUpdate is what expires */
    dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_tdx_collateral, "crl");
    cst_fails(dt_verify(&ev, "2025-07-20T00:00:00Z", &claims), CONSORT_E_EXPIRED);
    dt_assert_msg("TCB info for FMSPC b0c06f000000 (eval 17) expired");
    dt_assert_msg("nextUpdate 2025-07-19T10:16:03Z");
    cs_evidence_cleanup(&ev);
}

/* Each collateral item left out in turn is reported, by name. */
static void missing_collateral_is_named(void **state)
{
    (void)state;
    const struct {
        const char *skip;
        consort_err code;
        const char *msg;
    } cases[] = {
        {"derived_tcb_info.json", CONSORT_E_COLLATERAL_MISSING,
         "TDX TCB info for FMSPC b0c06f000000"},
        {"derived_qe_identity.json", CONSORT_E_COLLATERAL_MISSING, "QE identity \"TD_QE\""},
        {"derived_pck_crl.der", CONSORT_E_COLLATERAL_MISSING, "PCK CRL issued by"},
        {"derived_root_ca_crl.der", CONSORT_E_COLLATERAL_MISSING, "Root CA CRL"},
        {"issuer_chain.pem", CONSORT_E_COLLATERAL_MISSING, "TCB Signing certificate"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        cs_evidence ev;
        cs_claims claims;
        dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_tdx_collateral, cases[i].skip);
        consort_err rc = dt_verify(&ev, PHALA_NOW, &claims);
        if (rc != cases[i].code)
            fail_msg("without %s: %s (%s)", cases[i].skip, consort_err_name(rc), consort_errmsg());
        dt_assert_msg(cases[i].msg);
        cs_evidence_cleanup(&ev);
    }
    /* SGX collateral for a TDX quote: nothing matches */
    cs_evidence ev;
    cs_claims claims;
    dt_evidence(&ev, CS_PLATFORM_TDX, PHALA_QUOTE, dt_phala_sgx_collateral, NULL);
    cst_fails(dt_verify(&ev, PHALA_NOW, &claims), CONSORT_E_COLLATERAL_MISSING);
    dt_assert_msg("TDX TCB info for FMSPC b0c06f000000");
    dt_assert_msg("QE identity \"TD_QE\"");
    cs_evidence_cleanup(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(phala_v4_is_up_to_date),
        cmocka_unit_test(phala_v4_quote_length_comes_from_its_fields),
        cmocka_unit_test(spr_quote_matches_no_tcb_level),
        cmocka_unit_test(v5_quote_verified_as_far_as_collateral_allows),
        cmocka_unit_test(tdx_tcb_evaluation_rules),
        cmocka_unit_test(truncation_at_every_length_fails),
        cmocka_unit_test(wrong_version_key_type_tee_type_fail),
        cmocka_unit_test(single_bit_flips_in_the_quote_fail),
        cmocka_unit_test(bit_flips_in_the_pck_certificate_fail),
        cmocka_unit_test(bit_flips_in_signed_collateral_fail),
        cmocka_unit_test(expired_or_early_collateral_fails),
        cmocka_unit_test(missing_collateral_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
