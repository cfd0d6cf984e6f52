/*
 * consort application ABI.
 *
 * An application is a shared object that consortd loads at start-up. It
 * exports one function, consort_app_init(), which registers endpoints: an
 * HTTP method and path, a handler, who may call it, and whether it writes.
 * consortd runs each handler inside a KV transaction:
 *
 *   - a read-write handler runs on the leader (a follower forwards the
 *     request); when it returns CONSORT_OK and set a 2xx status, its
 *     transaction commits and the response is sent once the transaction is
 *     committed (durable on a majority), with "x-consort-txid: <term>.<seqno>";
 *   - any other outcome discards the transaction's writes;
 *   - a conflicting transaction (another committed a key it read) is run
 *     again from scratch, so a handler must not keep side effects outside
 *     the transaction;
 *   - a read-only handler runs on the node that received the request.
 *
 * Memory: every pointer a request, transaction or accessor returns is
 * borrowed and valid until the handler returns. Handlers must not block.
 *
 * Tables (maps) are named by the application. A name starting with
 * "public:" is a public map: its writes are stored in clear in the ledger.
 * Every other map is private: its writes are encrypted in the ledger under
 * the ledger secret, which only attested nodes hold. Names starting with
 * "consort." or "public:consort." are reserved.
 *
 * Example (samples/logging/logging.c is a complete application):
 *
 *   static consort_err put(consort_request *rq, consort_tx *tx, consort_response *rs, void *c)
 *   {
 *       ...
 *       return consort_kv_put(tx, "records", key, klen, msg, mlen);
 *   }
 *   CONSORT_APP_EXPORT consort_err consort_app_init(consort_app *app)
 *   {
 *       return consort_app_endpoint(app, "POST", "/app/log", put, CONSORT_AUTH_USER,
 *                                   CONSORT_READ_WRITE, NULL);
 *   }
 */
#ifndef CONSORT_APP_H
#define CONSORT_APP_H

#include <consort/error.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Incremented on any incompatible change; consortd refuses a module built
 * for another version (see CONSORT_APP_DECLARE). */
#define CONSORT_APP_ABI_VERSION 1

/* Marks the symbols an application exports. */
#define CONSORT_APP_EXPORT __attribute__((visibility("default")))

/* Every application states the ABI it was built for, once, at file scope. */
#define CONSORT_APP_DECLARE()                                                              \
    CONSORT_APP_EXPORT const uint32_t consort_app_abi_version = CONSORT_APP_ABI_VERSION

typedef struct consort_app consort_app;
typedef struct consort_request consort_request;
typedef struct consort_response consort_response;
typedef struct consort_tx consort_tx;

/* Who may call an endpoint. */
typedef enum consort_auth {
    CONSORT_AUTH_NONE = 0,   /* anyone who can reach the node over TLS */
    CONSORT_AUTH_USER = 1,   /* a client certificate registered as a user */
    CONSORT_AUTH_MEMBER = 2, /* a client certificate registered as a member */
} consort_auth;

typedef enum consort_mode {
    CONSORT_READ_ONLY = 0,
    CONSORT_READ_WRITE = 1,
} consort_mode;

/*
 * A handler. Return CONSORT_OK after setting the response; returning an
 * error makes consortd answer 500 with the error's message (and discard the
 * transaction). Set a 4xx status for the caller's mistakes.
 */
typedef consort_err (*consort_handler)(consort_request *req, consort_tx *tx,
                                       consort_response *resp, void *ctx);

/* The entry point every application exports. */
CONSORT_APP_EXPORT consort_err consort_app_init(consort_app *app);

/*
 * Registers an endpoint. `path` is exact (no patterns) and starts with
 * "/app/". Registering the same method and path twice is an error.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_app_endpoint(
    consort_app *app, const char *method, const char *path, consort_handler handler,
    consort_auth auth, consort_mode mode, void *ctx);

/* ---- the request ---- */

CONSORT_EXPORT const char *consort_request_method(const consort_request *req);
CONSORT_EXPORT const char *consort_request_path(const consort_request *req);
/* The body (may be empty; `*len` receives its length). */
CONSORT_EXPORT const uint8_t *consort_request_body(const consort_request *req, size_t *len);
/* A header value by case-insensitive name, or NULL. */
CONSORT_EXPORT const char *consort_request_header(const consort_request *req, const char *name);
/*
 * A query parameter, percent-decoded, copied into `out` (NUL-terminated).
 * CONSORT_E_NOT_FOUND if absent; CONSORT_E_TOO_LARGE if it does not fit.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_request_query(
    const consort_request *req, const char *name, char *out, size_t out_len);
/* SHA-256 of the caller's certificate (DER) as 64 hex characters, or NULL
 * if the caller presented none. */
CONSORT_EXPORT const char *consort_request_caller(const consort_request *req);

/* ---- the transaction ---- */

/*
 * Reads `key` from `map`. On CONSORT_OK, *value and *value_len borrow the value;
 * CONSORT_E_NOT_FOUND if the key is absent. Reads see the transaction's own
 * writes first.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_kv_get(consort_tx *tx, const char *map,
                                                             const void *key, size_t key_len,
                                                             const uint8_t **value,
                                                             size_t *value_len);
/* Writes (read-write endpoints only; CONSORT_E_STATE otherwise). */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_kv_put(consort_tx *tx, const char *map,
                                                             const void *key, size_t key_len,
                                                             const void *value, size_t value_len);
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_kv_remove(consort_tx *tx, const char *map,
                                                                const void *key, size_t key_len);
/*
 * Sets the claims digest of this transaction: it becomes the third component
 * of the transaction's receipt leaf, so a receipt proves the application's
 * claims (e.g. the digest of what it computed) were committed.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_tx_set_claims_digest(consort_tx *tx,
                                                                           const uint8_t digest[32]);

/* ---- the response ---- */

CONSORT_EXPORT void consort_response_set_status(consort_response *resp, int status);
/* Copies the body; `content_type` may be NULL (application/json is assumed). */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_response_set_body(
    consort_response *resp, const void *body, size_t len, const char *content_type);
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_response_set_header(consort_response *resp,
                                                                          const char *name,
                                                                          const char *value);
/* Sets `status` and the body {"error": {"code": code, "message": <formatted>}}. */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_response_error(consort_response *resp,
                                                                     int status, const char *code,
                                                                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif
#endif
