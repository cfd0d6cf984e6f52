/*
 * The node's lifecycle (node.h): create, start, stop, free. The start
 * sequence is node_start.c; the parts are wired there and in node_raft.c.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "node/app_svcseal.h"

#include <string.h>

consort_err cs_node_new(uv_loop_t *loop, const cs_node_config *cfg, cs_node **out)
{
    CS_ENSURE(loop != NULL && cfg != NULL && out != NULL, CONSORT_E_INVALID_ARGUMENT,
              "node: loop and configuration required");
    cs_node *n = cs_calloc(1, sizeof *n);
    CS_ENSURE(n != NULL, CONSORT_E_NOMEM, "node");
    n->loop = loop;
    n->cfg = *cfg;
    cs_node_config defaults;
    cs_node_config_defaults(&defaults);
    if (n->cfg.chunk_size == 0)
        n->cfg.chunk_size = defaults.chunk_size;
    if (n->cfg.sig_interval_tx == 0)
        n->cfg.sig_interval_tx = defaults.sig_interval_tx;
    if (n->cfg.sig_interval_ms == 0)
        n->cfg.sig_interval_ms = defaults.sig_interval_ms;
    if (n->cfg.snapshot_interval == 0)
        n->cfg.snapshot_interval = defaults.snapshot_interval;
    if (n->cfg.snapshot_log_kib == 0)
        n->cfg.snapshot_log_kib = defaults.snapshot_log_kib;
    if (n->cfg.min_free_mib == 0)
        n->cfg.min_free_mib = defaults.min_free_mib;
    cs_buf_init(&n->own_evidence, CS_EVIDENCE_MAX_BYTES);
    consort_err rc;
    CS_TRY_GOTO(rc, node_events_init(n), fail);
    CS_TRY_GOTO(rc, node_vault_new(n->cfg.data_dir, &n->vault), fail);
    *out = n;
    return CONSORT_OK;
fail:
    cs_node_free(n);
    return cs_err_context(rc, "node");
}

consort_err cs_node_start(cs_node *n)
{
    CS_ENSURE(!n->started, CONSORT_E_STATE, "node already started");
    n->started = true;
    consort_err rc = node_start_all(n);
    if (rc != CONSORT_OK)
        node_fail(n, rc, "start", consort_errmsg());
    return rc;
}

static void part_closed(void *ctx)
{
    node_closed_one(ctx);
}

void cs_node_stop(cs_node *n, void (*cb)(void *ctx), void *ctx)
{
    if (n->state == CS_NODE_STOPPING)
        return;
    n->stop_cb = cb;
    n->stop_ctx = ctx;
    node_closing_add(n); /* held until everything below was asked to close */
    node_set_state(n, CS_NODE_STOPPING);
    for (unsigned i = 0; i < n->seal_writes; i++)
        node_closing_add(n); /* released as each write ends (node_start.c) */
    if (n->exec != NULL) {
        node_raft_stop(n); /* pending writes fail, consensus closes */
        if (node_exec_unfinished(n->exec) > 0)
            node_closing_add(n); /* released by the executor's idle (node_raft.c) */
    } else {
        node_waiters_fail_all(n, CONSORT_E_STATE, "the node is stopping");
    }
    if (n->joiner != NULL) {
        node_closing_add(n);
        node_joiner_close(n->joiner, part_closed, n);
        n->joiner = NULL;
    }
    node_promoter_free(n->promoter); /* frees itself once raft answers an attempt in flight */
    n->promoter = NULL;
    node_loop_probe_free(n->probe);
    n->probe = NULL;
    if (n->admit != NULL) {
        node_closing_add(n);
        node_admit_close(n->admit, part_closed, n);
        n->admit = NULL;
    }
    if (n->peers != NULL) {
        node_closing_add(n);
        node_peers_close(n->peers, part_closed, n);
        n->peers = NULL;
    }
    node_closed_one(n);
}

void cs_node_free(cs_node *n)
{
    if (n == NULL)
        return;
    node_promoter_free(n->promoter); /* NULL after cs_node_stop */
    node_loop_probe_free(n->probe);
    node_exec_free(n->exec); /* its completions ran: cs_node_stop waited for them */
    node_recovery_free(n->recovery);
    node_replica_free(n->replica);
    node_platform_free(n->platform);
    node_vault_free(n->vault);
    node_seal_free(n->seal); /* after the vault, which borrows it */
    cs_app_svcseal_free(n->svcseal);
    cs_buf_cleanup(&n->own_evidence);
    node_events_cleanup(n);
    cs_node_code_free(n->code); /* the module last: the rpc serving it is stopped by now */
    cs_free(n);
}
