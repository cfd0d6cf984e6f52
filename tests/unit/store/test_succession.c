/*
 * Service identity succession (src/store/succession.h): a record signed by
 * both identities decodes and verifies; any changed byte, swapped or
 * re-signed endorsements, keys that are not their certificates' are
 * refused; the chain from a pinned certificate leads back to the identity
 * that signed a receipt, for transactions up to each recovery point only;
 * a receipt of the first service verifies through two recoveries and not
 * without the chain.
 */
#include "testutil.h"

#include "ledger_fixture.h"

#include "store/succession.h"

typedef struct identity {
    cs_key *key;
    cs_x509 *cert;
} identity;

typedef struct fx {
    lfx_identity a; /* the first service: its ledger and receipts */
    lfx_ledger l;
    identity b, c; /* the services after one and two recoveries */
    cs_buf ab, bc; /* succession records a -> b (at 6), b -> c (at 12) */
} fx;

static void identity_make(identity *id, const char *cn)
{
    int64_t now = (int64_t)time(NULL);
    cst_ok(cs_key_generate(CS_CURVE_P256, &id->key));
    cs_x509_params p = {
        .subject_cn = cn, .not_before = now - LFX_DAY, .not_after = now + LFX_YEAR, .is_ca = true};
    cst_ok(cs_x509_create(&p, id->key, id->key, NULL, &id->cert));
}

static void record(const cs_x509 *pc, const cs_key *pk, const cs_x509 *nc, const cs_key *nk,
                   uint64_t term, uint64_t seqno, cs_buf *out)
{
    cs_buf_init(out, 0);
    const cs_succession_params p = {.previous_cert = pc,
                                    .previous_key = pk,
                                    .next_cert = nc,
                                    .next_key = nk,
                                    .last_term = term,
                                    .last_seqno = seqno};
    cst_ok(cs_succession_sign(&p, out));
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    lfx_identity_init(&f->a);
    lfx_ledger_init(&f->l, &f->a, NULL, 0, NULL);
    lfx_generate(&f->l, 10, 5, 0); /* 1-5 tx, 6 sig, 7-11 tx, 12 sig */
    identity_make(&f->b, "service b");
    identity_make(&f->c, "service c");
    record(f->a.service_cert, f->a.service_key, f->b.cert, f->b.key, 1, 6, &f->ab);
    record(f->b.cert, f->b.key, f->c.cert, f->c.key, 2, 12, &f->bc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    cs_buf_cleanup(&f->ab);
    cs_buf_cleanup(&f->bc);
    cs_key_free(f->b.key);
    cs_x509_free(f->b.cert);
    cs_key_free(f->c.key);
    cs_x509_free(f->c.cert);
    lfx_ledger_cleanup(&f->l);
    lfx_identity_cleanup(&f->a);
    free(f);
    return 0;
}

static consort_err check(cs_slice rec)
{
    cs_succession s;
    CS_TRY(cs_succession_decode(rec, &s));
    return cs_succession_verify(&s);
}

static void round_trip(void **state)
{
    fx *f = *state;
    cs_succession s;
    cst_ok(cs_succession_decode(cs_buf_slice(&f->ab), &s));
    cst_ok(cs_succession_verify(&s));
    assert_string_equal(s.last_txid, "1.6");
    assert_int_equal(s.last_term, 1);
    assert_int_equal(s.last_seqno, 6);
    cs_buf der;
    cs_buf_init(&der, 0);
    cst_ok(cs_x509_to_der(f->a.service_cert, &der));
    assert_true(cs_slice_eq(s.previous_der, cs_buf_slice(&der)));
    cs_buf_reset(&der);
    cst_ok(cs_x509_to_der(f->b.cert, &der));
    assert_true(cs_slice_eq(s.next_der, cs_buf_slice(&der)));
    cs_buf_cleanup(&der);
}

/* Every byte of the record, changed, makes decoding or verification fail. */
static void every_byte_matters(void **state)
{
    fx *f = *state;
    cs_buf m;
    cs_buf_init(&m, 0);
    for (size_t i = 0; i < f->ab.len; i++) {
        cst_ok(cs_buf_set(&m, cs_buf_slice(&f->ab)));
        m.ptr[i] ^= 0x01;
        if (check(cs_buf_slice(&m)) == CONSORT_OK)
            fail_msg("byte %zu of %zu changed, and the record still verifies", i, f->ab.len);
        cs_err_clear();
    }
    cst_ok(cs_buf_set(&m, cs_buf_slice(&f->ab)));
    cst_ok(cs_buf_append_u8(&m, 0));
    assert_int_equal(check(cs_buf_slice(&m)), CONSORT_E_TRAILING_DATA);
    assert_int_equal(check(CS_SLICE(f->ab.ptr, f->ab.len - 1)), CONSORT_E_TRUNCATED);
    cs_buf_cleanup(&m);
}

/* Endorsements swapped, or both made by one identity: refused. */
static void forged_endorsements(void **state)
{
    fx *f = *state;
    cs_succession s;
    cst_ok(cs_succession_decode(cs_buf_slice(&f->ab), &s));
    cs_succession swapped = s;
    swapped.by_previous = s.by_next;
    swapped.by_next = s.by_previous;
    assert_int_equal(cs_succession_verify(&swapped), CONSORT_E_BAD_SIGNATURE);
    assert_non_null(strstr(consort_errmsg(), "by_previous"));
    /* someone with a's key only claims that b succeeds it: b's endorsement is missing */
    cs_succession self = s;
    self.by_next = s.by_previous;
    assert_int_not_equal(cs_succession_verify(&self), CONSORT_OK);
    assert_non_null(strstr(consort_errmsg(), "by_next"));
    /* a record by an outsider claiming to precede c: c never signed it */
    identity x;
    identity_make(&x, "outsider");
    cs_buf xc;
    cs_buf_init(&xc, 0);
    const cs_succession_params p = {.previous_cert = x.cert,
                                    .previous_key = x.key,
                                    .next_cert = f->c.cert,
                                    .next_key = x.key,
                                    .last_term = 1,
                                    .last_seqno = 5};
    assert_int_equal(cs_succession_sign(&p, &xc), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(xc.len, 0);
    cs_buf_cleanup(&xc);
    cs_key_free(x.key);
    cs_x509_free(x.cert);
}

/* An endorsement by the right key whose signer label names the other role. */
static void wrong_role_label(void **state)
{
    fx *f = *state;
    cs_succession s;
    cst_ok(cs_succession_decode(cs_buf_slice(&f->ab), &s));
    uint8_t kid[32];
    cst_ok(cs_key_id(f->b.key, kid));
    const cs_cose_param params[2] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, sizeof kid)),
        {.label = {.is_text = true, .text = CS_SLICE_LIT(CS_SUCCESSION_HDR_SIGNER)},
         .type = CS_COSE_VALUE_TEXT,
         .s = CS_SLICE_LIT("previous")},
    };
    const cs_cose_sign1_params sp = {.alg = CS_COSE_ES256,
                                     .protected_params = params,
                                     .protected_count = 2,
                                     .payload = s.statement,
                                     .detached = true};
    cs_buf cose;
    cs_buf_init(&cose, 0);
    cst_ok(cs_cose_sign1_sign(f->b.key, &sp, &cose));
    s.by_next = cs_buf_slice(&cose);
    assert_int_equal(cs_succession_verify(&s), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "expected \"next\""));
    cs_buf_cleanup(&cose);
}

static void bad_parameters(void **state)
{
    fx *f = *state;
    cs_buf out;
    cs_buf_init(&out, 0);
    cs_succession_params p = {.previous_cert = f->b.cert,
                              .previous_key = f->b.key,
                              .next_cert = f->b.cert,
                              .next_key = f->b.key,
                              .last_term = 1,
                              .last_seqno = 1};
    assert_int_equal(cs_succession_sign(&p, &out), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "same key"));
    p.next_cert = f->c.cert;
    p.next_key = f->c.key;
    p.last_seqno = 0;
    assert_int_equal(cs_succession_sign(&p, &out), CONSORT_E_INVALID_ARGUMENT);
    p.last_seqno = 3;
    p.previous_key = f->c.key; /* not b's key */
    assert_int_equal(cs_succession_sign(&p, &out), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "not its certificate's key"));
    assert_int_equal(out.len, 0);
    cs_buf_cleanup(&out);
}

static void identity_of(fx *f, const cs_slice *recs, size_t n, uint64_t seqno, const cs_x509 *want,
                        size_t want_hops)
{
    cs_x509 *got = NULL;
    size_t hops = 99;
    cst_ok(cs_succession_identity_for(recs, n, f->c.cert, seqno, &got, &hops));
    uint8_t a[32], b[32];
    cst_ok(cs_x509_fingerprint(got, a));
    cst_ok(cs_x509_fingerprint(want, b));
    assert_memory_equal(a, b, 32);
    assert_int_equal(hops, want_hops);
    cs_x509_free(got);
}

static void chain_of_two(void **state)
{
    fx *f = *state;
    const cs_slice recs[2] = {cs_buf_slice(&f->bc), cs_buf_slice(&f->ab)}; /* any order */
    identity_of(f, recs, 2, 1, f->a.service_cert, 2);
    identity_of(f, recs, 2, 6, f->a.service_cert, 2);
    identity_of(f, recs, 2, 7, f->b.cert, 1);
    identity_of(f, recs, 2, 12, f->b.cert, 1);
    identity_of(f, recs, 2, 13, f->c.cert, 0);
    identity_of(f, recs, 0, 1, f->c.cert, 0); /* no records: the pinned one */
    /* the whole chain, oldest first */
    cs_succession_link links[CS_SUCCESSION_CHAIN_MAX + 1];
    size_t n = 0;
    cst_ok(cs_succession_chain(recs, 2, f->c.cert, links, &n));
    assert_int_equal(n, 3);
    const cs_x509 *want[3] = {f->a.service_cert, f->b.cert, f->c.cert};
    const uint64_t want_last[3] = {6, 12, 0};
    for (size_t i = 0; i < 3; i++) {
        uint8_t x[32], y[32];
        cst_ok(cs_x509_fingerprint(links[i].cert, x));
        cst_ok(cs_x509_fingerprint(want[i], y));
        assert_memory_equal(x, y, 32);
        assert_int_equal(links[i].last_seqno, want_last[i]);
    }
    cs_succession_chain_free(links, n);
    cst_ok(cs_succession_chain(recs, 2, f->b.cert, links, &n)); /* from b: a, b */
    assert_int_equal(n, 2);
    assert_int_equal(links[0].last_seqno, 6);
    cs_succession_chain_free(links, n);
    /* two records naming c as next: ambiguous */
    const cs_slice dup[2] = {cs_buf_slice(&f->bc), cs_buf_slice(&f->bc)};
    cs_x509 *got = NULL;
    size_t hops;
    assert_int_equal(cs_succession_identity_for(dup, 2, f->c.cert, 1, &got, &hops),
                     CONSORT_E_MALFORMED);
    assert_null(got);
    /* recovery points that do not decrease going back */
    cs_buf ab_late;
    record(f->a.service_cert, f->a.service_key, f->b.cert, f->b.key, 3, 20, &ab_late);
    const cs_slice bad[2] = {cs_buf_slice(&f->bc), cs_buf_slice(&ab_late)};
    assert_int_equal(cs_succession_identity_for(bad, 2, f->c.cert, 1, &got, &hops),
                     CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "not before"));
    cs_buf_cleanup(&ab_late);
    /* a damaged record on the way is refused, naming it */
    cs_buf broken;
    cs_buf_init(&broken, 0);
    cst_ok(cs_buf_set(&broken, cs_buf_slice(&f->ab)));
    broken.ptr[broken.len - 5] ^= 0x20; /* inside by_next's signature */
    const cs_slice dmg[2] = {cs_buf_slice(&f->bc), cs_buf_slice(&broken)};
    assert_int_equal(cs_succession_identity_for(dmg, 2, f->c.cert, 1, &got, &hops),
                     CONSORT_E_BAD_SIGNATURE);
    assert_non_null(strstr(consort_errmsg(), "record 1"));
    identity_of(f, dmg, 2, 7, f->b.cert, 1); /* not needed for a later transaction */
    assert_int_equal(cs_succession_chain(dmg, 2, f->c.cert, links, &n), CONSORT_E_BAD_SIGNATURE);
    cs_succession_chain_free(links, n); /* the whole chain needs every record */
    cs_buf_cleanup(&broken);
}

static void old_receipts_through_the_chain(void **state)
{
    fx *f = *state;
    int64_t now = (int64_t)time(NULL);
    const cs_receipt_verify_opts o = {.now = now};
    const cs_slice recs[2] = {cs_buf_slice(&f->ab), cs_buf_slice(&f->bc)};
    for (uint64_t seqno = 1; seqno <= 5; seqno++) {
        cs_buf json;
        lfx_receipt(&f->l, seqno, &json);
        cs_receipt r;
        cs_receipt_init(&r);
        cst_ok(cs_receipt_parse(cs_buf_slice(&json), &r));
        size_t hops = 0;
        cst_ok(cs_receipt_verify_chain(&r, f->c.cert, recs, 2, &o, &hops));
        assert_int_equal(hops, 2);
        /* pinned c, no chain: a's node certificate does not chain to c */
        assert_int_equal(cs_receipt_verify_chain(&r, f->c.cert, NULL, 0, &o, NULL),
                         CONSORT_E_BAD_CERTIFICATE);
        /* only the later record: b is not who signed it */
        assert_int_equal(cs_receipt_verify_chain(&r, f->c.cert, recs + 1, 1, &o, NULL),
                         CONSORT_E_BAD_CERTIFICATE);
        assert_non_null(strstr(consort_errmsg(), "1 step back"));
        cs_receipt_cleanup(&r);
        cs_buf_cleanup(&json);
    }
    /* a receipt of a's for a transaction after a's recovery point (7): the chain
     * sends it to b, whose certificate a's node certificate does not chain to */
    cs_buf json;
    lfx_receipt(&f->l, 7, &json);
    cs_receipt r;
    cs_receipt_init(&r);
    cst_ok(cs_receipt_parse(cs_buf_slice(&json), &r));
    assert_int_equal(cs_receipt_verify_chain(&r, f->c.cert, recs, 2, &o, NULL),
                     CONSORT_E_BAD_CERTIFICATE);
    /* but a itself, pinned, still verifies it */
    cst_ok(cs_receipt_verify_chain(&r, f->a.service_cert, recs, 2, &o, NULL));
    cs_receipt_cleanup(&r);
    cs_buf_cleanup(&json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(every_byte_matters, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_endorsements, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_role_label, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_of_two, setup, teardown),
        cmocka_unit_test_setup_teardown(old_receipts_through_the_chain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
