/*
 * The offline ledger verifier (`consort ledger verify`; docs/ledger.md
 * section 6). It trusts nothing in the directory: the reader checks frames,
 * entries, seqnos, terms and chunk names; here the Merkle tree and the term
 * runs are rebuilt from the entries alone, and every signature entry must
 * sign the root of the entries before it and a checkpoint whose terms
 * digest is theirs, under a node certificate that chains to the pinned
 * service certificate. Without the ledger secret it cannot check entry tags
 * or commit evidence, nor the state digest (docs/ledger.md 6.1).
 */
#include "store/ledger.h"

#include "base/alloc.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct verify_state {
    const cs_ledger_identity *ids;
    size_t id_count;
    const cs_x509 *cached_for; /* the certificate `cache` is valid for */
    int64_t now;
    cs_merkle_tree *tree;
    cs_ledger_cert_cache cache;
    cs_ledger_verify_report *rep;
    cs_ledger_term_run *runs; /* the term runs of the entries read so far */
    size_t runs_len, runs_cap;
} verify_state;

/* Entry `e` continues the last run or starts a new one (the reader has
 * checked that terms never decrease). */
static consort_err note_term(verify_state *st, const cs_ledger_entry *e)
{
    if (st->runs_len > 0 && st->runs[st->runs_len - 1].term == e->term)
        return CONSORT_OK;
    if (st->runs_len == st->runs_cap) {
        size_t cap = st->runs_cap ? 2 * st->runs_cap : 16;
        cs_ledger_term_run *runs = cs_realloc(st->runs, cap * sizeof *runs);
        CS_ENSURE(runs != NULL, CONSORT_E_NOMEM, "ledger verify: out of memory");
        st->runs = runs;
        st->runs_cap = cap;
    }
    st->runs[st->runs_len++] = (cs_ledger_term_run){.first_seqno = e->seqno, .term = e->term};
    return CONSORT_OK;
}

/* docs/ledger.md 4.2: the signed terms digest is the one of the entries
 * before the signature entry, as their headers say. */
static consort_err check_terms(verify_state *st, const cs_ledger_sig *sig)
{
    uint8_t terms[CS_LEDGER_DIGEST_LEN];
    CS_TRY(cs_ledger_terms_digest(st->runs, st->runs_len, sig->tree_size, terms));
    CS_ENSURE(cs_slice_eq(sig->terms, CS_SLICE(terms, sizeof terms)), CONSORT_E_BAD_PROOF,
              "signature entry %" PRIu64
              ": signed terms digest is not the one of the terms of the %" PRIu64
              " entries before it",
              sig->seqno, sig->tree_size);
    return CONSORT_OK;
}

/* A signature entry: root of the rebuilt tree (RFC 9162 §2.1.1 MTH over the
 * leaves 0 .. seqno - 2), then the signatures and certificate, then the
 * terms digest (after the signatures, so its cost is bounded by what a
 * genuine node signed). */
static consort_err check_signature(verify_state *st, const cs_ledger_entry *e)
{
    cs_ledger_sig sig;
    CS_TRY(cs_ledger_sig_parse(e, &sig));
    /* the reader guarantees contiguous seqnos from 1, so the tree holds
     * exactly seqno - 1 leaves here, and parse checked tree_size */
    uint8_t root[CS_MERKLE_HASH_LEN];
    cs_merkle_root(st->tree, root);
    CS_ENSURE(cs_slice_eq(sig.root, CS_SLICE(root, sizeof root)), CONSORT_E_BAD_PROOF,
              "signature entry %" PRIu64 ": signed root is not the root of the %" PRIu64
              " entries before it",
              e->seqno, sig.tree_size);
    const cs_x509 *service = cs_ledger_identity_for(st->ids, st->id_count, e->seqno);
    CS_ENSURE(service != NULL, CONSORT_E_BAD_CERTIFICATE,
              "signature entry %" PRIu64 ": no service identity signed at this seqno", e->seqno);
    if (service != st->cached_for) { /* a cache is valid for one service certificate */
        cs_ledger_cert_cache_cleanup(&st->cache);
        memset(&st->cache, 0, sizeof st->cache);
        st->cached_for = service;
    }
    CS_TRY(cs_ledger_sig_verify(&sig, service, st->now, &st->cache));
    return check_terms(st, &sig);
}

static consort_err check_record(verify_state *st, const cs_ledger_record *rec)
{
    const cs_ledger_entry *e = &rec->entry;
    CS_ENSURE(st->rep->entries > 0 || e->seqno == 1, CONSORT_E_CORRUPT,
              "the ledger starts at seqno %" PRIu64 ", not 1 (earlier chunks missing)", e->seqno);
    if (e->kind == CS_LEDGER_KIND_SIGNATURE) {
        CS_TRY(check_signature(st, e));
        st->rep->signatures++;
        st->rep->last_signed_seqno = e->seqno;
    }
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(e, leaf);
    CS_TRY(cs_merkle_append_hash(st->tree, leaf));
    CS_TRY(note_term(st, e));
    st->rep->entries++;
    st->rep->last_seqno = e->seqno;
    return CONSORT_OK;
}

static void note_where(cs_ledger_verify_report *rep, const char *file, uint64_t offset,
                       uint64_t seqno)
{
    snprintf(rep->file, sizeof rep->file, "%s", file);
    rep->offset = offset;
    rep->seqno = seqno;
}

static consort_err verify_all(verify_state *st, cs_ledger_reader *r)
{
    for (;;) {
        cs_ledger_record rec;
        bool done;
        consort_err rc = cs_ledger_reader_next(r, &rec, &done);
        if (rc != CONSORT_OK) {
            const char *file;
            uint64_t offset, seqno;
            cs_ledger_reader_where(r, &file, &offset, &seqno);
            note_where(st->rep, file, offset, seqno);
            return rc; /* the message already names file, offset and seqno */
        }
        if (done)
            return CONSORT_OK;
        note_where(st->rep, rec.file, rec.offset, rec.entry.seqno);
        rc = check_record(st, &rec);
        if (rc != CONSORT_OK)
            return cs_err_context(rc, "%s offset %" PRIu64 " seqno %" PRIu64, rec.file, rec.offset,
                                  rec.entry.seqno);
    }
}

const cs_x509 *cs_ledger_identity_for(const cs_ledger_identity *ids, size_t count, uint64_t seqno)
{
    for (size_t i = 0; i < count; i++)
        if (ids[i].last_seqno == 0 || seqno <= ids[i].last_seqno)
            return ids[i].cert;
    return NULL;
}

consort_err cs_ledger_verify(const char *dir, const cs_x509 *service_cert, int64_t now,
                             cs_ledger_verify_report *rep)
{
    const cs_ledger_identity one = {.cert = service_cert};
    return cs_ledger_verify_ids(dir, &one, 1, now, rep);
}

consort_err cs_ledger_verify_ids(const char *dir, const cs_ledger_identity *ids, size_t count,
                                 int64_t now, cs_ledger_verify_report *rep)
{
    memset(rep, 0, sizeof *rep);
    verify_state st = {.ids = ids, .id_count = count, .now = now, .rep = rep};
    cs_ledger_reader *r = NULL;
    CS_TRY(cs_ledger_reader_open(dir, &r));
    consort_err rc = cs_merkle_new(&st.tree);
    if (rc == CONSORT_OK)
        rc = verify_all(&st, r);
    rep->chunks = cs_ledger_reader_chunks(r);
    rep->torn_bytes = cs_ledger_reader_torn_bytes(r, &rep->torn_offset);
    rep->unsigned_entries = rep->last_seqno - rep->last_signed_seqno;
    if (rep->entries == 0 && rc == CONSORT_OK)
        rc = cs_fail(CONSORT_E_NOT_FOUND, "%s holds no ledger entries", dir);
    if (rc == CONSORT_OK && rep->last_signed_seqno == 0 && rep->entries > 0)
        cs_log_debug("ledger", "%s: no signature entry yet", dir);
    cs_ledger_cert_cache_cleanup(&st.cache);
    cs_free(st.runs);
    cs_merkle_free(st.tree);
    cs_ledger_reader_free(r);
    return rc;
}
