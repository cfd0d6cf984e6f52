/*
 * Checking a snapshot (the format is in replica_snapshot.c): decoding its
 * plaintext, rebuilding the checkpoint aside and checking it against the
 * signature entry it carries, and walking and applying its tail. Nothing
 * here touches the replica's own state: everything is built in a
 * `replica_staged` that the installer swaps in or throws away.
 */
#include "node/replica_priv.h"

#include "base/cbor.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <string.h>

void replica_staged_cleanup(replica_staged *st)
{
    cs_merkle_free(st->tree);
    replica_index_cleanup(&st->idx);
    cs_kv_store_free(st->kv);
    memset(st, 0, sizeof *st);
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

/* Term runs into a fresh index (base seqno + 1), strictly increasing, the
 * first at seqno 1. */
static consort_err decode_terms(cs_slice raw, uint64_t seqno, replica_index *x)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, raw);
    uint64_t count;
    CS_TRY(cs_cbor_read_array(&r, &count));
    uint64_t prev_first = 0, prev_term = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t pair, first, term;
        CS_TRY(cs_cbor_read_array(&r, &pair));
        CS_ENSURE(pair == 2, CONSORT_E_MALFORMED, "snapshot: term run of %llu items",
                  (unsigned long long)pair);
        CS_TRY(cs_cbor_read_uint(&r, &first));
        CS_TRY(cs_cbor_read_uint(&r, &term));
        CS_ENSURE(first > prev_first && term > prev_term && first <= seqno && (i > 0 || first == 1),
                  CONSORT_E_MALFORMED, "snapshot: term run %llu (%llu from %llu) out of order",
                  (unsigned long long)i, (unsigned long long)term, (unsigned long long)first);
        CS_TRY(replica_index_add_term(x, first, term));
        prev_first = first;
        prev_term = term;
    }
    return cs_cbor_expect_end(&r);
}

/* The tree of entries 1 .. S - 1 from its peaks (S signs its root: the
 * caller checks it), then S's own leaf. Format 2 carries every leaf 1 .. S:
 * its last must be S's, and the peaks are taken from the others. */
static consort_err stage_tree(const replica_snap *s, const cs_ledger_entry *sig, replica_staged *st)
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
    CS_TRY_CTX(cs_merkle_new_from_peaks(s->seqno - 1, peaks.ptr, peaks.len / CS_MERKLE_HASH_LEN,
                                        &st->tree),
               "snapshot at %llu", (unsigned long long)s->seqno);
    return cs_merkle_append_hash(st->tree, leaf);
}

/*
 * The checkpoint: tree, term runs and store rebuilt aside and checked
 * against the signature entry S that the snapshot carries.
 */
consort_err replica_stage_checkpoint(node_replica *r, const replica_snap *s, replica_staged *st)
{
    const unsigned long long seqno = (unsigned long long)s->seqno;
    replica_index_reset(&st->idx, s->seqno + 1);
    CS_TRY(decode_terms(s->terms_raw, s->seqno, &st->idx));
    CS_ENSURE(replica_index_term(&st->idx, s->seqno) == s->term, CONSORT_E_MALFORMED,
              "snapshot at %llu: its term runs do not give its term %llu", seqno,
              (unsigned long long)s->term);

    cs_ledger_entry e;
    CS_TRY_CTX(cs_ledger_entry_decode(s->sig, &e), "snapshot: signature entry");
    CS_ENSURE(e.kind == CS_LEDGER_KIND_SIGNATURE && e.seqno == s->seqno && e.term == s->term,
              CONSORT_E_MALFORMED,
              "snapshot at %llu (term %llu): its checkpoint is a %s entry %llu of term %llu", seqno,
              (unsigned long long)s->term, cs_ledger_kind_name(e.kind), (unsigned long long)e.seqno,
              (unsigned long long)e.term);
    cs_buf none;
    cs_buf_init_secret(&none, 16);
    consort_err rc = cs_ledger_entry_open(&e, &r->keys, &none);
    cs_buf_cleanup(&none);
    CS_TRY_CTX(rc, "snapshot: signature entry %llu", seqno);
    CS_TRY(stage_tree(s, &e, st));

    CS_TRY(cs_kv_store_new(NULL, &st->kv));
    CS_TRY(cs_kv_store_exclude_from_digest(st->kv, CS_SLICE_LIT(CS_LEDGER_SIG_MAP)));
    CS_TRY_CTX(cs_kv_restore(st->kv, s->kv), "snapshot at %llu: store", seqno);
    CS_ENSURE(cs_kv_last_seqno(st->kv) == s->seqno, CONSORT_E_MALFORMED,
              "snapshot: store at seqno %llu, snapshot at %llu",
              (unsigned long long)cs_kv_last_seqno(st->kv), seqno);
    /* the signature entry writes only the excluded map: the digest of the
     * store at S is the digest after entries 1 .. S - 1 that S signs */
    uint8_t state[CS_KV_STATE_DIGEST_LEN];
    CS_TRY(replica_state_digest(r, st->kv, state));
    CS_TRY_CTX(replica_check_signature(r, &e, st->tree, state, &st->idx, NULL), "snapshot at %llu",
               seqno);
    st->applied = st->applied_sig = s->seqno;
    st->applied_term = s->term;
    st->last_sig = s->sig;
    return CONSORT_OK;
}

consort_err replica_each_tail_entry(node_replica *r, const replica_snap *s, replica_staged *st,
                                    replica_tail_fn fn, void *ctx)
{
    cs_cbor_reader rd;
    cs_cbor_reader_init(&rd, s->tail_raw);
    uint64_t count;
    CS_TRY(cs_cbor_read_array(&rd, &count));
    uint64_t prev_term = s->term;
    for (uint64_t i = 0; i < count; i++) {
        cs_slice raw;
        cs_ledger_entry e;
        CS_TRY(cs_cbor_read_bytes(&rd, &raw));
        CS_TRY_CTX(cs_ledger_entry_decode(raw, &e), "snapshot tail entry %llu",
                   (unsigned long long)i);
        CS_ENSURE(e.seqno == s->seqno + 1 + i && e.term >= prev_term, CONSORT_E_MALFORMED,
                  "snapshot tail: entry %llu of term %llu where %llu (term >= %llu) was expected",
                  (unsigned long long)e.seqno, (unsigned long long)e.term,
                  (unsigned long long)(s->seqno + 1 + i), (unsigned long long)prev_term);
        prev_term = e.term;
        CS_TRY(fn(r, st, &e, ctx));
    }
    return cs_cbor_expect_end(&rd);
}

/* Full install: a tail entry applied to the staged state, like a follower
 * applies a committed entry. */
consort_err replica_stage_tail_entry(node_replica *r, replica_staged *st, const cs_ledger_entry *e,
                                     void *ctx)
{
    (void)ctx;
    cs_buf priv;
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_ledger_entry_open(e, &r->keys, &priv), out);
    if (e->kind == CS_LEDGER_KIND_SIGNATURE) {
        uint8_t state[CS_KV_STATE_DIGEST_LEN];
        CS_TRY_GOTO(rc, replica_state_digest(r, st->kv, state), out);
        CS_TRY_GOTO(rc, replica_check_signature(r, e, st->tree, state, &st->idx, NULL), out);
    }
    CS_TRY_GOTO(rc, cs_kv_apply(st->kv, e->seqno, e->public_ws, cs_buf_slice(&priv)), out);
out:
    cs_buf_cleanup(&priv);
    CS_TRY_CTX(rc, "snapshot tail entry %llu", (unsigned long long)e->seqno);
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(e, leaf);
    CS_TRY(cs_merkle_append_hash(st->tree, leaf));
    bool sig = e->kind == CS_LEDGER_KIND_SIGNATURE;
    CS_TRY(replica_index_add(&st->idx, e->seqno, e->term, sig, e->raw.len, r->opts.chunk_size));
    if (sig) {
        st->applied_sig = e->seqno;
        st->last_sig = e->raw;
        cs_kv_compact(st->kv, e->seqno);
    }
    st->applied = e->seqno;
    st->applied_term = e->term;
    st->tail_count++;
    return CONSORT_OK;
}
