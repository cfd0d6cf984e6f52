/* in-toto Metablock, layout and link parsing (intoto_meta.h). */
#include "supply/intoto_meta.h"

#include "base/alloc.h"

#include "supply/cjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small JSON helpers ---------------------------------------------- */

static consort_err exact_members(const json_t *obj, const char *const *names, size_t n)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(key, names[i]) == 0;
        CS_ENSURE(known, CONSORT_E_MALFORMED, "unknown member \"%.64s\"", key);
    }
    for (size_t i = 0; i < n; i++)
        CS_ENSURE(json_object_get(obj, names[i]) != NULL, CONSORT_E_MALFORMED,
                  "member \"%s\" missing", names[i]);
    return CONSORT_OK;
}

/* A string without NUL characters, of at most `max` bytes. */
static consort_err get_string(const json_t *v, const char *what, size_t max, const char **out)
{
    CS_ENSURE(json_is_string(v), CONSORT_E_MALFORMED, "%s is not a string", what);
    size_t len = json_string_length(v);
    CS_ENSURE(len <= max, CONSORT_E_TOO_LARGE, "%s of %zu bytes, at most %zu", what, len, max);
    CS_ENSURE(strlen(json_string_value(v)) == len, CONSORT_E_MALFORMED,
              "%s contains a NUL character", what);
    *out = json_string_value(v);
    return CONSORT_OK;
}

static bool is_hex(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (cs_hex_digit((unsigned char)*s) < 0)
            return false;
    return true;
}

/* ---- Metablock ------------------------------------------------------- */

static consort_err metablock_parse(cs_slice text, const char *want_type, cs_intoto_metablock *mb)
{
    cs_buf_init(&mb->signable, CS_CJSON_MAX_DOC);
    CS_TRY(cs_cjson_parse(text, &mb->doc));
    CS_ENSURE(json_is_object(mb->doc), CONSORT_E_MALFORMED, "metablock is not an object");
    static const char *const top[] = {"signatures", "signed"};
    CS_TRY(exact_members(mb->doc, top, 2));
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
        CS_TRY_CTX(exact_members(sig, sig_members, 2), "signatures[%zu]", i);
        const char *keyid, *hex;
        CS_TRY_CTX(get_string(json_object_get(sig, "keyid"), "keyid", 128, &keyid),
                   "signatures[%zu]", i);
        CS_TRY_CTX(get_string(json_object_get(sig, "sig"), "sig", 2048, &hex), "signatures[%zu]",
                   i);
        /* securesystemslib KEYID_SCHEMA and HEX_SCHEMA: [a-fA-F0-9]+ */
        CS_ENSURE(is_hex(keyid) && is_hex(hex), CONSORT_E_MALFORMED,
                  "signatures[%zu]: keyid and sig must be hex", i);
    }
    const json_t *type = json_object_get(mb->signed_obj, "_type");
    const char *type_s;
    CS_TRY_CTX(get_string(type, "_type", 32, &type_s), "signed");
    if (strcmp(want_type, "link") == 0 && strcmp(type_s, "layout") == 0)
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "a layout where a link is expected: sublayouts are not supported");
    CS_ENSURE(strcmp(type_s, want_type) == 0, CONSORT_E_MALFORMED,
              "signed: _type \"%.32s\", expected \"%s\"", type_s, want_type);
    return cs_cjson_encode(mb->signed_obj, &mb->signable);
}

static void metablock_cleanup(cs_intoto_metablock *mb)
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
        CS_TRY_CTX(get_string(json_array_get(raw, i), "word", CS_INTOTO_MAX_PATH, &w),
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

static consort_err parse_rules(const json_t *list, const char *what, cs_intoto_rule **out,
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

/* ---- layout ---------------------------------------------------------- */

static consort_err parse_step(const json_t *obj, cs_intoto_step *step)
{
    static const char *const members[] = {"_type",
                                          "name",
                                          "expected_materials",
                                          "expected_products",
                                          "pubkeys",
                                          "expected_command",
                                          "threshold"};
    CS_ENSURE(json_is_object(obj), CONSORT_E_MALFORMED, "not an object");
    CS_TRY(exact_members(obj, members, CS_ARRAY_LEN(members)));
    const char *type;
    CS_TRY(get_string(json_object_get(obj, "_type"), "_type", 32, &type));
    CS_ENSURE(strcmp(type, "step") == 0, CONSORT_E_MALFORMED, "_type \"%.32s\", expected \"step\"",
              type);
    CS_TRY(get_string(json_object_get(obj, "name"), "name", CS_INTOTO_MAX_NAME, &step->name));
    CS_ENSURE(step->name[0] != '\0', CONSORT_E_MALFORMED, "empty name");
    const json_t *threshold = json_object_get(obj, "threshold");
    CS_ENSURE(json_is_integer(threshold), CONSORT_E_MALFORMED,
              "step \"%s\": threshold is not an integer", step->name);
    step->threshold = json_integer_value(threshold);
    CS_ENSURE(step->threshold >= 1 && step->threshold <= CS_INTOTO_MAX_PUBKEYS, CONSORT_E_MALFORMED,
              "step \"%s\": threshold %" JSON_INTEGER_FORMAT ", expected 1 to %d", step->name,
              json_integer_value(threshold), CS_INTOTO_MAX_PUBKEYS);
    const json_t *pubkeys = json_object_get(obj, "pubkeys");
    CS_ENSURE(json_is_array(pubkeys), CONSORT_E_MALFORMED, "step \"%s\": pubkeys is not a list",
              step->name);
    step->n_pubkeys = json_array_size(pubkeys);
    CS_ENSURE(step->n_pubkeys <= CS_INTOTO_MAX_PUBKEYS, CONSORT_E_TOO_LARGE,
              "step \"%s\": %zu pubkeys, at most %d", step->name, step->n_pubkeys,
              CS_INTOTO_MAX_PUBKEYS);
    step->pubkeys = step->n_pubkeys ? cs_calloc(step->n_pubkeys, sizeof *step->pubkeys) : NULL;
    CS_ENSURE(step->n_pubkeys == 0 || step->pubkeys != NULL, CONSORT_E_NOMEM, "pubkeys");
    for (size_t i = 0; i < step->n_pubkeys; i++) {
        CS_TRY_CTX(get_string(json_array_get(pubkeys, i), "key id", 128, &step->pubkeys[i]),
                   "step \"%s\": pubkeys[%zu]", step->name, i);
        CS_ENSURE(is_hex(step->pubkeys[i]), CONSORT_E_MALFORMED,
                  "step \"%s\": pubkeys[%zu] is not a hex key id", step->name, i);
    }
    const json_t *command = json_object_get(obj, "expected_command");
    CS_ENSURE(json_is_array(command), CONSORT_E_MALFORMED,
              "step \"%s\": expected_command is not a list", step->name);
    CS_TRY_CTX(parse_rules(json_object_get(obj, "expected_materials"), "expected_materials",
                           &step->materials, &step->n_materials),
               "step \"%s\"", step->name);
    CS_TRY_CTX(parse_rules(json_object_get(obj, "expected_products"), "expected_products",
                           &step->products, &step->n_products),
               "step \"%s\"", step->name);
    return CONSORT_OK;
}

static consort_err parse_layout_keys(const json_t *keys, cs_intoto_layout *layout)
{
    CS_ENSURE(json_is_object(keys), CONSORT_E_MALFORMED, "keys is not an object");
    size_t n = json_object_size(keys);
    CS_ENSURE(n <= CS_INTOTO_MAX_KEYS, CONSORT_E_TOO_LARGE, "%zu keys, at most %d", n,
              CS_INTOTO_MAX_KEYS);
    layout->keys = n ? cs_calloc(n, sizeof *layout->keys) : NULL;
    CS_ENSURE(n == 0 || layout->keys != NULL, CONSORT_E_NOMEM, "keys");
    const char *keyid;
    json_t *value;
    json_object_foreach((json_t *)keys, keyid, value)
    {
        CS_TRY_CTX(cs_intoto_key_parse(value, keyid, &layout->keys[layout->n_keys]),
                   "keys[\"%.64s\"]", keyid);
        layout->n_keys++;
    }
    return CONSORT_OK;
}

static consort_err layout_parse(cs_slice text, cs_intoto_layout *layout)
{
    CS_TRY(metablock_parse(text, "layout", &layout->mb));
    const json_t *l = layout->mb.signed_obj;
    static const char *const members[] = {"_type", "expires", "keys", "readme", "steps", "inspect"};
    CS_TRY(exact_members(l, members, CS_ARRAY_LEN(members)));
    const char *readme, *expires;
    CS_TRY(get_string(json_object_get(l, "readme"), "readme", CS_CJSON_MAX_DOC, &readme));
    CS_TRY(get_string(json_object_get(l, "expires"), "expires", 64, &expires));
    CS_TRY(cs_intoto_parse_time(expires, &layout->expires));
    const json_t *inspect = json_object_get(l, "inspect");
    CS_ENSURE(json_is_array(inspect), CONSORT_E_MALFORMED, "inspect is not a list");
    layout->n_inspections = json_array_size(inspect);
    if (layout->n_inspections > 0) {
        const char *name = json_string_value(json_object_get(json_array_get(inspect, 0), "name"));
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "layout has %zu inspection(s) (first: \"%.64s\"); consort never runs "
                       "inspection commands, so it refuses layouts with inspections",
                       json_array_size(inspect), name ? name : "?");
    }
    CS_TRY(parse_layout_keys(json_object_get(l, "keys"), layout));
    const json_t *steps = json_object_get(l, "steps");
    CS_ENSURE(json_is_array(steps), CONSORT_E_MALFORMED, "steps is not a list");
    size_t n = json_array_size(steps);
    CS_ENSURE(n <= CS_INTOTO_MAX_STEPS, CONSORT_E_TOO_LARGE, "%zu steps, at most %d", n,
              CS_INTOTO_MAX_STEPS);
    layout->steps = n ? cs_calloc(n, sizeof *layout->steps) : NULL;
    CS_ENSURE(n == 0 || layout->steps != NULL, CONSORT_E_NOMEM, "steps");
    for (size_t i = 0; i < n; i++) {
        cs_intoto_step *step = &layout->steps[i];
        layout->n_steps++;
        CS_TRY_CTX(parse_step(json_array_get(steps, i), step), "steps[%zu]", i);
        /* Layout._validate_steps_and_inspections: names are unique. */
        for (size_t j = 0; j < i; j++)
            CS_ENSURE(strcmp(layout->steps[j].name, step->name) != 0, CONSORT_E_MALFORMED,
                      "steps[%zu]: a step named \"%s\" already exists", i, step->name);
    }
    return CONSORT_OK;
}

consort_err cs_intoto_layout_parse(cs_slice text, cs_intoto_layout *out)
{
    memset(out, 0, sizeof *out);
    CS_TRY_CTX(layout_parse(text, out), "in-toto layout");
    return CONSORT_OK;
}

void cs_intoto_layout_cleanup(cs_intoto_layout *layout)
{
    if (layout == NULL)
        return;
    for (size_t i = 0; i < layout->n_keys; i++)
        cs_intoto_key_cleanup(&layout->keys[i]);
    for (size_t i = 0; i < layout->n_steps; i++) {
        cs_free(layout->steps[i].pubkeys);
        cs_free(layout->steps[i].materials);
        cs_free(layout->steps[i].products);
    }
    cs_free(layout->keys);
    cs_free(layout->steps);
    metablock_cleanup(&layout->mb);
    memset(layout, 0, sizeof *layout);
}

/* ---- link ------------------------------------------------------------ */

/* path -> {algorithm: hex digest} (securesystemslib HASHDICT_SCHEMA per artifact). */
static consort_err parse_artifacts(const json_t *map, const char *what)
{
    CS_ENSURE(json_is_object(map), CONSORT_E_MALFORMED, "%s is not an object", what);
    size_t n = json_object_size(map);
    CS_ENSURE(n <= CS_INTOTO_MAX_ARTIFACTS, CONSORT_E_TOO_LARGE, "%s: %zu artifacts, at most %d",
              what, n, CS_INTOTO_MAX_ARTIFACTS);
    const char *path;
    size_t path_len;
    json_t *hashes;
    json_object_keylen_foreach((json_t *)map, path, path_len, hashes)
    {
        CS_ENSURE(path_len <= CS_INTOTO_MAX_PATH && strlen(path) == path_len, CONSORT_E_MALFORMED,
                  "%s: a path of %zu bytes or with a NUL character", what, path_len);
        CS_ENSURE(json_is_object(hashes) && json_object_size(hashes) >= 1 &&
                      json_object_size(hashes) <= 8,
                  CONSORT_E_MALFORMED, "%s[\"%.64s\"]: not an object of 1 to 8 digests", what,
                  path);
        const char *alg;
        json_t *digest;
        json_object_foreach(hashes, alg, digest)
        {
            const char *hex;
            CS_TRY_CTX(get_string(digest, alg, 256, &hex), "%s[\"%.64s\"]", what, path);
            CS_ENSURE(is_hex(hex), CONSORT_E_MALFORMED, "%s[\"%.64s\"][\"%.32s\"] is not hex", what,
                      path, alg);
        }
    }
    return CONSORT_OK;
}

static consort_err link_parse(cs_slice text, cs_intoto_link *link)
{
    CS_TRY(metablock_parse(text, "link", &link->mb));
    const json_t *l = link->mb.signed_obj;
    static const char *const members[] = {"_type",      "name",    "materials",  "products",
                                          "byproducts", "command", "environment"};
    CS_TRY(exact_members(l, members, CS_ARRAY_LEN(members)));
    CS_TRY(get_string(json_object_get(l, "name"), "name", CS_INTOTO_MAX_NAME, &link->name));
    link->materials = json_object_get(l, "materials");
    link->products = json_object_get(l, "products");
    CS_TRY(parse_artifacts(link->materials, "materials"));
    CS_TRY(parse_artifacts(link->products, "products"));
    const json_t *by = json_object_get(l, "byproducts");
    CS_ENSURE(json_is_object(by), CONSORT_E_MALFORMED, "byproducts is not an object");
    const json_t *rv = json_object_get(by, "return-value");
    CS_ENSURE(rv == NULL || json_is_integer(rv), CONSORT_E_MALFORMED,
              "byproducts: return-value is not an integer");
    static const char *const streams[] = {"stdout", "stderr"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *s = json_object_get(by, streams[i]);
        CS_ENSURE(s == NULL || json_is_string(s), CONSORT_E_MALFORMED,
                  "byproducts: %s is not a string", streams[i]);
    }
    const json_t *command = json_object_get(l, "command");
    CS_ENSURE(json_is_array(command), CONSORT_E_MALFORMED, "command is not a list");
    for (size_t i = 0; i < json_array_size(command); i++)
        CS_ENSURE(json_is_string(json_array_get(command, i)), CONSORT_E_MALFORMED,
                  "command[%zu] is not a string", i);
    CS_ENSURE(json_is_object(json_object_get(l, "environment")), CONSORT_E_MALFORMED,
              "environment is not an object");
    return CONSORT_OK;
}

consort_err cs_intoto_link_parse(cs_slice text, cs_intoto_link *out)
{
    memset(out, 0, sizeof *out);
    CS_TRY_CTX(link_parse(text, out), "in-toto link");
    return CONSORT_OK;
}

void cs_intoto_link_cleanup(cs_intoto_link *link)
{
    if (link == NULL)
        return;
    metablock_cleanup(&link->mb);
    memset(link, 0, sizeof *link);
}
