/*
 * Asymmetric keys and ECDSA.
 *
 * A cs_key holds a public key, optionally with its private half. consort
 * creates ECDSA keys on P-256 (default) and P-384; it verifies ECDSA on P-256,
 * P-384 and P-521, and can hold any key OpenSSL parses (RSA keys appear in
 * certificate chains and TPM attestation keys).
 *
 * Signatures come in two encodings: DER (ASN.1 Ecdsa-Sig-Value, as in X.509
 * and TLS) and raw r||s, each integer big-endian and left-padded to the
 * curve's field size (as in COSE, RFC 9053 §2.1, and JWS).
 */
#ifndef CS_CRYPTO_KEY_H
#define CS_CRYPTO_KEY_H

#include "crypto/hash.h"

typedef enum cs_curve {
    CS_CURVE_NONE = 0, /* not an EC key */
    CS_CURVE_P256 = 1,
    CS_CURVE_P384 = 2,
    CS_CURVE_P521 = 3,
} cs_curve;

typedef enum cs_sig_format {
    CS_SIG_DER = 0,
    CS_SIG_RAW = 1, /* r || s */
} cs_sig_format;

typedef struct cs_key cs_key;

const char *cs_curve_name(cs_curve c);
/* Size in bytes of one coordinate / scalar (32, 48, 66). */
size_t cs_curve_field_len(cs_curve c);
/* Parses "P-256"/"p256"/"secp256r1"/"prime256v1" and the P-384 equivalents. */
CS_MUST_CHECK consort_err cs_curve_parse(const char *s, cs_curve *out);

/* Generates a fresh ECDSA key pair on `curve` (P-256 or P-384). */
CS_MUST_CHECK consort_err cs_key_generate(cs_curve curve, cs_key **out);
/* Parses a PEM private key (PKCS#8 or SEC1) or public key (SubjectPublicKeyInfo). */
CS_MUST_CHECK consort_err cs_key_from_pem(cs_slice pem, cs_key **out);
/* Parses a DER SubjectPublicKeyInfo. */
CS_MUST_CHECK consort_err cs_key_from_spki_der(cs_slice der, cs_key **out);
/*
 * An EC public key from its affine coordinates (each exactly the field size),
 * and optionally the private scalar `d` (empty slice for none). The point must
 * be on the curve.
 */
CS_MUST_CHECK consort_err cs_key_from_ec_coords(cs_curve curve, cs_slice x, cs_slice y, cs_slice d,
                                                cs_key **out);
/* Reads a PEM key file (at most 64 KiB). */
CS_MUST_CHECK consort_err cs_key_load_pem_file(const char *path, cs_key **out);
void cs_key_free(cs_key *key);

/* A new reference to the same key (keys are immutable and reference counted). */
cs_key *cs_key_ref(cs_key *key);

bool cs_key_has_private(const cs_key *key);
cs_curve cs_key_curve(const cs_key *key);
/* "EC", "RSA", ... */
const char *cs_key_type_name(const cs_key *key);

/* Appends the DER SubjectPublicKeyInfo to `out`. */
CS_MUST_CHECK consort_err cs_key_spki_der(const cs_key *key, cs_buf *out);
/* Appends the public key as PEM ("PUBLIC KEY"). */
CS_MUST_CHECK consort_err cs_key_public_pem(const cs_key *key, cs_buf *out);
/* Appends the private key as PKCS#8 PEM; `out` should be a secret buffer. */
CS_MUST_CHECK consort_err cs_key_private_pem(const cs_key *key, cs_buf *out);
/* The private key as PKCS#8 DER (RFC 5208), appended to `out` (make it a
 * secret buffer). INVALID_ARGUMENT for a public key. */
CS_MUST_CHECK consort_err cs_key_private_der(const cs_key *key, cs_buf *out);
/* SHA-256 of the DER SubjectPublicKeyInfo: the key id used in receipts. */
CS_MUST_CHECK consort_err cs_key_id(const cs_key *key, uint8_t out[CS_SHA256_LEN]);
/* True if `a` and `b` are the same public key (their private halves, if
 * any, are not compared). */
bool cs_key_same_public(const cs_key *a, const cs_key *b);

/* Signs SHA-`hash`(msg) with ECDSA; appends the signature to `sig`. */
CS_MUST_CHECK consort_err cs_ecdsa_sign(const cs_key *key, cs_hash_alg hash, cs_slice msg,
                                        cs_sig_format fmt, cs_buf *sig);
/* Signs a precomputed digest. */
CS_MUST_CHECK consort_err cs_ecdsa_sign_digest(const cs_key *key, cs_slice digest,
                                               cs_sig_format fmt, cs_buf *sig);
/* CONSORT_OK iff `sig` is a valid ECDSA signature over SHA-`hash`(msg);
 * CONSORT_E_BAD_SIGNATURE otherwise (including a malformed signature). */
CS_MUST_CHECK consort_err cs_ecdsa_verify(const cs_key *key, cs_hash_alg hash, cs_slice msg,
                                          cs_sig_format fmt, cs_slice sig);
CS_MUST_CHECK consort_err cs_ecdsa_verify_digest(const cs_key *key, cs_slice digest,
                                                 cs_sig_format fmt, cs_slice sig);
/* Converts between encodings for a curve. */
CS_MUST_CHECK consort_err cs_ecdsa_sig_der_to_raw(cs_curve curve, cs_slice der, cs_buf *raw);
CS_MUST_CHECK consort_err cs_ecdsa_sig_raw_to_der(cs_slice raw, cs_buf *der);

/*
 * ECDH (SP 800-56A §5.7.1.2, the x coordinate of the shared point) between
 * `priv` (with its private half) and `peer` (a public key on the same
 * curve); appends the shared secret (the field size: 32 bytes on P-256) to
 * `out`, which should be a secret buffer. Derive keys from it with HKDF,
 * never use it directly. INVALID_ARGUMENT without a private half or for
 * different curves; CRYPTO if OpenSSL refuses (e.g. an invalid point).
 */
CS_MUST_CHECK consort_err cs_key_ecdh(const cs_key *priv, const cs_key *peer, cs_buf *out);

/* For src/crypto only: the OpenSSL key (borrowed). */
struct evp_pkey_st;
struct evp_pkey_st *cs_key_pkey(const cs_key *key);
/* For src/crypto only: wraps `pkey`, taking ownership of one reference. */
CS_MUST_CHECK consort_err cs_key_wrap(struct evp_pkey_st *pkey, cs_key **out);

#endif
