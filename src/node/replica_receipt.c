/*
 * Transaction status and receipts (DESIGN.md "Public contracts",
 * docs/consistency.md).
 *
 * Status of <term>.<seqno> on this replica, a = the last applied seqno:
 *   seqno <= a: Committed if the applied entry at seqno has that term,
 *               else Invalid (another entry holds the seqno);
 *   seqno >  a: Pending if this node leads in that term and created it;
 *               Invalid if term < the term of entry a (raft terms never
 *               decrease along the log, so the entry at seqno, once
 *               committed, has a term >= that one: this txid can never
 *               commit); else Unknown (this node has not seen it: it may
 *               still commit).
 */
#include "node/replica_priv.h"

#include "store/receipt.h"

cs_tx_status node_replica_tx_status(const node_replica *r, cs_txid txid, uint64_t leader_term,
                                    uint64_t leader_next)
{
    if (txid.term == 0 || txid.seqno == 0)
        return CS_TX_UNKNOWN;
    if (txid.seqno <= r->applied) {
        uint64_t t = replica_index_term(&r->idx, txid.seqno);
        if (t == 0)
            return CS_TX_UNKNOWN;
        return t == txid.term ? CS_TX_COMMITTED : CS_TX_INVALID;
    }
    if (leader_term != 0 && txid.term == leader_term && txid.seqno < leader_next)
        return CS_TX_PENDING;
    if (txid.term < r->applied_term)
        return CS_TX_INVALID;
    return CS_TX_UNKNOWN;
}

/* A committed entry: from the ledger writer's memory while its frame waits
 * there (a full chunk's close is owed: docs/ledger.md 5.1), else from the
 * files. Missing from both is the node's own fault, never "the transaction
 * does not exist" (NOT_FOUND, which the API answers 404 "never commits"). */
static consort_err read_committed(const node_replica *r, uint64_t seqno, cs_buf *out)
{
    consort_err rc = cs_ledger_writer_read_waiting(r->ledger, seqno, out);
    if (rc == CONSORT_E_NOT_FOUND)
        rc = replica_index_read_entry(&r->idx, r->ledger_dir, seqno, out);
    if (rc == CONSORT_E_NOT_FOUND)
        rc = cs_fail(CONSORT_E_IO, "committed entry %llu unreadable: %s", (unsigned long long)seqno,
                     consort_errmsg());
    return rc;
}

consort_err node_replica_receipt(node_replica *r, cs_txid txid, cs_buf *json)
{
    const unsigned long long term = (unsigned long long)txid.term;
    const unsigned long long seqno = (unsigned long long)txid.seqno;
    cs_tx_status st = node_replica_tx_status(r, txid, 0, 0);
    CS_ENSURE(st != CS_TX_INVALID, CONSORT_E_NOT_FOUND,
              "transaction %llu.%llu does not exist and never will (another entry holds seqno "
              "%llu, or its term is over)",
              term, seqno, seqno);
    CS_ENSURE(st == CS_TX_COMMITTED, CONSORT_E_BUSY,
              "transaction %llu.%llu is not committed here yet", term, seqno);
    uint64_t sig = replica_index_sig_after(&r->idx, txid.seqno);
    CS_ENSURE(sig != 0 && sig <= r->applied, CONSORT_E_BUSY,
              "transaction %llu.%llu is committed but not signed yet", term, seqno);
    CS_ENSURE(txid.seqno > r->rebuilding_upto || txid.seqno < r->ledger_first, CONSORT_E_BUSY,
              "transaction %llu.%llu is committed, but this node restarted from its snapshot at "
              "%llu and is still reading back its ledger before it: retry shortly",
              term, seqno, (unsigned long long)r->rebuilding_upto);
    CS_ENSURE(txid.seqno >= r->idx.base, CONSORT_E_STATE,
              "transaction %llu.%llu is committed before this node's ledger starts (it joined "
              "from a snapshot at %llu): another node has its receipt",
              term, seqno, (unsigned long long)(r->ledger_first - 1));
    cs_buf entry, sig_entry;
    cs_buf_init(&entry, CS_LEDGER_ENTRY_MAX);
    cs_buf_init(&sig_entry, CS_LEDGER_ENTRY_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, read_committed(r, txid.seqno, &entry), done);
    CS_TRY_GOTO(rc, read_committed(r, sig, &sig_entry), done);
    rc = cs_receipt_build(r->tree, cs_buf_slice(&entry), cs_buf_slice(&sig_entry), r->secret, json);
done:
    cs_buf_cleanup(&entry);
    cs_buf_cleanup(&sig_entry);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "receipt for %llu.%llu", term, seqno);
}
