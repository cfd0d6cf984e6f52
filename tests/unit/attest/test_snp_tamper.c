/*
 * SEV-SNP: a flip of any single bit in the signed region of a report, in its
 * signature, or in any certificate of its chain must be rejected (DESIGN.md:
 * "tests verify them and must reject every one-bit change").
 *
 *   - all 672 * 8 bits of the signed region of one report (milan-v2-virtee),
 *     every 23rd bit of every report;
 *   - every bit of R and S of one report, every 29th bit of the whole
 *     signature field of each report;
 *   - every 11th bit of each certificate of one VCEK chain, every 53rd bit of
 *     each certificate (VCEK/VLEK, ASK/ASVK, ARK) of every other chain.
 * The strides are odd, so every bit position within a byte is hit.
 */
#include "snp_fixture.h"
#include "snp_fields.h"

typedef struct tamper_ctx {
    cs_buf report;
    cs_x509 **certs;
    size_t n;
    int64_t now;
} tamper_ctx;

static void ctx_load(int i, tamper_ctx *t)
{
    cst_read_testdata(snp_samples[i].report, &t->report);
    snp_certs(&snp_samples[i], &t->certs, &t->n);
    t->now = snp_time(SNP_NOW);
    cs_claims c;
    /* the untouched sample verifies, so every rejection below is the flip's */
    cst_ok(snp_verify_raw(cs_buf_slice(&t->report), t->certs, t->n, t->now, &c));
}

static void ctx_free(tamper_ctx *t)
{
    cs_buf_cleanup(&t->report);
    cs_x509_list_free(t->certs, t->n);
}

/* Flips bits first, first+step, ... below `end` of the report; each must be
 * refused as its field says. */
static size_t flip_report_bits(tamper_ctx *t, size_t first_bit, size_t end_bit, size_t step)
{
    size_t tried = 0;
    for (size_t bit = first_bit; bit < end_bit; bit += step) {
        t->report.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cs_claims c;
        consort_err rc = snp_verify_raw(cs_buf_slice(&t->report), t->certs, t->n, t->now, &c);
        t->report.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        char what[48];
        snprintf(what, sizeof what, "flip of report bit %zu", bit);
        snp_expect_refusal(bit / 8, rc, what);
        tried++;
    }
    return tried;
}

static void every_bit_of_one_signed_region(void **state)
{
    (void)state;
    tamper_ctx t;
    ctx_load(SNP_VIRTEE, &t);
    assert_int_equal(flip_report_bits(&t, 0, CS_SNP_SIGNED_LEN * 8, 1), 672 * 8);
    ctx_free(&t);
}

static void sampled_bits_of_every_signed_region(void **state)
{
    (void)state;
    for (int i = 0; i < SNP_SAMPLE_COUNT; i++) {
        tamper_ctx t;
        ctx_load(i, &t);
        /* step 23 is coprime to 8: every bit position in a byte gets hit */
        assert_true(flip_report_bits(&t, (size_t)i, CS_SNP_SIGNED_LEN * 8, 23) > 230);
        ctx_free(&t);
    }
}

static void signature_bits(void **state)
{
    (void)state;
    tamper_ctx t;
    ctx_load(SNP_VIRTEE, &t);
    /* every bit of the 48 significant bytes of R (0x2A0) and S (0x2E8) */
    assert_int_equal(flip_report_bits(&t, 0x2A0 * 8, (0x2A0 + 48) * 8, 1), 384);
    assert_int_equal(flip_report_bits(&t, 0x2E8 * 8, (0x2E8 + 48) * 8, 1), 384);
    ctx_free(&t);
    for (int i = 0; i < SNP_SAMPLE_COUNT; i++) {
        ctx_load(i, &t);
        assert_true(flip_report_bits(&t, 0x2A0 * 8 + (size_t)i, CS_SNP_REPORT_LEN * 8, 29) > 140);
        ctx_free(&t);
    }
}

/* Flips sampled bits of certificate `which` of sample `i` (given as DER blobs). */
static size_t flip_cert_bits(int i, size_t which, size_t step)
{
    tamper_ctx t;
    ctx_load(i, &t);
    cs_buf der[4];
    assert_true(t.n <= CS_ARRAY_LEN(der));
    for (size_t k = 0; k < t.n; k++) {
        cs_buf_init(&der[k], 0);
        cst_ok(cs_x509_to_der(t.certs[k], &der[k]));
    }
    size_t tried = 0;
    cs_buf *target = &der[which];
    for (size_t bit = which; bit < target->len * 8; bit += step) {
        target->ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cs_x509 **list = NULL;
        size_t n = 0;
        consort_err rc = CONSORT_OK;
        for (size_t k = 0; k < t.n && rc == CONSORT_OK; k++)
            rc = cs_x509_parse_all(cs_buf_slice(&der[k]), &list, &n);
        if (rc == CONSORT_OK) {
            cs_claims c;
            rc = snp_verify_raw(cs_buf_slice(&t.report), list, n, t.now, &c);
        }
        cs_x509_list_free(list, n);
        target->ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (rc == CONSORT_OK)
            fail_msg("%s: flip of bit %zu (byte %zu) of certificate %zu was accepted",
                     snp_samples[i].name, bit, bit / 8, which);
        tried++;
    }
    for (size_t k = 0; k < t.n; k++)
        cs_buf_cleanup(&der[k]);
    ctx_free(&t);
    return tried;
}

static void certificate_bits(void **state)
{
    (void)state;
    /* one VCEK chain densely, then every sample's chain (VLEK/ASVK included) */
    for (size_t which = 0; which < 3; which++)
        assert_true(flip_cert_bits(SNP_VIRTEE, which, 11) > 950);
    for (int i = 0; i < SNP_SAMPLE_COUNT; i++) {
        if (i == SNP_VIRTEE)
            continue;
        for (size_t which = 0; which < 3; which++)
            assert_true(flip_cert_bits(i, which, 53) > 180);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_bit_of_one_signed_region),
        cmocka_unit_test(sampled_bits_of_every_signed_region),
        cmocka_unit_test(signature_bits),
        cmocka_unit_test(certificate_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
