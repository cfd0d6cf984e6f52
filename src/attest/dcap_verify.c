/*
 * The DCAP verification pipeline (dcap.h, cs_dcap_verify): quote
 * signatures, PCK chain, collateral, TCB evaluation, in the order Intel's
 * QVL applies them. With a cache (cs_dcap_verify_cached), a context whose
 * steps 1 and 5-7 passed is kept, and later quotes with the same PCK chain
 * and endorsements run only steps 2-4, the QE identity match and step 8.
 */
#include "attest/dcap_pck.h"
#include "attest/dcap_tcb.h"
#include "attest/verify_cache.h"

#include "base/alloc.h"
#include "crypto/ec_pub.h"
#include "crypto/rand.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Everything one verification owns; freed by ctx_cleanup. With a cache, a
 * verified context becomes the entry (cs_dcap_verify_cached). */
typedef struct verify_ctx {
    cs_blob_list owned; /* with a cache: the copy of the endorsements `coll` borrows */
    cs_dcap_collateral coll;
    cs_x509 **pck_certs;
    size_t pck_count;
    cs_dcap_trust trust;
    bool trust_ready;
    int64_t now;
    bool root_crl;     /* a current Root CA CRL was given */
    char missing[384]; /* "; "-separated list of absent collateral */
    /* What steps 5-7 established (pointers into coll). */
    cs_sgx_pck_ext pck;
    const cs_dcap_tcb_info *tcb;
    const cs_dcap_qe_identity *qe_id;
    cs_key *ak; /* the last attestation key imported, and its x || y */
    uint8_t ak_xy[CS_DCAP_ATT_KEY_LEN];
} verify_ctx;

static void ctx_cleanup(verify_ctx *x)
{
    if (x->trust_ready)
        cs_dcap_trust_cleanup(&x->trust);
    cs_x509_list_free(x->pck_certs, x->pck_count);
    cs_dcap_collateral_cleanup(&x->coll);
    cs_blob_list_cleanup(&x->owned);
    cs_key_free(x->ak);
}

static void ctx_free(void *x)
{
    ctx_cleanup(x);
    cs_free(x);
}

static void note_missing(verify_ctx *x, const char *fmt, ...) CS_PRINTF(2, 3);

static void note_missing(verify_ctx *x, const char *fmt, ...)
{
    size_t used = strlen(x->missing);
    if (used > 0 && used + 2 < sizeof x->missing) {
        memcpy(x->missing + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->missing + used, sizeof x->missing - used, fmt, ap);
    va_end(ap);
}

/*
 * The quote's attestation key. A context keeps the last one it imported: a
 * platform's QE signs its quotes with one key, so a cached context imports
 * it once (the bytes are compared in full; an import costs a third of a
 * verification).
 */
static consort_err attestation_key(verify_ctx *x, const cs_dcap_quote *q, cs_key **out)
{
    if (x->ak != NULL && cs_slice_eq(q->att_key, CS_SLICE(x->ak_xy, sizeof x->ak_xy))) {
        *out = cs_key_ref(x->ak);
        return CONSORT_OK;
    }
    /* ec_pub.h: on P-256 the quick import is the full SP 800-56A validation. */
    consort_err rc = cs_ecpub_from_xy(CS_CURVE_P256, q->att_key, out);
    if (rc == CONSORT_E_NOMEM)
        return rc;
    if (rc != CONSORT_OK) {
        char why[160];
        snprintf(why, sizeof why, "%s", consort_errmsg());
        return cs_fail(CONSORT_E_BAD_SIGNATURE, "attestation key is not a P-256 point (%s)", why);
    }
    cs_key_free(x->ak);
    x->ak = cs_key_ref(*out);
    memcpy(x->ak_xy, q->att_key.ptr, sizeof x->ak_xy);
    return CONSORT_OK;
}

/* 2. [QVL 4.1.2.4.16] the attestation key's signature over header || body. */
static consort_err check_quote_signature(verify_ctx *x, const cs_dcap_quote *q)
{
    cs_key *ak = NULL;
    CS_TRY(attestation_key(x, q, &ak));
    consort_err rc = cs_ecdsa_verify(ak, CS_HASH_SHA256, q->signed_data, CS_SIG_RAW, q->signature);
    cs_key_free(ak);
    if (rc == CONSORT_E_BAD_SIGNATURE)
        return cs_fail(rc,
                       "quote signature by the attestation key does not verify over header "
                       "and body (%zu bytes)",
                       q->signed_data.len);
    return rc;
}

/* 3. [QVL 4.1.2.4.12] the QE report's signature by the PCK leaf's key. */
static consort_err check_qe_signature(const cs_dcap_quote *q, const cs_x509 *leaf)
{
    cs_key *pck = NULL;
    consort_err rc = cs_x509_public_key(leaf, &pck);
    if (rc != CONSORT_OK && rc != CONSORT_E_NOMEM)
        rc = CONSORT_E_BAD_CERTIFICATE; /* the message says why */
    CS_TRY_CTX(rc, "PCK certificate");
    rc = cs_key_curve(pck) == CS_CURVE_P256
             ? cs_ecdsa_verify(pck, CS_HASH_SHA256, q->qe_report, CS_SIG_RAW, q->qe_report_sig)
             : CONSORT_E_BAD_SIGNATURE;
    cs_key_free(pck);
    if (rc == CONSORT_E_BAD_SIGNATURE)
        return cs_fail(rc, "QE report signature does not verify under the PCK certificate's "
                           "key");
    return rc;
}

/* 4. [QVL 4.1.2.4.13] QE report data = SHA-256(attestation key || QE auth data) || 0^32. */
static consort_err check_qe_report_data(const cs_dcap_quote *q)
{
    uint8_t digest[CS_SHA256_LEN];
    static const uint8_t zeros[32];
    cs_slice parts[2] = {q->att_key, q->qe_auth_data};
    cs_sha256_parts(parts, 2, digest);
    CS_ENSURE(cs_ct_equal(CS_SLICE(q->qe.report_data, 32), CS_SLICE(digest, 32)),
              CONSORT_E_ATTESTATION,
              "QE report data does not bind the attestation key: bytes 0..31 are not "
              "SHA-256(attestation key || QE auth data)");
    CS_ENSURE(cs_ct_equal(CS_SLICE(q->qe.report_data + 32, 32), CS_SLICE(zeros, 32)),
              CONSORT_E_ATTESTATION, "QE report data bytes 32..63 are not zero");
    return CONSORT_OK;
}

/* 5. PCK chain and the SGX extension of the leaf. */
static consort_err check_pck(verify_ctx *x, cs_dcap_result *r)
{
    bool pck_crl = false;
    const cs_x509 *leaf = x->pck_certs[0];
    CS_TRY(cs_dcap_verify_pck_chain(&x->trust, leaf, &pck_crl, &x->root_crl));
    char issuer[256];
    cs_x509_issuer(leaf, issuer, sizeof issuer);
    if (!pck_crl)
        note_missing(x, "PCK CRL issued by '%s'", issuer);
    if (!x->root_crl)
        note_missing(x, "%s", "Root CA CRL issued by 'Intel SGX Root CA'");
    cs_slice ext;
    consort_err rc = cs_x509_extension(leaf, CS_SGX_EXT_OID, &ext);
    CS_ENSURE(rc != CONSORT_E_NOT_FOUND, CONSORT_E_BAD_CERTIFICATE,
              "PCK certificate has no SGX extension (%s)", CS_SGX_EXT_OID);
    CS_TRY_CTX(rc, "PCK certificate");
    CS_TRY_CTX(cs_asn1_sgx_parse(ext, &r->pck), "PCK certificate");
    return CONSORT_OK;
}

static consort_err check_dates(const char *what, int64_t issue, int64_t next, const char *next_text,
                               int64_t now)
{
    char now_text[21], issue_text[21];
    cs_time_format_rfc3339(now, now_text);
    cs_time_format_rfc3339(issue, issue_text);
    CS_ENSURE(now >= issue, CONSORT_E_EXPIRED, "%s not yet valid: issueDate %s, now %s", what,
              issue_text, now_text);
    CS_ENSURE(now <= next, CONSORT_E_EXPIRED, "%s expired: nextUpdate %s, now %s", what, next_text,
              now_text);
    return CONSORT_OK;
}

/* 6. The TCB info for this platform (highest evaluation number), verified. */
static consort_err find_tcb_info(verify_ctx *x, const cs_dcap_result *r, bool tdx,
                                 const cs_dcap_tcb_info **out)
{
    char fmspc[13], what[64];
    cs_hex_encode(CS_SLICE(r->pck.fmspc, 6), fmspc);
    *out = NULL;
    for (size_t i = 0; i < x->coll.tcb_info_count; i++) {
        const cs_dcap_tcb_info *t = &x->coll.tcb_infos[i];
        if (t->tdx == tdx && memcmp(t->fmspc, r->pck.fmspc, 6) == 0 &&
            (*out == NULL || t->eval_number > (*out)->eval_number))
            *out = t;
    }
    snprintf(what, sizeof what, "%s TCB info for FMSPC %s", tdx ? "TDX" : "SGX", fmspc);
    if (*out == NULL) {
        note_missing(x, "%s", what);
        return CONSORT_OK;
    }
    const cs_dcap_tcb_info *t = *out;
    snprintf(what + strlen(what), sizeof what - strlen(what), " (eval %u)", t->eval_number);
    CS_TRY(cs_dcap_verify_signed_body(&x->trust, t->signed_body, t->signature, x->root_crl, what));
    CS_TRY(check_dates(what, t->issue_date, t->next_update, t->next_update_text, x->now));
    /* [QVL 4.1.2.4.10] PCE-ID (FMSPC was matched above). */
    CS_ENSURE(memcmp(t->pceid, r->pck.pceid, 2) == 0, CONSORT_E_ATTESTATION,
              "%s: pceId %02x%02x does not match the PCK certificate's PCE-ID %02x%02x", what,
              t->pceid[0], t->pceid[1], r->pck.pceid[0], r->pck.pceid[1]);
    return CONSORT_OK;
}

/* 7. The QE identity for this TEE ("QE" or "TD_QE"), verified (matched in finish). */
static consort_err find_qe_identity(verify_ctx *x, bool tdx, const cs_dcap_qe_identity **out)
{
    const char *id = tdx ? "TD_QE" : "QE";
    const cs_dcap_qe_identity *best = NULL;
    *out = NULL;
    for (size_t i = 0; i < x->coll.qe_id_count; i++) {
        const cs_dcap_qe_identity *q = &x->coll.qe_ids[i];
        if (strcmp(q->id, id) == 0 && (best == NULL || q->eval_number > best->eval_number))
            best = q;
    }
    char what[48];
    snprintf(what, sizeof what, "QE identity \"%s\"", id);
    if (best == NULL) {
        note_missing(x, "%s", what);
        return CONSORT_OK;
    }
    snprintf(what + strlen(what), sizeof what - strlen(what), " (eval %u)", best->eval_number);
    CS_TRY(cs_dcap_verify_signed_body(&x->trust, best->signed_body, best->signature, x->root_crl,
                                      what));
    CS_TRY(check_dates(what, best->issue_date, best->next_update, best->next_update_text, x->now));
    *out = best;
    return CONSORT_OK;
}

/* 1. Structure and TEE type. */
static consort_err parse_quote(cs_slice quote, uint32_t tee_type, cs_dcap_quote *q)
{
    bool tdx = tee_type == CS_DCAP_TEE_TDX;
    CS_TRY(cs_dcap_quote_parse(quote, q));
    CS_ENSURE(q->tee_type == tee_type, CONSORT_E_UNSUPPORTED,
              "DCAP quote: TEE type 0x%08x (%s), expected 0x%08x (%s)", q->tee_type,
              q->tee_type == CS_DCAP_TEE_TDX ? "TDX" : "SGX", tee_type, tdx ? "TDX" : "SGX");
    return CONSORT_OK;
}

/* 2-4: what the quote itself signs and binds. */
static consort_err check_quote(verify_ctx *x, const cs_dcap_quote *q)
{
    CS_TRY(check_quote_signature(x, q));
    CS_TRY(check_qe_signature(q, x->pck_certs[0]));
    return check_qe_report_data(q);
}

/* 7, the end: the quote's QE report against the verified QE identity (if one was given). */
static consort_err match_qe(const verify_ctx *x, const cs_dcap_result *r,
                            const cs_dcap_svn_level **level)
{
    *level = NULL;
    return x->qe_id == NULL ? CONSORT_OK : cs_dcap_qe_identity_match(x->qe_id, &r->quote.qe, level);
}

/* 8. The quote's TCB against the verified TCB info, combined with the QE's level. */
static consort_err finish(const verify_ctx *x, cs_dcap_result *r, bool tdx,
                          const cs_dcap_svn_level *qe)
{
    const cs_dcap_quote *q = &r->quote;
    cs_dcap_tcb_eval e;
    CS_TRY(cs_dcap_tcb_evaluate(x->tcb, &r->pck, tdx ? &q->td : NULL, qe, &e));
    r->collateral_checked = true;
    r->status = e.status;
    r->platform_status = e.platform;
    r->qe_status = qe->status;
    r->tcb_eval_number = x->tcb->eval_number;
    memcpy(r->tcb_date, e.tcb_date, sizeof r->tcb_date);
    memcpy(r->tdx_module_id, e.module_id, sizeof r->tdx_module_id);
    r->adv = e.adv;
    /* Intel: a Revoked TCB is never acceptable, whatever a policy says. */
    CS_ENSURE(r->status != CS_DCAP_REVOKED, CONSORT_E_REVOKED,
              "TCB status Revoked (platform %s, QE %s)", cs_dcap_status_name(e.platform),
              cs_dcap_status_name(qe->status));
    return CONSORT_OK;
}

static consort_err run(verify_ctx *x, cs_slice quote, const cs_blob_list *endorsements,
                       uint32_t tee_type, cs_dcap_result *r)
{
    const cs_dcap_quote *q = &r->quote;
    bool tdx = tee_type == CS_DCAP_TEE_TDX;
    CS_TRY(parse_quote(quote, tee_type, &r->quote));
    CS_TRY_CTX(cs_dcap_collateral_load(&x->coll, endorsements), "collateral");
    CS_TRY_CTX(cs_x509_parse_all(q->pck_chain, &x->pck_certs, &x->pck_count),
               "PCK certificate chain in the quote");
    CS_ENSURE(x->pck_count <= CS_DCAP_MAX_QUOTE_CERTS, CONSORT_E_TOO_LARGE,
              "PCK certificate chain in the quote: %zu certificates, cap %d", x->pck_count,
              CS_DCAP_MAX_QUOTE_CERTS);
    CS_ENSURE(x->pck_count >= 1, CONSORT_E_MALFORMED,
              "PCK certificate chain in the quote is empty");
    CS_TRY(cs_dcap_trust_init(&x->trust, x->pck_certs, x->pck_count, &x->coll, x->now));
    x->trust_ready = true;

    CS_TRY(check_quote(x, q));
    CS_TRY(check_pck(x, r));
    x->pck = r->pck;
    CS_TRY(find_tcb_info(x, r, tdx, &x->tcb));
    CS_TRY(find_qe_identity(x, tdx, &x->qe_id));
    const cs_dcap_svn_level *qe = NULL;
    CS_TRY(match_qe(x, r, &qe));
    if (x->missing[0] != '\0')
        return cs_fail(CONSORT_E_COLLATERAL_MISSING,
                       "quote signatures, QE report and PCK certificate chain verified, but "
                       "collateral is missing: %s",
                       x->missing);
    return finish(x, r, tdx, qe);
}

consort_err cs_dcap_verify(cs_slice quote, const cs_blob_list *endorsements, uint32_t tee_type,
                           int64_t now, cs_dcap_result *r)
{
    return cs_dcap_verify_cached(quote, endorsements, tee_type, now, NULL, r);
}

/* ---- reuse through a cache (verify_cache.h) ---- */

/* The cache key: TEE type, the quote's PCK chain and the endorsements. */
static consort_err cache_key(const cs_dcap_quote *q, const cs_blob_list *endorsements,
                             uint32_t tee_type, uint8_t out[CS_SHA256_LEN])
{
    cs_verify_cache_keyer k;
    CS_TRY(cs_verify_cache_key_init(&k, "consort/verify-cache/dcap/v1"));
    cs_verify_cache_key_add_u64(&k, tee_type);
    cs_verify_cache_key_add(&k, q->pck_chain);
    cs_verify_cache_key_add_blobs(&k, endorsements);
    cs_verify_cache_key_final(&k, out);
    return CONSORT_OK;
}

/* Every certificate, CRL and collateral document the context holds. */
static consort_err ctx_window(const verify_ctx *x, cs_validity *w)
{
    cs_validity_init(w);
    CS_TRY(cs_validity_add_certs(w, x->now, x->pck_certs, x->pck_count));
    CS_TRY(cs_validity_add_certs(w, x->now, x->coll.certs, x->coll.cert_count));
    CS_TRY(cs_validity_add_cert(w, x->now, x->trust.root));
    for (size_t i = 0; i < x->coll.crl_count; i++)
        CS_TRY(cs_validity_add_crl(w, x->now, x->coll.crls[i]));
    /* check_dates: valid from issueDate through nextUpdate. */
    for (size_t i = 0; i < x->coll.tcb_info_count; i++)
        cs_validity_add(w, x->now, x->coll.tcb_infos[i].issue_date,
                        x->coll.tcb_infos[i].next_update);
    for (size_t i = 0; i < x->coll.qe_id_count; i++)
        cs_validity_add(w, x->now, x->coll.qe_ids[i].issue_date, x->coll.qe_ids[i].next_update);
    return CONSORT_OK;
}

consort_err cs_dcap_verify_cached(cs_slice quote, const cs_blob_list *endorsements,
                                  uint32_t tee_type, int64_t now, struct cs_verify_cache *cache,
                                  cs_dcap_result *r)
{
    memset(r, 0, sizeof *r);
    uint8_t ck[CS_SHA256_LEN] = {0};
    if (cache != NULL) {
        CS_TRY(parse_quote(quote, tee_type, &r->quote));
        CS_TRY(cache_key(&r->quote, endorsements, tee_type, ck));
        verify_ctx *hit = cs_verify_cache_get(cache, ck, now);
        if (hit != NULL) {
            /* Steps 1 and 5-7 came out the same for these bytes inside the window. */
            CS_TRY(check_quote(hit, &r->quote));
            r->pck = hit->pck;
            const cs_dcap_svn_level *qe = NULL;
            CS_TRY(match_qe(hit, r, &qe));
            return finish(hit, r, tee_type == CS_DCAP_TEE_TDX, qe);
        }
    }
    verify_ctx *x = cs_calloc(1, sizeof *x);
    CS_ENSURE(x != NULL, CONSORT_E_NOMEM, "DCAP verification: out of memory");
    x->now = now;
    consort_err rc = CONSORT_OK;
    if (cache != NULL) { /* the entry must own the bytes its collateral borrows */
        for (size_t i = 0; i < endorsements->count && rc == CONSORT_OK; i++)
            rc = cs_blob_list_add(&x->owned, cs_buf_slice(&endorsements->items[i]));
        endorsements = &x->owned;
    }
    if (rc == CONSORT_OK)
        rc = run(x, quote, endorsements, tee_type, r);
    cs_validity window;
    if (rc == CONSORT_OK && cache != NULL && (rc = ctx_window(x, &window)) == CONSORT_OK)
        return cs_verify_cache_put(cache, ck, &window, x, ctx_free);
    ctx_free(x);
    return rc;
}

/* dcap.h: the claims both verifiers share. */
consort_err cs_dcap_claims_common(const cs_dcap_result *r, cs_claims *claims)
{
    const char *status = cs_dcap_status_name(r->status);
    CS_ENSURE(strlen(status) < sizeof claims->tcb_status, CONSORT_E_TOO_LARGE,
              "TCB status '%s' too long for the claims", status);
    snprintf(claims->tcb_status, sizeof claims->tcb_status, "%s", status);
    for (size_t i = 0; i < r->adv.count; i++)
        CS_TRY(cs_claims_add_advisory(claims, r->adv.id[i]));
    CS_TRY(cs_claims_add_hex(claims, "fmspc", CS_SLICE(r->pck.fmspc, 6)));
    CS_TRY(cs_claims_add_string(claims, "tcb_date", r->tcb_date));
    CS_TRY(cs_claims_add_u64(claims, "tcb_eval", r->tcb_eval_number));
    CS_TRY(cs_claims_add_string(claims, "qe_tcb_status", cs_dcap_status_name(r->qe_status)));
    CS_TRY(cs_claims_add_u64(claims, "qe_svn", r->quote.qe.isvsvn));
    CS_TRY(cs_claims_add_u64(claims, "pce_svn", r->pck.pcesvn));
    return CONSORT_OK;
}
