/*
 * The recovery endpoints (docs/recovery.md "The endpoints"):
 *
 *   POST /gov/recovery/share          a member's signed recovery_share
 *                                     request, on a node waiting for shares
 *   GET  /gov/recovery                 what the node is waiting for, or the
 *                                     service's shares and previous identities
 *   GET  /gov/recovery/share/{member}  that member's encrypted share
 *
 * A submission is authenticated by the signature inside it (the TLS client
 * certificate does not matter), never forwarded: the node that waits for
 * shares is the only node of the recovering service.
 */
#include "node/rpc_priv.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cs_http_header json_header[] = {{"Content-Type", "application/json"}};

static void submit(cs_rpc *rpc, cs_http_request *req)
{
    cs_node_share_result r;
    consort_err rc = cs_node_recovery_submit(rpc->node, req->body, (int64_t)time(NULL), &r);
    if (rc != CONSORT_OK) {
        cs_rpc_respond_internal(rpc, req, rc, "recovery");
        return;
    }
    if (r.status != 200) {
        cs_rpc_respond_error(rpc, req, r.status, r.code, "%s", r.message);
        return;
    }
    json_t *doc = json_pack("{s:I, s:I, s:b, s:s, s:s}", "submitted", (json_int_t)r.submitted,
                            "threshold", (json_int_t)r.threshold, "recovered", r.recovered, "state",
                            cs_node_state_name(rpc->node), "message", r.message);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (text == NULL) {
        cs_rpc_respond_error(rpc, req, 500, "InternalError", "out of memory");
        return;
    }
    cs_rpc_respond(rpc, req, 200, json_header, 1, cs_slice_str(text));
    free(text);
}

static void document(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    consort_err rc = route->builtin == CS_RPC_GOV_RECOVERY
                         ? cs_node_recovery_json(rpc->node, &out)
                         : cs_node_recovery_share_json(rpc->node, route->id, &out);
    if (rc == CONSORT_OK)
        cs_rpc_respond(rpc, req, 200, json_header, 1, cs_buf_slice(&out));
    else if (rc == CONSORT_E_NOT_FOUND)
        cs_rpc_respond_error(rpc, req, 404, "NoShareIssued", "%s", consort_errmsg());
    else if (rc == CONSORT_E_STATE)
        cs_rpc_respond_unavailable(rpc, req, "%s", consort_errmsg());
    else
        cs_rpc_respond_internal(rpc, req, rc, "recovery document");
    cs_buf_cleanup(&out);
}

void cs_rpc_recovery_run(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req)
{
    if (route->builtin == CS_RPC_GOV_RECOVERY_SUBMIT)
        submit(rpc, req);
    else
        document(rpc, route, req);
}
