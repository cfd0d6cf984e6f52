/*
 * The chaos harness's application (tests/chaos/run_chaos.py): registers on a
 * few keys, with a read-modify-write (compare-and-set) that the logging
 * sample does not offer. Every endpoint requires a registered user.
 *
 *   GET  /app/chaos/reg?k=K                     -> 200 {"v": V}, 404 if never written
 *   POST /app/chaos/reg  {"k": K, "v": V}       -> 200 {}: the register becomes V
 *   POST /app/chaos/cas  {"k": K, "old": O, "new": N}
 *        -> 200 {} if the register held O (it becomes N), in one transaction;
 *           409 CasMismatch (nothing written) if it held something else or nothing
 *
 * K and V are strings of 1 to 256 bytes. Registers live in the private map
 * "chaos". A read-write transaction that re-runs after a conflict re-reads the
 * register, so the compare and the set are atomic.
 */
#include <consort/app.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

CONSORT_APP_DECLARE();

#define MAP     "chaos"
#define STR_MAX 256

static consort_err bad(consort_response *resp, const char *what)
{
    return consort_response_error(resp, 400, "InvalidInput", "%s", what);
}

/* The string member `name` of `doc`, 1 to STR_MAX bytes: 1 if it is one. */
static int get_str(json_t *doc, const char *name, const char **s, size_t *len)
{
    json_t *v = json_object_get(doc, name);
    if (!json_is_string(v))
        return 0;
    *s = json_string_value(v);
    *len = json_string_length(v);
    return *len >= 1 && *len <= STR_MAX;
}

static consort_err ok_empty(consort_response *resp)
{
    consort_response_set_status(resp, 200);
    return consort_response_set_body(resp, "{}", 2, "application/json");
}

static json_t *load_body(consort_request *req)
{
    size_t len;
    const uint8_t *body = consort_request_body(req, &len);
    json_t *doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    if (doc != NULL && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

static consort_err reg_get(consort_request *req, consort_tx *tx, consort_response *resp, void *ctx)
{
    (void)ctx;
    char k[STR_MAX + 1];
    if (consort_request_query(req, "k", k, sizeof k) != CONSORT_OK || k[0] == '\0')
        return bad(resp, "query parameter ?k=<1 to 256 bytes> is required");
    const uint8_t *v;
    size_t v_len;
    consort_err rc = consort_kv_get(tx, MAP, k, strlen(k), &v, &v_len);
    if (rc == CONSORT_E_NOT_FOUND)
        return consort_fail(CONSORT_E_NOT_FOUND, "register %s was never written", k);
    if (rc != CONSORT_OK)
        return rc;
    json_t *doc = json_pack("{s:s%}", "v", (const char *)v, v_len);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return consort_fail(CONSORT_E_NOMEM, "chaos app: out of memory");
    consort_response_set_status(resp, 200);
    rc = consort_response_set_body(resp, text, strlen(text), "application/json");
    free(text);
    return rc;
}

static consort_err reg_put(consort_request *req, consort_tx *tx, consort_response *resp, void *ctx)
{
    (void)ctx;
    json_t *doc = load_body(req);
    const char *k, *v;
    size_t k_len, v_len;
    consort_err rc;
    if (doc == NULL || json_object_size(doc) != 2 || !get_str(doc, "k", &k, &k_len) ||
        !get_str(doc, "v", &v, &v_len))
        rc = bad(resp, "body must be {\"k\": <string>, \"v\": <string>}, 1 to 256 bytes each");
    else if ((rc = consort_kv_put(tx, MAP, k, k_len, v, v_len)) == CONSORT_OK)
        rc = ok_empty(resp);
    json_decref(doc);
    return rc;
}

static consort_err reg_cas(consort_request *req, consort_tx *tx, consort_response *resp, void *ctx)
{
    (void)ctx;
    json_t *doc = load_body(req);
    const char *k, *old, *new;
    size_t k_len, old_len, new_len;
    consort_err rc;
    if (doc == NULL || json_object_size(doc) != 3 || !get_str(doc, "k", &k, &k_len) ||
        !get_str(doc, "old", &old, &old_len) || !get_str(doc, "new", &new, &new_len)) {
        rc = bad(resp, "body must be {\"k\": <string>, \"old\": <string>, \"new\": <string>}, "
                       "1 to 256 bytes each");
        json_decref(doc);
        return rc;
    }
    const uint8_t *cur;
    size_t cur_len;
    rc = consort_kv_get(tx, MAP, k, k_len, &cur, &cur_len);
    if (rc == CONSORT_E_NOT_FOUND ||
        (rc == CONSORT_OK && (cur_len != old_len || memcmp(cur, old, old_len) != 0)))
        rc = consort_response_error(resp, 409, "CasMismatch",
                                    "register %s does not hold the expected value", k);
    else if (rc == CONSORT_OK &&
             (rc = consort_kv_put(tx, MAP, k, k_len, new, new_len)) == CONSORT_OK)
        rc = ok_empty(resp);
    json_decref(doc);
    return rc;
}

consort_err consort_app_init(consort_app *app)
{
    consort_err rc = consort_app_endpoint(app, "GET", "/app/chaos/reg", reg_get, CONSORT_AUTH_USER,
                                          CONSORT_READ_ONLY, NULL);
    if (rc == CONSORT_OK)
        rc = consort_app_endpoint(app, "POST", "/app/chaos/reg", reg_put, CONSORT_AUTH_USER,
                                  CONSORT_READ_WRITE, NULL);
    if (rc == CONSORT_OK)
        rc = consort_app_endpoint(app, "POST", "/app/chaos/cas", reg_cas, CONSORT_AUTH_USER,
                                  CONSORT_READ_WRITE, NULL);
    return rc;
}
