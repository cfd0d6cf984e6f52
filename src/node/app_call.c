/*
 * What a handler sees (include/consort/app.h): the request accessors, the
 * KV functions over the node's cs_kv_tx, and cs_app_invoke, which runs one
 * handler and decides whether its transaction may commit.
 */
#include "node/app_host.h"

#include "base/log.h"

#include <stdio.h>
#include <string.h>

/* What an empty body or value borrows, so callers never get NULL with length 0. */
static const uint8_t empty_bytes[1];

void cs_app_request_init(consort_request *req, const char *method, const char *path,
                         const char *query, const cs_http_header *headers, size_t header_count,
                         cs_slice body, const uint8_t *caller_fp)
{
    memset(req, 0, sizeof *req);
    req->method = method;
    req->path = path;
    req->query = query != NULL ? query : "";
    req->headers = headers;
    req->header_count = header_count;
    req->body = body;
    req->has_caller = caller_fp != NULL;
    if (caller_fp != NULL)
        cs_hex_encode(CS_SLICE(caller_fp, 32), req->caller);
}

/* ---- the request ---- */

const char *consort_request_method(const consort_request *req)
{
    return req->method;
}

const char *consort_request_path(const consort_request *req)
{
    return req->path;
}

const uint8_t *consort_request_body(const consort_request *req, size_t *len)
{
    *len = req->body.len;
    return req->body.len > 0 ? req->body.ptr : empty_bytes;
}

const char *consort_request_header(const consort_request *req, const char *name)
{
    if (name == NULL)
        return NULL;
    return cs_http_header_find(req->headers, req->header_count, name);
}

consort_err consort_request_query(const consort_request *req, const char *name, char *out,
                                  size_t out_len)
{
    CS_ENSURE(name != NULL && out != NULL && out_len > 0, CONSORT_E_INVALID_ARGUMENT,
              "consort_request_query: NULL argument or empty output");
    out[0] = '\0';
    cs_buf value;
    cs_buf_init(&value, 0);
    bool found;
    consort_err rc = cs_http_query_param(req->query, name, &value, &found);
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&value);
        return cs_err_context(rc, "query parameter '%s'", name);
    }
    if (!found)
        rc = cs_fail(CONSORT_E_NOT_FOUND, "query parameter '%s' is absent", name);
    else if (value.len >= out_len)
        rc = cs_fail(CONSORT_E_TOO_LARGE, "query parameter '%s': %zu bytes, room for %zu", name,
                     value.len, out_len - 1);
    /* a %00 would cut the C string short: refuse rather than truncate silently */
    else if (value.len > 0 && memchr(value.ptr, '\0', value.len) != NULL)
        rc = cs_fail(CONSORT_E_MALFORMED, "query parameter '%s' holds a NUL byte", name);
    else {
        if (value.len > 0)
            memcpy(out, value.ptr, value.len);
        out[value.len] = '\0';
    }
    cs_buf_cleanup(&value);
    return rc;
}

const char *consort_request_caller(const consort_request *req)
{
    return req->has_caller ? req->caller : NULL;
}

/* ---- the transaction ---- */

bool cs_app_map_reserved(const char *map, bool write)
{
    if (strncmp(map, "consort.", 8) == 0)
        return true;
    return write && strncmp(map, "public:consort.", 15) == 0;
}

static consort_err check_access(const consort_tx *tx, const char *map, const void *key,
                                size_t key_len, bool write)
{
    CS_ENSURE(tx != NULL && tx->kv != NULL && map != NULL && (key != NULL || key_len == 0),
              CONSORT_E_INVALID_ARGUMENT, "KV: NULL argument");
    CS_ENSURE(!write || tx->writable, CONSORT_E_STATE,
              "KV: write to map '%.128s' in a read-only endpoint", map);
    CS_ENSURE(!cs_app_map_reserved(map, write), CONSORT_E_INVALID_ARGUMENT,
              "KV: map '%.128s' is reserved for consort", map);
    return CONSORT_OK;
}

consort_err consort_kv_get(consort_tx *tx, const char *map, const void *key, size_t key_len,
                           const uint8_t **value, size_t *value_len)
{
    CS_ENSURE(value != NULL && value_len != NULL, CONSORT_E_INVALID_ARGUMENT,
              "consort_kv_get: NULL output");
    CS_TRY(check_access(tx, map, key, key_len, false));
    cs_slice v;
    bool found;
    CS_TRY(cs_kv_get(tx->kv, cs_slice_str(map), CS_SLICE(key, key_len), &v, &found));
    CS_ENSURE(found, CONSORT_E_NOT_FOUND, "KV: no such key in map '%.128s'", map);
    *value = v.len > 0 ? v.ptr : empty_bytes;
    *value_len = v.len;
    return CONSORT_OK;
}

consort_err consort_kv_put(consort_tx *tx, const char *map, const void *key, size_t key_len,
                           const void *value, size_t value_len)
{
    CS_ENSURE(value != NULL || value_len == 0, CONSORT_E_INVALID_ARGUMENT,
              "consort_kv_put: NULL value");
    CS_TRY(check_access(tx, map, key, key_len, true));
    return cs_kv_put(tx->kv, cs_slice_str(map), CS_SLICE(key, key_len), CS_SLICE(value, value_len));
}

consort_err consort_kv_remove(consort_tx *tx, const char *map, const void *key, size_t key_len)
{
    CS_TRY(check_access(tx, map, key, key_len, true));
    return cs_kv_remove(tx->kv, cs_slice_str(map), CS_SLICE(key, key_len));
}

consort_err consort_tx_set_claims_digest(consort_tx *tx, const uint8_t digest[32])
{
    CS_ENSURE(tx != NULL && digest != NULL, CONSORT_E_INVALID_ARGUMENT,
              "consort_tx_set_claims_digest: NULL argument");
    /* a read-only transaction is never committed, so it has no receipt leaf */
    CS_ENSURE(tx->writable, CONSORT_E_STATE,
              "consort_tx_set_claims_digest: not allowed in a read-only endpoint");
    tx->outcome->has_claims = true;
    memcpy(tx->outcome->claims_digest, digest, 32);
    return CONSORT_OK;
}

/* ---- running a handler ---- */

/* Turns `resp` into a 500 naming `why` (never fails: an empty 500 is the floor). */
static void internal_error(consort_response *resp, const char *why)
{
    cs_app_response_reset(resp);
    if (consort_response_error(resp, 500, "InternalError", "%s", why) != CONSORT_OK) {
        cs_app_response_reset(resp);
        resp->status = 500;
    }
}

consort_err cs_app_invoke(const cs_app_endpoint *ep, consort_request *req, cs_kv_tx *kv,
                          bool writable, consort_response *resp, cs_tx_outcome *out)
{
    memset(out, 0, sizeof *out);
    cs_app_response_reset(resp);
    consort_tx tx = {.kv = kv, .writable = writable, .outcome = out};
    cs_err_clear();
    consort_err rc = ep->handler(req, &tx, resp, ep->ctx);
    if (rc != CONSORT_OK) {
        char why[CS_ERRMSG_MAX + 64];
        const char *msg = consort_errmsg();
        snprintf(why, sizeof why, "%s %s: %s%s%s", ep->method, ep->path, consort_err_name(rc),
                 msg[0] != '\0' ? ": " : "", msg);
        cs_log_warn("app", "handler failed: %s", why);
        internal_error(resp, why);
        memset(out, 0, sizeof *out);
        return rc;
    }
    if (resp->status < 100 || resp->status > 599) {
        char why[CS_APP_PATH_MAX + 64];
        snprintf(why, sizeof why, "%s %s: the handler set HTTP status %d", ep->method, ep->path,
                 resp->status);
        internal_error(resp, why);
        memset(out, 0, sizeof *out);
        return cs_fail(CONSORT_E_INVALID_ARGUMENT, "%s", why);
    }
    /* app.h: only CONSORT_OK with a 2xx status commits; anything else discards the writes */
    out->commit = writable && resp->status >= 200 && resp->status <= 299;
    if (!out->commit)
        out->has_claims = false;
    return CONSORT_OK;
}
