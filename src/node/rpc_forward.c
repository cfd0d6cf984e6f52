/*
 * Forwarding read-write requests from a follower to the leader (rpc.h).
 *
 * One keep-alive HTTPS connection to the leader's rpc_address, opened on
 * the first forward and replaced when the leader changes. The follower
 * presents its node certificate as client certificate and pins the
 * service certificate for the leader's; it names the original caller in
 * x-consort-forwarded-caller, which the leader trusts only from a service
 * node's certificate (rpc.c). The leader's answer (status, headers
 * including x-consort-txid, body) is relayed as if the client had asked
 * the leader — once this node has applied that transaction itself, so that
 * the same client reading from this node next sees its write
 * (docs/consistency.md; at most CS_RPC_FORWARD_APPLY_WAIT_MS, then relayed
 * anyway). Requests wait in a queue while the connection is being made.
 */
#include "node/rpc_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <string.h>
#include <strings.h>

/* The client configuration's verification context: it must live as long as
 * any handshake that may still call it, so connection attempts hold a reference. */
typedef struct fwd_trust {
    int refs;
    cs_x509 *service; /* our own copy of the pinned service certificate */
    cs_tls_pinned pinned;
} fwd_trust;

typedef struct fwd_req {
    cs_rpc *rpc;
    cs_http_request *req;
    rpc_caller caller;
    char leader[CS_NET_ADDRESS_MAX];
    struct fwd_req *next;
    /* the leader's answer, kept while this node applies its txid */
    int status;
    cs_http_header *headers; /* names and values in `held` */
    size_t header_count;
    cs_buf held;
    cs_slice body;
    cs_node_waiter waiter;
    struct fwd_req *held_prev, *held_next;
} fwd_req;

typedef struct fwd_attempt {
    rpc_forwarder *fwd; /* NULL once abandoned */
    fwd_trust *trust;
} fwd_attempt;

struct rpc_forwarder {
    cs_rpc *rpc;
    fwd_trust *trust; /* made on the first forward (the node is trusted by then) */
    cs_tls_config *tls;
    char leader[CS_NET_ADDRESS_MAX]; /* where client / attempt go */
    cs_http_client *client;
    fwd_attempt *attempt;
    fwd_req *waiting, *waiting_tail; /* for the attempt */
    fwd_req *holding;                /* answers waiting for the local apply */
};

static void trust_unref(fwd_trust *t)
{
    if (t == NULL || --t->refs > 0)
        return;
    cs_x509_free(t->service);
    cs_free(t);
}

consort_err cs_rpc_forwarder_new(cs_rpc *rpc, rpc_forwarder **out)
{
    rpc_forwarder *fwd = cs_calloc(1, sizeof *fwd);
    CS_ENSURE(fwd != NULL, CONSORT_E_NOMEM, "rpc: out of memory");
    fwd->rpc = rpc;
    *out = fwd;
    return CONSORT_OK;
}

/* The client configuration: our node certificate, the service certificate pinned. */
static consort_err ensure_tls(rpc_forwarder *fwd)
{
    if (fwd->tls != NULL)
        return CONSORT_OK;
    cs_node *node = fwd->rpc->node;
    const cs_x509 *cert = cs_node_cert(node);
    const cs_x509 *service = cs_node_service_cert(node);
    CS_ENSURE(cert != NULL && service != NULL, CONSORT_E_STATE,
              "forwarding: the node has no certificate yet");
    fwd_trust *t = cs_calloc(1, sizeof *t);
    CS_ENSURE(t != NULL, CONSORT_E_NOMEM, "forwarding: out of memory");
    t->refs = 1;
    cs_buf der;
    cs_buf_init(&der, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_to_der(service, &der), failed);
    CS_TRY_GOTO(rc, cs_x509_from_der(cs_buf_slice(&der), &t->service), failed);
    cs_buf_cleanup(&der);
    t->pinned = (cs_tls_pinned){.roots = &t->service, .root_count = 1};
    const cs_tls_params params = {
        .role = CS_TLS_CLIENT,
        .key = cs_node_key(node),
        .cert = cert,
        .verify = cs_tls_verify_pinned,
        .verify_ctx = &t->pinned,
    };
    rc = cs_tls_config_new(&params, &fwd->tls);
    if (rc != CONSORT_OK) {
        trust_unref(t);
        return cs_err_context(rc, "forwarding: TLS configuration");
    }
    fwd->trust = t;
    return CONSORT_OK;
failed:
    cs_buf_cleanup(&der);
    trust_unref(t);
    return cs_err_context(rc, "forwarding: service certificate");
}

/* RFC 9110 §7.6.1: connection-specific fields are not forwarded; framing is the client's. */
static bool hop_by_hop(const char *name)
{
    static const char *const names[] = {
        "connection", "keep-alive",     "proxy-connection", "te",      "transfer-encoding",
        "upgrade",    "content-length", "expect",           "trailer", CS_RPC_FORWARDED_HEADER};
    for (size_t i = 0; i < CS_ARRAY_LEN(names); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

static void fwd_req_free(fwd_req *fr)
{
    cs_free(fr->headers);
    cs_buf_cleanup(&fr->held);
    cs_free(fr);
}

/* Sends the leader's answer (kept in `fr`) to the client. */
static void relay_held(fwd_req *fr)
{
    cs_rpc_respond(fr->rpc, fr->req, fr->status, fr->headers, fr->header_count, fr->body);
    fwd_req_free(fr);
}

static void unhold(rpc_forwarder *fwd, fwd_req *fr)
{
    if (fr->held_prev != NULL)
        fr->held_prev->held_next = fr->held_next;
    else
        fwd->holding = fr->held_next;
    if (fr->held_next != NULL)
        fr->held_next->held_prev = fr->held_prev;
}

static void applied(void *ctx, const cs_node_result *res)
{
    fwd_req *fr = ctx;
    if (res->rc != CONSORT_OK)
        cs_log_info("rpc", "relaying %s %s before this node applied the write: %s", fr->req->method,
                    fr->req->path, res->message);
    unhold(fr->rpc->fwd, fr);
    relay_held(fr);
}

/* Keeps a copy of the leader's answer in `fr` (what it relays later). */
static consort_err hold(fwd_req *fr, const cs_http_response *resp)
{
    size_t bytes = resp->body.len;
    for (size_t i = 0; i < resp->header_count; i++)
        bytes += strlen(resp->headers[i].name) + strlen(resp->headers[i].value) + 2;
    cs_buf_init(&fr->held, bytes + 1);
    CS_TRY(cs_buf_reserve(&fr->held, bytes + 1)); /* no moves: the slices point into it */
    fr->headers = cs_calloc(resp->header_count + 1, sizeof *fr->headers);
    CS_ENSURE(fr->headers != NULL, CONSORT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < resp->header_count; i++) {
        if (hop_by_hop(resp->headers[i].name))
            continue;
        const char *name = (const char *)fr->held.ptr + fr->held.len;
        CS_TRY(cs_buf_append(&fr->held, resp->headers[i].name, strlen(resp->headers[i].name) + 1));
        const char *value = (const char *)fr->held.ptr + fr->held.len;
        CS_TRY(
            cs_buf_append(&fr->held, resp->headers[i].value, strlen(resp->headers[i].value) + 1));
        fr->headers[fr->header_count++] = (cs_http_header){name, value};
    }
    const uint8_t *body = fr->held.ptr + fr->held.len;
    CS_TRY(cs_buf_append_slice(&fr->held, resp->body));
    fr->body = CS_SLICE(body, resp->body.len);
    fr->status = resp->status;
    return CONSORT_OK;
}

/* The txid a successful write answer names (zero if none). */
static cs_txid answer_txid(const cs_http_response *resp)
{
    cs_txid t = {0, 0};
    if (resp->status < 200 || resp->status > 299)
        return t;
    for (size_t i = 0; i < resp->header_count; i++)
        if (strcasecmp(resp->headers[i].name, CS_RPC_TXID_HEADER) == 0 &&
            cs_txid_parse(resp->headers[i].value, &t) != CONSORT_OK) {
            cs_err_clear();
            t = (cs_txid){0, 0};
        }
    return t;
}

static void relay(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    fwd_req *fr = ctx;
    cs_rpc *rpc = fr->rpc;
    if (err != CONSORT_OK) {
        rpc->stats.forward_failures++;
        cs_log_info("rpc", "forwarding %s %s to %s failed: %s", fr->req->method, fr->req->path,
                    fr->leader, msg);
        cs_rpc_respond_unavailable(rpc, fr->req,
                                   "the leader at %s did not answer (the request may or may not "
                                   "have been executed): %s",
                                   fr->leader, msg);
        fwd_req_free(fr);
        return;
    }
    if (hold(fr, resp) != CONSORT_OK) {
        cs_rpc_respond_internal(rpc, fr->req, CONSORT_E_NOMEM, "relaying the leader's answer");
        fwd_req_free(fr);
        return;
    }
    cs_txid txid = answer_txid(resp);
    if (txid.seqno == 0 || rpc->fwd == NULL) {
        relay_held(fr);
        return;
    }
    fr->held_next = rpc->fwd->holding;
    if (rpc->fwd->holding != NULL)
        rpc->fwd->holding->held_prev = fr;
    rpc->fwd->holding = fr;
    cs_node_wait_applied(rpc->node, &fr->waiter, txid, CS_RPC_FORWARD_APPLY_WAIT_MS, applied, fr);
}

/* Sends one request on the open connection (or answers it). */
static void send_req(rpc_forwarder *fwd, fwd_req *fr)
{
    cs_http_request *req = fr->req;
    cs_http_header *headers = cs_calloc(req->header_count + 1, sizeof *headers);
    if (headers == NULL) {
        cs_rpc_respond_internal(fwd->rpc, req, cs_fail(CONSORT_E_NOMEM, "out of memory"),
                                "forwarding");
        fwd_req_free(fr);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < req->header_count; i++)
        if (!hop_by_hop(req->headers[i].name))
            headers[n++] = req->headers[i];
    char caller[65] = CS_RPC_NO_CALLER;
    if (fr->caller.has_cert)
        cs_hex_encode(CS_SLICE(fr->caller.fp, 32), caller);
    headers[n++] = (cs_http_header){CS_RPC_FORWARDED_HEADER, caller};
    consort_err rc = cs_http_client_request(fwd->client, req->method, req->target, headers, n,
                                            req->body, relay, fr);
    cs_free(headers);
    if (rc != CONSORT_OK) {
        fwd->rpc->stats.forward_failures++;
        cs_rpc_respond_unavailable(fwd->rpc, req, "cannot forward to the leader at %s: %s",
                                   fr->leader, consort_errmsg());
        fwd_req_free(fr);
        return;
    }
    fwd->rpc->stats.forwarded++;
}

/* Answers every request waiting for a connection with 503 and `why`. */
static void fail_waiting(rpc_forwarder *fwd, const char *why)
{
    while (fwd->waiting != NULL) {
        fwd_req *fr = fwd->waiting;
        fwd->waiting = fr->next;
        fwd->rpc->stats.forward_failures++;
        cs_rpc_respond_unavailable(fwd->rpc, fr->req, "cannot reach the leader at %s: %s",
                                   fr->leader, why);
        fwd_req_free(fr);
    }
    fwd->waiting_tail = NULL;
}

static void connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    fwd_attempt *a = ctx;
    rpc_forwarder *fwd = a->fwd;
    trust_unref(a->trust); /* the handshake is over: no verification will run */
    cs_free(a);
    if (fwd == NULL) { /* abandoned (leader changed, or the rpc stopped) */
        if (s != NULL)
            cs_stream_close(s);
        return;
    }
    fwd->attempt = NULL;
    if (err == CONSORT_OK) {
        const cs_http_client_params params = {0};
        err = cs_http_client_new(s, &params, &fwd->client); /* owns s, on failure too */
        msg = consort_errmsg(); /* synchronous: cs_http_client_new's failure */
    }
    if (err != CONSORT_OK) {
        cs_log_info("rpc", "cannot connect to the leader at %s: %s", fwd->leader, msg);
        fail_waiting(fwd, msg);
        return;
    }
    while (fwd->waiting != NULL) {
        fwd_req *fr = fwd->waiting;
        fwd->waiting = fr->next;
        send_req(fwd, fr);
    }
    fwd->waiting_tail = NULL;
}

/* Drops the connection or attempt to a former leader. In-flight requests
 * are answered 503 by the client; waiting ones stay queued for the next. */
static void drop_connection(rpc_forwarder *fwd)
{
    if (fwd->attempt != NULL) {
        fwd->attempt->fwd = NULL;
        fwd->attempt = NULL;
    }
    cs_http_client *c = fwd->client;
    fwd->client = NULL;
    cs_http_client_free(c);
}

static consort_err start_attempt(rpc_forwarder *fwd, const char *leader)
{
    fwd_attempt *a = cs_calloc(1, sizeof *a);
    CS_ENSURE(a != NULL, CONSORT_E_NOMEM, "forwarding: out of memory");
    a->fwd = fwd;
    a->trust = fwd->trust;
    a->trust->refs++;
    consort_err rc = cs_tls_connect(fwd->rpc->loop, leader, fwd->tls, connected, a);
    if (rc != CONSORT_OK) {
        trust_unref(a->trust);
        cs_free(a);
        return rc;
    }
    snprintf(fwd->leader, sizeof fwd->leader, "%s", leader);
    fwd->attempt = a;
    return CONSORT_OK;
}

void cs_rpc_forward(cs_rpc *rpc, cs_http_request *req, const rpc_caller *caller)
{
    rpc_forwarder *fwd = rpc->fwd;
    char leader[CS_NODE_ADDR_MAX];
    cs_node_leader_rpc_address(rpc->node, leader);
    if (leader[0] == '\0') {
        cs_rpc_respond_unavailable(rpc, req, "no leader is known; retry shortly");
        return;
    }
    if (strcmp(leader, rpc->address) == 0 || strcmp(leader, rpc->cfg->rpc_address) == 0) {
        cs_rpc_respond_unavailable(rpc, req, "leadership is changing; retry shortly");
        return;
    }
    consort_err rc = ensure_tls(fwd);
    if (rc != CONSORT_OK) {
        cs_rpc_respond_internal(rpc, req, rc, "forwarding");
        return;
    }
    fwd_req *fr = cs_calloc(1, sizeof *fr);
    if (fr == NULL) {
        cs_rpc_respond_internal(rpc, req, cs_fail(CONSORT_E_NOMEM, "out of memory"), "forwarding");
        return;
    }
    fr->rpc = rpc;
    fr->req = req;
    fr->caller = *caller;
    snprintf(fr->leader, sizeof fr->leader, "%s", leader);
    bool same = strcmp(fwd->leader, leader) == 0;
    if (same && fwd->client != NULL && cs_http_client_is_open(fwd->client)) {
        send_req(fwd, fr);
        return;
    }
    if (!same || fwd->attempt == NULL) {
        drop_connection(fwd);
        rc = start_attempt(fwd, leader);
        /* requests queued for a former leader go to the new one */
        for (fwd_req *w = fwd->waiting; w != NULL; w = w->next)
            snprintf(w->leader, sizeof w->leader, "%s", leader);
    }
    if (fwd->waiting_tail != NULL)
        fwd->waiting_tail->next = fr;
    else
        fwd->waiting = fr;
    fwd->waiting_tail = fr;
    if (rc != CONSORT_OK)
        fail_waiting(fwd, consort_errmsg());
}

void cs_rpc_forwarder_free(rpc_forwarder *fwd)
{
    if (fwd == NULL)
        return;
    drop_connection(fwd); /* in-flight requests are answered 503 now */
    fail_waiting(fwd, "the node is stopping");
    while (fwd->holding != NULL) { /* relay now what waits for the local apply */
        fwd_req *fr = fwd->holding;
        fwd->holding = fr->held_next;
        cs_node_wait_cancel(fwd->rpc->node, &fr->waiter);
        relay_held(fr);
    }
    cs_tls_config_free(fwd->tls);
    trust_unref(fwd->trust);
    cs_free(fwd);
}
