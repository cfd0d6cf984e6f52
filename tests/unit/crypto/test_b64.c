/*
 * Strict base64 (crypto/b64.h, RFC 4648): the §10 test vectors both ways;
 * every length round-trips against OpenSSL's encoder; decoding refuses a
 * length that is not a multiple of 4, any byte outside the alphabet at any
 * place, padding anywhere but at the end, and non-zero pad bits (a second
 * spelling of the same bytes); a failed decode leaves the buffer as it was.
 */
#include "testutil.h"

#include "crypto/b64.h"
#include "crypto/rand.h"

#include <openssl/evp.h>
#include <string.h>

static void rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const text[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                       "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        cs_buf b;
        cs_buf_init(&b, 0);
        cst_ok(cs_b64_encode(cs_slice_str(plain[i]), &b));
        assert_int_equal(b.len, strlen(text[i]));
        assert_memory_equal(b.ptr, text[i], b.len);
        cs_buf_reset(&b);
        cst_ok(cs_b64_decode(cs_slice_str(text[i]), &b));
        assert_int_equal(b.len, strlen(plain[i]));
        if (b.len > 0)
            assert_memory_equal(b.ptr, plain[i], b.len);
        cs_buf_cleanup(&b);
    }
}

static void round_trips(void **state)
{
    (void)state;
    uint8_t data[300];
    cst_ok(cs_random(data, sizeof data));
    for (size_t n = 0; n <= sizeof data; n++) {
        unsigned char ref[404];
        int w = EVP_EncodeBlock(ref, data, (int)n);
        cs_buf b;
        cs_buf_init(&b, 0);
        cst_ok(cs_buf_append(&b, "keep", 4)); /* decoding appends */
        cst_ok(cs_b64_decode(CS_SLICE(ref, (size_t)w), &b));
        assert_int_equal(b.len, 4 + n);
        assert_memory_equal(b.ptr, "keep", 4);
        if (n > 0)
            assert_memory_equal(b.ptr + 4, data, n);
        cs_buf_cleanup(&b);
    }
}

static void refusals(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_buf_append(&b, "x", 1));
    static const char *const bad[] = {
        "Zg=",      /* not a multiple of 4 */
        "Zm9vY",    /* not a multiple of 4 */
        "Zg==Zg==", /* padding in the middle */
        "Z===",     /* three pad characters */
        "====",     /* padding only */
        "Zh==",     /* non-zero pad bits: "Zg==" is the encoding of "f" */
        "Zm9=",     /* non-zero pad bits: "Zm8=" is the encoding of "fo" */
        "Zm9v\n",   /* a line break */
        "Zm 9",     /* a space */
        "Zm-9",     /* base64url's alphabet */
        "Zm_9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cst_fails(cs_b64_decode(cs_slice_str(bad[i]), &b), CONSORT_E_MALFORMED);
        assert_int_equal(b.len, 1); /* as it was */
    }
    /* any byte outside the alphabet, at any place of a group */
    for (unsigned c = 0; c < 0x100; c++) {
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/';
        for (size_t at = 0; at < 8; at++) {
            uint8_t t[8];
            memcpy(t, "Zm9vYmFy", 8);
            t[at] = (uint8_t)c;
            consort_err rc = cs_b64_decode(CS_SLICE(t, 8), &b);
            if (alpha) {
                cst_ok(rc);
                b.len = 1;
            } else { /* '=' too: "Zm9vYmF=" has pad bits set, the others pad early */
                cst_fails(rc, CONSORT_E_MALFORMED);
                assert_int_equal(b.len, 1);
            }
        }
    }
    cs_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
