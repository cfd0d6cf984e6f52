/*
 * in-toto keys: key ids as securesystemslib computes them, signatures of all
 * three key types on links in-toto-run wrote, and refusals that name what
 * was wrong.
 */
#include "supply/intoto_meta.h"

#include "supply_vectors.h"

#include <string.h>

static void parse_key_file(const char *rel, cs_intoto_key *key, json_t **obj)
{
    *obj = sv_json(rel);
    cst_ok(cs_intoto_key_parse(*obj, NULL, key));
}

/* securesystemslib's keyid (in the keys/ files) for ed25519, ecdsa and rsa keys. */
static void test_keyids_match_securesystemslib(void **state)
{
    (void)state;
    static const char *const names[] = {"owner", "alice", "bob", "carol", "mallory"};
    for (size_t i = 0; i < CS_ARRAY_LEN(names); i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "keys/%s.json", names[i]);
        json_t *obj;
        cs_intoto_key key;
        parse_key_file(rel, &key, &obj);
        assert_string_equal(key.keyid, json_string_value(json_object_get(obj, "keyid")));
        /* the id does not depend on the key object's own keyid_hash_algorithms */
        json_object_del(obj, "keyid");
        json_object_set_new(obj, "keyid_hash_algorithms", json_pack("[s]", "sha512"));
        cs_intoto_key again;
        cst_ok(cs_intoto_key_parse(obj, NULL, &again));
        assert_string_equal(again.keyid, key.keyid);
        cs_intoto_key_cleanup(&again);
        cs_intoto_key_cleanup(&key);
        json_decref(obj);
    }
}

/* Each link of the honest chain verifies under its functionary's key, and
 * stops verifying when one hex digit of the signature changes. */
static void test_link_signatures_all_key_types(void **state)
{
    (void)state;
    static const struct {
        const char *key, *link;
        cs_intoto_scheme scheme;
    } cases[] = {
        {"keys/alice.json", "chain/honest/write-code.1caffc58.link", CS_INTOTO_ED25519},
        {"keys/bob.json", "chain/honest/package.cdf62dfb.link", CS_INTOTO_ECDSA_P256},
        {"keys/carol.json", "chain/honest/package.550e6d12.link", CS_INTOTO_RSA_PSS_SHA256},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        json_t *obj;
        cs_intoto_key key;
        parse_key_file(cases[i].key, &key, &obj);
        assert_int_equal(key.scheme, cases[i].scheme);
        cs_buf text;
        sv_read(cases[i].link, &text);
        cs_intoto_link link;
        cst_ok(cs_intoto_link_parse(cs_buf_slice(&text), &link));
        cst_ok(cs_intoto_metablock_verify(&link.mb, &key));
        json_t *sig = json_array_get(link.mb.signatures, 0);
        char *hex = strdup(json_string_value(json_object_get(sig, "sig")));
        hex[10] = hex[10] == '0' ? '1' : '0';
        cst_fails(cs_intoto_key_verify(&key, cs_buf_slice(&link.mb.signable), hex),
                  CONSORT_E_BAD_SIGNATURE);
        /* the signed bytes changed by one byte: no longer verifies */
        link.mb.signable.ptr[link.mb.signable.len / 2] ^= 1;
        cst_fails(cs_intoto_metablock_verify(&link.mb, &key), CONSORT_E_BAD_SIGNATURE);
        free(hex);
        cs_intoto_link_cleanup(&link);
        cs_buf_cleanup(&text);
        cs_intoto_key_cleanup(&key);
        json_decref(obj);
    }
}

/* A key that signed nothing on the metablock: NOT_FOUND naming the key id. */
static void test_no_signature_by_key(void **state)
{
    (void)state;
    json_t *obj;
    cs_intoto_key mallory;
    parse_key_file("keys/mallory.json", &mallory, &obj);
    cs_buf text;
    sv_read("chain/honest/write-code.1caffc58.link", &text);
    cs_intoto_link link;
    cst_ok(cs_intoto_link_parse(cs_buf_slice(&text), &link));
    cst_fails(cs_intoto_metablock_verify(&link.mb, &mallory), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), mallory.keyid));
    cs_intoto_link_cleanup(&link);
    cs_buf_cleanup(&text);
    cs_intoto_key_cleanup(&mallory);
    json_decref(obj);
}

/* Parses `mutated` (alice's or bob's key edited) and expects `code` with `needle`. */
static void expect_refused(const char *rel, const char *edit_json, consort_err code,
                           const char *needle)
{
    json_t *obj = sv_json(rel);
    json_error_t err;
    json_t *edit = json_loads(edit_json, 0, &err);
    assert_non_null(edit);
    json_object_update_recursive(obj, edit);
    json_t *nulls = json_object_get(obj, "keyid");
    if (json_is_null(nulls))
        json_object_del(obj, "keyid");
    cs_intoto_key key;
    cst_fails(cs_intoto_key_parse(obj, NULL, &key), code);
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("%s + %s: message \"%s\" lacks \"%s\"", rel, edit_json, consort_errmsg(), needle);
    json_decref(edit);
    json_decref(obj);
}

static void test_refusals(void **state)
{
    (void)state;
    /* unknown key types and schemes are named */
    expect_refused("keys/alice.json", "{\"keytype\": \"dsa\", \"keyid\": null}",
                   CONSORT_E_UNSUPPORTED, "keytype \"dsa\"");
    expect_refused("keys/carol.json", "{\"scheme\": \"rsa-pkcs1v15-sha256\", \"keyid\": null}",
                   CONSORT_E_UNSUPPORTED, "scheme \"rsa-pkcs1v15-sha256\"");
    expect_refused("keys/alice.json", "{\"scheme\": \"ed448\", \"keyid\": null}",
                   CONSORT_E_UNSUPPORTED, "ed448");
    /* a P-256 key under the P-384 scheme */
    expect_refused("keys/bob.json", "{\"scheme\": \"ecdsa-sha2-nistp384\", \"keyid\": null}",
                   CONSORT_E_UNSUPPORTED, "curve P-256");
    /* a stated key id that is not the key's */
    expect_refused("keys/alice.json", "{\"keyid\": \"00\"}", CONSORT_E_MALFORMED,
                   "is not the key's id");
    /* a private key where a public key belongs, and unknown members */
    expect_refused("keys/alice.json", "{\"keyval\": {\"private\": \"aa\"}}", CONSORT_E_MALFORMED,
                   "private");
    expect_refused("keys/alice.json", "{\"expires\": \"2030\"}", CONSORT_E_MALFORMED,
                   "unknown member \"expires\"");
    expect_refused("keys/alice.json", "{\"keyval\": {\"public\": \"abcd\"}, \"keyid\": null}",
                   CONSORT_E_MALFORMED, "64");
    expect_refused("keys/bob.json", "{\"keyval\": {\"public\": \"-----BEGIN\"}, \"keyid\": null}",
                   CONSORT_E_MALFORMED, "");
}

/* The layout names each key by its id: a key filed under another id is refused. */
static void test_expected_keyid(void **state)
{
    (void)state;
    json_t *obj = sv_json("keys/alice.json");
    cs_intoto_key key;
    const char *id = json_string_value(json_object_get(obj, "keyid"));
    cst_ok(cs_intoto_key_parse(obj, id, &key));
    cs_intoto_key_cleanup(&key);
    cst_fails(cs_intoto_key_parse(obj, "1caffc58", &key), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "listed as 1caffc58"));
    json_decref(obj);
}

/* in-toto-verify -t rsa: the key made of carol's PEM file has securesystemslib's id,
 * also with CRLF line ends and text around it. */
static void test_rsa_pem_key_file(void **state)
{
    (void)state;
    json_t *want = sv_json("keys/carol.json");
    cs_buf pem;
    sv_read("keys/carol.pem", &pem);
    for (int crlf = 0; crlf < 2; crlf++) {
        cs_buf in, js;
        cs_buf_init(&in, 0);
        cs_buf_init(&js, 0);
        cst_ok(cs_buf_append(&in, "junk\n", 5));
        for (size_t i = 0; i < pem.len; i++) {
            if (crlf && pem.ptr[i] == '\n')
                cst_ok(cs_buf_append_u8(&in, '\r'));
            cst_ok(cs_buf_append_u8(&in, pem.ptr[i]));
        }
        cst_ok(cs_intoto_rsa_pem_key_json(cs_buf_slice(&in), &js));
        json_t *obj = json_loadb((const char *)js.ptr, js.len, 0, NULL);
        assert_non_null(obj);
        cs_intoto_key key;
        cst_ok(cs_intoto_key_parse(obj, NULL, &key));
        assert_string_equal(key.keyid, json_string_value(json_object_get(want, "keyid")));
        cs_intoto_key_cleanup(&key);
        json_decref(obj);
        cs_buf_cleanup(&in);
        cs_buf_cleanup(&js);
    }
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_fails(cs_intoto_rsa_pem_key_json(CS_SLICE_LIT("-----BEGIN PUBLIC KEY-----\nMII"), &out),
              CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "END PUBLIC KEY"));
    cs_buf_cleanup(&out);
    cs_buf_cleanup(&pem);
    json_decref(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyids_match_securesystemslib),
        cmocka_unit_test(test_link_signatures_all_key_types),
        cmocka_unit_test(test_no_signature_by_key),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_expected_keyid),
        cmocka_unit_test(test_rsa_pem_key_file),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
