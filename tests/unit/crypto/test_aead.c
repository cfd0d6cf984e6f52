/*
 * AES-256-GCM and HKDF-SHA256 known answers, and tamper rejection.
 *
 * GCM vectors: McGrew & Viega, "The Galois/Counter Mode of Operation",
 * Appendix B, test cases 13-16 (the 256-bit-key cases with 96-bit IVs;
 * 17 and 18 use other IV lengths, which this API does not take).
 * HKDF vectors: RFC 5869 Appendix A.1 (test case 1) and A.3 (test case 3).
 */
#include "testutil.h"

#include "crypto/aead.h"
#include "crypto/hash.h"

#include <string.h>

typedef struct gcm_vector {
    const char *name, *key, *iv, *plain, *aad, *cipher, *tag;
} gcm_vector;

#define K_FEFF "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
#define P_60                                                                                       \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"                             \
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define C_60                                                                                       \
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"                             \
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"

static const gcm_vector gcm_vectors[] = {
    {"test case 13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"test case 14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"test case 15", K_FEFF, "cafebabefacedbaddecaf888", P_60 "1aafd255", "", C_60 "898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"test case 16", K_FEFF, "cafebabefacedbaddecaf888", P_60,
     "feedfacedeadbeeffeedfacedeadbeefabaddad2", C_60, "76fc6ece0f4e1768cddf8853bb2d551b"},
};

typedef struct decoded {
    cs_buf key, iv, plain, aad, sealed;
} decoded;

/* cst_hex, but "" gives an empty buffer without touching the decoder. */
static void hex(const char *text, cs_buf *out)
{
    if (text[0] == '\0')
        cs_buf_init(out, 0);
    else
        cst_hex(text, out);
}

static void decode(const gcm_vector *v, decoded *d)
{
    hex(v->key, &d->key);
    hex(v->iv, &d->iv);
    hex(v->plain, &d->plain);
    hex(v->aad, &d->aad);
    hex(v->cipher, &d->sealed);
    cs_buf tag;
    hex(v->tag, &tag);
    cst_ok(cs_buf_append_slice(&d->sealed, cs_buf_slice(&tag)));
    cs_buf_cleanup(&tag);
    assert_int_equal(d->key.len, CS_AEAD_KEY_LEN);
    assert_int_equal(d->iv.len, CS_AEAD_NONCE_LEN);
}

static void decoded_free(decoded *d)
{
    cs_buf_cleanup(&d->key);
    cs_buf_cleanup(&d->iv);
    cs_buf_cleanup(&d->plain);
    cs_buf_cleanup(&d->aad);
    cs_buf_cleanup(&d->sealed);
}

static void gcm_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < CS_ARRAY_LEN(gcm_vectors); i++) {
        decoded d;
        decode(&gcm_vectors[i], &d);
        cs_buf out;
        cs_buf_init(&out, 0);
        cst_ok(cs_buf_append(&out, "prefix", 6)); /* appends, keeps what was there */
        cst_ok(
            cs_aead_seal(d.key.ptr, d.iv.ptr, cs_buf_slice(&d.aad), cs_buf_slice(&d.plain), &out));
        if (out.len != 6 + d.sealed.len || memcmp(out.ptr + 6, d.sealed.ptr, d.sealed.len) != 0)
            fail_msg("%s: sealed output differs", gcm_vectors[i].name);
        assert_memory_equal(out.ptr, "prefix", 6);
        cs_buf plain;
        cs_buf_init(&plain, 0);
        cst_ok(cs_aead_open(d.key.ptr, d.iv.ptr, cs_buf_slice(&d.aad), cs_buf_slice(&d.sealed),
                            &plain));
        assert_int_equal(plain.len, d.plain.len);
        if (plain.len > 0)
            assert_memory_equal(plain.ptr, d.plain.ptr, plain.len);
        cs_buf_cleanup(&plain);
        cs_buf_cleanup(&out);
        decoded_free(&d);
    }
}

static void expect_bad_tag(decoded *d, const char *what, size_t bit)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_buf_append(&out, "keep", 4));
    consort_err rc =
        cs_aead_open(d->key.ptr, d->iv.ptr, cs_buf_slice(&d->aad), cs_buf_slice(&d->sealed), &out);
    if (rc != CONSORT_E_BAD_TAG)
        fail_msg("flip of %s bit %zu: %s, expected BAD_TAG", what, bit, consort_err_name(rc));
    assert_int_equal(out.len, 4); /* nothing appended */
    assert_memory_equal(out.ptr, "keep", 4);
    cs_buf_cleanup(&out);
}

static void flip_each_bit(decoded *d, cs_buf *field, const char *what)
{
    for (size_t bit = 0; bit < field->len * 8; bit++) {
        field->ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        expect_bad_tag(d, what, bit);
        field->ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

static void every_bit_flip_is_rejected(void **state)
{
    (void)state;
    decoded d;
    decode(&gcm_vectors[3], &d);                     /* test case 16: plaintext and aad */
    flip_each_bit(&d, &d.sealed, "ciphertext||tag"); /* covers the tag */
    flip_each_bit(&d, &d.aad, "aad");
    flip_each_bit(&d, &d.iv, "nonce");
    flip_each_bit(&d, &d.key, "key");
    /* truncated or extended */
    d.sealed.len--;
    expect_bad_tag(&d, "length", 0);
    d.sealed.len++;
    cst_ok(cs_buf_append_u8(&d.sealed, 0));
    expect_bad_tag(&d, "length", 1);
    d.sealed.len = 15;
    expect_bad_tag(&d, "length", 2);
    d.sealed.len = 0;
    expect_bad_tag(&d, "length", 3);
    decoded_free(&d);
}

static void seal_round_trips_and_limits(void **state)
{
    (void)state;
    uint8_t key[CS_AEAD_KEY_LEN], nonce[CS_AEAD_NONCE_LEN];
    memset(key, 0x42, sizeof key);
    memset(nonce, 0x07, sizeof nonce);
    uint8_t big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31);
    cs_buf sealed, plain;
    cs_buf_init(&sealed, 0);
    cs_buf_init(&plain, 0);
    cst_ok(cs_aead_seal(key, nonce, CS_SLICE_LIT("hdr"), CS_SLICE(big, sizeof big), &sealed));
    assert_int_equal(sealed.len, sizeof big + CS_AEAD_TAG_LEN);
    cst_ok(cs_aead_open(key, nonce, CS_SLICE_LIT("hdr"), cs_buf_slice(&sealed), &plain));
    assert_int_equal(plain.len, sizeof big);
    assert_memory_equal(plain.ptr, big, sizeof big);
    /* the wrong associated data fails */
    cs_buf_reset(&plain);
    cst_fails(cs_aead_open(key, nonce, CS_SLICE_LIT("hdR"), cs_buf_slice(&sealed), &plain),
              CONSORT_E_BAD_TAG);
    cst_fails(cs_aead_open(key, nonce, CS_SLICE_EMPTY, cs_buf_slice(&sealed), &plain),
              CONSORT_E_BAD_TAG);
    assert_int_equal(plain.len, 0);
    /* an output buffer too small for the result: nothing appended */
    cs_buf small;
    cs_buf_init(&small, 100);
    cst_fails(cs_aead_seal(key, nonce, CS_SLICE_EMPTY, CS_SLICE(big, 90), &small),
              CONSORT_E_TOO_LARGE);
    assert_int_equal(small.len, 0);
    cs_buf_cleanup(&small);
    cs_buf_cleanup(&sealed);
    cs_buf_cleanup(&plain);
}

/* RFC 4231 §4.2, §4.3 and §4.7 (a key longer than a block), and a key of
 * exactly one block over empty data (from `openssl dgst -mac HMAC`), with
 * the data given in parts. */
static void hmac_known_answers(void **state)
{
    (void)state;
    uint8_t key1[20], key6[131], key64[64], out[32];
    memset(key1, 0x0b, sizeof key1);
    memset(key6, 0xaa, sizeof key6);
    memset(key64, 0x11, sizeof key64);
    cs_buf want;
    const cs_slice hi[2] = {CS_SLICE_LIT("Hi "), CS_SLICE_LIT("There")};
    cs_hmac_sha256_parts(CS_SLICE(key1, sizeof key1), hi, 2, out);
    cst_hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", &want);
    assert_memory_equal(out, want.ptr, 32);
    cs_buf_cleanup(&want);
    const cs_slice jefe = CS_SLICE_LIT("what do ya want for nothing?");
    cs_hmac_sha256_parts(CS_SLICE_LIT("Jefe"), &jefe, 1, out);
    cst_hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", &want);
    assert_memory_equal(out, want.ptr, 32);
    cs_buf_cleanup(&want);
    const cs_slice big = CS_SLICE_LIT("Test Using Larger Than Block-Size Key - Hash Key First");
    cs_hmac_sha256_parts(CS_SLICE(key6, sizeof key6), &big, 1, out);
    cst_hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", &want);
    assert_memory_equal(out, want.ptr, 32);
    cs_buf_cleanup(&want);
    cs_hmac_sha256_parts(CS_SLICE(key64, sizeof key64), NULL, 0, out);
    cst_hex("01705563e53f123f48d6ca79bac287cae91cd42ce813d5174fe89d3abccee0a0", &want);
    assert_memory_equal(out, want.ptr, 32);
    cs_buf_cleanup(&want);
}

static void hkdf_known_answers(void **state)
{
    (void)state;
    cs_buf ikm, salt, info, want;
    cst_hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", &ikm);
    cst_hex("000102030405060708090a0b0c", &salt);
    cst_hex("f0f1f2f3f4f5f6f7f8f9", &info);
    /* RFC 5869 A.1: L = 42 */
    cst_hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865",
            &want);
    uint8_t okm[42];
    cst_ok(cs_hkdf_sha256(cs_buf_slice(&ikm), cs_buf_slice(&salt), cs_buf_slice(&info), okm,
                          sizeof okm));
    assert_memory_equal(okm, want.ptr, 42);
    /* a prefix of the output is the output of a shorter request */
    uint8_t okm10[10];
    cst_ok(cs_hkdf_sha256(cs_buf_slice(&ikm), cs_buf_slice(&salt), cs_buf_slice(&info), okm10,
                          sizeof okm10));
    assert_memory_equal(okm10, want.ptr, 10);
    cs_buf_cleanup(&want);
    /* RFC 5869 A.3: zero-length salt and info */
    cst_hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8",
            &want);
    cst_ok(cs_hkdf_sha256(cs_buf_slice(&ikm), CS_SLICE_EMPTY, CS_SLICE_EMPTY, okm, sizeof okm));
    assert_memory_equal(okm, want.ptr, 42);
    cs_buf_cleanup(&want);

    /* L is at most 255 * HashLen (RFC 5869 §2.3) */
    static uint8_t max_out[255 * 32 + 1];
    cst_ok(cs_hkdf_sha256(cs_buf_slice(&ikm), CS_SLICE_EMPTY, CS_SLICE_EMPTY, max_out, 255 * 32));
    cst_fails(
        cs_hkdf_sha256(cs_buf_slice(&ikm), CS_SLICE_EMPTY, CS_SLICE_EMPTY, max_out, 255 * 32 + 1),
        CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_hkdf_sha256(cs_buf_slice(&ikm), CS_SLICE_EMPTY, CS_SLICE_EMPTY, max_out, 0),
              CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&ikm);
    cs_buf_cleanup(&salt);
    cs_buf_cleanup(&info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gcm_known_answers),           cmocka_unit_test(every_bit_flip_is_rejected),
        cmocka_unit_test(seal_round_trips_and_limits), cmocka_unit_test(hmac_known_answers),
        cmocka_unit_test(hkdf_known_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
