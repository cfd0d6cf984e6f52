/* Routing over the built-in endpoints and the application's (rpc_route.h). */
#include "node/rpc_route.h"

#include "node/console.h"

#include <stdio.h>
#include <string.h>

/* Every built-in route: the one table routing, /node/api and the per-route
 * metrics read. A path with "{...}" has one parameter: 64 lower-case hex digits. */
static const cs_rpc_route_info routes[] = {
    /* the node's own documents: anyone who can reach it over TLS */
    {"GET", "/node/state", CS_RPC_NODE_STATE, CS_RPC_AUTH_NONE, false,
     "This node's state: role, term, last committed and signed transaction", NULL},
    {"GET", "/node/network", CS_RPC_NODE_NETWORK, CS_RPC_AUTH_NONE, false,
     "The service certificate and the service's nodes", NULL},
    {"GET", "/node/quotes", CS_RPC_NODE_QUOTES, CS_RPC_AUTH_NONE, false,
     "Each node's attestation evidence", NULL},
    {"GET", "/node/version", CS_RPC_NODE_VERSION, CS_RPC_AUTH_NONE, false,
     "consortd's version and the application ABI", NULL},
    {"GET", "/node/metrics", CS_RPC_NODE_METRICS, CS_RPC_AUTH_NONE, false,
     "Metrics in the Prometheus text format", NULL},
    {"GET", "/node/tx", CS_RPC_NODE_TX, CS_RPC_AUTH_NONE, false, "Status of a transaction",
     "transaction_id"},
    {"GET", "/node/commit", CS_RPC_NODE_COMMIT, CS_RPC_AUTH_NONE, false,
     "The last committed transaction", NULL},
    {"GET", "/node/overview", CS_RPC_NODE_OVERVIEW, CS_RPC_AUTH_NONE, false,
     "Every node's raft role, platform, code id and evidence verified now (the console's network "
     "view)",
     NULL},
    {"GET", "/node/health", CS_RPC_NODE_HEALTH, CS_RPC_AUTH_NONE, false,
     "Liveness: the process serves HTTP", NULL},
    {"GET", "/node/ready/app", CS_RPC_NODE_READY_APP, CS_RPC_AUTH_NONE, false,
     "Readiness for application requests (503 with the reason if not)", NULL},
    {"GET", "/node/ready/gov", CS_RPC_NODE_READY_GOV, CS_RPC_AUTH_NONE, false,
     "Readiness for governance requests (503 with the reason if not)", NULL},
    {"GET", "/node/api", CS_RPC_NODE_API, CS_RPC_AUTH_NONE, false,
     "OpenAPI 3.1 document of the node and governance routes", NULL},
    {"GET", CS_APP_API_PATH, CS_RPC_APP_API, CS_RPC_AUTH_NONE, false,
     "OpenAPI 3.1 document of the application's routes", NULL},
    /* a receipt reveals the commit evidence: for the service's users and members */
    {"GET", CS_APP_RECEIPT_PATH, CS_RPC_APP_RECEIPT, CS_RPC_AUTH_USER_OR_MEMBER, false,
     "COSE receipt of a committed transaction", "transaction_id"},
    /* governance: who the members and users are is public (certificates) */
    {"GET", "/gov/members", CS_RPC_GOV_MEMBERS, CS_RPC_AUTH_NONE, false,
     "The members' certificates", NULL},
    {"GET", "/gov/users", CS_RPC_GOV_USERS, CS_RPC_AUTH_NONE, false, "The users' certificates",
     NULL},
    /* proposals and ballots: the signature inside the request authenticates (gov.h) */
    {"POST", "/gov/proposals", CS_RPC_GOV_PROPOSE, CS_RPC_AUTH_NONE, true,
     "Submit a signed proposal", NULL},
    {"GET", "/gov/proposals", CS_RPC_GOV_PROPOSALS, CS_RPC_AUTH_NONE, false, "List proposals",
     NULL},
    {"GET", "/gov/proposals/{proposal_id}", CS_RPC_GOV_PROPOSAL, CS_RPC_AUTH_NONE, false,
     "One proposal and its ballots", NULL},
    {"POST", "/gov/proposals/{proposal_id}/ballots", CS_RPC_GOV_BALLOT, CS_RPC_AUTH_NONE, true,
     "Submit a signed ballot", NULL},
    {"POST", "/gov/proposals/{proposal_id}/withdraw", CS_RPC_GOV_WITHDRAW, CS_RPC_AUTH_NONE, true,
     "Withdraw a proposal (signed by its proposer)", NULL},
    {"GET", "/gov/service", CS_RPC_GOV_SERVICE, CS_RPC_AUTH_NONE, false,
     "The service's status and configuration", NULL},
    {"GET", "/gov/constitution", CS_RPC_GOV_CONSTITUTION, CS_RPC_AUTH_NONE, false,
     "The constitution in force", NULL},
    /* the code certificates governance accepted (gov_codecert.h): public by design */
    {"GET", "/gov/code/transparency", CS_RPC_GOV_CODE_TRANSPARENCY, CS_RPC_AUTH_NONE, false,
     "Code certificates governance accepted", NULL},
    /* recovery: shares are encrypted to their members; a submission is signed (recovery.h) */
    {"GET", "/gov/recovery", CS_RPC_GOV_RECOVERY, CS_RPC_AUTH_NONE, false, "Recovery status", NULL},
    {"GET", "/gov/recovery/share/{member_id}", CS_RPC_GOV_RECOVERY_SHARE, CS_RPC_AUTH_NONE, false,
     "A member's encrypted recovery share", NULL},
    {"POST", "/gov/recovery/share", CS_RPC_GOV_RECOVERY_SUBMIT, CS_RPC_AUTH_NONE, false,
     "Submit a signed, decrypted recovery share", NULL},
};

size_t cs_rpc_route_count(void)
{
    return CS_ARRAY_LEN(routes);
}

const cs_rpc_route_info *cs_rpc_route_at(size_t i)
{
    return i < CS_ARRAY_LEN(routes) ? &routes[i] : NULL;
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

/* True if `path` is `tmpl`: equal, or with its "{...}" parameter 64 lower-case
 * hex digits (copied to id). */
static bool path_matches(const char *tmpl, const char *path, char id[65])
{
    const char *open = strchr(tmpl, '{');
    if (open == NULL)
        return strcmp(tmpl, path) == 0;
    const char *close = strchr(open, '}');
    size_t plen = (size_t)(open - tmpl);
    if (close == NULL || strncmp(path, tmpl, plen) != 0 || strlen(path) < plen + 64 ||
        !is_lower_hex(path + plen, 64) || strcmp(path + plen + 64, close + 1) != 0)
        return false;
    memcpy(id, path + plen, 64);
    id[64] = '\0';
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
    for (size_t i = 0; i < CS_ARRAY_LEN(routes); i++) {
        if (!path_matches(routes[i].path, path, out->id))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            out->kind = CS_ROUTE_BUILTIN;
            out->builtin = routes[i].id;
            out->auth = routes[i].auth;
            out->writes = routes[i].writes;
            out->index = i;
            out->allow[0] = '\0';
            return;
        }
        out->kind = CS_ROUTE_BAD_METHOD;
        add_allow(out, routes[i].method);
    }
    if (out->kind == CS_ROUTE_BAD_METHOD)
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
        out->index = CS_ARRAY_LEN(routes) + (size_t)(ep - cs_app_endpoint_at(app, 0));
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
