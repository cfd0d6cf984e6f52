/*
 * EC public keys from raw coordinates (src/crypto/ec_pub.h): the same key as
 * cs_key_from_ec_coords for every valid point, and every invalid one refused
 * (wrong length, off the curve, coordinate >= p, the all-zero encoding).
 */
#include "testutil.h"

#include "crypto/ec_pub.h"

#include <string.h>

/* x || y of a fresh key on `curve` (the end of its SubjectPublicKeyInfo). */
static void fresh_xy(cs_curve curve, uint8_t *xy, size_t len, cs_key **key)
{
    cst_ok(cs_key_generate(curve, key));
    cs_buf spki;
    cs_buf_init(&spki, 0);
    cst_ok(cs_key_spki_der(*key, &spki));
    assert_true(spki.len > len);
    assert_int_equal(spki.ptr[spki.len - len - 1], 0x04); /* uncompressed point */
    memcpy(xy, spki.ptr + spki.len - len, len);
    cs_buf_cleanup(&spki);
}

static void valid_points_give_the_same_key(void **state)
{
    (void)state;
    const cs_curve curves[] = {CS_CURVE_P256, CS_CURVE_P384};
    for (size_t i = 0; i < CS_ARRAY_LEN(curves); i++) {
        size_t field = cs_curve_field_len(curves[i]);
        uint8_t xy[2 * 48];
        cs_key *gen = NULL, *quick = NULL, *full = NULL;
        fresh_xy(curves[i], xy, 2 * field, &gen);
        cst_ok(cs_ecpub_from_xy(curves[i], CS_SLICE(xy, 2 * field), &quick));
        cst_ok(cs_key_from_ec_coords(curves[i], CS_SLICE(xy, field), CS_SLICE(xy + field, field),
                                     CS_SLICE_EMPTY, &full));
        assert_int_equal(cs_key_curve(quick), curves[i]);
        assert_false(cs_key_has_private(quick));
        uint8_t a[32], b[32], c[32];
        cst_ok(cs_key_id(gen, a));
        cst_ok(cs_key_id(quick, b));
        cst_ok(cs_key_id(full, c));
        assert_memory_equal(a, b, 32);
        assert_memory_equal(b, c, 32);
        /* It verifies what the private half signs. */
        cs_buf sig;
        cs_buf_init(&sig, 0);
        cst_ok(cs_ecdsa_sign(gen, CS_HASH_SHA256, CS_SLICE_LIT("msg"), CS_SIG_RAW, &sig));
        cst_ok(cs_ecdsa_verify(quick, CS_HASH_SHA256, CS_SLICE_LIT("msg"), CS_SIG_RAW,
                               cs_buf_slice(&sig)));
        cs_buf_cleanup(&sig);
        cs_key_free(gen);
        cs_key_free(quick);
        cs_key_free(full);
    }
}

static void invalid_points_are_refused(void **state)
{
    (void)state;
    uint8_t xy[64];
    cs_key *gen = NULL, *k = NULL;
    fresh_xy(CS_CURVE_P256, xy, sizeof xy, &gen);
    cs_key_free(gen);

    cst_fails(cs_ecpub_from_xy(CS_CURVE_P256, CS_SLICE(xy, 63), &k), CONSORT_E_MALFORMED);
    cst_fails(cs_ecpub_from_xy(CS_CURVE_P384, CS_SLICE(xy, 64), &k), CONSORT_E_MALFORMED);
    cst_fails(cs_ecpub_from_xy(CS_CURVE_NONE, CS_SLICE(xy, 64), &k), CONSORT_E_INVALID_ARGUMENT);
    for (size_t bit = 0; bit < 512; bit += 37) { /* off the curve */
        xy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cst_fails(cs_ecpub_from_xy(CS_CURVE_P256, CS_SLICE(xy, 64), &k), CONSORT_E_MALFORMED);
        xy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    uint8_t zero[64] = {0}; /* (0, 0): how some encoders write the point at infinity */
    cst_fails(cs_ecpub_from_xy(CS_CURVE_P256, CS_SLICE(zero, 64), &k), CONSORT_E_MALFORMED);
    /* x = p (FIPS 186-4 D.1.2.3), out of range even though x mod p = 0. */
    uint8_t big[64] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01};
    memset(big + 20, 0xff, 12);
    cst_fails(cs_ecpub_from_xy(CS_CURVE_P256, CS_SLICE(big, 64), &k), CONSORT_E_MALFORMED);
    assert_null(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_points_give_the_same_key),
        cmocka_unit_test(invalid_points_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
