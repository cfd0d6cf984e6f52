/*
 * Fuzz target: the HTTP/1.1 parsing paths, without sockets.
 *
 * The first input byte selects how the rest is fed and to which parser:
 *   bit 7 clear: the server's request parser glue (http_parse.c) with small
 *                limits, fed in pieces of (byte & 0x3f) + 1 bytes; every
 *                request that comes out is checked against the limits and
 *                its fields are exercised (header lookup, query decoding,
 *                echoing its headers in a response);
 *   bit 7 set:   the client's response parser (http_client.c) behind a fake
 *                stream, after three pipelined requests (GET, HEAD, POST).
 * Nothing may crash, leak, read out of bounds, break a limit or run a
 * callback twice.
 */
#include "net/http_client.h"
#include "net/http_priv.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const cs_http_limits LIMITS = {
    .max_header_bytes = 512, .max_body_bytes = 256, .max_headers = 8};

static void check_request(const cs_http_req *r)
{
    const cs_http_request *q = &r->pub;
    if (q->method == NULL || q->path == NULL || q->query == NULL || q->target == NULL ||
        q->header_count > LIMITS.max_headers || q->body.len > LIMITS.max_body_bytes ||
        strlen(q->target) > LIMITS.max_header_bytes)
        abort();
    for (size_t i = 0; i < q->header_count; i++)
        if (q->headers[i].name == NULL || q->headers[i].value == NULL)
            abort();
    (void)cs_http_request_header(q, "content-type");
    cs_buf v;
    cs_buf_init(&v, 0);
    bool found;
    consort_err rc = cs_http_request_param(q, "id", &v, &found);
    (void)rc;
    cs_buf_reset(&v);
    rc = cs_http_write_response(&v, 200, q->headers, q->header_count, q->body, !q->keep_alive,
                                r->head);
    (void)rc;
    cs_buf_cleanup(&v);
}

static void fuzz_requests(cs_slice in, size_t step)
{
    cs_http_parser *p;
    if (cs_http_parser_new(&LIMITS, NULL, NULL, &p) != CONSORT_OK)
        abort();
    size_t off = 0;
    while (off < in.len) {
        size_t n = in.len - off < step ? in.len - off : step;
        size_t used = 0;
        consort_err rc = cs_http_parser_feed(p, CS_SLICE(in.ptr + off, n), &used);
        if (used > n)
            abort();
        cs_http_req *r = cs_http_parser_take(p);
        if (rc != CONSORT_OK) {
            int status = cs_http_parser_status(p);
            if (r != NULL || (status != 400 && status != 413 && status != 431 && status != 500))
                abort();
            break;
        }
        if (r != NULL) {
            check_request(r);
            cs_http_req_free(r);
        } else if (used < n && !cs_http_parser_done(p)) {
            abort(); /* no request, no error, yet bytes left over */
        }
        off += used;
    }
    cs_http_parser_free(p);
}

/* ---- a fake stream for the client ---- */

typedef struct fake {
    cs_stream base;
    cs_stream_cbs cbs;
    void *ctx;
    bool closed;
} fake;

static consort_err fake_write(cs_stream *s, cs_slice d)
{
    (void)d;
    return ((fake *)(void *)s)->closed ? cs_fail(CONSORT_E_STATE, "closed") : CONSORT_OK;
}
static void fake_close(cs_stream *s)
{
    ((fake *)(void *)s)->closed = true;
}
static void fake_set_cbs(cs_stream *s, const cs_stream_cbs *cbs, void *ctx)
{
    ((fake *)(void *)s)->cbs = *cbs;
    ((fake *)(void *)s)->ctx = ctx;
}
static const struct cs_x509 *fake_cert(const cs_stream *s)
{
    (void)s;
    return NULL;
}
static size_t fake_queue(const cs_stream *s)
{
    (void)s;
    return 0;
}
static const char *fake_addr(const cs_stream *s)
{
    (void)s;
    return "fuzz:1";
}
static void fake_set_paused(cs_stream *s, bool paused)
{
    (void)s;
    (void)paused;
}
static const cs_stream_vtbl FAKE = {fake_write, fake_close, fake_set_cbs,   fake_cert,
                                    fake_queue, fake_addr,  fake_set_paused};

static void on_response(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    int *calls = ctx;
    if (++*calls > 1 || (err == CONSORT_OK) != (resp != NULL))
        abort();
    if (resp != NULL && (resp->status < 100 || resp->status > 999 ||
                         resp->body.len > CS_HTTP_CLIENT_DEFAULT_MAX_BODY))
        abort();
}

static void fuzz_responses(cs_slice in, size_t step)
{
    fake f = {.base = {&FAKE}};
    cs_http_client *c;
    if (cs_http_client_new(&f.base, NULL, &c) != CONSORT_OK)
        abort();
    int calls[3] = {0, 0, 0};
    static const char *const methods[] = {"GET", "HEAD", "POST"};
    for (int i = 0; i < 3; i++)
        if (cs_http_client_request(c, methods[i], "/x", NULL, 0, CS_SLICE_LIT("b"), on_response,
                                   &calls[i]) != CONSORT_OK)
            abort();
    for (size_t off = 0; off < in.len && !f.closed; off += step) {
        size_t n = in.len - off < step ? in.len - off : step;
        f.cbs.on_data(f.ctx, &f.base, CS_SLICE(in.ptr + off, n));
    }
    /* the peer closes (as the loop would report it), then the user frees */
    f.cbs.on_close(f.ctx, &f.base, CONSORT_OK, "");
    cs_http_client_free(c);
    for (int i = 0; i < 3; i++)
        if (calls[i] != 1)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = (size_t)(data[0] & 0x3f) + 1;
    cs_slice in = CS_SLICE(data + 1, size - 1);
    if (data[0] & 0x80)
        fuzz_responses(in, step);
    else
        fuzz_requests(in, step);
    return 0;
}
