/*
 * The executor's entries on their way to consensus (exec.h): queuing a
 * sealed entry, signature entries (after sig_interval_tx entries, or
 * sig_interval_ms after the first unsigned one, riding with the next write
 * while a few entries are in flight; docs/ledger.md 4.1), and the
 * free-space check that refuses writes before raft or the ledger run out.
 */
#include "node/exec_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

void exec_item_free(exec_item *it)
{
    if (it == NULL)
        return;
    node_exec *ex = it->ex;
    bool counted = it->done != NULL;
    cs_buf_cleanup(&it->entry);
    cs_free(it);
    if (counted && --ex->completions == 0 && !ex->freed && ex->o.ops.idle != NULL)
        ex->o.ops.idle(ex->o.ops.ctx);
}

static const uint8_t EMPTY_WS[1] = {0xa0};

/* ---- queuing ---- */

void exec_undo(node_exec *ex, uint64_t seqno)
{
    node_replica *r = ex->o.replica;
    cs_merkle_tree *t = node_replica_tree(r);
    bool ok = cs_merkle_size(t) < seqno || cs_merkle_truncate(t, seqno - 1) == CONSORT_OK;
    if (ok && cs_kv_last_seqno(node_replica_kv(r)) >= seqno)
        ok = cs_kv_rollback(node_replica_kv(r), seqno - 1) == CONSORT_OK;
    /* sealed: that seqno must not be sealed again under this salt */
    if (ok)
        ok = cs_ledger_keys_rekey(node_replica_keys(r)) == CONSORT_OK;
    if (!ok && ex->o.ops.step_down != NULL)
        ex->o.ops.step_down(ex->o.ops.ctx, ex->term, NODE_EXEC_STOP, CONSORT_E_STATE,
                            "undoing an entry that was not submitted failed");
}

/* Hands every queued entry to consensus, in batches of at most
 * EXEC_BATCH_MAX entries and EXEC_BATCH_BYTES bytes (one larger entry
 * alone): the entries of one loop turn reach raft in one request, and raft
 * replicates them in one message per follower (group commit). A refusal
 * comes back later as a failed raft write of this term
 * (node_exec_submit_failed): some of the batch may be in raft's log. */
static void submit_queued(void *ctx)
{
    node_exec *ex = ctx;
    while (ex->open && ex->unsubmitted != NULL) {
        cs_slice batch[EXEC_BATCH_MAX];
        size_t n = 0, bytes = 0;
        exec_item *it = ex->unsubmitted;
        while (it != NULL && n < EXEC_BATCH_MAX &&
               (n == 0 || bytes + it->entry.len <= EXEC_BATCH_BYTES)) {
            batch[n++] = cs_buf_slice(&it->entry);
            bytes += it->entry.len;
            it = it->next;
        }
        ex->o.ops.submit(ex->o.ops.ctx, batch, n, ex->term);
        ex->unsubmitted = it;
        ex->stats.batches_submitted++;
        ex->stats.entries_submitted += n;
    }
}

void exec_submit_cancel(node_exec *ex)
{
    ex->unsubmitted = NULL;
    cs_defer_cancel(ex->defer, &ex->submit_later);
}

consort_err exec_enqueue(node_exec *ex, uint64_t seqno, exec_item *it)
{
    cs_ledger_entry e;
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    consort_err rc;
    CS_TRY_GOTO(rc, cs_ledger_entry_decode(cs_buf_slice(&it->entry), &e), fail);
    cs_ledger_leaf_hash(&e, leaf);
    CS_TRY_GOTO(rc, cs_merkle_append_hash(node_replica_tree(ex->o.replica), leaf), fail);
    it->txid = (cs_txid){.term = ex->term, .seqno = seqno};
    if (ex->tail != NULL)
        ex->tail->next = it;
    else
        ex->head = it;
    ex->tail = it;
    ex->pending++;
    ex->next_seqno = seqno + 1;
    /* to consensus at the end of this loop turn, with the others queued */
    if (ex->unsubmitted == NULL)
        ex->unsubmitted = it;
    cs_defer_call(ex->defer, &ex->submit_later, submit_queued, ex);
    return CONSORT_OK;
fail:
    exec_item_free(it);
    exec_undo(ex, seqno);
    return rc;
}

/* ---- signature entries ---- */

consort_err node_exec_signature(node_exec *ex)
{
    if (!ex->open || ex->unsigned_tx == 0)
        return CONSORT_OK;
    node_replica *r = ex->o.replica;
    uint64_t seqno = ex->next_seqno;
    /* what the entries before it left: the store (with this leader's
     * pending writes) and the terms of entries 1 .. seqno - 1 */
    uint8_t state[CS_KV_STATE_DIGEST_LEN], terms[CS_LEDGER_DIGEST_LEN];
    CS_TRY(node_replica_state_digest(r, state));
    CS_TRY(node_replica_terms_digest(r, seqno - 1, ex->term, terms));
    const cs_ledger_signer signer = {
        .node_key = ex->signer.key, .node_cert = ex->signer.cert, .node_id = ex->signer.node_id};
    const cs_ledger_sig_params sp = {
        .term = ex->term, .seqno = seqno, .state = state, .terms = terms};
    exec_item *it = cs_calloc(1, sizeof *it);
    CS_ENSURE(it != NULL, CONSORT_E_NOMEM, "signature entry: out of memory");
    it->ex = ex;
    cs_buf_init(&it->entry, CS_LEDGER_ENTRY_MAX);
    cs_ledger_entry e;
    consort_err rc;
    CS_TRY_GOTO(
        rc,
        cs_ledger_sig_build(node_replica_tree(r), &signer, &sp, node_replica_keys(r), &it->entry),
        fail);
    CS_TRY_GOTO(rc, cs_ledger_entry_decode(cs_buf_slice(&it->entry), &e), fail);
    /* the leader's store holds it like any entry */
    CS_TRY_GOTO(rc, cs_kv_apply(node_replica_kv(r), seqno, e.public_ws, CS_SLICE(EMPTY_WS, 1)),
                fail);
    CS_TRY(exec_enqueue(ex, seqno, it));
    ex->unsigned_tx = 0;
    ex->stats.signatures_made++;
    exec_sign_stop(ex);
    return CONSORT_OK;
fail:
    if (it->entry.len > 0)
        exec_undo(ex, seqno);
    exec_item_free(it);
    return cs_err_context(rc, "signature entry %llu", (unsigned long long)seqno);
}

static void sign_now(node_exec *ex)
{
    if (node_exec_signature(ex) != CONSORT_OK)
        cs_log_warn(EXEC_LOG, "node %s: signature entry: %s", ex->o.node_id, consort_errmsg());
}

static void sig_arm(node_exec *ex, uint64_t ms)
{
    ex->sig_armed = true;
    cs_timer_start(ex->sig_timer, ms);
}

/* Due: at once if nothing is in flight, or many entries are, or it
 * already waited once; else with the next write, or after the drain's
 * grace, or one interval on (NODE_EXEC_SIG_RIDE_MAX). */
static void sig_timer_cb(void *ctx)
{
    node_exec *ex = ctx;
    ex->sig_armed = false;
    if (!ex->open || ex->unsigned_tx == 0)
        return;
    if (!ex->sig_due && ex->pending > 0 && ex->pending <= NODE_EXEC_SIG_RIDE_MAX) {
        ex->sig_due = true;
        ex->stats.signatures_deferred++;
        sig_arm(ex, ex->o.sig_interval_ms);
        return;
    }
    sign_now(ex);
}

void exec_sign_after_write(node_exec *ex)
{
    if (ex->sig_due || ex->unsigned_tx >= ex->o.sig_interval_tx)
        sign_now(ex);
    else
        exec_sign_schedule(ex);
}

void exec_sign_drained(node_exec *ex)
{
    if (!ex->sig_due || ex->pending > 0 || !ex->open || ex->sig_timer == NULL)
        return;
    uint64_t grace = NODE_EXEC_SIG_GRACE_MS;
    sig_arm(ex, grace < ex->o.sig_interval_ms ? grace : ex->o.sig_interval_ms);
}

static void space_timer_cb(void *ctx);

consort_err exec_sign_init(node_exec *ex)
{
    CS_TRY(cs_timer_new(ex->o.loop, sig_timer_cb, ex, &ex->sig_timer));
    consort_err rc = cs_timer_new(ex->o.loop, space_timer_cb, ex, &ex->space_timer);
    if (rc != CONSORT_OK)
        exec_sign_cleanup(ex);
    return rc;
}

void exec_sign_cleanup(node_exec *ex)
{
    cs_timer_free(ex->sig_timer);
    ex->sig_timer = NULL;
    ex->sig_armed = false;
    ex->sig_due = false;
    cs_timer_free(ex->space_timer);
    ex->space_timer = NULL;
}

void exec_sign_schedule(node_exec *ex)
{
    if (ex->sig_armed || !ex->open || ex->unsigned_tx == 0 || ex->sig_timer == NULL)
        return;
    sig_arm(ex, ex->o.sig_interval_ms);
}

void exec_sign_stop(node_exec *ex)
{
    if (ex->sig_timer != NULL)
        cs_timer_stop(ex->sig_timer);
    ex->sig_armed = false;
    ex->sig_due = false;
}

/* ---- free space ---- */

/* Free bytes on the file system of `dir` (UINT64_MAX if it cannot be read). */
static uint64_t free_bytes(const char *dir)
{
    struct statvfs st;
    if (statvfs(dir, &st) != 0)
        return UINT64_MAX;
    return (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
}

size_t node_exec_raft_segment_size(uint64_t min_free_mib)
{
    uint64_t size = (min_free_mib << 20) / 16;
    if (size < NODE_EXEC_SEGMENT_MIN)
        return NODE_EXEC_SEGMENT_MIN;
    if (size > NODE_EXEC_SEGMENT_MAX)
        return NODE_EXEC_SEGMENT_MAX;
    return (size_t)size & ~(size_t)0xffff; /* whole 64 KiB: any block size of libraft */
}

/* Asks ops.step_down to hand leadership over, once in each term this node
 * leads short of space and then at most every NODE_EXEC_HAND_OVER_RETRY_MS
 * while it still leads (a transfer that failed or timed out, or one raft
 * refused because another was in flight). */
static void ask_hand_over(node_exec *ex, uint64_t now)
{
    if (!ex->open || ex->o.ops.step_down == NULL)
        return;
    if (ex->handover_term == ex->term && now - ex->handover_at < NODE_EXEC_HAND_OVER_RETRY_MS)
        return;
    bool again = ex->handover_term == ex->term;
    ex->handover_term = ex->term;
    ex->handover_at = now;
    cs_log_warn(
        EXEC_LOG, "node %s: leader in term %llu with %llu bytes free (< %llu): %s leadership over",
        ex->o.node_id, (unsigned long long)ex->term, (unsigned long long)ex->space_free,
        (unsigned long long)(ex->o.min_free_mib << 20), again ? "still handing" : "handing");
    ex->o.ops.step_down(ex->o.ops.ctx, ex->term, NODE_EXEC_HAND_OVER, CONSORT_E_NO_SPACE,
                        "the leader's disk is (nearly) full");
}

/*
 * Room for more writes in the data directory and in raft's log directory
 * (they may be on different file systems): at least min_free_mib each. A
 * leader short of space refuses writes and asks to hand leadership over,
 * so that the healthy majority carries on (a raft write that fails for
 * lack of space stops the leader: node_exec_submit_failed).
 */
bool exec_has_space(node_exec *ex, bool fresh)
{
    uint64_t now = uv_now(ex->o.loop);
    if (!fresh && ex->space_checked_at != 0 && now - ex->space_checked_at < EXEC_SPACE_CHECK_MS) {
        if (!ex->space_ok)
            ask_hand_over(ex, now);
        return ex->space_ok;
    }
    ex->space_checked_at = now;
    char raft_dir[CS_NODE_PATH_MAX + 8];
    snprintf(raft_dir, sizeof raft_dir, "%s/raft", ex->o.data_dir);
    uint64_t min = ex->o.min_free_mib << 20;
    uint64_t data = free_bytes(ex->o.data_dir), raft = free_bytes(raft_dir);
    uint64_t avail = data < raft ? data : raft;
    const char *where = data < raft ? ex->o.data_dir : raft_dir;
    bool was = ex->space_ok;
    ex->space_ok = avail >= min;
    ex->space_free = avail;
    if (was && !ex->space_ok)
        cs_log_error(EXEC_LOG,
                     "node %s: %s has %llu bytes free (< %llu): refusing writes (NO_SPACE) "
                     "until space is freed",
                     ex->o.node_id, where, (unsigned long long)avail, (unsigned long long)min);
    else if (!was && ex->space_ok)
        cs_log_info(EXEC_LOG, "node %s: %s has space again: accepting writes", ex->o.node_id,
                    where);
    if (!ex->space_ok)
        ask_hand_over(ex, now);
    return ex->space_ok;
}

/* Free space has no event to wait for: it is read on a timer. Without it a
 * leader read it only when a write reached it, so one whose disk filled
 * just after its last reading (or whose hand-over timed out) led on with
 * its full disk for as long as no write came. */
static void space_timer_cb(void *ctx)
{
    node_exec *ex = ctx;
    if (!ex->open)
        return;
    (void)exec_has_space(ex, true);
    exec_space_watch(ex);
}

void exec_space_watch(node_exec *ex)
{
    if (ex->open && ex->space_timer != NULL)
        cs_timer_start(ex->space_timer, EXEC_SPACE_WATCH_MS);
}

void exec_space_unwatch(node_exec *ex)
{
    if (ex->space_timer != NULL)
        cs_timer_stop(ex->space_timer);
}
