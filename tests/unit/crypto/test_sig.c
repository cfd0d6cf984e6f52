/*
 * Generic signatures (crypto/sig.h): RSASSA-PKCS1-v1_5, RSASSA-PSS and
 * ECDSA through one call; RSA keys from modulus and exponent. Known answers
 * from the real GCE vTPM quote (testdata/tpm: "openssl dgst -sha256 -verify"
 * passes on it), round trips, and every way a signature must fail.
 */
#include "testutil.h"

#include "crypto/sig.h"

#include <string.h>

#define GCE "tpm/gce-shielded-vm-cos85/"

static cs_key *rsa2048;

static int setup(void **state)
{
    (void)state;
    return cs_key_generate_rsa(2048, &rsa2048) == CONSORT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cs_key_free(rsa2048);
    return 0;
}

static void gce_quote_signature_known_answer(void **state)
{
    (void)state;
    cs_buf msg, sig;
    cst_read_testdata(GCE "quote_sha256_bank.tpms_attest.bin", &msg);
    cst_read_testdata(GCE "quote_sha256_bank.tpmt_signature.bin", &sig);
    cs_key *ak = NULL;
    cst_ok(cs_key_load_pem_file(cst_testdata_path(GCE "ak_pub.pem"), &ak));
    /* TPMT_SIGNATURE: sigAlg (2), hash (2), size (2), then the bare signature */
    cs_slice bare = CS_SLICE(sig.ptr + 6, sig.len - 6);
    cst_ok(cs_sig_verify(ak, CS_SIG_RSA_PKCS1, CS_HASH_SHA256, cs_buf_slice(&msg), bare));
    cst_fails(cs_sig_verify(ak, CS_SIG_RSA_PSS, CS_HASH_SHA256, cs_buf_slice(&msg), bare),
              CONSORT_E_BAD_SIGNATURE);
    cst_fails(cs_sig_verify(ak, CS_SIG_RSA_PKCS1, CS_HASH_SHA384, cs_buf_slice(&msg), bare),
              CONSORT_E_BAD_SIGNATURE);
    msg.ptr[0] ^= 1;
    cst_fails(cs_sig_verify(ak, CS_SIG_RSA_PKCS1, CS_HASH_SHA256, cs_buf_slice(&msg), bare),
              CONSORT_E_BAD_SIGNATURE);
    msg.ptr[0] ^= 1;
    cst_fails(cs_sig_verify(ak, CS_SIG_RSA_PKCS1, CS_HASH_SHA256, cs_buf_slice(&msg),
                            CS_SLICE(bare.ptr, bare.len - 1)),
              CONSORT_E_BAD_SIGNATURE);
    assert_non_null(strstr(consort_errmsg(), "expected 256"));
    cst_fails(cs_sig_verify(ak, CS_SIG_ECDSA, CS_HASH_SHA256, cs_buf_slice(&msg), bare),
              CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(cs_key_rsa_bits(ak), 2048);
    cs_key_free(ak);
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&sig);
}

static void rsa_round_trips(void **state)
{
    (void)state;
    const cs_slice msg = CS_SLICE_LIT("a TPMS_ATTEST, say");
    const cs_sig_alg algs[] = {CS_SIG_RSA_PKCS1, CS_SIG_RSA_PSS};
    const cs_hash_alg hashes[] = {CS_HASH_SHA256, CS_HASH_SHA384, CS_HASH_SHA512};
    for (size_t a = 0; a < 2; a++) {
        for (size_t h = 0; h < 3; h++) {
            cs_buf sig;
            cs_buf_init(&sig, 0);
            cst_ok(cs_sig_sign(rsa2048, algs[a], hashes[h], msg, &sig));
            assert_int_equal(sig.len, 256);
            cst_ok(cs_sig_verify(rsa2048, algs[a], hashes[h], msg, cs_buf_slice(&sig)));
            /* the other scheme, the other hash, one flipped bit: all fail */
            cst_fails(cs_sig_verify(rsa2048, algs[1 - a], hashes[h], msg, cs_buf_slice(&sig)),
                      CONSORT_E_BAD_SIGNATURE);
            cst_fails(cs_sig_verify(rsa2048, algs[a], hashes[(h + 1) % 3], msg, cs_buf_slice(&sig)),
                      CONSORT_E_BAD_SIGNATURE);
            sig.ptr[100] ^= 0x10;
            cst_fails(cs_sig_verify(rsa2048, algs[a], hashes[h], msg, cs_buf_slice(&sig)),
                      CONSORT_E_BAD_SIGNATURE);
            cs_buf_cleanup(&sig);
        }
    }
    /* PSS signatures are randomised: two differ, both verify */
    cs_buf s1, s2;
    cs_buf_init(&s1, 0);
    cs_buf_init(&s2, 0);
    cst_ok(cs_sig_sign(rsa2048, CS_SIG_RSA_PSS, CS_HASH_SHA256, msg, &s1));
    cst_ok(cs_sig_sign(rsa2048, CS_SIG_RSA_PSS, CS_HASH_SHA256, msg, &s2));
    assert_false(cs_slice_eq(cs_buf_slice(&s1), cs_buf_slice(&s2)));
    cs_buf_cleanup(&s1);
    cs_buf_cleanup(&s2);
}

static void ecdsa_through_sig(void **state)
{
    (void)state;
    cs_key *ec = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &ec));
    const cs_slice msg = CS_SLICE_LIT("quote");
    cs_buf sig;
    cs_buf_init(&sig, 0);
    cst_ok(cs_sig_sign(ec, CS_SIG_ECDSA, CS_HASH_SHA256, msg, &sig));
    assert_int_equal(sig.len, 64);
    cst_ok(cs_sig_verify(ec, CS_SIG_ECDSA, CS_HASH_SHA256, msg, cs_buf_slice(&sig)));
    /* the same bytes checked by ECDSA's own API */
    cst_ok(cs_ecdsa_verify(ec, CS_HASH_SHA256, msg, CS_SIG_RAW, cs_buf_slice(&sig)));
    cst_fails(cs_sig_verify(ec, CS_SIG_RSA_PKCS1, CS_HASH_SHA256, msg, cs_buf_slice(&sig)),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_sig_verify(rsa2048, CS_SIG_ECDSA, CS_HASH_SHA256, msg, cs_buf_slice(&sig)),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_sig_verify(ec, (cs_sig_alg)9, CS_HASH_SHA256, msg, cs_buf_slice(&sig)),
              CONSORT_E_UNSUPPORTED);
    cst_fails(cs_sig_verify(ec, CS_SIG_ECDSA, (cs_hash_alg)9, msg, cs_buf_slice(&sig)),
              CONSORT_E_UNSUPPORTED);
    assert_int_equal(cs_key_rsa_bits(ec), 0);
    cs_buf_cleanup(&sig);
    cs_key_free(ec);
}

static void rsa_key_from_modulus(void **state)
{
    (void)state;
    cs_key *ak = NULL;
    cst_ok(cs_key_load_pem_file(cst_testdata_path(GCE "ak_pub.pem"), &ak));
    /* The GCE AK's modulus is the last 256 bytes of its TPMT_PUBLIC. */
    cs_buf pub;
    cst_read_testdata(GCE "ak_pub.tpmt_public.bin", &pub);
    cs_slice n = CS_SLICE(pub.ptr + pub.len - 256, 256);
    const uint8_t e[] = {0x01, 0x00, 0x01};
    cs_key *k = NULL;
    cst_ok(cs_key_from_rsa(n, CS_SLICE(e, 3), &k));
    cs_buf a, b;
    cs_buf_init(&a, 0);
    cs_buf_init(&b, 0);
    cst_ok(cs_key_spki_der(k, &a));
    cst_ok(cs_key_spki_der(ak, &b));
    assert_true(cs_slice_eq(cs_buf_slice(&a), cs_buf_slice(&b)));
    cs_key_free(k);
    k = NULL;
    /* a leading zero (as in a DER INTEGER) is the same key */
    uint8_t n0[257] = {0};
    memcpy(n0 + 1, n.ptr, 256);
    cst_ok(cs_key_from_rsa(CS_SLICE(n0, 257), CS_SLICE(e, 3), &k));
    cs_key_free(k);
    k = NULL;

    const uint8_t even_e[] = {0x01, 0x00, 0x00}, one[] = {0x01};
    cst_fails(cs_key_from_rsa(n, CS_SLICE(even_e, 3), &k), CONSORT_E_MALFORMED);
    cst_fails(cs_key_from_rsa(n, CS_SLICE(one, 1), &k), CONSORT_E_MALFORMED);
    cst_fails(cs_key_from_rsa(n, CS_SLICE_EMPTY, &k), CONSORT_E_MALFORMED);
    cst_fails(cs_key_from_rsa(CS_SLICE(n.ptr, 128), CS_SLICE(e, 3), &k), CONSORT_E_UNSUPPORTED);
    uint8_t even_n[256];
    memcpy(even_n, n.ptr, 256);
    even_n[255] &= 0xfe;
    cst_fails(cs_key_from_rsa(CS_SLICE(even_n, 256), CS_SLICE(e, 3), &k), CONSORT_E_MALFORMED);
    assert_null(k);
    cst_fails(cs_key_generate_rsa(1024, &k), CONSORT_E_INVALID_ARGUMENT);
    /* a public-only key cannot sign */
    cs_buf sig;
    cs_buf_init(&sig, 0);
    cst_fails(cs_sig_sign(ak, CS_SIG_RSA_PKCS1, CS_HASH_SHA256, CS_SLICE_LIT("m"), &sig),
              CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(sig.len, 0);
    cs_buf_cleanup(&sig);
    cs_buf_cleanup(&a);
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&pub);
    cs_key_free(ak);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gce_quote_signature_known_answer),
        cmocka_unit_test(rsa_round_trips),
        cmocka_unit_test(ecdsa_through_sig),
        cmocka_unit_test(rsa_key_from_modulus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
