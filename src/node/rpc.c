/*
 * The node's HTTPS server (rpc.h): start and stop, the TLS configuration,
 * and dispatch of every request: routing, who the caller is (its client
 * certificate, or the caller a follower forwarded), authentication, then
 * the built-in or application endpoint.
 */
#include "node/rpc_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "crypto/hash.h"
#include "e2e/statement.h"
#include "node/node_code.h"

#include <errno.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

/* ---- who is calling ---- */

/*
 * Fills `caller` from the client certificate, or from the forwarded-caller
 * header when a service node sent the request. Returns false if it
 * answered the request (a header nobody else may send, or a bad value).
 */
static bool identify(cs_rpc *rpc, cs_http_request *req, rpc_caller *caller)
{
    memset(caller, 0, sizeof *caller);
    const cs_x509 *peer = cs_http_request_peer_cert(req);
    const char *forwarded = cs_http_request_header(req, CS_RPC_FORWARDED_HEADER);
    if (forwarded != NULL) {
        /* trusted only from a node of this service: anyone else could name any caller */
        if (peer == NULL || !cs_node_is_service_node_cert(rpc->node, peer)) {
            cs_rpc_respond_error(rpc, req, 403, "Forbidden",
                                 "the header %s is accepted from service nodes only",
                                 CS_RPC_FORWARDED_HEADER);
            return false;
        }
        caller->forwarded = true;
        if (strcmp(forwarded, CS_RPC_NO_CALLER) == 0)
            return true;
        if (strlen(forwarded) != 64 ||
            cs_hex_decode(forwarded, caller->fp, sizeof caller->fp) != CONSORT_OK) {
            cs_rpc_respond_error(rpc, req, 400, "InvalidInput",
                                 "%s must be 64 hex digits or \"%s\"", CS_RPC_FORWARDED_HEADER,
                                 CS_RPC_NO_CALLER);
            return false;
        }
        caller->has_cert = true;
        return true;
    }
    if (peer == NULL)
        return true;
    consort_err rc = cs_x509_fingerprint(peer, caller->fp);
    if (rc != CONSORT_OK) {
        cs_rpc_respond_internal(rpc, req, rc, "client certificate fingerprint");
        return false;
    }
    caller->has_cert = true;
    return true;
}

static bool authorised(cs_rpc *rpc, cs_http_request *req, const cs_rpc_route *route,
                       const rpc_caller *caller)
{
    bool user = false, member = false;
    if (caller->has_cert && route->auth != CS_RPC_AUTH_NONE) {
        if (route->auth != CS_RPC_AUTH_MEMBER)
            user = cs_node_is_user(rpc->node, caller->fp);
        if (route->auth != CS_RPC_AUTH_USER && !user)
            member = cs_node_is_member(rpc->node, caller->fp);
    }
    int status = cs_rpc_auth_status(route->auth, caller->has_cert, user, member);
    if (status == 401) {
        cs_rpc_respond_error(rpc, req, 401, "Unauthorized",
                             "%s %s needs a client certificate of %s", req->method, req->path,
                             cs_rpc_auth_name(route->auth));
        return false;
    }
    if (status == 403) {
        char hex[65];
        cs_hex_encode(CS_SLICE(caller->fp, 8), hex);
        cs_rpc_respond_error(rpc, req, 403, "Forbidden",
                             "%s %s is for %s; the certificate %s... is not registered as one",
                             req->method, req->path, cs_rpc_auth_name(route->auth), hex);
        return false;
    }
    return true;
}

/* ---- dispatch ---- */

static void on_request(void *ctx, cs_http_request *req)
{
    cs_rpc *rpc = ctx;
    rpc->stats.requests++;
    const char *nonce = cs_http_request_header(req, CS_E2E_ATTEST_HEADER);
    cs_e2e_statement probe;
    bool bad = nonce != NULL && cs_e2e_parse_nonce(nonce, &probe) != CONSORT_OK;
    if (!bad && cs_http_request_header(req, CS_E2E_POLICY_HEADER) != NULL) {
        cs_e2e_policy_doc *doc = cs_calloc(1, sizeof *doc);
        bool present;
        bad =
            doc == NULL || nonce == NULL || cs_rpc_attest_policy(req, doc, &present) != CONSORT_OK;
        if (doc != NULL && nonce == NULL)
            (void)cs_fail(CONSORT_E_INVALID_ARGUMENT, "%s without %s", CS_E2E_POLICY_HEADER,
                          CS_E2E_ATTEST_HEADER);
        if (doc != NULL)
            cs_e2e_policy_doc_cleanup(doc);
        cs_free(doc);
    }
    if (bad) {
        /* before anything runs: an answer without its statement would be useless */
        if (cs_http_respond_error(req, 400, "InvalidInput", consort_errmsg()) != CONSORT_OK)
            cs_log_warn("rpc", "response 400 not sent: %s", consort_errmsg());
        return;
    }
    cs_rpc_route route;
    cs_rpc_route_find(rpc->app, req->method, req->path, &route);
    if (route.kind == CS_ROUTE_NOT_FOUND) {
        cs_rpc_respond_error(rpc, req, 404, "ResourceNotFound", "no endpoint %s %s", req->method,
                             req->path);
        return;
    }
    if (route.kind == CS_ROUTE_BAD_METHOD) {
        /* RFC 9110 §15.5.6: a 405 lists the methods the target supports */
        const cs_http_header allow = {"Allow", route.allow};
        cs_rpc_respond_error_with(rpc, req, 405, "MethodNotAllowed", &allow, 1,
                                  "%s is not allowed on %s; use %s", req->method, req->path,
                                  route.allow);
        return;
    }
    req->tag = route.index + 1; /* answers are counted by route (rpc_observe.c) */
    rpc_caller caller;
    if (!identify(rpc, req, &caller) || !authorised(rpc, req, &route, &caller))
        return;
    if (route.kind == CS_ROUTE_BUILTIN && route.builtin >= CS_RPC_GOV_PROPOSE)
        cs_rpc_gov_run(rpc, &route, req, &caller);
    else if (route.kind == CS_ROUTE_BUILTIN)
        cs_rpc_builtin_run(rpc, route.builtin, req);
    else if (route.kind == CS_ROUTE_CONSOLE)
        cs_rpc_console_run(rpc, &route, req);
    else
        cs_rpc_app_run(rpc, &route, req, &caller);
}

/* ---- listening ---- */

/*
 * The caps of the client listener (docs/operating.md "Connection limits"):
 * the configured ones, the total lowered to what the open-file limit leaves
 * once CS_RPC_FD_RESERVE descriptors are kept for the ledger, Raft, the
 * node channels and forwarding, so that clients can never take what the
 * node needs to go on replicating. *nofile is the limit (0: none).
 */
static consort_err client_limits(const cs_node_config *cfg, cs_conn_limits *out, uint64_t *nofile)
{
    struct rlimit rl;
    CS_ENSURE(getrlimit(RLIMIT_NOFILE, &rl) == 0, CONSORT_E_IO, "rpc: open-file limit: %s",
              strerror(errno));
    uint64_t total = cfg->max_client_connections;
    *nofile = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
    if (*nofile != 0) {
        CS_ENSURE(*nofile >= CS_RPC_FD_RESERVE + CS_RPC_MIN_CLIENT_FDS, CONSORT_E_IO,
                  "rpc: the open-file limit is %llu: a node keeps %d descriptors for its ledger, "
                  "Raft and node channels and needs at least %d more for clients (raise it: "
                  "ulimit -n)",
                  (unsigned long long)*nofile, CS_RPC_FD_RESERVE, CS_RPC_MIN_CLIENT_FDS);
        if (*nofile - CS_RPC_FD_RESERVE < total) {
            total = *nofile - CS_RPC_FD_RESERVE;
            cs_log_warn("rpc",
                        "max_client_connections %llu does not fit the open-file limit %llu (%d "
                        "kept for the node's own use): at most %llu client connections",
                        (unsigned long long)cfg->max_client_connections,
                        (unsigned long long)*nofile, CS_RPC_FD_RESERVE, (unsigned long long)total);
        }
    }
    out->max_total = (size_t)total;
    out->max_per_address =
        (size_t)(cfg->max_client_connections_addr < total ? cfg->max_client_connections_addr
                                                          : total);
    return CONSORT_OK;
}

/* Listens once the node has a certificate (an event: cs_node_watch). */
static consort_err try_listen(cs_rpc *rpc)
{
    const cs_x509 *cert = cs_node_cert(rpc->node);
    if (cert == NULL || rpc->listening)
        return CONSORT_OK;
    const cs_x509 *service = cs_node_service_cert(rpc->node);
    const cs_x509 *const chain[1] = {service};
    const cs_tls_params params = {
        .role = CS_TLS_SERVER,
        .key = cs_node_key(rpc->node),
        .cert = cert,
        .chain = service != NULL ? chain : NULL,
        .chain_count = service != NULL ? 1 : 0,
        /* optional at the TLS level: the /node/ endpoints serve anyone; endpoints check the
         * certificate's fingerprint against the users and members */
        .client_auth = CS_TLS_CLIENT_CERT_REQUEST,
        .verify = cs_tls_verify_any,
    };
    cs_conn_limits limits;
    uint64_t nofile = 0;
    CS_TRY(client_limits(rpc->cfg, &limits, &nofile));
    CS_TRY_CTX(cs_tls_config_new(&params, &rpc->tls), "rpc: TLS configuration");
    CS_TRY_CTX(cs_tls_listen(rpc->loop, rpc->cfg->rpc_address, rpc->tls, cs_http_server_accept_cb,
                             rpc->http, &rpc->listener),
               "rpc: listening on %s", rpc->cfg->rpc_address);
    cs_listener_set_limits(rpc->listener, &limits); /* before the loop accepts anything */
    snprintf(rpc->address, sizeof rpc->address, "%s", cs_listener_address(rpc->listener));
    cs_log_info("rpc",
                "serving HTTPS on %s: at most %zu client connections, %zu per client address "
                "(open-file limit %llu)",
                rpc->address, limits.max_total, limits.max_per_address, (unsigned long long)nofile);
    rpc->listening = true;
    return CONSORT_OK;
}

static void listen_report(void *ctx)
{
    cs_rpc *rpc = ctx;
    if (rpc->listen_fn != NULL)
        rpc->listen_fn(rpc->listen_ctx, rpc->listen_rc,
                       rpc->listen_rc == CONSORT_OK ? rpc->address : rpc->listen_msg);
}

/* Listening started (rc OK) or failed: tell the listen callback, later. */
static void listen_settled(cs_rpc *rpc, consort_err rc)
{
    rpc->listen_done = true;
    rpc->listen_rc = rc;
    snprintf(rpc->listen_msg, sizeof rpc->listen_msg, "%s",
             rc == CONSORT_OK ? "" : consort_errmsg());
    if (rpc->listen_fn != NULL)
        cs_defer_call(rpc->defer, &rpc->listen_item, listen_report, rpc);
}

void cs_rpc_on_listen(cs_rpc *rpc, cs_rpc_listen_fn fn, void *ctx)
{
    rpc->listen_fn = fn;
    rpc->listen_ctx = ctx;
    if (rpc->listen_done && fn != NULL)
        cs_defer_call(rpc->defer, &rpc->listen_item, listen_report, rpc);
}

static void node_event(void *ctx, const cs_node_event *ev)
{
    cs_rpc *rpc = ctx;
    if (!ev->has_cert || rpc->listen_done)
        return;
    consort_err rc = try_listen(rpc);
    if (rc != CONSORT_OK)
        cs_log_error("rpc", "%s", consort_errmsg());
    listen_settled(rpc, rc);
}

consort_err cs_rpc_start(uv_loop_t *loop, cs_node *node, const cs_node_config *cfg, cs_rpc **out)
{
    cs_rpc *rpc = cs_calloc(1, sizeof *rpc);
    CS_ENSURE(rpc != NULL, CONSORT_E_NOMEM, "rpc: out of memory");
    rpc->loop = loop;
    rpc->node = node;
    rpc->stmts_tail = &rpc->stmts;
    rpc->cfg = cfg;
    consort_err rc;
    /* the module the node loaded from sealed bytes and measured (node_code.h); never by path */
    rpc->app = cs_node_app(node);
    CS_ENSURE_GOTO(rc, rpc->app != NULL || cfg->app_path[0] == '\0', fail, CONSORT_E_STATE,
                   "rpc: the node has not loaded the application module %s (start it first)",
                   cfg->app_path);
    const cs_http_server_params hp = {.header_timeout_ms = cfg->http_header_timeout_ms,
                                      .request_timeout_ms = cfg->http_request_timeout_ms,
                                      .idle_timeout_ms = cfg->http_idle_timeout_ms,
                                      .on_request = on_request,
                                      .ctx = rpc};
    CS_TRY_GOTO(rc, cs_rpc_account_init(rpc), fail);
    CS_TRY_GOTO(rc, cs_defer_new(loop, &rpc->defer), fail);
    CS_TRY_GOTO(rc, cs_http_server_new(loop, &hp, &rpc->http), fail);
    CS_TRY_GOTO(rc, cs_rpc_forwarder_new(rpc, &rpc->fwd), fail);
    CS_TRY_GOTO(rc, cs_rpc_egress_pool_new(&rpc->egress), fail);
    CS_TRY_GOTO(rc, try_listen(rpc), fail);
    if (rpc->listening) {
        listen_settled(rpc, CONSORT_OK);
    } else {
        cs_log_info("rpc", "waiting for the node certificate before serving %s", cfg->rpc_address);
        CS_TRY_GOTO(rc, cs_node_watch(node, node_event, rpc), fail);
        rpc->watching = true;
    }
    *out = rpc;
    return CONSORT_OK;
fail:
    cs_listener_close(rpc->listener);
    cs_tls_config_free(rpc->tls);
    cs_rpc_forwarder_free(rpc->fwd);
    cs_rpc_egress_pool_free(rpc->egress);
    cs_http_server_free(rpc->http);
    cs_defer_free(rpc->defer);
    cs_rpc_statements_cleanup(rpc);
    cs_rpc_account_cleanup(rpc);
    cs_free(rpc);
    return rc;
}

const char *cs_rpc_address(const cs_rpc *rpc)
{
    return rpc->address;
}

static void stopped_cb(void *ctx)
{
    cs_rpc *rpc = ctx;
    void (*cb)(void *) = rpc->stop_cb;
    void *cb_ctx = rpc->stop_ctx;
    /* rpc->app is the node's (cs_node_app): freed with the node */
    cs_rpc_statements_flush(rpc); /* any queued since cs_rpc_stop */
    cs_defer_free(rpc->defer);
    cs_rpc_statements_cleanup(rpc);
    cs_rpc_account_cleanup(rpc);
    cs_free(rpc);
    if (cb != NULL)
        cb(cb_ctx);
}

void cs_rpc_stop(cs_rpc *rpc, void (*cb)(void *ctx), void *ctx)
{
    cs_rpc_statements_flush(rpc); /* answers waiting for their signature go out */
    rpc->stop_cb = cb;
    rpc->listen_fn = NULL;
    cs_defer_cancel(rpc->defer, &rpc->listen_item);
    rpc->stop_ctx = ctx;
    if (rpc->watching)
        cs_node_unwatch(rpc->node, node_event, rpc);
    rpc->watching = false;
    cs_listener_close(rpc->listener);
    rpc->listener = NULL;
    cs_http_server_free(rpc->http); /* requests with handlers stay valid until answered */
    rpc->http = NULL;
    cs_rpc_forwarder_free(rpc->fwd); /* answers what waits for the leader */
    rpc->fwd = NULL;
    cs_rpc_egress_pool_free(rpc->egress);
    rpc->egress = NULL;
    cs_rpc_inflight_detach(rpc);
    cs_tls_config_free(rpc->tls);
    rpc->tls = NULL;
    cs_defer_call(rpc->defer, &rpc->stop_item, stopped_cb, rpc); /* never inside this call */
}
