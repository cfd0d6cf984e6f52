/*
 * Certificate and CRL parsers: DER framing (truncated, trailing, oversized,
 * non-minimal lengths, bit flips), PEM blocks and bundles, files, and an
 * allocation-failure sweep.
 */
#include "testutil.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/x509.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define T0 1714564800LL /* 2024-05-01T12:00:00Z */

typedef struct fixture {
    cs_key *key;
    cs_x509 *cert[3];
    cs_buf der; /* DER of cert[0] */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    cst_ok(cs_key_generate(CS_CURVE_P256, &f->key));
    const char *names[] = {"one", "two", "three"};
    for (size_t i = 0; i < 3; i++) {
        cs_x509_params p = {.subject_cn = names[i],
                            .serial = i + 1,
                            .not_before = T0,
                            .not_after = T0 + 86400,
                            .is_ca = true};
        cst_ok(cs_x509_create(&p, f->key, f->key, NULL, &f->cert[i]));
    }
    cs_buf_init(&f->der, 0);
    cst_ok(cs_x509_to_der(f->cert[0], &f->der));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < 3; i++)
        cs_x509_free(f->cert[i]);
    cs_key_free(f->key);
    cs_buf_cleanup(&f->der);
    free(f);
    return 0;
}

static void fingerprint_of(const cs_x509 *c, uint8_t out[32])
{
    cst_ok(cs_x509_fingerprint(c, out));
}

static void assert_same_cert(const cs_x509 *a, const cs_x509 *b)
{
    uint8_t fa[32], fb[32];
    fingerprint_of(a, fa);
    fingerprint_of(b, fb);
    assert_memory_equal(fa, fb, 32);
}

static void der_round_trip_and_framing(void **state)
{
    fixture *f = *state;
    cs_x509 *c = NULL;
    cst_ok(cs_x509_from_der(cs_buf_slice(&f->der), &c));
    assert_same_cert(c, f->cert[0]);
    cs_x509_free(c);
    c = NULL;

    /* one trailing byte */
    cs_buf more;
    cs_buf_init(&more, 0);
    cst_ok(cs_buf_set(&more, cs_buf_slice(&f->der)));
    cst_ok(cs_buf_append_u8(&more, 0x00));
    cst_fails(cs_x509_from_der(cs_buf_slice(&more), &c), CONSORT_E_TRAILING_DATA);
    assert_non_null(strstr(consort_errmsg(), "1 trailing bytes"));
    /* a second certificate after the first is trailing data too */
    cst_ok(cs_buf_append_slice(&more, cs_buf_slice(&f->der)));
    cst_fails(cs_x509_from_der(cs_buf_slice(&more), &c), CONSORT_E_TRAILING_DATA);
    cs_buf_cleanup(&more);

    /* every truncation fails; those that keep the header say TRUNCATED */
    for (size_t n = 0; n < f->der.len; n++)
        cst_fails_any(cs_x509_from_der(CS_SLICE(f->der.ptr, n), &c));
    for (size_t n = 4; n < f->der.len; n++)
        cst_fails(cs_x509_from_der(CS_SLICE(f->der.ptr, n), &c), CONSORT_E_TRUNCATED);
    cst_fails(cs_x509_from_der(CS_SLICE_EMPTY, &c), CONSORT_E_TRUNCATED);

    /* wrong outer tag, indefinite length, non-minimal length */
    const uint8_t set_tag[] = {0x31, 0x00};
    cst_fails(cs_x509_from_der(CS_SLICE(set_tag, 2), &c), CONSORT_E_MALFORMED);
    const uint8_t indefinite[] = {0x30, 0x80, 0x00, 0x00};
    cst_fails(cs_x509_from_der(CS_SLICE(indefinite, 4), &c), CONSORT_E_MALFORMED);
    const uint8_t long_small[] = {0x30, 0x81, 0x05, 1, 2, 3, 4, 5};
    cst_fails(cs_x509_from_der(CS_SLICE(long_small, 8), &c), CONSORT_E_MALFORMED);
    const uint8_t leading_zero[] = {0x30, 0x82, 0x00, 0x81};
    cst_fails(cs_x509_from_der(CS_SLICE(leading_zero, 4), &c), CONSORT_E_MALFORMED);
    /* a well-framed SEQUENCE that is not a certificate */
    const uint8_t empty_seq[] = {0x30, 0x00};
    cst_fails(cs_x509_from_der(CS_SLICE(empty_seq, 2), &c), CONSORT_E_MALFORMED);

    /* too large to be a certificate */
    cs_buf big;
    cs_buf_init(&big, 0);
    uint8_t *p;
    cst_ok(cs_buf_extend(&big, 300 * 1024, &p));
    cst_fails(cs_x509_from_der(cs_buf_slice(&big), &c), CONSORT_E_TOO_LARGE);
    cs_buf_cleanup(&big);
    assert_null(c);
}

/* Every single-bit flip either fails to parse or yields a certificate whose
 * signature no longer verifies under the issuer key. */
static void bit_flips_never_verify(void **state)
{
    fixture *f = *state;
    cs_buf copy;
    cs_buf_init(&copy, 0);
    cst_ok(cs_buf_set(&copy, cs_buf_slice(&f->der)));
    size_t parsed = 0;
    for (size_t i = 0; i < copy.len * 8; i++) {
        copy.ptr[i / 8] ^= (uint8_t)(1u << (i % 8));
        cs_x509 *c = NULL;
        if (cs_x509_from_der(cs_buf_slice(&copy), &c) == CONSORT_OK) {
            parsed++;
            cst_fails_any(cs_x509_verify_signature(c, f->key));
            cs_x509_free(c);
        }
        copy.ptr[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    assert_true(parsed > 0); /* flips inside values still parse */
    cs_buf_cleanup(&copy);
}

/* cs_x509_der_to_pem writes what cs_x509_to_pem writes for the parsed
 * certificate, and refuses what is not one DER SEQUENCE. */
static void der_to_pem_matches(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < 2; i++) {
        cs_buf der, want, got;
        cs_buf_init(&der, 0);
        cs_buf_init(&want, 0);
        cs_buf_init(&got, 0);
        cst_ok(cs_x509_to_der(f->cert[i], &der));
        cst_ok(cs_x509_to_pem(f->cert[i], &want));
        cst_ok(cs_x509_der_to_pem(cs_buf_slice(&der), &got));
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.ptr, want.ptr, want.len);
        size_t len = got.len;
        cst_fails(cs_x509_der_to_pem(CS_SLICE(der.ptr, der.len - 1), &got), CONSORT_E_MALFORMED);
        assert_int_equal(got.len, len); /* nothing appended */
        cst_ok(cs_buf_append_u8(&der, 0));
        cst_fails(cs_x509_der_to_pem(cs_buf_slice(&der), &got), CONSORT_E_MALFORMED);
        der.ptr[0] = 0x31;
        der.len--;
        cst_fails(cs_x509_der_to_pem(cs_buf_slice(&der), &got), CONSORT_E_MALFORMED);
        cs_buf_cleanup(&der);
        cs_buf_cleanup(&want);
        cs_buf_cleanup(&got);
    }
    static const uint8_t long_form_short_len[] = {0x30, 0x81, 0x01, 0x00};
    cs_buf got;
    cs_buf_init(&got, 0);
    cst_fails(cs_x509_der_to_pem(CS_SLICE(long_form_short_len, sizeof long_form_short_len), &got),
              CONSORT_E_MALFORMED);
    cs_buf_cleanup(&got);
}

static void pem_single_and_strict(void **state)
{
    fixture *f = *state;
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(f->cert[1], &pem));
    assert_non_null(memmem(pem.ptr, pem.len, "-----BEGIN CERTIFICATE-----", 27));
    cs_x509 *c = NULL;
    cst_ok(cs_x509_from_pem(cs_buf_slice(&pem), &c));
    assert_same_cert(c, f->cert[1]);
    cs_x509_free(c);
    c = NULL;

    /* a corrupted base64 body */
    char *mid = (char *)pem.ptr + 40;
    *mid = '*';
    cst_fails(cs_x509_from_pem(cs_buf_slice(&pem), &c), CONSORT_E_MALFORMED);
    cs_buf_cleanup(&pem);

    /* DER inside the block followed by an extra byte */
    cs_buf der1;
    cs_buf_init(&der1, 0);
    cst_ok(cs_buf_set(&der1, cs_buf_slice(&f->der)));
    cst_ok(cs_buf_append_u8(&der1, 0x00));
    BIO *bio = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio(bio, "CERTIFICATE", "", der1.ptr, (long)der1.len) > 0);
    char *text;
    long n = BIO_get_mem_data(bio, &text);
    cst_fails(cs_x509_from_pem(CS_SLICE(text, (size_t)n), &c), CONSORT_E_TRAILING_DATA);
    assert_non_null(strstr(consort_errmsg(), "PEM certificate #1"));
    BIO_free(bio);
    cs_buf_cleanup(&der1);

    cst_fails(cs_x509_from_pem(CS_SLICE_LIT("no pem here"), &c), CONSORT_E_MALFORMED);
    cst_fails(cs_x509_from_pem(CS_SLICE_EMPTY, &c), CONSORT_E_MALFORMED);
    assert_null(c);
}

static void parse_all_bundles(void **state)
{
    fixture *f = *state;
    /* text, cert 0, a public key block, cert 1, cert 2 */
    cs_buf bundle;
    cs_buf_init(&bundle, 0);
    cst_ok(cs_buf_printf(&bundle, "subject=one\n"));
    cst_ok(cs_x509_to_pem(f->cert[0], &bundle));
    cst_ok(cs_key_public_pem(f->key, &bundle));
    cst_ok(cs_x509_to_pem(f->cert[1], &bundle));
    cst_ok(cs_x509_to_pem(f->cert[2], &bundle));

    cs_x509 **list = NULL;
    size_t count = 0;
    cst_ok(cs_x509_parse_all(cs_buf_slice(&bundle), &list, &count));
    assert_int_equal(count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_same_cert(list[i], f->cert[i]);
    /* DER appends one more */
    cst_ok(cs_x509_parse_all(cs_buf_slice(&f->der), &list, &count));
    assert_int_equal(count, 4);
    assert_same_cert(list[3], f->cert[0]);

    /* failures leave the list as it was */
    cs_x509 **before = list;
    cst_fails(cs_x509_parse_all(CS_SLICE_LIT("nothing"), &list, &count), CONSORT_E_MALFORMED);
    cs_buf bad;
    cs_buf_init(&bad, 0);
    cst_ok(cs_buf_set(&bad, cs_buf_slice(&bundle)));
    bad.ptr[bad.len - 40] = '!'; /* corrupt the last certificate */
    cst_fails_any(cs_x509_parse_all(cs_buf_slice(&bad), &list, &count));
    cst_fails(cs_x509_parse_all(CS_SLICE(f->der.ptr, f->der.len - 1), &list, &count),
              CONSORT_E_TRUNCATED);
    assert_ptr_equal(list, before);
    assert_int_equal(count, 4);
    cs_buf_cleanup(&bad);
    cs_x509_list_free(list, count);
    cs_x509_list_free(NULL, 0);

    /* the allocation of the list fails cleanly */
    list = NULL;
    count = 0;
    cst_alloc_install();
    long live = cst_alloc_live();
    for (long i = 0;; i++) {
        cst_alloc_fail_after(i);
        consort_err rc = cs_x509_parse_all(cs_buf_slice(&bundle), &list, &count);
        cst_alloc_fail_after(-1);
        if (rc == CONSORT_OK)
            break;
        assert_int_equal(rc, CONSORT_E_NOMEM);
        assert_int_equal(count, 0);
        assert_int_equal(cst_alloc_live(), live);
    }
    assert_int_equal(count, 3);
    cs_x509_list_free(list, count);
    assert_int_equal(cst_alloc_live(), live);
    cst_alloc_uninstall();
    cs_buf_cleanup(&bundle);
}

static void load_files(void **state)
{
    fixture *f = *state;
    char dir[] = "/tmp/cs_x509_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char der_path[64], pem_path[64];
    snprintf(der_path, sizeof der_path, "%s/c.der", dir);
    snprintf(pem_path, sizeof pem_path, "%s/c.pem", dir);
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(f->cert[2], &pem));
    cst_ok(cs_file_write_atomic(der_path, cs_buf_slice(&f->der), 0600));
    cst_ok(cs_file_write_atomic(pem_path, cs_buf_slice(&pem), 0600));
    cs_x509 *c = NULL;
    cst_ok(cs_x509_load_file(der_path, &c));
    assert_same_cert(c, f->cert[0]);
    cs_x509_free(c);
    cst_ok(cs_x509_load_file(pem_path, &c));
    assert_same_cert(c, f->cert[2]);
    cs_x509_free(c);
    char missing[64];
    snprintf(missing, sizeof missing, "%s/none.pem", dir);
    c = NULL;
    cst_fails(cs_x509_load_file(missing, &c), CONSORT_E_NOT_FOUND);
    assert_null(c);
    unlink(der_path);
    unlink(pem_path);
    rmdir(dir);
    cs_buf_cleanup(&pem);
}

static void crl_parser(void **state)
{
    (void)state;
    cs_buf der;
    cst_read_testdata("sgx-dcap/phala-dcap-qvl/derived_pck_crl.der", &der);
    cs_x509_crl *crl = NULL;
    cst_ok(cs_x509_crl_parse(cs_buf_slice(&der), &crl));
    cs_x509_crl_free(crl);
    for (size_t n = 0; n < der.len; n++)
        cst_fails_any(cs_x509_crl_parse(CS_SLICE(der.ptr, n), &crl));
    cst_ok(cs_buf_append_u8(&der, 0x00));
    cst_fails(cs_x509_crl_parse(cs_buf_slice(&der), &crl), CONSORT_E_TRAILING_DATA);
    der.len--;

    /* the same CRL as PEM, after another block */
    BIO *bio = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio(bio, "PUBLIC KEY", "", der.ptr, 10) > 0);
    assert_true(PEM_write_bio(bio, "X509 CRL", "", der.ptr, (long)der.len) > 0);
    char *text;
    long n = BIO_get_mem_data(bio, &text);
    cst_ok(cs_x509_crl_parse(CS_SLICE(text, (size_t)n), &crl));
    char issuer[256];
    cs_x509_crl_issuer(crl, issuer, sizeof issuer);
    assert_non_null(strstr(issuer, "CN=Intel SGX PCK Processor CA"));
    cs_x509_crl_free(crl);
    BIO_free(bio);
    cst_fails(cs_x509_crl_parse(CS_SLICE_LIT("-----BEGIN X509 CRL-----\n"), &crl),
              CONSORT_E_MALFORMED);
    cst_fails(cs_x509_crl_parse(CS_SLICE_EMPTY, &crl), CONSORT_E_MALFORMED);
    cs_buf_cleanup(&der);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(der_round_trip_and_framing),
        cmocka_unit_test(bit_flips_never_verify),
        cmocka_unit_test(pem_single_and_strict),
        cmocka_unit_test(der_to_pem_matches),
        cmocka_unit_test(parse_all_bundles),
        cmocka_unit_test(load_files),
        cmocka_unit_test(crl_parser),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
