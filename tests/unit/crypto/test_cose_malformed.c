/*
 * COSE_Sign1 decode (src/crypto/cose.h) against hand-built malformed
 * messages: wrong tags, wrong types for every field, indefinite lengths,
 * duplicate or conflicting labels, the common-parameter rules of RFC 9052
 * §3.1, caps on size, entries and nesting. Each case names the reason the
 * error message must give. Signatures and round trips are in test_cose.c.
 */
#include "testutil.h"

#include "crypto/cose.h"

#include <string.h>

/* Hex with spaces allowed, for readable CBOR. */
static void hex(const char *spaced, cs_buf *out)
{
    char packed[4096];
    size_t n = 0;
    for (const char *p = spaced; *p != '\0'; p++)
        if (*p != ' ') {
            assert_true(n + 1 < sizeof packed);
            packed[n++] = *p;
        }
    packed[n] = '\0';
    if (n == 0) /* (cst_hex("") would memset a NULL buffer: cs_buf_extend with 0) */
        cs_buf_init(out, 0);
    else
        cst_hex(packed, out);
}

static void assert_err_contains(const char *needle)
{
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("error message \"%s\" lacks \"%s\"", consort_errmsg(), needle);
}

/* 64 zero bytes as a bstr: the shape of an ES256 signature */
#define SIG64                                                                                      \
    "5840 0000000000000000000000000000000000000000000000000000000000000000"                        \
    "0000000000000000000000000000000000000000000000000000000000000000"

static void well_formed_baselines_decode(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "d2 84 43a10126 a0 426869 " SIG64,                 /* tagged */
        "84 43a10126 a0 426869 " SIG64,                    /* untagged */
        "d2 84 43a10126 a0 f6 " SIG64,                     /* detached */
        "d2 84 40 a10126 426869 " SIG64,                   /* zero-length protected */
        "d2 84 41a0 a0 40 " SIG64,                         /* h'A0' protected, empty payload */
        "d2 84 43a10126 a2 0441 6b 6178 01 426869 " SIG64, /* text label "x" */
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(ok); i++) {
        cs_buf b;
        hex(ok[i], &b);
        cs_cose_sign1 m;
        consort_err rc = cs_cose_sign1_decode(cs_buf_slice(&b), &m);
        if (rc != CONSORT_OK)
            fail_msg("baseline %zu: %s", i, consort_errmsg());
        assert_int_equal(m.signature.len, 64);
        cs_buf_cleanup(&b);
    }
}

static void malformed_messages_are_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        consort_err code;
        const char *why;
    } bad[] = {
        /* envelope */
        {"", CONSORT_E_TRUNCATED, "input ends"},
        {"d8 62 84 43a10126 a0 426869 " SIG64, CONSORT_E_UNSUPPORTED, "tag 98"},
        {"d1 84 43a10126 a0 426869 " SIG64, CONSORT_E_UNSUPPORTED, "tag 17"},
        {"d2 d2 84 43a10126 a0 426869 " SIG64, CONSORT_E_MALFORMED, "expected array"},
        {"a1 01 26", CONSORT_E_MALFORMED, "expected array"},
        {"d2 83 43a10126 a0 426869", CONSORT_E_MALFORMED, "array of 3 items, expected 4"},
        {"d2 85 43a10126 a0 426869 " SIG64 " 00", CONSORT_E_MALFORMED, "array of 5 items"},
        {"d2 9f 43a10126 a0 426869 " SIG64 " ff", CONSORT_E_UNSUPPORTED, "indefinite"},
        {"d2 84 43a10126 a0 426869 " SIG64 " 00", CONSORT_E_TRAILING_DATA, "trailing"},
        /* protected */
        {"d2 84 a10126 a0 426869 " SIG64, CONSORT_E_MALFORMED, "protected header"},
        {"d2 84 4180 a0 426869 " SIG64, CONSORT_E_MALFORMED, "expected map"},
        {"d2 84 44a1012600 a0 426869 " SIG64, CONSORT_E_TRAILING_DATA, "protected header"},
        {"d2 84 42a101 a0 426869 " SIG64, CONSORT_E_TRUNCATED, "protected header"},
        {"d2 84 5f43a10126ff a0 426869 " SIG64, CONSORT_E_UNSUPPORTED, "indefinite"},
        {"d2 84 f6 a0 426869 " SIG64, CONSORT_E_MALFORMED, "expected byte string"},
        /* unprotected */
        {"d2 84 43a10126 40 426869 " SIG64, CONSORT_E_MALFORMED, "unprotected header"},
        {"d2 84 43a10126 f6 426869 " SIG64, CONSORT_E_MALFORMED, "expected map"},
        {"d2 84 43a10126 bfff 426869 " SIG64, CONSORT_E_UNSUPPORTED, "indefinite"},
        {"d2 84 43a10126 a9 426869 " SIG64, CONSORT_E_MALFORMED, "unprotected header"},
        /* payload */
        {"d2 84 43a10126 a0 626869 " SIG64, CONSORT_E_MALFORMED, "payload: text string"},
        {"d2 84 43a10126 a0 80 " SIG64, CONSORT_E_MALFORMED, "payload: array"},
        {"d2 84 43a10126 a0 f7 " SIG64, CONSORT_E_MALFORMED, "expected bstr or nil"},
        {"d2 84 43a10126 a0 5f416841 69ff " SIG64, CONSORT_E_UNSUPPORTED, "indefinite"},
        /* signature */
        {"d2 84 43a10126 a0 426869 f6", CONSORT_E_MALFORMED, "signature"},
        {"d2 84 43a10126 a0 426869 6161", CONSORT_E_MALFORMED, "signature"},
        {"d2 84 43a10126 a0 426869 5841 00", CONSORT_E_TRUNCATED, "signature"},
        /* labels (RFC 9052 §1.5, §3) */
        {"d2 84 45a2012601 26 a0 426869 " SIG64, CONSORT_E_MALFORMED, "duplicate label 1"},
        {"d2 84 46a201261801 26 a0 426869 " SIG64, CONSORT_E_MALFORMED, "duplicate label 1"},
        {"d2 84 43a10126 a2 04416b 04416b 426869 " SIG64, CONSORT_E_MALFORMED, "duplicate label 4"},
        {"d2 84 43a10126 a2 617801 617802 426869 " SIG64, CONSORT_E_MALFORMED,
         "duplicate label \"x\""},
        {"d2 84 43a10126 a1 0126 426869 " SIG64, CONSORT_E_MALFORMED,
         "label 1 is in both the protected and the unprotected header"},
        {"d2 84 43a10126 a1 410101 426869 " SIG64, CONSORT_E_MALFORMED,
         "is a byte string, expected int or tstr"},
        {"d2 84 43a10126 a1 f93c0001 426869 " SIG64, CONSORT_E_MALFORMED, "expected int or tstr"},
        {"d2 84 43a10126 a1 1bffffffffffffffff 01 426869 " SIG64, CONSORT_E_MALFORMED,
         "out of range"},
        /* common parameters (RFC 9052 §3.1 Table 3) */
        {"d2 84 44a1014100 a0 426869 " SIG64, CONSORT_E_MALFORMED,
         "label 1 has a byte string value, expected int or tstr"},
        {"d2 84 43a10126 a1 0401 426869 " SIG64, CONSORT_E_MALFORMED, "expected bstr"},
        {"d2 84 43a10126 a1 0320 426869 " SIG64, CONSORT_E_MALFORMED, "expected uint or tstr"},
        {"d2 84 43a10126 a1 05f6 426869 " SIG64, CONSORT_E_MALFORMED, "expected bstr"},
        {"d2 84 45a201260280 a0 426869 " SIG64, CONSORT_E_MALFORMED, "at least one value"},
        {"d2 84 45a201260201 a0 426869 " SIG64, CONSORT_E_MALFORMED, "expected array"},
        {"d2 84 46a20126028140 a0 426869 " SIG64, CONSORT_E_MALFORMED, "crit"},
        {"d2 84 43a10126 a2 028104 04416b 426869 " SIG64, CONSORT_E_MALFORMED,
         "crit is in the unprotected header"},
        {"d2 84 46a20126028109 a0 426869 " SIG64, CONSORT_E_MALFORMED,
         "crit lists label 9, which is not in the protected header"},
        {"d2 84 46a2012605 4100 a1 064100 426869 " SIG64, CONSORT_E_MALFORMED,
         "both IV and Partial IV"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cs_buf b;
        hex(bad[i].hex, &b);
        cs_cose_sign1 m;
        consort_err rc = cs_cose_sign1_decode(cs_buf_slice(&b), &m);
        if (rc != bad[i].code)
            fail_msg("case %zu (%s): got %s, expected %s (%s)", i, bad[i].hex, consort_err_name(rc),
                     consort_err_name(bad[i].code), consort_errmsg());
        if (strstr(consort_errmsg(), bad[i].why) == NULL)
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, consort_errmsg(), bad[i].why);
        cs_buf_cleanup(&b);
    }
}

static void caps_are_enforced(void **state)
{
    (void)state;
    cs_cose_sign1 m;
    /* more than CS_COSE_MAX_HEADERS entries in the unprotected map */
    cs_buf b;
    hex("d2 84 43a10126 b1", &b);
    for (uint8_t i = 0; i < 17; i++) {
        cst_ok(cs_buf_append_u8(&b, (uint8_t)(0x07 + i))); /* labels 7..23 */
        cst_ok(cs_buf_append_u8(&b, 0x00));
    }
    cs_buf tail;
    hex("426869 " SIG64, &tail);
    cst_ok(cs_buf_append_slice(&b, cs_buf_slice(&tail)));
    cst_fails(cs_cose_sign1_decode(cs_buf_slice(&b), &m), CONSORT_E_TOO_LARGE);
    assert_err_contains("map of 17 entries, limit 16");
    cs_buf_cleanup(&b);

    /* nesting deeper than the CBOR reader's cap inside a header value */
    hex("d2 84 43a10126 a1 07", &b);
    for (int i = 0; i < 40; i++)
        cst_ok(cs_buf_append_u8(&b, 0x81));
    cst_ok(cs_buf_append_u8(&b, 0x00));
    cst_ok(cs_buf_append_slice(&b, cs_buf_slice(&tail)));
    cst_fails(cs_cose_sign1_decode(cs_buf_slice(&b), &m), CONSORT_E_TOO_LARGE);
    assert_err_contains("nesting");
    cs_buf_cleanup(&b);

    /* the total size cap: one byte over 1 MiB, whatever it holds */
    cs_buf big;
    cs_buf_init(&big, 0);
    uint8_t *p;
    cst_ok(cs_buf_extend(&big, CS_COSE_MAX_MESSAGE + 1, &p));
    cst_fails(cs_cose_sign1_decode(cs_buf_slice(&big), &m), CONSORT_E_TOO_LARGE);
    assert_err_contains("limit 1048576");
    cs_buf_cleanup(&big);
    cs_buf_cleanup(&tail);
}

/* Rules that only verify applies: alg presence and value, signature length. */
static void verify_rejects_bad_alg_and_signature_shape(void **state)
{
    (void)state;
    cs_key *key;
    cst_ok(cs_key_generate(CS_CURVE_P256, &key));
    static const struct {
        const char *hex;
        consort_err code;
        const char *why;
    } bad[] = {
        {"d2 84 40 a0 426869 " SIG64, CONSORT_E_MALFORMED, "no alg in the protected header"},
        {"d2 84 40 a10126 426869 " SIG64, CONSORT_E_MALFORMED,
         "alg is only in the unprotected header"},
        {"d2 84 4ba1011bffffffffffffffff a0 426869 " SIG64, CONSORT_E_UNSUPPORTED,
         "beyond 64 bits"},
        {"d2 84 43a10106 a0 426869 " SIG64, CONSORT_E_UNSUPPORTED, "alg 6 unsupported"},
        {"d2 84 44a1013824 a0 426869 " SIG64, CONSORT_E_UNSUPPORTED, "alg -37 unsupported"},
        {"d2 84 43a10126 a0 426869 5820 "
         "0000000000000000000000000000000000000000000000000000000000000000",
         CONSORT_E_BAD_SIGNATURE, "signature is 32 bytes, expected 64 for a P-256 key"},
        {"d2 84 43a10126 a0 426869 " SIG64, CONSORT_E_BAD_SIGNATURE, "does not verify"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cs_buf b;
        hex(bad[i].hex, &b);
        cs_cose_sign1 m;
        cst_ok(cs_cose_sign1_decode(cs_buf_slice(&b), &m));
        consort_err rc = cs_cose_sign1_verify(&m, key, NULL);
        if (rc != bad[i].code)
            fail_msg("case %zu: got %s, expected %s (%s)", i, consort_err_name(rc),
                     consort_err_name(bad[i].code), consort_errmsg());
        assert_err_contains(bad[i].why);
        cs_buf_cleanup(&b);
    }
    cs_key_free(key);
}

static void header_api_edges(void **state)
{
    (void)state;
    cs_cose_headers h;
    cst_ok(cs_cose_headers_parse(CS_SLICE_EMPTY, &h));
    assert_int_equal(h.count, 0);
    assert_int_equal(h.raw.len, 0);
    cs_slice raw;
    cst_fails(cs_cose_headers_get(&h, CS_COSE_HDR_ALG, &raw), CONSORT_E_NOT_FOUND);
    assert_err_contains("no label 1");
    assert_false(cs_cose_headers_has(&h, CS_COSE_HDR_ALG));

    cs_buf b;
    hex("a3 0126 04426b31 6474657874 6568656c6c6f", &b); /* {1: -7, 4: h'6b31', "text": "hello"} */
    cst_ok(cs_cose_headers_parse(cs_buf_slice(&b), &h));
    assert_int_equal(h.count, 3);
    assert_true(cs_slice_eq(h.raw, cs_buf_slice(&b)));
    int64_t alg;
    cst_ok(cs_cose_headers_get_int(&h, CS_COSE_HDR_ALG, &alg));
    assert_int_equal(alg, -7);
    cs_slice s;
    cst_fails(cs_cose_headers_get_text(&h, CS_COSE_HDR_KID, &s), CONSORT_E_MALFORMED);
    cst_fails(cs_cose_headers_get_bytes(&h, CS_COSE_HDR_ALG, &s), CONSORT_E_MALFORMED);
    cst_ok(cs_cose_headers_find(&h, (cs_cose_label){.is_text = true, .text = CS_SLICE_LIT("text")},
                                &s));
    assert_true(cs_slice_eq(s, CS_SLICE_LIT("\x65hello")));
    /* an integer label never matches a text label of the same spelling */
    cst_fails(
        cs_cose_headers_find(&h, (cs_cose_label){.is_text = true, .text = CS_SLICE_LIT("1")}, &s),
        CONSORT_E_NOT_FOUND);
    assert_string_equal(cs_cose_alg_name(CS_COSE_ES384), "ES384");
    assert_string_equal(cs_cose_alg_name(-999), "unknown");
    cs_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed_baselines_decode),
        cmocka_unit_test(malformed_messages_are_rejected),
        cmocka_unit_test(caps_are_enforced),
        cmocka_unit_test(verify_rejects_bad_alg_and_signature_shape),
        cmocka_unit_test(header_api_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
