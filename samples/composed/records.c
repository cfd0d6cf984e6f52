/*
 * The composed sample's front-end (docs/e2e.md "The composed sample"): a
 * records API that keeps no records itself but has the storage service
 * (storage.c) hold them, and keeps its own audit trail of who stored what.
 *
 *   POST /app/records       {"id": <uint64>, "record": <string>}  ->  {"id": N, "stored_by":
 * "storage"} GET  /app/records?id=N  ->  what storage answers for the record GET
 * /app/records/export?id=N  ->  tries to send the record to "analytics", a service this code does
 * not declare: refused (403), which is the point of declaring egress
 *
 * It declares one egress service, "storage" (CONSORT_APP_EGRESS): the
 * members bind that name to the storage service's address and certificate
 * (set_egress_service), and since the declaration is part of the code id,
 * "this code sends records only to storage" is attested with it. With
 * x-consort-attest, an answer's handling statement nests storage's
 * statement for the same request.
 */
#include <consort/app.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

CONSORT_APP_DECLARE();
CONSORT_APP_EGRESS({"storage", NULL});

/* Storage's answer relayed as this service's (an error becomes 502). */
static consort_err relay(consort_response *rs, const consort_call_response *r)
{
    if (r->status >= 500)
        return consort_response_error(rs, 502, "BadGateway", "storage answered %d", r->status);
    consort_response_set_status(rs, r->status);
    return consort_response_set_body(rs, r->body, r->body_len, NULL);
}

static consort_err put(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)ctx;
    size_t len;
    const uint8_t *body = consort_request_body(rq, &len);
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)body, len, 0, &jerr);
    json_t *id = json_object_get(doc, "id");
    bool ok = json_is_integer(id) && json_integer_value(id) >= 0 &&
              json_is_string(json_object_get(doc, "record"));
    uint64_t n = ok ? (uint64_t)json_integer_value(id) : 0;
    json_decref(doc);
    if (!ok)
        return consort_fail(CONSORT_E_INVALID_ARGUMENT,
                            "expected {\"id\": <uint64>, \"record\": <string>}");
    /* the first run records the call and ends here; the next one gets the answer */
    const consort_call_response *r;
    consort_err rc = consort_call(rq, "storage", "POST", "/app/store", body, len, &r);
    if (rc != CONSORT_OK)
        return rc;
    if (r->status != 200)
        return relay(rs, r);
    /* the audit trail: which caller stored which id (private map) */
    const char *caller = consort_request_caller(rq);
    uint8_t key[8];
    for (int i = 7, v = 0; i >= 0; i--, v++)
        key[i] = (uint8_t)(n >> (8 * v));
    rc = consort_kv_put(tx, "audit", key, sizeof key, caller != NULL ? caller : "",
                        caller != NULL ? strlen(caller) : 0);
    if (rc != CONSORT_OK)
        return rc;
    char out[96];
    int w = snprintf(out, sizeof out, "{\"id\": %" PRIu64 ", \"stored_by\": \"storage\"}", n);
    return consort_response_set_body(rs, out, (size_t)w, NULL);
}

static consort_err get(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)tx;
    (void)ctx;
    char id[24], path[64];
    if (consort_request_query(rq, "id", id, sizeof id) != CONSORT_OK)
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "expected ?id=<uint64>");
    for (const char *p = id; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return consort_fail(CONSORT_E_INVALID_ARGUMENT, "id '%s' is not a number", id);
    snprintf(path, sizeof path, "/app/fetch?id=%s", id);
    const consort_call_response *r;
    consort_err rc = consort_call(rq, "storage", "GET", path, NULL, 0, &r);
    if (rc != CONSORT_OK)
        return rc;
    return relay(rs, r);
}

static consort_err export_record(consort_request *rq, consort_tx *tx, consort_response *rs,
                                 void *ctx)
{
    (void)tx;
    (void)rs;
    (void)ctx;
    const consort_call_response *r;
    return consort_call(rq, "analytics", "POST", "/app/ingest", "{}", 2, &r);
}

CONSORT_APP_EXPORT consort_err consort_app_init(consort_app *app)
{
    consort_err rc = consort_app_endpoint(app, "POST", "/app/records", put, CONSORT_AUTH_USER,
                                          CONSORT_READ_WRITE, NULL);
    if (rc == CONSORT_OK)
        rc = consort_app_endpoint(app, "GET", "/app/records", get, CONSORT_AUTH_USER,
                                  CONSORT_READ_ONLY, NULL);
    if (rc == CONSORT_OK)
        rc = consort_app_endpoint(app, "GET", "/app/records/export", export_record,
                                  CONSORT_AUTH_USER, CONSORT_READ_ONLY, NULL);
    return rc;
}
