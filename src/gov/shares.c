/*
 * Recovery shares: splitting, encryption to members, decryption and
 * recombination (contracts and formats in shares.h).
 *
 * libgfshare does the arithmetic. It draws the polynomial's coefficients
 * from the global gfshare_fill_rand, which starts NULL; we install a
 * function over OpenSSL's CSPRNG before every use (never random()). That
 * hook cannot report failure, so a failure is recorded in a thread-local
 * flag and checked after the call that used it.
 */
#include "gov/shares.h"

#include "base/alloc.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "crypto/rsa_oaep.h"
#include "gov/shares_priv.h"

#include <libgfshare.h>
#include <string.h>

static const char CHECK_DOMAIN[] = "consort.recovery.share.check.v1";

static _Thread_local bool rand_failed;

static void fill_rand(unsigned char *buf, unsigned int len)
{
    if (cs_random(buf, len) != CONSORT_OK) {
        rand_failed = true;
        cs_wipe(buf, len);
    }
}

static void use_csprng(void)
{
    gfshare_fill_rand = fill_rand;
    rand_failed = false;
}

/* The commitment to the secret that every share of one wrapping carries. */
static void secret_check(const cs_gov_share_meta *m, const uint8_t *secret,
                         uint8_t out[CS_GOV_SHARE_CHECK_LEN])
{
    uint8_t epoch[8], params[3] = {m->threshold, m->count, m->secret_len};
    for (int i = 0; i < 8; i++)
        epoch[i] = (uint8_t)(m->binding.epoch >> (56 - 8 * i));
    cs_slice parts[] = {
        CS_SLICE(CHECK_DOMAIN, sizeof CHECK_DOMAIN - 1),
        CS_SLICE(epoch, sizeof epoch),
        CS_SLICE(m->binding.service_id, CS_GOV_SHARE_ID_LEN),
        CS_SLICE(params, sizeof params),
        CS_SLICE(secret, m->secret_len),
    };
    cs_sha256_parts(parts, CS_ARRAY_LEN(parts), out);
}

consort_err cs_gov_enc_keygen(cs_buf *priv_pem, cs_buf *pub_pem)
{
    cs_key *key = NULL;
    consort_err rc;
    CS_TRY_CTX_GOTO(rc, cs_rsa_generate(CS_GOV_ENC_KEY_BITS, &key), fail, "member encryption key");
    CS_TRY_GOTO(rc, cs_key_private_pem(key, priv_pem), fail);
    CS_TRY_GOTO(rc, cs_key_public_pem(key, pub_pem), fail);
    cs_key_free(key);
    return CONSORT_OK;
fail:
    cs_key_free(key);
    cs_buf_reset(priv_pem);
    cs_buf_reset(pub_pem);
    return rc;
}

static consort_err check_split_args(cs_slice secret, unsigned threshold,
                                    const cs_gov_share_recipient *members, size_t n)
{
    CS_ENSURE(n >= 1 && n <= CS_GOV_SHARES_MAX, CONSORT_E_INVALID_ARGUMENT,
              "recovery shares: %zu members, expected 1..%d", n, CS_GOV_SHARES_MAX);
    CS_ENSURE(threshold >= 1 && threshold <= n, CONSORT_E_INVALID_ARGUMENT,
              "recovery shares: threshold %u with %zu members, expected 1..%zu", threshold, n, n);
    CS_ENSURE(secret.len >= CS_GOV_SECRET_MIN && secret.len <= CS_GOV_SECRET_MAX,
              CONSORT_E_INVALID_ARGUMENT, "recovery shares: secret of %zu bytes, expected %d..%d",
              secret.len, CS_GOV_SECRET_MIN, CS_GOV_SECRET_MAX);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CS_ENSURE(memcmp(members[i].member_id, members[j].member_id, CS_GOV_SHARE_ID_LEN) != 0,
                      CONSORT_E_INVALID_ARGUMENT,
                      "recovery shares: members %zu and %zu have the same id", i, j);
    return CONSORT_OK;
}

consort_err cs_gov_enc_key_check(cs_slice pub_pem)
{
    cs_key *key;
    CS_TRY_CTX(cs_key_from_pem(pub_pem, &key), "encryption key");
    size_t bits = cs_rsa_bits(key);
    bool ok = bits >= CS_RSA_MIN_BITS && bits <= CS_RSA_MAX_BITS;
    const char *type = cs_key_type_name(key);
    cs_key_free(key);
    CS_ENSURE(ok, CONSORT_E_INVALID_ARGUMENT,
              "encryption key: %s/%zu bits, expected an RSA public key of %d..%d bits", type, bits,
              CS_RSA_MIN_BITS, CS_RSA_MAX_BITS);
    return CONSORT_OK;
}

/* Parses every member's key up front, so a bad key fails before any share exists. */
static consort_err load_keys(const cs_gov_share_recipient *members, size_t n, cs_key **keys)
{
    for (size_t i = 0; i < n; i++) {
        CS_TRY_CTX(cs_key_from_pem(members[i].enc_pub_pem, &keys[i]),
                   "recovery shares: member %zu encryption key", i);
        size_t bits = cs_rsa_bits(keys[i]);
        CS_ENSURE(bits >= CS_RSA_MIN_BITS && bits <= CS_RSA_MAX_BITS, CONSORT_E_INVALID_ARGUMENT,
                  "recovery shares: member %zu encryption key is %s/%zu bits, expected RSA "
                  "%d..%d",
                  i, cs_key_type_name(keys[i]), bits, CS_RSA_MIN_BITS, CS_RSA_MAX_BITS);
    }
    return CONSORT_OK;
}

/* Encrypts one share: out = header || RSA-OAEP-256(header || check || y). */
static consort_err seal_share(const cs_gov_share *share, const cs_key *key, cs_buf *plain,
                              cs_buf *out)
{
    cs_buf_reset(plain);
    cs_buf_reset(out);
    CS_TRY(cs_gov_share_encode(share, plain));
    CS_TRY(cs_gov_share_meta_encode(&share->meta, out));
    return cs_rsa_oaep_encrypt(key, CS_SLICE_EMPTY, cs_buf_slice(plain), out);
}

consort_err cs_gov_shares_split(cs_slice secret, unsigned threshold,
                                const cs_gov_share_binding *binding,
                                const cs_gov_share_recipient *members, size_t n, cs_buf *out)
{
    consort_err rc = check_split_args(secret, threshold, members, n);
    if (rc != CONSORT_OK) {
        for (size_t i = 0; i < n; i++)
            cs_buf_reset(&out[i]);
        return rc;
    }
    cs_key **keys = cs_calloc(n, sizeof *keys);
    uint8_t sharenrs[CS_GOV_SHARES_MAX], sec[CS_GOV_SECRET_MAX];
    cs_gov_share share;
    memset(&share, 0, sizeof share);
    gfshare_ctx *ctx = NULL;
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_GOV_SHARE_PLAIN_MAX);
    CS_ENSURE_GOTO(rc, keys != NULL, done, CONSORT_E_NOMEM, "recovery shares: out of memory");
    CS_TRY_GOTO(rc, load_keys(members, n, keys), done);

    for (size_t i = 0; i < n; i++)
        sharenrs[i] = (uint8_t)(i + 1); /* x = 0 would be the secret itself */
    memcpy(sec, secret.ptr, secret.len);
    use_csprng();
    ctx =
        gfshare_ctx_init_enc(sharenrs, (unsigned)n, (unsigned char)threshold, (unsigned)secret.len);
    CS_ENSURE_GOTO(rc, ctx != NULL, done, CONSORT_E_NOMEM, "recovery shares: libgfshare init");
    gfshare_ctx_enc_setsecret(ctx, sec);
    CS_ENSURE_GOTO(rc, !rand_failed, done, CONSORT_E_CRYPTO,
                   "recovery shares: no randomness for the polynomial");

    share.meta.binding = *binding;
    share.meta.threshold = (uint8_t)threshold;
    share.meta.count = (uint8_t)n;
    share.meta.secret_len = (uint8_t)secret.len;
    secret_check(&share.meta, sec, share.check);
    for (size_t i = 0; i < n; i++) {
        share.meta.index = sharenrs[i];
        memcpy(share.meta.member_id, members[i].member_id, CS_GOV_SHARE_ID_LEN);
        gfshare_ctx_enc_getshare(ctx, (unsigned char)i, share.y);
        CS_TRY_CTX_GOTO(rc, seal_share(&share, keys[i], &plain, &out[i]), done,
                        "recovery shares: member %zu", i);
    }
    rc = CONSORT_OK;
done:
    if (ctx != NULL) {
        use_csprng(); /* gfshare_ctx_free overwrites its buffers with it */
        gfshare_ctx_free(ctx);
    }
    cs_wipe(sec, sizeof sec);
    cs_gov_share_wipe(&share);
    cs_buf_cleanup(&plain);
    for (size_t i = 0; keys != NULL && i < n; i++)
        cs_key_free(keys[i]);
    cs_free(keys);
    for (size_t i = 0; rc != CONSORT_OK && i < n; i++)
        cs_buf_reset(&out[i]);
    return rc;
}

consort_err cs_gov_share_decrypt(cs_slice priv_pem, cs_slice encrypted, cs_gov_share *out)
{
    cs_gov_share_wipe(out);
    CS_ENSURE(encrypted.len <= CS_GOV_SHARE_ENC_MAX, CONSORT_E_TOO_LARGE,
              "recovery share: %zu bytes, at most %d", encrypted.len, CS_GOV_SHARE_ENC_MAX);
    cs_gov_share_meta meta;
    cs_cursor c;
    cs_cursor_init(&c, encrypted);
    CS_TRY(cs_gov_share_meta_read(&c, &meta));
    cs_slice header = CS_SLICE(encrypted.ptr, CS_GOV_SHARE_HEADER_LEN);
    cs_slice cipher = cs_cursor_rest(&c);

    cs_key *key = NULL;
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_GOV_SHARE_ENC_MAX);
    consort_err rc;
    CS_TRY_CTX_GOTO(rc, cs_key_from_pem(priv_pem, &key), done, "member encryption key");
    CS_TRY_CTX_GOTO(rc, cs_rsa_oaep_decrypt(key, CS_SLICE_EMPTY, cipher, &plain), done,
                    "recovery share %u", meta.index);
    CS_TRY_CTX_GOTO(rc, cs_gov_share_decode(cs_buf_slice(&plain), out), done,
                    "recovery share %u (decrypted)", meta.index);
    /* The public header must be the one sealed inside. */
    CS_ENSURE_GOTO(rc, cs_slice_eq(header, CS_SLICE(plain.ptr, CS_GOV_SHARE_HEADER_LEN)), done,
                   CONSORT_E_BAD_TAG,
                   "recovery share %u: public header altered (differs from the encrypted copy)",
                   meta.index);
    rc = CONSORT_OK;
done:
    if (rc != CONSORT_OK)
        cs_gov_share_wipe(out);
    cs_key_free(key);
    cs_buf_cleanup(&plain);
    return rc;
}

/* Every share agrees with the first and with `expect`; no index or member twice. */
static consort_err check_set(const cs_gov_share *shares, size_t count,
                             const cs_gov_share_binding *expect)
{
    const cs_gov_share_meta *first = &shares[0].meta;
    bool seen[CS_GOV_SHARES_MAX + 1] = {false};
    for (size_t i = 0; i < count; i++) {
        const cs_gov_share_meta *m = &shares[i].meta;
        CS_TRY(cs_gov_share_binding_check(m, expect));
        CS_ENSURE(m->threshold == first->threshold && m->count == first->count &&
                      m->secret_len == first->secret_len,
                  CONSORT_E_POLICY,
                  "recovery share %u: threshold %u of %u (%u bytes), share %u has %u of %u (%u "
                  "bytes)",
                  m->index, m->threshold, m->count, m->secret_len, first->index, first->threshold,
                  first->count, first->secret_len);
        CS_ENSURE(cs_ct_equal(CS_SLICE(shares[i].check, CS_GOV_SHARE_CHECK_LEN),
                              CS_SLICE(shares[0].check, CS_GOV_SHARE_CHECK_LEN)),
                  CONSORT_E_POLICY, "recovery share %u: from another split than share %u", m->index,
                  first->index);
        CS_ENSURE(m->index >= 1 && m->index <= m->count, CONSORT_E_MALFORMED,
                  "recovery share: index %u, expected 1..%u", m->index, m->count);
        CS_ENSURE(!seen[m->index], CONSORT_E_POLICY, "recovery share %u given twice", m->index);
        seen[m->index] = true;
        for (size_t j = 0; j < i; j++)
            CS_ENSURE(memcmp(m->member_id, shares[j].meta.member_id, CS_GOV_SHARE_ID_LEN) != 0,
                      CONSORT_E_POLICY, "recovery shares %u and %u: same member",
                      shares[j].meta.index, m->index);
    }
    CS_ENSURE(count >= first->threshold, CONSORT_E_POLICY, "recovery: %zu of %u shares: %zu short",
              count, first->threshold, first->threshold - count);
    return CONSORT_OK;
}

consort_err cs_gov_shares_combine(const cs_gov_share *shares, size_t count,
                                  const cs_gov_share_binding *expect, cs_buf *secret)
{
    cs_buf_reset(secret);
    CS_ENSURE(count >= 1 && count <= CS_GOV_SHARES_MAX, CONSORT_E_INVALID_ARGUMENT,
              "recovery: %zu shares, expected 1..%d", count, CS_GOV_SHARES_MAX);
    CS_TRY(check_set(shares, count, expect));

    const cs_gov_share_meta *m = &shares[0].meta;
    uint8_t sharenrs[CS_GOV_SHARES_MAX], y[CS_GOV_SECRET_MAX], rebuilt[CS_GOV_SECRET_MAX];
    uint8_t check[CS_GOV_SHARE_CHECK_LEN];
    for (size_t i = 0; i < count; i++)
        sharenrs[i] = shares[i].meta.index;
    use_csprng();
    gfshare_ctx *ctx = gfshare_ctx_init_dec(sharenrs, (unsigned)count, m->secret_len);
    CS_ENSURE(ctx != NULL, CONSORT_E_NOMEM, "recovery: libgfshare init");
    for (size_t i = 0; i < count; i++) {
        memcpy(y, shares[i].y, m->secret_len);
        gfshare_ctx_dec_giveshare(ctx, (unsigned char)i, y);
    }
    gfshare_ctx_dec_extract(ctx, rebuilt);
    gfshare_ctx_free(ctx);
    cs_wipe(y, sizeof y);

    secret_check(m, rebuilt, check);
    consort_err rc = CONSORT_OK;
    if (!cs_ct_equal(CS_SLICE(check, sizeof check), CS_SLICE(shares[0].check, sizeof check)))
        rc = cs_fail(CONSORT_E_BAD_PROOF,
                     "recovery: the rebuilt secret does not match its check (a share is wrong)");
    else
        rc = cs_buf_append(secret, rebuilt, m->secret_len);
    cs_wipe(rebuilt, sizeof rebuilt);
    if (rc != CONSORT_OK)
        cs_buf_reset(secret);
    return rc;
}
