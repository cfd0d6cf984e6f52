/*
 * Handling statements signed in batches (statement.h "Signature"): one
 * ECDSA signature over the RFC 9162 Merkle root of a batch's payloads, and
 * in each statement the proof that its payload is a leaf under that root.
 * A node signs what it answered in one turn of its loop together, so the
 * signature's cost is shared; a batch of one is the same format.
 */
#include "e2e/statement.h"

#include "base/cbor.h"
#include "crypto/cose.h"
#include "crypto/merkle.h"

#include <string.h>

/* crit: [CS_E2E_HDR_BATCH] */
static consort_err crit_value(cs_buf *b)
{
    CS_TRY(cs_cbor_write_array(b, 1));
    return cs_cbor_write_int(b, CS_E2E_HDR_BATCH);
}

/* One signature over `root` with the batch's protected header: the
 * detached COSE_Sign1 whose protected bytes and signature every statement
 * of the batch carries. */
static consort_err sign_root(const cs_key *key, const cs_x509 *cert, const uint8_t root[32],
                             cs_buf *signed_root)
{
    uint8_t kid[32];
    CS_TRY(cs_x509_fingerprint(cert, kid));
    cs_curve curve = cs_key_curve(key);
    CS_ENSURE(curve == CS_CURVE_P256 || curve == CS_CURVE_P384, CONSORT_E_INVALID_ARGUMENT,
              "handling statement: the service key is not on P-256 or P-384");
    uint8_t crit_bytes[16];
    cs_buf crit;
    cs_buf_init(&crit, sizeof crit_bytes);
    consort_err rc = crit_value(&crit);
    if (rc == CONSORT_OK) {
        memcpy(crit_bytes, crit.ptr, crit.len);
        const cs_cose_param params[] = {
            CS_COSE_PARAM_RAW(CS_COSE_HDR_CRIT, CS_SLICE(crit_bytes, crit.len)),
            CS_COSE_PARAM_TEXT(CS_COSE_HDR_CTY, cs_slice_str(CS_E2E_CTY)),
            CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, 32)),
            CS_COSE_PARAM_INT(CS_E2E_HDR_BATCH, CS_E2E_BATCH_RFC9162_SHA256),
        };
        const cs_cose_sign1_params p = {
            .alg = curve == CS_CURVE_P256 ? CS_COSE_ES256 : CS_COSE_ES384,
            .protected_params = params,
            .protected_count = sizeof params / sizeof params[0],
            .payload = CS_SLICE(root, 32),
            .detached = true,
        };
        rc = cs_cose_sign1_sign(key, &p, signed_root);
    }
    cs_buf_cleanup(&crit);
    return rc;
}

/* #6.18([protected, {PROOF: [size, index, path]}, payload, signature]) */
static consort_err write_statement(const cs_cose_sign1 *root_msg, const cs_merkle_dense *tree,
                                   size_t index, cs_slice payload, cs_buf *out)
{
    cs_merkle_proof proof;
    cs_merkle_dense_proof(tree, index, &proof);
    CS_TRY(cs_buf_reserve(out, root_msg->protected_bstr.len + payload.len +
                                   root_msg->signature.len + 48 + 34 * proof.len));
    CS_TRY(cs_cbor_write_tag(out, CS_COSE_TAG_SIGN1));
    CS_TRY(cs_cbor_write_array(out, 4));
    CS_TRY(cs_cbor_write_bytes(out, root_msg->protected_bstr));
    CS_TRY(cs_cbor_write_map(out, 1));
    CS_TRY(cs_cbor_write_int(out, CS_E2E_HDR_PROOF));
    CS_TRY(cs_cbor_write_array(out, 3));
    CS_TRY(cs_cbor_write_uint(out, tree->len[0]));
    CS_TRY(cs_cbor_write_uint(out, index));
    CS_TRY(cs_cbor_write_array(out, proof.len));
    for (size_t i = 0; i < proof.len; i++)
        CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(proof.hash[i], CS_MERKLE_HASH_LEN)));
    CS_TRY(cs_cbor_write_bytes(out, payload));
    return cs_cbor_write_bytes(out, root_msg->signature);
}

consort_err cs_e2e_sign_batch(const cs_slice *payloads, size_t n, const cs_key *service_key,
                              const cs_x509 *service_cert, cs_buf *outs)
{
    CS_ENSURE(n >= 1 && n <= CS_E2E_BATCH_MAX, CONSORT_E_INVALID_ARGUMENT,
              "handling statements: a batch of %zu, expected 1 to %d", n, CS_E2E_BATCH_MAX);
    for (size_t i = 0; i < n; i++)
        CS_ENSURE(payloads[i].len <= CS_E2E_MAX, CONSORT_E_TOO_LARGE,
                  "handling statement payload of %zu bytes", payloads[i].len);
    /* every level kept: each statement's proof is log n reads */
    cs_merkle_dense tree;
    CS_TRY(cs_merkle_dense_build(payloads, n, &tree));
    cs_buf signed_root;
    cs_buf_init(&signed_root, 4096);
    consort_err rc =
        sign_root(service_key, service_cert, cs_merkle_dense_root(&tree), &signed_root);
    cs_cose_sign1 msg;
    if (rc == CONSORT_OK)
        rc = cs_cose_sign1_decode(cs_buf_slice(&signed_root), &msg);
    for (size_t i = 0; i < n && rc == CONSORT_OK; i++)
        rc = write_statement(&msg, &tree, i, payloads[i], &outs[i]);
    cs_buf_cleanup(&signed_root);
    cs_merkle_dense_free(&tree);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "handling statements");
}

/* [tree_size, leaf_index, [* bstr 32]] from the unprotected header. */
static consort_err read_proof(const cs_cose_headers *h, uint64_t *size, uint64_t *index,
                              cs_slice path[CS_MERKLE_PROOF_MAX], size_t *path_len)
{
    CS_ENSURE(h->count == 1, CONSORT_E_MALFORMED,
              "unprotected header of %zu entries, expected only the batch proof (%d)", h->count,
              CS_E2E_HDR_PROOF);
    cs_slice raw;
    CS_TRY_CTX(cs_cose_headers_get(h, CS_E2E_HDR_PROOF, &raw), "batch proof");
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, raw);
    uint64_t n;
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n == 3, CONSORT_E_MALFORMED, "batch proof of %llu members, expected 3",
              (unsigned long long)n);
    CS_TRY_CTX(cs_cbor_read_uint(&r, size), "batch size");
    CS_TRY_CTX(cs_cbor_read_uint(&r, index), "batch index");
    CS_ENSURE(*size >= 1 && *size <= CS_E2E_BATCH_MAX && *index < *size, CONSORT_E_MALFORMED,
              "batch proof: index %llu in a batch of %llu (batches hold 1 to %d)",
              (unsigned long long)*index, (unsigned long long)*size, CS_E2E_BATCH_MAX);
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n < CS_MERKLE_PROOF_MAX, CONSORT_E_MALFORMED, "batch proof of %llu hashes",
              (unsigned long long)n);
    for (size_t i = 0; i < (size_t)n; i++) {
        CS_TRY(cs_cbor_read_bytes(&r, &path[i]));
        CS_ENSURE(path[i].len == CS_MERKLE_HASH_LEN, CONSORT_E_MALFORMED,
                  "batch proof hash %zu of %zu bytes, expected 32", i, path[i].len);
    }
    *path_len = (size_t)n;
    return cs_cbor_expect_end(&r);
}

consort_err cs_e2e_verify_batch_signature(const cs_cose_sign1 *msg, const cs_key *key)
{
    int64_t scheme = 0;
    CS_ENSURE(cs_cose_headers_get_int(&msg->protected_hdr, CS_E2E_HDR_BATCH, &scheme) == CONSORT_OK,
              CONSORT_E_MALFORMED, "no batch scheme (protected label %d) as an integer",
              CS_E2E_HDR_BATCH);
    /* crit must name it: a verifier that does not know the label must refuse
     * the statement, not check the signature over the payload */
    CS_ENSURE(cs_cose_crit_lists(&msg->protected_hdr, CS_E2E_HDR_BATCH), CONSORT_E_MALFORMED,
              "crit does not name the batch label %d", CS_E2E_HDR_BATCH);
    CS_ENSURE(scheme == CS_E2E_BATCH_RFC9162_SHA256, CONSORT_E_UNSUPPORTED,
              "batch scheme %lld, expected %d (RFC 9162 SHA-256)", (long long)scheme,
              CS_E2E_BATCH_RFC9162_SHA256);
    CS_ENSURE(!msg->detached, CONSORT_E_MALFORMED, "detached payload");
    uint64_t size = 0, index = 0;
    cs_slice path[CS_MERKLE_PROOF_MAX];
    size_t path_len = 0;
    CS_TRY(read_proof(&msg->unprotected_hdr, &size, &index, path, &path_len));
    uint8_t leaf[32], root[32];
    cs_merkle_leaf_hash(msg->payload, leaf);
    CS_TRY_CTX(cs_merkle_root_from_inclusion(CS_SLICE(leaf, 32), index, size, path, path_len, root),
               "batch proof");
    /* the signature is over the root: verify it as the detached payload */
    cs_cose_sign1 over_root = *msg;
    over_root.detached = true;
    over_root.payload = CS_SLICE_EMPTY;
    const cs_slice root_slice = CS_SLICE(root, 32);
    static const int64_t understood[] = {CS_E2E_HDR_BATCH};
    const cs_cose_verify_opts opts = {
        .detached_payload = &root_slice, .understood = understood, .understood_count = 1};
    return cs_cose_sign1_verify(&over_root, key, &opts);
}
