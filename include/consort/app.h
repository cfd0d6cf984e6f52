/*
 * consort application ABI, version 2.
 *
 * An application is a shared object that consortd loads at start-up. It
 * exports consort_app_init(), which registers endpoints (an HTTP method and
 * path, a handler, who may call it, and whether it writes), and may export
 * consort_app_fini(), which releases what init set up. consortd runs each
 * handler inside a KV transaction:
 *
 *   - a read-write handler runs on the leader (a follower forwards the
 *     request); when it returns CONSORT_OK and set a 2xx status, its
 *     transaction commits and the response is sent once the transaction is
 *     committed (durable on a majority), with "x-consort-txid: <term>.<seqno>";
 *   - any other outcome discards the transaction's writes;
 *   - a conflicting transaction (another committed a key it read, or wrote
 *     to a map it scanned) is run again from scratch: the handler is called
 *     again with the same request, a fresh transaction, a fresh response
 *     (status 200, no body, no headers) and a fresh read arena. So a handler
 *     must not keep side effects outside the transaction;
 *   - a read-only handler runs on the node that received the request, and
 *     cannot write (CONSORT_E_STATE).
 *
 * Memory: every pointer a request accessor, consort_kv_get or
 * consort_kv_scan returns is valid until the handler returns, whatever the
 * handler does in between (writing the same key included), and never after.
 * Values and keys are copies that consortd owns, made for this invocation
 * and released when it ends; at most CONSORT_APP_READ_MAX bytes of them per
 * invocation (CONSORT_E_TOO_LARGE beyond). They are not aligned: memcpy them
 * before reading wider types. Handlers must not block.
 *
 * Tables (maps) are named by the application. A name starting with
 * "public:" is a public map: its writes are stored in clear in the ledger.
 * Every other map is private: its writes are encrypted in the ledger under
 * the ledger secret, which only attested nodes hold. Names starting with
 * "consort." are reserved (neither read nor written: CONSORT_E_INVALID_ARGUMENT);
 * "public:consort." maps may be read but not written.
 *
 * Reserved paths: consortd serves GET /app/receipt and GET /app/api (the
 * OpenAPI document of the application's endpoints) itself; an application
 * cannot register those paths (with any method). They are the only paths
 * under "/app/" that consortd serves.
 *
 * Errors: a handler that returns consort_fail(code, fmt, ...) answers the
 * client with the status its code implies and
 * {"error": {"code": "<consort_err_name(code)>", "message": "<formatted>"}}:
 *
 *   CONSORT_E_NOT_FOUND                                  404
 *   usage, protocol, attestation categories, and the
 *     crypto category but CONSORT_E_CRYPTO (input that
 *     does not verify)                                   400
 *   policy category (CONSORT_E_POLICY)                   403
 *   CONSORT_E_STATE, CONSORT_E_ROLLBACK, CONSORT_E_FROZEN 409
 *   CONSORT_E_BUSY, CONSORT_E_TIMEOUT                    503, with "Retry-After: 1"
 *   anything else (io, corrupt, nomem, CONSORT_E_CRYPTO,
 *     CONSORT_E_PENDING without a call pending)          500
 *
 * Any other failing return (an error code the handler passes on from a
 * consortd function, or returns without consort_fail) is consortd's
 * error: 500 {"error": {"code": "InternalError", "message": ...}} naming the
 * endpoint, the code and the message. Either way nothing commits.
 *
 * Example (samples/logging/logging.c is a complete application):
 *
 *   static consort_err put(consort_request *rq, consort_tx *tx, consort_response *rs, void *c)
 *   {
 *       ...
 *       if (klen == 0)
 *           return consort_fail(CONSORT_E_INVALID_ARGUMENT, "empty key");   -- a 400
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Incremented on any incompatible change; consortd refuses a module built
 * for another version (see CONSORT_APP_DECLARE). Version 2 added
 * consort_kv_scan, consort_fail, consort_app_fini and the application state,
 * and made the values of consort_kv_get copies. */
#define CONSORT_APP_ABI_VERSION 2

/* The bytes of keys and values that consort_kv_get and consort_kv_scan may
 * hand to one invocation of a handler (32 MiB): past it they fail with
 * CONSORT_E_TOO_LARGE. Page through big maps (consort_kv_scan). */
#define CONSORT_APP_READ_MAX ((size_t)32 << 20)

/* Marks the symbols an application exports. */
#define CONSORT_APP_EXPORT __attribute__((visibility("default")))

/* Every application states the ABI it was built for, once, at file scope. */
#define CONSORT_APP_DECLARE()                                                                      \
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
 * A handler. Return CONSORT_OK after setting the response (a status
 * outside 100..599 is the handler's bug: consortd answers 500). To answer
 * with an error, either set a 4xx/5xx status (consort_response_error) and
 * return CONSORT_OK, or return consort_fail(code, ...) (see "Errors" above).
 */
typedef consort_err (*consort_handler)(consort_request *req, consort_tx *tx, consort_response *resp,
                                       void *ctx);

/* ---- the application ---- */

/*
 * The entry point every application exports: registers the endpoints. If it
 * fails, the module is not loaded (and consort_app_fini is not called:
 * release what init allocated before failing).
 */
CONSORT_APP_EXPORT consort_err consort_app_init(consort_app *app);

/*
 * Optional. If the module exports it, consortd calls it exactly once per
 * successful consort_app_init, when the application is unloaded at
 * shutdown: after the last handler has returned, with no handler running
 * and none called afterwards, on the thread that unloads it. It releases
 * what init set up (consort_app_state(app) is still readable). It must not
 * register endpoints or call the request, transaction or response functions.
 */
CONSORT_APP_EXPORT void consort_app_fini(consort_app *app);

/*
 * Registers an endpoint (inside consort_app_init only: CONSORT_E_STATE
 * afterwards). `path` is exact (no patterns) and starts with "/app/"; it
 * must not be a reserved path (see above). Registering the same method and
 * path twice is an error. `ctx` is passed to every call of the handler.
 * Errors: INVALID_ARGUMENT (a bad or reserved path, a bad method, auth or
 * mode, twice), TOO_LARGE (more than 256 endpoints), STATE, NOMEM.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err
consort_app_endpoint(consort_app *app, const char *method, const char *path,
                     consort_handler handler, consort_auth auth, consort_mode mode, void *ctx);

/*
 * The application's own state: one pointer that consortd keeps for the
 * application and never dereferences (NULL until set). Set it in
 * consort_app_init, read it back anywhere (typically in consort_app_fini to
 * free it). A module may be loaded for several applications in one process
 * (tests run several nodes in one process): state kept here, rather than in
 * globals, is per application.
 */
CONSORT_EXPORT void consort_app_set_state(consort_app *app, void *state);
CONSORT_EXPORT void *consort_app_state(const consort_app *app);

/* ---- the request (every pointer valid until the handler returns) ---- */

CONSORT_EXPORT const char *consort_request_method(const consort_request *req);
/* The path as sent (still percent-encoded). */
CONSORT_EXPORT const char *consort_request_path(const consort_request *req);
/* The body (may be empty: never NULL; `*len` receives its length). */
CONSORT_EXPORT const uint8_t *consort_request_body(const consort_request *req, size_t *len);
/* A header value by case-insensitive name, or NULL. */
CONSORT_EXPORT const char *consort_request_header(const consort_request *req, const char *name);
/*
 * A query parameter, percent-decoded, copied into `out` (NUL-terminated).
 * CONSORT_E_NOT_FOUND if absent; CONSORT_E_TOO_LARGE if it does not fit;
 * CONSORT_E_MALFORMED if it holds a NUL byte or a bad escape;
 * CONSORT_E_INVALID_ARGUMENT for a NULL name or output, or out_len 0. `out`
 * (if it has room) holds "" after any failure.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_request_query(const consort_request *req,
                                                                    const char *name, char *out,
                                                                    size_t out_len);
/* SHA-256 of the caller's certificate (DER) as 64 hex characters, or NULL
 * if the caller presented none. */
CONSORT_EXPORT const char *consort_request_caller(const consort_request *req);

/* ---- the transaction ---- */

/*
 * Reads `key` from `map`. On CONSORT_OK, *value and *value_len give a copy
 * of the value (never NULL, even when empty), valid until the handler
 * returns whatever it writes afterwards. CONSORT_E_NOT_FOUND if the key is
 * absent. Reads see the transaction's own writes first. Other errors:
 * INVALID_ARGUMENT (NULL, a bad or reserved map name), TOO_LARGE (the key
 * is over the store's cap, or the invocation's copies would pass
 * CONSORT_APP_READ_MAX), NOMEM.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_kv_get(consort_tx *tx, const char *map,
                                                             const void *key, size_t key_len,
                                                             const uint8_t **value,
                                                             size_t *value_len);

/*
 * Called by consort_kv_scan once per key, in order. `key` and `value` are
 * copies (never NULL) valid until the handler returns, like consort_kv_get's.
 * Return true for the next key, false to stop the scan there (scan then
 * returns CONSORT_OK; keep an error of your own in `ctx`). The visitor may
 * read and write through the transaction; its writes do not change what
 * this scan visits.
 */
typedef bool (*consort_kv_visitor)(void *ctx, const uint8_t *key, size_t key_len,
                                   const uint8_t *value, size_t value_len);

/*
 * Visits the keys of `map` that are >= `start` (bytewise, `start_len`
 * bytes; NULL and 0 start at the beginning), in ascending bytewise order,
 * as this transaction sees the map (its own writes and removals included),
 * at most `limit` of them (0: no limit). A map that does not exist has no
 * keys. Returns CONSORT_OK when the map ends, the limit is reached or the
 * visitor stops.
 *
 * Paging: `start` is inclusive. Ask for n + 1 keys and show n: the
 * (n + 1)-th key, if the visitor got one, is where the next page starts.
 * (Equivalently, the smallest key after K is K followed by one 0x00 byte.)
 *
 * A scan counts as reading the whole map: if another transaction writes any
 * key of the map before this one commits, this one conflicts and is run
 * again. It costs time in the size of the whole map, whatever the limit.
 * Errors: INVALID_ARGUMENT (NULL, a bad or reserved map name), TOO_LARGE
 * (the copies would pass CONSORT_APP_READ_MAX: the keys visited before stay
 * valid), NOMEM.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_kv_scan(consort_tx *tx, const char *map,
                                                              const void *start, size_t start_len,
                                                              size_t limit,
                                                              consort_kv_visitor visitor,
                                                              void *ctx);

/* Writes (read-write endpoints only: CONSORT_E_STATE otherwise). Key and
 * value are copied. Errors: INVALID_ARGUMENT (NULL, a bad or reserved map
 * name), TOO_LARGE (key or value over the store's cap), STATE, NOMEM. */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_kv_put(consort_tx *tx, const char *map,
                                                             const void *key, size_t key_len,
                                                             const void *value, size_t value_len);
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_kv_remove(consort_tx *tx, const char *map,
                                                                const void *key, size_t key_len);
/*
 * Sets the claims digest of this transaction: it becomes the third component
 * of the transaction's receipt leaf, so a receipt proves the application's
 * claims (e.g. the digest of what it computed) were committed. Read-write
 * endpoints only (CONSORT_E_STATE otherwise); dropped unless the
 * transaction commits.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err
consort_tx_set_claims_digest(consort_tx *tx, const uint8_t digest[32]);

/* ---- errors ---- */

/*
 * Returns `code` after recording the formatted message (at most 1023 bytes,
 * longer ones are cut) as the current handler's failure, so that
 *
 *     return consort_fail(CONSORT_E_NOT_FOUND, "no record %d", id);
 *
 * answers 404 {"error": {"code": "NOT_FOUND", "message": "no record 7"}}
 * (the mapping is under "Errors" above). Only the failure the handler
 * returns counts: a later failing consortd function supersedes it.
 * `code` must be an error (not CONSORT_OK, not out of range): otherwise it
 * returns CONSORT_E_INVALID_ARGUMENT, which answers 500. Outside a handler
 * (e.g. in consort_app_init) it only sets consort_errmsg(), which is also
 * set inside one.
 */
CONSORT_EXPORT consort_err consort_fail(consort_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the response ---- */

/* Any status; cs_app_invoke refuses one outside 100..599 when the handler returns. */
CONSORT_EXPORT void consort_response_set_status(consort_response *resp, int status);
/* Copies the body; `content_type` may be NULL (application/json is assumed). */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_response_set_body(consort_response *resp,
                                                                        const void *body,
                                                                        size_t len,
                                                                        const char *content_type);
/* Copies a header; setting one again replaces it. Content-Length,
 * Transfer-Encoding, Connection, Keep-Alive and x-consort-txid are
 * consortd's (INVALID_ARGUMENT); at most 32 headers (TOO_LARGE). */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_response_set_header(consort_response *resp,
                                                                          const char *name,
                                                                          const char *value);
/* Sets `status` (400..599) and the body {"error": {"code": code, "message": <formatted>}}. */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_response_error(consort_response *resp,
                                                                     int status, const char *code,
                                                                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- sealed state and monotonic counters (docs/migration.md) ---- */

/*
 * What follows describes the default, node scope; CONSORT_APP_SEALING
 * below moves keys and counters into the service instead.
 *
 * Sealing keeps state outside the replicated store for this node alone (a
 * local cache, a key the service must not hold): a sealed blob opens on
 * this node's sealed store only, on its platform, and for the code the
 * policy names. It moves with the node when the node migrates (`consort
 * migrate`); it never opens on another node, on a copy of this node's data
 * directory, or for code governance did not approve. The host stores the
 * blob (it is encrypted and authenticated), so it can hand back an older
 * one: bind the blob to a counter to have that refused.
 */
typedef enum consort_seal_policy {
    CONSORT_SEAL_CODE = 1,    /* only the exact code id that sealed it */
    CONSORT_SEAL_LINEAGE = 2, /* that code id and the successors governance approved */
} consort_seal_policy;

/* The largest plaintext consort_seal takes. */
#define CONSORT_SEAL_MAX ((size_t)1 << 20)
/* Counter names: 1..64 printable ASCII characters. */
#define CONSORT_COUNTER_NAME_MAX 64

/*
 * Seals `len` bytes under `policy`. With `counter` (NULL: none), first
 * increments that named counter and binds the blob to its new value: the
 * blob then opens only while the counter still holds that value, so an
 * older blob is refused (ROLLBACK) once a newer one was sealed. *blob and
 * *blob_len give the sealed blob, valid until the handler returns.
 * Errors: INVALID_ARGUMENT (NULL, an unknown policy, a bad counter name),
 * TOO_LARGE (over CONSORT_SEAL_MAX), FROZEN (the node's sealed state is
 * moving or moved to another machine: docs/migration.md), STATE (outside a
 * handler, or a node without a sealed store), IO.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_seal(consort_request *req,
                                                           consort_seal_policy policy,
                                                           const char *counter, const void *data,
                                                           size_t len, const uint8_t **blob,
                                                           size_t *blob_len);
/*
 * Opens a blob consort_seal made; *data and *len give the plaintext, valid
 * until the handler returns. Errors: BAD_TAG (altered, or sealed on another
 * node or platform), POLICY (sealed for code this node's code does not
 * succeed), ROLLBACK (its counter moved on since), MALFORMED, FROZEN,
 * STATE, INVALID_ARGUMENT.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_unseal(consort_request *req, const void *blob,
                                                             size_t blob_len, const uint8_t **data,
                                                             size_t *len);
/*
 * Named monotonic counters of this node's sealed store: each starts at 0
 * and only grows; an increment is durable (docs/migration.md §3) before it
 * returns, and survives restarts, approved code updates and migration. A
 * handler that runs again (after a conflict, or after an outbound call)
 * increments again: rely on the values, not on how many increments a
 * request made. Errors: INVALID_ARGUMENT (a bad name), TOO_LARGE (more than
 * 1024 names), FROZEN, STATE, IO.
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_counter_read(consort_request *req,
                                                                   const char *name,
                                                                   uint64_t *value);
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_counter_increment(consort_request *req,
                                                                        const char *name,
                                                                        uint64_t *value);

/*
 * Where an application's sealing keys and counters live: its sealing
 * scope, declared in the module (so it is part of the code id):
 *
 *   CONSORT_APP_SEALING(CONSORT_SEALING_SERVICE);
 *
 * CONSORT_SEALING_NODE (the default: a module without the declaration) is
 * what the comments above describe: this node's sealed store, its
 * platform's key, counters anchored to its TPM or file counter.
 *
 * CONSORT_SEALING_SERVICE (recommended for state the service shares) keeps
 * both in the service itself (docs/migration.md §3 "replicated"):
 *   - the key derives from the service's sealing root, 32 random bytes in
 *     the service's private store (encrypted in the ledger, held only by its
 *     nodes), made by the first consort_seal in a read-write endpoint: a
 *     blob opens on every node of the service, and after a recovery from
 *     its ledger, for the code its policy names (lineage: the successors
 *     governance approved, transitively). It never opens outside the service.
 *   - counters are a table in the service's store: an increment is a write
 *     of the handler's transaction, durable on a majority once it commits,
 *     which is before the response; so consort_counter_increment and a
 *     consort_seal with a counter need a read-write endpoint (STATE
 *     otherwise). A handler that runs again starts from the committed
 *     state: increments of a discarded run never happened. consort_counter_read
 *     in a read-only endpoint reads this node's committed state (possibly
 *     behind the leader, docs/consistency.md).
 *   - consort_unseal of a blob bound to a counter needs a read-write endpoint
 *     too (STATE otherwise): the transaction then rewrites the counter with
 *     the value it checked, so the answer leaves only once a majority has
 *     committed it, and no lagging node or deposed leader can accept a blob
 *     whose counter moved on. A blob without a counter opens anywhere.
 *   - FROZEN never applies: nothing of it lives on one node.
 * A blob of one scope never opens in the other (BAD_TAG: other keys).
 */
typedef enum consort_sealing_scope {
    CONSORT_SEALING_NODE = 1,
    CONSORT_SEALING_SERVICE = 2,
} consort_sealing_scope;

#define CONSORT_APP_SEALING(scope)                                                                 \
    CONSORT_APP_EXPORT const int consort_app_sealing = (scope)

/* ---- outbound calls (docs/e2e.md "Calling other services") ---- */

/*
 * The services an application may call, declared in the module:
 *
 *   CONSORT_APP_EGRESS({"storage", NULL}, {"audit", "3f5a...64 hex"});
 *
 * Each entry names a service (1..63 of [a-z0-9_-]) and optionally pins it:
 * the SHA-256 of its service certificate's DER in hex, which then is the
 * only identity a call to that name accepts. The list is data in the
 * module, so it is part of the code id: "this code calls only storage and
 * audit" is attested with the code. Where each name lives (its address and,
 * unless pinned, its service certificate) is set by the members
 * (governance action set_egress_service). At most CONSORT_APP_EGRESS_MAX
 * entries; a module without the list calls nothing.
 */
typedef struct consort_egress {
    const char *service;
    const char *service_cert_sha256; /* NULL: the certificate governance binds */
} consort_egress;

#define CONSORT_APP_EGRESS_MAX 16
#define CONSORT_APP_EGRESS(...)                                                                    \
    CONSORT_APP_EXPORT const consort_egress consort_app_egress[] = {__VA_ARGS__, {NULL, NULL}}

/* What a called service answered (valid until the handler returns). */
typedef struct consort_call_response {
    int status;
    const uint8_t *body; /* never NULL */
    size_t body_len;
} consort_call_response;

/* The largest request body a call sends, and response body it accepts. */
#define CONSORT_CALL_BODY_MAX ((size_t)1 << 20)
/* Distinct calls one client request may make (over all runs of its handler). */
#define CONSORT_CALL_MAX 8

/*
 * Calls `method path` on the declared service `service` with `body`, over
 * TLS to a node of that service (its certificate must chain to the
 * service's certificate). Handlers never block, so a call completes across
 * runs of the handler:
 *
 *   - the first time a run makes a given call (same service, method, path
 *     and body), consortd records it, starts it once the handler returns,
 *     and the call returns CONSORT_E_PENDING. Return that code (after
 *     starting any other calls the request needs: they run in parallel);
 *     whatever the run did is discarded, its writes included;
 *   - once every call the request made has its answer, the handler runs
 *     again from scratch with the same request (a fresh transaction and
 *     response, as after a conflict). The same call now returns
 *     CONSORT_OK with *response, or the error that ended it (TIMEOUT after
 *     10 s, IO, BAD_CERTIFICATE, NOT_FOUND when the members bound no
 *     address to the name, ...) with its message.
 *
 * A call is made at most once per client request on the node that runs the
 * handler: every later run of the handler, including a re-run after a
 * conflict, gets the answer recorded the first time. A write handler's
 * calls are therefore made before its transaction commits, and made even
 * if it never commits: call only what is safe to call for a request that
 * may fail (reads, or writes the callee makes idempotent).
 *
 * When the client asked for a handling statement, each call asks the
 * callee for one (bound to the client's nonce) and the answer's statement
 * nests them (docs/e2e.md).
 *
 * Errors returned at once: POLICY (the service is not in the module's
 * CONSORT_APP_EGRESS list: undeclared egress is refused), INVALID_ARGUMENT
 * (NULL, a bad method or a path not starting with "/"), TOO_LARGE (body
 * over CONSORT_CALL_BODY_MAX, more than CONSORT_CALL_MAX calls), STATE
 * (outside a handler).
 */
CONSORT_EXPORT CONSORT_MUST_CHECK consort_err consort_call(consort_request *req,
                                                           const char *service, const char *method,
                                                           const char *path, const void *body,
                                                           size_t body_len,
                                                           const consort_call_response **response);

#ifdef __cplusplus
}
#endif
#endif
