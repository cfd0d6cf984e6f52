/*
 * COSE_Sign1 (src/crypto/cose.h):
 *   - known answers: every cose-wg vector in ../shared/testdata/cose (see its
 *     PROVENANCE.md): decode, Sig_structure == ToBeSign_hex byte for byte,
 *     verify under the JWK key; every fail vector rejected for its reason;
 *   - sign-pass-01 and the decision taken on it;
 *   - round trips ES256/ES384, attached/detached, receipt-shaped headers,
 *     crit, another key, wrong AAD or payload, signer refusals;
 *   - every single-bit flip and every truncation of a signed message;
 *   - an allocation-failure sweep over sign + decode + verify.
 * Malformed-structure rejections are in test_cose_malformed.c.
 */
#include "testutil.h"

#include "base/alloc.h"
#include "base/cbor.h"
#include "crypto/cose.h"

#include <string.h>

/* ---- vectors ---- */

typedef struct vector {
    json_t *json;
    cs_key *key;
    cs_buf msg;      /* the .cbor file */
    cs_buf tbs;      /* intermediates.ToBeSign_hex */
    cs_buf aad;      /* input.sign0.external (hex), empty if absent */
    const char *kid; /* input.sign0.key.kid */
} vector;

/* base64url without padding (RFC 7515 §2, as JWKs use) into `out`. */
static void b64url(const char *s, cs_buf *out)
{
    char std[256];
    size_t n = strlen(s);
    assert_true(n + 4 < sizeof std);
    for (size_t i = 0; i < n; i++)
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (n % 4 != 0)
        std[n++] = '=';
    std[n] = '\0';
    cst_base64(std, out);
}

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void vector_load(const char *name, vector *v)
{
    char rel[128];
    snprintf(rel, sizeof rel, "cose/%s.json", name);
    v->json = cst_json_testdata(rel);
    json_t *sign0 = json_object_get(json_object_get(v->json, "input"), "sign0");
    json_t *jwk = json_object_get(sign0, "key");
    cs_curve curve;
    cst_ok(cs_curve_parse(jstr(jwk, "crv"), &curve));
    cs_buf x, y, d;
    b64url(jstr(jwk, "x"), &x);
    b64url(jstr(jwk, "y"), &y);
    b64url(jstr(jwk, "d"), &d);
    /* public half only: verification must not need the private scalar */
    cst_ok(
        cs_key_from_ec_coords(curve, cs_buf_slice(&x), cs_buf_slice(&y), CS_SLICE_EMPTY, &v->key));
    cs_buf_cleanup(&x);
    cs_buf_cleanup(&y);
    cs_buf_cleanup(&d);
    v->kid = jstr(jwk, "kid");

    snprintf(rel, sizeof rel, "cose/%s.cbor", name);
    cst_read_testdata(rel, &v->msg);
    /* the .cbor file is the hex-decoded output.cbor */
    cs_buf from_json;
    cst_hex(jstr(json_object_get(v->json, "output"), "cbor"), &from_json);
    assert_true(cs_slice_eq(cs_buf_slice(&from_json), cs_buf_slice(&v->msg)));
    cs_buf_cleanup(&from_json);
    cst_hex(jstr(json_object_get(v->json, "intermediates"), "ToBeSign_hex"), &v->tbs);
    json_t *ext = json_object_get(sign0, "external");
    if (ext != NULL)
        cst_hex(json_string_value(ext), &v->aad);
    else
        cs_buf_init(&v->aad, 0);
}

static void vector_free(vector *v)
{
    cs_key_free(v->key);
    cs_buf_cleanup(&v->msg);
    cs_buf_cleanup(&v->tbs);
    cs_buf_cleanup(&v->aad);
    json_decref(v->json);
}

static void assert_err_contains(const char *needle)
{
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("error message \"%s\" lacks \"%s\"", consort_errmsg(), needle);
}

/* ---- known answers ---- */

static void kat_pass_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        cs_cose_alg alg;
        bool tagged;
    } pass[] = {
        {"ecdsa-examples/ecdsa-sig-01", CS_COSE_ES256, true},
        {"ecdsa-examples/ecdsa-sig-02", CS_COSE_ES384, true},
        {"ecdsa-examples/ecdsa-sig-03", CS_COSE_ES512, true}, /* P-521 key */
        {"ecdsa-examples/ecdsa-sig-04", CS_COSE_ES512, true}, /* P-256 key, SHA-512 */
        {"sign1-tests/sign-pass-02", CS_COSE_ES256, true},    /* external AAD */
        {"sign1-tests/sign-pass-03", CS_COSE_ES256, false},   /* untagged */
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(pass); i++) {
        vector v;
        vector_load(pass[i].name, &v);
        cs_cose_sign1 m;
        cst_ok(cs_cose_sign1_decode(cs_buf_slice(&v.msg), &m));
        assert_int_equal(m.tagged, pass[i].tagged);
        assert_false(m.detached);
        assert_true(cs_slice_eq(m.payload, CS_SLICE_LIT("This is the content.")));
        cs_cose_alg alg;
        cst_ok(cs_cose_sign1_alg(&m, &alg));
        assert_int_equal(alg, pass[i].alg);
        cs_slice kid;
        cst_ok(cs_cose_headers_get_bytes(&m.unprotected_hdr, CS_COSE_HDR_KID, &kid));
        assert_true(cs_slice_eq(kid, cs_slice_str(v.kid)));

        cs_cose_verify_opts opts = {.external_aad = cs_buf_slice(&v.aad)};
        cs_buf tbs;
        cs_buf_init(&tbs, 0);
        cst_ok(cs_cose_sign1_tbs(&m, &opts, &tbs));
        if (!cs_slice_eq(cs_buf_slice(&tbs), cs_buf_slice(&v.tbs)))
            fail_msg("%s: rebuilt Sig_structure differs from ToBeSign_hex", pass[i].name);
        cs_buf_cleanup(&tbs);
        cst_ok(cs_cose_sign1_verify(&m, v.key, &opts));
        if (v.aad.len > 0) /* the AAD is covered: without it, no signature */
            cst_fails(cs_cose_sign1_verify(&m, v.key, NULL), CONSORT_E_BAD_SIGNATURE);
        vector_free(&v);
    }
}

/*
 * sign-pass-01 sends protected = h'A0' (an empty map, encoded) but was signed
 * over a Sig_structure whose body_protected is a zero-length bstr (ToBeSign
 * has 0x40). Decision: consort is strict. RFC 9052 §4.4 puts "the protected
 * attributes from the body structure, encoded in a bstr type" into the
 * Sig_structure, and §3 says a recipient must *accept* both encodings of the
 * empty map, not rewrite one into the other; what is signed is the bytes that
 * were sent. Normalising would also let an attacker swap the encodings. So the
 * vector is rejected. It is rejected twice over: its alg is only in the
 * unprotected header, which consort never trusts (RFC 9052 §3.1). The test
 * shows both facts and that the signature is genuine over the zero-length form.
 */
static void kat_sign_pass_01_is_rejected_strictly(void **state)
{
    (void)state;
    vector v;
    vector_load("sign1-tests/sign-pass-01", &v);
    cs_cose_sign1 m;
    cst_ok(cs_cose_sign1_decode(cs_buf_slice(&v.msg), &m));
    assert_true(cs_slice_eq(m.protected_bstr, CS_SLICE_LIT("\xa0")));
    assert_int_equal(m.protected_hdr.count, 0);
    assert_true(cs_cose_headers_has(&m.unprotected_hdr, CS_COSE_HDR_ALG));

    /* reason 1: alg is not protected */
    cst_fails(cs_cose_sign1_verify(&m, v.key, NULL), CONSORT_E_MALFORMED);
    assert_err_contains("alg is only in the unprotected header");

    /* reason 2: the strict Sig_structure covers h'A0' and is not what was signed */
    cs_buf strict;
    cs_buf_init(&strict, 0);
    cst_ok(cs_cose_sign1_tbs(&m, NULL, &strict));
    assert_false(cs_slice_eq(cs_buf_slice(&strict), cs_buf_slice(&v.tbs)));
    cst_fails(
        cs_ecdsa_verify(v.key, CS_HASH_SHA256, cs_buf_slice(&strict), CS_SIG_RAW, m.signature),
        CONSORT_E_BAD_SIGNATURE);

    /* the signature is genuine over the zero-length form (ToBeSign_hex) */
    cs_buf zero;
    cs_buf_init(&zero, 0);
    cst_ok(cs_cose_sig_structure(CS_SLICE_EMPTY, CS_SLICE_EMPTY, m.payload, &zero));
    assert_true(cs_slice_eq(cs_buf_slice(&zero), cs_buf_slice(&v.tbs)));
    cst_ok(cs_ecdsa_verify(v.key, CS_HASH_SHA256, cs_buf_slice(&zero), CS_SIG_RAW, m.signature));
    cs_buf_cleanup(&strict);
    cs_buf_cleanup(&zero);
    vector_free(&v);
}

static void kat_fail_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool decodes;
        consort_err code;
        const char *why;
    } fail[] = {
        {"sign1-tests/sign-fail-01", false, CONSORT_E_UNSUPPORTED, "tag 998"},
        {"sign1-tests/sign-fail-02", true, CONSORT_E_BAD_SIGNATURE, "does not verify"},
        {"sign1-tests/sign-fail-03", true, CONSORT_E_UNSUPPORTED, "alg -999 unsupported"},
        {"sign1-tests/sign-fail-04", true, CONSORT_E_UNSUPPORTED, "alg \"unknown\" unsupported"},
        {"sign1-tests/sign-fail-06", true, CONSORT_E_BAD_SIGNATURE, "does not verify"},
        {"sign1-tests/sign-fail-07", true, CONSORT_E_BAD_SIGNATURE, "does not verify"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(fail); i++) {
        vector v;
        vector_load(fail[i].name, &v);
        cs_cose_sign1 m;
        consort_err rc = cs_cose_sign1_decode(cs_buf_slice(&v.msg), &m);
        if (rc == CONSORT_OK) {
            assert_true(fail[i].decodes);
            rc = cs_cose_sign1_verify(&m, v.key, NULL);
            if (fail[i].code == CONSORT_E_BAD_SIGNATURE) {
                /* what was signed (ToBeSign_hex) is not what was sent */
                cs_buf tbs;
                cs_buf_init(&tbs, 0);
                cst_ok(cs_cose_sign1_tbs(&m, NULL, &tbs));
                assert_false(cs_slice_eq(cs_buf_slice(&tbs), cs_buf_slice(&v.tbs)));
                cs_buf_cleanup(&tbs);
            }
        } else {
            assert_false(fail[i].decodes);
        }
        if (rc != fail[i].code)
            fail_msg("%s: got %s, expected %s (%s)", fail[i].name, consort_err_name(rc),
                     consort_err_name(fail[i].code), consort_errmsg());
        assert_err_contains(fail[i].why);
        vector_free(&v);
    }
}

/* ---- round trips ---- */

/* {396: {-1: [bstr .cbor [tree_size, leaf_index, [+ bstr]]]}} (DESIGN.md "Receipts") */
static void receipt_unprotected(cs_buf *out)
{
    uint8_t sibling[32];
    memset(sibling, 0x5a, sizeof sibling);
    cs_buf proof;
    cs_buf_init(&proof, 0);
    cst_ok(cs_cbor_write_array(&proof, 3));
    cst_ok(cs_cbor_write_uint(&proof, 8));
    cst_ok(cs_cbor_write_uint(&proof, 5));
    cst_ok(cs_cbor_write_array(&proof, 1));
    cst_ok(cs_cbor_write_bytes(&proof, CS_SLICE(sibling, sizeof sibling)));
    cs_buf_init(out, 0);
    cst_ok(cs_cbor_write_map(out, 1));
    cst_ok(cs_cbor_write_uint(out, CS_COSE_HDR_VDP));
    cst_ok(cs_cbor_write_map(out, 1));
    cst_ok(cs_cbor_write_int(out, -1));
    cst_ok(cs_cbor_write_array(out, 1));
    cst_ok(cs_cbor_write_bytes(out, cs_buf_slice(&proof)));
    cs_buf_cleanup(&proof);
}

static void round_trip(cs_curve curve, cs_cose_alg alg, bool detached)
{
    cs_key *key, *other;
    cst_ok(cs_key_generate(curve, &key));
    cst_ok(cs_key_generate(curve, &other));
    uint8_t kid[CS_SHA256_LEN];
    cst_ok(cs_key_id(key, kid));
    const cs_cose_param params[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, sizeof kid)),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1),
        CS_COSE_PARAM_TEXT(CS_COSE_HDR_CTY, CS_SLICE_LIT("application/json")),
        CS_COSE_PARAM_RAW(-70000, CS_SLICE_LIT("\x82\x01\x61x")), /* [1, "x"] */
        {.label = {.is_text = true, .text = CS_SLICE_LIT("consort.msg")},
         .type = CS_COSE_VALUE_TEXT,
         .s = CS_SLICE_LIT("ballot")},
    };
    cs_buf unprot;
    receipt_unprotected(&unprot);
    const cs_slice payload = CS_SLICE_LIT("merkle root: 32 bytes of digest.");
    const cs_slice aad = CS_SLICE_LIT("service identity");
    cs_cose_sign1_params p = {
        .alg = alg,
        .protected_params = params,
        .protected_count = CS_ARRAY_LEN(params),
        .unprotected = cs_buf_slice(&unprot),
        .payload = payload,
        .detached = detached,
        .external_aad = aad,
    };
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_cose_sign1_sign(key, &p, &out));

    cs_cose_sign1 m;
    cst_ok(cs_cose_sign1_decode(cs_buf_slice(&out), &m));
    assert_true(m.tagged);
    assert_int_equal(m.detached, detached);
    assert_true(cs_slice_eq(m.payload, detached ? CS_SLICE_EMPTY : payload));
    assert_int_equal(m.signature.len, 2 * cs_curve_field_len(curve));
    assert_int_equal(m.protected_hdr.count, 6);
    /* alg comes first, then the params in the order given */
    assert_int_equal(m.protected_hdr.items[0].label.num, CS_COSE_HDR_ALG);
    assert_int_equal(m.protected_hdr.items[2].label.num, CS_COSE_HDR_VDS);
    int64_t i64;
    cst_ok(cs_cose_headers_get_int(&m.protected_hdr, CS_COSE_HDR_ALG, &i64));
    assert_int_equal(i64, alg);
    cst_ok(cs_cose_headers_get_int(&m.protected_hdr, CS_COSE_HDR_VDS, &i64));
    assert_int_equal(i64, 1);
    cs_slice s;
    cst_ok(cs_cose_headers_get_bytes(&m.protected_hdr, CS_COSE_HDR_KID, &s));
    assert_true(cs_slice_eq(s, CS_SLICE(kid, sizeof kid)));
    cst_ok(cs_cose_headers_get_text(&m.protected_hdr, CS_COSE_HDR_CTY, &s));
    assert_true(cs_slice_eq(s, CS_SLICE_LIT("application/json")));
    cst_ok(cs_cose_headers_get(&m.protected_hdr, -70000, &s));
    assert_true(cs_slice_eq(s, CS_SLICE_LIT("\x82\x01\x61x")));
    cst_ok(cs_cose_headers_find(
        &m.protected_hdr, (cs_cose_label){.is_text = true, .text = CS_SLICE_LIT("consort.msg")},
        &s));
    assert_true(cs_slice_eq(s, CS_SLICE_LIT("\x66"
                                            "ballot")));
    cst_fails(cs_cose_headers_get_int(&m.protected_hdr, CS_COSE_HDR_KID, &i64),
              CONSORT_E_MALFORMED);
    cst_fails(cs_cose_headers_get(&m.protected_hdr, 7, &s), CONSORT_E_NOT_FOUND);
    cst_ok(cs_cose_headers_get(&m.unprotected_hdr, CS_COSE_HDR_VDP, &s));
    assert_true(cs_slice_eq(m.unprotected_hdr.raw, cs_buf_slice(&unprot)));

    cs_cose_verify_opts opts = {.external_aad = aad,
                                .detached_payload = detached ? &payload : NULL};
    cst_ok(cs_cose_sign1_verify(&m, key, &opts));
    /* another key, other AAD, another payload: no */
    cst_fails(cs_cose_sign1_verify(&m, other, &opts), CONSORT_E_BAD_SIGNATURE);
    cs_cose_verify_opts bad = opts;
    bad.external_aad = CS_SLICE_LIT("service identitz");
    cst_fails(cs_cose_sign1_verify(&m, key, &bad), CONSORT_E_BAD_SIGNATURE);
    const cs_slice wrong = CS_SLICE_LIT("merkle root: 32 bytes of digest!");
    bad = opts;
    bad.detached_payload = &wrong;
    if (detached) {
        cst_fails(cs_cose_sign1_verify(&m, key, &bad), CONSORT_E_BAD_SIGNATURE);
        bad.detached_payload = NULL;
        cst_fails(cs_cose_sign1_verify(&m, key, &bad), CONSORT_E_INVALID_ARGUMENT);
    } else {
        cst_fails(cs_cose_sign1_verify(&m, key, &bad), CONSORT_E_INVALID_ARGUMENT);
    }
    cs_buf_cleanup(&out);
    cs_buf_cleanup(&unprot);
    cs_key_free(key);
    cs_key_free(other);
}

static void round_trips(void **state)
{
    (void)state;
    round_trip(CS_CURVE_P256, CS_COSE_ES256, false);
    round_trip(CS_CURVE_P256, CS_COSE_ES256, true);
    round_trip(CS_CURVE_P384, CS_COSE_ES384, false);
    round_trip(CS_CURVE_P384, CS_COSE_ES384, true);
}

/* The receipt protected header {1: -7, 4: kid, 395: 1}, byte for byte. */
static void receipt_protected_header_bytes(void **state)
{
    (void)state;
    cs_key *key;
    cst_ok(cs_key_generate(CS_CURVE_P256, &key));
    uint8_t kid[CS_SHA256_LEN];
    cst_ok(cs_key_id(key, kid));
    const cs_cose_param params[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, sizeof kid)),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1),
    };
    cs_cose_sign1_params p = {.alg = CS_COSE_ES256,
                              .protected_params = params,
                              .protected_count = 2,
                              .payload = CS_SLICE_LIT("root"),
                              .detached = true};
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_cose_sign1_sign(key, &p, &out));
    cs_buf want;
    cst_hex("a30126045820", &want);
    cst_ok(cs_buf_append(&want, kid, sizeof kid));
    cst_ok(cs_buf_append(&want, "\x19\x01\x8b\x01", 4));
    cs_cose_sign1 m;
    cst_ok(cs_cose_sign1_decode(cs_buf_slice(&out), &m));
    assert_true(cs_slice_eq(m.protected_bstr, cs_buf_slice(&want)));
    assert_true(m.detached);
    assert_int_equal(m.unprotected_hdr.count, 0);
    /* d2 84 58 2a <protected: 42 bytes> a0 f6 58 40 <sig> */
    assert_int_equal(out.len, 2 + 2 + want.len + 1 + 1 + 2 + 64);
    assert_memory_equal(out.ptr, "\xd2\x84\x58\x2a", 4);
    const cs_slice root = CS_SLICE_LIT("root");
    cs_cose_verify_opts opts = {.detached_payload = &root};
    cst_ok(cs_cose_sign1_verify(&m, key, &opts));
    cs_buf_cleanup(&want);
    cs_buf_cleanup(&out);
    cs_key_free(key);
}

/* crit (RFC 9052 §3.1): fail unless every listed label is understood. */
static void crit_must_be_understood(void **state)
{
    (void)state;
    cs_key *key;
    cst_ok(cs_key_generate(CS_CURVE_P256, &key));
    const cs_cose_param params[] = {
        CS_COSE_PARAM_RAW(CS_COSE_HDR_CRIT, CS_SLICE_LIT("\x82\x04\x19\x01\x8b")), /* [4, 395] */
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE_LIT("k")),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1),
    };
    cs_cose_sign1_params p = {.alg = CS_COSE_ES256,
                              .protected_params = params,
                              .protected_count = 3,
                              .payload = CS_SLICE_LIT("x")};
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_cose_sign1_sign(key, &p, &out));
    cs_cose_sign1 m;
    cst_ok(cs_cose_sign1_decode(cs_buf_slice(&out), &m));
    cst_fails(cs_cose_sign1_verify(&m, key, NULL), CONSORT_E_UNSUPPORTED);
    assert_err_contains("crit label 395 is not understood");
    const int64_t understood[] = {CS_COSE_HDR_VDS};
    cs_cose_verify_opts opts = {.understood = understood, .understood_count = 1};
    cst_ok(cs_cose_sign1_verify(&m, key, &opts));
    cs_buf_cleanup(&out);
    cs_key_free(key);
}

static void signer_refuses_bad_requests(void **state)
{
    (void)state;
    cs_key *p256, *p384;
    cst_ok(cs_key_generate(CS_CURVE_P256, &p256));
    cst_ok(cs_key_generate(CS_CURVE_P384, &p384));
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_buf_append(&out, "keep", 4));
    cs_cose_sign1_params p = {.alg = CS_COSE_ES256, .payload = CS_SLICE_LIT("x")};

    cst_fails(cs_cose_sign1_sign(p384, &p, &out), CONSORT_E_INVALID_ARGUMENT);
    assert_err_contains("ES256 needs a P-256 key");
    p.alg = CS_COSE_ES384;
    cst_fails(cs_cose_sign1_sign(p256, &p, &out), CONSORT_E_INVALID_ARGUMENT);
    p.alg = CS_COSE_ES512;
    cst_fails(cs_cose_sign1_sign(p256, &p, &out), CONSORT_E_INVALID_ARGUMENT);
    p.alg = (cs_cose_alg)-999;
    cst_fails(cs_cose_sign1_sign(p256, &p, &out), CONSORT_E_INVALID_ARGUMENT);
    p.alg = CS_COSE_ES256;

    const cs_cose_param alg_param[] = {CS_COSE_PARAM_INT(CS_COSE_HDR_ALG, -7)};
    const cs_cose_param dup[] = {CS_COSE_PARAM_INT(9, 1), CS_COSE_PARAM_INT(9, 2)};
    const cs_cose_param bad_raw[] = {CS_COSE_PARAM_RAW(9, CS_SLICE_LIT("\x01\x02"))};
    const cs_cose_param short_raw[] = {CS_COSE_PARAM_RAW(9, CS_SLICE_LIT("\x42\x01"))};
    const cs_cose_param bad_kid[] = {CS_COSE_PARAM_INT(CS_COSE_HDR_KID, 1)};
    const cs_cose_param crit_absent[] = {
        CS_COSE_PARAM_RAW(CS_COSE_HDR_CRIT, CS_SLICE_LIT("\x81\x09"))};
    const struct {
        const cs_cose_param *params;
        const char *why;
    } bad[] = {
        {alg_param, "alg (label 1) is set from the algorithm"},
        {dup, "duplicate label 9"},
        {bad_raw, "raw value is not one CBOR item"},
        {short_raw, "raw value is not one CBOR item"},
        {bad_kid, "expected bstr"},
        {crit_absent, "crit lists label 9"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        p.protected_params = bad[i].params;
        p.protected_count = bad[i].params == dup ? 2 : 1;
        cst_fails(cs_cose_sign1_sign(p256, &p, &out), CONSORT_E_INVALID_ARGUMENT);
        assert_err_contains(bad[i].why);
    }
    p.protected_params = NULL;
    p.protected_count = 0;

    const struct {
        cs_slice unprot;
        const char *why;
    } unprot[] = {
        {CS_SLICE_LIT("\x81\x01"), "expected map"},
        {CS_SLICE_LIT("\xa1\x01\x26"), "in both the protected and the unprotected"},
        {CS_SLICE_LIT("\xa2\x04\x41k\x04\x41k"), "duplicate label 4"},
        {CS_SLICE_LIT("\xa1\x04\x41k\x00"), "trailing"},
        {CS_SLICE_LIT("\xa1\x02\x81\x04"), "crit is in the unprotected header"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(unprot); i++) {
        p.unprotected = unprot[i].unprot;
        cst_fails(cs_cose_sign1_sign(p256, &p, &out), CONSORT_E_INVALID_ARGUMENT);
        assert_err_contains(unprot[i].why);
    }
    /* a public key cannot sign */
    cs_buf spki;
    cs_buf_init(&spki, 0);
    cst_ok(cs_key_spki_der(p256, &spki));
    cs_key *pub;
    cst_ok(cs_key_from_spki_der(cs_buf_slice(&spki), &pub));
    p.unprotected = CS_SLICE_EMPTY;
    cst_fails(cs_cose_sign1_sign(pub, &p, &out), CONSORT_E_CRYPTO);
    assert_err_contains("COSE_Sign1 sign");
    cs_key_free(pub);
    cs_buf_cleanup(&spki);
    /* a failed sign leaves the buffer as it was */
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.ptr, "keep", 4);
    /* and a buffer too small for the message fails cleanly */
    cs_buf tiny;
    cs_buf_init(&tiny, 40);
    p.unprotected = CS_SLICE_EMPTY;
    cst_fails(cs_cose_sign1_sign(p256, &p, &tiny), CONSORT_E_TOO_LARGE);
    assert_int_equal(tiny.len, 0);
    cs_buf_cleanup(&tiny);
    cs_buf_cleanup(&out);
    cs_key_free(p256);
    cs_key_free(p384);
}

/* ---- tampering ---- */

static void sign_small(cs_key *key, cs_buf *out)
{
    const cs_cose_param params[] = {CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE_LIT("k1"))};
    cs_cose_sign1_params p = {.alg = CS_COSE_ES256,
                              .protected_params = params,
                              .protected_count = 1,
                              .payload = CS_SLICE_LIT("hi")};
    cs_buf_init(out, 0);
    cst_ok(cs_cose_sign1_sign(key, &p, out));
}

/*
 * Every bit of a signed message (with an empty unprotected header, whose
 * contents a signature does not cover by design) matters: flipping any one
 * makes decode or verify fail.
 */
static void every_bit_flip_is_rejected(void **state)
{
    (void)state;
    cs_key *key;
    cst_ok(cs_key_generate(CS_CURVE_P256, &key));
    cs_buf msg;
    sign_small(key, &msg);
    cs_cose_sign1 m;
    cst_ok(cs_cose_sign1_decode(cs_buf_slice(&msg), &m));
    cst_ok(cs_cose_sign1_verify(&m, key, NULL));
    for (size_t bit = 0; bit < msg.len * 8; bit++) {
        msg.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        consort_err rc = cs_cose_sign1_decode(cs_buf_slice(&msg), &m);
        if (rc == CONSORT_OK)
            rc = cs_cose_sign1_verify(&m, key, NULL);
        if (rc == CONSORT_OK)
            fail_msg("flipping bit %zu (byte %zu) was not detected", bit, bit / 8);
        msg.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cs_buf_cleanup(&msg);
    cs_key_free(key);
}

static void truncations_and_trailing_bytes_are_rejected(void **state)
{
    (void)state;
    cs_key *key;
    cst_ok(cs_key_generate(CS_CURVE_P256, &key));
    cs_buf msg;
    sign_small(key, &msg);
    cs_cose_sign1 m;
    for (size_t len = 0; len < msg.len; len++)
        cst_fails(cs_cose_sign1_decode(CS_SLICE(msg.ptr, len), &m), CONSORT_E_TRUNCATED);
    cst_ok(cs_buf_append_u8(&msg, 0x00));
    cst_fails(cs_cose_sign1_decode(cs_buf_slice(&msg), &m), CONSORT_E_TRAILING_DATA);
    cs_buf_cleanup(&msg);
    cs_key_free(key);
}

/* ---- allocation failures ---- */

static consort_err sign_decode_verify(cs_key *key, cs_slice unprot)
{
    const cs_slice payload = CS_SLICE_LIT("root");
    const cs_cose_param params[] = {CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1)};
    cs_cose_sign1_params p = {.alg = CS_COSE_ES256,
                              .protected_params = params,
                              .protected_count = 1,
                              .unprotected = unprot,
                              .payload = payload,
                              .detached = true};
    cs_buf out;
    cs_buf_init(&out, 0);
    cs_cose_sign1 m;
    cs_cose_verify_opts opts = {.detached_payload = &payload};
    consort_err rc = cs_cose_sign1_sign(key, &p, &out);
    if (rc == CONSORT_OK)
        rc = cs_cose_sign1_decode(cs_buf_slice(&out), &m);
    if (rc == CONSORT_OK)
        rc = cs_cose_sign1_verify(&m, key, &opts);
    cs_buf_cleanup(&out);
    return rc;
}

/*
 * Fail allocation n = 0, 1, 2, ... of sign + decode + verify until a run
 * completes without reaching the failure: every failing run reports NOMEM
 * and leaks nothing. (OpenSSL's own allocations are not hooked.)
 */
static void allocation_failure_sweep(void **state)
{
    (void)state;
    cs_key *key;
    cst_ok(cs_key_generate(CS_CURVE_P256, &key));
    cs_buf unprot;
    receipt_unprotected(&unprot);
    cst_alloc_install();
    bool completed = false;
    long n = 0;
    for (; n < 1000 && !completed; n++) {
        long live = cst_alloc_live();
        cst_alloc_fail_after(n);
        consort_err rc = sign_decode_verify(key, cs_buf_slice(&unprot));
        bool hit = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (!hit) {
            if (rc != CONSORT_OK)
                fail_msg("run %ld without a failure: %s", n, consort_errmsg());
            completed = true;
        } else if (rc != CONSORT_E_NOMEM) {
            fail_msg("allocation %ld failed: got %s, expected NOMEM (%s)", n, consort_err_name(rc),
                     consort_errmsg());
        }
        assert_int_equal(cst_alloc_live(), live);
    }
    cst_alloc_uninstall();
    assert_true(completed);
    assert_true(n > 1); /* at least one run did fail an allocation */
    cs_buf_cleanup(&unprot);
    cs_key_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kat_pass_vectors),
        cmocka_unit_test(kat_sign_pass_01_is_rejected_strictly),
        cmocka_unit_test(kat_fail_vectors),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(receipt_protected_header_bytes),
        cmocka_unit_test(crit_must_be_understood),
        cmocka_unit_test(signer_refuses_bad_requests),
        cmocka_unit_test(every_bit_flip_is_rejected),
        cmocka_unit_test(truncations_and_trailing_bytes_are_rejected),
        cmocka_unit_test(allocation_failure_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
