/*
 * Recovery shares (src/gov/shares.h): Shamir splitting with libgfshare,
 * RSA-OAEP-256 encryption to members, binding, recombination, refusals,
 * wiping on failure and an allocation-failure sweep.
 *
 * Five member encryption keys are generated once (cs_gov_enc_keygen) and
 * shared by every test.
 */
#include "testutil.h"

#include "crypto/key.h"
#include "crypto/rand.h"
#include "crypto/rsa_oaep.h"
#include "gov/shares.h"

#include <libgfshare.h>
#include <string.h>

#define MEMBERS 5

static cs_buf priv[MEMBERS], pub[MEMBERS];
static cs_gov_share_recipient members[MEMBERS];
static const cs_gov_share_binding BIND7 = {.service_id = {0x5e, 0x41}, .epoch = 7};

static int setup_keys(void **state)
{
    (void)state;
    for (int i = 0; i < MEMBERS; i++) {
        cs_buf_init_secret(&priv[i], 0);
        cs_buf_init(&pub[i], 0);
        if (cs_gov_enc_keygen(&priv[i], &pub[i]) != CONSORT_OK)
            return -1;
        memset(members[i].member_id, 0xa0 + i, CS_GOV_SHARE_ID_LEN);
        members[i].enc_pub_pem = cs_buf_slice(&pub[i]);
    }
    return 0;
}

static int teardown_keys(void **state)
{
    (void)state;
    for (int i = 0; i < MEMBERS; i++) {
        cs_buf_cleanup(&priv[i]);
        cs_buf_cleanup(&pub[i]);
    }
    return 0;
}

static void random_secret(uint8_t secret[32])
{
    cst_ok(cs_random(secret, 32));
}

static void init_bufs(cs_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cs_buf_init(&b[i], 0);
}

static void cleanup_bufs(cs_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cs_buf_cleanup(&b[i]);
}

/* Splits to members[0..n) and decrypts every share with its member's key. */
static void split_and_decrypt(const uint8_t secret[32], unsigned k, size_t n,
                              const cs_gov_share_binding *bind, cs_gov_share *plain)
{
    cs_buf enc[MEMBERS];
    init_bufs(enc, n);
    cst_ok(cs_gov_shares_split(CS_SLICE(secret, 32), k, bind, members, n, enc));
    for (size_t i = 0; i < n; i++) {
        cs_gov_share_meta meta;
        cst_ok(cs_gov_share_peek(cs_buf_slice(&enc[i]), &meta));
        assert_int_equal(meta.index, i + 1);
        assert_int_equal(meta.threshold, k);
        assert_int_equal(meta.count, n);
        assert_int_equal(meta.binding.epoch, bind->epoch);
        assert_memory_equal(meta.member_id, members[i].member_id, CS_GOV_SHARE_ID_LEN);
        cst_ok(cs_gov_share_decrypt(cs_buf_slice(&priv[i]), cs_buf_slice(&enc[i]), &plain[i]));
        cst_ok(cs_gov_share_check(&plain[i].meta, bind, members[i].member_id));
    }
    cleanup_bufs(enc, n);
}

/* libgfshare directly on the shares in `mask`: what k-1 shares would give. */
static void gfshare_direct(const cs_gov_share *plain, size_t n, unsigned mask, uint8_t out[32])
{
    uint8_t nrs[MEMBERS], y[32];
    unsigned m = 0;
    for (size_t i = 0; i < n; i++)
        if (mask & (1u << i))
            nrs[m++] = plain[i].meta.index;
    gfshare_ctx *ctx = gfshare_ctx_init_dec(nrs, m, 32);
    assert_non_null(ctx);
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (mask & (1u << i)) {
            memcpy(y, plain[i].y, 32);
            gfshare_ctx_dec_giveshare(ctx, (unsigned char)m++, y);
        }
    gfshare_ctx_dec_extract(ctx, out);
    gfshare_ctx_free(ctx);
}

/* Every non-empty subset of the n shares, in a random order: those of size
 * >= k give the secret, smaller ones are refused and (through libgfshare
 * directly) do not give it. */
static void round_trip(unsigned k, size_t n)
{
    uint8_t secret[32], other[32];
    random_secret(secret);
    cs_gov_share plain[MEMBERS], pick[MEMBERS];
    split_and_decrypt(secret, k, n, &BIND7, plain);
    cs_buf out;
    cs_buf_init_secret(&out, 0);
    for (unsigned mask = 1; mask < (1u << n); mask++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (mask & (1u << i))
                pick[m++] = plain[i];
        for (size_t i = m; i > 1; i--) { /* Fisher-Yates */
            uint8_t r;
            cst_ok(cs_random(&r, 1));
            size_t j = r % i;
            cs_gov_share t = pick[i - 1];
            pick[i - 1] = pick[j];
            pick[j] = t;
        }
        if (m >= k) {
            cst_ok(cs_gov_shares_combine(pick, m, &BIND7, &out));
            assert_int_equal(out.len, 32);
            assert_memory_equal(out.ptr, secret, 32);
        } else {
            cst_fails(cs_gov_shares_combine(pick, m, &BIND7, &out), CONSORT_E_POLICY);
            assert_non_null(strstr(consort_errmsg(), "short"));
            assert_int_equal(out.len, 0);
            gfshare_direct(plain, n, mask, other);
            assert_memory_not_equal(other, secret, 32);
        }
    }
    cs_buf_cleanup(&out);
    for (size_t i = 0; i < n; i++)
        cs_gov_share_wipe(&plain[i]);
}

static void round_trip_1_of_1(void **state)
{
    (void)state;
    round_trip(1, 1);
}

static void round_trip_2_of_3(void **state)
{
    (void)state;
    round_trip(2, 3);
}

static void round_trip_3_of_5(void **state)
{
    (void)state;
    round_trip(3, 5);
}

static void one_share_short_is_refused_and_wiped(void **state)
{
    (void)state;
    uint8_t secret[32];
    random_secret(secret);
    cs_gov_share plain[MEMBERS];
    split_and_decrypt(secret, 3, 5, &BIND7, plain);
    cs_buf out;
    cs_buf_init_secret(&out, 0);
    cst_ok(cs_buf_append(&out, "previous secret", 15));
    const uint8_t *mem = out.ptr;
    cst_fails(cs_gov_shares_combine(&plain[1], 2, &BIND7, &out), CONSORT_E_POLICY);
    assert_string_equal(consort_errmsg(), "recovery: 2 of 3 shares: 1 short");
    assert_int_equal(out.len, 0);
    for (size_t i = 0; i < 15; i++) /* the output's old bytes were wiped */
        assert_int_equal(mem[i], 0);
    /* libgfshare itself, given two shares of a 3-threshold split, is wrong. */
    uint8_t other[32];
    gfshare_direct(plain, 5, 0x3, other);
    assert_memory_not_equal(other, secret, 32);
    cs_buf_cleanup(&out);
}

static void splitting_twice_uses_fresh_randomness(void **state)
{
    (void)state;
    uint8_t secret[32];
    random_secret(secret);
    cs_gov_share a[2], b[2];
    split_and_decrypt(secret, 2, 2, &BIND7, a);
    split_and_decrypt(secret, 2, 2, &BIND7, b);
    assert_memory_not_equal(a[0].y, b[0].y, 32);
    assert_memory_equal(a[0].check, b[0].check, 32);
    /* gfshare_fill_rand is ours, never libgfshare's random() fallback. */
    assert_non_null(gfshare_fill_rand);
    assert_true(gfshare_fill_rand != gfshare_bad_idea_but_fill_rand_using_random);
}

static void another_members_key_fails(void **state)
{
    (void)state;
    uint8_t secret[32];
    random_secret(secret);
    cs_buf enc[3];
    init_bufs(enc, 3);
    cst_ok(cs_gov_shares_split(CS_SLICE(secret, 32), 2, &BIND7, members, 3, enc));
    cs_gov_share out;
    memset(&out, 0xa5, sizeof out);
    cst_fails(cs_gov_share_decrypt(cs_buf_slice(&priv[1]), cs_buf_slice(&enc[0]), &out),
              CONSORT_E_BAD_TAG);
    assert_non_null(strstr(consort_errmsg(), "RSA-OAEP"));
    const uint8_t zero[sizeof out] = {0};
    assert_memory_equal(&out, zero, sizeof out);
    /* The public key cannot decrypt. */
    cst_fails(cs_gov_share_decrypt(cs_buf_slice(&pub[0]), cs_buf_slice(&enc[0]), &out),
              CONSORT_E_INVALID_ARGUMENT);
    cleanup_bufs(enc, 3);
}

static void tampered_bytes_are_refused(void **state)
{
    (void)state;
    uint8_t secret[32];
    random_secret(secret);
    cs_buf enc[3], t;
    init_bufs(enc, 3);
    cs_buf_init(&t, 0);
    cst_ok(cs_gov_shares_split(CS_SLICE(secret, 32), 2, &BIND7, members, 3, enc));
    cs_slice priv0 = cs_buf_slice(&priv[0]);
    cs_gov_share out;
    const uint8_t zero[sizeof out] = {0};
    /* epoch, service id, member id, threshold (2 -> 3 still parses), ciphertext */
    size_t offsets[] = {16, 17, 60, 5, 81, 81 + 100, enc[0].len - 1};
    uint8_t flips[] = {0x01, 0x80, 0x01, 0x01, 0x01, 0x10, 0x01};
    for (size_t i = 0; i < CS_ARRAY_LEN(offsets); i++) {
        cst_ok(cs_buf_set(&t, cs_buf_slice(&enc[0])));
        t.ptr[offsets[i]] ^= flips[i];
        memset(&out, 0xa5, sizeof out);
        cst_fails(cs_gov_share_decrypt(priv0, cs_buf_slice(&t), &out), CONSORT_E_BAD_TAG);
        assert_memory_equal(&out, zero, sizeof out); /* nothing decrypted is left behind */
    }
    cst_ok(cs_buf_set(&t, cs_buf_slice(&enc[0])));
    t.ptr[0] = 'X';
    cst_fails(cs_gov_share_decrypt(priv0, cs_buf_slice(&t), &out), CONSORT_E_MALFORMED);
    t.ptr[0] = 'C';
    t.ptr[4] = 2;
    cst_fails(cs_gov_share_decrypt(priv0, cs_buf_slice(&t), &out), CONSORT_E_UNSUPPORTED);
    t.ptr[4] = 1;
    t.ptr[7] = 4; /* index 4 of 3 */
    cst_fails(cs_gov_share_decrypt(priv0, cs_buf_slice(&t), &out), CONSORT_E_MALFORMED);
    t.ptr[7] = 1;
    cst_ok(cs_buf_append_u8(&t, 0)); /* trailing byte */
    cst_fails(cs_gov_share_decrypt(priv0, cs_buf_slice(&t), &out), CONSORT_E_MALFORMED);
    cst_fails(cs_gov_share_decrypt(priv0, CS_SLICE(t.ptr, 40), &out), CONSORT_E_TRUNCATED);
    cst_fails(cs_gov_share_decrypt(priv0, CS_SLICE(t.ptr, t.len - 2), &out), CONSORT_E_MALFORMED);
    cst_ok(cs_gov_share_decrypt(priv0, cs_buf_slice(&enc[0]), &out));

    /* A decrypted share whose value was altered: the check catches it. */
    cs_gov_share two[2];
    two[0] = out;
    cst_ok(cs_gov_share_decrypt(cs_buf_slice(&priv[2]), cs_buf_slice(&enc[2]), &two[1]));
    two[1].y[3] ^= 1;
    cs_buf sec;
    cs_buf_init_secret(&sec, 0);
    cst_fails(cs_gov_shares_combine(two, 2, &BIND7, &sec), CONSORT_E_BAD_PROOF);
    assert_int_equal(sec.len, 0);
    two[1].y[3] ^= 1;
    cst_ok(cs_gov_shares_combine(two, 2, &BIND7, &sec));
    assert_memory_equal(sec.ptr, secret, 32);
    cs_buf_cleanup(&sec);
    cs_buf_cleanup(&t);
    cleanup_bufs(enc, 3);
}

static void other_epochs_and_splits_are_refused(void **state)
{
    (void)state;
    uint8_t secret[32], secret2[32];
    random_secret(secret);
    random_secret(secret2);
    cs_gov_share_binding bind8 = BIND7, other_service = BIND7;
    bind8.epoch = 8;
    other_service.service_id[0] ^= 1;
    cs_gov_share e7[3], e8[3], s2[3], mix[3];
    split_and_decrypt(secret, 2, 3, &BIND7, e7);
    split_and_decrypt(secret, 2, 3, &bind8, e8);
    split_and_decrypt(secret2, 2, 3, &BIND7, s2);
    cs_buf sec;
    cs_buf_init_secret(&sec, 0);

    mix[0] = e7[0];
    mix[1] = e8[1];
    cst_fails(cs_gov_shares_combine(mix, 2, &BIND7, &sec), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "wrapping epoch 8, expected 7"));
    cst_fails(cs_gov_shares_combine(e8, 2, &BIND7, &sec), CONSORT_E_POLICY);
    cst_fails(cs_gov_shares_combine(e7, 2, &other_service, &sec), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "service"));
    mix[1] = s2[1]; /* same epoch, another secret */
    cst_fails(cs_gov_shares_combine(mix, 2, &BIND7, &sec), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "another split"));
    mix[1] = e7[1];
    mix[1].meta.threshold = 3;
    cst_fails(cs_gov_shares_combine(mix, 2, &BIND7, &sec), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "threshold"));
    assert_int_equal(sec.len, 0);
    cst_ok(cs_gov_shares_combine(e8, 2, &bind8, &sec));
    assert_memory_equal(sec.ptr, secret, 32);

    /* The service's check of a submission names the member and epoch. */
    cst_ok(cs_gov_share_check(&e7[1].meta, &BIND7, members[1].member_id));
    cst_fails(cs_gov_share_check(&e7[1].meta, &BIND7, members[0].member_id), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "issued to member"));
    cst_fails(cs_gov_share_check(&e7[1].meta, &bind8, members[1].member_id), CONSORT_E_POLICY);
    cs_buf_cleanup(&sec);
}

static void duplicates_are_refused(void **state)
{
    (void)state;
    uint8_t secret[32];
    random_secret(secret);
    cs_gov_share p[3], dup[3];
    split_and_decrypt(secret, 2, 3, &BIND7, p);
    cs_buf sec;
    cs_buf_init_secret(&sec, 0);
    dup[0] = p[1];
    dup[1] = p[1];
    cst_fails(cs_gov_shares_combine(dup, 2, &BIND7, &sec), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "share 2 given twice"));
    dup[1] = p[2];
    memcpy(dup[1].meta.member_id, p[1].meta.member_id, CS_GOV_SHARE_ID_LEN);
    cst_fails(cs_gov_shares_combine(dup, 2, &BIND7, &sec), CONSORT_E_POLICY);
    assert_non_null(strstr(consort_errmsg(), "same member"));
    cst_fails(cs_gov_shares_combine(dup, 0, &BIND7, &sec), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(sec.len, 0);
    cs_buf_cleanup(&sec);
}

static void bad_splits_are_refused(void **state)
{
    (void)state;
    uint8_t secret[65] = {1};
    cs_buf enc[MEMBERS];
    init_bufs(enc, MEMBERS);
    cs_slice s32 = CS_SLICE(secret, 32);
    cst_ok(cs_buf_append(&enc[0], "junk", 4));
    cst_fails(cs_gov_shares_split(s32, 4, &BIND7, members, 3, enc), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "threshold 4 with 3 members"));
    assert_int_equal(enc[0].len, 0);
    cst_fails(cs_gov_shares_split(s32, 0, &BIND7, members, 3, enc), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_gov_shares_split(s32, 1, &BIND7, members, 0, enc), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_gov_shares_split(CS_SLICE(secret, 15), 1, &BIND7, members, 1, enc),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_gov_shares_split(CS_SLICE(secret, 65), 1, &BIND7, members, 1, enc),
              CONSORT_E_INVALID_ARGUMENT);

    cs_gov_share_recipient bad[3] = {members[0], members[1], members[2]};
    memcpy(bad[2].member_id, bad[0].member_id, CS_GOV_SHARE_ID_LEN);
    cst_fails(cs_gov_shares_split(s32, 2, &BIND7, bad, 3, enc), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "same id"));

    /* An EC key is a signing key, not an encryption key; garbage is no key. */
    cs_key *ec;
    cs_buf ec_pem;
    cs_buf_init(&ec_pem, 0);
    cst_ok(cs_key_generate(CS_CURVE_P256, &ec));
    cst_ok(cs_key_public_pem(ec, &ec_pem));
    bad[2] = members[2];
    bad[2].enc_pub_pem = cs_buf_slice(&ec_pem);
    cst_fails(cs_gov_shares_split(s32, 2, &BIND7, bad, 3, enc), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "member 2 encryption key is EC"));
    for (int i = 0; i < 3; i++)
        assert_int_equal(enc[i].len, 0);
    bad[2].enc_pub_pem =
        cs_slice_str("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    assert_int_not_equal(cs_gov_shares_split(s32, 2, &BIND7, bad, 3, enc), CONSORT_OK);
    cs_key_free(ec);
    cs_buf_cleanup(&ec_pem);
    cleanup_bufs(enc, MEMBERS);
}

static void plain_share_codec_is_strict(void **state)
{
    (void)state;
    uint8_t secret[32];
    random_secret(secret);
    cs_gov_share p[1], back;
    split_and_decrypt(secret, 1, 1, &BIND7, p);
    cs_buf wire;
    cs_buf_init_secret(&wire, 0);
    cst_ok(cs_gov_share_encode(&p[0], &wire));
    assert_int_equal(wire.len, CS_GOV_SHARE_HEADER_LEN + CS_GOV_SHARE_CHECK_LEN + 32);
    cst_ok(cs_gov_share_decode(cs_buf_slice(&wire), &back));
    assert_memory_equal(&back, &p[0], sizeof back);
    assert_memory_equal(back.y, secret, 32); /* threshold 1: the share is the secret */
    cst_fails(cs_gov_share_decode(CS_SLICE(wire.ptr, wire.len - 1), &back), CONSORT_E_TRUNCATED);
    const uint8_t zero[sizeof back] = {0};
    assert_memory_equal(&back, zero, sizeof back);
    cst_ok(cs_buf_append_u8(&wire, 0));
    cst_fails(cs_gov_share_decode(cs_buf_slice(&wire), &back), CONSORT_E_TRAILING_DATA);
    wire.len--;
    struct {
        size_t off;
        uint8_t val;
    } bad[] = {{5, 0}, {5, 2}, {6, 0}, {7, 0}, {7, 2}, {8, 15}, {8, 65}};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        uint8_t saved = wire.ptr[bad[i].off];
        wire.ptr[bad[i].off] = bad[i].val;
        assert_int_not_equal(cs_gov_share_decode(cs_buf_slice(&wire), &back), CONSORT_OK);
        wire.ptr[bad[i].off] = saved;
    }
    cst_ok(cs_gov_share_decode(cs_buf_slice(&wire), &back));
    cs_buf_cleanup(&wire);
}

static void keygen_makes_rsa_3072(void **state)
{
    (void)state;
    cs_key *k;
    cst_ok(cs_key_from_pem(cs_buf_slice(&priv[0]), &k));
    assert_int_equal(cs_rsa_bits(k), 3072);
    assert_true(cs_key_has_private(k));
    cs_key_free(k);
    cst_ok(cs_key_from_pem(cs_buf_slice(&pub[0]), &k));
    assert_false(cs_key_has_private(k));
    cs_key_free(k);
}

/* Every allocation of split, decrypt and combine failing in turn: a clean
 * NOMEM, outputs reset, nothing leaked. */
static void allocation_failures(void **state)
{
    (void)state;
    uint8_t secret[32];
    random_secret(secret);
    cs_buf enc[3], sec;
    cs_gov_share p[3];
    cst_alloc_install();
    init_bufs(enc, 3);
    cs_buf_init_secret(&sec, 0);
    long base = cst_alloc_live();
    for (long i = 0;; i++) {
        cst_alloc_fail_after(i);
        consort_err rc = cs_gov_shares_split(CS_SLICE(secret, 32), 2, &BIND7, members, 3, enc);
        bool failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (!failed) {
            cst_ok(rc);
            break;
        }
        assert_int_equal(rc, CONSORT_E_NOMEM);
        for (int j = 0; j < 3; j++) {
            assert_int_equal(enc[j].len, 0);
            cs_buf_cleanup(&enc[j]); /* reset keeps the (wiped) memory */
        }
        assert_int_equal(cst_alloc_live(), base);
    }
    for (long i = 0;; i++) {
        cst_alloc_fail_after(i);
        consort_err rc = cs_gov_share_decrypt(cs_buf_slice(&priv[1]), cs_buf_slice(&enc[1]), &p[1]);
        bool failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (!failed) {
            cst_ok(rc);
            break;
        }
        assert_int_equal(rc, CONSORT_E_NOMEM);
        assert_int_equal(p[1].meta.index, 0);
    }
    cst_ok(cs_gov_share_decrypt(cs_buf_slice(&priv[2]), cs_buf_slice(&enc[2]), &p[2]));
    long live = cst_alloc_live();
    for (long i = 0;; i++) {
        cst_alloc_fail_after(i);
        consort_err rc = cs_gov_shares_combine(&p[1], 2, &BIND7, &sec);
        bool failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (!failed) {
            cst_ok(rc);
            break;
        }
        assert_int_equal(rc, CONSORT_E_NOMEM);
        assert_int_equal(sec.len, 0);
        assert_int_equal(cst_alloc_live(), live);
    }
    assert_memory_equal(sec.ptr, secret, 32);
    cs_buf_cleanup(&sec);
    cleanup_bufs(enc, 3);
    cst_alloc_uninstall();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keygen_makes_rsa_3072),
        cmocka_unit_test(round_trip_1_of_1),
        cmocka_unit_test(round_trip_2_of_3),
        cmocka_unit_test(round_trip_3_of_5),
        cmocka_unit_test(one_share_short_is_refused_and_wiped),
        cmocka_unit_test(splitting_twice_uses_fresh_randomness),
        cmocka_unit_test(another_members_key_fails),
        cmocka_unit_test(tampered_bytes_are_refused),
        cmocka_unit_test(other_epochs_and_splits_are_refused),
        cmocka_unit_test(duplicates_are_refused),
        cmocka_unit_test(bad_splits_are_refused),
        cmocka_unit_test(plain_share_codec_is_strict),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
