/*
 * The logging sample: the smallest useful consort application.
 *
 *   POST /app/log/private  {"id": <uint64>, "msg": <string>}   store a private record
 *   POST /app/log/public   {"id": <uint64>, "msg": <string>}   store a public record
 *   GET  /app/log/private?id=N  ->  {"msg": ...}               404 if unknown
 *   GET  /app/log/public?id=N   ->  {"msg": ...}
 *
 * Private records live in the map "records" (encrypted in the ledger); public
 * ones in "public:records" (in clear in the ledger, so an auditor can read
 * them). Every endpoint requires a registered user certificate.
 */
#include <consort/app.h>

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

CONSORT_APP_DECLARE();

#define MAX_MSG_LEN (64 * 1024)

static const char PRIVATE_MAP[] = "records";
static const char PUBLIC_MAP[] = "public:records";

/* Records are keyed by the id as 8 big-endian bytes. */
static void id_key(uint64_t id, uint8_t key[8])
{
    for (int i = 7; i >= 0; i--) {
        key[i] = (uint8_t)id;
        id >>= 8;
    }
}

static consort_err bad_request(consort_response *resp, const char *what)
{
    return consort_response_error(resp, 400, "InvalidInput", "%s", what);
}

/* Parses {"id": <uint64>, "msg": <string>} with nothing else in it. */
static consort_err parse_record(consort_request *req, consort_response *resp, uint64_t *id,
                                const char **msg, size_t *msg_len, json_t **doc, int *ok)
{
    size_t len;
    const uint8_t *body = consort_request_body(req, &len);
    json_error_t err;
    *ok = 0;
    *doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err);
    if (*doc == NULL)
        return consort_response_error(resp, 400, "InvalidInput", "body is not JSON: %s",
                                      err.text);
    json_t *jid = json_object_get(*doc, "id");
    json_t *jmsg = json_object_get(*doc, "msg");
    if (!json_is_object(*doc) || json_object_size(*doc) != 2 || jid == NULL || jmsg == NULL)
        return bad_request(resp, "body must be {\"id\": <unsigned integer>, \"msg\": <string>}");
    if (!json_is_integer(jid) || json_integer_value(jid) < 0)
        return bad_request(resp, "\"id\" must be an unsigned integer");
    if (!json_is_string(jmsg))
        return bad_request(resp, "\"msg\" must be a string");
    *msg_len = json_string_length(jmsg);
    if (*msg_len > MAX_MSG_LEN)
        return consort_response_error(resp, 400, "InvalidInput",
                                      "\"msg\" is %zu bytes, at most %d allowed", *msg_len,
                                      MAX_MSG_LEN);
    *id = (uint64_t)json_integer_value(jid);
    *msg = json_string_value(jmsg);
    *ok = 1;
    return CONSORT_OK;
}

static consort_err record_post(consort_request *req, consort_tx *tx, consort_response *resp,
                               const char *map)
{
    uint64_t id;
    const char *msg;
    size_t msg_len;
    json_t *doc;
    int ok;
    consort_err rc = parse_record(req, resp, &id, &msg, &msg_len, &doc, &ok);
    if (rc == CONSORT_OK && ok) {
        uint8_t key[8];
        id_key(id, key);
        rc = consort_kv_put(tx, map, key, sizeof key, msg, msg_len);
        if (rc == CONSORT_OK) {
            consort_response_set_status(resp, 200);
            rc = consort_response_set_body(resp, "{}", 2, "application/json");
        }
    }
    json_decref(doc);
    return rc;
}

static consort_err record_get(consort_request *req, consort_tx *tx, consort_response *resp,
                              const char *map)
{
    char text[32];
    consort_err rc = consort_request_query(req, "id", text, sizeof text);
    if (rc != CONSORT_OK)
        return bad_request(resp, "query parameter ?id=<unsigned integer> is required");
    char *end;
    errno = 0;
    unsigned long long id = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0)
        return bad_request(resp, "id must be an unsigned 64-bit decimal integer");
    uint8_t key[8];
    id_key((uint64_t)id, key);
    const uint8_t *value;
    size_t value_len;
    rc = consort_kv_get(tx, map, key, sizeof key, &value, &value_len);
    if (rc == CONSORT_E_NOT_FOUND)
        return consort_response_error(resp, 404, "ResourceNotFound", "no record with id %llu",
                                      id);
    if (rc != CONSORT_OK)
        return rc;
    json_t *out = json_pack("{s:s%}", "msg", (const char *)value, value_len);
    char *body = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    if (body == NULL)
        return CONSORT_E_NOMEM;
    consort_response_set_status(resp, 200);
    rc = consort_response_set_body(resp, body, strlen(body), "application/json");
    free(body);
    return rc;
}

static consort_err post_private(consort_request *rq, consort_tx *tx, consort_response *rs,
                                void *ctx)
{
    (void)ctx;
    return record_post(rq, tx, rs, PRIVATE_MAP);
}

static consort_err post_public(consort_request *rq, consort_tx *tx, consort_response *rs,
                               void *ctx)
{
    (void)ctx;
    return record_post(rq, tx, rs, PUBLIC_MAP);
}

static consort_err get_private(consort_request *rq, consort_tx *tx, consort_response *rs,
                               void *ctx)
{
    (void)ctx;
    return record_get(rq, tx, rs, PRIVATE_MAP);
}

static consort_err get_public(consort_request *rq, consort_tx *tx, consort_response *rs,
                              void *ctx)
{
    (void)ctx;
    return record_get(rq, tx, rs, PUBLIC_MAP);
}

consort_err consort_app_init(consort_app *app)
{
    static const struct {
        const char *method;
        const char *path;
        consort_handler handler;
        consort_mode mode;
    } endpoints[] = {
        {"POST", "/app/log/private", post_private, CONSORT_READ_WRITE},
        {"POST", "/app/log/public", post_public, CONSORT_READ_WRITE},
        {"GET", "/app/log/private", get_private, CONSORT_READ_ONLY},
        {"GET", "/app/log/public", get_public, CONSORT_READ_ONLY},
    };
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        consort_err rc = consort_app_endpoint(app, endpoints[i].method, endpoints[i].path,
                                              endpoints[i].handler, CONSORT_AUTH_USER,
                                              endpoints[i].mode, NULL);
        if (rc != CONSORT_OK)
            return rc;
    }
    return CONSORT_OK;
}
