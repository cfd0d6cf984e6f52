#include "base/buf.h"

#include "base/alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

cs_slice cs_slice_str(const char *s)
{
    return (cs_slice){(const uint8_t *)s, s ? strlen(s) : 0};
}

consort_err cs_slice_sub(cs_slice s, size_t off, size_t len, cs_slice *out)
{
    CS_ENSURE(off <= s.len && len <= s.len - off, CONSORT_E_TRUNCATED,
              "range [%zu, +%zu) outside %zu bytes", off, len, s.len);
    *out = (cs_slice){s.ptr + off, len};
    return CONSORT_OK;
}

bool cs_slice_eq(cs_slice a, cs_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* From this size a wipe asks the kernel which pages are resident. */
#define WIPE_SPARSE_MIN ((size_t)1 << 20)
#define WIPE_BATCH      256 /* pages per mincore call */

/* Zeroes the resident pages of [p, p + n) and skips the others: a page of
 * anonymous memory that is not resident was never written, or was swapped
 * out (zeros written now would not reach the swap device's copy), and
 * writing zeros there would only fault it in.
 * A large buffer grown by doubling leaves up to half its capacity
 * untouched; a 616 MB snapshot's 1 GiB buffer took 2 s to wipe byte by
 * byte, faulting in 400 MB. Any range mincore cannot describe (not a
 * mapping) is wiped whole. */
static void wipe_resident(uint8_t *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    explicit_bzero(p, (size_t)(lo - (uintptr_t)p));              /* the partial first page */
    explicit_bzero((void *)hi, (size_t)((uintptr_t)p + n - hi)); /* and last */
    unsigned char vec[WIPE_BATCH];
    for (uintptr_t at = lo; at < hi;) {
        size_t pages = (size_t)(hi - at) / page;
        if (pages > WIPE_BATCH)
            pages = WIPE_BATCH;
        if (mincore((void *)at, pages * page, vec) != 0) {
            explicit_bzero((void *)at, pages * page);
        } else {
            for (size_t i = 0; i < pages; i++)
                if (vec[i] & 1)
                    explicit_bzero((void *)(at + i * page), page);
        }
        at += pages * page;
    }
}

void cs_wipe(void *p, size_t n)
{
    if (p == NULL || n == 0)
        return;
    if (n >= WIPE_SPARSE_MIN)
        wipe_resident(p, n);
    else
        explicit_bzero(p, n); /* a library call the compiler keeps */
}

void cs_buf_init(cs_buf *b, size_t max)
{
    *b = (cs_buf){.max = max ? max : CS_BUF_DEFAULT_MAX};
}

void cs_buf_init_secret(cs_buf *b, size_t max)
{
    cs_buf_init(b, max);
    b->secret = true;
}

void cs_buf_cleanup(cs_buf *b)
{
    if (b->ptr != NULL && b->secret)
        cs_wipe(b->ptr, b->cap);
    cs_free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
}

void cs_buf_reset(cs_buf *b)
{
    if (b->ptr != NULL && b->secret)
        cs_wipe(b->ptr, b->len);
    b->len = 0;
}

consort_err cs_buf_reserve(cs_buf *b, size_t extra)
{
    if (b->max == 0)
        b->max = CS_BUF_DEFAULT_MAX;
    CS_ENSURE(extra <= b->max && b->len <= b->max - extra, CONSORT_E_TOO_LARGE,
              "buffer would grow to %zu bytes, limit %zu", b->len + extra, b->max);
    size_t need = b->len + extra;
    if (need <= b->cap)
        return CONSORT_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > b->max / 2 ? b->max : ncap * 2;
    uint8_t *n;
    if (b->secret) {
        /* never leave a copy of a secret in memory handed back to the allocator */
        n = cs_malloc(ncap);
        if (n != NULL && b->ptr != NULL) {
            memcpy(n, b->ptr, b->len);
            cs_wipe(b->ptr, b->cap);
            cs_free(b->ptr);
        }
    } else {
        n = cs_realloc(b->ptr, ncap);
    }
    CS_ENSURE(n != NULL, CONSORT_E_NOMEM, "buffer: cannot allocate %zu bytes", ncap);
    b->ptr = n;
    b->cap = ncap;
    return CONSORT_OK;
}

consort_err cs_buf_append(cs_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return CONSORT_OK;
    CS_TRY(cs_buf_reserve(b, len));
    memcpy(b->ptr + b->len, data, len);
    b->len += len;
    return CONSORT_OK;
}

consort_err cs_buf_append_slice(cs_buf *b, cs_slice s)
{
    return cs_buf_append(b, s.ptr, s.len);
}

consort_err cs_buf_extend(cs_buf *b, size_t len, uint8_t **out)
{
    if (len == 0) {
        *out = b->ptr != NULL ? b->ptr + b->len : NULL;
        return CONSORT_OK;
    }
    CS_TRY(cs_buf_reserve(b, len));
    *out = b->ptr + b->len;
    memset(*out, 0, len);
    b->len += len;
    return CONSORT_OK;
}

consort_err cs_buf_append_u8(cs_buf *b, uint8_t v)
{
    return cs_buf_append(b, &v, 1);
}

#define CS_APPEND_INT(name, type, bytes, big)                                                      \
    consort_err name(cs_buf *b, type v)                                                            \
    {                                                                                              \
        uint8_t tmp[bytes];                                                                        \
        for (size_t i = 0; i < (bytes); i++) {                                                     \
            size_t shift = (big) ? ((bytes)-1 - i) * 8 : i * 8;                                    \
            tmp[i] = (uint8_t)(v >> shift);                                                        \
        }                                                                                          \
        return cs_buf_append(b, tmp, bytes);                                                       \
    }

CS_APPEND_INT(cs_buf_append_be16, uint16_t, 2, 1)
CS_APPEND_INT(cs_buf_append_be32, uint32_t, 4, 1)
CS_APPEND_INT(cs_buf_append_be64, uint64_t, 8, 1)
CS_APPEND_INT(cs_buf_append_le16, uint16_t, 2, 0)
CS_APPEND_INT(cs_buf_append_le32, uint32_t, 4, 0)
CS_APPEND_INT(cs_buf_append_le64, uint64_t, 8, 0)

consort_err cs_buf_printf(cs_buf *b, const char *fmt, ...)
{
    /* format straight into the buffer's spare room; only a result that does
     * not fit is formatted a second time (measuring with vsnprintf(NULL, 0)
     * first costs a pass through glibc's overflow path for every long %s) */
    if (b->max == 0)
        b->max = CS_BUF_DEFAULT_MAX;
    if (b->cap - b->len < 128 && b->len <= b->max && b->max - b->len >= 128)
        CS_TRY(cs_buf_reserve(b, 128));
    size_t room = b->cap - b->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room > 0 ? (char *)b->ptr + b->len : NULL, room, fmt, ap);
    va_end(ap);
    CS_ENSURE(n >= 0, CONSORT_E_INVALID_ARGUMENT, "buffer: bad format '%s'", fmt);
    if ((size_t)n >= room) {
        CS_TRY(cs_buf_reserve(b, (size_t)n + 1));
        va_start(ap, fmt);
        vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return CONSORT_OK;
}

consort_err cs_buf_set(cs_buf *b, cs_slice s)
{
    cs_buf_reset(b);
    return cs_buf_append_slice(b, s);
}

void cs_buf_move(cs_buf *dst, cs_buf *src)
{
    cs_buf_cleanup(dst);
    *dst = *src;
    src->ptr = NULL;
    src->len = 0;
    src->cap = 0;
}

void cs_cursor_init(cs_cursor *c, cs_slice s)
{
    *c = (cs_cursor){s.ptr, s.len, 0};
}

static consort_err need(const cs_cursor *c, size_t n)
{
    CS_ENSURE(n <= c->len - c->pos, CONSORT_E_TRUNCATED,
              "need %zu bytes at offset %zu, only %zu left", n, c->pos, c->len - c->pos);
    return CONSORT_OK;
}

consort_err cs_cursor_read_u8(cs_cursor *c, uint8_t *out)
{
    CS_TRY(need(c, 1));
    *out = c->ptr[c->pos++];
    return CONSORT_OK;
}

#define CS_READ_INT(name, type, bytes, big)                                                        \
    consort_err name(cs_cursor *c, type *out)                                                      \
    {                                                                                              \
        CS_TRY(need(c, bytes));                                                                    \
        type v = 0;                                                                                \
        for (size_t i = 0; i < (bytes); i++) {                                                     \
            size_t shift = (big) ? ((bytes)-1 - i) * 8 : i * 8;                                    \
            v = (type)(v | ((type)c->ptr[c->pos + i] << shift));                                   \
        }                                                                                          \
        c->pos += (bytes);                                                                         \
        *out = v;                                                                                  \
        return CONSORT_OK;                                                                         \
    }

CS_READ_INT(cs_cursor_read_be16, uint16_t, 2, 1)
CS_READ_INT(cs_cursor_read_be32, uint32_t, 4, 1)
CS_READ_INT(cs_cursor_read_be64, uint64_t, 8, 1)
CS_READ_INT(cs_cursor_read_le16, uint16_t, 2, 0)
CS_READ_INT(cs_cursor_read_le32, uint32_t, 4, 0)
CS_READ_INT(cs_cursor_read_le64, uint64_t, 8, 0)

consort_err cs_cursor_read_slice(cs_cursor *c, size_t n, cs_slice *out)
{
    CS_TRY(need(c, n));
    *out = (cs_slice){c->ptr + c->pos, n};
    c->pos += n;
    return CONSORT_OK;
}

consort_err cs_cursor_read_into(cs_cursor *c, void *dst, size_t n)
{
    CS_TRY(need(c, n));
    if (n > 0)
        memcpy(dst, c->ptr + c->pos, n);
    c->pos += n;
    return CONSORT_OK;
}

consort_err cs_cursor_skip(cs_cursor *c, size_t n)
{
    CS_TRY(need(c, n));
    c->pos += n;
    return CONSORT_OK;
}

cs_slice cs_cursor_rest(cs_cursor *c)
{
    cs_slice s = {c->ptr + c->pos, c->len - c->pos};
    c->pos = c->len;
    return s;
}

consort_err cs_cursor_expect_end(const cs_cursor *c)
{
    CS_ENSURE(c->pos == c->len, CONSORT_E_TRAILING_DATA, "%zu trailing bytes at offset %zu",
              c->len - c->pos, c->pos);
    return CONSORT_OK;
}

void cs_hex_encode(cs_slice s, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < s.len; i++) {
        out[2 * i] = digits[s.ptr[i] >> 4];
        out[2 * i + 1] = digits[s.ptr[i] & 0xf];
    }
    out[2 * s.len] = '\0';
}

int cs_hex_digit(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static consort_err hex_into(const char *hex, size_t digits, uint8_t *out)
{
    for (size_t i = 0; i < digits / 2; i++) {
        int hi = cs_hex_digit(hex[2 * i]);
        int lo = cs_hex_digit(hex[2 * i + 1]);
        CS_ENSURE(hi >= 0 && lo >= 0, CONSORT_E_MALFORMED, "hex: invalid digit at position %zu",
                  hi < 0 ? 2 * i : 2 * i + 1);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return CONSORT_OK;
}

consort_err cs_hex_decode(const char *hex, uint8_t *out, size_t out_len)
{
    size_t n = strlen(hex);
    CS_ENSURE(n == 2 * out_len, CONSORT_E_MALFORMED, "hex: %zu digits, expected %zu", n,
              2 * out_len);
    return hex_into(hex, n, out);
}

consort_err cs_hex_decode_buf(const char *hex, cs_buf *out)
{
    size_t n = strlen(hex);
    CS_ENSURE(n % 2 == 0, CONSORT_E_MALFORMED, "hex: odd number of digits (%zu)", n);
    cs_buf_reset(out);
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, n / 2, &dst));
    consort_err rc = hex_into(hex, n, dst);
    if (rc != CONSORT_OK)
        cs_buf_reset(out);
    return rc;
}
