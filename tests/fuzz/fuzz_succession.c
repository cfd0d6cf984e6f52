/*
 * libFuzzer target for succession records (src/store/succession.h):
 * arbitrary bytes are strictly decoded with cs_succession_decode; a record
 * that decodes must borrow only from the input and name a recovery point
 * that formats back to its text, and is then verified (any outcome but a
 * crash) and followed as a one-record identity chain back from its own
 * "next" certificate (cs_succession_identity_for and cs_succession_chain),
 * which may only step back through the record if it verifies. Nothing may crash, leak
 * or read out of bounds.
 *
 * Seeds: tests/fuzz/corpus/succession, written once with
 * cs_succession_sign (two P-256 identities, recovery point 3.17): the
 * record, and broken copies (truncated, a trailing byte, a flipped byte in
 * the statement, in each endorsement and in a certificate, the
 * endorsements swapped).
 */
#include "store/succession.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(cs_slice s, const uint8_t *data, size_t size)
{
    return s.ptr >= data && s.len <= size && (size_t)(s.ptr - data) <= size - s.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_succession s;
    if (cs_succession_decode(CS_SLICE(data, size), &s) != CONSORT_OK)
        return 0;
    if (!inside(s.statement, data, size) || !inside(s.previous_der, data, size) ||
        !inside(s.next_der, data, size) || !inside(s.by_previous, data, size) ||
        !inside(s.by_next, data, size))
        abort();
    char txid[CS_LEDGER_TXID_MAX];
    cs_ledger_txid_format(s.last_term, s.last_seqno, txid);
    if (strcmp(txid, s.last_txid) != 0)
        abort();
    bool verified = cs_succession_verify(&s) == CONSORT_OK;
    cs_x509 *next = NULL;
    if (cs_x509_from_der(s.next_der, &next) != CONSORT_OK)
        return 0;
    const cs_slice records[1] = {CS_SLICE(data, size)};
    cs_x509 *found = NULL;
    size_t hops = 0;
    consort_err rc = cs_succession_identity_for(records, 1, next, s.last_seqno, &found, &hops);
    /* a step back is taken only through a record that verifies (none is
     * taken when the certificate's DER, re-encoded, is not the record's
     * bytes: then the pinned identity itself is the answer) */
    if (rc == CONSORT_OK && (found == NULL || hops > 1 || (hops == 1 && !verified)))
        abort();
    cs_x509_free(found);
    cs_succession_link links[CS_SUCCESSION_CHAIN_MAX + 1];
    size_t n = 0;
    rc = cs_succession_chain(records, 1, next, links, &n);
    if (rc == CONSORT_OK &&
        (n < 1 || n > 2 || (n == 2 && (!verified || links[0].last_seqno != s.last_seqno))))
        abort();
    cs_succession_chain_free(links, n);
    cs_x509_free(next);
    return 0;
}
