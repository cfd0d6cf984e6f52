/*
 * Fuzz target: the HTTP/1.1 server path (src/net/http_server.c,
 * http_respond.c) driven over an in-memory stream, as a client on a real
 * connection would drive it: bytes arrive in pieces through the stream's
 * on_data, requests are pipelined, wait in the pending buffer while
 * max_pipeline requests are with the handler, are answered at once or
 * later and out of order, ask for 100-continue, send chunked bodies, and
 * the connection is closed by the server (an error, Connection: close) or
 * by the peer at any point. Deadlines are not reached (no time passes).
 *
 * Input: byte 0 configures the connection:
 *   bits 0-1  max_pipeline - 1 (1..4)
 *   bit  2    answers are deferred (else given inside the handler)
 *   bits 3-5  the stream delivers pieces of 1 << n bytes (1..128)
 *   bit  6    small limits (header 256 B, body 64 B, 4 headers), else defaults
 *   bit  7    the peer closes after the last piece (else the server is freed)
 * byte 1 orders the deferred answers; the rest is what the client sends.
 *
 * Checks beyond "no crash, no leak, no out-of-bounds access":
 *   - a request handed to the handler respects the limits and has its fields;
 *   - no more than max_pipeline requests are with the handler at a time;
 *   - responses leave in request order, each once (every answer carries
 *     X-Seq: <arrival number>, which must strictly increase on the wire),
 *     whatever order the handler answers in;
 *   - nothing is written once the server closed the stream, and on_data is
 *     never called after on_close;
 *   - a request whose connection closed reports it (not connected).
 */
#include "net/http_server.h"
#include "net/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DEFERRED 8 /* >= the largest max_pipeline */

/* ---- the in-memory stream ---- */

typedef struct mem_stream {
    cs_stream base;
    cs_stream_cbs cbs;
    void *ctx;
    bool close_requested; /* by the server: on_close is owed */
    bool closed;          /* on_close was delivered */
    bool paused;          /* the server stopped reading (cs_stream_pause) */
    long last_seq;        /* the X-Seq of the last response written */
    size_t writes;
} mem_stream;

/* The value of X-Seq in the header section of one response, or -1. */
static long response_seq(cs_slice r)
{
    const char *p = (const char *)r.ptr;
    const char *end = memmem(p, r.len, "\r\n\r\n", 4);
    if (end == NULL)
        abort(); /* every write is one whole response head (and its body) */
    const char *h = memmem(p, (size_t)(end - p), "\r\nX-Seq: ", 9);
    return h != NULL ? strtol(h + 9, NULL, 10) : -1;
}

static consort_err ms_write(cs_stream *s, cs_slice data)
{
    mem_stream *m = (mem_stream *)s;
    if (m->closed || m->close_requested)
        abort(); /* written after the server closed the stream */
    m->writes++;
    long seq = response_seq(data);
    if (seq >= 0) {
        if (seq <= m->last_seq)
            abort(); /* out of order, or twice */
        m->last_seq = seq;
    }
    return CONSORT_OK;
}

static void ms_close(cs_stream *s)
{
    mem_stream *m = (mem_stream *)s;
    m->close_requested = true; /* on_close follows from the "loop" (deliver_close) */
}

static void ms_set_cbs(cs_stream *s, const cs_stream_cbs *cbs, void *ctx)
{
    mem_stream *m = (mem_stream *)s;
    m->cbs = *cbs;
    m->ctx = ctx;
}

static void ms_set_paused(cs_stream *s, bool paused)
{
    ((mem_stream *)s)->paused = paused;
}

static const struct cs_x509 *ms_peer_cert(const cs_stream *s)
{
    (void)s;
    return NULL;
}

static size_t ms_queue_len(const cs_stream *s)
{
    (void)s;
    return 0;
}

static const char *ms_peer_address(const cs_stream *s)
{
    (void)s;
    return "fuzz:1";
}

static const cs_stream_vtbl MS_VT = {.write = ms_write,
                                     .close = ms_close,
                                     .set_cbs = ms_set_cbs,
                                     .peer_cert = ms_peer_cert,
                                     .write_queue_len = ms_queue_len,
                                     .peer_address = ms_peer_address,
                                     .set_paused = ms_set_paused};

static void deliver_close(mem_stream *m, consort_err reason, const char *msg)
{
    if (m->closed)
        return;
    m->closed = true;
    m->cbs.on_close(m->ctx, &m->base, reason, msg);
}

/* ---- the handler ---- */

typedef struct harness {
    cs_http_limits limits;
    size_t max_pipeline;
    bool deferred;
    uint8_t order;
    long next_seq;
    cs_http_request *waiting[MAX_DEFERRED];
    long waiting_seq[MAX_DEFERRED];
    size_t nwaiting;
    size_t with_handler; /* handed over, not answered */
} harness;

static void answer(harness *h, cs_http_request *req, long seq)
{
    char v[24];
    snprintf(v, sizeof v, "%ld", seq);
    const cs_http_header hdr[] = {{"X-Seq", v}};
    static const int statuses[] = {200, 201, 204, 404, 500};
    int status = statuses[seq % 5];
    cs_slice body = status == 204 ? CS_SLICE_EMPTY : req->body;
    h->with_handler--;
    if (cs_http_respond(req, status, hdr, 1, body) != CONSORT_OK)
        abort(); /* a valid answer was refused */
}

static void on_request(void *ctx, cs_http_request *req)
{
    harness *h = ctx;
    if (req->method == NULL || req->target == NULL || req->path == NULL || req->query == NULL ||
        req->header_count > h->limits.max_headers || req->body.len > h->limits.max_body_bytes ||
        (req->body.len > 0 && req->body.ptr == NULL))
        abort();
    for (size_t i = 0; i < req->header_count; i++)
        if (req->headers[i].name == NULL || req->headers[i].value == NULL)
            abort();
    if (++h->with_handler > h->max_pipeline)
        abort(); /* more requests with handlers than max_pipeline */
    long seq = h->next_seq++;
    if (!h->deferred) {
        answer(h, req, seq);
        return;
    }
    if (h->nwaiting == MAX_DEFERRED)
        abort(); /* cannot happen when with_handler <= max_pipeline */
    h->waiting[h->nwaiting] = req;
    h->waiting_seq[h->nwaiting] = seq;
    h->nwaiting++;
}

/* Answers one deferred request, chosen by the order byte (out of order). */
static void answer_one(harness *h, bool closed)
{
    if (h->nwaiting == 0)
        return;
    size_t i = (size_t)(h->order + h->next_seq) % h->nwaiting;
    cs_http_request *req = h->waiting[i];
    long seq = h->waiting_seq[i];
    h->nwaiting--;
    h->waiting[i] = h->waiting[h->nwaiting];
    h->waiting_seq[i] = h->waiting_seq[h->nwaiting];
    if (closed && cs_http_request_connected(req))
        abort(); /* its connection is gone */
    answer(h, req, seq);
}

static uv_loop_t *loop(void)
{
    static uv_loop_t l;
    static bool ready;
    if (!ready) {
        if (uv_loop_init(&l) != 0)
            abort();
        ready = true;
    }
    return &l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t cfg = data[0];
    harness h = {.max_pipeline = (size_t)(cfg & 3) + 1,
                 .deferred = (cfg & 4) != 0,
                 .order = data[1],
                 .next_seq = 0};
    if (cfg & 0x40)
        h.limits =
            (cs_http_limits){.max_header_bytes = 256, .max_body_bytes = 64, .max_headers = 4};
    else
        h.limits = (cs_http_limits){.max_header_bytes = CS_HTTP_DEFAULT_MAX_HEADER_BYTES,
                                    .max_body_bytes = CS_HTTP_DEFAULT_MAX_BODY_BYTES,
                                    .max_headers = CS_HTTP_DEFAULT_MAX_HEADERS};
    size_t piece = (size_t)1 << ((cfg >> 3) & 7);
    const cs_http_server_params params = {
        .limits = h.limits, .max_pipeline = h.max_pipeline, .on_request = on_request, .ctx = &h};
    cs_http_server *srv;
    if (cs_http_server_new(loop(), &params, &srv) != CONSORT_OK)
        abort();
    mem_stream m = {.base = {.vt = &MS_VT}, .last_seq = -1};
    cs_http_server_attach(srv, &m.base);
    if (cs_http_server_connection_count(srv) != 1)
        abort();

    const uint8_t *p = data + 2;
    size_t left = size - 2;
    while (left > 0 && !m.closed) {
        size_t n = left < piece ? left : piece;
        /* a paused stream delivers nothing: the handler answers until the
         * server reads again (only a full pipeline pauses it here) */
        while (m.paused && !m.close_requested && h.nwaiting > 0)
            answer_one(&h, m.closed);
        if (m.paused && !m.close_requested)
            abort(); /* paused with nothing to wait for */
        if (!m.close_requested)
            m.cbs.on_data(m.ctx, &m.base, CS_SLICE(p, n)); /* as the loop would */
        p += n;
        left -= n;
        if (m.close_requested)
            deliver_close(&m, CONSORT_OK, "");
        if (h.deferred && (p[-1] & 1))
            answer_one(&h, m.closed);
        if (m.close_requested)
            deliver_close(&m, CONSORT_OK, "");
    }
    /* the handler catches up: the pipeline drains, waiting input is parsed */
    while (h.nwaiting > 0) {
        answer_one(&h, m.closed);
        if (m.close_requested)
            deliver_close(&m, CONSORT_OK, "");
    }
    if (!m.closed && (cfg & 0x80))
        deliver_close(&m, CONSORT_E_IO, "the peer went away");
    cs_http_server_free(srv);
    if (m.close_requested)
        deliver_close(&m, CONSORT_OK, "");
    if (!m.closed || h.nwaiting != 0 || h.with_handler != 0)
        abort(); /* the server closed its connection; every request was answered */
    uv_run(loop(), UV_RUN_NOWAIT); /* frees the connection's timer */
    return 0;
}
