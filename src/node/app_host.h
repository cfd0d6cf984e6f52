/*
 * The host side of the application ABI (include/consort/app.h): loading a
 * module, its endpoint registry, and the objects behind consort_request,
 * consort_tx and consort_response that a handler works with.
 *
 * This part knows nothing about HTTP servers or the node: the caller (rpc)
 * fills a consort_request from what arrived, begins a cs_kv_tx (through the
 * node), and calls cs_app_invoke; the outcome says whether to commit.
 * So it can be unit-tested over a bare cs_kv_store.
 */
#ifndef CS_NODE_APP_HOST_H
#define CS_NODE_APP_HOST_H

#include "net/http.h"
#include "node/node.h"
#include "store/kv.h"

#include <consort/app.h>

#define CS_APP_MAX_ENDPOINTS    256
#define CS_APP_PATH_MAX         256
#define CS_APP_METHOD_MAX       16
#define CS_APP_MAX_RESP_HEADERS 32
/* A response body (16 MiB, what the node's HTTP client accepts when it relays). */
#define CS_APP_MAX_RESP_BODY ((size_t)16 << 20)
/* The built-in endpoints under /app/ (rpc_route.c serves them). */
#define CS_APP_RECEIPT_PATH "/app/receipt"
#define CS_APP_API_PATH     "/app/api"
/* The longest message consort_fail keeps (bytes, NUL included). */
#define CS_APP_ERROR_MESSAGE_MAX 1024

/* One registered endpoint. */
typedef struct cs_app_endpoint {
    char method[CS_APP_METHOD_MAX];
    char path[CS_APP_PATH_MAX];
    consort_handler handler;
    consort_auth auth;
    consort_mode mode;
    void *ctx;
} cs_app_endpoint;

/* ---- loading and the registry ---- */

/*
 * Every function of the ABI, referenced once so that linking the node
 * library statically (unit tests) pulls in the objects that define them: a
 * module resolves them from the executable when it is loaded (consortd
 * links the whole library and exports them).
 */
extern void (*const cs_app_abi_functions[])(void);

/* The largest module consortd loads (256 MiB; modules are small, anything
 * bigger is not one). */
#define CS_APP_MODULE_MAX ((size_t)256 << 20)

/*
 * Loads the module at `path` from exactly the bytes that are hashed: reads
 * the file once (at most CS_APP_MODULE_MAX bytes; any readable file, a
 * pipe included) into a memfd, seals it (F_SEAL_SHRINK, F_SEAL_GROW,
 * F_SEAL_WRITE, F_SEAL_SEAL), checks that image (cs_app_check_image) and
 * hashes it (cs_app_module_identity), then dlopen()s the memfd through
 * /proc/self/fd/<n>, checks that it exports consort_app_abi_version equal
 * to CONSORT_APP_ABI_VERSION, and calls its consort_app_init, which
 * registers endpoints. The file is never read again: replacing or
 * rewriting it afterwards changes nothing loaded. A module with the same
 * bytes as one already loaded in this process shares that object.
 * Errors: NOT_FOUND / IO opening or reading it, TOO_LARGE, those of
 * cs_app_check_image (with the path), IO (memfd or dlopen failed, e.g.
 * an undefined symbol), UNSUPPORTED (no or another ABI version, no
 * consort_app_init), whatever consort_app_init returned (with context), NOMEM.
 */
CS_MUST_CHECK consort_err cs_app_load(const char *path, consort_app **out);
/*
 * The loaded module's identity for the code id (attest/code_id_maps.h):
 * SHA-256 of the sealed bytes it was loaded from, and the device and inode
 * of their memfd, by which its mapping is recognised. False (nothing
 * written) for an application without a module (cs_app_new).
 */
bool cs_app_module_identity(const consort_app *app, uint8_t digest[32], uint64_t *dev,
                            uint64_t *ino);
/*
 * True, with the digest of its bytes, if (`dev`, `ino`) is the sealed memfd
 * of a module loaded in this process now (by any application): a
 * cs_code_measure_opts.sealed_digest. Thread-safe.
 */
bool cs_app_image_digest(uint64_t dev, uint64_t ino, uint8_t digest[32]);

/* ---- module images (app_image.c) ---- */

typedef struct app_image app_image;
/* The module at `path` copied into a sealed memfd, its ELF image checked
 * (cs_app_check_image) and hashed; an image already loaded with the same
 * bytes is shared (a reference more). */
CS_MUST_CHECK consort_err app_image_load(const char *path, app_image **out);
/* Drops a reference; the last one closes the memfd (unload the module first). */
void app_image_release(app_image *img);
int app_image_fd(const app_image *img);
size_t app_image_len(const app_image *img);
void app_image_identity(const app_image *img, uint8_t digest[32], uint64_t *dev, uint64_t *ino);
/*
 * Checks that `image` is a 64-bit little-endian ELF shared object whose
 * loadable segments lie inside it (a truncated module would fault in the
 * dynamic loader instead of failing). Errors: MALFORMED (not ELF),
 * UNSUPPORTED (another class or type), TRUNCATED.
 */
CS_MUST_CHECK consort_err cs_app_check_image(cs_slice image); /* the fuzz target drives it too */
/* An application without a module: tests register endpoints with
 * consort_app_endpoint between this call and cs_app_seal. */
CS_MUST_CHECK consort_err cs_app_new(consort_app **out);
/* Ends registration: consort_app_endpoint fails with STATE afterwards. */
void cs_app_seal(consort_app *app);
/* The function cs_app_free calls once: what cs_app_load installs from a
 * module's consort_app_fini (after its init succeeded). Replaces it and
 * returns the one replaced (NULL if none): tests set one on an application
 * without a module, or wrap a module's. */
typedef void (*cs_app_fini_fn)(consort_app *app);
cs_app_fini_fn cs_app_set_fini(consort_app *app, cs_app_fini_fn fini);
/* Calls the application's consort_app_fini once (app.h: after the last
 * handler; the caller guarantees no handler runs now or later), releases the
 * registry and dlclose()s the module (its memfd is closed once no
 * application of the process uses those bytes). NULL is a no-op. */
void cs_app_free(consort_app *app);
/* An HTTP method as endpoints and outbound calls take it: 1 to
 * CS_APP_METHOD_MAX - 1 upper-case letters (RFC 9110 §9.1, as every standard one). */
bool cs_app_method_valid(const char *m);
/* True for the paths consortd serves under /app/ itself (CS_APP_RECEIPT_PATH, CS_APP_API_PATH):
 * consort_app_endpoint refuses them with any method. */
bool cs_app_path_reserved(const char *path);

size_t cs_app_endpoint_count(const consort_app *app);
/* The endpoints in registration order, elements of one array (so an
 * endpoint's index is its distance from the first). */
const cs_app_endpoint *cs_app_endpoint_at(const consort_app *app, size_t i);
/*
 * The endpoint for `method` and `path` (exact match), or NULL. When it is
 * NULL, *path_known says whether some other method is registered for the
 * path (405 rather than 404); `allow` (may be NULL, `allow_len` bytes)
 * receives those methods, comma-separated, for an Allow header.
 */
const cs_app_endpoint *cs_app_find(const consort_app *app, const char *method, const char *path,
                                   bool *path_known, char *allow, size_t allow_len);

/* ---- declared egress (app_load.c; app.h CONSORT_APP_EGRESS) ---- */

typedef struct cs_app_egress {
    char service[64];
    bool pinned;
    uint8_t cert_sha256[32]; /* if pinned */
} cs_app_egress;

/* The declared service `service`, or NULL (undeclared). */
const cs_app_egress *cs_app_egress_find(const consort_app *app, const char *service);
size_t cs_app_egress_count(const consort_app *app);
const cs_app_egress *cs_app_egress_at(const consort_app *app, size_t i);
/*
 * Checks and copies a CONSORT_APP_EGRESS list (ended by a NULL service)
 * into `app`: what loading a module does with its consort_app_egress, and
 * how tests declare egress for an application without a module.
 * INVALID_ARGUMENT (a bad name or pin, a name twice), TOO_LARGE (more than
 * CONSORT_APP_EGRESS_MAX).
 */
CS_MUST_CHECK consort_err cs_app_set_egress(consort_app *app, const consort_egress *list);

/* ---- the sealing scope (app_load.c; app.h CONSORT_APP_SEALING) ---- */

/* Sets the scope (what loading does with consort_app_sealing; how tests
 * declare it): INVALID_ARGUMENT unless NODE or SERVICE. */
CS_MUST_CHECK consort_err cs_app_set_sealing(consort_app *app, int scope);
/* NODE for a NULL app or one that declared nothing. */
consort_sealing_scope cs_app_sealing(const consort_app *app);

/* ---- outbound calls made by one request (app_calls.c; app.h consort_call) ---- */

typedef struct cs_app_call {
    char service[64];
    char method[CS_APP_METHOD_MAX];
    char path[CS_APP_PATH_MAX]; /* the target: path and query */
    cs_buf body;
    bool started;  /* the caller (rpc_egress.c) took it */
    bool answered; /* rc, and if OK status/response, are final */
    consort_err rc;
    char message[256];
    int status;
    cs_buf response;     /* the answer's body */
    cs_buf statement;    /* the callee's handling statement (COSE), empty if none */
    cs_buf service_cert; /* DER of the certificate the callee's TLS chained to */
    bool met_policy;     /* its statement met the client's policy (summary statements) */
    consort_call_response view;
} cs_app_call;

typedef struct cs_app_calls {
    const consort_app *app;
    cs_app_call *items[CONSORT_CALL_MAX];
    size_t count;
} cs_app_calls;

void cs_app_calls_init(cs_app_calls *c, const consort_app *app);
void cs_app_calls_cleanup(cs_app_calls *c);
/* Calls recorded and not answered yet. */
size_t cs_app_calls_pending(const cs_app_calls *c);
/* Records the answer of a started call (copies `body` and `statement`). */
void cs_app_call_answer(cs_app_call *call, int status, cs_slice body, cs_slice statement);
/* Records the error that ended a started call. */
void cs_app_call_fail(cs_app_call *call, consort_err rc, const char *message);

/* ---- the request ---- */

struct consort_request {
    const char *method;
    const char *path;  /* as sent (still percent-encoded) */
    const char *query; /* without '?', "" if none */
    const cs_http_header *headers;
    size_t header_count;
    cs_slice body;
    bool has_caller;
    char caller[2 * 32 + 1];            /* hex SHA-256 of the caller's certificate */
    cs_app_calls *calls;                /* NULL: consort_call is refused (STATE) */
    const struct cs_app_sealer *sealer; /* NULL: node-scope sealing is refused (STATE) */
    struct cs_app_arena *arena;         /* what consort_seal/unseal return */
    consort_sealing_scope sealing;      /* the application's (cs_app_sealing) */
    struct cs_app_svcseal *svcseal;     /* service scope (app_svcseal.h); NULL: refused (STATE) */
};

/* Fills `req` from the pieces (all borrowed for the request's life);
 * `caller_fp` may be NULL (no certificate). */
void cs_app_request_init(consort_request *req, const char *method, const char *path,
                         const char *query, const cs_http_header *headers, size_t header_count,
                         cs_slice body, const uint8_t *caller_fp);

/* ---- sealing (app.h consort_seal, consort_counter_*) ---- */

/*
 * What the ABI's sealing functions call: the node's sealed store
 * (node_seal.h). Any thread may call them at once. `out` is appended to.
 */
typedef struct cs_app_sealer {
    void *ctx;
    consort_err (*seal)(void *ctx, consort_seal_policy policy, const char *counter, cs_slice plain,
                        cs_buf *out);
    consort_err (*unseal)(void *ctx, cs_slice blob, cs_buf *out);
    consort_err (*counter_read)(void *ctx, const char *name, uint64_t *value);
    consort_err (*counter_increment)(void *ctx, const char *name, uint64_t *value);
} cs_app_sealer;

/* ---- the response ---- */

struct consort_response {
    int status;
    cs_buf body;
    char content_type[128];
    cs_http_header headers[CS_APP_MAX_RESP_HEADERS]; /* name and value owned (cs_strdup) */
    size_t header_count;
};

/* An empty 200 response (application/json, no body). */
void cs_app_response_init(consort_response *resp);
/* Back to the state of cs_app_response_init (before a handler re-runs). */
void cs_app_response_reset(consort_response *resp);
void cs_app_response_cleanup(consort_response *resp);
/* The headers to send: the handler's plus Content-Type, into `out`
 * (room for CS_APP_MAX_RESP_HEADERS + 1); returns the count. */
size_t cs_app_response_headers(const consort_response *resp, cs_http_header *out);

/* ---- the read arena ---- */

/*
 * Where the keys and values a handler reads are copied (app.h: valid until
 * the handler returns, whatever it writes): chunks that live as long as the
 * invocation, at most `cap` bytes of copies in all, wiped when released
 * (private maps hold secrets).
 */
typedef struct cs_app_arena {
    struct cs_app_arena_chunk *chunks; /* the newest first */
    size_t used;                       /* bytes copied, counted against cap */
    size_t cap;
} cs_app_arena;

void cs_app_arena_init(cs_app_arena *a, size_t cap);
/* A copy of `s` in the arena (never NULL: an empty slice gives a static
 * empty string). TOO_LARGE if it would pass the cap, NOMEM; the arena is
 * unchanged on failure. */
CS_MUST_CHECK consort_err cs_app_arena_copy(cs_app_arena *a, cs_slice s, const uint8_t **out);
/* Wipes and frees every copy; the arena is empty again. */
void cs_app_arena_cleanup(cs_app_arena *a);

/* ---- running a handler ---- */

/* One invocation of a handler: what a consort_tx is. */
struct consort_tx {
    cs_kv_tx *kv;
    bool writable;
    cs_tx_outcome *outcome; /* claims digest lands here */
    cs_app_arena arena;     /* the copies gets and scans return */
    /* the handler's last consort_fail, if no consortd function failed since
     * (fail_code CONSORT_OK otherwise) */
    consort_err fail_code;
    char fail_message[CS_APP_ERROR_MESSAGE_MAX];
};

/* A transaction over `kv` with an empty arena capped at CONSORT_APP_READ_MAX.
 * Release with cs_app_tx_cleanup. */
void cs_app_tx_init(consort_tx *tx, cs_kv_tx *kv, bool writable, cs_tx_outcome *outcome);
/* Frees the arena: every pointer gets and scans returned dies here. */
void cs_app_tx_cleanup(consort_tx *tx);

/* The HTTP status a handler's consort_fail(code) answers with (app.h "Errors"). */
int cs_app_error_status(consort_err code);

/*
 * Runs `ep`'s handler on `req` inside `kv` (writes allowed iff `writable`),
 * with a fresh response (`resp` is reset first) and a fresh read arena
 * (freed before returning: a re-run after a conflict starts anew). If the
 * handler fails with the failure of its own consort_fail, `resp` becomes
 * the error its code maps to (cs_app_error_status, body {"error": {"code":
 * <code name>, "message": <its message>}}, Retry-After for 503); if it
 * fails otherwise (consortd's error), `resp` becomes a 500 InternalError
 * naming the endpoint, code and message. `out` says whether to commit: only
 * a writable transaction whose handler returned CONSORT_OK with a 2xx
 * status. Returns the handler's result, for logs and tests only: the
 * response already says what to tell the client and `out` whether to commit,
 * so a caller may ignore it (not CS_MUST_CHECK). Runs on one thread; not
 * reentrant from a handler.
 *
 * A run after which req->calls holds calls not answered yet (the handler
 * made a new consort_call) is discarded whatever it returned: nothing
 * commits, `resp` is reset, and the result is CONSORT_E_PENDING. The caller
 * makes the calls and runs the handler again (app.h consort_call).
 */
consort_err cs_app_invoke(const cs_app_endpoint *ep, consort_request *req, cs_kv_tx *kv,
                          bool writable, consort_response *resp, cs_tx_outcome *out);
/* Called by every ABI function that fails (app.h: a failing consortd
 * function supersedes the handler's earlier consort_fail); returns `rc`. */
consort_err cs_app_abi_result(consort_err rc);
/* Makes `tx` the invocation running on this thread (NULL: none) and returns
 * the one it replaces, to be restored after the handler (app_current.c). */
consort_tx *cs_app_enter(consort_tx *tx);
/* The invocation running on this thread, or NULL outside a handler. */
consort_tx *cs_app_current(void);

/* True for map names an application may not touch ("consort." anything;
 * writes to "public:consort." too): `write` selects which rule. */
bool cs_app_map_reserved(const char *map, bool write);

#endif
