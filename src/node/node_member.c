/*
 * Becoming a member of the service (node_priv.h node_member_run): after a
 * start from sealed state, after a join's welcome, after genesis inputs are
 * sealed, or after a recovery restored the state.
 */
#include "node/node_priv.h"

consort_err node_member_run(cs_node *n, bool bootstrap, bool recovered,
                            const char *service_cert_out)
{
    node_replica_set_service(n->replica, node_vault_secret(n->vault),
                             node_vault_service_cert(n->vault));
    /* a recovered service's ledger is signed under the identities it succeeded */
    cs_ledger_identity ids[NODE_VAULT_PREV_MAX + 1];
    size_t count = node_vault_identities(n->vault, ids);
    if (count > 1)
        CS_TRY(node_replica_set_identities(n->replica, ids, count));
    const node_exec_signer signer = {.key = node_vault_key(n->vault),
                                     .cert = node_vault_node_cert(n->vault),
                                     .node_id = cs_node_id(n)};
    node_exec_set_signer(n->exec, &signer);
    CS_TRY(node_peers_set_identity(n->peers, (cs_key *)node_vault_key(n->vault),
                                   (cs_x509 *)node_vault_node_cert(n->vault)));
    CS_TRY(node_vault_write_public(n->vault, service_cert_out));
    /* the store (and with it the service's policy) before any peer is heard */
    if (!recovered)
        CS_TRY_CTX(node_replica_recover(n->replica, node_vault_hwm(n->vault)), "recovery");
    node_refresh_policy(n);
    node_changed(n); /* the node certificate exists */
    CS_TRY(node_peers_listen(n->peers));
    return node_raft_start(n, bootstrap);
}
