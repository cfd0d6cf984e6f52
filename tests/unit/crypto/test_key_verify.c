/*
 * Verification on a key's kept OpenSSL context (crypto/key_verify.h), as
 * RSA (sig.c) and ECDSA (ecdsa.c) use it: the kept context must never carry
 * one call's scheme, hash or failure into the next, must be safe when
 * several threads verify with one key, and the stack DER encoding of raw
 * ECDSA signatures must be byte for byte what OpenSSL encodes.
 */
#include "testutil.h"

#include "crypto/key_verify.h"
#include "crypto/sig.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <pthread.h>
#include <string.h>

static cs_key *rsa;
static cs_key *p256;

static int setup(void **state)
{
    (void)state;
    if (cs_key_generate_rsa(2048, &rsa) != CONSORT_OK)
        return -1;
    return cs_key_generate(CS_CURVE_P256, &p256) == CONSORT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cs_key_free(rsa);
    cs_key_free(p256);
    return 0;
}

typedef struct signed_msg {
    cs_sig_alg alg;
    cs_hash_alg hash;
    cs_buf sig;
} signed_msg;

#define MSG CS_SLICE_LIT("message under every scheme")

/* One signature per RSA scheme and hash, verified in an interleaved order: each
 * call changes the setup the kept context was prepared for. */
static void rsa_schemes_interleaved(void **state)
{
    (void)state;
    signed_msg s[6];
    const cs_sig_alg algs[] = {CS_SIG_RSA_PKCS1, CS_SIG_RSA_PSS};
    const cs_hash_alg hashes[] = {CS_HASH_SHA256, CS_HASH_SHA384, CS_HASH_SHA512};
    for (size_t i = 0; i < 6; i++) {
        s[i].alg = algs[i / 3];
        s[i].hash = hashes[i % 3];
        cs_buf_init(&s[i].sig, 0);
        cst_ok(cs_sig_sign(rsa, s[i].alg, s[i].hash, MSG, &s[i].sig));
    }
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < 6; i++) {
            for (size_t j = 0; j < 6; j++) {
                /* Signature i under the scheme and hash of j: only i == j verifies. */
                consort_err rc =
                    cs_sig_verify(rsa, s[j].alg, s[j].hash, MSG, cs_buf_slice(&s[i].sig));
                if (i == j)
                    cst_ok(rc);
                else
                    assert_int_equal(rc, CONSORT_E_BAD_SIGNATURE);
            }
            /* The same setup twice in a row (the kept context reused), once
             * failing and then passing again. */
            s[i].sig.ptr[7] ^= 0x10;
            cst_fails(cs_sig_verify(rsa, s[i].alg, s[i].hash, MSG, cs_buf_slice(&s[i].sig)),
                      CONSORT_E_BAD_SIGNATURE);
            s[i].sig.ptr[7] ^= 0x10;
            cst_ok(cs_sig_verify(rsa, s[i].alg, s[i].hash, MSG, cs_buf_slice(&s[i].sig)));
            cst_ok(cs_sig_verify(rsa, s[i].alg, s[i].hash, MSG, cs_buf_slice(&s[i].sig)));
        }
    }
    for (size_t i = 0; i < 6; i++)
        cs_buf_cleanup(&s[i].sig);
}

/* ECDSA keeps one context without a digest set: digests of different lengths
 * and both encodings through it, alternating with failures. */
static void ecdsa_digests_interleaved(void **state)
{
    (void)state;
    cs_buf raw256, raw384, der256;
    cs_buf_init(&raw256, 0);
    cs_buf_init(&raw384, 0);
    cs_buf_init(&der256, 0);
    cst_ok(cs_ecdsa_sign(p256, CS_HASH_SHA256, MSG, CS_SIG_RAW, &raw256));
    cst_ok(cs_ecdsa_sign(p256, CS_HASH_SHA384, MSG, CS_SIG_RAW, &raw384));
    cst_ok(cs_ecdsa_sign(p256, CS_HASH_SHA256, MSG, CS_SIG_DER, &der256));
    for (int round = 0; round < 4; round++) {
        cst_ok(cs_ecdsa_verify(p256, CS_HASH_SHA256, MSG, CS_SIG_RAW, cs_buf_slice(&raw256)));
        cst_fails(cs_ecdsa_verify(p256, CS_HASH_SHA384, MSG, CS_SIG_RAW, cs_buf_slice(&raw256)),
                  CONSORT_E_BAD_SIGNATURE);
        cst_ok(cs_ecdsa_verify(p256, CS_HASH_SHA384, MSG, CS_SIG_RAW, cs_buf_slice(&raw384)));
        cst_ok(cs_ecdsa_verify(p256, CS_HASH_SHA256, MSG, CS_SIG_DER, cs_buf_slice(&der256)));
        raw256.ptr[40] ^= 1;
        cst_fails(cs_ecdsa_verify(p256, CS_HASH_SHA256, MSG, CS_SIG_RAW, cs_buf_slice(&raw256)),
                  CONSORT_E_BAD_SIGNATURE);
        raw256.ptr[40] ^= 1;
    }
    /* Through sig.h the same key and context. */
    cst_ok(cs_sig_verify(p256, CS_SIG_ECDSA, CS_HASH_SHA256, MSG, cs_buf_slice(&raw256)));
    cst_fails(cs_sig_verify(p256, CS_SIG_RSA_PKCS1, CS_HASH_SHA256, MSG, cs_buf_slice(&raw256)),
              CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&raw256);
    cs_buf_cleanup(&raw384);
    cs_buf_cleanup(&der256);
}

/* A setup that fails: CRYPTO, and the next call with a good setup still works. */
static bool failing_setup(struct evp_pkey_ctx_st *ctx, const void *arg)
{
    (void)ctx;
    (void)arg;
    return false;
}

static void failed_setup_is_not_kept(void **state)
{
    (void)state;
    cs_buf sig;
    cs_buf_init(&sig, 0);
    cst_ok(cs_ecdsa_sign(p256, CS_HASH_SHA256, MSG, CS_SIG_DER, &sig));
    uint8_t digest[CS_SHA256_LEN];
    cs_sha256(MSG, digest);
    const cs_key_verify_setup bad = {.id = 0x7777, .fn = failing_setup};
    cst_fails(cs_key_verify(p256, &bad, CS_SLICE(digest, sizeof digest), cs_buf_slice(&sig)),
              CONSORT_E_CRYPTO);
    assert_non_null(strstr(consort_errmsg(), "verification context setup"));
    /* The same id again: prepared anew, fails again (nothing half-made was kept). */
    cst_fails(cs_key_verify(p256, &bad, CS_SLICE(digest, sizeof digest), cs_buf_slice(&sig)),
              CONSORT_E_CRYPTO);
    const cs_key_verify_setup plain = {.id = CS_KEY_VERIFY_PLAIN};
    cst_ok(cs_key_verify(p256, &plain, CS_SLICE(digest, sizeof digest), cs_buf_slice(&sig)));
    cs_buf_cleanup(&sig);
}

/* ---- several threads on one key ---- */

#define THREADS 4
#define ROUNDS  150

typedef struct worker {
    const cs_buf *good;
    const cs_buf *bad;
    cs_sig_alg alg;
    int wrong; /* results that were not what they should have been */
} worker;

static void *verify_worker(void *p)
{
    worker *w = p;
    cs_key *key = w->alg == CS_SIG_ECDSA ? p256 : rsa;
    for (int i = 0; i < ROUNDS; i++) {
        if (cs_sig_verify(key, w->alg, CS_HASH_SHA256, MSG, cs_buf_slice(w->good)) != CONSORT_OK)
            w->wrong++;
        if (cs_sig_verify(key, w->alg, CS_HASH_SHA256, MSG, cs_buf_slice(w->bad)) !=
            CONSORT_E_BAD_SIGNATURE)
            w->wrong++;
    }
    return NULL;
}

static void threads_share_one_key(void **state)
{
    (void)state;
    const cs_sig_alg algs[] = {CS_SIG_RSA_PKCS1, CS_SIG_RSA_PSS, CS_SIG_ECDSA};
    cs_buf good[3], bad[3];
    for (size_t a = 0; a < 3; a++) {
        cs_buf_init(&good[a], 0);
        cs_buf_init(&bad[a], 0);
        cs_key *key = algs[a] == CS_SIG_ECDSA ? p256 : rsa;
        cst_ok(cs_sig_sign(key, algs[a], CS_HASH_SHA256, MSG, &good[a]));
        cst_ok(cs_buf_set(&bad[a], cs_buf_slice(&good[a])));
        bad[a].ptr[bad[a].len - 1] ^= 0x01;
    }
    /* RSA threads alternate PKCS#1 and PSS on one key: the kept context is
     * re-prepared under contention while others verify on their own. */
    pthread_t tid[THREADS + 2];
    worker w[THREADS + 2];
    for (size_t t = 0; t < THREADS + 2; t++) {
        size_t a = t < THREADS ? t % 2 : 2;
        w[t] = (worker){&good[a], &bad[a], algs[a], 0};
        assert_int_equal(pthread_create(&tid[t], NULL, verify_worker, &w[t]), 0);
    }
    for (size_t t = 0; t < THREADS + 2; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
        assert_int_equal(w[t].wrong, 0);
    }
    for (size_t a = 0; a < 3; a++) {
        cs_buf_cleanup(&good[a]);
        cs_buf_cleanup(&bad[a]);
    }
}

/* ---- raw r || s to DER, against OpenSSL's encoder ---- */

static void openssl_der(const uint8_t *raw, size_t len, cs_buf *out)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL);
    BIGNUM *s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    assert_non_null(sig);
    assert_int_equal(ECDSA_SIG_set0(sig, r, s), 1);
    int n = i2d_ECDSA_SIG(sig, NULL);
    assert_true(n > 0);
    uint8_t *dst;
    cst_ok(cs_buf_extend(out, (size_t)n, &dst));
    unsigned char *q = dst;
    assert_int_equal(i2d_ECDSA_SIG(sig, &q), n);
    ECDSA_SIG_free(sig);
}

static void raw_to_der_matches_openssl(void **state)
{
    (void)state;
    const size_t lens[] = {64, 96, 132};
    uint8_t raw[132];
    uint32_t x = 0x12345678;
    for (size_t l = 0; l < 3; l++) {
        size_t len = lens[l], half = len / 2;
        for (int pattern = 0; pattern < 40; pattern++) {
            for (size_t i = 0; i < len; i++) {
                x = x * 1103515245u + 12345u;
                raw[i] = (uint8_t)(x >> 16);
            }
            switch (pattern % 8) {
            case 0: /* r = 0 and s = 0 */
                memset(raw, 0, len);
                break;
            case 1: /* top bits set: a 0x00 in front of both */
                raw[0] |= 0x80;
                raw[half] |= 0x80;
                break;
            case 2: /* leading zero octets, then a set top bit */
                memset(raw, 0, 5);
                raw[5] |= 0x80;
                memset(raw + half, 0, half - 1);
                break;
            case 3: /* all ones: the longest encoding (P-521: long-form length) */
                memset(raw, 0xff, len);
                break;
            case 4: /* top bits clear */
                raw[0] &= 0x7f;
                raw[half] &= 0x7f;
                break;
            default:
                break;
            }
            cs_buf ours, theirs;
            cs_buf_init(&ours, 0);
            cs_buf_init(&theirs, 0);
            cst_ok(cs_ecdsa_sig_raw_to_der(CS_SLICE(raw, len), &ours));
            openssl_der(raw, len, &theirs);
            assert_int_equal(ours.len, theirs.len);
            assert_memory_equal(ours.ptr, theirs.ptr, ours.len);
            cs_buf_cleanup(&ours);
            cs_buf_cleanup(&theirs);
        }
    }
    /* P-521 all ones: SEQUENCE 30 81 8a, two INTEGERs of 0x00 + 66 octets. */
    memset(raw, 0xff, 132);
    cs_buf der;
    cs_buf_init(&der, 0);
    cst_ok(cs_ecdsa_sig_raw_to_der(CS_SLICE(raw, 132), &der));
    assert_int_equal(der.len, 3 + 2 * 69);
    static const uint8_t head[] = {0x30, 0x81, 0x8a, 0x02, 0x43, 0x00, 0xff};
    assert_memory_equal(der.ptr, head, sizeof head);
    cst_fails(cs_ecdsa_sig_raw_to_der(CS_SLICE(raw, 130), &der), CONSORT_E_MALFORMED);
    cs_buf_cleanup(&der);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rsa_schemes_interleaved),    cmocka_unit_test(ecdsa_digests_interleaved),
        cmocka_unit_test(failed_setup_is_not_kept),   cmocka_unit_test(threads_share_one_key),
        cmocka_unit_test(raw_to_der_matches_openssl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
