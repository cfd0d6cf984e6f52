/*
 * OpenAPI 3.1 documents generated from the registered routes (rpc_openapi.h).
 * Each operation states its summary, who may call it (x-consort-auth, and
 * the mutualTLS scheme for users and members), whether it writes
 * (x-consort-mode: read-write runs on the leader and answers with
 * x-consort-txid), its path and query parameters, and its answers.
 */
#include "node/rpc_openapi.h"

#include "node/console.h"

#include "node/rpc_route.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One operation to document: a built-in route or an application endpoint. */
typedef struct api_op {
    const char *method, *path, *summary, *query;
    cs_rpc_auth auth;
    bool writes;
    bool app; /* the application's endpoint (else the node's own) */
} api_op;

static const char *auth_name(cs_rpc_auth a)
{
    return a == CS_RPC_AUTH_USER     ? "user"
           : a == CS_RPC_AUTH_MEMBER ? "member"
           : a == CS_RPC_AUTH_NONE   ? "none"
                                     : "user_or_member";
}

static json_t *error_response(const char *description)
{
    return json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", description, "content",
                     "application/json", "schema", "$ref", "#/components/schemas/Error");
}

/* "get_gov_proposals_proposal_id_ballots": unique per method and path. */
static void operation_id(const api_op *op, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *m = op->method; *m != '\0' && n + 1 < cap; m++)
        out[n++] = (char)(*m >= 'A' && *m <= 'Z' ? *m - 'A' + 'a' : *m);
    for (const char *p = op->path; *p != '\0' && n + 1 < cap; p++) {
        bool word =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        if (word)
            out[n++] = *p;
        else if (*p != '{' && *p != '}' && n > 0 && out[n - 1] != '_')
            out[n++] = '_';
    }
    out[n] = '\0';
}

static json_t *parameters(const api_op *op)
{
    json_t *params = json_array();
    const char *open = strchr(op->path, '{');
    const char *close = open != NULL ? strchr(open, '}') : NULL;
    if (params != NULL && close != NULL)
        json_array_append_new(params,
                              json_pack("{s:s%, s:s, s:b, s:s, s:{s:s, s:s}}", "name", open + 1,
                                        (size_t)(close - open - 1), "in", "path", "required", 1,
                                        "description", "64 lower-case hex digits", "schema", "type",
                                        "string", "pattern", "^[0-9a-f]{64}$"));
    if (params != NULL && op->query != NULL)
        json_array_append_new(params,
                              json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:s}}", "name", op->query,
                                        "in", "query", "required", 1, "description",
                                        "<term>.<seqno>, both decimal and >= 1", "schema", "type",
                                        "string", "pattern", "^[0-9]+\\.[0-9]+$"));
    return params;
}

static json_t *operation(const api_op *op)
{
    char id[CS_APP_PATH_MAX + 2 * CS_APP_METHOD_MAX];
    operation_id(op, id, sizeof id);
    json_t *ok = json_pack("{s:s}", "description", "Success");
    if (ok != NULL && op->writes)
        json_object_set_new(ok, "headers",
                            json_pack("{s:{s:s, s:{s:s}}}", "x-consort-txid", "description",
                                      "The committed transaction: <term>.<seqno>", "schema", "type",
                                      "string"));
    json_t *responses = json_pack("{s:o, s:o}", "200", ok, "default",
                                  error_response("An error: the status and body say which"));
    if (responses != NULL && op->auth != CS_RPC_AUTH_NONE) {
        json_object_set_new(responses, "401", error_response("No client certificate"));
        json_object_set_new(responses, "403",
                            error_response("The certificate is not one of the "
                                           "callers allowed"));
    }
    if (responses != NULL && op->writes)
        json_object_set_new(responses, "503",
                            error_response("No leader known (Retry-After says when to retry)"));
    json_t *security =
        op->auth == CS_RPC_AUTH_NONE ? json_array() : json_pack("[{s:[]}]", "clientCertificate");
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:s}", "operationId", id, "summary",
                     op->summary, "parameters", parameters(op), "responses", responses, "security",
                     security, "x-consort-auth", auth_name(op->auth), "x-consort-mode",
                     op->writes ? "read-write" : "read-only", "x-consort-source",
                     op->app ? "application" : "builtin");
}

/* Adds `op` under paths[op->path][method]. */
static int add_op(json_t *paths, const api_op *op)
{
    json_t *item = json_object_get(paths, op->path);
    if (item == NULL) {
        item = json_object();
        if (item == NULL || json_object_set_new(paths, op->path, item) != 0)
            return -1;
    }
    char method[CS_APP_METHOD_MAX]; /* OpenAPI's path item fields are lower case */
    size_t n = 0;
    for (; op->method[n] != '\0' && n + 1 < sizeof method; n++)
        method[n] = (char)(op->method[n] >= 'A' && op->method[n] <= 'Z' ? op->method[n] - 'A' + 'a'
                                                                        : op->method[n]);
    method[n] = '\0';
    static const char *const standard[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};
    bool known = false;
    for (size_t i = 0; i < sizeof standard / sizeof standard[0]; i++)
        known = known || strcmp(standard[i], method) == 0;
    char key[CS_APP_METHOD_MAX + 24];
    /* OpenAPI 3.1 has fields for these methods only: others are extensions */
    snprintf(key, sizeof key, "%s%s", known ? "" : "x-consort-method-", method);
    json_t *o = operation(op);
    return o != NULL ? json_object_set_new(item, key, o) : -1;
}

static int add_routes(json_t *paths, const consort_app *app, cs_rpc_api_doc which)
{
    for (size_t i = 0; i < cs_rpc_route_count(); i++) {
        const cs_rpc_route_info *r = cs_rpc_route_at(i);
        bool in_app = strncmp(r->path, "/app/", 5) == 0;
        if (in_app != (which == CS_RPC_API_APP))
            continue;
        const api_op op = {r->method, r->path, r->summary, r->query, r->auth, r->writes, false};
        if (add_op(paths, &op) != 0)
            return -1;
    }
    /* the web console's files (console.h), the entry page as /console */
    for (size_t i = 0; which == CS_RPC_API_NODE && i < cs_console_asset_count; i++) {
        const char *path = cs_console_assets[i].path;
        const api_op op = {"GET",
                           strcmp(path, CS_CONSOLE_INDEX) == 0 ? CS_CONSOLE_PATH : path,
                           "A file of the web console (docs/operating.md \"Web console\")",
                           NULL,
                           CS_RPC_AUTH_NONE,
                           false,
                           false};
        if (add_op(paths, &op) != 0)
            return -1;
    }
    size_t count = which == CS_RPC_API_APP && app != NULL ? cs_app_endpoint_count(app) : 0;
    for (size_t i = 0; i < count; i++) {
        const cs_app_endpoint *ep = cs_app_endpoint_at(app, i);
        const api_op op = {
            ep->method,
            ep->path,
            "An endpoint of the application",
            NULL,
            ep->auth == CONSORT_AUTH_USER     ? CS_RPC_AUTH_USER
            : ep->auth == CONSORT_AUTH_MEMBER ? CS_RPC_AUTH_MEMBER
                                              : CS_RPC_AUTH_NONE,
            ep->mode == CONSORT_READ_WRITE,
            true,
        };
        if (add_op(paths, &op) != 0)
            return -1;
    }
    return 0;
}

consort_err cs_rpc_openapi(const consort_app *app, cs_rpc_api_doc which, const char *version,
                           cs_buf *out)
{
    json_t *paths = json_object();
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:s}}, s:{s:{s:s, s:[s], s:{s:{s:s, "
        "s:[s,s], s:{s:{s:s}, s:{s:s}}}}}}}}",
        "openapi", "3.1.0", "info", "title",
        which == CS_RPC_API_APP ? "consort application API" : "consort node and governance API",
        "version", version, "description",
        "Generated by consortd from the routes it serves (docs/http-api.md). Errors are JSON "
        "{\"error\": {\"code\", \"message\"}}.",
        "paths", paths != NULL ? json_incref(paths) : json_null(), "components", "securitySchemes",
        "clientCertificate", "type", "mutualTLS", "description",
        "A TLS client certificate registered as a user or member (its SHA-256 fingerprint)",
        "schemas", "Error", "type", "object", "required", "error", "properties", "error", "type",
        "object", "required", "code", "message", "properties", "code", "type", "string", "message",
        "type", "string");
    int bad = doc == NULL || paths == NULL || add_routes(paths, app, which) != 0;
    json_decref(paths);
    char *text = bad ? NULL : json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "OpenAPI document: out of memory");
    consort_err rc = cs_buf_append(out, text, strlen(text));
    free(text);
    return rc;
}
