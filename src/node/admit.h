/*
 * Admission: the side of the join protocol (join_msg.h) that answers a
 * joining node on an attested control channel. The channel already proved
 * the joiner's evidence, its binding to this connection and its code id
 * against the service's policy (peers.h). A node that does not lead
 * redirects the joiner to the leader (so secrets never pass through
 * relays). The leader checks the joiner's quote and asks the service's
 * decision (ops.decide): a refused joiner hears why; a Pending one gets its
 * record (status Pending) and hears that it waits for the members (it asks
 * again later); a trusted one gets its node certificate, its record
 * (status Trusted), a place in raft as a spare, the service identity and
 * ledger secret, and is promoted to voter once it caught up. One join at a
 * time; others hear "busy".
 *
 * It reaches the rest of the node only through node_admit_ops.
 */
#ifndef CS_NODE_ADMIT_H
#define CS_NODE_ADMIT_H

#include "net/attested.h"
#include "node/exec.h"
#include "node/join_msg.h"
#include "node/service_maps.h"
#include "node/vault.h"

typedef struct node_admit node_admit;

/* A completion with its own outcome. */
typedef void (*node_admit_done_fn)(void *ctx, consort_err rc, const char *why);

/* What the service decides for a joiner whose quote verified. */
typedef enum node_admit_decision {
    NODE_ADMIT_TRUST = 1, /* join now, as Trusted */
    NODE_ADMIT_PENDING,   /* record it Pending; it joins once the members trust it */
    NODE_ADMIT_REFUSE,    /* refuse, saying why */
} node_admit_decision;

typedef struct node_admit_ops {
    void *ctx;
    /* The service's decision for node `node_id` running `code_id` (its
     * record, the code id's status, a rolling update, the constitution's
     * admit_node); `why` says why for PENDING and REFUSE. `has_record`:
     * the node has a record already. */
    node_admit_decision (*decide)(void *ctx, const char *node_id, const uint8_t code_id[32],
                                  bool *has_record, char why[256]);
    /* This node leads and accepts writes. */
    bool (*leading)(void *ctx);
    /* The leader's node_address for a redirect ("" if unknown, or this node). */
    void (*leader_address)(void *ctx, char out[CS_NODE_ADDR_MAX]);
    /* Commits the joiner's record; `done` fires later (exec.h contract). */
    consort_err (*commit_record)(void *ctx, const char *node_id, const node_record *r,
                                 node_exec_done_fn done, void *done_ctx);
    /* Adds raft server `raft_id` at `address` as a spare (done at once, later,
     * if it is in the configuration already). */
    consort_err (*raft_add)(void *ctx, uint64_t raft_id, const char *address,
                            node_admit_done_fn done, void *done_ctx);
    /* Promotes it to voter once it caught up (its own completion is logged). */
    void (*raft_promote)(void *ctx, uint64_t raft_id);
    /* Issues the joiner's node certificate. */
    consort_err (*issue)(void *ctx, const cs_key *subject, const char *node_id,
                         const char *rpc_address, cs_x509 **out);
    /* What a welcome carries (secret buffers). */
    consort_err (*secrets)(void *ctx, cs_buf *service_key_pem, cs_buf *service_cert_der,
                           cs_buf *ledger_secret);
    /* How joiners' quotes are verified (the service's anchors). */
    const cs_verify_opts *(*verify_opts)(void *ctx);
} node_admit_ops;

CS_MUST_CHECK consort_err node_admit_new(uv_loop_t *loop, const node_admit_ops *ops,
                                         const char *node_id, node_admit **out);
/* A control channel arrived (ownership of `s` taken). */
void node_admit_accept(node_admit *a, cs_stream *s, const cs_attested_peer *peer);
/* Closes every channel; `cb` fires later, once nothing remains, and the
 * admission's memory is gone. Joins in flight complete without answering. */
void node_admit_close(node_admit *a, void (*cb)(void *ctx), void *ctx);

typedef struct node_admit_stats {
    uint64_t accepted;
    uint64_t refused;
} node_admit_stats;
node_admit_stats node_admit_get_stats(const node_admit *a);

#endif
