/*
 * Hashing: SHA-256, SHA-384, SHA-512 (FIPS 180-4) one-shot, over several
 * parts without concatenating them, and incremental. No allocation.
 */
#ifndef CS_CRYPTO_HASH_H
#define CS_CRYPTO_HASH_H

#include "base/buf.h"

#include <openssl/sha.h>

typedef enum cs_hash_alg {
    CS_HASH_SHA256 = 1,
    CS_HASH_SHA384 = 2,
    CS_HASH_SHA512 = 3,
} cs_hash_alg;

#define CS_SHA256_LEN   32
#define CS_SHA384_LEN   48
#define CS_SHA512_LEN   64
#define CS_HASH_MAX_LEN 64

/* Digest length in bytes (0 for an unknown algorithm). */
size_t cs_hash_len(cs_hash_alg alg);
const char *cs_hash_name(cs_hash_alg alg);

void cs_sha256(cs_slice data, uint8_t out[CS_SHA256_LEN]);
void cs_sha384(cs_slice data, uint8_t out[CS_SHA384_LEN]);
/* SHA-256 over the concatenation of `n` parts. */
void cs_sha256_parts(const cs_slice *parts, size_t n, uint8_t out[CS_SHA256_LEN]);
/* HMAC-SHA256 (RFC 2104, RFC 4231) of the concatenation of `parts` under `key`. */
void cs_hmac_sha256_parts(cs_slice key, const cs_slice *parts, size_t n,
                          uint8_t out[CS_SHA256_LEN]);
/* Any algorithm, one shot; `out` must hold cs_hash_len(alg) bytes. */
CS_MUST_CHECK consort_err cs_hash(cs_hash_alg alg, cs_slice data, uint8_t *out);

typedef struct cs_hash_ctx {
    cs_hash_alg alg;
    union {
        SHA256_CTX sha256;
        SHA512_CTX sha512; /* also SHA-384 */
    } u;
} cs_hash_ctx;

CS_MUST_CHECK consort_err cs_hash_init(cs_hash_ctx *ctx, cs_hash_alg alg);
void cs_hash_update(cs_hash_ctx *ctx, cs_slice data);
/* Writes cs_hash_len(alg) bytes and wipes the context. */
void cs_hash_final(cs_hash_ctx *ctx, uint8_t *out);

#endif
