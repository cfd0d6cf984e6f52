/*
 * Claim names (attest/claims.c): the duplicate check and cs_claims_find
 * compare a few bytes before the whole name, so names that agree in length,
 * first and last byte, names that are prefixes of each other, and the
 * longest accepted name must still be told apart exactly.
 */
#include "testutil.h"

#include "attest/evidence.h"

#include <stdio.h>
#include <string.h>

static void near_names_are_distinct(void **state)
{
    (void)state;
    static cs_claims c;
    cs_claims_init(&c, CS_PLATFORM_TPM);
    /* Same length, same first and last byte, different middle. */
    cst_ok(cs_claims_add_u64(&c, "pcr_sha256_17", 1));
    cst_ok(cs_claims_add_u64(&c, "pcr_sha384_17", 2));
    cst_ok(cs_claims_add_u64(&c, "pcr_sha256_1", 3));
    /* Prefixes of each other, both ways. */
    cst_ok(cs_claims_add_u64(&c, "pcr_sha256_", 4));
    cst_ok(cs_claims_add_u64(&c, "p", 5));
    cst_ok(cs_claims_add_u64(&c, "pcr_sha256_177", 6));
    /* The longest name accepted: 31 bytes. */
    char longest[32];
    memset(longest, 'x', 31);
    longest[31] = '\0';
    cst_ok(cs_claims_add_u64(&c, longest, 7));
    assert_int_equal(c.extra_count, 7);

    const char *names[] = {"pcr_sha256_17",  "pcr_sha384_17", "pcr_sha256_1", "pcr_sha256_", "p",
                           "pcr_sha256_177", longest};
    for (size_t i = 0; i < 7; i++) {
        const cs_claim *cl = cs_claims_find(&c, names[i]);
        assert_non_null(cl);
        assert_string_equal(cl->name, names[i]);
        assert_int_equal(cl->u64, i + 1);
        /* Each is refused a second time, whatever its kind. */
        cst_fails(cs_claims_add_bool(&c, names[i], true), CONSORT_E_INVALID_ARGUMENT);
        assert_non_null(strstr(consort_errmsg(), "given twice"));
    }
    assert_int_equal(c.extra_count, 7);

    assert_null(cs_claims_find(&c, "pcr_sha512_17"));
    assert_null(cs_claims_find(&c, "pcr_sha256_7"));
    assert_null(cs_claims_find(&c, "pc"));
    assert_null(cs_claims_find(&c, ""));
    char too_long[40];
    memset(too_long, 'x', 39);
    too_long[39] = '\0';
    assert_null(cs_claims_find(&c, too_long));
    cst_fails(cs_claims_add_u64(&c, too_long, 1), CONSORT_E_INVALID_ARGUMENT);
}

/* A full set of extras: every name checked against every earlier one. */
static void forty_names(void **state)
{
    (void)state;
    static cs_claims c;
    cs_claims_init(&c, CS_PLATFORM_SNP);
    char name[32];
    for (unsigned i = 0; i < CS_CLAIMS_MAX_EXTRA; i++) {
        snprintf(name, sizeof name, "claim_%u_x", i);
        cst_ok(cs_claims_add_u64(&c, name, i));
    }
    for (unsigned i = 0; i < CS_CLAIMS_MAX_EXTRA; i++) {
        snprintf(name, sizeof name, "claim_%u_x", i);
        const cs_claim *cl = cs_claims_find(&c, name);
        assert_non_null(cl);
        assert_int_equal(cl->u64, i);
    }
    snprintf(name, sizeof name, "claim_%u_x", 7u);
    cst_fails(cs_claims_add_u64(&c, name, 0), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_claims_add_u64(&c, "one_more", 0), CONSORT_E_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(near_names_are_distinct),
        cmocka_unit_test(forty_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
