/*
 * The verified-endorsement cache (src/attest/verify_cache.h) on its own —
 * windows, keys, LRU, ownership — and wired into every verifier, on the real
 * evidence of ../shared/testdata (and a swtpm quote): a cached verification
 * gives exactly the uncached result (claims, or error code and message),
 * still rejects tampered reports and quotes, misses for other endorsements,
 * and stops being used when `now` passes a notAfter / nextUpdate.
 */
#include "dcap_test.h"
#include "snp_fixture.h"
#include "snp_fields.h"
#include "swtpm.h"
#include "testutil.h"

#include "attest/tpm.h"
#include "attest/verify_cache.h"
#include "attest/virtual.h"
#include "base/alloc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- helpers ---- */

static cs_verify_cache *new_cache(void)
{
    cs_verify_cache *c = NULL;
    cst_ok(cs_verify_cache_new(8, &c));
    return c;
}

static cs_verify_cache_stats stats_of(const cs_verify_cache *c)
{
    cs_verify_cache_stats s;
    cs_verify_cache_stats_get(c, &s);
    return s;
}

static void assert_claims_equal(const cs_claims *a, const cs_claims *b)
{
    assert_int_equal(a->platform, b->platform);
    assert_memory_equal(a->code_id, b->code_id, sizeof a->code_id);
    assert_int_equal(a->signer_len, b->signer_len);
    assert_memory_equal(a->signer, b->signer, sizeof a->signer);
    assert_int_equal(a->security_version, b->security_version);
    assert_int_equal(a->debug, b->debug);
    assert_memory_equal(a->report_data, b->report_data, sizeof a->report_data);
    assert_string_equal(a->tcb_status, b->tcb_status);
    assert_int_equal(a->advisory_count, b->advisory_count);
    for (size_t i = 0; i < a->advisory_count; i++)
        assert_string_equal(a->advisories[i], b->advisories[i]);
    assert_int_equal(a->extra_count, b->extra_count);
    for (size_t i = 0; i < a->extra_count; i++) {
        const cs_claim *x = &a->extra[i], *y = &b->extra[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->len, y->len);
        assert_memory_equal(x->bytes, y->bytes, x->len);
        assert_int_equal(x->u64, y->u64);
        assert_string_equal(x->str, y->str);
    }
}

/*
 * Verifies `ev` at `now` with `cache` and without one, asserts both give the
 * same outcome (claims, or code and message) and returns the code.
 */
static consort_err verify_both(const cs_evidence *ev, int64_t now, const cs_blob_list *anchors,
                               cs_verify_cache *cache)
{
    cs_claims plain, cached;
    const cs_verify_opts p = {.now = now, .anchors = anchors};
    consort_err want = cs_evidence_verify(ev, &p, &plain);
    char want_msg[CS_ERRMSG_MAX];
    snprintf(want_msg, sizeof want_msg, "%s", consort_errmsg());
    const cs_verify_opts c = {.now = now, .anchors = anchors, .cache = cache};
    consort_err got = cs_evidence_verify(ev, &c, &cached);
    if (got != want)
        fail_msg("cached %s, uncached %s (%s)", consort_err_name(got), consort_err_name(want),
                 want == CONSORT_OK ? consort_errmsg() : want_msg);
    if (got == CONSORT_OK)
        assert_claims_equal(&plain, &cached);
    else
        assert_string_equal(consort_errmsg(), want_msg);
    return got;
}

/* Flips bit `bit` of byte `off` of the evidence bytes, verifies, flips it back. */
static consort_err verify_flipped(cs_evidence *ev, size_t off, unsigned bit, int64_t now,
                                  const cs_blob_list *anchors, cs_verify_cache *cache)
{
    dt_flip(&ev->evidence, off, bit);
    consort_err rc = verify_both(ev, now, anchors, cache);
    dt_flip(&ev->evidence, off, bit);
    return rc;
}

/* ---- windows, keys and the table itself ---- */

static void windows_follow_the_validity_state(void **state)
{
    (void)state;
    cs_validity w;
    cs_validity_init(&w);
    assert_true(cs_validity_contains(&w, INT64_MIN) && cs_validity_contains(&w, INT64_MAX));
    cs_validity_add(&w, 100, 50, 200); /* valid: strictly inside */
    assert_int_equal(w.not_before, 51);
    assert_int_equal(w.not_after, 199);
    assert_false(cs_validity_contains(&w, 50));
    assert_false(cs_validity_contains(&w, 200));
    cs_validity_add(&w, 100, 0, 150);
    assert_int_equal(w.not_after, 149);
    cs_validity_add(&w, 100, 500, 400); /* never valid: no constraint */
    assert_int_equal(w.not_before, 51);

    cs_validity_init(&w);
    cs_validity_add(&w, 300, 50, 200); /* expired for good */
    assert_int_equal(w.not_before, 201);
    assert_true(w.not_after == INT64_MAX);
    cs_validity_init(&w);
    cs_validity_add(&w, 10, 50, 200); /* not yet valid */
    assert_true(w.not_before == INT64_MIN);
    assert_int_equal(w.not_after, 49);
    for (int64_t at = 50; at <= 200; at += 150) { /* on a boundary: empty */
        cs_validity_init(&w);
        cs_validity_add(&w, at, 50, 200);
        assert_true(w.not_before > w.not_after);
    }
}

static void keys_are_length_prefixed(void **state)
{
    (void)state;
    uint8_t k[4][32];
    cs_verify_cache_keyer kr;
    const char *parts[4][2] = {{"ab", "c"}, {"a", "bc"}, {"abc", ""}, {"ab", "c"}};
    for (int i = 0; i < 4; i++) {
        cst_ok(cs_verify_cache_key_init(&kr, i == 3 ? "other domain" : "domain"));
        cs_verify_cache_key_add(&kr, cs_slice_str(parts[i][0]));
        cs_verify_cache_key_add(&kr, cs_slice_str(parts[i][1]));
        cs_verify_cache_key_final(&kr, k[i]);
    }
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            assert_memory_not_equal(k[i], k[j], 32);

    cs_blob_list one, two;
    cs_blob_list_init(&one);
    cs_blob_list_init(&two);
    cst_ok(cs_blob_list_add(&one, CS_SLICE_LIT("x")));
    cst_ok(cs_blob_list_add(&two, CS_SLICE_LIT("x")));
    cst_ok(cs_blob_list_add(&two, CS_SLICE_EMPTY));
    const cs_blob_list *lists[2] = {&one, &two};
    for (int i = 0; i < 2; i++) {
        cst_ok(cs_verify_cache_key_init(&kr, "domain"));
        cs_verify_cache_key_add_blobs(&kr, lists[i]);
        cs_verify_cache_key_final(&kr, k[i]);
    }
    assert_memory_not_equal(k[0], k[1], 32);
    cs_blob_list_cleanup(&one);
    cs_blob_list_cleanup(&two);
}

static int freed;

static void count_free(void *p)
{
    freed++;
    cs_free(p);
}

static void *value(void)
{
    void *p = cs_malloc(1);
    assert_non_null(p);
    return p;
}

static void table_is_lru_and_owns_its_values(void **state)
{
    (void)state;
    cs_verify_cache *c = NULL;
    cst_fails(cs_verify_cache_new(0, &c), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_verify_cache_new(CS_VERIFY_CACHE_MAX_ENTRIES + 1, &c), CONSORT_E_INVALID_ARGUMENT);
    assert_null(c);
    cs_verify_cache_free(NULL);
    cst_ok(cs_verify_cache_new(2, &c));
    freed = 0;
    uint8_t a[32] = {1}, b[32] = {2}, d[32] = {3};
    const cs_validity w = {100, 200};
    void *va = value(), *vb = value();
    cst_ok(cs_verify_cache_put(c, a, &w, va, count_free));
    cst_ok(cs_verify_cache_put(c, b, &w, vb, count_free));
    assert_ptr_equal(cs_verify_cache_get(c, a, 150), va); /* a is now the most recent */
    assert_null(cs_verify_cache_get(c, d, 150));
    cst_ok(cs_verify_cache_put(c, d, &w, value(), count_free)); /* evicts b */
    assert_int_equal(freed, 1);
    assert_null(cs_verify_cache_get(c, b, 150));
    assert_ptr_equal(cs_verify_cache_get(c, a, 150), va);

    assert_null(cs_verify_cache_get(c, a, 99)); /* before the window: kept */
    assert_int_equal(stats_of(c).entries, 2);
    assert_null(cs_verify_cache_get(c, a, 201)); /* after it: dropped */
    assert_int_equal(stats_of(c).entries, 1);
    assert_int_equal(freed, 2);

    const cs_validity empty = {10, 9};
    cst_ok(cs_verify_cache_put(c, a, &empty, value(), count_free));
    assert_int_equal(freed, 3);                                 /* nothing stable: freed at once */
    cst_ok(cs_verify_cache_put(c, d, &w, value(), count_free)); /* replaces d */
    assert_int_equal(freed, 4);
    cst_fails(cs_verify_cache_put(c, a, &w, NULL, count_free), CONSORT_E_INVALID_ARGUMENT);

    cs_verify_cache_stats s = stats_of(c);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.outside, 2);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.entries, 1);
    cs_verify_cache_free(c);
    assert_int_equal(freed, 5);
}

/* ---- SEV-SNP ---- */

static void snp_cached_equals_uncached(void **state)
{
    (void)state;
    cs_verify_cache *c = new_cache();
    int64_t now = snp_time(SNP_NOW);
    for (int i = 0; i < SNP_SAMPLE_COUNT; i++) {
        cs_evidence ev;
        snp_evidence(&snp_samples[i], &ev);
        for (int round = 0; round < 3; round++)
            cst_ok(verify_both(&ev, now, NULL, c));
        cs_evidence_cleanup(&ev);
    }
    cs_verify_cache_stats s = stats_of(c);
    assert_int_equal(s.stores, SNP_SAMPLE_COUNT);
    assert_int_equal(s.hits, 2 * SNP_SAMPLE_COUNT);
    cs_verify_cache_free(c);
}

static void snp_cached_rejects_tampered_reports(void **state)
{
    (void)state;
    cs_verify_cache *c = new_cache();
    int64_t now = snp_time(SNP_NOW);
    cs_evidence ev;
    snp_evidence(&snp_samples[SNP_VIRTEE], &ev);
    cst_ok(verify_both(&ev, now, NULL, c));
    /* A bit of every 16th byte of the signed part, and the signature: each
     * refused by its field's check (snp_fields.h), cached or not. */
    for (size_t off = 0; off < CS_SNP_SIGNED_LEN; off += 16)
        snp_expect_refusal(off, verify_flipped(&ev, off, (unsigned)off % 8, now, NULL, c),
                           "cached: a flipped report bit");
    for (size_t off = CS_SNP_SIGNED_LEN; off < CS_SNP_SIGNED_LEN + 144; off += 9)
        snp_expect_refusal(off, verify_flipped(&ev, off, 0, now, NULL, c),
                           "cached: a flipped signature bit");
    uint64_t hits = stats_of(c).hits;
    cst_ok(verify_both(&ev, now, NULL, c)); /* the genuine report still hits */
    assert_int_equal(stats_of(c).hits, hits + 1);
    cs_evidence_cleanup(&ev);
    cs_verify_cache_free(c);
}

static void snp_other_endorsements_miss(void **state)
{
    (void)state;
    cs_verify_cache *c = new_cache();
    int64_t now = snp_time(SNP_NOW);
    cs_evidence ev, other;
    snp_evidence(&snp_samples[SNP_VIRTEE], &ev);
    snp_evidence(&snp_samples[SNP_GOSEVGUEST], &other);
    cst_ok(verify_both(&ev, now, NULL, c));
    cst_ok(cs_buf_set(&other.evidence, cs_buf_slice(&ev.evidence)));
    /* The virtee report with go-sev-guest's VCEK, issued for another TCB. */
    assert_int_equal(verify_both(&other, now, NULL, c), CONSORT_E_TCB);
    assert_int_equal(stats_of(c).hits, 0);
    cs_evidence_cleanup(&ev);
    cs_evidence_cleanup(&other);
    cs_verify_cache_free(c);
}

static void snp_cache_expires_with_the_endorsement_key(void **state)
{
    (void)state;
    cs_verify_cache *c = new_cache();
    cs_evidence ev;
    /* The VLEK expired on 2025-12-10 (PROVENANCE.md). */
    snp_evidence(&snp_samples[SNP_VLEK], &ev);
    cst_ok(verify_both(&ev, snp_time(SNP_NOW), NULL, c));
    assert_int_equal(verify_both(&ev, snp_time(SNP_LATER), NULL, c), CONSORT_E_EXPIRED);
    assert_int_equal(stats_of(c).outside, 1);
    assert_int_equal(stats_of(c).entries, 0);
    cs_evidence_cleanup(&ev);

    /* A VCEK around its own notAfter, to the second. */
    cs_x509 *vcek = NULL;
    cst_ok(cs_x509_load_file(cst_testdata_path(snp_samples[SNP_VIRTEE].key), &vcek));
    int64_t nb, na;
    cst_ok(cs_x509_validity(vcek, &nb, &na));
    cs_x509_free(vcek);
    snp_evidence(&snp_samples[SNP_VIRTEE], &ev);
    cst_ok(verify_both(&ev, snp_time(SNP_NOW), NULL, c));
    cst_ok(verify_both(&ev, na - 1, NULL, c));
    uint64_t hits = stats_of(c).hits;
    assert_int_equal(hits, 1);           /* at na - 1; SNP_NOW stored the entry */
    (void)verify_both(&ev, na, NULL, c); /* the boundary second: never from the cache */
    assert_int_equal(verify_both(&ev, na + 1, NULL, c), CONSORT_E_EXPIRED);
    assert_int_equal(stats_of(c).hits, hits);
    cs_evidence_cleanup(&ev);
    cs_verify_cache_free(c);
}

/* ---- DCAP (TDX and SGX) ---- */

static void dcap_cached_equals_uncached_and_rejects_tampering(void **state)
{
    (void)state;
    struct {
        cs_platform platform;
        const char *quote;
        const char *const *collateral;
    } sets[] = {
        {CS_PLATFORM_TDX, DT_PHALA_TDX "tdx_quote_v4.dat", dt_phala_tdx_collateral},
        {CS_PLATFORM_SGX, DT_PHALA_SGX "sgx_quote_v3.dat", dt_phala_sgx_collateral},
    };
    int64_t now = dt_time("2025-06-20T00:00:00Z");
    for (size_t i = 0; i < CS_ARRAY_LEN(sets); i++) {
        cs_verify_cache *c = new_cache();
        cs_evidence ev;
        dt_evidence(&ev, sets[i].platform, sets[i].quote, sets[i].collateral, NULL);
        for (int round = 0; round < 3; round++)
            cst_ok(verify_both(&ev, now, NULL, c));
        assert_int_equal(stats_of(c).hits, 2);
        /* Header, body, quote signature, attestation key, QE report, QE signature. */
        dt_flip(&ev.evidence, 1, 0); /* version 3/4 -> another: both reject alike */
        assert_int_not_equal(verify_both(&ev, now, NULL, c), CONSORT_OK);
        dt_flip(&ev.evidence, 1, 0);
        size_t body = sets[i].platform == CS_PLATFORM_TDX ? 48 + 584 : 48 + 384;
        for (size_t off = 48; off < body + 4 + 128 + 384 + 64; off += 29)
            assert_int_not_equal(verify_flipped(&ev, off, (unsigned)off % 8, now, NULL, c),
                                 CONSORT_OK);
        /* The TCB info's nextUpdate is 2025-07-19 (PROVENANCE.md). */
        assert_int_equal(verify_both(&ev, dt_time("2025-07-20T00:00:00Z"), NULL, c),
                         CONSORT_E_EXPIRED);
        assert_int_equal(stats_of(c).entries, 0);
        cs_evidence_cleanup(&ev);
        cs_verify_cache_free(c);
    }
}

static void dcap_store_survives_every_allocation_failure(void **state)
{
    (void)state;
    cs_evidence ev;
    dt_evidence(&ev, CS_PLATFORM_TDX, DT_PHALA_TDX "tdx_quote_v4.dat", dt_phala_tdx_collateral,
                NULL);
    int64_t now = dt_time("2025-06-20T00:00:00Z");
    cst_alloc_install();
    long live = cst_alloc_live();
    consort_err rc = CONSORT_E_NOMEM;
    for (long n = 0; rc != CONSORT_OK; n++) {
        assert_true(n < 100000);
        cs_verify_cache *c = new_cache();
        const cs_verify_opts opts = {.now = now, .cache = c};
        cs_claims claims;
        cst_alloc_fail_after(n);
        rc = cs_evidence_verify(&ev, &opts, &claims);
        bool failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed)
            assert_int_not_equal(rc, CONSORT_OK);
        if (rc == CONSORT_OK) /* the entry was stored and is used */
            cst_ok(cs_evidence_verify(&ev, &opts, &claims));
        assert_int_equal(stats_of(c).hits, rc == CONSORT_OK ? 1 : 0);
        cs_verify_cache_free(c);
        assert_int_equal(cst_alloc_live(), live);
    }
    cst_alloc_uninstall();
    cs_evidence_cleanup(&ev);
}

/* ---- virtual ---- */

static void virtual_cached_rejects_tampering_and_expires(void **state)
{
    (void)state;
    int64_t now = (int64_t)time(NULL);
    cs_virtual_platform *p = NULL, *other = NULL;
    cst_ok(cs_virtual_platform_generate(now, &p));
    cst_ok(cs_virtual_platform_generate(now, &other));
    cs_blob_list anchors;
    cs_blob_list_init(&anchors);
    cst_ok(cs_blob_list_add(&anchors, cs_virtual_platform_cert_der(p)));
    uint8_t code_id[32] = {0xc0, 0xde}, report_data[64] = {1, 2, 3};
    cs_evidence ev;
    cs_evidence_init(&ev);
    cst_ok(cs_virtual_attest(p, code_id, 7, false, report_data, &ev));
    cs_verify_cache *c = new_cache();
    cst_ok(verify_both(&ev, now, &anchors, c)); /* notBefore's own second: not cached */
    assert_int_equal(stats_of(c).stores, 0);
    now += 60;
    for (int round = 0; round < 3; round++)
        cst_ok(verify_both(&ev, now, &anchors, c));
    assert_int_equal(stats_of(c).hits, 2);
    for (size_t off = 0; off < CS_VIRTUAL_REPORT_LEN; off += 5)
        assert_int_not_equal(verify_flipped(&ev, off, (unsigned)off % 8, now, &anchors, c),
                             CONSORT_OK);
    /* Evidence from an untrusted platform: another key id, so another key. */
    cs_evidence forged;
    cs_evidence_init(&forged);
    cst_ok(cs_virtual_attest(other, code_id, 7, false, report_data, &forged));
    assert_int_equal(verify_both(&forged, now, &anchors, c), CONSORT_E_ATTESTATION);
    cs_evidence_cleanup(&forged);
    /* The platform certificate is valid for CS_VIRTUAL_CERT_DAYS. */
    int64_t late = now + (int64_t)CS_VIRTUAL_CERT_DAYS * 86400 + 86400;
    assert_int_equal(verify_both(&ev, late, &anchors, c), CONSORT_E_EXPIRED);
    cs_verify_cache_free(c);
    cs_evidence_cleanup(&ev);
    cs_blob_list_cleanup(&anchors);
    cs_virtual_platform_free(p);
    cs_virtual_platform_free(other);
}

/* ---- tpm, with a real (software) TPM ---- */

static void tpm_cached_rejects_tampering_and_expires(void **state)
{
    (void)state;
    cst_swtpm tpm;
    memset(&tpm, 0, sizeof tpm);
    cst_swtpm_start(&tpm); /* skips only if swtpm is not installed */
    int64_t now = (int64_t)time(NULL);
    cs_key *ca_key = NULL, *node_key = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &ca_key));
    cst_ok(cs_key_generate(CS_CURVE_P256, &node_key));
    const cs_x509_params cp = {.subject_cn = "verify-cache test AK CA",
                               .not_before = now - 3600,
                               .not_after = now + 86400,
                               .is_ca = true};
    cs_x509 *ca = NULL, *ak_cert = NULL;
    cst_ok(cs_x509_create(&cp, ca_key, ca_key, NULL, &ca));
    const cs_tpm_attester_opts ao = {.tcti = tpm.tcti, .ak_type = CS_TPM_AK_RSASSA_2048};
    cs_tpm_attester *att = NULL;
    cst_ok(cs_tpm_attester_new(&ao, &att));
    cst_ok(cs_tpm_ak_certify(cs_tpm_attester_ak(att), ca_key, ca, now - 60, now + 3600, &ak_cert));
    cst_ok(cs_tpm_attester_set_certs(att, ak_cert, &ca, 1));
    uint8_t code_id[32] = {0xc0, 0xde, 0x1d};
    cst_ok(cs_tpm_attester_measure(att, code_id));
    cs_evidence ev;
    cs_evidence_init(&ev);
    cst_ok(cs_tpm_attest_key(att, node_key, CS_SLICE_LIT("nonce"), &ev));
    cs_buf der;
    cs_buf_init(&der, 0);
    cst_ok(cs_x509_to_der(ca, &der));
    cs_blob_list anchors;
    cs_blob_list_init(&anchors);
    cst_ok(cs_blob_list_add(&anchors, cs_buf_slice(&der)));

    cs_verify_cache *c = new_cache();
    for (int round = 0; round < 3; round++)
        cst_ok(verify_both(&ev, now, &anchors, c));
    assert_int_equal(stats_of(c).hits, 2);
    for (size_t off = 0; off < ev.evidence.len; off += 7)
        assert_int_not_equal(verify_flipped(&ev, off, (unsigned)off % 8, now, &anchors, c),
                             CONSORT_OK);
    /* The AK certificate ends an hour from now. */
    assert_int_equal(verify_both(&ev, now + 7200, &anchors, c), CONSORT_E_EXPIRED);
    assert_int_equal(stats_of(c).entries, 0);

    cs_verify_cache_free(c);
    cs_blob_list_cleanup(&anchors);
    cs_buf_cleanup(&der);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
    cs_x509_free(ak_cert);
    cs_x509_free(ca);
    cs_key_free(ca_key);
    cs_key_free(node_key);
    cst_swtpm_stop(&tpm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows_follow_the_validity_state),
        cmocka_unit_test(keys_are_length_prefixed),
        cmocka_unit_test(table_is_lru_and_owns_its_values),
        cmocka_unit_test(snp_cached_equals_uncached),
        cmocka_unit_test(snp_cached_rejects_tampered_reports),
        cmocka_unit_test(snp_other_endorsements_miss),
        cmocka_unit_test(snp_cache_expires_with_the_endorsement_key),
        cmocka_unit_test(dcap_cached_equals_uncached_and_rejects_tampering),
        cmocka_unit_test(dcap_store_survives_every_allocation_failure),
        cmocka_unit_test(virtual_cached_rejects_tampering_and_expires),
        cmocka_unit_test(tpm_cached_rejects_tampering_and_expires),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
