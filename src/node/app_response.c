/*
 * The response a handler builds (include/consort/app.h): status, body,
 * content type, headers, and JSON error bodies {"error": {"code", "message"}}.
 */
#include "node/app_host.h"

#include "base/alloc.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONTENT_TYPE "application/json"
#define HEADER_NAME_MAX      128
#define HEADER_VALUE_MAX     4096
#define ERROR_MESSAGE_MAX    CS_APP_ERROR_MESSAGE_MAX
#define ERROR_CODE_MAX       64

void cs_app_response_init(consort_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->status = 200;
    cs_buf_init(&resp->body, CS_APP_MAX_RESP_BODY);
    strcpy(resp->content_type, DEFAULT_CONTENT_TYPE);
}

static void free_headers(consort_response *resp)
{
    for (size_t i = 0; i < resp->header_count; i++) {
        cs_free((char *)resp->headers[i].name);
        cs_free((char *)resp->headers[i].value);
    }
    resp->header_count = 0;
}

void cs_app_response_reset(consort_response *resp)
{
    free_headers(resp);
    cs_buf_reset(&resp->body);
    resp->status = 200;
    strcpy(resp->content_type, DEFAULT_CONTENT_TYPE);
}

void cs_app_response_cleanup(consort_response *resp)
{
    free_headers(resp);
    cs_buf_cleanup(&resp->body);
}

size_t cs_app_response_headers(const consort_response *resp, cs_http_header *out)
{
    size_t n = 0;
    if (resp->body.len > 0 || resp->content_type[0] != '\0')
        out[n++] = (cs_http_header){"Content-Type", resp->content_type};
    for (size_t i = 0; i < resp->header_count; i++)
        out[n++] = resp->headers[i];
    return n;
}

void consort_response_set_status(consort_response *resp, int status)
{
    resp->status = status; /* checked when the handler returns (cs_app_invoke) */
}

/* RFC 9110 §5.5: a field value has no CR, LF, NUL or other controls but HTAB. */
static bool valid_value(const char *v, size_t max)
{
    size_t n = strlen(v);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c != '\t' && (c < 0x20 || c == 0x7f))
            return false;
    }
    return true;
}

/* RFC 9110 §5.6.2: token = 1*tchar. */
static bool valid_token(const char *t, size_t max)
{
    size_t n = strlen(t);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr("!#$%&'*+-.^_`|~", c) == NULL)
            return false;
    }
    return true;
}

static consort_err set_content_type(consort_response *resp, const char *content_type)
{
    CS_ENSURE(valid_value(content_type, sizeof resp->content_type - 1) && content_type[0] != '\0',
              CONSORT_E_INVALID_ARGUMENT, "response: content type '%.64s' is invalid",
              content_type);
    strcpy(resp->content_type, content_type);
    return CONSORT_OK;
}

static consort_err set_body(consort_response *resp, const void *body, size_t len,
                            const char *content_type)
{
    CS_ENSURE(resp != NULL && (body != NULL || len == 0), CONSORT_E_INVALID_ARGUMENT,
              "consort_response_set_body: NULL argument");
    CS_ENSURE(len <= CS_APP_MAX_RESP_BODY, CONSORT_E_TOO_LARGE,
              "response: body of %zu bytes, at most %zu", len, CS_APP_MAX_RESP_BODY);
    if (content_type != NULL)
        CS_TRY(set_content_type(resp, content_type));
    else
        strcpy(resp->content_type, DEFAULT_CONTENT_TYPE);
    return cs_buf_set(&resp->body, CS_SLICE(body, len));
}

consort_err consort_response_set_body(consort_response *resp, const void *body, size_t len,
                                      const char *content_type)
{
    return cs_app_abi_result(set_body(resp, body, len, content_type));
}

static consort_err set_header(consort_response *resp, const char *name, const char *value)
{
    CS_ENSURE(resp != NULL && name != NULL && value != NULL, CONSORT_E_INVALID_ARGUMENT,
              "consort_response_set_header: NULL argument");
    CS_ENSURE(valid_token(name, HEADER_NAME_MAX), CONSORT_E_INVALID_ARGUMENT,
              "response: header name '%.64s' is not a token", name);
    CS_ENSURE(valid_value(value, HEADER_VALUE_MAX), CONSORT_E_INVALID_ARGUMENT,
              "response: header '%s': value has control bytes or is over %d bytes", name,
              HEADER_VALUE_MAX);
    /* RFC 9112 §6: message framing is the server's; the txid is consortd's */
    static const char *const reserved[] = {"content-length", "transfer-encoding", "connection",
                                           "keep-alive", "x-consort-txid"};
    for (size_t i = 0; i < CS_ARRAY_LEN(reserved); i++)
        CS_ENSURE(strcasecmp(name, reserved[i]) != 0, CONSORT_E_INVALID_ARGUMENT,
                  "response: header '%s' is set by consortd", name);
    if (strcasecmp(name, "content-type") == 0)
        return set_content_type(resp, value);
    size_t slot = resp->header_count;
    for (size_t i = 0; i < resp->header_count; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            slot = i; /* setting a header again replaces it */
    CS_ENSURE(slot < CS_APP_MAX_RESP_HEADERS, CONSORT_E_TOO_LARGE, "response: more than %d headers",
              CS_APP_MAX_RESP_HEADERS);
    char *n = cs_strdup(name);
    char *v = cs_strdup(value);
    if (n == NULL || v == NULL) {
        cs_free(n);
        cs_free(v);
        return cs_fail(CONSORT_E_NOMEM, "response: out of memory");
    }
    if (slot < resp->header_count) {
        cs_free((char *)resp->headers[slot].name);
        cs_free((char *)resp->headers[slot].value);
    } else {
        resp->header_count++;
    }
    resp->headers[slot] = (cs_http_header){n, v};
    return CONSORT_OK;
}

consort_err consort_response_set_header(consort_response *resp, const char *name, const char *value)
{
    return cs_app_abi_result(set_header(resp, name, value));
}

/* An error code is an identifier ("InvalidInput"): letters, digits, '_', '.', '-'. */
static bool valid_code(const char *code)
{
    size_t n = strlen(code);
    if (n == 0 || n > ERROR_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)code[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

static consort_err response_errorv(consort_response *resp, int status, const char *code,
                                   const char *fmt, va_list ap) CS_PRINTF(4, 0);
static consort_err response_errorv(consort_response *resp, int status, const char *code,
                                   const char *fmt, va_list ap)
{
    CS_ENSURE(resp != NULL && code != NULL && fmt != NULL, CONSORT_E_INVALID_ARGUMENT,
              "consort_response_error: NULL argument");
    CS_ENSURE(status >= 400 && status <= 599, CONSORT_E_INVALID_ARGUMENT,
              "consort_response_error: status %d is not an error (400..599)", status);
    CS_ENSURE(valid_code(code), CONSORT_E_INVALID_ARGUMENT,
              "consort_response_error: code '%.64s' must be 1..%d of [A-Za-z0-9_.-]", code,
              ERROR_CODE_MAX);
    char message[ERROR_MESSAGE_MAX];
    vsnprintf(message, sizeof message, fmt, ap); /* longer messages are truncated */
    json_t *doc = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    if (doc == NULL) {
        /* not UTF-8 (a %s of raw bytes, or a cut in the middle of a character):
         * keep the ASCII, mark the rest */
        for (char *p = message; *p != '\0'; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        doc = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    }
    CS_ENSURE(doc != NULL, CONSORT_E_NOMEM, "response: out of memory");
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "response: out of memory");
    consort_err rc = set_body(resp, text, strlen(text), DEFAULT_CONTENT_TYPE);
    free(text);
    if (rc == CONSORT_OK)
        resp->status = status;
    return rc;
}

consort_err consort_response_error(consort_response *resp, int status, const char *code,
                                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    consort_err rc = response_errorv(resp, status, code, fmt, ap);
    va_end(ap);
    return cs_app_abi_result(rc);
}
