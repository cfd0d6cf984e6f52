/*
 * Whole-chain verification against metadata the reference tools made and
 * the verdicts in-toto-verify gave on it (vectors/chain/<variant>/,
 * PROVENANCE.md): an honest chain that verifies, and tampered variants that
 * each fail at the check in-toto-verify fails at, naming the step, the
 * rule, the artifact and the key.
 */
#include "supply/intoto_verify.h"

#include "supply_vectors.h"

#include <string.h>

/* 2026-12-04T00:00:00Z, when the vectors were made; the layouts expire
 * 2030-01-01T00:00:00Z (expired/: 2020-01-01T00:00:00Z). */
#define NOW            INT64_C(1796342400)
#define LAYOUT_EXPIRES INT64_C(1893456000)
static consort_err chain_verify(const chain *c, int64_t now, cs_intoto_result *res)
{
    cs_slice key = cs_buf_slice(&c->owner);
    return cs_intoto_verify(cs_buf_slice(&c->layout), &key, 1, c->files, c->n_given, now, res);
}

/* The key id of keys/<name>.json. */
static const char *keyid_of(const char *name)
{
    static char ids[8][65];
    static size_t next;
    char rel[64];
    snprintf(rel, sizeof rel, "keys/%s.json", name);
    json_t *k = sv_json(rel);
    char *out = ids[next++ % 8];
    snprintf(out, 65, "%s", json_string_value(json_object_get(k, "keyid")));
    json_decref(k);
    return out;
}

typedef struct variant {
    const char *dir;
    consort_err rc;
    cs_intoto_check check;
    const char *step;     /* NULL: "" */
    const char *key;      /* key file name whose id res.keyid must be; NULL: "" */
    const char *rule;     /* NULL: "" */
    const char *artifact; /* NULL: "" */
    const char *message;  /* in consort_errmsg() */
    int ref_exit;         /* in-toto-verify's exit status */
    const char *ref_says; /* in in-toto-verify.txt */
} variant;

static const variant variants[] = {
    {"honest", CONSORT_OK, CS_INTOTO_PASSED, NULL, NULL, NULL, NULL, "", 0,
     "The software product passed all verification."},
    {"expired", CONSORT_E_EXPIRED, CS_INTOTO_CHECK_LAYOUT_EXPIRED, NULL, NULL, NULL, NULL,
     "layout expired", 1, "LayoutExpiredError: Layout expired"},
    {"bad-layout-sig", CONSORT_E_BAD_SIGNATURE, CS_INTOTO_CHECK_LAYOUT_SIGNATURE, NULL, "owner",
     NULL, NULL, "layout signature by key", 1,
     "SignatureVerificationError: Invalid signature for keyid"},
    {"wrong-layout-key", CONSORT_E_NOT_FOUND, CS_INTOTO_CHECK_LAYOUT_SIGNATURE, NULL, "owner", NULL,
     NULL, "no signature by key", 1, "SignatureVerificationError: No signature found for key"},
    /* deliberate difference: in-toto-verify runs the inspection, consort refuses */
    {"inspection", CONSORT_E_UNSUPPORTED, CS_INTOTO_CHECK_INSPECTION, NULL, NULL, NULL, NULL,
     "consort never runs inspection commands", 0, "The software product passed all verification."},
    {"missing-link", CONSORT_E_POLICY, CS_INTOTO_CHECK_LINK_MISSING, "write-code", NULL, NULL, NULL,
     "step \"write-code\" requires 1 link metadata file(s), found 0", 1,
     "LinkNotFoundError: Step 'write-code' requires '1' link metadata file(s), found '0'."},
    {"unauthorised-key", CONSORT_E_POLICY, CS_INTOTO_CHECK_LINK_SIGNATURES, "write-code", "mallory",
     NULL, NULL, "carries no signature by it", 1,
     "ThresholdVerificationError: Step 'write-code' requires at least '1' links validly signed "
     "by different authorized functionaries. Only found '0'"},
    {"threshold-missing", CONSORT_E_POLICY, CS_INTOTO_CHECK_LINK_MISSING, "package", NULL, NULL,
     NULL, "step \"package\" requires 2 link metadata file(s), found 1", 1,
     "LinkNotFoundError: Step 'package' requires '2' link metadata file(s), found '1'."},
    {"threshold-bad-sig", CONSORT_E_POLICY, CS_INTOTO_CHECK_LINK_SIGNATURES, "package", "bob", NULL,
     NULL, "found 1", 1,
     "ThresholdVerificationError: Step 'package' requires at least '2' links validly signed by "
     "different authorized functionaries. Only found '1'"},
    {"threshold-disagree", CONSORT_E_POLICY, CS_INTOTO_CHECK_THRESHOLD_ARTIFACTS, "package",
     "carol", NULL, NULL, "have different artifacts", 1,
     "ThresholdVerificationError: Links 'package.cdf62dfb.link' and 'package.550e6d12.link' "
     "have different artifacts!"},
    {"swapped-material", CONSORT_E_POLICY, CS_INTOTO_CHECK_RULE, "package", NULL, "DISALLOW *",
     "foo.py", "step \"package\" materials: 'DISALLOW *' matched 1 artifact(s)", 1,
     "RuleVerificationError: 'DISALLOW *' matched the following artifacts: ['foo.py']"},
    {"altered-artifact", CONSORT_E_POLICY, CS_INTOTO_CHECK_LINK_SIGNATURES, "write-code", "alice",
     NULL, NULL, "Ed25519: signature does not verify", 1,
     "ThresholdVerificationError: Step 'write-code' requires at least '1' links validly signed "
     "by different authorized functionaries. Only found '0'"},
};

static void check_reference_verdict(const variant *v)
{
    char rel[256];
    snprintf(rel, sizeof rel, "chain/%s/in-toto-verify.txt", v->dir);
    cs_buf text;
    sv_read(rel, &text);
    assert_non_null(cs_buf_append_u8(&text, 0) == CONSORT_OK ? text.ptr : NULL);
    char exit_line[32];
    snprintf(exit_line, sizeof exit_line, "\nexit: %d\n", v->ref_exit);
    if (strstr((const char *)text.ptr, exit_line) == NULL ||
        strstr((const char *)text.ptr, v->ref_says) == NULL)
        fail_msg("%s: in-toto-verify did not say \"exit: %d\" and \"%s\"", v->dir, v->ref_exit,
                 v->ref_says);
    cs_buf_cleanup(&text);
}

static void test_variants(void **state)
{
    (void)state;
    for (size_t i = 0; i < CS_ARRAY_LEN(variants); i++) {
        const variant *v = &variants[i];
        check_reference_verdict(v);
        chain c;
        chain_load(&c, v->dir);
        cs_intoto_result res;
        cs_err_clear();
        consort_err rc = chain_verify(&c, NOW, &res);
        if (rc != v->rc || res.check != v->check)
            fail_msg("%s: %s / %s, expected %s / %s (%s)", v->dir, consort_err_name(rc),
                     cs_intoto_check_name(res.check), consort_err_name(v->rc),
                     cs_intoto_check_name(v->check), consort_errmsg());
        if (strstr(consort_errmsg(), v->message) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", v->dir, consort_errmsg(), v->message);
        assert_string_equal(res.step, v->step ? v->step : "");
        assert_string_equal(res.keyid, v->key ? keyid_of(v->key) : "");
        assert_string_equal(res.rule, v->rule ? v->rule : "");
        assert_string_equal(res.artifact, v->artifact ? v->artifact : "");
        chain_cleanup(&c);
    }
}

/* Checks run in the reference's order: a bad layout signature is reported
 * before expiry or missing links; expiry before missing links. */
static void test_order_of_checks(void **state)
{
    (void)state;
    chain c;
    cs_intoto_result res;
    chain_load(&c, "bad-layout-sig");
    c.n_given = 0; /* no links at all */
    cst_fails(chain_verify(&c, LAYOUT_EXPIRES + 1, &res), CONSORT_E_BAD_SIGNATURE);
    assert_int_equal(res.check, CS_INTOTO_CHECK_LAYOUT_SIGNATURE);
    chain_cleanup(&c);
    chain_load(&c, "honest");
    c.n_given = 0;
    cst_fails(chain_verify(&c, LAYOUT_EXPIRES + 1, &res), CONSORT_E_EXPIRED);
    assert_int_equal(res.check, CS_INTOTO_CHECK_LAYOUT_EXPIRED);
    chain_cleanup(&c);
}

/* verify_layout_expiration: expired iff expires < now. */
static void test_expiry_boundary(void **state)
{
    (void)state;
    chain c;
    cs_intoto_result res;
    chain_load(&c, "honest");
    cst_ok(chain_verify(&c, LAYOUT_EXPIRES, &res));
    assert_int_equal(res.check, CS_INTOTO_PASSED);
    cst_fails(chain_verify(&c, LAYOUT_EXPIRES + 1, &res), CONSORT_E_EXPIRED);
    chain_cleanup(&c);
}

/* Every layout key given must have signed: with alice's key added, the
 * honest layout (signed by owner only) fails, naming alice's key. */
static void test_every_layout_key_must_sign(void **state)
{
    (void)state;
    chain c;
    cs_intoto_result res;
    chain_load(&c, "honest");
    cs_buf alice;
    sv_read("keys/alice.json", &alice);
    cs_slice keys[2] = {cs_buf_slice(&c.owner), cs_buf_slice(&alice)};
    cst_fails(cs_intoto_verify(cs_buf_slice(&c.layout), keys, 2, c.files, c.n, NOW, &res),
              CONSORT_E_NOT_FOUND);
    assert_int_equal(res.check, CS_INTOTO_CHECK_LAYOUT_SIGNATURE);
    assert_string_equal(res.keyid, keyid_of("alice"));
    cst_fails(cs_intoto_verify(cs_buf_slice(&c.layout), keys, 0, c.files, c.n, NOW, &res),
              CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&alice);
    chain_cleanup(&c);
}

/* A link file that does not parse fails verification (the reference's
 * Metablock.load raises), naming the file; links of other names are ignored. */
static void test_bad_link_file(void **state)
{
    (void)state;
    chain c;
    cs_intoto_result res;
    chain_load(&c, "honest");
    size_t w = 0;
    while (strncmp(c.names[w], "write-code.", 11) != 0)
        w++;
    cs_slice good = c.files[w].data;
    c.files[w].data = CS_SLICE(good.ptr, good.len / 2);
    cst_fails(chain_verify(&c, NOW, &res), CONSORT_E_MALFORMED);
    assert_int_equal(res.check, CS_INTOTO_CHECK_FORMAT);
    assert_string_equal(res.step, "write-code");
    assert_non_null(strstr(consort_errmsg(), c.names[w]));
    /* the same link under a name no step looks for: it is missing */
    c.files[w].data = good;
    c.files[w].name = "write-code.link";
    cst_fails(chain_verify(&c, NOW, &res), CONSORT_E_POLICY);
    assert_int_equal(res.check, CS_INTOTO_CHECK_LINK_MISSING);
    chain_cleanup(&c);
}

/* Every allocation of a whole verification fails in turn: each failure is
 * NOMEM (never a pass, never another verdict) and leaks nothing. */
static void test_allocation_failures(void **state)
{
    (void)state;
    chain c;
    chain_load(&c, "honest");
    cst_alloc_install();
    long live = cst_alloc_live();
    long failures = 0;
    for (long n = 0; n < 100000; n++) {
        cs_intoto_result res;
        cst_alloc_fail_after(n);
        consort_err rc = chain_verify(&c, NOW, &res);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed) {
            cst_ok(rc);
            assert_int_equal(res.check, CS_INTOTO_PASSED);
            break;
        }
        if (rc != CONSORT_E_NOMEM)
            fail_msg("allocation %ld failed: %s (%s), expected NOMEM", n, consort_err_name(rc),
                     consort_errmsg());
        assert_int_not_equal(res.check, CS_INTOTO_PASSED);
        failures++;
    }
    cst_alloc_uninstall();
    assert_true(failures >= 20);
    chain_cleanup(&c);
}

/* What in_toto_verify raised, as the check consort must fail at. */
static cs_intoto_check check_of(const char *error)
{
    static const struct {
        const char *prefix;
        cs_intoto_check check;
    } map[] = {
        {"SignatureVerificationError:", CS_INTOTO_CHECK_LAYOUT_SIGNATURE},
        {"LayoutExpiredError:", CS_INTOTO_CHECK_LAYOUT_EXPIRED},
        {"LinkNotFoundError:", CS_INTOTO_CHECK_LINK_MISSING},
        {"RuleVerificationError:", CS_INTOTO_CHECK_RULE},
    };
    if (strncmp(error, "ThresholdVerificationError:", 27) == 0)
        return strstr(error, "have different artifacts") ? CS_INTOTO_CHECK_THRESHOLD_ARTIFACTS
                                                         : CS_INTOTO_CHECK_LINK_SIGNATURES;
    for (size_t i = 0; i < CS_ARRAY_LEN(map); i++)
        if (strncmp(error, map[i].prefix, strlen(map[i].prefix)) == 0)
            return map[i].check;
    fail_msg("unexpected reference error %s", error);
    return CS_INTOTO_PASSED;
}

/* 120 random chains (vectors/chains_random.json): 1-3 steps, random
 * functionaries, thresholds, rules, missing, disagreeing or wrongly signed
 * links, expired or wrongly signed layouts. Same verdict as in_toto_verify,
 * at the same check, on the same step or rule. */
static void test_random_chains(void **state)
{
    (void)state;
    json_t *doc = sv_json("chains_random.json");
    char *owner = json_dumps(json_object_get(doc, "owner"), JSON_COMPACT);
    cs_slice key = cs_slice_str(owner);
    size_t i, passed = 0;
    json_t *c;
    json_array_foreach(json_object_get(doc, "cases"), i, c)
    {
        cs_intoto_file files[64];
        size_t n = 0;
        const char *name;
        json_t *text;
        json_object_foreach(json_object_get(c, "links"), name, text)
        {
            assert_true(n < CS_ARRAY_LEN(files));
            files[n++] = (cs_intoto_file){name, cs_slice_str(json_string_value(text))};
        }
        cs_slice layout = cs_slice_str(json_string_value(json_object_get(c, "layout")));
        cs_intoto_result res;
        consort_err rc = cs_intoto_verify(layout, &key, 1, files, n, NOW, &res);
        if (json_is_true(json_object_get(c, "ok"))) {
            if (rc != CONSORT_OK)
                fail_msg("case %zu: in_toto_verify passed, consort: %s", i, consort_errmsg());
            passed++;
            continue;
        }
        const char *error = json_string_value(json_object_get(c, "error"));
        cs_intoto_check want = check_of(error);
        if (rc == CONSORT_OK || res.check != want)
            fail_msg("case %zu: in_toto_verify: %s; consort: %s (%s)", i, error,
                     cs_intoto_check_name(res.check), consort_errmsg());
        char named[600];
        if (want == CS_INTOTO_CHECK_RULE)
            snprintf(named, sizeof named, "'%s'", res.rule);
        else if (want == CS_INTOTO_CHECK_LINK_MISSING || want == CS_INTOTO_CHECK_LINK_SIGNATURES)
            snprintf(named, sizeof named, "Step '%s'", res.step);
        else
            named[0] = '\0';
        if (strstr(error, named) == NULL)
            fail_msg("case %zu: consort names %s, in_toto_verify said %s", i, named, error);
    }
    assert_int_equal(i, 120);
    assert_true(passed >= 10);
    free(owner);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variants),        cmocka_unit_test(test_order_of_checks),
        cmocka_unit_test(test_expiry_boundary), cmocka_unit_test(test_every_layout_key_must_sign),
        cmocka_unit_test(test_bad_link_file),   cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_random_chains),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
