/* cs_stream over one end of a socketpair (for the in-process network). */
#include "base/alloc.h"
#include "consensus/loopnet_priv.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct loop_stream {
    cs_stream base; /* first: a cs_stream * is a loop_stream * */
    cs_loopnet *net;
    uv_pipe_t pipe;
    cs_stream_cbs cbs;
    void *ctx;
    bool has_cbs;
    bool paused;          /* cs_stream_pause: not reading until resumed */
    bool close_requested; /* cs_stream_close() called: flush, then close */
    bool closing;         /* uv_close() called */
    unsigned pending_writes;
    consort_err reason;
    char reason_msg[160];
    uint64_t local_id;
    uint64_t remote_id;
    char peer_address[256];
    loop_stream *prev, *next;
};

typedef struct stream_write {
    uv_write_t req;
    loop_stream *s;
    uint8_t data[];
} stream_write;

static void closed_cb(uv_handle_t *h)
{
    loop_stream *s = h->data;
    cs_loopnet *n = s->net;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        n->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->has_cbs && s->cbs.on_close != NULL)
        s->cbs.on_close(s->ctx, &s->base, s->reason, s->reason != CONSORT_OK ? s->reason_msg : "");
    cs_free(s);
}

/* Closes the handle now (queued writes are cancelled). */
static void close_now(loop_stream *s, consort_err reason, const char *why)
{
    if (s->closing)
        return;
    s->closing = true;
    s->reason = reason;
    snprintf(s->reason_msg, sizeof s->reason_msg, "loopnet %llu->%llu: %s",
             (unsigned long long)s->local_id, (unsigned long long)s->remote_id, why);
    uv_close((uv_handle_t *)&s->pipe, closed_cb);
}

static void write_cb(uv_write_t *req, int status)
{
    stream_write *w = req->data;
    loop_stream *s = w->s;
    cs_free(w);
    s->pending_writes--;
    if (status < 0 && status != UV_ECANCELED)
        close_now(s, CONSORT_E_IO, uv_strerror(status));
    else if (s->close_requested && s->pending_writes == 0)
        close_now(s, CONSORT_OK, "closed");
}

static consort_err ls_write(cs_stream *base, cs_slice data)
{
    loop_stream *s = (loop_stream *)base;
    CS_ENSURE(!s->close_requested && !s->closing, CONSORT_E_STATE, "loopnet stream is closing");
    uv_stream_t *st = (uv_stream_t *)&s->pipe;
    if (st->write_queue_size == 0 && data.len > 0) {
        uv_buf_t direct = uv_buf_init((char *)(uintptr_t)data.ptr, (unsigned)data.len);
        int k = uv_try_write(st, &direct, 1);
        if (k < 0 && k != UV_EAGAIN)
            return cs_fail(CONSORT_E_IO, "loopnet write: %s", uv_strerror(k));
        if (k > 0) {
            data.ptr += k;
            data.len -= (size_t)k;
        }
    }
    if (data.len == 0)
        return CONSORT_OK;
    stream_write *w = cs_malloc(sizeof *w + data.len);
    CS_ENSURE(w != NULL, CONSORT_E_NOMEM, "loopnet write of %zu bytes", data.len);
    w->s = s;
    memcpy(w->data, data.ptr, data.len);
    w->req.data = w;
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)data.len);
    int rv = uv_write(&w->req, st, &buf, 1, write_cb);
    if (rv != 0) {
        cs_free(w);
        return cs_fail(CONSORT_E_IO, "loopnet write: %s", uv_strerror(rv));
    }
    s->pending_writes++;
    return CONSORT_OK;
}

static void ls_close(cs_stream *base)
{
    loop_stream *s = (loop_stream *)base;
    if (s->close_requested || s->closing)
        return;
    s->close_requested = true;
    uv_read_stop((uv_stream_t *)&s->pipe);
    if (s->pending_writes == 0)
        close_now(s, CONSORT_OK, "closed");
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    loop_stream *s = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)s->net->scratch, sizeof s->net->scratch);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    loop_stream *s = st->data;
    if (nread == 0 || s->closing)
        return;
    if (nread == UV_EOF) {
        close_now(s, CONSORT_OK, "peer closed");
        return;
    }
    if (nread < 0) {
        close_now(s, CONSORT_E_IO, uv_strerror((int)nread));
        return;
    }
    if (s->has_cbs && s->cbs.on_data != NULL && !s->close_requested)
        s->cbs.on_data(s->ctx, &s->base, CS_SLICE(buf->base, (size_t)nread));
}

static void ls_set_cbs(cs_stream *base, const cs_stream_cbs *cbs, void *ctx)
{
    loop_stream *s = (loop_stream *)base;
    s->cbs = *cbs;
    s->ctx = ctx;
    bool first = !s->has_cbs;
    s->has_cbs = true;
    if (first && !s->paused && !s->close_requested && !s->closing) {
        int rv = uv_read_start((uv_stream_t *)&s->pipe, alloc_cb, read_cb);
        if (rv != 0)
            close_now(s, CONSORT_E_IO, uv_strerror(rv));
    }
}

/* uv_read_stop / uv_read_start on the pipe; a failure to restart closes
 * the stream (on_close reports it from the loop). */
static void ls_set_paused(cs_stream *base, bool paused)
{
    loop_stream *s = (loop_stream *)base;
    if (s->paused == paused || s->close_requested || s->closing)
        return;
    s->paused = paused;
    if (!s->has_cbs)
        return; /* set_cbs starts reading */
    if (paused) {
        (void)uv_read_stop((uv_stream_t *)&s->pipe);
        return;
    }
    int rv = uv_read_start((uv_stream_t *)&s->pipe, alloc_cb, read_cb);
    if (rv != 0)
        close_now(s, CONSORT_E_IO, uv_strerror(rv));
}

static const struct cs_x509 *ls_peer_cert(const cs_stream *base)
{
    (void)base;
    return NULL;
}

static size_t ls_write_queue_len(const cs_stream *base)
{
    const loop_stream *s = (const loop_stream *)base;
    return s->pipe.write_queue_size;
}

static const char *ls_peer_address(const cs_stream *base)
{
    return ((const loop_stream *)base)->peer_address;
}

static const cs_stream_vtbl loop_stream_vt = {
    .write = ls_write,
    .close = ls_close,
    .set_cbs = ls_set_cbs,
    .peer_cert = ls_peer_cert,
    .write_queue_len = ls_write_queue_len,
    .peer_address = ls_peer_address,
    .set_paused = ls_set_paused,
};

consort_err cs_loopnet_stream_new(cs_loopnet *n, int fd, uint64_t local_id, uint64_t remote_id,
                                  const char *remote_address, cs_stream **out)
{
    loop_stream *s = cs_calloc(1, sizeof *s);
    if (s == NULL) {
        close(fd);
        return cs_fail(CONSORT_E_NOMEM, "loopnet stream");
    }
    s->base.vt = &loop_stream_vt;
    s->net = n;
    s->local_id = local_id;
    s->remote_id = remote_id;
    snprintf(s->peer_address, sizeof s->peer_address, "%s", remote_address);
    uv_pipe_init(n->loop, &s->pipe, 0);
    s->pipe.data = s;
    s->next = n->streams;
    if (s->next != NULL)
        s->next->prev = s;
    n->streams = s;
    int rv = uv_pipe_open(&s->pipe, fd);
    if (rv != 0) {
        close(fd);
        close_now(s, CONSORT_E_IO, uv_strerror(rv));
        return cs_fail(CONSORT_E_IO, "loopnet stream: %s", uv_strerror(rv));
    }
    *out = &s->base;
    return CONSORT_OK;
}

void cs_loopnet_cut(cs_loopnet *n, uint64_t a, uint64_t b)
{
    for (loop_stream *s = n->streams; s != NULL; s = s->next) {
        bool hit = b == 0 ? (s->local_id == a || s->remote_id == a)
                          : ((s->local_id == a && s->remote_id == b) ||
                             (s->local_id == b && s->remote_id == a));
        if (hit)
            close_now(s, CONSORT_E_IO, "link cut");
    }
}

unsigned cs_loopnet_busy(const cs_loopnet *n)
{
    unsigned k = n->pending;
    for (const loop_stream *s = n->streams; s != NULL; s = s->next)
        k++;
    return k;
}
