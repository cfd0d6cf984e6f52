#include "testutil.h"

#include "base/hist.h"

#include <stdlib.h>

/* Every bucket covers its values with at most 1/128 error, exact below 256 us. */
static void buckets_are_exact_enough(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < ((uint64_t)1 << 34); v = v < 4096 ? v + 1 : v + v / 97 + 1) {
        uint64_t high = cs_hist_bucket_high(cs_hist_index(v));
        assert_true(high >= v);
        assert_true((double)(high - v) <= (double)v / CS_HIST_SUB);
        assert_int_equal(cs_hist_index(high), cs_hist_index(v));
        if (v < 2 * CS_HIST_SUB)
            assert_int_equal(high, v);
    }
    assert_true(cs_hist_index(CS_HIST_MAX_US * 4) < CS_HIST_BUCKETS);
}

/* Quantiles of a known distribution: 1..10000 us, each once. */
static void quantiles_of_known_values(void **state)
{
    (void)state;
    cs_hist *h = malloc(sizeof *h);
    assert_non_null(h);
    cs_hist_reset(h);
    assert_int_equal(cs_hist_quantile(h, 0.5), 0);
    for (uint64_t v = 10000; v >= 1; v--)
        cs_hist_record(h, v);
    assert_int_equal(h->total, 10000);
    assert_int_equal(h->max_us, 10000);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (size_t i = 0; i < 4; i++) {
        double want = qs[i] * 10000;
        uint64_t got = cs_hist_quantile(h, qs[i]);
        assert_true((double)got >= want);
        assert_true((double)got <= want * (1.0 + 1.0 / CS_HIST_SUB));
    }
    assert_int_equal(cs_hist_quantile(h, 1.0), 10000);
    /* a small value is exact */
    cs_hist_reset(h);
    cs_hist_record(h, 7);
    cs_hist_record(h, 200);
    assert_int_equal(cs_hist_quantile(h, 0.5), 7);
    assert_int_equal(cs_hist_quantile(h, 0.51), 200);
    /* merging adds counts and keeps the larger max */
    cs_hist *g = malloc(sizeof *g);
    assert_non_null(g);
    cs_hist_reset(g);
    cs_hist_record(g, 1000000);
    cs_hist_merge(h, g);
    assert_int_equal(h->total, 3);
    assert_int_equal(h->max_us, 1000000);
    assert_int_equal(cs_hist_quantile(h, 1.0), 1000000);
    free(g);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets_are_exact_enough),
        cmocka_unit_test(quantiles_of_known_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
