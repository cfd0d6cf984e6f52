/*
 * Execution on the leader (service.md "Execution and commit model";
 * node.md "Execution"): run the transaction function against the current
 * state, commit it locally with the next seqno, turn it into a ledger entry,
 * append its leaf to the tree, queue it and submit it to raft. The entry's
 * apply (node_fsm.c) completes the request; losing leadership fails every
 * queued request (CONSORT_E_STATE: the outcome is unknown, the client asks
 * /node/tx) and rolls the store and the tree back to the last committed
 * seqno.
 *
 * Signature entries (service.md "Signature entry") are created here too:
 * after sig_interval_tx entries, or by the timer every sig_interval_ms when
 * entries are unsigned.
 *
 * Contract of cs_node_write (node.h): `done` fires exactly once iff
 * cs_node_write returned CONSORT_OK; an error returned (not the leader,
 * no space, the function's own error, repeated conflicts) means `done`
 * is never called.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#define NODE_SPACE_CHECK_MS 50

static const uint8_t EMPTY_WS[1] = {0xa0};

typedef struct submit_ctx {
    cs_node *n;
    uint64_t term;
} submit_ctx;

static void stepped_down(void *ctx, consort_err rc)
{
    cs_node *n = ctx;
    if (rc != CONSORT_OK && n->leader && n->lead_term == n->closed_term)
        node_fail(n, rc, "stepping down after a failed raft write");
}

/*
 * A raft write failed while this node leads. libraft 0.15 then truncates
 * its in-memory log under requests still in flight and stays leader; it
 * crashes soon after (a later release of the truncated entries). So: never
 * reopen writes in this term, fail what is pending, and stop — at once if
 * the process gave us a fatal handler (consortd exits), else by handing
 * leadership to another voter. Either way the healthy majority carries on
 * under a new leader, and no entry is ever sealed twice with one key and
 * nonce (the sealer's salt, store/ledger.h).
 */
static void write_failed(cs_node *n, uint64_t term, consort_err status, const char *why)
{
    cs_log_error(NODE_LOG,
                 "node %s: raft could not store an entry in term %llu (%s: %s): writes stay "
                 "closed in this term; this node stops leading",
                 n->node_id, (unsigned long long)term, consort_err_name(status), why);
    n->closed_term = term;
    node_exec_abandon(n, CONSORT_E_STATE, why);
    n->writes_open = false;
    if (n->fatal != NULL) {
        (void)cs_fail(status, "raft could not store an entry in term %llu: %s",
                      (unsigned long long)term, why);
        node_fail(n, status, "leading");
        n->fatal(n->fatal_ctx, n->failure);
        return;
    }
    if (n->cons == NULL || cs_consensus_transfer(n->cons, 0, stepped_down, n) != CONSORT_OK)
        node_fail(n, status, "stepping down after a failed raft write");
}

static void submitted_cb(void *ctx, consort_err status, uint64_t index, void *result)
{
    submit_ctx *s = ctx;
    cs_node *n = s->n;
    uint64_t term = s->term;
    (void)index;
    (void)result;
    cs_free(s);
    if (status == CONSORT_OK || !n->leader || term != n->lead_term)
        return;
    char why[CS_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", consort_errmsg());
    if (status != CONSORT_E_STATE) {
        write_failed(n, term, status, why);
        return;
    }
    /* leadership lost: the entry's outcome is unknown */
    node_exec_abandon(n, CONSORT_E_STATE, why);
}

/* After an entry was sealed but not queued, its seqno will be sealed again:
 * under a new key salt (store/ledger.h), or not at all. */
static void exec_rekey(cs_node *n)
{
    if (cs_ledger_keys_rekey(&n->keys) != CONSORT_OK)
        node_fail(n, CONSORT_E_CRYPTO, "new ledger key salt");
}

/* Queues the encoded entry (ownership of `entry` taken) and submits it. */
static consort_err submit(cs_node *n, uint64_t seqno, cs_buf *entry, cs_node_done_fn done,
                          void *done_ctx)
{
    node_pending *p = cs_calloc(1, sizeof *p);
    submit_ctx *s = cs_calloc(1, sizeof *s);
    if (p == NULL || s == NULL) {
        cs_free(p);
        cs_free(s);
        cs_buf_cleanup(entry);
        return cs_fail(CONSORT_E_NOMEM, "pending entry");
    }
    p->seqno = seqno;
    p->term = n->lead_term;
    p->done = done;
    p->done_ctx = done_ctx;
    cs_buf_move(&p->entry, entry);
    *s = (submit_ctx){.n = n, .term = n->lead_term};
    consort_err rc = cs_consensus_submit(n->cons, cs_buf_slice(&p->entry), submitted_cb, s);
    if (rc != CONSORT_OK) {
        cs_free(s);
        cs_buf_cleanup(&p->entry);
        cs_free(p);
        return rc;
    }
    if (n->tail != NULL)
        n->tail->next = p;
    else
        n->head = p;
    n->tail = p;
    n->pending_count++;
    n->next_seqno = seqno + 1;
    return CONSORT_OK;
}

/* Leaf into the tree, then submit; on failure store and tree go back to seqno - 1. */
static consort_err finish(cs_node *n, uint64_t seqno, cs_buf *entry, cs_node_done_fn done,
                          void *done_ctx)
{
    cs_ledger_entry e;
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    consort_err rc = cs_ledger_entry_decode(cs_buf_slice(entry), &e);
    if (rc == CONSORT_OK) {
        cs_ledger_leaf_hash(&e, leaf);
        rc = cs_merkle_append_hash(n->tree, leaf);
    }
    if (rc == CONSORT_OK) {
        rc = submit(n, seqno, entry, done, done_ctx);
        if (rc != CONSORT_OK && cs_merkle_truncate(n->tree, seqno - 1) != CONSORT_OK)
            node_fail(n, CONSORT_E_STATE, "Merkle tree rollback");
    } else {
        cs_buf_cleanup(entry);
    }
    if (rc != CONSORT_OK)
        exec_rekey(n);
    if (rc != CONSORT_OK && cs_kv_rollback(n->kv, seqno - 1) != CONSORT_OK)
        node_fail(n, CONSORT_E_STATE, "store rollback");
    return rc;
}

static consort_err not_leader(cs_node *n)
{
    const char *leader = cs_node_leader_rpc_address(n);
    return cs_fail(CONSORT_E_STATE, "node %s is not the leader (leader: %s)", n->node_id,
                   leader[0] != '\0' ? leader : "unknown");
}

static consort_err commit_entry(cs_node *n, cs_ledger_kind kind, cs_kv_tx *tx,
                                const cs_tx_outcome *out, cs_node_done_fn done, void *done_ctx)
{
    uint64_t seqno = n->next_seqno;
    cs_buf pub, priv, entry;
    cs_buf_init(&pub, CS_LEDGER_WS_MAX);
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    cs_buf_init(&entry, CS_LEDGER_ENTRY_MAX);
    consort_err rc = cs_kv_tx_commit(tx, seqno, &pub, &priv);
    if (rc == CONSORT_OK) {
        const cs_ledger_entry_params p = {.kind = kind,
                                          .term = n->lead_term,
                                          .seqno = seqno,
                                          .claims_digest =
                                              out->has_claims ? out->claims_digest : NULL,
                                          .public_ws = cs_buf_slice(&pub),
                                          .private_ws = cs_buf_slice(&priv)};
        rc = cs_ledger_entry_encode(&p, &n->keys, &entry);
        if (rc != CONSORT_OK && cs_kv_rollback(n->kv, seqno - 1) != CONSORT_OK)
            node_fail(n, CONSORT_E_STATE, "store rollback");
        if (rc == CONSORT_OK)
            rc = finish(n, seqno, &entry, done, done_ctx);
    }
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_buf_cleanup(&entry);
    return rc;
}

consort_err node_exec(cs_node *n, cs_ledger_kind kind, cs_node_tx_fn fn, void *fn_ctx,
                      cs_node_done_fn done, void *done_ctx)
{
    CS_ENSURE(fn != NULL && done != NULL, CONSORT_E_INVALID_ARGUMENT,
              "write: function and completion required");
    if (!n->writes_open)
        return not_leader(n);
    if (!node_exec_has_space(n)) {
        n->m.writes_refused_no_space++;
        return cs_fail(CONSORT_E_NO_SPACE,
                       "node %s: data directory %s is (nearly) full: "
                       "write refused",
                       n->node_id, n->cfg.data_dir);
    }
    for (int attempt = 0; attempt <= NODE_MAX_RETRIES; attempt++) {
        cs_kv_tx *tx;
        CS_TRY(cs_kv_tx_begin(n->kv, &tx));
        cs_tx_outcome out = {0};
        consort_err rc = fn(fn_ctx, tx, &out);
        if (rc == CONSORT_OK && (!out.commit || !cs_kv_tx_has_writes(tx))) {
            cs_kv_tx_free(tx);
            done(done_ctx, CONSORT_OK, (cs_txid){0, 0});
            return CONSORT_OK;
        }
        if (rc == CONSORT_OK)
            rc = commit_entry(n, kind, tx, &out, done, done_ctx);
        cs_kv_tx_free(tx);
        if (rc == CONSORT_E_BUSY) {
            n->m.write_conflicts++;
            continue;
        }
        if (rc != CONSORT_OK)
            return rc;
        if (++n->unsigned_tx >= n->cfg.sig_interval_tx) {
            consort_err src = node_exec_signature(n);
            if (src != CONSORT_OK)
                cs_log_warn(NODE_LOG, "node %s: signature entry: %s", n->node_id, consort_errmsg());
        }
        return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_BUSY, "transaction conflicted %d times", NODE_MAX_RETRIES + 1);
}

consort_err node_exec_signature(cs_node *n)
{
    if (!n->writes_open || n->unsigned_tx == 0)
        return CONSORT_OK;
    uint64_t seqno = n->next_seqno;
    const cs_ledger_signer signer = {
        .node_key = n->node_key, .node_cert = n->node_cert, .node_id = n->node_id};
    /* what the entries before it left: the store (with this leader's pending
     * writes) and the terms of entries 1 .. seqno - 1 */
    uint8_t state[CS_KV_STATE_DIGEST_LEN], terms[CS_LEDGER_DIGEST_LEN];
    CS_TRY(node_state_digest(n, n->kv, state));
    CS_TRY(node_index_terms_digest(&n->idx, seqno - 1, n->applied, n->lead_term, terms));
    const cs_ledger_sig_params sp = {
        .term = n->lead_term, .seqno = seqno, .state = state, .terms = terms};
    cs_buf entry;
    cs_buf_init(&entry, CS_LEDGER_ENTRY_MAX);
    cs_ledger_entry e;
    consort_err rc = cs_ledger_sig_build(n->tree, &signer, &sp, &n->keys, &entry);
    if (rc == CONSORT_OK)
        rc = cs_ledger_entry_decode(cs_buf_slice(&entry), &e);
    if (rc == CONSORT_OK) /* the leader's store holds it like any entry */
        rc = cs_kv_apply(n->kv, seqno, e.public_ws, CS_SLICE(EMPTY_WS, 1));
    if (rc != CONSORT_OK) {
        if (entry.len > 0) /* sealed: its seqno must not be sealed again under this salt */
            exec_rekey(n);
        cs_buf_cleanup(&entry);
        return cs_err_context(rc, "signature entry %llu", (unsigned long long)seqno);
    }
    CS_TRY(finish(n, seqno, &entry, NULL, NULL));
    n->unsigned_tx = 0;
    return CONSORT_OK;
}

void node_exec_abandon(cs_node *n, consort_err rc, const char *why)
{
    if (n->head == NULL && cs_kv_last_seqno(n->kv) == n->applied) {
        n->next_seqno = n->applied + 1;
        return;
    }
    cs_log_warn(NODE_LOG,
                "node %s: %zu uncommitted entries abandoned (%s); rolling back to "
                "seqno %llu",
                n->node_id, n->pending_count, why, (unsigned long long)n->applied);
    n->writes_open = false; /* a barrier reopens them (node_leader.c) */
    node_pending *p = n->head;
    n->head = n->tail = NULL;
    n->pending_count = 0;
    if (cs_kv_rollback(n->kv, n->applied) != CONSORT_OK ||
        cs_merkle_truncate(n->tree, n->applied) != CONSORT_OK)
        node_fail(n, CONSORT_E_STATE, "rollback of uncommitted entries");
    n->next_seqno = n->applied + 1;
    n->unsigned_tx = n->applied > n->last_sig_seqno ? n->applied - n->last_sig_seqno : 0;
    while (p != NULL) {
        node_pending *next = p->next;
        if (p->done != NULL) {
            n->m.writes_failed++;
            (void)cs_fail(rc,
                          "transaction %llu.%llu: leadership lost before commit (%s); its "
                          "outcome is unknown",
                          (unsigned long long)p->term, (unsigned long long)p->seqno, why);
            p->done(p->done_ctx, rc, (cs_txid){.term = p->term, .seqno = p->seqno});
        }
        cs_buf_cleanup(&p->entry);
        cs_free(p);
        p = next;
    }
}

/* Free bytes on the file system of `dir` (UINT64_MAX if it cannot be read). */
static uint64_t free_bytes(const char *dir)
{
    struct statvfs st;
    if (statvfs(dir, &st) != 0)
        return UINT64_MAX;
    return (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
}

static void space_stepped_down(void *ctx, consort_err rc)
{
    cs_node *n = ctx;
    if (rc != CONSORT_OK)
        cs_log_warn(NODE_LOG, "node %s: handing leadership over for lack of space: %s", n->node_id,
                    consort_errmsg());
}

/*
 * Room for more writes in the data directory and in raft's log directory
 * (they may be on different file systems): at least min_free_mib each. A
 * leader short of space refuses writes and hands leadership to another
 * voter, so that the healthy majority carries on (a raft write that fails
 * for lack of space stops the leader: write_failed above).
 */
bool node_exec_has_space(cs_node *n)
{
    uint64_t now = uv_now(n->loop);
    if (n->space_checked_at != 0 && now - n->space_checked_at < NODE_SPACE_CHECK_MS)
        return n->space_ok;
    n->space_checked_at = now;
    char raft_dir[CS_NODE_PATH_MAX + 8];
    snprintf(raft_dir, sizeof raft_dir, "%s/raft", n->cfg.data_dir);
    uint64_t min = n->cfg.min_free_mib << 20;
    uint64_t data = free_bytes(n->cfg.data_dir), raft = free_bytes(raft_dir);
    uint64_t avail = data < raft ? data : raft;
    const char *where = data < raft ? n->cfg.data_dir : raft_dir;
    bool was = n->space_ok;
    bool ok = avail >= min;
    n->space_ok = ok;
    if (was && !ok) {
        cs_log_error(NODE_LOG,
                     "node %s: %s has %llu bytes free (< %llu): "
                     "refusing writes (NO_SPACE) until space is freed",
                     n->node_id, where, (unsigned long long)avail, (unsigned long long)min);
        if (n->leader && n->cons != NULL &&
            cs_consensus_transfer(n->cons, 0, space_stepped_down, n) != CONSORT_OK)
            space_stepped_down(n, CONSORT_E_STATE);
    } else if (!was && ok) {
        cs_log_info(NODE_LOG, "node %s: %s has space again: accepting writes", n->node_id, where);
    }
    return ok;
}

/* ---- the signature timer (also the watchdog that reopens writes) ---- */

static void sig_timer_cb(uv_timer_t *t)
{
    cs_node *n = t->data;
    if (n->writes_open && n->unsigned_tx > 0) {
        if (node_exec_signature(n) != CONSORT_OK)
            cs_log_warn(NODE_LOG, "node %s: signature entry: %s", n->node_id, consort_errmsg());
    }
    if (n->cons != NULL && n->state != NODE_FAILED &&
        cs_consensus_fsm_error(n->cons) != CONSORT_OK) {
        (void)cs_fail(cs_consensus_fsm_error(n->cons), "see the raft error above");
        node_fail(n, cs_consensus_fsm_error(n->cons), "applying committed entries");
    }
    if (n->cons != NULL)
        node_leader_on_state(n, cs_consensus_state(n->cons), cs_consensus_term(n->cons));
}

consort_err node_exec_timer_start(cs_node *n)
{
    int rv = uv_timer_init(n->loop, &n->sig_timer);
    CS_ENSURE(rv == 0, CONSORT_E_IO, "signature timer: %s", uv_strerror(rv));
    n->sig_timer.data = n;
    n->sig_timer_init = true;
    uv_timer_start(&n->sig_timer, sig_timer_cb, n->cfg.sig_interval_ms, n->cfg.sig_interval_ms);
    return CONSORT_OK;
}

static void sig_timer_closed(uv_handle_t *h)
{
    node_closed_one(h->data);
}

void node_exec_timer_close(cs_node *n)
{
    if (!n->sig_timer_init)
        return;
    n->sig_timer_init = false;
    n->closing++;
    uv_close((uv_handle_t *)&n->sig_timer, sig_timer_closed);
}

/* ---- node.h ---- */

consort_err cs_node_write(cs_node *n, cs_node_tx_fn fn, void *fn_ctx, cs_node_done_fn done,
                          void *done_ctx)
{
    CS_ENSURE(n->state == NODE_OPEN, CONSORT_E_STATE, "node %s is %s, not part of the network",
              n->node_id, cs_node_state_name(n));
    return node_exec(n, CS_LEDGER_KIND_TX, fn, fn_ctx, done, done_ctx);
}

consort_err cs_node_read(cs_node *n, cs_node_tx_fn fn, void *fn_ctx)
{
    CS_ENSURE(fn != NULL, CONSORT_E_INVALID_ARGUMENT, "read: function required");
    CS_ENSURE(n->kv != NULL && n->state != NODE_FAILED && n->state != NODE_STOPPING,
              CONSORT_E_STATE, "node %s is %s", n->node_id, cs_node_state_name(n));
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin(n->kv, &tx));
    cs_tx_outcome out = {0};
    consort_err rc = fn(fn_ctx, tx, &out);
    if (rc == CONSORT_OK && cs_kv_tx_has_writes(tx))
        rc = cs_fail(CONSORT_E_STATE, "a read-only transaction wrote");
    cs_kv_tx_free(tx);
    return rc;
}
