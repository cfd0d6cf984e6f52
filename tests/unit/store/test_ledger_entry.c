/*
 * The ledger entry codec (service.md "Ledger entry"): layout, round trips,
 * the AES-GCM private section, commit evidence (checked against an
 * independent HKDF on OpenSSL's HMAC), leaf hashes, transaction ids, and
 * every decoder rejection (truncation at every length, trailing bytes,
 * each header field, caps).
 */
#include "testutil.h"

#include "crypto/hash.h"
#include "store/ledger.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

static uint8_t secret[CS_LEDGER_SECRET_LEN];

static const uint8_t pub_ws[] = {0xa1, 0x6e, 'p', 'u', 'b', 'l',  'i',  'c',  ':',  'r',  'e',
                                 'c',  'o',  'r', 'd', 's', 0x81, 0x82, 0x41, 0x01, 0x41, 0x02};
static const uint8_t priv_ws[] = {0xa1, 0x67, 'r',  'e',  'c',  'o', 'r', 'd', 's',
                                  0x81, 0x82, 0x41, 0x07, 0x43, 's', 'e', 'c'};

static void encode(uint64_t term, uint64_t seqno, bool with_private, bool claims, cs_buf *out)
{
    uint8_t digest[32];
    memset(digest, 0xcd, sizeof digest);
    cs_ledger_entry_params p = {
        .kind = CS_LEDGER_KIND_TX,
        .term = term,
        .seqno = seqno,
        .claims_digest = claims ? digest : NULL,
        .public_ws = CS_SLICE(pub_ws, sizeof pub_ws),
        .private_ws = with_private ? CS_SLICE(priv_ws, sizeof priv_ws) : CS_SLICE_EMPTY,
    };
    cs_buf_init(out, 0);
    cst_ok(cs_ledger_entry_encode(&p, secret, out));
}

static uint64_t be64_at(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void layout_is_the_documented_one(void **state)
{
    (void)state;
    cs_buf b;
    encode(3, 17, true, true, &b);
    assert_int_equal(b.len, 92 + sizeof pub_ws + 4 + sizeof priv_ws + 16);
    assert_memory_equal(b.ptr, "CSLE", 4);
    assert_int_equal(b.ptr[4], 1);
    assert_int_equal(b.ptr[5], 1);
    assert_int_equal(b.ptr[6], 0);
    assert_int_equal(b.ptr[7], 0);
    assert_int_equal(be64_at(b.ptr + 8), 3);
    assert_int_equal(be64_at(b.ptr + 16), 17);
    for (int i = 24; i < 56; i++)
        assert_int_equal(b.ptr[i], 0xcd);
    char ce[CS_LEDGER_CE_MAX];
    uint8_t ce_digest[32];
    cst_ok(cs_ledger_commit_evidence(secret, 3, 17, ce));
    cs_sha256(cs_slice_str(ce), ce_digest);
    assert_memory_equal(b.ptr + 56, ce_digest, 32);
    assert_memory_equal(b.ptr + 88, "\x00\x00\x00\x16", 4);
    assert_memory_equal(b.ptr + 92, pub_ws, sizeof pub_ws);
    size_t pl = 92 + sizeof pub_ws;
    assert_int_equal(b.ptr[pl + 3], sizeof priv_ws + 16);

    /* the private section is AES-256-GCM with nonce be32(term) || be64(seqno)
     * and aad = every byte before it: decrypt it independently */
    const uint8_t nonce[12] = {0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 17};
    cs_buf plain;
    cs_buf_init(&plain, 0);
    cst_ok(cs_aead_open(secret, nonce, CS_SLICE(b.ptr, pl + 4),
                        CS_SLICE(b.ptr + pl + 4, b.len - pl - 4), &plain));
    assert_int_equal(plain.len, sizeof priv_ws);
    assert_memory_equal(plain.ptr, priv_ws, sizeof priv_ws);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&b);
}

static void round_trip_and_decrypt(void **state)
{
    (void)state;
    cs_buf b, plain;
    encode(7, 123456789, true, false, &b);
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&b), &e));
    assert_int_equal(e.kind, CS_LEDGER_KIND_TX);
    assert_int_equal(e.term, 7);
    assert_int_equal(e.seqno, 123456789);
    static const uint8_t zero[32];
    assert_memory_equal(e.claims_digest, zero, 32);
    assert_int_equal(e.public_ws.len, sizeof pub_ws);
    assert_memory_equal(e.public_ws.ptr, pub_ws, sizeof pub_ws);
    assert_int_equal(e.private_section.len, sizeof priv_ws + 16);
    assert_int_equal(e.aad.len, 92 + sizeof pub_ws + 4);
    assert_ptr_equal(e.raw.ptr, b.ptr);
    cs_buf_init_secret(&plain, 0);
    cst_ok(cs_ledger_entry_decrypt(&e, secret, &plain));
    assert_int_equal(plain.len, sizeof priv_ws);
    assert_memory_equal(plain.ptr, priv_ws, sizeof priv_ws);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&b);
}

static void no_private_writes_means_no_section(void **state)
{
    (void)state;
    cs_buf b, plain;
    encode(1, 1, false, false, &b);
    assert_int_equal(b.len, 92 + sizeof pub_ws + 4);
    assert_memory_equal(b.ptr + b.len - 4, "\0\0\0\0", 4);
    /* the empty write set 0xa0 also counts as "no private writes" */
    cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_INTERNAL,
                                .term = 1,
                                .seqno = 1,
                                .public_ws = CS_SLICE(pub_ws, sizeof pub_ws),
                                .private_ws = CS_SLICE_LIT("\xa0")};
    cs_buf c;
    cs_buf_init(&c, 0);
    cst_ok(cs_ledger_entry_encode(&p, secret, &c));
    assert_int_equal(c.len, b.len);
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&c), &e));
    assert_int_equal(e.kind, CS_LEDGER_KIND_INTERNAL);
    assert_int_equal(e.private_section.len, 0);
    cs_buf_init_secret(&plain, 0);
    cst_ok(cs_ledger_entry_decrypt(&e, secret, &plain));
    assert_int_equal(plain.len, 1);
    assert_int_equal(plain.ptr[0], 0xa0);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&c);
}

/* Any change to any byte before or in the private section: BAD_TAG. */
static void altered_bytes_fail_decryption(void **state)
{
    (void)state;
    cs_buf b, plain;
    encode(2, 9, true, true, &b);
    cs_buf_init_secret(&plain, 0);
    for (size_t i = 0; i < b.len; i++) {
        b.ptr[i] ^= 0x01;
        cs_ledger_entry e;
        if (cs_ledger_entry_decode(cs_buf_slice(&b), &e) == CONSORT_OK)
            cst_fails(cs_ledger_entry_decrypt(&e, secret, &plain), CONSORT_E_BAD_TAG);
        assert_int_equal(plain.len, 0);
        b.ptr[i] ^= 0x01;
    }
    /* and the wrong ledger secret */
    uint8_t other[32];
    memcpy(other, secret, 32);
    other[31] ^= 0x80;
    cs_ledger_entry e;
    cst_ok(cs_ledger_entry_decode(cs_buf_slice(&b), &e));
    cst_fails(cs_ledger_entry_decrypt(&e, other, &plain), CONSORT_E_BAD_TAG);
    cst_ok(cs_ledger_entry_decrypt(&e, secret, &plain));
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&b);
}

static void truncation_and_trailing_bytes(void **state)
{
    (void)state;
    cs_buf b;
    encode(5, 6, true, false, &b);
    cs_ledger_entry e;
    for (size_t n = 0; n < b.len; n++)
        cst_fails_any(cs_ledger_entry_decode(CS_SLICE(b.ptr, n), &e));
    cst_fails(cs_ledger_entry_decode(CS_SLICE(b.ptr, 91), &e), CONSORT_E_TRUNCATED);
    cst_ok(cs_buf_append_u8(&b, 0));
    cst_fails(cs_ledger_entry_decode(cs_buf_slice(&b), &e), CONSORT_E_TRAILING_DATA);
    cs_buf_cleanup(&b);
}

static void set_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

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
    size_t priv_len_at = 92 + sizeof pub_ws;
    expect_field(0, 0x43534c46, 4, CONSORT_E_MALFORMED, "magic");
    expect_field(4, 2, 1, CONSORT_E_UNSUPPORTED, "version 2");
    expect_field(5, 0, 1, CONSORT_E_MALFORMED, "kind 0");
    expect_field(5, 4, 1, CONSORT_E_MALFORMED, "kind 4");
    expect_field(6, 1, 2, CONSORT_E_MALFORMED, "flags 0x0001");
    expect_field(6, 0x8000, 2, CONSORT_E_MALFORMED, "flags 0x8000");
    expect_field(8, 0, 8, CONSORT_E_MALFORMED, "term 0");
    expect_field(8, (uint64_t)1 << 32, 8, CONSORT_E_MALFORMED, "term 4294967296");
    expect_field(16, 0, 8, CONSORT_E_MALFORMED, "seqno 0");
    expect_field(88, (16 << 20) + 1, 4, CONSORT_E_TOO_LARGE, "public_len 16777217");
    expect_field(88, sizeof pub_ws + 1000, 4, CONSORT_E_TRUNCATED, "public write set");
    expect_field(priv_len_at, 16, 4, CONSORT_E_MALFORMED, "private_len 16");
    expect_field(priv_len_at, 3, 4, CONSORT_E_MALFORMED, "private_len 3");
    expect_field(priv_len_at, (16 << 20) + 17, 4, CONSORT_E_TOO_LARGE, "private_len");
    expect_field(priv_len_at, sizeof priv_ws + 17, 4, CONSORT_E_TRUNCATED, "private section");
    expect_field(priv_len_at, sizeof priv_ws + 15, 4, CONSORT_E_TRAILING_DATA, "trailing");
    /* an oversized input is refused before it is looked at */
    cs_ledger_entry e;
    cst_fails(cs_ledger_entry_decode(CS_SLICE(pub_ws, CS_LEDGER_ENTRY_MAX + 1), &e),
              CONSORT_E_TOO_LARGE);
}

static void encode_refuses_bad_parameters(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_TX,
                                .term = 1,
                                .seqno = 1,
                                .public_ws = CS_SLICE(pub_ws, sizeof pub_ws)};
    p.term = 0;
    cst_fails(cs_ledger_entry_encode(&p, secret, &b), CONSORT_E_INVALID_ARGUMENT);
    p.term = (uint64_t)1 << 32; /* the nonce holds 32 bits of term */
    cst_fails(cs_ledger_entry_encode(&p, secret, &b), CONSORT_E_INVALID_ARGUMENT);
    p.term = UINT32_MAX;
    cst_ok(cs_ledger_entry_encode(&p, secret, &b));
    b.len = 0;
    p.seqno = 0;
    cst_fails(cs_ledger_entry_encode(&p, secret, &b), CONSORT_E_INVALID_ARGUMENT);
    p.seqno = 1;
    p.kind = (cs_ledger_kind)4;
    cst_fails(cs_ledger_entry_encode(&p, secret, &b), CONSORT_E_INVALID_ARGUMENT);
    p.kind = CS_LEDGER_KIND_TX;
    /* caps are checked before any byte is read */
    p.public_ws = CS_SLICE(pub_ws, CS_LEDGER_WS_MAX + 1);
    cst_fails(cs_ledger_entry_encode(&p, secret, &b), CONSORT_E_TOO_LARGE);
    p.public_ws = CS_SLICE(pub_ws, sizeof pub_ws);
    p.private_ws = CS_SLICE(priv_ws, CS_LEDGER_WS_MAX + 1);
    cst_fails(cs_ledger_entry_encode(&p, secret, &b), CONSORT_E_TOO_LARGE);
    assert_int_equal(b.len, 0);
    /* an output buffer that fills up leaves it as it was */
    cs_buf small;
    cs_buf_init(&small, 100);
    cst_ok(cs_buf_append(&small, "xy", 2));
    p.private_ws = CS_SLICE(priv_ws, sizeof priv_ws);
    cst_fails(cs_ledger_entry_encode(&p, secret, &small), CONSORT_E_TOO_LARGE);
    assert_int_equal(small.len, 2);
    cs_buf_cleanup(&small);
    cs_buf_cleanup(&b);
}

/* HKDF-SHA256 (RFC 5869 §2.2, §2.3) on HMAC directly: one block of output. */
static void reference_hkdf(const uint8_t *ikm, size_t ikm_len, const char *info, uint8_t out[32])
{
    uint8_t prk[32];
    unsigned int n = 0;
    assert_non_null(HMAC(EVP_sha256(), "", 0, ikm, ikm_len, prk, &n));
    uint8_t msg[128];
    size_t len = strlen(info);
    memcpy(msg, info, len);
    msg[len] = 0x01;
    assert_non_null(HMAC(EVP_sha256(), prk, 32, msg, len + 1, out, &n));
}

static void commit_evidence_is_hkdf_of_the_secret(void **state)
{
    (void)state;
    char ce[CS_LEDGER_CE_MAX];
    cst_ok(cs_ledger_commit_evidence(secret, 12, 3456, ce));
    uint8_t want[32];
    reference_hkdf(secret, sizeof secret, "consort commit evidence 12.3456", want);
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
    memcpy(data + 33, b.ptr + 56, 32); /* commit_evidence_digest */
    memcpy(data + 65, b.ptr + 24, 32); /* claims_digest */
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

/* Every allocation of encode and decrypt may fail: NOMEM, nothing leaked. */
static void allocation_failures(void **state)
{
    (void)state;
    cst_alloc_install();
    for (long n = 0;; n++) {
        cs_buf b;
        cs_buf_init(&b, 0);
        cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_TX,
                                    .term = 1,
                                    .seqno = 1,
                                    .public_ws = CS_SLICE(pub_ws, sizeof pub_ws),
                                    .private_ws = CS_SLICE(priv_ws, sizeof priv_ws)};
        long live = cst_alloc_live();
        cst_alloc_fail_after(n);
        consort_err rc = cs_ledger_entry_encode(&p, secret, &b);
        cs_ledger_entry e;
        cs_buf plain;
        cs_buf_init_secret(&plain, 0);
        if (rc == CONSORT_OK) {
            cst_ok(cs_ledger_entry_decode(cs_buf_slice(&b), &e));
            rc = cs_ledger_entry_decrypt(&e, secret, &plain);
        }
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        cs_buf_cleanup(&plain);
        cs_buf_cleanup(&b);
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
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_is_the_documented_one),
        cmocka_unit_test(round_trip_and_decrypt),
        cmocka_unit_test(no_private_writes_means_no_section),
        cmocka_unit_test(altered_bytes_fail_decryption),
        cmocka_unit_test(truncation_and_trailing_bytes),
        cmocka_unit_test(each_header_field_is_checked),
        cmocka_unit_test(encode_refuses_bad_parameters),
        cmocka_unit_test(commit_evidence_is_hkdf_of_the_secret),
        cmocka_unit_test(leaf_hash_is_rfc9162_over_the_components),
        cmocka_unit_test(transaction_ids),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
