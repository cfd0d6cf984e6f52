/*
 * Building one HTTP message from http-parser's callbacks, with limits;
 * header lookup; query-string and percent decoding.
 *
 * Header storage: every name and value is appended to one arena as
 * "name\0value\0"; http-parser rejects NUL inside both (RFC 9110 §5.5:
 * field values never contain NUL), so the arena splits unambiguously once
 * the headers are complete. A name or value split over two reads arrives
 * as two callbacks of the same kind and is simply appended.
 */
#include "net/http_priv.h"

#include "base/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Per header line: ": " and CRLF, counted against max_header_bytes. */
#define LINE_OVERHEAD 4

void cs_http_limits_defaults(cs_http_limits *l)
{
    if (l->max_header_bytes == 0)
        l->max_header_bytes = CS_HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (l->max_body_bytes == 0)
        l->max_body_bytes = CS_HTTP_DEFAULT_MAX_BODY_BYTES;
    if (l->max_headers == 0)
        l->max_headers = CS_HTTP_DEFAULT_MAX_HEADERS;
}

void cs_http_msg_init(cs_http_msg *m, const cs_http_limits *limits)
{
    memset(m, 0, sizeof *m);
    m->limits = *limits;
    cs_http_limits_defaults(&m->limits);
    /* +1 for the terminating NULs; the byte limits are enforced before appending. */
    cs_buf_init(&m->url, m->limits.max_header_bytes + 1);
    cs_buf_init(&m->strings, m->limits.max_header_bytes + 2 * m->limits.max_headers + 2);
    cs_buf_init(&m->body, m->limits.max_body_bytes);
}

void cs_http_msg_cleanup(cs_http_msg *m)
{
    cs_buf_cleanup(&m->url);
    cs_buf_cleanup(&m->strings);
    cs_buf_cleanup(&m->body);
    cs_free(m->headers);
    m->headers = NULL;
    m->header_count = 0;
}

int cs_http_msg_fail(cs_http_msg *m, int status, const char *fmt, ...)
{
    m->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof m->error, fmt, ap);
    va_end(ap);
    return -1;
}

/* RFC 6585 §5: 431 when the header fields are too large. */
static int count_header_bytes(cs_http_msg *m, size_t len)
{
    m->header_bytes += len;
    if (m->header_bytes > m->limits.max_header_bytes)
        return cs_http_msg_fail(m, 431, "request header fields exceed %zu bytes",
                                m->limits.max_header_bytes);
    return 0;
}

static int append(cs_http_msg *m, cs_buf *b, const void *data, size_t len)
{
    if (cs_buf_append(b, data, len) != CONSORT_OK)
        return cs_http_msg_fail(m, 500, "out of memory");
    return 0;
}

int cs_http_msg_url(cs_http_msg *m, const char *at, size_t len)
{
    if (count_header_bytes(m, len) != 0)
        return -1;
    return append(m, &m->url, at, len);
}

int cs_http_msg_field(cs_http_msg *m, const char *at, size_t len)
{
    if (m->headers_done) /* trailer fields after a chunked body: counted, not kept */
        return count_header_bytes(m, len);
    if (count_header_bytes(m, len) != 0)
        return -1;
    if (m->in_value || m->header_count == 0) {                 /* a new field begins */
        if (m->in_value && append(m, &m->strings, "", 1) != 0) /* ends the previous value */
            return -1;
        m->in_value = false;
        if (m->header_count == m->limits.max_headers)
            return cs_http_msg_fail(m, 431, "more than %zu header fields", m->limits.max_headers);
        m->header_count++;
        if (count_header_bytes(m, LINE_OVERHEAD) != 0)
            return -1;
    }
    return append(m, &m->strings, at, len);
}

int cs_http_msg_value(cs_http_msg *m, const char *at, size_t len)
{
    if (m->headers_done)
        return count_header_bytes(m, len);
    if (count_header_bytes(m, len) != 0)
        return -1;
    if (!m->in_value) {
        if (append(m, &m->strings, "", 1) != 0) /* ends the name */
            return -1;
        m->in_value = true;
    }
    return append(m, &m->strings, at, len);
}

int cs_http_msg_headers_done(cs_http_msg *m, const http_parser *p)
{
    m->headers_done = true;
    if (m->header_count > 0) {
        if (!m->in_value && append(m, &m->strings, "", 1) != 0) /* a name without value */
            return -1;
        if (append(m, &m->strings, "", 1) != 0)
            return -1;
    }
    if (append(m, &m->url, "", 1) != 0)
        return -1;
    m->url.len--; /* keep the NUL out of the length */
    if (m->header_count > 0) {
        m->headers = cs_calloc(m->header_count, sizeof *m->headers);
        if (m->headers == NULL)
            return cs_http_msg_fail(m, 500, "out of memory");
        const char *s = (const char *)m->strings.ptr;
        const char *end = s + m->strings.len;
        for (size_t i = 0; i < m->header_count; i++) {
            m->headers[i].name = s;
            s += strlen(s) + 1;
            m->headers[i].value = s < end ? s : "";
            s += s < end ? strlen(s) + 1 : 0;
        }
    }
    /* RFC 9110 §15.5.14: 413 when the declared content is larger than we accept. */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > m->limits.max_body_bytes)
        return cs_http_msg_fail(m, 413, "body of %llu bytes exceeds %zu",
                                (unsigned long long)p->content_length, m->limits.max_body_bytes);
    return 0;
}

int cs_http_msg_body(cs_http_msg *m, const char *at, size_t len)
{
    if (len > m->limits.max_body_bytes - m->body.len)
        return cs_http_msg_fail(m, 413, "body exceeds %zu bytes", m->limits.max_body_bytes);
    return append(m, &m->body, at, len);
}

/* ---- lookup and decoding ---- */

const char *cs_http_header_find(const cs_http_header *headers, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcasecmp(headers[i].name, name) == 0) /* RFC 9110 §5.1: case-insensitive */
            return headers[i].value;
    return NULL;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

consort_err cs_http_percent_decode(cs_slice in, bool plus, cs_buf *out)
{
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.ptr[i];
        if (c == '%') { /* RFC 3986 §2.1: "%" HEXDIG HEXDIG */
            int hi = i + 2 < in.len ? hex_value(in.ptr[i + 1]) : -1;
            int lo = i + 2 < in.len ? hex_value(in.ptr[i + 2]) : -1;
            CS_ENSURE(hi >= 0 && lo >= 0, CONSORT_E_MALFORMED,
                      "percent-encoding: bad escape at offset %zu", i);
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        CS_TRY(cs_buf_append_u8(out, c));
    }
    return CONSORT_OK;
}

consort_err cs_http_query_param(const char *query, const char *name, cs_buf *out, bool *found)
{
    *found = false;
    cs_buf key;
    cs_buf_init(&key, 0);
    consort_err rc = CONSORT_OK;
    const char *p = query != NULL ? query : "";
    while (*p != '\0' && rc == CONSORT_OK) {
        size_t pair_len = strcspn(p, "&");
        size_t key_len = strcspn(p, "=&");
        cs_buf_reset(&key);
        /* a name that does not decode cannot be the one asked for */
        if (cs_http_percent_decode(CS_SLICE(p, key_len), true, &key) == CONSORT_OK &&
            key.len == strlen(name) && memcmp(key.ptr, name, key.len) == 0) {
            cs_buf_reset(out);
            size_t vstart = key_len < pair_len ? key_len + 1 : pair_len;
            rc = cs_http_percent_decode(CS_SLICE(p + vstart, pair_len - vstart), true, out);
            if (rc != CONSORT_OK)
                rc = cs_err_context(rc, "query parameter '%s'", name);
            *found = rc == CONSORT_OK;
            break;
        }
        p += pair_len;
        if (*p == '&')
            p++;
    }
    cs_buf_cleanup(&key);
    return rc;
}

/* ---- chunked bodies: the CRLF after each chunk's data ---- */

/* Checks the CRLF bytes due from `p` on, as far as the fed bytes go. */
static int chunk_crlf(cs_http_chunks *c, cs_http_msg *m, const char *p)
{
    for (; c->due > 0 && p < c->end; p++, c->due--) {
        char want = c->due == 2 ? '\r' : '\n';
        if (*p != want)
            return cs_http_msg_fail(m, 400, "chunk data not followed by CRLF (byte 0x%02x)",
                                    (unsigned char)*p);
    }
    return 0;
}

int cs_http_chunks_feed(cs_http_chunks *c, cs_http_msg *m, const char *data, size_t len)
{
    c->end = data + len;
    return c->due > 0 && m != NULL ? chunk_crlf(c, m, data) : 0;
}

int cs_http_chunks_header(cs_http_chunks *c, uint64_t size)
{
    c->left = size;
    c->due = 0;
    return 0;
}

int cs_http_chunks_body(cs_http_chunks *c, cs_http_msg *m, const char *at, size_t len)
{
    if (len >= c->left) { /* the chunk's data ends at at + len */
        c->left = 0;
        c->due = 2;
        return chunk_crlf(c, m, at + len);
    }
    c->left -= len;
    return 0;
}
