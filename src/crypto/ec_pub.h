/*
 * EC public keys that arrive inside the data being verified (the
 * attestation key in a DCAP quote, a COSE_Key, ...), imported with the
 * validation NIST SP 800-56A Rev. 3 requires and nothing more.
 *
 * §5.6.2.3.3 (full public-key validation) is §5.6.2.3.4 (partial: Q is
 * not the point at infinity, its coordinates lie in [0, p-1], Q is on the
 * curve) plus step 4, nQ = O. On a curve of cofactor 1 (P-256, P-384,
 * P-521) every point of the curve other than O has order n, so step 4 can
 * never fail once the partial checks passed: it only costs a scalar
 * multiplication, as much as verifying a signature. This file does the
 * partial checks (OpenSSL's EVP_PKEY_public_check_quick), which on these
 * curves are the full validation; cs_key_from_ec_coords (key.h) also runs
 * step 4.
 */
#ifndef CS_CRYPTO_EC_PUB_H
#define CS_CRYPTO_EC_PUB_H

#include "crypto/key.h"

/*
 * An EC public key on `curve` (P-256, P-384 or P-521) from x || y, each
 * exactly the field size, big-endian. CONSORT_E_MALFORMED if the length is
 * wrong or the point is not a valid public key (message says which),
 * CONSORT_E_INVALID_ARGUMENT for an unknown curve, CONSORT_E_NOMEM.
 */
CS_MUST_CHECK consort_err cs_ecpub_from_xy(cs_curve curve, cs_slice xy, cs_key **out);

#endif
