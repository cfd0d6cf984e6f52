/*
 * Time as seconds since the Unix epoch (UTC, no leap seconds): RFC 3339
 * text and X.509 ASN1_TIME conversion. Calendar arithmetic is done here on
 * the proleptic Gregorian calendar, independent of time_t and the C library's
 * time zone handling.
 */
#include "crypto/x509_priv.h"

#include "crypto/rand.h"

#include <openssl/asn1.h>
#include <stdio.h>
#include <string.h>

#define SECS_PER_DAY 86400
/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range RFC 3339 can write. */
#define RFC3339_MIN (-62167219200LL)
#define RFC3339_MAX 253402300799LL

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && is_leap(year))
        return 29;
    return days[month - 1];
}

/*
 * Days since 1970-01-01 of a civil date. Counts in 400-year eras of 146097
 * days, with years starting on March 1 so that the leap day is the last day
 * of a year.
 */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    if (m <= 2)
        y -= 1;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                         /* 0..399 */
    int64_t mp = m > 2 ? m - 3 : m + 9;                  /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;            /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
    return era * 146097 + doe - 719468;                  /* 719468: 0000-03-01 to 1970-01-01 */
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(yoe + era * 400 + (m <= 2 ? 1 : 0));
    *month = (int)m;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
}

int64_t cs_time_from_civil(int year, int month, int day, int hour, int minute, int second)
{
    return days_from_civil(year, month, day) * SECS_PER_DAY + (int64_t)hour * 3600 +
           (int64_t)minute * 60 + second;
}

/* Reads exactly `n` ASCII digits at *p into *out and advances *p. */
static bool read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect_char(const char **p, char a, char b)
{
    if (**p != a && **p != b)
        return false;
    (*p)++;
    return true;
}

/*
 * RFC 3339 §5.6:
 *   date-time = full-date "T" full-time
 *   full-date = date-fullyear "-" date-month "-" date-mday
 *   full-time = partial-time time-offset
 *   partial-time = time-hour ":" time-minute ":" time-second [time-secfrac]
 *   time-offset = "Z" / time-numoffset,  time-numoffset = ("+" / "-") time-hour ":" time-minute
 * "T" and "Z" may be lower case (the ABNF is case-insensitive). A fraction
 * is accepted and dropped (the result is whole seconds). Leap seconds
 * (second 60, §5.7) cannot be represented in epoch seconds and are refused.
 */
consort_err cs_time_parse_rfc3339(const char *s, int64_t *out)
{
    CS_ENSURE(s != NULL, CONSORT_E_INVALID_ARGUMENT, "time: NULL string");
    const char *p = s;
    int year, month, day, hour, minute, second;
    if (!read_digits(&p, 4, &year) || !expect_char(&p, '-', '-') || !read_digits(&p, 2, &month) ||
        !expect_char(&p, '-', '-') || !read_digits(&p, 2, &day) || !expect_char(&p, 'T', 't') ||
        !read_digits(&p, 2, &hour) || !expect_char(&p, ':', ':') || !read_digits(&p, 2, &minute) ||
        !expect_char(&p, ':', ':') || !read_digits(&p, 2, &second))
        return cs_fail(CONSORT_E_MALFORMED,
                       "time '%.40s': not RFC 3339 (expected YYYY-MM-DDTHH:MM:SS)", s);
    CS_ENSURE(month >= 1 && month <= 12, CONSORT_E_MALFORMED, "time '%.40s': month %d", s, month);
    CS_ENSURE(day >= 1 && day <= days_in_month(year, month), CONSORT_E_MALFORMED,
              "time '%.40s': day %d out of range for %04d-%02d", s, day, year, month);
    CS_ENSURE(hour <= 23, CONSORT_E_MALFORMED, "time '%.40s': hour %d", s, hour);
    CS_ENSURE(minute <= 59, CONSORT_E_MALFORMED, "time '%.40s': minute %d", s, minute);
    CS_ENSURE(second <= 59, CONSORT_E_MALFORMED,
              "time '%.40s': second %d (leap seconds are not supported)", s, second);

    if (*p == '.') { /* time-secfrac = "." 1*DIGIT */
        p++;
        size_t n = strspn(p, "0123456789");
        CS_ENSURE(n >= 1 && n <= 18, CONSORT_E_MALFORMED,
                  "time '%.40s': fraction must have 1 to 18 digits, has %zu", s, n);
        p += n;
    }

    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (!read_digits(&p, 2, &oh) || !expect_char(&p, ':', ':') || !read_digits(&p, 2, &om))
            return cs_fail(CONSORT_E_MALFORMED, "time '%.40s': offset must be +HH:MM or -HH:MM", s);
        CS_ENSURE(oh <= 23 && om <= 59, CONSORT_E_MALFORMED,
                  "time '%.40s': offset %02d:%02d out of range", s, oh, om);
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return cs_fail(CONSORT_E_MALFORMED,
                       "time '%.40s': missing time zone ('Z' or +HH:MM/-HH:MM)", s);
    }
    CS_ENSURE(*p == '\0', CONSORT_E_MALFORMED, "time '%.40s': %zu trailing characters", s,
              strlen(p));
    /* RFC 3339 §4.2: local time = UTC + offset, so UTC = local - offset. */
    *out = cs_time_from_civil(year, month, day, hour, minute, second) - offset;
    return CONSORT_OK;
}

/* Times outside 0000-01-01T00:00:00Z..9999-12-31T23:59:59Z are clamped to that range. */
void cs_time_format_rfc3339(int64_t t, char out[21])
{
    if (t < RFC3339_MIN)
        t = RFC3339_MIN;
    if (t > RFC3339_MAX)
        t = RFC3339_MAX;
    int64_t days = t / SECS_PER_DAY;
    int64_t secs = t % SECS_PER_DAY;
    if (secs < 0) {
        secs += SECS_PER_DAY;
        days -= 1;
    }
    int year, month, day;
    civil_from_days(days, &year, &month, &day);
    /* Clamped above, so exactly 20 characters; formatted wide, then copied. */
    char text[64];
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day,
             (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    memcpy(out, text, 20);
    out[20] = '\0';
}

consort_err cs_time_from_asn1(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    /* Validates the RFC 5280 §4.1.2.5 encodings (UTCTime / GeneralizedTime, 'Z'). */
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return cs_ossl_fail(CONSORT_E_MALFORMED, "time: invalid ASN.1 time");
    *out = cs_time_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec);
    return CONSORT_OK;
}
