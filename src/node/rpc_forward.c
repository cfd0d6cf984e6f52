/*
 * Forwarding requests from a follower to the leader (rpc.h): writes, and
 * reads that must run there.
 *
 * One keep-alive HTTPS connection to the leader's rpc_address, opened on
 * the first forward and replaced when the leader changes. The follower
 * presents its node certificate as client certificate and pins the
 * service certificate for the leader's; it names the original caller in
 * x-consort-forwarded-caller, which the leader trusts only from a service
 * node's certificate (rpc.c). The leader's answer is relayed by
 * rpc_relay.c. Requests wait in a queue while the connection is being made.
 *
 * Nothing waits for a leader that does not answer (docs/consistency.md):
 * every forwarded request has a deadline (CS_RPC_FORWARD_TIMEOUT_MS), and
 * when this node learns of a new leader (a node event) the connection to
 * the former one is dropped. Either way a request the former leader may
 * have received is answered 503 with Retry-After (its outcome is unknown);
 * one that never left this node goes to the new leader, or is answered
 * 503 "not sent" at its deadline.
 */
#include "node/rpc_forward.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"

#include <string.h>

/* The client configuration's verification context: it must live as long as
 * any handshake that may still call it, so connection attempts hold a reference. */
typedef struct fwd_trust {
    int refs;
    cs_x509 *service; /* our own copy of the pinned service certificate */
    cs_tls_pinned pinned;
} fwd_trust;

typedef struct fwd_req {
    rpc_forwarder *fwd;
    cs_http_request *req;
    rpc_caller caller;
    char leader[CS_NET_ADDRESS_MAX]; /* where it goes, or went */
    struct fwd_req *next;            /* in the waiting queue */
    bool sent;                       /* on the connection: the leader may have it */
    cs_timer *deadline;
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
    rpc_relay_list holding;          /* answers waiting for the local apply */
    bool closing;
    char dropping[160]; /* why the connection is being dropped (the 503s say it) */
};

static void trust_unref(fwd_trust *t)
{
    if (t == NULL || --t->refs > 0)
        return;
    cs_x509_free(t->service);
    cs_free(t);
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

static void fwd_req_free(fwd_req *fr)
{
    cs_timer_free(fr->deadline);
    cs_free(fr);
}

static bool is_self(const cs_rpc *rpc, const char *leader)
{
    return strcmp(leader, rpc->address) == 0 || strcmp(leader, rpc->cfg->rpc_address) == 0;
}

/* The leader answered `fr` (relayed), or the connection ended first. */
static void relay(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    fwd_req *fr = ctx;
    rpc_forwarder *fwd = fr->fwd;
    cs_rpc *rpc = fwd->rpc;
    if (err != CONSORT_OK) {
        const char *why = fwd->dropping[0] != '\0' ? fwd->dropping : msg;
        rpc->stats.forward_failures++;
        cs_log_info("rpc", "forwarding %s %s to %s failed: %s", fr->req->method, fr->req->path,
                    fr->leader, why);
        cs_rpc_respond_unavailable(rpc, fr->req,
                                   "the leader at %s did not answer (the request may or may not "
                                   "have been executed): %s",
                                   fr->leader, why);
    } else {
        cs_rpc_relay(rpc, fwd->closing ? NULL : &fwd->holding, fr->req, resp);
    }
    fwd_req_free(fr);
}

/* Drops the connection or attempt to a former leader; `why` (NULL: the
 * client's own message) is what each request in flight is answered with
 * (503). Waiting ones stay queued for the next. */
static void drop_connection(rpc_forwarder *fwd, const char *why)
{
    if (fwd->attempt != NULL) {
        fwd->attempt->fwd = NULL;
        fwd->attempt = NULL;
    }
    cs_http_client *c = fwd->client;
    fwd->client = NULL;
    snprintf(fwd->dropping, sizeof fwd->dropping, "%s", why != NULL ? why : "");
    cs_http_client_free(c); /* in-flight requests are answered now (relay) */
    fwd->dropping[0] = '\0';
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
        if (!cs_rpc_hop_by_hop(req->headers[i].name))
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
    fr->sent = true;
    fwd->rpc->stats.forwarded++;
}

/* Answers a request that never left this node: 503, nothing was executed. */
static void not_sent(rpc_forwarder *fwd, fwd_req *fr, const char *why)
{
    fwd->rpc->stats.forward_failures++;
    cs_rpc_respond_unavailable(fwd->rpc, fr->req,
                               "the request was not sent to the leader at %s (nothing was "
                               "executed): %s",
                               fr->leader, why);
    fwd_req_free(fr);
}

/* Answers every request waiting for a connection with 503 and `why`. */
static void fail_waiting(rpc_forwarder *fwd, const char *why)
{
    char msg[CS_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", why); /* may be the thread-local message */
    while (fwd->waiting != NULL) {
        fwd_req *fr = fwd->waiting;
        fwd->waiting = fr->next;
        not_sent(fwd, fr, msg);
    }
    fwd->waiting_tail = NULL;
}

static void unqueue(rpc_forwarder *fwd, fwd_req *fr)
{
    fwd_req *prev = NULL;
    for (fwd_req *w = fwd->waiting; w != NULL; prev = w, w = w->next) {
        if (w != fr)
            continue;
        if (prev != NULL)
            prev->next = w->next;
        else
            fwd->waiting = w->next;
        if (fwd->waiting_tail == w)
            fwd->waiting_tail = prev;
        return;
    }
}

/* A forwarded request's deadline passed. */
static void deadline_cb(void *ctx)
{
    fwd_req *fr = ctx;
    rpc_forwarder *fwd = fr->fwd;
    char why[96];
    snprintf(why, sizeof why, "no answer within %d ms", CS_RPC_FORWARD_TIMEOUT_MS);
    if (!fr->sent) { /* still waiting for a connection to the leader */
        cs_log_info("rpc", "forwarding %s %s: the leader at %s could not be reached: %s",
                    fr->req->method, fr->req->path, fr->leader, why);
        unqueue(fwd, fr);
        not_sent(fwd, fr, why);
        return;
    }
    /* the leader answers in order: nothing sent after it will come either */
    cs_log_warn("rpc",
                "forwarding: the leader at %s did not answer %s %s within %d ms: dropping the "
                "connection (%zu requests in flight)",
                fr->leader, fr->req->method, fr->req->path, CS_RPC_FORWARD_TIMEOUT_MS,
                cs_http_client_pending(fwd->client));
    drop_connection(fwd, why); /* answers fr, and frees it */
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

/* Queues `fr` for `leader`, (re)connecting if needed; requests queued for a
 * former leader go to this one. */
static void enqueue(rpc_forwarder *fwd, fwd_req *fr, const char *leader)
{
    consort_err rc = CONSORT_OK;
    bool same = strcmp(fwd->leader, leader) == 0;
    if (!same || fwd->attempt == NULL) {
        char why[CS_NODE_ADDR_MAX + 64];
        snprintf(why, sizeof why, "leadership moved to %s", leader);
        drop_connection(fwd, same ? NULL : why);
        rc = start_attempt(fwd, leader);
        for (fwd_req *w = fwd->waiting; w != NULL; w = w->next)
            snprintf(w->leader, sizeof w->leader, "%s", leader);
    }
    if (fr != NULL) {
        if (fwd->waiting_tail != NULL)
            fwd->waiting_tail->next = fr;
        else
            fwd->waiting = fr;
        fwd->waiting_tail = fr;
    }
    if (rc != CONSORT_OK)
        fail_waiting(fwd, consort_errmsg());
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
    if (is_self(rpc, leader)) {
        cs_rpc_respond_unavailable(rpc, req, "leadership is changing; retry shortly");
        return;
    }
    consort_err rc = ensure_tls(fwd);
    if (rc != CONSORT_OK) {
        cs_rpc_respond_internal(rpc, req, rc, "forwarding");
        return;
    }
    fwd_req *fr = cs_calloc(1, sizeof *fr);
    rc = fr != NULL ? cs_timer_new(rpc->loop, deadline_cb, fr, &fr->deadline)
                    : cs_fail(CONSORT_E_NOMEM, "out of memory");
    if (rc != CONSORT_OK) {
        cs_free(fr);
        cs_rpc_respond_internal(rpc, req, rc, "forwarding");
        return;
    }
    fr->fwd = fwd;
    fr->req = req;
    fr->caller = *caller;
    snprintf(fr->leader, sizeof fr->leader, "%s", leader);
    cs_timer_start(fr->deadline, CS_RPC_FORWARD_TIMEOUT_MS);
    if (strcmp(fwd->leader, leader) == 0 && fwd->client != NULL &&
        cs_http_client_is_open(fwd->client)) {
        send_req(fwd, fr);
        return;
    }
    enqueue(fwd, fr, leader);
}

/* A node event: if the leader this node knows is not the one the
 * connection goes to, nothing more will come from that one. */
static void node_event(void *ctx, const cs_node_event *ev)
{
    rpc_forwarder *fwd = ctx;
    (void)ev;
    if (fwd->client == NULL && fwd->attempt == NULL && fwd->waiting == NULL)
        return;
    char leader[CS_NODE_ADDR_MAX];
    cs_node_leader_rpc_address(fwd->rpc->node, leader);
    if (leader[0] == '\0' || strcmp(leader, fwd->leader) == 0)
        return; /* no leader known yet (an election), or the same one */
    char why[CS_NODE_ADDR_MAX + 64];
    bool self = is_self(fwd->rpc, leader);
    snprintf(why, sizeof why, "leadership moved to %s", self ? "this node" : leader);
    cs_log_info("rpc", "forwarding: %s from %s", why, fwd->leader);
    drop_connection(fwd, why);
    if (self)
        fail_waiting(fwd, "leadership moved to this node; retry");
    else if (fwd->waiting != NULL) /* never sent: they go to the new leader */
        enqueue(fwd, NULL, leader);
}

consort_err cs_rpc_forwarder_new(cs_rpc *rpc, rpc_forwarder **out)
{
    rpc_forwarder *fwd = cs_calloc(1, sizeof *fwd);
    CS_ENSURE(fwd != NULL, CONSORT_E_NOMEM, "rpc: out of memory");
    fwd->rpc = rpc;
    consort_err rc = cs_node_watch(rpc->node, node_event, fwd);
    if (rc != CONSORT_OK) {
        cs_free(fwd);
        return cs_err_context(rc, "forwarding");
    }
    *out = fwd;
    return CONSORT_OK;
}

void cs_rpc_forwarder_free(rpc_forwarder *fwd)
{
    if (fwd == NULL)
        return;
    cs_node_unwatch(fwd->rpc->node, node_event, fwd);
    fwd->closing = true;
    drop_connection(fwd, "the node is stopping"); /* in-flight requests are answered 503 now */
    fail_waiting(fwd, "the node is stopping");
    cs_rpc_relay_flush(fwd->rpc, &fwd->holding); /* relay now what waits for the local apply */
    cs_tls_config_free(fwd->tls);
    trust_unref(fwd->trust);
    cs_free(fwd);
}
