/* in-toto Metablock, rules and times (intoto_meta.h); the JSON helpers the
 * layout and link parsers share (intoto_meta_priv.h). */
#include "supply/intoto_meta_priv.h"

#include "base/alloc.h"

#include "supply/cjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Metablock ------------------------------------------------------- */

consort_err cs_intoto_metablock_parse(cs_slice text, const char *want_type, cs_intoto_metablock *mb)
{
    cs_buf_init(&mb->signable, CS_CJSON_MAX_DOC);
    CS_TRY(cs_cjson_parse(text, &mb->doc));
    CS_ENSURE(json_is_object(mb->doc), CONSORT_E_MALFORMED, "metablock is not an object");
    static const char *const top[] = {"signatures", "signed"};
    CS_TRY(cs_intoto_json_members(mb->doc, top, 2));
    mb->signed_obj = json_object_get(mb->doc, "signed");
    mb->signatures = json_object_get(mb->doc, "signatures");
    CS_ENSURE(json_is_object(mb->signed_obj), CONSORT_E_MALFORMED, "\"signed\" is not an object");
    CS_ENSURE(json_is_array(mb->signatures), CONSORT_E_MALFORMED, "\"signatures\" is not a list");
    size_t n = json_array_size(mb->signatures);
    CS_ENSURE(n <= CS_INTOTO_MAX_SIGNATURES, CONSORT_E_TOO_LARGE, "%zu signatures, at most %d", n,
              CS_INTOTO_MAX_SIGNATURES);
    for (size_t i = 0; i < n; i++) {
        const json_t *sig = json_array_get(mb->signatures, i);
        CS_ENSURE(json_is_object(sig), CONSORT_E_MALFORMED, "signatures[%zu] is not an object", i);
        static const char *const sig_members[] = {"keyid", "sig"};
        CS_TRY_CTX(cs_intoto_json_members(sig, sig_members, 2), "signatures[%zu]", i);
        const char *keyid, *hex;
        CS_TRY_CTX(cs_intoto_json_string(json_object_get(sig, "keyid"), "keyid", 128, &keyid),
                   "signatures[%zu]", i);
        CS_TRY_CTX(cs_intoto_json_string(json_object_get(sig, "sig"), "sig", 2048, &hex),
                   "signatures[%zu]", i);
        /* securesystemslib KEYID_SCHEMA and HEX_SCHEMA: [a-fA-F0-9]+ */
        CS_ENSURE(cs_intoto_is_hex(keyid) && cs_intoto_is_hex(hex), CONSORT_E_MALFORMED,
                  "signatures[%zu]: keyid and sig must be hex", i);
    }
    const json_t *type = json_object_get(mb->signed_obj, "_type");
    const char *type_s;
    CS_TRY_CTX(cs_intoto_json_string(type, "_type", 32, &type_s), "signed");
    if (strcmp(want_type, "link") == 0 && strcmp(type_s, "layout") == 0)
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "a layout where a link is expected: sublayouts are not supported");
    CS_ENSURE(strcmp(type_s, want_type) == 0, CONSORT_E_MALFORMED,
              "signed: _type \"%.32s\", expected \"%s\"", type_s, want_type);
    return cs_cjson_encode(mb->signed_obj, &mb->signable);
}

void cs_intoto_metablock_cleanup(cs_intoto_metablock *mb)
{
    json_decref(mb->doc);
    cs_buf_cleanup(&mb->signable);
    memset(mb, 0, sizeof *mb);
}

consort_err cs_intoto_metablock_verify(const cs_intoto_metablock *mb, const cs_intoto_key *key)
{
    for (size_t i = 0; i < json_array_size(mb->signatures); i++) {
        const json_t *sig = json_array_get(mb->signatures, i);
        if (strcmp(json_string_value(json_object_get(sig, "keyid")), key->keyid) != 0)
            continue;
        /* in-toto Metablock.verify_signature: the first match only. */
        return cs_intoto_key_verify(key, cs_buf_slice(&mb->signable),
                                    json_string_value(json_object_get(sig, "sig")));
    }
    return cs_fail(CONSORT_E_NOT_FOUND, "no signature by key %s", key->keyid);
}

/* ---- rules ----------------------------------------------------------- */

static bool word_is(const json_t *raw, size_t i, const char *word)
{
    return strcasecmp(json_string_value(json_array_get(raw, i)), word) == 0;
}

consort_err cs_intoto_rule_parse(const json_t *raw, cs_intoto_rule *out)
{
    static const struct {
        const char *word;
        cs_intoto_rule_type type;
    } types[] = {
        {"match", CS_INTOTO_RULE_MATCH},     {"create", CS_INTOTO_RULE_CREATE},
        {"delete", CS_INTOTO_RULE_DELETE},   {"modify", CS_INTOTO_RULE_MODIFY},
        {"allow", CS_INTOTO_RULE_ALLOW},     {"disallow", CS_INTOTO_RULE_DISALLOW},
        {"require", CS_INTOTO_RULE_REQUIRE},
    };
    memset(out, 0, sizeof *out);
    out->raw = raw;
    CS_ENSURE(json_is_array(raw), CONSORT_E_MALFORMED, "rule is not a list");
    size_t n = json_array_size(raw);
    CS_ENSURE(n >= 2 && n <= 10, CONSORT_E_MALFORMED, "rule of %zu words", n);
    for (size_t i = 0; i < n; i++) {
        const char *w;
        CS_TRY_CTX(cs_intoto_json_string(json_array_get(raw, i), "word", CS_INTOTO_MAX_PATH, &w),
                   "rule word %zu", i);
    }
    for (size_t i = 0; i < CS_ARRAY_LEN(types) && out->type == 0; i++)
        if (word_is(raw, 0, types[i].word))
            out->type = types[i].type;
    CS_ENSURE(out->type != 0, CONSORT_E_MALFORMED,
              "rule type \"%.32s\", expected MATCH, CREATE, DELETE, MODIFY, ALLOW, DISALLOW or "
              "REQUIRE",
              json_string_value(json_array_get(raw, 0)));
#define WORD(i) json_string_value(json_array_get(raw, (i)))
    out->pattern = WORD(1);
    out->source_prefix = out->dest_prefix = "";
    if (out->type != CS_INTOTO_RULE_MATCH) {
        CS_ENSURE(n == 2, CONSORT_E_MALFORMED, "%s rule of %zu words, expected 2", WORD(0), n);
        return CONSORT_OK;
    }
    /* MATCH <pattern> [IN <source-prefix>] WITH (MATERIALS|PRODUCTS)
     *       [IN <destination-prefix>] FROM <step> */
    size_t dest_type;
    if (n == 10 && word_is(raw, 2, "in") && word_is(raw, 4, "with") && word_is(raw, 6, "in") &&
        word_is(raw, 8, "from")) {
        out->source_prefix = WORD(3);
        dest_type = 5;
        out->dest_prefix = WORD(7);
        out->dest_name = WORD(9);
    } else if (n == 8 && word_is(raw, 2, "in") && word_is(raw, 4, "with") &&
               word_is(raw, 6, "from")) {
        out->source_prefix = WORD(3);
        dest_type = 5;
        out->dest_name = WORD(7);
    } else if (n == 8 && word_is(raw, 2, "with") && word_is(raw, 4, "in") &&
               word_is(raw, 6, "from")) {
        dest_type = 3;
        out->dest_prefix = WORD(5);
        out->dest_name = WORD(7);
    } else if (n == 6 && word_is(raw, 2, "with") && word_is(raw, 4, "from")) {
        dest_type = 3;
        out->dest_name = WORD(5);
    } else {
        return cs_fail(CONSORT_E_MALFORMED,
                       "MATCH rule must read MATCH <pattern> [IN <source-path-prefix>] WITH "
                       "(MATERIALS|PRODUCTS) [IN <destination-path-prefix>] FROM <step>");
    }
    if (word_is(raw, dest_type, "products"))
        out->dest_products = true;
    else
        CS_ENSURE(word_is(raw, dest_type, "materials"), CONSORT_E_MALFORMED,
                  "MATCH rule destination \"%.32s\", expected MATERIALS or PRODUCTS",
                  WORD(dest_type));
#undef WORD
    return CONSORT_OK;
}

void cs_intoto_rule_text(const cs_intoto_rule *rule, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(rule->raw) && used + 1 < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i ? " " : "",
                         json_string_value(json_array_get(rule->raw, i)));
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

consort_err cs_intoto_rules_parse(const json_t *list, const char *what, cs_intoto_rule **out,
                                  size_t *n_out)
{
    CS_ENSURE(json_is_array(list), CONSORT_E_MALFORMED, "%s is not a list", what);
    size_t n = json_array_size(list);
    CS_ENSURE(n <= CS_INTOTO_MAX_RULES, CONSORT_E_TOO_LARGE, "%s: %zu rules, at most %d", what, n,
              CS_INTOTO_MAX_RULES);
    *out = n ? cs_calloc(n, sizeof **out) : NULL;
    CS_ENSURE(n == 0 || *out != NULL, CONSORT_E_NOMEM, "%s: %zu rules", what, n);
    *n_out = n;
    for (size_t i = 0; i < n; i++)
        CS_TRY_CTX(cs_intoto_rule_parse(json_array_get(list, i), &(*out)[i]), "%s[%zu]", what, i);
    return CONSORT_OK;
}

/* ---- time ------------------------------------------------------------ */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The value of `n` decimal digits (already checked to be digits). */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

consort_err cs_intoto_parse_time(const char *s, int64_t *out)
{
    /* securesystemslib ISO8601_DATETIME_SCHEMA: \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z */
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    CS_ENSURE(strlen(s) == sizeof shape - 1, CONSORT_E_MALFORMED,
              "expires \"%.32s\" is not YYYY-MM-DDTHH:MM:SSZ", s);
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        bool ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == shape[i];
        CS_ENSURE(ok, CONSORT_E_MALFORMED, "expires \"%s\" is not YYYY-MM-DDTHH:MM:SSZ", s);
    }
    int year = digits(s, 4), month = digits(s + 5, 2), day = digits(s + 8, 2);
    int hour = digits(s + 11, 2), minute = digits(s + 14, 2), second = digits(s + 17, 2);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    CS_ENSURE(year >= 1 && month >= 1 && month <= 12, CONSORT_E_MALFORMED,
              "expires \"%s\": no such date", s);
    int max_day = mdays[month - 1] + (month == 2 && leap);
    /* Python's datetime, which iso8601 builds, refuses second 60 too. */
    CS_ENSURE(day >= 1 && day <= max_day && hour < 24 && minute < 60 && second < 60,
              CONSORT_E_MALFORMED, "expires \"%s\": no such date or time", s);
    *out = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    return CONSORT_OK;
}
