/*
 * The joiner: a new node asking a service to admit it (join_msg.h has the
 * messages; admit.h the other side). It opens an attested control channel
 * to its target (whose evidence and code id the channel checks against the
 * joiner's own platform and join policy), trusts an answer only from a
 * peer whose certificate the pinned service certificate issued, follows
 * redirects to the leader, and retries every second until welcomed.
 *
 * The welcome is handed to `welcome` (node.c adopts it: vault.h); once that
 * returned OK the joiner is done. Everything runs on the loop; callbacks
 * never fire inside node_joiner_start.
 */
#ifndef CS_NODE_JOINER_H
#define CS_NODE_JOINER_H

#include "net/attested.h"
#include "node/join_msg.h"

typedef struct node_joiner node_joiner;

typedef struct node_joiner_opts {
    uv_loop_t *loop;
    const char *target;       /* node_address of a node of the service (copied) */
    cs_attested_config *ctl;  /* control channels (raft id 0); borrowed */
    const char *node_address; /* ours (copied) */
    const char *rpc_address;  /* ours (copied) */
    cs_slice evidence;        /* our evidence envelope (copied) */
    const char *node_id;      /* logs (copied) */
    void *ctx;
    /* Is `cert` issued by the pinned service certificate? */
    bool (*service_issued)(void *ctx, const cs_x509 *cert);
    /* The welcome arrived: adopt it (OK ends the joining; an error is
     * logged and the joiner tries again later). */
    consort_err (*welcome)(void *ctx, const join_msg *welcome);
} node_joiner_opts;

CS_MUST_CHECK consort_err node_joiner_start(const node_joiner_opts *o, node_joiner **out);
/* Stops trying; `cb` fires (later) once nothing of the joiner remains on
 * the loop, and the joiner's memory is gone. */
void node_joiner_close(node_joiner *j, void (*cb)(void *ctx), void *ctx);

#endif
