/* RFC 3339 time parsing and formatting (cs_time_* in src/crypto/time.c). */
#include "testutil.h"

#include "crypto/x509.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void parses_valid_times(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t want;
    } ok[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2024-05-01T12:00:00Z", 1714564800},
        {"2024-05-01t12:00:00z", 1714564800},        /* §5.6 NOTE: case-insensitive */
        {"2024-05-01T12:00:00.999999Z", 1714564800}, /* fraction dropped */
        {"2024-05-01T14:00:00+02:00", 1714564800},   /* §4.2 offsets */
        {"2024-05-01T06:30:00-05:30", 1714564800},
        {"2024-05-01T12:00:00-00:00", 1714564800}, /* §4.3 unknown offset */
        {"1969-12-31T23:59:59Z", -1},
        {"2000-02-29T00:00:00Z", 951782400}, /* divisible by 400: leap */
        {"2024-02-29T23:59:59Z", 1709251199},
        {"2038-01-19T03:14:08Z", 2147483648LL}, /* past 32-bit time_t */
        {"9999-12-31T23:59:59Z", 253402300799LL},
        {"0000-01-01T00:00:00Z", -62167219200LL},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(ok); i++) {
        int64_t t = 0;
        cst_ok(cs_time_parse_rfc3339(ok[i].text, &t));
        if (t != ok[i].want)
            fail_msg("%s: got %lld, want %lld", ok[i].text, (long long)t, (long long)ok[i].want);
    }
}

static void rejects_malformed_times(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2024-05-01",
        "2024-05-01T12:00:00",   /* no offset */
        "2024-05-01T12:00:00Zx", /* trailing */
        "2024-05-01T12:00:00Z ",
        " 2024-05-01T12:00:00Z",
        "2024-05-01 12:00:00Z",
        "2024-5-01T12:00:00Z",
        "24-05-01T12:00:00Z",
        "+2024-05-01T12:00:00Z",
        "2024-00-01T12:00:00Z",
        "2024-13-01T12:00:00Z",
        "2024-04-31T12:00:00Z",
        "2023-02-29T12:00:00Z", /* not a leap year */
        "1900-02-29T12:00:00Z", /* divisible by 100: not leap */
        "2024-05-00T12:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-05-01T12:00:60Z", /* leap second: not representable */
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00.1234567890123456789Z",
        "2024-05-01T12:00:00+2:00",
        "2024-05-01T12:00:00+0200",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+01:60",
        "2024-05-01T12:00:00+01:00:00",
        "2024-05-01T1a:00:00Z",
        "２０２４-05-01T12:00:00Z",
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        int64_t t = 42;
        consort_err rc = cs_time_parse_rfc3339(bad[i], &t);
        if (rc != CONSORT_E_MALFORMED)
            fail_msg("'%s' gave %s, expected MALFORMED", bad[i], consort_err_name(rc));
        assert_int_equal(t, 42); /* untouched */
    }
    int64_t t;
    cst_fails(cs_time_parse_rfc3339(NULL, &t), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_time_parse_rfc3339("2024-04-31T12:00:00Z", &t), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "day 31 out of range for 2024-04"));
}

static void formats_and_clamps(void **state)
{
    (void)state;
    char out[21];
    cs_time_format_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    cs_time_format_rfc3339(1714564800, out);
    assert_string_equal(out, "2024-05-01T12:00:00Z");
    cs_time_format_rfc3339(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59Z");
    cs_time_format_rfc3339(951868800, out);
    assert_string_equal(out, "2000-03-01T00:00:00Z");
    cs_time_format_rfc3339(INT64_MAX, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    cs_time_format_rfc3339(INT64_MIN, out);
    assert_string_equal(out, "0000-01-01T00:00:00Z");
}

/* Our calendar arithmetic agrees with the C library's gmtime_r and round-trips. */
static void agrees_with_gmtime(void **state)
{
    (void)state;
    srand(5280);
    for (int i = 0; i < 20000; i++) {
        int64_t t = ((int64_t)rand() << 20 ^ rand()) % 253402300800LL;
        if (i % 2)
            t = -t % 62167219200LL;
        if (i < 1000)
            t = (int64_t)i * 86399 - 40000000; /* dense around 1969..1971 */
        char out[21];
        cs_time_format_rfc3339(t, out);
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        char want[80];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert_string_equal(out, want);
        int64_t back = 0;
        cst_ok(cs_time_parse_rfc3339(out, &back));
        assert_int_equal(back, t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_valid_times),
        cmocka_unit_test(rejects_malformed_times),
        cmocka_unit_test(formats_and_clamps),
        cmocka_unit_test(agrees_with_gmtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
