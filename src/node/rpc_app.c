/*
 * Application endpoints over the node (app.h semantics; docs/consistency.md):
 *
 *   read-only   runs here over the COMMITTED state (never a write that may
 *               still roll back, on the leader too). With
 *               "x-consort-min-txid: <term>.<seqno>" it runs once this node
 *               has applied that seqno (waiting up to CS_RPC_READ_WAIT_MS,
 *               else 503 with Retry-After). With "x-consort-read:
 *               linearizable" it runs on the leader once a raft barrier
 *               confirmed its leadership (a follower forwards it);
 *   read-write  runs on the leader through cs_node_write and is answered once
 *               committed, with the txid; a follower forwards it and answers
 *               once it applied the txid itself (rpc_forward.c).
 */
#include "node/rpc_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One request running on this node (a write, or a read that waits). */
struct rpc_write {
    rpc_inflight link; /* link.rpc: NULL once the rpc stopped: answer, touch nothing else */
    cs_http_request *req;
    const cs_app_endpoint *ep;
    rpc_caller caller;
    consort_request creq;
    consort_response resp;
    cs_node_waiter waiter; /* reads that wait */
    bool waiting;
    cs_app_calls calls; /* app.h consort_call: kept across the handler's runs */
    cs_app_arena arena; /* what consort_seal and consort_unseal return */
    rpc_egress_group egress;
};

static void fill_request(cs_rpc *rpc, consort_request *creq, cs_http_request *req,
                         const rpc_caller *caller, cs_app_arena *arena)
{
    cs_app_request_init(creq, req->method, req->path, req->query, req->headers, req->header_count,
                        req->body, caller->has_cert ? caller->fp : NULL);
    creq->sealer = cs_node_app_sealer(rpc->node);
    creq->svcseal = cs_node_app_svcseal(rpc->node);
    creq->sealing = cs_app_sealing(rpc->app);
    creq->arena = arena;
}

/* Sends the handler's response, with the txid when the transaction committed;
 * `calls` (NULL: none) are the outbound calls it made. */
static void send_response(cs_rpc *rpc, cs_http_request *req, const consort_response *resp,
                          const cs_txid *txid, const cs_app_calls *calls)
{
    cs_http_header headers[CS_APP_MAX_RESP_HEADERS + 2];
    size_t count = cs_app_response_headers(resp, headers);
    char txid_text[48];
    if (txid != NULL && txid->seqno != 0) {
        /* DESIGN.md "A write, end to end": x-consort-txid: <term>.<seqno> */
        snprintf(txid_text, sizeof txid_text, "%" PRIu64 ".%" PRIu64, txid->term, txid->seqno);
        headers[count++] = (cs_http_header){CS_RPC_TXID_HEADER, txid_text};
    }
    cs_rpc_respond_calls(rpc, req, resp->status, headers, count, cs_buf_slice(&resp->body), calls);
}

/* ---- the list of requests in flight (detached when the rpc stops) ---- */

static rpc_write *call_new(cs_rpc *rpc, cs_http_request *req, const cs_app_endpoint *ep,
                           const rpc_caller *caller)
{
    rpc_write *w = cs_calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    cs_rpc_inflight_add(rpc, &w->link);
    w->req = req;
    w->ep = ep;
    w->caller = *caller;
    cs_app_arena_init(&w->arena, CONSORT_APP_READ_MAX);
    fill_request(rpc, &w->creq, req, caller, &w->arena);
    cs_app_response_init(&w->resp);
    cs_app_calls_init(&w->calls, rpc->app);
    w->creq.calls = &w->calls;
    return w;
}

static void call_free(rpc_write *w)
{
    cs_rpc_inflight_remove(&w->link);
    cs_app_response_cleanup(&w->resp);
    cs_app_calls_cleanup(&w->calls);
    cs_app_arena_cleanup(&w->arena);
    cs_rpc_egress_group_cleanup(&w->egress);
    cs_free(w);
}

/* The handler made calls not answered yet: make them, then `again`. False
 * (nothing started) if there are none. */
static bool calls_then(rpc_write *w, void (*again)(void *ctx))
{
    cs_rpc *rpc = w->link.rpc;
    if (rpc == NULL || cs_app_calls_pending(&w->calls) == 0)
        return false;
    cs_rpc_egress_start(rpc, &w->egress, &w->calls, w->req, again, w);
    return true;
}

/* ---- read-only ---- */

typedef struct read_call {
    const cs_app_endpoint *ep;
    consort_request *creq;
    consort_response *resp;
} read_call;

static consort_err read_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    read_call *c = ctx;
    /* a failing handler already turned the response into its error */
    (void)cs_app_invoke(c->ep, c->creq, tx, false, c->resp, out);
    out->commit = false;
    return CONSORT_OK;
}

/* Runs the read and answers; false (nothing answered) if the handler made
 * calls that are not answered yet (creq->calls). */
static bool run_read_now(cs_rpc *rpc, cs_http_request *req, const cs_app_endpoint *ep,
                         consort_request *creq, consort_response *resp)
{
    read_call call = {.ep = ep, .creq = creq, .resp = resp};
    consort_err rc = cs_node_read(rpc->node, read_fn, &call);
    if (rc == CONSORT_OK && creq->calls != NULL && cs_app_calls_pending(creq->calls) > 0)
        return false;
    if (rc == CONSORT_OK)
        send_response(rpc, req, resp, NULL, creq->calls);
    else if (rc == CONSORT_E_STATE)
        cs_rpc_respond_unavailable(rpc, req, "the node cannot serve reads now: %s",
                                   consort_errmsg());
    else
        cs_rpc_respond_internal(rpc, req, rc, "read-only transaction");
    return true;
}

/* A read whose handler calls other services: run again once they answered. */
static void read_again(void *ctx)
{
    rpc_write *w = ctx;
    cs_rpc *rpc = w->link.rpc;
    if (rpc == NULL) {
        cs_rpc_respond_error(NULL, w->req, 503, "ServiceUnavailable", "the node is stopping");
    } else if (!run_read_now(rpc, w->req, w->ep, &w->creq, &w->resp) && calls_then(w, read_again)) {
        return;
    }
    call_free(w);
}

static void read_waited(void *ctx, const cs_node_result *res)
{
    rpc_write *w = ctx;
    w->waiting = false;
    cs_rpc *rpc = w->link.rpc;
    if (rpc == NULL) { /* the rpc stopped */
        cs_rpc_respond_error(NULL, w->req, 503, "ServiceUnavailable", "the node is stopping");
    } else if (res->rc == CONSORT_OK) {
        cs_txid min;
        if (cs_rpc_min_txid(rpc, w->req, &min) && !cs_rpc_min_txid_invalid(rpc, w->req, min) &&
            !run_read_now(rpc, w->req, w->ep, &w->creq, &w->resp) && calls_then(w, read_again))
            return;
    } else if (res->rc == CONSORT_E_STATE && !w->caller.forwarded &&
               cs_rpc_wants_linearizable(w->req)) {
        cs_rpc_forward(rpc, w->req, &w->caller); /* leadership moved: the leader reads */
    } else {
        cs_rpc_respond_unavailable(rpc, w->req, "the read cannot be served here now: %s",
                                   res->message);
    }
    call_free(w);
}

static void run_read(cs_rpc *rpc, const cs_app_endpoint *ep, cs_http_request *req,
                     const rpc_caller *caller)
{
    bool linearizable;
    cs_txid min = {0, 0};
    if (!cs_rpc_read_mode(rpc, req, &linearizable) || !cs_rpc_min_txid(rpc, req, &min))
        return; /* answered 400 */
    if (linearizable && !cs_node_is_leader(rpc->node) && !caller->forwarded) {
        cs_rpc_forward(rpc, req, caller); /* read index through the leader */
        return;
    }
    cs_txid applied = cs_node_commit_txid(rpc->node);
    bool calls = cs_app_egress_count(rpc->app) > 0; /* its runs may span calls */
    if (!linearizable && applied.seqno >= min.seqno && !calls) {
        if (cs_rpc_min_txid_invalid(rpc, req, min))
            return;
        consort_request creq;
        cs_app_arena arena;
        cs_app_arena_init(&arena, CONSORT_APP_READ_MAX);
        fill_request(rpc, &creq, req, caller, &arena);
        consort_response resp;
        cs_app_response_init(&resp);
        (void)run_read_now(rpc, req, ep, &creq, &resp); /* no calls: always answers */
        cs_app_response_cleanup(&resp);
        cs_app_arena_cleanup(&arena);
        return;
    }
    rpc_write *w = call_new(rpc, req, ep, caller);
    if (w == NULL) {
        cs_rpc_respond_internal(rpc, req, cs_fail(CONSORT_E_NOMEM, "out of memory"), "read");
        return;
    }
    if (!linearizable && applied.seqno >= min.seqno) { /* now, through w: it may make calls */
        if (cs_rpc_min_txid_invalid(rpc, req, min)) {
            call_free(w);
            return;
        }
        if (run_read_now(rpc, req, ep, &w->creq, &w->resp) || !calls_then(w, read_again))
            call_free(w);
        return;
    }
    w->waiting = true;
    if (linearizable)
        cs_node_wait_linearizable(rpc->node, &w->waiter, CS_RPC_READ_WAIT_MS, read_waited, w);
    else
        cs_node_wait_applied(rpc->node, &w->waiter, min, CS_RPC_READ_WAIT_MS, read_waited, w);
}

/* ---- read-write ---- */

static consort_err write_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    rpc_write *w = ctx;
    memset(out, 0, sizeof *out);
    /* stopped: the module may be gone; commit nothing */
    CS_ENSURE(w->link.rpc != NULL, CONSORT_E_STATE, "rpc stopped before the handler ran");
    /* runs again after a conflict: cs_app_invoke starts from a fresh response;
     * a failing handler already turned it into its error */
    (void)cs_app_invoke(w->ep, &w->creq, tx, true, &w->resp, out);
    return CONSORT_OK;
}

/* The write completed (committed, discarded, or failed); later than
 * cs_node_write, with its own outcome. */
static void write_again(void *ctx);

static void write_done(void *ctx, const cs_node_result *res)
{
    rpc_write *w = ctx;
    cs_rpc *rpc = w->link.rpc;
    if (res->rc == CONSORT_OK && calls_then(w, write_again)) {
        return; /* the run was discarded: it runs again once its calls are answered */
    } else if (res->rc == CONSORT_OK) {
        if (rpc != NULL && res->txid.seqno != 0)
            rpc->stats.writes_committed++;
        if (rpc != NULL && res->txid.seqno != 0)
            cs_rpc_account_commit(rpc, w->req);
        send_response(rpc, w->req, &w->resp, &res->txid, &w->calls);
    } else if (res->rc == CONSORT_E_STATE || res->rc == CONSORT_E_BUSY) {
        /* leadership lost (the entry may still commit under the next leader, its
         * txid says which) or conflicts without end: the client retries */
        cs_http_header h[2] = {{"Retry-After", CS_RPC_RETRY_AFTER}};
        size_t n = 1;
        char txid[48];
        if (res->txid.seqno != 0) {
            snprintf(txid, sizeof txid, "%" PRIu64 ".%" PRIu64, res->txid.term, res->txid.seqno);
            h[n++] = (cs_http_header){CS_RPC_TXID_HEADER, txid};
        }
        cs_log_info("rpc", "%s %s not committed: %s", w->req->method, w->req->path, res->message);
        cs_rpc_respond_error_with(rpc, w->req, 503, "ServiceUnavailable", h, n,
                                  "the transaction was not committed (%s): %s",
                                  consort_err_name(res->rc), res->message);
    } else {
        cs_rpc_respond_error(rpc, w->req, 500, "InternalError",
                             "committing the transaction: %s (%s)", res->message,
                             consort_err_name(res->rc));
    }
    call_free(w);
}

/* A write whose handler made calls: run again on the leader once they answered. */
static void write_again(void *ctx)
{
    rpc_write *w = ctx;
    cs_rpc *rpc = w->link.rpc;
    if (rpc == NULL) {
        cs_rpc_respond_error(NULL, w->req, 503, "ServiceUnavailable", "the node is stopping");
        call_free(w);
        return;
    }
    consort_err rc = cs_node_write(rpc->node, write_fn, w, write_done, w);
    if (rc == CONSORT_OK)
        return; /* write_done answers */
    /* not the leader any more (or busy, or a full disk): its calls were made
     * here, so it is not forwarded; the client retries */
    cs_rpc_respond_unavailable(rpc, w->req, "the write was not executed (%s): %s",
                               consort_err_name(rc), consort_errmsg());
    call_free(w);
}

static void run_write(cs_rpc *rpc, const cs_app_endpoint *ep, cs_http_request *req,
                      const rpc_caller *caller)
{
    rpc_write *w = call_new(rpc, req, ep, caller);
    if (w == NULL) {
        cs_rpc_respond_internal(rpc, req, cs_fail(CONSORT_E_NOMEM, "out of memory"),
                                "write request");
        return;
    }
    consort_err rc = cs_node_write(rpc->node, write_fn, w, write_done, w);
    if (rc == CONSORT_OK)
        return; /* write_done answers */
    call_free(w);
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
    /* this request's errors only: nothing an earlier request left in the
     * thread-local message may reach this one's answer (base/err.h) */
    cs_err_clear();
    if (!cs_node_is_open(rpc->node)) {
        cs_rpc_respond_unavailable(rpc, req, "the node is not part of the network yet (%s)",
                                   cs_node_state_name(rpc->node));
        return;
    }
    if (!cs_node_service_open(rpc->node)) {
        /* docs/governance.md: users are served once the members opened the service */
        cs_rpc_respond_error(rpc, req, 503, "ServiceNotOpen",
                             "the service is not open yet: its members open it with a "
                             "transition_service_to_open proposal");
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
