/*
 * Signature entries (service.md "Signature entry"): build, parse and verify,
 * every structural rule of the parser with a hand-made entry that breaks
 * it, and the cryptographic checks (other key, other service, expired
 * certificate, wrong node id, P-384 nodes).
 */
#include "testutil.h"

#include "ledger_fixture.h"

#include <string.h>

typedef struct sig_fx {
    lfx_identity id;
    lfx_ledger l;
    int64_t now;
} sig_fx;

static int setup(void **state)
{
    sig_fx *f = calloc(1, sizeof *f);
    lfx_identity_init(&f->id);
    lfx_ledger_init(&f->l, &f->id, NULL, 0, NULL);
    lfx_generate(&f->l, 5, 0, 0);
    f->now = (int64_t)time(NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    sig_fx *f = *state;
    lfx_ledger_cleanup(&f->l);
    lfx_identity_cleanup(&f->id);
    free(f);
    return 0;
}

static void build_parse_verify(void **state)
{
    sig_fx *f = *state;
    lfx_add_sig(&f->l);
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&f->l.entries[5]), &e));
    assert_int_equal(e.kind, CS_LEDGER_KIND_SIGNATURE);
    assert_int_equal(e.private_section.len, 0);
    cs_ledger_sig s;
    cst_ok(cs_ledger_sig_parse(&e, &s));
    assert_int_equal(s.seqno, 6);
    assert_int_equal(s.term, 1);
    assert_int_equal(s.tree_size, 5);
    uint8_t root[32], kid[32];
    cst_ok(cs_merkle_root_at(f->l.tree, 5, root));
    assert_memory_equal(s.root.ptr, root, 32);
    cst_ok(cs_key_id(f->id.node_key, kid));
    assert_memory_equal(s.kid.ptr, kid, 32);
    assert_int_equal(s.alg, CS_COSE_ES256);
    assert_int_equal(s.node_id.len, 16);
    assert_memory_equal(s.node_id.ptr, f->id.node_id, 16);
    cs_buf der;
    cs_buf_init(&der, 0);
    cst_ok(cs_x509_to_der(f->id.node_cert, &der));
    assert_true(cs_slice_eq(s.cert, cs_buf_slice(&der)));
    cs_buf_cleanup(&der);
    cs_ledger_cert_cache cache = {0};
    cst_ok(cs_ledger_sig_verify(&s, f->id.service_cert, f->now, &cache));
    assert_true(cache.valid);
    /* a second verification takes the certificate from the cache */
    cst_ok(cs_ledger_sig_verify(&s, f->id.service_cert, f->now, &cache));
    cs_ledger_cert_cache_cleanup(&cache);
    cst_ok(cs_ledger_sig_verify(&s, f->id.service_cert, f->now, NULL));
}

static void build_refuses_inconsistent_inputs(void **state)
{
    sig_fx *f = *state;
    cs_ledger_signer signer = lfx_signer(&f->id);
    cs_buf out;
    cs_buf_init(&out, 0);
    /* the tree must hold exactly seqno - 1 leaves */
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, 1, 5, f->id.secret, &out),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, 1, 7, f->id.secret, &out),
              CONSORT_E_INVALID_ARGUMENT);
    signer.node_id = "0000000000000000";
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, 1, 6, f->id.secret, &out),
              CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "node_id"));
    /* a certificate for another key */
    lfx_identity other;
    lfx_identity_init(&other);
    signer = lfx_signer(&f->id);
    signer.node_cert = other.node_cert;
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, 1, 6, f->id.secret, &out),
              CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(out.len, 0);
    lfx_identity_cleanup(&other);
    cs_buf_cleanup(&out);
}

/* ---- hand-made entries that break one rule each ---- */

typedef struct variant {
    const char *name;
    consort_err code;
    const char *why;
} variant;

/* A valid signature entry's fields, which a variant then changes. */
typedef struct parts {
    lfx_sig_fields f;
    uint8_t root[32];
    cs_buf cose;
    cs_buf der;
    uint64_t entry_term;
    cs_buf ws;
    const uint8_t *claims;
    cs_slice private_ws;
} parts;

static void parts_init(sig_fx *fx, parts *p)
{
    memset(p, 0, sizeof *p);
    cs_merkle_root(fx->l.tree, p->root);
    uint8_t kid[32];
    cst_ok(cs_key_id(fx->id.node_key, kid));
    cs_buf_init(&p->cose, 0);
    cs_buf_init(&p->der, 0);
    cs_buf_init(&p->ws, 0);
    lfx_sign_root(fx->id.node_key, CS_SLICE(kid, 32), CS_SLICE(p->root, 32), &p->cose);
    cst_ok(cs_x509_to_der(fx->id.node_cert, &p->der));
    p->f = (lfx_sig_fields){.term = 1,
                            .seqno = 6,
                            .tree_size = 5,
                            .root = CS_SLICE(p->root, 32),
                            .node_id = cs_slice_str(fx->id.node_id),
                            .cose = cs_buf_slice(&p->cose),
                            .cert = cs_buf_slice(&p->der)};
    p->entry_term = 1;
}

static void parts_cleanup(parts *p)
{
    cs_buf_cleanup(&p->cose);
    cs_buf_cleanup(&p->der);
    cs_buf_cleanup(&p->ws);
}

/* Encodes (the ws unless set already) and checks the parse outcome. */
static void expect_parse(sig_fx *fx, parts *p, consort_err code, const char *why)
{
    if (p->ws.len == 0)
        lfx_sig_ws(&p->f, &p->ws);
    cs_ledger_entry_params ep = {.kind = CS_LEDGER_KIND_SIGNATURE,
                                 .term = p->entry_term,
                                 .seqno = 6,
                                 .claims_digest = p->claims,
                                 .public_ws = cs_buf_slice(&p->ws),
                                 .private_ws = p->private_ws};
    cs_buf entry;
    cs_buf_init(&entry, 0);
    cst_ok(cs_ledger_entry_encode(&ep, fx->id.secret, &entry));
    cs_ledger_entry e;
    cs_ledger_sig s;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&entry), &e));
    consort_err rc = cs_ledger_sig_parse(&e, &s);
    if (rc != code)
        fail_msg("%s: parse gave %s, expected %s (%s)", why, consort_err_name(rc),
                 consort_err_name(code), consort_errmsg());
    if (code != CONSORT_OK && strstr(consort_errmsg(), why) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", consort_errmsg(), why);
    if (code == CONSORT_OK)
        cst_ok(cs_ledger_sig_verify(&s, fx->id.service_cert, fx->now, NULL));
    cs_buf_cleanup(&entry);
}

static void resign(sig_fx *fx, parts *p, const cs_cose_param *params, size_t n, cs_slice unprot)
{
    cs_cose_sign1_params cp = {.alg = CS_COSE_ES256,
                               .protected_params = params,
                               .protected_count = n,
                               .unprotected = unprot,
                               .payload = CS_SLICE(p->root, 32),
                               .detached = true};
    cs_buf_reset(&p->cose);
    cst_ok(cs_cose_sign1_sign(fx->id.node_key, &cp, &p->cose));
    p->f.cose = cs_buf_slice(&p->cose);
}

static void parser_rules(void **state)
{
    sig_fx *f = *state;
    parts p;
    uint8_t kid[32], digest[32] = {1};
    cst_ok(cs_key_id(f->id.node_key, kid));

    parts_init(f, &p); /* the unchanged parts parse and verify */
    expect_parse(f, &p, CONSORT_OK, "valid");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.f.tree_size = 6;
    expect_parse(f, &p, CONSORT_E_MALFORMED, "tree_size 6, expected seqno - 1 = 5");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.f.seqno = 7;
    expect_parse(f, &p, CONSORT_E_MALFORMED, "signs term 1 seqno 7");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.entry_term = 2;
    expect_parse(f, &p, CONSORT_E_MALFORMED, "but the entry is term 2");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.f.root = CS_SLICE(p.root, 31);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "root of 31 bytes");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.f.node_id = cs_slice_str("ABCDEF0123456789");
    expect_parse(f, &p, CONSORT_E_MALFORMED, "node_id of 16 bytes");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.f.cert = CS_SLICE_EMPTY;
    expect_parse(f, &p, CONSORT_E_MALFORMED, "certificate of 0 bytes");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.claims = digest;
    expect_parse(f, &p, CONSORT_E_MALFORMED, "claims digest is not zero");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.private_ws = CS_SLICE_LIT("\xa1\x61x\x80");
    expect_parse(f, &p, CONSORT_E_MALFORMED, "has a private section");
    parts_cleanup(&p);

    /* the write set around the map */
    parts_init(f, &p);
    cst_ok(cs_buf_set(&p.ws, CS_SLICE_LIT("\xa0")));
    expect_parse(f, &p, CONSORT_E_MALFORMED, "write set has 0 maps");
    parts_cleanup(&p);

    parts_init(f, &p);
    lfx_sig_ws(&p.f, &p.ws);
    p.ws.ptr[3] = 'P'; /* "Public:consort.signatures" */
    expect_parse(f, &p, CONSORT_E_MALFORMED, "map name");
    parts_cleanup(&p);

    parts_init(f, &p);
    lfx_sig_ws(&p.f, &p.ws);
    cst_ok(cs_buf_append_u8(&p.ws, 0x00));
    expect_parse(f, &p, CONSORT_E_TRAILING_DATA, "write set");
    parts_cleanup(&p);

    parts_init(f, &p);
    lfx_sig_ws(&p.f, &p.ws);
    p.ws.ptr[31] = 0x01; /* the key h'00' -> h'01' */
    expect_parse(f, &p, CONSORT_E_MALFORMED, "expected h'00'");
    parts_cleanup(&p);

    /* the inner map: a key out of order */
    parts_init(f, &p);
    lfx_sig_ws(&p.f, &p.ws);
    uint8_t *term_key = memmem(p.ws.ptr, p.ws.len, "\x64term", 5);
    assert_non_null(term_key);
    memcpy(term_key, "\x64tErm", 5);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "key \"tErm\", expected \"term\"");
    parts_cleanup(&p);

    /* the COSE_Sign1 */
    parts_init(f, &p);
    p.f.cose = CS_SLICE(p.cose.ptr + 1, p.cose.len - 1); /* untagged */
    expect_parse(f, &p, CONSORT_E_MALFORMED, "without tag 18");
    parts_cleanup(&p);

    parts_init(f, &p);
    const cs_cose_param with_cty[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, 32)),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1),
        CS_COSE_PARAM_INT(CS_COSE_HDR_CTY, 60),
    };
    resign(f, &p, with_cty, 3, CS_SLICE_EMPTY);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "protected header of 4 entries");
    parts_cleanup(&p);

    parts_init(f, &p);
    const cs_cose_param vds2[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, 32)),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 2),
    };
    resign(f, &p, vds2, 2, CS_SLICE_EMPTY);
    expect_parse(f, &p, CONSORT_E_UNSUPPORTED, "vds 2");
    parts_cleanup(&p);

    parts_init(f, &p);
    const cs_cose_param short_kid[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, 31)),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1),
    };
    resign(f, &p, short_kid, 2, CS_SLICE_EMPTY);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "kid of 31 bytes");
    parts_cleanup(&p);

    parts_init(f, &p);
    const cs_cose_param ok_params[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, 32)),
        CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1),
    };
    resign(f, &p, ok_params, 2, CS_SLICE_LIT("\xa1\x03\x00"));
    expect_parse(f, &p, CONSORT_E_MALFORMED, "unprotected header of 1 entries");
    parts_cleanup(&p);

    parts_init(f, &p);
    cs_cose_sign1_params attached = {.alg = CS_COSE_ES256,
                                     .protected_params = ok_params,
                                     .protected_count = 2,
                                     .payload = CS_SLICE(p.root, 32)};
    cs_buf_reset(&p.cose);
    cst_ok(cs_cose_sign1_sign(f->id.node_key, &attached, &p.cose));
    p.f.cose = cs_buf_slice(&p.cose);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "not detached");
    parts_cleanup(&p);

    /* a transaction entry is not a signature entry */
    cs_ledger_entry e;
    cs_ledger_sig s;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&f->l.entries[0]), &e));
    cst_fails(cs_ledger_sig_parse(&e, &s), CONSORT_E_MALFORMED);
}

/* Parses the last entry of the fixture's ledger and verifies it. */
static consort_err verify_last(sig_fx *f, const cs_x509 *service, int64_t now)
{
    cs_ledger_entry e;
    cs_ledger_sig s;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&f->l.entries[f->l.count - 1]), &e));
    cst_ok(cs_ledger_sig_parse(&e, &s));
    return cs_ledger_sig_verify(&s, service, now, NULL);
}

static void crypto_checks(void **state)
{
    sig_fx *f = *state;
    lfx_identity other;
    lfx_identity_init(&other);

    /* signed by another key, with the genuine certificate and node id */
    lfx_add_forged_sig(&f->l, other.node_key, f->id.node_cert, f->id.node_id);
    cst_fails(verify_last(f, f->id.service_cert, f->now), CONSORT_E_BAD_SIGNATURE);
    assert_non_null(strstr(consort_errmsg(), "kid"));

    /* a node of another service: its certificate does not chain */
    lfx_add_sig_by(&f->l, &(cs_ledger_signer){other.node_key, other.node_cert, other.node_id});
    cst_fails(verify_last(f, f->id.service_cert, f->now), CONSORT_E_BAD_CERTIFICATE);
    cst_ok(verify_last(f, other.service_cert, f->now));

    /* the right key and certificate, but another node's id */
    lfx_add_forged_sig(&f->l, f->id.node_key, f->id.node_cert, other.node_id);
    cst_fails(verify_last(f, f->id.service_cert, f->now), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "node_id"));

    /* genuine, but checked after the node certificate expired */
    lfx_add_sig(&f->l);
    cst_ok(verify_last(f, f->id.service_cert, f->now));
    cst_fails(verify_last(f, f->id.service_cert, f->now + 11 * LFX_YEAR), CONSORT_E_EXPIRED);

    /* a P-384 node signs with ES384 */
    cs_key *k384;
    char id384[17];
    cst_ok(cs_key_generate(CS_CURVE_P384, &k384));
    cs_x509 *c384 = lfx_node_cert(k384, f->id.service_key, f->id.service_cert, id384);
    lfx_add_sig_by(&f->l, &(cs_ledger_signer){k384, c384, id384});
    cst_ok(verify_last(f, f->id.service_cert, f->now));
    cs_x509_free(c384);
    cs_key_free(k384);
    lfx_identity_cleanup(&other);
}

/* A signature over another root fails even with everything else genuine. */
static void signature_over_another_root(void **state)
{
    sig_fx *f = *state;
    lfx_add_sig(&f->l);
    cs_buf copy;
    cs_buf_init(&copy, 0);
    cst_ok(cs_buf_set(&copy, cs_buf_slice(&f->l.entries[5])));
    uint8_t *root = memmem(copy.ptr, copy.len, "\x64root\x58\x20", 7);
    assert_non_null(root);
    root[7] ^= 0x01;
    cs_ledger_entry e;
    cs_ledger_sig s;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&copy), &e));
    cst_ok(cs_ledger_sig_parse(&e, &s));
    cst_fails(cs_ledger_sig_verify(&s, f->id.service_cert, f->now, NULL), CONSORT_E_BAD_SIGNATURE);
    cs_buf_cleanup(&copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(build_parse_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(build_refuses_inconsistent_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(parser_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(crypto_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(signature_over_another_root, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
