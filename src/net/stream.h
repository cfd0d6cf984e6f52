/*
 * A duplex byte stream on a libuv loop: plain TCP, TLS over TCP, or an
 * attested channel (TLS plus evidence exchange). Everything above the
 * transport (HTTP, the Raft transport) is written against this interface.
 *
 * Ownership: the stream owns its handles and buffers. The user sets
 * callbacks with cs_stream_set_cbs(); on_close fires exactly once (peer
 * closed, error, or after cs_stream_close()), and the stream's memory is
 * released right after on_close returns. Writes are copied and queued;
 * they are flushed in order before a requested close completes.
 * All functions must be called on the loop's thread.
 *
 * Asynchronous contract (STYLE.md rule 10): on_data and on_close run from
 * loop callbacks, never inside cs_stream_write, cs_stream_close or
 * cs_stream_set_cbs. Closing is like uv_close: stop (close), on_close,
 * then the stream frees itself. on_close carries the close reason and its
 * message as arguments; the thread-local message (consort_errmsg()) is not
 * part of the contract and may hold anything on entry.
 *
 * Flow control (reading, like uv_read_stop / uv_read_start):
 * cs_stream_pause() stops on_data: once it returns, on_data does not run
 * again until cs_stream_resume() (called from inside on_data, the current
 * call finishes and nothing follows it). A paused stream reads nothing from
 * its transport, so what the peer sends waits in the kernel and then in the
 * peer (TCP flow control): the memory a fast sender can make a slow reader
 * hold is bounded. cs_stream_resume() restarts delivery; bytes the stream
 * already holds are delivered afterwards from the loop, never inside the
 * call. A failure to restart reading is not returned: the stream closes
 * and on_close carries it (STYLE.md rule 10). Both are idempotent and do
 * nothing once the stream is closing; neither affects writes or close (a
 * stream closed while paused still flushes, drains and reports on_close).
 * Like uv_read_stop, a paused stream may notice its peer's close only once
 * it is resumed. A stream starts unpaused.
 */
#ifndef CS_NET_STREAM_H
#define CS_NET_STREAM_H

#include "base/buf.h"

typedef struct cs_stream cs_stream;
struct cs_x509;

typedef struct cs_stream_cbs {
    /* Bytes received (plaintext for TLS). `data` is valid during the call only. */
    void (*on_data)(void *ctx, cs_stream *s, cs_slice data);
    /* The stream is closed: CONSORT_OK for an orderly close (msg ""), else
     * the reason and its message `msg` (never NULL; valid during the call
     * only: copy it to keep it). Do not touch `s` afterwards. */
    void (*on_close)(void *ctx, cs_stream *s, consort_err reason, const char *msg);
    /* Optional (NULL: not told): the write queue has just emptied, every
     * byte written so far is with the kernel (write_queue_len is 0). Runs
     * from a loop callback, never inside cs_stream_write; not after close.
     * A writer that stopped producing because the queue was long (an HTTP
     * server whose client does not read its answers) starts again here.
     * TCP and TLS streams call it; the attested channel and the in-process
     * test transport do not. */
    void (*on_drain)(void *ctx, cs_stream *s);
} cs_stream_cbs;

typedef struct cs_stream_vtbl {
    consort_err (*write)(cs_stream *s, cs_slice data);
    void (*close)(cs_stream *s);
    void (*set_cbs)(cs_stream *s, const cs_stream_cbs *cbs, void *ctx);
    /* The peer's certificate (TLS with a client/server certificate), else NULL. Borrowed. */
    const struct cs_x509 *(*peer_cert)(const cs_stream *s);
    /* Bytes queued for writing and not yet handed to the kernel. */
    size_t (*write_queue_len)(const cs_stream *s);
    /* "127.0.0.1:4000" of the peer. */
    const char *(*peer_address)(const cs_stream *s);
    /* Stops (paused = true) or restarts (false) delivering on_data. */
    void (*set_paused)(cs_stream *s, bool paused);
} cs_stream_vtbl;

struct cs_stream {
    const cs_stream_vtbl *vt;
};

static inline CS_MUST_CHECK consort_err cs_stream_write(cs_stream *s, cs_slice data)
{
    return s->vt->write(s, data);
}
static inline void cs_stream_close(cs_stream *s)
{
    s->vt->close(s);
}
static inline void cs_stream_set_cbs(cs_stream *s, const cs_stream_cbs *cbs, void *ctx)
{
    s->vt->set_cbs(s, cbs, ctx);
}
static inline const struct cs_x509 *cs_stream_peer_cert(const cs_stream *s)
{
    return s->vt->peer_cert(s);
}
static inline size_t cs_stream_write_queue_len(const cs_stream *s)
{
    return s->vt->write_queue_len(s);
}
static inline const char *cs_stream_peer_address(const cs_stream *s)
{
    return s->vt->peer_address(s);
}
/* Stops on_data until cs_stream_resume (see "Flow control" above). */
static inline void cs_stream_pause(cs_stream *s)
{
    s->vt->set_paused(s, true);
}
/* Restarts on_data; held bytes follow from the loop, failures by on_close. */
static inline void cs_stream_resume(cs_stream *s)
{
    s->vt->set_paused(s, false);
}

#endif
