/*
 * The `snp` verifier: report + endorsements -> claims.
 *
 *  1. Parse the report (snp_report.c).
 *  2. Sort the endorsement certificates by content, against the pinned ARKs:
 *       - byte-identical to a pinned ARK: skipped (the pinned copy is used);
 *       - named like a pinned ARK but different bytes: rejected (an altered
 *         AMD root is tampering, not an unrelated certificate);
 *       - any other self-issued certificate: ignored, never trusted;
 *       - VCEK (hwID extension) or VLEK (CSP id extension): a candidate key;
 *       - any other CA (ASK, ASVK): must be signed by a pinned ARK;
 *       - anything else: ignored.
 *  3. For each candidate of the kind KEY_INFO.SIGNING_KEY names, until one
 *     passes: product from its productName (and, for a v3 report, the same
 *     product from CPUID); issuer must be SEV-<Product> (ASK) for a VCEK or
 *     SEV-VLEK-<Product> (ASVK) for a VLEK; chain leaf -> ASK|ASVK -> pinned
 *     ARK-<Product> at `now`; RSASSA-PSS SHA-384 on every link; P-384 key;
 *     TCB and hwID extensions against the report (snp_endorse.c); ECDSA
 *     P-384 signature over bytes 0x000-0x29F.
 *  4. Claims (snp_claims.c).
 * With opts->cache, steps 2 and 3's chain are done once per endorsement set
 * and key kind: later reports go through the checks of step 3 that read the
 * report (product, TCB, hwID, signature) with the key that passed before.
 */
#include "attest/snp_priv.h"

#include "attest/verify_cache.h"
#include "base/log.h"
#include "crypto/x509_ext_snp.h"

#include <stdio.h>
#include <string.h>

/* At most this many certificates across all endorsements. */
#define SNP_MAX_CERTS 64

typedef struct snp_sorted {
    cs_x509 *roots[CS_SNP_PRODUCT_COUNT];      /* pinned, owned; NULL at UNKNOWN */
    uint8_t root_fp[CS_SNP_PRODUCT_COUNT][32]; /* their SHA-256 fingerprints */
    cs_x509 *keys[SNP_MAX_CERTS];              /* VCEK/VLEK candidates, borrowed */
    cs_snp_signing_key key_kind[SNP_MAX_CERTS];
    size_t key_count;
    cs_x509 *cas[SNP_MAX_CERTS]; /* ASK/ASVK, borrowed, each signed by a pinned ARK */
    size_t ca_count;
} snp_sorted;

static void sorted_cleanup(snp_sorted *s)
{
    for (size_t p = 0; p < CS_SNP_PRODUCT_COUNT; p++)
        cs_x509_free(s->roots[p]);
    memset(s, 0, sizeof *s);
}

static consort_err load_roots(snp_sorted *s)
{
    for (int p = CS_SNP_PRODUCT_MILAN; p < CS_SNP_PRODUCT_COUNT; p++) {
        CS_TRY(cs_snp_root_load((cs_snp_product)p, &s->roots[p]));
        CS_TRY(cs_x509_fingerprint(s->roots[p], s->root_fp[p]));
    }
    return CONSORT_OK;
}

/* A CA certificate from the endorsements must be signed by a pinned ARK. */
static consort_err check_ca(const snp_sorted *s, size_t i, const cs_x509 *ca)
{
    for (int p = CS_SNP_PRODUCT_MILAN; p < CS_SNP_PRODUCT_COUNT; p++) {
        if (!cs_x509_ext_name_chains(ca, s->roots[p]))
            continue;
        cs_key *ark = NULL;
        CS_TRY(cs_x509_public_key(s->roots[p], &ark));
        consort_err rc = cs_x509_verify_signature(ca, ark);
        cs_key_free(ark);
        CS_TRY_CTX(rc, "endorsement certificate %zu", i);
        return CONSORT_OK;
    }
    char subject[160];
    cs_x509_subject(ca, subject, sizeof subject);
    return cs_fail(CONSORT_E_BAD_CERTIFICATE,
                   "endorsement certificate %zu ('%s') is a CA not issued by a pinned AMD root", i,
                   subject);
}

static consort_err sort_one(snp_sorted *s, size_t i, cs_x509 *cert)
{
    uint8_t fp[32];
    CS_TRY(cs_x509_fingerprint(cert, fp));
    for (int p = CS_SNP_PRODUCT_MILAN; p < CS_SNP_PRODUCT_COUNT; p++)
        if (memcmp(fp, s->root_fp[p], sizeof fp) == 0)
            return CONSORT_OK; /* the pinned root itself */
    for (int p = CS_SNP_PRODUCT_MILAN; p < CS_SNP_PRODUCT_COUNT; p++)
        CS_ENSURE(!cs_x509_ext_same_subject(cert, s->roots[p]), CONSORT_E_BAD_CERTIFICATE,
                  "endorsement certificate %zu is named like the pinned ARK-%s but is not it", i,
                  cs_snp_product_name((cs_snp_product)p));
    if (cs_x509_ext_self_issued(cert)) {
        cs_log_debug("snp", "ignoring endorsement certificate %zu: a root that is not pinned", i);
        return CONSORT_OK;
    }
    bool is_key = false;
    cs_snp_signing_key kind = CS_SNP_KEY_VCEK;
    CS_TRY_CTX(cs_snp_endorsement_kind(cert, &is_key, &kind), "endorsement certificate %zu", i);
    if (is_key) {
        s->key_kind[s->key_count] = kind;
        s->keys[s->key_count++] = cert;
    } else if (cs_x509_is_ca(cert)) {
        CS_TRY(check_ca(s, i, cert));
        s->cas[s->ca_count++] = cert;
    } else {
        cs_log_debug("snp", "ignoring endorsement certificate %zu: not an AMD certificate", i);
    }
    return CONSORT_OK;
}

static consort_err sort_certs(snp_sorted *s, cs_x509 *const *certs, size_t n)
{
    CS_ENSURE(n <= SNP_MAX_CERTS, CONSORT_E_TOO_LARGE,
              "%zu endorsement certificates, at most %d accepted", n, SNP_MAX_CERTS);
    CS_TRY(load_roots(s));
    for (size_t i = 0; i < n; i++)
        CS_TRY(sort_one(s, i, certs[i]));
    return CONSORT_OK;
}

/* Chain leaf -> ASK|ASVK -> pinned ARK of `product`, every link RSASSA-PSS SHA-384. */
static consort_err verify_chain(const snp_sorted *s, cs_x509 *leaf, cs_snp_signing_key kind,
                                cs_snp_product product, int64_t now)
{
    const char *key = cs_snp_key_name(kind);
    const char *ca_kind = kind == CS_SNP_KEY_VLEK ? "ASVK" : "ASK";
    char want[32], issuer[64];
    snprintf(want, sizeof want, "%s%s", kind == CS_SNP_KEY_VLEK ? "SEV-VLEK-" : "SEV-",
             cs_snp_product_name(product));
    CS_TRY_CTX(cs_x509_ext_issuer_cn(leaf, issuer, sizeof issuer), "%s", key);
    /* A VCEK is signed by the ASK, a VLEK by the ASVK (KDS spec, "Certificate chain"). */
    CS_ENSURE(strcmp(issuer, want) == 0, CONSORT_E_BAD_CERTIFICATE,
              "%s is issued by '%s', expected '%s' (the %s %s)", key, issuer, want,
              cs_snp_product_name(product), ca_kind);
    cs_x509 *cas[SNP_MAX_CERTS];
    size_t n = 0;
    for (size_t i = 0; i < s->ca_count; i++)
        if (cs_x509_ext_name_chains(leaf, s->cas[i]))
            cas[n++] = s->cas[i];
    CS_ENSURE(n > 0, CONSORT_E_COLLATERAL_MISSING,
              "no %s certificate (CN=%s) among the endorsements for the %s", ca_kind, want, key);

    cs_x509_verify_opts xo = {.now = now};
    size_t path = 0;
    cs_x509 *root = s->roots[product];
    CS_TRY_CTX(cs_x509_verify_chain(leaf, cas, n, &root, 1, &xo, &path),
               "%s chain to the pinned ARK-%s", key, cs_snp_product_name(product));
    CS_ENSURE(path == 3, CONSORT_E_BAD_CERTIFICATE,
              "%s chain has %zu certificates, expected 3 (%s, %s, ARK)", key, path, key, ca_kind);
    CS_TRY_CTX(cs_x509_ext_require_rsa_pss_sha384(leaf), "%s", key);
    for (size_t i = 0; i < n; i++)
        CS_TRY_CTX(cs_x509_ext_require_rsa_pss_sha384(cas[i]), "%s", ca_kind);
    return CONSORT_OK;
}

/* SEV-SNP ABI: the report signature is ECDSA P-384 over SHA-384(bytes 0x000-0x29F). */
static consort_err verify_signature(const cs_snp_report *r, const cs_x509 *leaf,
                                    cs_snp_signing_key kind)
{
    cs_key *pub = NULL;
    CS_TRY_CTX(cs_x509_public_key(leaf, &pub), "%s", cs_snp_key_name(kind));
    consort_err rc = CONSORT_OK;
    if (cs_key_curve(pub) != CS_CURVE_P384)
        rc = cs_fail(CONSORT_E_BAD_CERTIFICATE, "%s key is %s, expected an EC P-384 key",
                     cs_snp_key_name(kind), cs_key_type_name(pub));
    else
        rc = cs_ecdsa_verify_digest(pub, CS_SLICE(r->signed_digest, sizeof r->signed_digest),
                                    CS_SIG_RAW, CS_SLICE(r->signature, sizeof r->signature));
    if (rc == CONSORT_E_BAD_SIGNATURE)
        rc = cs_fail(CONSORT_E_BAD_SIGNATURE,
                     "SNP report signature does not verify under the %s's key",
                     cs_snp_key_name(kind));
    cs_key_free(pub);
    return rc;
}

/* The product `leaf` names, which a version-3 report's CPUID must name too. */
static consort_err leaf_product(const cs_snp_report *r, const cs_x509 *leaf,
                                cs_snp_product *product)
{
    const char *key = cs_snp_key_name(r->signing_key);
    CS_TRY_CTX(cs_snp_endorsement_product(leaf, product), "%s", key);
    if (r->has_cpuid) {
        cs_snp_product cpu;
        CS_TRY(cs_snp_product_from_cpuid(r->cpuid_fam_id, r->cpuid_mod_id, &cpu));
        CS_ENSURE(cpu == *product, CONSORT_E_ATTESTATION,
                  "SNP report: CPUID family 0x%02x model 0x%02x is %s, but the %s is for %s",
                  r->cpuid_fam_id, r->cpuid_mod_id, cs_snp_product_name(cpu), key,
                  cs_snp_product_name(*product));
    }
    return CONSORT_OK;
}

/* The per-report checks once `leaf`'s chain is verified, then the claims. */
static consort_err finish(const cs_snp_report *r, const cs_x509 *leaf, cs_snp_product product,
                          cs_claims *claims)
{
    cs_snp_signing_key kind = r->signing_key;
    CS_TRY(cs_snp_check_endorsement_key(r, leaf, kind, product));
    CS_TRY(verify_signature(r, leaf, kind));

    char csp[64];
    if (kind == CS_SNP_KEY_VLEK)
        CS_TRY(cs_snp_endorsement_csp_id(leaf, csp, sizeof csp));
    return cs_snp_fill_claims(r, product, kind == CS_SNP_KEY_VLEK ? csp : NULL, claims);
}

static consort_err verify_with(const cs_snp_report *r, const snp_sorted *s, cs_x509 *leaf,
                               int64_t now, cs_claims *claims)
{
    cs_snp_product product;
    CS_TRY(leaf_product(r, leaf, &product));
    CS_TRY(verify_chain(s, leaf, r->signing_key, product, now));
    return finish(r, leaf, product, claims);
}

/* Tries each candidate key in order; the first that passes is *winner (borrowed). */
static consort_err verify_sorted(const cs_snp_report *r, const snp_sorted *s, int64_t now,
                                 cs_claims *claims, cs_x509 **winner)
{
    const char *key = cs_snp_key_name(r->signing_key);
    size_t tried = 0, other = 0;
    consort_err first = CONSORT_OK;
    char first_msg[CS_ERRMSG_MAX] = "";
    for (size_t i = 0; i < s->key_count; i++) {
        if (s->key_kind[i] != r->signing_key) {
            other++;
            continue;
        }
        cs_claims attempt = *claims;
        consort_err rc = verify_with(r, s, s->keys[i], now, &attempt);
        if (rc == CONSORT_OK) {
            *claims = attempt;
            *winner = s->keys[i];
            return CONSORT_OK;
        }
        if (tried++ == 0) {
            first = rc;
            snprintf(first_msg, sizeof first_msg, "%s", consort_errmsg());
        }
    }
    if (tried > 0)
        return cs_fail(first, "%s", first_msg); /* the first candidate's reason */
    return cs_fail(
        CONSORT_E_COLLATERAL_MISSING,
        "the report is signed by the %s (KEY_INFO.SIGNING_KEY %d) but no %s "
        "certificate is among the endorsements%s",
        key, (int)r->signing_key, key,
        other > 0 ? (r->signing_key == CS_SNP_KEY_VCEK ? " (only a VLEK)" : " (only a VCEK)") : "");
}

static consort_err verify_report(cs_slice raw_report, cs_x509 *const *certs, size_t cert_count,
                                 int64_t now, cs_claims *claims, cs_x509 **winner)
{
    cs_snp_report report;
    CS_TRY(cs_snp_report_parse(raw_report, &report));
    /* SEV-SNP ABI, KEY_INFO.MASK_CHIP_KEY: the firmware wrote zeros instead
     * of a signature (SNP_CONFIG.MASK_CHIP_KEY). */
    CS_ENSURE(!report.mask_chip_key, CONSORT_E_ATTESTATION,
              "SNP report: KEY_INFO.MASK_CHIP_KEY is set, so the firmware did not sign it");
    snp_sorted s;
    memset(&s, 0, sizeof s);
    consort_err rc = sort_certs(&s, certs, cert_count);
    if (rc == CONSORT_OK)
        rc = verify_sorted(&report, &s, now, claims, winner);
    sorted_cleanup(&s);
    return rc;
}

consort_err cs_snp_verify_report(cs_slice raw_report, cs_x509 *const *certs, size_t cert_count,
                                 int64_t now, cs_claims *claims)
{
    cs_x509 *winner = NULL;
    return verify_report(raw_report, certs, cert_count, now, claims, &winner);
}

/* Every endorsement blob is a DER certificate or PEM text with certificates. */
static consort_err parse_endorsements(const cs_blob_list *l, cs_x509 ***list, size_t *count)
{
    for (size_t i = 0; i < l->count; i++)
        CS_TRY_CTX(cs_x509_parse_all(cs_buf_slice(&l->items[i]), list, count), "endorsement %zu",
                   i);
    return CONSORT_OK;
}

/* ---- reuse through opts->cache (verify_cache.h) ---- */

/* An entry is the VCEK/VLEK (a reference) whose chain verified. */
static void cached_free(void *leaf)
{
    cs_x509_free(leaf);
}

/* The endorsement bytes and the kind of key the report names: the pinned
 * roots are compiled in and opts->anchors is not used. */
static consort_err cache_key(const cs_evidence *ev, cs_snp_signing_key kind,
                             uint8_t out[CS_SHA256_LEN])
{
    cs_verify_cache_keyer k;
    CS_TRY(cs_verify_cache_key_init(&k, "consort/verify-cache/snp/v1"));
    cs_verify_cache_key_add_blobs(&k, &ev->endorsements);
    cs_verify_cache_key_add_u64(&k, (uint64_t)kind);
    cs_verify_cache_key_final(&k, out);
    return CONSORT_OK;
}

/*
 * Accepts a report signed by the key whose chain verified for the same
 * endorsements: the per-report checks of verify_with without the chain.
 * Any failure (no entry included) sends the caller to the full path, which
 * decides, and words its error, exactly as without a cache.
 */
static consort_err verify_cached(const cs_evidence *ev, const cs_verify_opts *opts,
                                 cs_claims *claims)
{
    cs_snp_report r;
    CS_TRY(cs_snp_report_parse(cs_buf_slice(&ev->evidence), &r));
    CS_ENSURE(!r.mask_chip_key, CONSORT_E_ATTESTATION, "SNP report: KEY_INFO.MASK_CHIP_KEY set");
    uint8_t ck[CS_SHA256_LEN];
    CS_TRY(cache_key(ev, r.signing_key, ck));
    const cs_x509 *leaf = cs_verify_cache_get(opts->cache, ck, opts->now);
    CS_ENSURE(leaf != NULL, CONSORT_E_NOT_FOUND, "no cached SNP endorsements");
    cs_snp_product product;
    CS_TRY(leaf_product(&r, leaf, &product));
    return finish(&r, leaf, product, claims);
}

/* Caches `winner` for `ev`'s endorsements: the window covers every
 * certificate the verifier saw and the pinned ARK of the winner's product. */
static consort_err remember(const cs_evidence *ev, const cs_verify_opts *opts,
                            cs_x509 *const *certs, size_t count, cs_x509 *winner)
{
    cs_snp_report r;
    CS_TRY(cs_snp_report_parse(cs_buf_slice(&ev->evidence), &r));
    uint8_t ck[CS_SHA256_LEN];
    CS_TRY(cache_key(ev, r.signing_key, ck));
    cs_snp_product product;
    CS_TRY(cs_snp_endorsement_product(winner, &product));
    cs_validity window;
    cs_validity_init(&window);
    CS_TRY(cs_validity_add_certs(&window, opts->now, certs, count));
    cs_x509 *root = NULL;
    CS_TRY(cs_snp_root_load(product, &root));
    consort_err rc = cs_validity_add_cert(&window, opts->now, root);
    cs_x509_free(root);
    CS_TRY(rc);
    return cs_verify_cache_put(opts->cache, ck, &window, cs_x509_ref(winner), cached_free);
}

static consort_err snp_verify(const cs_evidence *ev, const cs_verify_opts *opts, cs_claims *claims)
{
    CS_ENSURE(ev->platform == CS_PLATFORM_SNP, CONSORT_E_INVALID_ARGUMENT,
              "snp verifier given %s evidence", cs_platform_name(ev->platform));
    if (opts->cache != NULL) {
        cs_claims attempt = *claims;
        if (verify_cached(ev, opts, &attempt) == CONSORT_OK) {
            *claims = attempt;
            return CONSORT_OK;
        }
        cs_err_clear();
    }
    /* opts->anchors is not used: the only SEV-SNP trust anchors are the
     * pinned AMD roots (snp_roots.c). */
    cs_x509 **list = NULL;
    size_t count = 0;
    cs_x509 *winner = NULL;
    consort_err rc = parse_endorsements(&ev->endorsements, &list, &count);
    if (rc == CONSORT_OK)
        rc = verify_report(cs_buf_slice(&ev->evidence), list, count, opts->now, claims, &winner);
    if (rc == CONSORT_OK && opts->cache != NULL)
        rc = remember(ev, opts, list, count, winner);
    cs_x509_list_free(list, count);
    return rc;
}

const cs_verifier cs_snp_verifier = {
    .platform = CS_PLATFORM_SNP,
    .name = "snp",
    .verify = snp_verify,
};
