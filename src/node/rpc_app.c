/*
 * Application endpoints over the node (app.h semantics): read-only ones
 * run here in a read-only transaction; read-write ones run on the leader
 * through cs_node_write and are answered once committed, with the txid;
 * a follower forwards them (rpc_forward.c).
 */
#include "node/rpc_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* One read-write request executing on this node. */
struct rpc_write {
    cs_rpc *rpc; /* NULL once the rpc stopped: answer, touch nothing else */
    cs_http_request *req;
    const cs_app_endpoint *ep;
    consort_request creq;
    consort_response resp;
    consort_err handler_rc;
    bool in_call; /* inside cs_node_write: done only records */
    bool fired;
    consort_err done_rc;
    cs_txid txid;
    rpc_write *prev, *next;
};

static void fill_request(consort_request *creq, cs_http_request *req, const rpc_caller *caller)
{
    cs_app_request_init(creq, req->method, req->path, req->query, req->headers, req->header_count,
                        req->body, caller->has_cert ? caller->fp : NULL);
}

/* Sends the handler's response, with the txid when the transaction committed. */
static void send_response(cs_rpc *rpc, cs_http_request *req, const consort_response *resp,
                          const cs_txid *txid)
{
    cs_http_header headers[CS_APP_MAX_RESP_HEADERS + 2];
    size_t count = cs_app_response_headers(resp, headers);
    char txid_text[48];
    if (txid != NULL && txid->seqno != 0) {
        /* DESIGN.md "A write, end to end": x-consort-txid: <term>.<seqno> */
        snprintf(txid_text, sizeof txid_text, "%" PRIu64 ".%" PRIu64, txid->term, txid->seqno);
        headers[count++] = (cs_http_header){CS_RPC_TXID_HEADER, txid_text};
    }
    cs_rpc_respond(rpc, req, resp->status, headers, count, cs_buf_slice(&resp->body));
}

/* ---- read-only ---- */

typedef struct read_call {
    const cs_app_endpoint *ep;
    consort_request *creq;
    consort_response *resp;
    consort_err handler_rc;
} read_call;

static consort_err read_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    read_call *c = ctx;
    /* a failing handler already turned the response into a 500 */
    c->handler_rc = cs_app_invoke(c->ep, c->creq, tx, false, c->resp, out);
    out->commit = false;
    return CONSORT_OK;
}

static void run_read(cs_rpc *rpc, const cs_app_endpoint *ep, cs_http_request *req,
                     const rpc_caller *caller)
{
    consort_request creq;
    fill_request(&creq, req, caller);
    consort_response resp;
    cs_app_response_init(&resp);
    read_call call = {.ep = ep, .creq = &creq, .resp = &resp};
    consort_err rc = cs_node_read(rpc->node, read_fn, &call);
    if (rc == CONSORT_OK)
        send_response(rpc, req, &resp, NULL);
    else if (rc == CONSORT_E_STATE)
        cs_rpc_respond_unavailable(rpc, req, "the node cannot serve reads now: %s",
                                   consort_errmsg());
    else
        cs_rpc_respond_internal(rpc, req, rc, "read-only transaction");
    cs_app_response_cleanup(&resp);
}

/* ---- read-write ---- */

static void unlink_write(rpc_write *w)
{
    if (w->rpc == NULL)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        w->rpc->writes = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void free_write(rpc_write *w)
{
    unlink_write(w);
    cs_app_response_cleanup(&w->resp);
    cs_free(w);
}

static consort_err write_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    rpc_write *w = ctx;
    memset(out, 0, sizeof *out);
    /* stopped: the module may be gone; commit nothing */
    CS_ENSURE(w->rpc != NULL, CONSORT_E_STATE, "rpc stopped before the handler ran");
    /* runs again after a conflict: cs_app_invoke starts from a fresh response;
     * a failing handler already turned it into a 500 */
    w->handler_rc = cs_app_invoke(w->ep, &w->creq, tx, true, &w->resp, out);
    return CONSORT_OK;
}

/* Answers a write that has completed (committed, discarded, or failed). */
static void finish_write(rpc_write *w)
{
    cs_rpc *rpc = w->rpc;
    const char *m = w->req->method, *p = w->req->path;
    if (w->done_rc == CONSORT_OK) {
        if (rpc != NULL && w->txid.seqno != 0)
            rpc->stats.writes_committed++;
        send_response(rpc, w->req, &w->resp, &w->txid);
    } else if (w->done_rc == CONSORT_E_STATE || w->done_rc == CONSORT_E_BUSY) {
        /* leadership lost (the entry may still commit under the next leader, its
         * txid says which) or conflicts without end: the client retries */
        cs_http_header h[2] = {{"Retry-After", CS_RPC_RETRY_AFTER}};
        size_t n = 1;
        char txid[48];
        if (w->txid.seqno != 0) {
            snprintf(txid, sizeof txid, "%" PRIu64 ".%" PRIu64, w->txid.term, w->txid.seqno);
            h[n++] = (cs_http_header){CS_RPC_TXID_HEADER, txid};
        }
        cs_log_info("rpc", "%s %s not committed: %s", m, p, consort_errmsg());
        cs_rpc_respond_error_with(rpc, w->req, 503, "ServiceUnavailable", h, n,
                                  "the transaction was not committed (%s): %s",
                                  consort_err_name(w->done_rc), consort_errmsg());
    } else {
        cs_rpc_respond_internal(rpc, w->req, w->done_rc, "committing the transaction");
    }
    free_write(w);
}

static void write_done(void *ctx, consort_err rc, cs_txid txid)
{
    rpc_write *w = ctx;
    w->fired = true;
    w->done_rc = rc;
    w->txid = txid;
    if (!w->in_call)
        finish_write(w);
}

static void run_write(cs_rpc *rpc, const cs_app_endpoint *ep, cs_http_request *req,
                      const rpc_caller *caller)
{
    rpc_write *w = cs_calloc(1, sizeof *w);
    if (w == NULL) {
        cs_rpc_respond_internal(rpc, req, cs_fail(CONSORT_E_NOMEM, "out of memory"),
                                "write request");
        return;
    }
    w->rpc = rpc;
    w->req = req;
    w->ep = ep;
    fill_request(&w->creq, req, caller);
    cs_app_response_init(&w->resp);
    w->next = rpc->writes;
    if (rpc->writes != NULL)
        rpc->writes->prev = w;
    rpc->writes = w;
    w->in_call = true;
    consort_err rc = cs_node_write(rpc->node, write_fn, w, write_done, w);
    w->in_call = false;
    if (w->fired) { /* nothing to replicate (or refused): done ran inside the call */
        finish_write(w);
        return;
    }
    if (rc == CONSORT_OK)
        return; /* write_done answers once committed */
    free_write(w);
    if (rc == CONSORT_E_STATE && !caller->forwarded)
        cs_rpc_forward(rpc, req, caller); /* leadership moved since we looked */
    else if (rc == CONSORT_E_STATE || rc == CONSORT_E_BUSY || rc == CONSORT_E_NO_SPACE)
        /* not the leader any more, endless conflicts, or a full disk: nothing was
         * written, the client may retry (here or elsewhere) */
        cs_rpc_respond_unavailable(rpc, req, "the write was not executed (%s): %s",
                                   consort_err_name(rc), consort_errmsg());
    else
        cs_rpc_respond_internal(rpc, req, rc, "read-write transaction");
}

void cs_rpc_app_run(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req,
                    const rpc_caller *caller)
{
    if (!cs_node_is_open(rpc->node)) {
        cs_rpc_respond_unavailable(rpc, req, "the node is not part of the network yet (%s)",
                                   cs_node_state_name(rpc->node));
        return;
    }
    if (!route->writes) {
        run_read(rpc, route->app, req, caller);
    } else if (cs_node_is_leader(rpc->node)) {
        run_write(rpc, route->app, req, caller);
    } else if (caller->forwarded) {
        /* never forward twice: leadership is moving, the follower's client retries */
        cs_rpc_respond_unavailable(rpc, req, "this node is not the leader any more");
    } else {
        cs_rpc_forward(rpc, req, caller);
    }
}

void cs_rpc_app_detach(cs_rpc *rpc)
{
    while (rpc->writes != NULL) {
        rpc_write *w = rpc->writes;
        rpc->writes = w->next;
        w->prev = w->next = NULL;
        w->rpc = NULL;
    }
}
