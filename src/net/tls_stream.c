/*
 * The TLS stream: couples a cs_tls engine to an inner cs_stream. Every
 * engine call is followed by flushing its output to the inner stream, so
 * handshake messages, records and alerts leave in order.
 *
 * Gathered writes: what is written while the inner stream has nothing
 * queued is gathered (up to GATHER_MAX bytes) and sent at the end of the loop's
 * turn (turn_end.h), or at the end of the on_data call that wrote it, as
 * one record in one write to the inner stream: an HTTP server answering
 * several pipelined requests in a turn, a client sending the next request
 * from a response's callback, or raft sending to a peer several times a
 * turn then pays for one record and one system call instead of one each.
 * The bytes leave before the loop next waits for I/O, so nothing waits on
 * a timer. Gathered bytes count in write_queue_len; they are sent before a
 * close_notify; a write that would pass GATHER_MAX sends them at once.
 *
 * Lifetime: the TLS stream lives until its inner stream reports on_close;
 * then the user's on_close runs (if the stream was delivered) or the
 * handshake callback gets the failure (if it is still owed), and the
 * memory is freed.
 */
#include "net/tls_stream.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"
#include "net/turn_end.h"

#include <stdio.h>

#define PLAIN_MAX ((size_t)16 << 20)
/* One TLS record's plaintext (RFC 8446 §5.1: 2^14 bytes). */
#define GATHER_MAX ((size_t)16 << 10)

typedef struct tls_stream {
    cs_stream base;
    cs_stream *inner;
    cs_tls *tls;
    cs_timer *timer;       /* the handshake's deadline */
    cs_timer *later;       /* delivers held plaintext after a resume (made at the first need) */
    cs_turn_end *turn_end; /* sends `gathered` (made at the first need) */
    uv_loop_t *timer_loop;
    uint64_t timeout_ms;
    cs_buf out;      /* ciphertext on its way to the inner stream */
    cs_buf plain;    /* decrypted bytes being delivered */
    cs_buf gathered; /* plaintext written this turn, not yet given to the engine */
    bool in_data;    /* inside inner_data_cb: `gathered` is sent when it returns */
    cs_stream_cbs cbs;
    void *ctx;
    bool has_cbs;
    cs_connect_cb on_done; /* owed until the handshake ends */
    void *done_ctx;
    bool delivered;
    bool closing;
    bool paused;
    consort_err reason;
    char reason_msg[CS_ERRMSG_MAX];
} tls_stream;

static const cs_stream_vtbl tls_vtbl;

static tls_stream *from_base(const cs_stream *s)
{
    return (tls_stream *)(void *)((const char *)s - offsetof(tls_stream, base));
}

/* Records the first failure and its message (`msg`, e.g. consort_errmsg()
 * right after the failing call) as the close reason. */
static void record_reason(tls_stream *ts, consort_err rc, const char *msg)
{
    if (ts->reason == CONSORT_OK && rc != CONSORT_OK) {
        ts->reason = rc;
        snprintf(ts->reason_msg, sizeof ts->reason_msg, "%s", msg);
    }
}

static consort_err flush(tls_stream *ts)
{
    CS_TRY(cs_tls_take_output(ts->tls, &ts->out));
    if (ts->out.len == 0)
        return CONSORT_OK;
    consort_err rc = cs_stream_write(ts->inner, cs_buf_slice(&ts->out));
    cs_buf_reset(&ts->out);
    return rc;
}

/* Gives the gathered plaintext to the engine as one record. */
static consort_err give_gathered(tls_stream *ts)
{
    if (ts->gathered.len == 0)
        return CONSORT_OK;
    consort_err rc = cs_tls_send(ts->tls, cs_buf_slice(&ts->gathered));
    cs_buf_reset(&ts->gathered);
    return rc;
}

/* ... and its record to the inner stream. */
static consort_err send_gathered(tls_stream *ts)
{
    if (ts->gathered.len == 0)
        return CONSORT_OK;
    CS_TRY(give_gathered(ts));
    return flush(ts);
}

/* Fails the stream: the alert (if any) is flushed, then the transport closed. */
static void fail(tls_stream *ts, consort_err rc)
{
    record_reason(ts, rc, consort_errmsg());
    if (ts->closing)
        return;
    ts->closing = true;
    cs_buf_reset(&ts->gathered); /* a failed stream sends no more data */
    (void)flush(ts);
    if (ts->on_done != NULL) { /* the handshake failed: report it now */
        cs_connect_cb cb = ts->on_done;
        ts->on_done = NULL;
        cb(ts->done_ctx, NULL, ts->reason, ts->reason_msg);
    }
    cs_stream_close(ts->inner);
}

static void deliver_plain(tls_stream *ts)
{
    if (ts->plain.len == 0 || ts->closing || ts->paused || !ts->has_cbs || ts->cbs.on_data == NULL)
        return; /* a paused stream holds its plaintext until resumed */
    /* The user may close (or write) from on_data; the buffer stays ours. */
    ts->cbs.on_data(ts->ctx, &ts->base, cs_buf_slice(&ts->plain));
    cs_buf_reset(&ts->plain);
}

static void handshake_done(tls_stream *ts)
{
    cs_timer_free(ts->timer);
    ts->timer = NULL;
    ts->delivered = true;
    cs_connect_cb cb = ts->on_done;
    ts->on_done = NULL;
    cb(ts->done_ctx, &ts->base, CONSORT_OK, "");
    deliver_plain(ts);
}

/* Decrypts `data` into ts->plain and sends what the engine answers. */
static consort_err recv_and_flush(tls_stream *ts, cs_slice data, bool *peer_closed)
{
    CS_TRY(cs_tls_recv(ts->tls, data, &ts->plain, peer_closed));
    return flush(ts);
}

static void inner_data_cb(void *ctx, cs_stream *inner, cs_slice data)
{
    (void)inner;
    tls_stream *ts = ctx;
    if (ts->closing)
        return;
    bool was_done = cs_tls_handshake_done(ts->tls);
    bool peer_closed = false;
    consort_err rc = recv_and_flush(ts, data, &peer_closed);
    if (rc != CONSORT_OK) {
        fail(ts, cs_err_context(rc, "TLS with %s", cs_stream_peer_address(ts->inner)));
        return;
    }
    ts->in_data = true; /* what the user writes from here goes out in one record below */
    if (!was_done && cs_tls_handshake_done(ts->tls))
        handshake_done(ts); /* delivers any early plaintext after the callback */
    else if (ts->delivered)
        deliver_plain(ts);
    ts->in_data = false;
    if (!ts->closing && (rc = send_gathered(ts)) != CONSORT_OK) {
        fail(ts, cs_err_context(rc, "TLS with %s", cs_stream_peer_address(ts->inner)));
        return;
    }
    if (peer_closed && !ts->closing) {
        if (!ts->delivered)
            fail(ts, cs_fail(CONSORT_E_TRUNCATED, "TLS with %s: closed during the handshake",
                             cs_stream_peer_address(ts->inner)));
        else
            cs_stream_close(&ts->base);
    }
}

static void inner_close_cb(void *ctx, cs_stream *inner, consort_err reason, const char *msg)
{
    (void)inner;
    tls_stream *ts = ctx;
    if (reason != CONSORT_OK)
        record_reason(ts, reason, msg);
    if (ts->on_done != NULL) {
        if (ts->reason == CONSORT_OK)
            record_reason(ts, CONSORT_E_TRUNCATED, "TLS: connection closed during the handshake");
        ts->on_done(ts->done_ctx, NULL, ts->reason, ts->reason_msg);
    } else if (ts->delivered && ts->has_cbs && ts->cbs.on_close != NULL) {
        ts->cbs.on_close(ts->ctx, &ts->base, ts->reason,
                         ts->reason != CONSORT_OK ? ts->reason_msg : "");
    }
    cs_timer_free(ts->timer);
    cs_timer_free(ts->later);
    cs_turn_end_free(ts->turn_end);
    cs_tls_free(ts->tls);
    cs_buf_cleanup(&ts->out);
    cs_buf_cleanup(&ts->plain);
    cs_buf_cleanup(&ts->gathered);
    cs_free(ts);
}

static void timeout_cb(void *ctx)
{
    tls_stream *ts = ctx;
    fail(ts, cs_fail(CONSORT_E_TIMEOUT, "TLS with %s: handshake not done after %llu ms",
                     cs_stream_peer_address(ts->inner), (unsigned long long)ts->timeout_ms));
}

/* ---- the stream interface ---- */

/* The end of the turn: the gathered plaintext goes out; a writer that waited
 * for the queue to empty hears that it did. */
static void turn_end_cb(void *ctx)
{
    tls_stream *ts = ctx;
    if (ts->closing || ts->gathered.len == 0)
        return;
    consort_err rc = send_gathered(ts);
    if (rc != CONSORT_OK) {
        fail(ts, cs_err_context(rc, "TLS with %s", cs_stream_peer_address(ts->inner)));
        return;
    }
    if (ts->has_cbs && ts->cbs.on_drain != NULL && cs_stream_write_queue_len(&ts->base) == 0)
        ts->cbs.on_drain(ts->ctx, &ts->base);
}

/* Whether `data` may wait in `gathered` for the end of the turn: the handshake
 * is done, the inner stream has nothing queued (a queued write costs no
 * system call of its own), and it fits. */
static consort_err gather(tls_stream *ts, cs_slice data, bool *held)
{
    *held = false;
    if (!ts->delivered || ts->gathered.len + data.len > GATHER_MAX ||
        (ts->gathered.len == 0 && cs_stream_write_queue_len(ts->inner) != 0))
        return CONSORT_OK;
    if (!ts->in_data) {
        if (ts->turn_end == NULL)
            CS_TRY(cs_turn_end_new(ts->timer_loop, turn_end_cb, ts, &ts->turn_end));
        cs_turn_end_arm(ts->turn_end);
    }
    CS_TRY(cs_buf_append(&ts->gathered, data.ptr, data.len));
    *held = true;
    return CONSORT_OK;
}

static consort_err tls_write(cs_stream *base, cs_slice data)
{
    tls_stream *ts = from_base(base);
    CS_ENSURE(!ts->closing, CONSORT_E_STATE, "TLS with %s: write after close",
              cs_stream_peer_address(ts->inner));
    if (data.len == 0)
        return CONSORT_OK;
    consort_err rc;
    bool held;
    CS_TRY_GOTO(rc, gather(ts, data, &held), fail);
    if (held)
        return CONSORT_OK;
    CS_TRY_GOTO(rc, give_gathered(ts), fail); /* what was written before goes first */
    CS_TRY_GOTO(rc, cs_tls_send(ts->tls, data), fail);
    CS_TRY_GOTO(rc, flush(ts), fail);
    return CONSORT_OK;

fail:
    fail(ts, rc);
    return rc;
}

static void tls_close(cs_stream *base)
{
    tls_stream *ts = from_base(base);
    if (ts->closing)
        return;
    consort_err rc = send_gathered(ts);
    if (rc != CONSORT_OK) {
        fail(ts, cs_err_context(rc, "TLS with %s", cs_stream_peer_address(ts->inner)));
        return;
    }
    ts->closing = true;
    cs_tls_shutdown(ts->tls); /* RFC 8446 §6.1: close_notify before closing the write side */
    (void)flush(ts);
    cs_stream_close(ts->inner);
}

/* The TCP queue emptied: TLS writes reach TCP at once (flush), so ours is
 * empty too unless the engine still holds output. */
static void inner_drain_cb(void *ctx, cs_stream *s)
{
    (void)s;
    tls_stream *ts = ctx;
    if (ts->closing || !ts->has_cbs || ts->cbs.on_drain == NULL ||
        cs_tls_pending_output(ts->tls) != 0 || ts->gathered.len != 0)
        return;
    ts->cbs.on_drain(ts->ctx, &ts->base);
}

static void tls_set_cbs(cs_stream *base, const cs_stream_cbs *cbs, void *ctx)
{
    tls_stream *ts = from_base(base);
    ts->cbs = *cbs;
    ts->ctx = ctx;
    ts->has_cbs = true;
}

static void later_cb(void *ctx)
{
    tls_stream *ts = ctx;
    deliver_plain(ts);
}

/* The inner stream is paused and resumed with us, so while paused no
 * ciphertext arrives; plaintext decrypted before the pause (or delivered
 * with the handshake) is held and, on resume, delivered from a 0 ms timer:
 * never inside cs_stream_resume. */
static void tls_set_paused(cs_stream *base, bool paused)
{
    tls_stream *ts = from_base(base);
    if (ts->paused == paused || ts->closing)
        return;
    ts->paused = paused;
    if (paused) {
        cs_stream_pause(ts->inner);
        return;
    }
    cs_stream_resume(ts->inner);
    if (ts->plain.len == 0)
        return;
    if (ts->later == NULL) {
        consort_err rc = cs_timer_new(ts->timer_loop, later_cb, ts, &ts->later);
        if (rc != CONSORT_OK) { /* closes; on_close carries it */
            record_reason(ts, rc, consort_errmsg());
            ts->closing = true;
            cs_stream_close(ts->inner);
            return;
        }
    }
    cs_timer_start(ts->later, 0);
}

static const struct cs_x509 *tls_peer_cert(const cs_stream *base)
{
    return cs_tls_peer_cert(from_base(base)->tls);
}

static size_t tls_write_queue_len(const cs_stream *base)
{
    const tls_stream *ts = from_base(base);
    return cs_stream_write_queue_len(ts->inner) + cs_tls_pending_output(ts->tls) + ts->gathered.len;
}

static const char *tls_peer_address(const cs_stream *base)
{
    return cs_stream_peer_address(from_base(base)->inner);
}

static const cs_stream_vtbl tls_vtbl = {
    .write = tls_write,
    .close = tls_close,
    .set_cbs = tls_set_cbs,
    .peer_cert = tls_peer_cert,
    .write_queue_len = tls_write_queue_len,
    .peer_address = tls_peer_address,
    .set_paused = tls_set_paused,
};

const cs_tls *cs_tls_stream_engine(const cs_stream *s)
{
    return s != NULL && s->vt == &tls_vtbl ? from_base(s)->tls : NULL;
}

/* The client's first flight (nothing for a server). */
static consort_err start_handshake(tls_stream *ts)
{
    CS_TRY(cs_tls_start(ts->tls));
    return flush(ts);
}

consort_err cs_tls_stream_start(uv_loop_t *loop, cs_stream *inner, cs_tls_config *cfg,
                                uint64_t timeout_ms, cs_connect_cb on_done, void *ctx)
{
    consort_err rc;
    tls_stream *ts = cs_calloc(1, sizeof *ts);
    CS_ENSURE_GOTO(rc, ts != NULL, fail_close, CONSORT_E_NOMEM, "TLS: out of memory");
    ts->base.vt = &tls_vtbl;
    ts->inner = inner;
    ts->timer_loop = loop;
    ts->timeout_ms = timeout_ms != 0 ? timeout_ms : CS_TLS_HANDSHAKE_TIMEOUT_MS;
    ts->on_done = on_done;
    ts->done_ctx = ctx;
    cs_buf_init(&ts->out, 0);
    cs_buf_init_secret(&ts->plain, PLAIN_MAX); /* may carry secrets (ledger secret sharing) */
    cs_buf_init_secret(&ts->gathered, GATHER_MAX);
    CS_TRY_GOTO(rc, cs_tls_new(cfg, &ts->tls), fail_free);
    CS_TRY_GOTO(rc, cs_timer_new(loop, timeout_cb, ts, &ts->timer), fail_free);
    cs_timer_start(ts->timer, ts->timeout_ms);
    const cs_stream_cbs cbs = {
        .on_data = inner_data_cb, .on_close = inner_close_cb, .on_drain = inner_drain_cb};
    cs_stream_set_cbs(inner, &cbs, ts);
    /* From here on every failure is reported through on_done, on the loop. */
    rc = start_handshake(ts);
    if (rc != CONSORT_OK) {
        record_reason(ts, rc, consort_errmsg());
        ts->closing = true;
        cs_stream_close(ts->inner); /* inner_close_cb reports it */
    }
    return CONSORT_OK;

fail_free:
    cs_tls_free(ts->tls);
    cs_free(ts);
fail_close:
    cs_stream_close(inner); /* its on_close goes nowhere: no callbacks were set */
    return rc;
}
