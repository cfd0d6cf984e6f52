#include "crypto/rand.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

consort_err cs_random(void *out, size_t len)
{
    uint8_t *p = out;
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(p, chunk) != 1)
            return cs_ossl_fail(CONSORT_E_CRYPTO, "random");
        p += chunk;
        len -= (size_t)chunk;
    }
    return CONSORT_OK;
}

bool cs_ct_equal(cs_slice a, cs_slice b)
{
    if (a.len != b.len)
        return false;
    if (a.len == 0)
        return true;
    return CRYPTO_memcmp(a.ptr, b.ptr, a.len) == 0;
}

consort_err cs_ossl_fail(consort_err code, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "no further detail";
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    return cs_fail(code, "%s: %s", what, reason);
}
