/* in-toto / securesystemslib keys and signatures (intoto_key.h). */
#include "supply/intoto_key.h"

#include "crypto/ed25519.h"
#include "crypto/sig.h"
#include "supply/cjson.h"
#include "supply/intoto_json.h"

#include <stdlib.h>
#include <string.h>

/* A PEM public key (RSA 4096 is about 800 bytes). */
#define MAX_PUBLIC_LEN 4096
/* Hex of the largest signature: RSA-4096. */
#define MAX_SIG_HEX 1024

const char *cs_intoto_scheme_name(cs_intoto_scheme s)
{
    switch (s) {
    case CS_INTOTO_ED25519:
        return "ed25519";
    case CS_INTOTO_ECDSA_P256:
        return "ecdsa-sha2-nistp256";
    case CS_INTOTO_ECDSA_P384:
        return "ecdsa-sha2-nistp384";
    case CS_INTOTO_RSA_PSS_SHA256:
        return "rsassa-pss-sha256";
    }
    return "unknown";
}

consort_err cs_intoto_keyid(const char *keytype, const char *scheme, const char *public_value,
                            char out[CS_INTOTO_KEYID_HEX + 1])
{
    /* securesystemslib keys.format_keyval_to_metadata(private=False) */
    json_t *meta =
        json_pack("{s:s, s:s, s:[s,s], s:{s:s}}", "keytype", keytype, "scheme", scheme,
                  "keyid_hash_algorithms", "sha256", "sha512", "keyval", "public", public_value);
    CS_ENSURE(meta != NULL, CONSORT_E_NOMEM, "in-toto key id: building the key metadata");
    cs_buf canon;
    cs_buf_init(&canon, MAX_PUBLIC_LEN * 2);
    consort_err rc = cs_cjson_encode(meta, &canon);
    json_decref(meta);
    if (rc == CONSORT_OK) {
        uint8_t digest[CS_SHA256_LEN];
        cs_sha256(cs_buf_slice(&canon), digest);
        cs_hex_encode(CS_SLICE(digest, sizeof digest), out);
    }
    cs_buf_cleanup(&canon);
    return rc;
}

static consort_err parse_scheme(const char *keytype, const char *scheme, cs_intoto_scheme *out)
{
    /* securesystemslib keys.verify_signature accepts these keytype/scheme
     * pairs (keytype "ecdsa-sha2-nistp256"/"-nistp384" is a legacy alias). */
    bool ecdsa_type = strcmp(keytype, "ecdsa") == 0 ||
                      strcmp(keytype, "ecdsa-sha2-nistp256") == 0 ||
                      strcmp(keytype, "ecdsa-sha2-nistp384") == 0;
    if (strcmp(keytype, "ed25519") == 0 && strcmp(scheme, "ed25519") == 0)
        *out = CS_INTOTO_ED25519;
    else if (ecdsa_type && strcmp(scheme, "ecdsa-sha2-nistp256") == 0)
        *out = CS_INTOTO_ECDSA_P256;
    else if (ecdsa_type && strcmp(scheme, "ecdsa-sha2-nistp384") == 0)
        *out = CS_INTOTO_ECDSA_P384;
    else if (strcmp(keytype, "rsa") == 0 && strcmp(scheme, "rsassa-pss-sha256") == 0)
        *out = CS_INTOTO_RSA_PSS_SHA256;
    else
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "keytype \"%.32s\" with scheme \"%.32s\" unsupported, expected ed25519/"
                       "ed25519, ecdsa/ecdsa-sha2-nistp256, ecdsa/ecdsa-sha2-nistp384 or "
                       "rsa/rsassa-pss-sha256",
                       keytype, scheme);
    return CONSORT_OK;
}

/* obj[name], a string of at most `max` bytes. */
static consort_err string_member(const json_t *obj, const char *name, size_t max, const char **out)
{
    const json_t *v = json_object_get(obj, name);
    CS_ENSURE(v != NULL, CONSORT_E_MALFORMED, "\"%s\" missing", name);
    return cs_intoto_json_string(v, name, max, out);
}

static consort_err load_public(cs_intoto_key *out, const char *public_value)
{
    if (out->scheme == CS_INTOTO_ED25519) {
        CS_ENSURE(strlen(public_value) == 64, CONSORT_E_MALFORMED,
                  "ed25519 public key of %zu hex digits, expected 64", strlen(public_value));
        return cs_hex_decode(public_value, out->ed25519, sizeof out->ed25519);
    }
    CS_TRY(cs_key_from_pem(cs_slice_str(public_value), &out->key));
    CS_ENSURE(!cs_key_has_private(out->key), CONSORT_E_MALFORMED, "\"public\" holds a private key");
    cs_curve curve = cs_key_curve(out->key);
    switch (out->scheme) {
    case CS_INTOTO_ECDSA_P256:
    case CS_INTOTO_ECDSA_P384: {
        cs_curve want = out->scheme == CS_INTOTO_ECDSA_P256 ? CS_CURVE_P256 : CS_CURVE_P384;
        /* securesystemslib does not check the curve against the scheme; a
         * mismatch is refused here (the hash would not fit the curve). */
        CS_ENSURE(curve == want, CONSORT_E_UNSUPPORTED, "scheme %s with a %s key of curve %s",
                  cs_intoto_scheme_name(out->scheme), cs_key_type_name(out->key),
                  cs_curve_name(curve));
        return CONSORT_OK;
    }
    case CS_INTOTO_RSA_PSS_SHA256:
        CS_ENSURE(cs_key_rsa_bits(out->key) != 0, CONSORT_E_UNSUPPORTED,
                  "scheme rsassa-pss-sha256 with a %s key", cs_key_type_name(out->key));
        return CONSORT_OK;
    case CS_INTOTO_ED25519:
        break;
    }
    return cs_fail(CONSORT_E_UNSUPPORTED, "unknown scheme");
}

static consort_err parse_key(const json_t *obj, const char *expected_keyid, cs_intoto_key *out)
{
    static const char *const members[] = {"keytype", "scheme", "keyval", "keyid",
                                          "keyid_hash_algorithms"};
    CS_ENSURE(json_is_object(obj), CONSORT_E_MALFORMED, "key is not an object");
    CS_TRY(cs_intoto_json_allowed(obj, members, CS_ARRAY_LEN(members)));
    const char *keytype, *scheme, *public_value;
    CS_TRY(string_member(obj, "keytype", 64, &keytype));
    CS_TRY(string_member(obj, "scheme", 64, &scheme));
    const json_t *keyval = json_object_get(obj, "keyval");
    CS_ENSURE(json_is_object(keyval), CONSORT_E_MALFORMED, "\"keyval\" missing or not an object");
    static const char *const keyval_members[] = {"public", "private"};
    CS_TRY_CTX(cs_intoto_json_allowed(keyval, keyval_members, 2), "keyval");
    CS_TRY_CTX(string_member(keyval, "public", MAX_PUBLIC_LEN, &public_value), "keyval");
    const json_t *priv = json_object_get(keyval, "private");
    /* in-toto writes RSA public keys with "private": ""; anything else is a secret. */
    CS_ENSURE(priv == NULL || (json_is_string(priv) && json_string_length(priv) == 0),
              CONSORT_E_MALFORMED, "keyval: \"private\" must be absent or empty");
    const json_t *algs = json_object_get(obj, "keyid_hash_algorithms");
    if (algs != NULL) {
        CS_ENSURE(json_is_array(algs) && json_array_size(algs) <= 8, CONSORT_E_MALFORMED,
                  "\"keyid_hash_algorithms\" is not a list of at most 8 strings");
        for (size_t i = 0; i < json_array_size(algs); i++)
            CS_ENSURE(json_is_string(json_array_get(algs, i)), CONSORT_E_MALFORMED,
                      "\"keyid_hash_algorithms\"[%zu] is not a string", i);
    }
    CS_TRY(parse_scheme(keytype, scheme, &out->scheme));
    CS_TRY(cs_intoto_keyid(keytype, scheme, public_value, out->keyid));
    if (json_object_get(obj, "keyid") != NULL) {
        const char *stated;
        CS_TRY(string_member(obj, "keyid", 128, &stated));
        CS_ENSURE(strcmp(stated, out->keyid) == 0, CONSORT_E_MALFORMED,
                  "\"keyid\" %.64s is not the key's id %s", stated, out->keyid);
    }
    CS_ENSURE(expected_keyid == NULL || strcmp(expected_keyid, out->keyid) == 0,
              CONSORT_E_MALFORMED, "listed as %.64s but its key id is %s", expected_keyid,
              out->keyid);
    return load_public(out, public_value);
}

consort_err cs_intoto_key_parse(const json_t *obj, const char *expected_keyid, cs_intoto_key *out)
{
    memset(out, 0, sizeof *out);
    consort_err rc = parse_key(obj, expected_keyid, out);
    if (rc != CONSORT_OK) {
        cs_intoto_key_cleanup(out);
        return cs_err_context(rc, "in-toto key");
    }
    return CONSORT_OK;
}

void cs_intoto_key_cleanup(cs_intoto_key *key)
{
    if (key == NULL)
        return;
    cs_key_free(key->key);
    memset(key, 0, sizeof *key);
}

consort_err cs_intoto_key_verify(const cs_intoto_key *key, cs_slice msg, const char *sig_hex)
{
    size_t hex_len = strlen(sig_hex);
    CS_ENSURE(hex_len <= MAX_SIG_HEX, CONSORT_E_BAD_SIGNATURE,
              "signature of %zu hex digits, at most %d", hex_len, MAX_SIG_HEX);
    cs_buf sig;
    cs_buf_init(&sig, MAX_SIG_HEX / 2);
    consort_err rc = cs_hex_decode_buf(sig_hex, &sig);
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&sig);
        if (rc == CONSORT_E_NOMEM)
            return rc;
        return cs_fail(CONSORT_E_MALFORMED, "signature is not an even number of hex digits");
    }
    switch (key->scheme) {
    case CS_INTOTO_ED25519:
        rc =
            cs_ed25519_verify(CS_SLICE(key->ed25519, sizeof key->ed25519), msg, cs_buf_slice(&sig));
        break;
    case CS_INTOTO_ECDSA_P256:
        rc = cs_ecdsa_verify(key->key, CS_HASH_SHA256, msg, CS_SIG_DER, cs_buf_slice(&sig));
        break;
    case CS_INTOTO_ECDSA_P384:
        rc = cs_ecdsa_verify(key->key, CS_HASH_SHA384, msg, CS_SIG_DER, cs_buf_slice(&sig));
        break;
    case CS_INTOTO_RSA_PSS_SHA256:
        rc = cs_sig_verify(key->key, CS_SIG_RSA_PSS, CS_HASH_SHA256, msg, cs_buf_slice(&sig));
        break;
    default:
        rc = cs_fail(CONSORT_E_UNSUPPORTED, "scheme %d unsupported", (int)key->scheme);
    }
    cs_buf_cleanup(&sig);
    return rc;
}

/* The first occurrence of `needle` in s[from..], or SIZE_MAX. */
static size_t find(cs_slice s, size_t from, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = from; i + n <= s.len; i++)
        if (memcmp(s.ptr + i, needle, n) == 0)
            return i;
    return SIZE_MAX;
}

consort_err cs_intoto_rsa_pem_key_json(cs_slice pem, cs_buf *json_out)
{
    static const char header[] = "-----BEGIN PUBLIC KEY-----";
    static const char footer[] = "-----END PUBLIC KEY-----";
    CS_ENSURE(pem.len <= MAX_PUBLIC_LEN * 2, CONSORT_E_TOO_LARGE, "RSA PEM of %zu bytes", pem.len);
    /* securesystemslib keys.extract_pem(pem, private_pem=False) */
    size_t start = find(pem, 0, header);
    CS_ENSURE(start != SIZE_MAX, CONSORT_E_MALFORMED, "RSA PEM: \"%s\" not found", header);
    size_t end = find(pem, start + sizeof header - 1, footer);
    CS_ENSURE(end != SIZE_MAX, CONSORT_E_MALFORMED, "RSA PEM: \"%s\" not found", footer);
    end += sizeof footer - 1;
    cs_buf text;
    cs_buf_init(&text, MAX_PUBLIC_LEN * 2);
    consort_err rc = CONSORT_OK;
    for (size_t i = start; i < end && rc == CONSORT_OK; i++) {
        if (pem.ptr[i] == '\r' && i + 1 < end && pem.ptr[i + 1] == '\n')
            continue; /* .replace("\r\n", "\n") */
        rc = cs_buf_append_u8(&text, pem.ptr[i]);
    }
    json_t *obj = NULL;
    if (rc == CONSORT_OK) {
        obj =
            json_pack("{s:s, s:s, s:{s:s%, s:s}}", "keytype", "rsa", "scheme", "rsassa-pss-sha256",
                      "keyval", "public", (const char *)text.ptr, text.len, "private", "");
        if (obj == NULL)
            rc = cs_fail(CONSORT_E_MALFORMED, "RSA PEM: not text JSON can hold");
    }
    char *dumped = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (rc == CONSORT_OK && dumped == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "RSA PEM: key object");
    if (rc == CONSORT_OK)
        rc = cs_buf_append(json_out, dumped, strlen(dumped));
    free(dumped);
    json_decref(obj);
    cs_buf_cleanup(&text);
    return rc;
}
