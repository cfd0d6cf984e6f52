/*
 * What a handler sees (include/consort/app.h): the request accessors, the
 * KV functions over the node's cs_kv_tx, whose reads are copied into the
 * invocation's arena (app_arena.c). Sealing and counters are
 * app_sealcall.c; cs_app_invoke, which runs a handler, is app_invoke.c.
 */
#include "node/app_host.h"

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
    req->sealing = CONSORT_SEALING_NODE;
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

static consort_err request_query(const consort_request *req, const char *name, char *out,
                                 size_t out_len)
{
    if (out != NULL && out_len > 0)
        out[0] = '\0'; /* app.h: "" after any failure */
    CS_ENSURE(name != NULL && out != NULL && out_len > 0, CONSORT_E_INVALID_ARGUMENT,
              "consort_request_query: NULL argument or empty output");
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

consort_err consort_request_query(const consort_request *req, const char *name, char *out,
                                  size_t out_len)
{
    return cs_app_abi_result(request_query(req, name, out, out_len));
}

const char *consort_request_caller(const consort_request *req)
{
    return req->has_caller ? req->caller : NULL;
}

/* ---- the transaction ---- */

void cs_app_tx_init(consort_tx *tx, cs_kv_tx *kv, bool writable, cs_tx_outcome *outcome)
{
    memset(tx, 0, sizeof *tx);
    tx->kv = kv;
    tx->writable = writable;
    tx->outcome = outcome;
    cs_app_arena_init(&tx->arena, CONSORT_APP_READ_MAX);
}

void cs_app_tx_cleanup(consort_tx *tx)
{
    cs_app_arena_cleanup(&tx->arena);
}

bool cs_app_map_reserved(const char *map, bool write)
{
    if (strncmp(map, "consort.", 8) == 0)
        return true;
    return write && strncmp(map, "public:consort.", 15) == 0;
}

static consort_err check_map(const consort_tx *tx, const char *map, bool write)
{
    CS_ENSURE(tx != NULL && tx->kv != NULL && map != NULL, CONSORT_E_INVALID_ARGUMENT,
              "KV: NULL argument");
    CS_ENSURE(!write || tx->writable, CONSORT_E_STATE,
              "KV: write to map '%.128s' in a read-only endpoint", map);
    CS_ENSURE(!cs_app_map_reserved(map, write), CONSORT_E_INVALID_ARGUMENT,
              "KV: map '%.128s' is reserved for consort", map);
    return CONSORT_OK;
}

static consort_err check_access(const consort_tx *tx, const char *map, const void *key,
                                size_t key_len, bool write)
{
    CS_ENSURE(key != NULL || key_len == 0, CONSORT_E_INVALID_ARGUMENT, "KV: NULL key");
    return check_map(tx, map, write);
}

static consort_err kv_get(consort_tx *tx, const char *map, const void *key, size_t key_len,
                          const uint8_t **value, size_t *value_len)
{
    CS_ENSURE(value != NULL && value_len != NULL, CONSORT_E_INVALID_ARGUMENT,
              "consort_kv_get: NULL output");
    CS_TRY(check_access(tx, map, key, key_len, false));
    cs_slice v;
    bool found;
    CS_TRY(cs_kv_get(tx->kv, cs_slice_str(map), CS_SLICE(key, key_len), &v, &found));
    CS_ENSURE(found, CONSORT_E_NOT_FOUND, "KV: no such key in map '%.128s'", map);
    /* the store's bytes die with the next write of this key: hand out a copy
     * that lives as long as the invocation (app.h "Memory") */
    const uint8_t *copy;
    CS_TRY_CTX(cs_app_arena_copy(&tx->arena, v, &copy), "KV: map '%.128s'", map);
    *value = copy;
    *value_len = v.len;
    return CONSORT_OK;
}

consort_err consort_kv_get(consort_tx *tx, const char *map, const void *key, size_t key_len,
                           const uint8_t **value, size_t *value_len)
{
    return cs_app_abi_result(kv_get(tx, map, key, key_len, value, value_len));
}

/* ---- scans ---- */

typedef struct scan_call {
    consort_tx *tx;
    cs_slice start;
    bool started; /* a key >= start was seen: every later one is too */
    size_t limit, seen;
    consort_kv_visitor visitor;
    void *ctx;
    consort_err rc;
} scan_call;

/* Bytewise order, a prefix before what extends it (cs_kv_foreach's order). */
static bool key_before(cs_slice a, cs_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.ptr, b.ptr, n) : 0;
    return c < 0 || (c == 0 && a.len < b.len);
}

static bool scan_cb(void *ctx, cs_slice key, cs_slice value)
{
    scan_call *s = ctx;
    if (!s->started) {
        if (key_before(key, s->start))
            return true;
        s->started = true;
    }
    const uint8_t *k, *v;
    s->rc = cs_app_arena_copy(&s->tx->arena, key, &k);
    if (s->rc == CONSORT_OK)
        s->rc = cs_app_arena_copy(&s->tx->arena, value, &v);
    if (s->rc != CONSORT_OK)
        return false;
    s->seen++;
    if (!s->visitor(s->ctx, k, key.len, v, value.len))
        return false;
    return s->limit == 0 || s->seen < s->limit;
}

static consort_err kv_scan(consort_tx *tx, const char *map, const void *start, size_t start_len,
                           size_t limit, consort_kv_visitor visitor, void *ctx)
{
    CS_ENSURE(visitor != NULL && (start != NULL || start_len == 0), CONSORT_E_INVALID_ARGUMENT,
              "consort_kv_scan: NULL visitor or start key");
    CS_TRY(check_map(tx, map, false));
    scan_call s = {.tx = tx,
                   .start = CS_SLICE(start, start_len),
                   .started = start_len == 0,
                   .limit = limit,
                   .visitor = visitor,
                   .ctx = ctx};
    /* the whole map counts as read (kv.h): any write to it conflicts */
    CS_TRY(cs_kv_foreach(tx->kv, cs_slice_str(map), scan_cb, &s));
    if (s.rc != CONSORT_OK)
        return cs_err_context(s.rc, "KV: scanning map '%.128s'", map);
    return CONSORT_OK;
}

consort_err consort_kv_scan(consort_tx *tx, const char *map, const void *start, size_t start_len,
                            size_t limit, consort_kv_visitor visitor, void *ctx)
{
    return cs_app_abi_result(kv_scan(tx, map, start, start_len, limit, visitor, ctx));
}

/* ---- writes ---- */

static consort_err kv_put(consort_tx *tx, const char *map, const void *key, size_t key_len,
                          const void *value, size_t value_len)
{
    CS_ENSURE(value != NULL || value_len == 0, CONSORT_E_INVALID_ARGUMENT,
              "consort_kv_put: NULL value");
    CS_TRY(check_access(tx, map, key, key_len, true));
    return cs_kv_put(tx->kv, cs_slice_str(map), CS_SLICE(key, key_len), CS_SLICE(value, value_len));
}

consort_err consort_kv_put(consort_tx *tx, const char *map, const void *key, size_t key_len,
                           const void *value, size_t value_len)
{
    return cs_app_abi_result(kv_put(tx, map, key, key_len, value, value_len));
}

static consort_err kv_remove(consort_tx *tx, const char *map, const void *key, size_t key_len)
{
    CS_TRY(check_access(tx, map, key, key_len, true));
    return cs_kv_remove(tx->kv, cs_slice_str(map), CS_SLICE(key, key_len));
}

consort_err consort_kv_remove(consort_tx *tx, const char *map, const void *key, size_t key_len)
{
    return cs_app_abi_result(kv_remove(tx, map, key, key_len));
}

static consort_err set_claims(consort_tx *tx, const uint8_t digest[32])
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

consort_err consort_tx_set_claims_digest(consort_tx *tx, const uint8_t digest[32])
{
    return cs_app_abi_result(set_claims(tx, digest));
}
