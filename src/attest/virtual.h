/*
 * The `virtual` platform (DESIGN.md "Platforms"): a software attester for
 * development, CI and the demo. LOUDLY INSECURE: the platform key is an
 * ordinary file on the host, so whoever can read it can forge evidence for
 * any code id. It exercises the same evidence/verifier/policy path as the
 * hardware platforms, and nothing more.
 *
 * A platform is a directory holding
 *   platform_key.pem   ECDSA P-256 private key (PKCS#8, mode 0600)
 *   platform_cert.pem  self-signed certificate for it,
 *                      CN "consort virtual platform <hex of key id[0..8)>",
 *                      valid for 10 years from creation.
 *
 * Report (docs/formats.md "Virtual report"), all integers little-endian:
 *     0  magic "CSVIRT01"        8 bytes
 *     8  version u32             = 1
 *    12  flags u32               bit 0 = debug, all other bits 0
 *    16  security_version u32
 *    20  reserved u32            = 0
 *    24  code_id                 32 bytes
 *    56  report_data             64 bytes
 *   120  platform_key_id         32 bytes = SHA-256(DER SPKI of the platform key)
 *   152  signature               64 bytes = ECDSA P-256 r||s over SHA-256(bytes 0..151)
 *   216  end
 */
#ifndef CS_ATTEST_VIRTUAL_H
#define CS_ATTEST_VIRTUAL_H

#include "attest/evidence.h"
#include "crypto/x509.h"

#define CS_VIRTUAL_KEY_FILE  "platform_key.pem"
#define CS_VIRTUAL_CERT_FILE "platform_cert.pem"

#define CS_VIRTUAL_MAGIC      "CSVIRT01"
#define CS_VIRTUAL_VERSION    1u
#define CS_VIRTUAL_FLAG_DEBUG 1u
#define CS_VIRTUAL_SIGNED_LEN 152
#define CS_VIRTUAL_REPORT_LEN 216
#define CS_VIRTUAL_CERT_DAYS  3652 /* 10 years, leap days included */

/* The fields of a report, decoded (no claim about its genuineness). */
typedef struct cs_virtual_report {
    uint32_t version;
    uint32_t flags;
    uint32_t security_version;
    uint32_t reserved;
    uint8_t code_id[32];
    uint8_t report_data[64];
    uint8_t platform_key_id[32];
    uint8_t signature[64];
} cs_virtual_report;

/*
 * Decodes the structure of a report: exact length, magic, version, flag bits
 * and reserved field. Does not verify the signature (the verifier does).
 * Errors: CONSORT_E_MALFORMED / CONSORT_E_UNSUPPORTED naming the field and
 * the value found.
 */
CS_MUST_CHECK consort_err cs_virtual_report_parse(cs_slice in, cs_virtual_report *out);

/* ---- the attester ---- */

typedef struct cs_virtual_platform cs_virtual_platform;

/*
 * Creates a new platform key and certificate in memory, the certificate
 * valid from `now` for CS_VIRTUAL_CERT_DAYS (no I/O).
 */
CS_MUST_CHECK consort_err cs_virtual_platform_generate(int64_t now, cs_virtual_platform **out);

/*
 * Creates a platform in `dir` (made with mode 0700 if missing): generates
 * the key and certificate and writes both files (key mode 0600). If either
 * file exists it fails with CONSORT_E_STATE unless `force` is set, in which
 * case both are replaced. `*out` receives the new platform (caller frees).
 */
CS_MUST_CHECK consort_err cs_virtual_platform_init(const char *dir, bool force,
                                                   cs_virtual_platform **out);

/*
 * Loads the platform in `dir`. Fails with CONSORT_E_NOT_FOUND if a file is
 * missing and CONSORT_E_CORRUPT if the key is not P-256 or the certificate
 * does not hold the key's public half.
 */
CS_MUST_CHECK consort_err cs_virtual_platform_open(const char *dir, cs_virtual_platform **out);

void cs_virtual_platform_free(cs_virtual_platform *p);

/* SHA-256 of the platform key's DER SubjectPublicKeyInfo (32 bytes, borrowed). */
const uint8_t *cs_virtual_platform_key_id(const cs_virtual_platform *p);
/* The platform certificate (borrowed, valid while `p` lives). */
const cs_x509 *cs_virtual_platform_cert(const cs_virtual_platform *p);
/* Its DER encoding (borrowed, valid while `p` lives). */
cs_slice cs_virtual_platform_cert_der(const cs_virtual_platform *p);

/*
 * Produces evidence for `code_id`, `security_version` and `debug`, binding
 * `report_data` (see cs_report_data_bind): a signed report as above, in an
 * envelope with platform "virtual", evidence = the report and endorsements
 * = [the platform certificate, DER]. `out` must be initialised; its previous
 * contents are replaced.
 */
CS_MUST_CHECK consort_err cs_virtual_attest(const cs_virtual_platform *platform,
                                            const uint8_t code_id[32], uint32_t security_version,
                                            bool debug, const uint8_t report_data[64],
                                            cs_evidence *out);

/* ---- the verifier ---- */

/*
 * The verifier (registry.c). opts->anchors holds the trusted platform
 * certificates (PEM, possibly several per blob, or DER) and is required;
 * opts->now must lie in the matching certificate's validity period. Every
 * certificate among the endorsements must be a trusted platform certificate,
 * and one with the report's platform key must be byte-identical to its
 * anchor. Blobs that hold no certificate (anchors or endorsements) are not
 * for this verifier and are skipped; they can add no trust.
 * Claims: code_id, security_version, debug, report_data; extra claims
 * "platform_key_id" (hex) and "insecure" (true).
 */
extern const cs_verifier cs_virtual_verifier;

#endif
