/*
 * What the node offers its front (node.h): writes through the executor,
 * reads over the committed state, waits for an applied seqno or a
 * linearizable read, transaction status and receipts, who is a user, a
 * member or a node of the service.
 */
#include "node/node_priv.h"

#include "base/log.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "node/service_maps.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void cs_node_leader_rpc_address(cs_node *n, char out[CS_NODE_ADDR_MAX])
{
    out[0] = '\0';
    if (n->cons == NULL)
        return;
    if (n->leader) {
        snprintf(out, CS_NODE_ADDR_MAX, "%s", n->cfg.rpc_address);
        return;
    }
    uint64_t id = cs_consensus_leader(n->cons, NULL);
    if (id == 0)
        return;
    char node_id[CS_NODE_ID_LEN + 1];
    snprintf(node_id, sizeof node_id, "%016llx", (unsigned long long)id);
    node_record r;
    node_record_init(&r);
    if (svc_record_get(node_replica_kv(n->replica), node_id, &r) == CONSORT_OK)
        snprintf(out, CS_NODE_ADDR_MAX, "%s", r.rpc_address);
    node_record_cleanup(&r);
    cs_err_clear();
}

/* ---- transactions ---- */

consort_err cs_node_write(cs_node *n, cs_node_tx_fn fn, void *fn_ctx, cs_node_done_fn done,
                          void *done_ctx)
{
    CS_ENSURE(n->state == CS_NODE_OPEN, CONSORT_E_STATE, "node %s is %s, not part of the network",
              cs_node_id(n), cs_node_state_name(n));
    CS_ENSURE(node_exec_is_open(n->exec), CONSORT_E_STATE, "node %s is not the leader",
              cs_node_id(n));
    return node_exec_write(n->exec, CS_LEDGER_KIND_TX, fn, fn_ctx, done, done_ctx);
}

consort_err cs_node_write_governance(cs_node *n, cs_node_tx_fn fn, void *fn_ctx,
                                     cs_node_done_fn done, void *done_ctx)
{
    CS_ENSURE(n->state == CS_NODE_OPEN, CONSORT_E_STATE, "node %s is %s, not part of the network",
              cs_node_id(n), cs_node_state_name(n));
    CS_ENSURE(node_exec_is_open(n->exec), CONSORT_E_STATE, "node %s is not the leader",
              cs_node_id(n));
    return node_exec_write(n->exec, CS_LEDGER_KIND_INTERNAL, fn, fn_ctx, done, done_ctx);
}

bool cs_node_service_open(const cs_node *n)
{
    return n->service_open;
}

uint64_t cs_node_policy_generation(const cs_node *n)
{
    return n->policy_gen;
}

/* How long the node has known no leader (0: it knows one). leaderless_since
 * is uv_now() | 1, so it can be 1 ms ahead of the loop's time. */
static uint64_t node_leaderless_ms(const cs_node *n)
{
    uint64_t now = uv_now(n->loop);
    return n->leaderless_since != 0 && now > n->leaderless_since ? now - n->leaderless_since : 0;
}

bool node_raft_available(cs_node *n)
{
    if (n->cons == NULL)
        return false;
    if (n->leaderless_since == 0)
        return true;
    uv_update_time(n->loop);
    return node_leaderless_ms(n) < NODE_LEADERLESS_READ_MS;
}

consort_err cs_node_read(cs_node *n, cs_node_tx_fn fn, void *fn_ctx)
{
    CS_ENSURE(fn != NULL, CONSORT_E_INVALID_ARGUMENT, "read: function required");
    CS_ENSURE(n->replica != NULL && n->state != CS_NODE_FAILED && n->state != CS_NODE_STOPPING,
              CONSORT_E_STATE, "node %s is %s", cs_node_id(n), cs_node_state_name(n));
    /* issue 11: a node cut off from the service serves no state it cannot vouch
     * for (a recovering node has no raft yet: it serves the recovered state) */
    CS_ENSURE(n->recovery != NULL || node_raft_available(n), CONSORT_E_STATE,
              "node %s has known no Raft leader for %llu ms: its state may be stale", cs_node_id(n),
              (unsigned long long)node_leaderless_ms(n));
    cs_kv_tx *tx;
    /* waiting for recovery shares: the recovered public state */
    CS_TRY(cs_kv_tx_begin_committed(
        n->recovery != NULL ? node_recovery_kv(n->recovery) : node_replica_kv(n->replica), &tx));
    cs_tx_outcome out = {0};
    consort_err rc = fn(fn_ctx, tx, &out);
    const bool wrote = cs_kv_tx_has_writes(tx);
    cs_kv_tx_free(tx);
    CS_TRY(rc);
    CS_ENSURE(!wrote, CONSORT_E_STATE, "a read-only transaction wrote");
    return CONSORT_OK;
}

static void waiter_init(cs_node *n, cs_node_waiter *w, uint64_t seqno, uint64_t timeout_ms,
                        cs_node_wait_fn fn, void *ctx)
{
    memset(w, 0, sizeof *w);
    w->seqno = seqno;
    w->deadline = uv_now(n->loop) + timeout_ms;
    w->fn = fn;
    w->ctx = ctx;
}

void cs_node_wait_applied(cs_node *n, cs_node_waiter *w, cs_txid txid, uint64_t timeout_ms,
                          cs_node_wait_fn fn, void *ctx)
{
    waiter_init(n, w, txid.seqno, timeout_ms, fn, ctx);
    if (n->state == CS_NODE_STOPPING || n->state == CS_NODE_FAILED || n->replica == NULL) {
        node_waiter_fire(n, w, CONSORT_E_STATE);
        return;
    }
    if (node_replica_applied(n->replica) >= txid.seqno) {
        node_waiter_fire(n, w, CONSORT_OK);
        return;
    }
    node_waiter_add(&n->waiters, w);
    node_waiters_rearm(n);
}

void cs_node_wait_linearizable(cs_node *n, cs_node_waiter *w, uint64_t timeout_ms,
                               cs_node_wait_fn fn, void *ctx)
{
    waiter_init(n, w, 0, timeout_ms, fn, ctx);
    if (n->state != CS_NODE_OPEN || !cs_node_is_leader(n)) {
        node_waiter_fire(n, w, CONSORT_E_STATE);
        return;
    }
    node_raft_linearizable(n, w);
}

const char *cs_tx_status_name(cs_tx_status s)
{
    switch (s) {
    case CS_TX_PENDING:
        return "Pending";
    case CS_TX_COMMITTED:
        return "Committed";
    case CS_TX_INVALID:
        return "Invalid";
    default:
        return "Unknown";
    }
}

consort_err cs_txid_parse(const char *s, cs_txid *out)
{
    CS_ENSURE(s != NULL, CONSORT_E_MALFORMED, "transaction id missing");
    uint64_t term, seqno;
    CS_TRY(cs_ledger_txid_parse(cs_slice_str(s), &term, &seqno));
    *out = (cs_txid){.term = term, .seqno = seqno};
    return CONSORT_OK;
}

cs_tx_status cs_node_tx_status(const cs_node *n, cs_txid txid)
{
    if (n->replica == NULL)
        return CS_TX_UNKNOWN;
    uint64_t term = n->exec != NULL ? node_exec_term(n->exec) : 0;
    uint64_t next = n->exec != NULL ? node_exec_next_seqno(n->exec) : 0;
    return node_replica_tx_status(n->replica, txid, term, next);
}

cs_txid cs_node_commit_txid(const cs_node *n)
{
    if (n->replica == NULL)
        return (cs_txid){0, 0};
    return (cs_txid){.term = node_replica_applied_term(n->replica),
                     .seqno = node_replica_applied(n->replica)};
}

consort_err cs_node_receipt(cs_node *n, cs_txid txid, cs_buf *json)
{
    CS_ENSURE(n->replica != NULL, CONSORT_E_BUSY, "node %s has no state yet", cs_node_id(n));
    if (cs_node_tx_status(n, txid) == CS_TX_PENDING)
        return cs_fail(CONSORT_E_BUSY, "transaction %llu.%llu is not committed yet",
                       (unsigned long long)txid.term, (unsigned long long)txid.seqno);
    return node_replica_receipt(n->replica, txid, json);
}

/* ---- who is calling ---- */

/* Waiting for recovery shares, users and members are those of the recovered
 * public state (the application still answers 503 then). */
static cs_kv_store *who_kv(cs_node *n)
{
    return n->recovery != NULL ? node_recovery_kv(n->recovery) : node_replica_kv(n->replica);
}

bool cs_node_is_user(cs_node *n, const uint8_t fingerprint[32])
{
    return n->replica != NULL && svc_cert_registered(who_kv(n), SVC_MAP_USERS, fingerprint);
}

bool cs_node_is_member(cs_node *n, const uint8_t fingerprint[32])
{
    return n->replica != NULL && svc_cert_registered(who_kv(n), SVC_MAP_MEMBERS, fingerprint);
}

/*
 * The expensive part of recognising a node certificate (the service's
 * signature over it, and the node id derived from its key) is done once per
 * certificate and remembered by fingerprint: a follower forwards every write
 * over one connection with one certificate. The validity period, the node's
 * record (status Trusted) and the certificate's identity with the recorded
 * one are checked on every call.
 */
static const char *issued_node_id(cs_node *n, const cs_x509 *cert, const uint8_t fp[32],
                                  char id[CS_NODE_ID_LEN + 1], int64_t now)
{
    for (unsigned i = 0; i < NODE_ISSUED_CACHE; i++) {
        node_issued_entry *e = &n->issued[i];
        if (e->used && memcmp(e->fingerprint, fp, 32) == 0)
            return now < e->not_after ? e->node_id : NULL;
    }
    int64_t not_before, not_after;
    if (!node_vault_is_service_issued(n->vault, cert) ||
        cs_x509_validity(cert, &not_before, &not_after) != CONSORT_OK || now < not_before ||
        now >= not_after)
        return NULL;
    cs_key *key = NULL;
    bool ok =
        cs_x509_public_key(cert, &key) == CONSORT_OK && cs_attested_node_id(key, id) == CONSORT_OK;
    cs_key_free(key);
    if (!ok)
        return NULL;
    node_issued_entry *e = &n->issued[n->issued_next++ % NODE_ISSUED_CACHE];
    memcpy(e->fingerprint, fp, 32);
    memcpy(e->node_id, id, CS_NODE_ID_LEN + 1);
    e->not_after = not_after;
    e->used = true;
    return e->node_id;
}

bool cs_node_is_service_node_cert(cs_node *n, const cs_x509 *cert)
{
    uint8_t fp[32];
    char id_buf[CS_NODE_ID_LEN + 1];
    if (n->vault == NULL || n->replica == NULL || cert == NULL ||
        cs_x509_fingerprint(cert, fp) != CONSORT_OK) {
        cs_err_clear();
        return false;
    }
    const char *id = issued_node_id(n, cert, fp, id_buf, (int64_t)time(NULL));
    node_record r;
    node_record_init(&r);
    uint8_t recorded[32];
    bool ok = id != NULL && svc_record_get(node_replica_kv(n->replica), id, &r) == CONSORT_OK &&
              strcmp(r.status, "Trusted") == 0;
    if (ok) {
        cs_sha256(cs_buf_slice(&r.cert), recorded);
        ok = cs_ct_equal(CS_SLICE(recorded, 32), CS_SLICE(fp, 32));
    }
    node_record_cleanup(&r);
    cs_err_clear();
    return ok;
}

consort_err cs_node_share_keys(const cs_node *n, const uint8_t **secret, uint8_t service_id[32])
{
    *secret = n->vault != NULL ? node_vault_secret(n->vault) : NULL;
    const cs_x509 *cert = n->vault != NULL ? node_vault_service_cert(n->vault) : NULL;
    CS_ENSURE(*secret != NULL && cert != NULL, CONSORT_E_STATE,
              "node %s holds no ledger secret and service certificate", cs_node_id(n));
    cs_buf der;
    cs_buf_init(&der, CS_LEDGER_CERT_MAX);
    consort_err rc = cs_x509_to_der(cert, &der);
    if (rc == CONSORT_OK)
        cs_sha256(cs_buf_slice(&der), service_id);
    cs_buf_cleanup(&der);
    return rc;
}

uint64_t cs_node_term_of(cs_node *n, uint64_t seqno)
{
    return n->replica != NULL ? node_replica_term_of(n->replica, seqno) : 0;
}

const cs_key *cs_node_service_key(const cs_node *n)
{
    return n->vault != NULL ? node_vault_service_key(n->vault) : NULL;
}

const cs_app_sealer *cs_node_app_sealer(cs_node *n)
{
    return n->seal != NULL ? node_seal_app_sealer(n->seal) : NULL;
}

struct cs_app_svcseal *cs_node_app_svcseal(cs_node *n)
{
    return n->svcseal;
}
