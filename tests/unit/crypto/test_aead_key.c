/*
 * Kept AES-GCM keys (crypto/aead_key.h) give exactly cs_aead_seal's output
 * and refuse any change like cs_aead_open; ECDH (crypto/key.h cs_key_ecdh)
 * agrees on both sides and refuses a key without its private half.
 */
#include "testutil.h"

#include "crypto/aead_key.h"
#include "crypto/key.h"

static void test_same_as_one_shot(void **state)
{
    (void)state;
    uint8_t key[32] = {7}, nonce[12] = {1};
    cs_aead_key *k;
    cst_ok(cs_aead_key_new(key, &k));
    cs_buf a, b, out;
    cs_buf_init(&a, 0);
    cs_buf_init(&b, 0);
    cs_buf_init(&out, 0);
    for (int round = 0; round < 3; round++) {
        nonce[0] = (uint8_t)round;
        cs_buf_reset(&a);
        cs_buf_reset(&b);
        cst_ok(cs_aead_seal(key, nonce, CS_SLICE_LIT("aad"), CS_SLICE_LIT("plain"), &a));
        cst_ok(cs_aead_key_seal(k, nonce, CS_SLICE_LIT("aad"), CS_SLICE_LIT("plain"), &b));
        assert_true(cs_slice_eq(cs_buf_slice(&a), cs_buf_slice(&b)));
        cs_buf_reset(&out);
        cst_ok(cs_aead_key_open(k, nonce, CS_SLICE_LIT("aad"), cs_buf_slice(&a), &out));
        assert_true(cs_slice_eq(cs_buf_slice(&out), CS_SLICE_LIT("plain")));
    }
    for (size_t i = 0; i < a.len; i++) {
        a.ptr[i] ^= 0x80;
        cs_buf_reset(&out);
        cst_fails(cs_aead_key_open(k, nonce, CS_SLICE_LIT("aad"), cs_buf_slice(&a), &out),
                  CONSORT_E_BAD_TAG);
        assert_int_equal(out.len, 0);
        a.ptr[i] ^= 0x80;
    }
    cst_fails(cs_aead_key_open(k, nonce, CS_SLICE_LIT("aaD"), cs_buf_slice(&a), &out),
              CONSORT_E_BAD_TAG);
    cst_fails(cs_aead_key_open(k, nonce, CS_SLICE_EMPTY, CS_SLICE(a.ptr, 15), &out),
              CONSORT_E_BAD_TAG);
    cs_aead_key_free(k);
    cs_aead_key_free(NULL);
    cs_buf_cleanup(&a);
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&out);
}

static void test_ecdh(void **state)
{
    (void)state;
    cs_key *a, *b, *a_pub, *p384;
    cst_ok(cs_key_generate(CS_CURVE_P256, &a));
    cst_ok(cs_key_generate(CS_CURVE_P256, &b));
    cst_ok(cs_key_generate(CS_CURVE_P384, &p384));
    cs_buf spki, ab, ba;
    cs_buf_init(&spki, 0);
    cs_buf_init_secret(&ab, 0);
    cs_buf_init_secret(&ba, 0);
    cst_ok(cs_key_spki_der(a, &spki));
    cst_ok(cs_key_from_spki_der(cs_buf_slice(&spki), &a_pub));
    cst_ok(cs_key_ecdh(a, b, &ab));
    cst_ok(cs_key_ecdh(b, a_pub, &ba));
    assert_int_equal(ab.len, 32);
    assert_true(cs_slice_eq(cs_buf_slice(&ab), cs_buf_slice(&ba)));
    cst_fails(cs_key_ecdh(a_pub, b, &ab), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_key_ecdh(a, p384, &ab), CONSORT_E_INVALID_ARGUMENT);
    cs_key_free(a);
    cs_key_free(b);
    cs_key_free(a_pub);
    cs_key_free(p384);
    cs_buf_cleanup(&spki);
    cs_buf_cleanup(&ab);
    cs_buf_cleanup(&ba);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_one_shot),
        cmocka_unit_test(test_ecdh),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
