/*
 * TLS configurations: one SSL_CTX per kind of connection (server or client),
 * TLS 1.3 only, our certificate and key, client-certificate mode, ALPN,
 * and the glue that hands the peer's certificate to the application's
 * verification callback. Also the two ready-made verifiers.
 */
#include "crypto/tls_priv.h"

#include "base/alloc.h"
#include "crypto/rand.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

static void config_destroy(cs_tls_config *cfg)
{
    SSL_CTX_free(cfg->ctx);
    cs_free(cfg);
}

/* RFC 7301 §3.1: ProtocolNameList, each name a non-empty string of at most 255 bytes. */
static consort_err alpn_encode(const char *const *names, cs_tls_config *cfg)
{
    cfg->alpn_len = 0;
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        size_t n = strlen(names[i]);
        CS_ENSURE(i < CS_TLS_ALPN_MAX, CONSORT_E_INVALID_ARGUMENT, "TLS: more than %d ALPN names",
                  CS_TLS_ALPN_MAX);
        CS_ENSURE(n >= 1 && n <= 255, CONSORT_E_INVALID_ARGUMENT,
                  "TLS: ALPN name of %zu bytes, expected 1 to 255", n);
        CS_ENSURE(cfg->alpn_len + 1 + n <= sizeof cfg->alpn, CONSORT_E_INVALID_ARGUMENT,
                  "TLS: ALPN names longer than %zu bytes in all", sizeof cfg->alpn);
        cfg->alpn[cfg->alpn_len++] = (uint8_t)n;
        memcpy(cfg->alpn + cfg->alpn_len, names[i], n);
        cfg->alpn_len += n;
    }
    return CONSORT_OK;
}

/* Server side: our first name that the client also offered (RFC 7301 §3.2). */
static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    const cs_tls_config *cfg = arg;
    for (size_t i = 0; i < cfg->alpn_len; i += 1u + cfg->alpn[i]) {
        cs_slice ours = CS_SLICE(cfg->alpn + i + 1, cfg->alpn[i]);
        for (size_t j = 0; j < inlen;) {
            size_t n = in[j];
            if (j + 1 + n > inlen)
                return SSL_TLSEXT_ERR_ALERT_FATAL; /* malformed list */
            if (cs_slice_eq(ours, CS_SLICE(in + j + 1, n))) {
                *out = in + j + 1;
                *outlen = (unsigned char)n;
                return SSL_TLSEXT_ERR_OK;
            }
            j += 1 + n;
        }
    }
    /* RFC 7301 §3.2: no protocol in common is a no_application_protocol alert. */
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static consort_err use_identity(cs_tls_config *cfg, const cs_tls_params *p)
{
    if (p->cert == NULL && p->key == NULL)
        return CONSORT_OK;
    CS_ENSURE(p->cert != NULL && p->key != NULL && cs_key_has_private(p->key),
              CONSORT_E_INVALID_ARGUMENT,
              "TLS: a certificate needs its private key (and a key its certificate)");
    if (SSL_CTX_use_certificate(cfg->ctx, cs_x509_ossl(p->cert)) != 1)
        return cs_ossl_fail(CONSORT_E_INVALID_ARGUMENT, "TLS: our certificate");
    if (SSL_CTX_use_PrivateKey(cfg->ctx, cs_key_pkey(p->key)) != 1)
        return cs_ossl_fail(CONSORT_E_INVALID_ARGUMENT, "TLS: our private key");
    if (SSL_CTX_check_private_key(cfg->ctx) != 1)
        return cs_ossl_fail(CONSORT_E_INVALID_ARGUMENT,
                            "TLS: the private key does not match the certificate");
    for (size_t i = 0; i < p->chain_count; i++)
        if (SSL_CTX_add1_chain_cert(cfg->ctx, cs_x509_ossl(p->chain[i])) != 1)
            return cs_ossl_fail(CONSORT_E_INVALID_ARGUMENT, "TLS: chain certificate");
    return CONSORT_OK;
}

static consort_err check_params(const cs_tls_params *p)
{
    CS_ENSURE(p->role == CS_TLS_CLIENT || p->role == CS_TLS_SERVER, CONSORT_E_INVALID_ARGUMENT,
              "TLS: role %d, expected client or server", (int)p->role);
    if (p->role == CS_TLS_SERVER) {
        CS_ENSURE(p->cert != NULL, CONSORT_E_INVALID_ARGUMENT, "TLS: a server needs a certificate");
        CS_ENSURE(p->client_auth == CS_TLS_CLIENT_CERT_NONE || p->verify != NULL,
                  CONSORT_E_INVALID_ARGUMENT,
                  "TLS: a server that asks for client certificates needs a verify callback");
    } else {
        CS_ENSURE(p->verify != NULL, CONSORT_E_INVALID_ARGUMENT,
                  "TLS: a client needs a verify callback for the server certificate");
        CS_ENSURE(p->client_auth == CS_TLS_CLIENT_CERT_NONE, CONSORT_E_INVALID_ARGUMENT,
                  "TLS: client_auth is for servers");
    }
    return CONSORT_OK;
}

static consort_err configure(cs_tls_config *cfg, const cs_tls_params *p)
{
    SSL_CTX *ctx = cfg->ctx;
    /* TLS 1.3 only (RFC 8446); nothing older is ever negotiated. */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
        return cs_ossl_fail(CONSORT_E_CRYPTO, "TLS: protocol version");
    /* No tickets, no session cache: every connection verifies its peer afresh
     * (RFC 8446 §2.2 resumption would skip the certificate exchange). */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
        return cs_ossl_fail(CONSORT_E_CRYPTO, "TLS: tickets");
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    CS_TRY(use_identity(cfg, p));

    int mode = SSL_VERIFY_PEER;
    if (p->role == CS_TLS_SERVER) {
        if (p->client_auth == CS_TLS_CLIENT_CERT_NONE)
            mode = SSL_VERIFY_NONE;
        else if (p->client_auth == CS_TLS_CLIENT_CERT_REQUIRE)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(ctx, mode, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, cs_tls_cert_verify_cb, cfg);

    CS_TRY(alpn_encode(p->alpn, cfg));
    if (cfg->alpn_len > 0) {
        if (p->role == CS_TLS_SERVER)
            SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, cfg);
        else if (SSL_CTX_set_alpn_protos(ctx, cfg->alpn, (unsigned)cfg->alpn_len) != 0)
            return cs_ossl_fail(CONSORT_E_CRYPTO, "TLS: ALPN"); /* 0 means success here */
    }
    return CONSORT_OK;
}

consort_err cs_tls_config_new(const cs_tls_params *params, cs_tls_config **out)
{
    *out = NULL;
    CS_TRY(check_params(params));
    cs_tls_config *cfg = cs_calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return cs_fail(CONSORT_E_NOMEM, "TLS: out of memory");
    cfg->role = params->role;
    cfg->verify = params->verify;
    cfg->verify_ctx = params->verify_ctx;
    atomic_init(&cfg->refs, 1);
    cfg->ctx =
        SSL_CTX_new(params->role == CS_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (cfg->ctx == NULL) {
        cs_free(cfg);
        return cs_ossl_fail(CONSORT_E_NOMEM, "TLS: SSL_CTX_new");
    }
    consort_err rc = configure(cfg, params);
    if (rc != CONSORT_OK) {
        config_destroy(cfg);
        return cs_err_context(rc, "TLS %s configuration",
                              params->role == CS_TLS_SERVER ? "server" : "client");
    }
    *out = cfg;
    return CONSORT_OK;
}

cs_tls_config *cs_tls_config_ref(cs_tls_config *cfg)
{
    atomic_fetch_add(&cfg->refs, 1);
    return cfg;
}

void cs_tls_config_free(cs_tls_config *cfg)
{
    if (cfg == NULL || atomic_fetch_sub(&cfg->refs, 1) != 1)
        return;
    config_destroy(cfg);
}

cs_tls_role cs_tls_config_role(const cs_tls_config *cfg)
{
    return cfg->role;
}

/* ---- verification glue ---- */

static consort_err x509_copy(X509 *x, cs_x509 **out)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    if (len <= 0)
        return cs_ossl_fail(CONSORT_E_MALFORMED, "TLS: peer certificate does not encode");
    consort_err rc = cs_x509_from_der(CS_SLICE(der, (size_t)len), out);
    OPENSSL_free(der);
    return rc;
}

/* Runs the application's callback over the chain the peer sent (leaf first). */
static consort_err verify_peer(cs_tls *tls, X509_STORE_CTX *store)
{
    STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(store);
    X509 *leaf = X509_STORE_CTX_get0_cert(store);
    CS_ENSURE(leaf != NULL, CONSORT_E_BAD_CERTIFICATE, "TLS: the peer sent no certificate");
    int n = sent != NULL ? sk_X509_num(sent) : 0;
    CS_ENSURE(n <= CS_TLS_PEER_CHAIN_MAX, CONSORT_E_TOO_LARGE,
              "TLS: the peer sent %d certificates, at most %d accepted", n, CS_TLS_PEER_CHAIN_MAX);
    cs_x509 *chain[CS_TLS_PEER_CHAIN_MAX];
    size_t count = 0;
    cs_x509 *peer = NULL;
    consort_err rc = x509_copy(leaf, &peer);
    for (int i = 0; rc == CONSORT_OK && i < n; i++) {
        X509 *x = sk_X509_value(sent, i);
        if (x == leaf) /* the untrusted list starts with the leaf itself */
            continue;
        rc = x509_copy(x, &chain[count]);
        if (rc == CONSORT_OK)
            count++;
    }
    if (rc == CONSORT_OK)
        rc = tls->cfg->verify(tls->cfg->verify_ctx, peer, chain, count);
    for (size_t i = 0; i < count; i++)
        cs_x509_free(chain[i]);
    if (rc != CONSORT_OK) {
        cs_x509_free(peer);
        return rc;
    }
    cs_x509_free(tls->peer);
    tls->peer = peer;
    return CONSORT_OK;
}

int cs_tls_cert_verify_cb(X509_STORE_CTX *store, void *arg)
{
    (void)arg;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    cs_tls *tls = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (tls == NULL)
        return 0;
    consort_err rc = verify_peer(tls, store);
    if (rc == CONSORT_OK) {
        X509_STORE_CTX_set_error(store, X509_V_OK);
        return 1;
    }
    tls->verify_err = rc;
    snprintf(tls->verify_msg, sizeof tls->verify_msg, "%s", consort_errmsg());
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

/* ---- ready-made verifiers ---- */

consort_err cs_tls_verify_pinned(void *ctx, const cs_x509 *leaf, cs_x509 *const *chain,
                                 size_t chain_count)
{
    const cs_tls_pinned *pin = ctx;
    cs_x509_verify_opts opts = {.now = pin->now != 0 ? pin->now : (int64_t)time(NULL)};
    CS_TRY_CTX(
        cs_x509_verify_chain(leaf, chain, chain_count, pin->roots, pin->root_count, &opts, NULL),
        "TLS peer certificate");
    return CONSORT_OK;
}

consort_err cs_tls_verify_any(void *ctx, const cs_x509 *leaf, cs_x509 *const *chain,
                              size_t chain_count)
{
    (void)ctx;
    (void)leaf;
    (void)chain;
    (void)chain_count;
    return CONSORT_OK;
}
