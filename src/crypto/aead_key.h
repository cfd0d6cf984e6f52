/*
 * A kept AES-256-GCM key (aead.h): the key schedule is computed once and the
 * OpenSSL contexts are reused, so sealing many small messages under one key
 * costs only the cipher itself (the sealed blobs of src/sealing, whose
 * throughput goal is 90% of raw AES-GCM). Same format and errors as
 * cs_aead_seal / cs_aead_open.
 *
 * Not thread-safe: one cs_aead_key is used by one thread at a time.
 */
#ifndef CS_CRYPTO_AEAD_KEY_H
#define CS_CRYPTO_AEAD_KEY_H

#include "crypto/aead.h"

typedef struct cs_aead_key cs_aead_key;

/* A kept key holding a copy of `key` (wiped by cs_aead_key_free). */
CS_MUST_CHECK consort_err cs_aead_key_new(const uint8_t key[CS_AEAD_KEY_LEN], cs_aead_key **out);
/* Wipes and frees; NULL is a no-op. */
void cs_aead_key_free(cs_aead_key *k);
/* As cs_aead_seal, under the kept key. */
CS_MUST_CHECK consort_err cs_aead_key_seal(cs_aead_key *k, const uint8_t nonce[CS_AEAD_NONCE_LEN],
                                           cs_slice aad, cs_slice plain, cs_buf *out);
/* As cs_aead_open, under the kept key (BAD_TAG, nothing appended, on any change). */
CS_MUST_CHECK consort_err cs_aead_key_open(cs_aead_key *k, const uint8_t nonce[CS_AEAD_NONCE_LEN],
                                           cs_slice aad, cs_slice sealed, cs_buf *out);

#endif
