/*
 * JSON helpers for DCAP collateral (dcap_json.h), on jansson, plus the raw
 * member-span scanner that finds the signed bytes.
 */
#include "attest/dcap_json.h"

#include "base/alloc.h"
#include "crypto/x509.h"

#include <string.h>

consort_err cs_dcap_json_parse(cs_slice text, json_t **out)
{
    CS_ENSURE(text.len <= CS_DCAP_MAX_JSON, CONSORT_E_TOO_LARGE, "JSON: %zu bytes, cap %d",
              text.len, CS_DCAP_MAX_JSON);
    json_error_t err;
    json_t *doc = json_loadb((const char *)text.ptr, text.len, JSON_REJECT_DUPLICATES, &err);
    CS_ENSURE(doc != NULL, CONSORT_E_MALFORMED, "JSON: %s at line %d column %d", err.text, err.line,
              err.column);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return cs_fail(CONSORT_E_MALFORMED, "JSON: the document is not an object");
    }
    *out = doc;
    return CONSORT_OK;
}

/* ---- raw span scanner (input already validated by jansson) ---- */

static size_t skip_ws(cs_slice s, size_t i)
{
    while (i < s.len &&
           (s.ptr[i] == ' ' || s.ptr[i] == '\t' || s.ptr[i] == '\n' || s.ptr[i] == '\r'))
        i++;
    return i;
}

/* From the opening quote at `i` to just past the closing quote; 0 if unterminated. */
static size_t skip_string(cs_slice s, size_t i)
{
    for (i++; i < s.len; i++) {
        if (s.ptr[i] == '\\')
            i++;
        else if (s.ptr[i] == '"')
            return i + 1;
    }
    return 0;
}

/* From the first byte of a value at `i` to just past it; 0 on malformed input. */
static size_t skip_value(cs_slice s, size_t i)
{
    if (i >= s.len)
        return 0;
    if (s.ptr[i] == '"')
        return skip_string(s, i);
    if (s.ptr[i] != '{' && s.ptr[i] != '[') {
        while (i < s.len && strchr(",}] \t\r\n", s.ptr[i]) == NULL)
            i++;
        return i;
    }
    size_t depth = 0;
    while (i < s.len) {
        uint8_t ch = s.ptr[i];
        if (ch == '"') {
            i = skip_string(s, i);
            if (i == 0)
                return 0;
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']') {
            if (--depth == 0)
                return i + 1;
        }
        i++;
    }
    return 0;
}

consort_err cs_dcap_json_member_span(cs_slice doc, const char *key, cs_slice *out)
{
    size_t klen = strlen(key);
    size_t i = skip_ws(doc, 0);
    CS_ENSURE(i < doc.len && doc.ptr[i] == '{', CONSORT_E_MALFORMED, "JSON: expected an object");
    i = skip_ws(doc, i + 1);
    while (i < doc.len && doc.ptr[i] == '"') {
        size_t kend = skip_string(doc, i);
        CS_ENSURE(kend != 0, CONSORT_E_MALFORMED, "JSON: unterminated member name");
        bool match = kend - i - 2 == klen && memcmp(doc.ptr + i + 1, key, klen) == 0;
        i = skip_ws(doc, kend);
        CS_ENSURE(i < doc.len && doc.ptr[i] == ':', CONSORT_E_MALFORMED,
                  "JSON: expected ':' at offset %zu", i);
        size_t vstart = skip_ws(doc, i + 1);
        size_t vend = skip_value(doc, vstart);
        CS_ENSURE(vend != 0, CONSORT_E_MALFORMED, "JSON: malformed value at offset %zu", vstart);
        if (match) {
            *out = CS_SLICE(doc.ptr + vstart, vend - vstart);
            return CONSORT_OK;
        }
        i = skip_ws(doc, vend);
        if (i < doc.len && doc.ptr[i] == ',')
            i = skip_ws(doc, i + 1);
    }
    return cs_fail(CONSORT_E_MALFORMED, "JSON: member \"%s\" not found as written", key);
}

/* ---- typed members ---- */

consort_err cs_dcap_json_string(const json_t *obj, const char *key, char *out, size_t n)
{
    const json_t *v = json_object_get(obj, key);
    CS_ENSURE(json_is_string(v), CONSORT_E_MALFORMED, "\"%s\": %s", key,
              v == NULL ? "missing" : "not a string");
    size_t len = json_string_length(v);
    CS_ENSURE(len < n && strlen(json_string_value(v)) == len, CONSORT_E_MALFORMED,
              "\"%s\": %zu characters, at most %zu", key, len, n - 1);
    memcpy(out, json_string_value(v), len + 1);
    return CONSORT_OK;
}

consort_err cs_dcap_json_hex(const json_t *obj, const char *key, uint8_t *out, size_t len)
{
    const json_t *v = json_object_get(obj, key);
    CS_ENSURE(json_is_string(v), CONSORT_E_MALFORMED, "\"%s\": %s", key,
              v == NULL ? "missing" : "not a string");
    CS_TRY_CTX(cs_hex_decode(json_string_value(v), out, len), "\"%s\"", key);
    return CONSORT_OK;
}

consort_err cs_dcap_json_uint(const json_t *obj, const char *key, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    CS_ENSURE(json_is_integer(v), CONSORT_E_MALFORMED, "\"%s\": %s", key,
              v == NULL ? "missing" : "not an integer");
    json_int_t x = json_integer_value(v);
    CS_ENSURE(x >= 0 && (uint64_t)x <= max, CONSORT_E_MALFORMED,
              "\"%s\": %lld out of range 0..%llu", key, (long long)x, (unsigned long long)max);
    *out = (uint64_t)x;
    return CONSORT_OK;
}

consort_err cs_dcap_json_time(const json_t *obj, const char *key, int64_t *out, char text[24])
{
    CS_TRY(cs_dcap_json_string(obj, key, text, 24));
    CS_TRY_CTX(cs_time_parse_rfc3339(text, out), "\"%s\"", key);
    return CONSORT_OK;
}

consort_err cs_dcap_json_array(const json_t *obj, const char *key, size_t max, const json_t **out)
{
    const json_t *v = json_object_get(obj, key);
    CS_ENSURE(json_is_array(v), CONSORT_E_MALFORMED, "\"%s\": %s", key,
              v == NULL ? "missing" : "not an array");
    size_t n = json_array_size(v);
    CS_ENSURE(n >= 1 && n <= max, CONSORT_E_MALFORMED, "\"%s\": %zu elements, expected 1..%zu", key,
              n, max);
    *out = v;
    return CONSORT_OK;
}

consort_err cs_dcap_json_level_common(const json_t *level, cs_dcap_status *status,
                                      char tcb_date[24], cs_dcap_advisories *adv)
{
    char text[48];
    int64_t date;
    CS_TRY(cs_dcap_json_string(level, "tcbStatus", text, sizeof text));
    CS_TRY(cs_dcap_status_parse(text, status));
    CS_TRY(cs_dcap_json_time(level, "tcbDate", &date, tcb_date));
    memset(adv, 0, sizeof *adv);
    const json_t *ids = json_object_get(level, "advisoryIDs");
    if (ids == NULL)
        return CONSORT_OK;
    CS_ENSURE(json_is_array(ids), CONSORT_E_MALFORMED, "\"advisoryIDs\": not an array");
    CS_ENSURE(json_array_size(ids) <= CS_DCAP_MAX_ADVISORIES, CONSORT_E_TOO_LARGE,
              "\"advisoryIDs\": %zu entries, cap %d", json_array_size(ids), CS_DCAP_MAX_ADVISORIES);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const json_t *id = json_array_get(ids, i);
        CS_ENSURE(json_is_string(id) && json_string_length(id) > 0 &&
                      json_string_length(id) < CS_DCAP_ADVISORY_LEN,
                  CONSORT_E_MALFORMED, "\"advisoryIDs\"[%zu]: not a short string", i);
        cs_dcap_advisories one = {.count = 1};
        memcpy(one.id[0], json_string_value(id), json_string_length(id) + 1);
        CS_TRY(cs_dcap_advisories_merge(adv, &one));
    }
    return CONSORT_OK;
}

consort_err cs_dcap_json_svn_levels(const json_t *obj, uint16_t max_svn, cs_dcap_svn_level **levels,
                                    size_t *count)
{
    const json_t *arr = NULL;
    CS_TRY(cs_dcap_json_array(obj, "tcbLevels", CS_DCAP_MAX_TCB_LEVELS, &arr));
    size_t n = json_array_size(arr);
    cs_dcap_svn_level *out = cs_calloc(n, sizeof *out);
    CS_ENSURE(out != NULL, CONSORT_E_NOMEM, "\"tcbLevels\": out of memory");
    consort_err rc = CONSORT_OK;
    for (size_t i = 0; i < n && rc == CONSORT_OK; i++) {
        const json_t *l = json_array_get(arr, i);
        const json_t *tcb = json_is_object(l) ? json_object_get(l, "tcb") : NULL;
        uint64_t isvsvn = 0;
        if (!json_is_object(tcb))
            rc = cs_fail(CONSORT_E_MALFORMED, "\"tcbLevels\"[%zu]: no \"tcb\"", i);
        if (rc == CONSORT_OK)
            rc = cs_dcap_json_uint(tcb, "isvsvn", max_svn, &isvsvn);
        if (rc == CONSORT_OK) {
            out[i].isvsvn = (uint16_t)isvsvn;
            rc = cs_dcap_json_level_common(l, &out[i].status, out[i].tcb_date, &out[i].adv);
        }
        if (rc != CONSORT_OK)
            rc = cs_err_context(rc, "\"tcbLevels\"[%zu]", i);
    }
    if (rc != CONSORT_OK) {
        cs_free(out);
        return rc;
    }
    *levels = out;
    *count = n;
    return CONSORT_OK;
}
