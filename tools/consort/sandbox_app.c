/*
 * The endpoints of the application a sandbox runs, for its banner: listed by
 * the node's own loader (node/app_host.h), so the banner names exactly what
 * consortd will serve, not the logging sample's paths.
 */
#include "sandbox.h"

#include "base/alloc.h"
#include "base/log.h"
#include "node/app_host.h"

#include <string.h>

_Static_assert(sizeof(((cs_sbx_endpoint *)0)->method) == CS_APP_METHOD_MAX, "method size");
_Static_assert(sizeof(((cs_sbx_endpoint *)0)->path) == CS_APP_PATH_MAX, "path size");

void cs_sbx_app_init(cs_sbx_app *app)
{
    memset(app, 0, sizeof *app);
}

void cs_sbx_app_cleanup(cs_sbx_app *app)
{
    cs_free(app->eps);
    cs_sbx_app_init(app);
}

/* Copies the registry of a loaded application into `out`. */
static consort_err copy_endpoints(const consort_app *loaded, cs_sbx_app *out)
{
    size_t n = cs_app_endpoint_count(loaded);
    if (n == 0)
        return CONSORT_OK;
    out->eps = cs_calloc(n, sizeof *out->eps);
    CS_ENSURE(out->eps != NULL, CONSORT_E_NOMEM, "application endpoints: out of memory");
    for (size_t i = 0; i < n; i++) {
        const cs_app_endpoint *ep = cs_app_endpoint_at(loaded, i);
        cs_sbx_endpoint *e = &out->eps[i];
        memcpy(e->method, ep->method, sizeof e->method);
        memcpy(e->path, ep->path, sizeof e->path);
        e->auth = ep->auth;
        e->mode = ep->mode;
    }
    out->count = n;
    return CONSORT_OK;
}

consort_err cs_sbx_app_list(cs_sbx_app *app, const char *module)
{
    cs_sbx_app_cleanup(app);
    /* the loader's "loaded ... N endpoints" line is for consortd's log: the
     * banner says it better (CONSORT_LOG=debug still shows it) */
    cs_log_level was = cs_log_get_level();
    if (was == CS_LOG_INFO)
        cs_log_set_level(CS_LOG_WARN);
    consort_app *loaded = NULL;
    consort_err rc = cs_app_load(module, &loaded);
    cs_log_set_level(was);
    if (rc == CONSORT_OK) {
        rc = copy_endpoints(loaded, app);
        cs_app_free(loaded);
    }
    if (rc != CONSORT_OK) {
        snprintf(app->error, sizeof app->error, "%s", consort_errmsg());
        cs_free(app->eps);
        app->eps = NULL;
        app->count = 0;
        return rc;
    }
    app->listed = true;
    return CONSORT_OK;
}

static const char *auth_name(consort_auth auth)
{
    switch (auth) {
    case CONSORT_AUTH_NONE:
        return "anyone";
    case CONSORT_AUTH_USER:
        return "users";
    case CONSORT_AUTH_MEMBER:
        return "members";
    }
    return "?";
}

/* A method that carries a request body in the example. */
static bool takes_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

/* The curl command for `ep` on node 0, with the identity it needs. */
static void print_curl(const cs_sbx_endpoint *ep, const cs_sbx *sbx, FILE *out)
{
    const char *ws = sbx->workspace;
    fprintf(out, "  curl --cacert %s", sbx->service_cert);
    if (ep->auth == CONSORT_AUTH_USER)
        fprintf(out, " --cert %s/user0_cert.pem --key %s/user0_privk.pem", ws, ws);
    else if (ep->auth == CONSORT_AUTH_MEMBER)
        fprintf(out, " --cert %s/member0_cert.pem --key %s/member0_privk.pem", ws, ws);
    if (strcmp(ep->method, "GET") != 0)
        fprintf(out, " -X %s", ep->method);
    fprintf(out, " https://%s%s", sbx->nodes[0].rpc_address, ep->path);
    if (takes_body(ep->method))
        fprintf(out, " -H 'content-type: application/json' -d '{}'");
    fprintf(out, "\n");
}

void cs_sbx_app_print(const cs_sbx_app *app, const cs_sbx *sbx, FILE *out)
{
    fprintf(out, "application %s:\n", sbx->app);
    if (!app->listed)
        fprintf(out, "  (its endpoints could not be listed: %s)\n", app->error);
    else if (app->count == 0)
        fprintf(out, "  (it registers no endpoints)\n");
    for (size_t i = 0; i < app->count; i++) {
        const cs_sbx_endpoint *ep = &app->eps[i];
        fprintf(out, "  %-6s %-32s %s, %s\n", ep->method, ep->path, auth_name(ep->auth),
                ep->mode == CONSORT_READ_WRITE ? "read-write" : "read-only");
    }
    fprintf(out, "try (docs/http-api.md; TLS 1.3, the service certificate as the only trusted "
                 "root):\n");
    if (app->count > 0)
        print_curl(&app->eps[0], sbx, out);
    fprintf(out, "  curl --cacert %s https://%s/node/network\n", sbx->service_cert,
            sbx->nodes[0].rpc_address);
}
