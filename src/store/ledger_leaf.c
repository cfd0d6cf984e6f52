/*
 * Transaction ids, commit evidence and Merkle leaves of ledger entries
 * (docs/ledger.md §2 "Commit evidence", §3 "Leaves and the Merkle tree";
 * DESIGN.md "Receipts").
 */
#include "store/ledger.h"

#include "crypto/hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void cs_ledger_txid_format(uint64_t term, uint64_t seqno, char out[CS_LEDGER_TXID_MAX])
{
    snprintf(out, CS_LEDGER_TXID_MAX, "%" PRIu64 ".%" PRIu64, term, seqno);
}

/* One decimal number of `s` from *pos up to `stop` (or the end): digits
 * only, no leading zero, at most 20 digits and no overflow, >= 1. */
static bool parse_decimal(cs_slice s, size_t *pos, char stop, uint64_t *out)
{
    size_t start = *pos;
    uint64_t v = 0;
    while (*pos < s.len && s.ptr[*pos] != (uint8_t)stop) {
        uint8_t ch = s.ptr[*pos];
        if (ch < '0' || ch > '9')
            return false;
        uint64_t d = (uint64_t)(ch - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        (*pos)++;
    }
    size_t digits = *pos - start;
    if (digits == 0 || (s.ptr[start] == '0') || v == 0)
        return false;
    *out = v;
    return true;
}

consort_err cs_ledger_txid_parse(cs_slice s, uint64_t *term, uint64_t *seqno)
{
    size_t pos = 0;
    uint64_t t, n;
    /* DESIGN.md "Transaction id": <term>.<seqno>, decimal, both >= 1 */
    bool ok = s.len < CS_LEDGER_TXID_MAX && parse_decimal(s, &pos, '.', &t) && pos < s.len;
    if (ok) {
        pos++; /* the '.' */
        ok = parse_decimal(s, &pos, '\0', &n) && pos == s.len;
    }
    CS_ENSURE(ok, CONSORT_E_MALFORMED,
              "transaction id \"%.*s\": expected <term>.<seqno>, decimal numbers >= 1 "
              "without leading zeros",
              (int)(s.len < 40 ? s.len : 40), (const char *)s.ptr);
    CS_ENSURE(t <= CS_LEDGER_TERM_MAX, CONSORT_E_MALFORMED,
              "transaction id: term %" PRIu64 " exceeds 2^32-1", t);
    *term = t;
    *seqno = n;
    return CONSORT_OK;
}

consort_err cs_ledger_commit_evidence(const uint8_t secret[CS_LEDGER_SECRET_LEN], uint64_t term,
                                      uint64_t seqno, char out[CS_LEDGER_CE_MAX])
{
    char txid[CS_LEDGER_TXID_MAX];
    cs_ledger_txid_format(term, seqno, txid);
    /* docs/ledger.md §2: info = "consort commit evidence " || "<term>.<seqno>" */
    char info[64];
    int n = snprintf(info, sizeof info, "consort commit evidence %s", txid);
    uint8_t okm[32];
    CS_TRY_CTX(cs_hkdf_sha256(CS_SLICE(secret, CS_LEDGER_SECRET_LEN), CS_SLICE_EMPTY,
                              CS_SLICE(info, (size_t)n), okm, sizeof okm),
               "commit evidence");
    char hex[2 * sizeof okm + 1];
    cs_hex_encode(CS_SLICE(okm, sizeof okm), hex);
    snprintf(out, CS_LEDGER_CE_MAX, "ce:%s:%s", txid, hex);
    cs_wipe(okm, sizeof okm);
    cs_wipe(hex, sizeof hex);
    return CONSORT_OK;
}

void cs_ledger_commit_evidence_digest(cs_slice ce, uint8_t out[CS_LEDGER_DIGEST_LEN])
{
    cs_sha256(ce, out);
}

void cs_ledger_leaf_from_components(const uint8_t write_set_digest[CS_LEDGER_DIGEST_LEN],
                                    const uint8_t ce_digest[CS_LEDGER_DIGEST_LEN],
                                    const uint8_t claims_digest[CS_LEDGER_DIGEST_LEN],
                                    uint8_t out[CS_MERKLE_HASH_LEN])
{
    /* DESIGN.md "Receipts": leaf entry (96 bytes) = write_set_digest ||
     * SHA-256(commit evidence) || claims digest; RFC 9162 §2.1.1 leaf hash */
    uint8_t leaf_entry[3 * CS_LEDGER_DIGEST_LEN];
    memcpy(leaf_entry, write_set_digest, CS_LEDGER_DIGEST_LEN);
    memcpy(leaf_entry + CS_LEDGER_DIGEST_LEN, ce_digest, CS_LEDGER_DIGEST_LEN);
    memcpy(leaf_entry + 2 * CS_LEDGER_DIGEST_LEN, claims_digest, CS_LEDGER_DIGEST_LEN);
    cs_merkle_leaf_hash(CS_SLICE(leaf_entry, sizeof leaf_entry), out);
}

void cs_ledger_leaf_hash(const cs_ledger_entry *e, uint8_t out[CS_MERKLE_HASH_LEN])
{
    uint8_t ws_digest[CS_LEDGER_DIGEST_LEN];
    cs_sha256(e->raw, ws_digest);
    cs_ledger_leaf_from_components(ws_digest, e->commit_evidence_digest, e->claims_digest, out);
}
