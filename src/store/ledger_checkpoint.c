/*
 * What a signature entry states besides the root (docs/ledger.md 4.2): the
 * checkpoint record its second COSE_Sign1 signs, and the terms digest of
 * the entries before it.
 *
 *   checkpoint record = CBOR ["consort checkpoint v2", tree_size, root,
 *                             state, terms]       (tstr, uint, bstr32 x 3)
 *   terms digest of T = SHA-256(CBOR [* [first_seqno, term]]), one pair per
 *                       maximal run of equal terms among entries 1 .. T
 *
 * Both are canonical CBOR (RFC 8949 §4.2.1: definite lengths, shortest
 * heads), which is what the writer of base/cbor.h produces.
 */
#include "store/ledger.h"

#include "base/cbor.h"
#include "crypto/hash.h"

#include <inttypes.h>

#define CHECKPOINT_LABEL "consort checkpoint v2"

static consort_err write_checkpoint(uint64_t tree_size, cs_slice root, cs_slice state,
                                    cs_slice terms, cs_buf *out)
{
    CS_TRY(cs_cbor_write_array(out, 5));
    CS_TRY(cs_cbor_write_cstr(out, CHECKPOINT_LABEL));
    CS_TRY(cs_cbor_write_uint(out, tree_size));
    CS_TRY(cs_cbor_write_bytes(out, root));
    CS_TRY(cs_cbor_write_bytes(out, state));
    return cs_cbor_write_bytes(out, terms);
}

consort_err cs_ledger_checkpoint_payload(uint64_t tree_size, cs_slice root, cs_slice state,
                                         cs_slice terms, cs_buf *out)
{
    CS_ENSURE(root.len == CS_MERKLE_HASH_LEN && state.len == CS_LEDGER_DIGEST_LEN &&
                  terms.len == CS_LEDGER_DIGEST_LEN,
              CONSORT_E_INVALID_ARGUMENT,
              "checkpoint record: root, state and terms must be 32 bytes each (%zu, %zu, %zu)",
              root.len, state.len, terms.len);
    size_t start = out->len;
    consort_err rc = write_checkpoint(tree_size, root, state, terms, out);
    if (rc != CONSORT_OK)
        out->len = start;
    return rc;
}

/* The runs that start at or before tree_size, after checking the list. */
static consort_err count_runs(const cs_ledger_term_run *runs, size_t count, uint64_t tree_size,
                              size_t *covered)
{
    CS_ENSURE(count > 0 || tree_size == 0, CONSORT_E_INVALID_ARGUMENT,
              "terms digest: no runs for %" PRIu64 " entries", tree_size);
    CS_ENSURE(count == 0 || runs[0].first_seqno == 1, CONSORT_E_INVALID_ARGUMENT,
              "terms digest: the first run starts at seqno %" PRIu64 ", not 1",
              runs[0].first_seqno);
    *covered = 0;
    for (size_t i = 0; i < count; i++) {
        CS_ENSURE(runs[i].term >= 1 && runs[i].term <= CS_LEDGER_TERM_MAX,
                  CONSORT_E_INVALID_ARGUMENT, "terms digest: run %zu has term %" PRIu64, i,
                  runs[i].term);
        CS_ENSURE(i == 0 || (runs[i].first_seqno > runs[i - 1].first_seqno &&
                             runs[i].term > runs[i - 1].term),
                  CONSORT_E_INVALID_ARGUMENT,
                  "terms digest: run %zu (seqno %" PRIu64 ", term %" PRIu64
                  ") does not follow the one before it in seqno and term",
                  i, runs[i].first_seqno, runs[i].term);
        if (runs[i].first_seqno <= tree_size)
            *covered = i + 1;
    }
    return CONSORT_OK;
}

consort_err cs_ledger_terms_digest(const cs_ledger_term_run *runs, size_t count, uint64_t tree_size,
                                   uint8_t out[CS_LEDGER_DIGEST_LEN])
{
    size_t covered = 0;
    CS_TRY(count_runs(runs, count, tree_size, &covered));
    /* hashed as it is encoded, a few pairs at a time */
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_hash_ctx h;
    consort_err rc = cs_hash_init(&h, CS_HASH_SHA256);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_array(&b, covered);
    for (size_t i = 0; rc == CONSORT_OK && i < covered; i++) {
        rc = cs_cbor_write_array(&b, 2);
        if (rc == CONSORT_OK)
            rc = cs_cbor_write_uint(&b, runs[i].first_seqno);
        if (rc == CONSORT_OK)
            rc = cs_cbor_write_uint(&b, runs[i].term);
        if (rc == CONSORT_OK && b.len >= 4096) {
            cs_hash_update(&h, cs_buf_slice(&b));
            cs_buf_reset(&b);
        }
    }
    if (rc == CONSORT_OK) {
        cs_hash_update(&h, cs_buf_slice(&b));
        cs_hash_final(&h, out);
    }
    cs_buf_cleanup(&b);
    return rc;
}
