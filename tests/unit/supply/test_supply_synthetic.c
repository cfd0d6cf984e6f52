/*
 * Verification of metadata consort signs itself (ECDSA P-256 keys made by
 * the test), for the cases the reference vectors cannot show without a
 * functionary's private key: consort's extra link-name check, and an
 * authorised key id missing from the layout's keys.
 */
#include "supply/cjson.h"
#include "supply/intoto_key.h"
#include "supply/intoto_verify.h"

#include "supply_vectors.h"

#include <string.h>

#define NOW INT64_C(1796342400)

typedef struct signer {
    cs_key *key;
    json_t *obj; /* the public key object, with its keyid */
    char keyid[CS_INTOTO_KEYID_HEX + 1];
} signer;

static void signer_init(signer *s)
{
    cst_ok(cs_key_generate(CS_CURVE_P256, &s->key));
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_key_public_pem(s->key, &pem));
    cst_ok(cs_buf_append_u8(&pem, 0));
    cst_ok(cs_intoto_keyid("ecdsa", "ecdsa-sha2-nistp256", (const char *)pem.ptr, s->keyid));
    s->obj = json_pack("{s:s, s:s, s:[s,s], s:{s:s}, s:s}", "keytype", "ecdsa", "scheme",
                       "ecdsa-sha2-nistp256", "keyid_hash_algorithms", "sha256", "sha512", "keyval",
                       "public", (const char *)pem.ptr, "keyid", s->keyid);
    assert_non_null(s->obj);
    cs_buf_cleanup(&pem);
}

static void signer_cleanup(signer *s)
{
    cs_key_free(s->key);
    json_decref(s->obj);
}

/* {"signatures": [{keyid, sig}], "signed": signed} as text (caller frees). */
static char *metablock(json_t *signed_obj, const signer *s)
{
    cs_buf msg, sig;
    cs_buf_init(&msg, 0);
    cs_buf_init(&sig, 0);
    cst_ok(cs_cjson_encode(signed_obj, &msg));
    cst_ok(cs_ecdsa_sign(s->key, CS_HASH_SHA256, cs_buf_slice(&msg), CS_SIG_DER, &sig));
    char hex[300];
    assert_true(sig.len * 2 + 1 <= sizeof hex);
    cs_hex_encode(cs_buf_slice(&sig), hex);
    json_t *mb = json_pack("{s:[{s:s, s:s}], s:O}", "signatures", "keyid", s->keyid, "sig", hex,
                           "signed", signed_obj);
    char *text = json_dumps(mb, JSON_COMPACT);
    json_decref(mb);
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&sig);
    return text;
}

/* A one-step layout ("build", by `func` or the key id `authorised`). */
static char *layout_text(const signer *owner, const signer *func, const char *authorised)
{
    json_t *l = json_pack(
        "{s:s, s:s, s:s, s:{s:O}, s:[{s:s, s:s, s:[], s:[[s,s],[s,s]], s:[s], s:[], s:i}], "
        "s:[]}",
        "_type", "layout", "expires", "2030-01-01T00:00:00Z", "readme", "", "keys", func->keyid,
        func->obj, "steps", "_type", "step", "name", "build", "expected_materials",
        "expected_products", "CREATE", "out", "DISALLOW", "*", "pubkeys", authorised,
        "expected_command", "threshold", 1, "inspect");
    assert_non_null(l);
    char *text = metablock(l, owner);
    json_decref(l);
    return text;
}

static char *link_text(const signer *func, const char *name)
{
    json_t *l = json_pack("{s:s, s:s, s:{}, s:{s:{s:s}}, s:{s:i}, s:[], s:{}}", "_type", "link",
                          "name", name, "materials", "products", "out", "sha256", "ab",
                          "byproducts", "return-value", 0, "command", "environment");
    assert_non_null(l);
    char *text = metablock(l, func);
    json_decref(l);
    return text;
}

static consort_err run(const signer *owner, const char *layout, const char *link,
                       const char *file_keyid, cs_intoto_result *res)
{
    char *key = json_dumps(owner->obj, JSON_COMPACT);
    char name[64];
    snprintf(name, sizeof name, "build.%.8s.link", file_keyid);
    cs_slice k = cs_slice_str(key);
    cs_intoto_file f = {name, cs_slice_str(link)};
    consort_err rc = cs_intoto_verify(cs_slice_str(layout), &k, 1, &f, 1, NOW, res);
    free(key);
    return rc;
}

static void test_synthetic_chain(void **state)
{
    (void)state;
    signer owner, func;
    signer_init(&owner);
    signer_init(&func);
    cs_intoto_result res;
    char *layout = layout_text(&owner, &func, func.keyid);

    /* honest: passes */
    char *good = link_text(&func, "build");
    cst_ok(run(&owner, layout, good, func.keyid, &res));
    assert_int_equal(res.check, CS_INTOTO_PASSED);

    /* validly signed, filed as "build", but recorded for another step:
     * the reference counts it; consort does not */
    char *renamed = link_text(&func, "test");
    cst_fails(run(&owner, layout, renamed, func.keyid, &res), CONSORT_E_POLICY);
    assert_int_equal(res.check, CS_INTOTO_CHECK_LINK_SIGNATURES);
    assert_string_equal(res.step, "build");
    assert_string_equal(res.keyid, func.keyid);
    assert_non_null(strstr(res.detail, "names step \"test\""));

    /* the step authorises a key id the layout has no key for: skipped */
    signer stranger;
    signer_init(&stranger);
    char *layout2 = layout_text(&owner, &func, stranger.keyid);
    char *by_stranger = link_text(&stranger, "build");
    cst_fails(run(&owner, layout2, by_stranger, stranger.keyid, &res), CONSORT_E_POLICY);
    assert_int_equal(res.check, CS_INTOTO_CHECK_LINK_SIGNATURES);
    assert_string_equal(res.keyid, stranger.keyid);
    assert_non_null(strstr(res.detail, "not in the layout's keys"));

    free(good);
    free(renamed);
    free(layout);
    free(layout2);
    free(by_stranger);
    signer_cleanup(&stranger);
    signer_cleanup(&owner);
    signer_cleanup(&func);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_chain),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
