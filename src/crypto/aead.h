/*
 * AES-256-GCM (NIST SP 800-38D) with 12-byte nonces and 16-byte tags, and
 * HKDF-SHA256 (RFC 5869).
 */
#ifndef CS_CRYPTO_AEAD_H
#define CS_CRYPTO_AEAD_H

#include "base/buf.h"

#define CS_AEAD_KEY_LEN   32
#define CS_AEAD_NONCE_LEN 12
#define CS_AEAD_TAG_LEN   16

/*
 * Encrypts `plain` with associated data `aad`; appends ciphertext || tag
 * (plain.len + 16 bytes) to `out`. The caller guarantees the nonce is never
 * reused under the same key.
 */
CS_MUST_CHECK consort_err cs_aead_seal(const uint8_t key[CS_AEAD_KEY_LEN],
                                       const uint8_t nonce[CS_AEAD_NONCE_LEN], cs_slice aad,
                                       cs_slice plain, cs_buf *out);
/*
 * Verifies and decrypts ciphertext || tag; appends the plaintext to `out`.
 * CONSORT_E_BAD_TAG if anything (key, nonce, aad, ciphertext, tag) was altered;
 * nothing is appended then.
 */
CS_MUST_CHECK consort_err cs_aead_open(const uint8_t key[CS_AEAD_KEY_LEN],
                                       const uint8_t nonce[CS_AEAD_NONCE_LEN], cs_slice aad,
                                       cs_slice sealed, cs_buf *out);

/* HKDF-SHA256 extract-and-expand: fills out[0..out_len) (out_len <= 255 * 32). */
CS_MUST_CHECK consort_err cs_hkdf_sha256(cs_slice ikm, cs_slice salt, cs_slice info,
                                         uint8_t *out, size_t out_len);

#endif
