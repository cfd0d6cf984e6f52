/*
 * The composed sample's back-end (docs/e2e.md "The composed sample"): a
 * storage service that holds records for the front-end (records.c).
 *
 *   POST /app/store        {"id": <uint64>, "record": <string>}  ->  {"stored": id}
 *   GET  /app/fetch?id=N   ->  {"id": N, "record": ...}            404 if unknown
 *
 * Records live in the private map "records" (encrypted in the ledger).
 * Both endpoints require a registered user: the front-end calls with its
 * service identity, which this service's members register as a user
 * (set_user with the front-end's service certificate). It calls nothing.
 */
#include <consort/app.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CONSORT_APP_DECLARE();

#define MAX_RECORD_LEN (64 * 1024)

static void id_key(uint64_t id, uint8_t key[8])
{
    for (int i = 7; i >= 0; i--) {
        key[i] = (uint8_t)id;
        id >>= 8;
    }
}

static consort_err store(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)ctx;
    size_t len;
    const uint8_t *body = consort_request_body(rq, &len);
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)body, len, 0, &jerr);
    json_t *id = json_object_get(doc, "id");
    const char *record = json_string_value(json_object_get(doc, "record"));
    if (!json_is_integer(id) || json_integer_value(id) < 0 || record == NULL ||
        strlen(record) > MAX_RECORD_LEN) {
        json_decref(doc);
        return consort_fail(CONSORT_E_INVALID_ARGUMENT,
                            "expected {\"id\": <uint64>, \"record\": <string of at most %d "
                            "bytes>}",
                            MAX_RECORD_LEN);
    }
    uint64_t n = (uint64_t)json_integer_value(id);
    uint8_t key[8];
    id_key(n, key);
    consort_err rc = consort_kv_put(tx, "records", key, sizeof key, record, strlen(record));
    json_decref(doc);
    if (rc != CONSORT_OK)
        return rc;
    char out[64];
    int w = snprintf(out, sizeof out, "{\"stored\": %" PRIu64 "}", n);
    return consort_response_set_body(rs, out, (size_t)w, NULL);
}

static consort_err fetch(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)ctx;
    char text[24];
    if (consort_request_query(rq, "id", text, sizeof text) != CONSORT_OK)
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "expected ?id=<uint64>");
    char *end;
    uint64_t n = strtoull(text, &end, 10);
    if (*end != '\0' || end == text)
        return consort_fail(CONSORT_E_INVALID_ARGUMENT, "id '%s' is not a number", text);
    uint8_t key[8];
    id_key(n, key);
    const uint8_t *v;
    size_t vlen;
    consort_err rc = consort_kv_get(tx, "records", key, sizeof key, &v, &vlen);
    if (rc == CONSORT_E_NOT_FOUND)
        return consort_fail(CONSORT_E_NOT_FOUND, "no record %" PRIu64, n);
    if (rc != CONSORT_OK)
        return rc;
    json_t *doc = json_pack("{s:I, s:s%}", "id", (json_int_t)n, "record", (const char *)v, vlen);
    char *out = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (out == NULL)
        return consort_fail(CONSORT_E_NOMEM, "out of memory");
    rc = consort_response_set_body(rs, out, strlen(out), NULL);
    free(out);
    return rc;
}

CONSORT_APP_EXPORT consort_err consort_app_init(consort_app *app)
{
    consort_err rc = consort_app_endpoint(app, "POST", "/app/store", store, CONSORT_AUTH_USER,
                                          CONSORT_READ_WRITE, NULL);
    if (rc != CONSORT_OK)
        return rc;
    return consort_app_endpoint(app, "GET", "/app/fetch", fetch, CONSORT_AUTH_USER,
                                CONSORT_READ_ONLY, NULL);
}
