/*
 * Recovery (node.md "Restart"): the KV store, the Merkle tree and the
 * indexes are rebuilt from the node's own ledger, verifying as it goes
 * (every entry decodes, seqnos are contiguous, private sections decrypt,
 * every signature entry signs the root of the entries before it), then
 * consensus starts and raft's replay skips what the ledger already holds.
 *
 * A ledger that starts after seqno 1 (the node was given a snapshot) is
 * preceded by the snapshot saved in snapshots/ at that point.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <string.h>
#include <time.h>

static const uint8_t EMPTY_WS[1] = {0xa0};

consort_err node_check_signature(cs_node *n, const cs_ledger_entry *e)
{
    cs_ledger_sig sig;
    CS_TRY_CTX(cs_ledger_sig_parse(e, &sig), "signature entry %llu", (unsigned long long)e->seqno);
    uint8_t root[CS_MERKLE_HASH_LEN];
    CS_TRY(cs_merkle_root_at(n->tree, sig.tree_size, root));
    /* service.md "Signature entry": root of the tree of the tree_size leaves before it */
    CS_ENSURE(cs_ct_equal(CS_SLICE(root, sizeof root), sig.root), CONSORT_E_BAD_PROOF,
              "signature entry %llu: signed root does not match the ledger's first %llu entries",
              (unsigned long long)e->seqno, (unsigned long long)sig.tree_size);
    CS_TRY_CTX(cs_ledger_sig_verify(&sig, n->service_cert, (int64_t)time(NULL), NULL),
               "signature entry %llu", (unsigned long long)e->seqno);
    return CONSORT_OK;
}

consort_err node_apply_entry_state(cs_node *n, const cs_ledger_entry *e)
{
    CS_ENSURE(n->has_secret, CONSORT_E_STATE, "no ledger secret");
    if (e->kind == CS_LEDGER_KIND_SIGNATURE)
        CS_TRY(node_check_signature(n, e));
    cs_buf priv;
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    consort_err rc = CONSORT_OK;
    cs_slice priv_ws = CS_SLICE(EMPTY_WS, 1);
    if (e->private_section.len > 0) {
        rc = cs_ledger_entry_decrypt(e, n->ledger_secret, &priv);
        priv_ws = cs_buf_slice(&priv);
    }
    if (rc == CONSORT_OK)
        rc = cs_kv_apply(n->kv, e->seqno, e->public_ws, priv_ws);
    cs_buf_cleanup(&priv);
    CS_TRY_CTX(rc, "entry %llu", (unsigned long long)e->seqno);
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(e, leaf);
    rc = cs_merkle_append_hash(n->tree, leaf);
    if (rc != CONSORT_OK) {
        consort_err undo = cs_kv_rollback(n->kv, e->seqno - 1);
        (void)undo;
        return rc;
    }
    return CONSORT_OK;
}

consort_err node_note_applied(cs_node *n, const cs_ledger_entry *e)
{
    bool sig = e->kind == CS_LEDGER_KIND_SIGNATURE;
    CS_TRY(node_index_add(&n->idx, e->seqno, e->term, sig, e->raw.len, n->cfg.chunk_size));
    if (sig) {
        CS_TRY(cs_buf_set(&n->last_sig, e->raw));
        n->last_sig_seqno = e->seqno;
        n->m.signatures++;
    }
    n->applied = e->seqno;
    n->applied_term = e->term;
    n->m.entries_applied++;
    cs_kv_compact(n->kv, e->seqno);
    if (e->kind == CS_LEDGER_KIND_INTERNAL) {
        node_platform_refresh_policy(n);
        node_check_open(n);
    }
    return CONSORT_OK;
}

consort_err node_open_ledger(cs_node *n, uint64_t start)
{
    cs_ledger_writer_free(n->ledger);
    n->ledger = NULL;
    const cs_ledger_writer_opts o = {.chunk_size = (size_t)n->cfg.chunk_size, .start_seqno = start};
    CS_TRY_CTX(cs_ledger_writer_open(n->ledger_dir, &o, &n->ledger), "ledger %s", n->ledger_dir);
    return CONSORT_OK;
}

/* The first seqno of the ledger on disk (0 when it holds no chunk). */
static consort_err ledger_first(cs_node *n, uint64_t *first)
{
    cs_ledger_chunk *chunks = NULL;
    size_t count = 0;
    *first = 0;
    consort_err rc = cs_ledger_chunks_list(n->ledger_dir, &chunks, &count);
    if (rc == CONSORT_E_NOT_FOUND)
        return CONSORT_OK;
    CS_TRY(rc);
    if (count > 0)
        *first = chunks[0].first;
    cs_free(chunks);
    return CONSORT_OK;
}

static consort_err replay(cs_node *n)
{
    cs_ledger_reader *r;
    CS_TRY_CTX(cs_ledger_reader_open(n->ledger_dir, &r), "ledger %s", n->ledger_dir);
    consort_err rc = CONSORT_OK;
    uint64_t count = 0;
    for (;;) {
        cs_ledger_record rec;
        bool done = false;
        rc = cs_ledger_reader_next(r, &rec, &done);
        if (rc != CONSORT_OK || done)
            break;
        const cs_ledger_entry *e = &rec.entry;
        if (e->seqno != n->applied + 1) {
            rc = cs_fail(CONSORT_E_CORRUPT, "%s offset %llu: entry %llu where %llu was expected",
                         rec.file, (unsigned long long)rec.offset, (unsigned long long)e->seqno,
                         (unsigned long long)(n->applied + 1));
            break;
        }
        rc = node_apply_entry_state(n, e);
        if (rc == CONSORT_OK)
            rc = node_note_applied(n, e);
        if (rc != CONSORT_OK) {
            rc = cs_err_context(rc == CONSORT_E_NOMEM ? rc : CONSORT_E_CORRUPT, "%s offset %llu",
                                rec.file, (unsigned long long)rec.offset);
            break;
        }
        count++;
    }
    cs_ledger_reader_free(r);
    CS_TRY(rc);
    if (count > 0)
        cs_log_info(NODE_LOG, "node %s: recovered %llu entries from the ledger (last seqno %llu)",
                    n->node_id, (unsigned long long)count, (unsigned long long)n->applied);
    return CONSORT_OK;
}

consort_err node_recover(cs_node *n)
{
    CS_TRY(cs_mkdir_p(n->ledger_dir, 0700));
    CS_TRY(cs_mkdir_p(n->snapshot_dir, 0700));
    uint64_t first;
    CS_TRY(ledger_first(n, &first));
    uint64_t snap = 0;
    if (first != 1) {
        /* the ledger starts after a snapshot (or is empty: maybe one was installed) */
        consort_err rc = node_snapshot_load_latest(n, &snap);
        if (rc == CONSORT_E_NOT_FOUND && first == 0)
            snap = 0;
        else
            CS_TRY_CTX(rc, "ledger starting at seqno %llu", (unsigned long long)first);
        CS_ENSURE(first == 0 || first == snap + 1, CONSORT_E_CORRUPT,
                  "ledger starts at seqno %llu but the latest snapshot is at %llu",
                  (unsigned long long)first, (unsigned long long)snap);
    }
    if (snap == 0)
        node_index_reset(&n->idx, 1);
    CS_TRY(node_open_ledger(n, snap + 1));
    CS_TRY(replay(n));
    uint64_t last = cs_ledger_writer_last_seqno(n->ledger);
    CS_ENSURE(last == 0 || last == n->applied, CONSORT_E_CORRUPT,
              "ledger writer ends at %llu, reader at %llu", (unsigned long long)last,
              (unsigned long long)n->applied);
    n->next_seqno = n->applied + 1;
    node_platform_refresh_policy(n);
    return CONSORT_OK;
}
