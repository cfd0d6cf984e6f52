/*
 * Shared by cose_header.c, cose.c and cose_sign.c only (not part of the
 * COSE API in cose.h).
 */
#ifndef CS_CRYPTO_COSE_PRIV_H
#define CS_CRYPTO_COSE_PRIV_H

#include "base/cbor.h"
#include "crypto/cose.h"

/* What consort knows about one COSE algorithm. */
typedef struct cs_cose_alg_info {
    cs_cose_alg alg;
    const char *name;
    cs_hash_alg hash;
    cs_curve sign_curve; /* the curve consort signs with; NONE = verify only */
} cs_cose_alg_info;

/* The entry for `alg`, or NULL if consort does not support it. */
const cs_cose_alg_info *cs_cose_alg_lookup(int64_t alg);

/*
 * Reads one header map at the reader's position (the reader ends after it).
 * Same rules as cs_cose_headers_parse; `out->raw` is the map's bytes.
 */
CS_MUST_CHECK consort_err cs_cose_headers_read(cs_cbor_reader *r, cs_cose_headers *out);

/* The entry for `label`, or NULL. Never sets an error message. */
const cs_cose_header *cs_cose_headers_lookup(const cs_cose_headers *h, cs_cose_label label);

/* A label for messages: `4` or `"text"` (truncated, non-printables as '?'). */
void cs_cose_label_str(cs_cose_label label, char *out, size_t n);

/*
 * Hashes the Sig_structure ["Signature1", protected, aad, payload] (RFC 9052
 * §4.4) piece by piece, without assembling it; `digest` receives
 * cs_hash_len(hash) bytes.
 */
CS_MUST_CHECK consort_err cs_cose_tbs_hash(cs_hash_alg hash, cs_slice protected_bstr,
                                           cs_slice external_aad, cs_slice payload,
                                           uint8_t *digest);

#endif
