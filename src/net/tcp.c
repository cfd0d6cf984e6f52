/*
 * The TCP stream (tcp.h): reading, queued writes, orderly and hard close.
 *
 * Lifetime: the stream owns a TCP handle and a linger timer. Closing ends
 * with uv_close on both; when both close callbacks have run, on_close is
 * reported (if the stream was ever delivered) and the memory is freed. So
 * on_close always comes from a loop callback, never from inside a call the
 * user made, and the stream stays valid until then.
 */
#include "net/tcp_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

#define READ_BUF_SIZE 65536

/* One read buffer per thread (each loop runs on one): libuv reads into it
 * and read_cb hands it on at once, and on_data may use the bytes only
 * during the call (stream.h). A connection costs no read buffer of its own,
 * which matters with thousands of them open. */
static _Thread_local uint8_t read_buf[READ_BUF_SIZE];

struct cs_tcp_stream {
    cs_stream base;
    uv_tcp_t tcp;
    uv_timer_t linger;
    uv_shutdown_t shutdown_req;
    uv_connect_t connect_req;
    int open_handles;
    cs_stream_cbs cbs;
    void *ctx;
    bool has_cbs;
    bool delivered; /* the user has it: on_close is owed */
    bool reading;
    bool paused; /* cs_stream_pause: not reading until resumed (unless closing) */
    bool closing;
    bool eof;  /* the peer sent FIN */
    bool hard; /* uv_close already requested */
    consort_err reason;
    char reason_msg[CS_ERRMSG_MAX];
    size_t queued;
    cs_listen_gate *gate; /* the listener's, while the stream counts there */
    cs_conn_key gate_key;
    char peer[CS_NET_ADDRESS_MAX];
};

/* One queued write: the request and a copy of the bytes. */
typedef struct write_req {
    uv_write_t req;
    cs_tcp_stream *s;
    size_t len;
    uint8_t data[];
} write_req;

static const cs_stream_vtbl tcp_vtbl;

static cs_tcp_stream *from_base(const cs_stream *s)
{
    return (cs_tcp_stream *)(void *)((const char *)s - offsetof(cs_tcp_stream, base));
}

static void handle_closed_cb(uv_handle_t *h)
{
    cs_tcp_stream *s = h->data;
    if (--s->open_handles > 0)
        return;
    if (s->gate != NULL) /* the socket is closed: the descriptor is free again */
        cs_listen_gate_release(s->gate, &s->gate_key);
    if (s->delivered && s->cbs.on_close != NULL)
        s->cbs.on_close(s->ctx, &s->base, s->reason, s->reason != CONSORT_OK ? s->reason_msg : "");
    cs_free(s);
}

static void close_handles(cs_tcp_stream *s)
{
    if (s->hard)
        return;
    s->hard = true;
    s->closing = true;
    uv_close((uv_handle_t *)&s->tcp, handle_closed_cb);
    uv_close((uv_handle_t *)&s->linger, handle_closed_cb);
}

/* Records the first failure as the close reason and closes at once. */
static void fail_hard(cs_tcp_stream *s, consort_err rc)
{
    if (s->reason == CONSORT_OK && rc != CONSORT_OK) {
        s->reason = rc;
        snprintf(s->reason_msg, sizeof s->reason_msg, "%s", consort_errmsg());
    }
    cs_log_debug("net", "tcp %s: closing: %s", s->peer, consort_errmsg());
    close_handles(s);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    (void)h;
    buf->base = (char *)read_buf;
    buf->len = READ_BUF_SIZE;
}

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    cs_tcp_stream *s = h->data;
    if (nread == 0 || s->hard)
        return;
    if (nread == UV_EOF) {
        s->eof = true;
        uv_read_stop(h);
        s->reading = false;
        if (s->closing) /* lingering after our FIN: the peer is done too */
            close_handles(s);
        else
            cs_stream_close(&s->base);
        return;
    }
    if (nread < 0) {
        fail_hard(s, cs_net_uv_fail((int)nread, "tcp %s: read", s->peer));
        return;
    }
    if (s->closing || !s->has_cbs || s->cbs.on_data == NULL)
        return; /* draining: input after close is discarded */
    s->cbs.on_data(s->ctx, &s->base, CS_SLICE(read_buf, (size_t)nread));
}

static consort_err start_reading(cs_tcp_stream *s)
{
    if (s->reading || s->eof || s->hard)
        return CONSORT_OK;
    int rc = uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
    if (rc != 0)
        return cs_net_uv_fail(rc, "tcp %s: read start", s->peer);
    s->reading = true;
    return CONSORT_OK;
}

static void write_cb(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    cs_tcp_stream *s = w->s;
    s->queued -= w->len;
    cs_free(w);
    if (status < 0 && status != UV_ECANCELED && !s->hard) {
        fail_hard(s, cs_net_uv_fail(status, "tcp %s: write", s->peer));
        return;
    }
    if (s->queued == 0 && status == 0 && !s->closing && !s->hard && s->has_cbs &&
        s->cbs.on_drain != NULL)
        s->cbs.on_drain(s->ctx, &s->base);
}

static consort_err tcp_write(cs_stream *base, cs_slice data)
{
    cs_tcp_stream *s = from_base(base);
    CS_ENSURE(!s->closing, CONSORT_E_STATE, "tcp %s: write after close", s->peer);
    if (data.len == 0)
        return CONSORT_OK;
    CS_ENSURE(data.len <= CS_TCP_WRITE_QUEUE_MAX - s->queued, CONSORT_E_BUSY,
              "tcp %s: write of %zu bytes with %zu queued exceeds %zu", s->peer, data.len,
              s->queued, CS_TCP_WRITE_QUEUE_MAX);
    if (s->queued == 0) { /* nothing ahead of us: try the kernel directly */
        uv_buf_t b = uv_buf_init((char *)(uintptr_t)data.ptr, (unsigned)data.len);
        int n = data.len <= UINT32_MAX ? uv_try_write((uv_stream_t *)&s->tcp, &b, 1) : UV_EAGAIN;
        if (n < 0 && n != UV_EAGAIN) {
            consort_err rc = cs_net_uv_fail(n, "tcp %s: write", s->peer);
            fail_hard(s, rc);
            return rc;
        }
        if (n > 0) {
            data.ptr += n;
            data.len -= (size_t)n;
        }
        if (data.len == 0)
            return CONSORT_OK;
    }
    write_req *w = cs_malloc(sizeof *w + data.len);
    CS_ENSURE(w != NULL, CONSORT_E_NOMEM, "tcp %s: out of memory queueing %zu bytes", s->peer,
              data.len);
    w->s = s;
    w->len = data.len;
    memcpy(w->data, data.ptr, data.len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)data.len);
    int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, write_cb);
    if (rc != 0) {
        cs_free(w);
        consort_err err = cs_net_uv_fail(rc, "tcp %s: write", s->peer);
        fail_hard(s, err);
        return err;
    }
    s->queued += data.len;
    return CONSORT_OK;
}

static void linger_cb(uv_timer_t *t)
{
    close_handles(t->data);
}

static void restart_linger(cs_tcp_stream *s)
{
    if (uv_timer_start(&s->linger, linger_cb, CS_TCP_LINGER_MS, 0) != 0)
        close_handles(s);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    cs_tcp_stream *s = req->data;
    if (s->hard)
        return;
    if (status < 0 || s->eof) {
        close_handles(s);
        return;
    }
    /* FIN sent: drain input until the peer closes or the linger timer fires. */
    restart_linger(s);
    if (start_reading(s) != CONSORT_OK)
        close_handles(s);
}

static void tcp_close(cs_stream *base)
{
    cs_tcp_stream *s = from_base(base);
    if (s->closing)
        return;
    s->closing = true;
    /* queued writes get CS_TCP_FLUSH_TIMEOUT_MS to reach the kernel, then the linger starts */
    int rc = uv_timer_start(&s->linger, linger_cb, CS_TCP_FLUSH_TIMEOUT_MS, 0);
    if (rc == 0) {
        s->shutdown_req.data = s;
        rc = uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp, shutdown_cb);
    }
    if (rc != 0) /* e.g. ENOTCONN: nothing to flush */
        close_handles(s);
}

static void tcp_set_cbs(cs_stream *base, const cs_stream_cbs *cbs, void *ctx)
{
    cs_tcp_stream *s = from_base(base);
    s->cbs = *cbs;
    s->ctx = ctx;
    s->has_cbs = true;
    if (s->closing || s->paused)
        return;
    consort_err rc = start_reading(s);
    if (rc != CONSORT_OK)
        fail_hard(s, rc);
}

/* Pausing stops the socket's reads (uv_read_stop: no read_cb follows, even
 * from the read loop that called on_data); resuming starts them again, and
 * a failure closes the stream (on_close reports it from the loop). A
 * closing stream drains its input whatever was asked. */
static void tcp_set_paused(cs_stream *base, bool paused)
{
    cs_tcp_stream *s = from_base(base);
    if (s->paused == paused)
        return;
    s->paused = paused;
    if (s->closing)
        return;
    if (paused) {
        if (s->reading)
            (void)uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = false;
        return;
    }
    if (!s->has_cbs)
        return; /* set_cbs starts reading */
    consort_err rc = start_reading(s);
    if (rc != CONSORT_OK)
        fail_hard(s, rc);
}

static const struct cs_x509 *tcp_peer_cert(const cs_stream *base)
{
    (void)base;
    return NULL;
}

static size_t tcp_write_queue_len(const cs_stream *base)
{
    return from_base(base)->queued;
}

static const char *tcp_peer_address(const cs_stream *base)
{
    return from_base(base)->peer;
}

static const cs_stream_vtbl tcp_vtbl = {
    .write = tcp_write,
    .close = tcp_close,
    .set_cbs = tcp_set_cbs,
    .peer_cert = tcp_peer_cert,
    .write_queue_len = tcp_write_queue_len,
    .peer_address = tcp_peer_address,
    .set_paused = tcp_set_paused,
};

/* ---- for tcp_listen.c ---- */

consort_err cs_tcp_stream_new(uv_loop_t *loop, cs_tcp_stream **out)
{
    *out = NULL;
    cs_tcp_stream *s = cs_calloc(1, sizeof *s);
    CS_ENSURE(s != NULL, CONSORT_E_NOMEM, "tcp: out of memory");
    s->base.vt = &tcp_vtbl;
    snprintf(s->peer, sizeof s->peer, "(unconnected)");
    int rc = uv_tcp_init(loop, &s->tcp);
    if (rc != 0) {
        cs_free(s);
        return cs_net_uv_fail(rc, "tcp: handle");
    }
    s->tcp.data = s;
    s->open_handles = 1;
    rc = uv_timer_init(loop, &s->linger); /* cannot fail on Linux; checked anyway */
    s->linger.data = s;
    if (rc != 0) {
        s->hard = true;
        uv_close((uv_handle_t *)&s->tcp, handle_closed_cb);
        return cs_net_uv_fail(rc, "tcp: timer");
    }
    s->open_handles = 2;
    *out = s;
    return CONSORT_OK;
}

uv_tcp_t *cs_tcp_stream_handle(cs_tcp_stream *s)
{
    return &s->tcp;
}

uv_connect_t *cs_tcp_stream_connect_req(cs_tcp_stream *s)
{
    return &s->connect_req;
}

cs_tcp_stream *cs_tcp_stream_from_connect_req(uv_connect_t *req)
{
    return (cs_tcp_stream *)(void *)((char *)req - offsetof(cs_tcp_stream, connect_req));
}

void cs_tcp_stream_connected(cs_tcp_stream *s, struct sockaddr_storage *peer)
{
    struct sockaddr_storage ss = {.ss_family = AF_UNSPEC};
    int len = sizeof ss;
    if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) == 0)
        cs_net_format_address((struct sockaddr *)&ss, s->peer);
    else
        ss.ss_family = AF_UNSPEC;
    if (peer != NULL)
        *peer = ss;
    (void)uv_tcp_nodelay(&s->tcp, 1);
    (void)uv_tcp_keepalive(&s->tcp, 1, 60);
    s->delivered = true;
}

void cs_tcp_stream_hold(cs_tcp_stream *s, cs_listen_gate *gate, const cs_conn_key *key)
{
    s->gate = gate;
    s->gate_key = *key;
}

cs_stream *cs_tcp_stream_base(cs_tcp_stream *s)
{
    return &s->base;
}

void cs_tcp_stream_discard(cs_tcp_stream *s)
{
    s->delivered = false;
    close_handles(s);
}
