/*
 * Signature entries (docs/ledger.md section 4): build, parse and verify,
 * every structural rule of the parser with a hand-made entry that breaks
 * it, the cryptographic checks (other key, other service, expired
 * certificate, wrong node id, P-384 nodes), the checkpoint signature over
 * (tree_size, root, state, terms) with altered fields resealed under the
 * secret, and known answers for the checkpoint record and terms digest.
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
    assert_int_equal(e.ciphertext.len, 0);
    cs_buf plain;
    cs_buf_init(&plain, 0);
    cst_ok(cs_ledger_entry_open(&e, &f->l.keys, &plain)); /* sealed like any entry */
    cs_buf_cleanup(&plain);
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
    /* the state the fixture had after entry 5, and the terms of 1 .. 5 */
    uint8_t terms[32];
    lfx_terms(&f->l, 5, terms);
    assert_int_equal(s.state.len, 32);
    assert_memory_equal(s.terms.ptr, terms, 32);
    /* the checkpoint: {1: alg, 4: kid} and a detached record, verified here
     * independently of cs_ledger_sig_verify */
    assert_true(s.checkpoint_msg.detached && s.checkpoint_msg.tagged);
    assert_int_equal(s.checkpoint_msg.protected_hdr.count, 2);
    cs_buf record;
    cs_buf_init(&record, 0);
    cst_ok(cs_ledger_checkpoint_payload(5, s.root, s.state, s.terms, &record));
    cs_slice payload = cs_buf_slice(&record);
    cs_cose_verify_opts vo = {.detached_payload = &payload};
    cst_ok(cs_cose_sign1_verify(&s.checkpoint_msg, f->id.node_key, &vo));
    cs_buf_cleanup(&record);
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
    /* ... but only for the same service certificate and time: the node
     * certificate does not chain to another service's, nor is it valid
     * years later, whatever the cache holds */
    lfx_identity other;
    lfx_identity_init(&other);
    cst_fails(cs_ledger_sig_verify(&s, other.service_cert, f->now, &cache),
              CONSORT_E_BAD_CERTIFICATE);
    cst_ok(cs_ledger_sig_verify(&s, f->id.service_cert, f->now, &cache));
    cst_fails_any(
        cs_ledger_sig_verify(&s, f->id.service_cert, f->now + 100LL * 365 * 86400, &cache));
    lfx_identity_cleanup(&other);
    cs_ledger_cert_cache_cleanup(&cache);
    cst_ok(cs_ledger_sig_verify(&s, f->id.service_cert, f->now, NULL));
}

static void build_refuses_inconsistent_inputs(void **state)
{
    sig_fx *f = *state;
    cs_ledger_signer signer = lfx_signer(&f->id);
    uint8_t terms[32];
    lfx_terms(&f->l, 5, terms);
    cs_ledger_sig_params p = {.term = 1, .seqno = 5, .state = f->l.state, .terms = terms};
    cs_buf out;
    cs_buf_init(&out, 0);
    /* the tree must hold exactly seqno - 1 leaves */
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, &p, &f->l.keys, &out),
              CONSORT_E_INVALID_ARGUMENT);
    p.seqno = 7;
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, &p, &f->l.keys, &out),
              CONSORT_E_INVALID_ARGUMENT);
    /* the digests are required */
    p.seqno = 6;
    p.state = NULL;
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, &p, &f->l.keys, &out),
              CONSORT_E_INVALID_ARGUMENT);
    p.state = f->l.state;
    p.terms = NULL;
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, &p, &f->l.keys, &out),
              CONSORT_E_INVALID_ARGUMENT);
    p.terms = terms;
    signer.node_id = "0000000000000000";
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, &p, &f->l.keys, &out),
              CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "node_id"));
    /* a certificate for another key */
    lfx_identity other;
    lfx_identity_init(&other);
    signer = lfx_signer(&f->id);
    signer.node_cert = other.node_cert;
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, &p, &f->l.keys, &out),
              CONSORT_E_INVALID_ARGUMENT);
    /* keys that never rekeyed cannot seal it */
    signer = lfx_signer(&f->id);
    cs_ledger_keys fresh;
    cs_ledger_keys_init(&fresh, f->id.secret);
    cst_fails(cs_ledger_sig_build(f->l.tree, &signer, &p, &fresh, &out), CONSORT_E_STATE);
    cs_ledger_keys_cleanup(&fresh);
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
    uint8_t terms[32];
    cs_buf cose;
    cs_buf checkpoint;
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
    lfx_terms(&fx->l, 5, p->terms);
    uint8_t kid[32];
    cst_ok(cs_key_id(fx->id.node_key, kid));
    cs_buf_init(&p->cose, 0);
    cs_buf_init(&p->checkpoint, 0);
    cs_buf_init(&p->der, 0);
    cs_buf_init(&p->ws, 0);
    lfx_sign_root(fx->id.node_key, CS_SLICE(kid, 32), CS_SLICE(p->root, 32), &p->cose);
    cst_ok(cs_x509_to_der(fx->id.node_cert, &p->der));
    p->f = (lfx_sig_fields){.term = 1,
                            .seqno = 6,
                            .tree_size = 5,
                            .root = CS_SLICE(p->root, 32),
                            .state = CS_SLICE(fx->l.state, 32),
                            .terms = CS_SLICE(p->terms, 32),
                            .node_id = cs_slice_str(fx->id.node_id),
                            .cose = cs_buf_slice(&p->cose),
                            .cert = cs_buf_slice(&p->der)};
    lfx_sign_checkpoint(fx->id.node_key, CS_COSE_ES256, CS_SLICE(kid, 32), &p->f, &p->checkpoint);
    p->f.checkpoint = cs_buf_slice(&p->checkpoint);
    p->entry_term = 1;
}

static void parts_cleanup(parts *p)
{
    cs_buf_cleanup(&p->cose);
    cs_buf_cleanup(&p->checkpoint);
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
    cst_ok(cs_ledger_keys_rekey(&fx->l.keys));
    cst_ok(cs_ledger_entry_encode(&ep, &fx->l.keys, &entry));
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

/* Re-signs the checkpoint of `p` with `key`, protected `params` (after alg),
 * unprotected `unprot`, and detached or not. */
static void resign_checkpoint(parts *p, const cs_key *key, cs_cose_alg alg,
                              const cs_cose_param *params, size_t n, cs_slice unprot, bool detached)
{
    cs_buf record;
    cs_buf_init(&record, 0);
    cst_ok(cs_ledger_checkpoint_payload(5, p->f.root, p->f.state, p->f.terms, &record));
    cs_cose_sign1_params cp = {.alg = alg,
                               .protected_params = params,
                               .protected_count = n,
                               .unprotected = unprot,
                               .payload = cs_buf_slice(&record),
                               .detached = detached};
    cs_buf_reset(&p->checkpoint);
    cst_ok(cs_cose_sign1_sign(key, &cp, &p->checkpoint));
    p->f.checkpoint = cs_buf_slice(&p->checkpoint);
    cs_buf_cleanup(&record);
}

/* docs/ledger.md 4.2: the checkpoint's protected header is exactly
 * {1: the root's alg, 4: the root's kid}, unprotected empty, detached. */
static void checkpoint_rules(sig_fx *f, const uint8_t kid[32])
{
    parts p;
    const cs_cose_param own_kid[] = {CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, 32))};

    /* re-signed the genuine way: parses and verifies (the helper is right) */
    parts_init(f, &p);
    resign_checkpoint(&p, f->id.node_key, CS_COSE_ES256, own_kid, 1, CS_SLICE_EMPTY, true);
    expect_parse(f, &p, CONSORT_OK, "valid");
    parts_cleanup(&p);

    /* another kid */
    uint8_t other_kid[32];
    memcpy(other_kid, kid, 32);
    other_kid[0] ^= 1;
    const cs_cose_param wrong_kid[] = {
        CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(other_kid, 32))};
    parts_init(f, &p);
    resign_checkpoint(&p, f->id.node_key, CS_COSE_ES256, wrong_kid, 1, CS_SLICE_EMPTY, true);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "checkpoint: kid is not the kid of the root's");
    parts_cleanup(&p);

    /* another alg (a P-384 key, with the root's kid) */
    cs_key *k384;
    cst_ok(cs_key_generate(CS_CURVE_P384, &k384));
    parts_init(f, &p);
    resign_checkpoint(&p, k384, CS_COSE_ES384, own_kid, 1, CS_SLICE_EMPTY, true);
    expect_parse(f, &p, CONSORT_E_MALFORMED,
                 "checkpoint: alg ES384, but the root is signed with ES256");
    parts_cleanup(&p);
    cs_key_free(k384);

    /* the root's header {1, 4, 395: 1} is not the checkpoint's */
    const cs_cose_param with_vds[] = {CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, 32)),
                                      CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1)};
    parts_init(f, &p);
    resign_checkpoint(&p, f->id.node_key, CS_COSE_ES256, with_vds, 2, CS_SLICE_EMPTY, true);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "checkpoint: protected header of 3 entries");
    parts_cleanup(&p);

    /* no kid */
    parts_init(f, &p);
    const cs_cose_param cty[] = {CS_COSE_PARAM_INT(CS_COSE_HDR_CTY, 60)};
    resign_checkpoint(&p, f->id.node_key, CS_COSE_ES256, cty, 1, CS_SLICE_EMPTY, true);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "checkpoint: protected header lacks kid");
    parts_cleanup(&p);

    /* an unprotected header; the record attached; untagged */
    parts_init(f, &p);
    resign_checkpoint(&p, f->id.node_key, CS_COSE_ES256, own_kid, 1, CS_SLICE_LIT("\xa1\x03\x00"),
                      true);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "checkpoint: unprotected header of 1 entries");
    parts_cleanup(&p);

    parts_init(f, &p);
    resign_checkpoint(&p, f->id.node_key, CS_COSE_ES256, own_kid, 1, CS_SLICE_EMPTY, false);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "checkpoint: COSE_Sign1 payload not detached");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.f.checkpoint = CS_SLICE(p.checkpoint.ptr + 1, p.checkpoint.len - 1);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "checkpoint: COSE_Sign1 without tag 18");
    parts_cleanup(&p);

    /* not a COSE_Sign1 at all */
    parts_init(f, &p);
    p.f.checkpoint = CS_SLICE_LIT("\x80");
    expect_parse(f, &p, CONSORT_E_MALFORMED, "checkpoint");
    parts_cleanup(&p);
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
    expect_parse(f, &p, CONSORT_E_MALFORMED, "has private writes");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.f.state = CS_SLICE(p.root, 31);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "state of 31 bytes");
    parts_cleanup(&p);

    parts_init(f, &p);
    p.f.terms = CS_SLICE(p.root, 33 - 1 - 1);
    expect_parse(f, &p, CONSORT_E_MALFORMED, "terms of 31 bytes");
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

    /* the version 1 map (7 keys, no state, terms, checkpoint) */
    parts_init(f, &p);
    lfx_sig_ws(&p.f, &p.ws);
    uint8_t *map10 = memmem(p.ws.ptr, p.ws.len, "\xaa\x64term", 6);
    assert_non_null(map10);
    map10[0] = 0xa7;
    expect_parse(f, &p, CONSORT_E_MALFORMED, "map of 7 keys, expected 10");
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

    /* the checkpoint COSE_Sign1 */
    checkpoint_rules(f, kid);

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
    /* ... or before it was issued (a clock set back) */
    cst_fails(verify_last(f, f->id.service_cert, f->now - 2 * 86400), CONSORT_E_EXPIRED);
    /* a replica applying committed entries does not judge them by its own
     * clock, which the host sets: CS_LEDGER_SIG_ANY_TIME checks the chain
     * at a time inside the node certificate's validity */
    cst_ok(verify_last(f, f->id.service_cert, CS_LEDGER_SIG_ANY_TIME));
    /* ... the chain itself still counts */
    lfx_add_sig_by(&f->l, &(cs_ledger_signer){other.node_key, other.node_cert, other.node_id});
    cst_fails(verify_last(f, f->id.service_cert, CS_LEDGER_SIG_ANY_TIME),
              CONSORT_E_BAD_CERTIFICATE);

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

/* A copy of signature entry `seqno` with one byte changed at `at`
 * (relative to the first match of `needle`), resealed under the secret so
 * that the entry itself authenticates: only the signatures can tell. */
static void expect_resealed_edit_refused(sig_fx *f, const char *needle, size_t needle_len,
                                         ptrdiff_t at, const char *why)
{
    cs_buf copy, plain;
    cs_buf_init(&copy, 0);
    cs_buf_init(&plain, 0);
    cst_ok(cs_buf_set(&copy, cs_buf_slice(&f->l.entries[5])));
    uint8_t *hit = memmem(copy.ptr, copy.len, needle, needle_len);
    assert_non_null(hit);
    hit[at] ^= 0x01;
    lfx_reseal(f->id.secret, &copy, CS_SLICE_EMPTY);
    cs_ledger_entry e;
    cs_ledger_sig s;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&copy), &e));
    cst_ok(cs_ledger_entry_open(&e, &f->l.keys, &plain));
    cst_ok(cs_ledger_sig_parse(&e, &s));
    cst_fails(cs_ledger_sig_verify(&s, f->id.service_cert, f->now, NULL), CONSORT_E_BAD_SIGNATURE);
    if (strstr(consort_errmsg(), why) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", consort_errmsg(), why);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&copy);
}

/* The checkpoint signature covers state and terms (and tree_size, root):
 * altering any of them, or the checkpoint itself, in an entry resealed
 * with the secret is BAD_SIGNATURE. */
static void checkpoint_signature_covers_state_and_terms(void **state)
{
    sig_fx *f = *state;
    lfx_add_sig(&f->l);
    /* unaltered, resealed: the same bytes (the resealing is faithful) */
    {
        cs_buf copy;
        cs_buf_init(&copy, 0);
        cst_ok(cs_buf_set(&copy, cs_buf_slice(&f->l.entries[5])));
        lfx_reseal(f->id.secret, &copy, CS_SLICE_EMPTY);
        assert_true(cs_slice_eq(cs_buf_slice(&copy), cs_buf_slice(&f->l.entries[5])));
        cs_buf_cleanup(&copy);
    }
    expect_resealed_edit_refused(f, "\x65state\x58\x20", 8, 8, "checkpoint");
    expect_resealed_edit_refused(f, "\x65state\x58\x20", 8, 8 + 31, "checkpoint");
    expect_resealed_edit_refused(f, "\x65terms\x58\x20", 8, 8, "checkpoint");
    expect_resealed_edit_refused(f, "\x65terms\x58\x20", 8, 8 + 31, "checkpoint");
    /* the last byte of the checkpoint's signature (just before "cert") */
    expect_resealed_edit_refused(f,
                                 "\x64"
                                 "cert",
                                 5, -1, "checkpoint");
    /* the root: its own signature fails first */
    expect_resealed_edit_refused(f, "\x64root\x58\x20", 7, 7, "cose (the root)");

    /* a genuine root signature with a checkpoint by another key under the
     * genuine kid */
    lfx_identity other;
    lfx_identity_init(&other);
    parts p;
    uint8_t kid[32];
    cst_ok(cs_key_id(f->id.node_key, kid));
    parts_init(f, &p);
    const cs_cose_param own_kid[] = {CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(kid, 32))};
    resign_checkpoint(&p, other.node_key, CS_COSE_ES256, own_kid, 1, CS_SLICE_EMPTY, true);
    lfx_sig_ws(&p.f, &p.ws);
    cs_ledger_entry_params ep = {
        .kind = CS_LEDGER_KIND_SIGNATURE, .term = 1, .seqno = 6, .public_ws = cs_buf_slice(&p.ws)};
    cs_buf entry;
    cs_buf_init(&entry, 0);
    cst_ok(cs_ledger_keys_rekey(&f->l.keys));
    cst_ok(cs_ledger_entry_encode(&ep, &f->l.keys, &entry));
    cs_ledger_entry e;
    cs_ledger_sig s;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&entry), &e));
    cst_ok(cs_ledger_sig_parse(&e, &s));
    cst_fails(cs_ledger_sig_verify(&s, f->id.service_cert, f->now, NULL), CONSORT_E_BAD_SIGNATURE);
    assert_non_null(strstr(consort_errmsg(), "checkpoint"));
    cs_buf_cleanup(&entry);
    parts_cleanup(&p);
    lfx_identity_cleanup(&other);
}

/* docs/ledger.md 4.2, by hand: the checkpoint record's bytes. */
static void checkpoint_record_known_answer(void **state)
{
    (void)state;
    uint8_t root[32], st[32], terms[32];
    memset(root, 0x11, 32);
    memset(st, 0x22, 32);
    memset(terms, 0x33, 32);
    cs_buf want, got;
    cs_buf_init(&want, 0);
    cs_buf_init(&got, 0);
    cst_ok(cs_buf_append(&want,
                         "\x85\x75"
                         "consort checkpoint v2",
                         23));
    cst_ok(cs_buf_append(&want, "\x19\x01\x2c", 3)); /* 300 */
    cst_ok(cs_buf_append(&want, "\x58\x20", 2));
    cst_ok(cs_buf_append(&want, root, 32));
    cst_ok(cs_buf_append(&want, "\x58\x20", 2));
    cst_ok(cs_buf_append(&want, st, 32));
    cst_ok(cs_buf_append(&want, "\x58\x20", 2));
    cst_ok(cs_buf_append(&want, terms, 32));
    cst_ok(cs_buf_append(&got, "x", 1));
    cst_ok(cs_ledger_checkpoint_payload(300, CS_SLICE(root, 32), CS_SLICE(st, 32),
                                        CS_SLICE(terms, 32), &got));
    assert_int_equal(got.len, 1 + want.len);
    assert_memory_equal(got.ptr + 1, want.ptr, want.len);
    /* tree_size 0 is the one-byte uint 0x00 */
    cs_buf_reset(&got);
    cst_ok(cs_ledger_checkpoint_payload(0, CS_SLICE(root, 32), CS_SLICE(st, 32),
                                        CS_SLICE(terms, 32), &got));
    assert_int_equal(got.ptr[23], 0x00);
    cst_fails(cs_ledger_checkpoint_payload(0, CS_SLICE(root, 31), CS_SLICE(st, 32),
                                           CS_SLICE(terms, 32), &got),
              CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&want);
    cs_buf_cleanup(&got);
}

static void expect_terms(const cs_ledger_term_run *runs, size_t count, uint64_t tree_size,
                         const char *cbor_hex)
{
    cs_buf cbor;
    cst_hex(cbor_hex, &cbor);
    uint8_t want[32], got[32];
    cs_sha256(cs_buf_slice(&cbor), want);
    cst_ok(cs_ledger_terms_digest(runs, count, tree_size, got));
    if (memcmp(got, want, 32) != 0)
        fail_msg("terms digest of %zu runs at tree_size %llu is not SHA-256(%s)", count,
                 (unsigned long long)tree_size, cbor_hex);
    cs_buf_cleanup(&cbor);
}

/* docs/ledger.md 4.2 by hand: SHA-256 of the CBOR [* [first_seqno, term]]
 * of the runs that start at or before tree_size. */
static void terms_digest_known_answers(void **state)
{
    (void)state;
    /* T = 0: SHA-256(0x80), whatever the runs */
    static const uint8_t empty[32] = {0x76, 0xbe, 0x8b, 0x52, 0x8d, 0x00, 0x75, 0xf7,
                                      0xaa, 0xe9, 0x8d, 0x6f, 0xa5, 0x7a, 0x6d, 0x3c,
                                      0x83, 0xae, 0x48, 0x0a, 0x84, 0x69, 0xe6, 0x68,
                                      0xd7, 0xb0, 0xaf, 0x96, 0x89, 0x95, 0xac, 0x71};
    uint8_t got[32];
    cst_ok(cs_ledger_terms_digest(NULL, 0, 0, got));
    assert_memory_equal(got, empty, 32);
    const cs_ledger_term_run one[] = {{1, 1}};
    cst_ok(cs_ledger_terms_digest(one, 1, 0, got));
    assert_memory_equal(got, empty, 32);
    /* [[1, 1]]: 81 82 01 01 */
    static const uint8_t one_run[32] = {0x80, 0xff, 0xdc, 0xd8, 0x9e, 0xe3, 0x2b, 0x4a,
                                        0x90, 0xcb, 0xbb, 0x41, 0x88, 0xd4, 0x77, 0x0b,
                                        0x55, 0x6c, 0xad, 0x5c, 0x65, 0x0c, 0xba, 0x57,
                                        0x1a, 0xbb, 0xd5, 0xa5, 0x0d, 0xc5, 0xd7, 0xd4};
    cst_ok(cs_ledger_terms_digest(one, 1, 5, got));
    assert_memory_equal(got, one_run, 32);
    expect_terms(one, 1, 1, "81820101");
    /* a run starting beyond T is left out; at T it is in */
    const cs_ledger_term_run two[] = {{1, 2}, {4, 3}};
    expect_terms(two, 2, 3, "81820102");
    expect_terms(two, 2, 4,
                 "8282010282"
                 "0403");
    expect_terms(two, 2, 1000, "82820102820403");
    /* multi-byte heads: seqno 24 (0x18 0x18), 300 (0x19 012c), term 70000 */
    const cs_ledger_term_run big[] = {{1, 1}, {24, 7}, {300, 70000}};
    expect_terms(big, 3, 23, "81820101");
    expect_terms(big, 3, 24,
                 "82820101821818"
                 "07");
    expect_terms(big, 3, 300, "83820101821818078219012c1a00011170");
    /* lists that are not runs of a ledger */
    const cs_ledger_term_run late[] = {{2, 1}};
    cst_fails(cs_ledger_terms_digest(late, 1, 5, got), CONSORT_E_INVALID_ARGUMENT);
    const cs_ledger_term_run same_seqno[] = {{1, 1}, {1, 2}};
    cst_fails(cs_ledger_terms_digest(same_seqno, 2, 5, got), CONSORT_E_INVALID_ARGUMENT);
    const cs_ledger_term_run same_term[] = {{1, 1}, {3, 1}};
    cst_fails(cs_ledger_terms_digest(same_term, 2, 5, got), CONSORT_E_INVALID_ARGUMENT);
    const cs_ledger_term_run lower_term[] = {{1, 2}, {3, 1}};
    cst_fails(cs_ledger_terms_digest(lower_term, 2, 5, got), CONSORT_E_INVALID_ARGUMENT);
    const cs_ledger_term_run zero_term[] = {{1, 0}};
    cst_fails(cs_ledger_terms_digest(zero_term, 1, 5, got), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_ledger_terms_digest(NULL, 0, 1, got), CONSORT_E_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(build_parse_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(build_refuses_inconsistent_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(parser_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(crypto_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(signature_over_another_root, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_signature_covers_state_and_terms, setup,
                                        teardown),
        cmocka_unit_test(checkpoint_record_known_answer),
        cmocka_unit_test(terms_digest_known_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
