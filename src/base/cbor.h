/*
 * A small CBOR (RFC 8949) pull reader and writer over libcbor's streaming
 * decoder and encoders. Neither allocates: the reader borrows strings from
 * the input, the writer appends to a cs_buf.
 *
 * The reader accepts definite-length items only: indefinite-length strings,
 * arrays and maps are rejected with CONSORT_E_UNSUPPORTED (every consort
 * format and COSE as used here is definite-length). Nesting is capped at
 * CS_CBOR_MAX_DEPTH when skipping.
 */
#ifndef CS_BASE_CBOR_H
#define CS_BASE_CBOR_H

#include "base/buf.h"

#define CS_CBOR_MAX_DEPTH 32

typedef enum cs_cbor_type {
    CS_CBOR_UINT,   /* u = value */
    CS_CBOR_NEGINT, /* u = n where the value is -1 - n */
    CS_CBOR_BYTES,  /* str = the bytes */
    CS_CBOR_TEXT,   /* str = the UTF-8 bytes (not NUL-terminated) */
    CS_CBOR_ARRAY,  /* u = number of items */
    CS_CBOR_MAP,    /* u = number of pairs */
    CS_CBOR_TAG,    /* u = tag number; the tagged item follows */
    CS_CBOR_BOOL,   /* b */
    CS_CBOR_NULL,
    CS_CBOR_UNDEFINED,
    CS_CBOR_FLOAT, /* f */
} cs_cbor_type;

typedef struct cs_cbor_item {
    cs_cbor_type type;
    uint64_t u;
    bool b;
    double f;
    cs_slice str;
} cs_cbor_item;

typedef struct cs_cbor_reader {
    cs_slice in;
    size_t pos;
} cs_cbor_reader;

const char *cs_cbor_type_name(cs_cbor_type t);

void cs_cbor_reader_init(cs_cbor_reader *r, cs_slice in);
static inline bool cs_cbor_at_end(const cs_cbor_reader *r)
{
    return r->pos == r->in.len;
}
/* Decodes the next item header without consuming it. */
CS_MUST_CHECK consort_err cs_cbor_peek(const cs_cbor_reader *r, cs_cbor_item *out);
/* Decodes and consumes the next item header (a string's bytes are consumed with it). */
CS_MUST_CHECK consort_err cs_cbor_next(cs_cbor_reader *r, cs_cbor_item *out);

/* Typed reads: fail with CONSORT_E_MALFORMED naming the expected and found type. */
CS_MUST_CHECK consort_err cs_cbor_read_uint(cs_cbor_reader *r, uint64_t *out);
/* Reads a uint or negint that fits in int64_t. */
CS_MUST_CHECK consort_err cs_cbor_read_int(cs_cbor_reader *r, int64_t *out);
CS_MUST_CHECK consort_err cs_cbor_read_bytes(cs_cbor_reader *r, cs_slice *out);
CS_MUST_CHECK consort_err cs_cbor_read_text(cs_cbor_reader *r, cs_slice *out);
/* Reads a text string that must equal `want` (a map key in a fixed order):
 * MALFORMED naming both when it does not ("member \"x\" where \"want\" was
 * expected"). */
CS_MUST_CHECK consort_err cs_cbor_read_key(cs_cbor_reader *r, const char *want);
/* Reads an unsigned integer that must equal `want` (an integer map key in a
 * fixed order): MALFORMED naming both when it does not ("key 3 where 2 was
 * expected"). */
CS_MUST_CHECK consort_err cs_cbor_read_ukey(cs_cbor_reader *r, uint64_t want);
/* Reads a text string into `out` (`n` bytes) as a C string: MALFORMED naming
 * `what` if it does not fit with its NUL or holds a NUL itself. */
CS_MUST_CHECK consort_err cs_cbor_read_cstr(cs_cbor_reader *r, char *out, size_t n,
                                            const char *what);
/* Reads a byte string of exactly `n` bytes into `out`: MALFORMED naming `what` otherwise. */
CS_MUST_CHECK consort_err cs_cbor_read_bytes_exact(cs_cbor_reader *r, uint8_t *out, size_t n,
                                                   const char *what);
CS_MUST_CHECK consort_err cs_cbor_read_array(cs_cbor_reader *r, uint64_t *count);
CS_MUST_CHECK consort_err cs_cbor_read_map(cs_cbor_reader *r, uint64_t *count);
CS_MUST_CHECK consort_err cs_cbor_read_tag(cs_cbor_reader *r, uint64_t *tag);
CS_MUST_CHECK consort_err cs_cbor_read_bool(cs_cbor_reader *r, bool *out);
CS_MUST_CHECK consort_err cs_cbor_read_null(cs_cbor_reader *r);
/* Consumes one complete data item (with everything nested in it). */
CS_MUST_CHECK consort_err cs_cbor_skip(cs_cbor_reader *r);
/* Consumes one complete data item and returns its exact encoded bytes. */
CS_MUST_CHECK consort_err cs_cbor_read_raw(cs_cbor_reader *r, cs_slice *out);
/* CONSORT_E_TRAILING_DATA unless the input is fully consumed. */
CS_MUST_CHECK consort_err cs_cbor_expect_end(const cs_cbor_reader *r);

/* Writer: each appends one encoded item header (and a string's bytes). */
CS_MUST_CHECK consort_err cs_cbor_write_uint(cs_buf *b, uint64_t v);
CS_MUST_CHECK consort_err cs_cbor_write_int(cs_buf *b, int64_t v);
CS_MUST_CHECK consort_err cs_cbor_write_bytes(cs_buf *b, cs_slice s);
/* Only the header of a byte string of `len` bytes (the caller appends them). */
CS_MUST_CHECK consort_err cs_cbor_write_bytes_header(cs_buf *b, size_t len);
CS_MUST_CHECK consort_err cs_cbor_write_text(cs_buf *b, cs_slice s);
CS_MUST_CHECK consort_err cs_cbor_write_cstr(cs_buf *b, const char *s);
CS_MUST_CHECK consort_err cs_cbor_write_array(cs_buf *b, size_t count);
CS_MUST_CHECK consort_err cs_cbor_write_map(cs_buf *b, size_t count);
CS_MUST_CHECK consort_err cs_cbor_write_tag(cs_buf *b, uint64_t tag);
CS_MUST_CHECK consort_err cs_cbor_write_bool(cs_buf *b, bool v);
CS_MUST_CHECK consort_err cs_cbor_write_null(cs_buf *b);

#endif
