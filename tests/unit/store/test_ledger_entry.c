/*
 * The ledger entry codec, version 2 (docs/ledger.md section 1): the
 * documented layout checked byte by byte and opened with an independent
 * HKDF and AES-GCM; private_len 0 for no private writes; each header field
 * and cap of the decoder; version 1 refused; encode's parameters; keys
 * derived for other purposes; commit evidence, leaves, txids; allocation
 * failures. Authentication and nonce uniqueness: test_ledger_auth.c.
 */
#include "testutil.h"

#include "crypto/hash.h"
#include "crypto/rand.h"
#include "store/ledger.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

static uint8_t secret[CS_LEDGER_SECRET_LEN];
static cs_ledger_keys keys;

static const uint8_t pub_ws[] = {0xa1, 0x6e, 'p', 'u', 'b', 'l',  'i',  'c',  ':',  'r',  'e',
                                 'c',  'o',  'r', 'd', 's', 0x81, 0x82, 0x41, 0x01, 0x41, 0x02};
static const uint8_t priv_ws[] = {0xa1, 0x67, 'r',  'e',  'c',  'o', 'r', 'd', 's',
                                  0x81, 0x82, 0x41, 0x07, 0x43, 's', 'e', 'c'};

#define PRIV_LEN_AT (108 + sizeof pub_ws)

/* Encodes one entry under a fresh key salt (so any seqno may be sealed). */
static void encode_kind(cs_ledger_kind kind, uint64_t term, uint64_t seqno, bool with_private,
                        bool claims, cs_buf *out)
{
    uint8_t digest[32];
    memset(digest, 0xcd, sizeof digest);
    cs_ledger_entry_params p = {
        .kind = kind,
        .term = term,
        .seqno = seqno,
        .claims_digest = claims ? digest : NULL,
        .public_ws = CS_SLICE(pub_ws, sizeof pub_ws),
        .private_ws = with_private ? CS_SLICE(priv_ws, sizeof priv_ws) : CS_SLICE_EMPTY,
    };
    cs_buf_init(out, 0);
    cst_ok(cs_ledger_keys_rekey(&keys));
    cst_ok(cs_ledger_entry_encode(&p, &keys, out));
}

static void encode(uint64_t term, uint64_t seqno, bool with_private, bool claims, cs_buf *out)
{
    encode_kind(CS_LEDGER_KIND_TX, term, seqno, with_private, claims, out);
}

static uint64_t be_at(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void set_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* HKDF-SHA256 (RFC 5869 §2.2, §2.3) on HMAC directly: one block of output. */
static void reference_hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                           const char *info, uint8_t out[32])
{
    uint8_t prk[32];
    unsigned int n = 0;
    assert_non_null(HMAC(EVP_sha256(), salt_len ? salt : (const uint8_t *)"", (int)salt_len, ikm,
                         ikm_len, prk, &n));
    uint8_t msg[128];
    size_t len = strlen(info);
    memcpy(msg, info, len);
    msg[len] = 0x01;
    assert_non_null(HMAC(EVP_sha256(), prk, 32, msg, len + 1, out, &n));
}

/* docs/ledger.md 1.2, computed independently: the entry key of a salt. */
static void reference_key(const uint8_t *ikm, const uint8_t *salt, uint8_t key[32])
{
    reference_hkdf(ikm, 32, salt, CS_LEDGER_SALT_LEN, "consort ledger entry v2", key);
}

static void reference_nonce(uint64_t seqno, uint8_t nonce[12])
{
    memset(nonce, 0, 4);
    set_be(nonce + 4, seqno, 8);
}

/* ---- layout ---- */

static void layout_is_the_documented_one(void **state)
{
    (void)state;
    cs_buf b;
    encode(3, 17, true, true, &b);
    assert_int_equal(b.len, 128 + sizeof pub_ws + sizeof priv_ws);
    assert_memory_equal(b.ptr, "CSLE", 4);
    assert_int_equal(b.ptr[4], 2);
    assert_int_equal(b.ptr[5], 1);
    assert_int_equal(be_at(b.ptr + 6, 2), 0);
    assert_int_equal(be_at(b.ptr + 8, 8), 3);
    assert_int_equal(be_at(b.ptr + 16, 8), 17);
    assert_memory_equal(b.ptr + 24, keys.seal_salt, 16);
    for (int i = 40; i < 72; i++)
        assert_int_equal(b.ptr[i], 0xcd);
    char ce[CS_LEDGER_CE_MAX];
    uint8_t ce_digest[32];
    cst_ok(cs_ledger_commit_evidence(secret, 3, 17, ce));
    cs_sha256(cs_slice_str(ce), ce_digest);
    assert_memory_equal(b.ptr + 72, ce_digest, 32);
    assert_int_equal(be_at(b.ptr + 104, 4), sizeof pub_ws);
    assert_memory_equal(b.ptr + 108, pub_ws, sizeof pub_ws);
    assert_int_equal(be_at(b.ptr + PRIV_LEN_AT, 4), sizeof priv_ws);

    /* AES-256-GCM under HKDF(secret, key_salt, "consort ledger entry v2"),
     * nonce 0^32 || be64(seqno), aad = bytes [0, 112 + P): opened with an
     * independent key derivation */
    uint8_t key[32], nonce[12];
    reference_key(secret, b.ptr + 24, key);
    reference_nonce(17, nonce);
    cs_buf plain;
    cs_buf_init(&plain, 0);
    cst_ok(cs_aead_open(key, nonce, CS_SLICE(b.ptr, PRIV_LEN_AT + 4),
                        CS_SLICE(b.ptr + PRIV_LEN_AT + 4, b.len - PRIV_LEN_AT - 4), &plain));
    assert_int_equal(plain.len, sizeof priv_ws);
    assert_memory_equal(plain.ptr, priv_ws, sizeof priv_ws);
    cs_buf_cleanup(&b);

    /* without private writes: private_len 0 and a GMAC tag over the aad */
    encode(3, 18, false, false, &b);
    assert_int_equal(b.len, 128 + sizeof pub_ws);
    assert_int_equal(be_at(b.ptr + PRIV_LEN_AT, 4), 0);
    reference_key(secret, b.ptr + 24, key);
    reference_nonce(18, nonce);
    cs_buf_reset(&plain);
    cst_ok(cs_aead_open(key, nonce, CS_SLICE(b.ptr, PRIV_LEN_AT + 4),
                        CS_SLICE(b.ptr + PRIV_LEN_AT + 4, 16), &plain));
    assert_int_equal(plain.len, 0);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&b);
}

static void round_trip_and_open(void **state)
{
    (void)state;
    cs_buf b, plain;
    encode(7, 123456789, true, false, &b);
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&b), &e));
    assert_int_equal(e.kind, CS_LEDGER_KIND_TX);
    assert_int_equal(e.term, 7);
    assert_int_equal(e.seqno, 123456789);
    assert_ptr_equal(e.key_salt, b.ptr + 24);
    assert_ptr_equal(e.claims_digest, b.ptr + 40);
    assert_ptr_equal(e.commit_evidence_digest, b.ptr + 72);
    static const uint8_t zero[32];
    assert_memory_equal(e.claims_digest, zero, 32);
    assert_int_equal(e.public_ws.len, sizeof pub_ws);
    assert_memory_equal(e.public_ws.ptr, pub_ws, sizeof pub_ws);
    assert_int_equal(e.ciphertext.len, sizeof priv_ws);
    assert_ptr_equal(e.ciphertext.ptr, b.ptr + PRIV_LEN_AT + 4);
    assert_int_equal(e.tag.len, 16);
    assert_ptr_equal(e.tag.ptr, b.ptr + b.len - 16);
    assert_int_equal(e.aad.len, PRIV_LEN_AT + 4);
    assert_ptr_equal(e.raw.ptr, b.ptr);
    /* another holder of the secret opens it (deriving the key) */
    cs_ledger_keys other;
    cs_ledger_keys_init(&other, secret);
    cs_buf_init_secret(&plain, 0);
    cst_ok(cs_ledger_entry_open(&e, &other, &plain));
    assert_int_equal(plain.len, sizeof priv_ws);
    assert_memory_equal(plain.ptr, priv_ws, sizeof priv_ws);
    /* and caches that salt's key */
    assert_true(other.open_cached);
    assert_memory_equal(other.open_salt, e.key_salt, 16);
    uint8_t key[32];
    reference_key(secret, e.key_salt, key);
    assert_memory_equal(other.open_key, key, 32);
    cs_ledger_keys_cleanup(&other);
    static const cs_ledger_keys wiped;
    assert_memory_equal(&other, &wiped, sizeof other);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&b);
}

static void no_private_writes_is_private_len_0(void **state)
{
    (void)state;
    cs_buf b, plain;
    encode(1, 1, false, false, &b);
    assert_int_equal(b.len, 128 + sizeof pub_ws);
    /* the empty write set 0xa0 also counts as "no private writes" */
    cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_INTERNAL,
                                .term = 1,
                                .seqno = 2,
                                .public_ws = CS_SLICE(pub_ws, sizeof pub_ws),
                                .private_ws = CS_SLICE_LIT("\xa0")};
    cs_buf c;
    cs_buf_init(&c, 0);
    cst_ok(cs_ledger_entry_encode(&p, &keys, &c));
    assert_int_equal(c.len, b.len);
    assert_int_equal(be_at(c.ptr + PRIV_LEN_AT, 4), 0);
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&c), &e));
    assert_int_equal(e.kind, CS_LEDGER_KIND_INTERNAL);
    assert_int_equal(e.ciphertext.len, 0);
    assert_int_equal(e.tag.len, 16);
    cs_buf_init_secret(&plain, 0);
    cst_ok(cs_ledger_entry_open(&e, &keys, &plain));
    assert_int_equal(plain.len, 1);
    assert_int_equal(plain.ptr[0], 0xa0);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&c);
}

static void keys_derive_for_other_purposes(void **state)
{
    (void)state;
    uint8_t out[32], want[32];
    cst_ok(cs_ledger_keys_derive(&keys, "consort snapshot v1", out));
    reference_hkdf(secret, 32, NULL, 0, "consort snapshot v1", want);
    assert_memory_equal(out, want, 32);
    cst_fails(cs_ledger_keys_derive(&keys, "consort ledger entry v2", out),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_ledger_keys_derive(&keys, "consort commit evidence 1.2", out),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_ledger_keys_derive(&keys, "", out), CONSORT_E_INVALID_ARGUMENT);
}

/* ---- decoding ---- */

/* One header field changed: the code and the message. */
static void expect_field(size_t off, uint64_t value, int width, consort_err code, const char *msg)
{
    cs_buf b;
    encode(5, 6, true, false, &b);
    set_be(b.ptr + off, value, width);
    cs_ledger_entry e;
    cst_fails(cs_ledger_entry_decode(cs_buf_slice(&b), &e), code);
    if (strstr(consort_errmsg(), msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", consort_errmsg(), msg);
    cs_buf_cleanup(&b);
}

static void each_header_field_is_checked(void **state)
{
    (void)state;
    expect_field(0, 0x43534c46, 4, CONSORT_E_MALFORMED, "magic");
    expect_field(4, 1, 1, CONSORT_E_UNSUPPORTED, "version 1: ledger format version 1");
    expect_field(4, 3, 1, CONSORT_E_UNSUPPORTED, "version 3, expected 2");
    expect_field(5, 0, 1, CONSORT_E_MALFORMED, "kind 0");
    expect_field(5, 4, 1, CONSORT_E_MALFORMED, "kind 4");
    expect_field(6, 1, 2, CONSORT_E_MALFORMED, "flags 0x0001");
    expect_field(6, 0x8000, 2, CONSORT_E_MALFORMED, "flags 0x8000");
    expect_field(8, 0, 8, CONSORT_E_MALFORMED, "term 0");
    expect_field(8, (uint64_t)1 << 32, 8, CONSORT_E_MALFORMED, "term 4294967296");
    expect_field(16, 0, 8, CONSORT_E_MALFORMED, "seqno 0");
    expect_field(104, (16 << 20) + 1, 4, CONSORT_E_TOO_LARGE, "public_len 16777217");
    expect_field(104, sizeof pub_ws + 1000, 4, CONSORT_E_TRUNCATED, "public write set");
    expect_field(PRIV_LEN_AT, (16 << 20) + 1, 4, CONSORT_E_TOO_LARGE, "private_len 16777217");
    expect_field(PRIV_LEN_AT, sizeof priv_ws + 1, 4, CONSORT_E_TRUNCATED, "tag");
    expect_field(PRIV_LEN_AT, sizeof priv_ws + 17, 4, CONSORT_E_TRUNCATED, "private ciphertext");
    expect_field(PRIV_LEN_AT, sizeof priv_ws - 1, 4, CONSORT_E_TRAILING_DATA, "trailing");
    expect_field(PRIV_LEN_AT, 0, 4, CONSORT_E_TRAILING_DATA, "trailing");
    /* an oversized input is refused before it is looked at */
    cs_ledger_entry e;
    cst_fails(cs_ledger_entry_decode(CS_SLICE(pub_ws, CS_LEDGER_ENTRY_MAX + 1), &e),
              CONSORT_E_TOO_LARGE);
    /* the smallest entry */
    cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_TX, .term = 1, .seqno = 1};
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_ledger_keys_rekey(&keys));
    cst_ok(cs_ledger_entry_encode(&p, &keys, &b));
    assert_int_equal(b.len, CS_LEDGER_ENTRY_MIN);
    assert_int_equal(CS_LEDGER_ENTRY_MIN, 128);
    cs_buf plain;
    cs_buf_init(&plain, 0);
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&b), &e));
    cst_ok(cs_ledger_entry_open(&e, &keys, &plain));
    assert_int_equal(plain.len, 1); /* the empty write set 0xa0 */
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&b);
}

/* A version 1 entry (the old layout: no salt, no tag without private
 * writes) is UNSUPPORTED, naming version 1: there is no migration. */
static void version_1_entries_are_unsupported(void **state)
{
    (void)state;
    cs_buf v1;
    cs_buf_init(&v1, 0);
    cst_ok(cs_buf_append(&v1, "CSLE\x01\x01\x00\x00", 8));
    cst_ok(cs_buf_append_be64(&v1, 1));
    cst_ok(cs_buf_append_be64(&v1, 1));
    uint8_t digests[64] = {0};
    cst_ok(cs_buf_append(&v1, digests, sizeof digests));
    cst_ok(cs_buf_append_be32(&v1, sizeof pub_ws));
    cst_ok(cs_buf_append(&v1, pub_ws, sizeof pub_ws));
    cst_ok(cs_buf_append_be32(&v1, 0));
    cs_ledger_entry e;
    cst_fails(cs_ledger_entry_decode(cs_buf_slice(&v1), &e), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "version 1"));
    cs_buf_cleanup(&v1);
}

static void encode_refuses_bad_parameters(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_ledger_keys_rekey(&keys));
    cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_TX,
                                .term = 1,
                                .seqno = 1,
                                .public_ws = CS_SLICE(pub_ws, sizeof pub_ws)};
    p.term = 0;
    cst_fails(cs_ledger_entry_encode(&p, &keys, &b), CONSORT_E_INVALID_ARGUMENT);
    p.term = (uint64_t)1 << 32;
    cst_fails(cs_ledger_entry_encode(&p, &keys, &b), CONSORT_E_INVALID_ARGUMENT);
    p.term = UINT32_MAX;
    cst_ok(cs_ledger_entry_encode(&p, &keys, &b));
    b.len = 0;
    p.seqno = 0;
    cst_fails(cs_ledger_entry_encode(&p, &keys, &b), CONSORT_E_INVALID_ARGUMENT);
    p.seqno = 2;
    p.kind = (cs_ledger_kind)4;
    cst_fails(cs_ledger_entry_encode(&p, &keys, &b), CONSORT_E_INVALID_ARGUMENT);
    p.kind = CS_LEDGER_KIND_TX;
    /* caps are checked before any byte is read */
    p.public_ws = CS_SLICE(pub_ws, CS_LEDGER_WS_MAX + 1);
    cst_fails(cs_ledger_entry_encode(&p, &keys, &b), CONSORT_E_TOO_LARGE);
    p.public_ws = CS_SLICE(pub_ws, sizeof pub_ws);
    p.private_ws = CS_SLICE(priv_ws, CS_LEDGER_WS_MAX + 1);
    cst_fails(cs_ledger_entry_encode(&p, &keys, &b), CONSORT_E_TOO_LARGE);
    assert_int_equal(b.len, 0);
    assert_int_equal(keys.sealed_upto, 1);
    /* an output buffer that fills up leaves it as it was */
    cs_buf small;
    cs_buf_init(&small, 100);
    cst_ok(cs_buf_append(&small, "xy", 2));
    p.private_ws = CS_SLICE(priv_ws, sizeof priv_ws);
    cst_fails(cs_ledger_entry_encode(&p, &keys, &small), CONSORT_E_TOO_LARGE);
    assert_int_equal(small.len, 2);
    cs_buf_cleanup(&small);
    cs_buf_cleanup(&b);
}

/* ---- commit evidence, leaves, txids ---- */

static void commit_evidence_is_hkdf_of_the_secret(void **state)
{
    (void)state;
    char ce[CS_LEDGER_CE_MAX];
    cst_ok(cs_ledger_commit_evidence(secret, 12, 3456, ce));
    uint8_t want[32];
    reference_hkdf(secret, sizeof secret, NULL, 0, "consort commit evidence 12.3456", want);
    char hex[65], expected[CS_LEDGER_CE_MAX];
    cs_hex_encode(CS_SLICE(want, 32), hex);
    snprintf(expected, sizeof expected, "ce:12.3456:%s", hex);
    assert_string_equal(ce, expected);
    /* another txid, another secret: another evidence */
    char other[CS_LEDGER_CE_MAX];
    cst_ok(cs_ledger_commit_evidence(secret, 12, 3457, other));
    assert_string_not_equal(ce + 11, other + 11);
    uint8_t s2[32] = {1};
    cst_ok(cs_ledger_commit_evidence(s2, 12, 3456, other));
    assert_string_not_equal(ce, other);
    /* the longest txid fits */
    cst_ok(cs_ledger_commit_evidence(secret, UINT32_MAX, UINT64_MAX, other));
    assert_int_equal(strlen(other), 3 + 10 + 1 + 20 + 1 + 64);
}

static void leaf_hash_is_rfc9162_over_the_components(void **state)
{
    (void)state;
    cs_buf b;
    encode(4, 40, true, true, &b);
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&b), &e));
    uint8_t leaf[32], want[32], data[97];
    cs_ledger_leaf_hash(&e, leaf);
    data[0] = 0x00;
    cs_sha256(cs_buf_slice(&b), data + 1);
    memcpy(data + 33, b.ptr + 72, 32); /* commit_evidence_digest */
    memcpy(data + 65, b.ptr + 40, 32); /* claims_digest */
    cs_sha256(CS_SLICE(data, sizeof data), want);
    assert_memory_equal(leaf, want, 32);
    cs_buf_cleanup(&b);
}

static void transaction_ids(void **state)
{
    (void)state;
    char txid[CS_LEDGER_TXID_MAX];
    uint64_t t, s;
    cs_ledger_txid_format(UINT32_MAX, UINT64_MAX, txid);
    assert_string_equal(txid, "4294967295.18446744073709551615");
    cst_ok(cs_ledger_txid_parse(cs_slice_str(txid), &t, &s));
    assert_true(t == UINT32_MAX && s == UINT64_MAX);
    cst_ok(cs_ledger_txid_parse(cs_slice_str("2.17"), &t, &s));
    assert_true(t == 2 && s == 17);
    static const char *const bad[] = {
        "",     "1",    "1.",   ".1",    "0.1", "1.0", "01.1",         "1.01",
        "+1.1", "1.1 ", " 1.1", "1.2.3", "a.b", "1,1", "4294967296.1", "1.18446744073709551616",
        "1.-1",
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++)
        if (cs_ledger_txid_parse(cs_slice_str(bad[i]), &t, &s) != CONSORT_E_MALFORMED)
            fail_msg("txid \"%s\" was accepted", bad[i]);
    /* an embedded NUL is not a terminator */
    cst_fails(cs_ledger_txid_parse(CS_SLICE("1.2\0"
                                            "3",
                                            5),
                                   &t, &s),
              CONSORT_E_MALFORMED);
}

/* Every allocation of encode and open may fail: NOMEM, nothing leaked,
 * the keys unchanged by a failed encode. */
static void allocation_failures(void **state)
{
    (void)state;
    cst_alloc_install();
    for (long n = 0;; n++) {
        cs_ledger_keys k;
        cs_ledger_keys_init(&k, secret);
        cst_ok(cs_ledger_keys_rekey(&k));
        cs_buf b;
        cs_buf_init(&b, 0);
        cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_TX,
                                    .term = 1,
                                    .seqno = 1,
                                    .public_ws = CS_SLICE(pub_ws, sizeof pub_ws),
                                    .private_ws = CS_SLICE(priv_ws, sizeof priv_ws)};
        long live = cst_alloc_live();
        cst_alloc_fail_after(n);
        consort_err rc = cs_ledger_entry_encode(&p, &k, &b);
        if (rc != CONSORT_OK)
            assert_int_equal(k.sealed_upto, 0);
        cs_ledger_entry e;
        cs_buf plain;
        cs_buf_init_secret(&plain, 0);
        if (rc == CONSORT_OK) {
            cst_ok(cs_ledger_entry_decode(cs_buf_slice(&b), &e));
            rc = cs_ledger_entry_open(&e, &k, &plain);
        }
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        cs_buf_cleanup(&plain);
        cs_buf_cleanup(&b);
        cs_ledger_keys_cleanup(&k);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed) {
            cst_ok(rc);
            break;
        }
        assert_int_equal(rc, CONSORT_E_NOMEM);
    }
    cst_alloc_uninstall();
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (uint8_t)(0x40 + i);
    cs_ledger_keys_init(&keys, secret);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cs_ledger_keys_cleanup(&keys);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_is_the_documented_one),
        cmocka_unit_test(round_trip_and_open),
        cmocka_unit_test(no_private_writes_is_private_len_0),
        cmocka_unit_test(keys_derive_for_other_purposes),
        cmocka_unit_test(each_header_field_is_checked),
        cmocka_unit_test(version_1_entries_are_unsupported),
        cmocka_unit_test(encode_refuses_bad_parameters),
        cmocka_unit_test(commit_evidence_is_hkdf_of_the_secret),
        cmocka_unit_test(leaf_hash_is_rfc9162_over_the_components),
        cmocka_unit_test(transaction_ids),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
