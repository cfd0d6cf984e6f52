#include "base/cbor.h"

#include <cbor.h>
#include <limits.h>
#include <string.h>

typedef struct decode_ctx {
    cs_cbor_item *item;
    bool indefinite;
} decode_ctx;

static void on_uint8(void *c, uint8_t v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_UINT, .u = v};
}
static void on_uint16(void *c, uint16_t v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_UINT, .u = v};
}
static void on_uint32(void *c, uint32_t v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_UINT, .u = v};
}
static void on_uint64(void *c, uint64_t v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_UINT, .u = v};
}
static void on_negint8(void *c, uint8_t v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_NEGINT, .u = v};
}
static void on_negint16(void *c, uint16_t v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_NEGINT, .u = v};
}
static void on_negint32(void *c, uint32_t v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_NEGINT, .u = v};
}
static void on_negint64(void *c, uint64_t v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_NEGINT, .u = v};
}
static void on_bytes(void *c, cbor_data d, size_t n)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_BYTES, .str = {d, n}};
}
static void on_text(void *c, cbor_data d, size_t n)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_TEXT, .str = {d, n}};
}
static void on_array(void *c, size_t n)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_ARRAY, .u = n};
}
static void on_map(void *c, size_t n)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_MAP, .u = n};
}
static void on_tag(void *c, uint64_t v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_TAG, .u = v};
}
static void on_float(void *c, float v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_FLOAT, .f = v};
}
static void on_double(void *c, double v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_FLOAT, .f = v};
}
static void on_null(void *c)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_NULL};
}
static void on_undefined(void *c)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_UNDEFINED};
}
static void on_bool(void *c, bool v)
{
    *((decode_ctx *)c)->item = (cs_cbor_item){.type = CS_CBOR_BOOL, .b = v};
}
static void on_indefinite(void *c)
{
    ((decode_ctx *)c)->indefinite = true;
}

static const struct cbor_callbacks callbacks = {
    .uint8 = on_uint8,
    .uint16 = on_uint16,
    .uint32 = on_uint32,
    .uint64 = on_uint64,
    .negint8 = on_negint8,
    .negint16 = on_negint16,
    .negint32 = on_negint32,
    .negint64 = on_negint64,
    .byte_string = on_bytes,
    .byte_string_start = on_indefinite,
    .string = on_text,
    .string_start = on_indefinite,
    .array_start = on_array,
    .indef_array_start = on_indefinite,
    .map_start = on_map,
    .indef_map_start = on_indefinite,
    .tag = on_tag,
    .float2 = on_float,
    .float4 = on_float,
    .float8 = on_double,
    .null = on_null,
    .undefined = on_undefined,
    .boolean = on_bool,
    .indef_break = on_indefinite,
};

static const char *const type_names[] = {
    "unsigned integer",
    "negative integer",
    "byte string",
    "text string",
    "array",
    "map",
    "tag",
    "boolean",
    "null",
    "undefined",
    "float",
};

const char *cs_cbor_type_name(cs_cbor_type t)
{
    return (unsigned)t < CS_ARRAY_LEN(type_names) ? type_names[t] : "?";
}

void cs_cbor_reader_init(cs_cbor_reader *r, cs_slice in)
{
    *r = (cs_cbor_reader){in, 0};
}

static consort_err decode(const cs_cbor_reader *r, cs_cbor_item *out, size_t *consumed)
{
    CS_ENSURE(r->pos < r->in.len, CONSORT_E_TRUNCATED, "CBOR: input ends at offset %zu", r->pos);
    uint8_t initial = r->in.ptr[r->pos];
    if (initial >= 0xc6 && initial <= 0xd4) {
        /* RFC 8949 §3.4: tags 6..20 are encoded in the initial byte. libcbor
         * 0.8's streaming decoder reports these heads as errors (they were
         * "unassigned" once), but COSE_Sign1 is tag 18 (0xd2), so decode the
         * head here: major type 6, argument = additional information. */
        *out = (cs_cbor_item){.type = CS_CBOR_TAG, .u = (uint64_t)(initial - 0xc0)};
        *consumed = 1;
        return CONSORT_OK;
    }
    decode_ctx ctx = {.item = out};
    struct cbor_decoder_result res =
        cbor_stream_decode(r->in.ptr + r->pos, r->in.len - r->pos, &callbacks, &ctx);
    switch (res.status) {
    case CBOR_DECODER_FINISHED:
        break;
    case CBOR_DECODER_NEDATA:
        return cs_fail(CONSORT_E_TRUNCATED, "CBOR: item at offset %zu needs %zu more bytes", r->pos,
                       res.required);
    default:
        return cs_fail(CONSORT_E_MALFORMED, "CBOR: invalid initial byte 0x%02x at offset %zu",
                       r->in.ptr[r->pos], r->pos);
    }
    CS_ENSURE(!ctx.indefinite, CONSORT_E_UNSUPPORTED,
              "CBOR: indefinite-length item at offset %zu not accepted", r->pos);
    *consumed = res.read;
    return CONSORT_OK;
}

consort_err cs_cbor_peek(const cs_cbor_reader *r, cs_cbor_item *out)
{
    size_t n;
    return decode(r, out, &n);
}

consort_err cs_cbor_next(cs_cbor_reader *r, cs_cbor_item *out)
{
    size_t n;
    CS_TRY(decode(r, out, &n));
    r->pos += n;
    return CONSORT_OK;
}

static consort_err next_of(cs_cbor_reader *r, cs_cbor_type want, cs_cbor_item *it)
{
    size_t n;
    CS_TRY(decode(r, it, &n));
    CS_ENSURE(it->type == want, CONSORT_E_MALFORMED, "CBOR: expected %s at offset %zu, found %s",
              cs_cbor_type_name(want), r->pos, cs_cbor_type_name(it->type));
    r->pos += n;
    return CONSORT_OK;
}

consort_err cs_cbor_read_uint(cs_cbor_reader *r, uint64_t *out)
{
    cs_cbor_item it;
    CS_TRY(next_of(r, CS_CBOR_UINT, &it));
    *out = it.u;
    return CONSORT_OK;
}

consort_err cs_cbor_read_int(cs_cbor_reader *r, int64_t *out)
{
    cs_cbor_item it;
    size_t n;
    CS_TRY(decode(r, &it, &n));
    CS_ENSURE(it.type == CS_CBOR_UINT || it.type == CS_CBOR_NEGINT, CONSORT_E_MALFORMED,
              "CBOR: expected integer at offset %zu, found %s", r->pos, cs_cbor_type_name(it.type));
    CS_ENSURE(it.u <= (uint64_t)INT64_MAX, CONSORT_E_MALFORMED,
              "CBOR: integer at offset %zu out of range", r->pos);
    *out = it.type == CS_CBOR_UINT ? (int64_t)it.u : -1 - (int64_t)it.u;
    r->pos += n;
    return CONSORT_OK;
}

consort_err cs_cbor_read_bytes(cs_cbor_reader *r, cs_slice *out)
{
    cs_cbor_item it;
    CS_TRY(next_of(r, CS_CBOR_BYTES, &it));
    *out = it.str;
    return CONSORT_OK;
}

consort_err cs_cbor_read_text(cs_cbor_reader *r, cs_slice *out)
{
    cs_cbor_item it;
    CS_TRY(next_of(r, CS_CBOR_TEXT, &it));
    *out = it.str;
    return CONSORT_OK;
}

consort_err cs_cbor_read_array(cs_cbor_reader *r, uint64_t *count)
{
    cs_cbor_item it;
    CS_TRY(next_of(r, CS_CBOR_ARRAY, &it));
    *count = it.u;
    return CONSORT_OK;
}

consort_err cs_cbor_read_map(cs_cbor_reader *r, uint64_t *count)
{
    cs_cbor_item it;
    CS_TRY(next_of(r, CS_CBOR_MAP, &it));
    *count = it.u;
    return CONSORT_OK;
}

consort_err cs_cbor_read_tag(cs_cbor_reader *r, uint64_t *tag)
{
    cs_cbor_item it;
    CS_TRY(next_of(r, CS_CBOR_TAG, &it));
    *tag = it.u;
    return CONSORT_OK;
}

consort_err cs_cbor_read_bool(cs_cbor_reader *r, bool *out)
{
    cs_cbor_item it;
    CS_TRY(next_of(r, CS_CBOR_BOOL, &it));
    *out = it.b;
    return CONSORT_OK;
}

consort_err cs_cbor_read_null(cs_cbor_reader *r)
{
    cs_cbor_item it;
    return next_of(r, CS_CBOR_NULL, &it);
}

static consort_err skip_depth(cs_cbor_reader *r, unsigned depth)
{
    CS_ENSURE(depth < CS_CBOR_MAX_DEPTH, CONSORT_E_TOO_LARGE,
              "CBOR: nesting deeper than %d at offset %zu", CS_CBOR_MAX_DEPTH, r->pos);
    cs_cbor_item it;
    CS_TRY(cs_cbor_next(r, &it));
    switch (it.type) {
    case CS_CBOR_ARRAY:
    case CS_CBOR_MAP: {
        uint64_t items = it.u;
        /* every item takes at least one byte: a count beyond the input is a lie */
        CS_ENSURE(items <= r->in.len - r->pos, CONSORT_E_TRUNCATED,
                  "CBOR: %s of %llu items at offset %zu exceeds the input",
                  cs_cbor_type_name(it.type), (unsigned long long)items, r->pos);
        if (it.type == CS_CBOR_MAP)
            items *= 2;
        for (uint64_t i = 0; i < items; i++)
            CS_TRY(skip_depth(r, depth + 1));
        return CONSORT_OK;
    }
    case CS_CBOR_TAG:
        return skip_depth(r, depth + 1);
    default:
        return CONSORT_OK;
    }
}

consort_err cs_cbor_skip(cs_cbor_reader *r)
{
    return skip_depth(r, 0);
}

consort_err cs_cbor_read_raw(cs_cbor_reader *r, cs_slice *out)
{
    size_t start = r->pos;
    CS_TRY(cs_cbor_skip(r));
    *out = (cs_slice){r->in.ptr + start, r->pos - start};
    return CONSORT_OK;
}

consort_err cs_cbor_read_key(cs_cbor_reader *r, const char *want)
{
    cs_slice k;
    CS_TRY(cs_cbor_read_text(r, &k));
    CS_ENSURE(cs_slice_eq(k, cs_slice_str(want)), CONSORT_E_MALFORMED,
              "member \"%.*s\" where \"%s\" was expected", (int)(k.len < 64 ? k.len : 64),
              (const char *)k.ptr, want);
    return CONSORT_OK;
}

consort_err cs_cbor_read_cstr(cs_cbor_reader *r, char *out, size_t n, const char *what)
{
    cs_slice s;
    CS_TRY(cs_cbor_read_text(r, &s));
    CS_ENSURE(s.len < n && memchr(s.ptr, 0, s.len) == NULL, CONSORT_E_MALFORMED, "%s of %zu bytes",
              what, s.len);
    memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    return CONSORT_OK;
}

consort_err cs_cbor_read_bytes_exact(cs_cbor_reader *r, uint8_t *out, size_t n, const char *what)
{
    cs_slice s;
    CS_TRY(cs_cbor_read_bytes(r, &s));
    CS_ENSURE(s.len == n, CONSORT_E_MALFORMED, "%s of %zu bytes, expected %zu", what, s.len, n);
    memcpy(out, s.ptr, n);
    return CONSORT_OK;
}

consort_err cs_cbor_read_ukey(cs_cbor_reader *r, uint64_t want)
{
    uint64_t k;
    CS_TRY_CTX(cs_cbor_read_uint(r, &k), "key %llu", (unsigned long long)want);
    CS_ENSURE(k == want, CONSORT_E_MALFORMED, "key %llu where %llu was expected",
              (unsigned long long)k, (unsigned long long)want);
    return CONSORT_OK;
}

consort_err cs_cbor_expect_end(const cs_cbor_reader *r)
{
    CS_ENSURE(r->pos == r->in.len, CONSORT_E_TRAILING_DATA,
              "CBOR: %zu trailing bytes after offset %zu", r->in.len - r->pos, r->pos);
    return CONSORT_OK;
}

static consort_err put(cs_buf *b, const unsigned char *tmp, size_t n)
{
    CS_ENSURE(n > 0, CONSORT_E_INVALID_ARGUMENT, "CBOR: encoder failed");
    return cs_buf_append(b, tmp, n);
}

consort_err cs_cbor_write_uint(cs_buf *b, uint64_t v)
{
    unsigned char tmp[9];
    return put(b, tmp, cbor_encode_uint(v, tmp, sizeof tmp));
}

consort_err cs_cbor_write_int(cs_buf *b, int64_t v)
{
    unsigned char tmp[9];
    if (v >= 0)
        return put(b, tmp, cbor_encode_uint((uint64_t)v, tmp, sizeof tmp));
    return put(b, tmp, cbor_encode_negint((uint64_t)(-1 - v), tmp, sizeof tmp));
}

consort_err cs_cbor_write_bytes_header(cs_buf *b, size_t len)
{
    unsigned char tmp[9];
    return put(b, tmp, cbor_encode_bytestring_start(len, tmp, sizeof tmp));
}

consort_err cs_cbor_write_bytes(cs_buf *b, cs_slice s)
{
    CS_TRY(cs_cbor_write_bytes_header(b, s.len));
    return cs_buf_append_slice(b, s);
}

consort_err cs_cbor_write_text(cs_buf *b, cs_slice s)
{
    unsigned char tmp[9];
    CS_TRY(put(b, tmp, cbor_encode_string_start(s.len, tmp, sizeof tmp)));
    return cs_buf_append_slice(b, s);
}

consort_err cs_cbor_write_cstr(cs_buf *b, const char *s)
{
    return cs_cbor_write_text(b, cs_slice_str(s));
}

consort_err cs_cbor_write_array(cs_buf *b, size_t count)
{
    unsigned char tmp[9];
    return put(b, tmp, cbor_encode_array_start(count, tmp, sizeof tmp));
}

consort_err cs_cbor_write_map(cs_buf *b, size_t count)
{
    unsigned char tmp[9];
    return put(b, tmp, cbor_encode_map_start(count, tmp, sizeof tmp));
}

consort_err cs_cbor_write_tag(cs_buf *b, uint64_t tag)
{
    unsigned char tmp[9];
    return put(b, tmp, cbor_encode_tag(tag, tmp, sizeof tmp));
}

consort_err cs_cbor_write_bool(cs_buf *b, bool v)
{
    unsigned char tmp[1];
    return put(b, tmp, cbor_encode_bool(v, tmp, sizeof tmp));
}

consort_err cs_cbor_write_null(cs_buf *b)
{
    unsigned char tmp[1];
    return put(b, tmp, cbor_encode_null(tmp, sizeof tmp));
}
