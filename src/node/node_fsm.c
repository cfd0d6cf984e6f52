/*
 * The node's replicated state machine (consensus/fsm.h; node.md
 * "Execution"). apply() runs on every node for every committed entry, in
 * order:
 *
 *   1. the entry decodes as a ledger entry (else CORRUPT: the node stops);
 *   2. an entry the ledger already holds (raft replays its log after a
 *      restart) is skipped once its leaf equals the tree's leaf at that
 *      position, i.e. its bytes are the ones recorded;
 *   3. otherwise its seqno must be the last applied + 1 and its term the
 *      raft term it was created in (else CORRUPT);
 *   4. the leader finds it at the head of its pending queue, byte for byte
 *      (its store and tree hold it already); any other node, or a leader
 *      whose queue disagrees (it lost leadership: its pending entries are
 *      failed and rolled back first), decrypts and applies the write sets
 *      and appends the leaf;
 *   5. the entry is appended to the ledger, the indexes updated, and the
 *      leader completes the request.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <string.h>

static consort_err check_replayed(cs_node *n, const cs_ledger_entry *e)
{
    uint8_t leaf[CS_MERKLE_HASH_LEN], held[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(e, leaf);
    CS_TRY(cs_merkle_leaf(n->tree, e->seqno - 1, held));
    CS_ENSURE(cs_ct_equal(CS_SLICE(leaf, 32), CS_SLICE(held, 32)), CONSORT_E_CORRUPT,
              "entry %llu replayed by raft differs from the ledger's",
              (unsigned long long)e->seqno);
    return CONSORT_OK;
}

/* The leader's own entry at the head of its queue? */
static bool is_pending_head(const cs_node *n, const cs_ledger_entry *e)
{
    const node_pending *p = n->head;
    return p != NULL && p->seqno == e->seqno && cs_slice_eq(cs_buf_slice(&p->entry), e->raw);
}

static consort_err append_ledger(cs_node *n, const cs_ledger_entry *e)
{
    consort_err rc = cs_ledger_writer_append(n->ledger, e->raw);
    if (rc == CONSORT_E_NO_SPACE)
        cs_log_error(NODE_LOG,
                     "node %s: ledger: NO SPACE LEFT writing committed entry %llu; the "
                     "node stops applying until space is freed and it restarts (the "
                     "entry is safe in the raft log)",
                     n->node_id, (unsigned long long)e->seqno);
    return rc;
}

static consort_err fsm_apply(void *ctx, const cs_fsm_entry *fe, void **result)
{
    cs_node *n = ctx;
    (void)result;
    cs_ledger_entry e;
    if (cs_ledger_entry_decode(fe->data, &e) != CONSORT_OK)
        return cs_err_context(CONSORT_E_CORRUPT, "raft entry %llu is not a ledger entry",
                              (unsigned long long)fe->index);
    if (e.seqno <= n->applied)
        return check_replayed(n, &e);
    CS_ENSURE(e.seqno == n->applied + 1, CONSORT_E_CORRUPT,
              "raft entry %llu carries seqno %llu, expected %llu", (unsigned long long)fe->index,
              (unsigned long long)e.seqno, (unsigned long long)(n->applied + 1));
    CS_ENSURE(e.term == fe->term, CONSORT_E_CORRUPT, "entry %llu has term %llu but raft term %llu",
              (unsigned long long)e.seqno, (unsigned long long)e.term,
              (unsigned long long)fe->term);
    bool own = is_pending_head(n, &e);
    if (!own && n->head != NULL)
        node_exec_abandon(n, CONSORT_E_STATE, "another leader's entry was committed");
    if (!own)
        CS_TRY(node_apply_entry_state(n, &e));
    consort_err rc = append_ledger(n, &e);
    if (rc == CONSORT_OK)
        rc = node_note_applied(n, &e);
    if (rc != CONSORT_OK) {
        node_exec_abandon(n, CONSORT_E_STATE, "apply failed");
        return rc;
    }
    if (!own)
        return CONSORT_OK;
    node_pending *p = n->head;
    n->head = p->next;
    if (n->head == NULL)
        n->tail = NULL;
    n->pending_count--;
    if (p->done != NULL) {
        n->m.writes_committed++;
        p->done(p->done_ctx, CONSORT_OK, (cs_txid){.term = p->term, .seqno = p->seqno});
    }
    cs_buf_cleanup(&p->entry);
    cs_free(p);
    return CONSORT_OK;
}

static consort_err fsm_snapshot_begin(void *ctx, void **job, bool *defer)
{
    return node_snapshot_begin(ctx, job, defer);
}

static consort_err fsm_snapshot_make(void *job, cs_buf *out)
{
    return node_snapshot_seal(job, out);
}

static void fsm_snapshot_end(void *ctx, void *job, consort_err rc)
{
    node_snapshot_end(ctx, job, rc);
}

static consort_err fsm_restore(void *ctx, cs_slice data)
{
    cs_node *n = ctx;
    if (n->head != NULL)
        node_exec_abandon(n, CONSORT_E_STATE, "snapshot installed");
    consort_err rc = node_snapshot_install(n, data, false);
    if (rc != CONSORT_OK)
        cs_log_error(NODE_LOG, "node %s: refused a snapshot: %s", n->node_id, consort_errmsg());
    return rc;
}

cs_fsm node_fsm(cs_node *n)
{
    /* snapshots are made off the loop (node_snapshot.c) */
    return (cs_fsm){.ctx = n,
                    .apply = fsm_apply,
                    .restore = fsm_restore,
                    .snapshot_begin = fsm_snapshot_begin,
                    .snapshot_make = fsm_snapshot_make,
                    .snapshot_end = fsm_snapshot_end};
}
