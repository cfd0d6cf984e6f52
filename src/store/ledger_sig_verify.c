/*
 * The cryptographic checks of a signature entry (docs/ledger.md section 4):
 * the node certificate's key is the COSE kid and the node_id, the
 * COSE_Sign1 over the root and the one over the checkpoint record both
 * verify under it, and the certificate chains to the pinned service
 * certificate.
 */
#include "store/ledger.h"

#include "crypto/hash.h"

#include <string.h>
#include <time.h>

void cs_ledger_cert_cache_cleanup(cs_ledger_cert_cache *c)
{
    if (c == NULL)
        return;
    cs_key_free(c->key);
    memset(c, 0, sizeof *c);
}

/* The curve each alg is used with here (RFC 9053 §2.1 pairs them). */
static consort_err check_alg_curve(cs_cose_alg alg, const cs_key *key)
{
    cs_curve want = alg == CS_COSE_ES256 ? CS_CURVE_P256 : CS_CURVE_P384;
    CS_ENSURE(cs_key_curve(key) == want, CONSORT_E_BAD_SIGNATURE,
              "alg %s with a %s node key (expected %s)", cs_cose_alg_name(alg),
              cs_curve_name(cs_key_curve(key)), cs_curve_name(want));
    return CONSORT_OK;
}

/* kid == SHA-256(SPKI DER) (DESIGN.md "Receipts"), node_id == hex of its first
 * 8 bytes (docs/ledger.md §4.1). */
static consort_err check_ids(const cs_ledger_sig *s, const cs_key *key)
{
    uint8_t kid[CS_SHA256_LEN];
    CS_TRY(cs_key_id(key, kid));
    CS_ENSURE(cs_slice_eq(s->kid, CS_SLICE(kid, sizeof kid)), CONSORT_E_BAD_SIGNATURE,
              "COSE kid is not the id of the node certificate's key");
    char want[CS_LEDGER_NODE_ID_LEN + 1];
    cs_hex_encode(CS_SLICE(kid, CS_LEDGER_NODE_ID_LEN / 2), want);
    CS_ENSURE(cs_slice_eq(s->node_id, cs_slice_str(want)), CONSORT_E_MALFORMED,
              "node_id %.*s is not the node certificate's key id %s", (int)s->node_id.len,
              (const char *)s->node_id.ptr, want);
    return CONSORT_OK;
}

static consort_err check_chain(const cs_x509 *cert, const cs_x509 *service_cert, int64_t now)
{
    if (now == CS_LEDGER_SIG_ANY_TIME) {
        /* ledger.h: a time at which both the node certificate and the service
         * certificate were valid, the latest start of the two (none: the
         * current time, which then fails with the reason) */
        int64_t from, to, sfrom, sto;
        CS_TRY_CTX(cs_x509_validity(cert, &from, &to), "node certificate");
        CS_TRY_CTX(cs_x509_validity(service_cert, &sfrom, &sto), "service certificate");
        int64_t start = from > sfrom ? from : sfrom, end = to < sto ? to : sto;
        now = start <= end ? start : (int64_t)time(NULL);
    }
    cs_x509 *const roots[1] = {(cs_x509 *)service_cert};
    cs_x509_verify_opts opts = {.now = now};
    CS_TRY_CTX(cs_x509_verify_chain(cert, NULL, 0, roots, 1, &opts, NULL),
               "node certificate does not chain to the service certificate");
    return CONSORT_OK;
}

/* The node key of `s->cert`, verified to chain to the service (or taken from
 * the cache when the certificate is the one verified last). */
static consort_err node_key(const cs_ledger_sig *s, const cs_x509 *service_cert, int64_t now,
                            cs_ledger_cert_cache *cache, cs_key **key)
{
    uint8_t fp[CS_SHA256_LEN], service_fp[CS_SHA256_LEN] = {0};
    cs_sha256(s->cert, fp);
    if (cache != NULL)
        CS_TRY(cs_x509_fingerprint(service_cert, service_fp));
    if (cache != NULL && cache->valid && memcmp(cache->fingerprint, fp, sizeof fp) == 0 &&
        memcmp(cache->service_fingerprint, service_fp, sizeof service_fp) == 0 &&
        cache->now == now) {
        *key = cs_key_ref(cache->key);
        return CONSORT_OK;
    }
    cs_x509 *cert = NULL;
    CS_TRY_CTX(cs_x509_from_der(s->cert, &cert), "node certificate");
    consort_err rc = check_chain(cert, service_cert, now);
    if (rc == CONSORT_OK)
        rc = cs_x509_public_key(cert, key);
    cs_x509_free(cert);
    CS_TRY(rc);
    if (cache != NULL) {
        cs_ledger_cert_cache_cleanup(cache);
        memcpy(cache->fingerprint, fp, sizeof fp);
        memcpy(cache->service_fingerprint, service_fp, sizeof service_fp);
        cache->now = now;
        cache->key = cs_key_ref(*key);
        cache->valid = true;
    }
    return CONSORT_OK;
}

/* The two signatures: over the root, and over the checkpoint record. */
static consort_err check_signatures(const cs_ledger_sig *s, const cs_key *key)
{
    cs_cose_verify_opts opts = {.detached_payload = &s->root};
    CS_TRY_CTX(cs_cose_sign1_verify(&s->msg, key, &opts), "cose (the root)");
    cs_buf record;
    cs_buf_init(&record, 0);
    consort_err rc =
        cs_ledger_checkpoint_payload(s->tree_size, s->root, s->state, s->terms, &record);
    if (rc == CONSORT_OK) {
        cs_slice payload = cs_buf_slice(&record);
        opts.detached_payload = &payload;
        rc = cs_cose_sign1_verify(&s->checkpoint_msg, key, &opts);
        if (rc != CONSORT_OK)
            rc = cs_err_context(rc, "checkpoint (tree_size, root, state, terms)");
    }
    cs_buf_cleanup(&record);
    return rc;
}

consort_err cs_ledger_sig_verify(const cs_ledger_sig *s, const cs_x509 *service_cert, int64_t now,
                                 cs_ledger_cert_cache *cache)
{
    const unsigned long long seqno = (unsigned long long)s->seqno;
    cs_key *key = NULL;
    CS_TRY_CTX(node_key(s, service_cert, now, cache, &key), "signature entry %llu", seqno);
    consort_err rc = check_ids(s, key);
    if (rc == CONSORT_OK)
        rc = check_alg_curve(s->alg, key);
    if (rc == CONSORT_OK)
        rc = check_signatures(s, key);
    cs_key_free(key);
    CS_TRY_CTX(rc, "signature entry %llu", seqno);
    return CONSORT_OK;
}
