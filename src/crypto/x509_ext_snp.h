/*
 * Certificate details the SEV-SNP verifier needs beyond crypto/x509.h:
 * typed values of private extensions (AMD's VCEK/VLEK extensions hold a DER
 * INTEGER or IA5String inside extnValue), subject/issuer common names and
 * name chaining, and the exact signature scheme of a certificate.
 *
 * Everything borrows the certificate; nothing is allocated for the caller.
 */
#ifndef CS_CRYPTO_X509_EXT_SNP_H
#define CS_CRYPTO_X509_EXT_SNP_H

#include "crypto/x509.h"

/*
 * The extension `oid` (dotted) decoded as one DER INTEGER in 0..UINT64_MAX,
 * with nothing after it. CONSORT_E_NOT_FOUND if absent, CONSORT_E_MALFORMED
 * if it is not such an INTEGER (negative, too wide, other type, trailing bytes).
 */
CS_MUST_CHECK consort_err cs_x509_ext_uint(const cs_x509 *cert, const char *oid, uint64_t *out);

/*
 * The extension `oid` decoded as one DER IA5String of printable ASCII,
 * copied NUL-terminated into out[n]. CONSORT_E_NOT_FOUND if absent,
 * CONSORT_E_MALFORMED for another type, control characters or trailing
 * bytes, CONSORT_E_TOO_LARGE if it does not fit in `n` bytes with its NUL.
 */
CS_MUST_CHECK consort_err cs_x509_ext_ia5(const cs_x509 *cert, const char *oid, char *out,
                                          size_t n);

/*
 * The single commonName of the subject (or issuer) as printable text in
 * out[n]. CONSORT_E_NOT_FOUND if there is none, CONSORT_E_MALFORMED if
 * there are several or it is not printable, CONSORT_E_TOO_LARGE if too long.
 */
CS_MUST_CHECK consort_err cs_x509_ext_subject_cn(const cs_x509 *cert, char *out, size_t n);
CS_MUST_CHECK consort_err cs_x509_ext_issuer_cn(const cs_x509 *cert, char *out, size_t n);

/* True iff `child`'s issuer name equals `parent`'s subject name (RFC 5280 §7.1). */
bool cs_x509_ext_name_chains(const cs_x509 *child, const cs_x509 *parent);
/* True iff both certificates have the same subject name. */
bool cs_x509_ext_same_subject(const cs_x509 *a, const cs_x509 *b);
/* True iff subject and issuer names are equal (self-issued, RFC 5280 §3.2). */
bool cs_x509_ext_self_issued(const cs_x509 *cert);

/*
 * CONSORT_OK iff `cert` is signed with RSASSA-PSS using SHA-384, MGF1 with
 * SHA-384, a 48-byte salt and trailer field 1 (RFC 4055 §3.1), as every AMD
 * SEV certificate is; CONSORT_E_BAD_CERTIFICATE naming what differs.
 */
CS_MUST_CHECK consort_err cs_x509_ext_require_rsa_pss_sha384(const cs_x509 *cert);

#endif
