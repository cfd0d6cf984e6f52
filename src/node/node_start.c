/*
 * Starting a node (node.h cs_node_start; docs/operating.md "Start, join,
 * restart"; docs/security.md "One service, one genesis"):
 *
 *   1. load the application module and measure the code id (node_code.h);
 *   2. open the platform, derive the sealing key, load the sealed state, or
 *      on a first start create the node key — and, creating a service, its
 *      identity and genesis inputs (the only time the configuration's
 *      "start" section is read) — and seal;
 *   3. check raft's state against the sealed facts: only the start that
 *      created a service bootstraps raft; a member never runs without the
 *      raft state it had; a node that never joined has none;
 *   4. a member: recover the replica from the ledger (up to the sealed
 *      high-water mark at least), listen, start consensus; a node that has
 *      not joined yet: attest to its target (joiner.h), and once welcomed
 *      seal, listen and start consensus.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "node/app_svcseal.h"
#include "node/genesis.h"

#include <stdio.h>
#include <string.h>

/* ---- what the replica reports ---- */

static void replica_applied(void *ctx, const cs_ledger_entry *e)
{
    cs_node *n = ctx;
    node_waiters_applied(n, e->seqno);
    if (e->kind == CS_LEDGER_KIND_INTERNAL) {
        node_refresh_policy(n);
        node_check_open(n);
    }
    if (e->kind == CS_LEDGER_KIND_SIGNATURE && n->compact_after != 0 &&
        e->seqno > n->compact_after && n->cons != NULL) {
        /* a recovered service, signed under its own identity: a snapshot now */
        n->compact_after = 0;
        n->compacting = true;
        cs_consensus_compact_soon(n->cons);
    }
    if (e->kind == CS_LEDGER_KIND_SIGNATURE && node_vault_genesis(n->vault).len > 0) {
        /* genesis is committed and signed: its inputs go, the mark rises */
        if (node_vault_genesis_signed(n->vault, e->seqno) == CONSORT_OK)
            cs_log_info(NODE_LOG, "node %s: genesis committed and signed at seqno %llu",
                        cs_node_id(n), (unsigned long long)e->seqno);
        else
            cs_log_error(NODE_LOG,
                         "node %s: sealing after genesis: %s (retried at the next "
                         "signature entry)",
                         cs_node_id(n), consort_errmsg());
    }
}

static void replica_installed(void *ctx, uint64_t checkpoint)
{
    cs_node *n = ctx;
    (void)checkpoint;
    node_waiters_applied(n, node_replica_applied(n->replica));
    node_refresh_policy(n);
    node_check_open(n);
}

static void seal_written(void *ctx, consort_err rc)
{
    cs_node *n = ctx;
    (void)rc; /* logged by node_seal; the next save seals the mark */
    n->seal_writes--;
    if (n->state == CS_NODE_STOPPING)
        node_closed_one(n);
}

static void replica_durable(void *ctx, uint64_t seqno)
{
    cs_node *n = ctx;
    /* sealed off the loop: right after a snapshot the disk is busy with it,
     * and the sealed store's fsyncs waited for it (bench/RESULTS.md); a
     * stopping node waits for the write (node.c) */
    bool queued = false;
    if (node_vault_raise_hwm_later(n->vault, n->loop, seqno, seal_written, n, &queued) !=
        CONSORT_OK)
        cs_log_warn(NODE_LOG, "node %s: sealing the high-water mark: %s", cs_node_id(n),
                    consort_errmsg());
    if (queued) {
        n->seal_writes++;
        if (n->state == CS_NODE_STOPPING)
            node_closing_add(n);
    }
    if (n->compacting && n->cons != NULL) { /* the snapshot after a recovery is made */
        n->compacting = false;
        cs_consensus_compact_done(n->cons);
        cs_log_info(NODE_LOG, "node %s: snapshot at %llu: nodes can join the recovered service",
                    cs_node_id(n), (unsigned long long)seqno);
    }
}

static void replica_fatal(void *ctx, const char *why)
{
    cs_node *n = ctx;
    node_fail(n, CONSORT_E_STATE, "the replicated state", why);
}

/* ---- what the peers ask ---- */

static consort_err peer_status(void *ctx, const char *node_id, char status[32])
{
    cs_node *n = ctx;
    node_record r;
    node_record_init(&r);
    consort_err rc = svc_record_get(node_replica_kv(n->replica), node_id, &r);
    if (rc == CONSORT_OK)
        snprintf(status, 32, "%s", r.status);
    node_record_cleanup(&r);
    return rc;
}

static bool service_issued(void *ctx, const cs_x509 *cert)
{
    cs_node *n = ctx;
    return node_vault_is_service_issued(n->vault, cert);
}

static void raft_channel(void *ctx, cs_stream *s, uint64_t raft_id, const char *address)
{
    cs_node *n = ctx;
    if (n->cons == NULL) {
        cs_log_warn(NODE_LOG, "node %s: raft channel from %llu before consensus started",
                    cs_node_id(n), (unsigned long long)raft_id);
        cs_stream_close(s);
        return;
    }
    if (cs_consensus_accept(n->cons, s, raft_id, address) != CONSORT_OK)
        cs_log_warn(NODE_LOG, "node %s: raft channel from %llu: %s", cs_node_id(n),
                    (unsigned long long)raft_id, consort_errmsg());
}

static void join_channel(void *ctx, cs_stream *s, const cs_attested_peer *peer)
{
    cs_node *n = ctx;
    node_admit_accept(n->admit, s, peer);
}

/* ---- becoming a member ---- */

static consort_err welcome(void *ctx, const join_msg *m)
{
    cs_node *n = ctx;
    const node_vault_welcome w = {.service_key = m->service_key,
                                  .service_cert = m->service_cert,
                                  .node_cert = m->node_cert,
                                  .ledger_secret = m->ledger_secret};
    CS_TRY(node_vault_adopt(n->vault, &w));
    CS_TRY(node_vault_save(n->vault));
    cs_log_info(NODE_LOG, "node %s: admitted by the service; starting consensus", cs_node_id(n));
    consort_err rc = node_member_run(n, false, false, NULL);
    if (rc != CONSORT_OK) /* admitted and sealed: there is no going back */
        node_fail(n, rc, "starting after the join", consort_errmsg());
    return CONSORT_OK;
}

static consort_err start_joining(cs_node *n)
{
    CS_TRY(node_peers_set_identity(n->peers, (cs_key *)node_vault_key(n->vault),
                                   (cs_x509 *)node_vault_self_cert(n->vault)));
    node_set_state(n, CS_NODE_JOINING);
    const node_joiner_opts o = {.loop = n->loop,
                                .target = n->cfg.join_target,
                                .ctl = node_peers_control(n->peers),
                                .node_address = n->cfg.node_address,
                                .rpc_address = n->cfg.rpc_address,
                                .evidence = cs_buf_slice(&n->own_evidence),
                                .node_id = cs_node_id(n),
                                .ctx = n,
                                .service_issued = service_issued,
                                .welcome = welcome};
    return node_joiner_start(&o, &n->joiner);
}

/* ---- the sequence ---- */

/* docs/security.md "One service, one genesis": see the comment at the top. */
static consort_err check_raft_state(cs_node *n, bool creating, bool member)
{
    char dir[CS_NODE_PATH_MAX + 8];
    CS_TRY(cs_path_join(dir, sizeof dir, n->cfg.data_dir, "raft"));
    bool has = cs_consensus_has_state(dir);
    if (creating)
        CS_ENSURE(!has, CONSORT_E_STATE,
                  "refusing to create a service: %s already holds raft state without a sealed "
                  "identity (use an empty data directory)",
                  dir);
    else if (member)
        CS_ENSURE(has, CONSORT_E_STATE,
                  "node %s has a sealed identity but no raft state (%s): refusing to start (a "
                  "copied or partly deleted data directory could vote again or fork the "
                  "service); to serve again, start from an empty data directory and join "
                  "under a fresh identity",
                  cs_node_id(n), dir);
    else
        CS_ENSURE(!has, CONSORT_E_STATE,
                  "node %s has not joined a service, yet %s holds raft state: refusing to "
                  "start (a mixed-up data directory)",
                  cs_node_id(n), dir);
    return CONSORT_OK;
}

/* The vault: loaded, or created on a first start (and then sealed). */
static consort_err open_vault(cs_node *n, bool *fresh, bool *creating)
{
    bool created;
    CS_TRY(node_seal_open(&n->cfg, n->platform, cs_node_code_id(n->code), &n->seal, &created));
    node_vault_set_seal(n->vault, n->seal);
    consort_err rc = node_vault_load(n->vault);
    *fresh = rc == CONSORT_E_NOT_FOUND;
    *creating = *fresh && n->cfg.mode == CS_NODE_START;
    if (!*fresh) {
        CS_TRY(rc);
        if (n->cfg.mode != CS_NODE_JOIN && node_vault_secret(n->vault) != NULL)
            cs_log_info(NODE_LOG,
                        "node %s: restart of a service member: the configuration's \"%s\" "
                        "section is ignored (the service's policy lives in its store)",
                        cs_node_id(n), n->cfg.mode == CS_NODE_START ? "start" : "recover");
        return CONSORT_OK;
    }
    CS_TRY(node_vault_create_node(n->vault));
    if (n->cfg.mode == CS_NODE_RECOVER) /* a new identity for the recovered service */
        CS_TRY(node_vault_create_recovery(n->vault, n->cfg.rpc_address));
    if (*creating) {
        CS_TRY(node_vault_create_service(n->vault, n->cfg.rpc_address));
        cs_buf inputs;
        cs_buf_init(&inputs, (size_t)4 << 20);
        CS_TRY_GOTO(rc,
                    node_genesis_prepare(&n->cfg, cs_node_code_id(n->code),
                                         node_platform_file_anchors(n->platform), &inputs),
                    genesis_done);
        CS_TRY_GOTO(rc, node_vault_set_genesis(n->vault, cs_buf_slice(&inputs)), genesis_done);
    genesis_done:
        cs_buf_cleanup(&inputs);
        CS_TRY(rc);
    }
    cs_log_info(NODE_LOG, "node %s: new node identity (raft id %llu)", cs_node_id(n),
                (unsigned long long)node_vault_raft_id(n->vault));
    return node_vault_save(n->vault);
}

static consort_err make_parts(cs_node *n)
{
    const node_replica_opts ro = {.data_dir = n->cfg.data_dir,
                                  .chunk_size = n->cfg.chunk_size,
                                  .node_id = cs_node_id(n),
                                  .loop = n->loop,
                                  .sync_ms = n->cfg.ledger_sync_ms};
    CS_TRY(node_replica_new(&ro, &n->replica));
    const node_replica_events ev = {.ctx = n,
                                    .applied = replica_applied,
                                    .installed = replica_installed,
                                    .durable = replica_durable,
                                    .fatal = replica_fatal};
    node_replica_set_events(n->replica, &ev);
    const node_exec_opts eo = {.loop = n->loop,
                               .replica = n->replica,
                               .ops = node_raft_exec_ops(n),
                               .data_dir = n->cfg.data_dir,
                               .min_free_mib = n->cfg.min_free_mib,
                               .sig_interval_tx = n->cfg.sig_interval_tx,
                               .sig_interval_ms = n->cfg.sig_interval_ms,
                               .node_id = cs_node_id(n)};
    CS_TRY(node_exec_new(&eo, &n->exec));
    const node_admit_ops ao = node_raft_admit_ops(n);
    CS_TRY(node_admit_new(n->loop, &ao, cs_node_id(n), &n->admit));
    const node_promoter_ops pro = node_raft_promoter_ops(n);
    CS_TRY(node_promoter_new(n->loop, &pro, cs_node_id(n), &n->promoter));
    CS_TRY(node_loop_probe_new(n->loop, &n->probe));
    const node_peers_opts po = {.loop = n->loop,
                                .node_address = n->cfg.node_address,
                                .raft_id = node_vault_raft_id(n->vault),
                                .node_id = cs_node_id(n),
                                .attest = node_platform_attest,
                                .attest_ctx = n->platform,
                                .verify_opts = node_platform_verify_opts(n->platform),
                                .policy = node_platform_policy(n->platform),
                                .join_policy = node_platform_join_policy(n->platform)};
    const node_peers_ops pops = {.ctx = n,
                                 .peer_status = peer_status,
                                 .service_issued = service_issued,
                                 .raft_channel = raft_channel,
                                 .join_channel = join_channel};
    return node_peers_new(&po, &pops, &n->peers);
}

consort_err node_start_all(cs_node *n)
{
    CS_TRY_CTX(cs_mkdir_p(n->cfg.data_dir, 0700), "data_dir %s", n->cfg.data_dir);
    CS_TRY(cs_node_code_measure(&n->cfg, &n->code)); /* module from sealed bytes, measured */
    CS_TRY(node_platform_open(&n->cfg, n->code, "(new)", &n->platform));
    CS_TRY(cs_app_svcseal_new(cs_node_code_id(n->code), &n->svcseal));
    bool fresh, creating;
    CS_TRY(open_vault(n, &fresh, &creating));
    if (n->cfg.mode == CS_NODE_JOIN)
        CS_TRY(node_vault_pin_service(n->vault, n->cfg.service_cert_path));
    CS_TRY(node_platform_own_evidence(n->platform, node_vault_key(n->vault), &n->own_evidence));
    char code_hex[65];
    cs_hex_encode(CS_SLICE(cs_node_code_id(n->code), 32), code_hex);
    cs_log_info(NODE_LOG, "node %s: code id %s, %s", cs_node_id(n), code_hex,
                fresh ? "first start" : "restart from sealed state");
    bool member = node_vault_node_cert(n->vault) != NULL && node_vault_secret(n->vault) != NULL;
    CS_TRY(check_raft_state(n, creating, member));
    CS_TRY(make_parts(n));
    if (!member && (n->cfg.mode == CS_NODE_RECOVER || node_vault_recovering(n->vault) != NULL))
        return node_recover_start(n);
    if (!member)
        return start_joining(n);
    CS_TRY(node_member_run(n, creating, false, creating ? n->cfg.service_cert_out : NULL));
    return node_recover_resume(n);
}
