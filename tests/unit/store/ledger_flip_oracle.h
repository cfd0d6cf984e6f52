/*
 * The oracle of the ledger tampering tests (test_ledger_verify.c,
 * test_ledger_random.c): for one flipped bit of an entry's frame, the entry
 * the offline verifier must name, its error and the words of the check.
 */
#ifndef CONSORT_TEST_LEDGER_FLIP_ORACLE_H
#define CONSORT_TEST_LEDGER_FLIP_ORACLE_H

#include "ledger_fixture.h"

/* What the verifier must report for one flipped byte: the entry, the
 * error (one of `codes`, most often exactly one), words of the message. */
typedef struct flip_want {
    uint64_t seqno;
    consort_err codes[6];
    const char *why; /* NULL: any words */
} flip_want;

#define WANT(s, w, ...) ((flip_want){.seqno = (s), .why = (w), .codes = {__VA_ARGS__}})

static inline bool inside(const uint8_t *at, cs_slice s)
{
    return at >= s.ptr && at < s.ptr + s.len;
}

static inline uint64_t entry_term(const lfx_ledger *l, uint64_t seqno)
{
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&l->entries[seqno - 1]), &e));
    return e.term;
}

/*
 * The oracle for a bit flipped at byte `rel` of the frame of entry k (frame
 * length included), written from docs/ledger.md and the verifier's order:
 * the reader first (frame, decode, contiguous seqnos, terms that never
 * decrease), then a signature entry's own checks, then the Merkle root at
 * the first signature entry after k (`upto`), which covers every byte of
 * every entry through its leaf.
 */
static inline flip_want want_for_flip(const lfx_ledger *l, uint64_t k, const uint8_t *flipped_frame,
                                      size_t rel, uint64_t upto)
{
    const cs_buf *orig = &l->entries[k - 1];
    if (rel < 4) /* the frame length: the frames no longer line up */
        return WANT(k, NULL, CONSORT_E_CORRUPT);
    cs_ledger_entry e0, e1;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(orig), &e0));
    if (cs_ledger_entry_decode(CS_SLICE(flipped_frame + 4, orig->len), &e1) != CONSORT_OK)
        return WANT(k, NULL, CONSORT_E_CORRUPT); /* the reader names the decode error */
    if (e1.seqno != e0.seqno)
        return WANT(k, NULL, CONSORT_E_CORRUPT);
    bool sig = e0.kind == CS_LEDGER_KIND_SIGNATURE;
    if (e1.term != e0.term) {
        if (sig && e1.kind == e0.kind)
            return WANT(k, "signs term", CONSORT_E_MALFORMED);
        if (k > 1 && e1.term < entry_term(l, k - 1))
            return WANT(k, "is lower than the previous entry's term", CONSORT_E_CORRUPT);
        if (k < l->count && entry_term(l, k + 1) < e1.term)
            return WANT(k + 1, "is lower than the previous entry's term", CONSORT_E_CORRUPT);
    }
    if (!sig || e1.kind != e0.kind)
        return WANT(upto, "signed root is not the root", CONSORT_E_BAD_PROOF);
    /* a signature entry: the field of its record that holds the byte */
    cs_ledger_sig sg;
    cst_ok(cs_ledger_sig_parse(&e0, &sg));
    const uint8_t *at = orig->ptr + (rel - 4);
    if (inside(at, CS_SLICE(e0.key_salt, CS_LEDGER_SALT_LEN)) ||
        inside(at, CS_SLICE(e0.commit_evidence_digest, 32)) || inside(at, e0.tag))
        return WANT(upto, "signed root is not the root", CONSORT_E_BAD_PROOF); /* leaf only */
    if (inside(at, CS_SLICE(e0.claims_digest, 32)))
        return WANT(k, "claims digest is not zero", CONSORT_E_MALFORMED);
    if (inside(at, sg.root))
        return WANT(k, "signed root is not the root", CONSORT_E_BAD_PROOF);
    if (inside(at, sg.state) || inside(at, sg.terms))
        return WANT(k, NULL, CONSORT_E_BAD_SIGNATURE);
    if (inside(at, sg.node_id))
        return WANT(k, NULL, CONSORT_E_MALFORMED);
    if (inside(at, sg.cert)) /* DER structure, or the certificate's own signature */
        return WANT(k, NULL, CONSORT_E_BAD_CERTIFICATE, CONSORT_E_CRYPTO, CONSORT_E_MALFORMED,
                    CONSORT_E_TRUNCATED, CONSORT_E_TRAILING_DATA);
    if (inside(at, sg.cose) || inside(at, sg.checkpoint)) /* COSE structure or signature */
        return WANT(k, NULL, CONSORT_E_BAD_SIGNATURE, CONSORT_E_MALFORMED, CONSORT_E_TRUNCATED,
                    CONSORT_E_TRAILING_DATA, CONSORT_E_UNSUPPORTED, CONSORT_E_NOT_FOUND);
    /* the CBOR around the record's fields (a head turned indefinite-length is
     * refused as UNSUPPORTED, as in COSE above: about 1 ledger in 12 has such a
     * position among those flipped) */
    return WANT(k, NULL, CONSORT_E_MALFORMED, CONSORT_E_TRUNCATED, CONSORT_E_TRAILING_DATA,
                CONSORT_E_UNSUPPORTED);
}

static inline bool wanted_code(const flip_want *w, consort_err rc)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(w->codes) && w->codes[i] != CONSORT_OK; i++)
        if (w->codes[i] == rc)
            return true;
    return false;
}

#endif
