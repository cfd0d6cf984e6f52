/*
 * The executor (exec.h): the leader's queue of executed, sealed and
 * submitted entries, in seqno order. Each waits for consensus to commit it
 * (node_exec_committed pops the head) or fails when leadership goes
 * (node_exec_close). Completions are deferred through the loop (net/defer.h).
 * Signature entries and the free-space check are in exec_sign.c.
 */
#include "node/exec_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

/* ---- completions ---- */

static void complete_cb(void *ctx)
{
    exec_item *it = ctx;
    node_exec *ex = it->ex;
    const cs_node_result res = {.rc = it->rc, .txid = it->txid, .message = it->message};
    ex->completing++;
    it->done(it->done_ctx, &res);
    ex->completing--;
    exec_item_free(it);
    exec_maybe_released(ex);
}

void exec_complete(node_exec *ex, exec_item *it, consort_err rc, const char *fmt, ...)
{
    it->rc = rc;
    it->message[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(it->message, sizeof it->message, fmt, ap);
        va_end(ap);
    }
    if (it->done == NULL) { /* a signature entry: nobody waits for it */
        exec_item_free(it);
        return;
    }
    it->next = NULL;
    cs_defer_call(ex->defer, &it->defer, complete_cb, it);
}

/* ---- the object ---- */

consort_err node_exec_new(const node_exec_opts *o, node_exec **out)
{
    node_exec *ex = cs_calloc(1, sizeof *ex);
    CS_ENSURE(ex != NULL, CONSORT_E_NOMEM, "executor: out of memory");
    ex->o = *o;
    ex->space_ok = true;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_defer_new(o->loop, &ex->defer), fail);
    CS_TRY_GOTO(rc, exec_sign_init(ex), fail);
    *out = ex;
    return CONSORT_OK;
fail:
    cs_defer_free(ex->defer);
    cs_free(ex);
    return cs_err_context(rc, "executor");
}

void exec_maybe_released(node_exec *ex)
{
    if (!ex->freed || ex->completions > 0 || ex->completing > 0)
        return;
    cs_defer_free(ex->defer);
    cs_free(ex);
}

void node_exec_free(node_exec *ex)
{
    if (ex == NULL)
        return;
    node_exec_close(ex, CONSORT_E_STATE, "the node is stopping");
    exec_sign_cleanup(ex);
    ex->freed = true;
    exec_maybe_released(ex);
}

void node_exec_set_signer(node_exec *ex, const node_exec_signer *s)
{
    ex->signer = *s;
}

bool node_exec_is_open(const node_exec *ex)
{
    return ex->open;
}

uint64_t node_exec_term(const node_exec *ex)
{
    return ex->open ? ex->term : 0;
}

uint64_t node_exec_next_seqno(const node_exec *ex)
{
    return ex->next_seqno;
}

size_t node_exec_pending(const node_exec *ex)
{
    return ex->pending;
}

size_t node_exec_unfinished(const node_exec *ex)
{
    return ex->completions;
}

node_exec_stats node_exec_get_stats(const node_exec *ex)
{
    return ex->stats;
}

consort_err node_exec_open(node_exec *ex, uint64_t term)
{
    node_replica *r = ex->o.replica;
    CS_ENSURE(term != ex->closed_term, CONSORT_E_STATE,
              "writes stay closed in term %llu after a failed raft write",
              (unsigned long long)term);
    CS_ENSURE(term <= CS_LEDGER_TERM_MAX, CONSORT_E_STATE, "term %llu does not fit a ledger entry",
              (unsigned long long)term);
    CS_ENSURE(ex->head == NULL && cs_kv_last_seqno(node_replica_kv(r)) == node_replica_applied(r),
              CONSORT_E_STATE, "executor: the store is ahead of the applied entries");
    CS_TRY(cs_ledger_keys_rekey(node_replica_keys(r)));
    ex->term = term;
    ex->next_seqno = node_replica_applied(r) + 1;
    uint64_t sig = node_replica_applied_sig(r);
    ex->unsigned_tx = node_replica_applied(r) - sig;
    ex->open = true;
    cs_log_info(EXEC_LOG, "node %s: leader in term %llu at seqno %llu, accepting writes",
                ex->o.node_id, (unsigned long long)term,
                (unsigned long long)node_replica_applied(r));
    /* a node elected while short of space hands over at once, before any
     * client has to be refused (it may have run short as a follower, or
     * lead again after an earlier hand-over), and checks again while it
     * leads, writes or not */
    exec_space_watch(ex);
    if (!exec_has_space(ex, true))
        return CONSORT_OK;
    /* entries of earlier terms that no signature covers yet (a restart, or
     * a leader that fell before signing): signed now, so their receipts
     * and a restart's recovery need not wait for the next write */
    if (ex->unsigned_tx > 0 && node_exec_signature(ex) != CONSORT_OK)
        cs_log_warn(EXEC_LOG, "node %s: signature entry: %s", ex->o.node_id, consort_errmsg());
    exec_sign_schedule(ex);
    return CONSORT_OK;
}

void node_exec_close(node_exec *ex, consort_err rc, const char *why)
{
    node_replica *r = ex->o.replica;
    ex->open = false;
    exec_submit_cancel(ex);
    exec_sign_stop(ex);
    exec_space_unwatch(ex);
    uint64_t applied = node_replica_applied(r);
    if (ex->head == NULL && cs_kv_last_seqno(node_replica_kv(r)) == applied) {
        ex->next_seqno = applied + 1;
        return;
    }
    cs_log_warn(EXEC_LOG,
                "node %s: %zu uncommitted entries abandoned (%s); rolling back to seqno %llu",
                ex->o.node_id, ex->pending, why, (unsigned long long)applied);
    exec_item *it = ex->head;
    ex->head = ex->tail = NULL;
    ex->pending = 0;
    if (node_replica_rollback(r, applied) != CONSORT_OK && ex->o.ops.step_down != NULL)
        ex->o.ops.step_down(ex->o.ops.ctx, ex->term, NODE_EXEC_STOP, CONSORT_E_STATE,
                            "rollback of uncommitted entries failed");
    ex->next_seqno = applied + 1;
    while (it != NULL) {
        exec_item *next = it->next;
        if (it->done != NULL)
            ex->stats.writes_failed++;
        exec_complete(ex, it, rc,
                      "transaction %llu.%llu: leadership lost before commit (%s); its outcome is "
                      "unknown",
                      (unsigned long long)it->txid.term, (unsigned long long)it->txid.seqno, why);
        it = next;
    }
}

/* ---- executing ---- */

/* Seals `kind` writes of `tx` as entry `seqno`, appends its leaf, submits and
 * queues it (ownership of `it` taken). On failure the store and tree are
 * back at seqno - 1 and the key salt is renewed (the seqno will be sealed
 * again). */
static consort_err commit_tx(node_exec *ex, cs_ledger_kind kind, cs_kv_tx *tx,
                             const cs_tx_outcome *out, exec_item *it)
{
    node_replica *r = ex->o.replica;
    uint64_t seqno = ex->next_seqno;
    cs_buf pub, priv;
    cs_buf_init(&pub, CS_LEDGER_WS_MAX);
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    consort_err rc = cs_kv_tx_commit(tx, seqno, &pub, &priv);
    if (rc != CONSORT_OK) { /* nothing changed (BUSY: a conflict, re-run) */
        cs_buf_cleanup(&pub);
        cs_buf_cleanup(&priv);
        exec_item_free(it);
        return rc;
    }
    const cs_ledger_entry_params p = {.kind = kind,
                                      .term = ex->term,
                                      .seqno = seqno,
                                      .claims_digest = out->has_claims ? out->claims_digest : NULL,
                                      .public_ws = cs_buf_slice(&pub),
                                      .private_ws = cs_buf_slice(&priv)};
    rc = cs_ledger_entry_encode(&p, node_replica_keys(r), &it->entry);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    if (rc == CONSORT_OK)
        return exec_enqueue(ex, seqno, it);
    exec_item_free(it);
    exec_undo(ex, seqno);
    return rc;
}

static exec_item *item_new(node_exec *ex, node_exec_done_fn done, void *done_ctx)
{
    exec_item *it = cs_calloc(1, sizeof *it);
    if (it == NULL)
        return NULL;
    it->ex = ex;
    it->done = done;
    it->done_ctx = done_ctx;
    cs_buf_init(&it->entry, CS_LEDGER_ENTRY_MAX);
    if (done != NULL)
        ex->completions++;
    return it;
}

/* One run of `fn` on `tx`: its writes encoded and queued (*queued), or
 * nothing to replicate and the completion deferred. BUSY: a conflict, run
 * it again. */
static consort_err write_once(node_exec *ex, cs_ledger_kind kind, cs_kv_tx *tx, cs_node_tx_fn fn,
                              void *fn_ctx, node_exec_done_fn done, void *done_ctx, bool *queued)
{
    cs_tx_outcome out = {0};
    CS_TRY(fn(fn_ctx, tx, &out));
    exec_item *it = item_new(ex, done, done_ctx);
    CS_ENSURE(it != NULL, CONSORT_E_NOMEM, "write: out of memory");
    if (!out.commit || !cs_kv_tx_has_writes(tx)) {
        exec_complete(ex, it, CONSORT_OK, NULL); /* nothing to replicate */
        *queued = false;
        return CONSORT_OK;
    }
    CS_TRY(commit_tx(ex, kind, tx, &out, it));
    *queued = true;
    return CONSORT_OK;
}

consort_err node_exec_write(node_exec *ex, cs_ledger_kind kind, cs_node_tx_fn fn, void *fn_ctx,
                            node_exec_done_fn done, void *done_ctx)
{
    CS_ENSURE(fn != NULL && done != NULL, CONSORT_E_INVALID_ARGUMENT,
              "write: function and completion required");
    CS_ENSURE(ex->open, CONSORT_E_STATE, "node %s is not the leader", ex->o.node_id);
    if (!exec_has_space(ex, false)) {
        ex->stats.writes_refused_no_space++;
        return cs_fail(CONSORT_E_NO_SPACE, "node %s: its disk is (nearly) full: write refused",
                       ex->o.node_id);
    }
    cs_kv_store *kv = node_replica_kv(ex->o.replica);
    for (int attempt = 0; attempt <= EXEC_MAX_RETRIES; attempt++) {
        cs_kv_tx *tx;
        CS_TRY(cs_kv_tx_begin(kv, &tx));
        bool queued = false;
        consort_err rc = write_once(ex, kind, tx, fn, fn_ctx, done, done_ctx, &queued);
        cs_kv_tx_free(tx);
        if (rc == CONSORT_E_BUSY) {
            ex->stats.write_conflicts++;
            continue;
        }
        CS_TRY(rc);
        if (!queued)
            return CONSORT_OK;
        ex->unsigned_tx++;
        exec_sign_after_write(ex);
        return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_BUSY, "transaction conflicted %d times", EXEC_MAX_RETRIES + 1);
}

/* ---- consensus ---- */

consort_err node_exec_committed(node_exec *ex, const cs_ledger_entry *e, bool *own)
{
    *own = false;
    exec_item *it = ex->head;
    bool mine =
        it != NULL && it->txid.seqno == e->seqno && cs_slice_eq(cs_buf_slice(&it->entry), e->raw);
    if (!mine) {
        if (ex->head != NULL)
            node_exec_close(ex, CONSORT_E_STATE, "another leader's entry was committed");
        return CONSORT_OK;
    }
    consort_err rc = node_replica_commit_own(ex->o.replica, e);
    if (rc != CONSORT_OK) {
        node_exec_close(ex, CONSORT_E_STATE, "the committed entry could not be recorded");
        return rc;
    }
    *own = true;
    ex->head = it->next;
    if (ex->head == NULL)
        ex->tail = NULL;
    ex->pending--;
    if (it->done != NULL)
        ex->stats.writes_committed++;
    exec_complete(ex, it, CONSORT_OK, NULL);
    exec_sign_drained(ex);
    return CONSORT_OK;
}

void node_exec_submit_failed(node_exec *ex, uint64_t term, consort_err rc, const char *why)
{
    if (!ex->open || term != ex->term)
        return;
    /* `why` is about one entry (consensus names it): logged here, never
     * copied into the answers of the other writes that fail with it, which
     * may be other clients' (each says which transaction is its own) */
    if (rc == CONSORT_E_STATE) { /* leadership lost: the outcome is unknown */
        cs_log_info(EXEC_LOG, "node %s: leadership lost in term %llu: %s", ex->o.node_id,
                    (unsigned long long)term, why);
        node_exec_close(ex, CONSORT_E_STATE, "raft reported it");
        return;
    }
    /*
     * A raft write failed while this node leads. A write that failed on
     * disk no longer comes here: consensus_append.c holds it back from libraft
     * (which would truncate its log under requests still in flight, then
     * crash) and fails the node (docs/consensus.md "A failed log write");
     * what remains is raft refusing or failing an entry otherwise. Writes
     * never reopen in this term;
     * what is pending fails; the node steps down or stops (ops.step_down).
     * No entry is ever sealed twice with one key and nonce whatever
     * happens next: a new key salt each time writes open (store/ledger.h).
     */
    cs_log_error(EXEC_LOG,
                 "node %s: raft could not store an entry in term %llu (%s: %s): writes stay "
                 "closed in this term; this node stops leading",
                 ex->o.node_id, (unsigned long long)term, consort_err_name(rc), why);
    ex->closed_term = term;
    char reason[96];
    snprintf(reason, sizeof reason, "the leader could not store its log (%s)",
             consort_err_name(rc));
    node_exec_close(ex, CONSORT_E_STATE, reason);
    if (ex->o.ops.step_down != NULL)
        ex->o.ops.step_down(ex->o.ops.ctx, term, NODE_EXEC_STOP, rc, why);
}
