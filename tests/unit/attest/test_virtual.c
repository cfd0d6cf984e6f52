/* The virtual platform: platform directory, attester, verifier. */
#include "testutil.h"

#include "attest/policy.h"
#include "attest/virtual.h"
#include "base/file.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct fixture {
    char dir[64];
    cs_virtual_platform *platform;
    cs_virtual_platform *other; /* a second, untrusted platform */
    cs_key *node_key;
    cs_blob_list anchors; /* the trusted platform certificate (PEM, as on disk) */
    int64_t now;
} fixture;

static const uint8_t CODE_ID[32] = {0xc0, 0xde, 1,  2,  3,  4,  5,  6,  7,  8,  9,
                                    10,   11,   12, 13, 14, 15, 16, 17, 18, 19, 20,
                                    21,   22,   23, 24, 25, 26, 27, 28, 29, 30};

static void path_in(const fixture *f, const char *name, char *out, size_t n)
{
    cst_ok(cs_path_join(out, n, f->dir, name));
}

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    strcpy(f.dir, "/tmp/cst-virtual-XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    cst_ok(cs_virtual_platform_init(f.dir, false, &f.platform));
    f.now = (int64_t)time(NULL);
    cst_ok(cs_virtual_platform_generate(f.now, &f.other));
    cst_ok(cs_key_generate(CS_CURVE_P256, &f.node_key));
    char cert[256];
    path_in(&f, CS_VIRTUAL_CERT_FILE, cert, sizeof cert);
    cs_buf pem;
    cst_read_file(cert, &pem);
    cs_blob_list_init(&f.anchors);
    cst_ok(cs_blob_list_add(&f.anchors, cs_buf_slice(&pem)));
    cs_buf_cleanup(&pem);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char p[256];
    path_in(f, CS_VIRTUAL_KEY_FILE, p, sizeof p);
    unlink(p);
    path_in(f, CS_VIRTUAL_CERT_FILE, p, sizeof p);
    unlink(p);
    rmdir(f->dir);
    cs_virtual_platform_free(f->platform);
    cs_virtual_platform_free(f->other);
    cs_key_free(f->node_key);
    cs_blob_list_cleanup(&f->anchors);
    return 0;
}

/* Evidence from f->platform binding f->node_key with `nonce`. */
static void attest(const fixture *f, bool debug, cs_slice nonce, cs_evidence *ev)
{
    uint8_t rd[64];
    cst_ok(cs_report_data_bind(f->node_key, nonce, rd));
    cs_evidence_init(ev);
    cst_ok(cs_virtual_attest(f->platform, CODE_ID, 7, debug, rd, ev));
}

static consort_err verify(const fixture *f, const cs_evidence *ev, cs_claims *c)
{
    const cs_verify_opts opts = {.now = f->now, .anchors = &f->anchors};
    return cs_evidence_verify(ev, &opts, c);
}

static void platform_files(void **state)
{
    fixture *f = *state;
    char key_path[256];
    path_in(f, CS_VIRTUAL_KEY_FILE, key_path, sizeof key_path);
    struct stat st;
    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    char subject[256];
    cs_x509_subject(cs_virtual_platform_cert(f->platform), subject, sizeof subject);
    char hex[17];
    cs_hex_encode(CS_SLICE(cs_virtual_platform_key_id(f->platform), 8), hex);
    char want[64];
    snprintf(want, sizeof want, "consort virtual platform %s", hex);
    if (strstr(subject, want) == NULL)
        fail_msg("subject '%s' lacks '%s'", subject, want);
    int64_t nb, na;
    cst_ok(cs_x509_validity(cs_virtual_platform_cert(f->platform), &nb, &na));
    assert_true(na - nb >= 3650LL * 86400);

    /* open loads the same platform */
    cs_virtual_platform *again;
    cst_ok(cs_virtual_platform_open(f->dir, &again));
    assert_memory_equal(cs_virtual_platform_key_id(again), cs_virtual_platform_key_id(f->platform),
                        32);
    cs_virtual_platform_free(again);

    /* init refuses to overwrite without force */
    cs_virtual_platform *p = NULL;
    cst_fails(cs_virtual_platform_init(f->dir, false, &p), CONSORT_E_STATE);
    assert_null(p);
    cst_fails(cs_virtual_platform_open("/nonexistent/consort-platform", &p), CONSORT_E_NOT_FOUND);
    cs_virtual_platform_free(NULL);
}

static void force_replaces_and_mismatch_is_corrupt(void **state)
{
    (void)state;
    char dir[] = "/tmp/cst-virtual2-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cs_virtual_platform *a;
    cs_virtual_platform *b;
    cst_ok(cs_virtual_platform_init(dir, false, &a));
    cst_ok(cs_virtual_platform_init(dir, true, &b));
    assert_memory_not_equal(cs_virtual_platform_key_id(a), cs_virtual_platform_key_id(b), 32);
    /* a certificate that belongs to another key */
    char cert[256];
    cst_ok(cs_path_join(cert, sizeof cert, dir, CS_VIRTUAL_CERT_FILE));
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(cs_virtual_platform_cert(a), &pem));
    cst_ok(cs_file_write_atomic(cert, cs_buf_slice(&pem), 0644));
    cs_buf_cleanup(&pem);
    cs_virtual_platform *c = NULL;
    cst_fails(cs_virtual_platform_open(dir, &c), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "does not hold the platform key"));
    cs_virtual_platform_free(a);
    cs_virtual_platform_free(b);
    char key[256];
    cst_ok(cs_path_join(key, sizeof key, dir, CS_VIRTUAL_KEY_FILE));
    unlink(key);
    unlink(cert);
    rmdir(dir);
}

static void attest_and_verify(void **state)
{
    fixture *f = *state;
    cs_evidence ev;
    attest(f, false, CS_SLICE_LIT("nonce-1"), &ev);
    assert_int_equal(ev.platform, CS_PLATFORM_VIRTUAL);
    assert_int_equal(ev.evidence.len, CS_VIRTUAL_REPORT_LEN);
    assert_memory_equal(ev.evidence.ptr, "CSVIRT01\x01\0\0\0\0\0\0\0\x07\0\0\0\0\0\0\0", 24);
    assert_int_equal(ev.endorsements.count, 1);
    assert_true(cs_slice_eq(cs_buf_slice(&ev.endorsements.items[0]),
                            cs_virtual_platform_cert_der(f->platform)));

    /* through the envelope and the registry */
    cs_buf enc;
    cs_buf_init(&enc, 0);
    cst_ok(cs_evidence_encode(&ev, &enc));
    cs_evidence back;
    cs_evidence_init(&back);
    cst_ok(cs_evidence_decode(cs_buf_slice(&enc), &back));
    cs_claims c;
    cst_ok(verify(f, &back, &c));
    assert_int_equal(c.platform, CS_PLATFORM_VIRTUAL);
    assert_memory_equal(c.code_id, CODE_ID, 32);
    assert_int_equal(c.security_version, 7);
    assert_false(c.debug);
    assert_string_equal(c.tcb_status, "");
    const cs_claim *kid = cs_claims_find(&c, "platform_key_id");
    assert_non_null(kid);
    assert_int_equal(kid->len, 32);
    assert_memory_equal(kid->bytes, cs_virtual_platform_key_id(f->platform), 32);
    const cs_claim *insecure = cs_claims_find(&c, "insecure");
    assert_non_null(insecure);
    assert_int_equal(insecure->kind, CS_CLAIM_BOOL);
    assert_int_equal(insecure->u64, 1);
    cst_ok(cs_claims_check_binding(&c, f->node_key, CS_SLICE_LIT("nonce-1")));

    /* the endorsement is optional; a DER anchor works as well as PEM */
    cs_blob_list_cleanup(&back.endorsements);
    cs_blob_list der;
    cs_blob_list_init(&der);
    cst_ok(cs_blob_list_add(&der, cs_virtual_platform_cert_der(f->platform)));
    const cs_verify_opts opts = {.now = f->now, .anchors = &der};
    cst_ok(cs_evidence_verify(&back, &opts, &c));
    cs_blob_list_cleanup(&der);

    cs_evidence_cleanup(&back);
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&enc);
}

static void every_bit_flip_rejected(void **state)
{
    fixture *f = *state;
    cs_evidence ev;
    attest(f, false, CS_SLICE_EMPTY, &ev);
    cs_claims c;
    cst_ok(verify(f, &ev, &c));
    for (size_t bit = 0; bit < CS_VIRTUAL_REPORT_LEN * 8; bit++) {
        ev.evidence.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        consort_err rc = verify(f, &ev, &c);
        if (rc == CONSORT_OK)
            fail_msg("flipping bit %zu (byte %zu) was not detected", bit, bit / 8);
        ev.evidence.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cst_ok(verify(f, &ev, &c));
    /* and the reasons are the right ones */
    ev.evidence.ptr[30] ^= 1; /* code id */
    cst_fails(verify(f, &ev, &c), CONSORT_E_BAD_SIGNATURE);
    ev.evidence.ptr[30] ^= 1;
    ev.evidence.ptr[12] ^= 2; /* an undefined flag bit */
    cst_fails(verify(f, &ev, &c), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "flags 0x00000002"));
    ev.evidence.ptr[12] ^= 2;
    ev.evidence.ptr[130] ^= 1; /* platform key id: no anchor holds it */
    cst_fails(verify(f, &ev, &c), CONSORT_E_ATTESTATION);
    ev.evidence.ptr[130] ^= 1;
    cs_evidence_cleanup(&ev);
}

static void report_structure(void **state)
{
    fixture *f = *state;
    cs_evidence ev;
    attest(f, true, CS_SLICE_EMPTY, &ev);
    cs_virtual_report r;
    cst_ok(cs_virtual_report_parse(cs_buf_slice(&ev.evidence), &r));
    assert_int_equal(r.flags, CS_VIRTUAL_FLAG_DEBUG);
    assert_int_equal(r.security_version, 7);
    cst_fails(cs_virtual_report_parse(CS_SLICE(ev.evidence.ptr, 215), &r), CONSORT_E_TRUNCATED);
    assert_non_null(strstr(consort_errmsg(), "length 215, expected 216"));
    cst_ok(cs_buf_append_u8(&ev.evidence, 0));
    cst_fails(cs_virtual_report_parse(cs_buf_slice(&ev.evidence), &r), CONSORT_E_TRAILING_DATA);
    cs_claims c;
    cst_fails(verify(f, &ev, &c), CONSORT_E_TRAILING_DATA);
    ev.evidence.len = CS_VIRTUAL_REPORT_LEN;
    ev.evidence.ptr[0] = 'X';
    cst_fails(cs_virtual_report_parse(cs_buf_slice(&ev.evidence), &r), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "magic"));
    ev.evidence.ptr[0] = 'C';
    ev.evidence.ptr[8] = 2;
    cst_fails(cs_virtual_report_parse(cs_buf_slice(&ev.evidence), &r), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "version 2 unsupported"));
    ev.evidence.ptr[8] = 1;
    ev.evidence.ptr[23] = 0x80;
    cst_fails(cs_virtual_report_parse(cs_buf_slice(&ev.evidence), &r), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "reserved"));
    cs_evidence_cleanup(&ev);
}

static void wrong_or_missing_anchor(void **state)
{
    fixture *f = *state;
    cs_evidence ev;
    attest(f, false, CS_SLICE_EMPTY, &ev);
    cs_claims c;
    /* no anchors at all */
    const cs_verify_opts none = {.now = f->now, .anchors = NULL};
    cst_fails(cs_evidence_verify(&ev, &none, &c), CONSORT_E_COLLATERAL_MISSING);
    assert_non_null(strstr(consort_errmsg(), "no trusted platform certificate given"));
    cs_blob_list empty;
    cs_blob_list_init(&empty);
    const cs_verify_opts zero = {.now = f->now, .anchors = &empty};
    cst_fails(cs_evidence_verify(&ev, &zero, &c), CONSORT_E_COLLATERAL_MISSING);

    /* only another platform is trusted */
    cs_blob_list other;
    cs_blob_list_init(&other);
    cst_ok(cs_blob_list_add(&other, cs_virtual_platform_cert_der(f->other)));
    const cs_verify_opts wrong = {.now = f->now, .anchors = &other};
    cst_fails(cs_evidence_verify(&ev, &wrong, &c), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "none of the 1 trusted platform certificates"));
    /* both trusted: the right one is found */
    cst_ok(cs_blob_list_add(&other, cs_buf_slice(&f->anchors.items[0])));
    cst_ok(cs_evidence_verify(&ev, &wrong, &c));
    /* a trusted file that holds no certificate adds no trust and is skipped */
    cst_ok(cs_blob_list_add(&other, CS_SLICE_LIT("not a certificate")));
    cst_ok(cs_evidence_verify(&ev, &wrong, &c));
    cs_blob_list_cleanup(&other);
    cst_ok(cs_blob_list_add(&other, CS_SLICE_LIT("-----BEGIN PRIVATE KEY-----\n")));
    cst_fails(cs_evidence_verify(&ev, &wrong, &c), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "none of the 0 trusted platform certificates"));
    assert_non_null(strstr(consort_errmsg(), "1 trusted files held no certificate"));
    cs_blob_list_cleanup(&other);

    /* outside the certificate's validity */
    const cs_verify_opts late = {.now = f->now + 3653LL * 86400, .anchors = &f->anchors};
    cst_fails(cs_evidence_verify(&ev, &late, &c), CONSORT_E_EXPIRED);
    const cs_verify_opts early = {.now = f->now - 86400, .anchors = &f->anchors};
    cst_fails(cs_evidence_verify(&ev, &early, &c), CONSORT_E_EXPIRED);

    /* evidence for another platform is not ours to verify */
    ev.platform = CS_PLATFORM_SNP;
    const cs_verify_opts ok = {.now = f->now, .anchors = &f->anchors};
    cst_fails(cs_virtual_verifier.verify(&ev, &ok, &c), CONSORT_E_UNSUPPORTED);
    cs_evidence_cleanup(&ev);
}

static void endorsement_must_match_anchor(void **state)
{
    fixture *f = *state;
    cs_evidence ev;
    attest(f, false, CS_SLICE_EMPTY, &ev);
    cs_claims c;
    /* a certificate for another (untrusted) platform */
    cs_blob_list_cleanup(&ev.endorsements);
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_virtual_platform_cert_der(f->other)));
    cst_fails(verify(f, &ev, &c), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "is not a trusted platform certificate"));

    /* a different certificate for the same platform key */
    char dir[] = "/tmp/cst-virtual3-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char src[256];
    char dst[256];
    cst_ok(cs_path_join(src, sizeof src, f->dir, CS_VIRTUAL_KEY_FILE));
    cst_ok(cs_path_join(dst, sizeof dst, dir, CS_VIRTUAL_KEY_FILE));
    cs_buf keypem;
    cst_read_file(src, &keypem);
    cst_ok(cs_file_write_atomic(dst, cs_buf_slice(&keypem), 0600));
    cs_buf_cleanup(&keypem);
    cs_key *same_key;
    cst_ok(cs_key_load_pem_file(dst, &same_key));
    const cs_x509_params params = {.subject_cn = "consort virtual platform impostor",
                                   .not_before = f->now - 60,
                                   .not_after = f->now + 86400};
    cs_x509 *reissued;
    cst_ok(cs_x509_create(&params, same_key, same_key, NULL, &reissued));
    cs_buf der;
    cs_buf_init(&der, 0);
    cst_ok(cs_x509_to_der(reissued, &der));
    cs_blob_list_cleanup(&ev.endorsements);
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&der)));
    cst_fails(verify(f, &ev, &c), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "differs from the trusted platform certificate"));

    /* an endorsement that is not a certificate is not for this verifier: skipped */
    cs_blob_list_cleanup(&ev.endorsements);
    cst_ok(cs_blob_list_add(&ev.endorsements, CS_SLICE_LIT("garbage")));
    cst_ok(verify(f, &ev, &c));
    /* but the other platform's certificate still fails beside it */
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_virtual_platform_cert_der(f->other)));
    cst_fails(verify(f, &ev, &c), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "endorsement certificate 0"));

    /* the PEM of the anchor as an extra endorsement is fine (as `--certs` adds it) */
    cs_blob_list_cleanup(&ev.endorsements);
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_virtual_platform_cert_der(f->platform)));
    cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(&f->anchors.items[0])));
    cst_ok(verify(f, &ev, &c));

    cs_buf_cleanup(&der);
    cs_x509_free(reissued);
    cs_key_free(same_key);
    unlink(dst);
    rmdir(dir);
    cs_evidence_cleanup(&ev);
}

static void binding_and_policy(void **state)
{
    fixture *f = *state;
    cs_evidence ev;
    attest(f, false, CS_SLICE_LIT("n"), &ev);
    cs_claims c;
    cst_ok(verify(f, &ev, &c));
    /* evidence for another key fails the binding */
    cs_key *other;
    cst_ok(cs_key_generate(CS_CURVE_P256, &other));
    cst_fails(cs_claims_check_binding(&c, other, CS_SLICE_LIT("n")), CONSORT_E_REPORT_DATA);
    cst_fails(cs_claims_check_binding(&c, f->node_key, CS_SLICE_LIT("m")), CONSORT_E_REPORT_DATA);
    cs_key_free(other);

    cs_policy p;
    cs_policy_init(&p);
    cst_ok(cs_policy_check(&p, &c));
    cs_evidence_cleanup(&ev);

    /* a debug report is genuine but the default policy rejects it */
    attest(f, true, CS_SLICE_LIT("n"), &ev);
    cst_ok(verify(f, &ev, &c));
    assert_true(c.debug);
    cst_fails(cs_policy_check(&p, &c), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "debug"));
    p.allow_debug = true;
    cst_ok(cs_policy_check(&p, &c));
    cs_evidence_cleanup(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(platform_files),
        cmocka_unit_test(force_replaces_and_mismatch_is_corrupt),
        cmocka_unit_test(attest_and_verify),
        cmocka_unit_test(every_bit_flip_rejected),
        cmocka_unit_test(report_structure),
        cmocka_unit_test(wrong_or_missing_anchor),
        cmocka_unit_test(endorsement_must_match_anchor),
        cmocka_unit_test(binding_and_policy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
