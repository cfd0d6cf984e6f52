/* Attestation policy: parsing (strict JSON) and every rule, accepting and rejecting. */
#include "testutil.h"

#include "attest/policy.h"
#include "base/file.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const ID_A = "3f2a0000000000000000000000000000000000000000000000000000000000aa";
static const char *const ID_B = "3f2a0000000000000000000000000000000000000000000000000000000000bb";

/* Genuine-looking claims that the default policy accepts. */
static void good_claims(cs_claims *c)
{
    cs_claims_init(c, CS_PLATFORM_SNP);
    assert_int_equal(cs_hex_decode(ID_A, c->code_id, 32), CONSORT_OK);
    c->security_version = 5;
    strcpy(c->tcb_status, "UpToDate");
}

static void parse(const char *json, cs_policy *p)
{
    cst_ok(cs_policy_parse_json(cs_slice_str(json), p));
}

/* The policy in `json` rejects `c` with a message containing `needle`. */
static void expect_reject(const char *json, const cs_claims *c, const char *needle)
{
    cs_policy p;
    parse(json, &p);
    cst_fails(cs_policy_check(&p, c), CONSORT_E_POLICY);
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", consort_errmsg(), needle);
}

static void expect_accept(const char *json, const cs_claims *c)
{
    cs_policy p;
    parse(json, &p);
    cst_ok(cs_policy_check(&p, c));
}

static void defaults(void **state)
{
    (void)state;
    cs_policy p;
    cs_policy_init(&p);
    assert_false(p.platforms[CS_PLATFORM_NONE]);
    assert_true(p.platforms[CS_PLATFORM_VIRTUAL] && p.platforms[CS_PLATFORM_SGX]);
    assert_true(p.any_code_id);
    assert_false(p.allow_debug);
    assert_int_equal(p.tcb_status_count, 1);
    assert_string_equal(p.tcb_status[0], "UpToDate");
    cs_claims c;
    good_claims(&c);
    cst_ok(cs_policy_check(&p, &c));
    c.platform = CS_PLATFORM_NONE;
    cst_fails(cs_policy_check(&p, &c), CONSORT_E_POLICY);
    /* "{}" is the default policy */
    good_claims(&c);
    expect_accept("{}", &c);
    c.debug = true;
    expect_reject("{}", &c, "debug is enabled");
}

static void rule_platforms(void **state)
{
    (void)state;
    cs_claims c;
    good_claims(&c);
    expect_accept("{\"platforms\": [\"snp\", \"tdx\"]}", &c);
    expect_reject("{\"platforms\": [\"virtual\"]}", &c, "platform snp is not allowed");
    expect_reject("{\"platforms\": []}", &c, "platform snp is not allowed");
}

static void rule_code_ids(void **state)
{
    (void)state;
    cs_claims c;
    good_claims(&c);
    char json[256];
    snprintf(json, sizeof json, "{\"code_ids\": [\"%s\", \"%s\"]}", ID_B, ID_A);
    expect_accept(json, &c);
    snprintf(json, sizeof json, "{\"code_ids\": [\"%s\"]}", ID_B);
    char needle[128];
    snprintf(needle, sizeof needle, "code id %s is not trusted", ID_A);
    expect_reject(json, &c, needle);
    /* an explicit empty list trusts nothing */
    expect_reject("{\"code_ids\": []}", &c, "is not trusted");
    /* upper-case hex is the same id */
    snprintf(json, sizeof json, "{\"code_ids\": [\"3F2A%s\"]}", ID_A + 4);
    expect_accept(json, &c);

    cs_policy p;
    cs_policy_init(&p);
    uint8_t id[32];
    cst_ok(cs_hex_decode(ID_B, id, 32));
    cst_ok(cs_policy_add_code_id(&p, id));
    assert_false(p.any_code_id);
    cst_fails(cs_policy_check(&p, &c), CONSORT_E_POLICY);
    cst_ok(cs_policy_add_code_id(&p, c.code_id));
    cst_ok(cs_policy_add_code_id(&p, c.code_id)); /* no duplicates stored */
    assert_int_equal(p.code_id_count, 2);
    cst_ok(cs_policy_check(&p, &c));
}

static void rule_security_version(void **state)
{
    (void)state;
    cs_claims c;
    good_claims(&c);
    expect_accept("{\"min_security_version\": 5}", &c);
    expect_reject("{\"min_security_version\": 6}", &c, "security version 5 is below the minimum 6");
}

static void rule_debug(void **state)
{
    (void)state;
    cs_claims c;
    good_claims(&c);
    c.debug = true;
    expect_accept("{\"allow_debug\": true}", &c);
    expect_reject("{\"allow_debug\": false}", &c, "debug is enabled");
}

static void rule_tcb_status(void **state)
{
    (void)state;
    cs_claims c;
    good_claims(&c);
    strcpy(c.tcb_status, "OutOfDate");
    expect_reject("{}", &c, "TCB status 'OutOfDate' is not accepted");
    expect_accept("{\"tcb_status\": [\"UpToDate\", \"OutOfDate\"]}", &c);
    expect_reject("{\"tcb_status\": []}", &c, "TCB status 'OutOfDate'");
    /* a platform that reports no status passes this rule */
    c.tcb_status[0] = '\0';
    expect_accept("{\"tcb_status\": []}", &c);
}

static void rule_advisories(void **state)
{
    (void)state;
    cs_claims c;
    good_claims(&c);
    cst_ok(cs_claims_add_advisory(&c, "INTEL-SA-00615"));
    cst_ok(cs_claims_add_advisory(&c, "INTEL-SA-00657"));
    expect_reject("{}", &c, "advisory INTEL-SA-00615 is not allowed");
    expect_reject("{\"allowed_advisories\": [\"INTEL-SA-00615\"]}", &c,
                  "advisory INTEL-SA-00657 is not allowed");
    expect_accept("{\"allowed_advisories\": [\"INTEL-SA-00657\", \"INTEL-SA-00615\"]}", &c);
}

/* Parsing fails with `code` and a message naming `needle`. */
static void expect_bad(const char *json, consort_err code, const char *needle)
{
    cs_policy p;
    cs_policy_init(&p);
    p.allow_debug = true; /* a failed parse leaves the policy untouched */
    consort_err rc = cs_policy_parse_json(cs_slice_str(json), &p);
    if (rc != code)
        fail_msg("%s: got %s (%s), expected %s", json, consort_err_name(rc), consort_errmsg(),
                 consort_err_name(code));
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", consort_errmsg(), needle);
    assert_true(p.allow_debug);
}

static void malformed_policies(void **state)
{
    (void)state;
    expect_bad("", CONSORT_E_MALFORMED, "invalid JSON");
    expect_bad("{\"allow_debug\": tru}", CONSORT_E_MALFORMED, "invalid JSON");
    expect_bad("[]", CONSORT_E_MALFORMED, "must be a JSON object, found array");
    expect_bad("{} {}", CONSORT_E_MALFORMED, "invalid JSON");
    expect_bad("{\"allow_debg\": true}", CONSORT_E_MALFORMED, "unknown member 'allow_debg'");
    expect_bad("{\"allow_debug\": false, \"allow_debug\": true}", CONSORT_E_MALFORMED,
               "invalid JSON");
    /* wrong types, each naming its member */
    expect_bad("{\"platforms\": \"snp\"}", CONSORT_E_MALFORMED,
               "'platforms' must be an array of strings, found string");
    expect_bad("{\"platforms\": [1]}", CONSORT_E_MALFORMED, "'platforms' item 0 must be a string");
    expect_bad("{\"platforms\": [\"sev\"]}", CONSORT_E_MALFORMED, "platform 'sev' unknown");
    expect_bad("{\"code_ids\": {}}", CONSORT_E_MALFORMED, "'code_ids' must be an array");
    expect_bad("{\"code_ids\": [\"abcd\"]}", CONSORT_E_MALFORMED,
               "'code_ids' item 0 must be 64 hex");
    expect_bad(
        "{\"code_ids\": [\"zz2a0000000000000000000000000000000000000000000000000000000000aa\"]}",
        CONSORT_E_MALFORMED, "'code_ids' item 0");
    expect_bad("{\"min_security_version\": \"3\"}", CONSORT_E_MALFORMED,
               "'min_security_version' must be a non-negative integer, found string");
    expect_bad("{\"min_security_version\": -1}", CONSORT_E_MALFORMED, "min_security_version");
    expect_bad("{\"min_security_version\": 1.5}", CONSORT_E_MALFORMED, "found number");
    expect_bad("{\"allow_debug\": 1}", CONSORT_E_MALFORMED,
               "'allow_debug' must be a boolean, found integer");
    expect_bad("{\"tcb_status\": [\"UpToDate\", null]}", CONSORT_E_MALFORMED,
               "'tcb_status' item 1 must be a string, found null");
    expect_bad("{\"tcb_status\": [\"\"]}", CONSORT_E_MALFORMED,
               "'tcb_status' item 0 must be 1..47");
    expect_bad("{\"allowed_advisories\": [\"INTEL-SA-00615-AND-MUCH-MORE\"]}", CONSORT_E_MALFORMED,
               "'allowed_advisories' item 0 must be 1..23");
    expect_bad("{\"allowed_advisories\": [\"a\\u0000b\"]}", CONSORT_E_MALFORMED,
               "invalid JSON"); /* jansson refuses NUL in strings */
    expect_bad("{\"allowed_advisories\": [\"tab\\there\"]}", CONSORT_E_MALFORMED, "not printable");
    expect_bad("{\"tcb_status\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
               "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}",
               CONSORT_E_TOO_LARGE, "17 items, at most 16");
}

static void full_policy_and_file(void **state)
{
    (void)state;
    char json[512];
    snprintf(json, sizeof json,
             "{\"platforms\": [\"virtual\", \"snp\"], \"code_ids\": [\"%s\"],\n"
             " \"min_security_version\": 3, \"allow_debug\": false,\n"
             " \"tcb_status\": [\"UpToDate\", \"SWHardeningNeeded\"],\n"
             " \"allowed_advisories\": [\"INTEL-SA-00615\"]}\n",
             ID_A);
    char path[] = "/tmp/cst-policy-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    cst_ok(cs_file_write_atomic(path, cs_slice_str(json), 0600));
    cs_policy p;
    cst_ok(cs_policy_load_file(path, &p));
    assert_true(p.platforms[CS_PLATFORM_VIRTUAL] && p.platforms[CS_PLATFORM_SNP]);
    assert_false(p.platforms[CS_PLATFORM_TDX]);
    assert_int_equal(p.code_id_count, 1);
    assert_int_equal(p.min_security_version, 3);
    assert_int_equal(p.tcb_status_count, 2);
    assert_string_equal(p.tcb_status[1], "SWHardeningNeeded");
    assert_int_equal(p.advisory_count, 1);
    cs_claims c;
    good_claims(&c);
    cst_ok(cs_policy_check(&p, &c));
    c.platform = CS_PLATFORM_TDX;
    cst_fails(cs_policy_check(&p, &c), CONSORT_E_POLICY);

    cst_ok(cs_file_write_atomic(path, CS_SLICE_LIT("{\"code_ids\": 7}"), 0600));
    cst_fails(cs_policy_load_file(path, &p), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), path));
    assert_non_null(strstr(consort_errmsg(), "code_ids"));
    unlink(path);
    cst_fails(cs_policy_load_file(path, &p), CONSORT_E_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(rule_platforms),
        cmocka_unit_test(rule_code_ids),
        cmocka_unit_test(rule_security_version),
        cmocka_unit_test(rule_debug),
        cmocka_unit_test(rule_tcb_status),
        cmocka_unit_test(rule_advisories),
        cmocka_unit_test(malformed_policies),
        cmocka_unit_test(full_policy_and_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
