/*
 * Canonical JSON against bytes securesystemslib 0.26 produced
 * (vectors/canonical.json, PROVENANCE.md), and the strict parser.
 */
#include "supply/cjson.h"

#include "supply_vectors.h"

#include <string.h>

/* Every case of canonical.json: same bytes, or refused like the reference. */
static void test_reference_vectors(void **state)
{
    (void)state;
    json_t *cases = sv_json("canonical.json");
    assert_true(json_array_size(cases) >= 19);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *text = json_string_value(json_object_get(c, "json"));
        json_t *v = NULL;
        cst_ok(cs_cjson_parse(cs_slice_str(text), &v));
        cs_buf got;
        cs_buf_init(&got, 0);
        const char *hex = json_string_value(json_object_get(c, "canonical_hex"));
        if (hex != NULL) {
            cst_ok(cs_cjson_encode(v, &got));
            cs_buf want;
            cst_hex(hex, &want);
            if (!cs_slice_eq(cs_buf_slice(&got), cs_buf_slice(&want)))
                fail_msg("case %zu %s: canonical form differs (got %.*s)", i, text, (int)got.len,
                         (const char *)got.ptr);
            cs_buf_cleanup(&want);
        } else {
            /* securesystemslib: "I cannot encode 1.5" */
            assert_non_null(json_object_get(c, "refused"));
            cst_fails(cs_cjson_encode(v, &got), CONSORT_E_UNSUPPORTED);
            assert_non_null(strstr(consort_errmsg(), "float"));
            assert_int_equal(got.len, 0);
        }
        cs_buf_cleanup(&got);
        json_decref(v);
    }
    json_decref(cases);
}

/* The signable bytes of a real link: what alice's ed25519 signature covers. */
static void test_link_signed_part(void **state)
{
    (void)state;
    json_t *link = sv_json("chain/honest/write-code.1caffc58.link");
    cs_buf got;
    cs_buf_init(&got, 0);
    cst_ok(cs_cjson_encode(json_object_get(link, "signed"), &got));
    /* keys sorted, no spaces, the command's \" and \\ escaped once more */
    static const char want[] =
        "{\"_type\":\"link\",\"byproducts\":{\"return-value\":0,\"stderr\":\"\",\"stdout\":\"\"},"
        "\"command\":[\"sh\",\"-c\",\"echo \\\"print(\\\\\\\"hello\\\\\\\")\\\" > foo.py\"],"
        "\"environment\":{},\"materials\":{},\"name\":\"write-code\",\"products\":{\"foo.py\":"
        "{\"sha256\":\"b80792336156c7b0f7fe02eeef24610d2d52a10d1810397744471d1dc5738180\"}}}";
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.ptr, want, got.len);
    cs_buf_cleanup(&got);
    json_decref(link);
}

static void test_parser_is_strict(void **state)
{
    (void)state;
    json_t *v = NULL;
    /* Python keeps the last duplicate; consort refuses the document. */
    cst_fails(cs_cjson_parse(cs_slice_str("{\"a\": 1, \"a\": 2}"), &v), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "duplicate"));
    cst_fails(cs_cjson_parse(cs_slice_str("{\"a\": \"\\u0000\"}"), &v), CONSORT_E_MALFORMED);
    cst_fails(cs_cjson_parse(cs_slice_str("{} {}"), &v), CONSORT_E_MALFORMED);
    cst_fails(cs_cjson_parse(cs_slice_str("[1,]"), &v), CONSORT_E_MALFORMED);
    cst_fails(cs_cjson_parse(cs_slice_str("99999999999999999999"), &v), CONSORT_E_MALFORMED);
    /* the size cap comes before any parsing */
    cst_fails(cs_cjson_parse(CS_SLICE("x", CS_CJSON_MAX_DOC + 1), &v), CONSORT_E_TOO_LARGE);
}

/* A float nested deep inside is found, and the message says where. */
static void test_float_path_named(void **state)
{
    (void)state;
    json_t *v = NULL;
    cst_ok(cs_cjson_parse(cs_slice_str("{\"a\": [1, {\"b\": 2.5}]}"), &v));
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_fails(cs_cjson_encode(v, &out), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "\"a\": [1]: \"b\""));
    cs_buf_cleanup(&out);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vectors),
        cmocka_unit_test(test_link_signed_part),
        cmocka_unit_test(test_parser_is_strict),
        cmocka_unit_test(test_float_path_named),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
