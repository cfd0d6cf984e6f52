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

/* An unsigned decimal integer below 2^64, digits only (the text of a JSON
 * number, or a query parameter): 1 if `text` is one. */
static int parse_u64(const char *text, size_t len, uint64_t *out)
{
    if (len == 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(text[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0; /* 2^64 or more */
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n'; /* RFC 8259 §2 */
}

/* Index just past the JSON string starting at body[i] (a '"'), or 0. */
static size_t skip_string(const char *body, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (body[i] == '\\')
            i++;
        else if (body[i] == '"')
            return i + 1;
    }
    return 0;
}

/*
 * jansson keeps integers as json_int_t (signed 64 bits), so an id from 2^63
 * on is read from the body's text: the number that the top-level member
 * "id" has (its name may be escaped; jansson decodes it). 1 with its text
 * in *num, *num_len; 0 if there is no such number (the body is then
 * checked, and refused, by the caller).
 */
static int id_text(const char *body, size_t len, const char **num, size_t *num_len)
{
    size_t i = 0;
    while (i < len && is_ws(body[i]))
        i++;
    if (i == len || body[i++] != '{')
        return 0;
    for (;;) {
        while (i < len && (is_ws(body[i]) || body[i] == ','))
            i++;
        size_t end = i < len && body[i] == '"' ? skip_string(body, len, i) : 0;
        if (end == 0)
            return 0;
        json_t *name = json_loadb(body + i, end - i, JSON_DECODE_ANY, NULL);
        int is_id = json_is_string(name) && strcmp(json_string_value(name), "id") == 0 &&
                    json_string_length(name) == 2;
        json_decref(name);
        for (i = end; i < len && is_ws(body[i]); i++)
            ;
        if (i == len || body[i++] != ':')
            return 0;
        while (i < len && is_ws(body[i]))
            i++;
        size_t start = i;
        if (i < len && body[i] == '"') {
            i = skip_string(body, len, i);
            if (i == 0)
                return 0;
        } else {
            while (i < len && body[i] != '\0' && strchr("+-.0123456789eE", body[i]) != NULL)
                i++;
            if (i == start)
                return 0; /* an object, array or literal: not what a record holds */
        }
        if (is_id && body[start] != '"') {
            *num = body + start;
            *num_len = i - start;
            return 1;
        }
    }
}

/* Parses {"id": <uint64>, "msg": <string>} with nothing else in it. */
static consort_err parse_record(consort_request *req, consort_response *resp, uint64_t *id,
                                const char **msg, size_t *msg_len, json_t **doc, int *ok)
{
    size_t len;
    const uint8_t *body = consort_request_body(req, &len);
    json_error_t err;
    *ok = 0;
    /* integers as reals: an id above 2^63 - 1 is no parse error (id_text reads it) */
    *doc =
        json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
    if (*doc == NULL)
        return consort_response_error(resp, 400, "InvalidInput", "body is not JSON: %s", err.text);
    json_t *jid = json_object_get(*doc, "id");
    json_t *jmsg = json_object_get(*doc, "msg");
    if (!json_is_object(*doc) || json_object_size(*doc) != 2 || jid == NULL || jmsg == NULL)
        return bad_request(resp, "body must be {\"id\": <unsigned integer>, \"msg\": <string>}");
    const char *num;
    size_t num_len;
    if (!json_is_number(jid) || !id_text((const char *)body, len, &num, &num_len) ||
        !parse_u64(num, num_len, id))
        return bad_request(resp, "\"id\" must be an unsigned integer below 2^64");
    if (!json_is_string(jmsg))
        return bad_request(resp, "\"msg\" must be a string");
    *msg_len = json_string_length(jmsg);
    if (*msg_len > MAX_MSG_LEN)
        return consort_response_error(resp, 400, "InvalidInput",
                                      "\"msg\" is %zu bytes, at most %d allowed", *msg_len,
                                      MAX_MSG_LEN);
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
    return parse_u64(text, strlen(text), out) ? 1 : -1;
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

/* The list answer, written as text: jansson's integers are signed 64-bit,
 * ids are printed here as the uint64 they are. */
typedef struct list_page {
    char *text;
    size_t len, cap;
    size_t count; /* records on it so far */
    size_t want;  /* records on this page */
    int has_next;
    uint64_t next;
    int failed;
} list_page;

static void add(list_page *p, const char *s, size_t n)
{
    if (p->failed)
        return;
    if (p->len + n + 1 > p->cap) {
        size_t cap = (p->len + n + 1) * 2;
        char *text = realloc(p->text, cap);
        if (text == NULL) {
            p->failed = 1;
            return;
        }
        p->text = text;
        p->cap = cap;
    }
    memcpy(p->text + p->len, s, n);
    p->len += n;
    p->text[p->len] = '\0';
}

static void add_str(list_page *p, const char *s)
{
    add(p, s, strlen(s));
}

static void add_u64(list_page *p, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, v);
    add_str(p, num);
}

static bool list_visit(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len)
{
    list_page *p = ctx;
    if (key_len != 8)
        return true; /* not a record of this sample */
    if (p->count == p->want) {
        /* one more than the page holds: where the next page starts */
        p->has_next = 1;
        p->next = key_id(key);
        return false;
    }
    json_t *msg = json_stringn((const char *)value, value_len);
    char *quoted = msg != NULL ? json_dumps(msg, JSON_ENCODE_ANY) : NULL;
    json_decref(msg);
    if (quoted == NULL) {
        p->failed = 1;
        return false;
    }
    add_str(p, p->count++ > 0 ? ",{\"id\":" : "{\"id\":");
    add_u64(p, key_id(key));
    add_str(p, ",\"msg\":");
    add_str(p, quoted);
    add_str(p, "}");
    free(quoted);
    return !p->failed;
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
    list_page page = {.want = (size_t)limit};
    add_str(&page, "{\"records\":[");
    /* start is inclusive: ask for one record more than the page shows, and
     * that one's id is where the next page starts */
    consort_err rc =
        consort_kv_scan(tx, kind->map, key, sizeof key, (size_t)limit + 1, list_visit, &page);
    add_str(&page, "]");
    if (page.has_next) {
        add_str(&page, ",\"next\":");
        add_u64(&page, page.next);
    }
    add_str(&page, "}");
    if (rc == CONSORT_OK && page.failed)
        rc = consort_fail(CONSORT_E_NOMEM, "listing records: out of memory");
    if (rc == CONSORT_OK) {
        consort_response_set_status(resp, 200);
        rc = consort_response_set_body(resp, page.text, page.len, "application/json");
    }
    free(page.text);
    return rc;
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
