/* Serialising HTTP/1.1 responses (RFC 9112 §4, §6) and JSON error bodies. */
#include "net/http_priv.h"

#include <jansson.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

const char *cs_http_status_text(int status)
{
    /* RFC 9110 §15 (and RFC 6585 §5 for 431) */
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

/* RFC 9110 §5.6.2: token = 1*tchar. */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool field_byte_ok(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Whether a byte of `x` is below 0x20 or is 0x7f (a tab counts: the caller
 * then looks at each byte). Bytes from 0x80 never count. */
static bool has_control_byte(uint64_t x)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
    uint64_t below_20 = (x - ones * 0x20) & ~x & high;
    uint64_t y = x ^ (ones * 0x7f); /* a 0x7f byte becomes zero */
    uint64_t is_7f = (y - ones) & ~y & high;
    return (below_20 | is_7f) != 0;
}

consort_err cs_http_append_field(cs_buf *out, const cs_http_header *h)
{
    size_t n = strlen(h->name), v = strlen(h->value);
    CS_TRY(cs_buf_reserve(out, n + v + 4));
    CS_TRY(cs_buf_append(out, h->name, n));
    CS_TRY(cs_buf_append(out, ": ", 2));
    CS_TRY(cs_buf_append(out, h->value, v));
    return cs_buf_append(out, "\r\n", 2);
}

consort_err cs_http_check_header(const cs_http_header *h)
{
    CS_ENSURE(h->name != NULL && h->value != NULL, CONSORT_E_INVALID_ARGUMENT,
              "HTTP header: missing name or value");
    size_t n = strlen(h->name);
    CS_ENSURE(n > 0, CONSORT_E_INVALID_ARGUMENT, "HTTP header: empty name");
    for (size_t i = 0; i < n; i++)
        CS_ENSURE(is_tchar((unsigned char)h->name[i]), CONSORT_E_INVALID_ARGUMENT,
                  "HTTP header '%s': byte 0x%02x not allowed in a name", h->name,
                  (unsigned char)h->name[i]);
    /* RFC 9110 §5.5: field-value = *field-content; no CR, LF, NUL or other controls but HTAB */
    const unsigned char *v = (const unsigned char *)h->value;
    size_t len = strlen(h->value), i = 0;
    for (; i + 8 <= len; i += 8) { /* eight bytes at a time while none is a control */
        uint64_t x;
        memcpy(&x, v + i, 8);
        if (!has_control_byte(x))
            continue;
        for (size_t j = i; j < i + 8; j++)
            CS_ENSURE(field_byte_ok(v[j]), CONSORT_E_INVALID_ARGUMENT,
                      "HTTP header '%s': control byte 0x%02x in the value", h->name, v[j]);
    }
    for (; i < len; i++)
        CS_ENSURE(field_byte_ok(v[i]), CONSORT_E_INVALID_ARGUMENT,
                  "HTTP header '%s': control byte 0x%02x in the value", h->name, v[i]);
    return CONSORT_OK;
}

consort_err cs_http_write_response(cs_buf *out, int status, const cs_http_header *headers,
                                   size_t count, cs_slice body, bool close, bool head)
{
    CS_ENSURE(status >= 100 && status <= 599, CONSORT_E_INVALID_ARGUMENT,
              "HTTP response: status %d out of range", status);
    for (size_t i = 0; i < count; i++) {
        CS_TRY(cs_http_check_header(&headers[i]));
        /* framing is ours: RFC 9112 §6 */
        CS_ENSURE(strcasecmp(headers[i].name, "content-length") != 0 &&
                      strcasecmp(headers[i].name, "transfer-encoding") != 0 &&
                      strcasecmp(headers[i].name, "connection") != 0,
                  CONSORT_E_INVALID_ARGUMENT, "HTTP response: header '%s' is set by the server",
                  headers[i].name);
    }
    /* one allocation for the whole response, not one per doubling (a
     * handling statement's header alone is a few kilobytes) */
    size_t size = 128 + (head ? 0 : body.len);
    for (size_t i = 0; i < count; i++)
        size += strlen(headers[i].name) + strlen(headers[i].value) + 4;
    CS_TRY(cs_buf_reserve(out, size));
    CS_TRY(cs_buf_printf(out, "HTTP/1.1 %d %s\r\n", status, cs_http_status_text(status)));
    for (size_t i = 0; i < count; i++)
        CS_TRY(cs_http_append_field(out, &headers[i]));
    /* RFC 9110 §8.6: no Content-Length in 1xx and 204 responses */
    if (status >= 200 && status != 204)
        CS_TRY(cs_buf_printf(out, "Content-Length: %zu\r\n", body.len));
    if (close)
        CS_TRY(cs_buf_printf(out, "Connection: close\r\n"));
    CS_TRY(cs_buf_append(out, "\r\n", 2));
    if (!head && status >= 200 && status != 204 && status != 304)
        CS_TRY(cs_buf_append_slice(out, body));
    return CONSORT_OK;
}

consort_err cs_http_error_body(cs_buf *out, const char *code, const char *message)
{
    json_t *doc = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    CS_ENSURE(doc != NULL, CONSORT_E_INVALID_ARGUMENT,
              "HTTP error body: code or message is not UTF-8");
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "HTTP error body: out of memory");
    consort_err rc = cs_buf_append(out, text, strlen(text));
    free(text);
    return rc;
}
