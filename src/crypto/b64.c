/* Strict base64 over OpenSSL's block coder (see b64.h). */
#include "crypto/b64.h"

#include <openssl/evp.h>
#include <limits.h>

/* Every EVP_*Block call below handles at most this many bytes at once,
 * keeping OpenSSL's int lengths far from overflow. A multiple of 3 and 4. */
#define B64_STEP_BYTES ((size_t)3 * 4096)

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

/* RFC 4648 §4: the value of each alphabet character, 0xff for any other byte. */
static const uint8_t B64_VALUE[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,  ['H'] = 7,
    ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15,
    ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
    ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31,
    ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39,
    ['o'] = 40, ['p'] = 41, ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
    ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['+'] = 62, ['/'] = 63,
};

/* 0xff for a byte outside the alphabet (the table's zeros are 'A' only). */
static uint8_t b64_value(uint8_t ch)
{
    return B64_VALUE[ch] != 0 || ch == 'A' ? B64_VALUE[ch] : 0xff;
}

/*
 * Strict decoding in one pass: RFC 4648 §3.3 (no characters outside the
 * alphabet), §3.2 and §4 (padding only at the end, to a multiple of 4),
 * §3.5 (pad bits zero).
 */
consort_err cs_b64_decode(cs_slice in, cs_buf *out)
{
    CS_ENSURE(in.len % 4 == 0, CONSORT_E_MALFORMED, "base64: length %zu is not a multiple of 4",
              in.len);
    if (in.len == 0)
        return CONSORT_OK;
    size_t pad = in.ptr[in.len - 1] != '=' ? 0 : in.ptr[in.len - 2] == '=' ? 2 : 1;
    size_t start = out->len;
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, in.len / 4 * 3 - pad, &dst));
    const size_t symbols = in.len - pad;
    size_t o = 0;
    for (size_t i = 0; i < symbols; i += 4) {
        uint8_t v[4] = {0, 0, 0, 0};
        size_t n = symbols - i < 4 ? symbols - i : 4;
        for (size_t k = 0; k < n; k++) {
            v[k] = b64_value(in.ptr[i + k]);
            if (v[k] == 0xff) {
                out->len = start;
                return cs_fail(CONSORT_E_MALFORMED,
                               "base64: character 0x%02x at offset %zu is not in the alphabet",
                               in.ptr[i + k], i + k);
            }
        }
        const uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        if (n == 4) {
            dst[o++] = (uint8_t)(w >> 16);
            dst[o++] = (uint8_t)(w >> 8);
            dst[o++] = (uint8_t)w;
            continue;
        }
        /* the last group: 3 symbols (one '=') carry 2 bytes and 2 unused
         * bits, 2 symbols (two '=') 1 byte and 4 unused bits */
        if ((n == 3 && (v[2] & 0x3) != 0) || (n == 2 && (v[1] & 0xf) != 0)) {
            out->len = start;
            return cs_fail(CONSORT_E_MALFORMED,
                           "base64: non-zero pad bits in the last symbol (not the canonical "
                           "encoding)");
        }
        dst[o++] = (uint8_t)(w >> 16);
        if (n == 3)
            dst[o++] = (uint8_t)(w >> 8);
    }
    return CONSORT_OK;
}
