/*
 * Signed governance requests (docs/governance.md "Signed requests").
 *
 * Every request a member sends to /gov (proposal, ballot, withdrawal,
 * recovery share) is one tagged COSE_Sign1 (RFC 9052 §4.2) with an attached
 * payload, signed by the member's ECDSA key (ES256 with P-256, ES384 with
 * P-384), whose protected header holds exactly:
 *
 *   1 (alg)                       -7 or -35
 *   4 (kid)                       bstr: the member id, 64 lower-case hex
 *                                 characters (cs_gov_member_id)
 *   "consort.gov.msg.type"        tstr: "proposal" | "ballot" | "withdrawal"
 *                                       | "recovery_share"
 *   "consort.gov.msg.created_at"  uint: seconds since the Unix epoch
 *   "consort.gov.msg.proposal_id" tstr, 64 lower-case hex characters:
 *                                 required for ballot and withdrawal,
 *                                 forbidden otherwise
 *
 * and whose unprotected header is empty. The flow on the leader, inside the
 * write transaction that executes the request:
 *
 *   cs_gov_request_decode   bytes -> cs_gov_request (structure only)
 *   cs_gov_request_verify   member, signature, creation time
 *   cs_gov_request_digest   what the member signed, for replay detection
 *   cs_gov_replay_record    refuses a replay, records the digest, prunes
 *   cs_gov_proposal_id      (proposals) the id, from seqno and signature
 *
 * Nothing here reads a clock: the caller passes `now`.
 */
#ifndef CS_GOV_REQUEST_H
#define CS_GOV_REQUEST_H

#include "crypto/cose.h"
#include "crypto/x509.h"
#include "store/kv.h"

/* Protected header labels of the consort governance parameters. */
#define CS_GOV_HDR_MSG_TYPE    "consort.gov.msg.type"
#define CS_GOV_HDR_CREATED_AT  "consort.gov.msg.created_at"
#define CS_GOV_HDR_PROPOSAL_ID "consort.gov.msg.proposal_id"

/* Largest request accepted (below the COSE cap; a constitution fits easily). */
#define CS_GOV_REQUEST_MAX ((size_t)512 << 10)
/* Member ids and proposal ids: lower-case hex of a SHA-256. */
#define CS_GOV_ID_HEX_LEN 64
/* The replay history (a public map, so every node and auditor sees it). */
#define CS_GOV_HISTORY_MAP "public:consort.gov.history"
/* The one key of that map that is not a 32-byte digest: the prune floor. */
#define CS_GOV_HISTORY_FLOOR_KEY "floor"

typedef enum cs_gov_msg_type {
    CS_GOV_MSG_PROPOSAL = 1,
    CS_GOV_MSG_BALLOT,
    CS_GOV_MSG_WITHDRAWAL,
    CS_GOV_MSG_RECOVERY_SHARE,
} cs_gov_msg_type;

/* "proposal", "ballot", "withdrawal", "recovery_share", or "unknown". */
const char *cs_gov_msg_type_name(cs_gov_msg_type type);

/* A decoded request. Slices borrow from the bytes given to decode. */
typedef struct cs_gov_request {
    cs_slice bytes;                        /* the whole COSE_Sign1 */
    cs_cose_sign1 cose;                    /* its decoded form */
    cs_cose_alg alg;                       /* ES256 or ES384 */
    char member_id[CS_GOV_ID_HEX_LEN + 1]; /* kid, NUL-terminated */
    cs_gov_msg_type type;
    uint64_t created_at;
    bool has_proposal_id;
    char proposal_id[CS_GOV_ID_HEX_LEN + 1]; /* "" unless has_proposal_id */
    cs_slice payload;                        /* may be empty, never detached */
} cs_gov_request;

/* The member id of `cert`: lower-case hex of SHA-256 over its DER, into
 * `out` (NUL-terminated). Errors: CRYPTO, NOMEM. */
CS_MUST_CHECK consort_err cs_gov_member_id(const cs_x509 *cert, char out[CS_GOV_ID_HEX_LEN + 1]);

/*
 * Strictly decodes a governance request into `out`, which borrows from
 * `bytes`. Checks the structure above: size, tag 18, attached payload,
 * empty unprotected header, exactly the five protected parameters with
 * their types (alg ES256/ES384, kid and proposal id as 64 lower-case hex
 * characters, a known type, created_at a uint), proposal id present iff
 * the type needs one. Errors (the message names the field): TOO_LARGE,
 * MALFORMED, UNSUPPORTED, TRUNCATED, TRAILING_DATA.
 */
CS_MUST_CHECK consort_err cs_gov_request_decode(cs_slice bytes, cs_gov_request *out);

/*
 * Finds a member's certificate. Stores a new reference in *cert (the
 * caller frees it) and returns CONSORT_OK, or CONSORT_E_NOT_FOUND if
 * `member_id` names no member; any other error is passed on.
 */
typedef consort_err (*cs_gov_member_lookup_cb)(void *ctx, const char *member_id, cs_x509 **cert);

/*
 * Authenticates a decoded request: the kid names a member (POLICY "not a
 * member" otherwise), whose certificate has that id (BAD_CERTIFICATE) and
 * a key on the curve of the alg, under which the signature verifies
 * (BAD_SIGNATURE); the type-specific fields are right (MALFORMED); and
 * created_at lies in [now - window_s, now + window_s] (EXPIRED, naming
 * both times). On success copies the member id into `member_id` (may be
 * NULL). INVALID_ARGUMENT for a negative `now`.
 */
CS_MUST_CHECK consort_err cs_gov_request_verify(const cs_gov_request *req,
                                                cs_gov_member_lookup_cb lookup, void *lookup_ctx,
                                                int64_t now, uint64_t window_s,
                                                char member_id[CS_GOV_ID_HEX_LEN + 1]);

/*
 * The replay digest: SHA-256 of the Sig_structure (RFC 9052 §4.4) the
 * member signed, i.e. of the protected header and payload. It deliberately
 * leaves out the signature bytes: ECDSA signatures are malleable ((r, s)
 * and (r, n - s) both verify), so a digest over the whole message would let
 * anyone replay a request under a fresh digest. Errors: NOMEM, TOO_LARGE.
 */
CS_MUST_CHECK consort_err cs_gov_request_digest(const cs_gov_request *req,
                                                uint8_t out[CS_SHA256_LEN]);

/*
 * The replay rule, inside the transaction that executes the request.
 * CS_GOV_HISTORY_MAP holds digest -> created_at (8 bytes big-endian) of
 * every request accepted since the prune floor, and the floor itself under
 * CS_GOV_HISTORY_FLOOR_KEY. Refuses (POLICY, "replayed") a digest already
 * present, and (EXPIRED) a created_at below max(floor, now - window_s);
 * otherwise records the digest, raises the floor to now - window_s and
 * removes every entry older than the floor. Since the floor never falls, a
 * pruned request is refused as stale even by a leader whose clock is
 * behind. Iterates the map, so concurrent governance transactions conflict
 * (BUSY: re-run). Errors also: CORRUPT (a stored value of the wrong size),
 * INVALID_ARGUMENT, NOMEM.
 */
CS_MUST_CHECK consort_err cs_gov_replay_record(cs_kv_tx *tx, const uint8_t digest[CS_SHA256_LEN],
                                               uint64_t created_at, int64_t now, uint64_t window_s);

/*
 * The id of the proposal recorded at ledger `seqno` with COSE `signature`:
 * lower-case hex of SHA-256(seqno as 8 bytes big-endian || signature).
 * Unpredictable before the member signed, and unique per ledger position.
 */
void cs_gov_proposal_id(uint64_t seqno, cs_slice signature, char out[CS_GOV_ID_HEX_LEN + 1]);

/*
 * Signs a request (CLI, tests): appends the tagged COSE_Sign1 to `out`.
 * `key` is the member's private key and must be the key of `member_cert`;
 * the alg follows its curve. `proposal_id` (NULL for none) must be given
 * exactly for ballot and withdrawal. Errors: INVALID_ARGUMENT, CRYPTO,
 * NOMEM, TOO_LARGE.
 */
CS_MUST_CHECK consort_err cs_gov_request_sign(const cs_key *key, const cs_x509 *member_cert,
                                              cs_gov_msg_type type, uint64_t created_at,
                                              const char *proposal_id, cs_slice payload,
                                              cs_buf *out);

#endif
