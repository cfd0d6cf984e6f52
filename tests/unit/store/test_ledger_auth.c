/*
 * Ledger entries are authenticated, version 2 (docs/ledger.md 1.2): every
 * entry (with and without private writes, each kind) fails to open after
 * any single bit flip, stripping its private section, adding or removing
 * bytes, or under another secret, with the documented decode error or
 * BAD_TAG; a tag forged without the secret is BAD_TAG; a wrong commit
 * evidence digest under a genuine tag is BAD_PROOF; the GCM key is never
 * the raw secret; and no (key, nonce) pair is ever used twice: encode
 * refuses a seqno not above the last one sealed under the current key salt,
 * or before any rekey, and rekeying gives another salt, hence another key.
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

/* Recomputes ciphertext || tag of `b` (decoded layout) for `plain` under
 * the entry key of its salt and `ikm`: what a sealer holding `ikm` would
 * write after editing the header. */
static void reseal(const uint8_t *ikm, cs_buf *b, cs_slice plain)
{
    size_t plen = (size_t)be_at(b->ptr + 104, 4), aad_len = 112 + plen;
    set_be(b->ptr + 108 + plen, plain.len, 4);
    uint8_t key[32], nonce[12];
    reference_key(ikm, b->ptr + 24, key);
    reference_nonce(be_at(b->ptr + 16, 8), nonce);
    b->len = aad_len;
    cst_ok(cs_buf_reserve(b, plain.len + 16));
    cst_ok(cs_aead_seal(key, nonce, CS_SLICE(b->ptr, aad_len), plain, b));
}

/* ---- authentication ---- */

/*
 * What docs/ledger.md section 1 says decoding `b` gives, written from the
 * table alone (an oracle for the tampering tests): the first rule broken,
 * in the documented order, or OK.
 */
static consort_err documented_decode(const uint8_t *b, size_t n)
{
    if (n < 4)
        return CONSORT_E_TRUNCATED;
    if (memcmp(b, "CSLE", 4) != 0)
        return CONSORT_E_MALFORMED;
    if (n < 5)
        return CONSORT_E_TRUNCATED;
    if (b[4] != 2)
        return CONSORT_E_UNSUPPORTED;
    if (n < 6)
        return CONSORT_E_TRUNCATED;
    if (b[5] < 1 || b[5] > 3)
        return CONSORT_E_MALFORMED;
    if (n < 8)
        return CONSORT_E_TRUNCATED;
    if (be_at(b + 6, 2) != 0)
        return CONSORT_E_MALFORMED;
    if (n < 16)
        return CONSORT_E_TRUNCATED;
    if (be_at(b + 8, 8) == 0 || be_at(b + 8, 8) > UINT32_MAX)
        return CONSORT_E_MALFORMED;
    if (n < 24)
        return CONSORT_E_TRUNCATED;
    if (be_at(b + 16, 8) == 0)
        return CONSORT_E_MALFORMED;
    if (n < 108)
        return CONSORT_E_TRUNCATED;
    uint64_t plen = be_at(b + 104, 4);
    if (plen > 16 << 20)
        return CONSORT_E_TOO_LARGE;
    if (n < 112 + plen)
        return CONSORT_E_TRUNCATED;
    uint64_t clen = be_at(b + 108 + plen, 4);
    if (clen > 16 << 20)
        return CONSORT_E_TOO_LARGE;
    if (n < 128 + plen + clen)
        return CONSORT_E_TRUNCATED;
    if (n > 128 + plen + clen)
        return CONSORT_E_TRAILING_DATA;
    return CONSORT_OK;
}

/* Decodes and opens `b`: the decode error, or the open result. Nothing may
 * be appended on failure. */
static consort_err decode_open(cs_slice b, cs_ledger_keys *k)
{
    cs_ledger_entry e;
    consort_err rc = cs_ledger_entry_decode(b, &e);
    if (rc != CONSORT_OK)
        return rc;
    cs_buf plain;
    cs_buf_init_secret(&plain, 0);
    rc = cs_ledger_entry_open(&e, k, &plain);
    if (rc != CONSORT_OK)
        assert_int_equal(plain.len, 0);
    cs_buf_cleanup(&plain);
    return rc;
}

/* Tampered bytes: the documented decode error, else BAD_TAG. */
static void expect_refused(cs_slice b, const char *what, size_t at)
{
    consort_err want = documented_decode(b.ptr, b.len);
    if (want == CONSORT_OK)
        want = CONSORT_E_BAD_TAG;
    consort_err rc = decode_open(b, &keys);
    if (rc != want)
        fail_msg("%s at %zu: %s, expected %s (%s)", what, at, consort_err_name(rc),
                 consort_err_name(want), consort_errmsg());
}

typedef struct variant {
    cs_ledger_kind kind;
    bool priv;
} variant;

static const variant variants[] = {
    {CS_LEDGER_KIND_TX, true},        {CS_LEDGER_KIND_TX, false},
    {CS_LEDGER_KIND_SIGNATURE, true}, {CS_LEDGER_KIND_SIGNATURE, false},
    {CS_LEDGER_KIND_INTERNAL, true},  {CS_LEDGER_KIND_INTERNAL, false},
};

/* Every single bit of every entry flipped: refused, with the decode error
 * the documents give for that field or BAD_TAG. */
static void every_bit_flip_is_refused(void **state)
{
    (void)state;
    size_t tags = 0;
    for (size_t v = 0; v < CS_ARRAY_LEN(variants); v++) {
        cs_buf b;
        encode_kind(variants[v].kind, 4, 40, variants[v].priv, v % 2 == 0, &b);
        cst_ok(decode_open(cs_buf_slice(&b), &keys));
        for (size_t i = 0; i < b.len; i++) {
            for (int bit = 0; bit < 8; bit++) {
                b.ptr[i] ^= (uint8_t)(1u << bit);
                expect_refused(cs_buf_slice(&b), "bit flip", i);
                tags += documented_decode(b.ptr, b.len) == CONSORT_OK;
                b.ptr[i] ^= (uint8_t)(1u << bit);
            }
        }
        cs_buf_cleanup(&b);
    }
    /* the tag caught most of them: everything but the structural fields */
    assert_true(tags > 6 * 8 * 100);
}

/* Every prefix, bytes appended, and bytes cut out or inserted with the
 * lengths rewritten to match. */
static void added_and_removed_bytes_are_refused(void **state)
{
    (void)state;
    for (size_t v = 0; v < CS_ARRAY_LEN(variants); v++) {
        cs_buf b;
        encode_kind(variants[v].kind, 2, 9, variants[v].priv, true, &b);
        for (size_t n = 0; n < b.len; n++)
            expect_refused(CS_SLICE(b.ptr, n), "prefix", n);
        /* one byte, or a whole tag's worth, appended */
        cs_buf more;
        cs_buf_init(&more, 0);
        cst_ok(cs_buf_set(&more, cs_buf_slice(&b)));
        cst_ok(cs_buf_append(&more, b.ptr + b.len - 16, 16));
        for (size_t n = b.len + 1; n <= more.len; n++)
            expect_refused(CS_SLICE(more.ptr, n), "appended", n);
        /* a byte cut out of the public write set, public_len one less */
        cst_ok(cs_buf_set(&more, CS_SLICE(b.ptr, 108 + 3)));
        cst_ok(cs_buf_append(&more, b.ptr + 108 + 4, b.len - 108 - 4));
        set_be(more.ptr + 104, sizeof pub_ws - 1, 4);
        assert_int_equal(documented_decode(more.ptr, more.len), CONSORT_OK);
        expect_refused(cs_buf_slice(&more), "public byte removed", 3);
        /* a byte inserted into it, public_len one more */
        cst_ok(cs_buf_set(&more, CS_SLICE(b.ptr, 108 + 3)));
        cst_ok(cs_buf_append_u8(&more, 0x00));
        cst_ok(cs_buf_append(&more, b.ptr + 108 + 3, b.len - 108 - 3));
        set_be(more.ptr + 104, sizeof pub_ws + 1, 4);
        expect_refused(cs_buf_slice(&more), "public byte inserted", 3);
        /* private bytes added to an entry, or one removed, private_len to match */
        cst_ok(cs_buf_set(&more, CS_SLICE(b.ptr, b.len - 16)));
        cst_ok(cs_buf_append(&more, "\x01\x02\x03", 3));
        cst_ok(cs_buf_append(&more, b.ptr + b.len - 16, 16));
        set_be(more.ptr + PRIV_LEN_AT, be_at(b.ptr + PRIV_LEN_AT, 4) + 3, 4);
        assert_int_equal(documented_decode(more.ptr, more.len), CONSORT_OK);
        expect_refused(cs_buf_slice(&more), "private bytes added", 0);
        if (variants[v].priv) {
            cst_ok(cs_buf_set(&more, CS_SLICE(b.ptr, b.len - 17)));
            cst_ok(cs_buf_append(&more, b.ptr + b.len - 16, 16));
            set_be(more.ptr + PRIV_LEN_AT, sizeof priv_ws - 1, 4);
            expect_refused(cs_buf_slice(&more), "private byte removed", 0);
        }
        cs_buf_cleanup(&more);
        cs_buf_cleanup(&b);
    }
}

/* The private section stripped with private_len rewritten to 0 (what a
 * host would do to hide private writes): the tag still covers the aad. */
static void stripped_private_section_is_refused(void **state)
{
    (void)state;
    for (size_t v = 0; v < CS_ARRAY_LEN(variants); v += 2) {
        cs_buf b, s;
        encode_kind(variants[v].kind, 5, 50, true, false, &b);
        cs_buf_init(&s, 0);
        /* header and public write set, private_len 0, the genuine tag */
        cst_ok(cs_buf_append(&s, b.ptr, PRIV_LEN_AT));
        cst_ok(cs_buf_append_be32(&s, 0));
        cst_ok(cs_buf_append(&s, b.ptr + b.len - 16, 16));
        assert_int_equal(documented_decode(s.ptr, s.len), CONSORT_OK);
        cst_fails(decode_open(cs_buf_slice(&s), &keys), CONSORT_E_BAD_TAG);
        /* and any tag at all in its place */
        for (size_t i = 0; i < 16; i++)
            s.ptr[s.len - 16 + i] = (uint8_t)i;
        cst_fails(decode_open(cs_buf_slice(&s), &keys), CONSORT_E_BAD_TAG);
        /* without the tag too: not even an entry */
        s.len -= 16;
        cst_fails(decode_open(cs_buf_slice(&s), &keys), CONSORT_E_TRUNCATED);
        cs_buf_cleanup(&s);
        cs_buf_cleanup(&b);
    }
}

static void another_secret_is_refused(void **state)
{
    (void)state;
    uint8_t other_secret[32];
    memcpy(other_secret, secret, 32);
    other_secret[31] ^= 0x80;
    cs_ledger_keys other;
    cs_ledger_keys_init(&other, other_secret);
    for (size_t v = 0; v < CS_ARRAY_LEN(variants); v++) {
        cs_buf b;
        encode_kind(variants[v].kind, 6, 60, variants[v].priv, false, &b);
        cst_fails(decode_open(cs_buf_slice(&b), &other), CONSORT_E_BAD_TAG);
        cst_ok(decode_open(cs_buf_slice(&b), &keys));
        cs_buf_cleanup(&b);
    }
    cs_ledger_keys_cleanup(&other);
}

/* A host forging an entry: the exact structure, a commit evidence digest
 * copied from elsewhere, and a tag computed without the secret (its own
 * secret, a key of zeros, the salt as key). */
static void forged_entry_is_refused(void **state)
{
    (void)state;
    cs_buf b;
    encode(2, 77, false, false, &b);
    /* rewrite the public write set into the host's choice, same length */
    b.ptr[108 + 20] = 0x66;
    uint8_t host_secret[32];
    cst_ok(cs_random(host_secret, sizeof host_secret));
    reseal(host_secret, &b, CS_SLICE_EMPTY);
    assert_int_equal(documented_decode(b.ptr, b.len), CONSORT_OK);
    cst_fails(decode_open(cs_buf_slice(&b), &keys), CONSORT_E_BAD_TAG);
    /* a key of zeros, and the public salt itself as the key */
    uint8_t nonce[12], zero_key[32] = {0}, salt_key[32] = {0};
    reference_nonce(77, nonce);
    memcpy(salt_key, b.ptr + 24, 16);
    const uint8_t *forged_keys[] = {zero_key, salt_key, secret};
    for (size_t i = 0; i < CS_ARRAY_LEN(forged_keys); i++) {
        b.len = PRIV_LEN_AT + 4;
        cst_ok(cs_aead_seal(forged_keys[i], nonce, CS_SLICE(b.ptr, b.len), CS_SLICE_EMPTY, &b));
        cst_fails(decode_open(cs_buf_slice(&b), &keys), CONSORT_E_BAD_TAG);
    }
    /* a host's own ledger keys: a perfectly formed entry of another service */
    cs_ledger_keys host;
    cs_ledger_keys_init(&host, host_secret);
    cst_ok(cs_ledger_keys_rekey(&host));
    cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_INTERNAL,
                                .term = 2,
                                .seqno = 78,
                                .public_ws = CS_SLICE(pub_ws, sizeof pub_ws)};
    cs_buf_reset(&b);
    cst_ok(cs_ledger_entry_encode(&p, &host, &b));
    cst_fails(decode_open(cs_buf_slice(&b), &keys), CONSORT_E_BAD_TAG);
    cst_ok(decode_open(cs_buf_slice(&b), &host));
    cs_ledger_keys_cleanup(&host);
    cs_buf_cleanup(&b);
}

/* A sealer with the secret that wrote the wrong commit evidence digest
 * (the tag is genuine): BAD_PROOF, nothing appended. */
static void wrong_commit_evidence_digest_is_bad_proof(void **state)
{
    (void)state;
    for (int with_private = 0; with_private < 2; with_private++) {
        cs_buf b;
        encode(9, 90, with_private, false, &b);
        cs_slice plain = with_private ? CS_SLICE(priv_ws, sizeof priv_ws) : CS_SLICE_EMPTY;
        /* the digest of another txid's commit evidence, then random bytes */
        char ce[CS_LEDGER_CE_MAX];
        cst_ok(cs_ledger_commit_evidence(secret, 9, 91, ce));
        cs_sha256(cs_slice_str(ce), b.ptr + 72);
        reseal(secret, &b, plain);
        cst_fails(decode_open(cs_buf_slice(&b), &keys), CONSORT_E_BAD_PROOF);
        assert_non_null(strstr(consort_errmsg(), "commit evidence of 9.90"));
        cst_ok(cs_random(b.ptr + 72, 32));
        reseal(secret, &b, plain);
        cst_fails(decode_open(cs_buf_slice(&b), &keys), CONSORT_E_BAD_PROOF);
        /* the right digest resealed the same way opens: the test's sealer is
         * the documented one */
        cst_ok(cs_ledger_commit_evidence(secret, 9, 90, ce));
        cs_sha256(cs_slice_str(ce), b.ptr + 72);
        reseal(secret, &b, plain);
        cst_ok(decode_open(cs_buf_slice(&b), &keys));
        cs_buf_cleanup(&b);
    }
}

/* The raw secret is never the GCM key: opening with it as the key fails,
 * with the HKDF-derived key it succeeds. */
static void the_key_is_not_the_raw_secret(void **state)
{
    (void)state;
    cs_buf b, plain;
    encode(1, 5, true, false, &b);
    cs_buf_init_secret(&plain, 0);
    uint8_t nonce[12], key[32];
    reference_nonce(5, nonce);
    cs_slice aad = CS_SLICE(b.ptr, PRIV_LEN_AT + 4);
    cs_slice sealed = CS_SLICE(b.ptr + aad.len, b.len - aad.len);
    cst_fails(cs_aead_open(secret, nonce, aad, sealed, &plain), CONSORT_E_BAD_TAG);
    /* nor HKDF without the salt, nor the old v1 nonce */
    reference_hkdf(secret, 32, NULL, 0, "consort ledger entry v2", key);
    cst_fails(cs_aead_open(key, nonce, aad, sealed, &plain), CONSORT_E_BAD_TAG);
    reference_key(secret, b.ptr + 24, key);
    const uint8_t v1_nonce[12] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5};
    cst_fails(cs_aead_open(key, v1_nonce, aad, sealed, &plain), CONSORT_E_BAD_TAG);
    cst_ok(cs_aead_open(key, nonce, aad, sealed, &plain));
    assert_memory_not_equal(key, secret, 32);
    assert_memory_not_equal(keys.seal_key, secret, 32);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&b);
}

/* ---- nonce uniqueness by construction ---- */

static void encode_refuses_a_reused_nonce(void **state)
{
    (void)state;
    cs_ledger_keys k;
    cs_ledger_keys_init(&k, secret);
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_TX,
                                .term = 1,
                                .seqno = 5,
                                .public_ws = CS_SLICE(pub_ws, sizeof pub_ws),
                                .private_ws = CS_SLICE(priv_ws, sizeof priv_ws)};
    /* never rekeyed: no sealing key */
    cst_fails(cs_ledger_entry_encode(&p, &k, &b), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "rekey first"));
    cst_ok(cs_ledger_keys_rekey(&k));
    cst_ok(cs_ledger_entry_encode(&p, &k, &b));
    assert_int_equal(k.sealed_upto, 5);
    size_t first_len = b.len;
    uint8_t salt1[16];
    memcpy(salt1, k.seal_salt, 16);
    /* the same seqno, or an earlier one, under the same salt: refused, in
     * any term (a new leader that rolled back) */
    for (uint64_t s = 1; s <= 5; s++) {
        p.seqno = s;
        p.term = 2;
        cst_fails(cs_ledger_entry_encode(&p, &k, &b), CONSORT_E_STATE);
        assert_non_null(strstr(consort_errmsg(), "not above 5"));
    }
    assert_int_equal(b.len, first_len);
    assert_int_equal(k.sealed_upto, 5);
    /* a failed encode leaves the keys as they were */
    p.seqno = 6;
    cs_buf small;
    cs_buf_init(&small, 100);
    cst_fails(cs_ledger_entry_encode(&p, &k, &small), CONSORT_E_TOO_LARGE);
    assert_int_equal(k.sealed_upto, 5);
    cs_buf_cleanup(&small);
    /* after a rekey the same (term, seqno) seals again, under another salt:
     * another key, so another ciphertext and tag */
    p.seqno = 5;
    p.term = 1;
    cst_ok(cs_ledger_keys_rekey(&k));
    assert_int_equal(k.sealed_upto, 0);
    assert_memory_not_equal(k.seal_salt, salt1, 16);
    cst_ok(cs_ledger_entry_encode(&p, &k, &b));
    assert_int_equal(b.len, 2 * first_len);
    const uint8_t *e1 = b.ptr, *e2 = b.ptr + first_len;
    assert_memory_equal(e1, e2, 24); /* same magic .. seqno */
    assert_memory_not_equal(e1 + 24, e2 + 24, 16);
    assert_memory_not_equal(e1 + PRIV_LEN_AT + 4, e2 + PRIV_LEN_AT + 4, sizeof priv_ws + 16);
    cst_ok(decode_open(CS_SLICE(e1, first_len), &k));
    cst_ok(decode_open(CS_SLICE(e2, first_len), &k));
    cs_buf_cleanup(&b);
    cs_ledger_keys_cleanup(&k);
}

typedef struct pair {
    uint8_t salt[16];
    uint64_t seqno;
} pair;

static int pair_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(pair));
}

/*
 * A sealer's life: runs of entries, each after a rekey, each starting back
 * at an earlier seqno (rollbacks), three runs per term, so (term, seqno)
 * pairs do repeat. No (key salt, seqno) pair, hence no (key, nonce) pair,
 * repeats; every entry opens.
 */
static void no_key_nonce_pair_repeats(void **state)
{
    (void)state;
    cs_ledger_keys k;
    cs_ledger_keys_init(&k, secret);
    enum { RUNS = 12, PER_RUN = 60 };
    pair *pairs = calloc(RUNS * PER_RUN, sizeof *pairs);
    pair *txids = calloc(RUNS * PER_RUN, sizeof *txids); /* (term, seqno) as a pair */
    size_t n = 0;
    uint64_t next = 1;
    cs_buf b;
    cs_buf_init(&b, 0);
    for (uint64_t run = 0; run < RUNS; run++) {
        cst_ok(cs_ledger_keys_rekey(&k));
        next = next > 20 ? next - 20 : 1; /* roll back up to 20 entries */
        for (int i = 0; i < PER_RUN; i++, next++) {
            cs_ledger_entry_params p = {.kind = CS_LEDGER_KIND_TX,
                                        .term = run / 3 + 1,
                                        .seqno = next,
                                        .public_ws = CS_SLICE(pub_ws, sizeof pub_ws),
                                        .private_ws = CS_SLICE(priv_ws, sizeof priv_ws)};
            cs_buf_reset(&b);
            cst_ok(cs_ledger_entry_encode(&p, &k, &b));
            /* a rolled-back seqno is refused under this salt */
            cst_fails(cs_ledger_entry_encode(&p, &k, &b), CONSORT_E_STATE);
            memcpy(pairs[n].salt, b.ptr + 24, 16);
            pairs[n].seqno = be_at(b.ptr + 16, 8);
            memcpy(txids[n].salt, b.ptr + 8, 8); /* the term */
            txids[n].seqno = pairs[n].seqno;
            n++;
            cst_ok(decode_open(cs_buf_slice(&b), &k));
        }
    }
    qsort(pairs, n, sizeof *pairs, pair_cmp);
    for (size_t i = 1; i < n; i++)
        if (memcmp(&pairs[i - 1], &pairs[i], sizeof *pairs) == 0)
            fail_msg("(key salt, seqno %" PRIu64 ") used twice", pairs[i].seqno);
    /* while (term, seqno) did repeat: the salts are what keeps them apart */
    assert_int_equal(n, RUNS * PER_RUN);
    qsort(txids, n, sizeof *txids, pair_cmp);
    size_t repeated = 0;
    for (size_t i = 1; i < n; i++)
        repeated += memcmp(&txids[i - 1], &txids[i], sizeof *txids) == 0;
    assert_true(repeated >= 8 * 20);
    free(pairs);
    free(txids);
    cs_buf_cleanup(&b);
    cs_ledger_keys_cleanup(&k);
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
        cmocka_unit_test(every_bit_flip_is_refused),
        cmocka_unit_test(added_and_removed_bytes_are_refused),
        cmocka_unit_test(stripped_private_section_is_refused),
        cmocka_unit_test(another_secret_is_refused),
        cmocka_unit_test(forged_entry_is_refused),
        cmocka_unit_test(wrong_commit_evidence_digest_is_bad_proof),
        cmocka_unit_test(the_key_is_not_the_raw_secret),
        cmocka_unit_test(encode_refuses_a_reused_nonce),
        cmocka_unit_test(no_key_nonce_pair_repeats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
