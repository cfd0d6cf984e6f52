/*
 * The configfs-tsm attester (src/attest/tsm*.c) against the in-memory model
 * of the kernel's report interface in tests/util/fake_tsm.{h,c}, with real
 * SEV-SNP and TDX samples from $CONSORT_TESTDATA as what the "kernel"
 * returns. The real syscall adapter is tested in test_tsm_sys.c.
 */
#include "testutil.h"

#include "attest/snp_certtable.h"
#include "attest/tsm.h"
#include "fake_tsm.h"

#include <string.h>

/* ---- fixtures ---- */

typedef struct fixture {
    cst_fake_tsm fake;
    cs_tsm_opts opts;
    cs_buf report, vcek, ask, ark, table;
    uint8_t report_data[64];
    cs_evidence ev;
} fixture;

/* The first certificate of a PEM file, as DER. */
static void pem_cert_to_der(const char *rel, cs_buf *der)
{
    cs_buf pem;
    cst_read_testdata(rel, &pem);
    cst_ok(cs_buf_append_u8(&pem, 0));
    const char *begin = strstr((const char *)pem.ptr, "-----BEGIN CERTIFICATE-----");
    assert_non_null(begin);
    begin += strlen("-----BEGIN CERTIFICATE-----");
    const char *end = strstr(begin, "-----END CERTIFICATE-----");
    assert_non_null(end);
    char *b64 = test_malloc((size_t)(end - begin) + 1);
    size_t n = 0;
    for (const char *p = begin; p < end; p++)
        if (*p != '\n' && *p != '\r')
            b64[n++] = *p;
    b64[n] = '\0';
    cst_base64(b64, der);
    test_free(b64);
    cs_buf_cleanup(&pem);
}

static void fixture_common(fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    cst_fake_tsm_init(&fx->fake);
    fx->opts.ops = &fx->fake.ops;
    cs_evidence_init(&fx->ev);
    cs_buf_init(&fx->vcek, 0);
    cs_buf_init(&fx->ask, 0);
    cs_buf_init(&fx->ark, 0);
    cs_buf_init(&fx->table, 0);
}

/* SEV-SNP guest: the milan-v2-virtee report, its VCEK and the Milan ASK/ARK. */
static void fixture_snp(fixture *fx)
{
    fixture_common(fx);
    cst_read_testdata("sev-snp/milan-v2-virtee/report.bin", &fx->report);
    cs_buf_cleanup(&fx->vcek);
    cst_read_testdata("sev-snp/milan-v2-virtee/vcek.der", &fx->vcek);
    pem_cert_to_der("sev-snp/certs/ask_milan.pem", &fx->ask);
    pem_cert_to_der("sev-snp/certs/ark_milan.pem", &fx->ark);
    cs_snp_cert_entry e[3];
    memset(e, 0, sizeof e);
    const cs_buf *certs[3] = {&fx->vcek, &fx->ask, &fx->ark};
    const cs_snp_cert_kind kinds[3] = {CS_SNP_CERT_VCEK, CS_SNP_CERT_ASK, CS_SNP_CERT_ARK};
    for (int i = 0; i < 3; i++) {
        memcpy(e[i].guid, cs_snp_cert_kind_guid(kinds[i]), CS_SNP_GUID_LEN);
        e[i].data = cs_buf_slice(certs[i]);
    }
    cst_ok(cs_snp_certtable_build(e, 3, &fx->table));
    /* SNP ABI Table 23: REPORT_DATA at 0x50 */
    memcpy(fx->report_data, fx->report.ptr + 0x50, 64);
    fx->fake.provider = "sev_guest";
    fx->fake.snp = true;
    fx->fake.report = cs_buf_slice(&fx->report);
    fx->fake.report_data_at = 0x50;
    fx->fake.auxblob = cs_buf_slice(&fx->table);
}

/* TDX guest: a real quote; REPORTDATA at 48 (+6 for v5) + 520. */
static void fixture_tdx(fixture *fx, const char *rel, size_t report_data_at)
{
    fixture_common(fx);
    cst_read_testdata(rel, &fx->report);
    memcpy(fx->report_data, fx->report.ptr + report_data_at, 64);
    fx->fake.provider = "tdx_guest";
    fx->fake.report = cs_buf_slice(&fx->report);
    fx->fake.report_data_at = report_data_at;
}

static void fixture_cleanup(fixture *fx)
{
    cst_fake_tsm_cleanup(&fx->fake);
    cs_evidence_cleanup(&fx->ev);
    cs_buf_cleanup(&fx->report);
    cs_buf_cleanup(&fx->vcek);
    cs_buf_cleanup(&fx->ask);
    cs_buf_cleanup(&fx->ark);
    cs_buf_cleanup(&fx->table);
}

static consort_err attest(fixture *fx)
{
    return cs_tsm_attest(CST_FAKE_TSM_ROOT, fx->report_data, &fx->opts, &fx->ev);
}

static void assert_msg(const char *needle)
{
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", consort_errmsg(), needle);
}

/* Nothing left behind: every instance removed, the envelope empty. */
static void assert_clean_failure(const fixture *fx)
{
    assert_int_equal(fx->fake.mkdirs, fx->fake.rmdirs);
    assert_int_equal(cst_fake_tsm_live(&fx->fake), 0);
    assert_int_equal(fx->ev.platform, CS_PLATFORM_NONE);
    assert_int_equal(fx->ev.evidence.len, 0);
    assert_int_equal(fx->ev.endorsements.count, 0);
}

/* ---- SEV-SNP ---- */

static void snp_envelope_is_the_real_report_and_chain(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    cst_ok(attest(&fx));
    assert_int_equal(fx.ev.platform, CS_PLATFORM_SNP);
    /* the right inblob reproduces the sample report byte for byte */
    assert_int_equal(fx.ev.evidence.len, 1184);
    assert_true(cs_slice_eq(cs_buf_slice(&fx.ev.evidence), cs_buf_slice(&fx.report)));
    assert_memory_equal(fx.fake.last_inblob, fx.report_data, 64);
    /* endorsements: the table's certificates, in table order */
    assert_int_equal(fx.ev.endorsements.count, 3);
    assert_true(cs_slice_eq(cs_buf_slice(&fx.ev.endorsements.items[0]), cs_buf_slice(&fx.vcek)));
    assert_true(cs_slice_eq(cs_buf_slice(&fx.ev.endorsements.items[1]), cs_buf_slice(&fx.ask)));
    assert_true(cs_slice_eq(cs_buf_slice(&fx.ev.endorsements.items[2]), cs_buf_slice(&fx.ark)));
    /* one instance, removed; one report generated for both blobs; no privlevel */
    assert_int_equal(fx.fake.mkdirs, 1);
    assert_int_equal(fx.fake.rmdirs, 1);
    assert_int_equal(cst_fake_tsm_live(&fx.fake), 0);
    assert_int_equal(fx.fake.generations, 1);
    assert_int_equal(fx.fake.privlevel_writes, 0);

    /* the envelope survives its CBOR encoding */
    cs_buf enc;
    cs_buf_init(&enc, 0);
    cst_ok(cs_evidence_encode(&fx.ev, &enc));
    cs_evidence back;
    cs_evidence_init(&back);
    cst_ok(cs_evidence_decode(cs_buf_slice(&enc), &back));
    assert_int_equal(back.platform, CS_PLATFORM_SNP);
    assert_true(cs_slice_eq(cs_buf_slice(&back.evidence), cs_buf_slice(&fx.report)));
    assert_int_equal(back.endorsements.count, 3);
    cs_evidence_cleanup(&back);
    cs_buf_cleanup(&enc);

    /* and, where the SNP verifier is registered, it verifies (VCEK valid 2023-04..2030-04) */
    if (cs_verifier_find(CS_PLATFORM_SNP) != NULL) {
        cs_verify_opts vo = {.now = 1717200000 /* 2024-06-01 */, .anchors = NULL};
        cs_claims *claims = test_malloc(sizeof *claims);
        cst_ok(cs_evidence_verify(&fx.ev, &vo, claims));
        assert_memory_equal(claims->report_data, fx.report_data, 64);
        test_free(claims);
    } else {
        print_message("      (no SNP verifier registered yet: envelope not verified)\n");
    }
    fixture_cleanup(&fx);
}

static void snp_writes_privlevel(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    fx.fake.privlevel_floor = 1;
    fx.opts.set_privlevel = true;
    fx.opts.privlevel = 2;
    cst_ok(attest(&fx));
    assert_int_equal(fx.fake.privlevel_writes, 1);
    assert_int_equal(fx.fake.last_privlevel, 2);
    assert_int_equal(fx.ev.platform, CS_PLATFORM_SNP);
    assert_int_equal(cst_fake_tsm_live(&fx.fake), 0);
    fixture_cleanup(&fx);
}

static void privlevel_out_of_range_is_a_usage_error(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    fx.opts.set_privlevel = true;
    fx.opts.privlevel = 4;
    cst_fails(attest(&fx), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(consort_err_category_of(CONSORT_E_INVALID_ARGUMENT), CONSORT_CAT_USAGE);
    assert_msg("privlevel 4 out of range 0..3");
    assert_int_equal(fx.fake.mkdirs, 0); /* refused before touching configfs */
    assert_clean_failure(&fx);
    fixture_cleanup(&fx);
}

static void privlevel_below_floor_is_a_usage_error(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    fx.fake.privlevel_floor = 2;
    fx.opts.set_privlevel = true;
    fx.opts.privlevel = 1;
    cst_fails(attest(&fx), CONSORT_E_INVALID_ARGUMENT);
    assert_msg("privlevel 1 is below provider sev_guest's privlevel_floor 2");
    assert_int_equal(fx.fake.privlevel_writes, 0);
    assert_int_equal(fx.fake.mkdirs, 1);
    assert_clean_failure(&fx);
    fixture_cleanup(&fx);
}

/* ---- TDX ---- */

static void tdx_quote_v4_and_v5(void **state)
{
    (void)state;
    static const struct {
        const char *rel;
        size_t at;
    } quotes[] = {
        {"tdx/phala-dcap-qvl/tdx_quote_v4.dat", 48 + 520},
        {"tdx/go-tdx-guest/quote_v5_sample.dat", 48 + 6 + 520},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(quotes); i++) {
        fixture fx;
        fixture_tdx(&fx, quotes[i].rel, quotes[i].at);
        cst_ok(attest(&fx));
        assert_int_equal(fx.ev.platform, CS_PLATFORM_TDX);
        assert_true(cs_slice_eq(cs_buf_slice(&fx.ev.evidence), cs_buf_slice(&fx.report)));
        assert_int_equal(fx.ev.endorsements.count, 0);
        assert_int_equal(fx.fake.rmdirs, 1);
        /* a different inblob is answered by a quote carrying it, and still accepted */
        memset(fx.report_data, 0x5a, 64);
        cst_ok(attest(&fx));
        assert_memory_equal(fx.ev.evidence.ptr + quotes[i].at, fx.report_data, 64);
        fixture_cleanup(&fx);
    }
}

static void tdx_has_no_privlevel(void **state)
{
    (void)state;
    fixture fx;
    fixture_tdx(&fx, "tdx/phala-dcap-qvl/tdx_quote_v4.dat", 48 + 520);
    fx.opts.set_privlevel = true;
    fx.opts.privlevel = 0;
    cst_fails(attest(&fx), CONSORT_E_UNSUPPORTED);
    assert_msg("provider tdx_guest has no privlevel attribute");
    assert_clean_failure(&fx);
    fixture_cleanup(&fx);
}

/* ---- the environment ---- */

static void unknown_provider_is_unsupported(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    fx.fake.provider = "arm_cca_guest";
    cst_fails(attest(&fx), CONSORT_E_UNSUPPORTED);
    assert_msg("provider 'arm_cca_guest' unsupported, expected sev_guest or tdx_guest");
    assert_int_equal(fx.fake.inblob_writes, 0);
    assert_clean_failure(&fx);
    fixture_cleanup(&fx);
}

static void missing_root_says_what_to_check(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    fx.fake.mounted = false;
    cst_fails(attest(&fx), CONSORT_E_NOT_FOUND);
    assert_string_equal(consort_errmsg(), "configfs-tsm not available at " CST_FAKE_TSM_ROOT
                                          ": is this a confidential VM with configfs mounted?");
    assert_clean_failure(&fx);
    fixture_cleanup(&fx);
}

static void no_provider_registered(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    fx.fake.provider = NULL;
    cst_fails(attest(&fx), CONSORT_E_UNSUPPORTED);
    assert_msg("no attestation provider registered (ENXIO)");
    assert_clean_failure(&fx);
    fixture_cleanup(&fx);
}

/* ---- the generation protocol ---- */

static void interleaved_writer_every_time_is_busy(void **state)
{
    (void)state;
    static const cst_interleave points[] = {CST_INTERLEAVE_BEFORE_OUTBLOB,
                                            CST_INTERLEAVE_AFTER_OUTBLOB};
    for (size_t i = 0; i < CS_ARRAY_LEN(points); i++) {
        fixture fx;
        fixture_snp(&fx);
        fx.fake.interleave = points[i];
        fx.fake.interleave_times = 1000;
        fx.opts.attempts = 3;
        cst_log_capture_start();
        cst_fails(attest(&fx), CONSORT_E_BUSY);
        assert_msg("gave up after 3 attempts");
        assert_msg("another writer interleaved");
        assert_msg("after reading outblob, expected 1");
        assert_non_null(strstr(cst_log_captured(), "attempt 2 of 3 failed"));
        cst_log_capture_stop();
        /* three fresh instances, all removed */
        assert_int_equal(fx.fake.mkdirs, 3);
        assert_clean_failure(&fx);
        fixture_cleanup(&fx);
    }
}

static void interleaved_writer_once_then_retry_succeeds(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    fx.fake.interleave = CST_INTERLEAVE_BEFORE_OUTBLOB;
    fx.fake.interleave_times = 1;
    cst_log_capture_start();
    cst_ok(attest(&fx));
    assert_non_null(strstr(cst_log_captured(), "retrying in a new report instance"));
    cst_log_capture_stop();
    assert_int_equal(fx.fake.mkdirs, 2);
    assert_int_equal(cst_fake_tsm_live(&fx.fake), 0);
    assert_true(cs_slice_eq(cs_buf_slice(&fx.ev.evidence), cs_buf_slice(&fx.report)));
    fixture_cleanup(&fx);
}

static void single_attempt_is_honoured(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    fx.fake.interleave = CST_INTERLEAVE_AFTER_OUTBLOB;
    fx.fake.interleave_times = 1;
    fx.opts.attempts = 1;
    cst_fails(attest(&fx), CONSORT_E_BUSY);
    assert_int_equal(fx.fake.mkdirs, 1);
    assert_clean_failure(&fx);
    fx.opts.attempts = CS_TSM_MAX_ATTEMPTS + 1;
    cst_fails(attest(&fx), CONSORT_E_INVALID_ARGUMENT);
    fixture_cleanup(&fx);
}

/* ---- what comes back ---- */

static void cut_table(cs_buf *t)
{
    t->len = 40;
}
static void offset_past_end(cs_buf *t)
{
    t->ptr[24 + 16] = 0xff;
    t->ptr[24 + 17] = 0xff;
}
static void overlapping(cs_buf *t)
{
    t->ptr[24 + 16] = t->ptr[16];
    t->ptr[24 + 17] = t->ptr[17];
}

static void malformed_auxblob_is_rejected(void **state)
{
    (void)state;
    static const struct {
        void (*edit)(cs_buf *);
        consort_err code;
        const char *needle;
    } cases[] = {
        {cut_table, CONSORT_E_TRUNCATED, "no all-zero terminating entry"},
        {offset_past_end, CONSORT_E_TRUNCATED, "entry 1 (ask)"},
        {overlapping, CONSORT_E_MALFORMED, "overlap entry 0 (vcek)"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(cases); i++) {
        fixture fx;
        fixture_snp(&fx);
        cases[i].edit(&fx.table);
        fx.fake.auxblob = cs_buf_slice(&fx.table);
        cst_fails(attest(&fx), cases[i].code);
        assert_msg("auxblob: SNP certificate table");
        assert_msg(cases[i].needle);
        assert_clean_failure(&fx);
        fixture_cleanup(&fx);
    }
}

static void unknown_table_entries_are_left_out(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    cs_snp_cert_entry e[2];
    memset(e, 0, sizeof e);
    memset(e[0].guid, 0x42, CS_SNP_GUID_LEN);
    e[0].data = CS_SLICE_LIT("opaque host data");
    memcpy(e[1].guid, cs_snp_cert_kind_guid(CS_SNP_CERT_VCEK), CS_SNP_GUID_LEN);
    e[1].data = cs_buf_slice(&fx.vcek);
    cs_buf_reset(&fx.table);
    cst_ok(cs_snp_certtable_build(e, 2, &fx.table));
    fx.fake.auxblob = cs_buf_slice(&fx.table);
    cst_log_capture_start();
    cst_ok(attest(&fx));
    assert_non_null(
        strstr(cst_log_captured(), "unknown GUID 42424242-4242-4242-4242-424242424242"));
    cst_log_capture_stop();
    assert_int_equal(fx.ev.endorsements.count, 1);
    assert_true(cs_slice_eq(cs_buf_slice(&fx.ev.endorsements.items[0]), cs_buf_slice(&fx.vcek)));
    /* and a host that supplies no certificates at all: the report alone */
    fx.fake.auxblob = CS_SLICE_EMPTY;
    cst_ok(attest(&fx));
    assert_int_equal(fx.ev.endorsements.count, 0);
    assert_int_equal(fx.ev.evidence.len, 1184);
    fixture_cleanup(&fx);
}

static void report_for_another_inblob_is_rejected(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    fx.fake.report_data_at = CST_FAKE_TSM_NO_PATCH; /* a "kernel" that ignores our inblob */
    memset(fx.report_data, 0x11, 64);
    cst_fails(attest(&fx), CONSORT_E_REPORT_DATA);
    assert_msg("but 1111111111111111... was written to inblob");
    assert_clean_failure(&fx);
    fixture_cleanup(&fx);
}

static void oversized_outblob_is_rejected(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    cs_buf big;
    cs_buf_init(&big, 0);
    uint8_t *p;
    cst_ok(cs_buf_extend(&big, CS_TSM_BLOB_MAX + 1, &p));
    fx.fake.report = cs_buf_slice(&big);
    cst_fails(attest(&fx), CONSORT_E_TOO_LARGE);
    assert_msg("outblob: larger than 32768 bytes (EFBIG)");
    assert_clean_failure(&fx);
    cs_buf_cleanup(&big);
    fixture_cleanup(&fx);
}

static void build_checks_the_blobs(void **state)
{
    (void)state;
    uint8_t rd[64] = {0};
    uint8_t quote[700] = {3, 0}; /* TDX quote version 3 */
    cs_evidence ev;
    cs_evidence_init(&ev);
    cst_fails(
        cs_tsm_evidence_build("tdx_guest", CS_SLICE(quote, sizeof quote), CS_SLICE_EMPTY, rd, &ev),
        CONSORT_E_UNSUPPORTED);
    assert_msg("TDX quote version 3 unsupported, expected 4 or 5");
    quote[0] = 4;
    cst_fails(cs_tsm_evidence_build("tdx_guest", CS_SLICE(quote, 600), CS_SLICE_EMPTY, rd, &ev),
              CONSORT_E_TRUNCATED);
    assert_msg("tdx outblob of 600 bytes has no report data at offset 568");
    cst_ok(
        cs_tsm_evidence_build("tdx_guest", CS_SLICE(quote, sizeof quote), CS_SLICE_EMPTY, rd, &ev));
    assert_int_equal(ev.platform, CS_PLATFORM_TDX);
    /* a failure empties what was there */
    cst_fails(cs_tsm_evidence_build("sev_guest", CS_SLICE_EMPTY, CS_SLICE_EMPTY, rd, &ev),
              CONSORT_E_MALFORMED);
    assert_int_equal(ev.platform, CS_PLATFORM_NONE);
    assert_int_equal(ev.evidence.len, 0);
    cs_platform p;
    cst_fails(cs_tsm_provider_platform("sev_guest\n", &p), CONSORT_E_UNSUPPORTED);
    cs_evidence_cleanup(&ev);
}

/* Every allocation in turn fails: NOMEM, nothing leaked, no instance left behind. */
static void allocation_failures_leak_nothing(void **state)
{
    (void)state;
    fixture fx;
    fixture_snp(&fx);
    cst_alloc_install();
    long base = cst_alloc_live();
    long n = 0;
    for (;; n++) {
        cst_alloc_fail_after(n);
        consort_err rc = attest(&fx);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (!failed) {
            cst_ok(rc);
            break;
        }
        cst_fails(rc, CONSORT_E_NOMEM);
        assert_int_equal(cst_alloc_live(), base);
        assert_int_equal(cst_fake_tsm_live(&fx.fake), 0);
        assert_true(n < 500);
    }
    assert_true(n > 3);
    cs_evidence_cleanup(&fx.ev);
    assert_int_equal(cst_alloc_live(), base);
    cst_alloc_uninstall();
    cs_evidence_init(&fx.ev);
    fixture_cleanup(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snp_envelope_is_the_real_report_and_chain),
        cmocka_unit_test(snp_writes_privlevel),
        cmocka_unit_test(privlevel_out_of_range_is_a_usage_error),
        cmocka_unit_test(privlevel_below_floor_is_a_usage_error),
        cmocka_unit_test(tdx_quote_v4_and_v5),
        cmocka_unit_test(tdx_has_no_privlevel),
        cmocka_unit_test(unknown_provider_is_unsupported),
        cmocka_unit_test(missing_root_says_what_to_check),
        cmocka_unit_test(no_provider_registered),
        cmocka_unit_test(interleaved_writer_every_time_is_busy),
        cmocka_unit_test(interleaved_writer_once_then_retry_succeeds),
        cmocka_unit_test(single_attempt_is_honoured),
        cmocka_unit_test(malformed_auxblob_is_rejected),
        cmocka_unit_test(unknown_table_entries_are_left_out),
        cmocka_unit_test(report_for_another_inblob_is_rejected),
        cmocka_unit_test(oversized_outblob_is_rejected),
        cmocka_unit_test(build_checks_the_blobs),
        cmocka_unit_test(allocation_failures_leak_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
