/*
 * Handling statements signed in batches (e2e/batch.c, statement.h
 * "Signature"): every statement of a batch of any size verifies and
 * decodes to what was signed, and all of them carry one signature; a
 * statement whose proof was altered (index, size, a path hash, a path cut
 * short), whose payload was swapped with another of its batch, or that
 * lacks the batch label or its crit entry is refused; a COSE library that
 * does not know the batch label refuses it (crit) rather than checking the
 * signature over the payload.
 */
#include "testutil.h"
#include "base/cbor.h"
#include "crypto/cose.h"
#include "crypto/merkle.h"
#include "e2e/statement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW INT64_C(1796342400)

typedef struct ident {
    cs_key *key;
    cs_x509 *cert;
} ident;

static void ident_make(ident *id)
{
    cst_ok(cs_key_generate(CS_CURVE_P256, &id->key));
    const cs_x509_params p = {
        .subject_cn = "consort service", .not_before = NOW - 60, .not_after = NOW + 86400};
    cst_ok(cs_x509_create(&p, id->key, id->key, NULL, &id->cert));
}

static void ident_free(ident *id)
{
    cs_key_free(id->key);
    cs_x509_free(id->cert);
}

/* Statement i of a batch: its own nonce, request and transaction. */
static void statement_i(cs_e2e_statement *s, size_t i)
{
    memset(s, 0, sizeof *s);
    for (size_t k = 0; k < 16; k++)
        s->nonce[k] = (uint8_t)(i * 16 + k);
    s->nonce_len = 16;
    char body[32];
    snprintf(body, sizeof body, "{\"id\": %zu}", i);
    cs_e2e_request_digest("POST", "/app/log/private", cs_slice_str(body), s->request);
    cs_e2e_response_digest(200, CS_SLICE_LIT("{}"), s->response);
    snprintf(s->node, sizeof s->node, "node-%zu", i % 3);
    memset(s->codes[0].code_id, 0xc0, 32);
    s->n_codes = 1;
    snprintf(s->written, sizeof s->written, "2.%zu", 10 + i);
}

typedef struct batch {
    size_t n;
    cs_buf payloads[CS_E2E_BATCH_MAX];
    cs_buf outs[CS_E2E_BATCH_MAX];
} batch;

static batch *batch_sign(const ident *svc, size_t n)
{
    batch *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->n = n;
    cs_slice p[CS_E2E_BATCH_MAX];
    for (size_t i = 0; i < n; i++) {
        cs_e2e_statement s;
        statement_i(&s, i);
        cs_buf_init(&b->payloads[i], 0);
        cs_buf_init(&b->outs[i], 0);
        cst_ok(cs_e2e_encode(&s, &b->payloads[i]));
        p[i] = cs_buf_slice(&b->payloads[i]);
    }
    cst_ok(cs_e2e_sign_batch(p, n, svc->key, svc->cert, b->outs));
    return b;
}

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        cs_buf_cleanup(&b->payloads[i]);
        cs_buf_cleanup(&b->outs[i]);
    }
    free(b);
}

static void every_size_verifies(void **state)
{
    (void)state;
    ident svc, other;
    ident_make(&svc);
    ident_make(&other);
    static const size_t sizes[] = {1, 2, 3, 5, 6, 7, 8, 13, 100, 255, CS_E2E_BATCH_MAX};
    cs_e2e_statement *got = calloc(1, sizeof *got);
    assert_non_null(got);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        batch *b = batch_sign(&svc, sizes[k]);
        cs_slice sig0 = CS_SLICE_EMPTY;
        for (size_t i = 0; i < b->n; i++) {
            cst_ok(cs_e2e_verify(cs_buf_slice(&b->outs[i]), svc.cert, got));
            cs_e2e_statement want;
            statement_i(&want, i);
            assert_memory_equal(got->nonce, want.nonce, 16);
            assert_memory_equal(got->request, want.request, 32);
            assert_string_equal(got->written, want.written);
            cs_cose_sign1 m;
            cst_ok(cs_cose_sign1_decode(cs_buf_slice(&b->outs[i]), &m));
            assert_memory_equal(m.payload.ptr, b->payloads[i].ptr, b->payloads[i].len);
            if (i == 0)
                sig0 = m.signature;
            else /* one signature for the whole batch */
                assert_memory_equal(m.signature.ptr, sig0.ptr, sig0.len);
            cst_fails(cs_e2e_verify(cs_buf_slice(&b->outs[i]), other.cert, got), CONSORT_E_POLICY);
        }
        batch_free(b);
    }
    cst_fails(cs_e2e_sign_batch(NULL, 0, svc.key, svc.cert, NULL), CONSORT_E_INVALID_ARGUMENT);
    free(got);
    ident_free(&svc);
    ident_free(&other);
}

/* Re-encodes statement `in` with its proof replaced by `size`, `index` and
 * the first `path_len` hashes of its path (one flipped bit in hash `flip`
 * unless flip < 0), and payload `payload`. */
static void rewrite(cs_slice in, uint64_t size, uint64_t index, size_t path_len, int flip,
                    cs_slice payload, cs_buf *out)
{
    cs_cose_sign1 m;
    cst_ok(cs_cose_sign1_decode(in, &m));
    cs_slice raw;
    cst_ok(cs_cose_headers_get(&m.unprotected_hdr, CS_E2E_HDR_PROOF, &raw));
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, raw);
    uint64_t n, s0, i0;
    cst_ok(cs_cbor_read_array(&r, &n));
    cst_ok(cs_cbor_read_uint(&r, &s0));
    cst_ok(cs_cbor_read_uint(&r, &i0));
    cst_ok(cs_cbor_read_array(&r, &n));
    assert_true(path_len <= n);
    cs_buf_reset(out);
    cst_ok(cs_cbor_write_tag(out, CS_COSE_TAG_SIGN1));
    cst_ok(cs_cbor_write_array(out, 4));
    cst_ok(cs_cbor_write_bytes(out, m.protected_bstr));
    cst_ok(cs_cbor_write_map(out, 1));
    cst_ok(cs_cbor_write_int(out, CS_E2E_HDR_PROOF));
    cst_ok(cs_cbor_write_array(out, 3));
    cst_ok(cs_cbor_write_uint(out, size));
    cst_ok(cs_cbor_write_uint(out, index));
    cst_ok(cs_cbor_write_array(out, path_len));
    for (size_t i = 0; i < path_len; i++) {
        cs_slice h;
        cst_ok(cs_cbor_read_bytes(&r, &h));
        uint8_t copy[32];
        memcpy(copy, h.ptr, 32);
        if ((int)i == flip)
            copy[7] ^= 0x10;
        cst_ok(cs_cbor_write_bytes(out, CS_SLICE(copy, 32)));
    }
    cst_ok(cs_cbor_write_bytes(out, payload));
    cst_ok(cs_cbor_write_bytes(out, m.signature));
}

static void altered_proofs_fail(void **state)
{
    (void)state;
    ident svc;
    ident_make(&svc);
    batch *b = batch_sign(&svc, 5); /* leaf 1's path: leaf 0, node(2,3), leaf 4 */
    cs_e2e_statement *got = calloc(1, sizeof *got);
    assert_non_null(got);
    cs_buf bad;
    cs_buf_init(&bad, 0);
    cs_slice s1 = cs_buf_slice(&b->outs[1]);
    cs_slice p1 = cs_buf_slice(&b->payloads[1]);
    /* the rewrite itself keeps a good statement good */
    rewrite(s1, 5, 1, 3, -1, p1, &bad);
    cst_ok(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got));
    rewrite(s1, 5, 0, 3, -1, p1, &bad); /* another index */
    cst_fails_any(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got));
    /* another tree size: the path no longer fits (sizes whose path has
     * the same shape, 6 to 8 here, give the same root: what is signed is
     * the root, and the payload is a leaf under it either way) */
    rewrite(s1, 4, 1, 3, -1, p1, &bad);
    cst_fails(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got), CONSORT_E_BAD_PROOF);
    rewrite(s1, 6, 1, 3, -1, p1, &bad);
    cst_ok(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got));
    for (int h = 0; h < 3; h++) { /* a path hash altered */
        rewrite(s1, 5, 1, 3, h, p1, &bad);
        cst_fails(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got), CONSORT_E_BAD_SIGNATURE);
    }
    rewrite(s1, 5, 1, 2, -1, p1, &bad); /* a path cut short */
    cst_fails(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got), CONSORT_E_BAD_PROOF);
    rewrite(s1, 5, 9, 3, -1, p1, &bad); /* an index past the batch */
    cst_fails(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got), CONSORT_E_MALFORMED);
    rewrite(s1, CS_E2E_BATCH_MAX + 1, 1, 3, -1, p1, &bad); /* a batch larger than any */
    cst_fails(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got), CONSORT_E_MALFORMED);
    /* statement 2's payload under statement 1's proof, and the other way:
     * both leaves are under the signed root, but not at each other's place */
    rewrite(s1, 5, 1, 3, -1, cs_buf_slice(&b->payloads[2]), &bad);
    cst_fails(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got), CONSORT_E_BAD_SIGNATURE);
    rewrite(cs_buf_slice(&b->outs[2]), 5, 2, 3, -1, p1, &bad);
    cst_fails(cs_e2e_verify(cs_buf_slice(&bad), svc.cert, got), CONSORT_E_BAD_SIGNATURE);
    cs_buf_cleanup(&bad);
    free(got);
    batch_free(b);
    ident_free(&svc);
}

/* A COSE_Sign1 by the service key over `payload` with the given protected
 * parameters (besides alg) and the proof of a batch of one. */
static void sign_with(const ident *svc, const cs_cose_param *params, size_t count, bool over_root,
                      cs_slice payload, cs_buf *out)
{
    uint8_t root[32];
    cs_merkle_leaf_hash(payload, root);
    cs_buf msg, proof;
    cs_buf_init(&msg, 0);
    cs_buf_init(&proof, 0);
    cst_ok(cs_cbor_write_map(&proof, 1));
    cst_ok(cs_cbor_write_int(&proof, CS_E2E_HDR_PROOF));
    cst_ok(cs_cbor_write_array(&proof, 3));
    cst_ok(cs_cbor_write_uint(&proof, 1));
    cst_ok(cs_cbor_write_uint(&proof, 0));
    cst_ok(cs_cbor_write_array(&proof, 0));
    const cs_cose_sign1_params p = {.alg = CS_COSE_ES256,
                                    .protected_params = params,
                                    .protected_count = count,
                                    .unprotected = cs_buf_slice(&proof),
                                    .payload = over_root ? CS_SLICE(root, 32) : payload,
                                    .detached = over_root};
    cst_ok(cs_cose_sign1_sign(svc->key, &p, &msg));
    cs_cose_sign1 m;
    cst_ok(cs_cose_sign1_decode(cs_buf_slice(&msg), &m));
    cs_buf_reset(out);
    cst_ok(cs_cbor_write_tag(out, CS_COSE_TAG_SIGN1));
    cst_ok(cs_cbor_write_array(out, 4));
    cst_ok(cs_cbor_write_bytes(out, m.protected_bstr));
    cst_ok(cs_buf_append_slice(out, cs_buf_slice(&proof)));
    cst_ok(cs_cbor_write_bytes(out, payload));
    cst_ok(cs_cbor_write_bytes(out, m.signature));
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&proof);
}

static void header_rules(void **state)
{
    (void)state;
    ident svc;
    ident_make(&svc);
    cs_e2e_statement s;
    statement_i(&s, 0);
    cs_buf payload, out;
    cs_buf_init(&payload, 0);
    cs_buf_init(&out, 0);
    cst_ok(cs_e2e_encode(&s, &payload));
    uint8_t kid[32];
    cst_ok(cs_x509_fingerprint(svc.cert, kid));
    uint8_t crit[8];
    size_t crit_len;
    {
        cs_buf c;
        cs_buf_init(&c, sizeof crit);
        cst_ok(cs_cbor_write_array(&c, 1));
        cst_ok(cs_cbor_write_int(&c, CS_E2E_HDR_BATCH));
        memcpy(crit, c.ptr, c.len);
        crit_len = c.len;
        cs_buf_cleanup(&c);
    }
    const cs_cose_param full[] = {
        CS_COSE_PARAM_RAW(CS_COSE_HDR_CRIT, CS_SLICE(crit, crit_len)),
        CS_COSE_PARAM_TEXT(CS_COSE_HDR_CTY, cs_slice_str(CS_E2E_CTY)),
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, 32)),
        CS_COSE_PARAM_INT(CS_E2E_HDR_BATCH, CS_E2E_BATCH_RFC9162_SHA256),
    };
    cs_e2e_statement *got = calloc(1, sizeof *got);
    assert_non_null(got);
    /* built by hand as batch.c does: verifies */
    sign_with(&svc, full, 4, true, cs_buf_slice(&payload), &out);
    cst_ok(cs_e2e_verify(cs_buf_slice(&out), svc.cert, got));
    /* a COSE library that does not know the batch label refuses it */
    cs_cose_sign1 m;
    cst_ok(cs_cose_sign1_decode(cs_buf_slice(&out), &m));
    cs_key *pub;
    cst_ok(cs_x509_public_key(svc.cert, &pub));
    cst_fails(cs_cose_sign1_verify(&m, pub, NULL), CONSORT_E_UNSUPPORTED);
    cs_key_free(pub);
    /* signed over the payload itself, without the batch label (a plain
     * COSE_Sign1, as statements were before batches) */
    sign_with(&svc, full + 1, 2, false, cs_buf_slice(&payload), &out);
    cst_fails(cs_e2e_verify(cs_buf_slice(&out), svc.cert, got), CONSORT_E_MALFORMED);
    /* the batch label without crit naming it */
    sign_with(&svc, full + 1, 3, true, cs_buf_slice(&payload), &out);
    cst_fails(cs_e2e_verify(cs_buf_slice(&out), svc.cert, got), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "crit"));
    /* another scheme */
    cs_cose_param other[4];
    memcpy(other, full, sizeof other);
    other[3] = CS_COSE_PARAM_INT(CS_E2E_HDR_BATCH, 2);
    sign_with(&svc, other, 4, true, cs_buf_slice(&payload), &out);
    cst_fails(cs_e2e_verify(cs_buf_slice(&out), svc.cert, got), CONSORT_E_UNSUPPORTED);
    free(got);
    cs_buf_cleanup(&payload);
    cs_buf_cleanup(&out);
    ident_free(&svc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_size_verifies),
        cmocka_unit_test(altered_proofs_fail),
        cmocka_unit_test(header_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
