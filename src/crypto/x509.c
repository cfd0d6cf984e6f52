/*
 * X.509 certificates: parsing (DER, PEM, bundles, files), encoding and
 * reference counting. Accessors are in x509_info.c, creation in
 * x509_create.c, chain verification in x509_chain.c, CRLs in crl.c.
 *
 * Parsing is strict about framing: a DER certificate must be exactly one
 * definite-length SEQUENCE (X.690 §10.1) with nothing after it, including
 * inside a PEM block, where OpenSSL alone would ignore trailing bytes.
 */
#include "crypto/x509_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/b64.h"
#include "crypto/rand.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

/* ---- DER framing ---- */

bool cs_der_looks_like_der(cs_slice data)
{
    return data.len > 0 && data.ptr[0] == 0x30;
}

consort_err cs_der_expect_one_sequence(cs_slice der, const char *what)
{
    cs_cursor c;
    cs_cursor_init(&c, der);
    uint8_t tag, first;
    CS_TRY_CTX(cs_cursor_read_u8(&c, &tag), "%s: empty DER", what);
    CS_ENSURE(tag == 0x30, CONSORT_E_MALFORMED, "%s: DER starts with tag 0x%02x, expected 0x30",
              what, tag);
    CS_TRY_CTX(cs_cursor_read_u8(&c, &first), "%s: DER length missing", what);
    size_t len = first;
    if (first & 0x80) {
        /* X.690 §10.1: DER uses the definite form with the minimum number of octets. */
        size_t n = first & 0x7f;
        CS_ENSURE(n >= 1 && n <= 4, CONSORT_E_MALFORMED, "%s: DER length form 0x%02x not allowed",
                  what, first);
        len = 0;
        for (size_t i = 0; i < n; i++) {
            uint8_t b;
            CS_TRY_CTX(cs_cursor_read_u8(&c, &b), "%s: DER length truncated", what);
            CS_ENSURE(i > 0 || b != 0, CONSORT_E_MALFORMED,
                      "%s: DER length has a leading zero octet", what);
            len = (len << 8) | b;
        }
        CS_ENSURE(len >= 0x80, CONSORT_E_MALFORMED, "%s: DER length %zu not in the shortest form",
                  what, len);
    }
    size_t left = cs_cursor_remaining(&c);
    CS_ENSURE(len <= left, CONSORT_E_TRUNCATED, "%s: DER says %zu content bytes, %zu present", what,
              len, left);
    CS_ENSURE(len == left, CONSORT_E_TRAILING_DATA, "%s: %zu trailing bytes after the DER", what,
              left - len);
    return CONSORT_OK;
}

/* ---- ownership ---- */

consort_err cs_x509_wrap(X509 *x, cs_x509 **out)
{
    cs_x509 *c = cs_calloc(1, sizeof *c);
    if (c == NULL) {
        X509_free(x);
        return cs_fail(CONSORT_E_NOMEM, "certificate: out of memory");
    }
    c->x509 = x;
    atomic_init(&c->refs, 1);
    *out = c;
    return CONSORT_OK;
}

void cs_x509_free(cs_x509 *cert)
{
    if (cert == NULL || atomic_fetch_sub(&cert->refs, 1) != 1)
        return;
    X509_free(cert->x509);
    cs_free(cert);
}

cs_x509 *cs_x509_ref(cs_x509 *cert)
{
    atomic_fetch_add(&cert->refs, 1);
    return cert;
}

X509 *cs_x509_ossl(const cs_x509 *cert)
{
    return cert->x509;
}

void cs_x509_list_free(cs_x509 **list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        cs_x509_free(list[i]);
    cs_free(list);
}

/* ---- parsing ---- */

consort_err cs_x509_from_der(cs_slice der, cs_x509 **out)
{
    CS_ENSURE(der.len <= CS_X509_DER_MAX, CONSORT_E_TOO_LARGE,
              "certificate: %zu bytes of DER, at most %u allowed", der.len, CS_X509_DER_MAX);
    CS_TRY(cs_der_expect_one_sequence(der, "certificate"));
    const unsigned char *p = der.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)der.len);
    if (x == NULL)
        return cs_ossl_fail(CONSORT_E_MALFORMED, "certificate: DER does not parse");
    if ((size_t)(p - der.ptr) != der.len) { /* defensive: the framing was checked above */
        X509_free(x);
        return cs_fail(CONSORT_E_TRAILING_DATA, "certificate: trailing bytes after the DER");
    }
    return cs_x509_wrap(x, out);
}

/*
 * Reads PEM blocks from `bio` until the next "CERTIFICATE" block (RFC 7468
 * §5), skipping others, and parses it. *out = NULL at the end of the text.
 */
static consort_err pem_next_cert(BIO *bio, size_t index, cs_x509 **out)
{
    *out = NULL;
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                return CONSORT_OK; /* no further block */
            }
            return cs_ossl_fail(CONSORT_E_MALFORMED, "PEM: block does not decode");
        }
        bool is_cert = strcmp(name, PEM_STRING_X509) == 0;
        consort_err rc = CONSORT_OK;
        if (is_cert) {
            rc = cs_x509_from_der(CS_SLICE(data, (size_t)len), out);
            if (rc != CONSORT_OK)
                rc = cs_err_context(rc, "PEM certificate #%zu", index + 1);
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (is_cert || rc != CONSORT_OK)
            return rc;
    }
}

static consort_err pem_bio(cs_slice pem, BIO **out)
{
    CS_ENSURE(pem.len <= CS_X509_BUNDLE_MAX, CONSORT_E_TOO_LARGE,
              "PEM: %zu bytes, at most %u allowed", pem.len, CS_X509_BUNDLE_MAX);
    CS_ENSURE(pem.len > 0, CONSORT_E_MALFORMED, "PEM: empty input");
    *out = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    if (*out == NULL)
        return cs_ossl_fail(CONSORT_E_NOMEM, "PEM: BIO");
    return CONSORT_OK;
}

consort_err cs_x509_from_pem(cs_slice pem, cs_x509 **out)
{
    BIO *bio;
    CS_TRY(pem_bio(pem, &bio));
    cs_x509 *cert = NULL;
    consort_err rc = pem_next_cert(bio, 0, &cert);
    BIO_free(bio);
    CS_TRY(rc);
    CS_ENSURE(cert != NULL, CONSORT_E_MALFORMED, "PEM: no CERTIFICATE block found");
    *out = cert;
    return CONSORT_OK;
}

/* Parses every certificate of a PEM text into found[0..*n) (at most max). */
static consort_err parse_pem_bundle(cs_slice pem, cs_x509 **found, size_t max, size_t *n)
{
    BIO *bio;
    CS_TRY(pem_bio(pem, &bio));
    consort_err rc = CONSORT_OK;
    for (;;) {
        cs_x509 *cert = NULL;
        rc = pem_next_cert(bio, *n, &cert);
        if (rc != CONSORT_OK || cert == NULL)
            break;
        if (*n == max) {
            cs_x509_free(cert);
            rc = cs_fail(CONSORT_E_TOO_LARGE, "PEM: more than %zu certificates", max);
            break;
        }
        found[(*n)++] = cert;
    }
    BIO_free(bio);
    if (rc == CONSORT_OK && *n == 0)
        rc = cs_fail(CONSORT_E_MALFORMED, "PEM: no CERTIFICATE block found");
    return rc;
}

/* All or nothing: on failure `list` and `count` are unchanged. */
consort_err cs_x509_parse_all(cs_slice data, cs_x509 ***list, size_t *count)
{
    cs_x509 *found[CS_X509_BUNDLE_CERTS_MAX];
    size_t n = 0;
    consort_err rc;
    if (cs_der_looks_like_der(data)) {
        rc = cs_x509_from_der(data, &found[0]);
        n = rc == CONSORT_OK ? 1 : 0;
    } else {
        rc = parse_pem_bundle(data, found, CS_ARRAY_LEN(found), &n);
    }
    if (rc == CONSORT_OK) {
        cs_x509 **grown = cs_realloc(*list, (*count + n) * sizeof *grown);
        if (grown == NULL) {
            rc = cs_fail(CONSORT_E_NOMEM, "certificate list: out of memory");
        } else {
            memcpy(grown + *count, found, n * sizeof *grown);
            *list = grown;
            *count += n;
            return CONSORT_OK;
        }
    }
    for (size_t i = 0; i < n; i++)
        cs_x509_free(found[i]);
    return rc;
}

consort_err cs_x509_load_file(const char *path, cs_x509 **out)
{
    cs_buf data;
    cs_buf_init(&data, 1u << 20);
    consort_err rc = cs_file_read(path, &data);
    if (rc == CONSORT_OK) {
        cs_slice s = cs_buf_slice(&data);
        rc = cs_der_looks_like_der(s) ? cs_x509_from_der(s, out) : cs_x509_from_pem(s, out);
        if (rc != CONSORT_OK)
            rc = cs_err_context(rc, "%s", path);
    }
    cs_buf_cleanup(&data);
    return rc;
}

/* ---- encoding ---- */

consort_err cs_x509_to_der(const cs_x509 *cert, cs_buf *out)
{
    int n = i2d_X509(cert->x509, NULL);
    if (n <= 0)
        return cs_ossl_fail(CONSORT_E_CRYPTO, "certificate: encode DER");
    size_t old_len = out->len;
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, (size_t)n, &dst));
    unsigned char *p = dst;
    if (i2d_X509(cert->x509, &p) != n) {
        out->len = old_len;
        return cs_ossl_fail(CONSORT_E_CRYPTO, "certificate: encode DER");
    }
    return CONSORT_OK;
}

consort_err cs_x509_to_pem(const cs_x509 *cert, cs_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, cert->x509) != 1) {
        BIO_free(bio);
        return cs_ossl_fail(CONSORT_E_CRYPTO, "certificate: encode PEM");
    }
    char *text = NULL;
    long n = BIO_get_mem_data(bio, &text);
    consort_err rc = n > 0 ? cs_buf_append(out, text, (size_t)n)
                           : cs_fail(CONSORT_E_CRYPTO, "certificate: encode PEM: empty");
    BIO_free(bio);
    return rc;
}

/* One SEQUENCE (X.690 8.1: tag 0x30, a minimal definite length) whose
 * contents end exactly at the end of `der`. */
static bool one_der_sequence(cs_slice der)
{
    if (der.len < 2 || der.ptr[0] != 0x30)
        return false;
    size_t hdr = 2, len = der.ptr[1];
    if (len & 0x80) {
        size_t n = len & 0x7f;
        if (n == 0 || n > 4 || der.len < 2 + n || der.ptr[2] == 0)
            return false;
        len = 0;
        for (size_t i = 0; i < n; i++)
            len = (len << 8) | der.ptr[2 + i];
        if (len < 0x80)
            return false; /* not minimal */
        hdr += n;
    }
    return der.len - hdr == len;
}

consort_err cs_x509_der_to_pem(cs_slice der, cs_buf *out)
{
    CS_ENSURE(one_der_sequence(der), CONSORT_E_MALFORMED,
              "certificate: %zu bytes are not one DER SEQUENCE", der.len);
    cs_buf b64;
    cs_buf_init(&b64, 0);
    size_t mark = out->len;
    consort_err rc = cs_b64_encode(der, &b64);
    if (rc == CONSORT_OK)
        rc = cs_buf_append_slice(out, CS_SLICE_LIT("-----BEGIN CERTIFICATE-----\n"));
    for (size_t at = 0; rc == CONSORT_OK && at < b64.len; at += 64) {
        size_t n = b64.len - at < 64 ? b64.len - at : 64;
        rc = cs_buf_append(out, b64.ptr + at, n);
        if (rc == CONSORT_OK)
            rc = cs_buf_append_u8(out, '\n');
    }
    if (rc == CONSORT_OK)
        rc = cs_buf_append_slice(out, CS_SLICE_LIT("-----END CERTIFICATE-----\n"));
    if (rc != CONSORT_OK)
        out->len = mark;
    cs_buf_cleanup(&b64);
    return rc;
}

/* ---- names ---- */

void cs_x509_name_line(const X509_NAME *name, char *out, size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    BIO *bio = BIO_new(BIO_s_mem());
    /* RFC 2253 order and escaping; control characters are escaped too. */
    if (bio == NULL || name == NULL || X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(bio);
        ERR_clear_error();
        snprintf(out, n, "?");
        return;
    }
    char *text = NULL;
    long len = BIO_get_mem_data(bio, &text);
    size_t copy = len > 0 ? (size_t)len : 0;
    if (copy > n - 1)
        copy = n - 1;
    if (copy > 0)
        memcpy(out, text, copy);
    out[copy] = '\0';
    BIO_free(bio);
}
