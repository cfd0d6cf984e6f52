/*
 * Code certificates (supply/codecert.h) over chains the reference tools
 * made (vectors/chain/<variant>): issued only for a chain that verifies and an
 * artifact one of its steps produced with the same SHA-256; what a
 * certificate says (code id, artifact, layout and link digests, claims)
 * comes back from cs_codecert_verify exactly; a chain that fails any check,
 * a foreign or altered artifact, an unknown claim step and a claim the issuer
 * may not assert give no certificate; verification refuses another issuer,
 * an altered byte and a non-certificate.
 */
#include "supply/codecert.h"

#include "crypto/hash.h"
#include "supply_vectors.h"

#define NOW INT64_C(1796342400) /* 2026-12-04: the layouts expire in 2030 */

/* write-code's product, exactly as it recorded it (vectors/gen.sh) */
static const char FOO_PY[] = "print(\"hello\")\n";

typedef struct issuer {
    cs_key *key;
    cs_x509 *cert;
} issuer;

static void issuer_make(issuer *is, const char *name)
{
    cst_ok(cs_key_generate(CS_CURVE_P256, &is->key));
    const cs_x509_params params = {
        .subject_cn = name, .not_before = NOW - 60, .not_after = NOW + 86400};
    cst_ok(cs_x509_create(&params, is->key, is->key, NULL, &is->cert));
}

static void issuer_free(issuer *is)
{
    cs_key_free(is->key);
    cs_x509_free(is->cert);
}

static cs_codecert_request request(const chain *c, cs_slice *key)
{
    *key = cs_buf_slice(&c->owner);
    cs_codecert_request r = {
        .layout = cs_buf_slice(&c->layout),
        .layout_keys = key,
        .n_layout_keys = 1,
        .links = c->files,
        .n_links = c->n_given,
        .now = NOW,
        .artifact_path = "foo.py",
        .artifact = cs_slice_str(FOO_PY),
    };
    memset(r.code_id, 0xc1, sizeof r.code_id);
    return r;
}

static void issue_and_verify_honest(void **state)
{
    (void)state;
    chain c;
    chain_load(&c, "honest");
    issuer is;
    issuer_make(&is, "ci");
    cs_slice key;
    cs_codecert_request r = request(&c, &key);
    const char *asserted[] = {"compliance=HIPAA", "built_with=debian-12"};
    r.tested_step = "package";
    r.reviewed_step = "package";
    r.asserted = asserted;
    r.n_asserted = 2;
    cs_intoto_result res;
    cs_buf out;
    cs_buf_init(&out, CS_CODECERT_MAX);
    cst_ok(cs_codecert_issue(&r, is.key, is.cert, &res, &out));
    assert_int_equal(res.check, CS_INTOTO_PASSED);

    cs_codecert got;
    cst_ok(cs_codecert_verify(cs_buf_slice(&out), is.cert, &got));
    assert_memory_equal(got.code_id, r.code_id, 32);
    assert_string_equal(got.artifact_path, "foo.py");
    uint8_t want[32];
    cs_sha256(cs_slice_str(FOO_PY), want);
    assert_memory_equal(got.artifact_sha256, want, 32);
    cs_sha256(cs_buf_slice(&c.layout), want);
    assert_memory_equal(got.layout_sha256, want, 32);
    assert_int_equal(got.n_links, 3); /* write-code (1) and package (2, threshold 2) */
    assert_int_equal(got.n_steps, 2);
    assert_int_equal(got.issued_at, NOW);
    assert_int_equal(got.n_claims, 4);
    assert_string_equal(cs_codecert_claim_get(&got, "tested")->value, "true");
    assert_string_equal(cs_codecert_claim_get(&got, "compliance")->value, "HIPAA");
    assert_string_equal(cs_codecert_claim_get(&got, "built_with")->value, "debian-12");
    /* reviewed_by: package's two functionaries (bob, carol), in the layout's pubkeys order */
    const char *reviewers = cs_codecert_claim_get(&got, "reviewed_by")->value;
    assert_int_equal(strlen(reviewers), 64 + 1 + 64);
    assert_null(cs_codecert_claim_get(&got, "reviewed"));

    /* another issuer's certificate: refused; every single-byte change: refused */
    issuer other;
    issuer_make(&other, "ci");
    cst_fails(cs_codecert_verify(cs_buf_slice(&out), other.cert, &got), CONSORT_E_POLICY);
    for (size_t i = 0; i < out.len; i += 7) {
        out.ptr[i] ^= 0x01;
        cst_fails_any(cs_codecert_verify(cs_buf_slice(&out), is.cert, &got));
        out.ptr[i] ^= 0x01;
    }
    cst_ok(cs_codecert_verify(cs_buf_slice(&out), is.cert, &got));
    /* the payload alone, or nothing, is no certificate */
    cst_fails_any(cs_codecert_verify(CS_SLICE(out.ptr, 10), is.cert, &got));
    cst_fails_any(cs_codecert_verify(CS_SLICE(out.ptr, 0), is.cert, &got));
    issuer_free(&other);
    issuer_free(&is);
    cs_buf_cleanup(&out);
    chain_cleanup(&c);
}

/* A chain that fails in-toto's checks gives no certificate, and says which check. */
static void failing_chains_are_not_certified(void **state)
{
    (void)state;
    static const struct {
        const char *variant;
        cs_intoto_check check;
    } cases[] = {
        {"expired", CS_INTOTO_CHECK_LAYOUT_EXPIRED},
        {"bad-layout-sig", CS_INTOTO_CHECK_LAYOUT_SIGNATURE},
        {"wrong-layout-key", CS_INTOTO_CHECK_LAYOUT_SIGNATURE},
        {"missing-link", CS_INTOTO_CHECK_LINK_MISSING},
        {"unauthorised-key", CS_INTOTO_CHECK_LINK_SIGNATURES},
        {"threshold-missing", CS_INTOTO_CHECK_LINK_MISSING},
        {"threshold-bad-sig", CS_INTOTO_CHECK_LINK_SIGNATURES},
        {"threshold-disagree", CS_INTOTO_CHECK_THRESHOLD_ARTIFACTS},
        {"swapped-material", CS_INTOTO_CHECK_RULE},
        {"inspection", CS_INTOTO_CHECK_INSPECTION},
    };
    issuer is;
    issuer_make(&is, "ci");
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        chain c;
        chain_load(&c, cases[i].variant);
        cs_slice key;
        cs_codecert_request r = request(&c, &key);
        cs_intoto_result res;
        cs_buf out;
        cs_buf_init(&out, CS_CODECERT_MAX);
        consort_err rc = cs_codecert_issue(&r, is.key, is.cert, &res, &out);
        if (rc == CONSORT_OK || res.check != cases[i].check || out.len != 0)
            fail_msg("%s: %s, check %s, %zu bytes out", cases[i].variant, consort_err_name(rc),
                     cs_intoto_check_name(res.check), out.len);
        assert_non_null(strstr(consort_errmsg(), "not certified"));
        cs_buf_cleanup(&out);
        chain_cleanup(&c);
    }
    issuer_free(&is);
}

static void artifact_must_be_the_chains_product(void **state)
{
    (void)state;
    chain c;
    chain_load(&c, "honest");
    issuer is;
    issuer_make(&is, "ci");
    cs_slice key;
    cs_intoto_result res;
    cs_buf out;
    cs_buf_init(&out, CS_CODECERT_MAX);
    /* the right name, other bytes */
    cs_codecert_request r = request(&c, &key);
    r.artifact = cs_slice_str("print(\"hello\")  # and a backdoor\n");
    cst_fails(cs_codecert_issue(&r, is.key, is.cert, &res, &out), CONSORT_E_POLICY);
    assert_int_equal(res.check, CS_INTOTO_PASSED); /* the chain itself is fine */
    assert_non_null(strstr(consort_errmsg(), "not the artifact the supply chain made"));
    /* a path no step produced */
    r = request(&c, &key);
    r.artifact_path = "bar.py";
    cst_fails(cs_codecert_issue(&r, is.key, is.cert, &res, &out), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "a product of no step"));
    assert_int_equal(out.len, 0);
    issuer_free(&is);
    cs_buf_cleanup(&out);
    chain_cleanup(&c);
}

static void bad_claims_are_refused(void **state)
{
    (void)state;
    chain c;
    chain_load(&c, "honest");
    issuer is;
    issuer_make(&is, "ci");
    cs_slice key;
    cs_intoto_result res;
    cs_buf out;
    cs_buf_init(&out, CS_CODECERT_MAX);
    static const char *const bad[][2] = {
        {"tested=true", NULL},       /* only the chain's test step says tested */
        {"reviewed_by=alice", NULL}, /* only the chain's review step says who reviewed */
        {"Compliance=HIPAA", NULL},  /* names are a-z, 0-9, _ */
        {"compliance", NULL},        /* NAME=VALUE */
        {"a=1", "a=2"},              /* twice */
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cs_codecert_request r = request(&c, &key);
        r.asserted = bad[i];
        r.n_asserted = bad[i][1] != NULL ? 2 : 1;
        cst_fails(cs_codecert_issue(&r, is.key, is.cert, &res, &out), CONSORT_E_INVALID_ARGUMENT);
    }
    cs_codecert_request r = request(&c, &key);
    r.tested_step = "tests"; /* not a step of the layout */
    cst_fails(cs_codecert_issue(&r, is.key, is.cert, &res, &out), CONSORT_E_INVALID_ARGUMENT);
    r = request(&c, &key);
    r.reviewed_step = "review";
    cst_fails(cs_codecert_issue(&r, is.key, is.cert, &res, &out), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(out.len, 0);
    issuer_free(&is);
    cs_buf_cleanup(&out);
    chain_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(issue_and_verify_honest),
        cmocka_unit_test(failing_chains_are_not_certified),
        cmocka_unit_test(artifact_must_be_the_chains_product),
        cmocka_unit_test(bad_claims_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
