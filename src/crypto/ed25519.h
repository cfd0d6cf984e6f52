/*
 * Ed25519 signature verification (RFC 8032 §5.1.7), as in-toto and
 * securesystemslib keys of type "ed25519" use it: a raw 32-byte public key
 * and a 64-byte signature over the message itself (no prehash).
 */
#ifndef CS_CRYPTO_ED25519_H
#define CS_CRYPTO_ED25519_H

#include "base/buf.h"

#define CS_ED25519_PUBLIC_LEN 32
#define CS_ED25519_SIG_LEN    64

/*
 * CONSORT_OK iff `sig` is a valid Ed25519 signature over `msg` by the raw
 * public key `pub`. CONSORT_E_BAD_SIGNATURE if it does not verify or is not
 * 64 bytes long; CONSORT_E_MALFORMED if `pub` is not 32 bytes or not a
 * point OpenSSL accepts; CONSORT_E_CRYPTO if OpenSSL fails otherwise.
 */
CS_MUST_CHECK consort_err cs_ed25519_verify(cs_slice pub, cs_slice msg, cs_slice sig);

#endif
