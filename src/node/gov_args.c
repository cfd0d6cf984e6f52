/* Strict parsing of an action's arguments (gov_priv.h). */
#include "node/gov_priv.h"

#include "crypto/hash.h"

#include <string.h>

#define CERT_PEM_MAX ((size_t)64 << 10)

/* Parses `json` (an object) and refuses keys outside `allowed` (NULL-ended). */
consort_err gov_args_parse(const char *json, const char *const *allowed, json_t **out)
{
    json_error_t err;
    json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &err);
    CS_ENSURE(o != NULL, CONSORT_E_INVALID_ARGUMENT, "args: %s", err.text);
    if (!json_is_object(o)) {
        json_decref(o);
        return cs_fail(CONSORT_E_INVALID_ARGUMENT, "args must be an object");
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known) {
            consort_err rc = cs_fail(CONSORT_E_INVALID_ARGUMENT, "unknown argument \"%s\"", key);
            json_decref(o);
            return rc;
        }
    }
    *out = o;
    return CONSORT_OK;
}

consort_err gov_arg_str(json_t *o, const char *name, bool required, const char **out)
{
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (v == NULL) {
        CS_ENSURE(!required, CONSORT_E_INVALID_ARGUMENT, "argument \"%s\" is required", name);
        return CONSORT_OK;
    }
    CS_ENSURE(json_is_string(v) && json_string_length(v) == strlen(json_string_value(v)),
              CONSORT_E_INVALID_ARGUMENT, "argument \"%s\" must be a string", name);
    *out = json_string_value(v);
    return CONSORT_OK;
}

consort_err gov_arg_uint(json_t *o, const char *name, bool required, uint64_t min, uint64_t max,
                         uint64_t def, uint64_t *out)
{
    json_t *v = json_object_get(o, name);
    *out = def;
    if (v == NULL) {
        CS_ENSURE(!required, CONSORT_E_INVALID_ARGUMENT, "argument \"%s\" is required", name);
        return CONSORT_OK;
    }
    CS_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 &&
                  (uint64_t)json_integer_value(v) >= min && (uint64_t)json_integer_value(v) <= max,
              CONSORT_E_INVALID_ARGUMENT, "argument \"%s\" must be an integer in [%llu, %llu]",
              name, (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return CONSORT_OK;
}

/* A 64-hex id argument, lower-cased. */
consort_err gov_arg_hex_id(json_t *o, const char *name, bool required, char out[65])
{
    const char *s;
    CS_TRY(gov_arg_str(o, name, required, &s));
    out[0] = '\0';
    if (s == NULL)
        return CONSORT_OK;
    uint8_t raw[32];
    CS_ENSURE(strlen(s) == 64 && cs_hex_decode(s, raw, 32) == CONSORT_OK,
              CONSORT_E_INVALID_ARGUMENT, "argument \"%s\" must be 64 hexadecimal digits", name);
    cs_hex_encode(CS_SLICE(raw, 32), out);
    return CONSORT_OK;
}

/* A certificate argument (PEM) as DER, with its id (hex SHA-256 of the DER). */
consort_err gov_arg_cert(json_t *o, const char *name, bool member, cs_buf *der, char id[65])
{
    const char *pem;
    CS_TRY(gov_arg_str(o, name, true, &pem));
    CS_ENSURE(strlen(pem) <= CERT_PEM_MAX, CONSORT_E_INVALID_ARGUMENT,
              "argument \"%s\": a certificate over %zu bytes", name, CERT_PEM_MAX);
    cs_x509 *cert;
    CS_TRY_CTX(cs_x509_from_pem(cs_slice_str(pem), &cert), "argument \"%s\"", name);
    consort_err rc;
    cs_key *key = NULL;
    CS_TRY_GOTO(rc, cs_x509_to_der(cert, der), out);
    if (member) { /* a member signs requests: ES256 or ES384 (gov/request.h) */
        CS_TRY_GOTO(rc, cs_x509_public_key(cert, &key), out);
        cs_curve curve = cs_key_curve(key);
        if (curve != CS_CURVE_P256 && curve != CS_CURVE_P384) {
            rc = cs_fail(CONSORT_E_INVALID_ARGUMENT,
                         "argument \"%s\": a member's key must be ECDSA P-256 or P-384, not %s",
                         name, cs_key_type_name(key));
            goto out;
        }
    }
    uint8_t fp[32];
    cs_sha256(cs_buf_slice(der), fp);
    cs_hex_encode(CS_SLICE(fp, 32), id);
out:
    cs_key_free(key);
    cs_x509_free(cert);
    return rc;
}
