/* Randomness from OpenSSL's CSPRNG, and constant-time comparison. */
#ifndef CS_CRYPTO_RAND_H
#define CS_CRYPTO_RAND_H

#include "base/buf.h"

/* Fills `out` with `len` cryptographically secure random bytes. */
CS_MUST_CHECK consort_err cs_random(void *out, size_t len);

/* True iff a and b are equal; time depends only on the lengths. */
bool cs_ct_equal(cs_slice a, cs_slice b);

/* Turns OpenSSL's error queue into a consort error: `code` with a message
 * "<what>: <OpenSSL's reason>", and clears the queue. For use in src/crypto. */
consort_err cs_ossl_fail(consort_err code, const char *what);

#endif
