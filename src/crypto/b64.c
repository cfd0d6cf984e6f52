/* Strict base64 over OpenSSL's block coder (see b64.h). */
#include "crypto/b64.h"

#include <openssl/evp.h>
#include <limits.h>

/* Every EVP_*Block call below handles at most this many bytes at once,
 * keeping OpenSSL's int lengths far from overflow. A multiple of 3 and 4. */
#define B64_STEP_BYTES ((size_t)3 * 4096)
#define B64_STEP_TEXT  ((size_t)4 * 4096)

size_t cs_b64_encoded_len(size_t n)
{
    return (n / 3 + (n % 3 != 0)) * 4;
}

consort_err cs_b64_encode(cs_slice in, cs_buf *out)
{
    if (in.len > (SIZE_MAX / 4) * 3 - 3)
        return cs_fail(CONSORT_E_TOO_LARGE, "base64: %zu bytes is too long to encode", in.len);
    size_t start = out->len;
    uint8_t *dst;
    /* EVP_EncodeBlock writes a NUL after the text: room for one more byte */
    CS_TRY(cs_buf_extend(out, cs_b64_encoded_len(in.len) + 1, &dst));
    size_t written = 0;
    for (size_t off = 0; off < in.len; off += B64_STEP_BYTES) {
        size_t n = in.len - off < B64_STEP_BYTES ? in.len - off : B64_STEP_BYTES;
        int w = EVP_EncodeBlock(dst + written, in.ptr + off, (int)n);
        written += (size_t)w;
    }
    out->len = start + written;
    return CONSORT_OK;
}

static int b64_value(uint8_t ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* RFC 4648 §3.3 (no characters outside the alphabet), §3.2 and §4 (padding
 * only at the end, to a multiple of 4), §3.5 (pad bits zero). */
static consort_err check_canonical(cs_slice in, size_t *pad)
{
    CS_ENSURE(in.len % 4 == 0, CONSORT_E_MALFORMED, "base64: length %zu is not a multiple of 4",
              in.len);
    *pad = 0;
    if (in.len == 0)
        return CONSORT_OK;
    if (in.ptr[in.len - 1] == '=')
        *pad = in.ptr[in.len - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < in.len - *pad; i++)
        CS_ENSURE(b64_value(in.ptr[i]) >= 0, CONSORT_E_MALFORMED,
                  "base64: character 0x%02x at offset %zu is not in the alphabet", in.ptr[i], i);
    int last = b64_value(in.ptr[in.len - 1 - *pad]);
    /* with one '=' the last symbol carries 2 unused bits, with two '=' 4 */
    int unused_mask = *pad == 1 ? 0x3 : *pad == 2 ? 0xf : 0;
    CS_ENSURE((last & unused_mask) == 0, CONSORT_E_MALFORMED,
              "base64: non-zero pad bits in the last symbol (not the canonical encoding)");
    return CONSORT_OK;
}

consort_err cs_b64_decode(cs_slice in, cs_buf *out)
{
    size_t pad = 0;
    CS_TRY(check_canonical(in, &pad));
    if (in.len == 0)
        return CONSORT_OK;
    size_t start = out->len;
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, in.len / 4 * 3, &dst));
    size_t written = 0;
    for (size_t off = 0; off < in.len; off += B64_STEP_TEXT) {
        size_t n = in.len - off < B64_STEP_TEXT ? in.len - off : B64_STEP_TEXT;
        int w = EVP_DecodeBlock(dst + written, in.ptr + off, (int)n);
        if (w < 0) {
            out->len = start;
            return cs_fail(CONSORT_E_MALFORMED, "base64: undecodable block at offset %zu", off);
        }
        written += (size_t)w;
    }
    /* EVP_DecodeBlock counts the padded bytes as zeros: drop them */
    out->len = start + written - pad;
    return CONSORT_OK;
}
