/*
 * A snapshot's bytes (the format is in replica_snapshot.c): opened with
 * the ledger keys and decoded, its signature entry authenticated, the tree
 * it carries rebuilt from its peaks. Nothing here uses a replica, so the
 * threadpool worker of a restart's read-back (replica_rebuild.c) opens
 * the snapshot copy a joined node's ledger starts after with the same
 * code as the installer (replica_snapcheck.c).
 */
#include "node/replica_priv.h"

#include "base/cbor.h"
#include "crypto/aead.h"
#include "crypto/rand.h"

#include <string.h>

consort_err replica_snap_open(cs_ledger_keys *keys, cs_slice data, cs_buf *plain, replica_snap *s)
{
    cs_cursor c;
    cs_cursor_init(&c, data);
    cs_slice magic, nonce;
    CS_TRY_CTX(cs_cursor_read_slice(&c, 8, &magic), "snapshot");
    const unsigned format = cs_slice_eq(magic, CS_SLICE_LIT(REPLICA_SNAP_MAGIC))     ? 3
                            : cs_slice_eq(magic, CS_SLICE_LIT(REPLICA_SNAP_MAGIC_2)) ? 2
                                                                                     : 0;
    CS_ENSURE(format != 0, CONSORT_E_MALFORMED,
              "snapshot: bad magic (not a snapshot of format 3, CSSNAP03, or 2, CSSNAP02)");
    CS_TRY_CTX(cs_cursor_read_slice(&c, CS_AEAD_NONCE_LEN, &nonce), "snapshot");
    uint8_t key[32];
    CS_TRY(cs_ledger_keys_derive(keys, format == 3 ? REPLICA_SNAP_INFO : REPLICA_SNAP_INFO_2, key));
    consort_err rc = cs_aead_open(key, nonce.ptr, magic, cs_cursor_rest(&c), plain);
    cs_wipe(key, sizeof key);
    CS_TRY(rc);
    return replica_snap_decode(cs_buf_slice(plain), format, s);
}

consort_err replica_snap_decode(cs_slice p, unsigned format, replica_snap *s)
{
    s->format = format;
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, p);
    uint64_t pairs;
    CS_TRY(cs_cbor_read_map(&r, &pairs));
    CS_ENSURE(pairs == 7, CONSORT_E_MALFORMED, "snapshot: %llu members, expected 7",
              (unsigned long long)pairs);
    CS_TRY_CTX(cs_cbor_read_key(&r, "seqno"), "snapshot");
    CS_TRY(cs_cbor_read_uint(&r, &s->seqno));
    CS_TRY_CTX(cs_cbor_read_key(&r, "term"), "snapshot");
    CS_TRY(cs_cbor_read_uint(&r, &s->term));
    CS_TRY_CTX(cs_cbor_read_key(&r, "terms"), "snapshot");
    CS_TRY(cs_cbor_read_raw(&r, &s->terms_raw));
    CS_TRY_CTX(cs_cbor_read_key(&r, format == 2 ? "leaves" : "peaks"), "snapshot");
    CS_TRY(cs_cbor_read_bytes(&r, &s->peaks));
    CS_TRY_CTX(cs_cbor_read_key(&r, "sig"), "snapshot");
    CS_TRY(cs_cbor_read_bytes(&r, &s->sig));
    CS_TRY_CTX(cs_cbor_read_key(&r, "kv"), "snapshot");
    CS_TRY(cs_cbor_read_bytes(&r, &s->kv));
    CS_TRY_CTX(cs_cbor_read_key(&r, "tail"), "snapshot");
    CS_TRY(cs_cbor_read_raw(&r, &s->tail_raw));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_ENSURE(s->seqno >= 1 && s->seqno < UINT64_MAX, CONSORT_E_MALFORMED,
              "snapshot: checkpoint at seqno %llu", (unsigned long long)s->seqno);
    if (format == 2) {
        CS_ENSURE(s->seqno <= SIZE_MAX / CS_MERKLE_HASH_LEN &&
                      s->peaks.len == (size_t)s->seqno * CS_MERKLE_HASH_LEN,
                  CONSORT_E_MALFORMED, "snapshot: %zu bytes of leaves for seqno %llu", s->peaks.len,
                  (unsigned long long)s->seqno);
        return CONSORT_OK;
    }
    const size_t peaks = (size_t)__builtin_popcountll(s->seqno - 1);
    CS_ENSURE(s->peaks.len == peaks * CS_MERKLE_HASH_LEN, CONSORT_E_MALFORMED,
              "snapshot: %zu bytes of peaks for seqno %llu, expected %zu (%zu hashes)",
              s->peaks.len, (unsigned long long)s->seqno, peaks * CS_MERKLE_HASH_LEN, peaks);
    return CONSORT_OK;
}

/* The tree of entries 1 .. S - 1 from its peaks (S signs its root: the
 * caller checks it), then S's own leaf. Format 2 carries every leaf 1 .. S:
 * its last must be S's, and the peaks are taken from the others. */
static consort_err tree_of(const replica_snap *s, const cs_ledger_entry *sig, cs_merkle_tree **out)
{
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(sig, leaf);
    cs_slice peaks = s->peaks;
    uint8_t made[CS_MERKLE_PEAKS_MAX][CS_MERKLE_HASH_LEN];
    if (s->format == 2) {
        CS_ENSURE(cs_ct_equal(CS_SLICE(leaf, sizeof leaf),
                              CS_SLICE(s->peaks.ptr + (s->seqno - 1) * CS_MERKLE_HASH_LEN,
                                       CS_MERKLE_HASH_LEN)),
                  CONSORT_E_BAD_PROOF, "snapshot: leaf %llu is not its signature entry",
                  (unsigned long long)s->seqno);
        cs_merkle_tree *whole;
        CS_TRY(cs_merkle_new(&whole));
        consort_err rc = CONSORT_OK;
        for (uint64_t i = 0; i + 1 < s->seqno && rc == CONSORT_OK; i++)
            rc = cs_merkle_append_hash(whole, s->peaks.ptr + i * CS_MERKLE_HASH_LEN);
        size_t n = 0;
        if (rc == CONSORT_OK)
            rc = cs_merkle_peaks(whole, s->seqno - 1, made[0], &n);
        cs_merkle_free(whole);
        CS_TRY(rc);
        peaks = CS_SLICE(made[0], n * CS_MERKLE_HASH_LEN);
    }
    CS_TRY_CTX(
        cs_merkle_new_from_peaks(s->seqno - 1, peaks.ptr, peaks.len / CS_MERKLE_HASH_LEN, out),
        "snapshot at %llu", (unsigned long long)s->seqno);
    return cs_merkle_append_hash(*out, leaf);
}

consort_err replica_snap_sig(cs_ledger_keys *keys, const replica_snap *s, cs_ledger_entry *e)
{
    const unsigned long long seqno = (unsigned long long)s->seqno;
    CS_TRY_CTX(cs_ledger_entry_decode(s->sig, e), "snapshot: signature entry");
    CS_ENSURE(e->kind == CS_LEDGER_KIND_SIGNATURE && e->seqno == s->seqno && e->term == s->term,
              CONSORT_E_MALFORMED,
              "snapshot at %llu (term %llu): its checkpoint is a %s entry %llu of term %llu", seqno,
              (unsigned long long)s->term, cs_ledger_kind_name(e->kind),
              (unsigned long long)e->seqno, (unsigned long long)e->term);
    cs_buf none;
    cs_buf_init_secret(&none, 16);
    consort_err rc = cs_ledger_entry_open(e, keys, &none);
    cs_buf_cleanup(&none);
    CS_TRY_CTX(rc, "snapshot: signature entry %llu", seqno);
    return CONSORT_OK;
}

consort_err replica_snap_tree(const replica_snap *s, const cs_ledger_entry *sig,
                              cs_merkle_tree **out)
{
    *out = NULL;
    consort_err rc = tree_of(s, sig, out);
    if (rc != CONSORT_OK) {
        cs_merkle_free(*out);
        *out = NULL;
    }
    return rc;
}
