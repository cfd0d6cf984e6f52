/*
 * Signature entries: build and parse (docs/ledger.md section 4). The
 * cryptographic checks are in ledger_sig_verify.c, the checkpoint record
 * and the terms digest in ledger_checkpoint.c.
 *
 * A signature entry is a kind-2 entry without private writes whose public
 * write set is
 *
 *   { "public:consort.signatures": [ [ h'00', bstr .cbor {
 *         "term": uint, "seqno": uint, "tree_size": uint, "root": bstr 32,
 *         "state": bstr 32, "terms": bstr 32, "node_id": tstr,
 *         "cose": bstr, "checkpoint": bstr, "cert": bstr } ] ] }
 *
 * with the inner map's keys in exactly that order. "cose" signs the root
 * (protected {1: alg, 4: kid, 395: 1}: receipts reuse it), "checkpoint"
 * signs the checkpoint record (protected {1: alg, 4: kid}, the same alg
 * and kid). The value is a byte string holding the map because write-set
 * values are byte strings (docs/kv.md): the KV store keeps the latest
 * signature under key h'00' of that public map like any other write.
 */
#include "store/ledger.h"

#include "base/cbor.h"
#include "crypto/hash.h"

#include <string.h>

/* The inner map's keys, in their required order. */
enum {
    SIG_TERM,
    SIG_SEQNO,
    SIG_TREE_SIZE,
    SIG_ROOT,
    SIG_STATE,
    SIG_TERMS,
    SIG_NODE_ID,
    SIG_COSE,
    SIG_CHECKPOINT,
    SIG_CERT,
    SIG_KEYS
};
static const char *const sig_keys[SIG_KEYS] = {
    "term", "seqno", "tree_size", "root", "state", "terms", "node_id", "cose", "checkpoint", "cert",
};

static consort_err alg_for_key(const cs_key *key, cs_cose_alg *alg)
{
    switch (cs_key_curve(key)) {
    case CS_CURVE_P256:
        *alg = CS_COSE_ES256;
        return CONSORT_OK;
    case CS_CURVE_P384:
        *alg = CS_COSE_ES384;
        return CONSORT_OK;
    default:
        return cs_fail(CONSORT_E_INVALID_ARGUMENT,
                       "signature entry: node key must be P-256 or P-384, not %s",
                       cs_curve_name(cs_key_curve(key)));
    }
}

/* The node key, its certificate and node_id must all name the same key. */
static consort_err check_signer(const cs_ledger_signer *s, uint8_t kid[CS_SHA256_LEN])
{
    CS_TRY(cs_key_id(s->node_key, kid));
    char want[CS_LEDGER_NODE_ID_LEN + 1];
    cs_hex_encode(CS_SLICE(kid, CS_LEDGER_NODE_ID_LEN / 2), want);
    CS_ENSURE(s->node_id != NULL && strcmp(s->node_id, want) == 0, CONSORT_E_INVALID_ARGUMENT,
              "signature entry: node_id \"%s\" is not the node key's id %s",
              s->node_id ? s->node_id : "(null)", want);
    cs_key *cert_key = NULL;
    CS_TRY(cs_x509_public_key(s->node_cert, &cert_key));
    bool same = cs_key_same_public(cert_key, s->node_key);
    cs_key_free(cert_key);
    CS_ENSURE(same, CONSORT_E_INVALID_ARGUMENT,
              "signature entry: the node certificate is not for the node key");
    return CONSORT_OK;
}

/* A detached COSE_Sign1 over `payload` with protected {1: alg, 4: kid} and,
 * for the root, 395: 1 (RFC 9942: RFC9162_SHA256); unprotected {}. */
static consort_err sign_detached(const cs_ledger_signer *s, const uint8_t kid[CS_SHA256_LEN],
                                 cs_slice payload, bool vds, cs_buf *cose)
{
    cs_cose_alg alg = CS_COSE_ES256;
    CS_TRY(alg_for_key(s->node_key, &alg));
    const cs_cose_param params[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, CS_SHA256_LEN)),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1),
    };
    cs_cose_sign1_params p = {
        .alg = alg,
        .protected_params = params,
        .protected_count = vds ? 2 : 1,
        .unprotected = CS_SLICE_EMPTY,
        .payload = payload,
        .detached = true,
    };
    return cs_cose_sign1_sign(s->node_key, &p, cose);
}

/* What goes into the inner map, besides term and seqno. */
typedef struct sig_values {
    cs_slice root, state, terms, cose, checkpoint, cert;
    const char *node_id;
} sig_values;

static consort_err write_sig_map(cs_buf *b, uint64_t term, uint64_t seqno, const sig_values *v)
{
    CS_TRY(cs_cbor_write_map(b, SIG_KEYS));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_TERM]));
    CS_TRY(cs_cbor_write_uint(b, term));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_SEQNO]));
    CS_TRY(cs_cbor_write_uint(b, seqno));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_TREE_SIZE]));
    CS_TRY(cs_cbor_write_uint(b, seqno - 1));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_ROOT]));
    CS_TRY(cs_cbor_write_bytes(b, v->root));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_STATE]));
    CS_TRY(cs_cbor_write_bytes(b, v->state));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_TERMS]));
    CS_TRY(cs_cbor_write_bytes(b, v->terms));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_NODE_ID]));
    CS_TRY(cs_cbor_write_cstr(b, v->node_id));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_COSE]));
    CS_TRY(cs_cbor_write_bytes(b, v->cose));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_CHECKPOINT]));
    CS_TRY(cs_cbor_write_bytes(b, v->checkpoint));
    CS_TRY(cs_cbor_write_cstr(b, sig_keys[SIG_CERT]));
    return cs_cbor_write_bytes(b, v->cert);
}

static consort_err write_sig_ws(cs_buf *ws, cs_slice inner)
{
    static const uint8_t key[1] = {0x00};
    CS_TRY(cs_cbor_write_map(ws, 1));
    CS_TRY(cs_cbor_write_cstr(ws, CS_LEDGER_SIG_MAP));
    CS_TRY(cs_cbor_write_array(ws, 1));
    CS_TRY(cs_cbor_write_array(ws, 2));
    CS_TRY(cs_cbor_write_bytes(ws, CS_SLICE(key, 1)));
    return cs_cbor_write_bytes(ws, inner);
}

static consort_err check_sig_params(const cs_merkle_tree *tree, const cs_ledger_sig_params *p)
{
    CS_ENSURE(p->seqno >= 1 && cs_merkle_size(tree) == p->seqno - 1, CONSORT_E_INVALID_ARGUMENT,
              "signature entry %llu: the tree holds %llu leaves, expected seqno - 1",
              (unsigned long long)p->seqno, (unsigned long long)cs_merkle_size(tree));
    CS_ENSURE(p->state != NULL && p->terms != NULL, CONSORT_E_INVALID_ARGUMENT,
              "signature entry %llu: the state and terms digests are required",
              (unsigned long long)p->seqno);
    return CONSORT_OK;
}

consort_err cs_ledger_sig_build(const cs_merkle_tree *tree, const cs_ledger_signer *signer,
                                const cs_ledger_sig_params *p, cs_ledger_keys *keys, cs_buf *out)
{
    CS_TRY(check_sig_params(tree, p));
    uint8_t kid[CS_SHA256_LEN], root[CS_MERKLE_HASH_LEN];
    CS_TRY(check_signer(signer, kid));
    cs_merkle_root(tree, root);
    sig_values v = {
        .root = CS_SLICE(root, sizeof root),
        .state = CS_SLICE(p->state, CS_LEDGER_DIGEST_LEN),
        .terms = CS_SLICE(p->terms, CS_LEDGER_DIGEST_LEN),
        .node_id = signer->node_id,
    };

    cs_buf cose, record, checkpoint, cert, inner, ws;
    cs_buf_init(&cose, 0);
    cs_buf_init(&record, 0);
    cs_buf_init(&checkpoint, 0);
    cs_buf_init(&cert, CS_LEDGER_CERT_MAX);
    cs_buf_init(&inner, 0);
    cs_buf_init(&ws, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, sign_detached(signer, kid, v.root, true, &cose), done);
    CS_TRY_GOTO(rc, cs_ledger_checkpoint_payload(p->seqno - 1, v.root, v.state, v.terms, &record),
                done);
    CS_TRY_GOTO(rc, sign_detached(signer, kid, cs_buf_slice(&record), false, &checkpoint), done);
    CS_TRY_GOTO(rc, cs_x509_to_der(signer->node_cert, &cert), done);
    v.cose = cs_buf_slice(&cose);
    v.checkpoint = cs_buf_slice(&checkpoint);
    v.cert = cs_buf_slice(&cert);
    CS_TRY_GOTO(rc, write_sig_map(&inner, p->term, p->seqno, &v), done);
    CS_TRY_GOTO(rc, write_sig_ws(&ws, cs_buf_slice(&inner)), done);
    cs_ledger_entry_params ep = {
        .kind = CS_LEDGER_KIND_SIGNATURE,
        .term = p->term,
        .seqno = p->seqno,
        .public_ws = cs_buf_slice(&ws),
    };
    rc = cs_ledger_entry_encode(&ep, keys, out);
done:
    cs_buf_cleanup(&cose);
    cs_buf_cleanup(&record);
    cs_buf_cleanup(&checkpoint);
    cs_buf_cleanup(&cert);
    cs_buf_cleanup(&inner);
    cs_buf_cleanup(&ws);
    return rc;
}

/* ---- parse ---- */

static consort_err expect_text(cs_cbor_reader *r, const char *want, const char *what)
{
    cs_slice s;
    CS_TRY_CTX(cs_cbor_read_text(r, &s), "%s", what);
    CS_ENSURE(cs_slice_eq(s, cs_slice_str(want)), CONSORT_E_MALFORMED,
              "%s \"%.*s\", expected \"%s\"", what, (int)(s.len < 64 ? s.len : 64),
              (const char *)s.ptr, want);
    return CONSORT_OK;
}

/* The outer write set; `inner` receives the map's bytes. */
static consort_err parse_ws(cs_slice ws, cs_slice *inner)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, ws);
    uint64_t n;
    cs_slice key;
    CS_TRY(cs_cbor_read_map(&r, &n));
    CS_ENSURE(n == 1, CONSORT_E_MALFORMED, "write set has %llu maps, expected 1",
              (unsigned long long)n);
    CS_TRY(expect_text(&r, CS_LEDGER_SIG_MAP, "map name"));
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n == 1, CONSORT_E_MALFORMED, "%llu writes, expected 1", (unsigned long long)n);
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n == 2, CONSORT_E_MALFORMED, "write of %llu items, expected [key, value]",
              (unsigned long long)n);
    CS_TRY_CTX(cs_cbor_read_bytes(&r, &key), "key");
    CS_ENSURE(key.len == 1 && key.ptr[0] == 0x00, CONSORT_E_MALFORMED,
              "key of %zu bytes, expected h'00'", key.len);
    CS_TRY_CTX(cs_cbor_read_bytes(&r, inner), "value");
    return cs_cbor_expect_end(&r);
}

static consort_err read_fields(cs_slice inner, cs_ledger_sig *out)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, inner);
    uint64_t n;
    CS_TRY(cs_cbor_read_map(&r, &n));
    CS_ENSURE(n == SIG_KEYS, CONSORT_E_MALFORMED, "map of %llu keys, expected %d",
              (unsigned long long)n, SIG_KEYS);
    for (int i = 0; i < SIG_KEYS; i++) {
        CS_TRY(expect_text(&r, sig_keys[i], "key"));
        switch (i) {
        case SIG_TERM:
            CS_TRY_CTX(cs_cbor_read_uint(&r, &out->term), "term");
            break;
        case SIG_SEQNO:
            CS_TRY_CTX(cs_cbor_read_uint(&r, &out->seqno), "seqno");
            break;
        case SIG_TREE_SIZE:
            CS_TRY_CTX(cs_cbor_read_uint(&r, &out->tree_size), "tree_size");
            break;
        case SIG_ROOT:
            CS_TRY_CTX(cs_cbor_read_bytes(&r, &out->root), "root");
            break;
        case SIG_STATE:
            CS_TRY_CTX(cs_cbor_read_bytes(&r, &out->state), "state");
            break;
        case SIG_TERMS:
            CS_TRY_CTX(cs_cbor_read_bytes(&r, &out->terms), "terms");
            break;
        case SIG_NODE_ID:
            CS_TRY_CTX(cs_cbor_read_text(&r, &out->node_id), "node_id");
            break;
        case SIG_COSE:
            CS_TRY_CTX(cs_cbor_read_bytes(&r, &out->cose), "cose");
            break;
        case SIG_CHECKPOINT:
            CS_TRY_CTX(cs_cbor_read_bytes(&r, &out->checkpoint), "checkpoint");
            break;
        default:
            CS_TRY_CTX(cs_cbor_read_bytes(&r, &out->cert), "cert");
            break;
        }
    }
    return cs_cbor_expect_end(&r);
}

static bool is_lower_hex(cs_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!((s.ptr[i] >= '0' && s.ptr[i] <= '9') || (s.ptr[i] >= 'a' && s.ptr[i] <= 'f')))
            return false;
    return true;
}

static consort_err check_fields(const cs_ledger_entry *e, const cs_ledger_sig *s)
{
    CS_ENSURE(s->term == e->term && s->seqno == e->seqno, CONSORT_E_MALFORMED,
              "signs term %llu seqno %llu, but the entry is term %llu seqno %llu",
              (unsigned long long)s->term, (unsigned long long)s->seqno,
              (unsigned long long)e->term, (unsigned long long)e->seqno);
    /* docs/ledger.md §4.1: tree_size = seqno - 1, the leaves before this entry */
    CS_ENSURE(s->tree_size == s->seqno - 1, CONSORT_E_MALFORMED,
              "tree_size %llu, expected seqno - 1 = %llu", (unsigned long long)s->tree_size,
              (unsigned long long)(s->seqno - 1));
    CS_ENSURE(s->root.len == CS_MERKLE_HASH_LEN, CONSORT_E_MALFORMED,
              "root of %zu bytes, expected %d", s->root.len, CS_MERKLE_HASH_LEN);
    CS_ENSURE(s->state.len == CS_LEDGER_DIGEST_LEN, CONSORT_E_MALFORMED,
              "state of %zu bytes, expected %d", s->state.len, CS_LEDGER_DIGEST_LEN);
    CS_ENSURE(s->terms.len == CS_LEDGER_DIGEST_LEN, CONSORT_E_MALFORMED,
              "terms of %zu bytes, expected %d", s->terms.len, CS_LEDGER_DIGEST_LEN);
    CS_ENSURE(s->node_id.len == CS_LEDGER_NODE_ID_LEN && is_lower_hex(s->node_id),
              CONSORT_E_MALFORMED, "node_id of %zu bytes, expected %d lower-case hex digits",
              s->node_id.len, CS_LEDGER_NODE_ID_LEN);
    CS_ENSURE(s->cert.len > 0 && s->cert.len <= CS_LEDGER_CERT_MAX, CONSORT_E_MALFORMED,
              "certificate of %zu bytes (1..%d)", s->cert.len, CS_LEDGER_CERT_MAX);
    return CONSORT_OK;
}

consort_err cs_ledger_sig_check_protected(const cs_cose_sign1 *msg, cs_cose_alg *alg, cs_slice *kid)
{
    CS_ENSURE(msg->detached, CONSORT_E_MALFORMED, "COSE_Sign1 payload not detached");
    const cs_cose_headers *h = &msg->protected_hdr;
    /* DESIGN.md "Receipts": protected header {1: alg, 4: kid, 395: 1} */
    CS_ENSURE(h->count == 3, CONSORT_E_MALFORMED,
              "protected header of %zu entries, expected {1: alg, 4: kid, 395: 1}", h->count);
    int64_t vds;
    CS_TRY(cs_cose_sign1_alg(msg, alg));
    CS_ENSURE(*alg == CS_COSE_ES256 || *alg == CS_COSE_ES384, CONSORT_E_UNSUPPORTED,
              "alg %d, expected -7 (ES256) or -35 (ES384)", (int)*alg);
    CS_TRY_CTX(cs_cose_headers_get_bytes(h, CS_COSE_HDR_KID, kid), "kid");
    CS_ENSURE(kid->len == CS_SHA256_LEN, CONSORT_E_MALFORMED, "kid of %zu bytes, expected 32",
              kid->len);
    /* RFC 9942, COSE Verifiable Data Structures registry: 1 = RFC9162_SHA256 */
    CS_TRY_CTX(cs_cose_headers_get_int(h, CS_COSE_HDR_VDS, &vds), "vds (395)");
    CS_ENSURE(vds == 1, CONSORT_E_UNSUPPORTED, "vds %lld, expected 1 (RFC9162_SHA256)",
              (long long)vds);
    return CONSORT_OK;
}

/* A COSE_Sign1 as stored: tagged, and no unprotected header. */
static consort_err decode_stored(cs_slice bytes, cs_cose_sign1 *msg)
{
    CS_TRY(cs_cose_sign1_decode(bytes, msg));
    CS_ENSURE(msg->tagged, CONSORT_E_MALFORMED, "COSE_Sign1 without tag 18");
    CS_ENSURE(msg->unprotected_hdr.count == 0, CONSORT_E_MALFORMED,
              "unprotected header of %zu entries, expected none", msg->unprotected_hdr.count);
    return CONSORT_OK;
}

static consort_err check_cose(cs_ledger_sig *s)
{
    CS_TRY(decode_stored(s->cose, &s->msg));
    return cs_ledger_sig_check_protected(&s->msg, &s->alg, &s->kid);
}

/* docs/ledger.md 4.2: the checkpoint's protected header is exactly
 * {1: alg, 4: kid} with the alg and kid of the root's COSE_Sign1. */
static consort_err check_checkpoint(cs_ledger_sig *s)
{
    CS_TRY(decode_stored(s->checkpoint, &s->checkpoint_msg));
    const cs_cose_sign1 *m = &s->checkpoint_msg;
    CS_ENSURE(m->detached, CONSORT_E_MALFORMED, "COSE_Sign1 payload not detached");
    CS_ENSURE(m->protected_hdr.count == 2, CONSORT_E_MALFORMED,
              "protected header of %zu entries, expected {1: alg, 4: kid}", m->protected_hdr.count);
    cs_cose_alg alg;
    cs_slice kid;
    CS_TRY(cs_cose_sign1_alg(m, &alg));
    CS_ENSURE(alg == s->alg, CONSORT_E_MALFORMED, "alg %s, but the root is signed with %s",
              cs_cose_alg_name(alg), cs_cose_alg_name(s->alg));
    CS_ENSURE(cs_cose_headers_has(&m->protected_hdr, CS_COSE_HDR_KID), CONSORT_E_MALFORMED,
              "protected header lacks kid (4)");
    CS_TRY_CTX(cs_cose_headers_get_bytes(&m->protected_hdr, CS_COSE_HDR_KID, &kid), "kid");
    CS_ENSURE(cs_slice_eq(kid, s->kid), CONSORT_E_MALFORMED,
              "kid is not the kid of the root's COSE_Sign1");
    return CONSORT_OK;
}

consort_err cs_ledger_sig_parse(const cs_ledger_entry *e, cs_ledger_sig *out)
{
    static const uint8_t zero[CS_LEDGER_DIGEST_LEN];
    memset(out, 0, sizeof *out);
    const unsigned long long seqno = (unsigned long long)e->seqno;
    CS_ENSURE(e->kind == CS_LEDGER_KIND_SIGNATURE, CONSORT_E_MALFORMED,
              "entry %llu is a %s entry, not a signature", seqno, cs_ledger_kind_name(e->kind));
    CS_ENSURE(memcmp(e->claims_digest, zero, sizeof zero) == 0, CONSORT_E_MALFORMED,
              "signature entry %llu: claims digest is not zero", seqno);
    CS_ENSURE(e->ciphertext.len == 0, CONSORT_E_MALFORMED,
              "signature entry %llu: has private writes", seqno);
    cs_slice inner;
    CS_TRY_CTX(parse_ws(e->public_ws, &inner), "signature entry %llu: write set", seqno);
    CS_TRY_CTX(read_fields(inner, out), "signature entry %llu", seqno);
    CS_TRY_CTX(check_fields(e, out), "signature entry %llu", seqno);
    CS_TRY_CTX(check_cose(out), "signature entry %llu: cose", seqno);
    CS_TRY_CTX(check_checkpoint(out), "signature entry %llu: checkpoint", seqno);
    return CONSORT_OK;
}
