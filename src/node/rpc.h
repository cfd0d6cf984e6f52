/*
 * The node's client-facing HTTP API (DESIGN.md "Public contracts",
 * docs/http-api.md): a TLS 1.3 server on the configuration's rpc_address
 * serving the built-in /node/... endpoints, /app/receipt and the endpoints
 * of the application module (include/consort/app.h), which it loads.
 *
 *   - Clients authenticate with a TLS client certificate (optional at the
 *     TLS level); endpoints that need a user or member look its SHA-256
 *     fingerprint up with cs_node_is_user / cs_node_is_member
 *     (401 without a certificate, 403 for an unregistered one).
 *   - Read-write application endpoints run on the leader (cs_node_write)
 *     and are answered once committed, with "x-consort-txid: <term>.<seqno>".
 *     A follower forwards them to the leader over TLS, presenting its node
 *     certificate, and relays the answer; with no known leader it answers
 *     503 with "Retry-After".
 *   - Errors are JSON {"error": {"code", "message"}} with the right status.
 *
 * Threading: everything runs on the node's loop thread.
 */
#ifndef CS_NODE_RPC_H
#define CS_NODE_RPC_H

#include "node/node.h"

#include <uv.h>

typedef struct cs_rpc cs_rpc;

/*
 * Serves the application module the node loaded and measured at start
 * (cs_node_app; none: only the built-in endpoints are served) over HTTPS on
 * cfg->rpc_address. The server certificate is the node certificate (with
 * the service certificate as its chain): if the node has none yet (a
 * joining node before it is trusted) the server starts listening as soon
 * as it has one. `node` and `cfg` are borrowed and must outlive the rpc.
 * Errors: the listener's (CONSORT_E_IO: address in use, bad address), NOMEM.
 */
CS_MUST_CHECK consort_err cs_rpc_start(uv_loop_t *loop, cs_node *node, const cs_node_config *cfg,
                                       cs_rpc **out);

/*
 * Stops listening, closes client connections and the connection to the
 * leader; requests still in flight are answered (the answers are dropped)
 * when their transactions complete. `cb` (may be NULL) runs once the rpc's
 * own handles are closed; the rpc's memory is released before it runs.
 * Call it before cs_node_stop. `rpc` must not be NULL.
 */
void cs_rpc_stop(cs_rpc *rpc, void (*cb)(void *ctx), void *ctx);

/*
 * Calls `fn` once the server listens (rc OK, `address` the bound address)
 * or once listening failed (rc and message say why: the address is in use,
 * the certificate is unusable), from the loop, never inside this call: at
 * once if that already happened. One callback per rpc; a later call
 * replaces it. Not called after cs_rpc_stop.
 */
typedef void (*cs_rpc_listen_fn)(void *ctx, consort_err rc, const char *message);
void cs_rpc_on_listen(cs_rpc *rpc, cs_rpc_listen_fn fn, void *ctx);

/* The bound address ("127.0.0.1:43125"), "" until the server listens. */
const char *cs_rpc_address(const cs_rpc *rpc);

#endif
