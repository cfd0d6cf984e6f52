/*
 * in-toto 1.x public keys and signatures, as securesystemslib 0.26 defines
 * them (securesystemslib/keys.py):
 *
 *   {"keytype": "ed25519", "scheme": "ed25519",
 *    "keyval": {"public": "<64 hex digits>"}}
 *   {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384",
 *    "keyval": {"public": "<PEM SubjectPublicKeyInfo>"}}
 *   {"keytype": "rsa", "scheme": "rsassa-pss-sha256",
 *    "keyval": {"public": "<PEM SubjectPublicKeyInfo>"}}
 *
 * optionally with "keyid", "keyid_hash_algorithms" and an empty
 * "keyval"."private" (in-toto writes all three into layouts).
 *
 * Key id (securesystemslib keys._get_keyid): lower-case hex SHA-256 of the
 * canonical JSON of
 *   {"keyid_hash_algorithms": ["sha256", "sha512"], "keytype": T,
 *    "keyval": {"public": P}, "scheme": S}
 * -- always that list of hash algorithms (settings.HASH_ALGORITHMS), whatever
 * the key object itself says, and never the private part.
 *
 * Signatures ({"keyid", "sig": hex}): ed25519 over the message; ECDSA, DER
 * encoded, over SHA-256 (nistp256) or SHA-384 (nistp384) of the message;
 * RSASSA-PSS with MGF1 and SHA-256, any salt length (securesystemslib
 * verifies with PSS.AUTO).
 */
#ifndef CS_SUPPLY_INTOTO_KEY_H
#define CS_SUPPLY_INTOTO_KEY_H

#include "crypto/key.h"

#include <jansson.h>

#define CS_INTOTO_KEYID_HEX 64

typedef enum cs_intoto_scheme {
    CS_INTOTO_ED25519 = 1,
    CS_INTOTO_ECDSA_P256 = 2,
    CS_INTOTO_ECDSA_P384 = 3,
    CS_INTOTO_RSA_PSS_SHA256 = 4,
} cs_intoto_scheme;

typedef struct cs_intoto_key {
    char keyid[CS_INTOTO_KEYID_HEX + 1];
    cs_intoto_scheme scheme;
    uint8_t ed25519[32]; /* CS_INTOTO_ED25519 */
    cs_key *key;         /* the ECDSA and RSA schemes */
} cs_intoto_key;

/*
 * Parses a key object and computes its key id. Members other than those
 * above are refused; so is a "keyid" member that differs from the computed
 * id, or from `expected_keyid` when that is not NULL (the layout's
 * "keys" map names each key by its id). CONSORT_E_UNSUPPORTED names an
 * unknown keytype or scheme, or a key whose curve does not fit its scheme;
 * CONSORT_E_MALFORMED any other defect. Call cs_intoto_key_cleanup after.
 */
CS_MUST_CHECK consort_err cs_intoto_key_parse(const json_t *obj, const char *expected_keyid,
                                              cs_intoto_key *out);
void cs_intoto_key_cleanup(cs_intoto_key *key);

/* The key id of a key object's parts (used by cs_intoto_key_parse). */
CS_MUST_CHECK consort_err cs_intoto_keyid(const char *keytype, const char *scheme,
                                          const char *public_value,
                                          char out[CS_INTOTO_KEYID_HEX + 1]);

/*
 * Verifies the hex signature `sig_hex` over `msg` with `key`.
 * CONSORT_E_BAD_SIGNATURE if it does not verify; CONSORT_E_MALFORMED if
 * `sig_hex` is not hex.
 */
CS_MUST_CHECK consort_err cs_intoto_key_verify(const cs_intoto_key *key, cs_slice msg,
                                               const char *sig_hex);

/*
 * The key object in-toto-verify makes of an RSA public key file
 * (`--layout-keys key.pub -t rsa`; securesystemslib
 * import_rsakey_from_public_pem): the text from "-----BEGIN PUBLIC KEY-----"
 * to the end of "-----END PUBLIC KEY-----", CRLF turned into LF, as
 * {"keytype": "rsa", "scheme": "rsassa-pss-sha256",
 *  "keyval": {"public": <that>, "private": ""}}, appended to `json_out` as
 * JSON (for cs_intoto_verify's layout keys). CONSORT_E_MALFORMED without
 * the header or footer.
 */
CS_MUST_CHECK consort_err cs_intoto_rsa_pem_key_json(cs_slice pem, cs_buf *json_out);

const char *cs_intoto_scheme_name(cs_intoto_scheme s);

#endif
