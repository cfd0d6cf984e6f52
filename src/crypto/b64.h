/*
 * Base64 (RFC 4648 §4, the standard alphabet with '=' padding), used for
 * example by the receipt JSON, which carries its COSE receipt as base64
 * (DESIGN.md "Receipts"). On OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock, with the
 * strictness OpenSSL's decoder lacks: decode accepts only the canonical
 * encoding of some byte string (no whitespace, no line breaks, length a
 * multiple of 4, padding only at the end and only as much as needed, and
 * the unused low bits of the last symbol zero, RFC 4648 §3.5), so every
 * byte string has exactly one accepted text.
 */
#ifndef CS_CRYPTO_B64_H
#define CS_CRYPTO_B64_H

#include "base/buf.h"

/* Length of the encoding of `n` bytes (without a terminating NUL). */
size_t cs_b64_encoded_len(size_t n);

/* Appends the encoding of `in` to `out` (no NUL). TOO_LARGE/NOMEM from `out`. */
CS_MUST_CHECK consort_err cs_b64_encode(cs_slice in, cs_buf *out);

/*
 * Decodes exactly the text `in` and appends the bytes to `out`. On
 * CONSORT_E_MALFORMED (message names the offending offset or rule) nothing
 * is appended. TOO_LARGE/NOMEM from `out`.
 */
CS_MUST_CHECK consort_err cs_b64_decode(cs_slice in, cs_buf *out);

#endif
