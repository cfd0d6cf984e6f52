/*
 * Transaction status and receipts (DESIGN.md "Public contracts";
 * service.md "Receipts").
 *
 * Status of <term>.<seqno> on this node, c = the last committed seqno:
 *   seqno <= c: Committed if the committed entry at seqno has that term,
 *               else Invalid (another entry holds the seqno);
 *   seqno >  c: Pending if this node leads in that term and created it;
 *               Invalid if term < the term of entry c (raft terms never
 *               decrease along the log, so the entry at seqno, once
 *               committed, has a term >= that one: this txid can never
 *               commit); else Unknown.
 */
#include "node/node_priv.h"

#include "base/log.h"
#include "store/receipt.h"

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
    if (txid.term == 0 || txid.seqno == 0)
        return CS_TX_UNKNOWN;
    if (txid.seqno <= n->applied) {
        uint64_t t = node_index_term(&n->idx, txid.seqno);
        if (t == 0)
            return CS_TX_UNKNOWN;
        return t == txid.term ? CS_TX_COMMITTED : CS_TX_INVALID;
    }
    if (n->leader && txid.term == n->lead_term && txid.seqno < n->next_seqno)
        return CS_TX_PENDING;
    if (txid.term < n->applied_term)
        return CS_TX_INVALID;
    return CS_TX_UNKNOWN;
}

cs_txid cs_node_commit_txid(const cs_node *n)
{
    return (cs_txid){.term = n->applied_term, .seqno = n->applied};
}

consort_err cs_node_receipt(cs_node *n, cs_txid txid, cs_buf *json)
{
    cs_tx_status st = cs_node_tx_status(n, txid);
    CS_ENSURE(st != CS_TX_PENDING, CONSORT_E_BUSY, "transaction %llu.%llu is not committed yet",
              (unsigned long long)txid.term, (unsigned long long)txid.seqno);
    CS_ENSURE(st == CS_TX_COMMITTED, CONSORT_E_NOT_FOUND, "transaction %llu.%llu is %s",
              (unsigned long long)txid.term, (unsigned long long)txid.seqno, cs_tx_status_name(st));
    uint64_t sig = node_index_sig_after(&n->idx, txid.seqno);
    CS_ENSURE(sig != 0 && sig <= n->applied, CONSORT_E_BUSY,
              "transaction %llu.%llu is committed but not signed yet",
              (unsigned long long)txid.term, (unsigned long long)txid.seqno);
    cs_buf entry, sig_entry;
    cs_buf_init(&entry, CS_LEDGER_ENTRY_MAX);
    cs_buf_init(&sig_entry, CS_LEDGER_ENTRY_MAX);
    consort_err rc = node_index_read_entry(n, txid.seqno, &entry);
    if (rc == CONSORT_OK)
        rc = node_index_read_entry(n, sig, &sig_entry);
    if (rc == CONSORT_OK)
        rc = cs_receipt_build(n->tree, cs_buf_slice(&entry), cs_buf_slice(&sig_entry),
                              n->ledger_secret, json);
    cs_buf_cleanup(&entry);
    cs_buf_cleanup(&sig_entry);
    return rc == CONSORT_OK
               ? rc
               : cs_err_context(rc, "receipt for %llu.%llu", (unsigned long long)txid.term,
                                (unsigned long long)txid.seqno);
}
