/*
 * RSA key generation and RSAES-OAEP (RFC 8017 §7.1) with SHA-256 as both
 * the hash and the MGF1 hash ("RSA-OAEP-256" in JOSE terms, RFC 7518
 * §4.3): the public-key encryption used for members' recovery-share keys
 * (docs/recovery.md "Recovery shares").
 *
 * Keys are ordinary cs_key objects (crypto/key.h), so PEM parsing and
 * encoding are shared with the signing keys.
 */
#ifndef CS_CRYPTO_RSA_OAEP_H
#define CS_CRYPTO_RSA_OAEP_H

#include "crypto/key.h"

/* Modulus sizes accepted for encryption (bits). */
#define CS_RSA_MIN_BITS 2048
#define CS_RSA_MAX_BITS 8192
/* SHA-256 OAEP overhead: 2 * 32 + 2 bytes of the modulus. */
#define CS_RSA_OAEP_OVERHEAD 66

/* Generates an RSA key with public exponent 65537 and `bits` (2048..8192,
 * a multiple of 1024). Errors: INVALID_ARGUMENT, CRYPTO, NOMEM. */
CS_MUST_CHECK consort_err cs_rsa_generate(unsigned bits, cs_key **out);

/* The modulus size in bits of an RSA key, 0 for any other key type. */
size_t cs_rsa_bits(const cs_key *key);

/*
 * Encrypts `plain` to the RSA public key with OAEP-SHA-256 and `label` (the
 * OAEP label L, empty for none); appends the ciphertext (exactly the
 * modulus size in bytes) to `out`. INVALID_ARGUMENT for a key that is not
 * RSA, outside [CS_RSA_MIN_BITS, CS_RSA_MAX_BITS], or a plaintext longer
 * than modulus bytes - CS_RSA_OAEP_OVERHEAD; CRYPTO, NOMEM, TOO_LARGE.
 * On failure `out` is as it was.
 */
CS_MUST_CHECK consort_err cs_rsa_oaep_encrypt(const cs_key *key, cs_slice label, cs_slice plain,
                                              cs_buf *out);

/*
 * Decrypts an OAEP-SHA-256 ciphertext with the RSA private key and the same
 * `label`; appends the plaintext to `out` (make it a secret buffer).
 * BAD_TAG when the ciphertext does not decrypt under this key and label
 * (another key, an altered byte: OAEP's padding check); MALFORMED when its
 * length is not the modulus size; INVALID_ARGUMENT for a key that is not an
 * RSA private key in range; NOMEM, TOO_LARGE. On failure `out` is as it
 * was (bytes written are wiped).
 */
CS_MUST_CHECK consort_err cs_rsa_oaep_decrypt(const cs_key *key, cs_slice label, cs_slice cipher,
                                              cs_buf *out);

#endif
