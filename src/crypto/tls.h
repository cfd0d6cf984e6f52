/*
 * The TLS 1.3 engine (RFC 8446) on OpenSSL, without I/O.
 *
 * A cs_tls_config holds what every connection of one kind shares: the role
 * (client or server), our certificate chain and key, whether a server asks
 * for a client certificate, the peer verification callback and ALPN. A
 * cs_tls is one connection driven through memory: the caller feeds the
 * ciphertext it received (cs_tls_recv), which advances the handshake and
 * yields plaintext; plaintext to send is encrypted with cs_tls_send; the
 * ciphertext to put on the wire accumulates inside the engine and is taken
 * with cs_tls_take_output after every call (alerts included, also after a
 * failure). src/net/tls_stream.c couples this to a byte stream.
 *
 * Peer verification is the application's: the callback receives the peer's
 * certificate (and the chain it sent) and accepts or refuses it (a pinned
 * service CA for clients, attestation for node channels). OpenSSL's own
 * chain building is not used. Only TLS 1.3 is negotiated; session tickets
 * and resumption are off, so every connection runs the verification.
 */
#ifndef CS_CRYPTO_TLS_H
#define CS_CRYPTO_TLS_H

#include "crypto/x509.h"

typedef enum cs_tls_role {
    CS_TLS_CLIENT = 1,
    CS_TLS_SERVER = 2,
} cs_tls_role;

/* Whether a server asks for a client certificate. */
typedef enum cs_tls_client_auth {
    CS_TLS_CLIENT_CERT_NONE = 0,    /* not requested */
    CS_TLS_CLIENT_CERT_REQUEST = 1, /* requested; a client may send none */
    CS_TLS_CLIENT_CERT_REQUIRE = 2, /* required: the handshake fails without one */
} cs_tls_client_auth;

/*
 * Decides whether the peer's certificate is acceptable. `leaf` is the
 * peer's certificate, `chain` the other certificates it sent (possibly
 * none), all borrowed for the call. Returns CONSORT_OK to accept; any error
 * (with its message) refuses and fails the handshake, and that error is what
 * cs_tls_recv then returns. Called at most once per connection, and only if
 * the peer sent a certificate (a server always does; a client only when asked).
 */
typedef consort_err (*cs_tls_verify_fn)(void *ctx, const cs_x509 *leaf, cs_x509 *const *chain,
                                        size_t chain_count);

#define CS_TLS_ALPN_MAX 8

typedef struct cs_tls_params {
    cs_tls_role role;
    /* Our certificate and its private key (required for a server, optional
     * for a client). `chain` holds intermediates sent after `cert`. */
    const cs_key *key;
    const cs_x509 *cert;
    const cs_x509 *const *chain;
    size_t chain_count;
    cs_tls_client_auth client_auth; /* server only */
    /* Required for a client, and for a server that asks for certificates. */
    cs_tls_verify_fn verify;
    void *verify_ctx;
    /* ALPN protocol names in preference order, NULL-terminated (optional).
     * A server selects the first of its names the client offered and fails
     * the handshake if there is none in common; a client offers them. */
    const char *const *alpn;
} cs_tls_params;

typedef struct cs_tls_config cs_tls_config;

/* A new configuration (references to key and certificates are kept). */
CS_MUST_CHECK consort_err cs_tls_config_new(const cs_tls_params *params, cs_tls_config **out);
/* A new reference; every reference is released with cs_tls_config_free. */
cs_tls_config *cs_tls_config_ref(cs_tls_config *cfg);
void cs_tls_config_free(cs_tls_config *cfg);
cs_tls_role cs_tls_config_role(const cs_tls_config *cfg);

typedef struct cs_tls cs_tls;

/* A connection in the handshake state (it holds a reference to `cfg`). */
CS_MUST_CHECK consort_err cs_tls_new(cs_tls_config *cfg, cs_tls **out);
void cs_tls_free(cs_tls *tls);

/*
 * Starts the handshake: a client produces its ClientHello (take it with
 * cs_tls_take_output); a server does nothing until data arrives.
 */
CS_MUST_CHECK consort_err cs_tls_start(cs_tls *tls);

/*
 * Feeds received ciphertext, advances the handshake and appends any
 * plaintext that can be decrypted to `plaintext`. Errors: the peer's alert
 * or our refusal (CONSORT_E_BAD_CERTIFICATE / the verify callback's error /
 * CONSORT_E_PROTOCOL-category codes for bad records); after an error the
 * connection is dead (take the output to send our alert, then close).
 * When the peer sends close_notify, *peer_closed is set (no error).
 */
CS_MUST_CHECK consort_err cs_tls_recv(cs_tls *tls, cs_slice ciphertext, cs_buf *plaintext,
                                      bool *peer_closed);

/* Encrypts `plaintext` (only after the handshake: CONSORT_E_STATE before). */
CS_MUST_CHECK consort_err cs_tls_send(cs_tls *tls, cs_slice plaintext);

/* Queues our close_notify (RFC 8446 §6.1). Idempotent. */
void cs_tls_shutdown(cs_tls *tls);

/* Moves the ciphertext waiting to be sent into `out` (appending). */
CS_MUST_CHECK consort_err cs_tls_take_output(cs_tls *tls, cs_buf *out);
/* Bytes of ciphertext waiting to be taken. */
size_t cs_tls_pending_output(const cs_tls *tls);

bool cs_tls_handshake_done(const cs_tls *tls);
/* The peer's certificate once verified (borrowed, lives as long as `tls`), else NULL. */
const cs_x509 *cs_tls_peer_cert(const cs_tls *tls);
/* The negotiated ALPN protocol ("" if none). */
const char *cs_tls_alpn(const cs_tls *tls);

/*
 * RFC 8446 §7.5 exporter: `out_len` bytes for `label` with an empty
 * context, after the handshake. Both ends of one connection get the same
 * value; every other connection gets a different one. `out` receives
 * secret material: give it a secret buffer (it is appended to).
 */
CS_MUST_CHECK consort_err cs_tls_export(const cs_tls *tls, const char *label, size_t out_len,
                                        cs_buf *out);

/* ---- a ready-made verifier: certificate chains to pinned roots ---- */

typedef struct cs_tls_pinned {
    cs_x509 *const *roots; /* the only trust anchors (borrowed) */
    size_t root_count;
    int64_t now; /* 0: the current time at each check */
} cs_tls_pinned;

/* A cs_tls_verify_fn: `ctx` is a cs_tls_pinned; checks with cs_x509_verify_chain. */
CS_MUST_CHECK consort_err cs_tls_verify_pinned(void *ctx, const cs_x509 *leaf,
                                               cs_x509 *const *chain, size_t chain_count);

/* A cs_tls_verify_fn that accepts any certificate: for channels whose trust
 * comes from elsewhere (attestation). The certificate is still recorded. */
CS_MUST_CHECK consort_err cs_tls_verify_any(void *ctx, const cs_x509 *leaf, cs_x509 *const *chain,
                                            size_t chain_count);

#endif
