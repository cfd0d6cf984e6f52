/*
 * The governance endpoints (docs/governance.md "The governance API"):
 * signed requests run on the leader through one governance transaction
 * each (gov.h; a follower forwards them like any write), documents are read
 * from the committed state.
 */
#include "node/gov.h"
#include "node/gov_codecert.h"
#include "node/rpc_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cs_http_header json_header[] = {{"Content-Type", "application/json"}};

/* A signed request being executed on this node. */
struct rpc_gov_write {
    rpc_inflight link; /* link.rpc: NULL once the rpc stopped: answer, touch nothing else */
    cs_http_request *req;
    node_gov_call call;
    node_share_keys shares; /* call.shares */
    char path_id[65];
};

static void gov_write_free(rpc_gov_write *w)
{
    cs_rpc_inflight_remove(&w->link);
    cs_free(w);
}

static void respond_refusal(cs_rpc *rpc, cs_http_request *req, const node_gov_call *c)
{
    cs_rpc_respond_error(rpc, req, node_gov_refusal_status(c->refusal),
                         node_gov_refusal_code(c->refusal), "%s", c->message);
}

/* {"proposal_id", "state", "transaction_id"[, "failure"]} with x-consort-txid. */
static void respond_done(cs_rpc *rpc, cs_http_request *req, const node_gov_call *c, cs_txid txid)
{
    char txid_text[48];
    snprintf(txid_text, sizeof txid_text, "%" PRIu64 ".%" PRIu64, txid.term, txid.seqno);
    json_t *doc = json_pack("{s:s, s:s, s:s}", "proposal_id", c->proposal_id, "state", c->state,
                            "transaction_id", txid_text);
    if (doc != NULL && strcmp(c->state, "Failed") == 0)
        json_object_set_new(doc, "failure", json_string(c->message));
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (text == NULL) {
        cs_rpc_respond_error(rpc, req, 500, "InternalError", "out of memory");
        return;
    }
    const cs_http_header headers[] = {{"Content-Type", "application/json"},
                                      {CS_RPC_TXID_HEADER, txid_text}};
    cs_rpc_respond(rpc, req, 200, headers, 2, cs_slice_str(text));
    free(text);
}

static consort_err gov_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    rpc_gov_write *w = ctx;
    memset(out, 0, sizeof *out);
    CS_TRY(node_gov_execute(&w->call, tx));
    out->commit = w->call.refusal == NODE_GOV_OK;
    return CONSORT_OK;
}

static void gov_done(void *ctx, const cs_node_result *res)
{
    rpc_gov_write *w = ctx;
    cs_rpc *rpc = w->link.rpc;
    if (res->rc == CONSORT_OK && w->call.refusal != NODE_GOV_OK) {
        respond_refusal(rpc, w->req, &w->call);
    } else if (res->rc == CONSORT_OK) {
        if (rpc != NULL)
            rpc->stats.writes_committed++;
        if (rpc != NULL)
            cs_rpc_account_commit(rpc, w->req);
        respond_done(rpc, w->req, &w->call, res->txid);
    } else {
        /* leadership lost: the outcome is unknown (the txid says what to ask about) */
        cs_http_header h[2] = {{"Retry-After", CS_RPC_RETRY_AFTER}};
        size_t n = 1;
        char txid[48];
        if (res->txid.seqno != 0) {
            snprintf(txid, sizeof txid, "%" PRIu64 ".%" PRIu64, res->txid.term, res->txid.seqno);
            h[n++] = (cs_http_header){CS_RPC_TXID_HEADER, txid};
        }
        cs_rpc_respond_error_with(rpc, w->req, 503, "ServiceUnavailable", h, n,
                                  "the governance transaction was not committed (%s): %s",
                                  consort_err_name(res->rc), res->message);
    }
    gov_write_free(w);
}

static cs_gov_msg_type expected_type(cs_rpc_builtin id)
{
    return id == CS_RPC_GOV_PROPOSE  ? CS_GOV_MSG_PROPOSAL
           : id == CS_RPC_GOV_BALLOT ? CS_GOV_MSG_BALLOT
                                     : CS_GOV_MSG_WITHDRAWAL;
}

static void run_write(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req,
                      const rpc_caller *caller)
{
    rpc_gov_write *w = cs_calloc(1, sizeof *w);
    if (w == NULL) {
        cs_rpc_respond_internal(rpc, req, cs_fail(CONSORT_E_NOMEM, "out of memory"),
                                "governance request");
        return;
    }
    cs_rpc_inflight_add(rpc, &w->link);
    w->req = req;
    snprintf(w->path_id, sizeof w->path_id, "%s", route->id);
    w->call.body = req->body;
    w->call.expect = expected_type(route->builtin);
    w->call.path_id = route->builtin == CS_RPC_GOV_PROPOSE ? NULL : w->path_id;
    w->call.now = (int64_t)time(NULL);
    if (cs_node_share_keys(rpc->node, &w->shares.ledger_secret, w->shares.service_id) == CONSORT_OK)
        w->call.shares = &w->shares; /* else a change of the recovery shares fails (STATE) */
    cs_err_clear();
    consort_err rc = cs_node_write_governance(rpc->node, gov_fn, w, gov_done, w);
    if (rc == CONSORT_OK)
        return; /* gov_done answers */
    gov_write_free(w);
    if (rc == CONSORT_E_STATE && !caller->forwarded)
        cs_rpc_forward(rpc, req, caller);
    else if (rc == CONSORT_E_STATE || rc == CONSORT_E_BUSY || rc == CONSORT_E_NO_SPACE)
        cs_rpc_respond_unavailable(rpc, req, "the request was not executed (%s): %s",
                                   consort_err_name(rc), consort_errmsg());
    else
        cs_rpc_respond_internal(rpc, req, rc, "governance transaction");
}

/* ---- documents ---- */

typedef struct doc_call {
    cs_rpc_builtin id;
    cs_node *node;
    const char *proposal_id;
    cs_buf *out;
} doc_call;

static uint64_t term_of(void *ctx, uint64_t seqno)
{
    return cs_node_term_of(ctx, seqno);
}

static consort_err doc_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    doc_call *d = ctx;
    out->commit = false;
    switch (d->id) {
    case CS_RPC_GOV_PROPOSALS:
        return node_gov_proposals_json(tx, d->out);
    case CS_RPC_GOV_PROPOSAL:
        return node_gov_proposal_json(tx, d->proposal_id, d->out);
    case CS_RPC_GOV_SERVICE:
        return node_gov_service_json(tx, d->out);
    case CS_RPC_GOV_CODE_TRANSPARENCY:
        return gov_codecert_transparency_json(tx, term_of, d->node, d->out);
    default:
        return node_gov_constitution(tx, d->out);
    }
}

static void serve_doc(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req)
{
    static const cs_http_header lua_type[] = {{"Content-Type", "text/x-lua; charset=utf-8"}};
    cs_buf out;
    cs_buf_init(&out, 0);
    doc_call d = {.id = route->builtin, .node = rpc->node, .proposal_id = route->id, .out = &out};
    consort_err rc = cs_node_read(rpc->node, doc_fn, &d);
    if (rc == CONSORT_OK)
        cs_rpc_respond(rpc, req, 200,
                       route->builtin == CS_RPC_GOV_CONSTITUTION ? lua_type : json_header, 1,
                       cs_buf_slice(&out));
    else if (rc == CONSORT_E_NOT_FOUND)
        cs_rpc_respond_error(rpc, req, 404, "ProposalNotFound", "%s", consort_errmsg());
    else if (rc == CONSORT_E_STATE)
        cs_rpc_respond_unavailable(rpc, req, "the node cannot serve reads now: %s",
                                   consort_errmsg());
    else
        cs_rpc_respond_internal(rpc, req, rc, "governance document");
    cs_buf_cleanup(&out);
}

void cs_rpc_gov_run(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req,
                    const rpc_caller *caller)
{
    /* this request's errors only: nothing an earlier request left in the
     * thread-local message may reach this one's answer (base/err.h) */
    cs_err_clear();
    if (route->builtin >= CS_RPC_GOV_RECOVERY) {
        cs_rpc_recovery_run(rpc, route, req);
    } else if (!route->writes) {
        serve_doc(rpc, route, req);
    } else if (!cs_node_is_open(rpc->node)) {
        cs_rpc_respond_unavailable(rpc, req, "the node is not part of the network yet (%s)",
                                   cs_node_state_name(rpc->node));
    } else if (cs_node_is_leader(rpc->node)) {
        run_write(rpc, route, req, caller);
    } else if (caller->forwarded) {
        cs_rpc_respond_unavailable(rpc, req, "this node is not the leader any more");
    } else {
        cs_rpc_forward(rpc, req, caller);
    }
}
