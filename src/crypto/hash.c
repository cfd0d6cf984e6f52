/*
 * The low-level SHA interfaces are deprecated in OpenSSL 3 in favour of EVP,
 * but they are the only allocation-free, provider-free path, and hashing is on
 * the per-transaction hot path (Merkle leaves and nodes). They still live in
 * OpenSSL; nothing here is hand-written.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/hash.h"

#include <openssl/crypto.h>
#include <string.h>

size_t cs_hash_len(cs_hash_alg alg)
{
    switch (alg) {
    case CS_HASH_SHA256:
        return CS_SHA256_LEN;
    case CS_HASH_SHA384:
        return CS_SHA384_LEN;
    case CS_HASH_SHA512:
        return CS_SHA512_LEN;
    }
    return 0;
}

const char *cs_hash_name(cs_hash_alg alg)
{
    switch (alg) {
    case CS_HASH_SHA256:
        return "SHA-256";
    case CS_HASH_SHA384:
        return "SHA-384";
    case CS_HASH_SHA512:
        return "SHA-512";
    }
    return "unknown hash";
}

void cs_sha256(cs_slice data, uint8_t out[CS_SHA256_LEN])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, data.ptr, data.len);
    SHA256_Final(out, &c);
}

void cs_sha384(cs_slice data, uint8_t out[CS_SHA384_LEN])
{
    SHA512_CTX c;
    SHA384_Init(&c);
    SHA384_Update(&c, data.ptr, data.len);
    SHA384_Final(out, &c);
}

void cs_sha256_parts(const cs_slice *parts, size_t n, uint8_t out[CS_SHA256_LEN])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    for (size_t i = 0; i < n; i++)
        SHA256_Update(&c, parts[i].ptr, parts[i].len);
    SHA256_Final(out, &c);
}

consort_err cs_hash_init(cs_hash_ctx *ctx, cs_hash_alg alg)
{
    ctx->alg = alg;
    switch (alg) {
    case CS_HASH_SHA256:
        SHA256_Init(&ctx->u.sha256);
        return CONSORT_OK;
    case CS_HASH_SHA384:
        SHA384_Init(&ctx->u.sha512);
        return CONSORT_OK;
    case CS_HASH_SHA512:
        SHA512_Init(&ctx->u.sha512);
        return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_UNSUPPORTED, "hash: algorithm %d unsupported", (int)alg);
}

void cs_hash_update(cs_hash_ctx *ctx, cs_slice data)
{
    if (data.len == 0)
        return;
    switch (ctx->alg) {
    case CS_HASH_SHA256:
        SHA256_Update(&ctx->u.sha256, data.ptr, data.len);
        break;
    case CS_HASH_SHA384:
        SHA384_Update(&ctx->u.sha512, data.ptr, data.len);
        break;
    case CS_HASH_SHA512:
        SHA512_Update(&ctx->u.sha512, data.ptr, data.len);
        break;
    }
}

void cs_hash_final(cs_hash_ctx *ctx, uint8_t *out)
{
    switch (ctx->alg) {
    case CS_HASH_SHA256:
        SHA256_Final(out, &ctx->u.sha256);
        break;
    case CS_HASH_SHA384:
        SHA384_Final(out, &ctx->u.sha512);
        break;
    case CS_HASH_SHA512:
        SHA512_Final(out, &ctx->u.sha512);
        break;
    }
    OPENSSL_cleanse(ctx, sizeof *ctx);
}

consort_err cs_hash(cs_hash_alg alg, cs_slice data, uint8_t *out)
{
    cs_hash_ctx ctx;
    CS_TRY(cs_hash_init(&ctx, alg));
    cs_hash_update(&ctx, data);
    cs_hash_final(&ctx, out);
    return CONSORT_OK;
}

/* RFC 2104 over SHA-256 (block 64 bytes): H((K ^ opad) || H((K ^ ipad) || m)),
 * a key longer than a block hashed first. Every copy of the key is wiped. */
void cs_hmac_sha256_parts(cs_slice key, const cs_slice *parts, size_t n, uint8_t out[CS_SHA256_LEN])
{
    uint8_t k[64] = {0}, pad[64], inner[CS_SHA256_LEN];
    if (key.len > sizeof k)
        cs_sha256(key, k);
    else if (key.len > 0)
        memcpy(k, key.ptr, key.len);
    SHA256_CTX c;
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k[i] ^ 0x36;
    SHA256_Init(&c);
    SHA256_Update(&c, pad, sizeof pad);
    for (size_t i = 0; i < n; i++)
        if (parts[i].len > 0)
            SHA256_Update(&c, parts[i].ptr, parts[i].len);
    SHA256_Final(inner, &c);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&c);
    SHA256_Update(&c, pad, sizeof pad);
    SHA256_Update(&c, inner, sizeof inner);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(&c, sizeof c);
}
