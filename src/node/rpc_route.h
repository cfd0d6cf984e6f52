/*
 * Routing for the node's HTTP API, without I/O: which endpoint a method and
 * path name (built-in or the application's), or why none does (404/405),
 * and what authentication it needs. docs/http-api.md lists the endpoints.
 */
#ifndef CS_NODE_RPC_ROUTE_H
#define CS_NODE_RPC_ROUTE_H

#include "node/app_host.h"

/* The built-in endpoints. */
typedef enum cs_rpc_builtin {
    CS_RPC_NODE_STATE = 1,
    CS_RPC_NODE_NETWORK,
    CS_RPC_NODE_QUOTES,
    CS_RPC_NODE_VERSION,
    CS_RPC_NODE_METRICS,
    CS_RPC_NODE_TX,
    CS_RPC_NODE_COMMIT,
    CS_RPC_NODE_OVERVIEW,  /* GET /node/overview */
    CS_RPC_NODE_HEALTH,    /* GET /node/health (rpc_observe.c) */
    CS_RPC_NODE_READY_APP, /* GET /node/ready/app */
    CS_RPC_NODE_READY_GOV, /* GET /node/ready/gov */
    CS_RPC_NODE_API,       /* GET /node/api: OpenAPI of the node's and governance's routes */
    CS_RPC_APP_API,        /* GET /app/api: OpenAPI of the application's routes */
    CS_RPC_APP_RECEIPT,
    CS_RPC_GOV_MEMBERS,
    CS_RPC_GOV_USERS,
    CS_RPC_GOV_PROPOSE,           /* POST /gov/proposals */
    CS_RPC_GOV_PROPOSALS,         /* GET /gov/proposals */
    CS_RPC_GOV_PROPOSAL,          /* GET /gov/proposals/{id} */
    CS_RPC_GOV_BALLOT,            /* POST /gov/proposals/{id}/ballots */
    CS_RPC_GOV_WITHDRAW,          /* POST /gov/proposals/{id}/withdraw */
    CS_RPC_GOV_SERVICE,           /* GET /gov/service */
    CS_RPC_GOV_CONSTITUTION,      /* GET /gov/constitution */
    CS_RPC_GOV_CODE_TRANSPARENCY, /* GET /gov/code/transparency */
    /* recovery (docs/recovery.md; rpc_recovery.c) */
    CS_RPC_GOV_RECOVERY,        /* GET /gov/recovery */
    CS_RPC_GOV_RECOVERY_SHARE,  /* GET /gov/recovery/share/{member id} */
    CS_RPC_GOV_RECOVERY_SUBMIT, /* POST /gov/recovery/share */
} cs_rpc_builtin;

/* Who may call an endpoint (the application's consort_auth, plus users or members). */
typedef enum cs_rpc_auth {
    CS_RPC_AUTH_NONE = 0,
    CS_RPC_AUTH_USER,
    CS_RPC_AUTH_MEMBER,
    CS_RPC_AUTH_USER_OR_MEMBER,
} cs_rpc_auth;

typedef enum cs_rpc_route_kind {
    CS_ROUTE_NOT_FOUND = 0, /* 404 */
    CS_ROUTE_BAD_METHOD,    /* 405: the path exists with other methods (see allow) */
    CS_ROUTE_BUILTIN,
    CS_ROUTE_APP,
    CS_ROUTE_CONSOLE, /* a web console file (console.h), GET only */
} cs_rpc_route_kind;

typedef struct cs_rpc_route {
    cs_rpc_route_kind kind;
    cs_rpc_builtin builtin;               /* CS_ROUTE_BUILTIN */
    const cs_app_endpoint *app;           /* CS_ROUTE_APP */
    const struct cs_console_asset *asset; /* CS_ROUTE_CONSOLE */
    cs_rpc_auth auth;
    bool writes;     /* read-write: runs on the leader */
    size_t index;    /* CS_ROUTE_BUILTIN: cs_rpc_route_at's index; CS_ROUTE_APP: the endpoint's
                        cs_app_endpoint_at index plus cs_rpc_route_count() */
    char id[65];     /* /gov/proposals/{id}..., /gov/recovery/share/{id}: the id (64 lower-case
                        hex) */
    char allow[128]; /* CS_ROUTE_BAD_METHOD: the Allow header (RFC 9110 §15.5.6) */
} cs_rpc_route;

/* Routes `method` `path` (exact, still percent-encoded) over the built-in
 * endpoints and `app` (may be NULL: no application). */
void cs_rpc_route_find(const consort_app *app, const char *method, const char *path,
                       cs_rpc_route *out);

/* The HTTP status an authentication check ends in: 0 (allowed), 401 (no
 * certificate) or 403 (a certificate, but not one of the required kind). */
int cs_rpc_auth_status(cs_rpc_auth need, bool has_cert, bool is_user, bool is_member);

/*
 * The built-in routes as registered, for documents generated from them
 * (rpc_openapi.c, the per-route metrics): `path` is a template
 * ("/gov/proposals/{proposal_id}") for the routes with a path parameter,
 * whose value is 64 lower-case hex digits. Static storage; i <
 * cs_rpc_route_count() (else NULL).
 */
typedef struct cs_rpc_route_info {
    const char *method;
    const char *path;
    cs_rpc_builtin id;
    cs_rpc_auth auth;
    bool writes;
    const char *summary;
    const char *query; /* a required query parameter ("transaction_id"), or NULL */
} cs_rpc_route_info;
size_t cs_rpc_route_count(void);
const cs_rpc_route_info *cs_rpc_route_at(size_t i);

/* "user", "member", ... for messages. */
const char *cs_rpc_auth_name(cs_rpc_auth auth);

#endif
