/*
 * SEV-SNP verifier on the real samples of ../shared/testdata/sev-snp:
 * pinned roots, report parsing (and its negative cases), every sample
 * verifying with its claims, policy on the debug guest, endorsement sorting,
 * and the mismatches (product, TCB, chip, key kind, time) a host could try.
 * Bit-flip sweeps are in test_snp_tamper.c.
 */
#include "snp_fixture.h"

#include "attest/policy.h"
#include "crypto/hash.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- pinned roots ---- */

/* The fingerprint PROVENANCE.md lists for ARK-<name> ("* ARK-Milan <hex>"). */
static void provenance_fingerprint(const char *name, uint8_t out[32])
{
    cs_buf doc;
    cst_read_testdata("sev-snp/PROVENANCE.md", &doc);
    cst_ok(cs_buf_append_u8(&doc, 0));
    char key[32];
    snprintf(key, sizeof key, "* ARK-%s ", name);
    const char *at = strstr((const char *)doc.ptr, key);
    assert_non_null(at);
    char hex[65];
    memcpy(hex, at + strlen(key), 64);
    hex[64] = '\0';
    cst_ok(cs_hex_decode(hex, out, 32));
    cs_buf_cleanup(&doc);
}

static void pinned_roots_match_provenance(void **state)
{
    (void)state;
    static const cs_snp_product products[] = {CS_SNP_PRODUCT_MILAN, CS_SNP_PRODUCT_GENOA,
                                              CS_SNP_PRODUCT_TURIN};
    for (size_t i = 0; i < CS_ARRAY_LEN(products); i++) {
        const char *name = cs_snp_product_name(products[i]);
        uint8_t want[32], got[32], file_fp[32];
        provenance_fingerprint(name, want);
        cs_x509 *root = NULL;
        cst_ok(cs_snp_root_load(products[i], &root));
        cst_ok(cs_x509_fingerprint(root, got));
        assert_memory_equal(got, want, 32);
        assert_true(cs_x509_is_self_signed(root));
        /* and it is the file in testdata, byte for byte */
        char rel[64];
        snprintf(rel, sizeof rel, "sev-snp/certs/ark_%c%s.pem", name[0] + ('a' - 'A'), name + 1);
        cs_x509 *file = NULL;
        cst_ok(cs_x509_load_file(cst_testdata_path(rel), &file));
        cst_ok(cs_x509_fingerprint(file, file_fp));
        assert_memory_equal(file_fp, want, 32);
        cs_x509_free(file);
        cs_x509_free(root);
    }
    cs_x509 *none = NULL;
    cst_fails(cs_snp_root_load(CS_SNP_PRODUCT_UNKNOWN, &none), CONSORT_E_NOT_FOUND);
    assert_null(cs_snp_root_pem(CS_SNP_PRODUCT_UNKNOWN));
}

/* ---- parsing ---- */

static void parse_sample(int i, cs_snp_report *r)
{
    cs_buf b;
    cst_read_testdata(snp_samples[i].report, &b);
    cst_ok(cs_snp_report_parse(cs_buf_slice(&b), r));
    cs_buf_cleanup(&b);
}

static void reports_parse_with_provenance_facts(void **state)
{
    (void)state;
    cs_snp_report r;
    parse_sample(SNP_GOSEVGUEST, &r);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.vmpl, 0);
    assert_int_equal(r.policy, 0xB0000);
    assert_int_equal(r.reported_tcb, 0x4405000000000002ULL);
    assert_int_equal(r.signing_key, CS_SNP_KEY_VCEK);
    const uint8_t rd[5] = {1, 2, 3, 4, 5};
    assert_memory_equal(r.report_data, rd, 5);
    assert_int_equal(r.report_data[5], 0);
    const uint8_t chip[4] = {0x3a, 0xc3, 0xfe, 0x21};
    assert_memory_equal(r.chip_id, chip, 4);
    assert_false(r.has_cpuid);

    parse_sample(SNP_TRUSTEE, &r);
    assert_int_equal(r.guest_svn, 4);
    assert_int_equal(r.policy, 0x3001F);
    assert_int_not_equal(r.current_tcb, r.reported_tcb);

    parse_sample(SNP_VLEK, &r);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.vmpl, 1);
    assert_int_equal(r.key_info, 0x4);
    assert_int_equal(r.signing_key, CS_SNP_KEY_VLEK);
    assert_true(r.has_cpuid);
    assert_int_equal(r.cpuid_fam_id, 0x19);
    assert_int_equal(r.cpuid_mod_id, 0x01);
    assert_int_equal(r.cpuid_step, 0x01);
    cs_snp_tcb tcb;
    cst_ok(cs_snp_tcb_decode(r.reported_tcb, CS_SNP_PRODUCT_MILAN, &tcb));
    assert_int_equal(tcb.bl, 4);
    assert_int_equal(tcb.tee, 0);
    assert_int_equal(tcb.snp, 24);
    assert_int_equal(tcb.ucode, 217);

    parse_sample(SNP_GENOA, &r);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.cpuid_fam_id, 0x19);
    assert_int_equal(r.cpuid_mod_id, 0x11);
    cst_ok(cs_snp_tcb_decode(r.reported_tcb, CS_SNP_PRODUCT_GENOA, &tcb));
    assert_int_equal(tcb.bl, 10);
    assert_int_equal(tcb.snp, 23);
    assert_int_equal(tcb.ucode, 84);
}

static void genoa_report_is_the_hcl_slice(void **state)
{
    (void)state;
    cs_buf hcl, rep;
    cst_read_testdata("sev-snp/genoa-v3-azure/hcl_report.bin", &hcl);
    cst_read_testdata(snp_samples[SNP_GENOA].report, &rep);
    assert_int_equal(rep.len, CS_SNP_REPORT_LEN);
    assert_true(hcl.len >= 0x4C0);
    assert_memory_equal(hcl.ptr + 0x20, rep.ptr, CS_SNP_REPORT_LEN);
    cs_buf_cleanup(&hcl);
    cs_buf_cleanup(&rep);
}

/* Parses `b` after setting the u32 at `off`; expects `code` and `msg` in the message. */
static void parse_with_u32(const cs_buf *orig, size_t off, uint32_t v, consort_err code,
                           const char *msg)
{
    uint8_t copy[CS_SNP_REPORT_LEN];
    memcpy(copy, orig->ptr, sizeof copy);
    for (size_t i = 0; i < 4; i++)
        copy[off + i] = (uint8_t)(v >> (8 * i));
    cs_snp_report r;
    cst_fails(cs_snp_report_parse(CS_SLICE(copy, sizeof copy), &r), code);
    if (strstr(consort_errmsg(), msg) == NULL)
        fail_msg("message '%s' lacks '%s'", consort_errmsg(), msg);
}

static void parser_rejects_malformed_reports(void **state)
{
    (void)state;
    cs_buf b;
    cst_read_testdata(snp_samples[SNP_VIRTEE].report, &b);
    cs_snp_report r;
    /* lengths */
    cst_fails(cs_snp_report_parse(CS_SLICE(b.ptr, b.len - 1), &r), CONSORT_E_TRUNCATED);
    assert_non_null(strstr(consort_errmsg(), "1183 bytes, expected exactly 1184"));
    cst_fails(cs_snp_report_parse(CS_SLICE_EMPTY, &r), CONSORT_E_TRUNCATED);
    cs_buf longer;
    cs_buf_init(&longer, 0);
    cst_ok(cs_buf_append_slice(&longer, cs_buf_slice(&b)));
    cst_ok(cs_buf_append_u8(&longer, 0));
    cst_fails(cs_snp_report_parse(cs_buf_slice(&longer), &r), CONSORT_E_TRAILING_DATA);
    assert_non_null(strstr(consort_errmsg(), "1 trailing bytes"));
    cs_buf_cleanup(&longer);
    /* versions, algorithm, KEY_INFO */
    parse_with_u32(&b, 0x00, 1, CONSORT_E_UNSUPPORTED, "version 1 unsupported, expected 2 or 3");
    parse_with_u32(&b, 0x00, 4, CONSORT_E_UNSUPPORTED, "version 4 unsupported");
    parse_with_u32(&b, 0x00, 0, CONSORT_E_UNSUPPORTED, "version 0 unsupported");
    parse_with_u32(&b, 0x34, 2, CONSORT_E_UNSUPPORTED,
                   "signature algorithm 2 unsupported, "
                   "expected 1");
    parse_with_u32(&b, 0x34, 0, CONSORT_E_UNSUPPORTED, "signature algorithm 0 unsupported");
    parse_with_u32(&b, 0x48, 2u << 2, CONSORT_E_UNSUPPORTED, "SIGNING_KEY 2 unsupported");
    parse_with_u32(&b, 0x48, 7u << 2, CONSORT_E_UNSUPPORTED, "SIGNING_KEY 7 unsupported");
    parse_with_u32(&b, 0x48, 1u << 5, CONSORT_E_MALFORMED, "reserved bits 31:5");
    parse_with_u32(&b, 0x08, 0x10000, CONSORT_E_MALFORMED, "reserved bit 17");
    /* reserved bytes and over-wide signature components */
    parse_with_u32(&b, 0x4C, 1, CONSORT_E_MALFORMED, "offset 0x04c");
    parse_with_u32(&b, 0x188, 1, CONSORT_E_MALFORMED, "offset 0x188"); /* CPUID only in v3 */
    parse_with_u32(&b, 0x1F8, 0x100, CONSORT_E_MALFORMED, "offset 0x1f9");
    parse_with_u32(&b, 0x2A0 + 48, 1, CONSORT_E_MALFORMED, "signature R");
    parse_with_u32(&b, 0x2E8 + 68, 1u << 24, CONSORT_E_MALFORMED, "signature S");
    parse_with_u32(&b, 0x49C, 1u << 24, CONSORT_E_MALFORMED, "offset 0x49f");
    /* a v3 report may use 0x188-0x18A but not 0x18B */
    cs_buf v3;
    cst_read_testdata(snp_samples[SNP_GENOA].report, &v3);
    parse_with_u32(&v3, 0x18B, 1, CONSORT_E_MALFORMED, "offset 0x18b");
    cs_buf_cleanup(&v3);
    cs_buf_cleanup(&b);
}

static void tcb_layouts_and_products(void **state)
{
    (void)state;
    cs_snp_tcb t;
    /* Milan/Genoa: bl byte 0, tee 1, snp 6, ucode 7 */
    cst_ok(cs_snp_tcb_decode(0x7308000000000003ULL, CS_SNP_PRODUCT_MILAN, &t));
    assert_false(t.has_fmc);
    assert_int_equal(t.bl, 3);
    assert_int_equal(t.snp, 8);
    assert_int_equal(t.ucode, 115);
    cst_fails(cs_snp_tcb_decode(0x0000000100000000ULL, CS_SNP_PRODUCT_GENOA, &t),
              CONSORT_E_MALFORMED);
    /* Turin: fmc 0, bl 1, tee 2, snp 3, ucode 7 */
    cst_ok(cs_snp_tcb_decode(0x0900000004030201ULL, CS_SNP_PRODUCT_TURIN, &t));
    assert_true(t.has_fmc);
    assert_int_equal(t.fmc, 1);
    assert_int_equal(t.bl, 2);
    assert_int_equal(t.tee, 3);
    assert_int_equal(t.snp, 4);
    assert_int_equal(t.ucode, 9);
    cst_fails(cs_snp_tcb_decode(0x7308000000000003ULL, CS_SNP_PRODUCT_TURIN, &t),
              CONSORT_E_MALFORMED);
    cst_fails(cs_snp_tcb_decode(0, CS_SNP_PRODUCT_UNKNOWN, &t), CONSORT_E_INVALID_ARGUMENT);

    cs_snp_product p;
    cst_ok(cs_snp_product_from_cpuid(0x19, 0x01, &p));
    assert_int_equal(p, CS_SNP_PRODUCT_MILAN);
    cst_ok(cs_snp_product_from_cpuid(0x19, 0x11, &p));
    assert_int_equal(p, CS_SNP_PRODUCT_GENOA);
    cst_ok(cs_snp_product_from_cpuid(0x19, 0xA0, &p));
    assert_int_equal(p, CS_SNP_PRODUCT_GENOA);
    cst_ok(cs_snp_product_from_cpuid(0x1A, 0x02, &p));
    assert_int_equal(p, CS_SNP_PRODUCT_TURIN);
    cst_fails(cs_snp_product_from_cpuid(0x17, 0x31, &p), CONSORT_E_UNSUPPORTED);
    cst_fails(cs_snp_product_from_cpuid(0x1A, 0x50, &p), CONSORT_E_UNSUPPORTED);
    cst_ok(cs_snp_product_parse("Milan-B0", &p));
    assert_int_equal(p, CS_SNP_PRODUCT_MILAN);
    cst_ok(cs_snp_product_parse("Turin", &p));
    assert_int_equal(p, CS_SNP_PRODUCT_TURIN);
    cst_fails(cs_snp_product_parse("Milanx", &p), CONSORT_E_UNSUPPORTED);
    cst_fails(cs_snp_product_parse("Rome", &p), CONSORT_E_UNSUPPORTED);
}

/* ---- verification of every sample ---- */

static const cs_claim *claim(const cs_claims *c, const char *name)
{
    const cs_claim *cl = cs_claims_find(c, name);
    if (cl == NULL)
        fail_msg("claim '%s' missing", name);
    return cl;
}

static void every_sample_verifies_with_claims(void **state)
{
    (void)state;
    static const char *const code_ids[SNP_SAMPLE_COUNT] = {
        [SNP_GOSEVGUEST] = "e55dc4e6a65047bac61530c8588a425c27c0e99c4516c9effeb0a4aa970e06ee",
        [SNP_VIRTEE] = "244fdd8556b2f843e6fa87b7a5a45dbf960723f6239d69abc92b835cd5520e48",
        [SNP_TRUSTEE] = "f8c6fd55fc83a89c0c50be71eb401635ec22e71a573265cba842628a18948d91",
        [SNP_VLEK] = "3b8d4eeec8abeb6a595593997f888d8cdbc8e657b83e2970b3c2c0cf281de585",
        [SNP_GENOA] = "705496ae344c96552ac55aec35c36d4c912a35715bca1904b37a79ce0eb26c80",
    };
    int64_t now = snp_time(SNP_NOW);
    for (int i = 0; i < SNP_SAMPLE_COUNT; i++) {
        const snp_sample *s = &snp_samples[i];
        cs_evidence ev;
        snp_evidence(s, &ev);
        cs_verify_opts opts = {.now = now};
        cs_claims c;
        consort_err rc = cs_evidence_verify(&ev, &opts, &c);
        if (rc != CONSORT_OK)
            fail_msg("%s: %s", s->name, consort_errmsg());
        cs_snp_report r;
        cst_ok(cs_snp_report_parse(cs_buf_slice(&ev.evidence), &r));

        assert_int_equal(c.platform, CS_PLATFORM_SNP);
        uint8_t want[32];
        cst_ok(cs_hex_decode(code_ids[i], want, 32));
        assert_memory_equal(c.code_id, want, 32);
        assert_int_equal(c.signer_len, 48);
        assert_memory_equal(c.signer, r.id_key_digest, 48);
        assert_int_equal(c.security_version, r.reported_tcb);
        assert_int_equal(c.debug, i == SNP_GOSEVGUEST);
        assert_memory_equal(c.report_data, r.report_data, 64);
        assert_string_equal(c.tcb_status, "");
        assert_string_equal(claim(&c, "product")->str, cs_snp_product_name(s->product));
        assert_string_equal(claim(&c, "signing_key")->str,
                            s->kind == CS_SNP_KEY_VLEK ? "vlek" : "vcek");
        assert_int_equal(claim(&c, "report_version")->u64, r.version);
        assert_int_equal(claim(&c, "policy")->u64, r.policy);
        assert_int_equal(claim(&c, "vmpl")->u64, r.vmpl);
        assert_int_equal(claim(&c, "reported_tcb")->u64, r.reported_tcb);
        assert_int_equal(claim(&c, "tcb_bl")->u64, r.reported_tcb & 0xff);
        assert_int_equal(claim(&c, "tcb_ucode")->u64, r.reported_tcb >> 56);
        assert_null(cs_claims_find(&c, "tcb_fmc"));
        assert_memory_equal(claim(&c, "measurement")->bytes, r.measurement, 48);
        assert_memory_equal(claim(&c, "host_data")->bytes, r.host_data, 32);
        assert_memory_equal(claim(&c, "chip_id")->bytes, r.chip_id, 64);
        assert_int_equal(claim(&c, "guest_svn")->u64, r.guest_svn);
        assert_memory_equal(claim(&c, "author_key_digest")->bytes, r.author_key_digest, 48);
        assert_int_equal(cs_claims_find(&c, "cpuid_family") != NULL, r.version == 3);
        if (i == SNP_VLEK) {
            assert_string_equal(claim(&c, "csp_id")->str, "CN=cc-us-east-2.amazonaws.com");
            assert_true(claim(&c, "chip_id_masked")->u64);
            assert_int_equal(claim(&c, "cpuid_model")->u64, 0x01);
        } else {
            assert_null(cs_claims_find(&c, "csp_id"));
            assert_false(claim(&c, "chip_id_masked")->u64);
        }
        cs_evidence_cleanup(&ev);
    }
}

static void debug_guest_needs_allow_debug(void **state)
{
    (void)state;
    cs_evidence ev;
    snp_evidence(&snp_samples[SNP_GOSEVGUEST], &ev);
    cs_verify_opts opts = {.now = snp_time(SNP_NOW)};
    cs_claims c;
    cst_ok(cs_evidence_verify(&ev, &opts, &c));
    assert_true(c.debug);
    cs_policy p;
    cs_policy_init(&p);
    cst_fails(cs_policy_check(&p, &c), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "debug"));
    p.allow_debug = true;
    cst_ok(cs_policy_check(&p, &c));
    /* a production guest passes the default policy */
    cs_evidence_cleanup(&ev);
    snp_evidence(&snp_samples[SNP_VIRTEE], &ev);
    cst_ok(cs_evidence_verify(&ev, &opts, &c));
    cs_policy_init(&p);
    cst_ok(cs_policy_check(&p, &c));
    cs_evidence_cleanup(&ev);
}

/* ---- endorsements: order, encodings, bundles, strangers ---- */

/* Verifies sample `i`'s report against `certs`, expecting `code`. */
static void expect_verify(int i, cs_x509 *const *certs, size_t n, const char *when,
                          consort_err code, const char *msg)
{
    cs_buf rep;
    cst_read_testdata(snp_samples[i].report, &rep);
    cs_claims c;
    consort_err rc = snp_verify_raw(cs_buf_slice(&rep), certs, n, snp_time(when), &c);
    if (rc != code)
        fail_msg("%s: got %s, expected %s (%s)", snp_samples[i].name, consort_err_name(rc),
                 consort_err_name(code), consort_errmsg());
    if (msg != NULL && strstr(consort_errmsg(), msg) == NULL)
        fail_msg("%s: message '%s' lacks '%s'", snp_samples[i].name, consort_errmsg(), msg);
    cs_buf_cleanup(&rep);
}

static void endorsements_in_any_order_and_encoding(void **state)
{
    (void)state;
    int64_t now = snp_time(SNP_NOW);
    cs_x509 **certs;
    size_t n;
    snp_certs(&snp_samples[SNP_VIRTEE], &certs, &n);
    assert_int_equal(n, 3);
    /* as separate blobs, reversed, leaf as PEM, ARK and ASK as DER */
    cs_evidence ev;
    cs_evidence_init(&ev);
    ev.platform = CS_PLATFORM_SNP;
    cst_read_testdata(snp_samples[SNP_VIRTEE].report, &ev.evidence);
    for (size_t k = n; k-- > 0;) {
        cs_buf b;
        cs_buf_init(&b, 0);
        if (k == 0)
            cst_ok(cs_x509_to_pem(certs[k], &b));
        else
            cst_ok(cs_x509_to_der(certs[k], &b));
        cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&b)));
        cs_buf_cleanup(&b);
    }
    /* and every other product's chain on top (all genuine, unused) */
    static const char *const extra[] = {"sev-snp/certs/ask_ark_genoa.pem",
                                        "sev-snp/certs/ask_ark_turin.pem",
                                        "sev-snp/certs/asvk_ark_milan_vlek.pem"};
    for (size_t k = 0; k < CS_ARRAY_LEN(extra); k++) {
        cs_buf b;
        cst_read_testdata(extra[k], &b);
        cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&b)));
        cs_buf_cleanup(&b);
    }
    cs_verify_opts opts = {.now = now};
    cs_claims c;
    cst_ok(cs_evidence_verify(&ev, &opts, &c));
    /* one PEM bundle holding everything */
    cs_buf bundle;
    cs_buf_init(&bundle, 0);
    for (size_t k = 0; k < n; k++)
        cst_ok(cs_x509_to_pem(certs[k], &bundle));
    cs_blob_list_cleanup(&ev.endorsements);
    cs_blob_list_init(&ev.endorsements);
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&bundle)));
    cst_ok(cs_evidence_verify(&ev, &opts, &c));
    /* an endorsement that is not a certificate */
    cst_ok(cs_blob_list_add(&ev.endorsements, CS_SLICE_LIT("not a certificate")));
    cst_fails(cs_evidence_verify(&ev, &opts, &c), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "endorsement 1"));
    /* the snp verifier refuses evidence of another platform */
    ev.platform = CS_PLATFORM_TPM;
    cst_fails(cs_snp_verifier.verify(&ev, &opts, &c), CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&bundle);
    cs_evidence_cleanup(&ev);
    cs_x509_list_free(certs, n);
}

static cs_x509 *make_cert(const char *cn, bool is_ca, const cs_key *subject, const cs_key *issuer,
                          const cs_x509 *issuer_cert)
{
    cs_x509_params prm = {.subject_cn = cn,
                          .not_before = snp_time("2020-01-01T00:00:00Z"),
                          .not_after = snp_time("2040-01-01T00:00:00Z"),
                          .is_ca = is_ca};
    cs_x509 *out = NULL;
    cst_ok(cs_x509_create(&prm, subject, issuer, issuer_cert, &out));
    return out;
}

static void foreign_roots_are_ignored_foreign_cas_rejected(void **state)
{
    (void)state;
    cs_x509 **certs;
    size_t n;
    snp_certs(&snp_samples[SNP_VIRTEE], &certs, &n);
    cs_key *k1 = NULL, *k2 = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &k1));
    cst_ok(cs_key_generate(CS_CURVE_P256, &k2));
    cs_x509 *root = make_cert("Evil Root", true, k1, k1, NULL);
    cs_x509 *ca = make_cert("SEV-Milan", true, k2, k1, root);
    cs_x509 *leaf = make_cert("unrelated leaf", false, k2, k1, root);
    cs_x509 *list[6] = {certs[0], certs[1], certs[2], root, leaf, NULL};
    /* a root that is not pinned, and a non-AMD leaf, are ignored */
    expect_verify(SNP_VIRTEE, list, 5, SNP_NOW, CONSORT_OK, NULL);
    /* a CA (even one named SEV-Milan) not issued by a pinned ARK is refused */
    list[5] = ca;
    expect_verify(SNP_VIRTEE, list, 6, SNP_NOW, CONSORT_E_BAD_CERTIFICATE,
                  "not issued by a pinned AMD root");
    /* and the chain never runs through such a CA */
    cs_x509 *only_fake[2] = {certs[0], ca};
    expect_verify(SNP_VIRTEE, only_fake, 2, SNP_NOW, CONSORT_E_BAD_CERTIFICATE, NULL);
    cs_x509_free(root);
    cs_x509_free(ca);
    cs_x509_free(leaf);
    cs_key_free(k1);
    cs_key_free(k2);
    cs_x509_list_free(certs, n);
}

static void missing_collateral(void **state)
{
    (void)state;
    cs_x509 **vcek, **vlek;
    size_t nv, nl;
    snp_certs(&snp_samples[SNP_VIRTEE], &vcek, &nv); /* VCEK, ASK, ARK */
    snp_certs(&snp_samples[SNP_VLEK], &vlek, &nl);   /* VLEK, ASVK, ARK */
    expect_verify(SNP_VIRTEE, NULL, 0, SNP_NOW, CONSORT_E_COLLATERAL_MISSING,
                  "no VCEK certificate");
    expect_verify(SNP_VIRTEE, vcek + 1, 2, SNP_NOW, CONSORT_E_COLLATERAL_MISSING,
                  "no VCEK certificate");
    cs_x509 *no_ask[2] = {vcek[0], vcek[2]};
    expect_verify(SNP_VIRTEE, no_ask, 2, SNP_NOW, CONSORT_E_COLLATERAL_MISSING,
                  "no ASK certificate (CN=SEV-Milan)");
    /* the signing key kind must match KEY_INFO.SIGNING_KEY */
    expect_verify(SNP_VLEK, vcek, nv, SNP_NOW, CONSORT_E_COLLATERAL_MISSING, "signed by the VLEK");
    expect_verify(SNP_VIRTEE, vlek, nl, SNP_NOW, CONSORT_E_COLLATERAL_MISSING, "(only a VLEK)");
    /* a VLEK chains through the ASVK, never the ASK */
    cs_x509 *vlek_ask[3] = {vlek[0], vcek[1], vcek[2]};
    expect_verify(SNP_VLEK, vlek_ask, 3, SNP_NOW, CONSORT_E_COLLATERAL_MISSING,
                  "no ASVK certificate (CN=SEV-VLEK-Milan)");
    cs_x509_list_free(vcek, nv);
    cs_x509_list_free(vlek, nl);
}

static void expiry_is_checked_at_now(void **state)
{
    (void)state;
    cs_x509 **certs;
    size_t n;
    snp_certs(&snp_samples[SNP_VLEK], &certs, &n);
    expect_verify(SNP_VLEK, certs, n, "2024-12-11T00:00:00Z", CONSORT_OK, NULL);
    expect_verify(SNP_VLEK, certs, n, "2025-12-09T00:00:00Z", CONSORT_OK, NULL);
    expect_verify(SNP_VLEK, certs, n, SNP_LATER, CONSORT_E_EXPIRED, NULL);
    expect_verify(SNP_VLEK, certs, n, "2024-12-01T00:00:00Z", CONSORT_E_EXPIRED, NULL);
    cs_x509_list_free(certs, n);
    /* the VCEKs are valid for seven years */
    for (int i = 0; i < SNP_SAMPLE_COUNT; i++) {
        if (i == SNP_VLEK)
            continue;
        snp_certs(&snp_samples[i], &certs, &n);
        expect_verify(i, certs, n, SNP_LATER, CONSORT_OK, NULL);
        expect_verify(i, certs, n, "2033-01-01T00:00:00Z", CONSORT_E_EXPIRED, NULL);
        cs_x509_list_free(certs, n);
    }
}

/* ---- mismatches: product, TCB, chip ---- */

static void another_products_chain_is_rejected(void **state)
{
    (void)state;
    cs_x509 **milan, **genoa;
    size_t nm, ng;
    snp_certs(&snp_samples[SNP_VIRTEE], &milan, &nm);
    snp_certs(&snp_samples[SNP_GENOA], &genoa, &ng);
    /* Milan report + Milan VCEK, but the Genoa ASK/ARK */
    cs_x509 *mix1[3] = {milan[0], genoa[1], genoa[2]};
    expect_verify(SNP_VIRTEE, mix1, 3, SNP_NOW, CONSORT_E_COLLATERAL_MISSING, "CN=SEV-Milan");
    /* Genoa report + Genoa VCEK, but the Milan ASK/ARK */
    cs_x509 *mix2[3] = {genoa[0], milan[1], milan[2]};
    expect_verify(SNP_GENOA, mix2, 3, SNP_NOW, CONSORT_E_COLLATERAL_MISSING, "CN=SEV-Genoa");
    /* Genoa (CPUID 0x19/0x11) report presented with a valid Milan chain */
    expect_verify(SNP_GENOA, milan, nm, SNP_NOW, CONSORT_E_ATTESTATION,
                  "is Genoa, but the VCEK is for Milan");
    /* Milan v2 report (no CPUID) with a valid Genoa chain: the Genoa VCEK
     * does not describe this platform */
    expect_verify(SNP_VIRTEE, genoa, ng, SNP_NOW, CONSORT_E_TCB, NULL);
    /* the endorsement-key check itself binds the product */
    cs_snp_report r;
    parse_sample(SNP_GENOA, &r);
    cst_ok(cs_snp_check_endorsement_key(&r, genoa[0], CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_GENOA));
    cst_fails(cs_snp_check_endorsement_key(&r, genoa[0], CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_MILAN),
              CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "productName is Genoa, expected Milan"));
    cs_x509_list_free(milan, nm);
    cs_x509_list_free(genoa, ng);
}

static void tcb_and_chip_must_match_the_vcek(void **state)
{
    (void)state;
    cs_x509 **virtee;
    size_t n;
    snp_certs(&snp_samples[SNP_VIRTEE], &virtee, &n);
    /* go-sev-guest report (bl 2, snp 5, ucode 68) with virtee's VCEK (3/8/115) */
    expect_verify(SNP_GOSEVGUEST, virtee, n, SNP_NOW, CONSORT_E_TCB,
                  "VCEK blSPL 3 does not match the report's REPORTED_TCB boot loader SVN 2");
    /* trustee report: same TCB as virtee's VCEK, another chip */
    expect_verify(SNP_TRUSTEE, virtee, n, SNP_NOW, CONSORT_E_ATTESTATION,
                  "VCEK hwID d49554ec717f4e5b... does not match the report's CHIP_ID "
                  "c38427a30d4c7af9");
    /* a report whose firmware did not sign it (MASK_CHIP_KEY) */
    cs_buf rep;
    cst_read_testdata(snp_samples[SNP_VIRTEE].report, &rep);
    rep.ptr[0x48] |= 0x2;
    cs_claims c;
    cst_fails(snp_verify_raw(cs_buf_slice(&rep), virtee, n, snp_time(SNP_NOW), &c),
              CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "MASK_CHIP_KEY"));
    cs_buf_cleanup(&rep);
    cs_x509_list_free(virtee, n);
}

/* The Turin VCEK has no report: check its chain and the Turin TCB layout. */
static void turin_vcek_chain_and_fmc(void **state)
{
    (void)state;
    cs_x509 **certs;
    size_t n;
    snp_certs(&(snp_sample){.key = "sev-snp/turin-vcek-only/vcek.der",
                            .chain = "sev-snp/certs/ask_ark_turin.pem"},
              &certs, &n);
    assert_int_equal(n, 3);
    cs_x509 *root = NULL;
    cst_ok(cs_snp_root_load(CS_SNP_PRODUCT_TURIN, &root));
    cs_x509_verify_opts xo = {.now = snp_time(SNP_NOW)};
    size_t path = 0;
    cst_ok(cs_x509_verify_chain(certs[0], certs + 1, 1, &root, 1, &xo, &path));
    assert_int_equal(path, 3);
    /* a report as this chip would produce it: TCB fmc 0, bl 0, tee 0, snp 0,
     * ucode 9 in the Turin layout; 8-byte chip id left-aligned */
    cs_snp_report r;
    memset(&r, 0, sizeof r);
    r.reported_tcb = 0x0900000000000000ULL;
    const uint8_t hwid[8] = {0x1e, 0x55, 0x0a, 0x8e, 0xe5, 0xcf, 0x9f, 0x4d};
    memcpy(r.chip_id, hwid, sizeof hwid);
    cst_ok(cs_snp_check_endorsement_key(&r, certs[0], CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_TURIN));
    r.reported_tcb = 0x0900000000000001ULL; /* FMC 1 */
    cst_fails(cs_snp_check_endorsement_key(&r, certs[0], CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_TURIN),
              CONSORT_E_TCB);
    assert_non_null(strstr(consort_errmsg(), "fmcSPL 0"));
    r.reported_tcb = 0x0900000000000000ULL;
    r.chip_id[8] = 1; /* Turin chip ids are 8 bytes */
    cst_fails(cs_snp_check_endorsement_key(&r, certs[0], CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_TURIN),
              CONSORT_E_ATTESTATION);
    r.chip_id[8] = 0;
    r.chip_id[0] ^= 1;
    cst_fails(cs_snp_check_endorsement_key(&r, certs[0], CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_TURIN),
              CONSORT_E_ATTESTATION);
    cst_fails(cs_snp_check_endorsement_key(&r, certs[0], CS_SNP_KEY_VCEK, CS_SNP_PRODUCT_MILAN),
              CONSORT_E_ATTESTATION);
    /* a Milan report cannot be carried by the Turin chain */
    expect_verify(SNP_VIRTEE, certs, n, SNP_NOW, CONSORT_E_MALFORMED, "Turin layout");
    cs_x509_free(root);
    cs_x509_list_free(certs, n);
}

/* Every allocation failure is reported as NOMEM and leaks nothing. */
static void allocation_failures_are_clean(void **state)
{
    (void)state;
    cs_evidence ev;
    snp_evidence(&snp_samples[SNP_VIRTEE], &ev);
    cs_verify_opts opts = {.now = snp_time(SNP_NOW)};
    cst_alloc_install();
    bool done = false;
    for (long k = 0; k < 10000 && !done; k++) {
        long live = cst_alloc_live();
        cst_alloc_fail_after(k);
        cs_claims c;
        consort_err rc = cs_evidence_verify(&ev, &opts, &c);
        bool failed = cst_alloc_failed() != 0;
        cst_alloc_fail_after(-1);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed) {
            if (rc != CONSORT_OK)
                fail_msg("no allocation failed, yet: %s", consort_errmsg());
            done = true;
        } else if (rc != CONSORT_E_NOMEM) {
            fail_msg("allocation %ld failed, got %s: %s", k, consort_err_name(rc),
                     consort_errmsg());
        }
    }
    assert_true(done);
    cst_alloc_uninstall();
    cs_evidence_cleanup(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pinned_roots_match_provenance),
        cmocka_unit_test(reports_parse_with_provenance_facts),
        cmocka_unit_test(genoa_report_is_the_hcl_slice),
        cmocka_unit_test(parser_rejects_malformed_reports),
        cmocka_unit_test(tcb_layouts_and_products),
        cmocka_unit_test(every_sample_verifies_with_claims),
        cmocka_unit_test(debug_guest_needs_allow_debug),
        cmocka_unit_test(endorsements_in_any_order_and_encoding),
        cmocka_unit_test(foreign_roots_are_ignored_foreign_cas_rejected),
        cmocka_unit_test(missing_collateral),
        cmocka_unit_test(expiry_is_checked_at_now),
        cmocka_unit_test(another_products_chain_is_rejected),
        cmocka_unit_test(tcb_and_chip_must_match_the_vcek),
        cmocka_unit_test(turin_vcek_chain_and_fmc),
        cmocka_unit_test(allocation_failures_are_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
