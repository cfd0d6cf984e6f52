/*
 * For src/crypto only: signature verification on a key's kept OpenSSL
 * context (implemented in key.c, used by key.c for ECDSA and sig.c for RSA).
 *
 * Why: OpenSSL 3 looks up the signature algorithm, the key management and
 * the digest in its provider store (each lookup takes a lock) and allocates
 * a fresh EVP_PKEY_CTX with its provider context for every new verification
 * context. For an RSA-2048 signature that is a quarter of the cost of the
 * check itself. The context is stateless between verifications, so a key
 * keeps the one it prepared last and reuses it.
 */
#ifndef CS_CRYPTO_KEY_VERIFY_H
#define CS_CRYPTO_KEY_VERIFY_H

#include "crypto/key.h"

struct evp_pkey_ctx_st;

/*
 * How to prepare a verification context after EVP_PKEY_verify_init. `fn`
 * (NULL: nothing to set) returns false on failure; `arg` is passed to it.
 * `id` names what fn and arg set: nonzero, and distinct for every distinct
 * setup (key.c: CS_KEY_VERIFY_PLAIN; sig.c: scheme and hash), because a
 * context prepared for one id is reused by every later call with that id.
 */
typedef struct cs_key_verify_setup {
    unsigned id;
    bool (*fn)(struct evp_pkey_ctx_st *ctx, const void *arg);
    const void *arg;
} cs_key_verify_setup;

/* A context with nothing set: ECDSA over a digest of any length. */
#define CS_KEY_VERIFY_PLAIN 1u

/*
 * EVP_PKEY_verify of `sig` over `tbs` (a digest) by `key`, on a context
 * prepared by `setup`. CONSORT_OK if it verifies, CONSORT_E_BAD_SIGNATURE if
 * not, CONSORT_E_CRYPTO if no context could be prepared. Leaves OpenSSL's
 * error queue empty.
 *
 * The key keeps the context it prepared last and reuses it while the setup
 * id stays the same (a different id replaces it). The kept context is lent
 * to one caller at a time through an atomic flag; a caller that finds it
 * lent (another thread is verifying with the same key) prepares a context of
 * its own for that call. So this is safe on one key from several threads,
 * and `key` stays logically const: the kept context is a cache.
 */
CS_MUST_CHECK consort_err cs_key_verify(const cs_key *key, const cs_key_verify_setup *setup,
                                        cs_slice tbs, cs_slice sig);

#endif
