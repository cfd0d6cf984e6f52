/*
 * The server's request parser: http-parser in HTTP_REQUEST mode driving a
 * cs_http_msg per request, one request at a time (the parser pauses at
 * each message end, so the caller controls pipelining). No I/O: the server
 * feeds it socket bytes, the fuzz target feeds it anything.
 */
#include "net/http_priv.h"

#include "base/alloc.h"

#include <stdio.h>
#include <string.h>

struct cs_http_parser {
    http_parser hp;
    cs_http_limits limits;
    cs_http_headers_cb on_headers;
    void *ctx;
    cs_http_chunks chunks;
    cs_http_req *cur;   /* being parsed */
    cs_http_req *ready; /* complete, not yet taken */
    bool done;          /* nothing more will be parsed */
    int status;         /* HTTP status of the failure, 0 if none */
    int oom_status;     /* set when on_message_begin cannot allocate */
};

void cs_http_req_free(cs_http_req *r)
{
    if (r == NULL)
        return;
    cs_http_msg_cleanup(&r->msg);
    cs_buf_cleanup(&r->response);
    cs_free(r->path);
    cs_free(r->query);
    cs_free(r);
}

static cs_http_parser *of(http_parser *hp)
{
    return hp->data;
}

static int on_message_begin(http_parser *hp)
{
    cs_http_parser *p = of(hp);
    cs_http_req_free(p->cur);
    p->cur = cs_calloc(1, sizeof *p->cur);
    if (p->cur == NULL) {
        p->oom_status = 500;
        return -1;
    }
    cs_http_msg_init(&p->cur->msg, &p->limits);
    cs_buf_init(&p->cur->response, 0);
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    return cs_http_msg_url(&of(hp)->cur->msg, at, len);
}

static int on_field(http_parser *hp, const char *at, size_t len)
{
    return cs_http_msg_field(&of(hp)->cur->msg, at, len);
}

static int on_value(http_parser *hp, const char *at, size_t len)
{
    return cs_http_msg_value(&of(hp)->cur->msg, at, len);
}

static char *copy_part(const cs_http_msg *m, const struct http_parser_url *u, int field)
{
    if (!(u->field_set & (1u << field)))
        return cs_strdup("");
    return cs_strndup((const char *)m->url.ptr + u->field_data[field].off,
                      u->field_data[field].len);
}

/* Splits the request target (RFC 9112 §3.2) into path and query. */
static int split_target(cs_http_req *r, unsigned method)
{
    cs_http_msg *m = &r->msg;
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url((const char *)m->url.ptr, m->url.len, method == HTTP_CONNECT, &u) !=
        0)
        return cs_http_msg_fail(m, 400, "request target does not parse");
    r->path = copy_part(m, &u, UF_PATH);
    r->query = copy_part(m, &u, UF_QUERY);
    if (r->path == NULL || r->query == NULL)
        return cs_http_msg_fail(m, 500, "out of memory");
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    cs_http_parser *p = of(hp);
    cs_http_req *r = p->cur;
    if (cs_http_msg_headers_done(&r->msg, hp) != 0)
        return -1;
    if (hp->http_major != 1) /* RFC 9112 §2.3: this is an HTTP/1.x server */
        return cs_http_msg_fail(&r->msg, 400, "HTTP/%u.%u is not supported", hp->http_major,
                                hp->http_minor);
    snprintf(r->method, sizeof r->method, "%s", http_method_str((enum http_method)hp->method));
    if (split_target(r, hp->method) != 0)
        return -1;
    r->head = hp->method == HTTP_HEAD;
    r->pub.method = r->method;
    r->pub.target = (const char *)r->msg.url.ptr;
    r->pub.path = r->path;
    r->pub.query = r->query;
    r->pub.headers = r->msg.headers;
    r->pub.header_count = r->msg.header_count;
    r->pub.http_minor = hp->http_minor;
    if (p->on_headers != NULL)
        p->on_headers(p->ctx, r);
    return 0;
}

static int on_chunk_header(http_parser *hp)
{
    return cs_http_chunks_header(&of(hp)->chunks, hp->content_length);
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    cs_http_parser *p = of(hp);
    if (cs_http_msg_body(&p->cur->msg, at, len) != 0)
        return -1;
    return (hp->flags & F_CHUNKED) ? cs_http_chunks_body(&p->chunks, &p->cur->msg, at, len) : 0;
}

static int on_message_complete(http_parser *hp)
{
    cs_http_parser *p = of(hp);
    cs_http_req *r = p->cur;
    p->cur = NULL;
    r->pub.body = cs_buf_slice(&r->msg.body);
    /* RFC 9112 §9.3: persistence; an upgrade hands the connection to another protocol,
     * which we do not speak, so it ends after this response. */
    r->pub.keep_alive = http_should_keep_alive(hp) && !hp->upgrade;
    r->close_after = !r->pub.keep_alive;
    if (r->close_after)
        p->done = true;
    p->ready = r;
    http_parser_pause(hp, 1); /* one request per feed */
    return 0;
}

static const http_parser_settings SETTINGS = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
};

consort_err cs_http_parser_new(const cs_http_limits *limits, cs_http_headers_cb on_headers,
                               void *ctx, cs_http_parser **out)
{
    *out = NULL;
    cs_http_parser *p = cs_calloc(1, sizeof *p);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "HTTP: out of memory");
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    p->limits = *limits;
    cs_http_limits_defaults(&p->limits);
    p->on_headers = on_headers;
    p->ctx = ctx;
    *out = p;
    return CONSORT_OK;
}

void cs_http_parser_free(cs_http_parser *p)
{
    if (p == NULL)
        return;
    cs_http_req_free(p->cur);
    cs_http_req_free(p->ready);
    cs_free(p);
}

static consort_err parse_failure(cs_http_parser *p, enum http_errno e)
{
    p->done = true;
    const cs_http_msg *m = p->cur != NULL ? &p->cur->msg : NULL;
    int status = m != NULL && m->status != 0 ? m->status : p->oom_status;
    char what[192];
    if (status != 0) {
        snprintf(what, sizeof what, "%s", m != NULL ? m->error : "out of memory");
    } else if (e == HPE_HEADER_OVERFLOW) { /* http-parser's own cap (RFC 6585 §5) */
        status = 431;
        snprintf(what, sizeof what, "request header fields too large");
    } else {
        status = 400;
        snprintf(what, sizeof what, "%s", http_errno_description(e));
    }
    p->status = status;
    cs_http_req_free(p->cur);
    p->cur = NULL;
    consort_err code = status == 500   ? CONSORT_E_NOMEM
                       : status == 400 ? CONSORT_E_MALFORMED
                                       : CONSORT_E_TOO_LARGE;
    return cs_fail(code, "HTTP request: %s", what);
}

consort_err cs_http_parser_feed(cs_http_parser *p, cs_slice data, size_t *consumed)
{
    *consumed = 0;
    CS_ENSURE(p->ready == NULL, CONSORT_E_STATE, "HTTP: the previous request was not taken");
    if (p->done) {
        CS_ENSURE(p->status == 0, CONSORT_E_STATE, "HTTP: the parser failed earlier");
        *consumed = data.len; /* after the final request: ignored */
        return CONSORT_OK;
    }
    if (data.len == 0) /* 0 would mean end of stream to http-parser */
        return CONSORT_OK;
    const char *bytes = (const char *)data.ptr;
    if (cs_http_chunks_feed(&p->chunks, p->cur != NULL ? &p->cur->msg : NULL, bytes, data.len) != 0)
        return parse_failure(p, HPE_CB_body);
    size_t n = http_parser_execute(&p->hp, &SETTINGS, bytes, data.len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (e == HPE_PAUSED) {
        http_parser_pause(&p->hp, 0);
        *consumed = n;
        return CONSORT_OK;
    }
    if (e != HPE_OK)
        return parse_failure(p, e);
    *consumed = n;
    if (n < data.len) /* an upgrade stopped the parser: nothing more is HTTP */
        p->done = true;
    return CONSORT_OK;
}

cs_http_req *cs_http_parser_take(cs_http_parser *p)
{
    cs_http_req *r = p->ready;
    p->ready = NULL;
    return r;
}

bool cs_http_parser_done(const cs_http_parser *p)
{
    return p->done;
}

int cs_http_parser_status(const cs_http_parser *p)
{
    return p->status;
}
