/*
 * Layout and link parsing: the reference's metadata parses to what it says,
 * and each defect is refused with a message that names it.
 */
#include "supply/intoto_meta.h"

#include "supply_vectors.h"

#include <string.h>

#define HONEST_LAYOUT "chain/honest/root.layout"
#define HONEST_LINK   "chain/honest/write-code.1caffc58.link"

/* Sets (value != NULL) or deletes the member at `path` ("signed/steps/1/name")
 * of the document in `rel`, and returns the edited document as text. */
static char *edited(const char *rel, const char *path, const char *value)
{
    json_t *doc = sv_json(rel);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *parent = doc;
    char *save = NULL, *part = strtok_r(buf, "/", &save);
    for (char *next; (next = strtok_r(NULL, "/", &save)) != NULL; part = next) {
        parent = json_is_array(parent) ? json_array_get(parent, strtoul(part, NULL, 10))
                                       : json_object_get(parent, part);
        assert_non_null(parent);
    }
    if (value == NULL) {
        assert_int_equal(json_object_del(parent, part), 0);
    } else {
        json_error_t err;
        json_t *v = json_loads(value, JSON_DECODE_ANY, &err);
        if (v == NULL)
            fail_msg("test value %s: %s", value, err.text);
        if (json_is_array(parent))
            assert_int_equal(json_array_set_new(parent, strtoul(part, NULL, 10), v), 0);
        else
            assert_int_equal(json_object_set_new(parent, part, v), 0);
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

typedef struct defect {
    const char *path;
    const char *value; /* NULL: delete */
    consort_err code;
    const char *needle;
} defect;

static const defect layout_defects[] = {
    {"signed/readme", NULL, CONSORT_E_MALFORMED, "member \"readme\" missing"},
    {"signed/foo", "1", CONSORT_E_MALFORMED, "unknown member \"foo\""},
    {"foo", "1", CONSORT_E_MALFORMED, "unknown member \"foo\""},
    {"signed/_type", "\"link\"", CONSORT_E_MALFORMED, "_type \"link\", expected \"layout\""},
    {"signed/expires", "\"2030-02-30T00:00:00Z\"", CONSORT_E_MALFORMED, "no such date"},
    {"signed/expires", "\"2030-01-01 00:00:00Z\"", CONSORT_E_MALFORMED, "YYYY-MM-DDTHH:MM:SSZ"},
    {"signed/expires", "\"2030-01-01T00:00:00+00:00\"", CONSORT_E_MALFORMED, "YYYY"},
    {"signed/steps/1/threshold", "0", CONSORT_E_MALFORMED, "threshold 0"},
    {"signed/steps/1/threshold", "\"2\"", CONSORT_E_MALFORMED, "threshold is not an integer"},
    /* a float is refused before any member is read: it cannot be signed */
    {"signed/steps/1/threshold", "2.0", CONSORT_E_UNSUPPORTED,
     "\"threshold\": canonical JSON: cannot encode the float"},
    {"signed/steps/1/name", "\"write-code\"", CONSORT_E_MALFORMED,
     "a step named \"write-code\" already exists"},
    {"signed/steps/0/pubkeys/0", "\"not-hex\"", CONSORT_E_MALFORMED, "not a hex key id"},
    {"signed/steps/0/expected_products/0", "[\"COPY\", \"x\"]", CONSORT_E_MALFORMED,
     "expected_products[0]: rule type \"COPY\""},
    {"signed/steps/0/expected_command", "\"sh\"", CONSORT_E_MALFORMED, "not a list"},
    {"signed/steps/0/_type", "\"inspection\"", CONSORT_E_MALFORMED, "expected \"step\""},
    {"signed/steps/0/run", "[]", CONSORT_E_MALFORMED, "unknown member \"run\""},
    {"signed/inspect",
     "[{\"_type\": \"inspection\", \"name\": \"untar\", \"run\": [\"tar\"], "
     "\"expected_materials\": [], \"expected_products\": []}]",
     CONSORT_E_UNSUPPORTED, "consort never runs inspection commands"},
    {"signed/keys/1caffc582a033f5d19081e4cf3ad58bd3f2835e70d070ffa7f882a3469c31628/keytype",
     "\"dsa\"", CONSORT_E_UNSUPPORTED, "keytype \"dsa\""},
    {"signatures/0/sig", "\"xyz\"", CONSORT_E_MALFORMED, "must be hex"},
    {"signatures/0/extra", "1", CONSORT_E_MALFORMED, "unknown member \"extra\""},
    {"signatures", "{}", CONSORT_E_MALFORMED, "\"signatures\" is not a list"},
};

static const defect link_defects[] = {
    {"signed/environment", NULL, CONSORT_E_MALFORMED, "member \"environment\" missing"},
    {"signed/products/foo.py", "{\"sha256\": \"xyz\"}", CONSORT_E_MALFORMED, "is not hex"},
    {"signed/products/foo.py", "{}", CONSORT_E_MALFORMED, "not an object of 1 to 8 digests"},
    {"signed/products/foo.py", "\"abcd\"", CONSORT_E_MALFORMED, "not an object"},
    {"signed/byproducts/return-value", "\"0\"", CONSORT_E_MALFORMED,
     "return-value is not an integer"},
    {"signed/command/0", "1", CONSORT_E_MALFORMED, "command[0] is not a string"},
    {"signed/environment", "{\"x\": 1.5}", CONSORT_E_UNSUPPORTED, "float"},
    {"signed/_type", "\"layout\"", CONSORT_E_UNSUPPORTED, "sublayouts are not supported"},
    {"signed/_type", "\"step\"", CONSORT_E_MALFORMED, "expected \"link\""},
};

static void test_honest_layout(void **state)
{
    (void)state;
    cs_buf text;
    sv_read(HONEST_LAYOUT, &text);
    cs_intoto_layout l;
    cst_ok(cs_intoto_layout_parse(cs_buf_slice(&text), &l));
    assert_int_equal(l.expires, 1893456000); /* 2030-01-01T00:00:00Z */
    assert_int_equal(l.n_keys, 3);
    assert_int_equal(l.n_steps, 2);
    assert_string_equal(l.steps[0].name, "write-code");
    assert_int_equal(l.steps[1].threshold, 2);
    assert_int_equal(l.steps[1].n_pubkeys, 2);
    assert_int_equal(l.steps[1].n_materials, 2);
    assert_int_equal(l.steps[1].materials[0].type, CS_INTOTO_RULE_MATCH);
    assert_string_equal(l.steps[1].materials[0].dest_name, "write-code");
    assert_int_equal(l.steps[1].products[1].type, CS_INTOTO_RULE_DISALLOW);
    cs_intoto_layout_cleanup(&l);
    cs_buf_cleanup(&text);
}

static void test_layout_defects(void **state)
{
    (void)state;
    for (size_t i = 0; i < CS_ARRAY_LEN(layout_defects); i++) {
        const defect *d = &layout_defects[i];
        char *text = edited(HONEST_LAYOUT, d->path, d->value);
        cs_intoto_layout l;
        consort_err rc = cs_intoto_layout_parse(cs_slice_str(text), &l);
        if (rc != d->code || strstr(consort_errmsg(), d->needle) == NULL)
            fail_msg("%s = %s: %s \"%s\", expected %s with \"%s\"", d->path,
                     d->value ? d->value : "(deleted)", consort_err_name(rc), consort_errmsg(),
                     consort_err_name(d->code), d->needle);
        if (d->code == CONSORT_E_UNSUPPORTED && strstr(d->needle, "inspection") != NULL)
            assert_int_equal(l.n_inspections, 1);
        cs_intoto_layout_cleanup(&l);
        free(text);
    }
}

static void test_link_defects(void **state)
{
    (void)state;
    cs_buf text;
    sv_read(HONEST_LINK, &text);
    cs_intoto_link link;
    cst_ok(cs_intoto_link_parse(cs_buf_slice(&text), &link));
    assert_string_equal(link.name, "write-code");
    assert_int_equal(json_object_size(link.products), 1);
    cs_intoto_link_cleanup(&link);
    cs_buf_cleanup(&text);
    for (size_t i = 0; i < CS_ARRAY_LEN(link_defects); i++) {
        const defect *d = &link_defects[i];
        char *t = edited(HONEST_LINK, d->path, d->value);
        consort_err rc = cs_intoto_link_parse(cs_slice_str(t), &link);
        if (rc != d->code || strstr(consort_errmsg(), d->needle) == NULL)
            fail_msg("%s = %s: %s \"%s\", expected %s with \"%s\"", d->path,
                     d->value ? d->value : "(deleted)", consort_err_name(rc), consort_errmsg(),
                     consort_err_name(d->code), d->needle);
        cs_intoto_link_cleanup(&link);
        free(t);
    }
}

/* More signatures than the cap, and a document over the size cap. */
static void test_caps(void **state)
{
    (void)state;
    json_t *doc = sv_json(HONEST_LINK);
    json_t *sigs = json_object_get(doc, "signatures");
    json_t *one = json_array_get(sigs, 0);
    while (json_array_size(sigs) <= CS_INTOTO_MAX_SIGNATURES)
        json_array_append(sigs, one);
    char *text = json_dumps(doc, JSON_COMPACT);
    cs_intoto_link link;
    cst_fails(cs_intoto_link_parse(cs_slice_str(text), &link), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "signatures, at most"));
    cs_intoto_link_cleanup(&link);
    free(text);
    json_decref(doc);
    cst_fails(cs_intoto_link_parse(CS_SLICE(" ", (size_t)5 << 20), &link), CONSORT_E_TOO_LARGE);
    cs_intoto_link_cleanup(&link);
}

static void test_time(void **state)
{
    (void)state;
    int64_t t;
    cst_ok(cs_intoto_parse_time("1970-01-01T00:00:00Z", &t));
    assert_int_equal(t, 0);
    cst_ok(cs_intoto_parse_time("2024-02-29T23:59:59Z", &t));
    assert_int_equal(t, 1709251199);
    cst_fails(cs_intoto_parse_time("2023-02-29T00:00:00Z", &t), CONSORT_E_MALFORMED);
    cst_fails(cs_intoto_parse_time("2023-01-01T24:00:00Z", &t), CONSORT_E_MALFORMED);
    cst_fails(cs_intoto_parse_time("2023-01-01T00:00:60Z", &t), CONSORT_E_MALFORMED);
    cst_fails(cs_intoto_parse_time("2023-13-01T00:00:00Z", &t), CONSORT_E_MALFORMED);
    cst_fails(cs_intoto_parse_time("2023-01-01T00:00:00", &t), CONSORT_E_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_layout), cmocka_unit_test(test_layout_defects),
        cmocka_unit_test(test_link_defects),  cmocka_unit_test(test_caps),
        cmocka_unit_test(test_time),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
