/*
 * Bounded byte types (STYLE.md §4).
 *
 *   cs_slice   borrowed bytes (pointer + length); never freed by its holder.
 *   cs_buf     owned, growable bytes with a hard capacity limit; may be marked
 *              secret, in which case every byte it ever held is wiped before
 *              the memory is released.
 *   cs_cursor  a reader over a slice with typed big/little-endian reads. A read
 *              that would run past the end fails with CONSORT_E_TRUNCATED and
 *              does not move the cursor.
 *
 * Parsers of untrusted input read through a cursor only and finish with
 * cs_cursor_expect_end(), so trailing bytes are always an error.
 */
#ifndef CS_BASE_BUF_H
#define CS_BASE_BUF_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_slice {
    const uint8_t *ptr;
    size_t len;
} cs_slice;

#define CS_SLICE(p, n) ((cs_slice){(const uint8_t *)(p), (n)})
#define CS_SLICE_EMPTY ((cs_slice){NULL, 0})
/* A slice over a string literal or array (without a terminating NUL for strings). */
#define CS_SLICE_LIT(s) ((cs_slice){(const uint8_t *)(s), sizeof(s) - 1})

cs_slice cs_slice_str(const char *s);
/* Sub-slice [off, off+len); fails if it would not lie inside `s`. */
CS_MUST_CHECK consort_err cs_slice_sub(cs_slice s, size_t off, size_t len, cs_slice *out);
/* Byte equality (not constant time; see cs_ct_equal for secrets and MACs). */
bool cs_slice_eq(cs_slice a, cs_slice b);

/* Default cap for a cs_buf when none is given: 64 MiB. */
#define CS_BUF_DEFAULT_MAX ((size_t)64 << 20)

typedef struct cs_buf {
    uint8_t *ptr;
    size_t len;
    size_t cap;
    size_t max;  /* appends beyond this many bytes fail with CONSORT_E_TOO_LARGE */
    bool secret; /* wipe on growth and on cleanup */
} cs_buf;

/* An empty buffer that may grow to `max` bytes (0 = CS_BUF_DEFAULT_MAX). */
void cs_buf_init(cs_buf *b, size_t max);
void cs_buf_init_secret(cs_buf *b, size_t max);
/* Frees the memory (wiping it first if secret) and leaves an empty buffer. */
void cs_buf_cleanup(cs_buf *b);
/* Sets len to 0, keeping the memory (wiped if secret). */
void cs_buf_reset(cs_buf *b);
CS_MUST_CHECK consort_err cs_buf_reserve(cs_buf *b, size_t extra);
CS_MUST_CHECK consort_err cs_buf_append(cs_buf *b, const void *data, size_t len);
CS_MUST_CHECK consort_err cs_buf_append_slice(cs_buf *b, cs_slice s);
CS_MUST_CHECK consort_err cs_buf_append_u8(cs_buf *b, uint8_t v);
CS_MUST_CHECK consort_err cs_buf_append_be16(cs_buf *b, uint16_t v);
CS_MUST_CHECK consort_err cs_buf_append_be32(cs_buf *b, uint32_t v);
CS_MUST_CHECK consort_err cs_buf_append_be64(cs_buf *b, uint64_t v);
CS_MUST_CHECK consort_err cs_buf_append_le16(cs_buf *b, uint16_t v);
CS_MUST_CHECK consort_err cs_buf_append_le32(cs_buf *b, uint32_t v);
CS_MUST_CHECK consort_err cs_buf_append_le64(cs_buf *b, uint64_t v);
/* Appends `len` zero bytes and returns a pointer to them for filling in. */
CS_MUST_CHECK consort_err cs_buf_extend(cs_buf *b, size_t len, uint8_t **out);
CS_MUST_CHECK consort_err cs_buf_printf(cs_buf *b, const char *fmt, ...) CS_PRINTF(2, 3);
/* Replaces the contents with a copy of `s`. */
CS_MUST_CHECK consort_err cs_buf_set(cs_buf *b, cs_slice s);
static inline cs_slice cs_buf_slice(const cs_buf *b)
{
    return (cs_slice){b->ptr, b->len};
}
/* Moves ownership of src's memory into dst (dst is cleaned up first). */
void cs_buf_move(cs_buf *dst, cs_buf *src);

typedef struct cs_cursor {
    const uint8_t *ptr;
    size_t len;
    size_t pos;
} cs_cursor;

void cs_cursor_init(cs_cursor *c, cs_slice s);
static inline size_t cs_cursor_remaining(const cs_cursor *c)
{
    return c->len - c->pos;
}
CS_MUST_CHECK consort_err cs_cursor_read_u8(cs_cursor *c, uint8_t *out);
CS_MUST_CHECK consort_err cs_cursor_read_be16(cs_cursor *c, uint16_t *out);
CS_MUST_CHECK consort_err cs_cursor_read_be32(cs_cursor *c, uint32_t *out);
CS_MUST_CHECK consort_err cs_cursor_read_be64(cs_cursor *c, uint64_t *out);
CS_MUST_CHECK consort_err cs_cursor_read_le16(cs_cursor *c, uint16_t *out);
CS_MUST_CHECK consort_err cs_cursor_read_le32(cs_cursor *c, uint32_t *out);
CS_MUST_CHECK consort_err cs_cursor_read_le64(cs_cursor *c, uint64_t *out);
/* Borrows the next `n` bytes. */
CS_MUST_CHECK consort_err cs_cursor_read_slice(cs_cursor *c, size_t n, cs_slice *out);
/* Copies the next `n` bytes into `dst`. */
CS_MUST_CHECK consort_err cs_cursor_read_into(cs_cursor *c, void *dst, size_t n);
CS_MUST_CHECK consort_err cs_cursor_skip(cs_cursor *c, size_t n);
/* Borrows everything left. */
cs_slice cs_cursor_rest(cs_cursor *c);
/* CONSORT_E_TRAILING_DATA unless every byte was consumed. */
CS_MUST_CHECK consort_err cs_cursor_expect_end(const cs_cursor *c);

/* The value of one hex digit (either case), or -1 if `ch` is not one. */
int cs_hex_digit(int ch);
/* Lower-case hex of `s` into `out`, which must hold 2 * s.len + 1 bytes. */
void cs_hex_encode(cs_slice s, char *out);
/* Decodes exactly `out_len` bytes from a hex string of exactly 2 * out_len digits. */
CS_MUST_CHECK consort_err cs_hex_decode(const char *hex, uint8_t *out, size_t out_len);
/* Decodes a hex string of any even length into `out` (replacing its contents). */
CS_MUST_CHECK consort_err cs_hex_decode_buf(const char *hex, cs_buf *out);

/* Overwrites memory with zeros in a way the compiler may not elide. From
 * 1 MiB up only the pages resident in memory are written: a page that is
 * not was never written, or was swapped out, and then writing zeros would
 * not reach the swap device's copy either; faulting it in would cost time
 * and memory for nothing. */
void cs_wipe(void *p, size_t n);

#endif
