/*
 * Private to src/crypto/tls*.c: the structures behind cs_tls_config and
 * cs_tls, shared by the configuration (tls_config.c) and the connection
 * engine (tls.c).
 */
#ifndef CS_CRYPTO_TLS_PRIV_H
#define CS_CRYPTO_TLS_PRIV_H

#include "crypto/tls.h"

#include <openssl/ssl.h>
#include <stdatomic.h>

/* The most certificates we accept from a peer (leaf included). */
#define CS_TLS_PEER_CHAIN_MAX 8
/* Wire-format ALPN list (RFC 7301 §3.1): each name 1..255 bytes. */
#define CS_TLS_ALPN_WIRE_MAX 512

struct cs_tls_config {
    SSL_CTX *ctx;
    cs_tls_role role;
    cs_tls_verify_fn verify;
    void *verify_ctx;
    uint8_t alpn[CS_TLS_ALPN_WIRE_MAX]; /* wire format */
    size_t alpn_len;
    atomic_int refs;
};

struct cs_tls {
    cs_tls_config *cfg;
    SSL *ssl;
    BIO *rbio;     /* ciphertext in (owned by ssl) */
    BIO *wbio;     /* ciphertext out (owned by ssl) */
    bool done;     /* handshake finished */
    bool dead;     /* a fatal error happened */
    bool shut;     /* our close_notify is queued */
    cs_x509 *peer; /* the verified peer certificate */
    /* The verify callback's refusal, replayed when the handshake fails
     * (OpenSSL's own message for it would hide the reason). */
    consort_err verify_err;
    char verify_msg[CS_ERRMSG_MAX];
    char alpn[256];
};

/* The verification glue installed on every SSL_CTX (tls_config.c). */
int cs_tls_cert_verify_cb(X509_STORE_CTX *store, void *arg);

#endif
