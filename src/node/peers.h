/*
 * The node's attested channels to other nodes (net/attested.h;
 * docs/net.md): one listener on node_address, the connector raft dials its
 * peers with, and the control channels joins use.
 *
 * Every channel is attested by the channel itself (evidence bound to the
 * peer's TLS key and this connection, code id against the service's
 * policy: platform.h). A hello with raft id 0 is a control channel (a
 * join: admit.h); any other is raft traffic, accepted only if in addition
 *   - the raft id is the one the peer's key implies, so a peer cannot pose
 *     as another server;
 *   - its certificate was issued by this service's identity (only nodes the
 *     service admitted get one: the leader sends it once the node's record
 *     is committed);
 *   - if this node's store has a record of the peer, its status is
 *     "Trusted". A peer without a record is accepted on its certificate:
 *     after a restart the store may not hold the latest records yet (the
 *     ledger's unsigned tail comes back through raft, docs/security.md),
 *     and refusing a genuine peer there would keep the node from catching
 *     up.
 */
#ifndef CS_NODE_PEERS_H
#define CS_NODE_PEERS_H

#include "consensus/transport.h"
#include "net/attested.h"
#include "node/node.h"

typedef struct node_peers node_peers;

typedef struct node_peers_ops {
    void *ctx;
    /* The status of node `node_id` in the service's store: CONSORT_OK with
     * it in `status`, NOT_FOUND if the store has no record of it. */
    consort_err (*peer_status)(void *ctx, const char *node_id, char status[32]);
    /* Is `cert` issued by this service's identity? */
    bool (*service_issued)(void *ctx, const cs_x509 *cert);
    /* A raft channel from a checked peer (ownership of `s` passes). */
    void (*raft_channel)(void *ctx, cs_stream *s, uint64_t raft_id, const char *address);
    /* A control channel (a join; ownership of `s` passes). */
    void (*join_channel)(void *ctx, cs_stream *s, const cs_attested_peer *peer);
} node_peers_ops;

typedef struct node_peers_opts {
    uv_loop_t *loop;
    const char *node_address;
    uint64_t raft_id;
    const char *node_id;
    cs_attester_fn attest;
    void *attest_ctx;
    const cs_verify_opts *verify_opts; /* borrowed, read at every check */
    const cs_policy *policy;           /* peers of the service */
    const cs_policy *join_policy;      /* a joiner checking its target */
} node_peers_opts;

CS_MUST_CHECK consort_err node_peers_new(const node_peers_opts *o, const node_peers_ops *ops,
                                         node_peers **out);
/* Our identity on the channels: the key and certificate (self-signed until
 * trusted, then the node certificate). Rebuilds the channel configurations. */
CS_MUST_CHECK consort_err node_peers_set_identity(node_peers *p, cs_key *key, cs_x509 *cert);
/* Starts listening on node_address. */
CS_MUST_CHECK consort_err node_peers_listen(node_peers *p);
/* The connector raft dials peers with. */
cs_raft_connector node_peers_connector(node_peers *p);
/* The connections to node_address refused (before TLS or at the hello):
 * each is counted; the log shows them within a budget (net/attested.h). */
cs_attested_stats node_peers_stats(const node_peers *p);
/* The control-channel configuration a joiner connects with (borrowed). */
cs_attested_config *node_peers_control(node_peers *p);
/* Stops listening and dialling; `cb` fires later once every connection
 * attempt came back, and the object's memory is gone. */
void node_peers_close(node_peers *p, void (*cb)(void *ctx), void *ctx);

#endif
