/*
 * Artifact rules and patterns against what the reference decided:
 * vectors/fnmatch.json (Python 3.11 fnmatch.filter) and vectors/rules.json
 * (in-toto 1.3.1 verifylib.verify_item_rules), see PROVENANCE.md.
 */
#include "supply/fnmatch.h"
#include "supply/intoto_rules.h"

#include "supply_vectors.h"

#include <string.h>

static void check_fnmatch_file(const char *rel, size_t min_checked)
{
    json_t *doc = sv_json(rel);
    const json_t *names = json_object_get(doc, "names");
    size_t i, checked = 0;
    json_t *c;
    json_array_foreach(json_object_get(doc, "cases"), i, c)
    {
        const char *pattern = json_string_value(json_object_get(c, "pattern"));
        const json_t *matches = json_object_get(c, "matches");
        assert_non_null(matches); /* Python refused none of these patterns */
        cs_fnmatch *m = NULL;
        cst_ok(cs_fnmatch_compile(pattern, &m));
        for (size_t k = 0; k < json_array_size(names); k++) {
            const char *name = json_string_value(json_array_get(names, k));
            bool want = false;
            for (size_t x = 0; x < json_array_size(matches) && !want; x++)
                want = strcmp(json_string_value(json_array_get(matches, x)), name) == 0;
            bool got;
            cst_ok(cs_fnmatch_match(m, name, &got));
            if (got != want)
                fail_msg("pattern \"%s\" on \"%s\": %s, Python says %s", pattern, name,
                         want ? "no match" : "match", want ? "match" : "no match");
            checked++;
        }
        cs_fnmatch_free(m);
    }
    assert_true(checked >= min_checked);
    json_decref(doc);
}

static void test_fnmatch_reference(void **state)
{
    (void)state;
    check_fnmatch_file("fnmatch.json", 1400);
    /* 400 random patterns over an alphabet of metacharacters, 45 names */
    check_fnmatch_file("fnmatch_random.json", 400 * 45);
}

/* The two links of rules.json, as the rule engine sees them. */
typedef struct fixture {
    json_t *doc;
    cs_intoto_link links[2];
    cs_intoto_named_link named[2];
} fixture;

static void fixture_links(fixture *f, const json_t *links)
{
    static const char *const names[] = {"prev", "this"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *l = json_object_get(links, names[i]);
        assert_non_null(l);
        f->links[i].name = names[i];
        f->links[i].materials = json_object_get(l, "materials");
        f->links[i].products = json_object_get(l, "products");
        f->named[i] = (cs_intoto_named_link){names[i], &f->links[i]};
    }
}

/* Every rule list of `rel`: same verdict as the reference; for a failure the
 * same rule, and an artifact the reference also named. Cases carry their
 * links, or the file has one "links" for all. */
static void check_rules_file(const char *rel, size_t min_cases)
{
    fixture f;
    memset(&f, 0, sizeof f);
    f.doc = sv_json(rel);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(f.doc, "cases"), i, c)
    {
        const json_t *links = json_object_get(c, "links");
        fixture_links(&f, links ? links : json_object_get(f.doc, "links"));
        assert_null(json_object_get(c, "crash")); /* the reference did not crash */
        const json_t *raw = json_object_get(c, "rules");
        size_t n = json_array_size(raw);
        cs_intoto_rule rules[16];
        assert_true(n <= 16);
        for (size_t k = 0; k < n; k++)
            cst_ok(cs_intoto_rule_parse(json_array_get(raw, k), &rules[k]));
        bool products =
            strcmp(json_string_value(json_object_get(c, "source_type")), "products") == 0;
        cs_intoto_result res;
        memset(&res, 0, sizeof res);
        consort_err rc = cs_intoto_verify_item_rules("this", products, rules, n, f.named, 2, &res);
        if (json_is_true(json_object_get(c, "ok"))) {
            if (rc != CONSORT_OK)
                fail_msg("%s case %zu: reference passed, consort: %s", rel, i, consort_errmsg());
            continue;
        }
        const char *error = json_string_value(json_object_get(c, "error"));
        if (rc != CONSORT_E_POLICY)
            fail_msg("%s case %zu: reference failed (%s), consort returned %s", rel, i, error,
                     consort_err_name(rc));
        assert_int_equal(res.check, CS_INTOTO_CHECK_RULE);
        assert_string_equal(res.step, "this");
        /* the reference's message starts with the rule in quotes */
        char quoted[600];
        snprintf(quoted, sizeof quoted, "'%s'", res.rule);
        if (strncmp(error, quoted, strlen(quoted)) != 0)
            fail_msg("%s case %zu: consort failed on %s, the reference on %s", rel, i, quoted,
                     error);
        /* DISALLOW lists ['a', 'b'] and REQUIRE names the file: ours is among them */
        char artifact[600];
        snprintf(artifact, sizeof artifact, strncmp(res.rule, "DISALLOW", 8) == 0 ? "'%s'" : "%s",
                 res.artifact);
        if (strstr(error, artifact) == NULL)
            fail_msg("%s case %zu: artifact %s not in the reference's %s", rel, i, artifact, error);
    }
    assert_true(i >= min_cases);
    json_decref(f.doc);
}

static void test_rules_reference(void **state)
{
    (void)state;
    check_rules_file("rules.json", 19);
    /* 300 random rule lists over random links (MATCH with and without
     * prefixes, from this step, the other, and a step without a link) */
    check_rules_file("rules_random.json", 300);
}

static void expect_rule_error(const char *json_rule, const char *needle)
{
    json_t *raw = json_loads(json_rule, 0, NULL);
    assert_non_null(raw);
    cs_intoto_rule r;
    cst_fails(cs_intoto_rule_parse(raw, &r), CONSORT_E_MALFORMED);
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("%s: \"%s\" lacks \"%s\"", json_rule, consort_errmsg(), needle);
    json_decref(raw);
}

/* rulelib.unpack_rule's forms, case-insensitive keywords, and its refusals. */
static void test_rule_parse(void **state)
{
    (void)state;
    json_t *raw = json_loads("[\"match\", \"*.c\", \"in\", \"src\", \"With\", \"products\", "
                             "\"IN\", \"out\", \"FROM\", \"Build\"]",
                             0, NULL);
    cs_intoto_rule r;
    cst_ok(cs_intoto_rule_parse(raw, &r));
    assert_int_equal(r.type, CS_INTOTO_RULE_MATCH);
    assert_string_equal(r.source_prefix, "src");
    assert_string_equal(r.dest_prefix, "out");
    assert_string_equal(r.dest_name, "Build"); /* the step name keeps its case */
    assert_true(r.dest_products);
    char text[128];
    cs_intoto_rule_text(&r, text, sizeof text);
    assert_string_equal(text, "match *.c in src With products IN out FROM Build");
    json_decref(raw);

    expect_rule_error("[\"CREATE\"]", "rule of 1 words");
    expect_rule_error("[\"COPY\", \"x\"]", "rule type \"COPY\"");
    expect_rule_error("[\"CREATE\", \"x\", \"y\"]", "expected 2");
    expect_rule_error("[\"MATCH\", \"x\", \"WITH\", \"ARTIFACTS\", \"FROM\", \"s\"]",
                      "expected MATERIALS or PRODUCTS");
    expect_rule_error("[\"MATCH\", \"x\", \"FROM\", \"s\"]", "MATCH rule must read");
    expect_rule_error("[\"ALLOW\", 3]", "not a string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnmatch_reference),
        cmocka_unit_test(test_rules_reference),
        cmocka_unit_test(test_rule_parse),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
