/* Routing over the built-in endpoints and the application's (rpc_route.h). */
#include "node/rpc_route.h"

#include "node/console.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *method;
    const char *path;
    cs_rpc_builtin id;
    cs_rpc_auth auth;
    bool writes;
} builtins[] = {
    /* the node's own documents: anyone who can reach it over TLS */
    {"GET", "/node/state", CS_RPC_NODE_STATE, CS_RPC_AUTH_NONE, false},
    {"GET", "/node/network", CS_RPC_NODE_NETWORK, CS_RPC_AUTH_NONE, false},
    {"GET", "/node/quotes", CS_RPC_NODE_QUOTES, CS_RPC_AUTH_NONE, false},
    {"GET", "/node/version", CS_RPC_NODE_VERSION, CS_RPC_AUTH_NONE, false},
    {"GET", "/node/metrics", CS_RPC_NODE_METRICS, CS_RPC_AUTH_NONE, false},
    {"GET", "/node/tx", CS_RPC_NODE_TX, CS_RPC_AUTH_NONE, false},
    {"GET", "/node/commit", CS_RPC_NODE_COMMIT, CS_RPC_AUTH_NONE, false},
    {"GET", "/node/overview", CS_RPC_NODE_OVERVIEW, CS_RPC_AUTH_NONE, false},
    /* a receipt reveals the commit evidence: for the service's users and members */
    {"GET", CS_APP_RECEIPT_PATH, CS_RPC_APP_RECEIPT, CS_RPC_AUTH_USER_OR_MEMBER, false},
    /* governance: who the members and users are is public (certificates) */
    {"GET", "/gov/members", CS_RPC_GOV_MEMBERS, CS_RPC_AUTH_NONE, false},
    {"GET", "/gov/users", CS_RPC_GOV_USERS, CS_RPC_AUTH_NONE, false},
    /* proposals and ballots: the signature inside the request authenticates (gov.h) */
    {"POST", "/gov/proposals", CS_RPC_GOV_PROPOSE, CS_RPC_AUTH_NONE, true},
    {"GET", "/gov/proposals", CS_RPC_GOV_PROPOSALS, CS_RPC_AUTH_NONE, false},
    {"GET", "/gov/service", CS_RPC_GOV_SERVICE, CS_RPC_AUTH_NONE, false},
    {"GET", "/gov/constitution", CS_RPC_GOV_CONSTITUTION, CS_RPC_AUTH_NONE, false},
    /* the code certificates governance accepted (gov_codecert.h): public by design */
    {"GET", "/gov/code/transparency", CS_RPC_GOV_CODE_TRANSPARENCY, CS_RPC_AUTH_NONE, false},
    /* recovery: shares are encrypted to their members; a submission is signed (recovery.h) */
    {"GET", "/gov/recovery", CS_RPC_GOV_RECOVERY, CS_RPC_AUTH_NONE, false},
    {"POST", "/gov/recovery/share", CS_RPC_GOV_RECOVERY_SUBMIT, CS_RPC_AUTH_NONE, false},
};

/* /gov/proposals/{id}[/ballots | /withdraw]: the id is 64 lower-case hex digits. */
#define PROPOSAL_PREFIX "/gov/proposals/"

static const struct {
    const char *suffix;
    const char *method;
    cs_rpc_builtin id;
} proposal_paths[] = {
    {"", "GET", CS_RPC_GOV_PROPOSAL},
    {"/ballots", "POST", CS_RPC_GOV_BALLOT},
    {"/withdraw", "POST", CS_RPC_GOV_WITHDRAW},
};

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

/* Routes a proposal path; false if `path` is not one. */
static bool route_proposal(const char *method, const char *path, cs_rpc_route *out)
{
    size_t plen = strlen(PROPOSAL_PREFIX);
    if (strncmp(path, PROPOSAL_PREFIX, plen) != 0 || strlen(path) < plen + 64 ||
        !is_lower_hex(path + plen, 64))
        return false;
    const char *suffix = path + plen + 64;
    for (size_t i = 0; i < CS_ARRAY_LEN(proposal_paths); i++) {
        if (strcmp(proposal_paths[i].suffix, suffix) != 0)
            continue;
        memcpy(out->id, path + plen, 64);
        out->id[64] = '\0';
        if (strcmp(proposal_paths[i].method, method) != 0) {
            out->kind = CS_ROUTE_BAD_METHOD;
            snprintf(out->allow, sizeof out->allow, "%s", proposal_paths[i].method);
            return true;
        }
        out->kind = CS_ROUTE_BUILTIN;
        out->builtin = proposal_paths[i].id;
        out->auth = CS_RPC_AUTH_NONE;
        out->writes = proposal_paths[i].id != CS_RPC_GOV_PROPOSAL;
        return true;
    }
    return false;
}

/* GET /gov/recovery/share/{member id}; false if `path` is not one. */
#define SHARE_PREFIX "/gov/recovery/share/"
static bool route_share(const char *method, const char *path, cs_rpc_route *out)
{
    size_t plen = strlen(SHARE_PREFIX);
    if (strncmp(path, SHARE_PREFIX, plen) != 0 || strlen(path) != plen + 64 ||
        !is_lower_hex(path + plen, 64))
        return false;
    memcpy(out->id, path + plen, 64);
    out->id[64] = '\0';
    if (strcmp(method, "GET") != 0) {
        out->kind = CS_ROUTE_BAD_METHOD;
        snprintf(out->allow, sizeof out->allow, "GET");
        return true;
    }
    out->kind = CS_ROUTE_BUILTIN;
    out->builtin = CS_RPC_GOV_RECOVERY_SHARE;
    out->auth = CS_RPC_AUTH_NONE;
    return true;
}

/* /console and what is under it (console.h): a file of the compiled table,
 * GET only; any other path there is not found. */
static void route_console(const char *method, const char *path, cs_rpc_route *out)
{
    const cs_console_asset *asset = cs_console_find(path);
    if (asset == NULL)
        return; /* CS_ROUTE_NOT_FOUND */
    if (strcmp(method, "GET") != 0) {
        out->kind = CS_ROUTE_BAD_METHOD;
        snprintf(out->allow, sizeof out->allow, "GET");
        return;
    }
    out->kind = CS_ROUTE_CONSOLE;
    out->asset = asset;
    out->auth = CS_RPC_AUTH_NONE;
}

static void add_allow(cs_rpc_route *out, const char *method)
{
    size_t used = strlen(out->allow);
    if (used + strlen(method) + 3 > sizeof out->allow)
        return; /* advisory: what does not fit is left out */
    if (used > 0)
        strcat(out->allow, ", ");
    strcat(out->allow, method);
}

void cs_rpc_route_find(const consort_app *app, const char *method, const char *path,
                       cs_rpc_route *out)
{
    memset(out, 0, sizeof *out);
    out->kind = CS_ROUTE_NOT_FOUND;
    for (size_t i = 0; i < CS_ARRAY_LEN(builtins); i++) {
        if (strcmp(builtins[i].path, path) != 0)
            continue;
        if (strcmp(builtins[i].method, method) == 0) {
            out->kind = CS_ROUTE_BUILTIN;
            out->builtin = builtins[i].id;
            out->auth = builtins[i].auth;
            out->writes = builtins[i].writes;
            out->allow[0] = '\0';
            return;
        }
        out->kind = CS_ROUTE_BAD_METHOD;
        add_allow(out, builtins[i].method);
    }
    if (out->kind == CS_ROUTE_BAD_METHOD || route_proposal(method, path, out) ||
        route_share(method, path, out))
        return;
    if (cs_console_owns(path)) {
        route_console(method, path, out);
        return;
    }
    if (app == NULL)
        return; /* an application cannot register a built-in path (app_load.c) */
    bool known;
    const cs_app_endpoint *ep =
        cs_app_find(app, method, path, &known, out->allow, sizeof out->allow);
    if (ep != NULL) {
        out->kind = CS_ROUTE_APP;
        out->app = ep;
        out->writes = ep->mode == CONSORT_READ_WRITE;
        out->auth = ep->auth == CONSORT_AUTH_USER     ? CS_RPC_AUTH_USER
                    : ep->auth == CONSORT_AUTH_MEMBER ? CS_RPC_AUTH_MEMBER
                                                      : CS_RPC_AUTH_NONE;
        out->allow[0] = '\0';
    } else if (known) {
        out->kind = CS_ROUTE_BAD_METHOD;
    }
}

int cs_rpc_auth_status(cs_rpc_auth need, bool has_cert, bool is_user, bool is_member)
{
    if (need == CS_RPC_AUTH_NONE)
        return 0;
    /* RFC 9110 §15.5.2: 401 when credentials are missing; §15.5.4: 403 when they do not suffice */
    if (!has_cert)
        return 401;
    bool ok = (need == CS_RPC_AUTH_USER && is_user) || (need == CS_RPC_AUTH_MEMBER && is_member) ||
              (need == CS_RPC_AUTH_USER_OR_MEMBER && (is_user || is_member));
    return ok ? 0 : 403;
}

const char *cs_rpc_auth_name(cs_rpc_auth auth)
{
    switch (auth) {
    case CS_RPC_AUTH_NONE:
        return "anyone";
    case CS_RPC_AUTH_USER:
        return "a user";
    case CS_RPC_AUTH_MEMBER:
        return "a member";
    case CS_RPC_AUTH_USER_OR_MEMBER:
        return "a user or member";
    }
    return "?";
}
