/* Canonical JSON (cjson.h), matching securesystemslib.formats.encode_canonical. */
#include "supply/cjson.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

consort_err cs_cjson_parse(cs_slice text, json_t **out)
{
    CS_ENSURE(text.len <= CS_CJSON_MAX_DOC, CONSORT_E_TOO_LARGE,
              "JSON: document of %zu bytes, at most %zu accepted", text.len, CS_CJSON_MAX_DOC);
    json_error_t err;
    /* Python's json.load keeps the last of duplicate keys; refusing them is
     * stricter and keeps one document from meaning two things. */
    json_t *v = json_loadb((const char *)text.ptr, text.len,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    CS_ENSURE(v != NULL, CONSORT_E_MALFORMED, "JSON: %s (line %d, column %d)", err.text, err.line,
              err.column);
    *out = v;
    return CONSORT_OK;
}

/* securesystemslib _canonical_string_encoder: '"' + s with \ -> \\ and " -> \" + '"'. */
static consort_err put_string(cs_buf *out, const char *s, size_t len)
{
    CS_TRY(cs_buf_append_u8(out, '"'));
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\' && s[i] != '"')
            continue;
        CS_TRY(cs_buf_append(out, s + run, i - run));
        CS_TRY(cs_buf_append_u8(out, '\\'));
        run = i;
    }
    CS_TRY(cs_buf_append(out, s + run, len - run));
    return cs_buf_append_u8(out, '"');
}

typedef struct member {
    const char *key;
    size_t len;
    json_t *value;
} member;

/* Byte order of UTF-8 equals code point order, which is Python's str order. */
static int member_cmp(const void *a, const void *b)
{
    const member *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static consort_err encode(const json_t *v, cs_buf *out, unsigned depth);

static consort_err encode_object(const json_t *v, cs_buf *out, unsigned depth)
{
    size_t n = json_object_size(v);
    member *m = n ? cs_calloc(n, sizeof *m) : NULL;
    CS_ENSURE(n == 0 || m != NULL, CONSORT_E_NOMEM, "canonical JSON: %zu members", n);
    size_t i = 0;
    const char *key;
    size_t key_len;
    json_t *value;
    json_object_keylen_foreach((json_t *)v, key, key_len, value)
    {
        m[i++] = (member){key, key_len, value};
    }
    if (n > 1)
        qsort(m, n, sizeof *m, member_cmp);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_buf_append_u8(out, '{'), out);
    for (i = 0; i < n; i++) {
        if (i > 0)
            CS_TRY_GOTO(rc, cs_buf_append_u8(out, ','), out);
        CS_TRY_GOTO(rc, put_string(out, m[i].key, m[i].len), out);
        CS_TRY_GOTO(rc, cs_buf_append_u8(out, ':'), out);
        CS_TRY_CTX_GOTO(rc, encode(m[i].value, out, depth + 1), out, "\"%.*s\"",
                        (int)(m[i].len > 64 ? 64 : m[i].len), m[i].key);
    }
    rc = cs_buf_append_u8(out, '}');
out:
    cs_free(m);
    return rc;
}

static consort_err encode(const json_t *v, cs_buf *out, unsigned depth)
{
    /* jansson's parser caps nesting at 2048; a tree built in memory may not. */
    CS_ENSURE(depth < 4096, CONSORT_E_TOO_LARGE, "canonical JSON: nesting deeper than 4096");
    switch (json_typeof(v)) {
    case JSON_STRING:
        return put_string(out, json_string_value(v), json_string_length(v));
    case JSON_TRUE:
        return cs_buf_append(out, "true", 4);
    case JSON_FALSE:
        return cs_buf_append(out, "false", 5);
    case JSON_NULL:
        return cs_buf_append(out, "null", 4);
    case JSON_INTEGER:
        return cs_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "canonical JSON: cannot encode the float %.17g (only integers)",
                       json_real_value(v));
    case JSON_ARRAY:
        CS_TRY(cs_buf_append_u8(out, '['));
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                CS_TRY(cs_buf_append_u8(out, ','));
            CS_TRY_CTX(encode(json_array_get(v, i), out, depth + 1), "[%zu]", i);
        }
        return cs_buf_append_u8(out, ']');
    case JSON_OBJECT:
        return encode_object(v, out, depth);
    }
    return cs_fail(CONSORT_E_MALFORMED, "canonical JSON: unknown value type");
}

consort_err cs_cjson_encode(const json_t *v, cs_buf *out)
{
    size_t start = out->len;
    consort_err rc = encode(v, out, 0);
    if (rc != CONSORT_OK)
        out->len = start;
    return rc;
}
