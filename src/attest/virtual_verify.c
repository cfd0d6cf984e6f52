/*
 * The `virtual` platform's verifier (virtual.h): a pure function over the
 * report, the endorsements and the trusted platform certificates.
 *
 * Order of checks: the report's structure (exact length first, before any
 * crypto), the trust anchor for its platform key, the anchor's validity at
 * opts->now, the endorsements, and last the signature. With opts->cache,
 * everything before the signature is reused for the same anchors,
 * endorsements and platform key id while the anchor's validity state holds.
 */
#include "attest/virtual.h"

#include "attest/verify_cache.h"
#include "crypto/rand.h"

#include <string.h>

consort_err cs_virtual_report_parse(cs_slice in, cs_virtual_report *out)
{
    CS_ENSURE(in.len == CS_VIRTUAL_REPORT_LEN,
              in.len < CS_VIRTUAL_REPORT_LEN ? CONSORT_E_TRUNCATED : CONSORT_E_TRAILING_DATA,
              "virtual report: length %zu, expected %d", in.len, CS_VIRTUAL_REPORT_LEN);
    cs_cursor c;
    cs_cursor_init(&c, in);
    cs_slice magic;
    CS_TRY(cs_cursor_read_slice(&c, 8, &magic));
    CS_ENSURE(cs_slice_eq(magic, CS_SLICE_LIT(CS_VIRTUAL_MAGIC)), CONSORT_E_MALFORMED,
              "virtual report: magic %02x%02x%02x%02x%02x%02x%02x%02x, expected \"%s\"",
              magic.ptr[0], magic.ptr[1], magic.ptr[2], magic.ptr[3], magic.ptr[4], magic.ptr[5],
              magic.ptr[6], magic.ptr[7], CS_VIRTUAL_MAGIC);
    CS_TRY(cs_cursor_read_le32(&c, &out->version));
    CS_ENSURE(out->version == CS_VIRTUAL_VERSION, CONSORT_E_UNSUPPORTED,
              "virtual report: version %u unsupported, expected %u", out->version,
              CS_VIRTUAL_VERSION);
    CS_TRY(cs_cursor_read_le32(&c, &out->flags));
    CS_ENSURE((out->flags & ~CS_VIRTUAL_FLAG_DEBUG) == 0, CONSORT_E_MALFORMED,
              "virtual report: flags 0x%08x has bits other than debug (bit 0) set", out->flags);
    CS_TRY(cs_cursor_read_le32(&c, &out->security_version));
    CS_TRY(cs_cursor_read_le32(&c, &out->reserved));
    CS_ENSURE(out->reserved == 0, CONSORT_E_MALFORMED,
              "virtual report: reserved field is 0x%08x, expected 0", out->reserved);
    CS_TRY(cs_cursor_read_into(&c, out->code_id, sizeof out->code_id));
    CS_TRY(cs_cursor_read_into(&c, out->report_data, sizeof out->report_data));
    CS_TRY(cs_cursor_read_into(&c, out->platform_key_id, sizeof out->platform_key_id));
    CS_TRY(cs_cursor_read_into(&c, out->signature, sizeof out->signature));
    return cs_cursor_expect_end(&c);
}

/* Certificates parsed from a blob list. */
typedef struct cert_set {
    cs_x509 **certs;
    size_t count;
    size_t skipped; /* blobs that hold no certificate */
} cert_set;

static void cert_set_cleanup(cert_set *s)
{
    cs_x509_list_free(s->certs, s->count);
    *s = (cert_set){NULL, 0, 0};
}

/*
 * Parses the certificates (PEM or DER) in every blob of `list`. Blobs that
 * hold no certificate are recognised as not meant for this verifier and
 * skipped: they can neither add trust (only a certificate's key can sign a
 * report) nor hide anything.
 */
static consort_err cert_set_parse(cert_set *s, const cs_blob_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        consort_err rc = cs_x509_parse_all(cs_buf_slice(&list->items[i]), &s->certs, &s->count);
        if (rc == CONSORT_E_NOMEM)
            return rc;
        if (rc != CONSORT_OK)
            s->skipped++;
    }
    return CONSORT_OK;
}

static consort_err cert_key_id(const cs_x509 *cert, uint8_t out[32])
{
    cs_key *key = NULL;
    CS_TRY(cs_x509_public_key(cert, &key));
    consort_err rc = cs_key_id(key, out);
    cs_key_free(key);
    return rc;
}

/* The first anchor whose public key has id `key_id`, or NULL. */
static consort_err find_anchor(const cert_set *anchors, const uint8_t key_id[32],
                               const cs_x509 **out)
{
    *out = NULL;
    for (size_t i = 0; i < anchors->count && *out == NULL; i++) {
        uint8_t id[32];
        CS_TRY(cert_key_id(anchors->certs[i], id));
        if (memcmp(id, key_id, 32) == 0)
            *out = anchors->certs[i];
    }
    return CONSORT_OK;
}

static consort_err check_validity(const cs_x509 *anchor, int64_t now)
{
    int64_t not_before;
    int64_t not_after;
    CS_TRY(cs_x509_validity(anchor, &not_before, &not_after));
    if (now < not_before || now > not_after) {
        char nb[21];
        char na[21];
        char at[21];
        cs_time_format_rfc3339(not_before, nb);
        cs_time_format_rfc3339(not_after, na);
        cs_time_format_rfc3339(now, at);
        return cs_fail(CONSORT_E_EXPIRED,
                       "virtual platform: certificate valid from %s to %s, not at %s", nb, na, at);
    }
    return CONSORT_OK;
}

/*
 * Every endorsed certificate must be a trusted platform certificate (the
 * envelope's endorsement is the platform's own certificate); a certificate
 * for the report's key must be byte-identical to its anchor.
 */
static consort_err check_endorsements(const cert_set *endorsements, const cert_set *anchors,
                                      const cs_x509 *anchor, const uint8_t key_id[32])
{
    uint8_t anchor_fp[32];
    CS_TRY(cs_x509_fingerprint(anchor, anchor_fp));
    for (size_t i = 0; i < endorsements->count; i++) {
        const cs_x509 *cert = endorsements->certs[i];
        uint8_t fp[32];
        uint8_t id[32];
        CS_TRY(cs_x509_fingerprint(cert, fp));
        CS_TRY(cert_key_id(cert, id));
        char subject[128];
        cs_x509_subject(cert, subject, sizeof subject);
        if (memcmp(id, key_id, 32) == 0) {
            CS_ENSURE(cs_ct_equal(CS_SLICE(fp, 32), CS_SLICE(anchor_fp, 32)), CONSORT_E_ATTESTATION,
                      "virtual platform: endorsement certificate %zu (%s) differs from the "
                      "trusted platform certificate for the same key",
                      i, subject);
            continue;
        }
        bool trusted = false;
        for (size_t a = 0; a < anchors->count && !trusted; a++) {
            uint8_t afp[32];
            CS_TRY(cs_x509_fingerprint(anchors->certs[a], afp));
            trusted = memcmp(afp, fp, 32) == 0;
        }
        CS_ENSURE(trusted, CONSORT_E_ATTESTATION,
                  "virtual platform: endorsement certificate %zu (%s) is not a trusted "
                  "platform certificate",
                  i, subject);
    }
    return CONSORT_OK;
}

static consort_err fill_claims(const cs_virtual_report *r, cs_claims *claims)
{
    memcpy(claims->code_id, r->code_id, 32);
    claims->security_version = r->security_version;
    claims->debug = (r->flags & CS_VIRTUAL_FLAG_DEBUG) != 0;
    memcpy(claims->report_data, r->report_data, 64);
    CS_TRY(cs_claims_add_hex(claims, "platform_key_id", CS_SLICE(r->platform_key_id, 32)));
    return cs_claims_add_bool(claims, "insecure", true);
}

/*
 * The trusted key for the report's platform key, after every check that
 * depends on the anchors and endorsements alone (a new reference in *key),
 * and the window in which those checks stay as they are (verify_cache.h).
 */
static consort_err trusted_key(const cs_evidence *ev, const cs_verify_opts *opts,
                               const cs_virtual_report *r, cert_set *anchors,
                               cert_set *endorsements, cs_key **key, cs_validity *window)
{
    CS_TRY(cert_set_parse(anchors, opts->anchors));
    const cs_x509 *anchor;
    CS_TRY(find_anchor(anchors, r->platform_key_id, &anchor));
    if (anchor == NULL) {
        char hex[65];
        cs_hex_encode(CS_SLICE(r->platform_key_id, 32), hex);
        return cs_fail(CONSORT_E_ATTESTATION,
                       "virtual platform: report signed by platform key %s, which none of the "
                       "%zu trusted platform certificates holds (%zu trusted files held no "
                       "certificate)",
                       hex, anchors->count, anchors->skipped);
    }
    CS_TRY(check_validity(anchor, opts->now));
    CS_TRY(cert_set_parse(endorsements, &ev->endorsements));
    CS_TRY(check_endorsements(endorsements, anchors, anchor, r->platform_key_id));

    CS_TRY(cs_x509_public_key(anchor, key));
    if (cs_key_curve(*key) != CS_CURVE_P256) {
        consort_err rc = cs_fail(CONSORT_E_UNSUPPORTED,
                                 "virtual platform: platform key is %s %s, expected EC P-256",
                                 cs_key_type_name(*key), cs_curve_name(cs_key_curve(*key)));
        cs_key_free(*key);
        *key = NULL;
        return rc;
    }
    /* The anchor's validity is the only time-dependent check above. */
    cs_validity_init(window);
    return cs_validity_add_cert(window, opts->now, anchor);
}

static void key_free_cb(void *key)
{
    cs_key_free(key);
}

/* The cache key: the anchors, the endorsements and the report's platform key id. */
static consort_err cache_key(const cs_evidence *ev, const cs_verify_opts *opts,
                             const cs_virtual_report *r, uint8_t out[CS_SHA256_LEN])
{
    cs_verify_cache_keyer k;
    CS_TRY(cs_verify_cache_key_init(&k, "consort/verify-cache/virtual/v1"));
    cs_verify_cache_key_add_blobs(&k, opts->anchors);
    cs_verify_cache_key_add_blobs(&k, &ev->endorsements);
    cs_verify_cache_key_add(&k, CS_SLICE(r->platform_key_id, sizeof r->platform_key_id));
    cs_verify_cache_key_final(&k, out);
    return CONSORT_OK;
}

/* The platform key: from opts->cache when these inputs were verified before. */
static consort_err platform_key(const cs_evidence *ev, const cs_verify_opts *opts,
                                const cs_virtual_report *r, cs_key **key)
{
    uint8_t ck[CS_SHA256_LEN];
    if (opts->cache != NULL) {
        CS_TRY(cache_key(ev, opts, r, ck));
        cs_key *hit = cs_verify_cache_get(opts->cache, ck, opts->now);
        if (hit != NULL) {
            *key = cs_key_ref(hit);
            return CONSORT_OK;
        }
    }
    cert_set anchors = {NULL, 0, 0};
    cert_set endorsements = {NULL, 0, 0};
    cs_validity window;
    consort_err rc = trusted_key(ev, opts, r, &anchors, &endorsements, key, &window);
    cert_set_cleanup(&anchors);
    cert_set_cleanup(&endorsements);
    if (rc == CONSORT_OK && opts->cache != NULL)
        rc = cs_verify_cache_put(opts->cache, ck, &window, cs_key_ref(*key), key_free_cb);
    if (rc != CONSORT_OK) {
        cs_key_free(*key);
        *key = NULL;
    }
    return rc;
}

static consort_err verify_with(const cs_evidence *ev, const cs_verify_opts *opts,
                               const cs_virtual_report *r, cs_claims *claims)
{
    cs_key *key = NULL;
    CS_TRY(platform_key(ev, opts, r, &key));
    /* virtual.h: ECDSA P-256 r||s over SHA-256(bytes 0..151) */
    consort_err rc =
        cs_ecdsa_verify(key, CS_HASH_SHA256, CS_SLICE(ev->evidence.ptr, CS_VIRTUAL_SIGNED_LEN),
                        CS_SIG_RAW, CS_SLICE(r->signature, sizeof r->signature));
    cs_key_free(key);
    CS_TRY_CTX(rc, "virtual report");
    return fill_claims(r, claims);
}

static consort_err virtual_verify(const cs_evidence *ev, const cs_verify_opts *opts,
                                  cs_claims *claims)
{
    CS_ENSURE(ev->platform == CS_PLATFORM_VIRTUAL, CONSORT_E_UNSUPPORTED,
              "virtual platform: evidence is for platform %s", cs_platform_name(ev->platform));
    CS_ENSURE(opts != NULL && opts->anchors != NULL && opts->anchors->count > 0,
              CONSORT_E_COLLATERAL_MISSING,
              "virtual platform: no trusted platform certificate given");
    cs_virtual_report r;
    CS_TRY(cs_virtual_report_parse(cs_buf_slice(&ev->evidence), &r));
    cs_claims_init(claims, CS_PLATFORM_VIRTUAL);
    consort_err rc = verify_with(ev, opts, &r, claims);
    if (rc != CONSORT_OK)
        cs_claims_init(claims, CS_PLATFORM_VIRTUAL); /* nothing established */
    return rc;
}

const cs_verifier cs_virtual_verifier = {
    .platform = CS_PLATFORM_VIRTUAL,
    .name = "virtual",
    .verify = virtual_verify,
};
