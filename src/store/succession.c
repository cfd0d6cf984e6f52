/*
 * Service identity succession records (succession.h): signing, strict
 * decoding, verification, and following the chain back from a pinned
 * certificate to the identity that signed a receipt.
 */
#include "store/succession.h"

#include "base/alloc.h"
#include "base/cbor.h"
#include "crypto/hash.h"

#include <stdio.h>
#include <string.h>

static const char *const role_names[2] = {"previous", "next"};

static consort_err alg_of(const cs_key *key, cs_cose_alg *alg)
{
    switch (cs_key_curve(key)) {
    case CS_CURVE_P256:
        *alg = CS_COSE_ES256;
        return CONSORT_OK;
    case CS_CURVE_P384:
        *alg = CS_COSE_ES384;
        return CONSORT_OK;
    default:
        return cs_fail(CONSORT_E_INVALID_ARGUMENT, "succession: a %s service key",
                       cs_curve_name(cs_key_curve(key)));
    }
}

/* The key id of `cert`'s key, which must equal `key`'s if `key` is given. */
static consort_err cert_key_id(const cs_x509 *cert, const cs_key *key, uint8_t id[CS_SHA256_LEN])
{
    cs_key *pub = NULL;
    CS_TRY(cs_x509_public_key(cert, &pub));
    consort_err rc = cs_key_id(pub, id);
    cs_key_free(pub);
    CS_TRY(rc);
    if (key != NULL) {
        uint8_t kid[CS_SHA256_LEN];
        CS_TRY(cs_key_id(key, kid));
        CS_ENSURE(memcmp(kid, id, CS_SHA256_LEN) == 0, CONSORT_E_INVALID_ARGUMENT,
                  "succession: a service key is not its certificate's key");
    }
    return CONSORT_OK;
}

static consort_err write_statement(const cs_succession_params *p, cs_buf *out)
{
    cs_buf prev, next;
    cs_buf_init(&prev, CS_LEDGER_CERT_MAX);
    cs_buf_init(&next, CS_LEDGER_CERT_MAX);
    char txid[CS_LEDGER_TXID_MAX];
    cs_ledger_txid_format(p->last_term, p->last_seqno, txid);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_to_der(p->previous_cert, &prev), done);
    CS_TRY_GOTO(rc, cs_x509_to_der(p->next_cert, &next), done);
    CS_TRY_GOTO(rc, cs_cbor_write_map(out, 3), done);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(out, "previous"), done);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, cs_buf_slice(&prev)), done);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(out, "next"), done);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, cs_buf_slice(&next)), done);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(out, "last_txid"), done);
    rc = cs_cbor_write_cstr(out, txid);
done:
    cs_buf_cleanup(&prev);
    cs_buf_cleanup(&next);
    return rc;
}

/* One endorsement of `statement` by `key` in role `role` (0 previous, 1 next). */
static consort_err endorse(const cs_key *key, int role, cs_slice statement, cs_buf *out)
{
    cs_cose_alg alg;
    uint8_t kid[CS_SHA256_LEN];
    CS_TRY(alg_of(key, &alg));
    CS_TRY(cs_key_id(key, kid));
    const cs_cose_param params[2] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, sizeof kid)),
        {.label = {.is_text = true, .text = CS_SLICE_LIT(CS_SUCCESSION_HDR_SIGNER)},
         .type = CS_COSE_VALUE_TEXT,
         .s = cs_slice_str(role_names[role])},
    };
    const cs_cose_sign1_params sp = {.alg = alg,
                                     .protected_params = params,
                                     .protected_count = 2,
                                     .payload = statement,
                                     .detached = true};
    return cs_cose_sign1_sign(key, &sp, out);
}

static consort_err sign_into(const cs_succession_params *p, cs_buf *statement, cs_buf *by_prev,
                             cs_buf *by_next, cs_buf *out)
{
    uint8_t a[CS_SHA256_LEN], b[CS_SHA256_LEN];
    CS_ENSURE(p->last_term >= 1 && p->last_seqno >= 1 && p->last_term <= CS_LEDGER_TERM_MAX,
              CONSORT_E_INVALID_ARGUMENT, "succession: recovery point %llu.%llu",
              (unsigned long long)p->last_term, (unsigned long long)p->last_seqno);
    CS_TRY(cert_key_id(p->previous_cert, p->previous_key, a));
    CS_TRY(cert_key_id(p->next_cert, p->next_key, b));
    CS_ENSURE(memcmp(a, b, sizeof a) != 0, CONSORT_E_INVALID_ARGUMENT,
              "succession: the previous and the next identity have the same key");
    CS_TRY(write_statement(p, statement));
    CS_TRY(endorse(p->previous_key, 0, cs_buf_slice(statement), by_prev));
    CS_TRY(endorse(p->next_key, 1, cs_buf_slice(statement), by_next));
    CS_TRY(cs_cbor_write_map(out, 3));
    CS_TRY(cs_cbor_write_cstr(out, "statement"));
    CS_TRY(cs_cbor_write_bytes(out, cs_buf_slice(statement)));
    CS_TRY(cs_cbor_write_cstr(out, "by_previous"));
    CS_TRY(cs_cbor_write_bytes(out, cs_buf_slice(by_prev)));
    CS_TRY(cs_cbor_write_cstr(out, "by_next"));
    return cs_cbor_write_bytes(out, cs_buf_slice(by_next));
}

consort_err cs_succession_sign(const cs_succession_params *p, cs_buf *out)
{
    cs_buf statement, by_prev, by_next;
    cs_buf_init(&statement, CS_SUCCESSION_MAX);
    cs_buf_init(&by_prev, CS_SUCCESSION_MAX);
    cs_buf_init(&by_next, CS_SUCCESSION_MAX);
    size_t len = out->len;
    consort_err rc = sign_into(p, &statement, &by_prev, &by_next, out);
    if (rc != CONSORT_OK)
        out->len = len;
    cs_buf_cleanup(&statement);
    cs_buf_cleanup(&by_prev);
    cs_buf_cleanup(&by_next);
    return rc;
}

/* ---- decoding ---- */

static consort_err read_bytes(cs_cbor_reader *r, const char *key, cs_slice *out)
{
    CS_TRY(cs_cbor_read_key(r, key));
    CS_TRY_CTX(cs_cbor_read_bytes(r, out), "\"%s\"", key);
    CS_ENSURE(out->len > 0, CONSORT_E_MALFORMED, "\"%s\" is empty", key);
    return CONSORT_OK;
}

static consort_err decode_statement(cs_succession *s)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, s->statement);
    uint64_t pairs;
    CS_TRY(cs_cbor_read_map(&r, &pairs));
    CS_ENSURE(pairs == 3, CONSORT_E_MALFORMED, "statement: %llu members, expected 3",
              (unsigned long long)pairs);
    CS_TRY(read_bytes(&r, "previous", &s->previous_der));
    CS_TRY(read_bytes(&r, "next", &s->next_der));
    CS_TRY(cs_cbor_read_key(&r, "last_txid"));
    CS_TRY(cs_cbor_read_cstr(&r, s->last_txid, sizeof s->last_txid, "last_txid"));
    CS_TRY_CTX(cs_ledger_txid_parse(cs_slice_str(s->last_txid), &s->last_term, &s->last_seqno),
               "last_txid");
    return cs_cbor_expect_end(&r);
}

static consort_err decode(cs_slice record, cs_succession *s)
{
    CS_ENSURE(record.len <= CS_SUCCESSION_MAX, CONSORT_E_TOO_LARGE, "%zu bytes, at most %zu",
              record.len, CS_SUCCESSION_MAX);
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, record);
    uint64_t pairs;
    CS_TRY(cs_cbor_read_map(&r, &pairs));
    CS_ENSURE(pairs == 3, CONSORT_E_MALFORMED, "%llu members, expected 3",
              (unsigned long long)pairs);
    CS_TRY(read_bytes(&r, "statement", &s->statement));
    CS_TRY(read_bytes(&r, "by_previous", &s->by_previous));
    CS_TRY(read_bytes(&r, "by_next", &s->by_next));
    CS_TRY(cs_cbor_expect_end(&r));
    return decode_statement(s);
}

consort_err cs_succession_decode(cs_slice record, cs_succession *out)
{
    memset(out, 0, sizeof *out);
    CS_TRY_CTX(decode(record, out), "succession record");
    return CONSORT_OK;
}

/* ---- verification ---- */

/* The protected header is exactly {1, 4, signer}, signer = role, kid = `kid`,
 * alg = the key's curve's; then the signature. */
static consort_err check_endorsement(cs_slice cose, const cs_key *key, int role, cs_slice statement)
{
    cs_cose_sign1 msg;
    cs_cose_alg alg, want_alg;
    cs_slice kid, raw_role, role_text;
    uint8_t want_kid[CS_SHA256_LEN];
    CS_TRY(cs_cose_sign1_decode(cose, &msg));
    CS_ENSURE(msg.detached, CONSORT_E_MALFORMED, "the payload must be detached");
    CS_ENSURE(msg.protected_hdr.count == 3 && msg.unprotected_hdr.count == 0, CONSORT_E_MALFORMED,
              "the protected header must be exactly {alg, kid, %s} and the unprotected one empty",
              CS_SUCCESSION_HDR_SIGNER);
    CS_TRY(cs_cose_sign1_alg(&msg, &alg));
    CS_TRY(alg_of(key, &want_alg));
    CS_ENSURE(alg == want_alg, CONSORT_E_BAD_SIGNATURE, "alg %s with a %s key",
              cs_cose_alg_name(alg), cs_curve_name(cs_key_curve(key)));
    CS_TRY(cs_cose_headers_get_bytes(&msg.protected_hdr, CS_COSE_HDR_KID, &kid));
    CS_TRY(cs_key_id(key, want_kid));
    CS_ENSURE(cs_slice_eq(kid, CS_SLICE(want_kid, sizeof want_kid)), CONSORT_E_BAD_SIGNATURE,
              "kid is not the key id of the %s service certificate", role_names[role]);
    const cs_cose_label label = {.is_text = true, .text = CS_SLICE_LIT(CS_SUCCESSION_HDR_SIGNER)};
    CS_TRY(cs_cose_headers_find(&msg.protected_hdr, label, &raw_role));
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, raw_role);
    CS_TRY(cs_cbor_read_text(&r, &role_text));
    CS_ENSURE(cs_slice_eq(role_text, cs_slice_str(role_names[role])), CONSORT_E_MALFORMED,
              "%s is \"%.*s\", expected \"%s\"", CS_SUCCESSION_HDR_SIGNER, (int)role_text.len,
              (const char *)role_text.ptr, role_names[role]);
    const cs_cose_verify_opts vo = {.detached_payload = &statement};
    return cs_cose_sign1_verify(&msg, key, &vo);
}

static consort_err verify_one(cs_slice der, cs_slice cose, int role, cs_slice statement,
                              uint8_t key_id[CS_SHA256_LEN])
{
    cs_x509 *cert = NULL;
    cs_key *key = NULL;
    consort_err rc;
    CS_TRY_CTX(cs_x509_from_der(der, &cert), "the %s service certificate", role_names[role]);
    CS_TRY_GOTO(rc, cs_x509_public_key(cert, &key), done);
    CS_TRY_GOTO(rc, cs_key_id(key, key_id), done);
    rc = check_endorsement(cose, key, role, statement);
done:
    cs_key_free(key);
    cs_x509_free(cert);
    return rc == CONSORT_OK ? rc
                            : cs_err_context(rc, "the endorsement by the %s identity (by_%s)",
                                             role_names[role], role_names[role]);
}

consort_err cs_succession_verify(const cs_succession *s)
{
    uint8_t a[CS_SHA256_LEN], b[CS_SHA256_LEN];
    CS_TRY_CTX(verify_one(s->previous_der, s->by_previous, 0, s->statement, a),
               "succession record");
    CS_TRY_CTX(verify_one(s->next_der, s->by_next, 1, s->statement, b), "succession record");
    CS_ENSURE(memcmp(a, b, sizeof a) != 0, CONSORT_E_MALFORMED,
              "succession record: the previous and the next identity have the same key");
    return CONSORT_OK;
}

/* ---- the chain ---- */

/* The record whose "next" is `current` (index or -1); MALFORMED if two are. */
static consort_err find_successor_of(const cs_slice *records, size_t count, cs_slice current,
                                     cs_succession *found, long *index)
{
    *index = -1;
    for (size_t i = 0; i < count; i++) {
        cs_succession s;
        CS_TRY_CTX(cs_succession_decode(records[i], &s), "record %zu", i);
        if (!cs_slice_eq(s.next_der, current))
            continue;
        CS_ENSURE(*index < 0, CONSORT_E_MALFORMED,
                  "records %ld and %zu both name the same next identity", *index, i);
        *found = s;
        *index = (long)i;
    }
    return CONSORT_OK;
}

consort_err cs_succession_identity_for(const cs_slice *records, size_t count, const cs_x509 *pinned,
                                       uint64_t seqno, cs_x509 **out, size_t *hops)
{
    *out = NULL;
    *hops = 0;
    cs_buf der;
    cs_buf_init(&der, CS_LEDGER_CERT_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_to_der(pinned, &der), done);
    cs_slice current = cs_buf_slice(&der);
    uint64_t bound = UINT64_MAX;
    for (;;) {
        cs_succession s;
        long i;
        CS_TRY_GOTO(rc, find_successor_of(records, count, current, &s, &i), done);
        if (i < 0 || seqno > s.last_seqno)
            break; /* the current identity signed it */
        CS_ENSURE_GOTO(rc, s.last_seqno < bound, done, CONSORT_E_MALFORMED,
                       "record %ld: recovery point %s is not before the later identity's", i,
                       s.last_txid);
        CS_ENSURE_GOTO(rc, *hops < CS_SUCCESSION_CHAIN_MAX, done, CONSORT_E_TOO_LARGE,
                       "more than %d identities in the chain", CS_SUCCESSION_CHAIN_MAX);
        CS_TRY_CTX_GOTO(rc, cs_succession_verify(&s), done, "record %ld", i);
        bound = s.last_seqno;
        current = s.previous_der;
        (*hops)++;
    }
    rc = cs_x509_from_der(current, out);
done:
    cs_buf_cleanup(&der);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "identity chain");
}

void cs_succession_chain_free(cs_succession_link *links, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cs_x509_free(links[i].cert);
        links[i].cert = NULL;
    }
}

static consort_err chain_back(const cs_slice *records, size_t count, cs_slice current,
                              cs_succession_link *out, size_t *n)
{
    uint64_t bound = UINT64_MAX;
    for (;;) {
        cs_succession s;
        long i;
        CS_TRY(find_successor_of(records, count, current, &s, &i));
        if (i < 0)
            return CONSORT_OK;
        CS_ENSURE(s.last_seqno < bound, CONSORT_E_MALFORMED,
                  "record %ld: recovery point %s is not before the later identity's", i,
                  s.last_txid);
        CS_ENSURE(*n < CS_SUCCESSION_CHAIN_MAX + 1, CONSORT_E_TOO_LARGE,
                  "more than %d identities in the chain", CS_SUCCESSION_CHAIN_MAX);
        CS_TRY_CTX(cs_succession_verify(&s), "record %ld", i);
        CS_TRY(cs_x509_from_der(s.previous_der, &out[*n].cert));
        out[(*n)++].last_seqno = s.last_seqno;
        bound = s.last_seqno;
        current = s.previous_der;
    }
}

consort_err cs_succession_chain(const cs_slice *records, size_t count, const cs_x509 *pinned,
                                cs_succession_link *out, size_t *n)
{
    *n = 0;
    cs_buf der;
    cs_buf_init(&der, CS_LEDGER_CERT_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_to_der(pinned, &der), done);
    CS_TRY_GOTO(rc, cs_x509_from_der(cs_buf_slice(&der), &out[0].cert), done);
    out[0].last_seqno = 0;
    *n = 1;
    CS_TRY_GOTO(rc, chain_back(records, count, cs_buf_slice(&der), out + 0, n), done);
    for (size_t i = 0; i < *n / 2; i++) { /* oldest first */
        cs_succession_link t = out[i];
        out[i] = out[*n - 1 - i];
        out[*n - 1 - i] = t;
    }
done:
    cs_buf_cleanup(&der);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "identity chain");
}

consort_err cs_receipt_verify_chain(const cs_receipt *r, const cs_x509 *pinned,
                                    const cs_slice *records, size_t count,
                                    const cs_receipt_verify_opts *opts, size_t *hops)
{
    cs_x509 *issuer = NULL;
    size_t n = 0;
    CS_TRY(cs_succession_identity_for(records, count, pinned, r->seqno, &issuer, &n));
    consort_err rc = cs_receipt_verify(r, issuer, opts);
    cs_x509_free(issuer);
    if (rc != CONSORT_OK && n > 0)
        return cs_err_context(rc, "receipt %s against the identity %zu step%s back in the chain",
                              r->txid, n, n == 1 ? "" : "s");
    if (hops != NULL)
        *hops = n;
    return rc;
}
