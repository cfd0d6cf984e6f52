/*
 * One TLS 1.3 connection driven through two memory BIOs: ciphertext that
 * arrived is written into the read BIO, ciphertext to send is drained from
 * the write BIO. No sockets, no blocking: OpenSSL's WANT_READ just means
 * "feed me more". Errors leave the connection dead; the alert OpenSSL
 * queued is still taken with cs_tls_take_output so the peer learns why.
 */
#include "crypto/tls_priv.h"

#include "base/alloc.h"
#include "crypto/rand.h"

#include <limits.h>
#include <openssl/err.h>
#include <string.h>

/* Plaintext decrypted per SSL_read_ex call: one maximal record (RFC 8446 §5.1). */
#define READ_CHUNK 16384

consort_err cs_tls_new(cs_tls_config *cfg, cs_tls **out)
{
    *out = NULL;
    cs_tls *tls = cs_calloc(1, sizeof *tls);
    if (tls == NULL)
        return cs_fail(CONSORT_E_NOMEM, "TLS: out of memory");
    tls->ssl = SSL_new(cfg->ctx);
    if (tls->ssl == NULL)
        goto nomem;
    tls->rbio = BIO_new(BIO_s_mem());
    if (tls->rbio == NULL)
        goto nomem;
    tls->wbio = BIO_new(BIO_s_mem());
    if (tls->wbio == NULL) {
        BIO_free(tls->rbio);
        goto nomem;
    }
    /* An empty read BIO means "retry later", not end of file. */
    BIO_set_mem_eof_return(tls->rbio, -1);
    BIO_set_mem_eof_return(tls->wbio, -1);
    SSL_set_bio(tls->ssl, tls->rbio, tls->wbio); /* ssl owns both now */
    SSL_set_app_data(tls->ssl, tls);
    if (cfg->role == CS_TLS_SERVER)
        SSL_set_accept_state(tls->ssl);
    else
        SSL_set_connect_state(tls->ssl);
    tls->cfg = cs_tls_config_ref(cfg);
    *out = tls;
    return CONSORT_OK;
nomem:
    SSL_free(tls->ssl);
    cs_free(tls);
    return cs_ossl_fail(CONSORT_E_NOMEM, "TLS: new connection");
}

void cs_tls_free(cs_tls *tls)
{
    if (tls == NULL)
        return;
    SSL_free(tls->ssl); /* frees both BIOs; OpenSSL cleanses its key material */
    cs_x509_free(tls->peer);
    cs_tls_config_free(tls->cfg);
    cs_wipe(tls, sizeof *tls);
    cs_free(tls);
}

/* Maps OpenSSL's reason to one of our codes, keeping OpenSSL's text. */
static consort_err tls_fail(cs_tls *tls, const char *what)
{
    tls->dead = true;
    if (tls->verify_err != CONSORT_OK) {
        ERR_clear_error();
        return cs_fail(tls->verify_err, "%s", tls->verify_msg);
    }
    consort_err code = CONSORT_E_MALFORMED;
    unsigned long e = ERR_peek_last_error();
    if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL) {
        switch (ERR_GET_REASON(e)) {
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
            code = CONSORT_E_BAD_CERTIFICATE;
            break;
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        case SSL_R_NO_APPLICATION_PROTOCOL:
        case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
            code = CONSORT_E_UNSUPPORTED;
            break;
        default:
            break;
        }
    }
    return cs_ossl_fail(code, what);
}

/* CONSORT_OK if OpenSSL only wants more input; otherwise the failure. */
static consort_err want_or_fail(cs_tls *tls, int ret, const char *what)
{
    int err = SSL_get_error(tls->ssl, ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return CONSORT_OK;
    return tls_fail(tls, what);
}

consort_err cs_tls_start(cs_tls *tls)
{
    CS_ENSURE(!tls->dead, CONSORT_E_STATE, "TLS: connection failed earlier");
    if (tls->cfg->role == CS_TLS_SERVER)
        return CONSORT_OK;
    ERR_clear_error();
    int ret = SSL_do_handshake(tls->ssl);
    return want_or_fail(tls, ret, "TLS handshake");
}

static consort_err finish_handshake(cs_tls *tls)
{
    /* Defence in depth: a client never completes without having verified
     * the server's certificate (RFC 8446 §4.4.2: the server always sends one). */
    if (tls->cfg->role == CS_TLS_CLIENT && tls->peer == NULL) {
        tls->dead = true;
        return cs_fail(CONSORT_E_BAD_CERTIFICATE, "TLS: server certificate was not verified");
    }
    const unsigned char *alpn = NULL;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(tls->ssl, &alpn, &alpn_len);
    if (alpn != NULL && alpn_len < sizeof tls->alpn) {
        memcpy(tls->alpn, alpn, alpn_len);
        tls->alpn[alpn_len] = '\0';
    }
    tls->done = true;
    return CONSORT_OK;
}

static consort_err feed(cs_tls *tls, cs_slice in)
{
    while (in.len > 0) {
        int chunk = in.len > INT_MAX ? INT_MAX : (int)in.len;
        int n = BIO_write(tls->rbio, in.ptr, chunk);
        if (n <= 0)
            return cs_ossl_fail(CONSORT_E_NOMEM, "TLS: buffering received data");
        in.ptr += n;
        in.len -= (size_t)n;
    }
    return CONSORT_OK;
}

/* Decrypts every complete record that is buffered. */
static consort_err read_records(cs_tls *tls, cs_buf *plaintext, bool *peer_closed)
{
    for (;;) {
        CS_TRY_CTX(cs_buf_reserve(plaintext, READ_CHUNK), "TLS: plaintext buffer");
        size_t got = 0;
        ERR_clear_error();
        int ret = SSL_read_ex(tls->ssl, plaintext->ptr + plaintext->len,
                              plaintext->cap - plaintext->len, &got);
        if (ret == 1) {
            plaintext->len += got;
            continue;
        }
        int err = SSL_get_error(tls->ssl, ret);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            return CONSORT_OK;
        if (err == SSL_ERROR_ZERO_RETURN) { /* RFC 8446 §6.1 close_notify */
            *peer_closed = true;
            return CONSORT_OK;
        }
        return tls_fail(tls, "TLS read");
    }
}

consort_err cs_tls_recv(cs_tls *tls, cs_slice ciphertext, cs_buf *plaintext, bool *peer_closed)
{
    *peer_closed = false;
    CS_ENSURE(!tls->dead, CONSORT_E_STATE, "TLS: connection failed earlier");
    CS_TRY(feed(tls, ciphertext));
    if (!tls->done) {
        ERR_clear_error();
        int ret = SSL_do_handshake(tls->ssl);
        if (ret != 1)
            return want_or_fail(tls, ret, "TLS handshake");
        CS_TRY(finish_handshake(tls));
    }
    return read_records(tls, plaintext, peer_closed);
}

consort_err cs_tls_send(cs_tls *tls, cs_slice plaintext)
{
    CS_ENSURE(!tls->dead, CONSORT_E_STATE, "TLS: connection failed earlier");
    CS_ENSURE(tls->done, CONSORT_E_STATE, "TLS: write before the handshake finished");
    CS_ENSURE(!tls->shut, CONSORT_E_STATE, "TLS: write after close_notify");
    while (plaintext.len > 0) {
        size_t chunk = plaintext.len > (size_t)INT_MAX ? (size_t)INT_MAX : plaintext.len;
        size_t written = 0;
        ERR_clear_error();
        /* The write BIO is memory and grows, so a write never blocks. */
        if (SSL_write_ex(tls->ssl, plaintext.ptr, chunk, &written) != 1)
            return tls_fail(tls, "TLS write");
        plaintext.ptr += written;
        plaintext.len -= written;
    }
    return CONSORT_OK;
}

void cs_tls_shutdown(cs_tls *tls)
{
    if (tls->shut || tls->dead || !tls->done)
        return;
    tls->shut = true;
    ERR_clear_error();
    (void)SSL_shutdown(tls->ssl); /* queues close_notify; we do not wait for the peer's */
    ERR_clear_error();
}

size_t cs_tls_pending_output(const cs_tls *tls)
{
    return BIO_ctrl_pending(tls->wbio);
}

consort_err cs_tls_take_output(cs_tls *tls, cs_buf *out)
{
    size_t pending = BIO_ctrl_pending(tls->wbio);
    if (pending == 0)
        return CONSORT_OK;
    uint8_t *dst;
    CS_TRY_CTX(cs_buf_extend(out, pending, &dst), "TLS: output buffer");
    size_t got = 0;
    if (BIO_read_ex(tls->wbio, dst, pending, &got) != 1 || got != pending) {
        out->len -= pending;
        return cs_ossl_fail(CONSORT_E_CRYPTO, "TLS: draining output");
    }
    return CONSORT_OK;
}

bool cs_tls_handshake_done(const cs_tls *tls)
{
    return tls->done;
}

const cs_x509 *cs_tls_peer_cert(const cs_tls *tls)
{
    return tls->done ? tls->peer : NULL;
}

const char *cs_tls_alpn(const cs_tls *tls)
{
    return tls->alpn;
}

consort_err cs_tls_export(const cs_tls *tls, const char *label, size_t out_len, cs_buf *out)
{
    CS_ENSURE(tls->done && !tls->dead, CONSORT_E_STATE,
              "TLS exporter: the handshake has not finished");
    CS_ENSURE(out_len >= 1 && out_len <= 255, CONSORT_E_INVALID_ARGUMENT,
              "TLS exporter: length %zu, expected 1 to 255", out_len);
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, out_len, &dst));
    /* RFC 8446 §7.5: no context is the same as an empty context in TLS 1.3. */
    if (SSL_export_keying_material(tls->ssl, dst, out_len, label, strlen(label), NULL, 0, 0) != 1) {
        cs_wipe(dst, out_len);
        out->len -= out_len;
        return cs_ossl_fail(CONSORT_E_CRYPTO, "TLS exporter");
    }
    return CONSORT_OK;
}
