/*
 * consort error codes.
 *
 * Every fallible function in consort returns a consort_err. CONSORT_OK is 0;
 * every other code belongs to exactly one category, which tells a caller what
 * kind of failure it is (and a CLI which exit status to use). A precise,
 * human-readable message for the most recent failure on the calling thread is
 * available from consort_errmsg().
 */
#ifndef CONSORT_ERROR_H
#define CONSORT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CONSORT_EXPORT     __attribute__((visibility("default")))
#define CONSORT_MUST_CHECK __attribute__((warn_unused_result))
#else
#define CONSORT_EXPORT
#define CONSORT_MUST_CHECK
#endif

/* Categories (what kind of failure). */
typedef enum consort_err_category {
    CONSORT_CAT_NONE = 0,
    CONSORT_CAT_USAGE,       /* the caller passed something invalid */
    CONSORT_CAT_IO,          /* file system, socket, process */
    CONSORT_CAT_PROTOCOL,    /* bytes that do not parse as the format requires */
    CONSORT_CAT_CRYPTO,      /* a signature, tag, proof or certificate does not verify */
    CONSORT_CAT_ATTESTATION, /* evidence or its endorsements are not genuine or not current */
    CONSORT_CAT_POLICY,      /* genuine, but not allowed by the policy */
    CONSORT_CAT_CORRUPT,     /* stored state is damaged */
    CONSORT_CAT_NOMEM,       /* an allocation failed */
    CONSORT_CAT_STATE,       /* the operation is not valid in the current state */
} consort_err_category;

/* X(name, category, short description) */
#define CONSORT_ERRORS(X)                                                                          \
    X(OK, NONE, "ok")                                                                              \
    X(INVALID_ARGUMENT, USAGE, "invalid argument")                                                 \
    X(USAGE, USAGE, "usage error")                                                                 \
    X(IO, IO, "i/o error")                                                                         \
    X(NOT_FOUND, IO, "not found")                                                                  \
    X(NO_SPACE, IO, "no space left")                                                               \
    X(MALFORMED, PROTOCOL, "malformed input")                                                      \
    X(TRUNCATED, PROTOCOL, "truncated input")                                                      \
    X(TRAILING_DATA, PROTOCOL, "trailing data")                                                    \
    X(TOO_LARGE, PROTOCOL, "input too large")                                                      \
    X(UNSUPPORTED, PROTOCOL, "unsupported")                                                        \
    X(CRYPTO, CRYPTO, "cryptographic library failure")                                             \
    X(BAD_SIGNATURE, CRYPTO, "signature does not verify")                                          \
    X(BAD_TAG, CRYPTO, "authentication tag does not verify")                                       \
    X(BAD_PROOF, CRYPTO, "proof does not verify")                                                  \
    X(BAD_CERTIFICATE, CRYPTO, "certificate does not verify")                                      \
    X(ATTESTATION, ATTESTATION, "evidence is not genuine")                                         \
    X(REPORT_DATA, ATTESTATION, "evidence does not bind the expected key")                         \
    X(COLLATERAL_MISSING, ATTESTATION, "collateral missing")                                       \
    X(EXPIRED, ATTESTATION, "expired or not yet valid")                                            \
    X(REVOKED, ATTESTATION, "revoked")                                                             \
    X(TCB, ATTESTATION, "trusted computing base does not match")                                   \
    X(POLICY, POLICY, "rejected by policy")                                                        \
    X(CORRUPT, CORRUPT, "corrupt data")                                                            \
    X(NOMEM, NOMEM, "out of memory")                                                               \
    X(STATE, STATE, "invalid state")                                                               \
    X(BUSY, STATE, "busy")                                                                         \
    X(TIMEOUT, STATE, "timed out")                                                                 \
    X(PENDING, STATE, "waiting for an outbound call")                                              \
    X(ROLLBACK, STATE, "older than its monotonic counter (rolled back)")                           \
    X(FROZEN, STATE, "frozen for migration")

typedef enum consort_err {
#define CONSORT_ERR_ENUM(name, cat, desc) CONSORT_E_##name,
    CONSORT_ERRORS(CONSORT_ERR_ENUM)
#undef CONSORT_ERR_ENUM
        CONSORT_E__COUNT
} consort_err;

#define CONSORT_OK CONSORT_E_OK

/* The category of an error code (CONSORT_CAT_NONE for CONSORT_OK). */
CONSORT_EXPORT consort_err_category consort_err_category_of(consort_err err);

/* Stable upper-case name of a code, e.g. "BAD_SIGNATURE". */
CONSORT_EXPORT const char *consort_err_name(consort_err err);

/* Stable lower-case name of a category, e.g. "crypto". */
CONSORT_EXPORT const char *consort_err_category_name(consort_err_category cat);

/*
 * The message of the most recent failure on this thread, e.g.
 * "COSE_Sign1: alg -999 unsupported, expected -7 (ES256) or -35 (ES384)".
 * The string is owned by the thread and valid until its next failure.
 */
CONSORT_EXPORT const char *consort_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif
