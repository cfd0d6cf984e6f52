/*
 * Private to the forwarder (rpc_forward.c) and the relay of the leader's
 * answers (rpc_relay.c, which calls nothing of rpc_forward.c).
 */
#ifndef CS_NODE_RPC_FORWARD_H
#define CS_NODE_RPC_FORWARD_H

#include "node/rpc_priv.h"

/*
 * docs/consistency.md: a forwarded request not answered by the leader
 * within this long (ms) is answered 503 with Retry-After: "the leader did
 * not answer" (its outcome is unknown), or, if it never left this node,
 * "not sent" (nothing was executed). Above what the leader itself takes to
 * answer or give up (a read waits at most CS_RPC_READ_WAIT_MS; a leader
 * cut off from its followers steps down after an election timeout).
 */
#define CS_RPC_FORWARD_TIMEOUT_MS 5000

/* The leader's answers held until this node applied their transaction. */
typedef struct rpc_held rpc_held;
typedef struct rpc_relay_list {
    rpc_held *head;
} rpc_relay_list;

/*
 * Relays `resp`, the leader's answer to the forwarded `req`, to the client:
 * at once, or, for a 2xx answer naming its x-consort-txid, once this node
 * has applied that transaction (read-your-writes; at most
 * CS_RPC_FORWARD_APPLY_WAIT_MS), kept in `list` meanwhile (a copy: `resp`
 * is only valid during the call). With `list` NULL, at once. Answers 500
 * if the copy fails.
 */
void cs_rpc_relay(cs_rpc *rpc, rpc_relay_list *list, cs_http_request *req,
                  const cs_http_response *resp);
/* Relays at once every answer still held (the forwarder is closing). */
void cs_rpc_relay_flush(cs_rpc *rpc, rpc_relay_list *list);
/* RFC 9110 §7.6.1: connection-specific fields, never forwarded or relayed. */
bool cs_rpc_hop_by_hop(const char *name);

#endif
