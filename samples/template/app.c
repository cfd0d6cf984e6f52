/*
 * A template consort application: copy this directory to start your own.
 *
 *   POST /app/counter?name=N   adds 1 to the counter N, answers {"value": <new value>}
 *   GET  /app/counter?name=N   answers {"value": <value>}; 404 if N was never counted
 *
 * Build it with `make` (the Makefile beside this file uses pkg-config), run
 * it in a local service with `consort sandbox --workspace /tmp/sbx --app
 * ./app.so`, and read docs/writing-an-app.md for the whole ABI
 * (include/consort/app.h is the contract).
 */
#include <consort/app.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* States the application ABI this module is built for: consortd refuses a
 * module built for another one. Exactly once, at file scope. */
CONSORT_APP_DECLARE();

/* A private map: its writes are encrypted in the ledger. A name starting
 * with "public:" would be stored in clear. */
#define COUNTERS "counters"

/* A counter's name: the query parameter "name", 1..64 bytes. Answers 400 if
 * it is missing or too long, through consort_fail (app.h "Errors"). */
static consort_err counter_name(consort_request *req, char name[65], size_t *len)
{
    consort_err rc = consort_request_query(req, "name", name, 65);
    if (rc == CONSORT_E_NOT_FOUND || (rc == CONSORT_OK && name[0] == '\0'))
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "the query parameter 'name' is required");
    if (rc != CONSORT_OK)
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "'name': at most 64 bytes, no escapes");
    *len = strlen(name);
    return CONSORT_OK;
}

/* Reads a counter: *value is 0 and *found false when it was never written.
 * Values in the store are bytes: keep 8 big-endian bytes, and copy them
 * out (a value's pointer is not aligned and is valid until the handler
 * returns). */
static consort_err counter_read(consort_tx *tx, const char *name, size_t len, uint64_t *value,
                                bool *found)
{
    const uint8_t *v;
    size_t vlen;
    consort_err rc = consort_kv_get(tx, COUNTERS, name, len, &v, &vlen);
    *value = 0;
    *found = rc == CONSORT_OK;
    if (rc == CONSORT_E_NOT_FOUND)
        return CONSORT_OK;
    if (rc != CONSORT_OK)
        return rc; /* consortd's error: answered 500 */
    if (vlen != 8)
        return consort_fail(CONSORT_E_CORRUPT, "counter '%s' holds %zu bytes, not 8", name, vlen);
    for (size_t i = 0; i < 8; i++)
        *value = (*value << 8) | v[i];
    return CONSORT_OK;
}

static consort_err answer(consort_response *resp, uint64_t value)
{
    char body[64];
    int n = snprintf(body, sizeof body, "{\"value\": %" PRIu64 "}", value);
    consort_response_set_status(resp, 200);
    return consort_response_set_body(resp, body, (size_t)n, "application/json");
}

/* GET: a read-only handler. It runs on the node that received the request. */
static consort_err get_counter(consort_request *req, consort_tx *tx, consort_response *resp,
                               void *ctx)
{
    (void)ctx; /* the endpoint's context: NULL, as registered below */
    char name[65];
    size_t len;
    consort_err rc = counter_name(req, name, &len);
    if (rc != CONSORT_OK)
        return rc;
    uint64_t value;
    bool found;
    rc = counter_read(tx, name, len, &value, &found);
    if (rc != CONSORT_OK)
        return rc;
    if (!found)
        return consort_fail(CONSORT_E_NOT_FOUND, "no counter '%s'", name); /* 404 */
    return answer(resp, value);
}

/* POST: a read-write handler. It runs on the leader, in a transaction that
 * commits if it returns CONSORT_OK with a 2xx status; the client gets the
 * answer (with x-consort-txid, for GET /app/receipt) once it is committed.
 * On a conflict it runs again from scratch: keep no side effects outside
 * the transaction. */
static consort_err add_counter(consort_request *req, consort_tx *tx, consort_response *resp,
                               void *ctx)
{
    (void)ctx; /* the endpoint's context: NULL, as registered below */
    char name[65];
    size_t len;
    consort_err rc = counter_name(req, name, &len);
    if (rc != CONSORT_OK)
        return rc;
    uint64_t value;
    bool found;
    rc = counter_read(tx, name, len, &value, &found);
    if (rc != CONSORT_OK)
        return rc;
    if (value == UINT64_MAX)
        return consort_fail(CONSORT_E_STATE, "counter '%s' is at its maximum", name); /* 409 */
    value++;
    uint8_t bytes[8];
    for (int i = 7; i >= 0; i--)
        bytes[i] = (uint8_t)(value >> (8 * (7 - i)));
    rc = consort_kv_put(tx, COUNTERS, name, len, bytes, sizeof bytes);
    if (rc != CONSORT_OK)
        return rc;
    return answer(resp, value);
}

/* The entry point: registers the endpoints. CONSORT_AUTH_USER: only clients
 * presenting a registered user certificate may call them. */
CONSORT_APP_EXPORT consort_err consort_app_init(consort_app *app)
{
    consort_err rc = consort_app_endpoint(app, "GET", "/app/counter", get_counter,
                                          CONSORT_AUTH_USER, CONSORT_READ_ONLY, NULL);
    if (rc != CONSORT_OK)
        return rc;
    return consort_app_endpoint(app, "POST", "/app/counter", add_counter, CONSORT_AUTH_USER,
                                CONSORT_READ_WRITE, NULL);
}
