/*
 * Generic signatures: RSASSA-PKCS1-v1_5, RSASSA-PSS and ECDSA behind one call,
 * for formats that name their scheme in the data (TPM 2.0 TPMT_SIGNATURE,
 * JWS, ...). ECDSA goes through key.h; this file adds the RSA schemes and RSA
 * public keys built from their modulus and exponent.
 *
 * Verification fails closed: a wrong key type, a signature of the wrong
 * length, an RSA modulus under CS_SIG_RSA_MIN_BITS or an unsupported hash is
 * an error, never a pass.
 */
#ifndef CS_CRYPTO_SIG_H
#define CS_CRYPTO_SIG_H

#include "crypto/key.h"

typedef enum cs_sig_alg {
    CS_SIG_RSA_PKCS1 = 1, /* RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) */
    CS_SIG_RSA_PSS = 2,   /* RSASSA-PSS (RFC 8017 §8.1), MGF1 with the message hash */
    CS_SIG_ECDSA = 3,     /* ECDSA (FIPS 186-4), raw r || s as in key.h */
} cs_sig_alg;

/* Smallest RSA modulus accepted for verification and generation. */
#define CS_SIG_RSA_MIN_BITS 2048
/* Largest RSA modulus accepted (bounds every signature buffer). */
#define CS_SIG_RSA_MAX_BITS 4096

const char *cs_sig_alg_name(cs_sig_alg alg);

/*
 * CONSORT_OK iff `sig` is a valid `alg` signature over SHA-`hash`(msg) by
 * `key`. CONSORT_E_BAD_SIGNATURE if it does not verify (including a
 * signature of the wrong length); CONSORT_E_INVALID_ARGUMENT if the key type
 * does not fit `alg`; CONSORT_E_UNSUPPORTED for an RSA modulus outside
 * [CS_SIG_RSA_MIN_BITS, CS_SIG_RSA_MAX_BITS].
 * RSA-PSS accepts any salt length (it is recovered from the encoded message,
 * RFC 8017 §9.1.2 step 10), because TPMs differ: some use the hash length,
 * some the maximum.
 */
CS_MUST_CHECK consort_err cs_sig_verify(const cs_key *key, cs_sig_alg alg, cs_hash_alg hash,
                                        cs_slice msg, cs_slice sig);

/*
 * Signs SHA-`hash`(msg) with the private `key` and appends the signature to
 * `sig` (RSA: modulus-sized; PSS with a salt as long as the hash; ECDSA: raw
 * r || s). Mostly for tests and tools.
 */
CS_MUST_CHECK consort_err cs_sig_sign(const cs_key *key, cs_sig_alg alg, cs_hash_alg hash,
                                      cs_slice msg, cs_buf *sig);

/* An RSA public key from its big-endian modulus and public exponent. */
CS_MUST_CHECK consort_err cs_key_from_rsa(cs_slice n, cs_slice e, cs_key **out);
/* Generates an RSA key pair of `bits` (2048..4096) with exponent 65537. */
CS_MUST_CHECK consort_err cs_key_generate_rsa(unsigned bits, cs_key **out);
/* RSA modulus size in bits, 0 if `key` is not an RSA key. */
unsigned cs_key_rsa_bits(const cs_key *key);

#endif
