/*
 * Leadership (service.md "Execution and commit model"): a node that becomes
 * leader first commits a raft barrier, so every earlier entry is applied
 * and it knows the last seqno, before it accepts writes; a node that stops
 * leading (or sees its term change) fails and rolls back what it had not
 * committed. The first leader of a new service then commits the genesis
 * transaction (node_genesis.c) followed by a signature entry.
 *
 * Each time writes open the sealer gets a fresh key salt (store/ledger.h
 * cs_ledger_keys_rekey), so no entry key and nonce is ever used twice even
 * if a seqno is reused after a rollback; and writes never reopen in a term
 * in which a raft write failed (node_exec.c): that leader steps down.
 *
 * on_state is called by consensus after every state or term change, and by
 * the signature timer as a watchdog (a failed barrier is retried there).
 */
#include "node/node_priv.h"

#include "base/file.h"
#include "base/log.h"

#include <string.h>

void node_check_open(cs_node *n)
{
    if (n->state == NODE_OPEN || n->state == NODE_STOPPING || n->state == NODE_FAILED)
        return;
    node_record r;
    node_record_init(&r);
    consort_err rc = node_record_get(n, n->node_id, &r);
    bool trusted = rc == CONSORT_OK && strcmp(r.status, "Trusted") == 0;
    node_record_cleanup(&r);
    cs_err_clear();
    if (trusted)
        node_set_state(n, NODE_OPEN);
}

/* ---- genesis ---- */

consort_err node_put_own_record(cs_node *n, cs_kv_tx *tx)
{
    node_record r;
    node_record_init(&r);
    r.raft_id = n->raft_id;
    snprintf(r.node_address, sizeof r.node_address, "%s", n->cfg.node_address);
    snprintf(r.rpc_address, sizeof r.rpc_address, "%s", n->cfg.rpc_address);
    snprintf(r.status, sizeof r.status, "Trusted");
    memcpy(r.code_id, n->code_id, 32);
    cs_buf val;
    cs_buf_init(&val, 1 << 20);
    consort_err rc = cs_x509_to_der(n->node_cert, &r.cert);
    if (rc == CONSORT_OK)
        rc = cs_buf_set(&r.evidence, cs_buf_slice(&n->own_evidence));
    if (rc == CONSORT_OK)
        rc = node_record_encode(&r, &val);
    if (rc == CONSORT_OK)
        rc = cs_kv_put(tx, CS_SLICE_LIT(NODE_MAP_NODES), cs_slice_str(n->node_id),
                       cs_buf_slice(&val));
    cs_buf_cleanup(&val);
    node_record_cleanup(&r);
    return rc;
}

static void genesis_done(void *ctx, consort_err rc, cs_txid txid)
{
    cs_node *n = ctx;
    if (rc != CONSORT_OK) {
        /* leadership lost before commit: a later leader (us again) retries */
        cs_log_warn(NODE_LOG, "node %s: genesis transaction not committed: %s", n->node_id,
                    consort_errmsg());
        n->genesis_sent = false;
        return;
    }
    cs_log_info(NODE_LOG, "node %s: service created (genesis transaction %llu.%llu)", n->node_id,
                (unsigned long long)txid.term, (unsigned long long)txid.seqno);
}

static void genesis(cs_node *n)
{
    n->genesis_sent = true;
    consort_err rc = node_exec(n, CS_LEDGER_KIND_INTERNAL, node_genesis_fn, n, genesis_done, n);
    if (rc == CONSORT_OK)
        rc = node_exec_signature(n);
    if (rc != CONSORT_OK) {
        n->genesis_sent = false;
        node_fail(n, rc, "genesis transaction");
    }
}

/* ---- barrier ---- */

static void barrier_done(void *ctx, consort_err status)
{
    cs_node *n = ctx;
    n->barrier_inflight = false;
    if (status != CONSORT_OK || n->state == NODE_STOPPING || n->state == NODE_FAILED ||
        !n->leader || cs_consensus_state(n->cons) != CS_RAFT_LEADER ||
        cs_consensus_term(n->cons) != n->lead_term || n->lead_term == n->closed_term)
        return; /* the watchdog tries again if we still lead (never in a closed term) */
    if (cs_kv_last_seqno(n->kv) != n->applied || n->head != NULL) {
        node_fail(n, CONSORT_E_STATE, "store ahead of the applied entries after the barrier");
        return;
    }
    CS_ENSURE_GOTO(status, n->lead_term <= CS_LEDGER_TERM_MAX, fail, CONSORT_E_STATE,
                   "term %llu does not fit a ledger entry", (unsigned long long)n->lead_term);
    CS_TRY_GOTO(status, cs_ledger_keys_rekey(&n->keys), fail);
    n->next_seqno = n->applied + 1;
    n->unsigned_tx = n->applied > n->last_sig_seqno ? n->applied - n->last_sig_seqno : 0;
    n->writes_open = true;
    cs_log_info(NODE_LOG, "node %s: leader in term %llu at seqno %llu, accepting writes",
                n->node_id, (unsigned long long)n->lead_term, (unsigned long long)n->applied);
    if (n->applied == 0 && n->genesis.len > 0 && !n->genesis_sent)
        genesis(n);
    else if (n->unsigned_tx > 0 && node_exec_signature(n) != CONSORT_OK)
        cs_log_warn(NODE_LOG, "node %s: signature entry: %s", n->node_id, consort_errmsg());
    return;
fail:
    node_fail(n, status, "barrier");
}

void node_leader_on_state(void *ctx, cs_raft_state state, uint64_t term)
{
    cs_node *n = ctx;
    if (n->cons == NULL || n->state == NODE_STOPPING || n->state == NODE_FAILED)
        return;
    bool leading = state == CS_RAFT_LEADER;
    if (n->leader && (!leading || term != n->lead_term)) {
        cs_log_info(NODE_LOG, "node %s: no longer leader (term %llu, now %s in term %llu)",
                    n->node_id, (unsigned long long)n->lead_term, cs_raft_state_name(state),
                    (unsigned long long)term);
        node_exec_abandon(n, CONSORT_E_STATE, "leadership lost");
        n->leader = false;
        n->writes_open = false;
    }
    if (leading && !n->leader) {
        n->leader = true;
        n->lead_term = term;
        n->writes_open = false;
    }
    if (leading && !n->writes_open && !n->barrier_inflight && term != n->closed_term) {
        if (cs_consensus_barrier(n->cons, barrier_done, n) == CONSORT_OK)
            n->barrier_inflight = true;
        else
            cs_log_warn(NODE_LOG, "node %s: barrier: %s", n->node_id, consort_errmsg());
    }
}
