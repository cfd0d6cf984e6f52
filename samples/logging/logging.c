/*
 * The logging sample: the smallest useful consort application.
 *
 *   POST /app/log/private  {"id": <uint64>, "msg": <string>}   store a private record
 *   POST /app/log/public   {"id": <uint64>, "msg": <string>}   store a public record
 *   GET  /app/log/private?id=N  ->  {"msg": ...}               404 if unknown
 *   GET  /app/log/public?id=N   ->  {"msg": ...}
 *   GET  /app/log/private/list?start=N&limit=M
 *   GET  /app/log/public/list?start=N&limit=M
 *        ->  {"records": [{"id": ..., "msg": ...}, ...], "next": K}
 *        the records with id >= N (default 0) in id order, at most M (1..100,
 *        default 20); "next" is there iff more records follow: pass it as
 *        start for the next page.
 *
 * Private records live in the map "records" (encrypted in the ledger); public
 * ones in "public:records" (in clear in the ledger, so an auditor can read
 * them). Every endpoint requires a registered user certificate.
 *
 * It shows the whole application ABI (include/consort/app.h): endpoints
 * with a context, application state released by consort_app_fini, reads
 * and writes, a paged scan, and consort_fail for "not found".
 */
#include <consort/app.h>

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

CONSORT_APP_DECLARE();

#define MAX_MSG_LEN  (64 * 1024)
#define LIST_DEFAULT 20
#define LIST_MAX     100

/* What an endpoint works on: its ctx. */
typedef struct log_kind {
    const char *map;
} log_kind;

/* The application's state, one per application (consort_app_set_state): set
 * up in consort_app_init, released in consort_app_fini. The sample needs
 * little; a real application keeps here what it prepares at start-up. */
typedef struct log_app {
    log_kind private_kind, public_kind;
} log_app;

/* Records are keyed by the id as 8 big-endian bytes, so key order is id order. */
static void id_key(uint64_t id, uint8_t key[8])
{
    for (int i = 7; i >= 0; i--) {
        key[i] = (uint8_t)id;
        id >>= 8;
    }
}

static uint64_t key_id(const uint8_t key[8])
{
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = (id << 8) | key[i];
    return id;
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
        return consort_response_error(resp, 400, "InvalidInput", "body is not JSON: %s", err.text);
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

/* The unsigned decimal query parameter `name`: 1 if present and valid, 0 if
 * absent (*out untouched), -1 if malformed. */
static int query_u64(consort_request *req, const char *name, uint64_t *out)
{
    char text[32];
    consort_err rc = consort_request_query(req, name, text, sizeof text);
    if (rc == CONSORT_E_NOT_FOUND)
        return 0;
    if (rc != CONSORT_OK)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0)
        return -1;
    *out = (uint64_t)v;
    return 1;
}

/* Sends `doc` (taking it) as a 200 JSON body. */
static consort_err send_json(consort_response *resp, json_t *doc)
{
    char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL)
        return consort_fail(CONSORT_E_NOMEM, "building the response: out of memory");
    consort_response_set_status(resp, 200);
    consort_err rc = consort_response_set_body(resp, body, strlen(body), "application/json");
    free(body);
    return rc;
}

static consort_err record_post(consort_request *req, consort_tx *tx, consort_response *resp,
                               void *ctx)
{
    const log_kind *kind = ctx;
    uint64_t id;
    const char *msg;
    size_t msg_len;
    json_t *doc;
    int ok;
    consort_err rc = parse_record(req, resp, &id, &msg, &msg_len, &doc, &ok);
    if (rc == CONSORT_OK && ok) {
        uint8_t key[8];
        id_key(id, key);
        rc = consort_kv_put(tx, kind->map, key, sizeof key, msg, msg_len);
        if (rc == CONSORT_OK) {
            consort_response_set_status(resp, 200);
            rc = consort_response_set_body(resp, "{}", 2, "application/json");
        }
    }
    json_decref(doc);
    return rc;
}

static consort_err record_get(consort_request *req, consort_tx *tx, consort_response *resp,
                              void *ctx)
{
    const log_kind *kind = ctx;
    uint64_t id;
    int have = query_u64(req, "id", &id);
    if (have == 0)
        return bad_request(resp, "query parameter ?id=<unsigned integer> is required");
    if (have < 0)
        return bad_request(resp, "id must be an unsigned 64-bit decimal integer");
    uint8_t key[8];
    id_key(id, key);
    const uint8_t *value;
    size_t value_len;
    consort_err rc = consort_kv_get(tx, kind->map, key, sizeof key, &value, &value_len);
    if (rc == CONSORT_E_NOT_FOUND) /* a 404 {"error": {"code": "NOT_FOUND", ...}} */
        return consort_fail(CONSORT_E_NOT_FOUND, "no record with id %" PRIu64, id);
    if (rc != CONSORT_OK)
        return rc;
    return send_json(resp, json_pack("{s:s%}", "msg", (const char *)value, value_len));
}

/* ---- listing: a paged scan ---- */

typedef struct list_page {
    json_t *records;
    size_t want; /* records on this page */
    int has_next;
    uint64_t next;
    int failed;
} list_page;

static bool list_visit(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len)
{
    list_page *p = ctx;
    if (key_len != 8)
        return true; /* not a record of this sample */
    if (json_array_size(p->records) == p->want) {
        /* one more than the page holds: where the next page starts */
        p->has_next = 1;
        p->next = key_id(key);
        return false;
    }
    json_t *rec = json_pack("{s:I, s:s%}", "id", (json_int_t)key_id(key), "msg",
                            (const char *)value, value_len);
    if (rec == NULL || json_array_append_new(p->records, rec) != 0) {
        p->failed = 1;
        return false;
    }
    return true;
}

static consort_err record_list(consort_request *req, consort_tx *tx, consort_response *resp,
                               void *ctx)
{
    const log_kind *kind = ctx;
    uint64_t start = 0, limit = LIST_DEFAULT;
    if (query_u64(req, "start", &start) < 0)
        return bad_request(resp, "start must be an unsigned 64-bit decimal integer");
    if (query_u64(req, "limit", &limit) < 0 || limit < 1 || limit > LIST_MAX)
        return consort_response_error(resp, 400, "InvalidInput",
                                      "limit must be an integer from 1 to %d", LIST_MAX);
    uint8_t key[8];
    id_key(start, key);
    list_page page = {.records = json_array(), .want = (size_t)limit};
    if (page.records == NULL)
        return consort_fail(CONSORT_E_NOMEM, "listing records: out of memory");
    /* start is inclusive: ask for one record more than the page shows, and
     * that one's id is where the next page starts */
    consort_err rc =
        consort_kv_scan(tx, kind->map, key, sizeof key, (size_t)limit + 1, list_visit, &page);
    if (rc == CONSORT_OK && page.failed)
        rc = consort_fail(CONSORT_E_NOMEM, "listing records: out of memory");
    if (rc != CONSORT_OK) {
        json_decref(page.records);
        return rc;
    }
    json_t *doc = json_pack("{s:o}", "records", page.records);
    if (doc != NULL && page.has_next &&
        json_object_set_new(doc, "next", json_integer((json_int_t)page.next)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return send_json(resp, doc);
}

/* ---- the application ---- */

consort_err consort_app_init(consort_app *app)
{
    log_app *state = calloc(1, sizeof *state);
    if (state == NULL)
        return consort_fail(CONSORT_E_NOMEM, "logging sample: out of memory");
    state->private_kind.map = "records";
    state->public_kind.map = "public:records";
    consort_app_set_state(app, state);
    const struct {
        const char *method;
        const char *path;
        consort_handler handler;
        consort_mode mode;
        log_kind *kind;
    } endpoints[] = {
        {"POST", "/app/log/private", record_post, CONSORT_READ_WRITE, &state->private_kind},
        {"POST", "/app/log/public", record_post, CONSORT_READ_WRITE, &state->public_kind},
        {"GET", "/app/log/private", record_get, CONSORT_READ_ONLY, &state->private_kind},
        {"GET", "/app/log/public", record_get, CONSORT_READ_ONLY, &state->public_kind},
        {"GET", "/app/log/private/list", record_list, CONSORT_READ_ONLY, &state->private_kind},
        {"GET", "/app/log/public/list", record_list, CONSORT_READ_ONLY, &state->public_kind},
    };
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        consort_err rc =
            consort_app_endpoint(app, endpoints[i].method, endpoints[i].path, endpoints[i].handler,
                                 CONSORT_AUTH_USER, endpoints[i].mode, endpoints[i].kind);
        if (rc != CONSORT_OK) {
            free(state); /* consortd calls no fini after a failed init */
            return rc;
        }
    }
    return CONSORT_OK;
}

void consort_app_fini(consort_app *app)
{
    free(consort_app_state(app));
}
