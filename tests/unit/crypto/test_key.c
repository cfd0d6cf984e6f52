/*
 * Keys and ECDSA (src/crypto/key.h): generation, signatures in both
 * encodings, tampering, encodings of keys, EC coordinates, key ids, and
 * refusing non-EC keys. Known answer: RFC 6979 Appendix A.2.5 (P-256 key
 * pair and its SHA-256 signature over "sample").
 */
#include "testutil.h"

#include "crypto/key.h"
#include "crypto/x509.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>

#define RFC6979_D  "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"
#define RFC6979_UX "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
#define RFC6979_UY "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"
#define RFC6979_R  "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
#define RFC6979_S  "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"

static cs_key *rfc6979_key(bool with_private)
{
    cs_buf x, y, d;
    cst_hex(RFC6979_UX, &x);
    cst_hex(RFC6979_UY, &y);
    if (with_private)
        cst_hex(RFC6979_D, &d);
    else
        cs_buf_init(&d, 0);
    cs_key *key = NULL;
    cst_ok(cs_key_from_ec_coords(CS_CURVE_P256, cs_buf_slice(&x), cs_buf_slice(&y),
                                 cs_buf_slice(&d), &key));
    cs_buf_cleanup(&x);
    cs_buf_cleanup(&y);
    cs_buf_cleanup(&d);
    return key;
}

static void curves_and_generation(void **state)
{
    (void)state;
    cs_curve c;
    cst_ok(cs_curve_parse("P-256", &c));
    assert_int_equal(c, CS_CURVE_P256);
    cst_ok(cs_curve_parse("secp384r1", &c));
    assert_int_equal(c, CS_CURVE_P384);
    cst_ok(cs_curve_parse("prime256v1", &c));
    assert_int_equal(c, CS_CURVE_P256);
    cst_fails(cs_curve_parse("P-224", &c), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(cs_curve_field_len(CS_CURVE_P384), 48);
    assert_string_equal(cs_curve_name(CS_CURVE_P521), "P-521");

    const cs_curve curves[] = {CS_CURVE_P256, CS_CURVE_P384};
    for (size_t i = 0; i < 2; i++) {
        cs_key *k = NULL;
        cst_ok(cs_key_generate(curves[i], &k));
        assert_int_equal(cs_key_curve(k), curves[i]);
        assert_true(cs_key_has_private(k));
        assert_string_equal(cs_key_type_name(k), "EC");
        cs_key *r = cs_key_ref(k);
        cs_key_free(k);
        assert_true(cs_key_has_private(r)); /* still alive through the reference */
        cs_key_free(r);
    }
    cs_key *k = NULL;
    cst_fails(cs_key_generate(CS_CURVE_P521, &k), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_key_generate(CS_CURVE_NONE, &k), CONSORT_E_INVALID_ARGUMENT);
    assert_null(k);
    cs_key_free(NULL);
}

static void sign_verify_both_encodings(void **state)
{
    (void)state;
    static const struct {
        cs_curve curve;
        cs_hash_alg hash;
        size_t raw_len;
    } cases[] = {{CS_CURVE_P256, CS_HASH_SHA256, 64}, {CS_CURVE_P384, CS_HASH_SHA384, 96}};
    cs_slice msg = CS_SLICE_LIT("attested message");
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        cs_key *k = NULL, *other = NULL;
        cst_ok(cs_key_generate(cases[i].curve, &k));
        cst_ok(cs_key_generate(cases[i].curve, &other));
        cs_buf der, raw, conv;
        cs_buf_init(&der, 0);
        cs_buf_init(&raw, 0);
        cs_buf_init(&conv, 0);
        cst_ok(cs_ecdsa_sign(k, cases[i].hash, msg, CS_SIG_DER, &der));
        cst_ok(cs_ecdsa_sign(k, cases[i].hash, msg, CS_SIG_RAW, &raw));
        assert_int_equal(raw.len, cases[i].raw_len);
        assert_int_equal(der.ptr[0], 0x30);
        cst_ok(cs_ecdsa_verify(k, cases[i].hash, msg, CS_SIG_DER, cs_buf_slice(&der)));
        cst_ok(cs_ecdsa_verify(k, cases[i].hash, msg, CS_SIG_RAW, cs_buf_slice(&raw)));
        /* wrong key, wrong encoding, wrong hash, other message */
        cst_fails(cs_ecdsa_verify(other, cases[i].hash, msg, CS_SIG_DER, cs_buf_slice(&der)),
                  CONSORT_E_BAD_SIGNATURE);
        cst_fails(cs_ecdsa_verify(k, cases[i].hash, msg, CS_SIG_RAW, cs_buf_slice(&der)),
                  CONSORT_E_BAD_SIGNATURE);
        cst_fails(cs_ecdsa_verify(k, CS_HASH_SHA512, msg, CS_SIG_DER, cs_buf_slice(&der)),
                  CONSORT_E_BAD_SIGNATURE);
        cst_fails(cs_ecdsa_verify(k, cases[i].hash, CS_SLICE_LIT("attested messagE"), CS_SIG_DER,
                                  cs_buf_slice(&der)),
                  CONSORT_E_BAD_SIGNATURE);
        /* DER -> raw -> DER is the identity (DER is canonical) */
        cst_ok(cs_ecdsa_sig_der_to_raw(cases[i].curve, cs_buf_slice(&der), &conv));
        assert_int_equal(conv.len, cases[i].raw_len);
        cs_buf back;
        cs_buf_init(&back, 0);
        cst_ok(cs_ecdsa_sig_raw_to_der(cs_buf_slice(&conv), &back));
        assert_int_equal(back.len, der.len);
        assert_memory_equal(back.ptr, der.ptr, der.len);
        cst_ok(cs_ecdsa_verify(k, cases[i].hash, msg, CS_SIG_RAW, cs_buf_slice(&conv)));
        cs_buf_cleanup(&back);
        cs_buf_cleanup(&conv);
        cs_buf_cleanup(&der);
        cs_buf_cleanup(&raw);
        cs_key_free(other);
        cs_key_free(k);
    }
}

static void every_bit_flip_is_rejected(void **state)
{
    (void)state;
    cs_key *k = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &k));
    uint8_t msg[32];
    memset(msg, 0x5a, sizeof msg);
    cs_buf raw, der;
    cs_buf_init(&raw, 0);
    cs_buf_init(&der, 0);
    cst_ok(cs_ecdsa_sign(k, CS_HASH_SHA256, CS_SLICE(msg, 32), CS_SIG_RAW, &raw));
    cst_ok(cs_ecdsa_sign(k, CS_HASH_SHA256, CS_SLICE(msg, 32), CS_SIG_DER, &der));
    for (size_t bit = 0; bit < raw.len * 8; bit++) {
        raw.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cst_fails(
            cs_ecdsa_verify(k, CS_HASH_SHA256, CS_SLICE(msg, 32), CS_SIG_RAW, cs_buf_slice(&raw)),
            CONSORT_E_BAD_SIGNATURE);
        raw.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < der.len * 8; bit++) {
        der.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cst_fails(
            cs_ecdsa_verify(k, CS_HASH_SHA256, CS_SLICE(msg, 32), CS_SIG_DER, cs_buf_slice(&der)),
            CONSORT_E_BAD_SIGNATURE);
        der.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < sizeof msg * 8; bit++) {
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cst_fails(
            cs_ecdsa_verify(k, CS_HASH_SHA256, CS_SLICE(msg, 32), CS_SIG_RAW, cs_buf_slice(&raw)),
            CONSORT_E_BAD_SIGNATURE);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cst_ok(cs_ecdsa_verify(k, CS_HASH_SHA256, CS_SLICE(msg, 32), CS_SIG_RAW, cs_buf_slice(&raw)));
    cs_buf_cleanup(&raw);
    cs_buf_cleanup(&der);
    cs_key_free(k);
}

static void signature_encoding_errors(void **state)
{
    (void)state;
    cs_key *k = rfc6979_key(false);
    cs_buf raw, out;
    cst_hex(RFC6979_R RFC6979_S, &raw);
    cs_buf_init(&out, 0);
    /* RFC 6979 A.2.5: the published SHA-256 signature over "sample" verifies */
    cst_ok(
        cs_ecdsa_verify(k, CS_HASH_SHA256, CS_SLICE_LIT("sample"), CS_SIG_RAW, cs_buf_slice(&raw)));
    cst_fails(
        cs_ecdsa_verify(k, CS_HASH_SHA256, CS_SLICE_LIT("Sample"), CS_SIG_RAW, cs_buf_slice(&raw)),
        CONSORT_E_BAD_SIGNATURE);
    /* wrong raw lengths */
    cst_fails(cs_ecdsa_verify(k, CS_HASH_SHA256, CS_SLICE_LIT("sample"), CS_SIG_RAW,
                              CS_SLICE(raw.ptr, 63)),
              CONSORT_E_BAD_SIGNATURE);
    assert_non_null(strstr(consort_errmsg(), "must be 64 bytes, got 63"));
    cst_fails(cs_ecdsa_sig_raw_to_der(CS_SLICE(raw.ptr, 63), &out), CONSORT_E_MALFORMED);
    cst_fails(cs_ecdsa_sig_raw_to_der(CS_SLICE_EMPTY, &out), CONSORT_E_MALFORMED);
    /* DER with trailing bytes, garbage, too large for the curve */
    cst_ok(cs_ecdsa_sig_raw_to_der(cs_buf_slice(&raw), &out));
    cst_ok(cs_buf_append_u8(&out, 0));
    cs_buf conv;
    cs_buf_init(&conv, 0);
    cst_fails(cs_ecdsa_sig_der_to_raw(CS_CURVE_P256, cs_buf_slice(&out), &conv),
              CONSORT_E_TRAILING_DATA);
    cst_fails(
        cs_ecdsa_verify(k, CS_HASH_SHA256, CS_SLICE_LIT("sample"), CS_SIG_DER, cs_buf_slice(&out)),
        CONSORT_E_BAD_SIGNATURE);
    cst_fails(cs_ecdsa_sig_der_to_raw(CS_CURVE_P256, CS_SLICE_LIT("\x30\x03\x02\x01"), &conv),
              CONSORT_E_MALFORMED);
    cst_fails(cs_ecdsa_sig_der_to_raw(CS_CURVE_P256,
                                      CS_SLICE_LIT("\x30\x06\x02\x01\xff\x02\x01\x01"), &conv),
              CONSORT_E_MALFORMED); /* r = -1 */
    cs_buf p384_raw;
    cs_buf_init(&p384_raw, 0);
    uint8_t *p;
    cst_ok(cs_buf_extend(&p384_raw, 96, &p));
    memset(p, 0xff, 96);
    cs_buf_reset(&out);
    cst_ok(cs_ecdsa_sig_raw_to_der(cs_buf_slice(&p384_raw), &out));
    cst_fails(cs_ecdsa_sig_der_to_raw(CS_CURVE_P256, cs_buf_slice(&out), &conv),
              CONSORT_E_MALFORMED);
    assert_int_equal(conv.len, 0);
    cs_buf_cleanup(&p384_raw);
    cs_buf_cleanup(&conv);
    cs_buf_cleanup(&out);
    cs_buf_cleanup(&raw);
    cs_key_free(k);
}

static void pem_round_trips(void **state)
{
    (void)state;
    cs_key *k = NULL, *priv = NULL, *pub = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P384, &k));
    cs_buf pem, pub_pem, sig;
    cs_buf_init_secret(&pem, 0);
    cs_buf_init(&pub_pem, 0);
    cs_buf_init(&sig, 0);
    cst_ok(cs_key_private_pem(k, &pem));
    assert_non_null(memmem(pem.ptr, pem.len, "-----BEGIN PRIVATE KEY-----", 27));
    cst_ok(cs_key_public_pem(k, &pub_pem));
    assert_non_null(memmem(pub_pem.ptr, pub_pem.len, "-----BEGIN PUBLIC KEY-----", 26));
    cst_ok(cs_key_from_pem(cs_buf_slice(&pem), &priv));
    cst_ok(cs_key_from_pem(cs_buf_slice(&pub_pem), &pub));
    assert_true(cs_key_has_private(priv));
    assert_false(cs_key_has_private(pub));
    assert_int_equal(cs_key_curve(pub), CS_CURVE_P384);
    uint8_t a[32], b[32], c[32];
    cst_ok(cs_key_id(k, a));
    cst_ok(cs_key_id(priv, b));
    cst_ok(cs_key_id(pub, c));
    assert_memory_equal(a, b, 32);
    assert_memory_equal(a, c, 32);
    /* signed by the reloaded private key, verified by the reloaded public key */
    cst_ok(cs_ecdsa_sign(priv, CS_HASH_SHA384, CS_SLICE_LIT("m"), CS_SIG_DER, &sig));
    cst_ok(cs_ecdsa_verify(pub, CS_HASH_SHA384, CS_SLICE_LIT("m"), CS_SIG_DER, cs_buf_slice(&sig)));
    /* a public key cannot sign or export a private key */
    cs_buf_reset(&sig);
    cst_fails_any(cs_ecdsa_sign(pub, CS_HASH_SHA384, CS_SLICE_LIT("m"), CS_SIG_DER, &sig));
    cst_fails(cs_key_private_pem(pub, &sig), CONSORT_E_INVALID_ARGUMENT);
    /* garbage */
    cs_key *bad = NULL;
    cst_fails(cs_key_from_pem(CS_SLICE_LIT("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                           "-----END PUBLIC KEY-----\n"),
                              &bad),
              CONSORT_E_MALFORMED);
    cst_fails(cs_key_from_pem(CS_SLICE_LIT("not a key"), &bad), CONSORT_E_MALFORMED);
    cst_fails(cs_key_from_pem(CS_SLICE_EMPTY, &bad), CONSORT_E_MALFORMED);
    /* an encrypted private key is refused, never prompting for a passphrase */
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, cs_key_pkey(k), EVP_aes_256_cbc(),
                                                   (char *)"pw", 2, NULL, NULL),
                     1);
    char *text;
    long n = BIO_get_mem_data(bio, &text);
    assert_non_null(memmem(text, (size_t)n, "ENCRYPTED PRIVATE KEY", 21));
    cst_fails(cs_key_from_pem(CS_SLICE(text, (size_t)n), &bad), CONSORT_E_MALFORMED);
    BIO_free(bio);
    assert_null(bad);
    cs_buf_cleanup(&sig);
    cs_buf_cleanup(&pub_pem);
    cs_buf_cleanup(&pem);
    cs_key_free(pub);
    cs_key_free(priv);
    cs_key_free(k);
}

static void ec_coordinates_and_key_id(void **state)
{
    (void)state;
    cs_key *pub = rfc6979_key(false);
    cs_key *full = rfc6979_key(true);
    assert_false(cs_key_has_private(pub));
    assert_true(cs_key_has_private(full));

    /* key id = SHA-256 of the DER SubjectPublicKeyInfo (RFC 5480 §2):
     * SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING 04||x||y } */
    cs_buf spki;
    cst_hex("3059301306072a8648ce3d020106082a8648ce3d03010703420004" RFC6979_UX RFC6979_UY, &spki);
    uint8_t want[32], id[32];
    cs_sha256(cs_buf_slice(&spki), want);
    cst_ok(cs_key_id(pub, id));
    assert_memory_equal(id, want, 32);
    cst_ok(cs_key_id(full, id));
    assert_memory_equal(id, want, 32);
    /* kept once computed: asked again, the same id */
    for (int i = 0; i < 3; i++) {
        memset(id, 0, sizeof id);
        cst_ok(cs_key_id(pub, id));
        assert_memory_equal(id, want, 32);
    }
    /* the same public key, with or without its private half; not another */
    assert_true(cs_key_same_public(pub, full));
    assert_true(cs_key_same_public(full, pub));
    cs_key *other = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &other));
    assert_false(cs_key_same_public(pub, other));
    cst_ok(cs_key_id(other, id));
    assert_memory_not_equal(id, want, 32);
    cs_key_free(other);
    cs_buf ours;
    cs_buf_init(&ours, 0);
    cst_ok(cs_key_spki_der(pub, &ours));
    assert_int_equal(ours.len, spki.len);
    assert_memory_equal(ours.ptr, spki.ptr, spki.len);
    cs_key *from_der = NULL;
    cst_ok(cs_key_from_spki_der(cs_buf_slice(&spki), &from_der));
    cs_key_free(from_der);
    cst_ok(cs_buf_append_u8(&spki, 0));
    cst_fails(cs_key_from_spki_der(cs_buf_slice(&spki), &from_der), CONSORT_E_TRAILING_DATA);

    /* the private scalar signs; the public point verifies */
    cs_buf sig;
    cs_buf_init(&sig, 0);
    cst_ok(cs_ecdsa_sign(full, CS_HASH_SHA256, CS_SLICE_LIT("sample"), CS_SIG_RAW, &sig));
    cst_ok(cs_ecdsa_verify(pub, CS_HASH_SHA256, CS_SLICE_LIT("sample"), CS_SIG_RAW,
                           cs_buf_slice(&sig)));

    /* a point off the curve (y + 1), wrong lengths, wrong curve */
    cs_buf x, y;
    cst_hex(RFC6979_UX, &x);
    cst_hex(RFC6979_UY, &y);
    y.ptr[31] ^= 0x01;
    cs_key *k = NULL;
    cst_fails(cs_key_from_ec_coords(CS_CURVE_P256, cs_buf_slice(&x), cs_buf_slice(&y),
                                    CS_SLICE_EMPTY, &k),
              CONSORT_E_MALFORMED);
    y.ptr[31] ^= 0x01;
    cst_fails(cs_key_from_ec_coords(CS_CURVE_P256, CS_SLICE(x.ptr, 31), cs_buf_slice(&y),
                                    CS_SLICE_EMPTY, &k),
              CONSORT_E_MALFORMED);
    cst_fails(cs_key_from_ec_coords(CS_CURVE_P384, cs_buf_slice(&x), cs_buf_slice(&y),
                                    CS_SLICE_EMPTY, &k),
              CONSORT_E_MALFORMED);
    cst_fails(cs_key_from_ec_coords(CS_CURVE_NONE, cs_buf_slice(&x), cs_buf_slice(&y),
                                    CS_SLICE_EMPTY, &k),
              CONSORT_E_INVALID_ARGUMENT);
    /* a private scalar that is not the point's */
    cs_buf d;
    cst_hex(RFC6979_D, &d);
    d.ptr[31] ^= 0x01;
    cst_fails(cs_key_from_ec_coords(CS_CURVE_P256, cs_buf_slice(&x), cs_buf_slice(&y),
                                    cs_buf_slice(&d), &k),
              CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "does not match the public point"));
    cs_buf_cleanup(&d);
    assert_null(k);
    cs_buf_cleanup(&x);
    cs_buf_cleanup(&y);
    cs_buf_cleanup(&sig);
    cs_buf_cleanup(&ours);
    cs_buf_cleanup(&spki);
    cs_key_free(full);
    cs_key_free(pub);
}

static void rsa_keys_are_refused_for_ecdsa(void **state)
{
    (void)state;
    cs_x509 *ark = NULL;
    cst_ok(cs_x509_load_file(cst_testdata_path("sev-snp/certs/ark_milan.pem"), &ark));
    cs_key *rsa = NULL;
    cst_ok(cs_x509_public_key(ark, &rsa));
    assert_string_equal(cs_key_type_name(rsa), "RSA");
    assert_int_equal(cs_key_curve(rsa), CS_CURVE_NONE);
    assert_false(cs_key_has_private(rsa));
    cs_buf sig;
    cs_buf_init(&sig, 0);
    cst_fails(cs_ecdsa_sign(rsa, CS_HASH_SHA256, CS_SLICE_LIT("m"), CS_SIG_DER, &sig),
              CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "key is RSA, not an EC key"));
    uint8_t junk[64] = {0};
    cst_fails(
        cs_ecdsa_verify(rsa, CS_HASH_SHA256, CS_SLICE_LIT("m"), CS_SIG_RAW, CS_SLICE(junk, 64)),
        CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "ECDSA verify: key is RSA"));
    assert_int_equal(sig.len, 0);
    /* its SPKI and id are still available (e.g. for pinning an ARK) */
    uint8_t id[32];
    cst_ok(cs_key_id(rsa, id));
    cs_buf_cleanup(&sig);
    cs_key_free(rsa);
    cs_x509_free(ark);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(curves_and_generation),
        cmocka_unit_test(sign_verify_both_encodings),
        cmocka_unit_test(every_bit_flip_is_rejected),
        cmocka_unit_test(signature_encoding_errors),
        cmocka_unit_test(pem_round_trips),
        cmocka_unit_test(ec_coordinates_and_key_id),
        cmocka_unit_test(rsa_keys_are_refused_for_ecdsa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
