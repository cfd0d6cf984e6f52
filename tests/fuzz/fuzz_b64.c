/*
 * libFuzzer target for strict base64 (src/crypto/b64.h), which decodes
 * what clients and services send in headers (handling statements, client
 * policies). Properties, checked on every input: whatever decodes
 * re-encodes to exactly the input (there is one spelling of each byte
 * string, RFC 4648 §3.5), and decodes to what OpenSSL's decoder gives;
 * a failure leaves the buffer as it was and carries a message; the input
 * taken as bytes encodes and decodes back to itself.
 * Seeds: corpus/b64.
 */
#include "crypto/b64.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    cs_buf out, again;
    cs_buf_init(&out, 0);
    cs_buf_init(&again, 0);
    if (cs_buf_append(&out, "prefix", 6) != CONSORT_OK)
        abort();
    cs_err_clear();
    consort_err rc = cs_b64_decode(CS_SLICE(data, size), &out);
    if (rc != CONSORT_OK) {
        if (out.len != 6 || consort_errmsg()[0] == '\0')
            abort();
    } else {
        /* one spelling: it re-encodes to the input */
        if (cs_b64_encode(CS_SLICE(out.ptr + 6, out.len - 6), &again) != CONSORT_OK ||
            again.len != size || (size > 0 && memcmp(again.ptr, data, size) != 0))
            abort();
        /* and OpenSSL reads the same bytes (it counts padding as zeros) */
        unsigned char *ref = malloc(size / 4 * 3 + 1);
        if (ref == NULL)
            abort();
        int w = size > 0 ? EVP_DecodeBlock(ref, data, (int)size) : 0;
        size_t pad = size > 0 && data[size - 1] == '=' ? (data[size - 2] == '=' ? 2 : 1) : 0;
        if (w < 0 || (size_t)w - pad != out.len - 6 ||
            (out.len > 6 && memcmp(ref, out.ptr + 6, out.len - 6) != 0))
            abort();
        free(ref);
    }
    /* the input as bytes: encoded, then decoded back */
    cs_buf_reset(&again);
    cs_buf_reset(&out);
    if (cs_b64_encode(CS_SLICE(data, size), &again) != CONSORT_OK ||
        cs_b64_decode(cs_buf_slice(&again), &out) != CONSORT_OK || out.len != size ||
        (size > 0 && memcmp(out.ptr, data, size) != 0))
        abort();
    cs_buf_cleanup(&out);
    cs_buf_cleanup(&again);
    return 0;
}
