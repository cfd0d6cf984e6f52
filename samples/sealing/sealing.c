/*
 * The sealing sample: sealed blobs and monotonic counters (docs/migration.md,
 * include/consort/app.h "sealed state and monotonic counters"), built twice:
 *
 *   sealing.so          the node scope: state a node keeps for itself,
 *                       outside the replicated store
 *   sealing_service.so  the service scope (built with SEALING_SERVICE):
 *                       CONSORT_APP_SEALING(CONSORT_SEALING_SERVICE), the
 *                       counters in the service's store, blobs that open on
 *                       every node of the service
 *
 *   POST /app/sealing/seal?policy=code|lineage[&counter=NAME]   body: bytes
 *        -> the sealed blob (application/octet-stream); with a counter,
 *           the counter is incremented and the blob bound to its new value
 *   POST /app/sealing/unseal                                    body: a blob
 *        -> the bytes it seals; 409 ROLLBACK if its counter moved on, 403
 *           POLICY for code that may not open it, 400 BAD_TAG if it was
 *           sealed elsewhere or altered
 *   POST /app/sealing/counter?name=NAME[&count=K]
 *        -> {"name": ..., "value": n}: NAME incremented; with K (1..256),
 *           the K counters NAME/0 .. NAME/K-1 incremented once each (one
 *           request, one transaction in the service scope) and n the
 *           largest of their new values
 *   GET  /app/sealing/counter?name=NAME   -> {"name": ..., "value": n}
 *
 * Node scope: the endpoints are read-only for the replicated store (they
 * write no map), so every node answers for itself: the blob opens on the
 * node that sealed it (and, after `consort migrate`, on the node's new
 * machine), nowhere else. Service scope: the POST endpoints are read-write,
 * run on the leader, and answer once their transaction committed. Every
 * endpoint requires a registered user certificate.
 */
#include <consort/app.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CONSORT_APP_DECLARE();

#ifdef SEALING_SERVICE
CONSORT_APP_SEALING(CONSORT_SEALING_SERVICE);
#define POST_MODE CONSORT_READ_WRITE
#else
#define POST_MODE CONSORT_READ_ONLY
#endif

/* The most counters one request increments. */
#define COUNT_MAX 256

/* A query parameter into buf (NUL-terminated); false if absent. */
static bool query(consort_request *req, const char *name, char *buf, size_t cap, consort_err *rc)
{
    *rc = consort_request_query(req, name, buf, cap);
    if (*rc == CONSORT_E_NOT_FOUND) {
        *rc = CONSORT_OK;
        return false;
    }
    return *rc == CONSORT_OK;
}

/* A refusal of the sealed store is the client's answer (its status from the
 * code: 409 ROLLBACK, 403 POLICY, 400 BAD_TAG, ...), not a failure of this
 * application: pass it on with consort_fail. */
static consort_err answer_failure(consort_err rc)
{
    return consort_fail(rc, "%s", consort_errmsg());
}

static consort_err seal(consort_request *req, consort_tx *tx, consort_response *resp, void *ctx)
{
    (void)tx;
    (void)ctx;
    char policy_name[16], counter[CONSORT_COUNTER_NAME_MAX + 1];
    consort_err rc;
    if (!query(req, "policy", policy_name, sizeof policy_name, &rc)) {
        if (rc != CONSORT_OK)
            return consort_fail(CONSORT_E_INVALID_ARGUMENT, "policy: code or lineage");
        strcpy(policy_name, "lineage"); /* the default */
    }
    consort_seal_policy policy;
    if (strcmp(policy_name, "code") == 0)
        policy = CONSORT_SEAL_CODE;
    else if (strcmp(policy_name, "lineage") == 0)
        policy = CONSORT_SEAL_LINEAGE;
    else
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "policy: code or lineage, not %s",
                            policy_name);
    bool has_counter = query(req, "counter", counter, sizeof counter, &rc);
    if (rc != CONSORT_OK)
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "counter: 1..%d characters",
                            CONSORT_COUNTER_NAME_MAX);
    size_t len;
    const uint8_t *body = consort_request_body(req, &len);
    const uint8_t *blob;
    size_t blob_len;
    rc = consort_seal(req, policy, has_counter ? counter : NULL, body, len, &blob, &blob_len);
    if (rc != CONSORT_OK)
        return answer_failure(rc);
    consort_response_set_status(resp, 200);
    return consort_response_set_body(resp, blob, blob_len, "application/octet-stream");
}

static consort_err unseal(consort_request *req, consort_tx *tx, consort_response *resp, void *ctx)
{
    (void)tx;
    (void)ctx;
    size_t len, plain_len;
    const uint8_t *body = consort_request_body(req, &len);
    const uint8_t *plain;
    consort_err rc = consort_unseal(req, body, len, &plain, &plain_len);
    if (rc != CONSORT_OK)
        return answer_failure(rc);
    consort_response_set_status(resp, 200);
    return consort_response_set_body(resp, plain, plain_len, "application/octet-stream");
}

/* Increments the counters NAME/0 .. NAME/count-1; *value: the largest. */
static consort_err increment_many(consort_request *req, const char *name, long count,
                                  uint64_t *value)
{
    *value = 0;
    for (long i = 0; i < count; i++) {
        char each[CONSORT_COUNTER_NAME_MAX + 1];
        int n = snprintf(each, sizeof each, "%s/%ld", name, i);
        if (n < 0 || (size_t)n >= sizeof each)
            return consort_fail(CONSORT_E_INVALID_ARGUMENT, "name: too long for count=%ld", count);
        uint64_t v;
        consort_err rc = consort_counter_increment(req, each, &v);
        if (rc != CONSORT_OK)
            return rc;
        if (v > *value)
            *value = v;
    }
    return CONSORT_OK;
}

static consort_err counter(consort_request *req, consort_tx *tx, consort_response *resp, void *ctx)
{
    (void)tx;
    bool increment = ctx != NULL;
    char name[CONSORT_COUNTER_NAME_MAX + 1], count_text[8];
    consort_err rc;
    if (!query(req, "name", name, sizeof name, &rc))
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "name: the counter, 1..%d characters",
                            CONSORT_COUNTER_NAME_MAX);
    long count = 0;
    if (query(req, "count", count_text, sizeof count_text, &rc)) {
        char *end;
        count = strtol(count_text, &end, 10);
        if (!increment || *end != '\0' || count < 1 || count > COUNT_MAX)
            return consort_fail(CONSORT_E_INVALID_ARGUMENT, "count: 1..%d, and only to increment",
                                COUNT_MAX);
    } else if (rc != CONSORT_OK) {
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "count: 1..%d", COUNT_MAX);
    }
    uint64_t value;
    if (count > 0)
        rc = increment_many(req, name, count, &value);
    else
        rc = increment ? consort_counter_increment(req, name, &value)
                       : consort_counter_read(req, name, &value);
    if (rc != CONSORT_OK)
        return answer_failure(rc);
    /* the name is 1..64 printable characters without spaces; escape what JSON needs */
    char out[2 * CONSORT_COUNTER_NAME_MAX + 64];
    size_t n = 0;
    n += (size_t)snprintf(out, sizeof out, "{\"name\":\"");
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            out[n++] = '\\';
        out[n++] = *p;
    }
    n += (size_t)snprintf(out + n, sizeof out - n, "\",\"value\":%" PRIu64 "}", value);
    consort_response_set_status(resp, 200);
    return consort_response_set_body(resp, out, n, "application/json");
}

consort_err consort_app_init(consort_app *app)
{
    static int increment = 1;
    const struct {
        const char *method;
        const char *path;
        consort_handler handler;
        consort_mode mode;
        void *ctx;
    } endpoints[] = {
        {"POST", "/app/sealing/seal", seal, POST_MODE, NULL},
        {"POST", "/app/sealing/unseal", unseal, POST_MODE, NULL},
        {"POST", "/app/sealing/counter", counter, POST_MODE, &increment},
        {"GET", "/app/sealing/counter", counter, CONSORT_READ_ONLY, NULL},
    };
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        consort_err rc =
            consort_app_endpoint(app, endpoints[i].method, endpoints[i].path, endpoints[i].handler,
                                 CONSORT_AUTH_USER, endpoints[i].mode, endpoints[i].ctx);
        if (rc != CONSORT_OK)
            return rc;
    }
    return CONSORT_OK;
}

void consort_app_fini(consort_app *app)
{
    (void)app;
}
