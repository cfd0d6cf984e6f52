/*
 * The node and consensus (node_priv.h): the FSM raft drives (committed
 * entries to the executor or the replica, snapshots to the replica),
 * leadership (a barrier before writes open, the executor closed when it
 * ends), linearizable reads (a barrier shared by the reads waiting for
 * it), and the service's policy and membership as the store says.
 * node_ops.c holds what the executor and admission may ask of raft.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "node/genesis.h"

#include <stdio.h>
#include <string.h>

/* ---- the FSM (consensus/fsm.h) ---- */

static consort_err fsm_apply(void *ctx, const cs_fsm_entry *fe, void **result)
{
    cs_node *n = ctx;
    (void)result;
    cs_ledger_entry e;
    if (cs_ledger_entry_decode(fe->data, &e) != CONSORT_OK)
        return cs_err_context(CONSORT_E_CORRUPT, "raft entry %llu is not a ledger entry",
                              (unsigned long long)fe->index);
    uint64_t applied = node_replica_applied(n->replica);
    if (e.seqno <= applied) /* raft replays what the ledger holds after a restart */
        return node_replica_check_held(n->replica, &e);
    consort_err rc;
    bool own = false;
    if (e.seqno != applied + 1) {
        rc = cs_fail(CONSORT_E_CORRUPT, "raft entry %llu carries seqno %llu, expected %llu",
                     (unsigned long long)fe->index, (unsigned long long)e.seqno,
                     (unsigned long long)(applied + 1));
        goto failed;
    }
    if (e.term != fe->term) {
        rc = cs_fail(CONSORT_E_CORRUPT, "entry %llu has term %llu but raft term %llu",
                     (unsigned long long)e.seqno, (unsigned long long)e.term,
                     (unsigned long long)fe->term);
        goto failed;
    }
    CS_TRY_GOTO(rc, node_exec_committed(n->exec, &e, &own), failed);
    if (!own)
        CS_TRY_GOTO(rc, node_replica_apply(n->replica, &e), failed);
    if (e.kind == CS_LEDGER_KIND_INTERNAL) /* governance or membership changed */
        node_refresh_policy(n);
    node_snapshot_watch_log(n);
    return CONSORT_OK;
failed: /* the replica stops (consensus/fsm.h): so does the node */
    node_fail(n, rc, "applying committed entries", consort_errmsg());
    return rc;
}

static consort_err fsm_snapshot_begin(void *ctx, void **job, bool *defer)
{
    cs_node *n = ctx;
    node_snapshot_set_trailing(n);
    return node_replica_snapshot_begin(n->replica, n->leader, node_exec_pending(n->exec) > 0, job,
                                       defer);
}

static consort_err fsm_snapshot_make(void *job, cs_buf *out)
{
    return node_replica_snapshot_seal(job, out);
}

static void fsm_snapshot_end(void *ctx, void *job, consort_err rc)
{
    cs_node *n = ctx;
    node_replica_snapshot_end(n->replica, job, rc);
    if (rc == CONSORT_OK) {
        node_snapshot_taken(n);
        node_snapshot_release(n);
    }
}

static consort_err fsm_restore(void *ctx, cs_slice data)
{
    cs_node *n = ctx;
    if (node_exec_pending(n->exec) > 0)
        node_exec_close(n->exec, CONSORT_E_STATE, "a snapshot is being installed");
    consort_err rc = node_replica_snapshot_install(n->replica, data, false);
    if (rc != CONSORT_OK) {
        /* Raft stored the snapshot before offering it (and will append entries
         * after it): a node that refused it could never apply another entry,
         * so it stops, like a failed apply, instead of acknowledging entries it
         * cannot apply while it serves its old state. */
        cs_log_error(NODE_LOG, "node %s: refused a snapshot: %s", cs_node_id(n), consort_errmsg());
        node_fail(n, rc, "installing a snapshot", consort_errmsg());
    } else {
        node_refresh_policy(n);
    }
    return rc;
}

/* ---- leadership ---- */

static void genesis_done(void *ctx, const cs_node_result *res)
{
    cs_node *n = ctx;
    if (res->rc != CONSORT_OK) { /* leadership lost before commit: a later leader (us) retries */
        cs_log_warn(NODE_LOG, "node %s: genesis transaction not committed: %s", cs_node_id(n),
                    res->message);
        n->genesis_sent = false;
        return;
    }
    cs_log_info(NODE_LOG, "node %s: service created (genesis transaction %llu.%llu)", cs_node_id(n),
                (unsigned long long)res->txid.term, (unsigned long long)res->txid.seqno);
}

/* The first leader of a new service: the genesis transaction and a
 * signature entry (genesis.h). */
static void genesis(cs_node *n)
{
    node_record rec;
    node_record_init(&rec);
    cs_buf cert;
    cs_buf_init(&cert, 64 << 10);
    consort_err rc;
    CS_TRY_GOTO(rc, node_own_record(n, &rec), done);
    CS_TRY_GOTO(rc, cs_x509_to_der(node_vault_service_cert(n->vault), &cert), done);
    node_genesis g = {.inputs = node_vault_genesis(n->vault),
                      .node_id = cs_node_id(n),
                      .record = &rec,
                      .service_cert = cs_buf_slice(&cert),
                      .ledger_secret = node_vault_secret(n->vault),
                      .service_key = node_vault_service_key(n->vault)};
    CS_TRY_GOTO(
        rc, node_exec_write(n->exec, CS_LEDGER_KIND_INTERNAL, node_genesis_fn, &g, genesis_done, n),
        done);
    n->genesis_sent = true;
    rc = node_exec_signature(n->exec);
done:
    node_record_cleanup(&rec);
    cs_buf_cleanup(&cert);
    if (rc != CONSORT_OK)
        node_fail(n, rc, "genesis transaction", consort_errmsg());
}

static void try_barrier(cs_node *n);

static void barrier_retry_cb(void *ctx)
{
    try_barrier(ctx);
}

static void barrier_done(void *ctx, consort_err status, const char *msg)
{
    cs_node *n = ctx;
    n->barrier_inflight = false;
    if (n->state == CS_NODE_STOPPING || n->state == CS_NODE_FAILED || !n->leader ||
        cs_consensus_term(n->cons) != n->lead_term)
        return;
    if (status != CONSORT_OK) { /* still leading: try again soon */
        cs_log_warn(NODE_LOG, "node %s: barrier: %s", cs_node_id(n), msg);
        cs_timer_start(n->barrier_retry, NODE_BARRIER_RETRY_MS);
        return;
    }
    consort_err rc = node_exec_open(n->exec, n->lead_term);
    if (rc != CONSORT_OK) { /* a term whose raft write failed, or a broken store */
        cs_log_warn(NODE_LOG, "node %s: writes not opened: %s", cs_node_id(n), consort_errmsg());
        return;
    }
    node_changed(n);
    if (node_replica_applied(n->replica) == 0 && node_vault_genesis(n->vault).len > 0 &&
        !n->genesis_sent)
        genesis(n);
}

static void try_barrier(cs_node *n)
{
    if (!n->leader || n->barrier_inflight || node_exec_is_open(n->exec) || n->cons == NULL ||
        n->state == CS_NODE_STOPPING || n->state == CS_NODE_FAILED)
        return;
    if (cs_consensus_barrier(n->cons, barrier_done, n) == CONSORT_OK) {
        n->barrier_inflight = true;
        return;
    }
    cs_log_warn(NODE_LOG, "node %s: barrier: %s", cs_node_id(n), consort_errmsg());
    cs_timer_start(n->barrier_retry, NODE_BARRIER_RETRY_MS);
}

static void on_state(void *ctx, cs_raft_state state, uint64_t term)
{
    cs_node *n = ctx;
    if (n->cons == NULL || n->state == CS_NODE_STOPPING || n->state == CS_NODE_FAILED)
        return;
    bool leading = state == CS_RAFT_LEADER;
    if (n->leader && (!leading || term != n->lead_term)) {
        cs_log_info(NODE_LOG, "node %s: no longer leader (term %llu, now %s in term %llu)",
                    cs_node_id(n), (unsigned long long)n->lead_term, cs_raft_state_name(state),
                    (unsigned long long)term);
        node_exec_close(n->exec, CONSORT_E_STATE, "leadership lost");
        n->leader = false;
        cs_timer_stop(n->barrier_retry);
        while (n->lin_next != NULL)
            node_waiter_fire(n, n->lin_next, CONSORT_E_STATE);
        node_changed(n);
    }
    if (leading && !n->leader) {
        n->leader = true;
        n->lead_term = term;
        node_promoter_kick(n->promoter); /* a former leader may have left a spare unpromoted */
    }
    if (leading || cs_consensus_leader(n->cons, NULL) != 0)
        n->leaderless_since = 0;
    else if (n->leaderless_since == 0)
        n->leaderless_since = uv_now(n->loop) | 1;
    try_barrier(n);
    node_changed(n); /* a follower learnt of another leader: the forwarder moves on */
}

/* ---- linearizable reads ---- */

static void lin_kick(cs_node *n);

static void lin_done(void *ctx, consort_err status, const char *msg)
{
    (void)msg;
    cs_node *n = ctx;
    n->lin_inflight = false;
    bool ok = status == CONSORT_OK && cs_node_is_leader(n);
    while (n->lin_current != NULL)
        node_waiter_fire(n, n->lin_current, ok ? CONSORT_OK : CONSORT_E_STATE);
    lin_kick(n);
}

/* A barrier for every read waiting: once it commits, everything committed
 * before those reads arrived is applied here, and this node still led. */
static void lin_kick(cs_node *n)
{
    if (n->lin_inflight || n->lin_next == NULL)
        return;
    if (!cs_node_is_leader(n)) {
        while (n->lin_next != NULL)
            node_waiter_fire(n, n->lin_next, CONSORT_E_STATE);
        return;
    }
    while (n->lin_next != NULL) {
        cs_node_waiter *w = n->lin_next;
        cs_node_wait_cancel(n, w);
        node_waiter_add(&n->lin_current, w);
    }
    if (cs_consensus_barrier(n->cons, lin_done, n) == CONSORT_OK) {
        n->lin_inflight = true;
        return;
    }
    while (n->lin_current != NULL)
        node_waiter_fire(n, n->lin_current, CONSORT_E_STATE);
}

void node_raft_linearizable(cs_node *n, cs_node_waiter *w)
{
    node_waiter_add(&n->lin_next, w);
    node_waiters_rearm(n);
    lin_kick(n);
}

/* ---- the service as the store says ---- */

void node_refresh_policy(cs_node *n)
{
    n->policy_gen++;
    svc_policy sp;
    svc_policy_init(&sp);
    consort_err rc = svc_policy_read(node_replica_kv(n->replica), &sp);
    if (rc == CONSORT_OK) {
        const node_service_policy p = {.code_ids = (const uint8_t(*)[32])sp.code_ids,
                                       .code_id_count = sp.code_id_count,
                                       .only_self = node_vault_genesis(n->vault).len > 0,
                                       .anchors = &sp.anchors,
                                       .has_allow_debug = sp.has_allow_debug,
                                       .allow_debug = sp.allow_debug};
        rc = node_platform_set_service_policy(n->platform, &p);
    }
    if (rc != CONSORT_OK)
        cs_log_error(NODE_LOG, "node %s: the service's policy was not updated: %s", cs_node_id(n),
                     consort_errmsg());
    svc_policy_cleanup(&sp);
    if (n->seal != NULL && node_seal_refresh(n->seal, node_replica_kv(n->replica),
                                             cs_node_code_id(n->code)) != CONSORT_OK)
        cs_log_error(NODE_LOG, "node %s: the sealed store's approved successors: %s", cs_node_id(n),
                     consort_errmsg());
    n->service_open = svc_service_open(node_replica_kv(n->replica));
    node_record r;
    node_record_init(&r);
    bool retired = svc_record_get(node_replica_kv(n->replica), cs_node_id(n), &r) == CONSORT_OK &&
                   strcmp(r.status, "Retired") == 0;
    node_record_cleanup(&r);
    cs_err_clear();
    if (retired && n->state == CS_NODE_OPEN) {
        cs_log_warn(NODE_LOG, "node %s: removed from the service (its record is Retired)",
                    cs_node_id(n));
        node_set_state(n, CS_NODE_RETIRED);
    }
}

void node_check_open(cs_node *n)
{
    if (n->state == CS_NODE_OPEN || n->state == CS_NODE_STOPPING || n->state == CS_NODE_FAILED)
        return;
    node_record r;
    node_record_init(&r);
    consort_err rc = svc_record_get(node_replica_kv(n->replica), cs_node_id(n), &r);
    bool trusted = rc == CONSORT_OK && strcmp(r.status, "Trusted") == 0;
    node_record_cleanup(&r);
    cs_err_clear();
    if (trusted)
        node_set_state(n, CS_NODE_OPEN);
}

/* ---- starting and stopping ---- */

static bool count_node(void *ctx, const char *node_id, const node_record *r)
{
    (void)node_id;
    (void)r;
    (*(size_t *)ctx)++;
    return true;
}

/* True if the service's store knows no node but this one: raft then makes
 * it leader at start without an election, in its old term, unless it moves
 * to a new one (consensus.h cs_consensus_new_term). */
static bool lone_voter(cs_node *n)
{
    size_t count = 0;
    consort_err rc = svc_records_each(node_replica_kv(n->replica), count_node, &count);
    cs_err_clear();
    return rc == CONSORT_OK && count <= 1;
}

consort_err node_raft_start(cs_node *n, bool bootstrap)
{
    char dir[CS_NODE_PATH_MAX + 8];
    CS_TRY(cs_path_join(dir, sizeof dir, n->cfg.data_dir, "raft"));
    if (!bootstrap && cs_consensus_has_state(dir) && lone_voter(n)) {
        /* before raft reads its metadata (cs_consensus_new) */
        uint64_t term = 0;
        CS_TRY_CTX(cs_consensus_new_term(dir, node_vault_raft_id(n->vault), &term), "consensus");
        cs_log_info(NODE_LOG, "node %s: the only voter: starting in a new term %llu", cs_node_id(n),
                    (unsigned long long)term);
    }
    unsigned threshold = (unsigned)n->cfg.snapshot_interval;
    const cs_fsm fsm = {.ctx = n,
                        .apply = fsm_apply,
                        .restore = fsm_restore,
                        .snapshot_begin = fsm_snapshot_begin,
                        .snapshot_make = fsm_snapshot_make,
                        .snapshot_end = fsm_snapshot_end};
    const cs_consensus_opts o = {.loop = n->loop,
                                 .id = node_vault_raft_id(n->vault),
                                 .address = n->cfg.node_address,
                                 .data_dir = dir,
                                 .fsm = fsm,
                                 .connector = node_peers_connector(n->peers),
                                 .snapshot_threshold = threshold,
                                 .snapshot_trailing = node_snapshot_trailing_cap(n),
                                 .heartbeat_timeout_ms = (unsigned)n->cfg.heartbeat_ms,
                                 .segment_size =
                                     n->cfg.raft_segment_kib != 0
                                         ? (size_t)n->cfg.raft_segment_kib << 10
                                         : node_exec_raft_segment_size(n->cfg.min_free_mib),
                                 .pre_vote = true,
                                 .on_state = on_state,
                                 .on_state_ctx = n,
                                 .on_failed = node_raft_failed};
    CS_TRY(cs_timer_new(n->loop, barrier_retry_cb, n, &n->barrier_retry));
    CS_TRY_CTX(cs_consensus_new(&o, &n->cons), "consensus");
    n->leaderless_since = uv_now(n->loop) | 1; /* until raft hears of a leader */
    consort_err rc;
    if (bootstrap) { /* only the start that created the service identity */
        const cs_raft_member me = {.id = node_vault_raft_id(n->vault),
                                   .address = n->cfg.node_address,
                                   .role = CS_RAFT_VOTER};
        CS_TRY_GOTO(rc, cs_consensus_bootstrap(n->cons, &me, 1), failed);
        /* a recovered ledger (docs/recovery.md): terms go on above all of its own */
        if (n->raft_term_above > 0)
            CS_TRY_GOTO(rc, cs_consensus_bootstrap_term(n->cons, n->raft_term_above + 1), failed);
    }
    CS_TRY_GOTO(rc, cs_consensus_start(n->cons), failed);
    CS_TRY_GOTO(rc, node_update_start(n), failed);
    node_check_open(n);
    return CONSORT_OK;
failed:
    cs_consensus_close(n->cons, NULL, NULL);
    n->cons = NULL;
    return rc;
}

static void consensus_closed(void *ctx)
{
    node_closed_one(ctx);
}

void node_raft_stop(cs_node *n)
{
    n->leader = false;
    node_exec_close(n->exec, CONSORT_E_STATE, "the node is stopping");
    node_waiters_fail_all(n, CONSORT_E_STATE, "the node is stopping");
    cs_timer_free(n->barrier_retry);
    n->barrier_retry = NULL;
    node_update_stop(n);
    if (n->cons != NULL) {
        cs_consensus *c = n->cons;
        n->cons = NULL;
        node_closing_add(n);
        cs_consensus_close(c, consensus_closed, n);
    }
}
