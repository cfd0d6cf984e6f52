/*
 * The node's side of the attested channels (net/attested.h; node.md
 * "Raft transport connector"): one listener on node_address, and the
 * connector raft dials its peers with.
 *
 * Every channel is attested by the channel itself (evidence bound to the
 * peer's TLS key and this connection, code id against n->policy, which
 * node_platform.c builds from public:consort.code_ids). A hello with raft
 * id 0 is a control channel (joins, node_join.c); any other is raft
 * traffic, accepted only if in addition
 *   - the raft id is the one the peer's key implies (node.md: the first 8
 *     bytes of SHA-256(SPKI DER)), so a peer cannot pose as another server;
 *   - its certificate was issued by this service's identity (only nodes
 *     the service admitted get one: the leader sends it once the node's
 *     record is committed);
 *   - if this node's store has a record of the peer, its status is
 *     "Trusted". A peer without a record is accepted on its certificate:
 *     after a restart the store may not hold the latest records yet (the
 *     ledger's unsigned tail comes back through raft, docs/security.md),
 *     and refusing a genuine peer there would keep the node from catching
 *     up.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <string.h>

consort_err node_net_configs(cs_node *n)
{
    cs_attested_config_free(n->raft_acfg);
    cs_attested_config_free(n->ctl_acfg);
    n->raft_acfg = n->ctl_acfg = NULL;
    cs_attested_params p = {.key = n->node_key,
                            .cert = n->node_cert != NULL ? n->node_cert : n->self_cert,
                            .raft_id = n->raft_id,
                            .raft_address = n->cfg.node_address,
                            .attest = node_platform_attest,
                            .attest_ctx = n,
                            .verify_opts = &n->verify_opts,
                            .policy = &n->policy};
    CS_TRY_CTX(cs_attested_config_new(&p, &n->raft_acfg), "attested channels");
    p.raft_id = 0; /* control channel: joins */
    p.policy = &n->join_policy;
    CS_TRY_CTX(cs_attested_config_new(&p, &n->ctl_acfg), "attested channels");
    return CONSORT_OK;
}

bool node_net_is_service_issued(cs_node *n, const cs_x509 *cert)
{
    if (n->service_cert == NULL || cert == NULL)
        return false;
    cs_key *svc;
    if (cs_x509_public_key(n->service_cert, &svc) != CONSORT_OK)
        return false;
    bool ok = cs_x509_verify_signature(cert, svc) == CONSORT_OK;
    cs_key_free(svc);
    cs_err_clear();
    return ok;
}

/* The checks of this file's header for a raft peer. */
static consort_err check_raft_peer(cs_node *n, const cs_attested_peer *peer)
{
    uint64_t expected;
    CS_TRY(node_raft_id_of(peer->node_id, &expected));
    CS_ENSURE(peer->raft_id == expected, CONSORT_E_POLICY,
              "peer %s claims raft id %llu, its key implies %llu", peer->node_id,
              (unsigned long long)peer->raft_id, (unsigned long long)expected);
    CS_ENSURE(node_net_is_service_issued(n, peer->cert), CONSORT_E_BAD_CERTIFICATE,
              "peer %s: certificate not issued by this service", peer->node_id);
    node_record r;
    node_record_init(&r);
    consort_err rc = node_record_get(n, peer->node_id, &r);
    if (rc == CONSORT_OK && strcmp(r.status, "Trusted") != 0)
        rc = cs_fail(CONSORT_E_POLICY, "peer %s has status %s", peer->node_id, r.status);
    else if (rc == CONSORT_E_NOT_FOUND) /* not in this node's store yet */
        rc = CONSORT_OK;
    node_record_cleanup(&r);
    if (rc == CONSORT_OK)
        cs_err_clear();
    return rc;
}

static void on_channel(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err)
{
    cs_node *n = ctx;
    if (err != CONSORT_OK)
        return;
    if (n->state == NODE_STOPPING || n->state == NODE_FAILED) {
        cs_stream_close(s);
        return;
    }
    if (peer->raft_id == 0) {
        node_join_accept(n, s, peer);
        return;
    }
    consort_err rc = check_raft_peer(n, peer);
    if (rc == CONSORT_OK && n->cons == NULL)
        rc = cs_fail(CONSORT_E_STATE, "consensus not started yet");
    if (rc != CONSORT_OK) {
        cs_log_warn(NODE_LOG, "node %s: raft channel from %s refused: %s", n->node_id,
                    peer->node_id, consort_errmsg());
        cs_stream_close(s);
        return;
    }
    if (cs_consensus_accept(n->cons, s, peer->raft_id, peer->raft_address) != CONSORT_OK)
        cs_log_warn(NODE_LOG, "node %s: raft channel from %s: %s", n->node_id, peer->node_id,
                    consort_errmsg());
}

consort_err node_net_listen(cs_node *n)
{
    CS_TRY_CTX(
        cs_attested_listen(n->loop, n->cfg.node_address, n->raft_acfg, on_channel, n, &n->listener),
        "node_address %s", n->cfg.node_address);
    return CONSORT_OK;
}

/* ---- the raft connector ---- */

typedef struct dial {
    cs_node *n;
    uint64_t id;
    cs_raft_connect_cb cb;
    void *arg;
} dial;

static void dial_done(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err)
{
    dial *d = ctx;
    cs_node *n = d->n;
    consort_err rc = err;
    if (rc == CONSORT_OK) {
        rc = check_raft_peer(n, peer);
        if (rc != CONSORT_OK) {
            cs_log_warn(NODE_LOG, "node %s: raft channel to %s refused: %s", n->node_id,
                        peer->node_id, consort_errmsg());
            cs_stream_close(s);
            s = NULL;
        }
    }
    d->cb(d->arg, rc, rc == CONSORT_OK ? s : NULL, rc == CONSORT_OK ? peer->raft_id : 0);
    cs_free(d);
    node_net_done(n);
}

static consort_err dial_connect(void *ctx, uint64_t id, const char *address, cs_raft_connect_cb cb,
                                void *arg)
{
    cs_node *n = ctx;
    CS_ENSURE(n->state != NODE_STOPPING && n->state != NODE_FAILED, CONSORT_E_STATE,
              "node stopping");
    dial *d = cs_calloc(1, sizeof *d);
    CS_ENSURE(d != NULL, CONSORT_E_NOMEM, "raft connect");
    *d = (dial){.n = n, .id = id, .cb = cb, .arg = arg};
    consort_err rc = cs_attested_connect(n->loop, address, n->raft_acfg, dial_done, d);
    if (rc != CONSORT_OK) {
        cs_free(d);
        return rc;
    }
    n->net_inflight++;
    return CONSORT_OK;
}

cs_raft_connector node_net_connector(cs_node *n)
{
    return (cs_raft_connector){.ctx = n, .connect = dial_connect, .cancel = NULL};
}
