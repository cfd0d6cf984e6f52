/*
 * Receipts (docs/receipts.md): receipts for every covered entry verify
 * (first and last entries before a signature, a signature entry, a tree of
 * one leaf); every byte changed in the COSE receipt, the leaf components,
 * the node certificate or the txid makes verification fail; a receipt from
 * another service, a wrong claims digest, malformed JSON fail; the public
 * consort_receipt_verify() agrees.
 */
#include "testutil.h"

#include "ledger_fixture.h"

#include "crypto/b64.h"

#include <consort/client.h>

typedef struct receipt_fx {
    lfx_identity id;
    lfx_ledger l; /* 1-5 tx, 6 sig, 7-11 tx, 12 sig, ... 30 sig, 31-32 tx */
    int64_t now;
    char *service_pem;
} receipt_fx;

static int setup(void **state)
{
    receipt_fx *f = calloc(1, sizeof *f);
    lfx_identity_init(&f->id);
    lfx_ledger_init(&f->l, &f->id, NULL, 0, NULL);
    lfx_generate(&f->l, 27, 5, 11);
    f->now = (int64_t)time(NULL);
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(f->id.service_cert, &pem));
    f->service_pem = cs_strndup((const char *)pem.ptr, pem.len);
    cs_buf_cleanup(&pem);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    receipt_fx *f = *state;
    cs_free(f->service_pem);
    lfx_ledger_cleanup(&f->l);
    lfx_identity_cleanup(&f->id);
    free(f);
    return 0;
}

static consort_err verify_json(receipt_fx *f, const char *json, const uint8_t *claims)
{
    cs_receipt_verify_opts o = {.claims_digest = claims, .now = f->now};
    return cs_receipt_verify_json(cs_slice_str(json), f->id.service_cert, &o);
}

static void every_covered_entry_has_a_receipt(void **state)
{
    receipt_fx *f = *state;
    assert_int_equal(f->l.count, 32);
    for (uint64_t seqno = 1; seqno < 30; seqno++) {
        cs_buf json;
        lfx_receipt(&f->l, seqno, &json);
        cst_ok(verify_json(f, (const char *)json.ptr, NULL));
        cs_receipt r;
        cs_receipt_init(&r);
        cst_ok(cs_receipt_parse(cs_buf_slice(&json), &r));
        char txid[CS_LEDGER_TXID_MAX];
        cs_ledger_entry e;
        cst_ok(cs_ledger_entry_decode(cs_buf_slice(&f->l.entries[seqno - 1]), &e));
        cs_ledger_txid_format(e.term, seqno, txid);
        assert_string_equal(r.txid, txid);
        assert_memory_equal(r.claims_digest, e.claims_digest, 32);
        cs_cose_sign1 msg;
        cs_cose_alg alg;
        cs_slice kid;
        cs_receipt_proof proof;
        cst_ok(cs_receipt_cose_decode(cs_buf_slice(&r.cose), &msg, &alg, &kid, &proof));
        assert_int_equal(proof.leaf_index, seqno - 1);
        /* the first signature entry after it signed the tree */
        assert_int_equal(proof.tree_size, lfx_sig_after(&f->l, seqno) - 1);
        /* the public function agrees, with and without the claims digest */
        char err[256] = "untouched";
        assert_int_equal(consort_receipt_verify((const char *)json.ptr, json.len, f->service_pem,
                                                strlen(f->service_pem), r.claims_digest, err,
                                                sizeof err),
                         CONSORT_OK);
        assert_string_equal(err, "");
        cs_receipt_cleanup(&r);
        cs_buf_cleanup(&json);
    }
}

/* A ledger of one transaction and one signature: a tree of size 1, whose
 * inclusion path is empty. */
static void tree_of_one_leaf(void **state)
{
    receipt_fx *f = *state;
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, NULL, 0, NULL);
    lfx_generate(&l, 1, 1, 0);
    cs_buf json;
    lfx_receipt(&l, 1, &json);
    cst_ok(verify_json(f, (const char *)json.ptr, NULL));
    cs_receipt r;
    cs_receipt_init(&r);
    cst_ok(cs_receipt_parse(cs_buf_slice(&json), &r));
    cs_cose_sign1 msg;
    cs_cose_alg alg;
    cs_slice kid;
    cs_receipt_proof proof;
    cst_ok(cs_receipt_cose_decode(cs_buf_slice(&r.cose), &msg, &alg, &kid, &proof));
    assert_int_equal(proof.tree_size, 1);
    assert_int_equal(proof.path_len, 0);
    cs_receipt_cleanup(&r);
    cs_buf_cleanup(&json);
    lfx_ledger_cleanup(&l);
}

/* ---- tampering ---- */

static json_t *load(const cs_buf *json)
{
    json_t *doc = json_loadb((const char *)json->ptr, json->len, 0, NULL);
    assert_non_null(doc);
    return doc;
}

/* Verifies `doc` (serialised) and returns the result. */
static consort_err verify_doc(receipt_fx *f, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    consort_err rc = verify_json(f, text, NULL);
    free(text);
    return rc;
}

static void set_string(json_t *obj, const char *key, const char *value)
{
    assert_int_equal(json_object_set_new(obj, key, json_string(value)), 0);
}

static void changed_cose_bytes(void **state)
{
    receipt_fx *f = *state;
    cs_buf json, cose, b64;
    lfx_receipt(&f->l, 9, &json);
    json_t *doc = load(&json);
    cs_buf_init(&cose, 0);
    cst_ok(cs_b64_decode(
        cs_slice_str(json_string_value(json_object_get(doc, "cose_receipt"))), &cose));
    for (size_t i = 0; i < cose.len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            cose.ptr[i] ^= (uint8_t)(1u << bit);
            cs_buf_init(&b64, 0);
            cst_ok(cs_b64_encode(cs_buf_slice(&cose), &b64));
            cst_ok(cs_buf_append_u8(&b64, 0));
            set_string(doc, "cose_receipt", (const char *)b64.ptr);
            if (verify_doc(f, doc) == CONSORT_OK)
                fail_msg("COSE byte %zu bit %d changed, receipt still verifies", i, bit);
            cs_buf_cleanup(&b64);
            cose.ptr[i] ^= (uint8_t)(1u << bit);
        }
    }
    json_decref(doc);
    cs_buf_cleanup(&cose);
    cs_buf_cleanup(&json);
}

/* Each character of a hex or evidence string replaced by another valid one. */
static void changed_leaf_components(void **state)
{
    receipt_fx *f = *state;
    cs_buf json;
    lfx_receipt(&f->l, 8, &json); /* 8 has a claims digest (i % 4 == 1 for tx 7) */
    json_t *doc = load(&json);
    json_t *lc = json_object_get(doc, "leaf_components");
    static const char *const keys[] = {"write_set_digest", "claims_digest", "commit_evidence"};
    for (size_t k = 0; k < CS_ARRAY_LEN(keys); k++) {
        char value[CS_LEDGER_CE_MAX];
        snprintf(value, sizeof value, "%s", json_string_value(json_object_get(lc, keys[k])));
        for (size_t i = 0; value[i] != '\0'; i++) {
            char orig = value[i];
            value[i] = orig == 'a' ? 'b' : orig == '0' ? '1' : orig == '.' ? ':' : 'a';
            set_string(lc, keys[k], value);
            consort_err rc = verify_doc(f, doc);
            if (rc == CONSORT_OK)
                fail_msg("%s[%zu] changed, receipt still verifies", keys[k], i);
            value[i] = orig;
        }
        set_string(lc, keys[k], value);
    }
    assert_int_equal(verify_doc(f, doc), CONSORT_OK);
    json_decref(doc);
    cs_buf_cleanup(&json);
}

static void pem_of_der(const cs_buf *der, cs_buf *pem)
{
    cs_buf b64;
    cs_buf_init(&b64, 0);
    cst_ok(cs_b64_encode(cs_buf_slice(der), &b64));
    cs_buf_init(pem, 0);
    cst_ok(cs_buf_printf(pem, "-----BEGIN CERTIFICATE-----\n"));
    for (size_t i = 0; i < b64.len; i += 64) {
        cst_ok(cs_buf_append(pem, b64.ptr + i, b64.len - i < 64 ? b64.len - i : 64));
        cst_ok(cs_buf_append_u8(pem, '\n'));
    }
    cst_ok(cs_buf_printf(pem, "-----END CERTIFICATE-----\n"));
    cst_ok(cs_buf_append_u8(pem, 0));
    cs_buf_cleanup(&b64);
}

static void changed_node_certificate(void **state)
{
    receipt_fx *f = *state;
    cs_buf json, der, pem;
    lfx_receipt(&f->l, 3, &json);
    json_t *doc = load(&json);
    cs_buf_init(&der, 0);
    cst_ok(cs_x509_to_der(f->id.node_cert, &der));
    pem_of_der(&der, &pem);
    set_string(doc, "node_certificate", (const char *)pem.ptr);
    cst_ok(verify_doc(f, doc)); /* the re-made PEM is fine */
    cs_buf_cleanup(&pem);
    for (size_t i = 0; i < der.len; i++) {
        der.ptr[i] ^= 0x04;
        pem_of_der(&der, &pem);
        set_string(doc, "node_certificate", (const char *)pem.ptr);
        if (verify_doc(f, doc) == CONSORT_OK)
            fail_msg("certificate byte %zu changed, receipt still verifies", i);
        cs_buf_cleanup(&pem);
        der.ptr[i] ^= 0x04;
    }
    /* another genuine node certificate of the same service: kid differs */
    cs_key *k;
    char id[17];
    cst_ok(cs_key_generate(CS_CURVE_P256, &k));
    cs_x509 *other = lfx_node_cert(k, f->id.service_key, f->id.service_cert, id);
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(other, &pem));
    cst_ok(cs_buf_append_u8(&pem, 0));
    set_string(doc, "node_certificate", (const char *)pem.ptr);
    char *text = json_dumps(doc, 0);
    cst_fails(verify_json(f, text, NULL), CONSORT_E_BAD_SIGNATURE);
    assert_non_null(strstr(consort_errmsg(), "kid"));
    free(text);
    cs_buf_cleanup(&pem);
    cs_x509_free(other);
    cs_key_free(k);
    json_decref(doc);
    cs_buf_cleanup(&der);
    cs_buf_cleanup(&json);
}

static void changed_txid(void **state)
{
    receipt_fx *f = *state;
    cs_buf json;
    lfx_receipt(&f->l, 4, &json);
    json_t *doc = load(&json);
    static const char *const others[] = {"1.5", "1.3", "2.4", "11.4", "1.40"};
    for (size_t i = 0; i < CS_ARRAY_LEN(others); i++) {
        set_string(doc, "txid", others[i]);
        assert_int_equal(verify_doc(f, doc), CONSORT_E_MALFORMED);
        assert_non_null(strstr(consort_errmsg(), "commit_evidence"));
    }
    /* txid and commit evidence of entry 5 with entry 4's proof */
    char ce[CS_LEDGER_CE_MAX];
    cst_ok(cs_ledger_commit_evidence(f->id.secret, 1, 5, ce));
    set_string(doc, "txid", "1.5");
    set_string(json_object_get(doc, "leaf_components"), "commit_evidence", ce);
    assert_int_equal(verify_doc(f, doc), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "leaf_index 3 is not seqno - 1"));
    json_decref(doc);
    cs_buf_cleanup(&json);
}

/* A receipt is only as good as the pinned certificate. */
static void receipt_of_another_service(void **state)
{
    receipt_fx *f = *state;
    lfx_identity other;
    lfx_identity_init(&other);
    lfx_ledger l;
    lfx_ledger_init(&l, &other, NULL, 0, NULL);
    lfx_generate(&l, 4, 2, 0);
    cs_buf json;
    lfx_receipt(&l, 1, &json);
    cst_fails(verify_json(f, (const char *)json.ptr, NULL), CONSORT_E_BAD_CERTIFICATE);
    char err[512];
    assert_int_equal(consort_receipt_verify((const char *)json.ptr, json.len, f->service_pem,
                                            strlen(f->service_pem), NULL, err, sizeof err),
                     CONSORT_E_BAD_CERTIFICATE);
    assert_non_null(strstr(err, "does not chain to the service certificate"));
    cs_receipt_verify_opts o = {.now = f->now};
    cst_ok(cs_receipt_verify_json(cs_buf_slice(&json), other.service_cert, &o));
    cs_buf_cleanup(&json);
    lfx_ledger_cleanup(&l);
    lfx_identity_cleanup(&other);
}

static void claims_digest_expectation(void **state)
{
    receipt_fx *f = *state;
    cs_buf json;
    lfx_receipt(&f->l, 1, &json); /* entry 1 has a claims digest */
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&f->l.entries[0]), &e));
    uint8_t claims[32];
    memcpy(claims, e.claims_digest, 32);
    cst_ok(verify_json(f, (const char *)json.ptr, claims));
    claims[31] ^= 1;
    cst_fails(verify_json(f, (const char *)json.ptr, claims), CONSORT_E_POLICY);
    assert_int_equal(consort_receipt_verify((const char *)json.ptr, json.len, f->service_pem,
                                            strlen(f->service_pem), claims, NULL, 0),
                     CONSORT_E_POLICY);
    cs_buf_cleanup(&json);
}

static void malformed_json(void **state)
{
    receipt_fx *f = *state;
    cs_buf json;
    lfx_receipt(&f->l, 2, &json);
    json_t *doc = load(&json);
    json_t *copy;
#define MUTATE(stmt, code, msg)                                                                    \
    do {                                                                                           \
        copy = json_deep_copy(doc);                                                                \
        json_t *lc = json_object_get(copy, "leaf_components");                                     \
        (void)lc;                                                                                  \
        stmt;                                                                                      \
        cst_fails(verify_doc(f, copy), code);                                                      \
        if (strstr(consort_errmsg(), msg) == NULL)                                                 \
            fail_msg("message \"%s\" lacks \"%s\"", consort_errmsg(), msg);                        \
        json_decref(copy);                                                                         \
    } while (0)
    MUTATE(json_object_set_new(copy, "extra", json_true()), CONSORT_E_MALFORMED,
           "unexpected member \"extra\"");
    MUTATE(json_object_del(copy, "txid"), CONSORT_E_MALFORMED, "has 3 members");
    MUTATE(json_object_set_new(lc, "x", json_null()), CONSORT_E_MALFORMED, "unexpected member");
    MUTATE(json_object_set_new(copy, "txid", json_integer(4)), CONSORT_E_MALFORMED,
           "\"txid\" is not a string");
    MUTATE(json_object_set_new(copy, "leaf_components", json_array()), CONSORT_E_MALFORMED,
           "leaf_components is not a JSON object");
    MUTATE(set_string(lc, "claims_digest", "00"), CONSORT_E_MALFORMED, "hex");
    MUTATE(set_string(copy, "cose_receipt", "AB=="), CONSORT_E_MALFORMED, "pad bits");
    MUTATE(set_string(copy, "cose_receipt", "AAAA\nAAA"), CONSORT_E_MALFORMED, "alphabet");
    MUTATE(set_string(copy, "cose_receipt", "AAA"), CONSORT_E_MALFORMED, "multiple of 4");
    MUTATE(set_string(copy, "cose_receipt", ""), CONSORT_E_TRUNCATED, "COSE");
    MUTATE(set_string(copy, "node_certificate", "not a certificate"), CONSORT_E_MALFORMED,
           "node_certificate");
    /* two certificates where one belongs */
    const char *pem = json_string_value(json_object_get(doc, "node_certificate"));
    char two[8192];
    snprintf(two, sizeof two, "%s%s", pem, pem);
    MUTATE(set_string(copy, "node_certificate", two), CONSORT_E_MALFORMED, "2 certificates");
#undef MUTATE
    /* duplicate members, trailing text, not an object, too large */
    char *text = json_dumps(doc, JSON_COMPACT);
    char dup[8192];
    snprintf(dup, sizeof dup, "{\"txid\": \"1.2\", %s", text + 1);
    cst_fails(verify_json(f, dup, NULL), CONSORT_E_MALFORMED);
    snprintf(dup, sizeof dup, "%s {}", text);
    cst_fails(verify_json(f, dup, NULL), CONSORT_E_MALFORMED);
    cst_fails(verify_json(f, "[1, 2]", NULL), CONSORT_E_MALFORMED);
    cst_fails(verify_json(f, "", NULL), CONSORT_E_MALFORMED);
    cs_receipt_verify_opts o = {.now = f->now};
    cst_fails(
        cs_receipt_verify_json(CS_SLICE(text, CS_RECEIPT_JSON_MAX + 1), f->id.service_cert, &o),
        CONSORT_E_TOO_LARGE);
    free(text);
    json_decref(doc);
    cs_buf_cleanup(&json);
}

static void public_api(void **state)
{
    receipt_fx *f = *state;
    cs_buf json;
    lfx_receipt(&f->l, 7, &json);
    const char *j = (const char *)json.ptr;
    size_t pl = strlen(f->service_pem);
    char err[16];
    assert_int_equal(consort_receipt_verify(NULL, 0, f->service_pem, pl, NULL, err, sizeof err),
                     CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(strlen(err), sizeof err - 1); /* truncated, terminated */
    assert_int_equal(consort_receipt_verify(j, json.len, "junk", 4, NULL, NULL, 0),
                     CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "service certificate"));
    /* not NUL-terminated: only json_len bytes are read */
    assert_int_equal(consort_receipt_verify(j, json.len - 1, f->service_pem, pl, NULL, NULL, 0),
                     CONSORT_E_MALFORMED);
    consort_receipt_expect ex = {.txid = "1.7"};
    char msg[256];
    assert_int_equal(
        consort_receipt_verify_ex(j, json.len, f->service_pem, pl, &ex, msg, sizeof msg),
        CONSORT_OK);
    ex.txid = "1.8";
    assert_int_equal(
        consort_receipt_verify_ex(j, json.len, f->service_pem, pl, &ex, msg, sizeof msg),
        CONSORT_E_POLICY);
    assert_non_null(strstr(msg, "not 1.8"));
    ex = (consort_receipt_expect){.now = f->now + 30 * LFX_YEAR};
    assert_int_equal(
        consort_receipt_verify_ex(j, json.len, f->service_pem, pl, &ex, msg, sizeof msg),
        CONSORT_E_EXPIRED);
    assert_int_equal(consort_receipt_verify_ex(j, json.len, f->service_pem, pl, NULL, NULL, 0),
                     CONSORT_OK);
    cs_buf_cleanup(&json);
}

static void build_refuses_what_it_cannot_prove(void **state)
{
    receipt_fx *f = *state;
    cs_buf json;
    cs_buf_init(&json, 0);
    /* signature entry 6 does not cover entry 7 */
    cst_fails(cs_receipt_build(f->l.tree, cs_buf_slice(&f->l.entries[6]),
                               cs_buf_slice(&f->l.entries[5]), f->id.secret, &json),
              CONSORT_E_INVALID_ARGUMENT);
    /* not a signature entry */
    cst_fails(cs_receipt_build(f->l.tree, cs_buf_slice(&f->l.entries[0]),
                               cs_buf_slice(&f->l.entries[1]), f->id.secret, &json),
              CONSORT_E_MALFORMED);
    /* a tree that does not hold this entry */
    lfx_ledger other;
    lfx_ledger_init(&other, &f->id, NULL, 0, NULL);
    lfx_generate(&other, 10, 5, 0);
    cst_fails(cs_receipt_build(other.tree, cs_buf_slice(&f->l.entries[0]),
                               cs_buf_slice(&f->l.entries[5]), f->id.secret, &json),
              CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(json.len, 0);
    lfx_ledger_cleanup(&other);
    cs_buf_cleanup(&json);
}

static void allocation_failures(void **state)
{
    receipt_fx *f = *state;
    cs_buf json;
    lfx_receipt(&f->l, 13, &json);
    cst_alloc_install();
    for (long n = 0;; n++) {
        long live = cst_alloc_live();
        cst_alloc_fail_after(n);
        consort_err rc = verify_json(f, (const char *)json.ptr, NULL);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed) {
            cst_ok(rc);
            break;
        }
        assert_int_equal(rc, CONSORT_E_NOMEM);
    }
    cst_alloc_uninstall();
    cs_buf_cleanup(&json);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(every_covered_entry_has_a_receipt),
        T(tree_of_one_leaf),
        T(changed_cose_bytes),
        T(changed_leaf_components),
        T(changed_node_certificate),
        T(changed_txid),
        T(receipt_of_another_service),
        T(claims_digest_expectation),
        T(malformed_json),
        T(public_api),
        T(build_refuses_what_it_cannot_prove),
        T(allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
