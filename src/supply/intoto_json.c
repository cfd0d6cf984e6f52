/* Strict JSON member and string checks (intoto_json.h). */
#include "supply/intoto_json.h"

#include <string.h>

consort_err cs_intoto_json_allowed(const json_t *obj, const char *const *names, size_t n)
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
    return CONSORT_OK;
}

consort_err cs_intoto_json_members(const json_t *obj, const char *const *names, size_t n)
{
    CS_TRY(cs_intoto_json_allowed(obj, names, n));
    for (size_t i = 0; i < n; i++)
        CS_ENSURE(json_object_get(obj, names[i]) != NULL, CONSORT_E_MALFORMED,
                  "member \"%s\" missing", names[i]);
    return CONSORT_OK;
}

consort_err cs_intoto_json_string(const json_t *v, const char *what, size_t max, const char **out)
{
    CS_ENSURE(json_is_string(v), CONSORT_E_MALFORMED, "%s is not a string", what);
    size_t len = json_string_length(v);
    CS_ENSURE(len <= max, CONSORT_E_TOO_LARGE, "%s of %zu bytes, at most %zu", what, len, max);
    CS_ENSURE(strlen(json_string_value(v)) == len, CONSORT_E_MALFORMED,
              "%s contains a NUL character", what);
    *out = json_string_value(v);
    return CONSORT_OK;
}

bool cs_intoto_is_hex(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (cs_hex_digit((unsigned char)*s) < 0)
            return false;
    return true;
}
