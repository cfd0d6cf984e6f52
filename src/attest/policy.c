/*
 * Attestation policy (policy.h): a JSON document parsed strictly with
 * jansson, and the check of claims against it. Rules are checked in a fixed
 * order and the first one broken is named with the offending value.
 */
#include "attest/policy.h"

#include "base/file.h"

#include <jansson.h>
#include <string.h>

#define POLICY_FILE_MAX_BYTES (1024 * 1024)

void cs_policy_init(cs_policy *p)
{
    memset(p, 0, sizeof *p);
    for (int i = CS_PLATFORM_VIRTUAL; i < CS_PLATFORM_COUNT; i++)
        p->platforms[i] = true;
    p->any_code_id = true;
    strcpy(p->tcb_status[0], "UpToDate");
    p->tcb_status_count = 1;
}

consort_err cs_policy_add_code_id(cs_policy *p, const uint8_t code_id[32])
{
    p->any_code_id = false;
    for (size_t i = 0; i < p->code_id_count; i++)
        if (memcmp(p->code_ids[i], code_id, 32) == 0)
            return CONSORT_OK;
    CS_ENSURE(p->code_id_count < CS_POLICY_MAX_CODE_IDS, CONSORT_E_TOO_LARGE,
              "policy: more than %d code ids", CS_POLICY_MAX_CODE_IDS);
    memcpy(p->code_ids[p->code_id_count++], code_id, 32);
    return CONSORT_OK;
}

/* ---- JSON ---- */

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* Checks `v` is an array of at most `max` strings and returns the count. */
static consort_err string_array(const char *member, const json_t *v, size_t max, size_t *count)
{
    CS_ENSURE(json_is_array(v), CONSORT_E_MALFORMED,
              "member '%s' must be an array of strings, found %s", member, json_type_name(v));
    size_t n = json_array_size(v);
    CS_ENSURE(n <= max, CONSORT_E_TOO_LARGE, "member '%s' has %zu items, at most %zu allowed",
              member, n, max);
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(v, i);
        CS_ENSURE(json_is_string(item), CONSORT_E_MALFORMED,
                  "member '%s' item %zu must be a string, found %s", member, i,
                  json_type_name(item));
    }
    *count = n;
    return CONSORT_OK;
}

/* Copies a string item into a fixed field of `size` bytes (printable ASCII only). */
static consort_err copy_text(const char *member, size_t i, const json_t *item, char *dst,
                             size_t size)
{
    const char *s = json_string_value(item);
    size_t len = json_string_length(item);
    CS_ENSURE(len > 0 && len < size && strlen(s) == len, CONSORT_E_MALFORMED,
              "member '%s' item %zu must be 1..%zu characters", member, i, size - 1);
    for (size_t k = 0; k < len; k++)
        CS_ENSURE(s[k] >= 0x20 && s[k] <= 0x7e, CONSORT_E_MALFORMED,
                  "member '%s' item %zu is not printable ASCII", member, i);
    memcpy(dst, s, len + 1);
    return CONSORT_OK;
}

static consort_err parse_platforms(const json_t *v, cs_policy *p)
{
    size_t n;
    CS_TRY(string_array("platforms", v, 64, &n));
    memset(p->platforms, 0, sizeof p->platforms);
    for (size_t i = 0; i < n; i++) {
        cs_platform plat;
        const char *name = json_string_value(json_array_get(v, i));
        CS_ENSURE(cs_platform_parse(name, &plat) == CONSORT_OK, CONSORT_E_MALFORMED,
                  "member 'platforms' item %zu: platform '%.32s' unknown, expected virtual, "
                  "tpm, snp, tdx or sgx",
                  i, name);
        p->platforms[plat] = true;
    }
    return CONSORT_OK;
}

static consort_err parse_code_ids(const json_t *v, cs_policy *p)
{
    size_t n;
    CS_TRY(string_array("code_ids", v, CS_POLICY_MAX_CODE_IDS, &n));
    p->any_code_id = false; /* an explicit empty list trusts no code at all */
    for (size_t i = 0; i < n; i++) {
        uint8_t id[32];
        const char *hex = json_string_value(json_array_get(v, i));
        CS_ENSURE(strlen(hex) == 64, CONSORT_E_MALFORMED,
                  "member 'code_ids' item %zu must be 64 hex digits, found %zu characters", i,
                  strlen(hex));
        CS_TRY_CTX(cs_hex_decode(hex, id, sizeof id), "member 'code_ids' item %zu", i);
        CS_TRY(cs_policy_add_code_id(p, id));
    }
    return CONSORT_OK;
}

static consort_err parse_min_svn(const json_t *v, cs_policy *p)
{
    CS_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0, CONSORT_E_MALFORMED,
              "member 'min_security_version' must be a non-negative integer, found %s",
              json_is_integer(v) ? "a negative integer" : json_type_name(v));
    p->min_security_version = (uint64_t)json_integer_value(v);
    return CONSORT_OK;
}

static consort_err parse_allow_debug(const json_t *v, cs_policy *p)
{
    CS_ENSURE(json_is_boolean(v), CONSORT_E_MALFORMED,
              "member 'allow_debug' must be a boolean, found %s", json_type_name(v));
    p->allow_debug = json_is_true(v);
    return CONSORT_OK;
}

static consort_err parse_tcb_status(const json_t *v, cs_policy *p)
{
    size_t n;
    CS_TRY(string_array("tcb_status", v, CS_POLICY_MAX_STRINGS, &n));
    for (size_t i = 0; i < n; i++)
        CS_TRY(copy_text("tcb_status", i, json_array_get(v, i), p->tcb_status[i],
                         sizeof p->tcb_status[i]));
    p->tcb_status_count = n;
    return CONSORT_OK;
}

static consort_err parse_advisories(const json_t *v, cs_policy *p)
{
    size_t n;
    CS_TRY(string_array("allowed_advisories", v, CS_POLICY_MAX_STRINGS, &n));
    for (size_t i = 0; i < n; i++)
        CS_TRY(copy_text("allowed_advisories", i, json_array_get(v, i), p->advisories[i],
                         sizeof p->advisories[i]));
    p->advisory_count = n;
    return CONSORT_OK;
}

static const struct {
    const char *name;
    consort_err (*parse)(const json_t *v, cs_policy *p);
} members[] = {
    {"platforms", parse_platforms},          {"code_ids", parse_code_ids},
    {"min_security_version", parse_min_svn}, {"allow_debug", parse_allow_debug},
    {"tcb_status", parse_tcb_status},        {"allowed_advisories", parse_advisories},
};

static consort_err parse_root(const json_t *root, cs_policy *p)
{
    CS_ENSURE(json_is_object(root), CONSORT_E_MALFORMED, "must be a JSON object, found %s",
              json_type_name(root));
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)root, key, value)
    {
        size_t m = 0;
        while (m < CS_ARRAY_LEN(members) && strcmp(members[m].name, key) != 0)
            m++;
        /* unknown members are an error, so a typo never weakens a policy */
        CS_ENSURE(m < CS_ARRAY_LEN(members), CONSORT_E_MALFORMED, "unknown member '%.64s'", key);
        CS_TRY(members[m].parse(value, p));
    }
    return CONSORT_OK;
}

/* Starts from the defaults (cs_policy_init); `p` is only written on success. */
consort_err cs_policy_parse_json(cs_slice json, cs_policy *p)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)json.ptr, json.len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return cs_fail(CONSORT_E_MALFORMED, "policy: invalid JSON at line %d column %d: %s",
                       jerr.line, jerr.column, jerr.text);
    cs_policy tmp;
    cs_policy_init(&tmp);
    consort_err rc = parse_root(root, &tmp);
    json_decref(root);
    if (rc != CONSORT_OK)
        return cs_err_context(rc, "policy");
    *p = tmp;
    return CONSORT_OK;
}

consort_err cs_policy_load_file(const char *path, cs_policy *p)
{
    cs_buf data;
    cs_buf_init(&data, POLICY_FILE_MAX_BYTES);
    consort_err rc = cs_file_read(path, &data);
    if (rc == CONSORT_OK)
        rc = cs_policy_parse_json(cs_buf_slice(&data), p);
    cs_buf_cleanup(&data);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "policy file %s", path);
}

/* ---- check ---- */

static bool in_list(const char *s, const char (*list)[48], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static bool advisory_allowed(const cs_policy *p, const char *id)
{
    for (size_t i = 0; i < p->advisory_count; i++)
        if (strcmp(id, p->advisories[i]) == 0)
            return true;
    return false;
}

static bool code_id_trusted(const cs_policy *p, const uint8_t id[32])
{
    if (p->any_code_id)
        return true;
    for (size_t i = 0; i < p->code_id_count; i++)
        if (memcmp(p->code_ids[i], id, 32) == 0)
            return true;
    return false;
}

consort_err cs_policy_check(const cs_policy *p, const cs_claims *claims)
{
    cs_platform plat = claims->platform;
    CS_ENSURE(plat > CS_PLATFORM_NONE && plat < CS_PLATFORM_COUNT && p->platforms[plat],
              CONSORT_E_POLICY, "platform %s is not allowed", cs_platform_name(plat));
    if (!code_id_trusted(p, claims->code_id)) {
        char hex[65];
        cs_hex_encode(CS_SLICE(claims->code_id, 32), hex);
        return cs_fail(CONSORT_E_POLICY, "code id %s is not trusted", hex);
    }
    CS_ENSURE(claims->security_version >= p->min_security_version, CONSORT_E_POLICY,
              "security version %llu is below the minimum %llu",
              (unsigned long long)claims->security_version,
              (unsigned long long)p->min_security_version);
    CS_ENSURE(!claims->debug || p->allow_debug, CONSORT_E_POLICY,
              "debug is enabled and the policy does not allow debug");
    /* a platform that reports no TCB status has nothing to check here */
    CS_ENSURE(claims->tcb_status[0] == '\0' ||
                  in_list(claims->tcb_status, p->tcb_status, p->tcb_status_count),
              CONSORT_E_POLICY, "TCB status '%s' is not accepted (accepted: %s%s)",
              claims->tcb_status, p->tcb_status_count > 0 ? p->tcb_status[0] : "none",
              p->tcb_status_count > 1 ? ", ..." : "");
    for (size_t i = 0; i < claims->advisory_count; i++)
        CS_ENSURE(advisory_allowed(p, claims->advisories[i]), CONSORT_E_POLICY,
                  "advisory %s is not allowed", claims->advisories[i]);
    return CONSORT_OK;
}
