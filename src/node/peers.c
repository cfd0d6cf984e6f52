/* The node's attested channels (peers.h). */
#include "node/peers.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"
#include "node/vault.h"

#include <stdio.h>
#include <string.h>

#define PEERS_LOG "node"

struct node_peers {
    node_peers_opts o;
    node_peers_ops ops;
    char node_address[CS_NODE_ADDR_MAX];
    char node_id[CS_NODE_ID_LEN + 1];
    cs_attested_config *raft_cfg; /* our raft id */
    cs_attested_config *ctl_cfg;  /* raft id 0: joins */
    /* the previous identity's: channels made with them may still be open */
    cs_attested_config *old_raft_cfg, *old_ctl_cfg;
    cs_listener *listener;
    cs_attested_stats stats; /* what the listener refused */
    unsigned dialling;       /* connect attempts not called back yet */
    bool closed;
    cs_timer *tick;
    void (*close_cb)(void *ctx);
    void *close_ctx;
};

static void tick_cb(void *ctx);

consort_err node_peers_new(const node_peers_opts *o, const node_peers_ops *ops, node_peers **out)
{
    node_peers *p = cs_calloc(1, sizeof *p);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "peers: out of memory");
    p->o = *o;
    p->ops = *ops;
    snprintf(p->node_address, sizeof p->node_address, "%s", o->node_address);
    snprintf(p->node_id, sizeof p->node_id, "%s", o->node_id);
    p->o.node_address = p->node_address;
    p->o.node_id = p->node_id;
    consort_err rc = cs_timer_new(o->loop, tick_cb, p, &p->tick);
    if (rc != CONSORT_OK) {
        cs_free(p);
        return rc;
    }
    *out = p;
    return CONSORT_OK;
}

consort_err node_peers_set_identity(node_peers *p, cs_key *key, cs_x509 *cert)
{
    cs_attested_params ap = {.key = key,
                             .cert = cert,
                             .raft_id = p->o.raft_id,
                             .raft_address = p->node_address,
                             .attest = p->o.attest,
                             .attest_ctx = p->o.attest_ctx,
                             .verify_opts = p->o.verify_opts,
                             .policy = p->o.policy,
                             .stats = &p->stats};
    cs_attested_config *raft_cfg = NULL, *ctl_cfg = NULL;
    CS_TRY_CTX(cs_attested_config_new(&ap, &raft_cfg), "attested channels");
    ap.raft_id = 0; /* control channels: joins, checked against the join policy */
    ap.policy = p->o.join_policy;
    consort_err rc = cs_attested_config_new(&ap, &ctl_cfg);
    if (rc != CONSORT_OK) {
        cs_attested_config_free(raft_cfg);
        return cs_err_context(rc, "attested channels");
    }
    cs_attested_config_free(p->old_raft_cfg);
    cs_attested_config_free(p->old_ctl_cfg);
    p->old_raft_cfg = p->raft_cfg;
    p->old_ctl_cfg = p->ctl_cfg;
    p->raft_cfg = raft_cfg;
    p->ctl_cfg = ctl_cfg;
    return CONSORT_OK;
}

cs_attested_config *node_peers_control(node_peers *p)
{
    return p->ctl_cfg;
}

cs_attested_stats node_peers_stats(const node_peers *p)
{
    return p->stats;
}

/* The checks of peers.h for a raft peer. */
static consort_err check_raft_peer(node_peers *p, const cs_attested_peer *peer)
{
    uint64_t expected;
    CS_TRY(node_raft_id_of(peer->node_id, &expected));
    CS_ENSURE(peer->raft_id == expected, CONSORT_E_POLICY,
              "peer %s claims raft id %llu, its key implies %llu", peer->node_id,
              (unsigned long long)peer->raft_id, (unsigned long long)expected);
    CS_ENSURE(p->ops.service_issued(p->ops.ctx, peer->cert), CONSORT_E_BAD_CERTIFICATE,
              "peer %s: certificate not issued by this service", peer->node_id);
    char status[32];
    consort_err rc = p->ops.peer_status(p->ops.ctx, peer->node_id, status);
    if (rc == CONSORT_E_NOT_FOUND) { /* not in this node's store yet */
        cs_err_clear();
        return CONSORT_OK;
    }
    CS_TRY(rc);
    CS_ENSURE(strcmp(status, "Trusted") == 0, CONSORT_E_POLICY, "peer %s has status %s",
              peer->node_id, status);
    return CONSORT_OK;
}

static void on_channel(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                       const char *msg)
{
    (void)msg;
    node_peers *p = ctx;
    if (err != CONSORT_OK)
        return;
    if (p->closed) {
        cs_stream_close(s);
        return;
    }
    if (peer->raft_id == 0) {
        p->ops.join_channel(p->ops.ctx, s, peer);
        return;
    }
    if (check_raft_peer(p, peer) != CONSORT_OK) {
        cs_log_warn(PEERS_LOG, "node %s: raft channel from %s refused: %s", p->node_id,
                    peer->node_id, consort_errmsg());
        cs_stream_close(s);
        return;
    }
    p->ops.raft_channel(p->ops.ctx, s, peer->raft_id, peer->raft_address);
}

consort_err node_peers_listen(node_peers *p)
{
    CS_ENSURE(p->raft_cfg != NULL && p->listener == NULL, CONSORT_E_STATE,
              "peers: no identity yet, or listening already");
    CS_TRY_CTX(
        cs_attested_listen(p->o.loop, p->node_address, p->raft_cfg, on_channel, p, &p->listener),
        "node_address %s", p->node_address);
    return CONSORT_OK;
}

/* ---- the raft connector ---- */

typedef struct dial {
    node_peers *p;
    cs_raft_connect_cb cb;
    void *arg;
} dial;

static void maybe_gone(node_peers *p);

static void dial_done(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                      const char *msg)
{
    dial *d = ctx;
    node_peers *p = d->p;
    consort_err rc = err;
    char why[CS_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", msg);
    if (rc != CONSORT_OK)
        goto out;
    if (p->closed) {
        rc = CONSORT_E_STATE;
        snprintf(why, sizeof why, "node stopping");
        goto out;
    }
    if ((rc = check_raft_peer(p, peer)) != CONSORT_OK) {
        snprintf(why, sizeof why, "%s", consort_errmsg()); /* check_raft_peer's, just returned */
        cs_log_warn(PEERS_LOG, "node %s: raft channel to %s refused: %s", p->node_id, peer->node_id,
                    why);
    }
out:
    if (rc != CONSORT_OK && s != NULL)
        cs_stream_close(s);
    d->cb(d->arg, rc, rc == CONSORT_OK ? "" : why, rc == CONSORT_OK ? s : NULL,
          rc == CONSORT_OK ? peer->raft_id : 0);
    cs_free(d);
    p->dialling--;
    maybe_gone(p);
}

static consort_err dial_connect(void *ctx, uint64_t id, const char *address, cs_raft_connect_cb cb,
                                void *arg)
{
    node_peers *p = ctx;
    (void)id;
    CS_ENSURE(!p->closed && p->raft_cfg != NULL, CONSORT_E_STATE, "node stopping");
    dial *d = cs_calloc(1, sizeof *d);
    CS_ENSURE(d != NULL, CONSORT_E_NOMEM, "raft connect");
    *d = (dial){.p = p, .cb = cb, .arg = arg};
    consort_err rc = cs_attested_connect(p->o.loop, address, p->raft_cfg, dial_done, d);
    if (rc != CONSORT_OK) {
        cs_free(d);
        return rc;
    }
    p->dialling++;
    return CONSORT_OK;
}

cs_raft_connector node_peers_connector(node_peers *p)
{
    return (cs_raft_connector){.ctx = p, .connect = dial_connect, .cancel = NULL};
}

/* ---- closing ---- */

static void tick_cb(void *ctx)
{
    node_peers *p = ctx;
    if (p->dialling > 0)
        return;
    void (*cb)(void *) = p->close_cb;
    void *cb_ctx = p->close_ctx;
    cs_timer_free(p->tick);
    cs_attested_config_free(p->raft_cfg);
    cs_attested_config_free(p->ctl_cfg);
    cs_attested_config_free(p->old_raft_cfg);
    cs_attested_config_free(p->old_ctl_cfg);
    cs_free(p);
    if (cb != NULL)
        cb(cb_ctx);
}

static void maybe_gone(node_peers *p)
{
    if (p->closed && p->dialling == 0)
        cs_timer_start(p->tick, 0); /* reports from the loop */
}

void node_peers_close(node_peers *p, void (*cb)(void *ctx), void *ctx)
{
    p->closed = true;
    p->close_cb = cb;
    p->close_ctx = ctx;
    cs_listener_close(p->listener);
    p->listener = NULL;
    maybe_gone(p);
}
