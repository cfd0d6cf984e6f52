/*
 * Routing and authentication decisions of the node's HTTP API
 * (node/rpc_route.h), without a node: built-in endpoints, the
 * application's, 404 versus 405 with the Allow header, and 401/403.
 */
#include "testutil.h"

#include "node/console.h"
#include "node/rpc_openapi.h"
#include "node/rpc_route.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static consort_err noop(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    (void)tx;
    (void)rs;
    (void)ctx;
    return CONSORT_OK;
}

static consort_app *test_app(void)
{
    consort_app *app;
    cst_ok(cs_app_new(&app));
    cst_ok(consort_app_endpoint(app, "POST", "/app/log", noop, CONSORT_AUTH_USER,
                                CONSORT_READ_WRITE, NULL));
    cst_ok(consort_app_endpoint(app, "GET", "/app/log", noop, CONSORT_AUTH_USER, CONSORT_READ_ONLY,
                                NULL));
    cst_ok(consort_app_endpoint(app, "GET", "/app/open", noop, CONSORT_AUTH_NONE, CONSORT_READ_ONLY,
                                NULL));
    cst_ok(consort_app_endpoint(app, "PUT", "/app/gov", noop, CONSORT_AUTH_MEMBER,
                                CONSORT_READ_WRITE, NULL));
    cs_app_seal(app);
    return app;
}

static void builtins(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        cs_rpc_builtin id;
        cs_rpc_auth auth;
    } want[] = {
        {"/node/state", CS_RPC_NODE_STATE, CS_RPC_AUTH_NONE},
        {"/node/network", CS_RPC_NODE_NETWORK, CS_RPC_AUTH_NONE},
        {"/node/quotes", CS_RPC_NODE_QUOTES, CS_RPC_AUTH_NONE},
        {"/node/version", CS_RPC_NODE_VERSION, CS_RPC_AUTH_NONE},
        {"/node/metrics", CS_RPC_NODE_METRICS, CS_RPC_AUTH_NONE},
        {"/node/tx", CS_RPC_NODE_TX, CS_RPC_AUTH_NONE},
        {"/node/commit", CS_RPC_NODE_COMMIT, CS_RPC_AUTH_NONE},
        {"/node/overview", CS_RPC_NODE_OVERVIEW, CS_RPC_AUTH_NONE},
        {"/app/receipt", CS_RPC_APP_RECEIPT, CS_RPC_AUTH_USER_OR_MEMBER},
        {"/gov/members", CS_RPC_GOV_MEMBERS, CS_RPC_AUTH_NONE},
        {"/gov/users", CS_RPC_GOV_USERS, CS_RPC_AUTH_NONE},
        {"/node/health", CS_RPC_NODE_HEALTH, CS_RPC_AUTH_NONE},
        {"/node/ready/app", CS_RPC_NODE_READY_APP, CS_RPC_AUTH_NONE},
        {"/node/ready/gov", CS_RPC_NODE_READY_GOV, CS_RPC_AUTH_NONE},
        {"/node/api", CS_RPC_NODE_API, CS_RPC_AUTH_NONE},
        {"/app/api", CS_RPC_APP_API, CS_RPC_AUTH_NONE},
    };
    consort_app *app = test_app();
    for (size_t i = 0; i < CS_ARRAY_LEN(want); i++) {
        cs_rpc_route r;
        /* with and without an application */
        for (int with_app = 0; with_app < 2; with_app++) {
            cs_rpc_route_find(with_app ? app : NULL, "GET", want[i].path, &r);
            assert_int_equal(r.kind, CS_ROUTE_BUILTIN);
            assert_int_equal(r.builtin, want[i].id);
            assert_int_equal(r.auth, want[i].auth);
            assert_false(r.writes);
        }
        cs_rpc_route_find(app, "POST", want[i].path, &r);
        assert_int_equal(r.kind, CS_ROUTE_BAD_METHOD);
        assert_string_equal(r.allow, "GET");
    }
    cs_app_free(app);
}

/* The governance endpoints: /gov/proposals and /gov/proposals/{id}[/ballots|/withdraw]. */
static void governance_paths(void **state)
{
    (void)state;
    const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char path[160];
    cs_rpc_route r;
    cs_rpc_route_find(NULL, "POST", "/gov/proposals", &r);
    assert_int_equal(r.kind, CS_ROUTE_BUILTIN);
    assert_int_equal(r.builtin, CS_RPC_GOV_PROPOSE);
    assert_true(r.writes);
    cs_rpc_route_find(NULL, "GET", "/gov/proposals", &r);
    assert_int_equal(r.builtin, CS_RPC_GOV_PROPOSALS);
    assert_false(r.writes);
    cs_rpc_route_find(NULL, "DELETE", "/gov/proposals", &r);
    assert_int_equal(r.kind, CS_ROUTE_BAD_METHOD);
    assert_string_equal(r.allow, "POST, GET");
    static const struct {
        const char *suffix, *method;
        cs_rpc_builtin id;
        bool writes;
    } want[] = {{"", "GET", CS_RPC_GOV_PROPOSAL, false},
                {"/ballots", "POST", CS_RPC_GOV_BALLOT, true},
                {"/withdraw", "POST", CS_RPC_GOV_WITHDRAW, true}};
    for (size_t i = 0; i < CS_ARRAY_LEN(want); i++) {
        snprintf(path, sizeof path, "/gov/proposals/%s%s", id, want[i].suffix);
        cs_rpc_route_find(NULL, want[i].method, path, &r);
        assert_int_equal(r.kind, CS_ROUTE_BUILTIN);
        assert_int_equal(r.builtin, want[i].id);
        assert_int_equal(r.writes, want[i].writes);
        assert_string_equal(r.id, id);
        cs_rpc_route_find(NULL, strcmp(want[i].method, "GET") == 0 ? "POST" : "GET", path, &r);
        assert_int_equal(r.kind, CS_ROUTE_BAD_METHOD);
        assert_string_equal(r.allow, want[i].method);
    }
    /* not an id: upper case, short, long; an unknown suffix */
    static const char *const bad[] = {
        "/gov/proposals/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "/gov/proposals/0123",
        "/gov/proposals/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
        "/gov/proposals/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/vote",
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cs_rpc_route_find(NULL, "GET", bad[i], &r);
        assert_int_equal(r.kind, CS_ROUTE_NOT_FOUND);
    }
    cs_rpc_route_find(NULL, "GET", "/gov/service", &r);
    assert_int_equal(r.builtin, CS_RPC_GOV_SERVICE);
    cs_rpc_route_find(NULL, "GET", "/gov/constitution", &r);
    assert_int_equal(r.builtin, CS_RPC_GOV_CONSTITUTION);
}

/* The recovery endpoints (docs/recovery.md): no write through raft, signed
 * or public, the share path with a 64-hex member id only. */
static void recovery_paths(void **state)
{
    (void)state;
    const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char path[160];
    cs_rpc_route r;
    cs_rpc_route_find(NULL, "POST", "/gov/recovery/share", &r);
    assert_int_equal(r.kind, CS_ROUTE_BUILTIN);
    assert_int_equal(r.builtin, CS_RPC_GOV_RECOVERY_SUBMIT);
    assert_int_equal(r.auth, CS_RPC_AUTH_NONE);
    assert_false(r.writes);
    cs_rpc_route_find(NULL, "GET", "/gov/recovery/share", &r);
    assert_int_equal(r.kind, CS_ROUTE_BAD_METHOD);
    assert_string_equal(r.allow, "POST");
    cs_rpc_route_find(NULL, "GET", "/gov/recovery", &r);
    assert_int_equal(r.builtin, CS_RPC_GOV_RECOVERY);
    snprintf(path, sizeof path, "/gov/recovery/share/%s", id);
    cs_rpc_route_find(NULL, "GET", path, &r);
    assert_int_equal(r.kind, CS_ROUTE_BUILTIN);
    assert_int_equal(r.builtin, CS_RPC_GOV_RECOVERY_SHARE);
    assert_string_equal(r.id, id);
    cs_rpc_route_find(NULL, "POST", path, &r);
    assert_int_equal(r.kind, CS_ROUTE_BAD_METHOD);
    assert_string_equal(r.allow, "GET");
    static const char *const bad[] = {
        "/gov/recovery/share/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "/gov/recovery/share/0123",
        "/gov/recovery/share/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/x",
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cs_rpc_route_find(NULL, "GET", bad[i], &r);
        assert_int_equal(r.kind, CS_ROUTE_NOT_FOUND);
    }
}

static void application_endpoints(void **state)
{
    (void)state;
    consort_app *app = test_app();
    cs_rpc_route r;
    cs_rpc_route_find(app, "POST", "/app/log", &r);
    assert_int_equal(r.kind, CS_ROUTE_APP);
    assert_true(r.writes);
    assert_int_equal(r.auth, CS_RPC_AUTH_USER);
    assert_string_equal(r.app->path, "/app/log");
    assert_string_equal(r.app->method, "POST");
    cs_rpc_route_find(app, "GET", "/app/log", &r);
    assert_int_equal(r.kind, CS_ROUTE_APP);
    assert_false(r.writes);
    cs_rpc_route_find(app, "GET", "/app/open", &r);
    assert_int_equal(r.auth, CS_RPC_AUTH_NONE);
    cs_rpc_route_find(app, "PUT", "/app/gov", &r);
    assert_int_equal(r.auth, CS_RPC_AUTH_MEMBER);
    assert_true(r.writes);
    /* RFC 9110 §15.5.6: 405 with the methods that exist */
    cs_rpc_route_find(app, "DELETE", "/app/log", &r);
    assert_int_equal(r.kind, CS_ROUTE_BAD_METHOD);
    assert_string_equal(r.allow, "POST, GET");
    assert_null(r.app);
    /* unknown paths, and near misses: exact matching, case-sensitive, no decoding */
    static const char *const unknown[] = {"/app/lo",    "/app/log/",   "/APP/log",     "/app/%6Cog",
                                          "/app/log?x", "/node",       "/node/",       "/",
                                          "",           "/gov/member", "/node/state/x"};
    for (size_t i = 0; i < CS_ARRAY_LEN(unknown); i++) {
        cs_rpc_route_find(app, "GET", unknown[i], &r);
        if (r.kind != CS_ROUTE_NOT_FOUND)
            fail_msg("%s routed to kind %d", unknown[i], (int)r.kind);
        assert_string_equal(r.allow, "");
    }
    /* no application: its paths are unknown */
    cs_rpc_route_find(NULL, "POST", "/app/log", &r);
    assert_int_equal(r.kind, CS_ROUTE_NOT_FOUND);
    cs_app_free(app);
}

/* The web console (node/console.h): its files by exact path, GET only, for
 * anyone; every other path under /console is not found, with or without an
 * application. */
static void console_paths(void **state)
{
    (void)state;
    consort_app *app = test_app();
    static const char *const files[] = {"/console", "/console/", "/console/index.html",
                                        "/console/console.js", "/console/console.css"};
    for (size_t i = 0; i < CS_ARRAY_LEN(files); i++) {
        cs_rpc_route r;
        cs_rpc_route_find(app, "GET", files[i], &r);
        assert_int_equal(r.kind, CS_ROUTE_CONSOLE);
        assert_non_null(r.asset);
        assert_int_equal(r.auth, CS_RPC_AUTH_NONE);
        assert_false(r.writes);
        cs_rpc_route_find(NULL, "POST", files[i], &r);
        assert_int_equal(r.kind, CS_ROUTE_BAD_METHOD);
        assert_string_equal(r.allow, "GET");
    }
    cs_rpc_route r;
    cs_rpc_route_find(app, "GET", "/console", &r);
    assert_string_equal(r.asset->path, "/console/index.html");
    static const char *const unknown[] = {"/console/x.js", "/console/../node/state",
                                          "/console//index.html", "/consolex"};
    for (size_t i = 0; i < CS_ARRAY_LEN(unknown); i++) {
        cs_rpc_route_find(app, "GET", unknown[i], &r);
        if (r.kind != CS_ROUTE_NOT_FOUND)
            fail_msg("%s routed to kind %d", unknown[i], (int)r.kind);
        assert_null(r.asset);
    }
    cs_app_free(app);
}

static void authentication_statuses(void **state)
{
    (void)state;
    /* anyone */
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_NONE, false, false, false), 0);
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_NONE, true, false, false), 0);
    /* no certificate: 401, whatever is required */
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_USER, false, false, false), 401);
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_MEMBER, false, false, false), 401);
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_USER_OR_MEMBER, false, false, false), 401);
    /* a certificate of the wrong kind: 403 */
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_USER, true, false, false), 403);
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_USER, true, false, true), 403);
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_MEMBER, true, true, false), 403);
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_USER_OR_MEMBER, true, false, false), 403);
    /* the right kind */
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_USER, true, true, false), 0);
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_MEMBER, true, false, true), 0);
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_USER_OR_MEMBER, true, true, false), 0);
    assert_int_equal(cs_rpc_auth_status(CS_RPC_AUTH_USER_OR_MEMBER, true, false, true), 0);
    assert_string_equal(cs_rpc_auth_name(CS_RPC_AUTH_MEMBER), "a member");
}

/* `tmpl` with its {parameter} replaced by 64 hex digits. */
static void instantiate(const char *tmpl, char *out, size_t cap)
{
    const char *open = strchr(tmpl, '{');
    const char *close = open != NULL ? strchr(open, '}') : NULL;
    if (close == NULL) {
        snprintf(out, cap, "%s", tmpl);
        return;
    }
    snprintf(out, cap, "%.*s%s%s", (int)(open - tmpl), tmpl,
             "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", close + 1);
}

static json_t *api_doc(const consort_app *app, cs_rpc_api_doc which)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_rpc_openapi(app, which, "1.2.3", &b));
    json_error_t err;
    json_t *doc = json_loadb((const char *)b.ptr, b.len, 0, &err);
    if (doc == NULL)
        fail_msg("OpenAPI document is not JSON: %s", err.text);
    cs_buf_cleanup(&b);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "info"), "version")),
                        "1.2.3");
    return doc;
}

/* The operation `method` `path` of `doc`, checked against what routing says. */
static void check_documented(json_t *doc, const char *method, const char *path, const char *auth,
                             bool writes, const char *source)
{
    char lower[16];
    size_t n = 0;
    for (; method[n] != '\0' && n + 1 < sizeof lower; n++)
        lower[n] = (char)(method[n] - 'A' + 'a');
    lower[n] = '\0';
    json_t *op = json_object_get(json_object_get(json_object_get(doc, "paths"), path), lower);
    if (op == NULL)
        fail_msg("%s %s is registered but not documented", method, path);
    assert_string_equal(json_string_value(json_object_get(op, "x-consort-auth")), auth);
    assert_string_equal(json_string_value(json_object_get(op, "x-consort-mode")),
                        writes ? "read-write" : "read-only");
    assert_string_equal(json_string_value(json_object_get(op, "x-consort-source")), source);
    assert_non_null(json_object_get(json_object_get(op, "responses"), "200"));
}

/* Every route the documents list is one routing serves (not 404 or 405). */
static size_t check_served(json_t *doc, const consort_app *app)
{
    size_t ops = 0;
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        const char *key;
        json_t *op;
        json_object_foreach(item, key, op)
        {
            char method[16], concrete[CS_APP_PATH_MAX + 64];
            size_t n = 0;
            for (; key[n] != '\0' && n + 1 < sizeof method; n++)
                method[n] = (char)(key[n] - 'a' + 'A');
            method[n] = '\0';
            instantiate(path, concrete, sizeof concrete);
            cs_rpc_route r;
            cs_rpc_route_find(app, method, concrete, &r);
            if (r.kind != CS_ROUTE_BUILTIN && r.kind != CS_ROUTE_APP && r.kind != CS_ROUTE_CONSOLE)
                fail_msg("documented %s %s is not routed (kind %d)", method, path, (int)r.kind);
            ops++;
        }
    }
    return ops;
}

/* /node/api and /app/api list every registered route, with its
 * authentication and mode, and nothing else. */
static void openapi_documents_every_route(void **state)
{
    (void)state;
    consort_app *app = test_app();
    json_t *node = api_doc(app, CS_RPC_API_NODE);
    json_t *appdoc = api_doc(app, CS_RPC_API_APP);
    static const char *const auth[] = {"none", "user", "member", "user_or_member"};
    size_t builtin = cs_rpc_route_count();
    for (size_t i = 0; i < builtin; i++) {
        const cs_rpc_route_info *ri = cs_rpc_route_at(i);
        char concrete[CS_APP_PATH_MAX + 64];
        instantiate(ri->path, concrete, sizeof concrete);
        cs_rpc_route r;
        cs_rpc_route_find(app, ri->method, concrete, &r);
        assert_int_equal(r.kind, CS_ROUTE_BUILTIN);
        assert_int_equal(r.builtin, ri->id);
        assert_int_equal(r.index, i);
        check_documented(strncmp(ri->path, "/app/", 5) == 0 ? appdoc : node, ri->method, ri->path,
                         auth[ri->auth], ri->writes, "builtin");
    }
    assert_null(cs_rpc_route_at(builtin));
    for (size_t i = 0; i < cs_app_endpoint_count(app); i++) {
        const cs_app_endpoint *ep = cs_app_endpoint_at(app, i);
        cs_rpc_route r;
        cs_rpc_route_find(app, ep->method, ep->path, &r);
        assert_int_equal(r.kind, CS_ROUTE_APP);
        assert_int_equal(r.index, builtin + i);
        check_documented(appdoc, ep->method, ep->path, auth[ep->auth],
                         ep->mode == CONSORT_READ_WRITE, "application");
    }
    /* the console's files, /console for its entry page */
    for (size_t i = 0; i < cs_console_asset_count; i++) {
        const char *path = cs_console_assets[i].path;
        if (strcmp(path, CS_CONSOLE_INDEX) == 0)
            path = CS_CONSOLE_PATH;
        cs_rpc_route r;
        cs_rpc_route_find(app, "GET", path, &r);
        assert_int_equal(r.kind, CS_ROUTE_CONSOLE);
        check_documented(node, "GET", path, "none", false, "builtin");
    }
    assert_int_equal(check_served(node, app) + check_served(appdoc, app),
                     builtin + cs_app_endpoint_count(app) + cs_console_asset_count);
    json_decref(node);
    json_decref(appdoc);
    /* without an application: the node's own /app/ routes only */
    json_t *bare = api_doc(NULL, CS_RPC_API_APP);
    size_t own = 0;
    for (size_t i = 0; i < builtin; i++)
        own += strncmp(cs_rpc_route_at(i)->path, "/app/", 5) == 0;
    assert_true(own >= 2); /* /app/receipt, /app/api */
    assert_int_equal(json_object_size(json_object_get(bare, "paths")), own);
    json_decref(bare);
    cs_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtins),
        cmocka_unit_test(governance_paths),
        cmocka_unit_test(recovery_paths),
        cmocka_unit_test(application_endpoints),
        cmocka_unit_test(console_paths),
        cmocka_unit_test(authentication_statuses),
        cmocka_unit_test(openapi_documents_every_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
