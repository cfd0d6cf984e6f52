/*
 * consort's "tpm" evidence (tpm.h) and its verifier: a pure function over
 * the evidence bytes, the endorsements (AK certificate and intermediates)
 * and the trust anchors (the CAs that certify AKs).
 *
 * Order of checks: evidence structure (CBOR, TPMS_ATTEST, TPMT_SIGNATURE —
 * all parsed strictly before any crypto), AK certificate chain at opts->now,
 * quote signature by the AK, PCR values against pcrDigest, the code-id PCR,
 * and the report data carried in extraData. With opts->cache the AK chain
 * check is reused (check_ak_chain); everything else runs for every quote.
 */
#include "attest/tpm.h"

#include "attest/verify_cache.h"
#include "base/alloc.h"
#include "base/cbor.h"
#include "crypto/rand.h"

#include <stdio.h>
#include <string.h>

/* ---- evidence bytes ---- */

static consort_err read_bytes_max(cs_cbor_reader *r, size_t max, const char *what, cs_slice *out)
{
    CS_TRY_CTX(cs_cbor_read_bytes(r, out), "tpm evidence: %s", what);
    CS_ENSURE(out->len <= max, CONSORT_E_TOO_LARGE, "tpm evidence: %s of %zu bytes exceeds %zu",
              what, out->len, max);
    return CONSORT_OK;
}

consort_err cs_tpm_evidence_decode(cs_slice in, cs_tpm_evidence *out)
{
    memset(out, 0, sizeof *out);
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    uint64_t n;
    CS_TRY_CTX(cs_cbor_read_map(&r, &n), "tpm evidence");
    CS_ENSURE(n == 5, CONSORT_E_MALFORMED, "tpm evidence: map of %llu entries, expected 5",
              (unsigned long long)n);
    CS_TRY_CTX(cs_cbor_read_ukey(&r, 1), "tpm evidence");
    CS_TRY(read_bytes_max(&r, CS_TPM_ATTEST_MAX_BYTES, "TPMS_ATTEST", &out->attest));
    CS_TRY_CTX(cs_cbor_read_ukey(&r, 2), "tpm evidence");
    CS_TRY(read_bytes_max(&r, CS_TPM_SIGNATURE_MAX_BYTES, "TPMT_SIGNATURE", &out->signature));
    CS_TRY_CTX(cs_cbor_read_ukey(&r, 3), "tpm evidence");
    CS_TRY_CTX(cs_cbor_read_array(&r, &n), "tpm evidence: PCR values");
    CS_ENSURE(n <= CS_TPM_MAX_QUOTED_PCRS, CONSORT_E_TOO_LARGE,
              "tpm evidence: %llu PCR values, at most %d accepted", (unsigned long long)n,
              CS_TPM_MAX_QUOTED_PCRS);
    for (size_t i = 0; i < n; i++)
        CS_TRY(read_bytes_max(&r, CS_HASH_MAX_LEN, "PCR value", &out->pcrs[i]));
    out->pcr_count = (size_t)n;
    CS_TRY_CTX(cs_cbor_read_ukey(&r, 4), "tpm evidence");
    uint64_t pcr;
    CS_TRY_CTX(cs_cbor_read_uint(&r, &pcr), "tpm evidence: code-id PCR");
    CS_ENSURE(pcr < CS_TPM_PCR_COUNT, CONSORT_E_MALFORMED,
              "tpm evidence: code-id PCR %llu, expected 0..%d", (unsigned long long)pcr,
              CS_TPM_PCR_COUNT - 1);
    out->code_id_pcr = (uint32_t)pcr;
    CS_TRY_CTX(cs_cbor_read_ukey(&r, 5), "tpm evidence");
    cs_slice code_id;
    CS_TRY_CTX(cs_cbor_read_bytes(&r, &code_id), "tpm evidence: code id");
    CS_ENSURE(code_id.len == 32, CONSORT_E_MALFORMED,
              "tpm evidence: code id of %zu bytes, expected 32", code_id.len);
    memcpy(out->code_id, code_id.ptr, 32);
    return cs_cbor_expect_end(&r);
}

consort_err cs_tpm_evidence_encode(const cs_tpm_evidence *ev, cs_buf *out)
{
    CS_ENSURE(ev->pcr_count <= CS_TPM_MAX_QUOTED_PCRS, CONSORT_E_INVALID_ARGUMENT,
              "tpm evidence: %zu PCR values, at most %d", ev->pcr_count, CS_TPM_MAX_QUOTED_PCRS);
    CS_TRY(cs_cbor_write_map(out, 5));
    CS_TRY(cs_cbor_write_uint(out, 1));
    CS_TRY(cs_cbor_write_bytes(out, ev->attest));
    CS_TRY(cs_cbor_write_uint(out, 2));
    CS_TRY(cs_cbor_write_bytes(out, ev->signature));
    CS_TRY(cs_cbor_write_uint(out, 3));
    CS_TRY(cs_cbor_write_array(out, ev->pcr_count));
    for (size_t i = 0; i < ev->pcr_count; i++)
        CS_TRY(cs_cbor_write_bytes(out, ev->pcrs[i]));
    CS_TRY(cs_cbor_write_uint(out, 4));
    CS_TRY(cs_cbor_write_uint(out, ev->code_id_pcr));
    CS_TRY(cs_cbor_write_uint(out, 5));
    return cs_cbor_write_bytes(out, CS_SLICE(ev->code_id, 32));
}

/* ---- verifier ---- */

typedef struct certs {
    cs_x509 **anchors;
    size_t anchor_count;
    cs_x509 **chain; /* [0] is the AK certificate, the rest intermediates */
    size_t chain_count;
    cs_key *ak;
    uint8_t ak_id[CS_SHA256_LEN]; /* cs_key_id of ak: the signer claim */
} certs;

static void certs_cleanup(certs *c)
{
    cs_x509_list_free(c->anchors, c->anchor_count);
    cs_x509_list_free(c->chain, c->chain_count);
    cs_key_free(c->ak);
    memset(c, 0, sizeof *c);
}

static consort_err parse_list(const cs_blob_list *list, cs_x509 ***out, size_t *count,
                              const char *what)
{
    for (size_t i = 0; i < list->count; i++) {
        size_t before = *count;
        CS_TRY_CTX(cs_x509_parse_all(cs_buf_slice(&list->items[i]), out, count), "%s %zu", what, i);
        CS_ENSURE(*count > before, CONSORT_E_MALFORMED, "%s %zu holds no certificate", what, i);
    }
    return CONSORT_OK;
}

/* The AK certificate chains to an anchor at `now`; its key becomes c->ak (and its id c->ak_id). */
static consort_err verify_ak_chain(const cs_evidence *ev, const cs_verify_opts *opts, certs *c)
{
    CS_ENSURE(ev->endorsements.count > 0, CONSORT_E_COLLATERAL_MISSING,
              "no AK certificate among the endorsements");
    CS_TRY(parse_list(opts->anchors, &c->anchors, &c->anchor_count, "AK trust anchor"));
    CS_TRY(parse_list(&ev->endorsements, &c->chain, &c->chain_count, "endorsement"));
    const cs_x509_verify_opts xopts = {.now = opts->now};
    CS_TRY_CTX(cs_x509_verify_chain(c->chain[0], c->chain + 1, c->chain_count - 1, c->anchors,
                                    c->anchor_count, &xopts, NULL),
               "AK certificate");
    CS_TRY(cs_x509_public_key(c->chain[0], &c->ak));
    return cs_key_id(c->ak, c->ak_id);
}

/* A cache entry: the AK whose chain verified, and its id (encoding an RSA key's
 * SubjectPublicKeyInfo costs as much as checking the quote's signature). */
typedef struct cached_ak {
    cs_key *ak;
    uint8_t ak_id[CS_SHA256_LEN];
} cached_ak;

static void cached_ak_free(void *p)
{
    cached_ak *e = p;
    cs_key_free(e->ak);
    cs_free(e);
}

/*
 * verify_ak_chain, reused through opts->cache for the same anchors and
 * endorsements while every one of their certificates keeps the validity
 * state it had when the chain was verified (verify_cache.h).
 */
static consort_err check_ak_chain(const cs_evidence *ev, const cs_verify_opts *opts, certs *c)
{
    if (opts->cache == NULL)
        return verify_ak_chain(ev, opts, c);
    cs_verify_cache_keyer k;
    uint8_t ck[CS_SHA256_LEN];
    CS_TRY(cs_verify_cache_key_init(&k, "consort/verify-cache/tpm/v1"));
    cs_verify_cache_key_add_blobs(&k, opts->anchors);
    cs_verify_cache_key_add_blobs(&k, &ev->endorsements);
    cs_verify_cache_key_final(&k, ck);
    const cached_ak *hit = cs_verify_cache_get(opts->cache, ck, opts->now);
    if (hit != NULL) {
        c->ak = cs_key_ref(hit->ak);
        memcpy(c->ak_id, hit->ak_id, sizeof c->ak_id);
        return CONSORT_OK;
    }
    CS_TRY(verify_ak_chain(ev, opts, c));
    cs_validity window;
    cs_validity_init(&window);
    CS_TRY(cs_validity_add_certs(&window, opts->now, c->anchors, c->anchor_count));
    CS_TRY(cs_validity_add_certs(&window, opts->now, c->chain, c->chain_count));
    cached_ak *e = cs_malloc(sizeof *e);
    CS_ENSURE(e != NULL, CONSORT_E_NOMEM, "tpm verify cache: out of memory");
    e->ak = cs_key_ref(c->ak);
    memcpy(e->ak_id, c->ak_id, sizeof e->ak_id);
    return cs_verify_cache_put(opts->cache, ck, &window, e, cached_ak_free);
}

/* The code-id PCR (SHA-256 bank) holds exactly one extend of the claimed code id. */
static consort_err check_code_id(const cs_tpm_evidence *te, const cs_tpm_quote *q)
{
    size_t pos;
    if (cs_tpm_quote_pcr_position(q, CS_TPM_ALG_SHA256, te->code_id_pcr, &pos) != CONSORT_OK)
        return cs_fail(CONSORT_E_ATTESTATION, "the quote does not cover code-id PCR sha256:%u",
                       te->code_id_pcr);
    uint8_t want[32];
    cs_tpm_code_id_pcr_value(te->code_id, want);
    if (!cs_ct_equal(te->pcrs[pos], CS_SLICE(want, 32))) {
        char hex[65];
        cs_hex_encode(CS_SLICE(te->code_id, 32), hex);
        return cs_fail(CONSORT_E_ATTESTATION,
                       "PCR sha256:%u is not one extend of code id %s from zero", te->code_id_pcr,
                       hex);
    }
    return CONSORT_OK;
}

static consort_err fill_claims(const cs_tpm_evidence *te, const cs_tpm_quote *q,
                               const uint8_t ak_id[CS_SHA256_LEN], cs_claims *claims)
{
    memcpy(claims->code_id, te->code_id, 32);
    /* tpm.h: extraData = report_data[0..32), the rest of report_data is zero. */
    memset(claims->report_data, 0, sizeof claims->report_data);
    memcpy(claims->report_data, q->extra_data, CS_TPM_REPORT_DATA_LEN);
    memcpy(claims->signer, ak_id, 32);
    claims->signer_len = 32;
    claims->security_version = 0;
    claims->debug = false;
    size_t n = 0;
    for (size_t i = 0; i < q->bank_count; i++) {
        /* "pcr_<bank>_<index>": the prefix once per bank, the index per PCR (the
         * verifier runs this for every quote; snprintf per name was measurable). */
        char name[32];
        int pre = snprintf(name, sizeof name, "pcr_%s_", cs_tpm_alg_name(q->banks[i].hash_alg));
        CS_ENSURE(pre > 0 && (size_t)pre + 3 <= sizeof name, CONSORT_E_INVALID_ARGUMENT,
                  "tpm claims: PCR claim name prefix '%s' too long", name);
        for (unsigned p = 0; p < CS_TPM_PCR_COUNT; p++) {
            if (((q->banks[i].pcrs >> p) & 1) == 0)
                continue;
            size_t len = (size_t)pre; /* p < CS_TPM_PCR_COUNT (24): one or two digits */
            if (p >= 10)
                name[len++] = (char)('0' + p / 10);
            name[len++] = (char)('0' + p % 10);
            name[len] = '\0';
            CS_TRY(cs_claims_add_hex(claims, name, te->pcrs[n++]));
        }
    }
    CS_TRY(cs_claims_add_u64(claims, "code_id_pcr", te->code_id_pcr));
    CS_TRY(cs_claims_add_u64(claims, "clock", q->clock));
    CS_TRY(cs_claims_add_u64(claims, "reset_count", q->reset_count));
    CS_TRY(cs_claims_add_u64(claims, "restart_count", q->restart_count));
    CS_TRY(cs_claims_add_bool(claims, "safe", q->safe));
    CS_TRY(cs_claims_add_u64(claims, "firmware_version", q->firmware_version));
    /* A SHA-512 name (66 bytes) does not fit a claim; it is then left out. */
    if (q->qualified_signer_len <= CS_CLAIM_MAX_BYTES)
        CS_TRY(cs_claims_add_hex(claims, "qualified_signer",
                                 CS_SLICE(q->qualified_signer, q->qualified_signer_len)));
    return CONSORT_OK;
}

/* The quote signature by the AK. A scheme that does not fit the AK's key type is the
 * evidence's fault here, not the caller's: it is reported as BAD_SIGNATURE. */
static consort_err check_signature(const cs_tpm_signature *sig, const cs_key *ak, cs_slice attest)
{
    consort_err rc = cs_tpm_signature_verify(sig, ak, attest);
    if (rc == CONSORT_E_INVALID_ARGUMENT) {
        char msg[CS_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", consort_errmsg());
        rc = cs_fail(CONSORT_E_BAD_SIGNATURE, "%s", msg);
    }
    return rc == CONSORT_OK ? CONSORT_OK : cs_err_context(rc, "quote signature by the AK");
}

static consort_err verify_with(const cs_evidence *ev, const cs_verify_opts *opts, certs *c,
                               cs_claims *claims)
{
    cs_tpm_evidence te;
    cs_tpm_quote q;
    cs_tpm_signature sig;
    CS_TRY(cs_tpm_evidence_decode(cs_buf_slice(&ev->evidence), &te));
    CS_TRY(cs_tpm_quote_parse(te.attest, &q));
    CS_TRY(cs_tpm_signature_parse(te.signature, &sig));

    CS_TRY(check_ak_chain(ev, opts, c));
    CS_TRY(check_signature(&sig, c->ak, te.attest));
    /* check_pcrs establishes te.pcr_count == the selection's size, which the code-id
     * lookup and the claims rely on. */
    CS_TRY(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, te.pcrs, te.pcr_count));
    CS_TRY(check_code_id(&te, &q));
    /* tpm.h: extraData carries exactly report_data[0..32). */
    CS_ENSURE(q.extra_data_len == CS_TPM_REPORT_DATA_LEN, CONSORT_E_REPORT_DATA,
              "quote extraData of %zu bytes, expected %d (consort report data)", q.extra_data_len,
              CS_TPM_REPORT_DATA_LEN);
    return fill_claims(&te, &q, c->ak_id, claims);
}

static consort_err tpm_verify(const cs_evidence *ev, const cs_verify_opts *opts, cs_claims *claims)
{
    CS_ENSURE(ev->platform == CS_PLATFORM_TPM, CONSORT_E_UNSUPPORTED,
              "tpm platform: evidence is for platform %s", cs_platform_name(ev->platform));
    CS_ENSURE(opts != NULL && opts->anchors != NULL && opts->anchors->count > 0,
              CONSORT_E_COLLATERAL_MISSING,
              "tpm platform: no trust anchor for AK certificates given");
    certs c;
    memset(&c, 0, sizeof c);
    cs_claims_init(claims, CS_PLATFORM_TPM);
    consort_err rc = verify_with(ev, opts, &c, claims);
    certs_cleanup(&c);
    if (rc != CONSORT_OK) {
        cs_claims_init(claims, CS_PLATFORM_TPM); /* nothing established */
        return cs_err_context(rc, "tpm platform");
    }
    return CONSORT_OK;
}

const cs_verifier cs_tpm_verifier = {
    .platform = CS_PLATFORM_TPM,
    .name = "tpm",
    .verify = tpm_verify,
};
