/*
 * Recover mode (node.h CS_NODE_RECOVER; docs/recovery.md): a new node,
 * with a new service identity, on a copy of a lost service's ledger.
 *
 *   1. start: the identity being recovered pinned (sealed), the previous
 *      ledger read and checked without the secret (recovery.h), the new
 *      service certificate written for the operator; state
 *      WaitingForRecoveryShares: /node and /gov answer from the recovered
 *      public state, the application answers 503;
 *   2. the members' shares (cs_node_recovery_submit), kept in memory only;
 *   3. the threshold-th share: the ledger secret rebuilt; the previous
 *      ledger copied into data_dir/ledger and recovered as a restarting
 *      node recovers its own (every entry authenticated with the secret,
 *      every signature entry checked under its identity, the private state
 *      decrypted); only then the secret and the identity chain are sealed;
 *      state Recovering; a one-node raft bootstrapped in a term above the
 *      ledger's;
 *   4. once it leads: the succession transaction (succession.h), signed;
 *      the node opens once it is applied; the service stays "Opening"
 *      until the members open it (transition_service_to_open).
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "node/succession.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Chunk files are read whole to copy them (a chunk closes at the first
 * signature entry after ledger_chunk_bytes). */
#define CHUNK_COPY_MAX ((size_t)1 << 30)

/* ---- 1. waiting ---- */

/* A node running code that governance retired must not take the service over. */
static consort_err check_code_id(cs_node *n)
{
    char hex[65];
    cs_hex_encode(CS_SLICE(cs_node_code_id(n->code), 32), hex);
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin_committed(node_recovery_kv(n->recovery), &tx));
    cs_slice v;
    bool found;
    consort_err rc = cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_CODE_IDS), cs_slice_str(hex), &v, &found);
    cs_kv_tx_free(tx);
    CS_TRY(rc);
    CS_ENSURE(!found || !cs_slice_eq(v, CS_SLICE_LIT(SVC_CODE_ID_RETIRED)), CONSORT_E_POLICY,
              "this node's code id %s was retired by the service's governance: it cannot "
              "recover the service",
              hex);
    if (!found)
        cs_log_warn(NODE_LOG,
                    "node %s: code id %s is not among the service's trusted code ids; taking "
                    "over adds it (members see it in /node/quotes before they submit shares)",
                    cs_node_id(n), hex);
    return CONSORT_OK;
}

consort_err node_recover_start(cs_node *n)
{
    CS_ENSURE(n->cfg.mode == CS_NODE_RECOVER, CONSORT_E_STATE,
              "node %s was started to recover a service: keep its \"recover\" section until "
              "the recovery is done",
              cs_node_id(n));
    CS_ENSURE(node_vault_node_cert(n->vault) != NULL, CONSORT_E_STATE,
              "node %s was started as a joiner: recovering a service needs an empty data "
              "directory",
              cs_node_id(n));
    CS_TRY(node_vault_pin_previous(n->vault, n->cfg.previous_service_cert));
    CS_TRY(node_vault_save(n->vault));
    const node_recovery_opts o = {.ledger_dir = n->cfg.previous_ledger,
                                  .previous_cert = node_vault_recovering(n->vault),
                                  .node_id = cs_node_id(n),
                                  .now = (int64_t)time(NULL)};
    CS_TRY(node_recovery_open(&o, &n->recovery));
    CS_TRY(check_code_id(n));
    CS_TRY(node_vault_write_public(n->vault, n->cfg.service_cert_out));
    const node_share_wrapping *w = node_recovery_wrapping(n->recovery);
    cs_log_info(NODE_LOG,
                "node %s: recovering the service of %s under a new identity (written to %s); "
                "waiting for %u of the members' %u recovery shares",
                cs_node_id(n), n->cfg.previous_service_cert,
                n->cfg.service_cert_out[0] != '\0' ? n->cfg.service_cert_out : "data_dir",
                w->threshold, w->members);
    node_set_state(n, CS_NODE_WAITING_SHARES);
    return CONSORT_OK;
}

/* ---- 3. the secret is back ---- */

/* data_dir/ledger becomes a copy of the previous ledger's chunk files. */
static consort_err copy_ledger(cs_node *n)
{
    char dst_dir[CS_NODE_PATH_MAX + 8], src[CS_NODE_PATH_MAX * 2], dst[CS_NODE_PATH_MAX * 2];
    CS_TRY(cs_path_join(dst_dir, sizeof dst_dir, n->cfg.data_dir, "ledger"));
    CS_TRY(cs_mkdir_p(dst_dir, 0700));
    cs_ledger_chunk *old = NULL, *chunks = NULL;
    size_t old_count = 0, count = 0;
    consort_err rc = cs_ledger_chunks_list(dst_dir, &old, &old_count);
    if (rc == CONSORT_E_NOT_FOUND)
        rc = CONSORT_OK;
    for (size_t i = 0; i < old_count && rc == CONSORT_OK; i++) /* a copy begun before */
        if (cs_path_join(dst, sizeof dst, dst_dir, old[i].name) == CONSORT_OK && unlink(dst) != 0)
            rc = cs_fail(CONSORT_E_IO, "removing %s", dst);
    if (rc == CONSORT_OK)
        rc = cs_ledger_chunks_list(n->cfg.previous_ledger, &chunks, &count);
    cs_buf b;
    cs_buf_init(&b, CHUNK_COPY_MAX);
    for (size_t i = 0; i < count && rc == CONSORT_OK; i++) {
        cs_buf_reset(&b);
        rc = cs_path_join(src, sizeof src, n->cfg.previous_ledger, chunks[i].name);
        if (rc == CONSORT_OK)
            rc = cs_path_join(dst, sizeof dst, dst_dir, chunks[i].name);
        if (rc == CONSORT_OK)
            rc = cs_file_read(src, &b);
        if (rc == CONSORT_OK)
            rc = cs_file_write_atomic(dst, cs_buf_slice(&b), 0600);
    }
    cs_buf_cleanup(&b);
    cs_free(old);
    cs_free(chunks);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "copying the previous ledger");
}

static consort_err restore(cs_node *n, const uint8_t secret[CS_LEDGER_SECRET_LEN])
{
    cs_ledger_identity ids[NODE_REPLICA_IDS_MAX];
    size_t count = node_recovery_identities(n->recovery, ids);
    cs_txid point = node_recovery_point(n->recovery);
    CS_ENSURE(count < NODE_REPLICA_IDS_MAX, CONSORT_E_TOO_LARGE, "%zu service identities", count);
    CS_TRY(copy_ledger(n));
    node_replica_set_service(n->replica, secret, node_vault_service_cert(n->vault));
    ids[count] = (cs_ledger_identity){.cert = node_vault_service_cert(n->vault)};
    CS_TRY(node_replica_set_identities(n->replica, ids, count + 1));
    CS_TRY_CTX(node_replica_recover(n->replica, point.seqno), "restoring the private state");
    CS_ENSURE(node_replica_applied_sig(n->replica) == point.seqno, CONSORT_E_CORRUPT,
              "the copied ledger ends at signature entry %llu, not at the recovery point %llu",
              (unsigned long long)node_replica_applied_sig(n->replica),
              (unsigned long long)point.seqno);
    /* the secret opened every entry: now it is sealed, with the identities */
    CS_TRY(node_vault_recovered(n->vault, secret, ids, count));
    return node_vault_save(n->vault);
}

static consort_err take_over(cs_node *n, const uint8_t secret[CS_LEDGER_SECRET_LEN])
{
    CS_TRY(restore(n, secret));
    cs_txid point = node_recovery_point(n->recovery);
    cs_log_info(NODE_LOG,
                "node %s: the private state of the previous service is restored up to %llu.%llu; "
                "taking over under the new identity",
                cs_node_id(n), (unsigned long long)point.term, (unsigned long long)point.seqno);
    node_set_state(n, CS_NODE_RECOVERING);
    n->raft_term_above = node_recovery_max_term(n->recovery);
    if (n->raft_term_above < point.term)
        n->raft_term_above = point.term;
    CS_TRY(node_member_run(n, true, true, NULL));
    node_recovery_free(n->recovery); /* the replica now uses the vault's identities */
    n->recovery = NULL;
    return node_recover_resume(n);
}

consort_err cs_node_recovery_submit(cs_node *n, cs_slice body, int64_t now,
                                    cs_node_share_result *out)
{
    memset(out, 0, sizeof *out);
    if (n->state != CS_NODE_WAITING_SHARES || n->recovery == NULL) {
        out->status = 409;
        snprintf(out->code, sizeof out->code, "NotRecovering");
        snprintf(out->message, sizeof out->message,
                 "node %s is %s: it is not waiting for recovery shares", cs_node_id(n),
                 cs_node_state_name(n));
        return CONSORT_OK;
    }
    node_recovery_result res;
    uint8_t secret[CS_LEDGER_SECRET_LEN];
    consort_err rc = node_recovery_submit(n->recovery, body, now, &res, secret);
    if (rc == CONSORT_OK) {
        out->status = res.status;
        snprintf(out->code, sizeof out->code, "%s", res.code);
        snprintf(out->message, sizeof out->message, "%s", res.message);
        out->submitted = res.submitted;
        out->threshold = res.threshold;
    }
    if (rc == CONSORT_OK && res.complete) {
        rc = take_over(n, secret);
        if (rc != CONSORT_OK)
            node_fail(n, rc, "recovery", consort_errmsg());
        out->recovered = rc == CONSORT_OK;
    }
    cs_wipe(secret, sizeof secret);
    return rc;
}

/* ---- 4. the succession transaction, once leading ---- */

static void watch_cb(void *ctx, const cs_node_event *ev);

static void succession_done(void *ctx, const cs_node_result *res)
{
    cs_node *n = ctx;
    if (res->rc != CONSORT_OK) { /* leadership lost: the next leadership retries */
        cs_log_warn(NODE_LOG, "node %s: succession transaction not committed: %s", cs_node_id(n),
                    res->message);
        n->succession_sent = false;
        return;
    }
    cs_log_info(NODE_LOG,
                "node %s: the service runs under its new identity (succession transaction "
                "%llu.%llu); the members open it with transition_service_to_open",
                cs_node_id(n), (unsigned long long)res->txid.term,
                (unsigned long long)res->txid.seqno);
    if (n->succession_watching)
        cs_node_unwatch(n, watch_cb, n);
    n->succession_watching = false;
}

static consort_err write_succession(cs_node *n)
{
    cs_ledger_identity ids[NODE_VAULT_PREV_MAX + 1];
    size_t count = node_vault_identities(n->vault, ids);
    CS_ENSURE(count >= 2, CONSORT_E_STATE, "no previous identity to succeed");
    const cs_ledger_identity *prev = &ids[count - 2];
    node_record rec;
    node_record_init(&rec);
    cs_buf der;
    cs_buf_init(&der, CS_LEDGER_CERT_MAX);
    node_succession s = {.previous_cert = prev->cert,
                         .next_cert = node_vault_service_cert(n->vault),
                         .next_key = node_vault_service_key(n->vault),
                         .last_term = node_replica_term_of(n->replica, prev->last_seqno),
                         .last_seqno = prev->last_seqno,
                         .shares = {.ledger_secret = node_vault_secret(n->vault)},
                         .node_id = cs_node_id(n),
                         .record = &rec,
                         .anchors = node_platform_file_anchors(n->platform)};
    consort_err rc;
    CS_TRY_GOTO(rc, node_own_record(n, &rec), out);
    CS_TRY_GOTO(rc, cs_x509_to_der(s.next_cert, &der), out);
    node_share_service_id(cs_buf_slice(&der), s.shares.service_id);
    CS_TRY_GOTO(rc,
                node_exec_write(n->exec, CS_LEDGER_KIND_INTERNAL, node_succession_fn, &s,
                                succession_done, n),
                out);
    n->succession_sent = true;
    rc = node_exec_signature(n->exec);
out:
    cs_buf_cleanup(&der);
    node_record_cleanup(&rec);
    return rc;
}

static void watch_cb(void *ctx, const cs_node_event *ev)
{
    cs_node *n = ctx;
    if (!ev->leader || n->succession_sent || n->state == CS_NODE_STOPPING ||
        n->state == CS_NODE_FAILED)
        return;
    if (write_succession(n) != CONSORT_OK)
        node_fail(n, CONSORT_E_STATE, "succession transaction", consort_errmsg());
}

consort_err node_recover_resume(cs_node *n)
{
    cs_ledger_identity ids[NODE_VAULT_PREV_MAX + 1];
    size_t count = node_vault_identities(n->vault, ids);
    if (count < 2 || n->succession_watching)
        return CONSORT_OK;                                     /* not a recovered service */
    if (node_vault_hwm(n->vault) <= ids[count - 2].last_seqno) /* no snapshot since */
        n->compact_after = ids[count - 2].last_seqno;
    cs_kv_tx *tx;
    bool done = false;
    CS_TRY(cs_kv_tx_begin_committed(node_replica_kv(n->replica), &tx));
    consort_err rc = node_succession_done(tx, node_vault_service_cert(n->vault), &done);
    cs_kv_tx_free(tx);
    CS_TRY(rc);
    if (done)
        return CONSORT_OK;
    CS_TRY(cs_node_watch(n, watch_cb, n));
    n->succession_watching = true;
    return CONSORT_OK;
}
