/*
 * Checking a snapshot (the format is in replica_snapshot.c; its bytes are
 * opened and decoded by replica_snapfile.c): rebuilding the checkpoint
 * aside and checking it against the signature entry it carries, and
 * walking and applying its tail. Nothing
 * here touches the replica's own state: everything is built in a
 * `replica_staged` that the installer swaps in or throws away.
 */
#include "node/replica_priv.h"

#include "base/cbor.h"
#include "base/log.h"

#include <string.h>

void replica_staged_cleanup(replica_staged *st)
{
    cs_merkle_free(st->tree);
    replica_index_cleanup(&st->idx);
    cs_kv_store_free(st->kv);
    memset(st, 0, sizeof *st);
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
    CS_TRY(replica_snap_sig(&r->keys, s, &e));
    CS_TRY(replica_snap_tree(s, &e, &st->tree));

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
