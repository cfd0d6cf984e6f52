/*
 * Sealing and counters, the handler's side (app.h consort_seal,
 * consort_unseal, consort_counter_*): the arguments checked, then the
 * application's scope called: the node's sealed store through the
 * request's sealer (app_host.h), or the service's scope over the running
 * transaction (app_svcseal.h). What they return is copied into the
 * request's arena, valid until the handler returns.
 */
#include "node/app_svcseal.h"

#include <string.h>

/* The arguments every call checks. Service scope: *tx receives the running
 * transaction; node scope: *tx = NULL and the request has a sealer. */
static consort_err usable(const consort_request *req, const char *what, consort_tx **tx)
{
    CS_ENSURE(req != NULL, CONSORT_E_INVALID_ARGUMENT, "%s: no request", what);
    *tx = NULL;
    if (req->sealing == CONSORT_SEALING_SERVICE) {
        *tx = cs_app_current();
        CS_ENSURE(req->svcseal != NULL && req->arena != NULL && *tx != NULL, CONSORT_E_STATE,
                  "%s: service-scope sealing is not available here (outside a handler?)", what);
        return CONSORT_OK;
    }
    CS_ENSURE(req->sealer != NULL && req->arena != NULL, CONSORT_E_STATE,
              "%s: this node has no sealed store for applications (outside a handler?)", what);
    return CONSORT_OK;
}

static consort_err check_name(const char *name, const char *what)
{
    CS_ENSURE(name != NULL, CONSORT_E_INVALID_ARGUMENT, "%s: no counter name", what);
    size_t n = strlen(name);
    CS_ENSURE(n >= 1 && n <= CONSORT_COUNTER_NAME_MAX, CONSORT_E_INVALID_ARGUMENT,
              "%s: a counter name has 1..%d characters, not %zu", what, CONSORT_COUNTER_NAME_MAX,
              n);
    for (size_t i = 0; i < n; i++)
        CS_ENSURE(name[i] > 0x20 && name[i] < 0x7f, CONSORT_E_INVALID_ARGUMENT,
                  "%s: counter names are printable ASCII without spaces", what);
    return CONSORT_OK;
}

/* Hands `b`'s bytes to the handler through the arena; frees `b`. */
static consort_err give(consort_request *req, cs_buf *b, const uint8_t **out, size_t *len)
{
    consort_err rc = cs_app_arena_copy(req->arena, cs_buf_slice(b), out);
    if (rc == CONSORT_OK)
        *len = b->len;
    cs_buf_cleanup(b);
    return rc;
}

static consort_err seal_impl(consort_request *req, consort_seal_policy policy, const char *counter,
                             const void *data, size_t len, const uint8_t **blob, size_t *blob_len)
{
    consort_tx *tx;
    CS_TRY(usable(req, "consort_seal", &tx));
    CS_ENSURE(blob != NULL && blob_len != NULL && (data != NULL || len == 0),
              CONSORT_E_INVALID_ARGUMENT, "consort_seal: NULL argument");
    CS_ENSURE(policy == CONSORT_SEAL_CODE || policy == CONSORT_SEAL_LINEAGE,
              CONSORT_E_INVALID_ARGUMENT, "consort_seal: unknown policy %d", (int)policy);
    CS_ENSURE(len <= CONSORT_SEAL_MAX, CONSORT_E_TOO_LARGE, "consort_seal: %zu bytes, at most %zu",
              len, CONSORT_SEAL_MAX);
    if (counter != NULL)
        CS_TRY(check_name(counter, "consort_seal"));
    cs_buf out;
    cs_buf_init(&out, CONSORT_SEAL_MAX + 4096);
    consort_err rc =
        tx != NULL
            ? cs_app_svcseal_seal(req->svcseal, tx, policy, counter, CS_SLICE(data, len), &out)
            : req->sealer->seal(req->sealer->ctx, policy, counter, CS_SLICE(data, len), &out);
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&out);
        return rc;
    }
    return give(req, &out, blob, blob_len);
}

static consort_err unseal_impl(consort_request *req, const void *blob, size_t blob_len,
                               const uint8_t **data, size_t *len)
{
    consort_tx *tx;
    CS_TRY(usable(req, "consort_unseal", &tx));
    CS_ENSURE(blob != NULL && data != NULL && len != NULL, CONSORT_E_INVALID_ARGUMENT,
              "consort_unseal: NULL argument");
    CS_ENSURE(blob_len <= CONSORT_SEAL_MAX + 4096, CONSORT_E_TOO_LARGE,
              "consort_unseal: a blob of %zu bytes is larger than any consort_seal makes",
              blob_len);
    cs_buf out;
    cs_buf_init_secret(&out, CONSORT_SEAL_MAX);
    consort_err rc = tx != NULL
                         ? cs_app_svcseal_unseal(req->svcseal, tx, CS_SLICE(blob, blob_len), &out)
                         : req->sealer->unseal(req->sealer->ctx, CS_SLICE(blob, blob_len), &out);
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&out);
        return rc;
    }
    return give(req, &out, data, len);
}

static consort_err counter_read_impl(consort_request *req, const char *name, uint64_t *value)
{
    consort_tx *tx;
    CS_TRY(usable(req, "consort_counter_read", &tx));
    CS_TRY(check_name(name, "consort_counter_read"));
    CS_ENSURE(value != NULL, CONSORT_E_INVALID_ARGUMENT, "consort_counter_read: NULL value");
    return tx != NULL ? cs_app_counter_get(tx, name, value)
                      : req->sealer->counter_read(req->sealer->ctx, name, value);
}

static consort_err counter_increment_impl(consort_request *req, const char *name, uint64_t *value)
{
    consort_tx *tx;
    CS_TRY(usable(req, "consort_counter_increment", &tx));
    CS_TRY(check_name(name, "consort_counter_increment"));
    CS_ENSURE(value != NULL, CONSORT_E_INVALID_ARGUMENT, "consort_counter_increment: NULL value");
    return tx != NULL ? cs_app_counter_bump(tx, name, value)
                      : req->sealer->counter_increment(req->sealer->ctx, name, value);
}

/* ---- the ABI: every failure supersedes an earlier consort_fail (app.h) ---- */

CONSORT_EXPORT consort_err consort_seal(consort_request *req, consort_seal_policy policy,
                                        const char *counter, const void *data, size_t len,
                                        const uint8_t **blob, size_t *blob_len)
{
    return cs_app_abi_result(seal_impl(req, policy, counter, data, len, blob, blob_len));
}

CONSORT_EXPORT consort_err consort_unseal(consort_request *req, const void *blob, size_t blob_len,
                                          const uint8_t **data, size_t *len)
{
    return cs_app_abi_result(unseal_impl(req, blob, blob_len, data, len));
}

CONSORT_EXPORT consort_err consort_counter_read(consort_request *req, const char *name,
                                                uint64_t *value)
{
    return cs_app_abi_result(counter_read_impl(req, name, value));
}

CONSORT_EXPORT consort_err consort_counter_increment(consort_request *req, const char *name,
                                                     uint64_t *value)
{
    return cs_app_abi_result(counter_increment_impl(req, name, value));
}
