/*
 * Application modules (include/consort/app.h): loading a module from
 * exactly the bytes its code id names (a sealed memfd, app_image.c), the
 * ABI version check, consort_app_init and the endpoint registry it fills, the
 * application's state, and consort_app_fini at unload.
 */
#include "node/app_host.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/hash.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct consort_app {
    void *dl;         /* NULL for an application without a module (tests) */
    app_image *image; /* the bytes it was loaded from (shared) */
    cs_app_endpoint *eps;
    size_t count;
    bool sealed;         /* registration is over (after consort_app_init) */
    void *state;         /* consort_app_set_state: the application's, never dereferenced */
    cs_app_fini_fn fini; /* the module's consort_app_fini once its init succeeded, or NULL */
    cs_app_egress egress[CONSORT_APP_EGRESS_MAX]; /* app.h CONSORT_APP_EGRESS */
    size_t egress_count;
    consort_sealing_scope sealing; /* app.h CONSORT_APP_SEALING */
};

/* The paths under /app/ that consortd serves itself (rpc_route.c), listed in app.h. */
static const char *const reserved_paths[] = {CS_APP_RECEIPT_PATH, CS_APP_API_PATH};

typedef void (*abi_fn)(void);
/* See app_host.h: external linkage, so no optimisation drops the references. */
const abi_fn cs_app_abi_functions[] = {
    (abi_fn)consort_app_endpoint,
    (abi_fn)consort_app_set_state,
    (abi_fn)consort_app_state,
    (abi_fn)consort_request_method,
    (abi_fn)consort_request_path,
    (abi_fn)consort_request_body,
    (abi_fn)consort_request_header,
    (abi_fn)consort_request_query,
    (abi_fn)consort_request_caller,
    (abi_fn)consort_kv_get,
    (abi_fn)consort_kv_scan,
    (abi_fn)consort_kv_put,
    (abi_fn)consort_kv_remove,
    (abi_fn)consort_tx_set_claims_digest,
    (abi_fn)consort_fail,
    (abi_fn)consort_response_set_status,
    (abi_fn)consort_response_set_body,
    (abi_fn)consort_response_set_header,
    (abi_fn)consort_response_error,
    (abi_fn)consort_call,
};

consort_err cs_app_new(consort_app **out)
{
    consort_app *app = cs_calloc(1, sizeof *app);
    CS_ENSURE(app != NULL, CONSORT_E_NOMEM, "application: out of memory");
    app->sealing = CONSORT_SEALING_NODE;
    *out = app;
    return CONSORT_OK;
}

/* ---- declared egress ---- */

static bool valid_service_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof((cs_app_egress *)0)->service)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

static consort_err set_egress(consort_app *app, const consort_egress *list)
{
    size_t n = 0;
    app->egress_count = 0;
    for (; list != NULL && list[n].service != NULL; n++) {
        CS_ENSURE(n < CONSORT_APP_EGRESS_MAX, CONSORT_E_TOO_LARGE,
                  "egress: more than %d services declared", CONSORT_APP_EGRESS_MAX);
        const consort_egress *e = &list[n];
        CS_ENSURE(valid_service_name(e->service), CONSORT_E_INVALID_ARGUMENT,
                  "egress: service name '%.63s' (1 to 63 of a-z, 0-9, '_', '-')", e->service);
        CS_ENSURE(cs_app_egress_find(app, e->service) == NULL, CONSORT_E_INVALID_ARGUMENT,
                  "egress: service '%s' declared twice", e->service);
        cs_app_egress *d = &app->egress[n];
        *d = (cs_app_egress){0};
        snprintf(d->service, sizeof d->service, "%s", e->service);
        if (e->service_cert_sha256 != NULL) {
            CS_ENSURE(strlen(e->service_cert_sha256) == 64 &&
                          cs_hex_decode(e->service_cert_sha256, d->cert_sha256, 32) == CONSORT_OK,
                      CONSORT_E_INVALID_ARGUMENT,
                      "egress: service '%s': the pin is not 64 hex digits (SHA-256 of the "
                      "service certificate's DER)",
                      e->service);
            d->pinned = true;
        }
        app->egress_count = n + 1;
    }
    return CONSORT_OK;
}

consort_err cs_app_set_egress(consort_app *app, const consort_egress *list)
{
    consort_err rc = set_egress(app, list);
    if (rc != CONSORT_OK)
        app->egress_count = 0; /* all or nothing */
    return rc;
}

consort_err cs_app_set_sealing(consort_app *app, int scope)
{
    CS_ENSURE(scope == CONSORT_SEALING_NODE || scope == CONSORT_SEALING_SERVICE,
              CONSORT_E_INVALID_ARGUMENT,
              "sealing scope %d: expected CONSORT_SEALING_NODE (1) or CONSORT_SEALING_SERVICE (2)",
              scope);
    app->sealing = (consort_sealing_scope)scope;
    return CONSORT_OK;
}

consort_sealing_scope cs_app_sealing(const consort_app *app)
{
    return app != NULL ? app->sealing : CONSORT_SEALING_NODE;
}

const cs_app_egress *cs_app_egress_find(const consort_app *app, const char *service)
{
    for (size_t i = 0; app != NULL && i < app->egress_count; i++)
        if (strcmp(app->egress[i].service, service) == 0)
            return &app->egress[i];
    return NULL;
}

size_t cs_app_egress_count(const consort_app *app)
{
    return app != NULL ? app->egress_count : 0;
}

const cs_app_egress *cs_app_egress_at(const consort_app *app, size_t i)
{
    return app != NULL && i < app->egress_count ? &app->egress[i] : NULL;
}

void cs_app_seal(consort_app *app)
{
    app->sealed = true;
}

cs_app_fini_fn cs_app_set_fini(consort_app *app, cs_app_fini_fn fini)
{
    cs_app_fini_fn was = app->fini;
    app->fini = fini;
    return was;
}

void consort_app_set_state(consort_app *app, void *state)
{
    if (app != NULL)
        app->state = state;
}

void *consort_app_state(const consort_app *app)
{
    return app != NULL ? app->state : NULL;
}

bool cs_app_path_reserved(const char *path)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(reserved_paths); i++)
        if (strcmp(path, reserved_paths[i]) == 0)
            return true;
    return false;
}

void cs_app_free(consort_app *app)
{
    if (app == NULL)
        return;
    /* app.h: once, after the last handler (the caller stopped serving), and
     * before the module's code goes away */
    cs_app_fini_fn fini = app->fini;
    app->fini = NULL;
    if (fini != NULL)
        fini(app);
    cs_free(app->eps);
    if (app->dl != NULL)
        dlclose(app->dl);
    app_image_release(app->image);
    cs_free(app);
}

bool cs_app_module_identity(const consort_app *app, uint8_t digest[32], uint64_t *dev,
                            uint64_t *ino)
{
    if (app == NULL || app->image == NULL)
        return false;
    app_image_identity(app->image, digest, dev, ino);
    return true;
}

/* Looks a symbol up; NULL if the module does not export it. */
static void *find_symbol(void *dl, const char *name)
{
    (void)dlerror(); /* clear a stale error */
    return dlsym(dl, name);
}

/* Copies what `src` holds, at most CS_APP_MODULE_MAX bytes, into `mfd`: the only read. */
consort_err cs_app_load(const char *path, consort_app **out)
{
    consort_app *app = NULL;
    CS_TRY(cs_app_new(&app));
    consort_err rc;
    CS_TRY_GOTO(rc, app_image_load(path, &app->image), fail);
    /* dlopen() of the sealed memfd through its /proc name: the loader maps the
     * bytes that were hashed, never the file again. RTLD_NOW: an unresolved
     * symbol fails here, not in the middle of a request. */
    char name[64];
    snprintf(name, sizeof name, "/proc/self/fd/%d", app_image_fd(app->image));
    app->dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (app->dl == NULL) {
        rc = cs_fail(CONSORT_E_IO, "application module %s: %s", path, dlerror());
        goto fail;
    }
    const uint32_t *abi = find_symbol(app->dl, "consort_app_abi_version");
    CS_ENSURE_GOTO(rc, abi != NULL, fail, CONSORT_E_UNSUPPORTED,
                   "application module %s: no consort_app_abi_version (CONSORT_APP_DECLARE() "
                   "missing; this consortd runs ABI %u)",
                   path, (unsigned)CONSORT_APP_ABI_VERSION);
    CS_ENSURE_GOTO(rc, *abi == CONSORT_APP_ABI_VERSION, fail, CONSORT_E_UNSUPPORTED,
                   "application module %s was built for consort application ABI %u; this "
                   "consortd runs ABI %u: rebuild it against include/consort/app.h",
                   path, *abi, (unsigned)CONSORT_APP_ABI_VERSION);
    consort_err (*init)(consort_app *);
    /* POSIX dlsym: a function's address comes back as an object pointer */
    void *sym = find_symbol(app->dl, "consort_app_init");
    memcpy(&init, &sym, sizeof init);
    CS_ENSURE_GOTO(rc, sym != NULL, fail, CONSORT_E_UNSUPPORTED,
                   "application module %s: no consort_app_init", path);
    /* optional; looked up before init so that nothing can fail between a
     * successful init and the promise that fini will run */
    const consort_egress *egress = find_symbol(app->dl, "consort_app_egress");
    rc = cs_app_set_egress(app, egress);
    if (rc != CONSORT_OK) {
        rc = cs_err_context(rc, "application module %s: CONSORT_APP_EGRESS", path);
        goto fail;
    }
    const int *scope = find_symbol(app->dl, "consort_app_sealing");
    rc = cs_app_set_sealing(app, scope != NULL ? *scope : CONSORT_SEALING_NODE);
    if (rc != CONSORT_OK) {
        rc = cs_err_context(rc, "application module %s: CONSORT_APP_SEALING", path);
        goto fail;
    }
    cs_app_fini_fn fini;
    sym = find_symbol(app->dl, "consort_app_fini");
    memcpy(&fini, &sym, sizeof fini);
    cs_err_clear();
    rc = init(app);
    if (rc != CONSORT_OK) {
        /* app.h: no fini after a failed init (init released what it took) */
        rc = cs_err_context(rc, "application module %s: consort_app_init failed (%s)", path,
                            consort_err_name(rc));
        goto fail;
    }
    app->fini = fini;
    cs_app_seal(app);
    uint8_t digest[32];
    uint64_t dev, ino;
    app_image_identity(app->image, digest, &dev, &ino);
    char hex[65];
    cs_hex_encode(CS_SLICE(digest, 32), hex);
    char calls[CONSORT_APP_EGRESS_MAX * 76 + 8] = "none";
    for (size_t i = 0, at = 0; i < app->egress_count; i++)
        at += (size_t)snprintf(calls + at, sizeof calls - at, "%s%s%s", i > 0 ? ", " : "",
                               app->egress[i].service, app->egress[i].pinned ? " (pinned)" : "");
    cs_log_info("app",
                "loaded %s (%zu bytes, SHA-256 %s, from a sealed memfd): %zu endpoints; calls "
                "(CONSORT_APP_EGRESS): %s; sealing scope: %s",
                path, app_image_len(app->image), hex, app->count, calls,
                app->sealing == CONSORT_SEALING_SERVICE ? "service" : "node");
    *out = app;
    return CONSORT_OK;
fail:
    cs_app_free(app);
    return rc;
}

size_t cs_app_endpoint_count(const consort_app *app)
{
    return app->count;
}

const cs_app_endpoint *cs_app_endpoint_at(const consort_app *app, size_t i)
{
    return i < app->count ? &app->eps[i] : NULL;
}

const cs_app_endpoint *cs_app_find(const consort_app *app, const char *method, const char *path,
                                   bool *path_known, char *allow, size_t allow_len)
{
    *path_known = false;
    if (allow != NULL && allow_len > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < app->count; i++) {
        const cs_app_endpoint *ep = &app->eps[i];
        if (strcmp(ep->path, path) != 0)
            continue;
        if (strcmp(ep->method, method) == 0)
            return ep;
        if (allow != NULL && allow_len > 0) {
            size_t used = strlen(allow);
            /* what does not fit is left out: the Allow header is advisory */
            if (used + strlen(ep->method) + 3 <= allow_len) {
                if (*path_known)
                    strcat(allow, ", ");
                strcat(allow, ep->method);
            }
        }
        *path_known = true;
    }
    return NULL;
}

/* RFC 9110 §9.1: method = token; we take upper-case letters only, as every standard one. */
bool cs_app_method_valid(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n >= CS_APP_METHOD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    return true;
}

/* RFC 3986 §3.3 pchar without pct-encoded, and '/': an exact path never needs escapes. */
static bool valid_path(const char *p)
{
    size_t n = strlen(p);
    if (n <= 5 || n >= CS_APP_PATH_MAX || strncmp(p, "/app/", 5) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr("-._~!$&'()*+,;=:@/", c) == NULL)
            return false;
    }
    return true;
}

consort_err consort_app_endpoint(consort_app *app, const char *method, const char *path,
                                 consort_handler handler, consort_auth auth, consort_mode mode,
                                 void *ctx)
{
    CS_ENSURE(app != NULL && method != NULL && path != NULL && handler != NULL,
              CONSORT_E_INVALID_ARGUMENT, "consort_app_endpoint: NULL argument");
    CS_ENSURE(!app->sealed, CONSORT_E_STATE,
              "consort_app_endpoint %s %s: only allowed inside consort_app_init", method, path);
    CS_ENSURE(cs_app_method_valid(method), CONSORT_E_INVALID_ARGUMENT,
              "consort_app_endpoint: method '%.32s' is not an upper-case HTTP method", method);
    CS_ENSURE(valid_path(path), CONSORT_E_INVALID_ARGUMENT,
              "consort_app_endpoint %s: path '%.300s' must be \"/app/...\", under %d bytes, "
              "without query, escapes or spaces",
              method, path, CS_APP_PATH_MAX);
    CS_ENSURE(!cs_app_path_reserved(path), CONSORT_E_INVALID_ARGUMENT,
              "consort_app_endpoint %s %s: the path is reserved: consortd serves it itself "
              "(include/consort/app.h lists the reserved paths)",
              method, path);
    CS_ENSURE(auth == CONSORT_AUTH_NONE || auth == CONSORT_AUTH_USER || auth == CONSORT_AUTH_MEMBER,
              CONSORT_E_INVALID_ARGUMENT, "consort_app_endpoint %s %s: auth %d unknown", method,
              path, (int)auth);
    CS_ENSURE(mode == CONSORT_READ_ONLY || mode == CONSORT_READ_WRITE, CONSORT_E_INVALID_ARGUMENT,
              "consort_app_endpoint %s %s: mode %d unknown", method, path, (int)mode);
    bool known;
    CS_ENSURE(cs_app_find(app, method, path, &known, NULL, 0) == NULL, CONSORT_E_INVALID_ARGUMENT,
              "consort_app_endpoint %s %s: registered twice", method, path);
    CS_ENSURE(app->count < CS_APP_MAX_ENDPOINTS, CONSORT_E_TOO_LARGE,
              "consort_app_endpoint %s %s: more than %d endpoints", method, path,
              CS_APP_MAX_ENDPOINTS);
    cs_app_endpoint *eps = cs_realloc(app->eps, (app->count + 1) * sizeof *eps);
    CS_ENSURE(eps != NULL, CONSORT_E_NOMEM, "consort_app_endpoint: out of memory");
    app->eps = eps;
    cs_app_endpoint *ep = &eps[app->count++];
    memset(ep, 0, sizeof *ep);
    strcpy(ep->method, method); /* lengths checked above */
    strcpy(ep->path, path);
    ep->handler = handler;
    ep->auth = auth;
    ep->mode = mode;
    ep->ctx = ctx;
    return CONSORT_OK;
}
