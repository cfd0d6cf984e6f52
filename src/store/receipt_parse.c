/*
 * Parsing receipts: the JSON document and the COSE receipt inside it
 * (docs/receipts.md "Getting a receipt" and "Verifying independently, step
 * by step"). Everything here is untrusted input: exact members, exact types,
 * capped lengths, no trailing bytes.
 */
#include "store/receipt.h"

#include "base/cbor.h"
#include "crypto/b64.h"

#include <jansson.h>
#include <string.h>

void cs_receipt_init(cs_receipt *r)
{
    memset(r, 0, sizeof *r);
    cs_buf_init(&r->cose, CS_RECEIPT_COSE_MAX);
    cs_buf_init(&r->cert_der, CS_LEDGER_CERT_MAX);
}

void cs_receipt_cleanup(cs_receipt *r)
{
    cs_buf_cleanup(&r->cose);
    cs_buf_cleanup(&r->cert_der);
    memset(r, 0, sizeof *r);
}

/* ---- JSON ---- */

/* `obj` has exactly the members `keys` (jansson rejected duplicates). */
static consort_err exact_members(const json_t *obj, const char *what, const char *const *keys,
                                 size_t n)
{
    CS_ENSURE(json_is_object(obj), CONSORT_E_MALFORMED, "receipt: %s is not a JSON object", what);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(key, keys[i]) == 0;
        CS_ENSURE(known, CONSORT_E_MALFORMED, "receipt: unexpected member \"%.64s\" in %s", key,
                  what);
    }
    CS_ENSURE(json_object_size(obj) == n, CONSORT_E_MALFORMED,
              "receipt: %s has %zu members, expected %zu", what, json_object_size(obj), n);
    return CONSORT_OK;
}

static consort_err get_string(const json_t *obj, const char *key, cs_slice *out)
{
    const json_t *v = json_object_get(obj, key);
    CS_ENSURE(json_is_string(v), CONSORT_E_MALFORMED, "receipt: \"%s\" is not a string", key);
    *out = CS_SLICE(json_string_value(v), json_string_length(v));
    /* an embedded NUL would make the C string and the JSON string differ */
    CS_ENSURE(memchr(out->ptr, 0, out->len) == NULL, CONSORT_E_MALFORMED,
              "receipt: \"%s\" contains a NUL character", key);
    return CONSORT_OK;
}

static consort_err get_digest(const json_t *obj, const char *key, uint8_t out[CS_LEDGER_DIGEST_LEN])
{
    cs_slice s;
    CS_TRY(get_string(obj, key, &s));
    CS_TRY_CTX(cs_hex_decode((const char *)s.ptr, out, CS_LEDGER_DIGEST_LEN), "receipt: \"%s\"",
               key);
    return CONSORT_OK;
}

static consort_err parse_leaf_components(const json_t *lc, cs_receipt *out)
{
    static const char *const keys[] = {"write_set_digest", "commit_evidence", "claims_digest"};
    CS_TRY(exact_members(lc, "leaf_components", keys, CS_ARRAY_LEN(keys)));
    CS_TRY(get_digest(lc, "write_set_digest", out->write_set_digest));
    CS_TRY(get_digest(lc, "claims_digest", out->claims_digest));
    cs_slice ce;
    CS_TRY(get_string(lc, "commit_evidence", &ce));
    CS_ENSURE(ce.len < sizeof out->commit_evidence, CONSORT_E_MALFORMED,
              "receipt: commit_evidence of %zu bytes is too long", ce.len);
    memcpy(out->commit_evidence, ce.ptr, ce.len);
    out->commit_evidence[ce.len] = '\0';
    return CONSORT_OK;
}

/* Exactly one certificate in the PEM text, kept as DER. */
static consort_err parse_cert(cs_slice pem, cs_buf *der)
{
    cs_x509 **list = NULL;
    size_t count = 0;
    CS_TRY_CTX(cs_x509_parse_all(pem, &list, &count), "receipt: node_certificate");
    consort_err rc = CONSORT_OK;
    if (count != 1)
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "receipt: node_certificate holds %zu certificates, expected 1", count);
    else
        rc = cs_x509_to_der(list[0], der);
    cs_x509_list_free(list, count);
    return rc;
}

static consort_err parse_doc(const json_t *doc, cs_receipt *out)
{
    static const char *const keys[] = {"txid", "cose_receipt", "leaf_components",
                                       "node_certificate"};
    CS_TRY(exact_members(doc, "the receipt", keys, CS_ARRAY_LEN(keys)));
    cs_slice txid, b64, pem;
    CS_TRY(get_string(doc, "txid", &txid));
    CS_TRY_CTX(cs_ledger_txid_parse(txid, &out->term, &out->seqno), "receipt");
    memcpy(out->txid, txid.ptr, txid.len);
    out->txid[txid.len] = '\0';
    CS_TRY(get_string(doc, "cose_receipt", &b64));
    CS_TRY_CTX(cs_b64_decode(b64, &out->cose), "receipt: cose_receipt");
    CS_TRY(parse_leaf_components(json_object_get(doc, "leaf_components"), out));
    CS_TRY(get_string(doc, "node_certificate", &pem));
    return parse_cert(pem, &out->cert_der);
}

consort_err cs_receipt_parse(cs_slice json, cs_receipt *out)
{
    cs_receipt_cleanup(out);
    cs_receipt_init(out);
    CS_ENSURE(json.len <= CS_RECEIPT_JSON_MAX, CONSORT_E_TOO_LARGE,
              "receipt: %zu bytes of JSON exceeds %zu", json.len, CS_RECEIPT_JSON_MAX);
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)json.ptr, json.len, JSON_REJECT_DUPLICATES, &jerr);
    CS_ENSURE(doc != NULL, CONSORT_E_MALFORMED, "receipt: not JSON: %s (line %d column %d)",
              jerr.text, jerr.line, jerr.column);
    consort_err rc = parse_doc(doc, out);
    json_decref(doc);
    return rc;
}

/* ---- the COSE receipt ---- */

/* [tree_size, leaf_index, [* bstr 32]] exactly (RFC 9942 inclusion proof). */
static consort_err parse_proof(cs_slice bytes, cs_receipt_proof *p)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, bytes);
    uint64_t n, hashes;
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n == 3, CONSORT_E_MALFORMED, "array of %llu items, expected 3",
              (unsigned long long)n);
    CS_TRY_CTX(cs_cbor_read_uint(&r, &p->tree_size), "tree_size");
    CS_TRY_CTX(cs_cbor_read_uint(&r, &p->leaf_index), "leaf_index");
    CS_ENSURE(p->leaf_index < p->tree_size, CONSORT_E_MALFORMED,
              "leaf_index %llu not below tree_size %llu", (unsigned long long)p->leaf_index,
              (unsigned long long)p->tree_size);
    CS_TRY_CTX(cs_cbor_read_array(&r, &hashes), "inclusion path");
    /* RFC 9162 §2.1.3.1: a path has at most one hash per level (64) */
    CS_ENSURE(hashes < CS_MERKLE_PROOF_MAX, CONSORT_E_MALFORMED, "inclusion path of %llu hashes",
              (unsigned long long)hashes);
    p->path_len = (size_t)hashes;
    for (size_t i = 0; i < p->path_len; i++) {
        CS_TRY_CTX(cs_cbor_read_bytes(&r, &p->path[i]), "inclusion path hash %zu", i);
        CS_ENSURE(p->path[i].len == CS_MERKLE_HASH_LEN, CONSORT_E_MALFORMED,
                  "inclusion path hash %zu of %zu bytes, expected 32", i, p->path[i].len);
    }
    return cs_cbor_expect_end(&r);
}

/* {396: {-1: [bstr]}} exactly: one inclusion proof. */
static consort_err parse_vdp(const cs_cose_headers *h, cs_receipt_proof *p)
{
    CS_ENSURE(h->count == 1, CONSORT_E_MALFORMED,
              "unprotected header of %zu entries, expected {396: proofs}", h->count);
    cs_slice vdp, proof;
    CS_TRY(cs_cose_headers_get(h, CS_COSE_HDR_VDP, &vdp));
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, vdp);
    uint64_t n;
    int64_t label;
    CS_TRY(cs_cbor_read_map(&r, &n));
    CS_ENSURE(n == 1, CONSORT_E_MALFORMED, "396: map of %llu entries, expected {-1: proofs}",
              (unsigned long long)n);
    CS_TRY(cs_cbor_read_int(&r, &label));
    CS_ENSURE(label == CS_RECEIPT_VDP_INCLUSION, CONSORT_E_MALFORMED,
              "396: label %lld, expected -1 (inclusion proofs)", (long long)label);
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n == 1, CONSORT_E_MALFORMED, "396: %llu inclusion proofs, expected 1",
              (unsigned long long)n);
    CS_TRY(cs_cbor_read_bytes(&r, &proof));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_TRY_CTX(parse_proof(proof, p), "inclusion proof");
    return CONSORT_OK;
}

consort_err cs_receipt_cose_decode(cs_slice cose, cs_cose_sign1 *msg, cs_cose_alg *alg,
                                   cs_slice *kid, cs_receipt_proof *proof)
{
    memset(proof, 0, sizeof *proof);
    CS_ENSURE(cose.len <= CS_RECEIPT_COSE_MAX, CONSORT_E_TOO_LARGE,
              "COSE receipt of %zu bytes exceeds %zu", cose.len, CS_RECEIPT_COSE_MAX);
    CS_TRY_CTX(cs_cose_sign1_decode(cose, msg), "COSE receipt");
    CS_ENSURE(msg->tagged, CONSORT_E_MALFORMED, "COSE receipt: no tag 18");
    CS_TRY_CTX(cs_ledger_sig_check_protected(msg, alg, kid), "COSE receipt");
    CS_TRY_CTX(parse_vdp(&msg->unprotected_hdr, proof), "COSE receipt");
    return CONSORT_OK;
}
