/*
 * What operators ask a node (docs/observability.md): liveness and
 * readiness (GET /node/health, /node/ready/app, /node/ready/gov) and the
 * OpenAPI documents (GET /node/api, /app/api: rpc_openapi.c). The counters
 * behind /node/metrics are rpc_account.c's.
 */
#include "node/rpc_openapi.h"
#include "node/rpc_priv.h"

#include <stdio.h>
#include <string.h>

#ifndef CONSORT_VERSION
#define CONSORT_VERSION "unknown"
#endif

/* ---- health and readiness ---- */

/* Why this node cannot serve `app` (else governance) requests now, or NULL. */
static const char *not_ready(cs_rpc *rpc, bool app, char *why, size_t cap)
{
    cs_node *n = rpc->node;
    if (!cs_node_is_open(n)) {
        snprintf(why, cap, "the node is %s, not PartOfNetwork", cs_node_state_name(n));
        return why;
    }
    char leader[CS_NODE_ADDR_MAX];
    cs_node_leader_rpc_address(n, leader);
    if (leader[0] == '\0')
        return "no leader known: an election is under way, or this node cannot reach a majority "
               "of the service's nodes";
    bool self = strcmp(leader, rpc->address) == 0 || strcmp(leader, rpc->cfg->rpc_address) == 0;
    if (self && !cs_node_is_leader(n)) /* what forwarding answers 503 for, too */
        return "this node was just elected and does not accept writes yet";
    if (app && !cs_node_service_open(n))
        return "the service is not open to users yet (the members open it: "
               "transition_service_to_open)";
    if (app && rpc->app == NULL)
        return "the node runs no application module";
    return NULL;
}

static void respond_json(cs_rpc *rpc, cs_http_request *req, int status, const char *body)
{
    static const cs_http_header h[] = {{"Content-Type", "application/json"},
                                       {"Retry-After", CS_RPC_RETRY_AFTER}};
    cs_rpc_respond(rpc, req, status, h, status == 503 ? 2 : 1, cs_slice_str(body));
}

static void serve_ready(cs_rpc *rpc, cs_http_request *req, bool app)
{
    char why[160], body[400];
    const char *reason = not_ready(rpc, app, why, sizeof why);
    /* the reasons are ours: no character needs escaping in JSON */
    if (reason != NULL)
        snprintf(body, sizeof body, "{\"ready\":false,\"reason\":\"%s\"}", reason);
    else
        snprintf(body, sizeof body, "{\"ready\":true,\"leader\":%s}",
                 cs_node_is_leader(rpc->node) ? "true" : "false");
    respond_json(rpc, req, reason != NULL ? 503 : 200, body);
}

static void serve_health(cs_rpc *rpc, cs_http_request *req)
{
    char body[160];
    bool failed = cs_node_get_state(rpc->node) == CS_NODE_FAILED;
    snprintf(body, sizeof body, "{\"alive\":%s,\"state\":\"%s\"}", failed ? "false" : "true",
             cs_node_state_name(rpc->node));
    respond_json(rpc, req, failed ? 503 : 200, body);
}

static void serve_api(cs_rpc *rpc, cs_http_request *req, cs_rpc_api_doc which)
{
    static const cs_http_header h[] = {{"Content-Type", "application/json"}};
    cs_buf out;
    cs_buf_init(&out, 0);
    consort_err rc = cs_rpc_openapi(rpc->app, which, CONSORT_VERSION, &out);
    if (rc == CONSORT_OK)
        cs_rpc_respond(rpc, req, 200, h, 1, cs_buf_slice(&out));
    else
        cs_rpc_respond_internal(rpc, req, rc, "OpenAPI document");
    cs_buf_cleanup(&out);
}

void cs_rpc_observe_run(cs_rpc *rpc, cs_rpc_builtin id, cs_http_request *req)
{
    if (id == CS_RPC_NODE_HEALTH)
        serve_health(rpc, req);
    else if (id == CS_RPC_NODE_READY_APP || id == CS_RPC_NODE_READY_GOV)
        serve_ready(rpc, req, id == CS_RPC_NODE_READY_APP);
    else if (id == CS_RPC_NODE_API || id == CS_RPC_APP_API)
        serve_api(rpc, req, id == CS_RPC_APP_API ? CS_RPC_API_APP : CS_RPC_API_NODE);
    else
        cs_rpc_respond_error(rpc, req, 500, "InternalError", "endpoint %d is not observability's",
                             (int)id);
}
