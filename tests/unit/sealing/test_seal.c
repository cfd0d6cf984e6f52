/*
 * Sealed blobs (sealing/seal.h, docs/migration.md §2): round trips, every
 * header field authenticated (any byte flipped is refused), the code and
 * lineage policies, bounds and malformed input.
 */
#include "sealing_test.h"

#include "base/cbor.h"

static const uint8_t root[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static void seal_one(cs_seal_policy policy, const cs_code_id *sealer, const cs_code_id *succ,
                     size_t nsucc, const char *counter, uint64_t value, cs_slice plain, cs_buf *out)
{
    const cs_seal_params p = {policy, sealer->b, succ, nsucc, counter, value};
    cst_ok(cs_seal(root, &p, plain, out));
}

static void test_round_trip(void **state)
{
    (void)state;
    cs_code_id a = st_code(0xaa), b = st_code(0xbb);
    cs_buf blob, out;
    cs_buf_init(&blob, 0);
    cs_buf_init(&out, 0);
    seal_one(CS_SEAL_POLICY_LINEAGE, &a, &b, 1, "tickets", 7, CS_SLICE_LIT("hello"), &blob);
    cs_seal_header h;
    const cs_seal_opener o = {.code_id = a.b};
    cst_ok(cs_unseal(root, &o, cs_buf_slice(&blob), &h, &out));
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.ptr, "hello", 5);
    assert_int_equal(h.policy, CS_SEAL_POLICY_LINEAGE);
    assert_memory_equal(h.sealer_code_id, a.b, 32);
    assert_int_equal(h.successor_count, 1);
    assert_memory_equal(h.successors[0].b, b.b, 32);
    assert_true(h.has_counter);
    assert_string_equal(h.counter_name, "tickets");
    assert_int_equal(h.counter_value, 7);
    /* empty plaintext, no counter, code policy */
    cs_buf_reset(&blob);
    cs_buf_reset(&out);
    seal_one(CS_SEAL_POLICY_CODE, &a, NULL, 0, NULL, 0, CS_SLICE_EMPTY, &blob);
    cst_ok(cs_unseal(root, &o, cs_buf_slice(&blob), &h, &out));
    assert_int_equal(out.len, 0);
    assert_false(h.has_counter);
    /* another root derives another key */
    uint8_t other[32] = {9};
    cst_fails(cs_unseal(other, &o, cs_buf_slice(&blob), NULL, &out), CONSORT_E_BAD_TAG);
    cs_buf_cleanup(&blob);
    cs_buf_cleanup(&out);
}

/* Every byte of the blob is covered: a flip anywhere is refused, and the
 * plaintext buffer is left untouched. */
static void test_every_byte_authenticated(void **state)
{
    (void)state;
    cs_code_id a = st_code(0xaa), b = st_code(0xbb);
    cs_buf blob, out;
    cs_buf_init(&blob, 0);
    cs_buf_init(&out, 0);
    seal_one(CS_SEAL_POLICY_LINEAGE, &a, &b, 1, "c", 3, CS_SLICE_LIT("secret data"), &blob);
    const cs_seal_opener o = {.code_id = a.b};
    for (size_t i = 0; i < blob.len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            blob.ptr[i] ^= (uint8_t)(1u << bit);
            consort_err rc = cs_unseal(root, &o, cs_buf_slice(&blob), NULL, &out);
            if (rc == CONSORT_OK)
                fail_msg("byte %zu bit %d flipped: still opens", i, bit);
            assert_int_equal(out.len, 0);
            blob.ptr[i] ^= (uint8_t)(1u << bit);
        }
    }
    cst_ok(cs_unseal(root, &o, cs_buf_slice(&blob), NULL, &out));
    /* truncation at every length, and trailing bytes */
    for (size_t n = 0; n < blob.len; n++)
        cst_fails_any(cs_unseal(root, &o, CS_SLICE(blob.ptr, n), NULL, &out));
    cst_ok(cs_buf_append_u8(&blob, 0));
    cs_buf_reset(&out);
    cst_fails(cs_unseal(root, &o, cs_buf_slice(&blob), NULL, &out), CONSORT_E_TRAILING_DATA);
    cs_buf_cleanup(&blob);
    cs_buf_cleanup(&out);
}

static void test_code_policy(void **state)
{
    (void)state;
    cs_code_id a = st_code(0xaa), b = st_code(0xbb);
    cs_buf blob, out;
    cs_buf_init(&blob, 0);
    cs_buf_init(&out, 0);
    seal_one(CS_SEAL_POLICY_CODE, &a, NULL, 0, NULL, 0, CS_SLICE_LIT("x"), &blob);
    /* another code id is refused, even naming the sealer as its ancestor */
    const cs_seal_opener ob = {.code_id = b.b, .ancestors = &a, .ancestor_count = 1};
    cst_fails(cs_unseal(root, &ob, cs_buf_slice(&blob), NULL, &out), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "policy code"));
    /* successors with policy code: a usage error */
    const cs_seal_params bad = {CS_SEAL_POLICY_CODE, a.b, &b, 1, NULL, 0};
    cst_fails(cs_seal(root, &bad, CS_SLICE_LIT("x"), &blob), CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&blob);
    cs_buf_cleanup(&out);
}

static void test_lineage_policy(void **state)
{
    (void)state;
    cs_code_id a = st_code(0xaa), b = st_code(0xbb), c = st_code(0xcc), d = st_code(0xdd);
    cs_buf blob, out;
    cs_buf_init(&blob, 0);
    cs_buf_init(&out, 0);
    seal_one(CS_SEAL_POLICY_LINEAGE, &a, &b, 1, NULL, 0, CS_SLICE_LIT("x"), &blob);
    /* the sealer, a listed successor, and an heir of the sealer open it */
    const cs_seal_opener oa = {.code_id = a.b};
    const cs_seal_opener ob = {.code_id = b.b};
    const cs_seal_opener oc = {.code_id = c.b, .ancestors = &a, .ancestor_count = 1};
    cst_ok(cs_unseal(root, &oa, cs_buf_slice(&blob), NULL, &out));
    cst_ok(cs_unseal(root, &ob, cs_buf_slice(&blob), NULL, &out));
    cst_ok(cs_unseal(root, &oc, cs_buf_slice(&blob), NULL, &out));
    /* anyone else: POLICY */
    const cs_seal_opener od = {.code_id = d.b, .ancestors = &c, .ancestor_count = 1};
    cst_fails(cs_unseal(root, &od, cs_buf_slice(&blob), NULL, &out), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "policy lineage"));
    cs_buf_cleanup(&blob);
    cs_buf_cleanup(&out);
}

static void test_bounds(void **state)
{
    (void)state;
    cs_code_id a = st_code(0xaa);
    cs_code_id many[CS_SEAL_MAX_SUCCESSORS + 1];
    memset(many, 7, sizeof many);
    cs_buf blob;
    cs_buf_init(&blob, 0);
    const cs_seal_params too_many = {CS_SEAL_POLICY_LINEAGE,     a.b,  many,
                                     CS_SEAL_MAX_SUCCESSORS + 1, NULL, 0};
    cst_fails(cs_seal(root, &too_many, CS_SLICE_LIT("x"), &blob), CONSORT_E_INVALID_ARGUMENT);
    const cs_seal_params max = {CS_SEAL_POLICY_LINEAGE, a.b, many, CS_SEAL_MAX_SUCCESSORS, NULL, 0};
    cst_ok(cs_seal(root, &max, CS_SLICE_LIT("x"), &blob));
    char name[CS_SEAL_MAX_COUNTER_NAME + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    const cs_seal_params long_name = {CS_SEAL_POLICY_CODE, a.b, NULL, 0, name, 1};
    cst_fails(cs_seal(root, &long_name, CS_SLICE_LIT("x"), &blob), CONSORT_E_INVALID_ARGUMENT);
    const cs_seal_params ctl = {CS_SEAL_POLICY_CODE, a.b, NULL, 0, "a\nb", 1};
    cst_fails(cs_seal(root, &ctl, CS_SLICE_LIT("x"), &blob), CONSORT_E_INVALID_ARGUMENT);
    const cs_seal_params no_name = {CS_SEAL_POLICY_CODE, a.b, NULL, 0, NULL, 5};
    cst_fails(cs_seal(root, &no_name, CS_SLICE_LIT("x"), &blob), CONSORT_E_INVALID_ARGUMENT);
    /* an oversized blob is refused before parsing */
    cs_buf big;
    cs_buf_init(&big, 0);
    uint8_t *p;
    cst_ok(cs_buf_extend(&big, CS_SEAL_MAX_BLOB + 1, &p));
    const cs_seal_opener o = {.code_id = a.b};
    cst_fails(cs_unseal(root, &o, cs_buf_slice(&big), NULL, &blob), CONSORT_E_TOO_LARGE);
    cs_buf_cleanup(&big);
    cs_buf_cleanup(&blob);
}

/* Hand-made headers that are well-formed CBOR but not a blob. */
static void test_malformed(void **state)
{
    (void)state;
    cs_code_id a = st_code(0xaa);
    const cs_seal_opener o = {.code_id = a.b};
    cs_buf b, out;
    cs_buf_init(&b, 0);
    cs_buf_init(&out, 0);
    /* policy 3 */
    cst_ok(cs_cbor_write_array(&b, 8));
    cst_ok(cs_cbor_write_cstr(&b, "CSSL1"));
    cst_ok(cs_cbor_write_uint(&b, 3));
    cst_fails(cs_unseal(root, &o, cs_buf_slice(&b), NULL, &out), CONSORT_E_MALFORMED);
    /* 65 successors */
    cs_buf_reset(&b);
    cst_ok(cs_cbor_write_array(&b, 8));
    cst_ok(cs_cbor_write_cstr(&b, "CSSL1"));
    cst_ok(cs_cbor_write_uint(&b, 2));
    cst_ok(cs_cbor_write_bytes(&b, CS_SLICE(a.b, 32)));
    cst_ok(cs_cbor_write_array(&b, 65));
    cst_fails(cs_unseal(root, &o, cs_buf_slice(&b), NULL, &out), CONSORT_E_MALFORMED);
    /* a 7-item array, and not an array at all */
    cs_buf_reset(&b);
    cst_ok(cs_cbor_write_array(&b, 7));
    cst_fails(cs_unseal(root, &o, cs_buf_slice(&b), NULL, &out), CONSORT_E_MALFORMED);
    cs_buf_reset(&b);
    cst_ok(cs_cbor_write_uint(&b, 1));
    cst_fails(cs_unseal(root, &o, cs_buf_slice(&b), NULL, &out), CONSORT_E_MALFORMED);
    cst_fails_any(cs_unseal(root, &o, CS_SLICE_EMPTY, NULL, &out));
    assert_int_equal(out.len, 0);
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&out);
}

/* The key cache gives the same blobs' keys as the one-shot form, and
 * nonces never repeat. */
static void test_keycache(void **state)
{
    (void)state;
    cs_code_id a = st_code(0xaa);
    cs_seal_keycache *kc;
    cst_ok(cs_seal_keycache_new(root, &kc));
    const cs_seal_params p = {CS_SEAL_POLICY_CODE, a.b, NULL, 0, NULL, 0};
    const cs_seal_opener o = {.code_id = a.b};
    cs_buf blob, prev, out;
    cs_buf_init(&blob, 0);
    cs_buf_init(&prev, 0);
    cs_buf_init(&out, 0);
    for (int i = 0; i < 300; i++) {
        cs_buf_reset(&blob);
        cst_ok(cs_seal_with(kc, &p, CS_SLICE_LIT("same"), &blob));
        assert_false(cs_slice_eq(cs_buf_slice(&blob), cs_buf_slice(&prev)));
        cs_buf_reset(&out);
        cst_ok(cs_unseal(root, &o, cs_buf_slice(&blob), NULL, &out));
        cst_ok(cs_buf_set(&prev, cs_buf_slice(&blob)));
    }
    cs_seal_keycache_free(kc);
    cs_seal_keycache_free(NULL);
    cs_buf_cleanup(&blob);
    cs_buf_cleanup(&prev);
    cs_buf_cleanup(&out);
}

/* The header the generic CBOR writer (base/cbor.c) makes for `p` and `nonce`,
 * and the ciphertext's byte-string head: what the blob must start with. */
static void generic_header(const cs_seal_params *p, const uint8_t nonce[12], size_t plain_len,
                           cs_buf *out)
{
    cst_ok(cs_cbor_write_array(out, 8));
    cst_ok(cs_cbor_write_cstr(out, "CSSL1"));
    cst_ok(cs_cbor_write_uint(out, (uint64_t)p->policy));
    cst_ok(cs_cbor_write_bytes(out, CS_SLICE(p->code_id, 32)));
    cst_ok(cs_cbor_write_array(out, p->successor_count));
    for (size_t i = 0; i < p->successor_count; i++)
        cst_ok(cs_cbor_write_bytes(out, CS_SLICE(p->successors[i].b, 32)));
    if (p->counter_name != NULL)
        cst_ok(cs_cbor_write_cstr(out, p->counter_name));
    else
        cst_ok(cs_cbor_write_null(out));
    cst_ok(cs_cbor_write_uint(out, p->counter_value));
    cst_ok(cs_cbor_write_bytes(out, CS_SLICE(nonce, 12)));
    cst_ok(cs_cbor_write_bytes_header(out, plain_len + 16));
}

/* The hand-written header encoder of cs_seal_with makes exactly the bytes of
 * the generic writer, at every size boundary of every CBOR head it writes. */
static void test_header_is_the_generic_cbor(void **state)
{
    (void)state;
    static cs_code_id succ[CS_SEAL_MAX_SUCCESSORS];
    for (size_t i = 0; i < CS_SEAL_MAX_SUCCESSORS; i++)
        succ[i] = st_code((uint8_t)(0x10 + i));
    cs_code_id a = st_code(0xaa);
    char name23[24], name24[25], name64[65];
    memset(name23, 'a', 23);
    name23[23] = '\0';
    memset(name24, 'b', 24);
    name24[24] = '\0';
    memset(name64, 'c', 64);
    name64[64] = '\0';
    const char *names[] = {NULL, "x", name23, name24, name64};
    const uint64_t values[] = {0,     1,     23,          24,          255,       256,
                               65535, 65536, 0xffffffffu, 0x100000000, UINT64_MAX};
    const size_t counts[] = {0, 1, 23, 24, CS_SEAL_MAX_SUCCESSORS};
    const size_t lens[] = {0, 7, 8, 239, 240, 65519, 65520};
    uint8_t *plain = calloc(1, 65520);
    cs_buf blob, want;
    cs_buf_init(&blob, 0);
    cs_buf_init(&want, 0);
    size_t cases = 0;
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++)
            for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
                for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
                    if (names[n] == NULL && values[v] != 0)
                        continue;
                    const cs_seal_params p = {counts[c] > 0 ? CS_SEAL_POLICY_LINEAGE
                                                            : CS_SEAL_POLICY_CODE,
                                              a.b,
                                              counts[c] > 0 ? succ : NULL,
                                              counts[c],
                                              names[n],
                                              values[v]};
                    cs_buf_reset(&blob);
                    cs_buf_reset(&want);
                    cst_ok(cs_seal(root, &p, CS_SLICE(plain, lens[l]), &blob));
                    /* the same length with any nonce: find the blob's nonce there */
                    const uint8_t zero[12] = {0};
                    generic_header(&p, zero, lens[l], &want);
                    size_t ct_head = want.len; /* header + ciphertext head */
                    cs_buf_reset(&want);
                    cst_ok(cs_cbor_write_bytes_header(&want, lens[l] + 16));
                    size_t nonce_at = ct_head - want.len - 12;
                    cs_buf_reset(&want);
                    generic_header(&p, blob.ptr + nonce_at, lens[l], &want);
                    assert_true(blob.len == want.len + lens[l] + 16);
                    assert_memory_equal(blob.ptr, want.ptr, want.len);
                    cases++;
                }
    assert_true(cases > 1000);
    free(plain);
    cs_buf_cleanup(&blob);
    cs_buf_cleanup(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_every_byte_authenticated),
        cmocka_unit_test(test_code_policy), cmocka_unit_test(test_lineage_policy),
        cmocka_unit_test(test_bounds),      cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_keycache),    cmocka_unit_test(test_header_is_the_generic_cbor),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
