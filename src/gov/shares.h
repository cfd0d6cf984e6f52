/*
 * Recovery shares (docs/recovery.md "Recovery shares").
 *
 * The ledger secret is split with Shamir's scheme over GF(2^8) (libgfshare)
 * into one share per member, share x-coordinates 1..n; any `threshold` of
 * them give the secret back, fewer give nothing. Each share is encrypted to
 * its member's encryption key with RSA-OAEP-256 (crypto/rsa_oaep.h).
 *
 * Every share is bound to its member, its index, the threshold and member
 * count, the service and a wrapping epoch (raised each time shares are
 * re-issued). The binding travels in a public header and, identically,
 * inside the encrypted payload, so it cannot be altered, and a share of one
 * wrapping cannot be mixed with another's.
 *
 * Formats (all integers big-endian):
 *
 *   header (CS_GOV_SHARE_HEADER_LEN = 81 bytes)
 *     0  4  magic "CSRS"
 *     4  1  version, 1
 *     5  1  threshold k            1 <= k <= n
 *     6  1  member count n         1 <= n <= 255
 *     7  1  share index x          1 <= x <= n
 *     8  1  secret length L        16 <= L <= 64
 *     9  8  wrapping epoch
 *    17 32  service id             (e.g. SHA-256 of the service certificate)
 *    49 32  member id              (SHA-256 of the member certificate's DER)
 *
 *   encrypted share  = header || RSA-OAEP-256(share)
 *   share (plain)    = header || check (32) || y (L)
 *     check = SHA-256("consort.recovery.share.check.v1" || epoch || service id
 *                     || k || n || L || secret), the same in every share of
 *             one wrapping: combining verifies the secret it rebuilt.
 *
 * The plain share is also what a member submits (POST /gov/recovery/share),
 * inside a signed request over TLS to an attested node.
 *
 * Pure functions over buffers, no I/O. Secret outputs are wiped on failure.
 */
#ifndef CS_GOV_SHARES_H
#define CS_GOV_SHARES_H

#include "base/buf.h"

#define CS_GOV_SHARE_ID_LEN     32
#define CS_GOV_SHARE_HEADER_LEN 81
#define CS_GOV_SHARE_CHECK_LEN  32
#define CS_GOV_SECRET_MIN       16
#define CS_GOV_SECRET_MAX       64
#define CS_GOV_SHARES_MAX       255
/* Largest plain share and largest encrypted share (8192-bit key). */
#define CS_GOV_SHARE_PLAIN_MAX                                                                     \
    (CS_GOV_SHARE_HEADER_LEN + CS_GOV_SHARE_CHECK_LEN + CS_GOV_SECRET_MAX)
#define CS_GOV_SHARE_ENC_MAX (CS_GOV_SHARE_HEADER_LEN + 1024)
/* Encryption keys made by cs_gov_enc_keygen. */
#define CS_GOV_ENC_KEY_BITS 3072

/* What a wrapping is bound to. */
typedef struct cs_gov_share_binding {
    uint8_t service_id[CS_GOV_SHARE_ID_LEN];
    uint64_t epoch;
} cs_gov_share_binding;

/* The public header of a share. */
typedef struct cs_gov_share_meta {
    cs_gov_share_binding binding;
    uint8_t member_id[CS_GOV_SHARE_ID_LEN];
    uint8_t threshold, count, index, secret_len;
} cs_gov_share_meta;

/* A decrypted share: secret. Wipe it with cs_gov_share_wipe after use. */
typedef struct cs_gov_share {
    cs_gov_share_meta meta;
    uint8_t check[CS_GOV_SHARE_CHECK_LEN];
    uint8_t y[CS_GOV_SECRET_MAX]; /* meta.secret_len bytes used */
} cs_gov_share;

/* One member to split for: its id and its encryption public key (PEM,
 * SubjectPublicKeyInfo of an RSA key of 2048..8192 bits), both borrowed. */
typedef struct cs_gov_share_recipient {
    uint8_t member_id[CS_GOV_SHARE_ID_LEN];
    cs_slice enc_pub_pem;
} cs_gov_share_recipient;

void cs_gov_share_wipe(cs_gov_share *share);

/*
 * Generates a member encryption key pair (RSA, CS_GOV_ENC_KEY_BITS bits),
 * appending the PKCS#8 private key PEM to `priv_pem` (make it a secret
 * buffer) and the SubjectPublicKeyInfo PEM to `pub_pem`. On failure both
 * are reset (wiped if secret). Errors: CRYPTO, NOMEM, TOO_LARGE.
 */
CS_MUST_CHECK consort_err cs_gov_enc_keygen(cs_buf *priv_pem, cs_buf *pub_pem);

/* Checks a member's encryption public key (PEM): an RSA key of
 * CS_RSA_MIN_BITS..CS_RSA_MAX_BITS bits. Errors: MALFORMED (does not
 * parse), INVALID_ARGUMENT (another key type or size). */
CS_MUST_CHECK consort_err cs_gov_enc_key_check(cs_slice pub_pem);

/*
 * Splits `secret` (CS_GOV_SECRET_MIN..MAX bytes; it must be uniformly
 * random, as a ledger secret is) into `n` shares, any `threshold` of which
 * recover it, member i receiving index i + 1; encrypts share i to
 * members[i]'s key. out[0..n) are caller-initialised buffers; on success
 * out[i] holds exactly member i's encrypted share (previous contents
 * replaced); on failure every out[i] is reset. Randomness: OpenSSL's CSPRNG
 * (for the polynomial, installed as libgfshare's gfshare_fill_rand).
 * Errors: INVALID_ARGUMENT (threshold 0 or > n, n 0 or > 255, secret
 * length, duplicate member ids, a key that is not RSA 2048..8192: the
 * message names the member), MALFORMED (a PEM that does not parse), CRYPTO,
 * NOMEM, TOO_LARGE.
 */
CS_MUST_CHECK consort_err cs_gov_shares_split(cs_slice secret, unsigned threshold,
                                              const cs_gov_share_binding *binding,
                                              const cs_gov_share_recipient *members, size_t n,
                                              cs_buf *out);

/* Reads the public header of an encrypted (or plain) share, without any
 * key. Errors: TRUNCATED, MALFORMED, UNSUPPORTED (version). */
CS_MUST_CHECK consort_err cs_gov_share_peek(cs_slice share, cs_gov_share_meta *out);

/*
 * The member's side: decrypts `encrypted` with the member's encryption
 * private key (PEM) into *out. BAD_TAG if the share was not encrypted to
 * this key or any byte of it was altered (public header included);
 * MALFORMED/TRUNCATED/TRAILING_DATA/UNSUPPORTED for a share that does not
 * parse; INVALID_ARGUMENT for a key that is not an RSA private key; NOMEM.
 * On failure *out is wiped (all zero).
 */
CS_MUST_CHECK consort_err cs_gov_share_decrypt(cs_slice priv_pem, cs_slice encrypted,
                                               cs_gov_share *out);

/* Appends the plain share (the submission form) to `out` (make it a secret
 * buffer). Errors: NOMEM, TOO_LARGE; on failure `out` is as it was. */
CS_MUST_CHECK consort_err cs_gov_share_encode(const cs_gov_share *share, cs_buf *out);
/* Strictly parses a plain share. Errors: TRUNCATED, TRAILING_DATA,
 * MALFORMED, UNSUPPORTED; on failure *out is wiped. */
CS_MUST_CHECK consort_err cs_gov_share_decode(cs_slice plain, cs_gov_share *out);

/*
 * The service's check of one submitted share: it belongs to `expect`'s
 * service and epoch, and to `member_id` (the member who signed the
 * submission). POLICY otherwise, naming the field and both values.
 */
CS_MUST_CHECK consort_err cs_gov_share_check(const cs_gov_share_meta *meta,
                                             const cs_gov_share_binding *expect,
                                             const uint8_t member_id[CS_GOV_SHARE_ID_LEN]);

/*
 * Rebuilds the secret from `count` decrypted shares of the wrapping
 * `expect` and appends it to `secret` (make it a secret buffer). Refuses
 * (POLICY) fewer shares than the threshold ("recovery: 2 of 3 shares: 1
 * short"), two shares with the same index or member, and shares whose
 * service, epoch, threshold, member count, secret length or check differ
 * from `expect` or from each other; BAD_PROOF if the rebuilt secret does
 * not match the check (a share was wrong); INVALID_ARGUMENT for no shares;
 * NOMEM. Uses every share given (any k of them determine the same
 * polynomial). On failure `secret` is reset.
 */
CS_MUST_CHECK consort_err cs_gov_shares_combine(const cs_gov_share *shares, size_t count,
                                                const cs_gov_share_binding *expect, cs_buf *secret);

#endif
