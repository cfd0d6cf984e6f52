#include "consensus/bridge.h"

#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <raft.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_MOD "raft"

/* A copy of stream bytes on its way into raft's socket. */
typedef struct pump_write {
    uv_write_t req;
    cs_raft_bridge *bridge;
    size_t len;
    uint8_t data[];
} pump_write;

static void discard_on_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    (void)s;
    (void)data;
}

static void discard_on_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)ctx;
    (void)s;
    (void)reason;
    (void)msg;
}

static const cs_stream_cbs discard_cbs = {.on_data = discard_on_data, .on_close = discard_on_close};

void cs_raft_stream_discard(cs_stream *stream)
{
    if (stream == NULL)
        return;
    cs_stream_set_cbs(stream, &discard_cbs, NULL);
    cs_stream_close(stream);
}

static void raft_handle_free_cb(uv_handle_t *h)
{
    raft_free(h);
}

/* Frees the bridge once the stream and both handles are gone. */
static void maybe_done(cs_raft_bridge *b)
{
    if (b->stream != NULL || b->open_handles > 0)
        return;
    const cs_raft_bridge_cfg *cfg = b->cfg;
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        *cfg->list = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
    cs_free(b);
    cfg->done(cfg->done_ctx);
}

static void handle_closed_cb(uv_handle_t *h)
{
    cs_raft_bridge *b = h->data;
    b->open_handles--;
    maybe_done(b);
}

void cs_raft_bridge_close(cs_raft_bridge *b)
{
    if (b->closing)
        return;
    b->closing = true;
    /* Handle closes are asynchronous, so the bridge outlives this call until
     * the stream close below, which may complete synchronously. */
    uv_close((uv_handle_t *)&b->pump, handle_closed_cb);
    uv_close((uv_handle_t *)&b->resume, handle_closed_cb);
    if (b->stream != NULL)
        cs_stream_close(b->stream);
}

/* ---- peer -> raft ---- */

static void pump_write_cb(uv_write_t *req, int status)
{
    pump_write *w = req->data;
    cs_raft_bridge *b = w->bridge;
    cs_free(w);
    if (status < 0 && status != UV_ECANCELED) {
        cs_log_warn(LOG_MOD, "raft peer %llu: writing to raft: %s", (unsigned long long)b->peer_id,
                    uv_strerror(status));
        cs_raft_bridge_close(b);
        return;
    }
    /* raft has read down to the low-water mark: let the peer's bytes in again */
    if (b->in_paused && !b->closing && b->stream != NULL &&
        b->pump.write_queue_size <= b->cfg->low_water) {
        b->in_paused = false;
        cs_stream_resume(b->stream);
    }
}

static consort_err pump_queue(cs_raft_bridge *b, cs_slice data)
{
    uv_stream_t *pump = (uv_stream_t *)&b->pump;
    if (pump->write_queue_size == 0) {
        uv_buf_t direct = uv_buf_init((char *)(uintptr_t)data.ptr, (unsigned)data.len);
        int n = uv_try_write(pump, &direct, 1);
        if (n < 0 && n != UV_EAGAIN)
            return cs_fail(CONSORT_E_IO, "writing to raft: %s", uv_strerror(n));
        if (n > 0) {
            data.ptr += n;
            data.len -= (size_t)n;
        }
    }
    if (data.len == 0)
        return CONSORT_OK;
    pump_write *w = cs_malloc(sizeof *w + data.len);
    CS_ENSURE(w != NULL, CONSORT_E_NOMEM, "raft bridge: %zu bytes for raft", data.len);
    w->bridge = b;
    w->len = data.len;
    memcpy(w->data, data.ptr, data.len);
    w->req.data = w;
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
    int rv = uv_write(&w->req, pump, &buf, 1, pump_write_cb);
    if (rv != 0) {
        cs_free(w);
        return cs_fail(CONSORT_E_IO, "writing to raft: %s", uv_strerror(rv));
    }
    return CONSORT_OK;
}

static void stream_on_data(void *ctx, cs_stream *s, cs_slice data)
{
    cs_raft_bridge *b = ctx;
    (void)s;
    if (b->closing || data.len == 0)
        return;
    if (!b->inbound) {
        /* Raft's receiving side never writes on a connection, so the peer
         * has no business sending on one we opened. */
        cs_log_warn(LOG_MOD, "raft peer %llu sent %zu bytes on an outbound connection: closing it",
                    (unsigned long long)b->peer_id, data.len);
        cs_raft_bridge_close(b);
        return;
    }
    consort_err rc = cs_raft_wire_feed(&b->wire, data);
    if (rc != CONSORT_OK) {
        (*b->cfg->wire_refused)++;
        cs_log_warn(LOG_MOD, "raft peer %llu: refused: %s: closing the connection",
                    (unsigned long long)b->peer_id, consort_errmsg());
        cs_raft_bridge_close(b);
        return;
    }
    rc = pump_queue(b, data);
    if (rc != CONSORT_OK) {
        cs_log_warn(LOG_MOD, "raft peer %llu: %s: closing the connection",
                    (unsigned long long)b->peer_id, consort_errmsg());
        cs_raft_bridge_close(b);
        return;
    }
    *b->cfg->bytes_from_peers += data.len;
    /* raft reads more slowly than the peer sends: back-pressure, not a close */
    if (!b->in_paused && b->pump.write_queue_size > b->cfg->high_water) {
        b->in_paused = true;
        (*b->cfg->inbound_pauses)++;
        cs_stream_pause(b->stream);
    }
}

static void stream_on_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    cs_raft_bridge *b = ctx;
    (void)s;
    b->stream = NULL;
    if (reason != CONSORT_OK)
        cs_log_info(LOG_MOD, "raft peer %llu: connection closed: %s",
                    (unsigned long long)b->peer_id, msg);
    if (!b->closing)
        cs_raft_bridge_close(b);
    else
        maybe_done(b);
}

static const cs_stream_cbs bridge_stream_cbs = {.on_data = stream_on_data,
                                                .on_close = stream_on_close};

/* ---- raft -> peer ---- */

static void pump_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cs_raft_bridge *b = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)b->cfg->scratch, (unsigned)b->cfg->scratch_len);
}

static int pump_start(cs_raft_bridge *b);

static void resume_cb(uv_check_t *check)
{
    cs_raft_bridge *b = check->data;
    if (b->closing || b->stream == NULL)
        return;
    if (cs_stream_write_queue_len(b->stream) > b->cfg->low_water)
        return;
    uv_check_stop(&b->resume);
    b->paused = false;
    int rv = pump_start(b);
    if (rv != 0) {
        cs_log_warn(LOG_MOD, "raft peer %llu: resuming: %s", (unsigned long long)b->peer_id,
                    uv_strerror(rv));
        cs_raft_bridge_close(b);
    }
}

static void pump_read_cb(uv_stream_t *pump, ssize_t nread, const uv_buf_t *buf)
{
    cs_raft_bridge *b = pump->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        /* Raft closed its end (EOF) or the socket failed. */
        if (nread != UV_EOF)
            cs_log_info(LOG_MOD, "raft peer %llu: reading from raft: %s",
                        (unsigned long long)b->peer_id, uv_strerror((int)nread));
        cs_raft_bridge_close(b);
        return;
    }
    if (b->closing || b->stream == NULL)
        return;
    consort_err rc = cs_stream_write(b->stream, CS_SLICE(buf->base, (size_t)nread));
    if (rc != CONSORT_OK) {
        cs_log_info(LOG_MOD, "raft peer %llu: %s: closing the connection",
                    (unsigned long long)b->peer_id, consort_errmsg());
        cs_raft_bridge_close(b);
        return;
    }
    *b->cfg->bytes_to_peers += (uint64_t)nread;
    if (!b->paused && cs_stream_write_queue_len(b->stream) > b->cfg->high_water) {
        b->paused = true;
        (*b->cfg->pauses)++;
        uv_read_stop(pump);
        uv_check_start(&b->resume, resume_cb);
    }
}

static int pump_start(cs_raft_bridge *b)
{
    return uv_read_start((uv_stream_t *)&b->pump, pump_alloc_cb, pump_read_cb);
}

consort_err cs_raft_bridge_new(const cs_raft_bridge_cfg *cfg, cs_stream *stream, bool inbound,
                               uint64_t peer_id, uv_stream_t **raft_end, cs_raft_bridge **out)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        int e = errno;
        cs_raft_stream_discard(stream);
        return cs_fail(CONSORT_E_IO, "raft bridge: socketpair: %s", strerror(e));
    }
    cs_raft_bridge *b = cs_calloc(1, sizeof *b);
    uv_pipe_t *rp = raft_malloc(sizeof *rp);
    if (b == NULL || rp == NULL) {
        cs_free(b);
        raft_free(rp);
        close(fds[0]);
        close(fds[1]);
        cs_raft_stream_discard(stream);
        return cs_fail(CONSORT_E_NOMEM, "raft bridge for peer %llu", (unsigned long long)peer_id);
    }
    b->cfg = cfg;
    b->stream = stream;
    b->peer_id = peer_id;
    b->inbound = inbound;
    cs_raft_wire_init(&b->wire, cfg->wire);
    b->next = *cfg->list;
    if (b->next != NULL)
        b->next->prev = b;
    *cfg->list = b;
    uv_pipe_init(cfg->loop, &b->pump, 0);
    uv_check_init(cfg->loop, &b->resume);
    uv_unref((uv_handle_t *)&b->resume);
    b->pump.data = b;
    b->resume.data = b;
    b->open_handles = 2;
    uv_pipe_init(cfg->loop, rp, 0);
    cs_stream_set_cbs(stream, &bridge_stream_cbs, b);

    const char *step = "open raft's end";
    int rv = uv_pipe_open(rp, fds[0]);
    if (rv == 0) {
        fds[0] = -1;
        step = "open the pump";
        rv = uv_pipe_open(&b->pump, fds[1]);
    }
    if (rv == 0) {
        fds[1] = -1;
        step = "start the pump";
        rv = pump_start(b);
    }
    if (rv != 0) {
        if (fds[0] >= 0)
            close(fds[0]);
        if (fds[1] >= 0)
            close(fds[1]);
        uv_close((uv_handle_t *)rp, raft_handle_free_cb);
        cs_raft_bridge_close(b);
        return cs_fail(CONSORT_E_IO, "raft bridge: %s: %s", step, uv_strerror(rv));
    }
    *raft_end = (uv_stream_t *)rp;
    if (out != NULL)
        *out = b;
    return CONSORT_OK;
}
